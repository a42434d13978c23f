/* test_client.c — the client library (include/llmux.h, "Client") against the mock, in both
 * modes: every test of `mode_tests` runs once in embedded mode (the engine in-process,
 * managed keys and base URLs from a getenv table pointing at the mock) and once through
 * `llmux serve` (proxy mode, the proxy's environment pointing at the same mock). The mock
 * runs in-process; its request log proves what reached the upstream (how many requests,
 * which key, which connection). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "client/client.h"
#include "core/secret.h"
#include "harness.h"
#include "llmux.h"
#include "mock/mock.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MANAGED_OPENAI "sk-managed-openai-0001"
#define MANAGED_ANTHROPIC "sk-ant-managed-0002"
#define MANAGED_GOOGLE "gm-managed-0003"
#define TOKEN "tok-client-test"

static llmux__mock *mock;
static int mock_port;
static tu_proc proxy;
static bool proxy_mode;
static char url_openai[96], url_anthropic[96], url_google[96], url_azure[96], url_proxy[96];

/* The embedded client's environment: the mock everywhere, managed keys for three
 * providers, none for azure (its endpoint is set, for customer keys). */
static const char *fake_env(const char *name, void *ud)
{
    (void)ud;
    if (strcmp(name, "OPENAI_API_KEY") == 0)
        return MANAGED_OPENAI;
    if (strcmp(name, "ANTHROPIC_API_KEY") == 0)
        return MANAGED_ANTHROPIC;
    if (strcmp(name, "GEMINI_API_KEY") == 0)
        return MANAGED_GOOGLE;
    if (strcmp(name, "LLMUX_OPENAI_BASE_URL") == 0)
        return url_openai;
    if (strcmp(name, "LLMUX_ANTHROPIC_BASE_URL") == 0)
        return url_anthropic;
    if (strcmp(name, "LLMUX_GOOGLE_BASE_URL") == 0)
        return url_google;
    if (strcmp(name, "AZURE_OPENAI_ENDPOINT") == 0)
        return url_azure;
    return NULL;
}

static int start_mock(void)
{
    llmux__mock_options mo = {.listen = "127.0.0.1:0"};
    llmux__error e;
    if (llmux__mock_start(&mo, &mock, &e) != LLMUX_OK)
        return -1;
    mock_port = llmux__mock_port(mock);
    snprintf(url_openai, sizeof url_openai, "http://127.0.0.1:%d/v1", mock_port);
    snprintf(url_anthropic, sizeof url_anthropic, "http://127.0.0.1:%d", mock_port);
    snprintf(url_google, sizeof url_google, "http://127.0.0.1:%d", mock_port);
    snprintf(url_azure, sizeof url_azure, "http://127.0.0.1:%d", mock_port);
    return 0;
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
    char e1[128], e2[128], e3[128], e4[128];
    snprintf(e1, sizeof e1, "LLMUX_OPENAI_BASE_URL=%s", url_openai);
    snprintf(e2, sizeof e2, "LLMUX_ANTHROPIC_BASE_URL=%s", url_anthropic);
    snprintf(e3, sizeof e3, "LLMUX_GOOGLE_BASE_URL=%s", url_google);
    snprintf(e4, sizeof e4, "AZURE_OPENAI_ENDPOINT=%s", url_azure);
    const char *env[] = {e1,
                         e2,
                         e3,
                         e4,
                         "OPENAI_API_KEY=" MANAGED_OPENAI,
                         "ANTHROPIC_API_KEY=" MANAGED_ANTHROPIC,
                         "GEMINI_API_KEY=" MANAGED_GOOGLE,
                         "GOOGLE_API_KEY=",
                         "AZURE_OPENAI_API_KEY=",
                         "LLMUX_KEYS_DIR=",
                         "LLMUX_TOKENS=" TOKEN,
                         NULL};
    const char *argv[] = {tu_llmux_bin(), "serve", "--listen", "127.0.0.1:0", "--workers", "1",
                          "--log-level",  "error", NULL};
    if (tu_proc_start(&proxy, argv, env, 5000) != 0)
        return -1;
    snprintf(url_proxy, sizeof url_proxy, "http://127.0.0.1:%d", proxy.port);
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
    mock = NULL;
    return rc;
}

/* Per test: a fresh client (so connection counts start at zero) and an empty mock. */
typedef struct fixture {
    llmux_client *client;
    llmux_session *s;
} fixture;

static llmux_client *new_client(void)
{
    llmux_client_options o = {0};
    if (proxy_mode) {
        o.proxy_url = url_proxy;
        o.proxy_token = TOKEN;
    } else {
        o.getenv_fn = fake_env;
    }
    llmux_client *c = NULL;
    llmux_error err = LLMUX_ERROR_INIT;
    llmux_code rc = llmux_client_new(&o, &c, &err);
    if (rc != LLMUX_OK)
        fail_msg("llmux_client_new: %s", err.message);
    llmux_error_free(&err);
    return c;
}

static int fx_setup(void **state)
{
    if (tu_mock_reset(mock_port) != 200)
        return -1;
    fixture *f = calloc(1, sizeof *f);
    f->client = new_client();
    char id[64];
    static int n;
    snprintf(id, sizeof id, "test-%d-%d", (int)getpid(), ++n);
    if (llmux_session_new(f->client, id, &f->s) != LLMUX_OK)
        return -1;
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    fixture *f = *state;
    llmux_session_free(f->s);
    llmux_client_free(f->client);
    free(f);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------- */

static void configure_managed(llmux_session *s, const char *provider)
{
    llmux_error err = LLMUX_ERROR_INIT;
    llmux_provider_options po = {.managed = true};
    llmux_code rc = llmux_configure_provider(s, provider, &po, &err);
    if (rc != LLMUX_OK)
        fail_msg("configure_provider(%s): %s", provider, err.message);
    llmux_error_free(&err);
}

static llmux_request *hello(const char *provider, const char *model)
{
    llmux_request *req = llmux_request_new(provider, model);
    assert_non_null(req);
    assert_int_equal(llmux_params_add_message(llmux_request_params(req), "user", "Hello"),
                     LLMUX_OK);
    return req;
}

static void fast_retry(llmux_params *p, int retries)
{
    llmux_retry_config r = {true, retries, 0.01, 1.0};
    assert_int_equal(llmux_params_set_retry(p, &r), LLMUX_OK);
}

static void script(const char *json)
{
    char why[512];
    int st = tu_mock_script(mock_port, json, why, sizeof why);
    if (st != 200)
        fail_msg("mock script refused (%d): %s", st, why);
}

/* The mock's log entries that are completions (not model-list warm-ups). */
static cJSON *completions_log(size_t *n)
{
    cJSON *log = tu_mock_requests(mock_port);
    assert_non_null(log);
    cJSON *out = cJSON_CreateArray();
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(log, "requests"))
    {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "method");
        if (cJSON_IsString(m) && strcmp(m->valuestring, "POST") == 0)
            cJSON_AddItemToArray(out, cJSON_Duplicate(r, true));
    }
    cJSON_Delete(log);
    *n = (size_t)cJSON_GetArraySize(out);
    return out;
}

static size_t count_completions(void)
{
    size_t n;
    cJSON_Delete(completions_log(&n));
    return n;
}

static size_t count_all_requests(void)
{
    cJSON *log = tu_mock_requests(mock_port);
    assert_non_null(log);
    size_t n = (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(log, "requests"));
    cJSON_Delete(log);
    return n;
}

