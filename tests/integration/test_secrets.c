/* test_secrets.c — keys never leave: one proxy run at --log-level debug with distinctive
 * managed keys (environment and LLMUX_KEYS_DIR), customer keys and bearer tokens, driven
 * through every route, successes and failures, plain and streamed, including upstreams
 * that echo the key back in their error messages. Afterwards everything the proxy
 * emitted — every response status line, header and body, /metrics, its whole stdout and
 * stderr — and everything `llmux translate` printed is searched for every key and token:
 * none may appear. The mock's log must show each key arrived upstream (so each was
 * really used) and no bearer token ever did. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "test_util.h"

/* Tokens accepted by the proxy, and one it refuses. */
#define TOKEN_A "tok-A-5ecret-T0k3nAlpha"
#define TOKEN_B "tok-B-5ecret-T0k3nBravo"
#define TOKEN_WRONG "tok-W-5ecret-Wr0ngT0k3n"
/* Managed keys: environment, and a key file that wins over the environment. */
#define M_OPENAI "sk-M4N-openai-9f8e7d6c5b4a"
#define M_ANTHROPIC_ENV "sk-ant-M4N-env-unused-1a2b3c"
#define M_ANTHROPIC_FILE "sk-ant-M4N-file-4d5e6f7a8b"
#define M_GEMINI "AIzaM4N-gemini-0c1d2e3f4a"
#define M_AZURE "az-M4N-azure-5b6c7d8e9f"
/* Customer keys. */
#define C_OPENAI "sk-CU5T-openai-a1b2c3d4e5"
#define C_ANTHROPIC "sk-ant-CU5T-anthropic-f6a7b8"
#define C_GOOGLE "AIzaCU5T-google-c9d0e1f2"
#define C_AZURE "az-CU5T-azure-3a4b5c6d7e"
#define C_REPLACED "sk-CU5T-replaced-8f9a0b1c"
#define C_REFUSED "sk-CU5T-refused-2d3e4f5a"
#define C_TRANSLATE "sk-CU5T-translate-6b7c8d9e"
#define C_MEMORY "sk-CU5T-memory-0e1f2a3b4c"

static const char *const secrets[] = {TOKEN_A,         TOKEN_B,          TOKEN_WRONG, M_OPENAI,
                                      M_ANTHROPIC_ENV, M_ANTHROPIC_FILE, M_GEMINI,    M_AZURE,
                                      C_OPENAI,        C_ANTHROPIC,      C_GOOGLE,    C_AZURE,
                                      C_REPLACED,      C_REFUSED,        C_TRANSLATE, NULL};
/* Keys the upstream must have received (the rest were never meant to leave). */
static const char *const used_upstream[] = {
    M_OPENAI,    M_ANTHROPIC_FILE, M_GEMINI, M_AZURE,    C_OPENAI,
    C_ANTHROPIC, C_GOOGLE,         C_AZURE,  C_REPLACED, NULL};

static tu_proc mock, proxy;
static char log_path[64], keys_dir[64];
static char *emitted; /* everything the proxy (and translate) said to anyone */
static size_t emitted_len;

static void keep(const char *what, const char *data, size_t len)
{
    char *grown = realloc(emitted, emitted_len + len + strlen(what) + 3);
    assert_non_null(grown);
    emitted = grown;
    memcpy(emitted + emitted_len, what, strlen(what));
    emitted_len += strlen(what);
    emitted[emitted_len++] = '\n';
    memcpy(emitted + emitted_len, data, len);
    emitted_len += len;
    emitted[emitted_len++] = '\n';
    emitted[emitted_len] = '\0';
}

static void keep_response(const char *what, const tu_response *r)
{
    keep(what, r->headers ? r->headers : "", r->headers_len);
    keep(what, r->body ? r->body : "", r->body_len);
}

