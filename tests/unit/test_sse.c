/* test_sse.c — the incremental SSE parser: line ends, fields, comments, multi-line data,
 * EOF without a final newline, the size cap, and split-invariance on every fixture. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/response.h"
#include "core/sse.h"
#include "test_util.h"

/* Serialises events as "name=data" separated by '|' (data with '\n' shown as "\\n"). */
static bool record(void *ud, const llmux__sse_event *ev)
{
    llmux__buf *b = ud;
    if (b->len)
        llmux__buf_puts(b, "|");
    llmux__buf_puts(b, ev->name);
    llmux__buf_puts(b, "=");
    for (size_t i = 0; i < ev->data_len; i++) {
        if (ev->data[i] == '\n')
            llmux__buf_puts(b, "\\n");
        else
            llmux__buf_append(b, &ev->data[i], 1);
    }
    return true;
}

/* Parses input whole (split 0), byte by byte (1) or at pseudo-random splits (seed);
 * then finish. Returns the recorded events; *st gets the last status. */
static char *parse_all(const char *input, size_t len, unsigned split, size_t max_event,
                       llmux__sse_status *st_out)
{
    llmux__sse_parser p;
    llmux__sse_init(&p, max_event);
    llmux__buf out = {0};
    llmux__buf_puts(&out, "");
    llmux__sse_status st = LLMUX__SSE_NEED_MORE;
    size_t off = 0;
    unsigned state = split;
    while (off < len && st != LLMUX__SSE_TOO_LARGE) {
        size_t n = len - off;
        if (split == 1) {
            n = 1;
        } else if (split > 1) {
            state = state * 1103515245u + 12345u;
            n = 1 + (state >> 16) % 53;
            if (n > len - off)
                n = len - off;
        }
        char *piece = malloc(n ? n : 1); /* tight copy: ASan catches reads past it */
        memcpy(piece, input + off, n);
        st = llmux__sse_feed(&p, piece, n, record, &out);
        free(piece);
        off += n;
    }
    if (st != LLMUX__SSE_TOO_LARGE) {
        llmux__sse_event ev;
        st = llmux__sse_finish(&p, &ev);
        if (st == LLMUX__SSE_EVENT)
            record(&out, &ev);
    }
    llmux__sse_free(&p);
    if (st_out)
        *st_out = st;
    return out.p;
}

static void test_table(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        const char *input;
        const char *events;
    } cases[] = {
        {"one event, LF", "data: hello\n\n", "=hello"},
        {"CRLF", "data: hello\r\n\r\n", "=hello"},
        {"CR only", "data: hello\r\rdata: 2\r\r", "=hello|=2"},
        {"mixed line ends", "data: a\r\n\ndata: b\n\r\ndata: c\r\r\n", "=a|=b|=c"},
        {"multi-line data joined with \\n", "data: a\ndata: b\ndata: c\n\n", "=a\\nb\\nc"},
        {"empty data line", "data:\ndata: b\n\n", "=\\nb"},
        {"no space after colon", "data:x\n\n", "=x"},
        {"only one space dropped", "data:  x\n\n", "= x"},
        {"field without colon is an empty value", "data\n\n", "="},
        {"comments ignored", ": ping\ndata: x\n: another\n\n", "=x"},
        {"event name", "event: message_start\ndata: {}\n\n", "message_start={}"},
        {"event name without data is dropped, and does not leak", "event: ping\n\ndata: b\n\n",
         "=b"},
        {"id and retry ignored", "id: 5\nretry: 100\ndata: z\n\n", "=z"},
        {"unknown field ignored", "foo: bar\ndata: z\n\n", "=z"},
        {"several events in one buffer", "data: 1\n\ndata: 2\n\nevent: e\ndata: 3\n\n",
         "=1|=2|e=3"},
        {"blank lines between events", "\n\n\ndata: 1\n\n\n\ndata: 2\n\n", "=1|=2"},
        {"EOF without final newline", "data: tail", "=tail"},
        {"EOF without blank line", "data: tail\n", "=tail"},
        {"EOF after CR", "data: tail\r", "=tail"},
        {"EOF with comment only", ": nothing\n", ""},
        {"data with colons", "data: {\"a\":\"b:c\"}\n\n", "={\"a\":\"b:c\"}"},
        {"[DONE]", "data: [DONE]\n\n", "=[DONE]"},
        {"name then multi-line data", "event: error\ndata: {\ndata: }\n\n", "error={\\n}"},
        {"empty input", "", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (unsigned split = 0; split < 6; split++) {
            char *got = parse_all(cases[i].input, strlen(cases[i].input), split * 7 / 6, 0, NULL);
            if (strcmp(got, cases[i].events) != 0)
                fail_msg("%s (split %u): got '%s', expected '%s'", cases[i].what, split, got,
                         cases[i].events);
            free(got);
        }
    }
}

