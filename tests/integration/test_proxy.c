/* test_proxy.c — the proxy's HTTP contract against the real binaries: `llmux mock` as
 * every upstream and `llmux serve` in front of it, on loopback ports chosen at run time.
 * Every test checks real outcomes: statuses, bodies, the mock's request log (how many
 * upstream requests, in what order, with which key), attempt logs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "mock/mock.h"

static tu_proc mock, proxy;
static char env_openai[128], env_anthropic[128], env_google[128], env_azure[128];

#define TOKEN_A "tok-alpha"
#define TOKEN_B "tok-beta"
#define MANAGED_OPENAI "sk-managed-openai-0001"
#define MANAGED_ANTHROPIC "sk-ant-managed-0002"
#define MANAGED_AZURE "azure-managed-0003"

static int start_all(void **state)
{
    (void)state;
    if (tu_mock_start(&mock, NULL) != 0)
        return -1;
    snprintf(env_openai, sizeof env_openai, "LLMUX_OPENAI_BASE_URL=http://127.0.0.1:%d/v1", mock.port);
    snprintf(env_anthropic, sizeof env_anthropic, "LLMUX_ANTHROPIC_BASE_URL=http://127.0.0.1:%d",
             mock.port);
    snprintf(env_google, sizeof env_google, "LLMUX_GOOGLE_BASE_URL=http://127.0.0.1:%d", mock.port);
    snprintf(env_azure, sizeof env_azure, "AZURE_OPENAI_ENDPOINT=http://127.0.0.1:%d", mock.port);
    const char *env[] = {env_openai,
                         env_anthropic,
                         env_google,
                         env_azure,
                         "OPENAI_API_KEY=" MANAGED_OPENAI,
                         "ANTHROPIC_API_KEY=" MANAGED_ANTHROPIC,
                         "AZURE_OPENAI_API_KEY=" MANAGED_AZURE,
                         "GEMINI_API_KEY=",
                         "GOOGLE_API_KEY=",
                         "LLMUX_KEYS_DIR=",
                         "LLMUX_TOKENS=" TOKEN_A "," TOKEN_B,
                         NULL};
    const char *argv[] = {tu_llmux_bin(), "serve", "--listen", "127.0.0.1:0", "--workers", "1",
                          "--log-level", "warn", NULL};
    if (tu_proc_start(&proxy, argv, env, 5000) != 0)
        return -1;
    return 0;
}

static int stop_all(void **state)
{
    (void)state;
    int rc = tu_proc_stop(&proxy, 5000);
    tu_proc_free(&proxy);
    tu_proc_free(&mock);
    return rc == 0 ? 0 : -1; /* SIGTERM must give a clean exit */
}

static int reset_mock(void **state)
{
    (void)state;
    return tu_mock_reset(mock.port) == 200 ? 0 : -1;
}

/* ---- helpers ----------------------------------------------------------------------- */

static long put_provider(const char *token, const char *session, const char *provider,
                         const char *body, tu_response *out)
{
    char url[256], path[160], auth[96];
    snprintf(path, sizeof path, "/v1/sessions/%s/providers/%s", session, provider);
    tu_url(url, sizeof url, proxy.port, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    const char *h[] = {auth, "Content-Type: application/json", NULL};
    tu_response local;
    tu_response *r = out ? out : &local;
    tu_http("PUT", url, h, body, r);
    long status = r->status;
    if (!out)
        tu_response_free(r);
    return status;
}

static void chat(const char *token, const char *session, const char *body, tu_response *r)
{
    char url[256], auth[96], sess[160];
    tu_url(url, sizeof url, proxy.port, "/v1/chat/completions");
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    snprintf(sess, sizeof sess, "X-Llmux-Session: %s", session);
    const char *h[] = {auth, sess, NULL};
    tu_http_opts o = {.timeout_ms = 20000};
    tu_http_ex(NULL, "POST", url, h, body, &o, r);
}

/* The mock's POST requests (completions), in arrival order; warm-up GETs left out. */
static cJSON *upstream_posts(void)
{
    cJSON *log = tu_mock_requests(mock.port);
    assert_non_null(log);
    cJSON *reqs = cJSON_DetachItemFromObjectCaseSensitive(log, "requests");
    cJSON_Delete(log);
    cJSON *out = cJSON_CreateArray();
    cJSON *r;
    while (reqs && (r = cJSON_DetachItemFromArray(reqs, 0))) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "method");
        if (cJSON_IsString(m) && strcmp(m->valuestring, "POST") == 0)
            cJSON_AddItemToArray(out, r);
        else
            cJSON_Delete(r);
    }
    cJSON_Delete(reqs);
    return out;
}