static int start_all(void **state)
{
    (void)state;
    if (tu_mock_start(&mock, NULL) != 0)
        return -1;
    snprintf(keys_dir, sizeof keys_dir, "/tmp/llmux-secrets-keys-%d", (int)getpid());
    mkdir(keys_dir, 0700);
    char path[128];
    snprintf(path, sizeof path, "%s/anthropic", keys_dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs("  " M_ANTHROPIC_FILE "\n", f);
    fclose(f);
    static char e_openai[96], e_anthropic[96], e_google[96], e_azure[96], e_dir[96];
    snprintf(e_openai, sizeof e_openai, "LLMUX_OPENAI_BASE_URL=http://127.0.0.1:%d/v1", mock.port);
    snprintf(e_anthropic, sizeof e_anthropic, "LLMUX_ANTHROPIC_BASE_URL=http://127.0.0.1:%d",
             mock.port);
    snprintf(e_google, sizeof e_google, "LLMUX_GOOGLE_BASE_URL=http://127.0.0.1:%d", mock.port);
    snprintf(e_azure, sizeof e_azure, "AZURE_OPENAI_ENDPOINT=http://127.0.0.1:%d", mock.port);
    snprintf(e_dir, sizeof e_dir, "LLMUX_KEYS_DIR=%s", keys_dir);
    const char *env[] = {e_openai,
                         e_anthropic,
                         e_google,
                         e_azure,
                         e_dir,
                         "OPENAI_API_KEY=" M_OPENAI,
                         "ANTHROPIC_API_KEY=" M_ANTHROPIC_ENV,
                         "GEMINI_API_KEY=" M_GEMINI,
                         "AZURE_OPENAI_API_KEY=" M_AZURE,
                         "LLMUX_TOKENS=" TOKEN_A "," TOKEN_B,
                         NULL};
    snprintf(log_path, sizeof log_path, "/tmp/llmux-secrets-%d.log", (int)getpid());
    char redirect[128];
    snprintf(redirect, sizeof redirect, "exec \"$0\" \"$@\" 2>%s", log_path);
    const char *argv[] = {"/bin/sh", "-c",          redirect,      tu_llmux_bin(),
                          "serve",   "--listen",    "127.0.0.1:0", "--workers",
                          "2",       "--log-level", "debug",       "--log-content",
                          NULL};
    if (tu_proc_start(&proxy, argv, env, 5000) != 0)
        return -1;
    keep("proxy first line", proxy.first_line, strlen(proxy.first_line));
    return 0;
}

static int stop_all(void **state)
{
    (void)state;
    tu_proc_free(&proxy);
    tu_proc_free(&mock);
    unlink(log_path);
    char path[128];
    snprintf(path, sizeof path, "%s/anthropic", keys_dir);
    unlink(path);
    rmdir(keys_dir);
    free(emitted);
    return 0;
}

/* ---- one request, kept ------------------------------------------------------------- */

static long call(const char *method, const char *path, const char *token, const char *session,
                 const char *body, tu_response *out)
{
    char url[256], auth[96], sess[160];
    tu_url(url, sizeof url, proxy.port, path);
    const char *h[4] = {NULL};
    size_t n = 0;
    if (token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        h[n++] = auth;
    }
    if (session) {
        snprintf(sess, sizeof sess, "X-Llmux-Session: %s", session);
        h[n++] = sess;
    }
    tu_response local;
    tu_response *r = out ? out : &local;
    tu_http_opts o = {.timeout_ms = 15000};
    tu_http_ex(NULL, method, url, h, body, &o, r);
    char what[512]; /* the label: never the body, which carries keys */
    snprintf(what, sizeof what, "%s %s", method, path);
    keep_response(what, r);
    long st = r->status;
    if (!out)
        tu_response_free(r);
    return st;
}

static void script(const char *json)
{
    char why[512];
    int st = tu_mock_script(mock.port, json, why, sizeof why);
    if (st != 200)
        fail_msg("mock script refused (%d): %s", st, why);
}

static void expect_status(long got, long want, const char *what)
{
    if (got != want)
        fail_msg("%s: status %ld, want %ld", what, got, want);
}

#define USER "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"

static const char *const providers[] = {"openai", "azure", "anthropic", "google"};
static const char *const models[] = {"gpt-4.1-mini", "my-deploy", "claude-haiku-4-5",
                                     "gemini-2.5-flash"};

/* ---- driving every route ----------------------------------------------------------- */

static void drive_configuration(void)
{
    expect_status(call("GET", "/healthz", NULL, NULL, NULL, NULL), 200, "healthz");
    expect_status(call("GET", "/metrics", NULL, NULL, NULL, NULL), 200, "metrics");
    expect_status(call("GET", "/v1/sessions/s1/providers", NULL, NULL, NULL, NULL), 401,
                  "no token");
    expect_status(call("GET", "/v1/sessions/s1/providers", TOKEN_WRONG, NULL, NULL, NULL), 401,
                  "wrong token");
    expect_status(call("POST", "/v1/chat/completions", TOKEN_WRONG, "s1",
                       "{\"provider\":\"openai\",\"model\":\"m\"," USER "}", NULL),
                  401, "wrong token chat");
    /* s1: managed everywhere */
    for (int i = 0; i < 4; i++) {
        char path[128];
        snprintf(path, sizeof path, "/v1/sessions/s1/providers/%s", providers[i]);
        expect_status(call("PUT", path, TOKEN_A, NULL, "{\"managed\":true}", NULL), 200, path);
    }
    /* s2: customer keys (with and without a base_url), one replaced */
    char body[512];
    snprintf(body, sizeof body,
             "{\"api_key\":\"" C_REPLACED "\",\"base_url\":\"http://127.0.0.1:%d/v1\"}", mock.port);
    expect_status(call("PUT", "/v1/sessions/s2/providers/openai", TOKEN_A, NULL, body, NULL), 200,
                  "customer openai (to be replaced)");
    snprintf(body, sizeof body,
             "{\"api_key\":\"" C_OPENAI "\",\"base_url\":\"http://127.0.0.1:%d/v1\"}", mock.port);
    expect_status(call("PUT", "/v1/sessions/s2/providers/openai", TOKEN_A, NULL, body, NULL), 200,
                  "customer openai");
    expect_status(call("PUT", "/v1/sessions/s2/providers/anthropic", TOKEN_A, NULL,
                       "{\"api_key\":\"" C_ANTHROPIC "\"}", NULL),
                  200, "customer anthropic");
    snprintf(body, sizeof body,
             "{\"api_key\":\"" C_GOOGLE "\",\"base_url\":\"http://127.0.0.1:%d\"}", mock.port);
    expect_status(call("PUT", "/v1/sessions/s2/providers/google", TOKEN_A, NULL, body, NULL), 200,
                  "customer google");
    snprintf(body, sizeof body,
             "{\"api_key\":\"" C_AZURE "\",\"base_url\":\"http://127.0.0.1:%d\",\"api_version\":"
             "\"2024-10-21\"}",
             mock.port);
    expect_status(call("PUT", "/v1/sessions/s2/providers/azure", TOKEN_A, NULL, body, NULL), 200,
                  "customer azure");
    /* refused configurations: none may echo the key */
    static const char *const refused[] = {
        "{\"managed\":true,\"api_key\":\"" C_REFUSED "\"}",
        "{\"api_key\":\"" C_REFUSED " \"}",
        "{\"api_key\":\"" C_REFUSED "\",\"base_url\":\"http://user:" C_REFUSED "@127.0.0.1/v1\"}",
        "{\"api_key\":\"" C_REFUSED "\",\"base_url\":\"http://169.254.169.254/v1\"}",
        "{\"api_key\":\"" C_REFUSED "\",\"base_url\":\"ftp://" C_REFUSED ".example/v1\"}",
        "{\"api_key\":\"" C_REFUSED "\",\"api_version\":\"" C_REFUSED "!\"}",
        "{\"api_key\":[\"" C_REFUSED "\"]}",
        "{\"api_key\":\"" C_REFUSED "\"",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        expect_status(
            call("PUT", "/v1/sessions/s3/providers/openai", TOKEN_A, NULL, refused[i], NULL), 400,
            refused[i]);
    expect_status(call("PUT", "/v1/sessions/s3/providers/nosuch", TOKEN_A, NULL,
                       "{\"api_key\":\"" C_REFUSED "\"}", NULL),
                  400, "unknown provider");
    expect_status(call("GET", "/v1/sessions/s1/providers", TOKEN_A, NULL, NULL, NULL), 200,
                  "list s1");
    expect_status(call("GET", "/v1/sessions/s2/providers", TOKEN_A, NULL, NULL, NULL), 200,
                  "list s2");
    expect_status(call("GET", "/v1/sessions/s2/providers", TOKEN_B, NULL, NULL, NULL), 200,
                  "list s2 as B");
}

static void drive_completions(void)
{
    char req[1024];
    for (int s = 0; s < 2; s++) {
        const char *session = s ? "s2" : "s1";
        for (int i = 0; i < 4; i++)
            for (int stream = 0; stream < 2; stream++) {
                snprintf(req, sizeof req,
                         "{\"provider\":\"%s\",\"model\":\"%s\",\"stream\":%s,"
                         "\"retry\":{\"enabled\":false}," USER "}",
                         providers[i], models[i], stream ? "true" : "false");
                expect_status(call("POST", "/v1/chat/completions", TOKEN_A, session, req, NULL),
                              200, req);
            }
        /* SDK form */
        expect_status(call("POST", "/v1/chat/completions", TOKEN_A, session,
                           "{\"model\":\"anthropic/claude-haiku-4-5\"," USER "}", NULL),
                      200, "sdk form");
    }
    /* upstream failures: statuses, retries, fallbacks, a timeout, stream cuts */
    script("[{\"provider\":\"openai\",\"status\":429,\"retry_after\":0.01},"
           "{\"provider\":\"openai\",\"status\":500,\"count\":2},"
           "{\"provider\":\"anthropic\",\"status\":503,\"count\":3}]");
    expect_status(
        call("POST", "/v1/chat/completions", TOKEN_A, "s1",
             "{\"provider\":\"openai\",\"model\":\"gpt-4.1-mini\",\"retry\":{\"max_retries\":3,"
             "\"retry_delay\":0.01}," USER "}",
             NULL),
        200, "retries");
    expect_status(call("POST", "/v1/chat/completions", TOKEN_A, "s2",
                       "{\"provider\":\"anthropic\",\"model\":\"claude-haiku-4-5\",\"retry\":{"
                       "\"max_retries\":2,\"retry_delay\":0.01},\"fallbacks\":[{\"provider\":"
                       "\"google\",\"model\":\"gemini-2.5-flash\"}]," USER "}",
                       NULL),
                  200, "fallback");
    /* upstreams that echo the key they were given back in their error message */
    static const char *const echo[][2] = {
        {"openai",
         "{\"error\":{\"message\":\"Incorrect API key provided: %s. You can find "
         "your API key at https://platform.openai.com\",\"type\":\"invalid_request_error\","
         "\"code\":\"invalid_api_key\"}}"},
        {"anthropic", "{\"type\":\"error\",\"error\":{\"type\":\"authentication_error\","
                      "\"message\":\"invalid x-api-key: %s\"}}"},
        {"google", "{\"error\":{\"code\":400,\"message\":\"API key not valid: %s\","
                   "\"status\":\"INVALID_ARGUMENT\"}}"},
        {"azure", "{\"error\":{\"code\":\"401\",\"message\":\"Access denied due to invalid "
                  "subscription key %s.\"}}"},
    };
    const char *const keys_s1[] = {M_OPENAI, M_ANTHROPIC_FILE, M_GEMINI, M_AZURE};
    const char *const keys_s2[] = {C_OPENAI, C_ANTHROPIC, C_GOOGLE, C_AZURE}; /* echo order */
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < 4; i++) {
            int p = i == 0 ? 0 : i == 1 ? 2 : i == 2 ? 3 : 1; /* index into providers[] */
            char msg[512], step[1024];
            const char *tmpl = echo[i][1], *hole = strstr(tmpl, "%s");
            snprintf(msg, sizeof msg, "%.*s%s%s", (int)(hole - tmpl), tmpl,
                     s ? keys_s2[i] : keys_s1[i], hole + 2);
            cJSON *st = cJSON_CreateObject();
            cJSON_AddStringToObject(st, "provider", echo[i][0]);
            cJSON_AddNumberToObject(st, "status", i == 2 ? 400 : 401);
            cJSON_AddStringToObject(st, "body", msg);
            cJSON_AddNumberToObject(st, "count", 2);
            char *one = cJSON_PrintUnformatted(st);
            snprintf(step, sizeof step, "[%s]", one);
            free(one);
            cJSON_Delete(st);
            script(step);
            for (int stream = 0; stream < 2; stream++) {
                snprintf(req, sizeof req,
                         "{\"provider\":\"%s\",\"model\":\"%s\",\"stream\":%s,"
                         "\"retry\":{\"enabled\":false}," USER "}",
                         echo[i][0], models[p], stream ? "true" : "false");
                expect_status(
                    call("POST", "/v1/chat/completions", TOKEN_A, s ? "s2" : "s1", req, NULL), 502,
                    req);
            }
        }
    /* an echo that the attempt log's message cap (200 bytes) would cut in the middle of
     * the key: no part of it may be left */
    {
        char msg[400], step[600];
        memset(msg, 'A', 180);
        snprintf(msg + 180, sizeof msg - 180, "%s and more text after it", M_ANTHROPIC_FILE);
        snprintf(step, sizeof step,
                 "[{\"provider\":\"anthropic\",\"status\":401,\"body\":{\"type\":\"error\","
                 "\"error\":{\"type\":\"authentication_error\",\"message\":\"%s\"}}}]",
                 msg);
        script(step);
        expect_status(call("POST", "/v1/chat/completions", TOKEN_A, "s1",
                           "{\"provider\":\"anthropic\",\"model\":\"claude-haiku-4-5\","
                           "\"retry\":{\"enabled\":false}," USER "}",
                           NULL),
                      502, "cut echo");
    }
    script("[{\"provider\":\"openai\",\"hang\":true},"
           "{\"provider\":\"anthropic\",\"drop_after_chunks\":2},"
           "{\"provider\":\"google\",\"error_event_after_chunks\":1},"
           "{\"provider\":\"azure\",\"malformed\":\"json\"}]");
    expect_status(call("POST", "/v1/chat/completions", TOKEN_A, "s2",
                       "{\"provider\":\"openai\",\"model\":\"gpt-4.1-mini\",\"timeout\":0.2,"
                       "\"retry\":{\"enabled\":false}," USER "}",
                       NULL),
                  504, "timeout");
    expect_status(call("POST", "/v1/chat/completions", TOKEN_A, "s2",
                       "{\"provider\":\"anthropic\",\"model\":\"claude-haiku-4-5\",\"stream\":true,"
                       "\"retry\":{\"enabled\":false}," USER "}",
                       NULL),
                  200, "interrupted stream");
    expect_status(call("POST", "/v1/chat/completions", TOKEN_A, "s1",
                       "{\"provider\":\"google\",\"model\":\"gemini-2.5-flash\",\"stream\":true,"
                       "\"stream_options\":{\"chunk_by_sentence\":true},"
                       "\"retry\":{\"enabled\":false}," USER "}",
                       NULL),
                  200, "in-stream error");
    expect_status(call("POST", "/v1/chat/completions", TOKEN_A, "s1",
                       "{\"provider\":\"azure\",\"model\":\"my-deploy\","
                       "\"retry\":{\"enabled\":false}," USER "}",
                       NULL),
                  502, "malformed");
    /* requests refused before any upstream call */
    expect_status(
        call("POST", "/v1/chat/completions", TOKEN_A, "s1",
             "{\"provider\":\"openai\",\"model\":\"gpt-4.1-mini\",\"api_key\":\"" C_REFUSED
             "\"," USER "}",
             NULL),
        400, "api_key in the request");
    expect_status(call("POST", "/v1/chat/completions", TOKEN_A, "s1",
                       "{\"provider\":\"openai\",\"model\":\"gpt-4.1-mini\",\"fallbacks\":[{"
                       "\"provider\":\"anthropic\",\"api_key\":\"" C_REFUSED "\"}]," USER "}",
                       NULL),
                  400, "api_key in a fallback");
    expect_status(call("POST", "/v1/chat/completions", TOKEN_B, "s2",
                       "{\"provider\":\"openai\",\"model\":\"gpt-4.1-mini\"," USER "}", NULL),
                  400, "another token's session");
    expect_status(call("POST", "/v1/chat/completions", TOKEN_A, "s1", "{\"provider\":", NULL), 400,
                  "bad json");
    /* forget */
    expect_status(call("DELETE", "/v1/sessions/s2", TOKEN_B, NULL, NULL, NULL), 404,
                  "B deletes s2");
    expect_status(call("DELETE", "/v1/sessions/s2", TOKEN_A, NULL, NULL, NULL), 200,
                  "A deletes s2");
    expect_status(call("GET", "/metrics", NULL, NULL, NULL, NULL), 200, "metrics");
}

/* Runs `llmux translate` with args and stdin; keeps stdout and stderr. Returns the exit
 * status. */
static int translate(const char *const args[], const char *input)
{
    char in_path[64], out_path[64];
    snprintf(in_path, sizeof in_path, "/tmp/llmux-secrets-in-%d", (int)getpid());
    snprintf(out_path, sizeof out_path, "/tmp/llmux-secrets-out-%d", (int)getpid());
    FILE *f = fopen(in_path, "w");
    assert_non_null(f);
    fputs(input, f);
    fclose(f);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int in = open(in_path, O_RDONLY), out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(in, 0);
        dup2(out, 1);
        dup2(out, 2);
        const char *argv[24] = {tu_llmux_bin(), "translate"};
        size_t n = 2;
        for (const char *const *a = args; *a && n < 23; a++)
            argv[n++] = *a;
        argv[n] = NULL;
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    size_t len = 0;
    char *text = tu_read_file(out_path, &len);
    keep("translate", text ? text : "", len);
    free(text);
    unlink(in_path);
    unlink(out_path);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void drive_translate(void)
{
    const char *req =
        "{\"provider\":\"openai\",\"model\":\"gpt-4.1-mini\"," USER
        ",\"fallbacks\":[{\"provider\":\"anthropic\",\"model\":\"claude-haiku-4-5\"}]}";
    for (int i = 0; i < 4; i++) {
        const char *plain[] = {"--provider", providers[i], "--key", C_TRANSLATE, "-", NULL};
        const char *stream[] = {
            "--provider", providers[i],           "--key", C_TRANSLATE, "--stream",
            "--base-url", "https://example.test", "-",     NULL};
        assert_int_equal(translate(plain, req), 0);
        assert_int_equal(translate(stream, req), 0);
    }
    const char *fallback[] = {"--key", C_TRANSLATE, "--fallback", "1", "-", NULL};
    assert_int_equal(translate(fallback, req), 0);
    /* refused requests and arguments */
    const char *refused[] = {"--key", C_TRANSLATE, "-", NULL};
    assert_int_equal(translate(refused,
                               "{\"provider\":\"openai\",\"model\":\"m\",\"api_key\":\"" C_TRANSLATE
                               "\"," USER "}"),
                     1);
    const char *bad_url[] = {"--provider", "openai",     "--key",
                             C_TRANSLATE,  "--base-url", "http://u:" C_TRANSLATE "@x/v1",
                             "-",          NULL};
    assert_int_equal(translate(bad_url, req), 2); /* refused, as the proxy refuses it */
    const char *bad_key[] = {"--provider", "openai", "--key", C_TRANSLATE "\n", "-", NULL};
    assert_true(translate(bad_key, req) != 0);
}

static bool contains(const char *hay, size_t len, const char *needle)
{
    return hay && memmem(hay, len, needle, strlen(needle)) != NULL;
}

/* Occurrences of needle in the readable memory of process pid (/proc/PID/mem; regions
 * over 256 MiB, such as a sanitizer's shadow, are skipped). -1 when the memory cannot
 * be read (no ptrace permission). */
static int memory_hits(pid_t pid, const char *needle)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *maps = fopen(path, "r");
    snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
    int mem = open(path, O_RDONLY);
    if (!maps || mem < 0) {
        if (maps)
            fclose(maps);
        if (mem >= 0)
            close(mem);
        return -1;
    }
    int hits = 0, readable = 0;
    size_t nl = strlen(needle);
    char line[512];
    char *buf = NULL;
    while (fgets(line, sizeof line, maps)) {
        unsigned long lo, hi;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 || perms[0] != 'r' ||
            hi - lo > (256ul << 20) || strstr(line, "[vvar]"))
            continue;
        size_t len = hi - lo;
        char *grown = realloc(buf, len);
        if (!grown)
            continue;
        buf = grown;
        ssize_t got = pread(mem, buf, len, (off_t)lo);
        if (got <= 0)
            continue;
        readable++;
        for (const char *p = buf; (p = memmem(p, (size_t)got - (size_t)(p - buf), needle, nl)); p++)
            hits++;
    }
    free(buf);
    fclose(maps);
    close(mem);
    return readable ? hits : -1;
}

