/* test_metrics.c — the Prometheus exposition: every line parses, counters and
 * histograms count what was recorded, label values are escaped, the model label is
 * capped, gauges move, and concurrent recording loses nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/metrics.h"

/* The value of the sample whose name-and-labels is exactly `series`; -1 when absent. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *line = text; line && *line;) {
        if (strncmp(line, series, n) == 0 && line[n] == ' ')
            return strtod(line + n + 1, NULL);
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return -1;
}

static size_t count_prefix(const char *text, const char *prefix)
{
    size_t c = 0, n = strlen(prefix);
    for (const char *line = text; line && *line;) {
        if (strncmp(line, prefix, n) == 0)
            c++;
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return c;
}

/* Parses one sample line of the text format; fails the test on a malformed one. Puts
 * the metric name in name (the family: without _bucket/_sum/_count for histograms). */
static void check_sample_line(const char *line, size_t len, char *name, size_t name_len)
{
    size_t i = 0;
    if (!(isalpha((unsigned char)line[0]) || line[0] == '_' || line[0] == ':'))
        fail_msg("bad metric name start: %.*s", (int)len, line);
    while (i < len && (isalnum((unsigned char)line[i]) || line[i] == '_' || line[i] == ':'))
        i++;
    snprintf(name, name_len, "%.*s", (int)i, line);
    if (i < len && line[i] == '{') {
        i++;
        while (i < len && line[i] != '}') {
            size_t k = i;
            while (i < len && (isalnum((unsigned char)line[i]) || line[i] == '_'))
                i++;
            if (i == k || i + 1 >= len || line[i] != '=' || line[i + 1] != '"')
                fail_msg("bad label name at %zu: %.*s", i, (int)len, line);
            i += 2;
            while (i < len && line[i] != '"') {
                if (line[i] == '\\') {
                    if (i + 1 >= len || !strchr("\\\"n", line[i + 1]))
                        fail_msg("bad escape: %.*s", (int)len, line);
                    i++;
                } else if ((unsigned char)line[i] < 0x20) {
                    fail_msg("raw control character in a label: %.*s", (int)len, line);
                }
                i++;
            }
            if (i >= len)
                fail_msg("unterminated label value: %.*s", (int)len, line);
            i++; /* closing quote */
            if (i < len && line[i] == ',')
                i++;
        }
        if (i >= len)
            fail_msg("unterminated label set: %.*s", (int)len, line);
        i++;
    }
    if (i >= len || line[i] != ' ')
        fail_msg("no space before the value: %.*s", (int)len, line);
    char *end;
    char value[64];
    snprintf(value, sizeof value, "%.*s", (int)(len - i - 1), line + i + 1);
    strtod(value, &end);
    if (end == value || *end != '\0')
        fail_msg("bad value '%s': %.*s", value, (int)len, line);
}

/* Every line is a HELP, a TYPE or a sample of the family declared just before it. */
static void check_exposition(const char *text)
{
    assert_non_null(text);
    size_t tlen = strlen(text);
    assert_true(tlen > 0);
    assert_int_equal(text[tlen - 1], '\n');
    char family[128] = "", type[32] = "";
    for (const char *line = text; *line;) {
        const char *nl = strchr(line, '\n');
        assert_non_null(nl);
        size_t len = (size_t)(nl - line);
        if (strncmp(line, "# HELP ", 7) == 0) {
            /* next must be the TYPE of the same family */
        } else if (strncmp(line, "# TYPE ", 7) == 0) {
            char f[128], t[32];
            assert_int_equal(sscanf(line, "# TYPE %127s %31s", f, t), 2);
            assert_true(strcmp(t, "counter") == 0 || strcmp(t, "gauge") == 0 ||
                        strcmp(t, "histogram") == 0);
            snprintf(family, sizeof family, "%s", f);
            snprintf(type, sizeof type, "%s", t);
        } else {
            char name[128];
            check_sample_line(line, len, name, sizeof name);
            size_t fl = strlen(family);
            bool ok = strcmp(name, family) == 0;
            if (!ok && strcmp(type, "histogram") == 0 && strncmp(name, family, fl) == 0)
                ok = strcmp(name + fl, "_bucket") == 0 || strcmp(name + fl, "_sum") == 0 ||
                     strcmp(name + fl, "_count") == 0;
            if (!ok)
                fail_msg("sample %s outside its family %s", name, family);
        }
        line = nl + 1;
    }
}