static const char *str_at(const cJSON *o, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
    if (b)
        v = cJSON_GetObjectItemCaseSensitive(v, b);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *header_of(const cJSON *req, const char *name)
{
    return str_at(req, "headers", name);
}

static void script(const char *json)
{
    char why[512];
    int st = tu_mock_script(mock.port, json, why, sizeof why);
    if (st != 200)
        fail_msg("mock script refused (%d): %s", st, why);
}

static cJSON *error_of(const tu_response *r, const char *want_type, long want_status)
{
    if (r->status != want_status)
        fail_msg("status %ld, want %ld; body: %s", r->status, want_status, r->body);
    cJSON *j = tu_json(r);
    assert_non_null(j);
    const char *type = str_at(j, "error", "type");
    if (!type || strcmp(type, want_type) != 0)
        fail_msg("error type %s, want %s; body: %s", type ? type : "(none)", want_type, r->body);
    return j;
}

static const char *content_of(const cJSON *completion)
{
    const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(completion, "choices"), 0);
    return str_at(cJSON_GetObjectItemCaseSensitive(ch, "message"), "content", NULL);
}

#define USER_MSG "\"messages\":[{\"role\":\"user\",\"content\":\"hi there\"}]"

/* ---- tests ------------------------------------------------------------------------- */

static void test_health_routes_and_auth(void **state)
{
    (void)state;
    char url[256];
    tu_response r;
    tu_http("GET", tu_url(url, sizeof url, proxy.port, "/healthz"), NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"ok\""));
    tu_response_free(&r);

    /* No token, wrong token: 401 unauthorized, JSON. */
    tu_http("POST", tu_url(url, sizeof url, proxy.port, "/v1/chat/completions"), NULL, "{}", &r);
    cJSON *j = error_of(&r, "unauthorized", 401);
    cJSON_Delete(j);
    tu_response_free(&r);
    const char *bad[] = {"Authorization: Bearer nope", NULL};
    tu_http("POST", url, bad, "{}", &r);
    j = error_of(&r, "unauthorized", 401);
    cJSON_Delete(j);
    tu_response_free(&r);

    const char *ok[] = {"Authorization: Bearer " TOKEN_A, NULL};
    tu_http("GET", tu_url(url, sizeof url, proxy.port, "/v1/nothing"), ok, NULL, &r);
    j = error_of(&r, "not_found", 404);
    cJSON_Delete(j);
    tu_response_free(&r);
    tu_http("GET", tu_url(url, sizeof url, proxy.port, "/v1/chat/completions"), ok, NULL, &r);
    assert_int_equal(r.status, 405);
    tu_response_free(&r);

    tu_http("GET", tu_url(url, sizeof url, proxy.port, "/metrics"), NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "llmux_requests_total"));
    tu_response_free(&r);
}

static void test_configure_managed_and_list_never_show_keys(void **state)
{
    (void)state;
    tu_response r;
    assert_int_equal(put_provider(TOKEN_A, "cfg-1", "anthropic", "{\"managed\":true}", &r), 200);
    cJSON *j = tu_json(&r);
    assert_string_equal(str_at(j, "provider", NULL), "anthropic");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "managed")));
    cJSON_Delete(j);
    tu_response_free(&r);
    assert_int_equal(put_provider(TOKEN_A, "cfg-1", "openai", "{\"api_key\":\"sk-cust-secret-777\"}", &r),
                     200);
    assert_null(strstr(r.body, "sk-cust-secret-777"));
    tu_response_free(&r);

    char url[256], auth[64];
    tu_url(url, sizeof url, proxy.port, "/v1/sessions/cfg-1/providers");
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", TOKEN_A);
    const char *h[] = {auth, NULL};
    tu_http("GET", url, h, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "anthropic"));
    assert_non_null(strstr(r.body, "openai"));
    assert_null(strstr(r.body, "sk-cust-secret-777"));
    assert_null(strstr(r.body, MANAGED_ANTHROPIC));
    tu_response_free(&r);

    /* Google has no managed key on this proxy. */
    assert_int_equal(put_provider(TOKEN_A, "cfg-1", "google", "{\"managed\":true}", &r), 400);
    j = error_of(&r, "managed_key_unavailable", 400);
    cJSON_Delete(j);
    tu_response_free(&r);
    /* Exactly one of managed / api_key; unknown provider; bad JSON. */
    assert_int_equal(put_provider(TOKEN_A, "cfg-1", "openai", "{\"managed\":true,\"api_key\":\"k\"}", NULL),
                     400);
    assert_int_equal(put_provider(TOKEN_A, "cfg-1", "openai", "{}", NULL), 400);
    assert_int_equal(put_provider(TOKEN_A, "cfg-1", "mistral", "{\"managed\":true}", NULL), 400);
    assert_int_equal(put_provider(TOKEN_A, "cfg-1", "openai", "not json", NULL), 400);

    /* DELETE forgets it. */
    tu_url(url, sizeof url, proxy.port, "/v1/sessions/cfg-1");
    tu_http("DELETE", url, h, NULL, &r);
    assert_int_equal(r.status, 200);
    tu_response_free(&r);
    tu_http("DELETE", url, h, NULL, &r);
    assert_int_equal(r.status, 404);
    tu_response_free(&r);
}

