/* test_log.c — structured logs: one JSON object per line, field types, levels, no
 * message content unless asked for, escaping, truncation, the request line, threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/log.h"
#include "test_util.h"

/* A temporary log file the logger writes to. */
typedef struct log_file {
    char path[64];
    FILE *f;
} log_file;

static void log_open(log_file *lf, llmux__log_level level, bool content)
{
    snprintf(lf->path, sizeof lf->path, "/tmp/llmux-log-XXXXXX");
    int fd = mkstemp(lf->path);
    assert_true(fd >= 0);
    lf->f = fdopen(fd, "w+");
    assert_non_null(lf->f);
    llmux__log_configure(lf->f, level, content);
}

/* Everything written so far; the logger is pointed back at stderr. Caller frees. */
static char *log_close(log_file *lf)
{
    llmux__log_configure(NULL, LLMUX__LOG_INFO, false);
    fclose(lf->f);
    char *text = tu_read_file(lf->path, NULL);
    assert_non_null(text);
    unlink(lf->path);
    return text;
}

/* Splits text into lines, each of which must be one JSON object; returns how many. */
static size_t parse_lines(const char *text, cJSON **out, size_t max)
{
    size_t n = 0;
    const char *line = text;
    while (*line) {
        const char *nl = strchr(line, '\n');
        if (!nl)
            fail_msg("last line has no newline: %s", line);
        if (n == max)
            fail_msg("more than %zu lines", max);
        cJSON *j = cJSON_ParseWithLength(line, (size_t)(nl - line));
        if (!cJSON_IsObject(j))
            fail_msg("line %zu is not a JSON object: %.*s", n, (int)(nl - line), line);
        out[n++] = j;
        line = nl + 1;
    }
    return n;
}

static const cJSON *field(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static void assert_str_field(const cJSON *o, const char *k, const char *want)
{
    const cJSON *v = field(o, k);
    if (!cJSON_IsString(v))
        fail_msg("field %s is not a string", k);
    assert_string_equal(v->valuestring, want);
}

static void free_lines(cJSON **lines, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cJSON_Delete(lines[i]);
}

/* "2025-01-02T03:04:05.678Z" */
static void assert_timestamp(const char *ts)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    assert_int_equal(strlen(ts), strlen(shape));
    for (size_t i = 0; shape[i]; i++) {
        if (shape[i] == 'd' ? !isdigit((unsigned char)ts[i]) : ts[i] != shape[i])
            fail_msg("timestamp '%s' does not look like %s", ts, shape);
    }
}

static void test_line_shape_and_types(void **state)
{
    (void)state;
    log_file lf;
    log_open(&lf, LLMUX__LOG_INFO, false);
    llmux__log(LLMUX__LOG_INFO, "listening", LLMUX__LS("addr", "127.0.0.1:8080"),
               LLMUX__LI("port", 8080), LLMUX__LI("big", -9000000000LL), LLMUX__LD("ratio", 0.25),
               LLMUX__LD("ms", 12.3456789), LLMUX__LD("tiny", 0.00001234), LLMUX__LD("nan", NAN),
               LLMUX__LD("inf", INFINITY), LLMUX__LB("tls", false), LLMUX__LB("reuse", 7),
               LLMUX__LS("none", NULL));
    llmux__log(LLMUX__LOG_ERROR, "no_fields");
    char *text = log_close(&lf);
    cJSON *lines[4];
    assert_int_equal(parse_lines(text, lines, 4), 2);
    const cJSON *l = lines[0];
    assert_timestamp(field(l, "ts")->valuestring);
    assert_str_field(l, "level", "info");
    assert_str_field(l, "event", "listening");
    assert_str_field(l, "addr", "127.0.0.1:8080");
    assert_true(field(l, "port")->valuedouble == 8080);
    assert_non_null(strstr(text, "\"big\":-9000000000,"));
    assert_true(field(l, "ratio")->valuedouble == 0.25);
    assert_non_null(strstr(text, "\"ms\":12.346,"));
    assert_non_null(strstr(text, "\"tiny\":1.234e-05,"));
    assert_true(cJSON_IsNull(field(l, "nan")));
    assert_true(cJSON_IsNull(field(l, "inf")));
    assert_true(cJSON_IsFalse(field(l, "tls")));
    assert_true(cJSON_IsTrue(field(l, "reuse")));
    assert_true(cJSON_IsNull(field(l, "none")));
    /* The order is ts, level, event, then the fields as given. */
    assert_string_equal(l->child->string, "ts");
    assert_string_equal(l->child->next->string, "level");
    assert_string_equal(l->child->next->next->string, "event");
    assert_string_equal(l->child->next->next->next->string, "addr");
    assert_str_field(lines[1], "level", "error");
    assert_str_field(lines[1], "event", "no_fields");
    assert_int_equal(cJSON_GetArraySize(lines[1]), 3);
    free_lines(lines, 2);
    free(text);
}

