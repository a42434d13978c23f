/* test_provider_roundtrip.c — tool calls crossing providers keep their ids and arguments:
 * an answer from one provider, as the OpenAI message llmux returns (streamed or not), sent
 * back in the history to another provider. OpenAI → Anthropic → OpenAI and → Google;
 * Gemini (with its thought signature) → Gemini, Anthropic, OpenAI. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "provider_test_util.h"

/* choices[0].message of the chat.completion llmux returns for a fixture response. */
static cJSON *message_from_response(llmux__provider p, const char *file)
{
    llmux__response *r = NULL;
    llmux__upstream_error ue;
    if (pt_parse_fixture(llmux__adapter_for(p), file, 200, NULL, 0, &r, &ue) != LLMUX_OK)
        fail_msg("%s: %s", file, ue.message);
    cJSON *j = llmux__response_to_json(r, 1);
    cJSON *choices = cJSON_GetObjectItemCaseSensitive(j, "choices");
    cJSON *msg = cJSON_DetachItemFromObjectCaseSensitive(cJSON_GetArrayItem(choices, 0), "message");
    cJSON_Delete(j);
    llmux__response_free(r);
    return msg;
}

/* What an OpenAI client assembles from llmux's chunks: content joined, tool_calls merged
 * by index (id/name from the first fragment, arguments concatenated). */
typedef struct assembler {
    cJSON *msg;
    llmux__buf text;
} assembler;

static int assemble(void *ud, const llmux__delta *d)
{
    assembler *as = ud;
    llmux__chunk_meta meta = {"chatcmpl-x", 1, "p", d->model};
    llmux__buf b = {0};
    llmux__chunk_write(&b, &meta, d);
    if (d->kind == LLMUX__DELTA_DONE || d->kind == LLMUX__DELTA_USAGE) {
        llmux__buf_free(&b);
        return 0;
    }
    cJSON *chunk = cJSON_Parse(b.p);
    llmux__buf_free(&b);
    assert_non_null(chunk);
    assert_null(cJSON_GetObjectItemCaseSensitive(chunk, "error"));
    cJSON *delta = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(chunk, "choices"), 0), "delta");
    cJSON *content = cJSON_GetObjectItemCaseSensitive(delta, "content");
    if (cJSON_IsString(content))
        llmux__buf_puts(&as->text, content->valuestring);
    cJSON *tc;
    cJSON_ArrayForEach(tc, cJSON_GetObjectItemCaseSensitive(delta, "tool_calls"))
    {
        int index = cJSON_GetObjectItemCaseSensitive(tc, "index")->valueint;
        cJSON *calls = cJSON_GetObjectItemCaseSensitive(as->msg, "tool_calls");
        if (!calls)
            calls = cJSON_AddArrayToObject(as->msg, "tool_calls");
        cJSON *call = cJSON_GetArrayItem(calls, index);
        if (!call) {
            assert_int_equal(cJSON_GetArraySize(calls), index);
            call = cJSON_CreateObject();
            cJSON_AddItemToArray(calls, call);
            cJSON *fn = cJSON_AddObjectToObject(call, "function");
            cJSON_AddStringToObject(fn, "arguments", "");
        }
        cJSON *fn = cJSON_GetObjectItemCaseSensitive(call, "function");
        cJSON *dfn = cJSON_GetObjectItemCaseSensitive(tc, "function");
        const char *keys[] = {"id", "type", "extra_content"};
        for (size_t k = 0; k < 3; k++) {
            cJSON *v = cJSON_GetObjectItemCaseSensitive(tc, keys[k]);
            if (v)
                cJSON_AddItemToObject(call, keys[k], cJSON_Duplicate(v, true));
        }
        cJSON *name = cJSON_GetObjectItemCaseSensitive(dfn, "name");
        if (name)
            cJSON_AddStringToObject(fn, "name", name->valuestring);
        cJSON *args = cJSON_GetObjectItemCaseSensitive(dfn, "arguments");
        if (cJSON_IsString(args) && args->valuestring[0]) {
            cJSON *have = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
            llmux__buf cat = {0};
            llmux__buf_puts(&cat, have->valuestring);
            llmux__buf_puts(&cat, args->valuestring);
            cJSON_ReplaceItemInObjectCaseSensitive(fn, "arguments", cJSON_CreateString(cat.p));
            llmux__buf_free(&cat);
        }
    }
    cJSON_Delete(chunk);
    return 0;
}

