/* test_mock.c — `llmux mock` as a separate process: every provider endpoint's shapes against
 * ../shared/fixtures, stream event order and terminators, request checks (the fixtures'
 * own requests pass, broken ones get the provider's 400), keys, models lists, echo. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"
#include "mock/mock.h"
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static tu_proc mock;       /* default options */
static tu_proc keyed_mock; /* --echo and one key per provider */

static const char *const OPENAI_AUTH[] = {"Authorization: Bearer sk-test", NULL};
static const char *const AZURE_AUTH[] = {"api-key: az-test", NULL};
static const char *const ANTHROPIC_AUTH[] = {"x-api-key: ak-test", "anthropic-version: 2023-06-01",
                                             NULL};
static const char *const GOOGLE_AUTH[] = {"x-goog-api-key: g-test", NULL};

#define OPENAI_PATH "/v1/chat/completions"
#define AZURE_PATH "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
#define ANTHROPIC_PATH "/v1/messages"
#define GOOGLE_PATH "/v1beta/models/gemini-2.0-flash:generateContent"
#define GOOGLE_STREAM_PATH "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"

static const char OPENAI_HELLO[] =
    "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello there\"}]}";
static const char ANTHROPIC_HELLO[] = "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":256,"
                                      "\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}";
static const char GOOGLE_HELLO[] =
    "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Hello\"}]}]}";

static int group_setup(void **state)
{
    (void)state;
    if (tu_mock_start(&mock, NULL) != 0)
        return -1;
    const char *const args[] = {"--echo",         "--key", "openai=sk-right",    "--key",
                                "azure=az-right", "--key", "anthropic=ak-right", "--key",
                                "google=g-right", NULL};
    if (tu_mock_start(&keyed_mock, args) != 0) {
        tu_proc_free(&mock);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    int a = tu_proc_stop(&mock, 3000);
    int b = tu_proc_stop(&keyed_mock, 3000);
    tu_proc_free(&mock);
    tu_proc_free(&keyed_mock);
    /* a clean stop on SIGTERM exits 0 */
    return a == 0 && b == 0 ? 0 : -1;
}

static int reset(void **state)
{
    (void)state;
    return tu_mock_reset(mock.port) == 200 && tu_mock_reset(keyed_mock.port) == 200 ? 0 : -1;
}

/* POSTs to the default mock; asserts the transfer completed. */
static void post(int port, const char *path, const char *const *headers, const char *body,
                 tu_response *r)
{
    char url[512];
    int rc = tu_http("POST", tu_url(url, sizeof url, port, path), headers, body, r);
    if (rc != 0)
        fail_msg("POST %s: curl %d %s", path, rc, r->error);
}

static cJSON *fixture(const char *rel)
{
    char *text = tu_read_shared(rel, NULL);
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!j)
        fail_msg("fixture %s is not JSON", rel);
    return j;
}

static void parse_fixture_sse(const char *rel, tu_sse *out)
{
    size_t len;
    char *text = tu_read_shared(rel, &len);
    assert_int_equal(tu_sse_parse(text, len, out), 0);
    free(text);
}

static void assert_shape(const cJSON *want, const cJSON *got, const char *const ignore[],
                         const char *what)
{
    char why[512];
    if (!tu_json_same_shape(want, got, ignore, why, sizeof why)) {
        char *g = got ? cJSON_PrintUnformatted(got) : NULL;
        fail_msg("%s: shape differs from the fixture: %s\n  got: %.600s", what, why,
                 g ? g : "(null)");
    }
}

static cJSON *body_json(const tu_response *r)
{
    cJSON *j = tu_json(r);
    if (!j)
        fail_msg("body is not JSON: %.300s", r->body);
    return j;
}

static const char *str_at(const cJSON *obj, const char *a, const char *b)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, a);
    if (b)
        it = cJSON_GetObjectItemCaseSensitive(it, b);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

static double num_at(const cJSON *obj, const char *a, const char *b)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, a);
    if (b)
        it = cJSON_GetObjectItemCaseSensitive(it, b);
    if (!cJSON_IsNumber(it))
        fail_msg("%s.%s is not a number", a, b ? b : "");
    return it->valuedouble;
}

static void script(int port, const char *json)
{
    char why[512];
    int status = tu_mock_script(port, json, why, sizeof why);
    if (status != 200)
        fail_msg("script refused (%d): %s", status, why);
}

/* ---------------------------------------------------------------------------------- */
/* OpenAI                                                                               */
/* ---------------------------------------------------------------------------------- */

static void test_openai_text_matches_fixture(void **state)
{
    (void)state;
    tu_response r;
    post(mock.port, OPENAI_PATH, OPENAI_AUTH, OPENAI_HELLO, &r);
    assert_int_equal(r.status, 200);
    char ct[128];
    assert_non_null(tu_header(&r, "content-type", ct, sizeof ct));
    assert_non_null(strstr(ct, "application/json"));
    cJSON *got = body_json(&r);
    cJSON *want = fixture("fixtures/openai/chat_completion_text.json");
    assert_shape(want, got, NULL, "openai chat.completion");
    assert_string_equal(str_at(got, "object", NULL), "chat.completion");
    assert_string_equal(str_at(got, "model", NULL), "gpt-4o-mini");
    assert_true(strncmp(str_at(got, "id", NULL), "chatcmpl-", 9) == 0);
    const cJSON *choice = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(got, "choices"), 0);
    assert_string_equal(str_at(choice, "message", "content"), LLMUX__MOCK_DEFAULT_TEXT);
    assert_string_equal(str_at(choice, "finish_reason", NULL), "stop");
    /* usage is counted: a longer prompt costs more tokens, totals add up */
    double prompt = num_at(got, "usage", "prompt_tokens");
    double completion = num_at(got, "usage", "completion_tokens");
    assert_true(prompt >= 1);
    assert_true(completion == (double)llmux__mock_count_tokens(LLMUX__MOCK_DEFAULT_TEXT));
    assert_true(num_at(got, "usage", "total_tokens") == prompt + completion);
    tu_response r2;
    post(mock.port, OPENAI_PATH, OPENAI_AUTH,
         "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"system\",\"content\":\"You are a "
         "very careful assistant that answers briefly\"},{\"role\":\"user\",\"content\":"
         "\"Hello there, how are you doing this fine morning?\"}]}",
         &r2);
    cJSON *got2 = body_json(&r2);
    assert_true(num_at(got2, "usage", "prompt_tokens") > prompt + 10);
    cJSON_Delete(got2);
    tu_response_free(&r2);
    cJSON_Delete(want);
    cJSON_Delete(got);
    tu_response_free(&r);
}

