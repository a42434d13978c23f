/* test_isolation.c — sessions belong to (token, session id). One token can never read,
 * use or delete another token's sessions, even under the same session id; and many
 * sessions with different customer keys used at once, while some are re-configured with
 * new keys, never cross: every upstream request carries a key of its own (token,
 * session), and every client gets the answer to its own request (the mock echoes the
 * request's marker back). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define N_TOKENS 2
#define N_SESSIONS 4
#define N_PROVIDERS 4
#define N_THREADS 8
#define PER_THREAD 100
#define MAX_VERSIONS 8

static const char *const tokens[N_TOKENS] = {"tok-iso-alpha", "tok-iso-bravo"};
static const char *const providers[N_PROVIDERS] = {"openai", "azure", "anthropic", "google"};
static const char *const models[N_PROVIDERS] = {"gpt-iso", "dep-iso", "claude-iso", "gemini-iso"};
/* the request header each provider's key travels in (as the mock logs it) */
static const char *const key_headers[N_PROVIDERS] = {"authorization", "api-key", "x-api-key",
                                                     "x-goog-api-key"};

static tu_proc mock, proxy;

/* Every key ever given to (token, session, provider), newest last. */
static char keys[N_TOKENS][N_SESSIONS][N_PROVIDERS][MAX_VERSIONS][64];
static atomic_int n_versions[N_TOKENS][N_SESSIONS][N_PROVIDERS];

static long put(const char *token, const char *session, const char *provider, const char *body)
{
    char url[256], path[160], auth[64];
    snprintf(path, sizeof path, "/v1/sessions/%s/providers/%s", session, provider);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    const char *h[] = {auth, NULL};
    tu_response r;
    tu_http("PUT", tu_url(url, sizeof url, proxy.port, path), h, body, &r);
    long st = r.status;
    tu_response_free(&r);
    return st;
}

/* Gives (t, s, p) a new key (version n_versions) and configures it. */
static long configure_version(int t, int s, int p)
{
    int v = atomic_load(&n_versions[t][s][p]);
    if (v >= MAX_VERSIONS)
        return 200;
    char *key = keys[t][s][p][v];
    snprintf(key, 64, "sk-iso-t%d-s%d-%s-v%d", t, s, providers[p], v);
    atomic_store(&n_versions[t][s][p], v + 1); /* published before use: either may arrive */
    char body[256], session[32];
    snprintf(session, sizeof session, "iso-%d", s);
    if (p == 2) /* anthropic: the operator's base URL */
        snprintf(body, sizeof body, "{\"api_key\":\"%s\"}", key);
    else
        snprintf(body, sizeof body, "{\"api_key\":\"%s\",\"base_url\":\"http://127.0.0.1:%d%s\"}",
                 key, mock.port, p == 0 ? "/v1" : "");
    return put(tokens[t], session, providers[p], body);
}

static int start_all(void **state)
{
    (void)state;
    const char *mock_args[] = {"--echo", NULL};
    if (tu_mock_start(&mock, mock_args) != 0)
        return -1;
    static char e_anthropic[96], env_tokens[128];
    snprintf(e_anthropic, sizeof e_anthropic, "LLMUX_ANTHROPIC_BASE_URL=http://127.0.0.1:%d",
             mock.port);
    snprintf(env_tokens, sizeof env_tokens, "LLMUX_TOKENS=%s,%s", tokens[0], tokens[1]);
    const char *env[] = {e_anthropic,
                         env_tokens,
                         "OPENAI_API_KEY=",
                         "ANTHROPIC_API_KEY=",
                         "GEMINI_API_KEY=",
                         "GOOGLE_API_KEY=",
                         "AZURE_OPENAI_API_KEY=",
                         "LLMUX_KEYS_DIR=",
                         NULL};
    const char *argv[] = {tu_llmux_bin(), "serve", "--listen", "127.0.0.1:0", "--workers", "2",
                          "--log-level",  "warn",  NULL};
    if (tu_proc_start(&proxy, argv, env, 5000) != 0)
        return -1;
    /* the same session ids under both tokens, each with its own keys */
    for (int t = 0; t < N_TOKENS; t++)
        for (int s = 0; s < N_SESSIONS; s++)
            for (int p = 0; p < N_PROVIDERS; p++)
                if (configure_version(t, s, p) != 200)
                    return -1;
    return 0;
}

static int stop_all(void **state)
{
    (void)state;
    int rc = tu_proc_stop(&proxy, 5000);
    tu_proc_free(&proxy);
    tu_proc_free(&mock);
    return rc == 0 ? 0 : -1;
}

static void chat(const char *token, const char *session, const char *body, tu_response *r)
{
    char url[128], auth[64], sess[64];
    tu_url(url, sizeof url, proxy.port, "/v1/chat/completions");
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    snprintf(sess, sizeof sess, "X-Llmux-Session: %s", session);
    const char *h[] = {auth, sess, NULL};
    tu_http_opts o = {.timeout_ms = 15000};
    tu_http_ex(NULL, "POST", url, h, body, &o, r);
}