static void test_pull_reports_consumed(void **state)
{
    (void)state;
    llmux__sse_parser p;
    llmux__sse_init(&p, 0);
    const char *in = "data: one\n\ndata: two\n\ndata: thr";
    size_t len = strlen(in), used;
    llmux__sse_event ev;
    assert_int_equal(llmux__sse_next(&p, in, len, &used, &ev), LLMUX__SSE_EVENT);
    assert_int_equal(used, strlen("data: one\n\n"));
    assert_int_equal(ev.data_len, 3);
    assert_memory_equal(ev.data, "one", 3);
    /* zero-copy: a whole single-line event points into the caller's buffer */
    assert_ptr_equal(ev.data, in + 6);
    size_t off = used;
    assert_int_equal(llmux__sse_next(&p, in + off, len - off, &used, &ev), LLMUX__SSE_EVENT);
    assert_memory_equal(ev.data, "two", 3);
    off += used;
    assert_int_equal(llmux__sse_next(&p, in + off, len - off, &used, &ev), LLMUX__SSE_NEED_MORE);
    assert_int_equal(used, len - off);
    assert_int_equal(llmux__sse_next(&p, "ee\n\n", 4, &used, &ev), LLMUX__SSE_EVENT);
    assert_int_equal(ev.data_len, 5);
    assert_memory_equal(ev.data, "three", 5);
    assert_int_equal(llmux__sse_finish(&p, &ev), LLMUX__SSE_NEED_MORE);
    llmux__sse_free(&p);
}

static void test_crlf_split_across_reads(void **state)
{
    (void)state;
    llmux__sse_parser p;
    llmux__sse_init(&p, 0);
    llmux__buf out = {0};
    /* "\r" ends one read and "\n" starts the next: one line end, not two. */
    assert_int_equal(llmux__sse_feed(&p, "data: a\r", 8, record, &out), LLMUX__SSE_NEED_MORE);
    assert_int_equal(llmux__sse_feed(&p, "\ndata: b\r", 9, record, &out), LLMUX__SSE_NEED_MORE);
    assert_int_equal(out.len, 0);
    assert_int_equal(llmux__sse_feed(&p, "\n\r", 2, record, &out), LLMUX__SSE_NEED_MORE);
    assert_string_equal(out.p, "=a\\nb");
    llmux__buf_free(&out);
    llmux__sse_free(&p);
}

static void test_long_name_truncated(void **state)
{
    (void)state;
    char in[256];
    snprintf(in, sizeof in, "event: %0100d\ndata: x\n\n", 7);
    llmux__sse_parser p;
    llmux__sse_init(&p, 0);
    size_t used;
    llmux__sse_event ev;
    assert_int_equal(llmux__sse_next(&p, in, strlen(in), &used, &ev), LLMUX__SSE_EVENT);
    assert_int_equal(strlen(ev.name), LLMUX__SSE_MAX_NAME);
    llmux__sse_free(&p);
}

static void test_size_cap(void **state)
{
    (void)state;
    llmux__sse_status st;
    /* within one buffer */
    char *got = parse_all("data: 0123456789abcdefghij\n\n", 28, 0, 16, &st);
    assert_int_equal(st, LLMUX__SSE_TOO_LARGE);
    free(got);
    /* accumulated over lines and reads */
    got = parse_all("data: 0123456\ndata: 789abcdef\n\n", 31, 1, 16, &st);
    assert_int_equal(st, LLMUX__SSE_TOO_LARGE);
    free(got);
    /* a long comment line cut across reads counts too (a line may be cap + 64) */
    char longline[128];
    memset(longline, 'x', sizeof longline);
    longline[0] = ':';
    longline[sizeof longline - 1] = '\n';
    got = parse_all(longline, sizeof longline, 1, 16, &st);
    assert_int_equal(st, LLMUX__SSE_TOO_LARGE);
    free(got);
    /* exactly at the cap is fine */
    got = parse_all("data: 0123456789abcdef\n\n", 24, 1, 16, &st);
    assert_int_not_equal(st, LLMUX__SSE_TOO_LARGE);
    assert_string_equal(got, "=0123456789abcdef");
    free(got);

    /* sticky until reset */
    llmux__sse_parser p;
    llmux__sse_init(&p, 8);
    size_t used;
    llmux__sse_event ev;
    assert_int_equal(llmux__sse_next(&p, "data: 0123456789\n\n", 18, &used, &ev),
                     LLMUX__SSE_TOO_LARGE);
    assert_int_equal(llmux__sse_next(&p, "data: a\n\n", 9, &used, &ev), LLMUX__SSE_TOO_LARGE);
    llmux__sse_reset(&p);
    assert_int_equal(llmux__sse_next(&p, "data: a\n\n", 9, &used, &ev), LLMUX__SSE_EVENT);
    llmux__sse_free(&p);
}