static void test_openai_tool_call_matches_fixture(void **state)
{
    (void)state;
    script(mock.port, "[{\"tool_call\":{\"name\":\"get_weather\",\"arguments\":"
                      "{\"city\":\"Paris\"}}}]");
    char *req = tu_read_shared("fixtures/openai/chat_request_tools.json", NULL);
    tu_response r;
    post(mock.port, OPENAI_PATH, OPENAI_AUTH, req, &r);
    free(req);
    assert_int_equal(r.status, 200);
    cJSON *got = body_json(&r);
    cJSON *want = fixture("fixtures/openai/chat_completion_tool_call.json");
    assert_shape(want, got, NULL, "openai tool call");
    const cJSON *choice = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(got, "choices"), 0);
    assert_string_equal(str_at(choice, "finish_reason", NULL), "tool_calls");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(choice, "message");
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(msg, "content")));
    const cJSON *call = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(msg, "tool_calls"), 0);
    assert_true(strncmp(str_at(call, "id", NULL), "call_", 5) == 0);
    assert_string_equal(str_at(call, "function", "name"), "get_weather");
    assert_string_equal(str_at(call, "function", "arguments"), "{\"city\":\"Paris\"}");
    cJSON_Delete(want);
    cJSON_Delete(got);
    tu_response_free(&r);
}

/* OpenAI pads chunks with a random `obfuscation` string; the mock does not. */
static const char *const stream_ignore[] = {"obfuscation", NULL};

/* Checks an OpenAI/Azure stream: order, terminators, usage only in the usage chunk; returns
 * the concatenated content. */
static char *check_openai_stream(const tu_sse *s, bool azure, bool usage, const char *fixture_rel)
{
    assert_true(s->count >= 4);
    assert_false(s->partial);
    assert_string_equal(s->events[s->count - 1].data, "[DONE]");
    tu_sse want;
    parse_fixture_sse(fixture_rel, &want);
    cJSON *want_role = cJSON_Parse(want.events[azure ? 1 : 0].data);
    cJSON *want_content = cJSON_Parse(want.events[azure ? 2 : 1].data);
    cJSON *want_usage = usage ? cJSON_Parse(want.events[want.count - 2].data) : NULL;
    /* the fixtures were recorded with include_usage: without it there is no usage field */
    static const char *const no_usage_ignore[] = {"obfuscation", "usage", NULL};
    const char *const *ignore = usage ? stream_ignore : no_usage_ignore;
    size_t first = 0;
    if (azure) {
        cJSON *pre = cJSON_Parse(s->events[0].data);
        cJSON *want_pre = cJSON_Parse(want.events[0].data);
        assert_shape(want_pre, pre, NULL, "azure prompt-filter preamble");
        assert_string_equal(str_at(pre, "id", NULL), "");
        cJSON_Delete(pre);
        cJSON_Delete(want_pre);
        first = 1;
    }
    char *text = calloc(1, 4096);
    size_t finish_at = 0;
    for (size_t i = first; i + 1 < s->count; i++) {
        assert_null(s->events[i].event);
        cJSON *chunk = cJSON_Parse(s->events[i].data);
        if (!chunk)
            fail_msg("event %zu is not JSON: %s", i, s->events[i].data);
        assert_string_equal(str_at(chunk, "object", NULL), "chat.completion.chunk");
        const cJSON *choices = cJSON_GetObjectItemCaseSensitive(chunk, "choices");
        const cJSON *choice = cJSON_GetArrayItem(choices, 0);
        const cJSON *delta = cJSON_GetObjectItemCaseSensitive(choice, "delta");
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(chunk, "usage");
        if (i == first) {
            assert_shape(want_role, chunk, ignore, "role chunk");
            assert_string_equal(str_at(delta, "role", NULL), "assistant");
        } else if (cJSON_GetArraySize(choices) == 0) {
            assert_true(usage);
            assert_int_equal(i, s->count - 2); /* the usage chunk comes right before [DONE] */
            assert_shape(want_usage, chunk, stream_ignore, "usage chunk");
            assert_true(cJSON_IsObject(u));
        } else {
            const char *fr = str_at(choice, "finish_reason", NULL);
            if (fr) {
                assert_int_equal(finish_at, 0);
                finish_at = i;
            } else {
                assert_int_equal(finish_at, 0); /* no content after the finish chunk */
                assert_shape(want_content, chunk, ignore, "content chunk");
                strcat(text, str_at(delta, "content", NULL));
            }
        }
        if (usage && cJSON_GetArraySize(choices) > 0)
            assert_true(cJSON_IsNull(u));
        if (!usage)
            assert_null(u);
        cJSON_Delete(chunk);
    }
    assert_true(finish_at > 0);
    cJSON_Delete(want_role);
    cJSON_Delete(want_content);
    cJSON_Delete(want_usage);
    tu_sse_free(&want);
    return text;
}

static void test_openai_stream_order_and_usage(void **state)
{
    (void)state;
    tu_response r;
    post(mock.port, OPENAI_PATH, OPENAI_AUTH,
         "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
         "\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}",
         &r);
    assert_int_equal(r.status, 200);
    char ct[128];
    assert_non_null(tu_header(&r, "content-type", ct, sizeof ct));
    assert_non_null(strstr(ct, "text/event-stream"));
    tu_sse s;
    assert_int_equal(tu_sse_parse(r.body, r.body_len, &s), 0);
    char *text = check_openai_stream(&s, false, true, "fixtures/openai/chat_stream_text.sse");
    assert_string_equal(text, LLMUX__MOCK_DEFAULT_TEXT);
    free(text);
    tu_sse_free(&s);
    tu_response_free(&r);

    /* without include_usage: no usage chunk and no usage field */
    post(mock.port, OPENAI_PATH, OPENAI_AUTH,
         "{\"model\":\"gpt-4o-mini\",\"stream\":true,"
         "\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}",
         &r);
    assert_int_equal(tu_sse_parse(r.body, r.body_len, &s), 0);
    text = check_openai_stream(&s, false, false, "fixtures/openai/chat_stream_text.sse");
    assert_string_equal(text, LLMUX__MOCK_DEFAULT_TEXT);
    free(text);
    tu_sse_free(&s);
    tu_response_free(&r);
}