static cJSON *message_from_stream(llmux__provider p, const char *file)
{
    assembler as = {.msg = cJSON_CreateObject()};
    cJSON_AddStringToObject(as.msg, "role", "assistant");
    size_t len;
    char *body = tu_read_shared(file, &len);
    llmux__stream *s = llmux__stream_new(llmux__adapter_for(p));
    for (size_t i = 0; i < len; i += 7)
        llmux__stream_feed(s, body + i, len - i < 7 ? len - i : 7, assemble, &as);
    llmux__stream_finish(s, assemble, &as);
    llmux__stream_free(s);
    free(body);
    if (as.text.len)
        cJSON_AddStringToObject(as.msg, "content", as.text.p);
    else
        cJSON_AddNullToObject(as.msg, "content");
    llmux__buf_free(&as.text);
    return as.msg;
}

/* A seed request for provider/model whose history is: user question, the assistant
 * message `msg`, and one tool result per call of msg. */
static llmux__request *next_turn(const char *provider, const char *model, const cJSON *msg)
{
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "provider", provider);
    cJSON_AddStringToObject(req, "model", model);
    cJSON *msgs = cJSON_AddArrayToObject(req, "messages");
    cJSON *u = cJSON_CreateObject();
    cJSON_AddStringToObject(u, "role", "user");
    cJSON_AddStringToObject(u, "content", "What's the weather in Paris?");
    cJSON_AddItemToArray(msgs, u);
    cJSON_AddItemToArray(msgs, cJSON_Duplicate(msg, true));
    const cJSON *tc;
    int n = 0;
    cJSON_ArrayForEach(tc, cJSON_GetObjectItemCaseSensitive(msg, "tool_calls"))
    {
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "role", "tool");
        cJSON_AddStringToObject(t, "tool_call_id",
                                cJSON_GetObjectItemCaseSensitive(tc, "id")->valuestring);
        char content[32];
        snprintf(content, sizeof content, "result %d", n++);
        cJSON_AddStringToObject(t, "content", content);
        cJSON_AddItemToArray(msgs, t);
    }
    char *s = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    llmux__request *r = pt_request(s);
    cJSON_free(s);
    return r;
}

static cJSON *build_for(llmux__provider p, const llmux__request *req)
{
    llmux__provider_config cfg = {.provider = p,
                                  .api_key = "k",
                                  .base_url = p == LLMUX__PROVIDER_AZURE ? "https://a.test" : NULL};
    llmux__http_request http;
    cJSON *body = pt_build(req, &cfg, &http);
    llmux__http_request_free(&http);
    return body;
}

/* Asserts the upstream body of each provider carries the call (id, name, arguments as an
 * object) and its result (same id). */