static void test_managed_completion_names_provider_and_injects_key(void **state)
{
    (void)state;
    assert_int_equal(put_provider(TOKEN_A, "s-managed", "anthropic", "{\"managed\":true}", NULL), 200);
    tu_response r;
    chat(TOKEN_A, "s-managed",
         "{\"provider\":\"anthropic\",\"model\":\"claude-haiku-4-5\"," USER_MSG
         ",\"max_tokens\":64,\"retry\":{\"enabled\":false}}",
         &r);
    if (r.status != 200)
        fail_msg("status %ld: %s", r.status, r.body);
    cJSON *j = tu_json(&r);
    assert_string_equal(str_at(j, "object", NULL), "chat.completion");
    assert_string_equal(str_at(j, "provider", NULL), "anthropic");
    assert_string_equal(str_at(j, "model", NULL), "claude-haiku-4-5");
    assert_string_equal(content_of(j), LLMUX__MOCK_DEFAULT_TEXT);
    cJSON *att = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "llmux"), "attempts");
    assert_int_equal(cJSON_GetArraySize(att), 1);
    cJSON *a0 = cJSON_GetArrayItem(att, 0);
    assert_string_equal(str_at(a0, "provider", NULL), "anthropic");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(a0, "status")->valueint, 200);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(a0, "error_type")));
    assert_null(strstr(r.body, MANAGED_ANTHROPIC));
    cJSON_Delete(j);
    tu_response_free(&r);

    cJSON *posts = upstream_posts();
    assert_int_equal(cJSON_GetArraySize(posts), 1);
    cJSON *p0 = cJSON_GetArrayItem(posts, 0);
    assert_string_equal(str_at(p0, "path", NULL), "/v1/messages");
    assert_string_equal(header_of(p0, "x-api-key"), MANAGED_ANTHROPIC);
    assert_non_null(header_of(p0, "anthropic-version"));
    /* llmux's own fields never go upstream */
    const char *body = str_at(p0, "body", NULL);
    assert_null(strstr(body, "\"retry\""));
    assert_null(strstr(body, "\"provider\""));
    cJSON_Delete(posts);
}