/* A customer key is zeroed wherever the proxy held it once its session is deleted: the
 * session store, the engine's copies, curl's request buffers, libevent's buffers and the
 * connection's request buffer (still open, keep-alive). */
static void test_key_gone_from_memory_after_delete(void **state)
{
    (void)state;
    tu_client *client = tu_client_new();
    char url[256], body[256];
    const char *h[] = {"Authorization: Bearer " TOKEN_A, "X-Llmux-Session: mem", NULL};
    snprintf(body, sizeof body,
             "{\"api_key\":\"" C_MEMORY "\",\"base_url\":\"http://127.0.0.1:%d/v1\"}", mock.port);
    tu_response r;
    tu_http_ex(client, "PUT",
               tu_url(url, sizeof url, proxy.port, "/v1/sessions/mem/providers/openai"), h, body,
               NULL, &r);
    assert_int_equal(r.status, 200);
    keep_response("PUT mem", &r);
    tu_response_free(&r);
    for (int stream = 0; stream < 2; stream++) {
        tu_http_ex(
            client, "POST", tu_url(url, sizeof url, proxy.port, "/v1/chat/completions"), h,
            stream ? "{\"provider\":\"openai\",\"model\":\"gpt-4.1-mini\",\"stream\":true," USER "}"
                   : "{\"provider\":\"openai\",\"model\":\"gpt-4.1-mini\"," USER "}",
            NULL, &r);
        assert_int_equal(r.status, 200);
        keep_response("POST mem", &r);
        tu_response_free(&r);
    }
    tu_http_ex(client, "DELETE", tu_url(url, sizeof url, proxy.port, "/v1/sessions/mem"), h, NULL,
               NULL, &r);
    assert_int_equal(r.status, 200);
    tu_response_free(&r);
    tu_sleep_ms(200); /* the upstream transfers are over and freed */
    int managed = memory_hits(proxy.pid, M_OPENAI);
    if (managed < 0) {
        tu_client_free(client);
        skip(); /* no permission to read the proxy's memory here */
    }
    assert_true(managed >= 1); /* the scan does see a key that is still held */
    int left = memory_hits(proxy.pid, C_MEMORY);
    tu_client_free(client);
    if (left != 0)
        fail_msg("the deleted session's key is still in the proxy's memory %d time(s)", left);
}

