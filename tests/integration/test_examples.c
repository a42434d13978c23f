/* test_examples.c — every program in examples/ run against the mock, in embedded mode and
 * through `llmux serve`, with its exit status and key output lines checked (and the mock's
 * log where the example's claim is about what reached the upstream). The examples get
 * their configuration the way a user's program would: environment variables (and a .env
 * file for byok_providers), in a fresh working directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"
#include "mock/mock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef LLMUX_EXAMPLES_DIR
#error "LLMUX_EXAMPLES_DIR is set by cmake/examples.cmake"
#endif

#define VALID_OPENAI "sk-valid-openai-0001"
#define TOKEN "tok-examples"

static llmux__mock *mock;
static int mock_port;
static tu_proc proxy;
static bool proxy_mode;
static char workdir[256];
static char e_openai_url[128], e_anthropic_url[128], e_google_url[128], e_azure[128], e_custom[128],
    e_proxy[128];

static int start_mock(void)
{
    llmux__mock_options mo = {.listen = "127.0.0.1:0"};
    mo.keys[LLMUX__MOCK_OPENAI] = VALID_OPENAI; /* so an invalid key is refused */
    llmux__error e;
    if (llmux__mock_start(&mo, &mock, &e) != LLMUX_OK)
        return -1;
    mock_port = llmux__mock_port(mock);
    snprintf(e_openai_url, sizeof e_openai_url, "LLMUX_OPENAI_BASE_URL=http://127.0.0.1:%d/v1",
             mock_port);
    snprintf(e_anthropic_url, sizeof e_anthropic_url,
             "LLMUX_ANTHROPIC_BASE_URL=http://127.0.0.1:%d", mock_port);
    snprintf(e_google_url, sizeof e_google_url, "LLMUX_GOOGLE_BASE_URL=http://127.0.0.1:%d",
             mock_port);
    snprintf(e_azure, sizeof e_azure, "AZURE_OPENAI_ENDPOINT=http://127.0.0.1:%d", mock_port);
    snprintf(e_custom, sizeof e_custom, "CUSTOM_BASE_URL=http://127.0.0.1:%d/custom/v1", mock_port);
    snprintf(workdir, sizeof workdir, "/tmp/llmux-examples-XXXXXX");
    return mkdtemp(workdir) ? 0 : -1;
}

static int setup_embedded(void **state)
{
    (void)state;
    proxy_mode = false;
    return start_mock();
}

static int setup_proxy(void **state)
{
    (void)state;
    proxy_mode = true;
    if (start_mock() != 0)
        return -1;
    const char *env[] = {e_openai_url,
                         e_anthropic_url,
                         e_google_url,
                         e_azure,
                         "OPENAI_API_KEY=" VALID_OPENAI,
                         "ANTHROPIC_API_KEY=sk-ant-managed",
                         "GEMINI_API_KEY=gm-managed",
                         "GOOGLE_API_KEY=",
                         "AZURE_OPENAI_API_KEY=",
                         "LLMUX_KEYS_DIR=",
                         "LLMUX_TOKENS=" TOKEN,
                         NULL};
    const char *argv[] = {tu_llmux_bin(), "serve", "--listen", "127.0.0.1:0", "--workers", "1",
                          "--log-level",  "error", NULL};
    if (tu_proc_start(&proxy, argv, env, 5000) != 0)
        return -1;
    snprintf(e_proxy, sizeof e_proxy, "LLMUX_PROXY_URL=http://127.0.0.1:%d", proxy.port);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int rc = 0;
    if (proxy_mode) {
        rc = tu_proc_stop(&proxy, 5000) == 0 ? 0 : -1;
        tu_proc_free(&proxy);
    }
    llmux__mock_stop(mock);
    char env_file[300];
    snprintf(env_file, sizeof env_file, "%s/.env", workdir);
    unlink(env_file);
    rmdir(workdir);
    return rc;
}

static int reset(void **state)
{
    (void)state;
    char env_file[300];
    snprintf(env_file, sizeof env_file, "%s/.env", workdir);
    unlink(env_file);
    return tu_mock_reset(mock_port) == 200 ? 0 : -1;
}

/* ---- running an example ------------------------------------------------------------ */

typedef struct run_result {
    int status; /* exit code, or 128 + signal */
    char out[16384];
} run_result;

/* Runs examples/<name> with args in `workdir`. The environment is the test's, then the
 * mode's (mock URLs and managed keys for embedded mode; the proxy URL and token for proxy
 * mode), then `extra` ("NAME=VALUE" sets, "NAME" unsets). stdout is captured, stderr
 * passed through. At most 30 s. */