static const char *header_of(const cJSON *entry, const char *name)
{
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(entry, "headers");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(h, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double num_of(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* Waits (1 s at most) until the mock log holds at least n requests, all answered. */
static void wait_requests(size_t n)
{
    for (int i = 0; i < 200; i++) {
        cJSON *log = tu_mock_requests(mock_port);
        const cJSON *reqs = cJSON_GetObjectItemCaseSensitive(log, "requests");
        size_t got = (size_t)cJSON_GetArraySize(reqs), done = 0;
        const cJSON *r;
        cJSON_ArrayForEach(r, reqs) done +=
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "completed"));
        cJSON_Delete(log);
        if (got >= n && done == got)
            break;
        tu_sleep_ms(5);
    }
    tu_sleep_ms(10); /* the client reads the end of the answer */
}

/* ---- configure + complete (seed 000) ------------------------------------------------------ */

static void test_managed_completion(void **state)
{
    fixture *f = *state;
    configure_managed(f->s, "anthropic");
    llmux_request *req = hello("anthropic", "claude-haiku-4-5");
    llmux_response *resp = NULL;
    llmux_error err = LLMUX_ERROR_INIT;
    llmux_code rc = llmux_generate_chat_completion(f->s, req, &resp, &err);
    if (rc != LLMUX_OK)
        fail_msg("completion: %s", err.message);
    assert_string_equal(llmux_response_text(resp), LLMUX__MOCK_DEFAULT_TEXT);
    assert_int_equal(llmux_response_text_len(resp), strlen(LLMUX__MOCK_DEFAULT_TEXT));
    assert_string_equal(llmux_response_provider(resp), "anthropic");
    assert_string_equal(llmux_response_model(resp), "claude-haiku-4-5");
    assert_string_equal(llmux_response_finish_reason(resp), "stop");
    assert_true(strlen(llmux_response_id(resp)) > 0);
    llmux_usage u = llmux_response_usage(resp);
    assert_true(u.present);
    assert_int_equal(u.completion_tokens, llmux__mock_count_tokens(LLMUX__MOCK_DEFAULT_TEXT));
    assert_int_equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);
    assert_int_equal(llmux_response_attempt_count(resp), 1);
    const llmux_attempt *a = llmux_response_attempt(resp, 0);
    assert_string_equal(a->provider, "anthropic");
    assert_string_equal(a->model, "claude-haiku-4-5");
    assert_int_equal(a->status, 200);
    assert_int_equal(a->error, LLMUX_OK);
    assert_int_equal(a->attempt, 1);
    assert_null(llmux_response_attempt(resp, 1));
    assert_int_equal(llmux_response_tool_call_count(resp), 0);
    char *json = llmux_response_to_json(resp);
    assert_non_null(strstr(json, "\"provider\":\"anthropic\""));
    assert_non_null(strstr(json, "\"attempts\":[{"));
    llmux_free(json);
    /* the managed key went upstream, and nothing else did */
    size_t n;
    cJSON *log = completions_log(&n);
    assert_int_equal(n, 1);
    assert_string_equal(header_of(cJSON_GetArrayItem(log, 0), "x-api-key"), MANAGED_ANTHROPIC);
    cJSON_Delete(log);
    llmux_response_free(resp);
    llmux_request_free(req);
    llmux_error_free(&err);
}

static void test_json_form_and_customer_key(void **state)
{
    fixture *f = *state;
    llmux_provider_options po = {.api_key = "sk-customer-777"};
    llmux_error err = LLMUX_ERROR_INIT;
    assert_int_equal(llmux_configure_provider(f->s, "openai", &po, &err), LLMUX_OK);
    llmux_response *resp = NULL;
    llmux_code rc = llmux_generate_chat_completion_json(
        f->s,
        "{\"provider\":\"openai\",\"model\":\"gpt-4.1-mini\",\"temperature\":0.2,"
        "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
        &resp, &err);
    if (rc != LLMUX_OK)
        fail_msg("completion: %s", err.message);
    assert_string_equal(llmux_response_provider(resp), "openai");
    assert_string_equal(llmux_response_model(resp), "gpt-4.1-mini");
    size_t n;
    cJSON *log = completions_log(&n);
    assert_int_equal(n, 1);
    assert_string_equal(header_of(cJSON_GetArrayItem(log, 0), "authorization"),
                        "Bearer sk-customer-777");
    cJSON_Delete(log);
    llmux_response_free(resp);
    /* the OpenAI-SDK form: model "provider/model" */
    rc = llmux_generate_chat_completion_json(
        f->s,
        "{\"model\":\"openai/gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
        &resp, &err);
    assert_int_equal(rc, LLMUX_OK);
    assert_string_equal(llmux_response_model(resp), "gpt-4o-mini");
    llmux_response_free(resp);
    llmux_error_free(&err);
}

/* ---- refusals before any network call ---------------------------------------------------- */

static void test_not_configured_makes_no_request(void **state)
{
    fixture *f = *state;
    configure_managed(f->s, "anthropic");
    wait_requests(1); /* the warm-up (embedded) */
    size_t before = count_all_requests();
    llmux__client_stats s0 = llmux__client_stats_get(f->client);

    llmux_request *req = hello("google", "gemini-2.5-flash");
    llmux_response *resp = NULL;
    llmux_error err = LLMUX_ERROR_INIT;
    assert_int_equal(llmux_generate_chat_completion(f->s, req, &resp, &err),
                     LLMUX_EPROVIDER_NOT_CONFIGURED);
    assert_null(resp);
    assert_int_equal(err.code, LLMUX_EPROVIDER_NOT_CONFIGURED);
    assert_non_null(strstr(err.message, "'google'"));
    assert_non_null(strstr(err.message, "configure_provider"));
    llmux_request_free(req);

    /* a fallback that is not configured is refused the same way */
    req = hello("anthropic", "claude-haiku-4-5");
    assert_non_null(llmux_request_add_fallback(req, "openai", "gpt-4.1-mini"));
    assert_int_equal(llmux_generate_chat_completion(f->s, req, &resp, &err),
                     LLMUX_EPROVIDER_NOT_CONFIGURED);
    assert_non_null(strstr(err.message, "fallbacks[0]"));
    assert_non_null(strstr(err.message, "'openai'"));
    /* streams too */
    llmux_stream *st = NULL;
    assert_int_equal(llmux_generate_chat_completion_stream(f->s, req, &st, &err),
                     LLMUX_EPROVIDER_NOT_CONFIGURED);
    assert_null(st);
    llmux_request_free(req);

    tu_sleep_ms(50);
    assert_int_equal(count_all_requests(), before);
    llmux__client_stats s1 = llmux__client_stats_get(f->client);
    assert_int_equal(s1.requests, s0.requests); /* proxy mode: nothing sent to the proxy */
    llmux_error_free(&err);
}

static void test_api_key_on_request_refused(void **state)
{
    fixture *f = *state;
    configure_managed(f->s, "openai");
    wait_requests(1);
    size_t before = count_all_requests();
    llmux_response *resp = NULL;
    llmux_error err = LLMUX_ERROR_INIT;
    llmux_code rc = llmux_generate_chat_completion_json(
        f->s,
        "{\"provider\":\"openai\",\"model\":\"gpt-4.1-mini\",\"api_key\":\"sk-leak-1\","
        "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
        &resp, &err);
    assert_int_equal(rc, LLMUX_EINVALID_REQUEST);
    assert_non_null(strstr(err.message, "api_key"));
    assert_null(strstr(err.message, "sk-leak-1"));
    rc = llmux_generate_chat_completion_json(
        f->s,
        "{\"provider\":\"openai\",\"model\":\"gpt-4.1-mini\",\"messages\":[{\"role\":\"user\","
        "\"content\":\"hi\"}],\"fallbacks\":[{\"provider\":\"openai\",\"api_key\":\"sk-leak-2\"}]}",
        &resp, &err);
    assert_int_equal(rc, LLMUX_EINVALID_REQUEST);
    assert_non_null(strstr(err.message, "fallbacks[0].api_key"));
    assert_int_equal(llmux_generate_chat_completion_json(f->s, "{not json", &resp, &err),
                     LLMUX_EINVALID_REQUEST);
    tu_sleep_ms(20);
    assert_int_equal(count_all_requests(), before);
    llmux_error_free(&err);
}

static void test_configure_errors(void **state)
{
    fixture *f = *state;
    llmux_error err = LLMUX_ERROR_INIT;
    llmux_provider_options both = {.managed = true, .api_key = "sk-x"};
    llmux_provider_options none = {0};
    llmux_provider_options managed = {.managed = true};
    assert_int_equal(llmux_configure_provider(f->s, "mistral", &managed, &err),
                     LLMUX_EINVALID_REQUEST);
    assert_non_null(strstr(err.message, "mistral"));
    assert_int_equal(llmux_configure_provider(f->s, "openai", &both, &err), LLMUX_EINVALID_REQUEST);
    assert_null(strstr(err.message, "sk-x"));
    assert_int_equal(llmux_configure_provider(f->s, "openai", &none, &err), LLMUX_EINVALID_REQUEST);
    assert_int_equal(llmux_configure_provider(f->s, "openai", NULL, &err), LLMUX_EINVALID_REQUEST);
    /* no managed azure key anywhere */
    assert_int_equal(llmux_configure_provider(f->s, "azure", &managed, &err),
                     LLMUX_EMANAGED_KEY_UNAVAILABLE);
    assert_non_null(strstr(err.message, "azure"));
    /* a key with a line break would end up in a header */
    llmux_provider_options bad = {.api_key = "sk-a\r\nX-Evil: 1"};
    assert_int_equal(llmux_configure_provider(f->s, "openai", &bad, &err), LLMUX_EINVALID_REQUEST);
    assert_null(strstr(err.message, "Evil"));
    llmux_error_free(&err);
}

/* ---- retries, fallbacks, errors (seed 002) ------------------------------------------------- */