static void test_customer_key_and_isolation(void **state)
{
    (void)state;
    assert_int_equal(put_provider(TOKEN_A, "iso", "openai", "{\"api_key\":\"sk-cust-A\"}", NULL), 200);
    assert_int_equal(put_provider(TOKEN_B, "iso", "openai", "{\"api_key\":\"sk-cust-B\"}", NULL), 200);
    const char *req = "{\"provider\":\"openai\",\"model\":\"gpt-4.1-mini\"," USER_MSG
                      ",\"retry\":{\"enabled\":false}}";
    tu_response r;
    chat(TOKEN_A, "iso", req, &r);
    assert_int_equal(r.status, 200);
    tu_response_free(&r);
    chat(TOKEN_B, "iso", req, &r);
    assert_int_equal(r.status, 200);
    tu_response_free(&r);
    cJSON *posts = upstream_posts();
    assert_int_equal(cJSON_GetArraySize(posts), 2);
    assert_string_equal(header_of(cJSON_GetArrayItem(posts, 0), "authorization"), "Bearer sk-cust-A");
    assert_string_equal(header_of(cJSON_GetArrayItem(posts, 1), "authorization"), "Bearer sk-cust-B");
    cJSON_Delete(posts);

    /* Same token, other session: not configured, and no upstream request. */
    tu_mock_reset(mock.port);
    chat(TOKEN_A, "iso-other", req, &r);
    cJSON *j = error_of(&r, "provider_not_configured", 400);
    cJSON_Delete(j);
    tu_response_free(&r);
    /* No session header: session "default", not configured either. */
    char url[256];
    const char *h[] = {"Authorization: Bearer " TOKEN_A, NULL};
    tu_http("POST", tu_url(url, sizeof url, proxy.port, "/v1/chat/completions"), h, req, &r);
    j = error_of(&r, "provider_not_configured", 400);
    cJSON_Delete(j);
    tu_response_free(&r);
    posts = upstream_posts();
    assert_int_equal(cJSON_GetArraySize(posts), 0);
    cJSON_Delete(posts);

    /* Token B cannot delete token A's session: A's still works afterwards. */
    tu_url(url, sizeof url, proxy.port, "/v1/sessions/iso");
    const char *hb[] = {"Authorization: Bearer " TOKEN_B, NULL};
    tu_http("DELETE", url, hb, NULL, &r);
    assert_int_equal(r.status, 200); /* B's own session "iso" */
    tu_response_free(&r);
    chat(TOKEN_A, "iso", req, &r);
    assert_int_equal(r.status, 200);
    tu_response_free(&r);
    chat(TOKEN_B, "iso", req, &r);
    j = error_of(&r, "provider_not_configured", 400);
    cJSON_Delete(j);
    tu_response_free(&r);
}

static void test_not_configured_and_api_key_refused_before_network(void **state)
{
    (void)state;
    assert_int_equal(put_provider(TOKEN_A, "nc", "anthropic", "{\"managed\":true}", NULL), 200);
    tu_response r;
    /* A fallback that is not configured fails the whole request up front. */
    chat(TOKEN_A, "nc",
         "{\"provider\":\"anthropic\",\"model\":\"claude-haiku-4-5\"," USER_MSG
         ",\"fallbacks\":[{\"provider\":\"openai\",\"model\":\"gpt-4.1-mini\"}]}",
         &r);
    cJSON *j = error_of(&r, "provider_not_configured", 400);
    assert_non_null(strstr(str_at(j, "error", "message"), "openai"));
    cJSON_Delete(j);
    tu_response_free(&r);
    chat(TOKEN_A, "nc",
         "{\"provider\":\"anthropic\",\"model\":\"claude-haiku-4-5\"," USER_MSG
         ",\"api_key\":\"sk-should-not-be-here\"}",
         &r);
    j = error_of(&r, "invalid_request", 400);
    assert_null(strstr(r.body, "sk-should-not-be-here"));
    cJSON_Delete(j);
    tu_response_free(&r);
    chat(TOKEN_A, "nc", "{\"provider\":\"anthropic\",\"model\":\"m\",\"messages\":[]}", &r);
    j = error_of(&r, "invalid_request", 400);
    cJSON_Delete(j);
    tu_response_free(&r);
    chat(TOKEN_A, "nc", "{not json", &r);
    j = error_of(&r, "invalid_request", 400);
    cJSON_Delete(j);
    tu_response_free(&r);
    cJSON *posts = upstream_posts();
    assert_int_equal(cJSON_GetArraySize(posts), 0);
    cJSON_Delete(posts);
}

static double arrival(const cJSON *req)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, "arrival_ms");
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static void test_retry_schedule_then_success(void **state)
{
    (void)state;
    assert_int_equal(put_provider(TOKEN_A, "retry", "anthropic", "{\"managed\":true}", NULL), 200);
    script("[{\"provider\":\"anthropic\",\"status\":503,\"count\":2}]");
    tu_response r;
    chat(TOKEN_A, "retry",
         "{\"provider\":\"anthropic\",\"model\":\"claude-haiku-4-5\"," USER_MSG
         ",\"retry\":{\"max_retries\":3,\"retry_delay\":0.05,\"backoff_multiplier\":2}}",
         &r);
    if (r.status != 200)
        fail_msg("status %ld: %s", r.status, r.body);
    cJSON *j = tu_json(&r);
    cJSON *att = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "llmux"), "attempts");
    assert_int_equal(cJSON_GetArraySize(att), 3);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(att, 0), "status")->valueint, 503);
    assert_string_equal(str_at(cJSON_GetArrayItem(att, 0), "error_type", NULL), "upstream_error");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(att, 2), "status")->valueint, 200);
    assert_string_equal(content_of(j), LLMUX__MOCK_DEFAULT_TEXT);
    cJSON_Delete(j);
    tu_response_free(&r);
    cJSON *posts = upstream_posts();
    assert_int_equal(cJSON_GetArraySize(posts), 3);
    /* The waits before attempts 2 and 3 were at least 50 ms and 100 ms. */
    double t0 = arrival(cJSON_GetArrayItem(posts, 0)), t1 = arrival(cJSON_GetArrayItem(posts, 1)),
           t2 = arrival(cJSON_GetArrayItem(posts, 2));
    if (!(t1 - t0 >= 45 && t2 - t1 >= 95))
        fail_msg("gaps %.1f ms and %.1f ms, want >= 50 and >= 100", t1 - t0, t2 - t1);
    cJSON_Delete(posts);
}