static void run(const char *name, const char *const args[], const char *const extra[],
                run_result *r)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", LLMUX_EXAMPLES_DIR, name);
    const char *argv[8] = {path};
    for (int i = 0; args && args[i] && i < 6; i++)
        argv[i + 1] = args[i];
    const char *base_embedded[] = {e_openai_url,
                                   e_anthropic_url,
                                   e_google_url,
                                   "OPENAI_API_KEY=" VALID_OPENAI,
                                   "ANTHROPIC_API_KEY=sk-ant-managed",
                                   "GEMINI_API_KEY=gm-managed",
                                   "GOOGLE_API_KEY",
                                   "AZURE_OPENAI_API_KEY",
                                   "AZURE_OPENAI_ENDPOINT",
                                   "LLMUX_KEYS_DIR",
                                   "LLMUX_PROXY_URL",
                                   "LLMUX_PROXY_TOKEN",
                                   "OPENAI_BASE_URL",
                                   "CUSTOM_API_KEY",
                                   "CUSTOM_BASE_URL",
                                   NULL};
    const char *base_proxy[] = {e_proxy,
                                "LLMUX_PROXY_TOKEN=" TOKEN,
                                "OPENAI_API_KEY=" VALID_OPENAI,
                                "ANTHROPIC_API_KEY",
                                "GEMINI_API_KEY",
                                "GOOGLE_API_KEY",
                                "AZURE_OPENAI_API_KEY",
                                "AZURE_OPENAI_ENDPOINT",
                                "OPENAI_BASE_URL",
                                "CUSTOM_API_KEY",
                                "CUSTOM_BASE_URL",
                                NULL};
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const char *const *lists[] = {proxy_mode ? base_proxy : base_embedded, extra};
        for (int l = 0; l < 2; l++) {
            for (int i = 0; lists[l] && lists[l][i]; i++) {
                const char *e = lists[l][i];
                const char *eq = strchr(e, '=');
                if (eq) {
                    char n[128];
                    snprintf(n, sizeof n, "%.*s", (int)(eq - e), e);
                    setenv(n, eq + 1, 1);
                } else {
                    unsetenv(e);
                }
            }
        }
        if (chdir(workdir) != 0)
            _exit(126);
        dup2(fds[1], 1);
        /* Nothing else of ours: the in-process mock's sockets must not stay open in the
         * example (a connection the mock drops would otherwise not close). */
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
        execv(path, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    size_t len = 0;
    double deadline = tu_now_ms() + 30000;
    for (;;) {
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        int left = (int)(deadline - tu_now_ms());
        if (left <= 0 || poll(&p, 1, left) <= 0) {
            kill(pid, SIGKILL);
            break;
        }
        ssize_t n = read(fds[0], r->out + len, sizeof r->out - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == sizeof r->out - 1)
            break;
    }
    r->out[len] = '\0';
    close(fds[0]);
    int ws = 0;
    waitpid(pid, &ws, 0);
    r->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

static void expect_line(const run_result *r, const char *needle)
{
    if (!strstr(r->out, needle))
        fail_msg("expected \"%s\" in the output:\n%s", needle, r->out);
}

static void expect_status(const run_result *r, int status)
{
    if (r->status != status)
        fail_msg("exit status %d, expected %d; output:\n%s", r->status, status, r->out);
}

static void script(const char *json)
{
    char why[512];
    if (tu_mock_script(mock_port, json, why, sizeof why) != 200)
        fail_msg("script refused: %s", why);
}

/* Completion requests the mock saw (POSTs), optionally to one provider. */
static int completions(const char *provider)
{
    cJSON *log = tu_mock_requests(mock_port);
    int n = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(log, "requests"))
    {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "method");
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(r, "provider");
        if (cJSON_IsString(m) && strcmp(m->valuestring, "POST") == 0 &&
            (!provider || (cJSON_IsString(p) && strcmp(p->valuestring, provider) == 0)))
            n++;
    }
    cJSON_Delete(log);
    return n;
}

/* The value of header `name` on the first completion to `provider`, copied into buf. */
static const char *completion_header(const char *provider, const char *name, char *buf, size_t n)
{
    cJSON *log = tu_mock_requests(mock_port);
    const cJSON *r;
    buf[0] = '\0';
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(log, "requests"))
    {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "method");
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(r, "provider");
        if (cJSON_IsString(m) && strcmp(m->valuestring, "POST") == 0 && cJSON_IsString(p) &&
            strcmp(p->valuestring, provider) == 0) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(r, "headers"), name);
            if (cJSON_IsString(v))
                snprintf(buf, n, "%s", v->valuestring);
            break;
        }
    }
    cJSON_Delete(log);
    return buf;
}

