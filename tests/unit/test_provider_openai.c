/* test_provider_openai.c — the OpenAI, Azure and OpenAI-compatible adapters on the real
 * fixtures: responses, errors, streams, and the request mapping table. Expectations are
 * written by hand from the fixture files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "provider_test_util.h"

#define OPENAI llmux__adapter_for(LLMUX__PROVIDER_OPENAI)
#define AZURE llmux__adapter_for(LLMUX__PROVIDER_AZURE)

/* ---- responses -------------------------------------------------------------------- */

typedef struct call_expect {
    const char *id, *name, *args;
} call_expect;

typedef struct response_case {
    const char *file;
    const char *id, *model;
    int64_t created;
    const char *text_prefix; /* NULL: no text */
    const char *text_suffix;
    llmux__finish_reason finish;
    int64_t prompt, completion, total; /* -1: no usage */
    call_expect calls[3];
} response_case;

static void check_response(const llmux__adapter *a, const response_case *c)
{
    llmux__response *r = NULL;
    llmux__upstream_error ue;
    llmux_code rc = pt_parse_fixture(a, c->file, 200, NULL, 0, &r, &ue);
    if (rc != LLMUX_OK)
        fail_msg("%s: %s", c->file, ue.message);
    assert_string_equal(r->id, c->id);
    assert_string_equal(r->model, c->model);
    assert_int_equal(r->created, c->created);
    if (!c->text_prefix) {
        assert_null(r->text);
    } else {
        assert_non_null(r->text);
        assert_int_equal(strlen(r->text), r->text_len);
        if (strncmp(r->text, c->text_prefix, strlen(c->text_prefix)) != 0)
            fail_msg("%s: text '%s' does not start with '%s'", c->file, r->text, c->text_prefix);
        size_t sl = strlen(c->text_suffix);
        if (r->text_len < sl || strcmp(r->text + r->text_len - sl, c->text_suffix) != 0)
            fail_msg("%s: text '%s' does not end with '%s'", c->file, r->text, c->text_suffix);
    }
    assert_int_equal(r->finish_reason, c->finish);
    if (c->prompt < 0) {
        assert_false(r->usage.present);
    } else {
        assert_true(r->usage.present);
        assert_int_equal(r->usage.prompt_tokens, c->prompt);
        assert_int_equal(r->usage.completion_tokens, c->completion);
        assert_int_equal(r->usage.total_tokens, c->total);
    }
    size_t n = 0;
    while (n < 3 && c->calls[n].id)
        n++;
    assert_int_equal(r->n_tool_calls, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(r->tool_calls[i].id, c->calls[i].id);
        assert_string_equal(r->tool_calls[i].name, c->calls[i].name);
        assert_string_equal(r->tool_calls[i].arguments, c->calls[i].args);
    }
    /* and it encodes back to a chat.completion */
    cJSON *j = llmux__response_to_json(r, 42);
    assert_non_null(j);
    pt_assert_at(j, "object", "\"chat.completion\"");
    pt_assert_at(j, "choices.0.message.role", "\"assistant\"");
    cJSON_Delete(j);
    llmux__response_free(r);
}

