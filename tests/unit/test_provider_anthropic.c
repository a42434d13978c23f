/* test_provider_anthropic.c — the Anthropic Messages adapter on the real fixtures:
 * responses, errors, streams (two usage events merged), and the request mapping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "provider_test_util.h"

#define ANTHROPIC llmux__adapter_for(LLMUX__PROVIDER_ANTHROPIC)

static llmux__response *parse_ok(const char *file)
{
    llmux__response *r = NULL;
    llmux__upstream_error ue;
    if (pt_parse_fixture(ANTHROPIC, file, 200, NULL, 0, &r, &ue) != LLMUX_OK)
        fail_msg("%s: %s", file, ue.message);
    return r;
}

static void assert_usage(const llmux__usage *u, int64_t p, int64_t c, int64_t t)
{
    assert_true(u->present);
    assert_int_equal(u->prompt_tokens, p);
    assert_int_equal(u->completion_tokens, c);
    assert_int_equal(u->total_tokens, t);
}

static void test_responses(void **state)
{
    (void)state;
    llmux__response *r = parse_ok("fixtures/anthropic/messages_text.json");
    assert_string_equal(r->id, "msg_01VdEjxAP5ahtHKrrRdNBteQ");
    assert_string_equal(r->model, "claude-sonnet-4-5-20250929");
    assert_int_equal(r->created, 0);
    assert_string_equal(r->text, "Hello! I'm doing well, thanks for asking. How are you doing "
                                 "today? Is there anything I can help you with?");
    assert_int_equal(r->finish_reason, LLMUX__FINISH_STOP);
    assert_int_equal(r->n_tool_calls, 0);
    assert_usage(&r->usage, 12, 29, 41);
    llmux__response_free(r);

    r = parse_ok("fixtures/anthropic/messages_tool_use.json");
    assert_string_equal(r->id, "msg_0157RbBMVd2po91eocfMnSDy");
    assert_null(r->text);
    assert_int_equal(r->n_tool_calls, 1);
    assert_string_equal(r->tool_calls[0].id, "toolu_01WN4AuToBnJyXNQXwQBBebj");
    assert_string_equal(r->tool_calls[0].name, "get_weather");
    assert_string_equal(r->tool_calls[0].arguments, "{\"city\":\"Paris\"}");
    assert_int_equal(r->finish_reason, LLMUX__FINISH_TOOL_CALLS);
    assert_usage(&r->usage, 572, 53, 625);
    /* → OpenAI chat.completion */
    cJSON *j = llmux__response_to_json(r, 1700000000);
    pt_assert_json(j, "{\"id\":\"msg_0157RbBMVd2po91eocfMnSDy\",\"object\":\"chat.completion\","
                      "\"created\":1700000000,\"model\":\"claude-sonnet-4-5-20250929\","
                      "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                      "\"content\":null,\"tool_calls\":[{\"id\":"
                      "\"toolu_01WN4AuToBnJyXNQXwQBBebj\",\"type\":\"function\",\"function\":"
                      "{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}"
                      "]},\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":572,"
                      "\"completion_tokens\":53,\"total_tokens\":625}}");
    cJSON_Delete(j);
    llmux__response_free(r);

    r = parse_ok("fixtures/anthropic/messages_after_tool_result.json");
    assert_string_equal(r->text, "The weather in Paris is currently sunny with a temperature of "
                                 "22\xC2\xB0"
                                 "C (approximately 72\xC2\xB0"
                                 "F). It's a beautiful day!");
    assert_int_equal(r->finish_reason, LLMUX__FINISH_STOP);
    assert_usage(&r->usage, 646, 31, 677);
    llmux__response_free(r);

    /* a matched stop sequence is "stop" */
    r = parse_ok("fixtures/anthropic/messages_stop_sequence.json");
    assert_string_equal(r->id, "msg_01376yZQxHcw9pER2Ab2SvQb");
    assert_string_equal(r->text, "The beautiful city of ");
    assert_int_equal(r->finish_reason, LLMUX__FINISH_STOP);
    assert_usage(&r->usage, 32, 5, 37);
    llmux__response_free(r);

    /* stop_reason table, cache tokens counted in the prompt, thinking skipped, several
     * text blocks joined */
    static const struct {
        const char *stop;
        llmux__finish_reason f;
    } stops[] = {{"end_turn", LLMUX__FINISH_STOP},
                 {"stop_sequence", LLMUX__FINISH_STOP},
                 {"pause_turn", LLMUX__FINISH_STOP},
                 {"max_tokens", LLMUX__FINISH_LENGTH},
                 {"model_context_window_exceeded", LLMUX__FINISH_LENGTH},
                 {"tool_use", LLMUX__FINISH_TOOL_CALLS},
                 {"refusal", LLMUX__FINISH_CONTENT_FILTER},
                 {"something_new", LLMUX__FINISH_STOP}};
    for (size_t i = 0; i < sizeof stops / sizeof stops[0]; i++) {
        char body[512];
        snprintf(body, sizeof body,
                 "{\"id\":\"m\",\"model\":\"c\",\"content\":[{\"type\":\"thinking\",\"thinking\":"
                 "\"hmm\"},{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}],"
                 "\"stop_reason\":\"%s\",\"usage\":{\"input_tokens\":10,"
                 "\"cache_creation_input_tokens\":5,\"cache_read_input_tokens\":100,"
                 "\"output_tokens\":7}}",
                 stops[i].stop);
        llmux__upstream_error ue;
        assert_int_equal(ANTHROPIC->parse_response(200, NULL, 0, body, strlen(body), 0, &r, &ue),
                         LLMUX_OK);
        assert_int_equal(r->finish_reason, stops[i].f);
        assert_string_equal(r->text, "ab");
        assert_usage(&r->usage, 115, 7, 122);
        llmux__response_free(r);
    }
}

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        const char *body;
        int status;
        llmux__header h;
        llmux_code code;
        bool retryable;
        const char *type;
        const char *message;
        double retry_after;
    } cases[] = {
        {"fixtures/anthropic/error_400_invalid_request.json",
         NULL,
         400,
         {0},
         LLMUX_EINVALID_REQUEST,
         false,
         "invalid_request_error",
         "This model does not support effort level 'xhigh'. Supported levels: high, low, max, "
         "medium.",
         -1},
        {"fixtures/anthropic/error_401_authentication.json",
         NULL,
         401,
         {0},
         LLMUX_EAUTH_FAILED,
         true,
         "authentication_error",
         "invalid x-api-key",
         -1},
        {"fixtures/anthropic/error_404_not_found.json",
         NULL,
         404,
         {0},
         LLMUX_EMODEL_NOT_FOUND,
         false,
         "not_found_error",
         "model: claude-sonet-4-5",
         -1},
        {"fixtures/anthropic/error_429_rate_limit.json",
         NULL,
         429,
         {"retry-after", "30"},
         LLMUX_ERATE_LIMITED,
         true,
         "rate_limit_error",
         "Number of request tokens has exceeded your per-minute rate limit "
         "(https://docs.anthropic.com/en/api/rate-limits); see the response headers for current "
         "usage. Please reduce the prompt length or the maximum tokens requested, or try again "
         "later. You may also", /* cut to fit the 256-byte message */
         30},
        {"fixtures/anthropic/error_529_overloaded.json",
         NULL,
         529,
         {0},
         LLMUX_EUPSTREAM,
         true,
         "overloaded_error",
         "Overloaded",
         -1},
        /* x-should-retry overrides */
        {"fixtures/anthropic/error_529_overloaded.json",
         NULL,
         529,
         {"x-should-retry", "false"},
         LLMUX_EUPSTREAM,
         false,
         "overloaded_error",
         "Overloaded",
         -1},
        /* a spend cap is not worth retrying */
        {NULL,
         "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"spend "
         "limit\",\"details\":{\"error_code\":\"enforced_spend_limit_reached\"}}}",
         429,
         {0},
         LLMUX_ERATE_LIMITED,
         false,
         "enforced_spend_limit_reached",
         "spend limit",
         -1},
        /* overloaded_error in the body is transient whatever the status */
        {NULL,
         "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"O\"}}",
         200,
         {0},
         LLMUX_EUPSTREAM,
         true,
         "overloaded_error",
         "O",
         -1},
        {NULL,
         "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"O\"}}",
         400,
         {0},
         LLMUX_EUPSTREAM,
         true,
         "overloaded_error",
         "O",
         -1},
        {NULL,
         "{\"type\":\"error\",\"error\":{\"type\":\"billing_error\",\"message\":\"pay\"}}",
         402,
         {0},
         LLMUX_EINVALID_REQUEST,
         false,
         "billing_error",
         "pay",
         -1},
        {NULL, "", 500, {0}, LLMUX_EUPSTREAM, true, "", "HTTP 500", -1},
        {NULL,
         "{\"id\":\"x\"}",
         200,
         {0},
         LLMUX_EUPSTREAM,
         true,
         "",
         "malformed upstream response: no content array",
         -1},
        {NULL,
         "{\"content\":[{\"type\":\"tool_use\",\"name\":\"f\"}]}",
         200,
         {0},
         LLMUX_EUPSTREAM,
         true,
         "",
         "malformed upstream response: a tool_use block has no id",
         -1},
        {NULL,
         "\x01\x02garbage",
         200,
         {0},
         LLMUX_EUPSTREAM,
         true,
         "",
         "malformed upstream response",
         -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        llmux__response *r = NULL;
        llmux__upstream_error ue;
        size_t nh = cases[i].h.name ? 1 : 0;
        llmux_code rc;
        if (cases[i].file)
            rc = pt_parse_fixture(ANTHROPIC, cases[i].file, cases[i].status, &cases[i].h, nh, &r,
                                  &ue);
        else
            rc = ANTHROPIC->parse_response(cases[i].status, &cases[i].h, nh, cases[i].body,
                                           strlen(cases[i].body), 0, &r, &ue);
        const char *what = cases[i].file ? cases[i].file : cases[i].body;
        if (rc != cases[i].code)
            fail_msg("%s: %s", what, llmux_code_type(rc));
        assert_null(r);
        if (ue.retryable != cases[i].retryable)
            fail_msg("%s: retryable %d", what, ue.retryable);
        assert_string_equal(ue.type, cases[i].type);
        if (strncmp(ue.message, cases[i].message, strlen(cases[i].message)) != 0)
            fail_msg("%s: message '%s'", what, ue.message);
        assert_true(ue.retry_after_s == cases[i].retry_after);
        assert_int_equal(ue.http_status, cases[i].status);
    }
}

