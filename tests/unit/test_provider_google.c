/* test_provider_google.c — the Gemini adapter on the real fixtures: responses (thinking
 * tokens, synthesised call ids, thought signatures), errors (API_KEY_INVALID,
 * RetryInfo), streams (CRLF, end of body as the end), and the request mapping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "provider_test_util.h"

#define GOOGLE llmux__adapter_for(LLMUX__PROVIDER_GOOGLE)

static const char SIG_CALL[] = "EskgCsYgAb4+9vtF7/499YQS2bjZs3xcQI+iAl+ILn29nK1j0Kg6su7QsUUUk3nrAAf"
                               "nS2w5WiVvlcCqu9fAebJ2cvfaEyBahEt5";

static llmux__response *parse_ok(const char *file)
{
    llmux__response *r = NULL;
    llmux__upstream_error ue;
    if (pt_parse_fixture(GOOGLE, file, 200, NULL, 0, &r, &ue) != LLMUX_OK)
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
    /* completion = candidates + thoughts; the text part's own signature is not a call */
    llmux__response *r = parse_ok("fixtures/gemini/generate_text.json");
    assert_string_equal(r->id, "Un6LacrVMcjUxs0PmJfWoQc");
    assert_string_equal(r->model, "gemini-3-pro-preview");
    assert_string_equal(r->text, "There are **3** r's in strawberry.\n\nHere is the breakdown: "
                                 "st**r**awbe**rr**y.");
    assert_int_equal(r->finish_reason, LLMUX__FINISH_STOP);
    assert_int_equal(r->n_tool_calls, 0);
    assert_usage(&r->usage, 9, 28 + 244, 281);
    llmux__response_free(r);

    /* STOP with a functionCall is tool_calls; the call gets a deterministic id */
    r = parse_ok("fixtures/gemini/generate_tool_call.json");
    assert_string_equal(r->id, "m36LaZGyCLz1xs0PtNSB-QU");
    assert_null(r->text);
    assert_int_equal(r->n_tool_calls, 1);
    assert_string_equal(r->tool_calls[0].id, "call_m36LaZGyCLz1xs0PtNSB-QU_0");
    assert_string_equal(r->tool_calls[0].name, "weather");
    assert_string_equal(r->tool_calls[0].arguments, "{\"location\":\"San Francisco\"}");
    assert_string_equal(r->tool_calls[0].thought_signature, SIG_CALL);
    assert_int_equal(r->finish_reason, LLMUX__FINISH_TOOL_CALLS);
    assert_usage(&r->usage, 29, 15 + 893, 937);
    cJSON *j = llmux__response_to_json(r, 5);
    pt_assert_at(j, "choices.0.message.tool_calls.0.extra_content.google.thought_signature",
                 "\"EskgCsYgAb4+9vtF7/499YQS2bjZs3xcQI+iAl+ILn29nK1j0Kg6su7QsUUUk3nrAAfnS2w5WiVvlc"
                 "Cqu9fAebJ2cvfaEyBahEt5\"");
    pt_assert_at(j, "choices.0.finish_reason", "\"tool_calls\"");
    pt_assert_at(j, "created", "5");
    cJSON_Delete(j);
    llmux__response_free(r);

    r = parse_ok("fixtures/gemini/generate_text_simple.json");
    assert_string_equal(r->id, "bzlXaa_EE_aHqtsPi_zw8Ao");
    assert_string_equal(r->model, "gemini-2.5-flash");
    assert_string_equal(r->text, "Hello! How can I help you today?");
    assert_usage(&r->usage, 9, 9 + 34, 52);
    llmux__response_free(r);

    r = parse_ok("fixtures/gemini/generate_max_tokens.json");
    assert_string_equal(r->text, "The capital of France is");
    assert_int_equal(r->finish_reason, LLMUX__FINISH_LENGTH);
    assert_usage(&r->usage, 15, 5, 20);
    llmux__response_free(r);

    r = parse_ok("fixtures/gemini/generate_tool_call_no_args.json");
    assert_string_equal(r->model, "gemini-2.0-flash");
    assert_int_equal(r->n_tool_calls, 1);
    assert_string_equal(r->tool_calls[0].id, "call_LlteaIDvD9m7nvgPz5Sb0Aw_0");
    assert_string_equal(r->tool_calls[0].name, "get_user_country");
    assert_string_equal(r->tool_calls[0].arguments, "{}");
    assert_null(r->tool_calls[0].thought_signature);
    assert_int_equal(r->finish_reason, LLMUX__FINISH_TOOL_CALLS);
    assert_usage(&r->usage, 33, 5, 38);
    llmux__response_free(r);

    /* finishReason table; thought parts skipped; an upstream call id is kept */
    static const struct {
        const char *reason;
        llmux__finish_reason f;
    } reasons[] = {{"STOP", LLMUX__FINISH_STOP},
                   {"MAX_TOKENS", LLMUX__FINISH_LENGTH},
                   {"SAFETY", LLMUX__FINISH_CONTENT_FILTER},
                   {"RECITATION", LLMUX__FINISH_CONTENT_FILTER},
                   {"BLOCKLIST", LLMUX__FINISH_CONTENT_FILTER},
                   {"PROHIBITED_CONTENT", LLMUX__FINISH_CONTENT_FILTER},
                   {"SPII", LLMUX__FINISH_CONTENT_FILTER},
                   {"IMAGE_SAFETY", LLMUX__FINISH_CONTENT_FILTER},
                   {"OTHER", LLMUX__FINISH_STOP},
                   {"LANGUAGE", LLMUX__FINISH_STOP},
                   {"FINISH_REASON_UNSPECIFIED", LLMUX__FINISH_STOP},
                   {"SOMETHING_NEW", LLMUX__FINISH_STOP}};
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
        char body[512];
        snprintf(body, sizeof body,
                 "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"thinking...\","
                 "\"thought\":true},{\"text\":\"A\"},{\"text\":\"B\"}]},\"finishReason\":\"%s\"}]}",
                 reasons[i].reason);
        llmux__upstream_error ue;
        assert_int_equal(GOOGLE->parse_response(200, NULL, 0, body, strlen(body), 0, &r, &ue),
                         LLMUX_OK);
        assert_string_equal(r->text, "AB");
        assert_int_equal(r->finish_reason, reasons[i].f);
        assert_false(r->usage.present);
        assert_string_equal(r->id, "");
        llmux__response_free(r);
    }
    const char *with_id = "{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"id\":"
                          "\"fc-1\",\"name\":\"f\",\"args\":{\"x\":[1,2]}}}]},\"finishReason\":"
                          "\"STOP\"}]}";
    llmux__upstream_error ue;
    assert_int_equal(GOOGLE->parse_response(200, NULL, 0, with_id, strlen(with_id), 0, &r, &ue),
                     LLMUX_OK);
    assert_string_equal(r->tool_calls[0].id, "fc-1");
    assert_string_equal(r->tool_calls[0].arguments, "{\"x\":[1,2]}");
    llmux__response_free(r);

    /* a blocked prompt: no candidates, an answer with finish content_filter */
    const char *blocked = "{\"promptFeedback\":{\"blockReason\":\"SAFETY\"},\"usageMetadata\":"
                          "{\"promptTokenCount\":5,\"totalTokenCount\":5}}";
    assert_int_equal(GOOGLE->parse_response(200, NULL, 0, blocked, strlen(blocked), 0, &r, &ue),
                     LLMUX_OK);
    assert_null(r->text);
    assert_int_equal(r->finish_reason, LLMUX__FINISH_CONTENT_FILTER);
    assert_usage(&r->usage, 5, 0, 5);
    llmux__response_free(r);
}

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        const char *body;
        int status;
        llmux_code code;
        bool retryable;
        const char *type;
        const char *message;
        double retry_after;
    } cases[] = {
        /* a bad key is a 400 here, and means auth_failed */
        {"fixtures/gemini/error_400_api_key_invalid.json", NULL, 400, LLMUX_EAUTH_FAILED, true,
         "API_KEY_INVALID", "API key not valid. Please pass a valid API key.", -1},
        {"fixtures/gemini/error_404_not_found.json", NULL, 404, LLMUX_EMODEL_NOT_FOUND, false,
         "NOT_FOUND", "models/gemini-3.6-flahs is not found for API version v1beta", -1},
        {"fixtures/gemini/error_429_resource_exhausted.json", NULL, 429, LLMUX_ERATE_LIMITED, true,
         "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan.", 34.4},
        {"fixtures/gemini/error_503_unavailable.json", NULL, 503, LLMUX_EUPSTREAM, true,
         "UNAVAILABLE", "The model is overloaded. Please try again later.", -1},
        {NULL,
         "{\"error\":{\"code\":400,\"message\":\"bad schema\",\"status\":\"INVALID_ARGUMENT\"}}",
         400, LLMUX_EINVALID_REQUEST, false, "INVALID_ARGUMENT", "bad schema", -1},
        {NULL,
         "{\"error\":{\"code\":429,\"message\":\"q\",\"details\":[{\"retryDelay\":\"600s\"}]}}",
         429, LLMUX_ERATE_LIMITED, true, "", "q", -1},
        {NULL, "{\"error\":{\"code\":\"x\",\"details\":[7,{\"reason\":5}]}}", 500, LLMUX_EUPSTREAM,
         true, "", "HTTP 500", -1},
        {NULL, "{\"candidates\":\"no\"}", 200, LLMUX_EUPSTREAM, true, "",
         "malformed upstream response: no candidates", -1},
        {NULL,
         "{\"candidates\":[{\"content\":{\"parts\":[]},\"finishReason\":"
         "\"MALFORMED_FUNCTION_CALL\"}]}",
         200, LLMUX_EUPSTREAM, true, "", "malformed upstream response: the model produced", -1},
        {NULL, "{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"args\":{}}}]}}]}",
         200, LLMUX_EUPSTREAM, true, "", "malformed upstream response: a functionCall has no name",
         -1},
        {NULL, "{\"error\":{\"code\":503,\"message\":\"busy\",\"status\":\"UNAVAILABLE\"}}", 200,
         LLMUX_EUPSTREAM, true, "UNAVAILABLE", "busy", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        llmux__response *r = NULL;
        llmux__upstream_error ue;
        llmux_code rc;
        if (cases[i].file)
            rc = pt_parse_fixture(GOOGLE, cases[i].file, cases[i].status, NULL, 0, &r, &ue);
        else
            rc = GOOGLE->parse_response(cases[i].status, NULL, 0, cases[i].body,
                                        strlen(cases[i].body), 0, &r, &ue);
        const char *what = cases[i].file ? cases[i].file : cases[i].body;
        if (rc != cases[i].code)
            fail_msg("%s: %s (%s)", what, llmux_code_type(rc), ue.message);
        assert_null(r);
        if (ue.retryable != cases[i].retryable)
            fail_msg("%s: retryable %d", what, ue.retryable);
        assert_string_equal(ue.type, cases[i].type);
        if (strncmp(ue.message, cases[i].message, strlen(cases[i].message)) != 0)
            fail_msg("%s: message '%s'", what, ue.message);
        if (ue.retry_after_s != cases[i].retry_after)
            fail_msg("%s: retry_after %g", what, ue.retry_after_s);
    }
    /* a Retry-After header wins over RetryInfo */
    llmux__header h = {"Retry-After", "3"};
    llmux__response *r;
    llmux__upstream_error ue;
    assert_int_equal(pt_parse_fixture(GOOGLE, "fixtures/gemini/error_429_resource_exhausted.json",
                                      429, &h, 1, &r, &ue),
                     LLMUX_ERATE_LIMITED);
    assert_true(ue.retry_after_s == 3.0);
}