/* ---- one test per example ----------------------------------------------------------------- */

static void test_configure_and_complete(void **state)
{
    (void)state;
    run_result r;
    run("configure_and_complete", NULL, NULL, &r);
    expect_status(&r, 0);
    expect_line(&r, "registered: anthropic (managed), openai (customer key)");
    expect_line(&r, "served by anthropic / claude-haiku-4-5: Hello from the llmux mock.");
    expect_line(&r, "configuration error: provider 'google' is not configured");
    assert_int_equal(completions("google"), 0);
    assert_int_equal(completions(NULL), 1);
}

static void test_fallback_chain(void **state)
{
    (void)state;
    script("[{\"provider\":\"anthropic\",\"status\":503,\"count\":3}]");
    run_result r;
    const char *args[] = {"0.01", NULL};
    run("fallback_chain", args, NULL, &r);
    expect_status(&r, 0);
    expect_line(&r, "served by openai / gpt-4.1-mini");
    expect_line(&r, "attempts: 4");
    expect_line(&r, "anthropic/claude-haiku-4-5 #3: 503 upstream_error");
    expect_line(&r, "openai/gpt-4.1-mini #1: 200 ok");
    assert_int_equal(completions("anthropic"), 3);
    assert_int_equal(completions("openai"), 1);
    assert_int_equal(completions("google"), 0);

    /* everything fails: the attempts of the whole chain on stderr, exit 1 */
    assert_int_equal(tu_mock_reset(mock_port), 200);
    script("[{\"status\":500,\"count\":20}]");
    run("fallback_chain", args, NULL, &r);
    expect_status(&r, 1);
    assert_int_equal(completions(NULL), 3 + 3 + 1);
}

static void test_retries(void **state)
{
    (void)state;
    script("[{\"provider\":\"anthropic\",\"status\":503,\"count\":2}]");
    run_result r;
    const char *args[] = {"0.02", NULL};
    run("retries", args, NULL, &r);
    expect_status(&r, 0);
    expect_line(&r, "typed: ok after 3 attempts: 503 503 200");
    expect_line(&r, "dict: ok after 1 attempt: 200");
}

static void test_streaming_sentences(void **state)
{
    (void)state;
    run_result r;
    run("streaming_sentences", NULL, NULL, &r);
    expect_status(&r, 0);
    expect_line(&r, "[1] Hello from the llmux mock.\n");
    expect_line(&r, "[2] Dr. Ada Byte measured 3.14 meters of cable today.\n");
    expect_line(&r, "[3] That is good news!\n"); /* clean_sentences */
    expect_line(&r, "done: 4 sentences from anthropic / claude-haiku-4-5");

    /* cut mid-stream: the error comes out of the loop; no retry, no fallback */
    assert_int_equal(tu_mock_reset(mock_port), 200);
    script("[{\"provider\":\"anthropic\",\"drop_after_chunks\":7}]");
    run("streaming_sentences", NULL, NULL, &r);
    expect_status(&r, 0);
    expect_line(&r, "[1] Hello from the llmux mock.\n");
    expect_line(&r, "stream error after 2 sentences: stream_interrupted");
    assert_int_equal(completions(NULL), 1);
}

static void test_stream_callbacks(void **state)
{
    (void)state;
    run_result r;
    run("stream_callbacks", NULL, NULL, &r);
    expect_status(&r, 0);
    expect_line(&r, "sentence 1: Hello from the llmux mock.\n");
    expect_line(&r, "sentence 4: Is there anything else I can check for you?\n");
    expect_line(&r, "on_end: ok after 4 sentences");

    assert_int_equal(tu_mock_reset(mock_port), 200);
    script("[{\"provider\":\"openai\",\"error_event_after_chunks\":3}]");
    run("stream_callbacks", NULL, NULL, &r);
    expect_status(&r, 0);
    expect_line(&r, "on_end: stream_interrupted");
}