static void test_openai_stream_tool_call(void **state)
{
    (void)state;
    script(mock.port, "[{\"tool_call\":{\"name\":\"get_weather\",\"arguments\":"
                      "{\"city\":\"Paris\",\"unit\":\"celsius\"}}}]");
    char *req = tu_read_shared("fixtures/openai/chat_stream_request_tools.json", NULL);
    tu_response r;
    post(mock.port, OPENAI_PATH, OPENAI_AUTH, req, &r);
    free(req);
    assert_int_equal(r.status, 200);
    tu_sse s, want;
    assert_int_equal(tu_sse_parse(r.body, r.body_len, &s), 0);
    parse_fixture_sse("fixtures/openai/chat_stream_tool_call.sse", &want);
    assert_string_equal(s.events[s.count - 1].data, "[DONE]");
    char args[512] = "";
    const char *finish = NULL;
    cJSON *last_finish = NULL;
    for (size_t i = 0; i + 1 < s.count; i++) {
        cJSON *chunk = cJSON_Parse(s.events[i].data);
        assert_non_null(chunk);
        const cJSON *choice =
            cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(chunk, "choices"), 0);
        const cJSON *calls = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(choice, "delta"), "tool_calls");
        const cJSON *call = cJSON_GetArrayItem(calls, 0);
        if (i == 0) {
            cJSON *w = cJSON_Parse(want.events[0].data);
            assert_shape(w, chunk, stream_ignore, "first tool-call chunk");
            cJSON_Delete(w);
            assert_string_equal(str_at(call, "function", "name"), "get_weather");
            assert_true(strncmp(str_at(call, "id", NULL), "call_", 5) == 0);
        } else if (call) {
            cJSON *w = cJSON_Parse(want.events[1].data);
            assert_shape(w, chunk, stream_ignore, "tool-call argument chunk");
            cJSON_Delete(w);
            assert_null(cJSON_GetObjectItemCaseSensitive(call, "id"));
        }
        if (call)
            strcat(args, str_at(call, "function", "arguments"));
        if (str_at(choice, "finish_reason", NULL)) {
            cJSON_Delete(last_finish);
            last_finish = cJSON_Duplicate(choice, 1);
        }
        cJSON_Delete(chunk);
    }
    assert_non_null(last_finish);
    finish = str_at(last_finish, "finish_reason", NULL);
    assert_string_equal(finish, "tool_calls");
    assert_string_equal(args, "{\"city\":\"Paris\",\"unit\":\"celsius\"}");
    cJSON_Delete(last_finish);
    tu_sse_free(&want);
    tu_sse_free(&s);
    tu_response_free(&r);
}

static void test_openai_under_custom_prefix(void **state)
{
    (void)state;
    static const char *const paths[] = {"/custom/prefix/v1/chat/completions",
                                        "/v1beta/openai/chat/completions"};
    for (size_t i = 0; i < 2; i++) {
        tu_response r;
        post(mock.port, paths[i], OPENAI_AUTH, OPENAI_HELLO, &r);
        assert_int_equal(r.status, 200);
        cJSON *got = body_json(&r);
        assert_string_equal(str_at(got, "object", NULL), "chat.completion");
        cJSON_Delete(got);
        tu_response_free(&r);
    }
    cJSON *log = tu_mock_requests(mock.port);
    const cJSON *reqs = cJSON_GetObjectItemCaseSensitive(log, "requests");
    assert_int_equal(cJSON_GetArraySize(reqs), 2);
    assert_string_equal(str_at(cJSON_GetArrayItem(reqs, 0), "provider", NULL), "openai");
    assert_string_equal(str_at(cJSON_GetArrayItem(reqs, 1), "path", NULL),
                        "/v1beta/openai/chat/completions");
    cJSON_Delete(log);
}

/* ---------------------------------------------------------------------------------- */
/* Azure                                                                                */
/* ---------------------------------------------------------------------------------- */

static void test_azure_text_and_stream(void **state)
{
    (void)state;
    char *req = tu_read_shared("fixtures/azure/chat_request_text.json", NULL);
    tu_response r;
    post(mock.port, AZURE_PATH, AZURE_AUTH, req, &r);
    free(req);
    assert_int_equal(r.status, 200);
    cJSON *got = body_json(&r);
    cJSON *want = fixture("fixtures/azure/chat_completion_text.json");
    /* Azure adds protected_material_* filters on some models only */
    static const char *const ignore[] = {"protected_material_code", "protected_material_text",
                                         NULL};
    assert_shape(want, got, ignore, "azure chat.completion");
    assert_string_equal(str_at(got, "model", NULL), "gpt-4o"); /* the deployment */
    cJSON_Delete(want);
    cJSON_Delete(got);
    tu_response_free(&r);

    post(mock.port, AZURE_PATH, AZURE_AUTH,
         "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"stream\":true,"
         "\"stream_options\":{\"include_usage\":true}}",
         &r);
    assert_int_equal(r.status, 200);
    tu_sse s;
    assert_int_equal(tu_sse_parse(r.body, r.body_len, &s), 0);
    char *text = check_openai_stream(&s, true, true, "fixtures/azure/chat_stream_text_usage.sse");
    assert_string_equal(text, LLMUX__MOCK_DEFAULT_TEXT);
    free(text);
    tu_sse_free(&s);
    tu_response_free(&r);

    /* the v1 surface: no api-version, model in the body */
    post(mock.port, "/openai/v1/chat/completions", AZURE_AUTH, OPENAI_HELLO, &r);
    assert_int_equal(r.status, 200);
    tu_response_free(&r);
}

static void test_azure_requires_api_version_and_key(void **state)
{
    (void)state;
    tu_response r;
    post(mock.port, "/openai/deployments/gpt-4o/chat/completions", AZURE_AUTH, OPENAI_HELLO, &r);
    assert_int_equal(r.status, 404);
    cJSON *got = body_json(&r);
    assert_string_equal(str_at(got, "error", "code"), "404");
    cJSON_Delete(got);
    tu_response_free(&r);

    post(mock.port, AZURE_PATH, NULL, OPENAI_HELLO, &r);
    assert_int_equal(r.status, 401);
    got = body_json(&r);
    cJSON *want = fixture("fixtures/azure/error_401.json");
    assert_shape(want, got, NULL, "azure 401");
    assert_string_equal(str_at(got, "error", "code"), "401");
    cJSON_Delete(want);
    cJSON_Delete(got);
    tu_response_free(&r);
}

/* ---------------------------------------------------------------------------------- */
/* Anthropic                                                                            */
/* ---------------------------------------------------------------------------------- */

static void test_anthropic_text_and_tool_use(void **state)
{
    (void)state;
    tu_response r;
    post(mock.port, ANTHROPIC_PATH, ANTHROPIC_AUTH, ANTHROPIC_HELLO, &r);
    assert_int_equal(r.status, 200);
    cJSON *got = body_json(&r);
    cJSON *want = fixture("fixtures/anthropic/messages_text.json");
    static const char *const ignore[] = {"cache_creation", "inference_geo", NULL};
    assert_shape(want, got, ignore, "anthropic message");
    assert_true(strncmp(str_at(got, "id", NULL), "msg_01", 6) == 0);
    assert_string_equal(str_at(got, "stop_reason", NULL), "end_turn");
    const cJSON *block = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(got, "content"), 0);
    assert_string_equal(str_at(block, "text", NULL), LLMUX__MOCK_DEFAULT_TEXT);
    assert_true(num_at(got, "usage", "output_tokens") ==
                (double)llmux__mock_count_tokens(LLMUX__MOCK_DEFAULT_TEXT));
    cJSON_Delete(want);
    cJSON_Delete(got);
    tu_response_free(&r);

    script(mock.port, "[{\"provider\":\"anthropic\",\"tool_call\":{\"arguments\":"
                      "{\"city\":\"Paris\"}}}]");
    char *req = tu_read_shared("fixtures/anthropic/messages_request_tools.json", NULL);
    post(mock.port, ANTHROPIC_PATH, ANTHROPIC_AUTH, req, &r);
    free(req);
    assert_int_equal(r.status, 200);
    got = body_json(&r);
    want = fixture("fixtures/anthropic/messages_tool_use.json");
    assert_shape(want, got, ignore, "anthropic tool_use");
    assert_string_equal(str_at(got, "stop_reason", NULL), "tool_use");
    block = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(got, "content"), 0);
    assert_string_equal(str_at(block, "type", NULL), "tool_use");
    assert_string_equal(str_at(block, "name", NULL), "get_weather"); /* the first offered tool */
    assert_true(strncmp(str_at(block, "id", NULL), "toolu_01", 8) == 0);
    assert_string_equal(str_at(block, "input", "city"), "Paris");
    cJSON_Delete(want);
    cJSON_Delete(got);
    tu_response_free(&r);
}

