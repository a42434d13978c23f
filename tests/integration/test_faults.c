/* test_faults.c — the fault matrix: every fault the mock can script × (non-streaming,
 * streaming) × (primary only, primary + fallback) × each provider as the primary,
 * through `llmux serve`, against DESIGN.md's documented outcome.
 *
 * Each cell has its own model name, so cells run in parallel (the mock matches script
 * steps by provider and model) and are told apart afterwards in the mock's request log
 * and in the proxy's request log lines (stderr, captured to a file). A cell checks:
 * the status or the stream's events, the attempts (count, order, provider, error type,
 * upstream status), how many upstream requests each provider got and in what order,
 * which provider answered, the exact text (never duplicated, never a second
 * provider's), and that Retry-After was honoured as a lower bound.
 *
 * The outcome of each row and mode is printed as a table (the matrix of issue 10). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "test_util.h"

#define TOKEN "tok-faults"
#define MAX_UPSTREAM_BODY 8192
#define THREADS 6
#define RETRIES 2 /* max_retries of every cell: 3 attempts per provider */
#define PRIMARY_TEXT "Primary one. Primary two. Primary three."
#define FALLBACK_TEXT "Fallback answered."

static tu_proc mock, proxy;
static int closed_fd = -1, closed_port;
static char log_path[64];
static char *big_text; /* the oversized answer */

static const char *const providers[4] = {"openai", "azure", "anthropic", "google"};
static const char *const fallback_of[4] = {"anthropic", "openai", "google", "azure"};

/* ---- the matrix ------------------------------------------------------------------- */

typedef enum kind {
    FAIL_RETRIED, /* every attempt of the primary fails and is retried: 1 + RETRIES */
    FAIL_ONCE,    /* the primary fails once and is not retried */
    OK_PRIMARY,   /* the primary answers */
    INTERRUPTED,  /* stream: content from the primary, then stream_interrupted */
} kind;

typedef struct expect {
    kind k;
    const char *type; /* the failed attempts' error_type */
    int status;       /* their upstream status: > 0 that, 0 none (null), -1 not checked */
} expect;

typedef struct row {
    const char *name;
    const char *step;    /* the fault's step fields (provider, model, count added) */
    const char *request; /* extra request fields */
    bool refused;        /* the primary's base_url is a closed port */
    bool big;            /* the answer is big_text */
    bool text;           /* the step may carry PRIMARY_TEXT (no error status) */
    int retry_after_ms;  /* lower bound of the gap between attempts */
    expect mode[2];      /* [0] non-streaming, [1] streaming */
} row;

#define T_FAST ",\"timeout\":3"
#define T_SHORT ",\"timeout\":0.3"