typedef struct stream_case {
    const char *file;
    const char *text;
    struct {
        const char *id, *name, *args;
    } calls[2];
    bool done;
    llmux__finish_reason finish;
    int64_t prompt, completion, total;
    const char *id, *model;
    int first_content;
} stream_case;

static void test_streams(void **state)
{
    (void)state;
    static const stream_case cases[] = {
        {"fixtures/anthropic/messages_stream_text.sse",
         "2",
         {{0}},
         true,
         LLMUX__FINISH_STOP,
         20,
         5,
         25,
         "msg_018E1hg8GoVTGEKQY3ovMcSJ",
         "claude-sonnet-4-5-20250929",
         1},
        /* text block, then two tool_use blocks whose only input is "" → "{}" */
        {"fixtures/anthropic/messages_stream_tool_use.sse",
         "I'll help you generate two names for a pet pelican using the pelican name generator "
         "tool.",
         {{"toolu_017ngBid8gmdReTeroVSZf7r", "pelican_name_generator", "{}"},
          {"toolu_01FJrHJrmnfEqR6NxkQ3yhpu", "pelican_name_generator", "{}"}},
         true,
         LLMUX__FINISH_TOOL_CALLS,
         310,
         82,
         392,
         "msg_015S7FCRZ7rzjcyuJgzDu35c",
         "claude-3-5-haiku-latest",
         1},
        /* partial_json fragments with pings between them; message_delta repeats input */
        {"fixtures/anthropic/messages_stream_tool_use_input_json.sse",
         "",
         {{"toolu_019Zvehfe1XQWweT1pm7okyt", "weather", "{\"location\": \"San Francisco\"}"}},
         true,
         LLMUX__FINISH_TOOL_CALLS,
         843,
         28,
         871,
         "msg_01CD3XaZfhNabxRt1SG5ybtK",
         "claude-haiku-4-5-20251001",
         1},
        /* an overloaded_error after content started */
        {"fixtures/anthropic/messages_stream_error_event.sse",
         "Hello",
         {{0}},
         false,
         LLMUX__FINISH_NONE,
         0,
         0,
         0,
         "msg_constructed_example",
         "claude-sonnet-4-5-20250929",
         1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const stream_case *c = &cases[i];
        pt_collect col;
        pt_run_fixture(ANTHROPIC, c->file, 0, &col);
        if (col.violations)
            fail_msg("%s: violations\n%s", c->file, col.log.p);
        assert_string_equal(col.text.p ? col.text.p : "", c->text);
        int n = c->calls[1].id ? 2 : c->calls[0].id ? 1 : 0;
        assert_int_equal(col.n_tools, n);
        for (int k = 0; k < n; k++) {
            assert_string_equal(col.tools[k].id, c->calls[k].id);
            assert_string_equal(col.tools[k].name, c->calls[k].name);
            assert_string_equal(col.tools[k].args.p, c->calls[k].args);
        }
        assert_int_equal(col.n_pre, 1);
        assert_string_equal(col.id, c->id);
        assert_string_equal(col.model, c->model);
        assert_int_equal(col.first_content, c->first_content);
        if (c->done) {
            assert_int_equal(col.n_done, 1);
            assert_int_equal(col.n_finish, 1);
            assert_int_equal(col.finish, c->finish);
            assert_int_equal(col.n_usage, 1);
            assert_int_equal(col.usage.prompt_tokens, c->prompt);
            assert_int_equal(col.usage.completion_tokens, c->completion);
            assert_int_equal(col.usage.total_tokens, c->total);
        } else {
            assert_int_equal(col.n_err, 1);
            assert_int_equal(col.err.code, LLMUX_EUPSTREAM);
            assert_true(col.err.retryable);
            assert_string_equal(col.err.type, "overloaded_error");
            assert_string_equal(col.err.message, "Overloaded");
            assert_int_equal(col.err.http_status, 0);
        }
        for (unsigned split = 1; split < 12; split++) {
            pt_collect again;
            pt_run_fixture(ANTHROPIC, c->file, split, &again);
            if (strcmp(again.log.p, col.log.p) != 0)
                fail_msg("%s: split %u differs", c->file, split);
            pt_free(&again);
        }
        pt_free(&col);
    }
}

static void test_stream_cut_short(void **state)
{
    (void)state;
    size_t len;
    char *body = tu_read_shared("fixtures/anthropic/messages_stream_text.sse", &len);
    pt_collect col;
    /* before message_delta: interrupted */
    const char *md = strstr(body, "event: message_delta");
    pt_run(ANTHROPIC, body, (size_t)(md - body), 2, &col);
    assert_int_equal(col.n_err, 1);
    assert_string_equal(col.err.message, "upstream stream ended before message_stop");
    assert_string_equal(col.text.p, "2");
    pt_free(&col);
    /* after message_delta, without message_stop: complete */
    const char *ms = strstr(body, "event: message_stop");
    pt_run(ANTHROPIC, body, (size_t)(ms - body), 2, &col);
    assert_int_equal(col.n_done, 1);
    assert_int_equal(col.usage.total_tokens, 25);
    pt_free(&col);
    /* only message_start: preamble, then interrupted; nothing was content */
    const char *cb = strstr(body, "event: content_block_start");
    pt_run(ANTHROPIC, body, (size_t)(cb - body), 1, &col);
    assert_int_equal(col.n_pre, 1);
    assert_int_equal(col.first_content, -1);
    assert_int_equal(col.n_err, 1);
    pt_free(&col);
    /* wrong types everywhere are ignored or reported, never crash */
    const char *odd = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":7}\n\n"
                      "data: {\"type\":\"content_block_start\",\"index\":\"x\"}\n\n"
                      "data: {\"type\":\"content_block_delta\",\"index\":1e300,\"delta\":{}}\n\n"
                      "data: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":-5}}\n\n"
                      "data: [1,2,3]\n\n";
    pt_run(ANTHROPIC, odd, strlen(odd), 0, &col);
    assert_int_equal(col.violations, 0);
    assert_int_equal(col.n_err, 1);
    assert_string_equal(col.err.message, "malformed stream event: not a JSON object");
    pt_free(&col);
    free(body);
}

