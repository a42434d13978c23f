/* test_response.c — the unified response and delta model and their OpenAI encodings:
 * JSON string escaping (any bytes → valid JSON), chat.completion objects and
 * chat.completion.chunk payloads for every delta kind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/response.h"

static void test_json_string_escaping(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t len; /* 0: strlen */
        const char *out;
    } cases[] = {
        {"", 0, "\"\""},
        {"plain text", 0, "\"plain text\""},
        {"q\"b\\s/", 0, "\"q\\\"b\\\\s/\""},
        {"\n\r\t\b\f", 0, "\"\\n\\r\\t\\b\\f\""},
        {"\x01\x1f\x7f", 0, "\"\\u0001\\u001f\x7f\""},
        {"a\0b", 3, "\"a\\u0000b\""},
        {"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", 0, "\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\""},
        /* invalid UTF-8 → U+FFFD per bad byte */
        {"a\xFF"
         "b",
         0,
         "\"a\xEF\xBF\xBD"
         "b\""},
        {"\xC0\xAF", 0, "\"\xEF\xBF\xBD\xEF\xBF\xBD\""},                 /* overlong */
        {"\xED\xA0\x80", 0, "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\""}, /* surrogate */
        {"x\xE2\x82", 0, "\"x\xEF\xBF\xBD\xEF\xBF\xBD\""},               /* truncated */
        {"\xF4\x90\x80\x80", 0,
         "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\""}, /* > U+10FFFF */
        {"\xF4\x8F\xBF\xBF", 0, "\"\xF4\x8F\xBF\xBF\""},          /* U+10FFFF itself */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        llmux__buf b = {0};
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);
        assert_true(llmux__buf_json_string(&b, cases[i].in, len));
        assert_string_equal(b.p, cases[i].out);
        assert_true(llmux__utf8_valid(b.p, b.len));
        cJSON *j = cJSON_Parse(b.p);
        assert_true(cJSON_IsString(j));
        cJSON_Delete(j);
        llmux__buf_free(&b);
    }
    /* any bytes at all give valid UTF-8 JSON that parses back */
    unsigned seed = 12345;
    for (int round = 0; round < 2000; round++) {
        unsigned char in[64];
        size_t len = (size_t)(round % 64);
        for (size_t k = 0; k < len; k++) {
            seed = seed * 1103515245u + 12345u;
            in[k] = (unsigned char)(seed >> 16);
        }
        llmux__buf b = {0};
        llmux__buf_json_string(&b, (const char *)in, len);
        assert_true(llmux__utf8_valid(b.p, b.len));
        cJSON *j = cJSON_ParseWithLength(b.p, b.len);
        assert_true(cJSON_IsString(j));
        /* valid input (without NUL, which C strings cannot hold) comes back unchanged */
        if (llmux__utf8_valid((const char *)in, len) && !memchr(in, 0, len)) {
            assert_int_equal(strlen(j->valuestring), len);
            assert_memory_equal(j->valuestring, in, len);
        }
        cJSON_Delete(j);
        llmux__buf_free(&b);
    }
}

static void test_buf(void **state)
{
    (void)state;
    llmux__buf b;
    llmux__buf_init(&b);
    assert_null(b.p);
    for (int i = 0; i < 1000; i++)
        llmux__buf_puts(&b, "0123456789");
    assert_int_equal(b.len, 10000);
    assert_int_equal(b.p[b.len], '\0');
    llmux__buf_clear(&b);
    assert_int_equal(b.len, 0);
    llmux__buf_int(&b, -42);
    llmux__buf_int(&b, INT64_MAX);
    assert_string_equal(b.p, "-429223372036854775807");
    assert_false(b.oom);
    llmux__buf_free(&b);
}

/* llmux__response_write_json (the proxy's tree-free writer) gives the same bytes as
 * printing llmux__response_to_json's tree, once closed. */
static void assert_writer_matches(const llmux__response *r)
{
    cJSON *j = llmux__response_to_json(r, 1700000000);
    char *s = cJSON_PrintUnformatted(j);
    llmux__buf b;
    llmux__buf_init(&b);
    assert_true(llmux__response_write_json(&b, r, 1700000000, NULL));
    llmux__buf_puts(&b, "}");
    assert_string_equal(b.p, s);
    llmux__buf_free(&b);
    cJSON_free(s);
    cJSON_Delete(j);
}

