/* test_provider_common.c — what all adapters share: the adapter table, header lookup,
 * Retry-After parsing, synthesised ids, and robustness: every fixture cut at every
 * length, and mangled, parses to a classified result with every field set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "provider_test_util.h"
#include "providers/common.h"

static void test_adapter_table(void **state)
{
    (void)state;
    static const struct {
        llmux__provider p;
        const char *name;
        const char *base;
    } cases[] = {
        {LLMUX__PROVIDER_OPENAI, "openai", "https://api.openai.com/v1"},
        {LLMUX__PROVIDER_AZURE, "azure", ""},
        {LLMUX__PROVIDER_ANTHROPIC, "anthropic", "https://api.anthropic.com"},
        {LLMUX__PROVIDER_GOOGLE, "google", "https://generativelanguage.googleapis.com"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const llmux__adapter *a = llmux__adapter_for(cases[i].p);
        assert_non_null(a);
        assert_int_equal(a->provider, cases[i].p);
        assert_string_equal(a->name, cases[i].name);
        assert_string_equal(a->name, llmux__provider_name(cases[i].p));
        assert_non_null(a->build_request);
        assert_non_null(a->parse_response);
        assert_non_null(a->stream_event);
        assert_non_null(a->stream_end);
        assert_non_null(a->warm_request);
        assert_string_equal(llmux__provider_default_base_url(cases[i].p), cases[i].base);
    }
    assert_null(llmux__adapter_for(LLMUX__PROVIDER_COUNT));
    assert_null(llmux__adapter_for((llmux__provider)-1));
    assert_null(llmux__stream_decoder_new(NULL));
}

static void test_headers(void **state)
{
    (void)state;
    const llmux__header h[] = {
        {"Content-Type", "application/json"}, {"RETRY-AFTER", "5"}, {"retry-after", "9"}};
    assert_string_equal(llmux__header_get(h, 3, "content-type"), "application/json");
    assert_string_equal(llmux__header_get(h, 3, "Retry-After"), "5"); /* the first one */
    assert_null(llmux__header_get(h, 3, "x-request-id"));
    assert_null(llmux__header_get(NULL, 0, "a"));
    assert_null(llmux__header_get(h, 0, "content-type"));
}