/* ---- requests ------------------------------------------------------------------------- */

static cJSON *fixture_json(const char *rel)
{
    size_t len;
    char *text = tu_read_shared(rel, &len);
    cJSON *j = cJSON_Parse(text);
    free(text);
    assert_non_null(j);
    return j;
}

static const llmux__provider_config CFG = {.provider = LLMUX__PROVIDER_ANTHROPIC,
                                           .api_key = "sk-ant-test"};

/* The seed (OpenAI-shaped) request → exactly the recorded Anthropic request. */
static void test_request_fixtures(void **state)
{
    (void)state;
    static const char *const tools =
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
        "\"description\":\"Get the current weather for a city.\",\"parameters\":{"
        "\"additionalProperties\":false,\"properties\":{\"city\":{\"type\":\"string\"}},"
        "\"required\":[\"city\"],\"type\":\"object\"},\"strict\":true}}],\"tool_choice\":\"auto\"";
    static const struct {
        const char *fixture;
        const char *seed;
    } cases[] = {
        {"fixtures/anthropic/messages_request_system.json",
         "{\"provider\":\"anthropic\",\"model\":\"claude-3-opus-latest\",\"max_tokens\":4096,"
         "\"messages\":[{\"role\":\"system\",\"content\":\"You are a helpful assistant.\\n\\n\"},"
         "{\"role\":\"user\",\"content\":\"What is the capital of France?\"}]}"},
        {"fixtures/anthropic/messages_request_tools.json",
         "{\"provider\":\"anthropic\",\"model\":\"claude-sonnet-4-5\","
         "\"messages\":[{\"role\":\"user\",\"content\":\"What's the weather in Paris?\"}],%s}"},
        {"fixtures/anthropic/messages_request_tool_result.json",
         "{\"provider\":\"anthropic\",\"model\":\"claude-sonnet-4-5\",\"messages\":["
         "{\"role\":\"user\",\"content\":\"What's the weather in Paris?\"},"
         "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":"
         "\"toolu_01WN4AuToBnJyXNQXwQBBebj\",\"type\":\"function\",\"function\":{\"name\":"
         "\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},"
         "{\"role\":\"tool\",\"tool_call_id\":\"toolu_01WN4AuToBnJyXNQXwQBBebj\","
         "\"content\":\"Sunny, 22C in Paris\"}],%s}"},
        {"fixtures/anthropic/messages_request_stop_sequences.json",
         "{\"provider\":\"anthropic\",\"model\":\"claude-sonnet-4-5\",\"max_tokens\":1024,"
         "\"stop\":\"Paris\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
         "\"text\":\"What is the capital of France? Give me an answer that contains the word "
         "\\\"Paris\\\", but is not the first word.\"}]}]}"},
        {"fixtures/anthropic/messages_stream_request.json",
         "{\"provider\":\"anthropic\",\"model\":\"claude-sonnet-4-5\",\"max_tokens\":32000,"
         "\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"What is 1+1? Answer "
         "with just the number.\"}]}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[4096];
        const char *hole = strstr(cases[i].seed, "%s");
        if (hole)
            snprintf(json, sizeof json, "%.*s%s%s", (int)(hole - cases[i].seed), cases[i].seed,
                     tools, hole + 2);
        else
            snprintf(json, sizeof json, "%s", cases[i].seed);
        llmux__request *req = pt_request(json);
        llmux__http_request http;
        cJSON *body = pt_build(req, &CFG, &http);
        cJSON *want = fixture_json(cases[i].fixture);
        if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(want, "stream")))
            cJSON_DeleteItemFromObjectCaseSensitive(want, "stream");
        /* we do not send the optional is_error:false */
        cJSON *msgs = cJSON_GetObjectItemCaseSensitive(want, "messages");
        const cJSON *m;
        cJSON_ArrayForEach(m, msgs)
        {
            cJSON *blk;
            cJSON_ArrayForEach(blk, cJSON_GetObjectItemCaseSensitive(m, "content"))
                cJSON_DeleteItemFromObjectCaseSensitive(blk, "is_error");
        }
        char *w = cJSON_PrintUnformatted(want);
        pt_assert_json(body, w);
        cJSON_free(w);
        assert_string_equal(http.url, "https://api.anthropic.com/v1/messages");
        assert_string_equal(pt_header(&http, "x-api-key"), "sk-ant-test");
        assert_string_equal(pt_header(&http, "anthropic-version"), "2023-06-01");
        assert_null(pt_header(&http, "Authorization"));
        cJSON_Delete(want);
        cJSON_Delete(body);
        llmux__http_request_free(&http);
        llmux__request_free(req);
    }
}

