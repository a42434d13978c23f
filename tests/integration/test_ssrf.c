/* test_ssrf.c — the customer base_url policy through `llmux serve` (docs/security.md):
 * configure refuses metadata, link-local and unspecified hosts by default and the
 * operator's --deny-base-url rules, with a 400 naming the rule and never the key; an
 * allowlist admits only its hosts; a name that resolves to a denied address is caught
 * when the proxy connects (the rebinding case: nothing reaches the upstream, not even
 * the warm-up), fails the attempt as invalid_request without a retry and falls back;
 * the operator's own base URLs are never subject to the policy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define TOKEN "tok-ssrf"
#define CUSTOMER_KEY "sk-ssrf-customer-7f3a9c"

static tu_proc mock, deny_proxy, allow_proxy;
static char e_openai[96], e_anthropic[96];

static int start_proxy(tu_proc *p, const char *const extra[])
{
    const char *env[] = {e_openai,
                         e_anthropic,
                         "OPENAI_API_KEY=sk-ssrf-managed-openai",
                         "ANTHROPIC_API_KEY=sk-ssrf-managed-anthropic",
                         "GEMINI_API_KEY=",
                         "GOOGLE_API_KEY=",
                         "AZURE_OPENAI_API_KEY=",
                         "LLMUX_KEYS_DIR=",
                         "LLMUX_TOKENS=" TOKEN,
                         NULL};
    const char *argv[32] = {tu_llmux_bin(), "serve", "--listen",    "127.0.0.1:0",
                            "--workers",    "1",     "--log-level", "warn"};
    size_t n = 8;
    for (const char *const *a = extra; *a && n < 31; a++)
        argv[n++] = *a;
    argv[n] = NULL;
    return tu_proc_start(p, argv, env, 5000);
}

static int start_all(void **state)
{
    (void)state;
    if (tu_mock_start(&mock, NULL) != 0)
        return -1;
    snprintf(e_openai, sizeof e_openai, "LLMUX_OPENAI_BASE_URL=http://127.0.0.1:%d/v1", mock.port);
    snprintf(e_anthropic, sizeof e_anthropic, "LLMUX_ANTHROPIC_BASE_URL=http://127.0.0.1:%d",
             mock.port);
    const char *deny[] = {
        "--deny-base-url", "127.0.0.0/8", "--deny-base-url", "::1", "--deny-base-url",
        "*.blocked.test",  NULL};
    const char *allow[] = {"--allow-base-url", "127.0.0.1", "--allow-base-url", "*.allowed.test",
                           NULL};
    if (start_proxy(&deny_proxy, deny) != 0 || start_proxy(&allow_proxy, allow) != 0)
        return -1;
    return 0;
}

static int stop_all(void **state)
{
    (void)state;
    int a = tu_proc_stop(&deny_proxy, 5000), b = tu_proc_stop(&allow_proxy, 5000);
    tu_proc_free(&deny_proxy);
    tu_proc_free(&allow_proxy);
    tu_proc_free(&mock);
    return a == 0 && b == 0 ? 0 : -1;
}

static int reset_mock(void **state)
{
    (void)state;
    return tu_mock_reset(mock.port) == 200 ? 0 : -1;
}

static long configure(const tu_proc *p, const char *session, const char *provider, const char *body,
                      tu_response *out)
{
    char url[256], path[160];
    snprintf(path, sizeof path, "/v1/sessions/%s/providers/%s", session, provider);
    const char *h[] = {"Authorization: Bearer " TOKEN, NULL};
    tu_http("PUT", tu_url(url, sizeof url, p->port, path), h, body, out);
    return out->status;
}

static long configure_url(const tu_proc *p, const char *session, const char *provider,
                          const char *base_url, tu_response *out)
{
    char body[512];
    snprintf(body, sizeof body, "{\"api_key\":\"" CUSTOMER_KEY "\",\"base_url\":\"%s\"}", base_url);
    return configure(p, session, provider, body, out);
}

static void chat(const tu_proc *p, const char *session, const char *body, tu_response *r)
{
    char url[256], sess[128];
    tu_url(url, sizeof url, p->port, "/v1/chat/completions");
    snprintf(sess, sizeof sess, "X-Llmux-Session: %s", session);
    const char *h[] = {"Authorization: Bearer " TOKEN, sess, NULL};
    tu_http_opts o = {.timeout_ms = 10000};
    tu_http_ex(NULL, "POST", url, h, body, &o, r);
}

/* Requests the mock received that carried the customer key (completions or warm-ups). */
static int upstream_with_customer_key(void)
{
    cJSON *log = tu_mock_requests(mock.port);
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(log, "requests"))
    {
        char *s = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(e, "headers"));
        if (s && strstr(s, CUSTOMER_KEY))
            n++;
        free(s);
    }
    cJSON_Delete(log);
    return n;
}

static const char *error_message(const tu_response *r, cJSON **holder)
{
    *holder = tu_json(r);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(*holder, "error"), "message");
    return cJSON_IsString(m) ? m->valuestring : "";
}

#define USER ",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"