static bool stop_first(void *ud, const llmux__sse_event *ev)
{
    (void)ev;
    ++*(int *)ud;
    return false;
}

static void test_feed_stop(void **state)
{
    (void)state;
    llmux__sse_parser p;
    llmux__sse_init(&p, 0);
    int calls = 0;
    assert_int_equal(llmux__sse_feed(&p, "data: 1\n\ndata: 2\n\n", 18, stop_first, &calls),
                     LLMUX__SSE_EVENT);
    assert_int_equal(calls, 1);
    llmux__sse_free(&p);
}

/* Every SSE fixture: the same events however the bytes are split. */
static void test_fixtures_split_invariant(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        int events;
    } fixtures[] = {
        {"fixtures/openai/chat_stream_text.sse", 12},
        {"fixtures/openai/chat_stream_tool_call.sse", 9},
        {"fixtures/azure/chat_stream_text.sse", 7},
        {"fixtures/azure/chat_stream_text_usage.sse", 9},
        {"fixtures/azure/chat_stream_tool_call.sse", 6},
        {"fixtures/anthropic/messages_stream_text.sse", 7},
        {"fixtures/anthropic/messages_stream_tool_use.sse", 21},
        {"fixtures/anthropic/messages_stream_tool_use_input_json.sse", 13},
        {"fixtures/anthropic/messages_stream_error_event.sse", 5},
        {"fixtures/gemini/stream_text.sse", 3},
        {"fixtures/gemini/stream_text_after_tool_results.sse", 2},
        {"fixtures/gemini/stream_tool_call.sse", 1},
        {"fixtures/gemini/stream_tool_call_thought_signature.sse", 2},
        {"fixtures/compat/groq_chat_stream_midstream_error.sse", 95},
        {"fixtures/compat/groq_chat_stream_tool_call.sse", 26},
        {"fixtures/compat/snowflake_chat_stream_no_finish_reason.sse", 4},
        {"fixtures/compat/vllm_chat_stream_text.sse", 17},
    };
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
        size_t len;
        char *body = tu_read_shared(fixtures[i].file, &len);
        char *whole = parse_all(body, len, 0, 0, NULL);
        /* count the events with the pull API */
        llmux__sse_parser p;
        llmux__sse_init(&p, 0);
        size_t off = 0, used;
        int count = 0;
        llmux__sse_event ev;
        while (llmux__sse_next(&p, body + off, len - off, &used, &ev) == LLMUX__SSE_EVENT) {
            off += used;
            count++;
        }
        if (llmux__sse_finish(&p, &ev) == LLMUX__SSE_EVENT)
            count++;
        llmux__sse_free(&p);
        if (count != fixtures[i].events)
            fail_msg("%s: %d events, expected %d", fixtures[i].file, count, fixtures[i].events);
        for (unsigned split = 1; split < 40; split++) {
            char *got = parse_all(body, len, split, 0, NULL);
            if (strcmp(got, whole) != 0)
                fail_msg("%s: split %u gives different events", fixtures[i].file, split);
            free(got);
        }
        /* the same without the final newline(s): finish() flushes the last event */
        size_t cut = len;
        while (cut && (body[cut - 1] == '\n' || body[cut - 1] == '\r'))
            cut--;
        char *trunc = parse_all(body, cut, 3, 0, NULL);
        if (strcmp(trunc, whole) != 0)
            fail_msg("%s: missing final newline changes the events", fixtures[i].file);
        free(trunc);
        free(whole);
        free(body);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_pull_reports_consumed),
        cmocka_unit_test(test_crlf_split_across_reads),
        cmocka_unit_test(test_long_name_truncated),
        cmocka_unit_test(test_size_cap),
        cmocka_unit_test(test_feed_stop),
        cmocka_unit_test(test_fixtures_split_invariant),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