static void test_401_retried_400_not(void **state)
{
    (void)state;
    assert_int_equal(put_provider(TOKEN_A, "classes", "anthropic", "{\"managed\":true}", NULL), 200);
    assert_int_equal(put_provider(TOKEN_A, "classes", "openai", "{\"managed\":true}", NULL), 200);
    script("[{\"provider\":\"anthropic\",\"status\":401}]");
    tu_response r;
    const char *req = "{\"provider\":\"anthropic\",\"model\":\"claude-haiku-4-5\"," USER_MSG
                      ",\"retry\":{\"max_retries\":2,\"retry_delay\":0.01},"
                      "\"fallbacks\":[{\"provider\":\"openai\",\"model\":\"gpt-4.1-mini\"}]}";
    chat(TOKEN_A, "classes", req, &r);
    assert_int_equal(r.status, 200);
    cJSON *j = tu_json(&r);
    assert_string_equal(str_at(j, "provider", NULL), "anthropic"); /* 401 retried, then ok */
    cJSON_Delete(j);
    tu_response_free(&r);
    cJSON *posts = upstream_posts();
    assert_int_equal(cJSON_GetArraySize(posts), 2);
    cJSON_Delete(posts);

    tu_mock_reset(mock.port);
    script("[{\"provider\":\"anthropic\",\"status\":400}]");
    chat(TOKEN_A, "classes", req, &r);
    assert_int_equal(r.status, 200);
    j = tu_json(&r);
    assert_string_equal(str_at(j, "provider", NULL), "openai"); /* 400: straight to fallback */
    assert_string_equal(str_at(j, "model", NULL), "gpt-4.1-mini");
    cJSON *att = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "llmux"), "attempts");
    assert_int_equal(cJSON_GetArraySize(att), 2);
    assert_string_equal(str_at(cJSON_GetArrayItem(att, 0), "error_type", NULL), "invalid_request");
    cJSON_Delete(j);
    tu_response_free(&r);
    posts = upstream_posts();
    assert_int_equal(cJSON_GetArraySize(posts), 2);
    assert_string_equal(str_at(cJSON_GetArrayItem(posts, 0), "provider", NULL), "anthropic");
    assert_string_equal(str_at(cJSON_GetArrayItem(posts, 1), "provider", NULL), "openai");
    cJSON_Delete(posts);
}