static const row rows[] = {
    {"429 + Retry-After",
     "\"status\":429,\"retry_after\":0.1",
     T_FAST,
     false,
     false,
     false,
     100,
     {{FAIL_RETRIED, "rate_limited", 429}, {FAIL_RETRIED, "rate_limited", 429}}},
    {"429",
     "\"status\":429",
     T_FAST,
     false,
     false,
     false,
     0,
     {{FAIL_RETRIED, "rate_limited", 429}, {FAIL_RETRIED, "rate_limited", 429}}},
    {"500",
     "\"status\":500",
     T_FAST,
     false,
     false,
     false,
     0,
     {{FAIL_RETRIED, "upstream_error", 500}, {FAIL_RETRIED, "upstream_error", 500}}},
    {"503",
     "\"status\":503",
     T_FAST,
     false,
     false,
     false,
     0,
     {{FAIL_RETRIED, "upstream_error", 503}, {FAIL_RETRIED, "upstream_error", 503}}},
    {"529",
     "\"status\":529",
     T_FAST,
     false,
     false,
     false,
     0,
     {{FAIL_RETRIED, "upstream_error", 529}, {FAIL_RETRIED, "upstream_error", 529}}},
    {"401",
     "\"status\":401",
     T_FAST,
     false,
     false,
     false,
     0,
     {{FAIL_RETRIED, "auth_failed", 401}, {FAIL_RETRIED, "auth_failed", 401}}},
    {"403",
     "\"status\":403",
     T_FAST,
     false,
     false,
     false,
     0,
     {{FAIL_ONCE, "auth_failed", 403}, {FAIL_ONCE, "auth_failed", 403}}},
    {"400",
     "\"status\":400",
     T_FAST,
     false,
     false,
     false,
     0,
     {{FAIL_ONCE, "invalid_request", 400}, {FAIL_ONCE, "invalid_request", 400}}},
    {"404",
     "\"status\":404",
     T_FAST,
     false,
     false,
     false,
     0,
     {{FAIL_ONCE, "model_not_found", 404}, {FAIL_ONCE, "model_not_found", 404}}},
    {"connect refused",
     NULL,
     T_FAST,
     true,
     false,
     false,
     0,
     {{FAIL_RETRIED, "upstream_error", 0}, {FAIL_RETRIED, "upstream_error", 0}}},
    {"slow headers > timeout",
     "\"delay_ms\":1500",
     T_SHORT,
     false,
     false,
     true,
     0,
     {{FAIL_RETRIED, "timeout", 0}, {FAIL_RETRIED, "timeout", 0}}},
    /* first_token_timeout bounds streams (docs/requests.md); a non-streaming answer is
     * bounded by timeout alone, so the slow body still arrives */
    {"slow first token > first_token_timeout",
     "\"first_chunk_delay_ms\":400",
     T_FAST ",\"first_token_timeout\":0.15",
     false,
     false,
     true,
     0,
     {{OK_PRIMARY, NULL, -1}, {FAIL_RETRIED, "timeout", -1}}},
    {"drop before first chunk",
     "\"drop_after_chunks\":0",
     T_FAST,
     false,
     false,
     true,
     0,
     {{FAIL_RETRIED, "upstream_error", -1}, {FAIL_RETRIED, "upstream_error", -1}}},
    /* non-streaming: the whole body precedes the cut */
    {"drop mid-stream",
     "\"drop_after_chunks\":2",
     T_FAST,
     false,
     false,
     true,
     0,
     {{OK_PRIMARY, NULL, -1}, {INTERRUPTED, NULL, -1}}},
    /* in-stream error events exist only in streams */
    {"error event before first chunk",
     "\"error_event_after_chunks\":0",
     T_FAST,
     false,
     false,
     true,
     0,
     {{OK_PRIMARY, NULL, -1}, {FAIL_RETRIED, "upstream_error", -1}}},
    {"error event mid-stream",
     "\"error_event_after_chunks\":1",
     T_FAST,
     false,
     false,
     true,
     0,
     {{OK_PRIMARY, NULL, -1}, {INTERRUPTED, NULL, -1}}},
    {"malformed JSON",
     "\"malformed\":\"json\"",
     T_FAST,
     false,
     false,
     true,
     0,
     {{FAIL_RETRIED, "upstream_error", 200}, {FAIL_RETRIED, "upstream_error", -1}}},
    {"malformed SSE",
     "\"malformed\":\"sse\"",
     T_FAST,
     false,
     false,
     true,
     0,
     {{FAIL_RETRIED, "upstream_error", 200}, {FAIL_RETRIED, "upstream_error", -1}}},
    /* streaming: every chunk, then the end without finish/terminator */
    {"truncated body",
     "\"malformed\":\"truncated\"",
     T_FAST,
     false,
     false,
     true,
     0,
     {{FAIL_RETRIED, "upstream_error", -1}, {INTERRUPTED, NULL, -1}}},
    /* --max-upstream-body caps what is buffered (non-streaming, not retried: the same
     * answer would come back); streams are forwarded, not buffered */
    {"oversized upstream body",
     "",
     T_FAST,
     false,
     true,
     false,
     0,
     {{FAIL_ONCE, "upstream_error", 200}, {OK_PRIMARY, NULL, -1}}},
    {"hang",
     "\"hang\":true",
     T_SHORT,
     false,
     false,
     true,
     0,
     {{FAIL_RETRIED, "timeout", 0}, {FAIL_RETRIED, "timeout", 0}}},
};
#define N_ROWS (sizeof rows / sizeof rows[0])
#define N_CELLS (N_ROWS * 2 * 2 * 4)