static void test_streams(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        const char *text;
        const char *call_id, *call_name, *call_args, *sig_prefix;
        llmux__finish_reason finish;
        int64_t prompt, completion, total;
        const char *id, *model;
    } cases[] = {
        /* CRLF framing; usage on every chunk, even the prompt count changes: keep the last */
        {"fixtures/gemini/stream_text.sse", "The capital of France is Paris.\n", NULL, NULL, NULL,
         NULL, LLMUX__FINISH_STOP, 13, 8, 21, "w1peaMz6INOvnvgPgYfPiQY", "gemini-2.0-flash-exp"},
        {"fixtures/gemini/stream_text_after_tool_results.sse",
         "The temperature in Paris is 30\xC2\xB0"
         "C.\n",
         NULL, NULL, NULL, NULL, LLMUX__FINISH_STOP, 79, 12, 91, "11peaI_ZJLq3nvgP0vasuQk",
         "gemini-2.0-flash"},
        /* the whole call and STOP in one chunk */
        {"fixtures/gemini/stream_tool_call.sse", "", "call_1lpeaMTxIpW1nvgP-O3vwQY_0",
         "get_capital", "{\"country\":\"France\"}", "", LLMUX__FINISH_TOOL_CALLS, 52, 5, 57,
         "1lpeaMTxIpW1nvgP-O3vwQY", "gemini-2.0-flash"},
        /* the call (with its signature) first, STOP on a later chunk with an empty text */
        {"fixtures/gemini/stream_tool_call_thought_signature.sse", "",
         "call_QUVVadTSNJ6_qtsPvN7J8Q0_0", "get_country", "{}", "EpwICpkIAXLI2nxlU6gsWZaZ",
         LLMUX__FINISH_TOOL_CALLS, 29, 10 + 202, 241, "QUVVadTSNJ6_qtsPvN7J8Q0",
         "gemini-3-pro-preview"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pt_collect col;
        pt_run_fixture(GOOGLE, cases[i].file, 0, &col);
        if (col.violations)
            fail_msg("%s: violations\n%s", cases[i].file, col.log.p);
        assert_string_equal(col.text.p ? col.text.p : "", cases[i].text);
        if (cases[i].call_id) {
            assert_int_equal(col.n_tools, 1);
            assert_string_equal(col.tools[0].id, cases[i].call_id);
            assert_string_equal(col.tools[0].name, cases[i].call_name);
            assert_string_equal(col.tools[0].args.p, cases[i].call_args);
            assert_memory_equal(col.tools[0].sig, cases[i].sig_prefix, strlen(cases[i].sig_prefix));
        } else {
            assert_int_equal(col.n_tools, 0);
        }
        assert_int_equal(col.n_pre, 1);
        assert_int_equal(col.first_content, 1);
        assert_int_equal(col.n_finish, 1);
        assert_int_equal(col.finish, cases[i].finish);
        assert_int_equal(col.n_usage, 1);
        assert_int_equal(col.usage.prompt_tokens, cases[i].prompt);
        assert_int_equal(col.usage.completion_tokens, cases[i].completion);
        assert_int_equal(col.usage.total_tokens, cases[i].total);
        assert_int_equal(col.n_done, 1);
        assert_string_equal(col.id, cases[i].id);
        assert_string_equal(col.model, cases[i].model);
        for (unsigned split = 1; split < 12; split++) {
            pt_collect again;
            pt_run_fixture(GOOGLE, cases[i].file, split, &again);
            if (strcmp(again.log.p, col.log.p) != 0)
                fail_msg("%s: split %u differs", cases[i].file, split);
            pt_free(&again);
        }
        pt_free(&col);
    }
}