static void test_configure_refuses_by_default(void **state)
{
    (void)state;
    static const struct {
        const char *provider, *url, *rule;
    } cases[] = {
        {"openai", "http://169.254.169.254/latest/meta-data", "cloud metadata"},
        {"openai", "http://2852039166/v1", "cloud metadata"},
        {"openai", "http://[::ffff:169.254.169.254]/v1", "cloud metadata"},
        {"anthropic", "http://metadata.google.internal", "cloud metadata"},
        {"azure", "http://[fd00:ec2::254]", "cloud metadata"},
        {"google", "http://169.254.10.1:8080", "link-local"},
        {"openai", "http://[fe80::1]:8080/v1", "link-local"},
        {"openai", "http://0.0.0.0:8080/v1", "unspecified"},
        {"openai", "http://[::]:8080/v1", "unspecified"},
    };
    const tu_proc *proxies[] = {&deny_proxy, &allow_proxy};
    for (size_t k = 0; k < 2; k++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            tu_response r;
            long st = configure_url(proxies[k], "refuse", cases[i].provider, cases[i].url, &r);
            cJSON *j;
            const char *msg = error_message(&r, &j);
            if (st != 400 || !strstr(r.body, "\"invalid_request\"") || !strstr(msg, cases[i].rule))
                fail_msg("%s %s: %ld %s", cases[i].provider, cases[i].url, st, r.body);
            assert_non_null(strstr(msg, "base_url"));
            assert_null(strstr(r.body, CUSTOMER_KEY));
            assert_null(strstr(r.headers, CUSTOMER_KEY));
            cJSON_Delete(j);
            tu_response_free(&r);
        }
    /* nothing was stored, nothing was warmed */
    char url[256];
    const char *h[] = {"Authorization: Bearer " TOKEN, NULL};
    tu_response r;
    tu_http("GET", tu_url(url, sizeof url, deny_proxy.port, "/v1/sessions/refuse/providers"), h,
            NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"providers\":[]"));
    tu_response_free(&r);
    tu_sleep_ms(100);
    assert_int_equal(upstream_with_customer_key(), 0);
}

static void test_operator_deny_rules(void **state)
{
    (void)state;
    char base[128];
    snprintf(base, sizeof base, "http://127.0.0.1:%d/v1", mock.port);
    tu_response r;
    cJSON *j;
    assert_int_equal(configure_url(&deny_proxy, "deny", "openai", base, &r), 400);
    assert_non_null(strstr(error_message(&r, &j), "--deny-base-url 127.0.0.0/8"));
    cJSON_Delete(j);
    tu_response_free(&r);
    assert_int_equal(
        configure_url(&deny_proxy, "deny", "openai", "https://gpu.blocked.test/v1", &r), 400);
    assert_non_null(strstr(error_message(&r, &j), "--deny-base-url *.blocked.test"));
    cJSON_Delete(j);
    tu_response_free(&r);
    assert_int_equal(configure_url(&deny_proxy, "deny", "openai", "http://[::1]:9/v1", &r), 400);
    tu_response_free(&r);

    /* The operator's own base URL (127.0.0.1, the mock) is not subject to the policy:
     * managed, and a customer key without a base_url, both go through. */
    assert_int_equal(configure(&deny_proxy, "deny", "anthropic", "{\"managed\":true}", &r), 200);
    tu_response_free(&r);
    assert_int_equal(
        configure(&deny_proxy, "deny", "openai", "{\"api_key\":\"" CUSTOMER_KEY "\"}", &r), 200);
    tu_response_free(&r);
    chat(&deny_proxy, "deny", "{\"provider\":\"anthropic\",\"model\":\"claude-haiku-4-5\"" USER "}",
         &r);
    assert_int_equal(r.status, 200);
    tu_response_free(&r);
    chat(&deny_proxy, "deny", "{\"provider\":\"openai\",\"model\":\"gpt-4.1-mini\"" USER "}", &r);
    assert_int_equal(r.status, 200);
    tu_response_free(&r);
    assert_true(upstream_with_customer_key() >= 1);
}

/* A name the configure-time check cannot judge (localhost) resolves to an address an
 * operator rule denies: the proxy refuses to connect, so neither the warm-up nor the
 * completion reaches the upstream; the attempt is invalid_request (not retried) and the
 * chain moves to the fallback. */