typedef struct cell {
    size_t row;
    int stream; /* 0, 1 */
    int chain;  /* 0 primary only, 1 primary + fallback */
    int prov;   /* primary: providers[prov], fallback: fallback_of[prov] */
    char model[48];
    char session[48];
    tu_response resp;
    char script_error[256];
    char outcome[160]; /* what was observed, for the table */
    char failure[768]; /* "" when the cell passed */
} cell;

static cell cells[N_CELLS];
static atomic_size_t next_cell;

/* ---- set-up ----------------------------------------------------------------------- */

static int put_provider(const char *session, const char *provider, const char *body)
{
    char url[256], path[160];
    snprintf(path, sizeof path, "/v1/sessions/%s/providers/%s", session, provider);
    const char *h[] = {"Authorization: Bearer " TOKEN, NULL};
    tu_response r;
    tu_http("PUT", tu_url(url, sizeof url, proxy.port, path), h, body, &r);
    int st = (int)r.status;
    if (st != 200)
        fprintf(stderr, "configure %s/%s: %d %s\n", session, provider, st, r.body);
    tu_response_free(&r);
    return st;
}

static int start_all(void **state)
{
    (void)state;
    /* a port that refuses connections: bound, never listening */
    closed_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    if (closed_fd < 0 || bind(closed_fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(closed_fd, (struct sockaddr *)&sa, &sl) != 0)
        return -1;
    closed_port = ntohs(sa.sin_port);
    /* "abc " repeated: one token per word, so no provider's max_tokens cuts it */
    size_t big_len = 2600 * 4;
    big_text = malloc(big_len + 1);
    for (size_t i = 0; i < big_len; i += 4)
        memcpy(big_text + i, "abc ", 4);
    big_text[big_len - 1] = '.';
    big_text[big_len] = '\0';

    if (tu_mock_start(&mock, NULL) != 0)
        return -1;
    static char e_openai[96], e_anthropic[96], e_google[96], e_azure[96];
    snprintf(e_openai, sizeof e_openai, "LLMUX_OPENAI_BASE_URL=http://127.0.0.1:%d/v1", mock.port);
    snprintf(e_anthropic, sizeof e_anthropic, "LLMUX_ANTHROPIC_BASE_URL=http://127.0.0.1:%d",
             mock.port);
    snprintf(e_google, sizeof e_google, "LLMUX_GOOGLE_BASE_URL=http://127.0.0.1:%d", mock.port);
    snprintf(e_azure, sizeof e_azure, "AZURE_OPENAI_ENDPOINT=http://127.0.0.1:%d", mock.port);
    const char *env[] = {e_openai,
                         e_anthropic,
                         e_google,
                         e_azure,
                         "OPENAI_API_KEY=sk-faults-openai",
                         "ANTHROPIC_API_KEY=sk-faults-anthropic",
                         "GEMINI_API_KEY=faults-gemini",
                         "AZURE_OPENAI_API_KEY=faults-azure",
                         "LLMUX_KEYS_DIR=",
                         "LLMUX_TOKENS=" TOKEN,
                         NULL};
    snprintf(log_path, sizeof log_path, "/tmp/llmux-faults-%d.log", (int)getpid());
    char redirect[128];
    snprintf(redirect, sizeof redirect, "exec \"$0\" \"$@\" 2>%s", log_path);
    char max_body[32];
    snprintf(max_body, sizeof max_body, "%d", MAX_UPSTREAM_BODY);
    /* through sh only to send stderr to the log file; exec keeps the pid */
    const char *argv[] = {"/bin/sh", "-c",          redirect,      tu_llmux_bin(),
                          "serve",   "--listen",    "127.0.0.1:0", "--workers",
                          "2",       "--log-level", "info",        "--max-upstream-body",
                          max_body,  NULL};
    if (tu_proc_start(&proxy, argv, env, 5000) != 0)
        return -1;
    for (int p = 0; p < 4; p++)
        if (put_provider("fm", providers[p], "{\"managed\":true}") != 200)
            return -1;
    /* connect refused: the primary is a customer base_url on the closed port */
    for (int p = 0; p < 4; p++) {
        char session[48], body[256];
        snprintf(session, sizeof session, "fm-refused-%s", providers[p]);
        snprintf(body, sizeof body,
                 "{\"api_key\":\"sk-refused-test\",\"base_url\":\"http://127.0.0.1:%d%s\"}",
                 closed_port, p == 0 ? "/v1" : "");
        if (put_provider(session, providers[p], body) != 200 ||
            put_provider(session, fallback_of[p], "{\"managed\":true}") != 200)
            return -1;
    }
    return 0;
}

static int stop_all(void **state)
{
    (void)state;
    int rc = tu_proc_stop(&proxy, 5000);
    tu_proc_free(&proxy);
    tu_proc_free(&mock);
    if (closed_fd >= 0)
        close(closed_fd);
    unlink(log_path);
    free(big_text);
    for (size_t i = 0; i < N_CELLS; i++)
        tu_response_free(&cells[i].resp);
    return rc == 0 ? 0 : -1;
}

/* ---- running the cells -------------------------------------------------------------- */

static void run_cell(cell *c)
{
    const row *r = &rows[c->row];
    const char *p = providers[c->prov], *f = fallback_of[c->prov];
    snprintf(c->model, sizeof c->model, "fm-r%zu-s%d-c%d-p%d", c->row, c->stream, c->chain,
             c->prov);
    if (r->refused)
        snprintf(c->session, sizeof c->session, "fm-refused-%s", p);
    else
        snprintf(c->session, sizeof c->session, "fm");
    /* the script: the fault for every primary attempt, the fallback's own text */
    size_t cap = 512 + (r->big ? strlen(big_text) : 0);
    char *script = malloc(cap);
    int n = snprintf(script, cap, "[");
    if (!r->refused) {
        n += snprintf(script + n, cap - (size_t)n,
                      "{\"provider\":\"%s\",\"model\":\"%s\",\"count\":%d%s%s", p, c->model,
                      RETRIES + 1, r->step[0] ? "," : "", r->step);
        if (r->text)
            n += snprintf(script + n, cap - (size_t)n, ",\"text\":\"" PRIMARY_TEXT "\"");
        if (r->big)
            n += snprintf(script + n, cap - (size_t)n, ",\"text\":\"%s\"", big_text);
        n += snprintf(script + n, cap - (size_t)n, "}%s", c->chain ? "," : "");
    }
    if (c->chain)
        n += snprintf(script + n, cap - (size_t)n,
                      "{\"provider\":\"%s\",\"model\":\"%s\",\"text\":\"" FALLBACK_TEXT "\"}", f,
                      c->model);
    snprintf(script + n, cap - (size_t)n, "]");
    int st = tu_mock_script(mock.port, script, c->script_error, sizeof c->script_error);
    free(script);
    if (st != 200) {
        memset(&c->resp, 0, sizeof c->resp);
        return;
    }
    c->script_error[0] = '\0';
    char body[1024], fb[96] = "";
    if (c->chain)
        snprintf(fb, sizeof fb, ",\"fallbacks\":[{\"provider\":\"%s\"}]", f);
    snprintf(body, sizeof body,
             "{\"provider\":\"%s\",\"model\":\"%s\",\"stream\":%s,\"messages\":[{\"role\":"
             "\"user\",\"content\":\"hi\"}],\"retry\":{\"max_retries\":%d,\"retry_delay\":0.01,"
             "\"backoff_multiplier\":1}%s%s}",
             p, c->model, c->stream ? "true" : "false", RETRIES, r->request, fb);
    char url[128], sess[96];
    tu_url(url, sizeof url, proxy.port, "/v1/chat/completions");
    snprintf(sess, sizeof sess, "X-Llmux-Session: %s", c->session);
    const char *h[] = {"Authorization: Bearer " TOKEN, sess, NULL};
    tu_http_opts o = {.timeout_ms = 20000};
    tu_http_ex(NULL, "POST", url, h, body, &o, &c->resp);
}

static void *worker(void *arg)
{
    (void)arg;
    for (;;) {
        size_t i = atomic_fetch_add(&next_cell, 1);
        if (i >= N_CELLS)
            return NULL;
        run_cell(&cells[i]);
    }
}

/* ---- checking ---------------------------------------------------------------------- */

static void failf(cell *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void failf(cell *c, const char *fmt, ...)
{
    size_t used = strlen(c->failure);
    if (used + 8 >= sizeof c->failure)
        return;
    if (used)
        used += (size_t)snprintf(c->failure + used, sizeof c->failure - used, "; ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->failure + used, sizeof c->failure - used, fmt, ap);
    va_end(ap);
}

static const char *str_of(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool str_is(const char *a, const char *b)
{
    return a && b ? strcmp(a, b) == 0 : a == b;
}

/* What a stream carried. */
typedef struct seen {
    char text[16384];
    size_t n_chunks;
    char provider[16]; /* of the content chunks */
    bool mixed;        /* chunks named more than one provider */
    bool done, error, after_end;
    char error_type[48];
} seen;

static bool collect(const tu_response *r, seen *s)
{
    memset(s, 0, sizeof *s);
    tu_sse sse;
    if (tu_sse_parse(r->body, r->body_len, &sse) != 0)
        return false;
    bool ended = false, ok = true;
    for (size_t i = 0; i < sse.count; i++) {
        const char *data = sse.events[i].data;
        if (ended)
            s->after_end = true;
        if (strcmp(data, "[DONE]") == 0) {
            s->done = ended = true;
            continue;
        }
        cJSON *j = cJSON_Parse(data);
        if (!j) {
            ok = false;
            continue;
        }
        const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
        if (err) {
            s->error = ended = true;
            snprintf(s->error_type, sizeof s->error_type, "%s",
                     str_of(err, "type") ? str_of(err, "type") : "");
            cJSON_Delete(j);
            continue;
        }
        const char *prov = str_of(j, "provider");
        if (prov) {
            if (s->provider[0] && strcmp(s->provider, prov) != 0)
                s->mixed = true;
            snprintf(s->provider, sizeof s->provider, "%s", prov);
        }
        const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "choices"), 0);
        const char *content = str_of(cJSON_GetObjectItemCaseSensitive(ch, "delta"), "content");
        if (content && *content) {
            strncat(s->text, content, sizeof s->text - strlen(s->text) - 1);
            s->n_chunks++;
        }
        cJSON_Delete(j);
    }
    tu_sse_free(&sse);
    return ok;
}

/* The attempts of a cell in the proxy's log: the request line whose first attempt used
 * the cell's model (cells run in parallel; the model tells them apart). */
static const cJSON *log_line_of(const cJSON *lines, const char *model)
{
    const cJSON *l;
    cJSON_ArrayForEach(l, lines)
    {
        const cJSON *a0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(l, "attempts"), 0);
        if (str_is(str_of(a0, "model"), model))
            return l;
    }
    return NULL;
}

static cJSON *read_log_lines(void)
{
    cJSON *arr = cJSON_CreateArray();
    size_t len = 0;
    char *text = tu_read_file(log_path, &len);
    char *save = NULL;
    for (char *line = text ? strtok_r(text, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        cJSON *j = cJSON_Parse(line);
        if (cJSON_IsObject(j) && str_is(str_of(j, "event"), "request"))
            cJSON_AddItemToArray(arr, j);
        else
            cJSON_Delete(j);
    }
    free(text);
    return arr;
}

/* Checks an attempts array: `fails` failures of the primary of type e->type (and upstream
 * status e->status), then, when `answered`, one success by `answered`. */
static void check_attempts(cell *c, const char *where, const cJSON *att, int fails, const expect *e,
                           const char *answered, const char *last_error)
{
    int want = fails + (answered || last_error ? 1 : 0);
    if (cJSON_GetArraySize(att) != want) {
        failf(c, "%s: %d attempts, want %d", where, cJSON_GetArraySize(att), want);
        return;
    }
    const char *p = providers[c->prov];
    for (int i = 0; i < fails; i++) {
        const cJSON *a = cJSON_GetArrayItem(att, i);
        if (!str_is(str_of(a, "provider"), p))
            failf(c, "%s: attempt %d by %s, want %s", where, i + 1, str_of(a, "provider"), p);
        if (!str_is(str_of(a, "error_type"), e->type))
            failf(c, "%s: attempt %d error_type %s, want %s", where, i + 1, str_of(a, "error_type"),
                  e->type);
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(a, "status");
        if (e->status == 0 && !cJSON_IsNull(st))
            failf(c, "%s: attempt %d status %g, want null", where, i + 1,
                  st ? st->valuedouble : -1);
        if (e->status > 0 && !(cJSON_IsNumber(st) && st->valueint == e->status))
            failf(c, "%s: attempt %d status %g, want %d", where, i + 1,
                  cJSON_IsNumber(st) ? st->valuedouble : -1, e->status);
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(a, "attempt");
        if (n && !(cJSON_IsNumber(n) && n->valueint == i + 1))
            failf(c, "%s: attempt %d numbered %d", where, i + 1, n ? n->valueint : -1);
    }
    if (answered || last_error) {
        const cJSON *a = cJSON_GetArrayItem(att, fails);
        if (!str_is(str_of(a, "provider"), answered ? answered : p))
            failf(c, "%s: last attempt by %s, want %s", where, str_of(a, "provider"),
                  answered ? answered : p);
        if (!str_is(str_of(a, "error_type"), last_error))
            failf(c, "%s: last attempt error_type %s, want %s", where, str_of(a, "error_type"),
                  last_error ? last_error : "null");
    }
}

static void check_cell(cell *c, const cJSON *upstream, const cJSON *lines)
{
    const row *r = &rows[c->row];
    const expect *e = &r->mode[c->stream];
    const char *p = providers[c->prov], *f = fallback_of[c->prov];
    if (c->script_error[0]) {
        failf(c, "script refused: %s", c->script_error);
        return;
    }
    const tu_response *resp = &c->resp;
    if (resp->curl_code != 0) {
        failf(c, "transfer failed: curl %d %s", resp->curl_code, resp->error);
        return;
    }
    int fails = e->k == FAIL_RETRIED ? RETRIES + 1 : e->k == FAIL_ONCE ? 1 : 0;
    bool failing = e->k == FAIL_RETRIED || e->k == FAIL_ONCE;
    const char *want_text = r->big ? big_text : PRIMARY_TEXT;
    const char *answered = NULL; /* who must answer */
    if (failing && c->chain) {
        answered = f;
        want_text = FALLBACK_TEXT;
    } else if (!failing) {
        answered = p;
    }
    char ct[128] = "";
    tu_header(resp, "content-type", ct, sizeof ct);

    /* the client's view */
    if (failing && !c->chain) {
        bool timeout = strcmp(e->type, "timeout") == 0;
        long want_status = timeout ? 504 : 502;
        const char *want_type = timeout ? "timeout" : "all_providers_failed";
        cJSON *j = tu_json(resp);
        const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
        if (resp->status != want_status || !str_is(str_of(err, "type"), want_type))
            failf(c, "got %ld %s, want %ld %s", resp->status, str_of(err, "type"), want_status,
                  want_type);
        if (!strstr(ct, "application/json"))
            failf(c, "error content-type '%s'", ct);
        check_attempts(c, "error.attempts", cJSON_GetObjectItemCaseSensitive(err, "attempts"),
                       fails, e, NULL, NULL);
        snprintf(c->outcome, sizeof c->outcome, "%ld %s, %d× %s", resp->status, want_type, fails,
                 e->type);
        cJSON_Delete(j);
    } else if (e->k == INTERRUPTED) {
        seen s;
        if (resp->status != 200 || !collect(resp, &s))
            failf(c, "got %ld, want a 200 stream: %.200s", resp->status, resp->body);
        else {
            size_t tl = strlen(s.text);
            if (tl == 0 || strncmp(s.text, want_text, tl) != 0)
                failf(c, "text '%s' is not a prefix of the primary's", s.text);
            if (!s.error || strcmp(s.error_type, "stream_interrupted") != 0)
                failf(c, "no stream_interrupted event (error %d '%s')", s.error, s.error_type);
            if (s.done || s.after_end)
                failf(c, "[DONE] %d or events after the error %d", s.done, s.after_end);
            if (s.mixed || !str_is(s.provider, p))
                failf(c, "chunks from %s (mixed %d), want %s only", s.provider, s.mixed, p);
            snprintf(c->outcome, sizeof c->outcome,
                     "200 stream: %zu chunk(s) from the primary, then stream_interrupted, no "
                     "[DONE]",
                     s.n_chunks);
        }
    } else if (c->stream) {
        seen s;
        if (resp->status != 200 || !strstr(ct, "text/event-stream") || !collect(resp, &s))
            failf(c, "got %ld '%s', want a 200 stream: %.200s", resp->status, ct, resp->body);
        else {
            if (strcmp(s.text, want_text) != 0)
                failf(c, "text '%.80s' (%zu bytes), want '%.80s'", s.text, strlen(s.text),
                      want_text);
            if (!s.done || s.error || s.after_end)
                failf(c, "done %d error %d (%s) after_end %d", s.done, s.error, s.error_type,
                      s.after_end);
            if (s.mixed || !str_is(s.provider, answered))
                failf(c, "chunks from %s (mixed %d), want %s only", s.provider, s.mixed, answered);
            snprintf(c->outcome, sizeof c->outcome, "200 stream from %s%s",
                     answered == f ? "fallback" : "primary", fails ? "" : "");
            if (fails) {
                size_t used = strlen(c->outcome);
                snprintf(c->outcome + used, sizeof c->outcome - used, " after %d× %s", fails,
                         e->type);
            }
        }
    } else {
        cJSON *j = tu_json(resp);
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "choices"), 0), "message");
        if (resp->status != 200)
            failf(c, "got %ld, want 200: %.300s", resp->status, resp->body);
        else {
            if (!str_is(str_of(j, "provider"), answered))
                failf(c, "answered by %s, want %s", str_of(j, "provider"), answered);
            if (!str_is(str_of(msg, "content"), want_text))
                failf(c, "content '%.80s', want '%.80s'", str_of(msg, "content"), want_text);
            check_attempts(c, "llmux.attempts",
                           cJSON_GetObjectItemCaseSensitive(
                               cJSON_GetObjectItemCaseSensitive(j, "llmux"), "attempts"),
                           fails, e, answered, NULL);
            snprintf(c->outcome, sizeof c->outcome, "200 from %s",
                     answered == f ? "fallback" : "primary");
            if (fails) {
                size_t used = strlen(c->outcome);
                snprintf(c->outcome + used, sizeof c->outcome - used, " after %d× %s", fails,
                         e->type);
            }
        }
        cJSON_Delete(j);
    }

    /* the proxy's request log line: the same attempts, streams included */
    const cJSON *line = log_line_of(lines, c->model);
    if (!line)
        failf(c, "no request log line");
    else if (e->k == INTERRUPTED)
        check_attempts(c, "log", cJSON_GetObjectItemCaseSensitive(line, "attempts"), 0, e, NULL,
                       "stream_interrupted");
    else
        check_attempts(c, "log", cJSON_GetObjectItemCaseSensitive(line, "attempts"), fails, e,
                       answered, NULL);

    /* the upstream's view: how many requests, to whom, in what order, how far apart */
    int n_p = 0, n_f = 0;
    bool f_seen = false;
    double last_p = -1;
    const cJSON *q;
    cJSON_ArrayForEach(q, upstream)
    {
        if (!str_is(str_of(q, "model"), c->model) || !str_is(str_of(q, "method"), "POST"))
            continue;
        const char *qp = str_of(q, "provider");
        double at = cJSON_GetObjectItemCaseSensitive(q, "arrival_ms")->valuedouble;
        if (str_is(qp, p)) {
            n_p++;
            if (f_seen)
                failf(c, "primary request after the fallback's");
            if (r->retry_after_ms && last_p >= 0 && at - last_p < r->retry_after_ms - 5)
                failf(c, "retried after %.0f ms, Retry-After asked for %d", at - last_p,
                      r->retry_after_ms);
            last_p = at;
        } else if (str_is(qp, f)) {
            n_f++;
            f_seen = true;
        } else {
            failf(c, "request to %s", qp);
        }
    }
    int want_p = r->refused ? 0 : (failing ? fails : 1);
    int want_f = failing && c->chain ? 1 : 0;
    if (n_p != want_p || n_f != want_f)
        failf(c, "upstream requests: %s %d (want %d), %s %d (want %d)", p, n_p, want_p, f, n_f,
              want_f);
}