/* Finds the first fixture event named `name`. */
static cJSON *fixture_event(const tu_sse *s, const char *name)
{
    for (size_t i = 0; i < s->count; i++)
        if (s->events[i].event && strcmp(s->events[i].event, name) == 0)
            return cJSON_Parse(s->events[i].data);
    fail_msg("fixture has no %s event", name);
    return NULL;
}

static void test_anthropic_stream_sequence(void **state)
{
    (void)state;
    tu_response r;
    post(mock.port, ANTHROPIC_PATH, ANTHROPIC_AUTH,
         "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":256,\"stream\":true,"
         "\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}",
         &r);
    assert_int_equal(r.status, 200);
    tu_sse s, want;
    assert_int_equal(tu_sse_parse(r.body, r.body_len, &s), 0);
    parse_fixture_sse("fixtures/anthropic/messages_stream_text.sse", &want);
    static const char *const ignore[] = {"cache_creation",
                                         "inference_geo",
                                         "input_tokens",
                                         "cache_creation_input_tokens",
                                         "cache_read_input_tokens",
                                         NULL};
    /* the order the API documents */
    static const char *const head[] = {"message_start", "content_block_start", "ping"};
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(s.events[i].event, head[i]);
    assert_string_equal(s.events[s.count - 1].event, "message_stop");
    assert_string_equal(s.events[s.count - 2].event, "message_delta");
    assert_string_equal(s.events[s.count - 3].event, "content_block_stop");
    char text[1024] = "";
    for (size_t i = 0; i < s.count; i++) {
        cJSON *ev = cJSON_Parse(s.events[i].data);
        assert_non_null(ev);
        /* every event's name is its JSON type */
        assert_string_equal(str_at(ev, "type", NULL), s.events[i].event);
        cJSON *w = fixture_event(&want, s.events[i].event);
        assert_shape(w, ev, ignore, s.events[i].event);
        cJSON_Delete(w);
        if (i >= 3 && i < s.count - 3) {
            assert_string_equal(s.events[i].event, "content_block_delta");
            strcat(text, str_at(ev, "delta", "text"));
        }
        if (strcmp(s.events[i].event, "message_delta") == 0) {
            assert_string_equal(str_at(ev, "delta", "stop_reason"), "end_turn");
            assert_true(num_at(ev, "usage", "output_tokens") ==
                        (double)llmux__mock_count_tokens(LLMUX__MOCK_DEFAULT_TEXT));
        }
        cJSON_Delete(ev);
    }
    assert_string_equal(text, LLMUX__MOCK_DEFAULT_TEXT);
    tu_sse_free(&want);
    tu_sse_free(&s);
    tu_response_free(&r);
}

static void test_anthropic_stream_tool_use(void **state)
{
    (void)state;
    script(mock.port, "[{\"tool_call\":{\"name\":\"get_weather\",\"arguments\":"
                      "{\"city\":\"Paris\",\"days\":3}}}]");
    cJSON *req = fixture("fixtures/anthropic/messages_request_tools.json");
    cJSON_ReplaceItemInObjectCaseSensitive(req, "stream", cJSON_CreateTrue());
    char *body = cJSON_PrintUnformatted(req);
    tu_response r;
    post(mock.port, ANTHROPIC_PATH, ANTHROPIC_AUTH, body, &r);
    free(body);
    cJSON_Delete(req);
    assert_int_equal(r.status, 200);
    tu_sse s, want;
    assert_int_equal(tu_sse_parse(r.body, r.body_len, &s), 0);
    parse_fixture_sse("fixtures/anthropic/messages_stream_tool_use.sse", &want);
    char json[512] = "";
    bool saw_start = false;
    for (size_t i = 0; i < s.count; i++) {
        cJSON *ev = cJSON_Parse(s.events[i].data);
        assert_non_null(ev);
        const cJSON *cb = cJSON_GetObjectItemCaseSensitive(ev, "content_block");
        if (cb && strcmp(str_at(cb, "type", NULL), "tool_use") == 0) {
            /* the fixture's tool_use block start is its 14th event */
            cJSON *w = cJSON_Parse(want.events[13].data);
            assert_shape(w, ev, NULL, "tool_use content_block_start");
            cJSON_Delete(w);
            assert_string_equal(str_at(cb, "name", NULL), "get_weather");
            saw_start = true;
        }
        const char *partial = str_at(ev, "delta", "partial_json");
        if (partial)
            strcat(json, partial);
        if (strcmp(s.events[i].event, "message_delta") == 0)
            assert_string_equal(str_at(ev, "delta", "stop_reason"), "tool_use");
        cJSON_Delete(ev);
    }
    assert_true(saw_start);
    assert_string_equal(json, "{\"city\":\"Paris\",\"days\":3}");
    assert_string_equal(s.events[s.count - 1].event, "message_stop");
    tu_sse_free(&want);
    tu_sse_free(&s);
    tu_response_free(&r);
}

/* ---------------------------------------------------------------------------------- */
/* Google                                                                               */
/* ---------------------------------------------------------------------------------- */