static void test_retry_after_503(void **state)
{
    fixture *f = *state;
    configure_managed(f->s, "anthropic");
    script("[{\"provider\":\"anthropic\",\"status\":503}]");
    llmux_request *req = hello("anthropic", "claude-haiku-4-5");
    fast_retry(llmux_request_params(req), 2);
    llmux_response *resp = NULL;
    llmux_error err = LLMUX_ERROR_INIT;
    llmux_code rc = llmux_generate_chat_completion(f->s, req, &resp, &err);
    if (rc != LLMUX_OK)
        fail_msg("completion: %s", err.message);
    assert_int_equal(llmux_response_attempt_count(resp), 2);
    assert_int_equal(llmux_response_attempt(resp, 0)->status, 503);
    assert_int_equal(llmux_response_attempt(resp, 0)->error, LLMUX_EUPSTREAM);
    assert_int_equal(llmux_response_attempt(resp, 0)->attempt, 1);
    assert_int_equal(llmux_response_attempt(resp, 1)->status, 200);
    assert_int_equal(llmux_response_attempt(resp, 1)->attempt, 2);
    assert_string_equal(llmux_response_provider(resp), "anthropic");
    assert_int_equal(count_completions(), 2);
    llmux_response_free(resp);
    llmux_request_free(req);
    llmux_error_free(&err);
}

static void test_fallback_after_retries(void **state)
{
    fixture *f = *state;
    configure_managed(f->s, "anthropic");
    configure_managed(f->s, "openai");
    script("[{\"provider\":\"anthropic\",\"status\":503,\"count\":3}]");
    llmux_request *req = hello("anthropic", "claude-haiku-4-5");
    fast_retry(llmux_request_params(req), 2);
    assert_non_null(llmux_request_add_fallback(req, "openai", "gpt-4.1-mini"));
    llmux_response *resp = NULL;
    llmux_error err = LLMUX_ERROR_INIT;
    llmux_code rc = llmux_generate_chat_completion(f->s, req, &resp, &err);
    if (rc != LLMUX_OK)
        fail_msg("completion: %s", err.message);
    assert_string_equal(llmux_response_provider(resp), "openai");
    assert_string_equal(llmux_response_model(resp), "gpt-4.1-mini");
    assert_int_equal(llmux_response_attempt_count(resp), 4);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(llmux_response_attempt(resp, (size_t)i)->provider, "anthropic");
        assert_int_equal(llmux_response_attempt(resp, (size_t)i)->attempt, i + 1);
    }
    assert_string_equal(llmux_response_attempt(resp, 3)->provider, "openai");
    assert_int_equal(llmux_response_attempt(resp, 3)->attempt, 1);
    /* the fallback inherited the messages */
    size_t n;
    cJSON *log = completions_log(&n);
    assert_int_equal(n, 4);
    const cJSON *last = cJSON_GetArrayItem(log, 3);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(last, "provider")->valuestring, "openai");
    assert_non_null(strstr(cJSON_GetObjectItemCaseSensitive(last, "body")->valuestring, "Hello"));
    cJSON_Delete(log);
    llmux_response_free(resp);
    llmux_request_free(req);
    llmux_error_free(&err);
}

static void test_all_failed_carries_attempts(void **state)
{
    fixture *f = *state;
    configure_managed(f->s, "anthropic");
    configure_managed(f->s, "openai");
    script("[{\"provider\":\"anthropic\",\"status\":503,\"count\":2},"
           "{\"provider\":\"openai\",\"status\":429,\"count\":2}]");
    llmux_request *req = hello("anthropic", "claude-haiku-4-5");
    fast_retry(llmux_request_params(req), 1);
    assert_non_null(llmux_request_add_fallback(req, "openai", "gpt-4.1-mini"));
    llmux_response *resp = NULL;
    llmux_error err = LLMUX_ERROR_INIT;
    assert_int_equal(llmux_generate_chat_completion(f->s, req, &resp, &err),
                     LLMUX_EALL_PROVIDERS_FAILED);
    assert_null(resp);
    assert_int_equal(err.code, LLMUX_EALL_PROVIDERS_FAILED);
    assert_int_equal(err.n_attempts, 4);
    assert_int_equal(err.attempts[0].status, 503);
    assert_int_equal(err.attempts[0].error, LLMUX_EUPSTREAM);
    assert_string_equal(err.attempts[2].provider, "openai");
    assert_int_equal(err.attempts[3].status, 429);
    assert_int_equal(err.attempts[3].error, LLMUX_ERATE_LIMITED);
    assert_int_equal(llmux_error_cause(&err), LLMUX_ERATE_LIMITED);
    llmux_request_free(req);
    llmux_error_free(&err);
    assert_int_equal(err.n_attempts, 0);
    assert_null(err.attempts);
    llmux_error_free(&err); /* twice is fine */
}

/* The seeds' distinct errors: rate limit, invalid key, unknown model, timeout. */
static void test_distinct_causes(void **state)
{
    fixture *f = *state;
    configure_managed(f->s, "openai");
    static const struct {
        const char *step;
        llmux_code cause;
    } cases[] = {
        {"{\"provider\":\"openai\",\"status\":429}", LLMUX_ERATE_LIMITED},
        {"{\"provider\":\"openai\",\"status\":401}", LLMUX_EAUTH_FAILED},
        {"{\"provider\":\"openai\",\"status\":404}", LLMUX_EMODEL_NOT_FOUND},
        {"{\"provider\":\"openai\",\"status\":400}", LLMUX_EINVALID_REQUEST},
    };
    llmux_error err = LLMUX_ERROR_INIT;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char s[256];
        snprintf(s, sizeof s, "[%s]", cases[i].step);
        script(s);
        llmux_request *req = hello("openai", "gpt-4.1-mini");
        llmux_retry_config off = {false, 0, 0, 1};
        llmux_params_set_retry(llmux_request_params(req), &off);
        llmux_response *resp = NULL;
        assert_int_equal(llmux_generate_chat_completion(f->s, req, &resp, &err),
                         LLMUX_EALL_PROVIDERS_FAILED);
        assert_int_equal(llmux_error_cause(&err), cases[i].cause);
        assert_int_equal(err.n_attempts, 1);
        llmux_request_free(req);
    }
    /* a timeout: the last failure was one, so the code itself is LLMUX_ETIMEOUT */
    script("[{\"provider\":\"openai\",\"hang\":true}]");
    llmux_request *req = hello("openai", "gpt-4.1-mini");
    llmux_retry_config off = {false, 0, 0, 1};
    llmux_params_set_retry(llmux_request_params(req), &off);
    llmux_params_set_timeout(llmux_request_params(req), 0.2);
    llmux_response *resp = NULL;
    double t0 = tu_now_ms();
    assert_int_equal(llmux_generate_chat_completion(f->s, req, &resp, &err), LLMUX_ETIMEOUT);
    assert_true(tu_now_ms() - t0 < 3000);
    assert_int_equal(llmux_error_cause(&err), LLMUX_ETIMEOUT);
    assert_int_equal(err.n_attempts, 1);
    assert_int_equal(err.attempts[0].error, LLMUX_ETIMEOUT);
    llmux_request_free(req);
    llmux_error_free(&err);
}

/* ---- tool calls -------------------------------------------------------------------------------
 */

static void test_tool_call(void **state)
{
    fixture *f = *state;
    configure_managed(f->s, "anthropic");
    script("[{\"provider\":\"anthropic\",\"tool_call\":{\"name\":\"get_weather\","
           "\"arguments\":{\"city\":\"Paris\"}}}]");
    llmux_request *req = hello("anthropic", "claude-haiku-4-5");
    assert_int_equal(llmux_params_add_tool(llmux_request_params(req), "get_weather",
                                           "Weather for a city",
                                           "{\"type\":\"object\",\"properties\":{\"city\":"
                                           "{\"type\":\"string\"}}}"),
                     LLMUX_OK);
    llmux_response *resp = NULL;
    llmux_error err = LLMUX_ERROR_INIT;
    llmux_code rc = llmux_generate_chat_completion(f->s, req, &resp, &err);
    if (rc != LLMUX_OK)
        fail_msg("completion: %s", err.message);
    assert_int_equal(llmux_response_tool_call_count(resp), 1);
    const llmux_tool_call *tc = llmux_response_tool_call(resp, 0);
    assert_string_equal(tc->name, "get_weather");
    assert_non_null(strstr(tc->arguments, "Paris"));
    assert_true(strncmp(tc->id, "toolu_", 6) == 0);
    assert_null(llmux_response_tool_call(resp, 1));
    assert_string_equal(llmux_response_finish_reason(resp), "tool_calls");
    llmux_response_free(resp);
    llmux_request_free(req);
    llmux_error_free(&err);
}

/* ---- streaming ----------------------------------------------------------------------------------
 */