static void test_empty_render_parses(void **state)
{
    (void)state;
    llmux__metrics *m = llmux__metrics_new();
    assert_non_null(m);
    char *text = llmux__metrics_render(m);
    check_exposition(text);
    assert_int_equal(count_prefix(text, "llmux_requests_total{"), 0);
    assert_int_equal(count_prefix(text, "llmux_attempts_total{"), 0);
    assert_true(sample(text, "llmux_retries_total{provider=\"openai\"}") == 0);
    assert_true(sample(text, "llmux_fallbacks_total{provider=\"google\"}") == 0);
    assert_true(sample(text, "llmux_requests_in_flight") == 0);
    assert_true(sample(text, "llmux_streams_open") == 0);
    assert_true(sample(text, "llmux_sessions") == 0);
    assert_true(sample(text, "llmux_request_duration_seconds_count") == 0);
    assert_true(
        sample(text, "llmux_upstream_ttfb_seconds_bucket{provider=\"azure\",le=\"+Inf\"}") == 0);
    assert_non_null(strstr(text, "# TYPE llmux_upstream_latency_seconds histogram\n"));
    assert_non_null(strstr(text, "# TYPE llmux_requests_total counter\n"));
    assert_non_null(strstr(text, "# TYPE llmux_sessions gauge\n"));
    free(text);
    llmux__metrics_free(m);
    llmux__metrics_free(NULL);
    assert_null(llmux__metrics_render(NULL));
}