static void test_fallback_order_inheritance_and_all_failed(void **state)
{
    (void)state;
    assert_int_equal(put_provider(TOKEN_A, "chain", "anthropic", "{\"managed\":true}", NULL), 200);
    assert_int_equal(put_provider(TOKEN_A, "chain", "openai", "{\"managed\":true}", NULL), 200);
    assert_int_equal(put_provider(TOKEN_A, "chain", "azure", "{\"managed\":true}", NULL), 200);
    script("[{\"provider\":\"anthropic\",\"status\":500,\"count\":3},"
           "{\"provider\":\"openai\",\"status\":429,\"count\":1},"
           "{\"provider\":\"azure\",\"status\":503,\"count\":5}]");
    tu_response r;
    chat(TOKEN_A, "chain",
         "{\"provider\":\"anthropic\",\"model\":\"claude-haiku-4-5\"," USER_MSG
         ",\"temperature\":0.7,\"max_tokens\":321,"
         "\"retry\":{\"max_retries\":2,\"retry_delay\":0.01,\"backoff_multiplier\":1},"
         "\"fallbacks\":[{\"provider\":\"openai\",\"model\":\"gpt-4.1-mini\","
         "\"retry\":{\"max_retries\":0}},"
         "{\"provider\":\"azure\",\"model\":\"gpt-4o\",\"temperature\":0}]}",
         &r);
    cJSON *j = error_of(&r, "all_providers_failed", 502);
    cJSON *att = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "error"), "attempts");
    /* anthropic #1..#3, openai #1 (retry override), azure #1..#3 (inherited retry) */
    assert_int_equal(cJSON_GetArraySize(att), 7);
    const char *want[] = {"anthropic", "anthropic", "anthropic", "openai", "azure", "azure", "azure"};
    for (int i = 0; i < 7; i++)
        assert_string_equal(str_at(cJSON_GetArrayItem(att, i), "provider", NULL), want[i]);
    assert_string_equal(str_at(cJSON_GetArrayItem(att, 3), "error_type", NULL), "rate_limited");
    cJSON_Delete(j);
    tu_response_free(&r);

    cJSON *posts = upstream_posts();
    assert_int_equal(cJSON_GetArraySize(posts), 7);
    for (int i = 0; i < 7; i++)
        assert_string_equal(str_at(cJSON_GetArrayItem(posts, i), "provider", NULL), want[i]);
    /* openai inherited temperature 0.7 and max_tokens; azure overrode temperature 0. */
    cJSON *ob = cJSON_Parse(str_at(cJSON_GetArrayItem(posts, 3), "body", NULL));
    assert_true(cJSON_GetObjectItemCaseSensitive(ob, "temperature")->valuedouble == 0.7);
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(ob, "max_completion_tokens");
    if (!mt)
        mt = cJSON_GetObjectItemCaseSensitive(ob, "max_tokens");
    assert_int_equal(mt->valueint, 321);
    assert_string_equal(str_at(ob, "model", NULL), "gpt-4.1-mini");
    cJSON_Delete(ob);
    cJSON *ab = cJSON_Parse(str_at(cJSON_GetArrayItem(posts, 4), "body", NULL));
    assert_true(cJSON_GetObjectItemCaseSensitive(ab, "temperature")->valuedouble == 0.0);
    cJSON_Delete(ab);
    assert_non_null(strstr(str_at(cJSON_GetArrayItem(posts, 4), "path", NULL), "/deployments/gpt-4o/"));
    assert_string_equal(header_of(cJSON_GetArrayItem(posts, 4), "api-key"), MANAGED_AZURE);
    cJSON_Delete(posts);
}

static void test_timeout_is_504_with_attempts(void **state)
{
    (void)state;
    assert_int_equal(put_provider(TOKEN_A, "slow", "openai", "{\"managed\":true}", NULL), 200);
    script("[{\"provider\":\"openai\",\"delay_ms\":1500}]");
    tu_response r;
    double t0 = tu_now_ms();
    chat(TOKEN_A, "slow",
         "{\"provider\":\"openai\",\"model\":\"gpt-4.1-mini\"," USER_MSG
         ",\"timeout\":0.2,\"retry\":{\"enabled\":false}}",
         &r);
    double took = tu_now_ms() - t0;
    cJSON *j = error_of(&r, "timeout", 504);
    cJSON *att = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "error"), "attempts");
    assert_int_equal(cJSON_GetArraySize(att), 1);
    assert_string_equal(str_at(cJSON_GetArrayItem(att, 0), "error_type", NULL), "timeout");
    assert_true(took < 1400); /* it did not wait for the slow upstream */
    cJSON_Delete(j);
    tu_response_free(&r);
}

static void test_retry_after_is_a_lower_bound(void **state)
{
    (void)state;
    assert_int_equal(put_provider(TOKEN_A, "ra", "openai", "{\"managed\":true}", NULL), 200);
    script("[{\"provider\":\"openai\",\"status\":429,\"retry_after\":0.3}]");
    tu_response r;
    chat(TOKEN_A, "ra",
         "{\"provider\":\"openai\",\"model\":\"gpt-4.1-mini\"," USER_MSG
         ",\"retry\":{\"max_retries\":1,\"retry_delay\":0.01}}",
         &r);
    assert_int_equal(r.status, 200);
    tu_response_free(&r);
    cJSON *posts = upstream_posts();
    assert_int_equal(cJSON_GetArraySize(posts), 2);
    double gap = arrival(cJSON_GetArrayItem(posts, 1)) - arrival(cJSON_GetArrayItem(posts, 0));
    if (gap < 290)
        fail_msg("retried after %.1f ms, Retry-After asked for 300", gap);
    cJSON_Delete(posts);
}