static const char *const SENTENCES[] = {
    "Hello from the llmux mock.", "Dr. Ada Byte measured 3.14 meters of cable today.",
    "That is **good** news!", "Is there anything else I can check for you?"};

static void test_stream_sentences(void **state)
{
    fixture *f = *state;
    configure_managed(f->s, "anthropic");
    llmux_request *req = hello("anthropic", "claude-haiku-4-5");
    llmux_request_set_stream_options(req, true, false, false);
    llmux_stream *st = NULL;
    llmux_error err = LLMUX_ERROR_INIT;
    assert_int_equal(llmux_generate_chat_completion_stream(f->s, req, &st, &err), LLMUX_OK);
    llmux_request_free(req); /* the stream does not need it */
    llmux_chunk ch;
    size_t texts = 0;
    bool finish = false;
    for (;;) {
        llmux_code rc = llmux_stream_next(st, &ch, 5.0);
        if (rc != LLMUX_OK)
            fail_msg("stream_next: %d %s", rc, llmux_stream_error(st)->message);
        if (ch.kind == LLMUX_CHUNK_END)
            break;
        assert_string_equal(ch.provider, "anthropic");
        assert_string_equal(ch.model, "claude-haiku-4-5");
        if (ch.kind == LLMUX_CHUNK_TEXT) {
            assert_true(texts < 4);
            assert_string_equal(ch.text, SENTENCES[texts]);
            assert_int_equal(ch.text_len, strlen(SENTENCES[texts]));
            texts++;
        } else if (ch.kind == LLMUX_CHUNK_FINISH) {
            assert_string_equal(ch.finish_reason, "stop");
            finish = true;
        }
    }
    assert_int_equal(texts, 4);
    assert_true(finish);
    assert_string_equal(llmux_stream_provider(st), "anthropic");
    assert_string_equal(llmux_stream_model(st), "claude-haiku-4-5");
    /* END again, and no error */
    assert_int_equal(llmux_stream_next(st, &ch, 0), LLMUX_OK);
    assert_int_equal(ch.kind, LLMUX_CHUNK_END);
    assert_int_equal(llmux_stream_error(st)->code, LLMUX_OK);
    llmux_stream_free(st);
    llmux_error_free(&err);
}

static void test_stream_clean_and_fragments(void **state)
{
    fixture *f = *state;
    configure_managed(f->s, "openai");
    /* clean_sentences drops the markdown */
    llmux_stream *st = NULL;
    llmux_error err = LLMUX_ERROR_INIT;
    assert_int_equal(llmux_generate_chat_completion_stream_json(
                         f->s,
                         "{\"provider\":\"openai\",\"model\":\"gpt-4.1-mini\",\"messages\":[{"
                         "\"role\":\"user\",\"content\":\"hi\"}],\"stream_options\":{"
                         "\"chunk_by_sentence\":true,\"clean_sentences\":true}}",
                         &st, &err),
                     LLMUX_OK);
    llmux_chunk ch;
    char all[512] = "";
    bool usage = false;
    while (llmux_stream_next(st, &ch, 5.0) == LLMUX_OK && ch.kind != LLMUX_CHUNK_END) {
        if (ch.kind == LLMUX_CHUNK_TEXT) {
            strcat(all, ch.text);
            strcat(all, "|");
        }
        if (ch.kind == LLMUX_CHUNK_USAGE) {
            usage = true;
            assert_true(ch.usage.present);
            assert_true(ch.usage.completion_tokens > 0);
        }
    }
    assert_int_equal(llmux_stream_error(st)->code, LLMUX_OK);
    assert_non_null(strstr(all, "|That is good news!|"));
    assert_true(usage);
    llmux_stream_free(st);
    /* without chunk_by_sentence: word fragments that add up to the whole text */
    assert_int_equal(llmux_generate_chat_completion_stream_json(
                         f->s,
                         "{\"provider\":\"openai\",\"model\":\"gpt-4.1-mini\",\"messages\":[{"
                         "\"role\":\"user\",\"content\":\"hi\"}]}",
                         &st, &err),
                     LLMUX_OK);
    all[0] = '\0';
    size_t pieces = 0;
    while (llmux_stream_next(st, &ch, 5.0) == LLMUX_OK && ch.kind != LLMUX_CHUNK_END)
        if (ch.kind == LLMUX_CHUNK_TEXT) {
            strcat(all, ch.text);
            pieces++;
        }
    assert_string_equal(all, LLMUX__MOCK_DEFAULT_TEXT);
    assert_true(pieces > 10);
    llmux_stream_free(st);
    llmux_error_free(&err);
}

/* A stream cut after two chunks: the error comes out of the iteration, after the chunks
 * that did arrive, and nothing is retried or sent to the fallback. */
static void test_stream_interrupted(void **state)
{
    fixture *f = *state;
    configure_managed(f->s, "anthropic");
    configure_managed(f->s, "openai");
    script("[{\"provider\":\"anthropic\",\"drop_after_chunks\":2}]");
    llmux_request *req = hello("anthropic", "claude-haiku-4-5");
    fast_retry(llmux_request_params(req), 3);
    assert_non_null(llmux_request_add_fallback(req, "openai", "gpt-4.1-mini"));
    llmux_stream *st = NULL;
    llmux_error err = LLMUX_ERROR_INIT;
    assert_int_equal(llmux_generate_chat_completion_stream(f->s, req, &st, &err), LLMUX_OK);
    llmux_chunk ch;
    size_t texts = 0;
    llmux_code rc;
    while ((rc = llmux_stream_next(st, &ch, 5.0)) == LLMUX_OK) {
        assert_int_not_equal(ch.kind, LLMUX_CHUNK_END);
        if (ch.kind == LLMUX_CHUNK_TEXT)
            texts++;
        assert_string_equal(ch.provider, "anthropic");
    }
    assert_int_equal(rc, LLMUX_ESTREAM_INTERRUPTED);
    assert_int_equal(texts, 2);
    const llmux_error *e = llmux_stream_error(st);
    assert_int_equal(e->code, LLMUX_ESTREAM_INTERRUPTED);
    assert_true(strlen(e->message) > 0);
    /* sticky */
    assert_int_equal(llmux_stream_next(st, &ch, 0), LLMUX_ESTREAM_INTERRUPTED);
    llmux_stream_free(st);
    tu_sleep_ms(50);
    assert_int_equal(count_completions(), 1);
    llmux_request_free(req);
    llmux_error_free(&err);
}

/* A 503 before the first chunk is retried; the caller sees one provider's text once. */
static void test_stream_retry_before_first_chunk(void **state)
{
    fixture *f = *state;
    configure_managed(f->s, "anthropic");
    script("[{\"provider\":\"anthropic\",\"status\":503},"
           "{\"provider\":\"anthropic\",\"text\":\"One. Two.\"}]");
    llmux_request *req = hello("anthropic", "claude-haiku-4-5");
    fast_retry(llmux_request_params(req), 2);
    llmux_request_set_stream_options(req, true, false, false);
    llmux_stream *st = NULL;
    llmux_error err = LLMUX_ERROR_INIT;
    assert_int_equal(llmux_generate_chat_completion_stream(f->s, req, &st, &err), LLMUX_OK);
    llmux_chunk ch;
    char all[128] = "";
    while (llmux_stream_next(st, &ch, 5.0) == LLMUX_OK && ch.kind != LLMUX_CHUNK_END)
        if (ch.kind == LLMUX_CHUNK_TEXT) {
            strcat(all, ch.text);
            strcat(all, "|");
        }
    assert_int_equal(llmux_stream_error(st)->code, LLMUX_OK);
    assert_string_equal(all, "One.|Two.|");
    if (!proxy_mode) { /* the proxy's stream carries no attempt log */
        assert_int_equal(llmux_stream_attempt_count(st), 2);
        assert_int_equal(llmux_stream_attempt(st, 0)->status, 503);
    }
    assert_int_equal(count_completions(), 2);
    llmux_stream_free(st);
    llmux_request_free(req);
    llmux_error_free(&err);
}

/* Every attempt failing before the first chunk: the plan's error out of the iterator. */
static void test_stream_all_failed(void **state)
{
    fixture *f = *state;
    configure_managed(f->s, "anthropic");
    script("[{\"provider\":\"anthropic\",\"status\":529,\"count\":2}]");
    llmux_request *req = hello("anthropic", "claude-haiku-4-5");
    fast_retry(llmux_request_params(req), 1);
    llmux_stream *st = NULL;
    llmux_error err = LLMUX_ERROR_INIT;
    assert_int_equal(llmux_generate_chat_completion_stream(f->s, req, &st, &err), LLMUX_OK);
    llmux_chunk ch;
    assert_int_equal(llmux_stream_next(st, &ch, 5.0), LLMUX_EALL_PROVIDERS_FAILED);
    const llmux_error *e = llmux_stream_error(st);
    assert_int_equal(e->n_attempts, 2);
    assert_int_equal(e->attempts[1].status, 529);
    assert_int_equal(llmux_error_cause(e), LLMUX_EUPSTREAM);
    assert_null(llmux_stream_provider(st));
    llmux_stream_free(st);
    llmux_request_free(req);
    llmux_error_free(&err);
}