static void test_resolved_address_denied_at_connect(void **state)
{
    (void)state;
    char base[128];
    snprintf(base, sizeof base, "http://localhost:%d/v1", mock.port);
    tu_response r;
    assert_int_equal(configure_url(&deny_proxy, "rebind", "openai", base, &r), 200);
    tu_response_free(&r);
    assert_int_equal(configure(&deny_proxy, "rebind", "anthropic", "{\"managed\":true}", &r), 200);
    tu_response_free(&r);
    tu_sleep_ms(200); /* the warm-up had its chance */
    assert_int_equal(upstream_with_customer_key(), 0);

    chat(&deny_proxy, "rebind",
         "{\"provider\":\"openai\",\"model\":\"gpt-4.1-mini\"" USER
         ",\"retry\":{\"max_retries\":3,\"retry_delay\":0.01}}",
         &r);
    cJSON *j;
    const char *msg = error_message(&r, &j);
    if (r.status != 502 || !strstr(r.body, "\"all_providers_failed\""))
        fail_msg("%ld %s", r.status, r.body);
    (void)msg;
    const cJSON *att =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "error"), "attempts");
    assert_int_equal(cJSON_GetArraySize(att), 1); /* not retried */
    const cJSON *a0 = cJSON_GetArrayItem(att, 0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(a0, "error_type")->valuestring,
                        "invalid_request");
    const char *why = cJSON_GetObjectItemCaseSensitive(a0, "message")->valuestring;
    if (!strstr(why, "localhost resolves to") || !strstr(why, "denied by --deny-base-url"))
        fail_msg("attempt message: %s", why);
    assert_null(strstr(r.body, CUSTOMER_KEY));
    cJSON_Delete(j);
    tu_response_free(&r);

    chat(&deny_proxy, "rebind",
         "{\"provider\":\"openai\",\"model\":\"gpt-4.1-mini\"" USER
         ",\"stream\":true,\"retry\":{\"max_retries\":3,\"retry_delay\":0.01},"
         "\"fallbacks\":[{\"provider\":\"anthropic\",\"model\":\"claude-haiku-4-5\"}]}",
         &r);
    assert_int_equal(r.status, 200);
    /* every content chunk from the fallback; the attempts chunk tells the story */
    tu_sse sse;
    assert_int_equal(tu_sse_parse(r.body, r.body_len, &sse), 0);
    int content = 0, attempts_seen = 0;
    for (size_t i = 0; i < sse.count; i++) {
        cJSON *ev = cJSON_Parse(sse.events[i].data);
        const cJSON *choices = cJSON_GetObjectItemCaseSensitive(ev, "choices");
        const cJSON *prov = cJSON_GetObjectItemCaseSensitive(ev, "provider");
        if (cJSON_GetArraySize(choices) > 0) {
            content++;
            assert_string_equal(prov->valuestring, "anthropic");
        }
        const cJSON *tail = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(ev, "llmux"), "attempts");
        if (tail) {
            attempts_seen++;
            assert_int_equal(cJSON_GetArraySize(tail), 2);
            const cJSON *first = cJSON_GetArrayItem(tail, 0);
            assert_string_equal(cJSON_GetObjectItemCaseSensitive(first, "provider")->valuestring,
                                "openai");
            assert_string_equal(cJSON_GetObjectItemCaseSensitive(first, "error_type")->valuestring,
                                "invalid_request");
        }
        cJSON_Delete(ev);
    }
    tu_sse_free(&sse);
    assert_true(content > 0);
    assert_int_equal(attempts_seen, 1);
    assert_non_null(strstr(r.body, "[DONE]"));
    tu_response_free(&r);
    assert_int_equal(upstream_with_customer_key(), 0);
}

static void test_allowlist(void **state)
{
    (void)state;
    char base[128];
    tu_response r;
    cJSON *j;
    /* an allowed address */
    snprintf(base, sizeof base, "http://127.0.0.1:%d/v1", mock.port);
    assert_int_equal(configure_url(&allow_proxy, "allow", "openai", base, &r), 200);
    tu_response_free(&r);
    chat(&allow_proxy, "allow", "{\"provider\":\"openai\",\"model\":\"gpt-4.1-mini\"" USER "}", &r);
    assert_int_equal(r.status, 200);
    tu_response_free(&r);
    assert_true(upstream_with_customer_key() >= 1);
    /* an address outside the list */
    snprintf(base, sizeof base, "http://127.0.0.2:%d/v1", mock.port);
    assert_int_equal(configure_url(&allow_proxy, "allow2", "openai", base, &r), 400);
    assert_non_null(strstr(error_message(&r, &j), "matches no --allow-base-url rule"));
    cJSON_Delete(j);
    tu_response_free(&r);
    /* a name: judged by its addresses, ::1 refused and 127.0.0.1 used */
    tu_mock_reset(mock.port);
    snprintf(base, sizeof base, "http://localhost:%d/v1", mock.port);
    assert_int_equal(configure_url(&allow_proxy, "allow3", "openai", base, &r), 200);
    tu_response_free(&r);
    chat(&allow_proxy, "allow3", "{\"provider\":\"openai\",\"model\":\"gpt-4.1-mini\"" USER "}",
         &r);
    if (r.status != 200)
        fail_msg("localhost through the allowlist: %ld %s", r.status, r.body);
    tu_response_free(&r);
    assert_true(upstream_with_customer_key() >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_configure_refuses_by_default, reset_mock),
        cmocka_unit_test_setup(test_operator_deny_rules, reset_mock),
        cmocka_unit_test_setup(test_resolved_address_denied_at_connect, reset_mock),
        cmocka_unit_test_setup(test_allowlist, reset_mock),
    };
    return cmocka_run_group_tests(tests, start_all, stop_all);
}