static void test_fault_matrix(void **state)
{
    (void)state;
    size_t k = 0;
    for (size_t r = 0; r < N_ROWS; r++)
        for (int s = 0; s < 2; s++)
            for (int ch = 0; ch < 2; ch++)
                for (int p = 0; p < 4; p++)
                    cells[k++] = (cell){.row = r, .stream = s, .chain = ch, .prov = p};
    double t0 = tu_now_ms();
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, worker, NULL), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    double took = tu_now_ms() - t0;

    cJSON *log = tu_mock_requests(mock.port);
    assert_non_null(log);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(log, "dropped")->valueint, 0);
    cJSON *lines = read_log_lines();
    size_t failed = 0;
    for (size_t i = 0; i < N_CELLS; i++) {
        check_cell(&cells[i], cJSON_GetObjectItemCaseSensitive(log, "requests"), lines);
        if (cells[i].failure[0])
            failed++;
    }
    cJSON_Delete(lines);
    cJSON_Delete(log);

    /* The matrix: one line per row and mode; the outcome seen with openai as the primary
     * (every provider must agree), and how many of the 4 primaries passed. */
    printf("\nfault matrix: %zu cells in %.1f s (%d threads)\n", (size_t)N_CELLS, took / 1000,
           THREADS);
    for (size_t r = 0; r < N_ROWS; r++)
        for (int s = 0; s < 2; s++)
            for (int ch = 0; ch < 2; ch++) {
                int ok = 0;
                const char *outcome = "";
                for (int p = 0; p < 4; p++) {
                    cell *c = &cells[((r * 2 + (size_t)s) * 2 + (size_t)ch) * 4 + (size_t)p];
                    ok += c->failure[0] == '\0';
                    if (p == 0)
                        outcome = c->outcome;
                }
                printf("  %-40s %-9s %-10s %d/4  %s\n", rows[r].name, s ? "stream" : "plain",
                       ch ? "+fallback" : "primary", ok, outcome);
            }
    for (size_t i = 0; i < N_CELLS; i++)
        if (cells[i].failure[0])
            fprintf(stderr, "FAIL %s | %s | %s | primary %s: %s\n", rows[cells[i].row].name,
                    cells[i].stream ? "stream" : "plain", cells[i].chain ? "+fallback" : "primary",
                    providers[cells[i].prov], cells[i].failure);
    if (failed)
        fail_msg("%zu of %zu cells failed", failed, (size_t)N_CELLS);
    /* the proxy is still healthy */
    char url[128];
    tu_response h;
    tu_http("GET", tu_url(url, sizeof url, proxy.port, "/healthz"), NULL, NULL, &h);
    assert_int_equal(h.status, 200);
    tu_response_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fault_matrix),
    };
    return cmocka_run_group_tests(tests, start_all, stop_all);
}