static void test_stream_tool_call(void **state)
{
    fixture *f = *state;
    configure_managed(f->s, "openai");
    script("[{\"provider\":\"openai\",\"tool_call\":{\"name\":\"lookup\",\"id\":\"call_abc123\","
           "\"arguments\":{\"q\":\"llmux\"}}}]");
    llmux_request *req = hello("openai", "gpt-4.1-mini");
    llmux_params_add_tool(llmux_request_params(req), "lookup", NULL,
                          "{\"type\":\"object\",\"properties\":{\"q\":{\"type\":\"string\"}}}");
    llmux_request_set_stream_options(req, true, false, false);
    llmux_stream *st = NULL;
    llmux_error err = LLMUX_ERROR_INIT;
    assert_int_equal(llmux_generate_chat_completion_stream(f->s, req, &st, &err), LLMUX_OK);
    llmux_chunk ch;
    char args[256] = "";
    bool started = false;
    const char *finish = NULL;
    char finish_buf[32] = "";
    while (llmux_stream_next(st, &ch, 5.0) == LLMUX_OK && ch.kind != LLMUX_CHUNK_END) {
        if (ch.kind == LLMUX_CHUNK_TOOL_CALL_START) {
            started = true;
            assert_int_equal(ch.tool_index, 0);
            assert_string_equal(ch.tool_id, "call_abc123");
            assert_string_equal(ch.tool_name, "lookup");
        } else if (ch.kind == LLMUX_CHUNK_TOOL_CALL_ARGS) {
            assert_true(started);
            strcat(args, ch.text);
        } else if (ch.kind == LLMUX_CHUNK_FINISH) {
            snprintf(finish_buf, sizeof finish_buf, "%s", ch.finish_reason);
            finish = finish_buf;
        }
    }
    assert_int_equal(llmux_stream_error(st)->code, LLMUX_OK);
    assert_true(started);
    cJSON *a = cJSON_Parse(args);
    assert_non_null(a);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(a, "q")->valuestring, "llmux");
    cJSON_Delete(a);
    assert_non_null(finish);
    assert_string_equal(finish, "tool_calls");
    llmux_stream_free(st);
    llmux_request_free(req);
    llmux_error_free(&err);
}

/* The callback form. */
typedef struct cb_state {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char text[1024];
    int chunks;
    bool ended;
    llmux_code code;
    size_t n_attempts;
    int stop_after; /* > 0: cancel from on_chunk after that many chunks */
} cb_state;

static int cb_chunk(void *ud, const llmux_chunk *ch)
{
    cb_state *s = ud;
    pthread_mutex_lock(&s->mu);
    if (ch->kind == LLMUX_CHUNK_TEXT)
        strncat(s->text, ch->text, sizeof s->text - strlen(s->text) - 1);
    s->chunks++;
    int stop = s->stop_after > 0 && s->chunks >= s->stop_after;
    pthread_mutex_unlock(&s->mu);
    return stop;
}

static void cb_end(void *ud, const llmux_error *err)
{
    cb_state *s = ud;
    pthread_mutex_lock(&s->mu);
    s->ended = true;
    s->code = err->code;
    s->n_attempts = err->n_attempts;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void test_stream_callbacks(void **state)
{
    fixture *f = *state;
    configure_managed(f->s, "google");
    cb_state s = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    llmux_stream_callbacks cb = {.ud = &s, .on_chunk = cb_chunk, .on_end = cb_end};
    llmux_request *req = hello("google", "gemini-2.5-flash");
    llmux_stream *st = NULL;
    llmux_error err = LLMUX_ERROR_INIT;
    assert_int_equal(llmux_generate_chat_completion_stream_cb(f->s, req, &cb, &st, &err), LLMUX_OK);
    pthread_mutex_lock(&s.mu);
    for (int i = 0; i < 500 && !s.ended; i++) {
        pthread_mutex_unlock(&s.mu);
        tu_sleep_ms(10);
        pthread_mutex_lock(&s.mu);
    }
    pthread_mutex_unlock(&s.mu);
    assert_true(s.ended);
    assert_int_equal(s.code, LLMUX_OK);
    assert_string_equal(s.text, LLMUX__MOCK_DEFAULT_TEXT);
    llmux_chunk ch;
    assert_int_equal(llmux_stream_next(st, &ch, 0), LLMUX_EINVALID_REQUEST);
    llmux_stream_free(st);

    /* cancelling from on_chunk: on_end never runs, the upstream transfer is dropped */
    cb_state s2 = {
        .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .stop_after = 2};
    cb.ud = &s2;
    script("[{\"provider\":\"google\",\"chunk_interval_ms\":20}]");
    assert_int_equal(llmux_generate_chat_completion_stream_cb(f->s, req, &cb, &st, &err), LLMUX_OK);
    tu_sleep_ms(400);
    pthread_mutex_lock(&s2.mu);
    assert_int_equal(s2.chunks, 2);
    assert_false(s2.ended);
    pthread_mutex_unlock(&s2.mu);
    llmux_stream_free(st);
    /* missing callbacks are refused */
    llmux_stream_callbacks bad = {.on_chunk = cb_chunk};
    assert_int_equal(llmux_generate_chat_completion_stream_cb(f->s, req, &bad, &st, &err),
                     LLMUX_EINVALID_REQUEST);
    llmux_request_free(req);
    llmux_error_free(&err);
}

/* on_end may free its own stream; a stream freed before anything arrived is cancelled. */
typedef struct self_free {
    llmux_stream *st;
    pthread_mutex_t mu;
    bool ended;
    llmux_code code;
} self_free;

static int sf_chunk(void *ud, const llmux_chunk *ch)
{
    (void)ud;
    (void)ch;
    return 0;
}

static void sf_end(void *ud, const llmux_error *err)
{
    self_free *s = ud;
    pthread_mutex_lock(&s->mu);
    llmux_stream *st = s->st;
    s->st = NULL;
    s->code = err->code;
    s->ended = true;
    pthread_mutex_unlock(&s->mu);
    llmux_stream_free(st); /* from inside on_end: allowed */
}

static void test_stream_free_from_on_end_and_early(void **state)
{
    fixture *f = *state;
    configure_managed(f->s, "anthropic");
    llmux_request *req = hello("anthropic", "claude-haiku-4-5");
    self_free s = {.mu = PTHREAD_MUTEX_INITIALIZER};
    llmux_stream_callbacks cb = {.ud = &s, .on_chunk = sf_chunk, .on_end = sf_end};
    pthread_mutex_lock(&s.mu); /* on_end waits until st is stored */
    assert_int_equal(llmux_generate_chat_completion_stream_cb(f->s, req, &cb, &s.st, NULL),
                     LLMUX_OK);
    pthread_mutex_unlock(&s.mu);
    for (int i = 0; i < 500; i++) {
        pthread_mutex_lock(&s.mu);
        bool done = s.ended;
        pthread_mutex_unlock(&s.mu);
        if (done)
            break;
        tu_sleep_ms(5);
    }
    assert_true(s.ended);
    assert_int_equal(s.code, LLMUX_OK);
    assert_null(s.st);

    /* freed at once, before the loop even started it; then many at once */
    for (int i = 0; i < 20; i++) {
        llmux_stream *st = NULL;
        assert_int_equal(llmux_generate_chat_completion_stream(f->s, req, &st, NULL), LLMUX_OK);
        llmux_stream_free(st);
    }
    /* the client still works */
    llmux_response *resp = NULL;
    assert_int_equal(llmux_generate_chat_completion(f->s, req, &resp, NULL), LLMUX_OK);
    llmux_response_free(resp);
    llmux_request_free(req);
}

/* Twenty streams in flight at once on one session, read in turn. */
static void test_concurrent_streams(void **state)
{
    fixture *f = *state;
    configure_managed(f->s, "openai");
    script("[{\"provider\":\"openai\",\"chunk_interval_ms\":2,\"count\":20}]");
    llmux_request *req = hello("openai", "gpt-4.1-mini");
    llmux_request_set_stream_options(req, true, false, false);
    enum { N = 20 };
    llmux_stream *st[N];
    for (int i = 0; i < N; i++)
        assert_int_equal(llmux_generate_chat_completion_stream(f->s, req, &st[i], NULL), LLMUX_OK);
    for (int i = 0; i < N; i++) {
        llmux_chunk ch;
        int texts = 0;
        llmux_code rc;
        while ((rc = llmux_stream_next(st[i], &ch, 10.0)) == LLMUX_OK && ch.kind != LLMUX_CHUNK_END)
            texts += ch.kind == LLMUX_CHUNK_TEXT;
        assert_int_equal(rc, LLMUX_OK);
        assert_int_equal(texts, 4);
        llmux_stream_free(st[i]);
    }
    assert_int_equal(count_completions(), N);
    llmux_request_free(req);
}

/* Freeing a stream mid-way cancels the upstream transfer (the mock sees the client go). */
static void test_stream_free_cancels(void **state)
{
    fixture *f = *state;
    configure_managed(f->s, "openai");
    script("[{\"provider\":\"openai\",\"chunk_interval_ms\":30}]");
    llmux_request *req = hello("openai", "gpt-4.1-mini");
    llmux_stream *st = NULL;
    llmux_error err = LLMUX_ERROR_INIT;
    assert_int_equal(llmux_generate_chat_completion_stream(f->s, req, &st, &err), LLMUX_OK);
    llmux_chunk ch;
    int texts = 0;
    while (texts < 2) {
        assert_int_equal(llmux_stream_next(st, &ch, 5.0), LLMUX_OK);
        if (ch.kind == LLMUX_CHUNK_TEXT)
            texts++;
    }
    /* nothing more within 1 ms: a timeout that leaves the stream usable */
    llmux_code rc = llmux_stream_next(st, &ch, 0.001);
    assert_true(rc == LLMUX_ETIMEOUT || rc == LLMUX_OK);
    llmux_stream_free(st);
    bool closed = false;
    for (int i = 0; i < 100 && !closed; i++) {
        size_t n;
        cJSON *log = completions_log(&n);
        const cJSON *e = cJSON_GetArrayItem(log, 0);
        closed = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "client_closed"));
        cJSON_Delete(log);
        if (!closed)
            tu_sleep_ms(10);
    }
    assert_true(closed);
    llmux_request_free(req);
    llmux_error_free(&err);
}