static void test_levels(void **state)
{
    (void)state;
    static const struct {
        llmux__log_level configured;
        int want_lines; /* of error, warn, info, debug */
    } cases[] = {
        {LLMUX__LOG_ERROR, 1},
        {LLMUX__LOG_WARN, 2},
        {LLMUX__LOG_INFO, 3},
        {LLMUX__LOG_DEBUG, 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        log_file lf;
        log_open(&lf, cases[i].configured, false);
        for (int lvl = LLMUX__LOG_ERROR; lvl <= LLMUX__LOG_DEBUG; lvl++) {
            assert_int_equal(llmux__log_enabled((llmux__log_level)lvl),
                             lvl <= (int)cases[i].configured);
            llmux__log((llmux__log_level)lvl, "probe", LLMUX__LI("lvl", lvl));
        }
        char *text = log_close(&lf);
        cJSON *lines[8];
        size_t n = parse_lines(text, lines, 8);
        assert_int_equal(n, cases[i].want_lines);
        for (size_t k = 0; k < n; k++)
            assert_str_field(lines[k], "level", llmux__log_level_name((llmux__log_level)k));
        free_lines(lines, n);
        free(text);
    }
    llmux__log_level lv;
    assert_true(llmux__log_level_parse("debug", &lv));
    assert_int_equal(lv, LLMUX__LOG_DEBUG);
    assert_true(llmux__log_level_parse("warning", &lv));
    assert_int_equal(lv, LLMUX__LOG_WARN);
    assert_true(llmux__log_level_parse("error", &lv));
    assert_int_equal(lv, LLMUX__LOG_ERROR);
    assert_false(llmux__log_level_parse("verbose", &lv));
    assert_false(llmux__log_level_parse("INFO", &lv));
    assert_false(llmux__log_level_parse(NULL, &lv));
}

static void test_content_only_when_enabled(void **state)
{
    (void)state;
    log_file lf;
    log_open(&lf, LLMUX__LOG_DEBUG, false);
    assert_false(llmux__log_content_enabled());
    llmux__log(LLMUX__LOG_DEBUG, "upstream_body", LLMUX__LS("provider", "openai"),
               LLMUX__LC("content", "the user's secret plan"), LLMUX__LI("bytes", 22));
    char *text = log_close(&lf);
    assert_null(strstr(text, "secret plan"));
    assert_null(strstr(text, "content"));
    cJSON *lines[2];
    assert_int_equal(parse_lines(text, lines, 2), 1);
    assert_str_field(lines[0], "provider", "openai");
    assert_true(field(lines[0], "bytes")->valuedouble == 22);
    free_lines(lines, 1);
    free(text);

    log_open(&lf, LLMUX__LOG_DEBUG, true);
    assert_true(llmux__log_content_enabled());
    llmux__log(LLMUX__LOG_DEBUG, "upstream_body", LLMUX__LC("content", "the user's secret plan"));
    text = log_close(&lf);
    assert_int_equal(parse_lines(text, lines, 2), 1);
    assert_str_field(lines[0], "content", "the user's secret plan");
    free_lines(lines, 1);
    free(text);
    assert_false(llmux__log_content_enabled());
}

static void test_escaping(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"plain", "plain"},
        {"quote\"back\\slash", "quote\"back\\slash"},
        {"two\nlines\r\n", "two\nlines\r\n"},
        {"tab\tbell\x07"
         "del\x7f",
         "tab\tbell\x07"
         "del\x7f"},
        {"caf\xc3\xa9 \xf0\x9f\x8e\x99", "caf\xc3\xa9 \xf0\x9f\x8e\x99"},
        {"bad\xff"
         "byte",
         "bad\xef\xbf\xbd"
         "byte"},
        {"cut\xe2\x82", "cut\xef\xbf\xbd\xef\xbf\xbd"},
        {"overlong\xc0\xaf", "overlong\xef\xbf\xbd\xef\xbf\xbd"},
        {"surrogate\xed\xa0\x80", "surrogate\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        {"", ""},
    };
    log_file lf;
    log_open(&lf, LLMUX__LOG_INFO, false);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        llmux__log(LLMUX__LOG_INFO, "esc", LLMUX__LS("v", cases[i].in), LLMUX__LS("k\"ey", "x"));
    char *text = log_close(&lf);
    cJSON *lines[16];
    size_t n = parse_lines(text, lines, 16);
    assert_int_equal(n, sizeof cases / sizeof cases[0]);
    for (size_t i = 0; i < n; i++) {
        const cJSON *v = field(lines[i], "v");
        if (!cJSON_IsString(v) || strcmp(v->valuestring, cases[i].want) != 0)
            fail_msg("case %zu: decoded '%s'", i, cJSON_IsString(v) ? v->valuestring : "?");
        assert_str_field(lines[i], "k\"ey", "x");
    }
    free_lines(lines, n);
    free(text);
}