static void test_responses(void **state)
{
    (void)state;
    static const response_case openai_cases[] = {
        {"fixtures/openai/chat_completion_text.json",
         "chatcmpl-D8Z5f52zQqikDBEKQMQoYcWMcWPeU",
         "gpt-4.1-nano-2025-04-14",
         1770933883,
         "**Holiday Name:** Galaxy Day  \n\n**Date:** October 31st",
         "illuminate vast darkness\xE2\x80\x94mirroring our quest to find knowledge amidst the "
         "cosmos.  \n\n6. **Global Connection:** As Galaxy Day emphasizes shared wonder, people "
         "are encouraged to connect virtually with friends or communities worldwide to share "
         "discoveries, stories, and aspirations related to space.  \n\nGalaxy Day fosters a "
         "sense of unity, exploration, and awe, inspiring individuals to look up and dream "
         "beyond our world.",
         LLMUX__FINISH_STOP,
         16,
         363,
         379,
         {{0}}},
        {"fixtures/openai/chat_completion_tool_call.json",
         "chatcmpl-D3Sqix10hJ5DCDejQOQklpm4k7cj8",
         "gpt-5-mini-2025-08-07",
         1769718252,
         NULL,
         NULL,
         LLMUX__FINISH_TOOL_CALLS,
         132,
         23,
         155,
         {{"call_aDdJTteHrpMdhdkEkyxjxEHH", "get_weather", "{\"city\":\"Paris\"}"}}},
        {"fixtures/openai/chat_completion_after_tool_result.json",
         "chatcmpl-D3SqlRfqaB3DqdqMMzCTcq2Ghx9NY",
         "gpt-5-mini-2025-08-07",
         1769718255,
         "It's sunny in Paris right now, about 22\xC2\xB0"
         "C (\xE2\x89\x88"
         "72\xC2\xB0"
         "F).",
         "or weather for another city?",
         LLMUX__FINISH_STOP,
         167,
         171,
         338,
         {{0}}},
        {"fixtures/openai/chat_completion_stop_sequence.json",
         "chatcmpl-BfUgyreG4fpnDXvHKXtRkevWb6i3p",
         "o3-mini-2025-01-31",
         1749229128,
         "The capital of France is ",
         "",
         LLMUX__FINISH_STOP,
         31,
         467,
         498,
         {{0}}},
        {"fixtures/compat/vllm_chat_completion.json",
         "chatcmpl-0ab4663bd38a42ca",
         "zai/GLM-5.2",
         1786479603,
         "2 + 2 = 4.", /* the `reasoning` field is not answer text */
         "2 + 2 = 4.",
         LLMUX__FINISH_STOP,
         20,
         118,
         138,
         {{0}}},
        {"fixtures/compat/vllm_chat_completion_tool_call.json",
         "chatcmpl-0eb1633433141700",
         "zai/GLM-5.2",
         1786479605,
         NULL,
         NULL,
         LLMUX__FINISH_TOOL_CALLS,
         167,
         37,
         204,
         {{"chatcmpl-tool-bbb91941bf76335c", "get_weather", "{\"city\": \"Paris\"}"}}},
        {"fixtures/compat/gemini_openai_chat_completion_tool_call_empty_id.json",
         "3SE-aKjdCcCEz7IPxpqjCA",
         "gemini-2.5-pro-preview-05-06",
         1748902365,
         NULL,
         NULL,
         LLMUX__FINISH_TOOL_CALLS,
         35,
         12,
         109,
         /* id "" is synthesised, deterministically, from the response id */
         {{"call_3SE-aKjdCcCEz7IPxpqjCA_0", "get_current_time", "{}"}}},
        {"fixtures/compat/doubao_chat_completion_tool_call.json",
         "021736934021876a67222095253345647102ee3d39e5e9b67365c",
         "doubao-pro-32k-240515",
         1736934023,
         "\n\xE5\xBD\x93\xE5\x89\x8D\xE6\x8F\x90\xE4\xBE\x9B\xE4\xBA\x86 1 ",
         "\xE8\xB0\x83\xE7\x94\xA8 get_rand_string\xE3\x80\x82",
         LLMUX__FINISH_TOOL_CALLS,
         95,
         73,
         168,
         {{"call_xgax2gfar3s7tuvsw7kib0wk", "get_rand_string", "{\"slat\": \"hello\"}"}}},
    };
    for (size_t i = 0; i < sizeof openai_cases / sizeof openai_cases[0]; i++)
        check_response(OPENAI, &openai_cases[i]);

    static const response_case azure_cases[] = {
        {"fixtures/azure/chat_completion_text.json",
         "chatcmpl-BAeyRj7gU6aCNSSAskAFbupBWYMIT",
         "gpt-4o-2024-11-20",
         1741880483,
         "The capital of France is **Paris**.",
         "**Paris**.",
         LLMUX__FINISH_STOP,
         14,
         9,
         23,
         {{0}}},
        {"fixtures/azure/chat_completion_length.json",
         "chatcmpl-80yf1zsO83O6QA4OlMV9aHRIkSk2G",
         "gpt-35-turbo",
         1695243871,
         "I'm sorry, as an AI language model, I do not have real-time information. Please check",
         "Please check",
         LLMUX__FINISH_LENGTH,
         18,
         20,
         38,
         {{0}}},
        {"fixtures/azure/chat_completion_tool_call.json",
         "chatcmpl-ApoN65HowyikDJvdYM8dGNBou1EVK",
         "gpt-4o-2024-08-06",
         1736911720,
         NULL,
         NULL,
         LLMUX__FINISH_TOOL_CALLS,
         78,
         16,
         94,
         {{"call_cQL3yg4IQrXpB15naaHp6nY5", "get_rand_string", "{\"slat\":\"hello\"}"}}},
    };
    for (size_t i = 0; i < sizeof azure_cases / sizeof azure_cases[0]; i++)
        check_response(AZURE, &azure_cases[i]);
}

/* ---- errors ------------------------------------------------------------------------ */

typedef struct error_case {
    const llmux__adapter *(*adapter)(void);
    const char *file; /* NULL: use body */
    const char *body;
    int status;
    llmux__header headers[3];
    llmux_code code;
    bool retryable;
    const char *type;
    const char *param;
    const char *message_prefix;
    double retry_after;
} error_case;

static const llmux__adapter *openai(void)
{
    return OPENAI;
}
static const llmux__adapter *azure(void)
{
    return AZURE;
}