/* A slow reader of a long stream: every chunk arrives, in order (the backend pauses the
 * upstream while the queue is full instead of buffering without bound). */
static void test_stream_slow_reader(void **state)
{
    fixture *f = *state;
    configure_managed(f->s, "openai");
    char text[4096] = "";
    for (int i = 0; i < 300; i++) {
        char w[16];
        snprintf(w, sizeof w, "%sw%d", i ? " " : "", i);
        strcat(text, w);
    }
    char step[4400];
    snprintf(step, sizeof step, "[{\"provider\":\"openai\",\"text\":\"%s\"}]", text);
    script(step);
    llmux_request *req = hello("openai", "gpt-4.1-mini");
    llmux_stream *st = NULL;
    llmux_error err = LLMUX_ERROR_INIT;
    assert_int_equal(llmux_generate_chat_completion_stream(f->s, req, &st, &err), LLMUX_OK);
    tu_sleep_ms(200); /* let the queue fill up */
    llmux_chunk ch;
    char got[4096] = "";
    size_t pieces = 0;
    while (llmux_stream_next(st, &ch, 5.0) == LLMUX_OK && ch.kind != LLMUX_CHUNK_END)
        if (ch.kind == LLMUX_CHUNK_TEXT) {
            strcat(got, ch.text);
            pieces++;
        }
    assert_int_equal(llmux_stream_error(st)->code, LLMUX_OK);
    assert_string_equal(got, text);
    assert_int_equal(pieces, 300);
    llmux_stream_free(st);
    llmux_request_free(req);
    llmux_error_free(&err);
}

/* ---- connections: reuse and warm-up -------------------------------------------------------- */

static void test_connection_reuse(void **state)
{
    fixture *f = *state;
    configure_managed(f->s, "openai");
    wait_requests(1); /* the warm-up's connection is idle again */
    llmux_request *req = hello("openai", "gpt-4.1-mini");
    llmux_error err = LLMUX_ERROR_INIT;
    for (int i = 0; i < 3; i++) {
        llmux_response *resp = NULL;
        assert_int_equal(llmux_generate_chat_completion(f->s, req, &resp, &err), LLMUX_OK);
        llmux_response_free(resp);
    }
    size_t n;
    cJSON *log = completions_log(&n);
    assert_int_equal(n, 3);
    double c0 = num_of(cJSON_GetArrayItem(log, 0), "connection_id");
    assert_true(c0 > 0);
    assert_true(num_of(cJSON_GetArrayItem(log, 1), "connection_id") == c0);
    assert_true(num_of(cJSON_GetArrayItem(log, 2), "connection_id") == c0);
    cJSON_Delete(log);
    if (proxy_mode) { /* client side: one connection to the proxy for all four requests */
        llmux__client_stats s = llmux__client_stats_get(f->client);
        assert_int_equal(s.requests, 4);
        assert_int_equal(s.connections, 1);
    }
    llmux_request_free(req);
    llmux_error_free(&err);
}

static void test_warmup_on_first_configure(void **state)
{
    fixture *f = *state;
    configure_managed(f->s, "anthropic");
    wait_requests(1);
    cJSON *log = tu_mock_requests(mock_port);
    const cJSON *reqs = cJSON_GetObjectItemCaseSensitive(log, "requests");
    assert_int_equal(cJSON_GetArraySize(reqs), 1);
    const cJSON *w = cJSON_GetArrayItem(reqs, 0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(w, "method")->valuestring, "GET");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(w, "path")->valuestring, "/v1/models");
    assert_string_equal(header_of(w, "x-api-key"), MANAGED_ANTHROPIC);
    double warm_conn = num_of(w, "connection_id");
    cJSON_Delete(log);
    /* configuring again does not warm again */
    configure_managed(f->s, "anthropic");
    tu_sleep_ms(50);
    assert_int_equal(count_all_requests(), 1);
    /* the first real turn rides the warmed connection */
    llmux_request *req = hello("anthropic", "claude-haiku-4-5");
    llmux_response *resp = NULL;
    assert_int_equal(llmux_generate_chat_completion(f->s, req, &resp, NULL), LLMUX_OK);
    size_t n;
    log = completions_log(&n);
    assert_int_equal(n, 1);
    assert_true(num_of(cJSON_GetArrayItem(log, 0), "connection_id") == warm_conn);
    cJSON_Delete(log);
    llmux_response_free(resp);
    llmux_request_free(req);
}

/* ---- send_and_wait and sessions (seed 001) -------------------------------------------------- */

static void test_send_and_wait_history(void **state)
{
    fixture *f = *state;
    configure_managed(f->s, "openai");
    llmux_error err = LLMUX_ERROR_INIT;
    llmux_response *resp = NULL;
    assert_int_equal(llmux_send_and_wait(f->s, "hi", 5, &resp, &err), LLMUX_EINVALID_REQUEST);
    assert_non_null(strstr(err.message, "llmux_session_set_model"));
    llmux_request *tmpl = llmux_request_new("openai", "gpt-4o");
    llmux_params_add_message(llmux_request_params(tmpl), "system", "You are terse.");
    assert_int_equal(llmux_session_set_request(f->s, tmpl), LLMUX_OK);
    llmux_request_free(tmpl);

    script("[{\"provider\":\"openai\",\"text\":\"First answer.\"},"
           "{\"provider\":\"openai\",\"text\":\"Second answer.\"}]");
    assert_int_equal(llmux_send_and_wait(f->s, "Question one?", 5, &resp, &err), LLMUX_OK);
    assert_string_equal(llmux_response_text(resp), "First answer.");
    llmux_response_free(resp);
    assert_int_equal(llmux_session_history_count(f->s), 2);
    assert_int_equal(llmux_send_and_wait(f->s, "Question two?", 5, NULL, &err), LLMUX_OK);
    assert_int_equal(llmux_session_history_count(f->s), 4);
    char *role, *content;
    assert_int_equal(llmux_session_history_turn(f->s, 3, &role, &content), LLMUX_OK);
    assert_string_equal(role, "assistant");
    assert_string_equal(content, "Second answer.");
    llmux_free(role);
    llmux_free(content);
    assert_int_equal(llmux_session_history_turn(f->s, 4, &role, &content), LLMUX_EINVALID_REQUEST);
    /* the second request carried the system prompt and the whole conversation */
    size_t n;
    cJSON *log = completions_log(&n);
    assert_int_equal(n, 2);
    cJSON *body = cJSON_Parse(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(log, 1), "body")->valuestring);
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(body, "messages");
    assert_int_equal(cJSON_GetArraySize(msgs), 4);
    static const char *const want[][2] = {{"system", "You are terse."},
                                          {"user", "Question one?"},
                                          {"assistant", "First answer."},
                                          {"user", "Question two?"}};
    for (int i = 0; i < 4; i++) {
        const cJSON *m = cJSON_GetArrayItem(msgs, i);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(m, "role")->valuestring, want[i][0]);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(m, "content")->valuestring,
                            want[i][1]);
    }
    cJSON_Delete(body);
    cJSON_Delete(log);
    llmux_session_clear_history(f->s);
    assert_int_equal(llmux_session_history_count(f->s), 0);
    llmux_error_free(&err);
}