static void test_response_to_json(void **state)
{
    (void)state;
    llmux__response *r = llmux__response_new();
    assert_non_null(r);
    /* an empty response still encodes */
    r->finish_reason = LLMUX__FINISH_STOP;
    cJSON *j = llmux__response_to_json(r, 1700000000);
    char *s = cJSON_PrintUnformatted(j);
    assert_string_equal(s, "{\"id\":\"\",\"object\":\"chat.completion\",\"created\":1700000000,"
                           "\"model\":\"\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
                           "\"assistant\",\"content\":null},\"finish_reason\":\"stop\"}]}");
    cJSON_free(s);
    cJSON_Delete(j);
    assert_writer_matches(r);

    r->id = llmux__response_strdup(r, "msg_1", 5);
    r->model = llmux__response_strdup(r, "m-2", 3);
    r->created = 99;
    assert_true(llmux__response_set_text(r, "Hi \"you\"\n", 9));
    assert_true(llmux__response_add_tool_call(r, "call_1", "f", "{\"a\":1}", NULL));
    assert_true(llmux__response_add_tool_call(r, "call_2", "g", NULL, "SIG"));
    assert_true(llmux__response_add_tool_call(r, "call_3", "h", "{}", NULL));
    r->finish_reason = LLMUX__FINISH_TOOL_CALLS;
    r->usage = (llmux__usage){true, 10, 5, 15};
    j = llmux__response_to_json(r, 1700000000);
    s = cJSON_PrintUnformatted(j);
    assert_string_equal(
        s, "{\"id\":\"msg_1\",\"object\":\"chat.completion\",\"created\":99,\"model\":\"m-2\","
           "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
           "\"Hi \\\"you\\\"\\n\",\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\","
           "\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":1}\"}},{\"id\":\"call_2\","
           "\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"{}\"},"
           "\"extra_content\":{\"google\":{\"thought_signature\":\"SIG\"}}},{\"id\":\"call_3\","
           "\"type\":\"function\",\"function\":{\"name\":\"h\",\"arguments\":\"{}\"}}]},"
           "\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":10,"
           "\"completion_tokens\":5,\"total_tokens\":15}}");
    cJSON_free(s);
    cJSON_Delete(j);
    assert_writer_matches(r);
    r->finish_reason = LLMUX__FINISH_NONE; /* finish_reason null */
    assert_writer_matches(r);
    r->finish_reason = LLMUX__FINISH_TOOL_CALLS;

    /* invalid UTF-8 from an upstream is made valid when stored */
    assert_true(llmux__response_set_text(r, "ok\xFF!", 4));
    assert_string_equal(r->text, "ok\xEF\xBF\xBD!");
    assert_int_equal(r->text_len, 6);
    llmux__response_free(r);
    llmux__response_free(NULL);
}