static void test_google_text_and_function_call(void **state)
{
    (void)state;
    /* args hold the call's own data; thought fields come from thinking models only */
    static const char *const ignore[] = {"thoughtSignature", "thoughtsTokenCount", "finishMessage",
                                         "args", NULL};
    tu_response r;
    post(mock.port, GOOGLE_PATH, GOOGLE_AUTH, GOOGLE_HELLO, &r);
    assert_int_equal(r.status, 200);
    cJSON *got = body_json(&r);
    cJSON *want = fixture("fixtures/gemini/generate_text.json");
    assert_shape(want, got, ignore, "gemini text");
    assert_string_equal(str_at(got, "modelVersion", NULL), "gemini-2.0-flash");
    const cJSON *cand = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(got, "candidates"), 0);
    assert_string_equal(str_at(cand, "finishReason", NULL), "STOP");
    const cJSON *part =
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
                               cJSON_GetObjectItemCaseSensitive(cand, "content"), "parts"),
                           0);
    assert_string_equal(str_at(part, "text", NULL), LLMUX__MOCK_DEFAULT_TEXT);
    assert_true(num_at(got, "usageMetadata", "candidatesTokenCount") ==
                (double)llmux__mock_count_tokens(LLMUX__MOCK_DEFAULT_TEXT));
    cJSON_Delete(want);
    cJSON_Delete(got);
    tu_response_free(&r);

    /* key in the query string works too; a function call answers a request with tools */
    script(mock.port, "[{\"provider\":\"google\",\"tool_call\":{\"name\":\"get_capital\","
                      "\"arguments\":{\"country\":\"France\"}}}]");
    char *req = tu_read_shared("fixtures/gemini/stream_request_tools.json", NULL);
    post(mock.port, "/v1beta/models/gemini-2.0-flash:generateContent?key=g-test", NULL, req, &r);
    free(req);
    assert_int_equal(r.status, 200);
    got = body_json(&r);
    want = fixture("fixtures/gemini/generate_tool_call.json");
    assert_shape(want, got, ignore, "gemini function call");
    cand = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(got, "candidates"), 0);
    part = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
                                  cJSON_GetObjectItemCaseSensitive(cand, "content"), "parts"),
                              0);
    assert_string_equal(str_at(part, "functionCall", "name"), "get_capital");
    assert_string_equal(
        str_at(cJSON_GetObjectItemCaseSensitive(part, "functionCall"), "args", "country"),
        "France");
    assert_string_equal(str_at(cand, "finishReason", NULL), "STOP");
    cJSON_Delete(want);
    cJSON_Delete(got);
    tu_response_free(&r);
}

static void test_google_stream_sse_and_array(void **state)
{
    (void)state;
    tu_response r;
    post(mock.port, GOOGLE_STREAM_PATH, GOOGLE_AUTH, GOOGLE_HELLO, &r);
    assert_int_equal(r.status, 200);
    /* Gemini frames events with CRLF */
    assert_non_null(strstr(r.body, "}\r\n\r\ndata: "));
    tu_sse s, want;
    assert_int_equal(tu_sse_parse(r.body, r.body_len, &s), 0);
    assert_false(s.partial);
    parse_fixture_sse("fixtures/gemini/stream_text.sse", &want);
    cJSON *w_first = cJSON_Parse(want.events[0].data);
    cJSON *w_last = cJSON_Parse(want.events[want.count - 1].data);
    char text[1024] = "";
    for (size_t i = 0; i < s.count; i++) {
        cJSON *ev = cJSON_Parse(s.events[i].data);
        assert_non_null(ev);
        bool last = i + 1 == s.count;
        assert_shape(last ? w_last : w_first, ev, NULL, "gemini stream chunk");
        const cJSON *cand =
            cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(ev, "candidates"), 0);
        const char *finish = str_at(cand, "finishReason", NULL);
        if (last)
            assert_string_equal(finish, "STOP");
        else
            assert_null(finish);
        const cJSON *part =
            cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
                                   cJSON_GetObjectItemCaseSensitive(cand, "content"), "parts"),
                               0);
        strcat(text, str_at(part, "text", NULL));
        cJSON_Delete(ev);
    }
    assert_string_equal(text, LLMUX__MOCK_DEFAULT_TEXT);
    cJSON_Delete(w_first);
    cJSON_Delete(w_last);
    tu_sse_free(&want);
    tu_sse_free(&s);
    tu_response_free(&r);

    /* without alt=sse the stream is one JSON array */
    post(mock.port, "/v1beta/models/gemini-2.0-flash:streamGenerateContent", GOOGLE_AUTH,
         GOOGLE_HELLO, &r);
    assert_int_equal(r.status, 200);
    cJSON *arr = body_json(&r);
    assert_true(cJSON_IsArray(arr));
    assert_true(cJSON_GetArraySize(arr) > 3);
    cJSON_Delete(arr);
    tu_response_free(&r);
}

/* ---------------------------------------------------------------------------------- */
/* models, auth, request checks                                                         */
/* ---------------------------------------------------------------------------------- */

static void test_models_lists(void **state)
{
    (void)state;
    char url[256];
    tu_response r;
    assert_int_equal(
        tu_http("GET", tu_url(url, sizeof url, mock.port, "/v1/models"), OPENAI_AUTH, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    cJSON *j = body_json(&r);
    assert_string_equal(str_at(j, "object", NULL), "list");
    assert_true(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "data")) > 0);
    cJSON_Delete(j);
    tu_response_free(&r);

    tu_http("GET", tu_url(url, sizeof url, mock.port, "/v1/models"), ANTHROPIC_AUTH, NULL, &r);
    assert_int_equal(r.status, 200);
    j = body_json(&r);
    assert_true(cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(j, "has_more")));
    cJSON_Delete(j);
    tu_response_free(&r);

    tu_http("GET", tu_url(url, sizeof url, mock.port, "/v1beta/models"), GOOGLE_AUTH, NULL, &r);
    assert_int_equal(r.status, 200);
    j = body_json(&r);
    assert_true(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "models")) > 0);
    cJSON_Delete(j);
    tu_response_free(&r);

    tu_http("GET", tu_url(url, sizeof url, mock.port, "/_mock/health"), NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    j = body_json(&r);
    assert_string_equal(str_at(j, "status", NULL), "ok");
    cJSON_Delete(j);
    tu_response_free(&r);
}

static void test_missing_keys_get_provider_errors(void **state)
{
    (void)state;
    tu_response r;
    post(mock.port, OPENAI_PATH, NULL, OPENAI_HELLO, &r);
    assert_int_equal(r.status, 401);
    cJSON *got = body_json(&r);
    cJSON *want = fixture("fixtures/openai/error_401_invalid_api_key.json");
    static const char *const code[] = {"code", NULL}; /* null when no key was sent */
    assert_shape(want, got, code, "openai 401");
    assert_non_null(strstr(str_at(got, "error", "message"), "didn't provide an API key"));
    cJSON_Delete(want);
    cJSON_Delete(got);
    tu_response_free(&r);

    static const char *const version_only[] = {"anthropic-version: 2023-06-01", NULL};
    post(mock.port, ANTHROPIC_PATH, version_only, ANTHROPIC_HELLO, &r);
    assert_int_equal(r.status, 401);
    got = body_json(&r);
    want = fixture("fixtures/anthropic/error_401_authentication.json");
    assert_shape(want, got, NULL, "anthropic 401");
    assert_string_equal(str_at(got, "error", "type"), "authentication_error");
    cJSON_Delete(want);
    cJSON_Delete(got);
    tu_response_free(&r);

    /* anthropic-version is required too */
    static const char *const key_only[] = {"x-api-key: ak-test", NULL};
    post(mock.port, ANTHROPIC_PATH, key_only, ANTHROPIC_HELLO, &r);
    assert_int_equal(r.status, 400);
    got = body_json(&r);
    assert_string_equal(str_at(got, "error", "type"), "invalid_request_error");
    assert_non_null(strstr(str_at(got, "error", "message"), "anthropic-version"));
    cJSON_Delete(got);
    tu_response_free(&r);

    /* Google without a key: 403 PERMISSION_DENIED, as the real API answers */
    post(mock.port, GOOGLE_PATH, NULL, GOOGLE_HELLO, &r);
    assert_int_equal(r.status, 403);
    got = body_json(&r);
    assert_string_equal(str_at(got, "error", "status"), "PERMISSION_DENIED");
    assert_true(num_at(got, "error", "code") == 403);
    cJSON_Delete(got);
    tu_response_free(&r);
}