static void test_send_and_wait_timeout(void **state)
{
    fixture *f = *state;
    configure_managed(f->s, "anthropic");
    assert_int_equal(llmux_session_set_model(f->s, NULL, "anthropic/claude-haiku-4-5"), LLMUX_OK);
    script("[{\"provider\":\"anthropic\",\"hang\":true}]");
    llmux_error err = LLMUX_ERROR_INIT;
    llmux_response *resp = NULL;
    double t0 = tu_now_ms();
    assert_int_equal(llmux_send_and_wait(f->s, "Are you there?", 0.3, &resp, &err), LLMUX_ETIMEOUT);
    double took = tu_now_ms() - t0;
    assert_true(took >= 290 && took < 2000);
    assert_null(resp);
    assert_non_null(strstr(err.message, "0.3 s"));
    assert_int_equal(llmux_session_history_count(f->s), 0);
    /* the hung upstream request was abandoned */
    bool closed = false;
    for (int i = 0; i < 100 && !closed; i++) {
        size_t n;
        cJSON *log = completions_log(&n);
        closed = cJSON_IsTrue(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(log, 0), "client_closed"));
        cJSON_Delete(log);
        if (!closed)
            tu_sleep_ms(10);
    }
    assert_true(closed);
    llmux_error_free(&err);
}

typedef struct turn_job {
    llmux_session *s;
    const char *prompt;
    llmux_code rc;
    char provider[16];
    char text[256];
} turn_job;

static void *turn_thread(void *arg)
{
    turn_job *j = arg;
    llmux_response *resp = NULL;
    j->rc = llmux_send_and_wait(j->s, j->prompt, 10, &resp, NULL);
    if (j->rc == LLMUX_OK) {
        snprintf(j->provider, sizeof j->provider, "%s", llmux_response_provider(resp));
        snprintf(j->text, sizeof j->text, "%s", llmux_response_text(resp));
    }
    llmux_response_free(resp);
    return NULL;
}

/* Several sessions with different providers at once, from several threads. */
static void test_several_sessions(void **state)
{
    fixture *f = *state;
    llmux_session *code = NULL, *analysis = NULL;
    assert_int_equal(llmux_session_new(f->client, NULL, &code), LLMUX_OK);
    assert_int_equal(llmux_session_new(f->client, NULL, &analysis), LLMUX_OK);
    assert_string_not_equal(llmux_session_id(code), llmux_session_id(analysis));
    llmux_error err = LLMUX_ERROR_INIT;
    llmux_provider_options openai_key = {.api_key = "sk-code-session"};
    assert_int_equal(llmux_configure_provider(code, "openai", &openai_key, &err), LLMUX_OK);
    configure_managed(analysis, "anthropic");
    llmux_session_set_model(code, "openai", "gpt-4o");
    llmux_session_set_model(analysis, "anthropic", "claude-sonnet-4-20250514");
    /* each session sees only its own providers */
    llmux_request *req = hello("anthropic", "claude-haiku-4-5");
    llmux_response *resp = NULL;
    assert_int_equal(llmux_generate_chat_completion(code, req, &resp, &err),
                     LLMUX_EPROVIDER_NOT_CONFIGURED);
    llmux_request_free(req);

    turn_job jobs[4] = {{code, "Write a C function", 0, "", ""},
                        {analysis, "Analyse it", 0, "", ""},
                        {code, "Now test it", 0, "", ""},
                        {analysis, "Any risks?", 0, "", ""}};
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, turn_thread, &jobs[i]);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(jobs[i].rc, LLMUX_OK);
        assert_string_equal(jobs[i].provider, i % 2 == 0 ? "openai" : "anthropic");
        assert_string_equal(jobs[i].text, LLMUX__MOCK_DEFAULT_TEXT);
    }
    assert_int_equal(llmux_session_history_count(code), 4);
    assert_int_equal(llmux_session_history_count(analysis), 4);
    /* the code session's key went with its requests only */
    size_t n;
    cJSON *log = completions_log(&n);
    assert_int_equal(n, 4);
    int with_key = 0;
    for (size_t i = 0; i < n; i++) {
        const char *auth = header_of(cJSON_GetArrayItem(log, (int)i), "authorization");
        if (auth && strcmp(auth, "Bearer sk-code-session") == 0)
            with_key++;
    }
    assert_int_equal(with_key, 2);
    cJSON_Delete(log);
    llmux_session_free(code);
    llmux_session_free(analysis);
    llmux_error_free(&err);
}

/* Session variables (the seeds' context.variables) feed configure_provider. */
static void test_session_variables(void **state)
{
    fixture *f = *state;
    assert_null(llmux_session_variable(f->s, "OPENAI_API_KEY"));
    assert_int_equal(llmux_session_set_variable(f->s, "OPENAI_API_KEY", "sk-var-1"), LLMUX_OK);
    assert_int_equal(llmux_session_set_variable(f->s, "OPENAI_API_KEY", "sk-var-2"), LLMUX_OK);
    assert_int_equal(llmux_session_set_variable(f->s, "REGION", "eu"), LLMUX_OK);
    assert_string_equal(llmux_session_variable(f->s, "OPENAI_API_KEY"), "sk-var-2");
    assert_string_equal(llmux_session_variable(f->s, "REGION"), "eu");
    assert_int_equal(llmux_session_set_variable(f->s, "", "x"), LLMUX_EINVALID_REQUEST);
    llmux_provider_options po = {.api_key = llmux_session_variable(f->s, "OPENAI_API_KEY")};
    assert_int_equal(llmux_configure_provider(f->s, "openai", &po, NULL), LLMUX_OK);
    llmux_response *resp = NULL;
    llmux_request *req = hello("openai", "gpt-4.1-mini");
    assert_int_equal(llmux_generate_chat_completion(f->s, req, &resp, NULL), LLMUX_OK);
    size_t n;
    cJSON *log = completions_log(&n);
    assert_string_equal(header_of(cJSON_GetArrayItem(log, 0), "authorization"), "Bearer sk-var-2");
    cJSON_Delete(log);
    assert_int_equal(llmux_session_set_variable(f->s, "REGION", NULL), LLMUX_OK);
    assert_null(llmux_session_variable(f->s, "REGION"));
    llmux_response_free(resp);
    llmux_request_free(req);
}

/* BYOK: Azure with the endpoint, and a custom OpenAI-compatible base_url. */
static void test_byok_azure_and_custom(void **state)
{
    fixture *f = *state;
    char custom[128];
    snprintf(custom, sizeof custom, "http://127.0.0.1:%d/custom/v1", mock_port);
    llmux_provider_options az = {
        .api_key = "az-customer-key", .base_url = url_azure, .api_version = "2024-02-15-preview"};
    llmux_provider_options oc = {.api_key = "sk-custom-endpoint", .base_url = custom};
    llmux_error err = LLMUX_ERROR_INIT;
    if (llmux_configure_provider(f->s, "azure", &az, &err) != LLMUX_OK)
        fail_msg("azure: %s", err.message);
    if (llmux_configure_provider(f->s, "openai", &oc, &err) != LLMUX_OK)
        fail_msg("custom: %s", err.message);
    llmux_response *resp = NULL;
    llmux_request *req = hello("azure", "gpt-4o");
    assert_int_equal(llmux_generate_chat_completion(f->s, req, &resp, &err), LLMUX_OK);
    assert_string_equal(llmux_response_provider(resp), "azure");
    llmux_response_free(resp);
    llmux_request_free(req);
    req = hello("openai", "your-model-name");
    assert_int_equal(llmux_generate_chat_completion(f->s, req, &resp, &err), LLMUX_OK);
    llmux_response_free(resp);
    llmux_request_free(req);
    size_t n;
    cJSON *log = completions_log(&n);
    assert_int_equal(n, 2);
    const cJSON *a = cJSON_GetArrayItem(log, 0), *o = cJSON_GetArrayItem(log, 1);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(a, "path")->valuestring,
                        "/openai/deployments/gpt-4o/chat/completions");
    assert_non_null(strstr(cJSON_GetObjectItemCaseSensitive(a, "query")->valuestring,
                           "api-version=2024-02-15-preview"));
    assert_string_equal(header_of(a, "api-key"), "az-customer-key");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "path")->valuestring,
                        "/custom/v1/chat/completions");
    assert_string_equal(header_of(o, "authorization"), "Bearer sk-custom-endpoint");
    cJSON_Delete(log);
    llmux_error_free(&err);
}