static void assert_carried(const cJSON *msg, const char *model_google, const char *id,
                           const char *name, const char *args_json, const char *sig)
{
    char want[4096], path[64];
    /* the call's block/part follows the text block when the answer has text */
    int at = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(msg, "content")) ? 1 : 0;
    /* → Anthropic */
    llmux__request *req = next_turn("anthropic", "claude-sonnet-4-5", msg);
    cJSON *body = build_for(LLMUX__PROVIDER_ANTHROPIC, req);
    snprintf(want, sizeof want,
             "{\"type\":\"tool_use\",\"id\":\"%s\",\"name\":\"%s\",\"input\":%s}", id, name,
             args_json);
    snprintf(path, sizeof path, "messages.1.content.%d", at);
    pt_assert_at(body, path, want);
    snprintf(want, sizeof want, "\"%s\"", id);
    pt_assert_at(body, "messages.2.content.0.tool_use_id", want);
    cJSON_Delete(body);
    llmux__request_free(req);

    /* → OpenAI (arguments back to a string, same JSON) */
    req = next_turn("openai", "gpt-4o", msg);
    body = build_for(LLMUX__PROVIDER_OPENAI, req);
    snprintf(want, sizeof want, "\"%s\"", id);
    pt_assert_at(body, "messages.1.tool_calls.0.id", want);
    pt_assert_at(body, "messages.2.tool_call_id", want);
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(
            cJSON_GetArrayItem(
                cJSON_GetObjectItemCaseSensitive(
                    cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(body, "messages"), 1),
                    "tool_calls"),
                0),
            "function"),
        "arguments");
    assert_true(cJSON_IsString(args));
    cJSON *parsed = cJSON_Parse(args->valuestring);
    pt_assert_json(parsed, args_json);
    cJSON_Delete(parsed);
    cJSON_Delete(body);
    llmux__request_free(req);

    /* → Google: functionCall with the id, functionResponse named from the call */
    req = next_turn("google", model_google, msg);
    body = build_for(LLMUX__PROVIDER_GOOGLE, req);
    snprintf(want, sizeof want, "{\"name\":\"%s\",\"id\":\"%s\",\"args\":%s}", name, id, args_json);
    snprintf(path, sizeof path, "contents.1.parts.%d.functionCall", at);
    pt_assert_at(body, path, want);
    snprintf(want, sizeof want,
             "{\"id\":\"%s\",\"name\":\"%s\",\"response\":{\"result\":\"result 0\"}}", id, name);
    pt_assert_at(body, "contents.2.parts.0.functionResponse", want);
    snprintf(path, sizeof path, "contents.1.parts.%d.thoughtSignature", at);
    if (sig) {
        snprintf(want, sizeof want, "\"%s\"", sig);
        pt_assert_at(body, path, want);
    } else {
        pt_assert_at(body, path, "<absent>");
    }
    cJSON_Delete(body);
    llmux__request_free(req);
}

static void test_openai_answer(void **state)
{
    (void)state;
    cJSON *msg = message_from_response(LLMUX__PROVIDER_OPENAI,
                                       "fixtures/openai/chat_completion_tool_call.json");
    assert_carried(msg, "gemini-2.5-flash", "call_aDdJTteHrpMdhdkEkyxjxEHH", "get_weather",
                   "{\"city\":\"Paris\"}", NULL);
    cJSON_Delete(msg);
    /* streamed: the assembled message carries the same call */
    msg = message_from_stream(LLMUX__PROVIDER_OPENAI, "fixtures/openai/chat_stream_tool_call.sse");
    assert_carried(msg, "gemini-2.5-flash", "call_ZR5UUuTt3pf61kjwAJIYdVMj", "get_capital",
                   "{\"country\":\"UK\"}", NULL);
    cJSON_Delete(msg);
}

static void test_anthropic_answer(void **state)
{
    (void)state;
    cJSON *msg = message_from_response(LLMUX__PROVIDER_ANTHROPIC,
                                       "fixtures/anthropic/messages_tool_use.json");
    assert_carried(msg, "gemini-2.5-flash", "toolu_01WN4AuToBnJyXNQXwQBBebj", "get_weather",
                   "{\"city\":\"Paris\"}", NULL);
    cJSON_Delete(msg);
    msg = message_from_stream(LLMUX__PROVIDER_ANTHROPIC,
                              "fixtures/anthropic/messages_stream_tool_use_input_json.sse");
    assert_carried(msg, "gemini-2.5-flash", "toolu_019Zvehfe1XQWweT1pm7okyt", "weather",
                   "{\"location\":\"San Francisco\"}", NULL);
    cJSON_Delete(msg);
    /* the no-argument calls of a text + tools answer */
    msg = message_from_stream(LLMUX__PROVIDER_ANTHROPIC,
                              "fixtures/anthropic/messages_stream_tool_use.sse");
    pt_assert_at(msg, "content",
                 "\"I'll help you generate two names for a pet pelican using the pelican name "
                 "generator tool.\"");
    assert_carried(msg, "gemini-2.5-flash", "toolu_017ngBid8gmdReTeroVSZf7r",
                   "pelican_name_generator", "{}", NULL);
    cJSON_Delete(msg);
}