static void test_byok_providers(void **state)
{
    (void)state;
    /* anthropic's key comes from the .env file only; the custom endpoint is an OpenAI path
     * of the mock, which takes only VALID_OPENAI there */
    char env_file[300];
    snprintf(env_file, sizeof env_file, "%s/.env", workdir);
    FILE *f = fopen(env_file, "w");
    assert_non_null(f);
    fprintf(f, "# .env file\nexport ANTHROPIC_API_KEY=\"sk-ant-from-dotenv\"\n"
               "CUSTOM_MODEL=my-llama # a comment\n");
    fclose(f);
    const char *extra[] = {"AZURE_OPENAI_API_KEY=az-customer-key", e_azure,  "ANTHROPIC_API_KEY",
                           "CUSTOM_API_KEY=" VALID_OPENAI,         e_custom, NULL};
    run_result r;
    run("byok_providers", NULL, extra, &r);
    expect_status(&r, 0);
    expect_line(&r, "openai (openai/gpt-4o): Hello from the llmux mock.");
    expect_line(&r, "azure (azure/gpt-4o): Hello from the llmux mock.");
    expect_line(&r, "anthropic (anthropic/claude-sonnet-4-20250514): Hello from");
    expect_line(&r, "custom (openai/my-llama): Hello from");
    expect_line(&r, "4 answered, 0 failed");
    char buf[128];
    assert_string_equal(completion_header("anthropic", "x-api-key", buf, sizeof buf),
                        "sk-ant-from-dotenv");
    assert_string_equal(completion_header("azure", "api-key", buf, sizeof buf), "az-customer-key");

    /* without Azure's variables: skipped, naming what is missing */
    assert_int_equal(tu_mock_reset(mock_port), 200);
    const char *no_azure[] = {"ANTHROPIC_API_KEY", "CUSTOM_API_KEY=" VALID_OPENAI, e_custom, NULL};
    run("byok_providers", NULL, no_azure, &r);
    expect_status(&r, 0);
    expect_line(&r, "skipped azure: AZURE_OPENAI_API_KEY and AZURE_OPENAI_ENDPOINT required");
    expect_line(&r, "3 answered, 0 failed");
    assert_int_equal(completions("azure"), 0);

    /* a malformed .env is an error naming the line, never a value */
    f = fopen(env_file, "w");
    fprintf(f, "OPENAI_API_KEY=sk-fine\nthis line is wrong sk-secret-value\n");
    fclose(f);
    run("byok_providers", NULL, NULL, &r);
    expect_status(&r, 1);
}

static void test_multiple_sessions(void **state)
{
    (void)state;
    /* the ping of the first candidate fails; azure has no managed key; anthropic answers */
    script("[{\"provider\":\"openai\",\"model\":\"gpt-4o-mini\",\"status\":500,\"count\":5}]");
    run_result r;
    run("multiple_sessions", NULL, NULL, &r);
    expect_status(&r, 0);
    expect_line(&r, "code-assistant (openai): Hello from the llmux mock.");
    expect_line(&r, "analysis-assistant (anthropic): Hello from the llmux mock.");
    expect_line(&r, "history: code-assistant 2 turns, analysis-assistant 2 turns");
    expect_line(&r, "Provider 1 failed: all_providers_failed");
    expect_line(&r, "Provider 2 failed: setup");
    expect_line(&r, "Using provider 3: anthropic");
}

static void test_error_handling(void **state)
{
    (void)state;
    script("[{\"model\":\"rate-limited-model\",\"status\":429},"
           "{\"model\":\"no-such-model\",\"status\":404},"
           "{\"model\":\"slow-model\",\"hang\":true}]");
    run_result r;
    run("error_handling", NULL, NULL, &r);
    expect_status(&r, 0);
    expect_line(&r, "not configured: provider_not_configured (cause provider_not_configured)");
    expect_line(&r, "api_key on a request: invalid_request -> api_key");
    expect_line(&r, "rate limit: all_providers_failed (cause rate_limited)");
    expect_line(&r, "invalid key: all_providers_failed (cause auth_failed)");
    expect_line(&r, "unknown model: all_providers_failed (cause model_not_found)");
    expect_line(&r, "timeout: timeout (cause timeout)");
    /* keys never show up in messages */
    assert_null(strstr(r.out, "sk-invalid-key-000"));
    assert_null(strstr(r.out, "sk-do-not"));
    assert_null(strstr(r.out, VALID_OPENAI));
    assert_int_equal(completions("anthropic"), 0);
}

#define EXAMPLE_TESTS                                                                              \
    cmocka_unit_test_setup(test_configure_and_complete, reset),                                    \
        cmocka_unit_test_setup(test_fallback_chain, reset),                                        \
        cmocka_unit_test_setup(test_retries, reset),                                               \
        cmocka_unit_test_setup(test_streaming_sentences, reset),                                   \
        cmocka_unit_test_setup(test_stream_callbacks, reset),                                      \
        cmocka_unit_test_setup(test_byok_providers, reset),                                        \
        cmocka_unit_test_setup(test_multiple_sessions, reset),                                     \
        cmocka_unit_test_setup(test_error_handling, reset)

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {EXAMPLE_TESTS};
    int failed = cmocka_run_group_tests_name("examples, embedded", tests, setup_embedded, teardown);
    failed += cmocka_run_group_tests_name("examples, proxy", tests, setup_proxy, teardown);
    return failed;
}