/* ---- mode-specific ------------------------------------------------------------------------------
 */

static void test_embedded_bad_keys_dir(void **state)
{
    (void)state;
    llmux_client_options o = {0};
    o.getenv_fn = NULL;
    setenv("LLMUX_KEYS_DIR", "/nonexistent/llmux-keys", 1);
    llmux_client *c = NULL;
    llmux_error err = LLMUX_ERROR_INIT;
    assert_int_equal(llmux_client_new(&o, &c, &err), LLMUX_EINVALID_REQUEST);
    assert_null(c);
    assert_non_null(strstr(err.message, "LLMUX_KEYS_DIR"));
    unsetenv("LLMUX_KEYS_DIR");
    llmux_error_free(&err);
}

static void test_embedded_is_default(void **state)
{
    (void)state;
    llmux_client *c = NULL;
    assert_int_equal(llmux_client_new(NULL, &c, NULL), LLMUX_OK);
    assert_true(llmux_client_is_embedded(c));
    llmux_session *s;
    assert_int_equal(llmux_session_new(c, "bad id with spaces", &s), LLMUX_EINVALID_REQUEST);
    assert_int_equal(llmux_session_new(c, "ok-id", &s), LLMUX_OK);
    assert_string_equal(llmux_session_id(s), "ok-id");
    llmux_session_free(s);
    llmux_client_free(c);
    llmux_client_free(NULL);
}

static void test_proxy_wrong_token(void **state)
{
    (void)state;
    llmux_client_options o = {.proxy_url = url_proxy, .proxy_token = "tok-wrong"};
    llmux_client *c = NULL;
    assert_int_equal(llmux_client_new(&o, &c, NULL), LLMUX_OK);
    assert_false(llmux_client_is_embedded(c));
    llmux_session *s;
    llmux_session_new(c, "s1", &s);
    llmux_error err = LLMUX_ERROR_INIT;
    llmux_provider_options po = {.managed = true};
    assert_int_equal(llmux_configure_provider(s, "openai", &po, &err), LLMUX_EUNAUTHORIZED);
    assert_null(strstr(err.message, "tok-wrong"));
    llmux_session_free(s);
    llmux_client_free(c);
    llmux_error_free(&err);
}

static void test_proxy_unreachable_and_bad_url(void **state)
{
    (void)state;
    llmux_client *c = NULL;
    llmux_error err = LLMUX_ERROR_INIT;
    llmux_client_options bad = {.proxy_url = "ftp://example"};
    assert_int_equal(llmux_client_new(&bad, &c, &err), LLMUX_EINVALID_REQUEST);
    assert_non_null(strstr(err.message, "proxy_url"));
    /* a port nobody listens on (the mock's port + 0 is taken; pick a closed one) */
    llmux_client_options o = {.proxy_url = "http://127.0.0.1:9", .connect_timeout_s = 1};
    assert_int_equal(llmux_client_new(&o, &c, &err), LLMUX_OK);
    llmux_session *s;
    llmux_session_new(c, "s1", &s);
    llmux_provider_options po = {.managed = true};
    assert_int_equal(llmux_configure_provider(s, "openai", &po, &err), LLMUX_EIO);
    assert_non_null(strstr(err.message, "127.0.0.1:9"));
    llmux_session_free(s);
    llmux_client_free(c);
    llmux_error_free(&err);
}

/* llmux_session_free says goodbye to the proxy (DELETE), even right before the client goes. */
static void test_proxy_session_free_deletes(void **state)
{
    (void)state;
    llmux_client *c = new_client();
    llmux_session *s;
    assert_int_equal(llmux_session_new(c, "bye-session", &s), LLMUX_OK);
    configure_managed(s, "openai");
    char url[160];
    snprintf(url, sizeof url, "%s/v1/sessions/bye-session/providers", url_proxy);
    const char *h[] = {"Authorization: Bearer " TOKEN, NULL};
    tu_response r;
    assert_int_equal(tu_http("GET", url, h, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"openai\""));
    tu_response_free(&r);
    llmux_session_free(s);
    llmux_client_free(c);
    assert_int_equal(tu_http("GET", url, h, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "\"openai\""));
    tu_response_free(&r);
}

static void test_proxy_managed_unavailable(void **state)
{
    fixture *f = *state;
    llmux_error err = LLMUX_ERROR_INIT;
    llmux_provider_options po = {.managed = true};
    assert_int_equal(llmux_configure_provider(f->s, "azure", &po, &err),
                     LLMUX_EMANAGED_KEY_UNAVAILABLE);
    llmux_error_free(&err);
}

#define MODE_TESTS                                                                                 \
    cmocka_unit_test_setup_teardown(test_managed_completion, fx_setup, fx_teardown),               \
        cmocka_unit_test_setup_teardown(test_json_form_and_customer_key, fx_setup, fx_teardown),   \
        cmocka_unit_test_setup_teardown(test_not_configured_makes_no_request, fx_setup,            \
                                        fx_teardown),                                              \
        cmocka_unit_test_setup_teardown(test_api_key_on_request_refused, fx_setup, fx_teardown),   \
        cmocka_unit_test_setup_teardown(test_configure_errors, fx_setup, fx_teardown),             \
        cmocka_unit_test_setup_teardown(test_retry_after_503, fx_setup, fx_teardown),              \
        cmocka_unit_test_setup_teardown(test_fallback_after_retries, fx_setup, fx_teardown),       \
        cmocka_unit_test_setup_teardown(test_all_failed_carries_attempts, fx_setup, fx_teardown),  \
        cmocka_unit_test_setup_teardown(test_distinct_causes, fx_setup, fx_teardown),              \
        cmocka_unit_test_setup_teardown(test_tool_call, fx_setup, fx_teardown),                    \
        cmocka_unit_test_setup_teardown(test_stream_sentences, fx_setup, fx_teardown),             \
        cmocka_unit_test_setup_teardown(test_stream_clean_and_fragments, fx_setup, fx_teardown),   \
        cmocka_unit_test_setup_teardown(test_stream_interrupted, fx_setup, fx_teardown),           \
        cmocka_unit_test_setup_teardown(test_stream_retry_before_first_chunk, fx_setup,            \
                                        fx_teardown),                                              \
        cmocka_unit_test_setup_teardown(test_stream_all_failed, fx_setup, fx_teardown),            \
        cmocka_unit_test_setup_teardown(test_stream_tool_call, fx_setup, fx_teardown),             \
        cmocka_unit_test_setup_teardown(test_stream_callbacks, fx_setup, fx_teardown),             \
        cmocka_unit_test_setup_teardown(test_stream_free_cancels, fx_setup, fx_teardown),          \
        cmocka_unit_test_setup_teardown(test_stream_free_from_on_end_and_early, fx_setup,          \
                                        fx_teardown),                                              \
        cmocka_unit_test_setup_teardown(test_concurrent_streams, fx_setup, fx_teardown),           \
        cmocka_unit_test_setup_teardown(test_stream_slow_reader, fx_setup, fx_teardown),           \
        cmocka_unit_test_setup_teardown(test_connection_reuse, fx_setup, fx_teardown),             \
        cmocka_unit_test_setup_teardown(test_warmup_on_first_configure, fx_setup, fx_teardown),    \
        cmocka_unit_test_setup_teardown(test_send_and_wait_history, fx_setup, fx_teardown),        \
        cmocka_unit_test_setup_teardown(test_send_and_wait_timeout, fx_setup, fx_teardown),        \
        cmocka_unit_test_setup_teardown(test_several_sessions, fx_setup, fx_teardown),             \
        cmocka_unit_test_setup_teardown(test_session_variables, fx_setup, fx_teardown),            \
        cmocka_unit_test_setup_teardown(test_byok_azure_and_custom, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest embedded[] = {
        MODE_TESTS,
        cmocka_unit_test(test_embedded_bad_keys_dir),
        cmocka_unit_test(test_embedded_is_default),
    };
    const struct CMUnitTest proxied[] = {
        MODE_TESTS,
        cmocka_unit_test(test_proxy_wrong_token),
        cmocka_unit_test(test_proxy_unreachable_and_bad_url),
        cmocka_unit_test_setup_teardown(test_proxy_managed_unavailable, fx_setup, fx_teardown),
        cmocka_unit_test(test_proxy_session_free_deletes),
    };
    int failed = cmocka_run_group_tests_name("embedded", embedded, setup_embedded, teardown);
    failed += cmocka_run_group_tests_name("proxy", proxied, setup_proxy, teardown);
    /* every key the client held was wiped and released */
    if (llmux__secret_live_count() != 0) {
        fprintf(stderr, "secrets still allocated: %zu\n", llmux__secret_live_count());
        failed++;
    }
    return failed;
}