static void test_retry_after(void **state)
{
    (void)state;
    /* now = Sun, 06 Nov 1994 08:49:07 GMT */
    const double now = 784111747.0;
    static const struct {
        const char *ms;
        const char *ra;
        double want;
    } cases[] = {
        {NULL, NULL, -1},
        {"1500", NULL, 1.5},
        {"1500", "30", 1.5}, /* ms first */
        {"0", "30", 30},     /* an unusable ms falls through */
        {"60001", "2", 2},   /* over 60 s */
        {"abc", "2", 2},
        {NULL, "30", 30},
        {NULL, "0.25", 0.25},
        {NULL, " 7 ", 7},
        {NULL, "60", 60},
        {NULL, "61", -1},
        {NULL, "0", -1},
        {NULL, "-3", -1},
        {NULL, "1e400", -1},
        {NULL, "nan", -1},
        {NULL, "5s", -1},
        {NULL, "Sun, 06 Nov 1994 08:49:37 GMT", 30},  /* IMF-fixdate */
        {NULL, "Sunday, 06-Nov-94 08:49:47 GMT", 40}, /* RFC 850 */
        {NULL, "Sun Nov  6 08:49:17 1994", 10},       /* asctime */
        {NULL, "Sun, 06 Nov 1994 08:48:37 GMT", -1},  /* in the past */
        {NULL, "Sun, 06 Nov 1994 09:49:37 GMT", -1},  /* an hour away */
        {NULL, "Sun, 36 Nov 1994 08:49:37 GMT", -1},  /* no such day */
        {NULL, "Sun, 06 Foo 1994 08:49:37 GMT", -1},
        {NULL, "tomorrow", -1},
        {NULL, "", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        llmux__header h[2];
        size_t n = 0;
        if (cases[i].ms)
            h[n++] = (llmux__header){"retry-after-ms", cases[i].ms};
        if (cases[i].ra)
            h[n++] = (llmux__header){"Retry-After", cases[i].ra};
        double got = llmux__retry_after(h, n, now);
        if (got != cases[i].want)
            fail_msg("retry-after-ms %s, retry-after %s: got %g, expected %g",
                     cases[i].ms ? cases[i].ms : "-", cases[i].ra ? cases[i].ra : "-", got,
                     cases[i].want);
    }
}

static void test_synth_ids(void **state)
{
    (void)state;
    char id[48];
    llmux__synth_call_id(id, sizeof id, "m36LaZGyCLz1xs0PtNSB-QU", "weather", 0);
    assert_string_equal(id, "call_m36LaZGyCLz1xs0PtNSB-QU_0");
    /* characters outside [A-Za-z0-9_-] dropped; cut to 24; at most 40 in all */
    llmux__synth_call_id(id, sizeof id, "a/b+c=d.e:fghijklmnopqrstuvwxyz0123456789", "f", 123);
    assert_string_equal(id, "call_abcdefghijklmnopqrstuvwx_123");
    llmux__synth_call_id(id, sizeof id, "x", "f", 2147483647);
    assert_true(strlen(id) <= 40);
    /* no response id: a hash of the name (deterministic) */
    char a[48], b[48];
    llmux__synth_call_id(a, sizeof a, "", "get_weather", 1);
    llmux__synth_call_id(b, sizeof b, NULL, "get_weather", 1);
    assert_string_equal(a, b);
    assert_int_equal(strlen(a), strlen("call_") + 8 + 2);
    llmux__synth_call_id(b, sizeof b, NULL, "get_time", 1);
    assert_string_not_equal(a, b);
}

/* ---- robustness: cut and mangled upstream bodies ------------------------------------- */

/* Every field of a parse result is set: OK with a response, or an error with a code. */
static void check_parse(const llmux__adapter *a, int status, const char *body, size_t len)
{
    llmux__response *r = (llmux__response *)0x1;
    llmux__upstream_error ue;
    memset(&ue, 0xAB, sizeof ue); /* poison: every field must be written */
    llmux_code rc = a->parse_response(status, NULL, 0, body, len, 0, &r, &ue);
    if (rc == LLMUX_OK) {
        assert_non_null(r);
        assert_int_equal(ue.code, LLMUX_OK);
        assert_non_null(r->id);
        assert_non_null(r->model);
        assert_int_not_equal(r->finish_reason, LLMUX__FINISH_NONE);
        if (r->text)
            assert_int_equal(strlen(r->text), r->text_len);
        for (size_t i = 0; i < r->n_tool_calls; i++) {
            assert_non_null(r->tool_calls[i].id);
            assert_non_null(r->tool_calls[i].name);
            assert_non_null(r->tool_calls[i].arguments);
        }
        cJSON *j = llmux__response_to_json(r, 1);
        assert_non_null(j);
        cJSON_Delete(j);
        llmux__response_free(r);
    } else {
        assert_null(r);
        assert_int_equal(ue.code, rc);
        assert_true(rc > LLMUX_OK && rc < LLMUX_CODE_COUNT_);
        assert_int_equal(ue.http_status, status);
        assert_non_null(memchr(ue.message, '\0', sizeof ue.message));
        assert_non_null(memchr(ue.type, '\0', sizeof ue.type));
        assert_non_null(memchr(ue.param, '\0', sizeof ue.param));
        assert_true(ue.message[0] != '\0');
        assert_true(ue.retry_after_s == -1.0 || (ue.retry_after_s > 0 && ue.retry_after_s <= 60));
        if (status >= 200 && status < 300 && rc == LLMUX_EUPSTREAM)
            assert_true(ue.retryable);
    }
}

static void check_stream(const llmux__adapter *a, const char *body, size_t len, unsigned split)
{
    pt_collect c;
    pt_run(a, body, len, split, &c);
    if (c.violations)
        fail_msg("invariants broken\n%s", c.log.p);
    assert_int_equal(c.n_done + c.n_err, 1); /* it always ends, exactly once */
    assert_true(c.n_finish <= 1 && c.n_usage <= 1 && c.n_pre <= 1);
    pt_free(&c);
}

static const struct {
    llmux__provider p;
    const char *file;
} RESPONSES[] = {
    {LLMUX__PROVIDER_OPENAI, "fixtures/openai/chat_completion_text.json"},
    {LLMUX__PROVIDER_OPENAI, "fixtures/openai/chat_completion_tool_call.json"},
    {LLMUX__PROVIDER_OPENAI, "fixtures/openai/error_401_invalid_api_key.json"},
    {LLMUX__PROVIDER_OPENAI, "fixtures/compat/doubao_chat_completion_tool_call.json"},
    {LLMUX__PROVIDER_OPENAI, "fixtures/compat/openrouter_error_429.json"},
    {LLMUX__PROVIDER_AZURE, "fixtures/azure/chat_completion_tool_call.json"},
    {LLMUX__PROVIDER_AZURE, "fixtures/azure/error_400_content_filter.json"},
    {LLMUX__PROVIDER_ANTHROPIC, "fixtures/anthropic/messages_text.json"},
    {LLMUX__PROVIDER_ANTHROPIC, "fixtures/anthropic/messages_tool_use.json"},
    {LLMUX__PROVIDER_ANTHROPIC, "fixtures/anthropic/error_429_rate_limit.json"},
    {LLMUX__PROVIDER_GOOGLE, "fixtures/gemini/generate_tool_call.json"},
    {LLMUX__PROVIDER_GOOGLE, "fixtures/gemini/generate_text.json"},
    {LLMUX__PROVIDER_GOOGLE, "fixtures/gemini/error_429_resource_exhausted.json"},
    {LLMUX__PROVIDER_GOOGLE, "fixtures/gemini/error_400_api_key_invalid.json"},
};

static const struct {
    llmux__provider p;
    const char *file;
} STREAMS[] = {
    {LLMUX__PROVIDER_OPENAI, "fixtures/openai/chat_stream_tool_call.sse"},
    {LLMUX__PROVIDER_OPENAI, "fixtures/compat/snowflake_chat_stream_no_finish_reason.sse"},
    {LLMUX__PROVIDER_AZURE, "fixtures/azure/chat_stream_tool_call.sse"},
    {LLMUX__PROVIDER_ANTHROPIC, "fixtures/anthropic/messages_stream_tool_use_input_json.sse"},
    {LLMUX__PROVIDER_ANTHROPIC, "fixtures/anthropic/messages_stream_error_event.sse"},
    {LLMUX__PROVIDER_GOOGLE, "fixtures/gemini/stream_tool_call_thought_signature.sse"},
    {LLMUX__PROVIDER_GOOGLE, "fixtures/gemini/stream_text.sse"},
};

static void test_truncated_bodies(void **state)
{
    (void)state;
    static const int statuses[] = {200, 400, 401, 404, 429, 500, 529};
    for (size_t i = 0; i < sizeof RESPONSES / sizeof RESPONSES[0]; i++) {
        const llmux__adapter *a = llmux__adapter_for(RESPONSES[i].p);
        size_t len;
        char *body = tu_read_shared(RESPONSES[i].file, &len);
        for (size_t cut = 0; cut <= len; cut++) {
            /* a tight copy so ASan sees any read past the end */
            char *piece = malloc(cut ? cut : 1);
            memcpy(piece, body, cut);
            for (size_t s = 0; s < sizeof statuses / sizeof statuses[0]; s++)
                check_parse(a, statuses[s], piece, cut);
            free(piece);
        }
        free(body);
    }
    for (size_t i = 0; i < sizeof STREAMS / sizeof STREAMS[0]; i++) {
        const llmux__adapter *a = llmux__adapter_for(STREAMS[i].p);
        size_t len;
        char *body = tu_read_shared(STREAMS[i].file, &len);
        for (size_t cut = 0; cut <= len; cut++)
            check_stream(a, body, cut, cut % 5);
        free(body);
    }
}

/* Bytes flipped, types swapped, numbers made huge: still classified, never a crash. */
static void test_mangled_bodies(void **state)
{
    (void)state;
    static const char *const swaps[][2] = {
        {"\"", "'"},
        {"{", "["},
        {":", ","},
        {"\"text\"", "\"text\":1,\"x\""},
        {"0", "1e999"},
        {"1", "-1"},
        {"\"id\"", "\"_\""},
        {"[", "{"},
        {"2", "99999999999999999999999"},
        {"\"", "\\u0000\""},
        {"true", "\"true\""},
    };
    unsigned seed = 7;
    for (size_t i = 0; i < sizeof RESPONSES / sizeof RESPONSES[0]; i++) {
        const llmux__adapter *a = llmux__adapter_for(RESPONSES[i].p);
        size_t len;
        char *body = tu_read_shared(RESPONSES[i].file, &len);
        for (int round = 0; round < 300; round++) {
            llmux__buf m = {0};
            llmux__buf_append(&m, body, len);
            for (int k = 0; k < 3; k++) {
                seed = seed * 1103515245u + 12345u;
                size_t pos = (seed >> 8) % (m.len ? m.len : 1);
                const char *const *sw = swaps[(seed >> 4) % (sizeof swaps / sizeof swaps[0])];
                char *at = strstr(m.p + pos, sw[0]);
                if (!at)
                    continue;
                llmux__buf out = {0};
                llmux__buf_append(&out, m.p, (size_t)(at - m.p));
                llmux__buf_puts(&out, sw[1]);
                llmux__buf_puts(&out, at + strlen(sw[0]));
                llmux__buf_free(&m);
                m = out;
            }
            check_parse(a, 200, m.p, m.len);
            check_parse(a, 429, m.p, m.len);
            llmux__buf_free(&m);
        }
        free(body);
    }
    for (size_t i = 0; i < sizeof STREAMS / sizeof STREAMS[0]; i++) {
        const llmux__adapter *a = llmux__adapter_for(STREAMS[i].p);
        size_t len;
        char *body = tu_read_shared(STREAMS[i].file, &len);
        for (int round = 0; round < 200; round++) {
            char *m = malloc(len);
            memcpy(m, body, len);
            for (int k = 0; k < 4; k++) {
                seed = seed * 1103515245u + 12345u;
                m[(seed >> 8) % len] = (char)(seed >> 24);
            }
            check_stream(a, m, len, (unsigned)round % 7);
            free(m);
        }
        free(body);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adapter_table),    cmocka_unit_test(test_headers),
        cmocka_unit_test(test_retry_after),      cmocka_unit_test(test_synth_ids),
        cmocka_unit_test(test_truncated_bodies), cmocka_unit_test(test_mangled_bodies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