typedef struct map_case {
    const char *what;
    const char *request; /* the seed request (provider added) */
    const char *path;    /* in the built body */
    const char *expected;
} map_case;

static void test_request_mapping(void **state)
{
    (void)state;
#define M(x) "{\"provider\":\"anthropic\",\"model\":\"claude-haiku-4-5\"," x "}"
#define U "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"
#define T "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]"
    static const map_case cases[] = {
        {"max_tokens default", M(U), "max_tokens", "4096"},
        {"max_tokens given", M(U ",\"max_tokens\":77"), "max_tokens", "77"},
        {"temperature clamped to 1", M(U ",\"temperature\":1.7"), "temperature", "1"},
        {"temperature kept", M(U ",\"temperature\":0.25"), "temperature", "0.25"},
        {"top_p", M(U ",\"top_p\":0.5"), "top_p", "0.5"},
        {"stop string", M(U ",\"stop\":\"END\""), "stop_sequences", "[\"END\"]"},
        {"stop array", M(U ",\"stop\":[\"a\",\"b\"]"), "stop_sequences", "[\"a\",\"b\"]"},
        {"system and developer lifted and joined",
         M("\"messages\":[{\"role\":\"system\",\"content\":\"S1\"},{\"role\":\"user\","
           "\"content\":\"hi\"},{\"role\":\"developer\",\"content\":[{\"type\":\"text\","
           "\"text\":\"D\"},{\"type\":\"text\",\"text\":\"2\"}]}]"),
         "system", "\"S1\\n\\nD2\""},
        {"no system role inside messages",
         M("\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\","
           "\"content\":\"hi\"}]"),
         "messages", "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}]"},
        {"consecutive user turns merged",
         M("\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"user\","
           "\"content\":\"b\"},{\"role\":\"assistant\",\"content\":\"c\"},{\"role\":"
           "\"assistant\",\"content\":\"d\"}]"),
         "messages",
         "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\","
         "\"text\":\"b\"}]},{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":"
         "\"c\"},{\"type\":\"text\",\"text\":\"d\"}]}]"},
        {"all results of one turn in one user message, text after them",
         M("\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\","
           "\"content\":\"Let me look.\",\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\","
           "\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":1}\"}},{\"id\":\"c2\","
           "\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"\"}}]},"
           "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"r1\"},{\"role\":\"tool\","
           "\"tool_call_id\":\"c2\",\"content\":[{\"type\":\"text\",\"text\":\"r2\"}]},"
           "{\"role\":\"user\",\"content\":\"thanks\"}]"),
         "messages",
         "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"q\"}]},"
         "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"Let me look.\"},"
         "{\"type\":\"tool_use\",\"id\":\"c1\",\"name\":\"f\",\"input\":{\"a\":1}},"
         "{\"type\":\"tool_use\",\"id\":\"c2\",\"name\":\"g\",\"input\":{}}]},"
         "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"c1\","
         "\"content\":\"r1\"},{\"type\":\"tool_result\",\"tool_use_id\":\"c2\",\"content\":"
         "[{\"type\":\"text\",\"text\":\"r2\"}]},{\"type\":\"text\",\"text\":\"thanks\"}]}]"},
        {"image parts",
         M("\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"see\"},"
           "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,iVBOR\"}},"
           "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x.test/a.jpg\"}}]}]"),
         "messages.0.content",
         "[{\"type\":\"text\",\"text\":\"see\"},{\"type\":\"image\",\"source\":{\"type\":"
         "\"base64\",\"media_type\":\"image/png\",\"data\":\"iVBOR\"}},{\"type\":\"image\","
         "\"source\":{\"type\":\"url\",\"url\":\"https://x.test/a.jpg\"}}]"},
        {"tool without parameters", M(U "," T), "tools",
         "[{\"name\":\"f\",\"input_schema\":{\"type\":\"object\",\"properties\":{}}}]"},
        {"tool_choice auto", M(U "," T ",\"tool_choice\":\"auto\""), "tool_choice",
         "{\"type\":\"auto\"}"},
        {"tool_choice required → any", M(U "," T ",\"tool_choice\":\"required\""), "tool_choice",
         "{\"type\":\"any\"}"},
        {"tool_choice none", M(U "," T ",\"tool_choice\":\"none\""), "tool_choice",
         "{\"type\":\"none\"}"},
        {"tool_choice named",
         M(U "," T ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"f\"}}"),
         "tool_choice", "{\"type\":\"tool\",\"name\":\"f\"}"},
        {"parallel_tool_calls false", M(U "," T ",\"parallel_tool_calls\":false"), "tool_choice",
         "{\"type\":\"auto\",\"disable_parallel_tool_use\":true}"},
        {"no tools, no tool_choice", M(U ",\"tool_choice\":\"auto\""), "tool_choice", "<absent>"},
        {"user → metadata.user_id", M(U ",\"user\":\"u-42\""), "metadata",
         "{\"user_id\":\"u-42\"}"},
        {"other OpenAI fields are not sent", M(U ",\"seed\":3,\"n\":1"), "seed", "<absent>"},
        {"llmux fields are not sent", M(U ",\"retry\":{\"max_retries\":1},\"timeout\":9"), "retry",
         "<absent>"},
        {"not streaming", M(U), "stream", "<absent>"},
        {"streaming", M(U ",\"stream\":true"), "stream", "true"},
        {"empty assistant text is left out",
         M("\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\","
           "\"content\":\"\",\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\",\"function\":"
           "{\"name\":\"f\",\"arguments\":\"{}\"}}]}]"),
         "messages.1.content",
         "[{\"type\":\"tool_use\",\"id\":\"c1\",\"name\":\"f\",\"input\":{}}]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        llmux__request *req = pt_request(cases[i].request);
        llmux__http_request http;
        cJSON *body = pt_build(req, &CFG, &http);
        print_message("%s\n", cases[i].what);
        pt_assert_at(body, cases[i].path, cases[i].expected);
        cJSON_Delete(body);
        llmux__http_request_free(&http);
        llmux__request_free(req);
    }

    /* configured defaults */
    llmux__provider_config cfg = CFG;
    cfg.default_max_tokens = 1000;
    cfg.anthropic_version = "2024-01-01";
    cfg.base_url = "https://gw.example/anthropic/";
    llmux__request *req = pt_request(M(U));
    llmux__http_request http;
    cJSON *body = pt_build(req, &cfg, &http);
    pt_assert_at(body, "max_tokens", "1000");
    assert_string_equal(http.url, "https://gw.example/anthropic/v1/messages");
    assert_string_equal(pt_header(&http, "anthropic-version"), "2024-01-01");
    cJSON_Delete(body);
    llmux__http_request_free(&http);
    llmux__request_free(req);

    /* what Anthropic cannot take */
    static const char *const bad[] = {
        M("\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\","
          "\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"f\","
          "\"arguments\":\"[1]\"}}]}]"),
        M("\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_audio\","
          "\"input_audio\":{}}]}]"),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        req = pt_request(bad[i]);
        llmux__error err;
        assert_int_equal(ANTHROPIC->build_request(&req->primary, req, &CFG, &http, &err),
                         LLMUX_EINVALID_REQUEST);
        assert_non_null(strstr(err.message, "messages[1]") ? err.message
                                                           : strstr(err.message, "messages[0]"));
        assert_null(http.url);
        llmux__request_free(req);
    }
#undef M
#undef U
#undef T
}

static void test_warm(void **state)
{
    (void)state;
    llmux__http_request http;
    llmux__error err;
    assert_int_equal(ANTHROPIC->warm_request(&CFG, &http, &err), LLMUX_OK);
    assert_string_equal(http.method, "GET");
    assert_string_equal(http.url, "https://api.anthropic.com/v1/models?limit=1");
    assert_string_equal(pt_header(&http, "x-api-key"), "sk-ant-test");
    assert_string_equal(pt_header(&http, "anthropic-version"), "2023-06-01");
    llmux__http_request_free(&http);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_responses),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_streams),
        cmocka_unit_test(test_stream_cut_short),
        cmocka_unit_test(test_request_fixtures),
        cmocka_unit_test(test_request_mapping),
        cmocka_unit_test(test_warm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