static int upstream_posts(void)
{
    cJSON *log = tu_mock_requests(mock.port);
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(log, "requests"))
    {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "method");
        n += cJSON_IsString(m) && strcmp(m->valuestring, "POST") == 0;
    }
    cJSON_Delete(log);
    return n;
}

/* ---- one token against another's sessions -------------------------------------------- */

static void test_other_tokens_sessions_are_invisible(void **state)
{
    (void)state;
    char body[256];
    snprintf(body, sizeof body,
             "{\"api_key\":\"sk-iso-alpha-only\",\"base_url\":\"http://127.0.0.1:%d/v1\"}",
             mock.port);
    assert_int_equal(put(tokens[0], "alpha-only", "openai", body), 200);
    int before = upstream_posts();
    char url[256], auth[64];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", tokens[1]);
    const char *hb[] = {auth, NULL};
    tu_response r;
    /* read: B sees an empty map under that id, not A's */
    tu_http("GET", tu_url(url, sizeof url, proxy.port, "/v1/sessions/alpha-only/providers"), hb,
            NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"providers\":[]"));
    assert_null(strstr(r.body, "127.0.0.1"));
    tu_response_free(&r);
    /* use: not configured for B, and nothing goes upstream */
    chat(tokens[1], "alpha-only",
         "{\"provider\":\"openai\",\"model\":\"gpt-iso\",\"messages\":[{\"role\":\"user\","
         "\"content\":\"x\"}]}",
         &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "provider_not_configured"));
    tu_response_free(&r);
    /* OpenAI-SDK form and a fallback naming the provider: the same */
    chat(tokens[1], "alpha-only",
         "{\"model\":\"openai/gpt-iso\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", &r);
    assert_int_equal(r.status, 400);
    tu_response_free(&r);
    assert_int_equal(upstream_posts(), before);
    /* delete: B has no such session; A's is untouched */
    tu_http("DELETE", tu_url(url, sizeof url, proxy.port, "/v1/sessions/alpha-only"), hb, NULL, &r);
    assert_int_equal(r.status, 404);
    tu_response_free(&r);
    chat(tokens[0], "alpha-only",
         "{\"provider\":\"openai\",\"model\":\"gpt-iso\",\"messages\":[{\"role\":\"user\","
         "\"content\":\"x\"}]}",
         &r);
    assert_int_equal(r.status, 200);
    tu_response_free(&r);
    /* B configuring the same id makes B's own session; A's key stays A's */
    snprintf(body, sizeof body,
             "{\"api_key\":\"sk-iso-bravo-own\",\"base_url\":\"http://127.0.0.1:%d/v1\"}",
             mock.port);
    assert_int_equal(put(tokens[1], "alpha-only", "openai", body), 200);
    tu_mock_reset(mock.port);
    const char *req = "{\"provider\":\"openai\",\"model\":\"gpt-iso\",\"messages\":[{\"role\":"
                      "\"user\",\"content\":\"x\"}]}";
    chat(tokens[0], "alpha-only", req, &r);
    assert_int_equal(r.status, 200);
    tu_response_free(&r);
    chat(tokens[1], "alpha-only", req, &r);
    assert_int_equal(r.status, 200);
    tu_response_free(&r);
    cJSON *log = tu_mock_requests(mock.port);
    const cJSON *reqs = cJSON_GetObjectItemCaseSensitive(log, "requests");
    int seen_a = 0, seen_b = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, reqs)
    {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(e, "headers"), "authorization");
        if (!cJSON_IsString(a))
            continue;
        seen_a += strcmp(a->valuestring, "Bearer sk-iso-alpha-only") == 0;
        seen_b += strcmp(a->valuestring, "Bearer sk-iso-bravo-own") == 0;
    }
    cJSON_Delete(log);
    assert_true(seen_a >= 1 && seen_b >= 1);
    /* session ids are exact: another spelling is another (unconfigured) session */
    chat(tokens[0], "ALPHA-ONLY", req, &r);
    assert_int_equal(r.status, 400);
    tu_response_free(&r);
    chat(tokens[0], "alpha-only ", req, &r); /* trailing blank: trimmed header, same id */
    assert_int_equal(r.status, 200);
    tu_response_free(&r);
    chat(tokens[0], "alpha/only", req, &r);
    assert_int_equal(r.status, 400);
    tu_response_free(&r);
}

/* ---- the hammer ---------------------------------------------------------------------- */

typedef struct sent {
    int t, s, p;
    char marker[48];
    long status;
    bool echoed; /* the client got its own marker back */
} sent;

static sent sent_log[N_THREADS][PER_THREAD];

typedef struct hammer_arg {
    int index;
    unsigned rng;
} hammer_arg;

static unsigned next_rand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 8) & 0xffffff;
}