static void test_chunks(void **state)
{
    (void)state;
    llmux__chunk_meta m = {"chatcmpl-1", 1700000000, "anthropic", "claude-x"};
    llmux__upstream_error ue;
    llmux__upstream_error_clear(&ue);
    ue.code = LLMUX_ESTREAM_INTERRUPTED;
    snprintf(ue.message, sizeof ue.message, "cut \"short\"");
#define HEAD                                                                                       \
    "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"          \
    "\"model\":\"claude-x\",\"provider\":\"anthropic\","
    static const char big_text[] = "line1\nline2 \xE2\x9C\x93 \x01";
    const struct {
        llmux__delta d;
        const char *json;
    } cases[] = {
        {{.kind = LLMUX__DELTA_PREAMBLE},
         HEAD "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
              "\"finish_reason\":null}]}"},
        {{.kind = LLMUX__DELTA_TEXT, .text = big_text, .text_len = sizeof big_text - 1},
         HEAD "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"line1\\nline2 \xE2\x9C\x93 "
              "\\u0001\"},\"finish_reason\":null}]}"},
        {{.kind = LLMUX__DELTA_TOOL_CALL_START,
          .index = 1,
          .tool_id = "toolu_1",
          .tool_name = "get_weather"},
         HEAD "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":"
              "\"toolu_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
              "\"arguments\":\"\"}}]},\"finish_reason\":null}]}"},
        {{.kind = LLMUX__DELTA_TOOL_CALL_START,
          .index = 0,
          .tool_id = "c",
          .tool_name = "f",
          .thought_signature = "S+/="},
         HEAD "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\","
              "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"\"},"
              "\"extra_content\":{\"google\":{\"thought_signature\":\"S+/=\"}}}]},"
              "\"finish_reason\":null}]}"},
        {{.kind = LLMUX__DELTA_TOOL_CALL_ARGS, .index = 1, .text = "{\"city\":", .text_len = 8},
         HEAD "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":"
              "{\"arguments\":\"{\\\"city\\\":\"}}]},\"finish_reason\":null}]}"},
        {{.kind = LLMUX__DELTA_FINISH, .finish_reason = LLMUX__FINISH_LENGTH},
         HEAD "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}"},
        {{.kind = LLMUX__DELTA_USAGE, .usage = {true, 7, 8, 15}},
         HEAD "\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":8,"
              "\"total_tokens\":15}}"},
        {{.kind = LLMUX__DELTA_ERROR, .error = &ue},
         "{\"error\":{\"type\":\"stream_interrupted\",\"message\":\"cut \\\"short\\\"\","
         "\"provider\":\"anthropic\"}}"},
        {{.kind = LLMUX__DELTA_DONE}, "[DONE]"},
    };
#undef HEAD
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        llmux__buf b = {0};
        assert_true(llmux__chunk_write(&b, &m, &cases[i].d));
        assert_string_equal(b.p, cases[i].json);
        if (cases[i].d.kind != LLMUX__DELTA_DONE) {
            cJSON *j = cJSON_Parse(b.p);
            assert_non_null(j);
            cJSON_Delete(j);
        }
        llmux__buf_clear(&b);
        assert_true(llmux__chunk_write_sse(&b, &m, &cases[i].d));
        assert_memory_equal(b.p, "data: ", 6);
        assert_memory_equal(b.p + b.len - 2, "\n\n", 2);
        assert_int_equal(b.len, strlen(cases[i].json) + 8);
        llmux__buf_free(&b);
    }
}

static void test_names_and_kinds(void **state)
{
    (void)state;
    assert_null(llmux__finish_reason_name(LLMUX__FINISH_NONE));
    assert_string_equal(llmux__finish_reason_name(LLMUX__FINISH_STOP), "stop");
    assert_string_equal(llmux__finish_reason_name(LLMUX__FINISH_LENGTH), "length");
    assert_string_equal(llmux__finish_reason_name(LLMUX__FINISH_TOOL_CALLS), "tool_calls");
    assert_string_equal(llmux__finish_reason_name(LLMUX__FINISH_CONTENT_FILTER), "content_filter");
    static const struct {
        llmux__delta_kind k;
        bool content;
        const char *name;
    } kinds[] = {
        {LLMUX__DELTA_PREAMBLE, false, "preamble"},
        {LLMUX__DELTA_TEXT, true, "text"},
        {LLMUX__DELTA_TOOL_CALL_START, true, "tool_call_start"},
        {LLMUX__DELTA_TOOL_CALL_ARGS, true, "tool_call_args"},
        {LLMUX__DELTA_FINISH, false, "finish"},
        {LLMUX__DELTA_USAGE, false, "usage"},
        {LLMUX__DELTA_ERROR, false, "error"},
        {LLMUX__DELTA_DONE, false, "done"},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        llmux__delta d = {.kind = kinds[i].k};
        assert_int_equal(llmux__delta_is_content(&d), kinds[i].content);
        assert_string_equal(llmux__delta_kind_name(kinds[i].k), kinds[i].name);
    }

    llmux__upstream_error ue;
    llmux__upstream_error_clear(&ue);
    assert_int_equal(ue.code, LLMUX_OK);
    assert_true(ue.retry_after_s < 0);
    ue.code = LLMUX_ERATE_LIMITED;
    snprintf(ue.message, sizeof ue.message, "slow");
    cJSON *j = llmux__upstream_error_to_json(&ue, "openai");
    char *s = cJSON_PrintUnformatted(j);
    assert_string_equal(s,
                        "{\"type\":\"rate_limited\",\"message\":\"slow\",\"provider\":\"openai\"}");
    cJSON_free(s);
    cJSON_Delete(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_string_escaping), cmocka_unit_test(test_buf),
        cmocka_unit_test(test_response_to_json),     cmocka_unit_test(test_chunks),
        cmocka_unit_test(test_names_and_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