static void test_wrong_keys_with_key_option(void **state)
{
    (void)state;
    int port = keyed_mock.port;
    tu_response r;
    static const char *const openai_wrong[] = {"Authorization: Bearer sk-wrong", NULL};
    static const char *const openai_right[] = {"Authorization: Bearer sk-right", NULL};
    post(port, OPENAI_PATH, openai_wrong, OPENAI_HELLO, &r);
    assert_int_equal(r.status, 401);
    cJSON *got = body_json(&r);
    assert_string_equal(str_at(got, "error", "code"), "invalid_api_key");
    assert_null(strstr(r.body, "sk-wrong")); /* the key is not echoed */
    cJSON_Delete(got);
    tu_response_free(&r);
    post(port, OPENAI_PATH, openai_right, OPENAI_HELLO, &r);
    assert_int_equal(r.status, 200);
    tu_response_free(&r);

    static const char *const azure_wrong[] = {"api-key: az-wrong", NULL};
    static const char *const azure_right[] = {"api-key: az-right", NULL};
    post(port, AZURE_PATH, azure_wrong, OPENAI_HELLO, &r);
    assert_int_equal(r.status, 401);
    got = body_json(&r);
    assert_string_equal(str_at(got, "error", "code"), "401");
    cJSON_Delete(got);
    tu_response_free(&r);
    post(port, AZURE_PATH, azure_right, OPENAI_HELLO, &r);
    assert_int_equal(r.status, 200);
    tu_response_free(&r);

    static const char *const anth_wrong[] = {"x-api-key: ak-wrong", "anthropic-version: 2023-06-01",
                                             NULL};
    static const char *const anth_right[] = {"x-api-key: ak-right", "anthropic-version: 2023-06-01",
                                             NULL};
    post(port, ANTHROPIC_PATH, anth_wrong, ANTHROPIC_HELLO, &r);
    assert_int_equal(r.status, 401);
    got = body_json(&r);
    assert_string_equal(str_at(got, "error", "message"), "invalid x-api-key");
    cJSON_Delete(got);
    tu_response_free(&r);
    post(port, ANTHROPIC_PATH, anth_right, ANTHROPIC_HELLO, &r);
    assert_int_equal(r.status, 200);
    tu_response_free(&r);

    /* Google answers a bad key with 400 API_KEY_INVALID */
    static const char *const g_wrong[] = {"x-goog-api-key: g-wrong", NULL};
    post(port, GOOGLE_PATH, g_wrong, GOOGLE_HELLO, &r);
    assert_int_equal(r.status, 400);
    got = body_json(&r);
    cJSON *want = fixture("fixtures/gemini/error_400_api_key_invalid.json");
    assert_shape(want, got, NULL, "gemini API_KEY_INVALID");
    const cJSON *detail = cJSON_GetArrayItem(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(got, "error"), "details"),
        0);
    assert_string_equal(str_at(detail, "reason", NULL), "API_KEY_INVALID");
    cJSON_Delete(want);
    cJSON_Delete(got);
    tu_response_free(&r);
    post(port, "/v1beta/models/gemini-2.0-flash:generateContent?key=g-right", NULL, GOOGLE_HELLO,
         &r);
    assert_int_equal(r.status, 200);
    tu_response_free(&r);
}

/* Regression: @anthropic-ai/sdk 1.x sends the API key as `Authorization: Bearer KEY` (with no
 * x-api-key); the mock refused every request of the official client with 401. */
static void test_anthropic_accepts_bearer_key(void **state)
{
    (void)state;
    int port = keyed_mock.port;
    tu_response r;
    static const char *const bearer_right[] = {"Authorization: Bearer ak-right",
                                               "anthropic-version: 2026-10-21", NULL};
    static const char *const bearer_wrong[] = {"Authorization: Bearer ak-wrong",
                                               "anthropic-version: 2026-10-21", NULL};
    post(port, ANTHROPIC_PATH, bearer_right, ANTHROPIC_HELLO, &r);
    assert_int_equal(r.status, 200);
    cJSON *got = body_json(&r);
    assert_string_equal(str_at(got, "type", NULL), "message");
    cJSON_Delete(got);
    tu_response_free(&r);

    post(port, ANTHROPIC_PATH, bearer_wrong, ANTHROPIC_HELLO, &r);
    assert_int_equal(r.status, 401);
    got = body_json(&r);
    assert_string_equal(str_at(got, "error", "type"), "authentication_error");
    assert_null(strstr(r.body, "ak-wrong")); /* the key is not echoed */
    cJSON_Delete(got);
    tu_response_free(&r);

    /* a bearer key still needs anthropic-version */
    static const char *const bearer_only[] = {"Authorization: Bearer ak-right", NULL};
    post(port, ANTHROPIC_PATH, bearer_only, ANTHROPIC_HELLO, &r);
    assert_int_equal(r.status, 400);
    tu_response_free(&r);
}

/* Regression: an Anthropic error body's request_id is the request-id header (the SDK reports
 * the header as requestID; the real API sends one id in both), shaped req_011C + 20. */
static void test_anthropic_error_request_id_matches_header(void **state)
{
    (void)state;
    tu_response r;
    script(mock.port, "[{\"provider\":\"anthropic\",\"status\":429},"
                      "{\"provider\":\"anthropic\",\"status\":529}]");
    for (int i = 0; i < 3; i++) {
        if (i < 2) {
            post(mock.port, ANTHROPIC_PATH, ANTHROPIC_AUTH, ANTHROPIC_HELLO, &r);
        } else { /* a refused key answers the same way */
            static const char *const version_only[] = {"anthropic-version: 2023-06-01", NULL};
            post(mock.port, ANTHROPIC_PATH, version_only, ANTHROPIC_HELLO, &r);
        }
        assert_int_equal(r.status, i == 0 ? 429 : i == 1 ? 529 : 401);
        char hdr[128];
        assert_non_null(tu_header(&r, "request-id", hdr, sizeof hdr));
        assert_int_equal(strlen(hdr), strlen("req_011C") + 20);
        assert_int_equal(strncmp(hdr, "req_011C", 8), 0);
        cJSON *got = body_json(&r);
        const char *body_id = str_at(got, "request_id", NULL);
        assert_non_null(body_id);
        assert_string_equal(body_id, hdr);
        cJSON_Delete(got);
        tu_response_free(&r);
    }
}