static void *hammer(void *arg)
{
    hammer_arg *h = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        sent *x = &sent_log[h->index][i];
        x->t = (int)(next_rand(&h->rng) % N_TOKENS);
        x->s = (int)(next_rand(&h->rng) % N_SESSIONS);
        x->p = (int)(next_rand(&h->rng) % N_PROVIDERS);
        bool stream = next_rand(&h->rng) % 2;
        if (h->index == 0 && i % 8 == 0) /* one thread also rotates keys meanwhile */
            configure_version(x->t, x->s, x->p);
        snprintf(x->marker, sizeof x->marker, "mk%dx%dx%dx%dx%d", h->index, i, x->t, x->s, x->p);
        char body[512], session[32];
        snprintf(session, sizeof session, "iso-%d", x->s);
        snprintf(
            body, sizeof body,
            "{\"provider\":\"%s\",\"model\":\"%s\",\"stream\":%s,\"retry\":{\"enabled\":false},"
            "\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}",
            providers[x->p], models[x->p], stream ? "true" : "false", x->marker);
        tu_response r;
        chat(tokens[x->t], session, body, &r);
        x->status = r.status;
        char want[64];
        snprintf(want, sizeof want, "\"%s\"", x->marker); /* the echo: one word, one chunk */
        x->echoed = r.status == 200 && strstr(r.body, want) != NULL;
        tu_response_free(&r);
    }
    return NULL;
}

/* The marker in an upstream request body, or NULL. */
static const sent *sent_of(const char *body)
{
    const char *m = strstr(body, "mk");
    while (m) {
        int th, i, t, s, p;
        if (sscanf(m, "mk%dx%dx%dx%dx%d", &th, &i, &t, &s, &p) == 5 && th >= 0 && th < N_THREADS &&
            i >= 0 && i < PER_THREAD)
            return &sent_log[th][i];
        m = strstr(m + 2, "mk");
    }
    return NULL;
}

static void test_concurrent_sessions_never_cross(void **state)
{
    (void)state;
    tu_mock_reset(mock.port);
    pthread_t th[N_THREADS];
    hammer_arg args[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        args[i] = (hammer_arg){.index = i, .rng = 7919u * (unsigned)(i + 1)};
        assert_int_equal(pthread_create(&th[i], NULL, hammer, &args[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(th[i], NULL);
    /* every client got its own answer */
    for (int i = 0; i < N_THREADS; i++)
        for (int k = 0; k < PER_THREAD; k++) {
            const sent *x = &sent_log[i][k];
            if (x->status != 200 || !x->echoed)
                fail_msg("%s: status %ld, own answer %d", x->marker, x->status, x->echoed);
        }
    /* every upstream request carried a key of its own (token, session, provider) */
    cJSON *log = tu_mock_requests(mock.port);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(log, "dropped")->valueint, 0);
    int seen[N_THREADS][PER_THREAD] = {{0}};
    int checked = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(log, "requests"))
    {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "method");
        if (!cJSON_IsString(m) || strcmp(m->valuestring, "POST") != 0)
            continue;
        const char *body = cJSON_GetObjectItemCaseSensitive(e, "body")->valuestring;
        const sent *x = sent_of(body);
        if (!x)
            fail_msg("an upstream request with no marker: %.200s", body);
        seen[(x - &sent_log[0][0]) / PER_THREAD][(x - &sent_log[0][0]) % PER_THREAD]++;
        const cJSON *prov = cJSON_GetObjectItemCaseSensitive(e, "provider");
        if (!cJSON_IsString(prov) || strcmp(prov->valuestring, providers[x->p]) != 0)
            fail_msg("%s went to %s", x->marker, cJSON_IsString(prov) ? prov->valuestring : "?");
        const cJSON *hv = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(e, "headers"), key_headers[x->p]);
        const char *got = cJSON_IsString(hv) ? hv->valuestring : "";
        if (strncmp(got, "Bearer ", 7) == 0)
            got += 7;
        bool own = false;
        int nv = atomic_load(&n_versions[x->t][x->s][x->p]);
        for (int v = 0; v < nv && !own; v++)
            own = strcmp(got, keys[x->t][x->s][x->p][v]) == 0;
        if (!own)
            fail_msg("%s (token %d, session %d, %s) carried key '%s'", x->marker, x->t, x->s,
                     providers[x->p], got);
        checked++;
    }
    cJSON_Delete(log);
    for (int i = 0; i < N_THREADS; i++)
        for (int k = 0; k < PER_THREAD; k++)
            if (seen[i][k] != 1)
                fail_msg("%s reached the upstream %d times", sent_log[i][k].marker, seen[i][k]);
    assert_int_equal(checked, N_THREADS * PER_THREAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_other_tokens_sessions_are_invisible),
        cmocka_unit_test(test_concurrent_sessions_never_cross),
    };
    return cmocka_run_group_tests(tests, start_all, stop_all);
}