static void test_long_values_are_truncated(void **state)
{
    (void)state;
    size_t big = LLMUX__LOG_VALUE_MAX * 2;
    char *v = malloc(big + 1);
    assert_non_null(v);
    memset(v, 'x', big);
    v[big] = '\0';
    log_file lf;
    log_open(&lf, LLMUX__LOG_INFO, false);
    llmux__log(LLMUX__LOG_INFO, "big", LLMUX__LS("v", v), LLMUX__LS("after", "still here"));
    /* Just under the limit, full of escapes: the line grows to ~6x and is intact. */
    memset(v, '\x01', LLMUX__LOG_VALUE_MAX);
    v[LLMUX__LOG_VALUE_MAX] = '\0';
    llmux__log(LLMUX__LOG_INFO, "escapes", LLMUX__LS("v", v));
    char *text = log_close(&lf);
    cJSON *lines[2];
    assert_int_equal(parse_lines(text, lines, 2), 2);
    const char *got = field(lines[0], "v")->valuestring;
    assert_int_equal(strlen(got), LLMUX__LOG_VALUE_MAX + strlen("...(truncated)"));
    assert_string_equal(got + LLMUX__LOG_VALUE_MAX, "...(truncated)");
    assert_str_field(lines[0], "after", "still here");
    assert_int_equal(strlen(field(lines[1], "v")->valuestring), LLMUX__LOG_VALUE_MAX);
    free_lines(lines, 2);
    free(text);
    free(v);
}