static void test_counts(void **state)
{
    (void)state;
    llmux__metrics *m = llmux__metrics_new();
    for (int i = 0; i < 3; i++)
        llmux__metrics_request(m, LLMUX__PROVIDER_OPENAI, "gpt-4o", LLMUX_OK, 0.3);
    llmux__metrics_request(m, LLMUX__PROVIDER_ANTHROPIC, "claude-haiku-4-5",
                           LLMUX_EALL_PROVIDERS_FAILED, 2.0);
    llmux__metrics_request(m, LLMUX__PROVIDER_OPENAI, "gpt-4o", LLMUX_ETIMEOUT, 31);
    llmux__metrics_request(m, LLMUX__METRICS_NO_PROVIDER, NULL, LLMUX_EINVALID_REQUEST, 0.001);
    llmux__metrics_request(m, LLMUX__METRICS_NO_PROVIDER, "", LLMUX_EUNAUTHORIZED, -1);
    llmux__metrics_request(m, 99, "gpt-4o", (llmux_code)77, NAN);
    llmux__metrics_attempt(m, LLMUX__PROVIDER_OPENAI, 200, LLMUX_OK, 0.2, 0.05);
    llmux__metrics_attempt(m, LLMUX__PROVIDER_OPENAI, 429, LLMUX_ERATE_LIMITED, 0.04, 0.04);
    llmux__metrics_attempt(m, LLMUX__PROVIDER_OPENAI, 429, LLMUX_ERATE_LIMITED, 0.06, 0.06);
    llmux__metrics_attempt(m, LLMUX__PROVIDER_ANTHROPIC, 0, LLMUX_ETIMEOUT, 30, -1);
    llmux__metrics_attempt(m, LLMUX__PROVIDER_ANTHROPIC, 0, LLMUX_EUPSTREAM, 0.01, -1);
    llmux__metrics_attempt(m, LLMUX__PROVIDER_GOOGLE, 529, LLMUX_EUPSTREAM, 100, 99);
    llmux__metrics_attempt(m, LLMUX__PROVIDER_COUNT, 200, LLMUX_OK, 1, 1); /* ignored */
    llmux__metrics_retry(m, LLMUX__PROVIDER_OPENAI);
    llmux__metrics_retry(m, LLMUX__PROVIDER_OPENAI);
    llmux__metrics_fallback(m, LLMUX__PROVIDER_ANTHROPIC);
    llmux__metrics_retry(m, LLMUX__PROVIDER_COUNT);
    llmux__metrics_in_flight_add(m, 3);
    llmux__metrics_in_flight_add(m, -1);
    llmux__metrics_streams_open_add(m, 1);
    llmux__metrics_streams_open_add(m, -2);
    llmux__metrics_sessions_set(m, 42);

    char *text = llmux__metrics_render(m);
    check_exposition(text);
    static const struct {
        const char *series;
        double want;
    } cases[] = {
        {"llmux_requests_total{provider=\"openai\",model=\"gpt-4o\",outcome=\"success\"}", 3},
        {"llmux_requests_total{provider=\"openai\",model=\"gpt-4o\",outcome=\"timeout\"}", 1},
        {"llmux_requests_total{provider=\"anthropic\",model=\"claude-haiku-4-5\",outcome="
         "\"all_providers_failed\"}",
         1},
        {"llmux_requests_total{provider=\"none\",model=\"none\",outcome=\"invalid_request\"}", 1},
        {"llmux_requests_total{provider=\"none\",model=\"none\",outcome=\"unauthorized\"}", 1},
        {"llmux_requests_total{provider=\"none\",model=\"gpt-4o\",outcome=\"upstream_error\"}", 1},
        {"llmux_attempts_total{provider=\"openai\",status=\"200\"}", 1},
        {"llmux_attempts_total{provider=\"openai\",status=\"429\"}", 2},
        {"llmux_attempts_total{provider=\"anthropic\",status=\"timeout\"}", 1},
        {"llmux_attempts_total{provider=\"anthropic\",status=\"upstream_error\"}", 1},
        {"llmux_attempts_total{provider=\"google\",status=\"529\"}", 1},
        {"llmux_retries_total{provider=\"openai\"}", 2},
        {"llmux_retries_total{provider=\"azure\"}", 0},
        {"llmux_fallbacks_total{provider=\"anthropic\"}", 1},
        {"llmux_requests_in_flight", 2},
        {"llmux_streams_open", -1},
        {"llmux_sessions", 42},
        /* openai latencies 0.2, 0.04, 0.06 */
        {"llmux_upstream_latency_seconds_bucket{provider=\"openai\",le=\"0.025\"}", 0},
        {"llmux_upstream_latency_seconds_bucket{provider=\"openai\",le=\"0.05\"}", 1},
        {"llmux_upstream_latency_seconds_bucket{provider=\"openai\",le=\"0.1\"}", 2},
        {"llmux_upstream_latency_seconds_bucket{provider=\"openai\",le=\"0.25\"}", 3},
        {"llmux_upstream_latency_seconds_bucket{provider=\"openai\",le=\"+Inf\"}", 3},
        {"llmux_upstream_latency_seconds_count{provider=\"openai\"}", 3},
        {"llmux_upstream_latency_seconds_sum{provider=\"openai\"}", 0.3},
        /* a value on a bound falls in that bucket (le is "less or equal") */
        {"llmux_upstream_latency_seconds_bucket{provider=\"anthropic\",le=\"0.01\"}", 1},
        {"llmux_upstream_latency_seconds_bucket{provider=\"anthropic\",le=\"30\"}", 2},
        /* past the last bound: only +Inf */
        {"llmux_upstream_latency_seconds_bucket{provider=\"google\",le=\"60\"}", 0},
        {"llmux_upstream_latency_seconds_bucket{provider=\"google\",le=\"+Inf\"}", 1},
        /* ttfb: -1 is not observed */
        {"llmux_upstream_ttfb_seconds_count{provider=\"anthropic\"}", 0},
        {"llmux_upstream_ttfb_seconds_count{provider=\"openai\"}", 3},
        {"llmux_upstream_ttfb_seconds_bucket{provider=\"openai\",le=\"0.05\"}", 2},
        /* durations 0.3 x3, 2, 31, 0.001; -1 and NaN ignored */
        {"llmux_request_duration_seconds_count", 6},
        {"llmux_request_duration_seconds_bucket{le=\"0.005\"}", 1},
        {"llmux_request_duration_seconds_bucket{le=\"0.5\"}", 4},
        {"llmux_request_duration_seconds_bucket{le=\"30\"}", 5},
        {"llmux_request_duration_seconds_bucket{le=\"60\"}", 6},
        {"llmux_request_duration_seconds_sum", 33.901},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double got = sample(text, cases[i].series);
        if (got < cases[i].want - 1e-6 || got > cases[i].want + 1e-6)
            fail_msg("%s = %g, want %g", cases[i].series, got, cases[i].want);
    }
    assert_int_equal(count_prefix(text, "llmux_requests_total{"), 6);
    assert_int_equal(count_prefix(text, "llmux_attempts_total{"), 5);
    free(text);
    llmux__metrics_free(m);
}