static void test_no_key_anywhere(void **state)
{
    (void)state;
    drive_configuration();
    drive_completions();
    drive_translate();
    /* what the upstream saw: every key that was meant to be used, no bearer token */
    cJSON *log = tu_mock_requests(mock.port);
    char *upstream = cJSON_PrintUnformatted(log);
    cJSON_Delete(log);
    assert_non_null(upstream);
    for (const char *const *k = used_upstream; *k; k++)
        if (!strstr(upstream, *k))
            fail_msg("key %s never reached the upstream", *k);
    const char *never[] = {TOKEN_A, TOKEN_B, TOKEN_WRONG, M_ANTHROPIC_ENV, C_REFUSED, NULL};
    for (const char *const *k = never; *k; k++)
        if (strstr(upstream, *k))
            fail_msg("%s reached the upstream", *k);
    free(upstream);

    assert_int_equal(tu_proc_stop(&proxy, 5000), 0);
    keep("proxy stdout", proxy.output ? proxy.output : "", proxy.output_len);
    size_t len = 0;
    char *err = tu_read_file(log_path, &len);
    assert_non_null(err);
    assert_true(len > 1000); /* debug logging did happen */
    keep("proxy stderr", err, len);
    free(err);
    /* the cut echo: not even its first 15 characters */
    assert_false(contains(emitted, emitted_len, "sk-ant-M4N-file"));
    for (const char *const *s = secrets; *s; s++)
        if (contains(emitted, emitted_len, *s)) {
            const char *at = memmem(emitted, emitted_len, *s, strlen(*s));
            size_t off = (size_t)(at - emitted);
            fail_msg("secret %s found in what the proxy emitted: ...%.300s...", *s,
                     emitted + (off > 200 ? off - 200 : 0));
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_gone_from_memory_after_delete),
        cmocka_unit_test(test_no_key_anywhere),
    };
    return cmocka_run_group_tests(tests, start_all, stop_all);
}