static void test_request_line(void **state)
{
    (void)state;
    llmux__log_attempt attempts[] = {
        {"anthropic", "claude-haiku-4-5", 529, "upstream_error", 120.5},
        {"anthropic", "claude-haiku-4-5", 0, "timeout", 5000},
        {"openai", "gpt-4.1-mini", 200, NULL, 342.25},
    };
    llmux__log_request r = {
        .id = "req-1",
        .session = "sess-9",
        .method = "POST",
        .path = "/v1/chat/completions?key=AIza-QUERYSECRET",
        .status = 200,
        .outcome = "success",
        .provider = "openai",
        .model = "gpt-4.1-mini",
        .attempts = attempts,
        .n_attempts = 3,
        .latency_ms = 5470.125,
        .ttfb_ms = 5300,
    };
    log_file lf;
    log_open(&lf, LLMUX__LOG_INFO, false);
    llmux__log_request_line(&r);
    llmux__log_request r2 = {.method = "GET",
                             .path = "/healthz",
                             .status = 502,
                             .outcome = "all_providers_failed",
                             .latency_ms = 1,
                             .ttfb_ms = -1};
    llmux__log_request_line(&r2);
    llmux__log_request_line(NULL);
    char *text = log_close(&lf);
    assert_null(strstr(text, "QUERYSECRET"));
    assert_null(strstr(text, "key="));
    cJSON *lines[4];
    assert_int_equal(parse_lines(text, lines, 4), 2);
    const cJSON *l = lines[0];
    assert_timestamp(field(l, "ts")->valuestring);
    assert_str_field(l, "level", "info");
    assert_str_field(l, "event", "request");
    assert_str_field(l, "id", "req-1");
    assert_str_field(l, "session", "sess-9");
    assert_str_field(l, "method", "POST");
    assert_str_field(l, "path", "/v1/chat/completions");
    assert_true(field(l, "status")->valuedouble == 200);
    assert_str_field(l, "outcome", "success");
    assert_str_field(l, "provider", "openai");
    assert_str_field(l, "model", "gpt-4.1-mini");
    assert_true(field(l, "latency_ms")->valuedouble == 5470.125);
    assert_true(field(l, "ttfb_ms")->valuedouble == 5300);
    const cJSON *a = field(l, "attempts");
    assert_int_equal(cJSON_GetArraySize(a), 3);
    const cJSON *a0 = cJSON_GetArrayItem(a, 0), *a1 = cJSON_GetArrayItem(a, 1),
                *a2 = cJSON_GetArrayItem(a, 2);
    assert_str_field(a0, "provider", "anthropic");
    assert_str_field(a0, "model", "claude-haiku-4-5");
    assert_true(field(a0, "status")->valuedouble == 529);
    assert_str_field(a0, "error_type", "upstream_error");
    assert_true(field(a0, "latency_ms")->valuedouble == 120.5);
    assert_true(cJSON_IsNull(field(a1, "status")));
    assert_str_field(a1, "error_type", "timeout");
    assert_true(cJSON_IsNull(field(a2, "error_type")));
    assert_true(field(a2, "latency_ms")->valuedouble == 342.25);

    const cJSON *l2 = lines[1];
    assert_str_field(l2, "level", "warn");
    assert_true(cJSON_IsNull(field(l2, "id")));
    assert_true(cJSON_IsNull(field(l2, "provider")));
    assert_int_equal(cJSON_GetArraySize(field(l2, "attempts")), 0);
    assert_null(field(l2, "ttfb_ms"));
    free_lines(lines, 2);
    free(text);

    /* At level warn only the 5xx line is written. */
    log_open(&lf, LLMUX__LOG_WARN, false);
    llmux__log_request_line(&r);
    llmux__log_request_line(&r2);
    text = log_close(&lf);
    assert_int_equal(parse_lines(text, lines, 4), 1);
    assert_true(field(lines[0], "status")->valuedouble == 502);
    free_lines(lines, 1);
    free(text);
}

#define THREADS 4
#define LINES_PER_THREAD 300

static void *writer(void *arg)
{
    int id = (int)(intptr_t)arg;
    char filler[3000]; /* past the on-stack line buffer: exercises the heap path */
    memset(filler, 'a' + id, sizeof filler - 1);
    filler[sizeof filler - 1] = '\0';
    for (int i = 0; i < LINES_PER_THREAD; i++)
        llmux__log(LLMUX__LOG_INFO, "tick", LLMUX__LI("thread", id), LLMUX__LI("seq", i),
                   LLMUX__LS("filler", i % 2 ? filler : "short"));
    return NULL;
}

static void test_threads_never_interleave(void **state)
{
    (void)state;
    log_file lf;
    log_open(&lf, LLMUX__LOG_INFO, false);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, writer, (void *)(intptr_t)i), 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    char *text = log_close(&lf);
    enum { TOTAL = THREADS * LINES_PER_THREAD };
    cJSON **lines = calloc(TOTAL, sizeof *lines);
    assert_non_null(lines);
    assert_int_equal(parse_lines(text, lines, TOTAL), TOTAL);
    int next[THREADS] = {0};
    for (size_t i = 0; i < TOTAL; i++) {
        int id = (int)field(lines[i], "thread")->valuedouble;
        int seq = (int)field(lines[i], "seq")->valuedouble;
        assert_true(id >= 0 && id < THREADS);
        assert_int_equal(seq, next[id]); /* each thread's lines in its order */
        next[id]++;
        size_t flen = strlen(field(lines[i], "filler")->valuestring);
        assert_int_equal(flen, seq % 2 ? 2999 : 5);
    }
    free_lines(lines, TOTAL);
    free(lines);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_shape_and_types),      cmocka_unit_test(test_levels),
        cmocka_unit_test(test_content_only_when_enabled), cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_long_values_are_truncated), cmocka_unit_test(test_request_line),
        cmocka_unit_test(test_threads_never_interleave),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