static void test_label_escaping_and_unusable_models(void **state)
{
    (void)state;
    llmux__metrics *m = llmux__metrics_new();
    llmux__metrics_request(m, LLMUX__PROVIDER_OPENAI, "we\"ird\\name", LLMUX_OK, 0);
    llmux__metrics_request(m, LLMUX__PROVIDER_OPENAI, "mod\xc3\xa9le-\xe2\x9c\x93", LLMUX_OK, 0);
    char longname[200];
    memset(longname, 'm', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    static const char *const unusable[] = {
        "line\nbreak",           "tab\there",  "bad\xff utf8", "trunc\xc3", "overlong\xc0\xaf",
        "surrogate\xed\xa0\x80", "c1\xc2\x85", "other",
    };
    for (size_t i = 0; i < sizeof unusable / sizeof unusable[0]; i++)
        llmux__metrics_request(m, LLMUX__PROVIDER_OPENAI, unusable[i], LLMUX_OK, 0);
    llmux__metrics_request(m, LLMUX__PROVIDER_OPENAI, longname, LLMUX_OK, 0);
    llmux__metrics_request(m, LLMUX__PROVIDER_OPENAI, "none", LLMUX_OK, 0);
    char *text = llmux__metrics_render(m);
    check_exposition(text);
    assert_true(sample(text, "llmux_requests_total{provider=\"openai\",model=\"we\\\"ird\\\\name\","
                             "outcome=\"success\"}") == 1);
    assert_true(sample(text, "llmux_requests_total{provider=\"openai\",model=\"mod\xc3\xa9le-"
                             "\xe2\x9c\x93\",outcome=\"success\"}") == 1);
    assert_true(sample(text, "llmux_requests_total{provider=\"openai\",model=\"other\","
                             "outcome=\"success\"}") == 9);
    assert_true(sample(text, "llmux_requests_total{provider=\"openai\",model=\"none\","
                             "outcome=\"success\"}") == 1);
    assert_null(strstr(text, "line"));
    assert_null(strstr(text, "mmmmmmmm"));
    assert_int_equal(count_prefix(text, "llmux_requests_total{"), 4);
    free(text);
    llmux__metrics_free(m);
}

static void test_model_cardinality_cap(void **state)
{
    (void)state;
    llmux__metrics *m = llmux__metrics_new();
    char model[32];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < LLMUX__METRICS_MAX_MODELS + 50; i++) {
            snprintf(model, sizeof model, "model-%d", i);
            llmux__metrics_request(m, LLMUX__PROVIDER_GOOGLE, model, LLMUX_OK, 0.1);
        }
    }
    char *text = llmux__metrics_render(m);
    check_exposition(text);
    /* The first 200 names keep their own series; the last 50 (twice) share "other". */
    assert_int_equal(count_prefix(text, "llmux_requests_total{"), LLMUX__METRICS_MAX_MODELS + 1);
    assert_true(sample(text, "llmux_requests_total{provider=\"google\",model=\"model-0\","
                             "outcome=\"success\"}") == 2);
    assert_true(sample(text, "llmux_requests_total{provider=\"google\",model=\"model-199\","
                             "outcome=\"success\"}") == 2);
    assert_true(sample(text, "llmux_requests_total{provider=\"google\",model=\"model-200\","
                             "outcome=\"success\"}") == -1);
    assert_true(sample(text, "llmux_requests_total{provider=\"google\",model=\"other\","
                             "outcome=\"success\"}") == 100);
    /* Insertion order is rendering order. */
    assert_true(strstr(text, "model=\"model-0\"") < strstr(text, "model=\"model-1\""));
    free(text);
    llmux__metrics_free(m);
}