static void test_echo_answers_last_user_message(void **state)
{
    (void)state;
    static const char *const openai_right[] = {"Authorization: Bearer sk-right", NULL};
    tu_response r;
    post(keyed_mock.port, OPENAI_PATH, openai_right,
         "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"first\"},"
         "{\"role\":\"assistant\",\"content\":\"ok\"},{\"role\":\"user\",\"content\":"
         "[{\"type\":\"text\",\"text\":\"echo this back\"}]}]}",
         &r);
    assert_int_equal(r.status, 200);
    cJSON *got = body_json(&r);
    const cJSON *choice = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(got, "choices"), 0);
    assert_string_equal(str_at(choice, "message", "content"), "echo this back");
    assert_true(num_at(got, "usage", "completion_tokens") ==
                (double)llmux__mock_count_tokens("echo this back"));
    cJSON_Delete(got);
    tu_response_free(&r);
}

/* Every request fixture is a request the real API accepted: the mock must accept it too. */
static void test_fixture_requests_are_accepted(void **state)
{
    (void)state;
    static const struct {
        const char *rel;
        const char *path;
        const char *const *auth;
    } cases[] = {
        {"fixtures/openai/chat_request_tools.json", OPENAI_PATH, OPENAI_AUTH},
        {"fixtures/openai/chat_request_tool_result.json", OPENAI_PATH, OPENAI_AUTH},
        {"fixtures/openai/chat_stream_request_tools.json", OPENAI_PATH, OPENAI_AUTH},
        {"fixtures/openai/chat_request_stop.json", OPENAI_PATH, OPENAI_AUTH},
        {"fixtures/openai/chat_request_max_completion_tokens.json", OPENAI_PATH, OPENAI_AUTH},
        {"fixtures/compat/vllm_chat_stream_request.json", OPENAI_PATH, OPENAI_AUTH},
        {"fixtures/azure/chat_request_text.json", AZURE_PATH, AZURE_AUTH},
        {"fixtures/anthropic/messages_request_system.json", ANTHROPIC_PATH, ANTHROPIC_AUTH},
        {"fixtures/anthropic/messages_request_tools.json", ANTHROPIC_PATH, ANTHROPIC_AUTH},
        {"fixtures/anthropic/messages_request_tool_result.json", ANTHROPIC_PATH, ANTHROPIC_AUTH},
        {"fixtures/anthropic/messages_request_stop_sequences.json", ANTHROPIC_PATH, ANTHROPIC_AUTH},
        {"fixtures/anthropic/messages_stream_request.json", ANTHROPIC_PATH, ANTHROPIC_AUTH},
        {"fixtures/gemini/generate_request_system.json", GOOGLE_PATH, GOOGLE_AUTH},
        {"fixtures/gemini/generate_request_max_output_tokens.json", GOOGLE_PATH, GOOGLE_AUTH},
        {"fixtures/gemini/generate_request_stop_sequences.json", GOOGLE_PATH, GOOGLE_AUTH},
        {"fixtures/gemini/generate_request_tool_config_any.json", GOOGLE_PATH, GOOGLE_AUTH},
        {"fixtures/gemini/stream_request_text.json", GOOGLE_STREAM_PATH, GOOGLE_AUTH},
        {"fixtures/gemini/stream_request_tools.json", GOOGLE_STREAM_PATH, GOOGLE_AUTH},
        {"fixtures/gemini/stream_request_tool_results.json", GOOGLE_STREAM_PATH, GOOGLE_AUTH},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *body = tu_read_shared(cases[i].rel, NULL);
        tu_response r;
        post(mock.port, cases[i].path, cases[i].auth, body, &r);
        if (r.status != 200)
            fail_msg("%s: status %ld: %.400s", cases[i].rel, r.status, r.body);
        free(body);
        tu_response_free(&r);
    }
}

static void test_stop_sequence_and_max_tokens(void **state)
{
    (void)state;
    tu_response r;
    /* the default text holds "3.14": stop at "meters" */
    post(mock.port, ANTHROPIC_PATH, ANTHROPIC_AUTH,
         "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":256,\"stop_sequences\":[\"meters\"],"
         "\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}",
         &r);
    cJSON *got = body_json(&r);
    assert_string_equal(str_at(got, "stop_reason", NULL), "stop_sequence");
    assert_string_equal(str_at(got, "stop_sequence", NULL), "meters");
    const cJSON *block = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(got, "content"), 0);
    assert_string_equal(str_at(block, "text", NULL),
                        "Hello from the llmux mock. Dr. Ada Byte measured 3.14 ");
    cJSON_Delete(got);
    tu_response_free(&r);

    post(mock.port, OPENAI_PATH, OPENAI_AUTH,
         "{\"model\":\"gpt-4o-mini\",\"max_completion_tokens\":5,"
         "\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}",
         &r);
    got = body_json(&r);
    const cJSON *choice = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(got, "choices"), 0);
    assert_string_equal(str_at(choice, "finish_reason", NULL), "length");
    assert_true(num_at(got, "usage", "completion_tokens") <= 5);
    cJSON_Delete(got);
    tu_response_free(&r);

    post(mock.port, GOOGLE_PATH, GOOGLE_AUTH,
         "{\"contents\":[{\"parts\":[{\"text\":\"Hi\"}]}],\"generationConfig\":"
         "{\"maxOutputTokens\":3}}",
         &r);
    got = body_json(&r);
    const cJSON *cand = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(got, "candidates"), 0);
    assert_string_equal(str_at(cand, "finishReason", NULL), "MAX_TOKENS");
    cJSON_Delete(got);
    tu_response_free(&r);
}