static void test_each_provider_format(void **state)
{
    (void)state;
    assert_int_equal(put_provider(TOKEN_A, "fmt", "openai", "{\"managed\":true}", NULL), 200);
    assert_int_equal(put_provider(TOKEN_A, "fmt", "azure", "{\"managed\":true}", NULL), 200);
    assert_int_equal(put_provider(TOKEN_A, "fmt", "anthropic", "{\"managed\":true}", NULL), 200);
    char body[256];
    snprintf(body, sizeof body, "{\"api_key\":\"g-cust-key\",\"base_url\":\"http://127.0.0.1:%d\"}",
             mock.port);
    assert_int_equal(put_provider(TOKEN_A, "fmt", "google", body, NULL), 200);
    const char *providers[] = {"openai", "azure", "anthropic", "google"};
    const char *paths[] = {"/v1/chat/completions", "/openai/deployments/my-deploy/chat/completions",
                           "/v1/messages", "/v1beta/models/gemini-2.5-flash:generateContent"};
    const char *models[] = {"gpt-4.1-mini", "my-deploy", "claude-haiku-4-5", "gemini-2.5-flash"};
    for (int i = 0; i < 4; i++) {
        tu_mock_reset(mock.port);
        char req[512];
        snprintf(req, sizeof req,
                 "{\"provider\":\"%s\",\"model\":\"%s\",\"messages\":[{\"role\":\"system\","
                 "\"content\":\"be brief\"},{\"role\":\"user\",\"content\":\"hi\"}],"
                 "\"temperature\":0.5,\"max_tokens\":50,\"stop\":[\"END\"],"
                 "\"retry\":{\"enabled\":false}}",
                 providers[i], models[i]);
        tu_response r;
        chat(TOKEN_A, "fmt", req, &r);
        if (r.status != 200)
            fail_msg("%s: status %ld: %s", providers[i], r.status, r.body);
        cJSON *j = tu_json(&r);
        assert_string_equal(str_at(j, "provider", NULL), providers[i]);
        assert_string_equal(content_of(j), LLMUX__MOCK_DEFAULT_TEXT);
        cJSON *usage = cJSON_GetObjectItemCaseSensitive(j, "usage");
        assert_true(cJSON_GetObjectItemCaseSensitive(usage, "completion_tokens")->valueint > 0);
        cJSON_Delete(j);
        tu_response_free(&r);
        cJSON *posts = upstream_posts();
        assert_int_equal(cJSON_GetArraySize(posts), 1);
        assert_string_equal(str_at(cJSON_GetArrayItem(posts, 0), "path", NULL), paths[i]);
        cJSON_Delete(posts);
    }
}

static void test_warm_up_and_connection_reuse(void **state)
{
    (void)state;
    /* A fresh session and provider: configuring it warms a connection with a GET. */
    char body[256];
    snprintf(body, sizeof body, "{\"api_key\":\"sk-warm\",\"base_url\":\"http://127.0.0.1:%d/v1\"}",
             mock.port);
    assert_int_equal(put_provider(TOKEN_B, "warm", "openai", body, NULL), 200);
    cJSON *log = NULL;
    cJSON *first = NULL;
    for (int tries = 0; tries < 100 && !first; tries++) {
        cJSON_Delete(log);
        log = tu_mock_requests(mock.port);
        cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(log, "requests"))
        {
            if (strcmp(str_at(e, "method", NULL), "GET") == 0) {
                first = e;
                break;
            }
        }
        if (!first)
            tu_sleep_ms(20);
    }
    assert_non_null(first);
    assert_string_equal(str_at(first, "path", NULL), "/v1/models");
    assert_string_equal(header_of(first, "authorization"), "Bearer sk-warm");
    double warm_conn = cJSON_GetObjectItemCaseSensitive(first, "connection_id")->valuedouble;
    cJSON_Delete(log);

    /* 20 completions, from 20 separate client connections: one upstream connection. */
    for (int i = 0; i < 20; i++) {
        tu_response r;
        chat(TOKEN_B, "warm",
             "{\"provider\":\"openai\",\"model\":\"gpt-4.1-mini\"," USER_MSG
             ",\"retry\":{\"enabled\":false}}",
             &r);
        assert_int_equal(r.status, 200);
        tu_response_free(&r);
    }
    cJSON *posts = upstream_posts();
    int n = 0;
    cJSON *e;
    cJSON_ArrayForEach(e, posts)
    {
        const char *auth = header_of(e, "authorization");
        if (!auth || strcmp(auth, "Bearer sk-warm") != 0)
            continue;
        n++;
        double id = cJSON_GetObjectItemCaseSensitive(e, "connection_id")->valuedouble;
        if (id != warm_conn)
            fail_msg("completion %d used connection %.0f, the warm-up opened %.0f", n, id, warm_conn);
    }
    assert_int_equal(n, 20);
    cJSON_Delete(posts);
}