static void test_stream_ends(void **state)
{
    (void)state;
    size_t len;
    char *body = tu_read_shared("fixtures/gemini/stream_text.sse", &len);
    /* the body ends before the chunk with finishReason: interrupted */
    const char *last = strstr(body, "finishReason");
    while (last > body && !(last[-1] == '\n'))
        last--;
    pt_collect col;
    pt_run(GOOGLE, body, (size_t)(last - body), 4, &col);
    assert_int_equal(col.n_err, 1);
    assert_string_equal(col.err.message, "upstream stream ended before a finishReason");
    assert_string_equal(col.text.p, "The capital of France");
    assert_int_equal(col.n_usage, 0);
    pt_free(&col);
    /* the last chunk without its CRLF CRLF: still complete */
    size_t cut = len;
    while (cut && (body[cut - 1] == '\r' || body[cut - 1] == '\n'))
        cut--;
    pt_run(GOOGLE, body, cut, 1, &col);
    assert_int_equal(col.n_done, 1);
    assert_int_equal(col.finish, LLMUX__FINISH_STOP);
    pt_free(&col);
    free(body);

    /* an error chunk, a malformed call, wrong types */
    static const struct {
        const char *sse;
        llmux_code code;
        bool retryable;
        const char *message;
    } cases[] = {
        {"data: {\"error\":{\"code\":429,\"message\":\"quota\",\"status\":\"RESOURCE_EXHAUSTED\"}}"
         "\r\n\r\n",
         LLMUX_ERATE_LIMITED, true, "quota"},
        {"data: {\"error\":{\"code\":500,\"message\":\"internal\",\"status\":\"INTERNAL\"}}\n\n",
         LLMUX_EUPSTREAM, true, "internal"},
        {"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]}}]}\n\ndata: "
         "{\"candidates\":[{\"finishReason\":\"MALFORMED_FUNCTION_CALL\"}]}\n\n",
         LLMUX_EUPSTREAM, true, "the model produced a malformed function call"},
        {"data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"args\":1}}]}}]}\n\n",
         LLMUX_EUPSTREAM, true, "malformed stream chunk: a functionCall has no name"},
        {"data: {\"candidates\":7,\"usageMetadata\":{\"promptTokenCount\":1e300}}\n\n",
         LLMUX_EUPSTREAM, true, "upstream stream ended before a finishReason"},
        {"data: \"text\"\n\n", LLMUX_EUPSTREAM, true, "malformed stream chunk: not a JSON object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pt_run(GOOGLE, cases[i].sse, strlen(cases[i].sse), 0, &col);
        assert_int_equal(col.violations, 0);
        assert_int_equal(col.n_err, 1);
        assert_int_equal(col.err.code, cases[i].code);
        assert_int_equal(col.err.retryable, cases[i].retryable);
        if (strncmp(col.err.message, cases[i].message, strlen(cases[i].message)) != 0)
            fail_msg("%s: message '%s'", cases[i].sse, col.err.message);
        pt_free(&col);
    }
    /* a blocked prompt in a stream */
    const char *blocked = "data: {\"promptFeedback\":{\"blockReason\":\"OTHER\"}}\n\n";
    pt_run(GOOGLE, blocked, strlen(blocked), 0, &col);
    assert_int_equal(col.finish, LLMUX__FINISH_CONTENT_FILTER);
    assert_int_equal(col.n_done, 1);
    pt_free(&col);
}

/* ---- requests ------------------------------------------------------------------------ */

static cJSON *fixture_json(const char *rel)
{
    size_t len;
    char *text = tu_read_shared(rel, &len);
    cJSON *j = cJSON_Parse(text);
    free(text);
    assert_non_null(j);
    return j;
}

static const llmux__provider_config CFG = {.provider = LLMUX__PROVIDER_GOOGLE,
                                           .api_key = "AIza-test"};

/* Compares body[key] with fixture[key] for each key given ("-" = must be absent in body). */
static void assert_same(const cJSON *body, const cJSON *fixture, const char *const *keys)
{
    for (size_t i = 0; keys[i]; i++) {
        const cJSON *want = cJSON_GetObjectItemCaseSensitive(fixture, keys[i]);
        const cJSON *got = cJSON_GetObjectItemCaseSensitive(body, keys[i]);
        if (!want) {
            if (got)
                fail_msg("%s should be absent", keys[i]);
            continue;
        }
        if (!got)
            fail_msg("%s missing", keys[i]);
        char *w = cJSON_PrintUnformatted(want);
        print_message("%s\n", keys[i]);
        pt_assert_json(got, w);
        cJSON_free(w);
    }
}

static void test_request_fixtures(void **state)
{
    (void)state;
    static const char *const tools2 =
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_capital\",\"description\":"
        "\"Get the capital of a country.\",\"parameters\":{\"properties\":{\"country\":{"
        "\"description\":\"The country name.\",\"type\":\"STRING\"}},\"required\":[\"country\"],"
        "\"type\":\"OBJECT\"}}},{\"type\":\"function\",\"function\":{\"name\":\"get_temperature\","
        "\"description\":\"Get the temperature in a city.\",\"parameters\":{\"properties\":{"
        "\"city\":{\"description\":\"The city name.\",\"type\":\"STRING\"}},\"required\":"
        "[\"city\"],\"type\":\"OBJECT\"}}}]";
    static const char *const sys = "{\"role\":\"system\",\"content\":\"You are a helpful "
                                   "chatbot.\"},";
    static const struct {
        const char *fixture;
        const char *seed_head; /* the seed request, then tools2 when with_tools */
        bool with_tools;
        bool stream;
        const char *url_model;
        const char *keys[6];
    } cases[] = {
        {"fixtures/gemini/generate_request_system.json",
         "{\"provider\":\"google\",\"model\":\"gemini-2.5-flash\",\"messages\":[{\"role\":"
         "\"system\",\"content\":\"You are a chatbot.\"},{\"role\":\"user\",\"content\":"
         "\"Hello!\"}]",
         false,
         false,
         "gemini-2.5-flash",
         {"contents", "tools", "toolConfig", NULL}},
        {"fixtures/gemini/generate_request_stop_sequences.json",
         "{\"provider\":\"google\",\"model\":\"gemini-2.5-flash\",\"stop\":[\"Paris\"],"
         "\"messages\":[{\"role\":\"user\",\"content\":\"What is the capital of France? Give me "
         "an answer that contains the word \\\"Paris\\\", but is not the first word.\"}]",
         false,
         false,
         "gemini-2.5-flash",
         {"contents", "generationConfig", "systemInstruction", "tools", NULL}},
        {"fixtures/gemini/generate_request_max_output_tokens.json",
         "{\"provider\":\"google\",\"model\":\"gemini-2.5-flash\",\"max_tokens\":5,\"messages\":"
         "[{\"role\":\"system\",\"content\":\"You are a helpful chatbot.\"},{\"role\":\"user\","
         "\"content\":\"What is the capital of France?\"}]",
         false,
         false,
         "gemini-2.5-flash",
         {"contents", NULL}},
        {"fixtures/gemini/stream_request_text.json",
         "{\"provider\":\"google\",\"model\":\"gemini-2.0-flash-exp\",\"temperature\":0.0,"
         "\"stream\":true,\"messages\":[{\"role\":\"system\",\"content\":\"You are a helpful "
         "chatbot.\"},{\"role\":\"user\",\"content\":\"What is the capital of France?\"}]",
         false,
         true,
         "gemini-2.0-flash-exp",
         {"contents", "generationConfig", NULL}},
        {"fixtures/gemini/stream_request_tools.json",
         NULL,
         true,
         true,
         "gemini-2.0-flash",
         {"contents", "tools", NULL}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[8192];
        if (cases[i].seed_head)
            snprintf(json, sizeof json, "%s}", cases[i].seed_head);
        else
            snprintf(json, sizeof json,
                     "{\"provider\":\"google\",\"model\":\"gemini-2.0-flash\",\"stream\":true,"
                     "\"messages\":[%s{\"role\":\"user\",\"content\":\"What is the temperature of "
                     "the capital of France?\"}],%s}",
                     sys, tools2);
        llmux__request *req = pt_request(json);
        llmux__http_request http;
        cJSON *body = pt_build(req, &CFG, &http);
        cJSON *want = fixture_json(cases[i].fixture);
        assert_same(body, want, cases[i].keys);
        /* systemInstruction: the parts (the SDK adds a role Gemini ignores) */
        const cJSON *ws = cJSON_GetObjectItemCaseSensitive(want, "systemInstruction");
        if (ws) {
            char *w = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(ws, "parts"));
            pt_assert_at(body, "systemInstruction.parts", w);
            cJSON_free(w);
        }
        char url[256];
        snprintf(url, sizeof url, "https://generativelanguage.googleapis.com/v1beta/models/%s:%s",
                 cases[i].url_model,
                 cases[i].stream ? "streamGenerateContent?alt=sse" : "generateContent");
        assert_string_equal(http.url, url);
        assert_string_equal(pt_header(&http, "x-goog-api-key"), "AIza-test");
        assert_null(strstr(http.url, "AIza"));
        cJSON_Delete(want);
        cJSON_Delete(body);
        llmux__http_request_free(&http);
        llmux__request_free(req);
    }
}

/* The recorded multi-turn tool history, from its OpenAI shape. */
static void test_request_tool_history(void **state)
{
    (void)state;
    const char *json =
        "{\"provider\":\"google\",\"model\":\"gemini-2.0-flash\",\"stream\":true,\"messages\":["
        "{\"role\":\"system\",\"content\":\"You are a helpful chatbot.\"},"
        "{\"role\":\"user\",\"content\":\"What is the temperature of the capital of France?\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":"
        "\"pyd_ai_0e1a07b3c2b64d2ab3ad2efbe18e1b97\",\"type\":\"function\",\"function\":{\"name\":"
        "\"get_capital\",\"arguments\":\"{\\\"country\\\": \\\"France\\\"}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"pyd_ai_0e1a07b3c2b64d2ab3ad2efbe18e1b97\","
        "\"content\":\"Paris\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":"
        "\"pyd_ai_98b25d994c5648df82f683188629229d\",\"type\":\"function\",\"function\":{\"name\":"
        "\"get_temperature\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"pyd_ai_98b25d994c5648df82f683188629229d\","
        "\"content\":\"30\xC2\xB0"
        "C\"}]}";
    llmux__request *req = pt_request(json);
    llmux__http_request http;
    cJSON *body = pt_build(req, &CFG, &http);
    cJSON *want = fixture_json("fixtures/gemini/stream_request_tool_results.json");
    /* pydantic-ai wraps results as {"return_value": …}; llmux as {"result": …} */
    char *w = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(want, "contents"));
    llmux__buf fixed = {0};
    for (const char *p = w; *p;) {
        if (strncmp(p, "\"return_value\"", 14) == 0) {
            llmux__buf_puts(&fixed, "\"result\"");
            p += 14;
        } else {
            llmux__buf_append(&fixed, p, 1);
            p++;
        }
    }
    pt_assert_at(body, "contents", fixed.p);
    llmux__buf_free(&fixed);
    cJSON_free(w);
    cJSON_Delete(want);
    cJSON_Delete(body);
    llmux__http_request_free(&http);
    llmux__request_free(req);
}