static void test_errors(void **state)
{
    (void)state;
    static const error_case cases[] = {
        {openai,
         "fixtures/openai/error_401_invalid_api_key.json",
         NULL,
         401,
         {{0}},
         LLMUX_EAUTH_FAILED,
         true,
         "invalid_api_key",
         "",
         "Incorrect API key provided: <redacted>. You can find your API key at "
         "https://platform.openai.com/account/api-keys.",
         -1},
        {openai,
         "fixtures/openai/error_404_model_not_found.json",
         NULL,
         404,
         {{0}},
         LLMUX_EMODEL_NOT_FOUND,
         false,
         "model_not_found",
         "",
         "The model `gpt-5.2-proo` does not exist or you do not have access to it.",
         -1},
        {openai,
         "fixtures/openai/error_400_unsupported_value.json",
         NULL,
         400,
         {{0}},
         LLMUX_EINVALID_REQUEST,
         false,
         "unsupported_value",
         "messages[0].role",
         "Unsupported value: 'messages[0].role' does not support 'system' with this model.",
         -1},
        {openai,
         "fixtures/openai/error_400_unsupported_parameter.json",
         NULL,
         400,
         {{0}},
         LLMUX_EINVALID_REQUEST,
         false,
         "unsupported_parameter",
         "max_tokens",
         "Unsupported parameter: 'max_tokens' is not supported with this model.",
         -1},
        {openai,
         "fixtures/openai/error_429_insufficient_quota.json",
         NULL,
         429,
         {{"retry-after", "2"}},
         LLMUX_ERATE_LIMITED,
         false,
         "insufficient_quota",
         "",
         "You exceeded your current quota, please check your plan and billing details.",
         2},
        {openai,
         "fixtures/openai/error_429_rate_limit_tokens.json",
         NULL,
         429,
         {{"Retry-After-Ms", "1500"}, {"retry-after", "2"}},
         LLMUX_ERATE_LIMITED,
         true,
         "rate_limit_exceeded",
         "",
         "Request too large for gpt-4o in organization",
         1.5},
        {azure,
         "fixtures/azure/error_401.json",
         NULL,
         401,
         {{0}},
         LLMUX_EAUTH_FAILED,
         true,
         "",
         "",
         "Access denied due to invalid subscription key or wrong API endpoint.",
         -1},
        {azure,
         "fixtures/azure/error_404_deployment_not_found.json",
         NULL,
         404,
         {{0}},
         LLMUX_EMODEL_NOT_FOUND,
         false,
         "DeploymentNotFound",
         "",
         "The API deployment for this resource does not exist.",
         -1},
        /* the wait is only in the message, and 86400 s is more than the 60 s we honour */
        {azure,
         "fixtures/azure/error_429.json",
         NULL,
         429,
         {{0}},
         LLMUX_ERATE_LIMITED,
         true,
         "",
         "",
         "Requests to the ChatCompletions_Create Operation",
         -1},
        {azure,
         "fixtures/azure/error_429.json",
         NULL,
         429,
         {{"retry-after", "7"}},
         LLMUX_ERATE_LIMITED,
         true,
         "",
         "",
         "Requests to the ChatCompletions_Create",
         7},
        {azure,
         NULL,
         "{\"error\":{\"code\":\"429\",\"message\":\"Rate limit is exceeded. Try again in 20 "
         "seconds. Please retry after 20 seconds.\"}}",
         429,
         {{0}},
         LLMUX_ERATE_LIMITED,
         true,
         "",
         "",
         "Rate limit is exceeded.",
         20},
        {azure,
         "fixtures/azure/error_400_content_filter.json",
         NULL,
         400,
         {{0}},
         LLMUX_EINVALID_REQUEST,
         false,
         "content_filter",
         "prompt",
         "The response was filtered due to the prompt triggering Azure OpenAI's content "
         "management policy.",
         -1},
        {openai,
         "fixtures/compat/groq_error_404_model_not_found.json",
         NULL,
         404,
         {{0}},
         LLMUX_EMODEL_NOT_FOUND,
         false,
         "model_not_found",
         "",
         "The model `non-existent` does not exist",
         -1},
        {openai,
         "fixtures/compat/openrouter_error_429.json",
         NULL,
         429,
         {{0}},
         LLMUX_ERATE_LIMITED,
         true,
         "",
         "",
         "Provider returned error",
         -1},
        /* plain-string error, 5xx, x-should-retry, non-JSON bodies */
        {openai,
         NULL,
         "{\"error\":\"model overloaded\"}",
         503,
         {{0}},
         LLMUX_EUPSTREAM,
         true,
         "",
         "",
         "model overloaded",
         -1},
        {openai,
         NULL,
         "{\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}",
         500,
         {{"x-should-retry", "false"}},
         LLMUX_EUPSTREAM,
         false,
         "server_error",
         "",
         "boom",
         -1},
        {openai,
         NULL,
         "{\"error\":{\"message\":\"bad\"}}",
         400,
         {{"X-Should-Retry", "true"}},
         LLMUX_EINVALID_REQUEST,
         true,
         "",
         "",
         "bad",
         -1},
        {openai,
         NULL,
         "<html>502 Bad Gateway</html>",
         502,
         {{0}},
         LLMUX_EUPSTREAM,
         true,
         "",
         "",
         "HTTP 502",
         -1},
        {openai, NULL, "", 403, {{0}}, LLMUX_EAUTH_FAILED, false, "", "", "HTTP 403", -1},
        /* a 2xx that is not an answer */
        {openai,
         NULL,
         "not json",
         200,
         {{0}},
         LLMUX_EUPSTREAM,
         true,
         "",
         "",
         "malformed upstream response",
         -1},
        {openai,
         NULL,
         "[1,2]",
         200,
         {{0}},
         LLMUX_EUPSTREAM,
         true,
         "",
         "",
         "malformed upstream response",
         -1},
        {openai,
         NULL,
         "{\"choices\":[]}",
         200,
         {{0}},
         LLMUX_EUPSTREAM,
         true,
         "",
         "",
         "malformed upstream response: no choices[0].message",
         -1},
        {openai,
         NULL,
         "{\"choices\":[{\"message\":\"hi\"}]}",
         200,
         {{0}},
         LLMUX_EUPSTREAM,
         true,
         "",
         "",
         "malformed upstream response",
         -1},
        {openai,
         NULL,
         "{\"choices\":[{\"message\":{\"tool_calls\":[{\"id\":\"x\",\"function\":{}}]}}]}",
         200,
         {{0}},
         LLMUX_EUPSTREAM,
         true,
         "",
         "",
         "malformed upstream response: a tool call",
         -1},
        {openai,
         NULL,
         "{\"error\":{\"message\":\"slow down\",\"type\":\"requests\",\"status_code\":429}}",
         200,
         {{0}},
         LLMUX_ERATE_LIMITED,
         true,
         "requests",
         "",
         "slow down",
         -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const error_case *c = &cases[i];
        size_t nh = 0;
        while (nh < 3 && c->headers[nh].name)
            nh++;
        llmux__response *r = (llmux__response *)1;
        llmux__upstream_error ue;
        llmux_code rc;
        if (c->file) {
            rc = pt_parse_fixture(c->adapter(), c->file, c->status, c->headers, nh, &r, &ue);
        } else {
            rc = c->adapter()->parse_response(c->status, c->headers, nh, c->body, strlen(c->body),
                                              1700000000.0, &r, &ue);
        }
        const char *what = c->file ? c->file : c->body;
        if (rc != c->code || ue.code != c->code)
            fail_msg("%s: code %s, expected %s", what, llmux_code_type(rc),
                     llmux_code_type(c->code));
        assert_null(r);
        if (ue.retryable != c->retryable)
            fail_msg("%s: retryable %d", what, ue.retryable);
        assert_int_equal(ue.http_status, c->status);
        assert_string_equal(ue.type, c->type);
        assert_string_equal(ue.param, c->param);
        if (strncmp(ue.message, c->message_prefix, strlen(c->message_prefix)) != 0)
            fail_msg("%s: message '%s', expected prefix '%s'", what, ue.message, c->message_prefix);
        if (ue.retry_after_s != c->retry_after)
            fail_msg("%s: retry_after %g, expected %g", what, ue.retry_after_s, c->retry_after);
        assert_null(strstr(ue.message, "not-a-r"));
    }
}

/* ---- streams ------------------------------------------------------------------------- */

typedef struct stream_case {
    const llmux__adapter *(*adapter)(void);
    const char *file;
    const char *text;
    call_expect calls[3];
    llmux__finish_reason finish;
    int64_t prompt, completion, total; /* -1: no usage */
    const char *id, *model;
    bool done;             /* else an error ended it */
    llmux_code error_code; /* when !done */
    bool error_retryable;
    int first_content; /* delta number of the first content delta (-1 none) */
} stream_case;

static void check_stream(const stream_case *c)
{
    pt_collect col;
    pt_run_fixture(c->adapter(), c->file, 0, &col);
    if (col.violations)
        fail_msg("%s: %d invariant violations\n%s", c->file, col.violations, col.log.p);
    if (strcmp(col.text.p ? col.text.p : "", c->text) != 0)
        fail_msg("%s: text '%s', expected '%s'", c->file, col.text.p, c->text);
    int n = 0;
    while (n < 3 && c->calls[n].id)
        n++;
    assert_int_equal(col.n_tools, n);
    for (int i = 0; i < n; i++) {
        assert_string_equal(col.tools[i].id, c->calls[i].id);
        assert_string_equal(col.tools[i].name, c->calls[i].name);
        assert_string_equal(col.tools[i].args.p ? col.tools[i].args.p : "", c->calls[i].args);
    }
    assert_int_equal(col.n_pre, 1);
    if (c->done) {
        if (col.n_done != 1)
            fail_msg("%s: not done\n%s", c->file, col.log.p);
        assert_int_equal(col.n_err, 0);
        assert_int_equal(col.n_finish, 1);
        assert_int_equal(col.finish, c->finish);
    } else {
        assert_int_equal(col.n_err, 1);
        assert_int_equal(col.n_done, 0);
        assert_int_equal(col.err.code, c->error_code);
        assert_int_equal(col.err.retryable, c->error_retryable);
    }
    if (c->prompt < 0) {
        assert_int_equal(col.n_usage, 0);
    } else {
        assert_int_equal(col.n_usage, 1);
        assert_int_equal(col.usage.prompt_tokens, c->prompt);
        assert_int_equal(col.usage.completion_tokens, c->completion);
        assert_int_equal(col.usage.total_tokens, c->total);
    }
    assert_string_equal(col.id, c->id);
    assert_string_equal(col.model, c->model);
    assert_int_equal(col.first_content, c->first_content);

    /* the same deltas however the body is split */
    for (unsigned split = 1; split < 12; split++) {
        pt_collect again;
        pt_run_fixture(c->adapter(), c->file, split, &again);
        if (strcmp(again.log.p, col.log.p) != 0)
            fail_msg("%s: split %u differs\n--- whole\n%s--- split\n%s", c->file, split, col.log.p,
                     again.log.p);
        pt_free(&again);
    }
    pt_free(&col);
}

static void test_streams(void **state)
{
    (void)state;
    static const stream_case cases[] = {
        {openai,
         "fixtures/openai/chat_stream_text.sse",
         "The capital of the UK is London.",
         {{0}},
         LLMUX__FINISH_STOP,
         78,
         9,
         87,
         "chatcmpl-Dx0Xq5Xx9rHB2ehcHZCRDsnuymUXc",
         "gpt-4o-mini-2024-07-18",
         true,
         0,
         false,
         1},
        {openai,
         "fixtures/openai/chat_stream_tool_call.sse",
         "",
         {{"call_ZR5UUuTt3pf61kjwAJIYdVMj", "get_capital", "{\"country\":\"UK\"}"}},
         LLMUX__FINISH_TOOL_CALLS,
         53,
         15,
         68,
         "chatcmpl-Dx0XpqH8w09uBXwq1zFGYdETjtnEl",
         "gpt-4o-mini-2024-07-18",
         true,
         0,
         false,
         1},
        /* Azure: the prompt-filter chunk (empty id/model) gives nothing */
        {azure,
         "fixtures/azure/chat_stream_text.sse",
         "Hallo Welt!",
         {{0}},
         LLMUX__FINISH_STOP,
         -1,
         0,
         0,
         "chatcmpl-BleatwEUn3D8iXsgXpDqeOPEMuW3j",
         "gpt-4o-2024-08-06",
         true,
         0,
         false,
         1},
        {azure,
         "fixtures/azure/chat_stream_text_usage.sse",
         "Capital of Denmark.",
         {{0}},
         LLMUX__FINISH_STOP,
         15,
         78,
         93,
         "chatcmpl-CYPS1lijGoK8gd9lYzY3r9Sx50nbt",
         "gpt-5-nano-2025-08-07",
         true,
         0,
         false,
         1},
        {azure,
         "fixtures/azure/chat_stream_tool_call.sse",
         "",
         {{"call_sJFuv3SdQtxoaCccGBPiPY53", "get_rand_string", "{\"slat\": \"hello\"}"},
          {"call_RleVQfBwjkh4jez8JowsMSE1", "get_rand_string", "{\"slat\": \"hi\"}"}},
         LLMUX__FINISH_TOOL_CALLS,
         -1,
         0,
         0,
         "chatcmpl-ApohIw9hJ9OVHrr7P75dYmwSvFiS6",
         "gpt-4o-2024-08-06",
         true,
         0,
         false,
         1},
        {openai,
         "fixtures/compat/vllm_chat_stream_text.sse",
         "1, 2, 3, 4, 5",
         {{0}},
         LLMUX__FINISH_STOP,
         46,
         14,
         60,
         "chatcmpl-bcfbe349402eb3d2",
         "meta-llama/Llama-3.3-70B-Instruct",
         true,
         0,
         false,
         1},
        /* no finish_reason ever: "stop" at [DONE]; content in the very first chunk */
        {openai,
         "fixtures/compat/snowflake_chat_stream_no_finish_reason.sse",
         "4",
         {{0}},
         LLMUX__FINISH_STOP,
         22,
         5,
         27,
         "",
         "claude-sonnet-4-6",
         true,
         0,
         false,
         1},
        /* reasoning deltas are not content; whole call in one delta; usage on finish chunk */
        {openai,
         "fixtures/compat/groq_chat_stream_tool_call.sse",
         "",
         {{"fc_bfb39741-3748-4def-9886-a93fc9c64a90", "get_something_by_name",
           "{\"name\":\"example\"}"}},
         LLMUX__FINISH_TOOL_CALLS,
         304,
         49,
         353,
         "chatcmpl-e35442a8-12c0-4fb4-8be4-0e51727ce7b7",
         "openai/gpt-oss-120b",
         true,
         0,
         false,
         1},
        /* event: error with status_code 400, before any content */
        {openai,
         "fixtures/compat/groq_chat_stream_midstream_error.sse",
         "",
         {{0}},
         LLMUX__FINISH_NONE,
         -1,
         0,
         0,
         "chatcmpl-4f39f3af-3267-4ac1-a0cf-6aa7451877dc",
         "openai/gpt-oss-120b",
         false,
         LLMUX_EINVALID_REQUEST,
         false,
         -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_stream(&cases[i]);

    /* the Groq error keeps its message and code */
    pt_collect col;
    pt_run_fixture(OPENAI, "fixtures/compat/groq_chat_stream_midstream_error.sse", 0, &col);
    assert_string_equal(col.err.type, "tool_use_failed");
    assert_int_equal(col.err.http_status, 0);
    assert_non_null(strstr(col.err.message, "Tool call validation failed"));
    pt_free(&col);
}

static void test_stream_cut_short(void **state)
{
    (void)state;
    size_t len;
    char *body = tu_read_shared("fixtures/openai/chat_stream_text.sse", &len);
    /* cut before the finish chunk: interrupted */
    const char *fin = strstr(body, "\"finish_reason\":\"stop\"");
    assert_non_null(fin);
    const char *cut = fin;
    while (cut > body && cut[-1] != '\n')
        cut--;
    pt_collect col;
    pt_run(OPENAI, body, (size_t)(cut - body), 3, &col);
    assert_int_equal(col.violations, 0);
    assert_int_equal(col.n_err, 1);
    assert_int_equal(col.err.code, LLMUX_EUPSTREAM);
    assert_true(col.err.retryable);
    assert_string_equal(col.err.message, "upstream stream ended before [DONE]");
    assert_string_equal(col.text.p, "The capital of the UK is London.");
    pt_free(&col);
    /* cut after the finish chunk but before usage and [DONE]: complete, without usage */
    const char *after = strstr(fin, "\n\n");
    pt_run(OPENAI, body, (size_t)(after + 2 - body), 5, &col);
    assert_int_equal(col.n_done, 1);
    assert_int_equal(col.n_usage, 0);
    assert_int_equal(col.finish, LLMUX__FINISH_STOP);
    pt_free(&col);
    /* an empty body */
    pt_run(OPENAI, "", 0, 0, &col);
    assert_int_equal(col.n_err, 1);
    assert_int_equal(col.n_deltas, 1);
    pt_free(&col);
    /* garbage in a data line */
    const char *bad = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {oops\n\n";
    pt_run(OPENAI, bad, strlen(bad), 0, &col);
    assert_int_equal(col.violations, 0);
    assert_string_equal(col.text.p, "a");
    assert_int_equal(col.n_err, 1);
    assert_string_equal(col.err.message, "malformed stream chunk: not a JSON object");
    pt_free(&col);
    /* an error payload without an event name, with an integer code */
    const char *e2 = "data: {\"error\":{\"code\":503,\"message\":\"busy\"}}\n\n";
    pt_run(OPENAI, e2, strlen(e2), 0, &col);
    assert_int_equal(col.n_err, 1);
    assert_int_equal(col.err.code, LLMUX_EUPSTREAM);
    assert_true(col.err.retryable);
    assert_string_equal(col.err.message, "busy");
    assert_int_equal(col.n_pre, 0); /* an error is not preceded by a preamble */
    pt_free(&col);
    free(body);
}

/* ---- requests ---------------------------------------------------------------------------- */

#define SEED_REQ                                                                                   \
    "{\"provider\":\"openai\",\"model\":\"gpt-4o\","                                               \
    "\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"                               \
    "{\"role\":\"user\",\"content\":\"Hi\"}],"                                                     \
    "\"temperature\":0.7,\"max_tokens\":100,\"top_p\":0.9,\"stop\":[\"END\"],"                     \
    "\"retry\":{\"enabled\":true,\"max_retries\":2},\"timeout\":30,\"first_token_timeout\":5,"     \
    "\"fallbacks\":[{\"provider\":\"anthropic\",\"model\":\"claude-haiku-4-5\"}]%s}"

static llmux__request *seed_request(const char *extra)
{
    char json[2048];
    snprintf(json, sizeof json, SEED_REQ, extra);
    return pt_request(json);
}

static void test_request_openai(void **state)
{
    (void)state;
    llmux__provider_config cfg = {.provider = LLMUX__PROVIDER_OPENAI, .api_key = "sk-test-123"};
    llmux__http_request http;

    /* only OpenAI's own fields go upstream; max_tokens → max_completion_tokens */
    llmux__request *req = seed_request(",\"stream_options\":{\"chunk_by_sentence\":true}");
    cJSON *body = pt_build(req, &cfg, &http);
    assert_string_equal(http.method, "POST");
    assert_string_equal(http.url, "https://api.openai.com/v1/chat/completions");
    assert_string_equal(pt_header(&http, "Authorization"), "Bearer sk-test-123");
    assert_string_equal(pt_header(&http, "Content-Type"), "application/json");
    pt_assert_json(body, "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"system\",\"content\":"
                         "\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hi\"}],"
                         "\"temperature\":0.7,\"top_p\":0.9,\"max_completion_tokens\":100,"
                         "\"stop\":[\"END\"]}");
    assert_int_equal(http.body_len, strlen(http.body));
    cJSON_Delete(body);
    llmux__http_request_free(&http);
    llmux__request_free(req);

    /* streaming: stream + stream_options.include_usage (llmux's options are not sent) */
    req = seed_request(",\"stream\":true,\"stream_options\":{\"chunk_by_sentence\":true}");
    body = pt_build(req, &cfg, &http);
    pt_assert_at(body, "stream", "true");
    pt_assert_at(body, "stream_options", "{\"include_usage\":true}");
    assert_string_equal(pt_header(&http, "Accept"), "text/event-stream");
    cJSON_Delete(body);
    llmux__http_request_free(&http);

    /* ... unless the server rejects stream_options */
    cfg.no_stream_options = true;
    body = pt_build(req, &cfg, &http);
    pt_assert_at(body, "stream_options", "<absent>");
    cJSON_Delete(body);
    llmux__http_request_free(&http);
    cfg.no_stream_options = false;
    llmux__request_free(req);

    /* a custom base_url (compat): its path kept, trailing '/' dropped, max_tokens */
    req = seed_request("");
    cfg.base_url = "https://api.groq.com/openai/v1/";
    body = pt_build(req, &cfg, &http);
    assert_string_equal(http.url, "https://api.groq.com/openai/v1/chat/completions");
    pt_assert_at(body, "max_tokens", "100");
    pt_assert_at(body, "max_completion_tokens", "<absent>");
    cJSON_Delete(body);
    llmux__http_request_free(&http);
    cfg.max_tokens_param = LLMUX__MAX_TOKENS_COMPLETION;
    body = pt_build(req, &cfg, &http);
    pt_assert_at(body, "max_completion_tokens", "100");
    cJSON_Delete(body);
    llmux__http_request_free(&http);
    cfg.base_url = "https://api.openai.com/v1";
    cfg.max_tokens_param = LLMUX__MAX_TOKENS_LEGACY;
    body = pt_build(req, &cfg, &http);
    pt_assert_at(body, "max_tokens", "100");
    cJSON_Delete(body);
    llmux__http_request_free(&http);
    cfg.base_url = NULL;
    cfg.max_tokens_param = LLMUX__MAX_TOKENS_AUTO;
    llmux__request_free(req);

    /* the caller's other OpenAI fields pass through; tool_choice only with tools */
    req = seed_request(",\"seed\":7,\"response_format\":{\"type\":\"json_object\"},"
                       "\"user\":\"u1\",\"n\":1,\"tool_choice\":\"auto\"");
    body = pt_build(req, &cfg, &http);
    pt_assert_at(body, "seed", "7");
    pt_assert_at(body, "response_format", "{\"type\":\"json_object\"}");
    pt_assert_at(body, "user", "\"u1\"");
    pt_assert_at(body, "n", "1");
    pt_assert_at(body, "tool_choice", "<absent>");
    pt_assert_at(body, "provider", "<absent>");
    pt_assert_at(body, "fallbacks", "<absent>");
    pt_assert_at(body, "retry", "<absent>");
    pt_assert_at(body, "timeout", "<absent>");
    pt_assert_at(body, "first_token_timeout", "<absent>");
    cJSON_Delete(body);
    llmux__http_request_free(&http);
    llmux__request_free(req);

    /* no key: no auth header */
    req = seed_request("");
    cfg.api_key = NULL;
    body = pt_build(req, &cfg, &http);
    assert_null(pt_header(&http, "Authorization"));
    cJSON_Delete(body);
    llmux__http_request_free(&http);

    /* a key with a line break is refused, and never echoed */
    llmux__error err;
    cfg.api_key = "sk-secret\r\nX-Evil: 1";
    assert_int_equal(OPENAI->build_request(&req->primary, req, &cfg, &http, &err),
                     LLMUX_EINVALID_REQUEST);
    assert_null(strstr(err.message, "sk-secret"));
    assert_null(http.url);
    /* a base_url that is not http(s) */
    cfg.api_key = "k";
    cfg.base_url = "ftp://x";
    assert_int_equal(OPENAI->build_request(&req->primary, req, &cfg, &http, &err),
                     LLMUX_EINVALID_REQUEST);
    llmux__request_free(req);
}

/* A fixture request body as a seed request (adds "provider" when the file has none). */
static llmux__request *fixture_request(const char *rel, const char *provider, cJSON **fixture)
{
    size_t len;
    char *text = tu_read_shared(rel, &len);
    cJSON *j = cJSON_Parse(text);
    free(text);
    assert_non_null(j);
    *fixture = cJSON_Duplicate(j, true);
    cJSON_AddStringToObject(j, "provider", provider);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    llmux__request *req = pt_request(s);
    cJSON_free(s);
    return req;
}

/* The real requests of the fixtures are reproduced exactly (we leave out "stream":false). */
static void test_request_fixtures(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        llmux__provider provider;
        const char *base_url;
        const char *api_version;
        const char *url;
    } cases[] = {
        {"fixtures/openai/chat_request_tools.json", LLMUX__PROVIDER_OPENAI, NULL, NULL,
         "https://api.openai.com/v1/chat/completions"},
        {"fixtures/openai/chat_request_tool_result.json", LLMUX__PROVIDER_OPENAI, NULL, NULL,
         "https://api.openai.com/v1/chat/completions"},
        {"fixtures/openai/chat_stream_request_tools.json", LLMUX__PROVIDER_OPENAI, NULL, NULL,
         "https://api.openai.com/v1/chat/completions"},
        {"fixtures/openai/chat_request_stop.json", LLMUX__PROVIDER_OPENAI, NULL, NULL,
         "https://api.openai.com/v1/chat/completions"},
        {"fixtures/openai/chat_request_max_completion_tokens.json", LLMUX__PROVIDER_OPENAI, NULL,
         NULL, "https://api.openai.com/v1/chat/completions"},
        {"fixtures/compat/vllm_chat_stream_request.json", LLMUX__PROVIDER_OPENAI,
         "https://api.crusoe.ai/v1", NULL, "https://api.crusoe.ai/v1/chat/completions"},
        {"fixtures/azure/chat_request_text.json", LLMUX__PROVIDER_AZURE,
         "https://my-resource.openai.azure.com/", "2024-12-01-preview",
         "https://my-resource.openai.azure.com/openai/deployments/gpt-4o/chat/"
         "completions?api-version=2024-12-01-preview"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *fixture;
        llmux__request *req = fixture_request(
            cases[i].file, cases[i].provider == LLMUX__PROVIDER_AZURE ? "azure" : "openai",
            &fixture);
        llmux__provider_config cfg = {.provider = cases[i].provider,
                                      .api_key = "k",
                                      .base_url = cases[i].base_url,
                                      .api_version = cases[i].api_version};
        llmux__http_request http;
        cJSON *body = pt_build(req, &cfg, &http);
        assert_string_equal(http.url, cases[i].url);
        cJSON *stream = cJSON_GetObjectItemCaseSensitive(fixture, "stream");
        if (cJSON_IsFalse(stream))
            cJSON_DeleteItemFromObjectCaseSensitive(fixture, "stream");
        if (cases[i].provider == LLMUX__PROVIDER_AZURE) {
            /* the deployment is in the URL */
            cJSON_DeleteItemFromObjectCaseSensitive(fixture, "model");
            assert_string_equal(pt_header(&http, "api-key"), "k");
            assert_null(pt_header(&http, "Authorization"));
        }
        char *want = cJSON_PrintUnformatted(fixture);
        pt_assert_json(body, want);
        cJSON_free(want);
        cJSON_Delete(fixture);
        cJSON_Delete(body);
        llmux__http_request_free(&http);
        llmux__request_free(req);
    }
}

static void test_request_azure(void **state)
{
    (void)state;
    llmux__request *req = seed_request(",\"stream\":true");
    llmux__provider_config cfg = {.provider = LLMUX__PROVIDER_AZURE,
                                  .api_key = "az-key",
                                  .base_url = "https://res.openai.azure.com"};
    llmux__http_request http;
    cJSON *body = pt_build(req, &cfg, &http);
    /* default api-version, max_tokens, no model in the body */
    assert_string_equal(http.url, "https://res.openai.azure.com/openai/deployments/gpt-4o/"
                                  "chat/completions?api-version=2024-10-21");
    assert_string_equal(pt_header(&http, "api-key"), "az-key");
    pt_assert_at(body, "max_tokens", "100");
    pt_assert_at(body, "model", "<absent>");
    pt_assert_at(body, "stream_options", "{\"include_usage\":true}");
    cJSON_Delete(body);
    llmux__http_request_free(&http);

    cfg.max_tokens_param = LLMUX__MAX_TOKENS_COMPLETION;
    body = pt_build(req, &cfg, &http);
    pt_assert_at(body, "max_completion_tokens", "100");
    cJSON_Delete(body);
    llmux__http_request_free(&http);

    /* the v1 surface */
    cfg.api_version = "v1";
    body = pt_build(req, &cfg, &http);
    assert_string_equal(http.url, "https://res.openai.azure.com/openai/v1/chat/completions");
    pt_assert_at(body, "model", "\"gpt-4o\"");
    cJSON_Delete(body);
    llmux__http_request_free(&http);

    /* no endpoint */
    llmux__error err;
    cfg.base_url = NULL;
    assert_int_equal(AZURE->build_request(&req->primary, req, &cfg, &http, &err),
                     LLMUX_EINVALID_REQUEST);
    assert_non_null(strstr(err.message, "base_url"));
    llmux__request_free(req);

    /* a deployment name is one path segment */
    req = pt_request("{\"provider\":\"azure\",\"model\":\"my dep/1\","
                     "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
    cfg.base_url = "https://res.openai.azure.com";
    cfg.api_version = "2025-01-01-preview";
    body = pt_build(req, &cfg, &http);
    assert_string_equal(http.url, "https://res.openai.azure.com/openai/deployments/my%20dep%2F1/"
                                  "chat/completions?api-version=2025-01-01-preview");
    cJSON_Delete(body);
    llmux__http_request_free(&http);
    llmux__request_free(req);
}

static void test_warm(void **state)
{
    (void)state;
    llmux__http_request http;
    llmux__error err;
    llmux__provider_config cfg = {.provider = LLMUX__PROVIDER_OPENAI, .api_key = "sk-1"};
    assert_int_equal(OPENAI->warm_request(&cfg, &http, &err), LLMUX_OK);
    assert_string_equal(http.method, "GET");
    assert_string_equal(http.url, "https://api.openai.com/v1/models");
    assert_string_equal(pt_header(&http, "Authorization"), "Bearer sk-1");
    assert_null(http.body);
    llmux__http_request_free(&http);
    cfg.base_url = "http://127.0.0.1:8080/v1";
    assert_int_equal(OPENAI->warm_request(&cfg, &http, &err), LLMUX_OK);
    assert_string_equal(http.url, "http://127.0.0.1:8080/v1/models");
    llmux__http_request_free(&http);

    llmux__provider_config az = {.provider = LLMUX__PROVIDER_AZURE,
                                 .api_key = "a",
                                 .base_url = "https://r.openai.azure.com/"};
    assert_int_equal(AZURE->warm_request(&az, &http, &err), LLMUX_OK);
    assert_string_equal(http.url,
                        "https://r.openai.azure.com/openai/models?api-version=2024-10-21");
    assert_string_equal(pt_header(&http, "api-key"), "a");
    llmux__http_request_free(&http);
    llmux__http_request_free(&http); /* twice is fine */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_responses),      cmocka_unit_test(test_errors),
        cmocka_unit_test(test_streams),        cmocka_unit_test(test_stream_cut_short),
        cmocka_unit_test(test_request_openai), cmocka_unit_test(test_request_fixtures),
        cmocka_unit_test(test_request_azure),  cmocka_unit_test(test_warm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