static void test_limits_and_bad_input(void **state)
{
    (void)state;
    char url[256];
    tu_url(url, sizeof url, proxy.port, "/v1/chat/completions");
    const char *h[] = {"Authorization: Bearer " TOKEN_A, NULL};
    /* 9 MiB body: 413 with a JSON error */
    size_t big = (size_t)9 << 20;
    char *body = malloc(big + 1);
    memset(body, ' ', big);
    body[0] = '{';
    body[big - 1] = '}';
    body[big] = '\0';
    tu_response r;
    tu_http("POST", url, h, body, &r);
    free(body);
    cJSON *j = error_of(&r, "invalid_request", 413);
    cJSON_Delete(j);
    tu_response_free(&r);
    /* 64 KiB header: 431 */
    size_t hl = 64 << 10;
    char *hv = malloc(hl + 16);
    memcpy(hv, "X-Big: ", 7);
    memset(hv + 7, 'a', hl);
    hv[7 + hl] = '\0';
    const char *hh[] = {"Authorization: Bearer " TOKEN_A, hv, NULL};
    tu_http("POST", url, hh, "{}", &r);
    free(hv);
    assert_int_equal(r.status, 431);
    tu_response_free(&r);
    /* wrong JSON types name the field */
    tu_http("POST", url, h, "{\"provider\":\"openai\",\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                            "\"content\":\"x\"}],\"temperature\":\"hot\"}",
            &r);
    j = error_of(&r, "invalid_request", 400);
    assert_non_null(strstr(str_at(j, "error", "message"), "temperature"));
    cJSON_Delete(j);
    tu_response_free(&r);
    /* the proxy still serves afterwards */
    tu_http("GET", tu_url(url, sizeof url, proxy.port, "/healthz"), NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    tu_response_free(&r);
}

static void test_sdk_form_model_provider_slash_model(void **state)
{
    (void)state;
    assert_int_equal(put_provider(TOKEN_A, "sdk", "anthropic", "{\"managed\":true}", NULL), 200);
    tu_response r;
    chat(TOKEN_A, "sdk", "{\"model\":\"anthropic/claude-haiku-4-5\"," USER_MSG "}", &r);
    assert_int_equal(r.status, 200);
    cJSON *j = tu_json(&r);
    assert_string_equal(str_at(j, "provider", NULL), "anthropic");
    assert_string_equal(str_at(j, "model", NULL), "claude-haiku-4-5");
    cJSON_Delete(j);
    tu_response_free(&r);
    cJSON *posts = upstream_posts();
    cJSON *ub = cJSON_Parse(str_at(cJSON_GetArrayItem(posts, 0), "body", NULL));
    assert_string_equal(str_at(ub, "model", NULL), "claude-haiku-4-5");
    cJSON_Delete(ub);
    cJSON_Delete(posts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_health_routes_and_auth, reset_mock),
        cmocka_unit_test_setup(test_configure_managed_and_list_never_show_keys, reset_mock),
        cmocka_unit_test_setup(test_managed_completion_names_provider_and_injects_key, reset_mock),
        cmocka_unit_test_setup(test_customer_key_and_isolation, reset_mock),
        cmocka_unit_test_setup(test_not_configured_and_api_key_refused_before_network, reset_mock),
        cmocka_unit_test_setup(test_retry_schedule_then_success, reset_mock),
        cmocka_unit_test_setup(test_401_retried_400_not, reset_mock),
        cmocka_unit_test_setup(test_fallback_order_inheritance_and_all_failed, reset_mock),
        cmocka_unit_test_setup(test_timeout_is_504_with_attempts, reset_mock),
        cmocka_unit_test_setup(test_retry_after_is_a_lower_bound, reset_mock),
        cmocka_unit_test_setup(test_each_provider_format, reset_mock),
        cmocka_unit_test_setup(test_warm_up_and_connection_reuse, reset_mock),
        cmocka_unit_test_setup(test_limits_and_bad_input, reset_mock),
        cmocka_unit_test_setup(test_sdk_form_model_provider_slash_model, reset_mock),
    };
    return cmocka_run_group_tests(tests, start_all, stop_all);
}