typedef struct map_case {
    const char *what;
    const char *request;
    const char *path;
    const char *expected;
} map_case;

static void test_request_mapping(void **state)
{
    (void)state;
#define M(x) "{\"provider\":\"google\",\"model\":\"gemini-2.5-flash\"," x "}"
#define M3(x) "{\"provider\":\"google\",\"model\":\"gemini-3-pro-preview\"," x "}"
#define U "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"
#define T "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"description\":\"d\"}}]"
#define CALLS                                                                                      \
    "\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":"     \
    "\"Checking.\",\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":"   \
    "\"f\",\"arguments\":\"{\\\"a\\\":1}\"}},{\"id\":\"c2\",\"type\":\"function\",\"function\":"   \
    "{\"name\":\"g\",\"arguments\":\"\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"c2\","           \
    "\"content\":\"r2\"},{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":[{\"type\":"       \
    "\"text\",\"text\":\"r\"},{\"type\":\"text\",\"text\":\"1\"}]}]"
    static const map_case cases[] = {
        {"user turn", M(U), "contents", "[{\"role\":\"user\",\"parts\":[{\"text\":\"hi\"}]}]"},
        {"no generationConfig when nothing is set", M(U), "generationConfig", "<absent>"},
        {"generationConfig",
         M(U ",\"temperature\":0.3,\"top_p\":0.8,\"max_tokens\":64,\"stop\":\"X\""),
         "generationConfig",
         "{\"temperature\":0.3,\"topP\":0.8,\"maxOutputTokens\":64,\"stopSequences\":[\"X\"]}"},
        {"system and developer → systemInstruction",
         M("\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"developer\","
           "\"content\":\"D\"},{\"role\":\"user\",\"content\":\"hi\"}]"),
         "systemInstruction", "{\"parts\":[{\"text\":\"S\"},{\"text\":\"D\"}]}"},
        {"assistant → model, consecutive turns merged",
         M("\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"user\",\"content\":"
           "\"b\"},{\"role\":\"assistant\",\"content\":\"c\"}]"),
         "contents",
         "[{\"role\":\"user\",\"parts\":[{\"text\":\"a\"},{\"text\":\"b\"}]},{\"role\":\"model\","
         "\"parts\":[{\"text\":\"c\"}]}]"},
        {"tool calls → functionCall, results → functionResponse named from the call", M(CALLS),
         "contents",
         "[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]},{\"role\":\"model\",\"parts\":["
         "{\"text\":\"Checking.\"},{\"functionCall\":{\"name\":\"f\",\"id\":\"c1\",\"args\":"
         "{\"a\":1}}},{\"functionCall\":{\"name\":\"g\",\"id\":\"c2\",\"args\":{}}}]},"
         "{\"role\":\"user\",\"parts\":[{\"functionResponse\":{\"id\":\"c2\",\"name\":\"g\","
         "\"response\":{\"result\":\"r2\"}}},{\"functionResponse\":{\"id\":\"c1\",\"name\":\"f\","
         "\"response\":{\"result\":\"r1\"}}}]}]"},
        {"Gemini 3: a placeholder signature on the first call of a turn without one", M3(CALLS),
         "contents.1.parts",
         "[{\"text\":\"Checking.\"},{\"functionCall\":{\"name\":\"f\",\"id\":\"c1\",\"args\":"
         "{\"a\":1}},\"thoughtSignature\":\"skip_thought_signature_validator\"},"
         "{\"functionCall\":{\"name\":\"g\",\"id\":\"c2\",\"args\":{}}}]"},
        {"the caller's signature is sent back on its call",
         M3("\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\","
            "\"tool_calls\":[{\"id\":\"c9\",\"type\":\"function\",\"function\":{\"name\":\"f\","
            "\"arguments\":\"{}\"},\"extra_content\":{\"google\":{\"thought_signature\":"
            "\"SIG==\"}}}]},{\"role\":\"tool\",\"tool_call_id\":\"c9\",\"content\":\"ok\"}]"),
         "contents.1.parts.0.thoughtSignature", "\"SIG==\""},
        {"inline image",
         M("\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"see\"},"
           "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/jpeg;base64,/9j/4A\"}}]}]"),
         "contents.0.parts",
         "[{\"text\":\"see\"},{\"inlineData\":{\"mimeType\":\"image/jpeg\",\"data\":\"/9j/4A\"}}]"},
        {"tools → functionDeclarations", M(U "," T), "tools",
         "[{\"functionDeclarations\":[{\"name\":\"f\",\"description\":\"d\"}]}]"},
        {"JSON Schema → the OpenAPI subset",
         M(U ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{"
             "\"$schema\":\"http://json-schema.org/draft-07/schema#\",\"type\":\"object\","
             "\"additionalProperties\":false,\"properties\":{\"a\":{\"type\":[\"string\","
             "\"null\"],\"description\":\"A\"},\"b\":{\"type\":\"array\",\"items\":{\"type\":"
             "\"integer\",\"minimum\":0,\"exclusiveMaximum\":9}},\"c\":{\"const\":\"x\"},"
             "\"d\":{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"object\",\"properties\":{},"
             "\"additionalProperties\":true}]}},\"required\":[\"a\"]},\"strict\":true}}]"),
         "tools.0.functionDeclarations.0.parameters",
         "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"nullable\":true,"
         "\"description\":\"A\"},\"b\":{\"type\":\"array\",\"items\":{\"type\":\"integer\","
         "\"minimum\":0}},\"c\":{\"enum\":[\"x\"]},\"d\":{\"anyOf\":[{\"type\":\"string\"},"
         "{\"type\":\"object\",\"properties\":{}}]}},\"required\":[\"a\"]}"},
        {"tool_choice auto", M(U "," T ",\"tool_choice\":\"auto\""), "toolConfig",
         "{\"functionCallingConfig\":{\"mode\":\"AUTO\"}}"},
        {"tool_choice none", M(U "," T ",\"tool_choice\":\"none\""), "toolConfig",
         "{\"functionCallingConfig\":{\"mode\":\"NONE\"}}"},
        {"tool_choice required → ANY", M(U "," T ",\"tool_choice\":\"required\""), "toolConfig",
         "{\"functionCallingConfig\":{\"mode\":\"ANY\"}}"},
        {"tool_choice named → ANY + allowedFunctionNames",
         M(U "," T ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"f\"}}"),
         "toolConfig",
         "{\"functionCallingConfig\":{\"mode\":\"ANY\",\"allowedFunctionNames\":[\"f\"]}}"},
        {"no tools, no toolConfig", M(U ",\"tool_choice\":\"auto\""), "toolConfig", "<absent>"},
        {"llmux and OpenAI-only fields are not sent",
         M(U ",\"seed\":1,\"retry\":{\"max_retries\":0},\"stream_options\":{"
             "\"clean_sentences\":true}"),
         "seed", "<absent>"},
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

    /* a "models/" prefix and odd characters in the model name */
    llmux__request *req =
        pt_request("{\"provider\":\"google\",\"model\":\"models/gemini-2.5-flash\"," U "}");
    llmux__http_request http;
    llmux__provider_config cfg = CFG;
    cfg.base_url = "http://127.0.0.1:9999/";
    cJSON *body = pt_build(req, &cfg, &http);
    assert_string_equal(http.url,
                        "http://127.0.0.1:9999/v1beta/models/gemini-2.5-flash:generateContent");
    cJSON_Delete(body);
    llmux__http_request_free(&http);
    llmux__request_free(req);

    /* what Gemini cannot take */
    static const char *const bad[] = {
        M("\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"tool\","
          "\"tool_call_id\":\"nope\",\"content\":\"r\"}]"),
        M("\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":"
          "{\"url\":\"https://x.test/a.png\"}}]}]"),
        M("\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\","
          "\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\",\"function\":{\"name\":\"f\","
          "\"arguments\":\"not json\"}}]}]"),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        req = pt_request(bad[i]);
        llmux__error err;
        assert_int_equal(GOOGLE->build_request(&req->primary, req, &CFG, &http, &err),
                         LLMUX_EINVALID_REQUEST);
        assert_non_null(strstr(err.message, "messages["));
        assert_null(http.url);
        llmux__request_free(req);
    }
#undef M
#undef M3
#undef U
#undef T
#undef CALLS
}

static void test_warm(void **state)
{
    (void)state;
    llmux__http_request http;
    llmux__error err;
    assert_int_equal(GOOGLE->warm_request(&CFG, &http, &err), LLMUX_OK);
    assert_string_equal(http.method, "GET");
    assert_string_equal(http.url,
                        "https://generativelanguage.googleapis.com/v1beta/models?pageSize=1");
    assert_string_equal(pt_header(&http, "x-goog-api-key"), "AIza-test");
    llmux__http_request_free(&http);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_responses),        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_streams),          cmocka_unit_test(test_stream_ends),
        cmocka_unit_test(test_request_fixtures), cmocka_unit_test(test_request_tool_history),
        cmocka_unit_test(test_request_mapping),  cmocka_unit_test(test_warm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