static void test_gemini_answer(void **state)
{
    (void)state;
    static const char sig[] = "EskgCsYgAb4+9vtF7/499YQS2bjZs3xcQI+iAl+ILn29nK1j0Kg6su7QsUUUk3nrAAf"
                              "nS2w5WiVvlcCqu9fAebJ2cvfaEyBahEt5";
    cJSON *msg =
        message_from_response(LLMUX__PROVIDER_GOOGLE, "fixtures/gemini/generate_tool_call.json");
    /* the signature goes back to Gemini on its call, and nowhere else */
    assert_carried(msg, "gemini-3-pro-preview", "call_m36LaZGyCLz1xs0PtNSB-QU_0", "weather",
                   "{\"location\":\"San Francisco\"}", sig);
    cJSON_Delete(msg);
    /* streamed, with the signature on the call's chunk */
    msg = message_from_stream(LLMUX__PROVIDER_GOOGLE,
                              "fixtures/gemini/stream_tool_call_thought_signature.sse");
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(
            cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(msg, "tool_calls"), 0),
            "extra_content"),
        "google");
    const char *ssig = cJSON_GetObjectItemCaseSensitive(g, "thought_signature")->valuestring;
    assert_memory_equal(ssig, "EpwICpkIAXLI2nx", 15);
    assert_carried(msg, "gemini-3-pro-preview", "call_QUVVadTSNJ6_qtsPvN7J8Q0_0", "get_country",
                   "{}", ssig);
    cJSON_Delete(msg);
    /* a call from a Gemini 2 answer has no signature, and none is invented for Gemini 2 */
    msg = message_from_stream(LLMUX__PROVIDER_GOOGLE, "fixtures/gemini/stream_tool_call.sse");
    assert_carried(msg, "gemini-2.0-flash", "call_1lpeaMTxIpW1nvgP-O3vwQY_0", "get_capital",
                   "{\"country\":\"France\"}", NULL);
    cJSON_Delete(msg);
}

/* Several parallel calls keep their order and ids both ways. */
static void test_parallel_calls(void **state)
{
    (void)state;
    cJSON *msg =
        message_from_stream(LLMUX__PROVIDER_AZURE, "fixtures/azure/chat_stream_tool_call.sse");
    llmux__request *req = next_turn("anthropic", "claude-sonnet-4-5", msg);
    cJSON *body = build_for(LLMUX__PROVIDER_ANTHROPIC, req);
    pt_assert_at(body, "messages.1.content",
                 "[{\"type\":\"tool_use\",\"id\":\"call_sJFuv3SdQtxoaCccGBPiPY53\",\"name\":"
                 "\"get_rand_string\",\"input\":{\"slat\":\"hello\"}},{\"type\":\"tool_use\","
                 "\"id\":\"call_RleVQfBwjkh4jez8JowsMSE1\",\"name\":\"get_rand_string\","
                 "\"input\":{\"slat\":\"hi\"}}]");
    pt_assert_at(body, "messages.2.content",
                 "[{\"type\":\"tool_result\",\"tool_use_id\":\"call_sJFuv3SdQtxoaCccGBPiPY53\","
                 "\"content\":\"result 0\"},{\"type\":\"tool_result\",\"tool_use_id\":"
                 "\"call_RleVQfBwjkh4jez8JowsMSE1\",\"content\":\"result 1\"}]");
    cJSON_Delete(body);
    llmux__request_free(req);
    req = next_turn("google", "gemini-2.5-flash", msg);
    body = build_for(LLMUX__PROVIDER_GOOGLE, req);
    pt_assert_at(body, "contents.2.parts.1.functionResponse",
                 "{\"id\":\"call_RleVQfBwjkh4jez8JowsMSE1\",\"name\":\"get_rand_string\","
                 "\"response\":{\"result\":\"result 1\"}}");
    cJSON_Delete(body);
    llmux__request_free(req);
    cJSON_Delete(msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openai_answer),
        cmocka_unit_test(test_anthropic_answer),
        cmocka_unit_test(test_gemini_answer),
        cmocka_unit_test(test_parallel_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