/* A request the real API refuses gets that API's 400, naming the problem. */
static void test_bad_requests_get_provider_400s(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        const char *const *auth;
        const char *body;
        const char *needle; /* in the error message */
    } cases[] = {
        {OPENAI_PATH, OPENAI_AUTH, "{not json", "could not parse the JSON body"},
        {OPENAI_PATH, OPENAI_AUTH,
         "{\"model\":\"m\",\"provider\":\"openai\",\"messages\":[{\"role\":\"user\","
         "\"content\":\"x\"}]}",
         "Unrecognized request argument supplied: provider"},
        {OPENAI_PATH, OPENAI_AUTH, "{\"model\":\"m\"}", "Missing required parameter: 'messages'"},
        {OPENAI_PATH, OPENAI_AUTH,
         "{\"model\":\"m\",\"stream_options\":{\"include_usage\":true},\"messages\":[{\"role\":"
         "\"user\",\"content\":\"x\"}]}",
         "only allowed when 'stream' is enabled"},
        {OPENAI_PATH, OPENAI_AUTH,
         "{\"model\":\"m\",\"messages\":[{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":"
         "\"x\"}]}",
         "must be a response to a preceeding message with 'tool_calls'"},
        {OPENAI_PATH, OPENAI_AUTH,
         "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":"
         "\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\","
         "\"function\":{\"name\":\"f\",\"arguments\":{}}}]}]}",
         "expected a string"},
        {OPENAI_PATH, OPENAI_AUTH,
         "{\"model\":\"m\",\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}",
         "Invalid value: 'robot'"},
        {AZURE_PATH, AZURE_AUTH, "{\"messages\":[]}", "empty array"},
        {ANTHROPIC_PATH, ANTHROPIC_AUTH, "[1,2]", "valid dictionary"},
        {ANTHROPIC_PATH, ANTHROPIC_AUTH,
         "{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
         "max_tokens: Field required"},
        {ANTHROPIC_PATH, ANTHROPIC_AUTH,
         "{\"model\":\"c\",\"max_tokens\":10,\"messages\":[{\"role\":\"system\",\"content\":"
         "\"x\"},{\"role\":\"user\",\"content\":\"y\"}]}",
         "Unexpected role \"system\""},
        {ANTHROPIC_PATH, ANTHROPIC_AUTH,
         "{\"model\":\"c\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":[{"
         "\"type\":\"tool_result\",\"tool_use_id\":\"toolu_x\",\"content\":\"r\"}]}]}",
         "unexpected `tool_use_id`"},
        {ANTHROPIC_PATH, ANTHROPIC_AUTH,
         "{\"model\":\"c\",\"max_tokens\":10,\"tools\":[{\"type\":\"function\",\"function\":{"
         "\"name\":\"f\"}}],\"messages\":[{\"role\":\"user\",\"content\":\"y\"}]}",
         "tools.0.name: Field required"},
        {ANTHROPIC_PATH, ANTHROPIC_AUTH,
         "{\"model\":\"c\",\"max_tokens\":10,\"temperature\":1.5,\"messages\":[{\"role\":\"user\","
         "\"content\":\"y\"}]}",
         "temperature"},
        {GOOGLE_PATH, GOOGLE_AUTH, "{\"contents\":[]}", "contents is not specified"},
        {GOOGLE_PATH, GOOGLE_AUTH,
         "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"x\"}]}],\"max_tokens\":5}",
         "Unknown name \"max_tokens\""},
        {GOOGLE_PATH, GOOGLE_AUTH,
         "{\"contents\":[{\"role\":\"assistant\",\"parts\":[{\"text\":\"x\"}]}]}",
         "valid role: user, model"},
        {GOOGLE_PATH, GOOGLE_AUTH,
         "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"functionResponse\":{\"name\":\"f\","
         "\"response\":\"sunny\"}}]}]}",
         "function_response.response"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tu_response r;
        post(mock.port, cases[i].path, cases[i].auth, cases[i].body, &r);
        if (r.status != 400)
            fail_msg("case %zu: status %ld, want 400: %.300s", i, r.status, r.body);
        cJSON *got = body_json(&r);
        const char *msg = str_at(got, "error", "message");
        if (!msg || !strstr(msg, cases[i].needle))
            fail_msg("case %zu: message '%s' lacks '%s'", i, msg ? msg : "(none)", cases[i].needle);
        /* the provider's own error shape */
        if (strcmp(cases[i].path, ANTHROPIC_PATH) == 0) {
            assert_string_equal(str_at(got, "type", NULL), "error");
            assert_string_equal(str_at(got, "error", "type"), "invalid_request_error");
        } else if (strcmp(cases[i].path, GOOGLE_PATH) == 0) {
            assert_string_equal(str_at(got, "error", "status"), "INVALID_ARGUMENT");
            assert_true(num_at(got, "error", "code") == 400);
        } else {
            assert_string_equal(str_at(got, "error", "type"), "invalid_request_error");
            assert_non_null(cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(got, "error"), "param"));
        }
        cJSON_Delete(got);
        tu_response_free(&r);
    }
    /* a refused request consumes no step */
    script(mock.port, "[{\"status\":503}]");
    tu_response r;
    post(mock.port, OPENAI_PATH, OPENAI_AUTH, "{\"model\":\"m\"}", &r);
    assert_int_equal(r.status, 400);
    tu_response_free(&r);
    post(mock.port, OPENAI_PATH, OPENAI_AUTH, OPENAI_HELLO, &r);
    assert_int_equal(r.status, 503);
    tu_response_free(&r);
}

static void test_unknown_url_is_404_and_logged(void **state)
{
    (void)state;
    tu_response r;
    post(mock.port, "/v2/complete", OPENAI_AUTH, OPENAI_HELLO, &r);
    assert_int_equal(r.status, 404);
    cJSON *got = body_json(&r);
    assert_non_null(strstr(str_at(got, "error", "message"), "Invalid URL (POST /v2/complete)"));
    cJSON_Delete(got);
    tu_response_free(&r);
    cJSON *log = tu_mock_requests(mock.port);
    const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(log, "requests"), 0);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(e, "provider")));
    assert_true(num_at(e, "status", NULL) == 404);
    cJSON_Delete(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_openai_text_matches_fixture, reset),
        cmocka_unit_test_setup(test_openai_tool_call_matches_fixture, reset),
        cmocka_unit_test_setup(test_openai_stream_order_and_usage, reset),
        cmocka_unit_test_setup(test_openai_stream_tool_call, reset),
        cmocka_unit_test_setup(test_openai_under_custom_prefix, reset),
        cmocka_unit_test_setup(test_azure_text_and_stream, reset),
        cmocka_unit_test_setup(test_azure_requires_api_version_and_key, reset),
        cmocka_unit_test_setup(test_anthropic_text_and_tool_use, reset),
        cmocka_unit_test_setup(test_anthropic_stream_sequence, reset),
        cmocka_unit_test_setup(test_anthropic_stream_tool_use, reset),
        cmocka_unit_test_setup(test_google_text_and_function_call, reset),
        cmocka_unit_test_setup(test_google_stream_sse_and_array, reset),
        cmocka_unit_test_setup(test_models_lists, reset),
        cmocka_unit_test_setup(test_missing_keys_get_provider_errors, reset),
        cmocka_unit_test_setup(test_wrong_keys_with_key_option, reset),
        cmocka_unit_test_setup(test_anthropic_accepts_bearer_key, reset),
        cmocka_unit_test_setup(test_anthropic_error_request_id_matches_header, reset),
        cmocka_unit_test_setup(test_echo_answers_last_user_message, reset),
        cmocka_unit_test_setup(test_fixture_requests_are_accepted, reset),
        cmocka_unit_test_setup(test_stop_sequence_and_max_tokens, reset),
        cmocka_unit_test_setup(test_bad_requests_get_provider_400s, reset),
        cmocka_unit_test_setup(test_unknown_url_is_404_and_logged, reset),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