#define THREADS 4
#define PER_THREAD 20000

typedef struct worker_arg {
    llmux__metrics *m;
    int id;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *a = p;
    static const char *const models[] = {"gpt-4o", "gpt-4.1-mini", "claude-haiku-4-5",
                                         "gemini-2.5-flash"};
    char model[32];
    for (int i = 0; i < PER_THREAD; i++) {
        llmux__metrics_in_flight_add(a->m, 1);
        /* Each thread also introduces its own models, racing with the others. */
        if (i % 100 == 0)
            snprintf(model, sizeof model, "t%d-%d", a->id, i / 100 % 30);
        if (i % 2)
            llmux__metrics_request(a->m, i / 2 % 4, models[i / 2 % 4], LLMUX_OK, 0.01);
        else
            llmux__metrics_request(a->m, LLMUX__PROVIDER_OPENAI, model, LLMUX_OK, 0.01);
        llmux__metrics_attempt(a->m, (llmux__provider)(i % LLMUX__PROVIDER_COUNT), 200, LLMUX_OK,
                               0.01, 0.005);
        llmux__metrics_retry(a->m, LLMUX__PROVIDER_AZURE);
        llmux__metrics_in_flight_add(a->m, -1);
        if (i % 5000 == 0)
            free(llmux__metrics_render(a->m));
    }
    return NULL;
}

static void test_concurrent_recording(void **state)
{
    (void)state;
    llmux__metrics *m = llmux__metrics_new();
    pthread_t t[THREADS];
    worker_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (worker_arg){m, i};
        assert_int_equal(pthread_create(&t[i], NULL, worker, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    char *text = llmux__metrics_render(m);
    check_exposition(text);
    /* Sum every requests_total sample: nothing lost. */
    double total = 0;
    for (const char *line = text; (line = strstr(line, "\nllmux_requests_total{"));) {
        line++;
        total += strtod(strchr(line, ' ') + 1, NULL);
    }
    assert_true(total == THREADS * PER_THREAD);
    assert_true(sample(text, "llmux_requests_total{provider=\"openai\",model=\"gpt-4o\","
                             "outcome=\"success\"}") == THREADS * PER_THREAD / 8);
    assert_true(sample(text, "llmux_retries_total{provider=\"azure\"}") == THREADS * PER_THREAD);
    assert_true(sample(text, "llmux_request_duration_seconds_count") == THREADS * PER_THREAD);
    assert_true(sample(text, "llmux_attempts_total{provider=\"google\",status=\"200\"}") ==
                THREADS * PER_THREAD / 4);
    assert_true(sample(text, "llmux_requests_in_flight") == 0);
    /* 4 shared names + 4 x 30 per-thread names, all under the cap, each exactly once. */
    assert_int_equal(count_prefix(text, "llmux_requests_total{"), 4 + THREADS * 30);
    free(text);
    llmux__metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_render_parses),
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_label_escaping_and_unusable_models),
        cmocka_unit_test(test_model_cardinality_cap),
        cmocka_unit_test(test_concurrent_recording),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
