/* test_mock_faults.c — the mock's scripted steps, each with its documented outcome: error
 * statuses with provider bodies and retry headers, matching by provider/model and count,
 * delays, real streaming timing, drops, in-stream errors, malformed bodies, hangs, client
 * disconnects, split_at, X-Mock-Script, bad scripts, the request log, keep-alive, TLS,
 * concurrency and a clean stop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"
#include "mock/mock.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static tu_proc mock;

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
    "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}";
static const char OPENAI_STREAM[] = "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":"
                                    "[{\"role\":\"user\",\"content\":\"Hello\"}]}";
static const char ANTHROPIC_HELLO[] = "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":256,"
                                      "\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}";
static const char ANTHROPIC_STREAM[] =
    "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":256,\"stream\":true,"
    "\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}";
static const char GOOGLE_HELLO[] =
    "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Hello\"}]}]}";

static int group_setup(void **state)
{
    (void)state;
    return tu_mock_start(&mock, NULL);
}

static int group_teardown(void **state)
{
    (void)state;
    int status = tu_proc_stop(&mock, 3000);
    tu_proc_free(&mock);
    return status == 0 ? 0 : -1;
}

static int reset(void **state)
{
    (void)state;
    return tu_mock_reset(mock.port) == 200 ? 0 : -1;
}

static int post_ex(const char *path, const char *const *headers, const char *body, long timeout_ms,
                   tu_response *r)
{
    char url[512];
    tu_http_opts opts = {.timeout_ms = timeout_ms};
    return tu_http_ex(NULL, "POST", tu_url(url, sizeof url, mock.port, path), headers, body, &opts,
                      r);
}

static void post(const char *path, const char *const *headers, const char *body, tu_response *r)
{
    int rc = post_ex(path, headers, body, 10000, r);
    if (rc != 0)
        fail_msg("POST %s: curl %d %s", path, rc, r->error);
}

static void script(const char *json)
{
    char why[512];
    int status = tu_mock_script(mock.port, json, why, sizeof why);
    if (status != 200)
        fail_msg("script refused (%d): %s", status, why);
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

static double num_at(const cJSON *obj, const char *a)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, a);
    if (!cJSON_IsNumber(it))
        fail_msg("%s is not a number", a);
    return it->valuedouble;
}

static bool bool_at(const cJSON *obj, const char *a)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, a));
}

/* The request log's entries (borrowed from *root, which the caller deletes). */
static const cJSON *log_entries(cJSON **root)
{
    *root = tu_mock_requests(mock.port);
    assert_non_null(*root);
    return cJSON_GetObjectItemCaseSensitive(*root, "requests");
}

/* Polls the log until entry `index` reports client_closed (the mock sees the close a little
 * after the client makes it). Returns the log root (caller deletes). */
static cJSON *wait_client_closed(int index)
{
    double deadline = tu_now_ms() + 3000;
    for (;;) {
        cJSON *root;
        const cJSON *e = cJSON_GetArrayItem(log_entries(&root), index);
        if ((e && bool_at(e, "client_closed")) || tu_now_ms() > deadline)
            return root;
        cJSON_Delete(root);
        tu_sleep_ms(10);
    }
}

/* Count of events in an SSE body whose data is a content delta for `provider`. */
static size_t count_content(const tu_sse *s, const char *provider)
{
    size_t n = 0;
    for (size_t i = 0; i < s->count; i++) {
        cJSON *j = cJSON_Parse(s->events[i].data);
        if (!j)
            continue;
        if (strcmp(provider, "anthropic") == 0) {
            n += s->events[i].event && strcmp(s->events[i].event, "content_block_delta") == 0;
        } else {
            const cJSON *choice =
                cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "choices"), 0);
            n += str_at(cJSON_GetObjectItemCaseSensitive(choice, "delta"), "content", NULL) &&
                 *str_at(cJSON_GetObjectItemCaseSensitive(choice, "delta"), "content", NULL);
        }
        cJSON_Delete(j);
    }
    return n;
}

/* ---------------------------------------------------------------------------------- */
/* statuses                                                                             */
/* ---------------------------------------------------------------------------------- */

static void test_count_503_then_success(void **state)
{
    (void)state;
    script("[{\"status\":503,\"count\":3,\"retry_after\":1}]");
    for (int i = 0; i < 3; i++) {
        tu_response r;
        post(OPENAI_PATH, OPENAI_AUTH, OPENAI_HELLO, &r);
        assert_int_equal(r.status, 503);
        cJSON *j = body_json(&r);
        assert_string_equal(str_at(j, "error", "type"), "server_error");
        char ra[32];
        assert_non_null(tu_header(&r, "retry-after", ra, sizeof ra));
        assert_string_equal(ra, "1");
        cJSON_Delete(j);
        tu_response_free(&r);
    }
    tu_response r;
    post(OPENAI_PATH, OPENAI_AUTH, OPENAI_HELLO, &r);
    assert_int_equal(r.status, 200);
    tu_response_free(&r);
}

static void test_provider_error_bodies(void **state)
{
    (void)state;
    script("[{\"provider\":\"anthropic\",\"status\":529},"
           "{\"provider\":\"google\",\"status\":429,\"retry_after\":2},"
           "{\"provider\":\"azure\",\"status\":429,\"retry_after_ms\":1500,"
           "\"headers\":{\"x-ratelimit-remaining-requests\":\"0\"}},"
           "{\"provider\":\"openai\",\"status\":429},"
           "{\"provider\":\"openai\",\"status\":404}]");
    tu_response r;
    post(ANTHROPIC_PATH, ANTHROPIC_AUTH, ANTHROPIC_HELLO, &r);
    assert_int_equal(r.status, 529);
    cJSON *j = body_json(&r);
    assert_string_equal(str_at(j, "type", NULL), "error");
    assert_string_equal(str_at(j, "error", "type"), "overloaded_error");
    cJSON_Delete(j);
    tu_response_free(&r);

    post(GOOGLE_PATH, GOOGLE_AUTH, GOOGLE_HELLO, &r);
    assert_int_equal(r.status, 429);
    j = body_json(&r);
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
    assert_string_equal(str_at(err, "status", NULL), "RESOURCE_EXHAUSTED");
    const cJSON *details = cJSON_GetObjectItemCaseSensitive(err, "details");
    bool retry_info = false;
    for (const cJSON *d = details ? details->child : NULL; d; d = d->next)
        if (str_at(d, "retryDelay", NULL)) {
            assert_string_equal(str_at(d, "retryDelay", NULL), "2s");
            retry_info = true;
        }
    assert_true(retry_info);
    cJSON_Delete(j);
    tu_response_free(&r);

    post(AZURE_PATH, AZURE_AUTH, OPENAI_HELLO, &r);
    assert_int_equal(r.status, 429);
    j = body_json(&r);
    assert_string_equal(str_at(j, "error", "code"), "429");
    char h[64];
    assert_string_equal(tu_header(&r, "retry-after-ms", h, sizeof h), "1500");
    assert_string_equal(tu_header(&r, "x-ratelimit-remaining-requests", h, sizeof h), "0");
    cJSON_Delete(j);
    tu_response_free(&r);

    post(OPENAI_PATH, OPENAI_AUTH, OPENAI_HELLO, &r);
    assert_int_equal(r.status, 429);
    j = body_json(&r);
    assert_string_equal(str_at(j, "error", "code"), "rate_limit_exceeded");
    cJSON_Delete(j);
    tu_response_free(&r);

    post(OPENAI_PATH, OPENAI_AUTH, OPENAI_HELLO, &r);
    assert_int_equal(r.status, 404);
    j = body_json(&r);
    assert_string_equal(str_at(j, "error", "code"), "model_not_found");
    assert_non_null(strstr(str_at(j, "error", "message"), "gpt-4o-mini"));
    cJSON_Delete(j);
    tu_response_free(&r);
}

static void test_status_with_custom_body(void **state)
{
    (void)state;
    script("[{\"status\":429,\"body\":{\"error\":{\"message\":\"quota\",\"type\":"
           "\"insufficient_quota\",\"param\":null,\"code\":\"insufficient_quota\"}}},"
           "{\"status\":200,\"body\":\"plain words\"}]");
    tu_response r;
    post(OPENAI_PATH, OPENAI_AUTH, OPENAI_HELLO, &r);
    assert_int_equal(r.status, 429);
    cJSON *j = body_json(&r);
    assert_string_equal(str_at(j, "error", "code"), "insufficient_quota");
    cJSON_Delete(j);
    tu_response_free(&r);
    post(OPENAI_PATH, OPENAI_AUTH, OPENAI_HELLO, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "plain words");
    tu_response_free(&r);
}

static void test_steps_match_provider_and_model(void **state)
{
    (void)state;
    script("[{\"provider\":\"anthropic\",\"status\":500},"
           "{\"model\":\"gpt-special\",\"status\":502},"
           "{\"status\":503}]");
    tu_response r;
    /* openai gpt-4o-mini skips the anthropic and gpt-special steps */
    post(OPENAI_PATH, OPENAI_AUTH, OPENAI_HELLO, &r);
    assert_int_equal(r.status, 503);
    tu_response_free(&r);
    post(OPENAI_PATH, OPENAI_AUTH,
         "{\"model\":\"gpt-special\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", &r);
    assert_int_equal(r.status, 502);
    tu_response_free(&r);
    post(OPENAI_PATH, OPENAI_AUTH, OPENAI_HELLO, &r);
    assert_int_equal(r.status, 200); /* nothing left for openai */
    tu_response_free(&r);
    post(ANTHROPIC_PATH, ANTHROPIC_AUTH, ANTHROPIC_HELLO, &r);
    assert_int_equal(r.status, 500);
    cJSON *j = body_json(&r);
    assert_string_equal(str_at(j, "error", "type"), "api_error");
    cJSON_Delete(j);
    tu_response_free(&r);
    /* the log records which step answered */
    cJSON *root;
    const cJSON *entries = log_entries(&root);
    const cJSON *step = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(entries, 1), "step");
    assert_string_equal(str_at(step, "model", NULL), "gpt-special");
    assert_true(
        cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(entries, 2), "step")));
    cJSON_Delete(root);
}

/* ---------------------------------------------------------------------------------- */
/* timing                                                                               */
/* ---------------------------------------------------------------------------------- */

static void test_delay_ms_before_headers(void **state)
{
    (void)state;
    script("[{\"delay_ms\":120}]");
    tu_response r;
    post(OPENAI_PATH, OPENAI_AUTH, OPENAI_HELLO, &r);
    assert_int_equal(r.status, 200);
    assert_true(r.first_byte_ms >= 110);
    tu_response_free(&r);
    /* no step: fast */
    post(OPENAI_PATH, OPENAI_AUTH, OPENAI_HELLO, &r);
    assert_true(r.first_byte_ms < 100);
    tu_response_free(&r);
}

static void test_stream_timing_is_real(void **state)
{
    (void)state;
    script("[{\"first_chunk_delay_ms\":150,\"chunk_interval_ms\":40,\"text\":\"one two three "
           "four\"}]");
    tu_response r;
    post(OPENAI_PATH, OPENAI_AUTH, OPENAI_STREAM, &r);
    assert_int_equal(r.status, 200);
    /* headers and the role preamble come at once; content waits */
    assert_true(r.first_byte_ms < 120);
    size_t first_content = SIZE_MAX, last_content = 0;
    for (size_t i = 0; i < r.nwrites && i < TU_MAX_WRITES; i++) {
        size_t start = i ? r.write_end[i - 1] : 0;
        if (memmem(r.body + start, r.write_end[i] - start, "\"content\":\"", 11) &&
            !memmem(r.body + start, r.write_end[i] - start, "\"content\":\"\"", 12)) {
            if (first_content == SIZE_MAX)
                first_content = i;
            last_content = i;
        }
    }
    assert_true(first_content != SIZE_MAX);
    assert_true(r.write_ms[first_content] >= 140);
    /* four words, 40 ms apart: the last arrives at least ~3 intervals after the first */
    assert_true(r.write_ms[last_content] - r.write_ms[first_content] >= 100);
    tu_sse s;
    assert_int_equal(tu_sse_parse(r.body, r.body_len, &s), 0);
    assert_int_equal(count_content(&s, "openai"), 4);
    tu_sse_free(&s);
    tu_response_free(&r);
}

static void test_text_split_at(void **state)
{
    (void)state;
    script("[{\"provider\":\"anthropic\",\"text\":\"Hi. There.\",\"split_at\":[3]}]");
    tu_response r;
    post(ANTHROPIC_PATH, ANTHROPIC_AUTH, ANTHROPIC_STREAM, &r);
    tu_sse s;
    assert_int_equal(tu_sse_parse(r.body, r.body_len, &s), 0);
    const char *want[] = {"Hi.", " There."};
    size_t k = 0;
    for (size_t i = 0; i < s.count; i++) {
        if (strcmp(s.events[i].event, "content_block_delta") != 0)
            continue;
        cJSON *j = cJSON_Parse(s.events[i].data);
        assert_true(k < 2);
        assert_string_equal(str_at(j, "delta", "text"), want[k++]);
        cJSON_Delete(j);
    }
    assert_int_equal(k, 2);
    tu_sse_free(&s);
    tu_response_free(&r);
}

/* ---------------------------------------------------------------------------------- */
/* stream faults                                                                        */
/* ---------------------------------------------------------------------------------- */

static void test_drop_after_chunks(void **state)
{
    (void)state;
    script("[{\"drop_after_chunks\":3}]");
    tu_response r;
    int rc = post_ex(OPENAI_PATH, OPENAI_AUTH, OPENAI_STREAM, 5000, &r);
    /* the chunked body never ends: curl reports a broken transfer */
    assert_true(rc == 18 || rc == 56);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "[DONE]"));
    tu_sse s;
    assert_int_equal(tu_sse_parse(r.body, r.body_len, &s), 0);
    assert_int_equal(count_content(&s, "openai"), 3);
    tu_sse_free(&s);
    tu_response_free(&r);
    cJSON *root;
    const cJSON *e = cJSON_GetArrayItem(log_entries(&root), 0);
    assert_true(bool_at(e, "dropped"));
    assert_false(bool_at(e, "completed"));
    assert_true(num_at(e, "chunks_sent") == 3);
    cJSON_Delete(root);

    /* past the last chunk: all content arrives, then the close instead of the finish */
    script("[{\"drop_after_chunks\":1000}]");
    rc = post_ex(ANTHROPIC_PATH, ANTHROPIC_AUTH, ANTHROPIC_STREAM, 5000, &r);
    assert_true(rc == 18 || rc == 56);
    assert_int_equal(tu_sse_parse(r.body, r.body_len, &s), 0);
    size_t words = 1;
    for (const char *p = LLMUX__MOCK_DEFAULT_TEXT; *p; p++)
        words += *p == ' ';
    assert_int_equal(count_content(&s, "anthropic"), words);
    assert_null(strstr(r.body, "message_stop"));
    tu_sse_free(&s);
    tu_response_free(&r);

    /* non-streaming: drop_after_chunks 0 cuts the body */
    script("[{\"drop_after_chunks\":0}]");
    rc = post_ex(OPENAI_PATH, OPENAI_AUTH, OPENAI_HELLO, 5000, &r);
    assert_true(rc == 18 || rc == 56 || rc == 52);
    tu_response_free(&r);
}

static void test_error_event_after_chunks(void **state)
{
    (void)state;
    script("[{\"provider\":\"anthropic\",\"error_event_after_chunks\":2},"
           "{\"provider\":\"openai\",\"error_event_after_chunks\":1}]");
    tu_response r;
    post(ANTHROPIC_PATH, ANTHROPIC_AUTH, ANTHROPIC_STREAM, &r);
    assert_int_equal(r.status, 200);
    tu_sse s;
    assert_int_equal(tu_sse_parse(r.body, r.body_len, &s), 0);
    assert_int_equal(count_content(&s, "anthropic"), 2);
    assert_string_equal(s.events[s.count - 1].event, "error");
    cJSON *j = cJSON_Parse(s.events[s.count - 1].data);
    assert_string_equal(str_at(j, "type", NULL), "error");
    assert_string_equal(str_at(j, "error", "type"), "overloaded_error");
    cJSON_Delete(j);
    for (size_t i = 0; i < s.count; i++)
        assert_string_not_equal(s.events[i].event, "message_stop");
    tu_sse_free(&s);
    tu_response_free(&r);

    post(OPENAI_PATH, OPENAI_AUTH, OPENAI_STREAM, &r);
    assert_int_equal(tu_sse_parse(r.body, r.body_len, &s), 0);
    assert_int_equal(count_content(&s, "openai"), 1);
    j = cJSON_Parse(s.events[s.count - 1].data);
    assert_string_equal(str_at(j, "error", "type"), "server_error");
    cJSON_Delete(j);
    assert_null(strstr(r.body, "[DONE]"));
    tu_sse_free(&s);
    tu_response_free(&r);
}

static void test_malformed_json(void **state)
{
    (void)state;
    script("[{\"malformed\":\"json\"},{\"malformed\":\"json\"}]");
    tu_response r;
    post(OPENAI_PATH, OPENAI_AUTH, OPENAI_HELLO, &r);
    assert_int_equal(r.status, 200);
    cJSON *j = tu_json(&r);
    assert_null(j);
    assert_true(r.body_len > 10);
    tu_response_free(&r);

    post(OPENAI_PATH, OPENAI_AUTH, OPENAI_STREAM, &r);
    assert_int_equal(r.curl_code, 0);
    tu_sse s;
    assert_int_equal(tu_sse_parse(r.body, r.body_len, &s), 0);
    size_t broken = 0;
    for (size_t i = 0; i + 1 < s.count; i++) {
        cJSON *ev = cJSON_Parse(s.events[i].data);
        broken += ev == NULL;
        cJSON_Delete(ev);
    }
    assert_int_equal(broken, 1);
    assert_string_equal(s.events[s.count - 1].data, "[DONE]");
    tu_sse_free(&s);
    tu_response_free(&r);
}

static void test_malformed_sse(void **state)
{
    (void)state;
    script("[{\"malformed\":\"sse\"}]");
    tu_response r;
    post(OPENAI_PATH, OPENAI_AUTH, OPENAI_STREAM, &r);
    assert_int_equal(r.status, 200);
    /* no blank line ends any event: a parser sees one event of joined lines, not JSON */
    assert_null(strstr(r.body, "\n\n"));
    tu_sse s;
    assert_int_equal(tu_sse_parse(r.body, r.body_len, &s), 0);
    assert_int_equal(s.count, 1);
    assert_true(s.partial);
    cJSON *j = cJSON_ParseWithOpts(s.events[0].data, NULL, 1); /* the whole data must parse */
    assert_null(j);
    tu_sse_free(&s);
    tu_response_free(&r);
}

static void test_malformed_truncated(void **state)
{
    (void)state;
    script("[{\"malformed\":\"truncated\"},{\"malformed\":\"truncated\"},"
           "{\"malformed\":\"truncated\"}]");
    tu_response r;
    int rc = post_ex(OPENAI_PATH, OPENAI_AUTH, OPENAI_HELLO, 5000, &r);
    assert_int_equal(rc, 18); /* Content-Length promised more than came */
    char cl[32];
    assert_non_null(tu_header(&r, "content-length", cl, sizeof cl));
    assert_true((size_t)atol(cl) > r.body_len);
    tu_response_free(&r);

    /* a stream that ends cleanly but without its terminator */
    post(OPENAI_PATH, OPENAI_AUTH, OPENAI_STREAM, &r);
    assert_int_equal(r.curl_code, 0);
    assert_null(strstr(r.body, "[DONE]"));
    assert_null(strstr(r.body, "finish_reason\":\"stop"));
    assert_non_null(strstr(r.body, "\"content\":\"Hello\""));
    tu_response_free(&r);

    post(ANTHROPIC_PATH, ANTHROPIC_AUTH, ANTHROPIC_STREAM, &r);
    assert_int_equal(r.curl_code, 0);
    assert_null(strstr(r.body, "message_stop"));
    assert_null(strstr(r.body, "message_delta"));
    tu_response_free(&r);
}

static void test_hang_until_client_gives_up(void **state)
{
    (void)state;
    script("[{\"hang\":true}]");
    tu_response r;
    int rc = post_ex(OPENAI_PATH, OPENAI_AUTH, OPENAI_HELLO, 250, &r);
    assert_int_equal(rc, 28); /* curl's timeout */
    assert_int_equal(r.status, 0);
    tu_response_free(&r);
    cJSON *root = wait_client_closed(0);
    const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "requests"), 0);
    assert_true(bool_at(e, "client_closed"));
    assert_false(bool_at(e, "completed"));
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(e, "status")));
    cJSON_Delete(root);
    /* the mock still serves */
    post(OPENAI_PATH, OPENAI_AUTH, OPENAI_HELLO, &r);
    assert_int_equal(r.status, 200);
    tu_response_free(&r);
}

static void test_client_disconnect_mid_stream_is_logged(void **state)
{
    (void)state;
    script("[{\"chunk_interval_ms\":60}]");
    tu_response r;
    int rc = post_ex(OPENAI_PATH, OPENAI_AUTH, OPENAI_STREAM, 300, &r);
    assert_int_equal(rc, 28);
    tu_response_free(&r);
    cJSON *root = wait_client_closed(0);
    const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "requests"), 0);
    assert_true(bool_at(e, "client_closed"));
    double at = num_at(e, "closed_at_chunk");
    size_t words = 0;
    for (const char *p = LLMUX__MOCK_DEFAULT_TEXT; *p; p++)
        words += *p == ' ';
    assert_true(at >= 1 && at < (double)words);
    assert_true(num_at(e, "status") == 200);
    cJSON_Delete(root);
}

/* ---------------------------------------------------------------------------------- */
/* scripts                                                                              */
/* ---------------------------------------------------------------------------------- */

static void test_x_mock_script_header(void **state)
{
    (void)state;
    static const char *const h[] = {"Authorization: Bearer sk-test",
                                    "X-Mock-Script: {\"status\":429,\"retry_after\":3}", NULL};
    tu_response r;
    post(OPENAI_PATH, h, OPENAI_HELLO, &r);
    assert_int_equal(r.status, 429);
    char ra[16];
    assert_string_equal(tu_header(&r, "retry-after", ra, sizeof ra), "3");
    tu_response_free(&r);
    static const char *const bad[] = {"Authorization: Bearer sk-test",
                                      "X-Mock-Script: {\"stauts\":429}", NULL};
    post(OPENAI_PATH, bad, OPENAI_HELLO, &r);
    assert_int_equal(r.status, 400);
    cJSON *j = body_json(&r);
    assert_string_equal(str_at(j, "error", "type"), "invalid_script");
    assert_non_null(strstr(str_at(j, "error", "message"), "stauts"));
    cJSON_Delete(j);
    tu_response_free(&r);
    /* a header step leaves the queue alone */
    script("[{\"status\":418}]");
    static const char *const ok[] = {"Authorization: Bearer sk-test",
                                     "X-Mock-Script: {\"text\":\"from the header\"}", NULL};
    post(OPENAI_PATH, ok, OPENAI_HELLO, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "from the header"));
    tu_response_free(&r);
    post(OPENAI_PATH, OPENAI_AUTH, OPENAI_HELLO, &r);
    assert_int_equal(r.status, 418);
    tu_response_free(&r);
}

static void test_bad_scripts_are_refused(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *needle;
    } cases[] = {
        {"not json", "not valid JSON"},
        {"{\"status\":500}", "array of steps"},
        {"[{\"dealy_ms\":5}]", "unknown field 'dealy_ms'"},
        {"[{\"provider\":\"openia\"}]", "provider"},
        {"[{\"malformed\":\"xml\"}]", "malformed"},
        {"[{\"delay_ms\":-1}]", "delay_ms"},
        {"[{\"status\":99}]", "status"},
        {"[{\"count\":0}]", "count"},
        {"[{\"text\":\"abc\",\"split_at\":[5]}]", "split_at"},
        {"[{\"split_at\":[1]}]", "split_at: needs a text"},
        {"[{\"status\":503,\"text\":\"x\"}]", "cannot be combined"},
        {"[{\"hang\":true,\"drop_after_chunks\":1}]", "exclude each other"},
        {"[{\"tool_call\":{\"arguments\":[1]}}]", "tool_call.arguments"},
        {"[{\"headers\":{\"x-a\":\"b\\r\\nc\"}}]", "headers.x-a"},
        {"[{\"status\":200},{\"retry_after\":\"\"}]", "step 1: retry_after"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char why[512];
        int status = tu_mock_script(mock.port, cases[i].json, why, sizeof why);
        if (status != 400 || !strstr(why, cases[i].needle))
            fail_msg("script %s: status %d body %s (want 400 naming '%s')", cases[i].json, status,
                     why, cases[i].needle);
    }
    /* none of them queued anything (all or none) */
    char url[256];
    tu_response r;
    tu_http("GET", tu_url(url, sizeof url, mock.port, "/_mock/script"), NULL, NULL, &r);
    cJSON *j = body_json(&r);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "pending")), 0);
    cJSON_Delete(j);
    tu_response_free(&r);
    /* {"steps": [...]} works and GET shows what is pending */
    script("{\"steps\":[{\"status\":500,\"repeat\":2},{\"delay_ms\":1}]}");
    tu_http("GET", tu_url(url, sizeof url, mock.port, "/_mock/script"), NULL, NULL, &r);
    j = body_json(&r);
    const cJSON *pending = cJSON_GetObjectItemCaseSensitive(j, "pending");
    assert_int_equal(cJSON_GetArraySize(pending), 2);
    assert_true(num_at(cJSON_GetArrayItem(pending, 0), "remaining") == 2);
    cJSON_Delete(j);
    tu_response_free(&r);
}

/* ---------------------------------------------------------------------------------- */
/* the request log, connections                                                         */
/* ---------------------------------------------------------------------------------- */

static void test_request_log_records_everything(void **state)
{
    (void)state;
    tu_response r;
    post(OPENAI_PATH, OPENAI_AUTH, OPENAI_HELLO, &r);
    tu_response_free(&r);
    post("/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse&key=g-query", NULL,
         GOOGLE_HELLO, &r);
    assert_int_equal(r.status, 200);
    tu_response_free(&r);
    cJSON *root;
    const cJSON *entries = log_entries(&root);
    assert_int_equal(cJSON_GetArraySize(entries), 2);
    const cJSON *a = cJSON_GetArrayItem(entries, 0), *b = cJSON_GetArrayItem(entries, 1);
    assert_string_equal(str_at(a, "provider", NULL), "openai");
    assert_string_equal(str_at(a, "method", NULL), "POST");
    assert_string_equal(str_at(a, "path", NULL), OPENAI_PATH);
    assert_string_equal(str_at(a, "body", NULL), OPENAI_HELLO);
    /* received keys are kept: tests check what the proxy injected */
    assert_string_equal(str_at(a, "headers", "authorization"), "Bearer sk-test");
    assert_string_equal(str_at(a, "model", NULL), "gpt-4o-mini");
    assert_true(bool_at(a, "completed"));
    assert_true(num_at(a, "status") == 200);
    assert_string_equal(str_at(b, "provider", NULL), "google");
    assert_string_equal(str_at(b, "query", NULL), "alt=sse&key=g-query");
    assert_true(bool_at(b, "stream"));
    assert_true(num_at(b, "chunks_sent") > 3);
    /* two fresh connections, in arrival order */
    assert_true(num_at(b, "connection_id") > num_at(a, "connection_id"));
    assert_true(num_at(b, "arrival_ms") >= num_at(a, "arrival_ms"));
    assert_true(num_at(a, "time") > 1.6e9);
    cJSON_Delete(root);
    /* reset clears it */
    assert_int_equal(tu_mock_reset(mock.port), 200);
    entries = log_entries(&root);
    assert_int_equal(cJSON_GetArraySize(entries), 0);
    cJSON_Delete(root);
}

static void test_keep_alive_reuses_connection(void **state)
{
    (void)state;
    tu_client *c = tu_client_new();
    assert_non_null(c);
    char url[256];
    tu_url(url, sizeof url, mock.port, OPENAI_PATH);
    tu_response r1, r2, r3;
    assert_int_equal(tu_http_ex(c, "POST", url, OPENAI_AUTH, OPENAI_HELLO, NULL, &r1), 0);
    assert_int_equal(tu_http_ex(c, "POST", url, OPENAI_AUTH, OPENAI_STREAM, NULL, &r2), 0);
    assert_int_equal(tu_http_ex(c, "GET", tu_url(url, sizeof url, mock.port, "/v1/models"),
                                OPENAI_AUTH, NULL, NULL, &r3),
                     0);
    assert_int_equal(r1.new_connections, 1);
    assert_int_equal(r2.new_connections, 0);
    assert_int_equal(r3.new_connections, 0);
    tu_response_free(&r1);
    tu_response_free(&r2);
    tu_response_free(&r3);
    tu_client_free(c);
    tu_response other;
    post(OPENAI_PATH, OPENAI_AUTH, OPENAI_HELLO, &other);
    tu_response_free(&other);
    cJSON *root;
    const cJSON *entries = log_entries(&root);
    assert_int_equal(cJSON_GetArraySize(entries), 4);
    double id0 = num_at(cJSON_GetArrayItem(entries, 0), "connection_id");
    assert_true(num_at(cJSON_GetArrayItem(entries, 1), "connection_id") == id0);
    assert_true(num_at(cJSON_GetArrayItem(entries, 2), "connection_id") == id0);
    assert_true(num_at(cJSON_GetArrayItem(entries, 3), "connection_id") != id0);
    cJSON_Delete(root);
}

typedef struct concurrent_arg {
    int port;
    const char *const *headers; /* NULL: a 300 ms delay step in X-Mock-Script */
    long status;
} concurrent_arg;

static void *concurrent_request(void *p)
{
    concurrent_arg *a = p;
    char url[256];
    tu_response r;
    static const char *const h[] = {"Authorization: Bearer sk-test",
                                    "X-Mock-Script: {\"delay_ms\":300}", NULL};
    tu_http("POST", tu_url(url, sizeof url, a->port, OPENAI_PATH), a->headers ? a->headers : h,
            OPENAI_HELLO, &r);
    a->status = r.status;
    tu_response_free(&r);
    return NULL;
}

static void test_concurrent_connections(void **state)
{
    (void)state;
    enum { N = 24 };
    pthread_t threads[N];
    concurrent_arg args[N];
    double t0 = tu_now_ms();
    for (int i = 0; i < N; i++) {
        args[i] = (concurrent_arg){.port = mock.port};
        assert_int_equal(pthread_create(&threads[i], NULL, concurrent_request, &args[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(args[i].status, 200);
    }
    /* 24 requests that each wait 300 ms are served at once, not one after another */
    assert_true(tu_now_ms() - t0 < 300.0 * N / 4);
}

static void test_tls(void **state)
{
    (void)state;
    char cert[PATH_MAX], key[PATH_MAX];
    int rc = tu_make_cert(cert, key);
    if (rc == 1) {
        fprintf(stderr, "SKIP test_tls: the openssl CLI is not installed\n");
        skip();
    }
    assert_int_equal(rc, 0);
    tu_proc tls;
    const char *const args[] = {"--tls", cert, key, NULL};
    assert_int_equal(tu_mock_start(&tls, args), 0);
    char url[256];
    snprintf(url, sizeof url, "https://127.0.0.1:%d%s", tls.port, OPENAI_PATH);
    tu_http_opts opts = {.ca_file = cert, .timeout_ms = 5000};
    tu_client *c = tu_client_new();
    tu_response r1, r2;
    assert_int_equal(tu_http_ex(c, "POST", url, OPENAI_AUTH, OPENAI_STREAM, &opts, &r1), 0);
    assert_int_equal(r1.status, 200);
    assert_non_null(strstr(r1.body, "data: [DONE]"));
    assert_int_equal(tu_http_ex(c, "POST", url, OPENAI_AUTH, OPENAI_HELLO, &opts, &r2), 0);
    assert_int_equal(r2.new_connections, 0); /* the TLS connection is reused */
    tu_response_free(&r1);
    tu_response_free(&r2);
    tu_client_free(c);
    /* plain HTTP to the TLS port fails rather than hangs */
    tu_response r3;
    char plain[256];
    tu_http_opts quick = {.timeout_ms = 2000};
    assert_int_not_equal(tu_http_ex(NULL, "GET",
                                    tu_url(plain, sizeof plain, tls.port, "/_mock/health"), NULL,
                                    NULL, &quick, &r3),
                         0);
    tu_response_free(&r3);
    assert_int_equal(tu_proc_stop(&tls, 3000), 0);
    tu_proc_free(&tls);
    tu_remove_cert(cert, key);
}

static void test_sigterm_with_open_requests(void **state)
{
    (void)state;
    tu_proc m;
    assert_int_equal(tu_mock_start(&m, NULL), 0);
    assert_int_equal(tu_mock_script(m.port, "[{\"hang\":true}]", NULL, 0), 200);
    /* a hanging request in another thread, then SIGTERM: the mock exits 0 promptly */
    static const char *const h[] = {"Authorization: Bearer k", NULL};
    concurrent_arg a = {.port = m.port, .headers = h};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, concurrent_request, &a), 0);
    tu_sleep_ms(100);
    double t0 = tu_now_ms();
    assert_int_equal(tu_proc_stop(&m, 3000), 0);
    assert_true(tu_now_ms() - t0 < 1500);
    pthread_join(t, NULL);
    assert_int_equal(a.status, 0); /* the hanging request was cut */
    tu_proc_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_count_503_then_success, reset),
        cmocka_unit_test_setup(test_provider_error_bodies, reset),
        cmocka_unit_test_setup(test_status_with_custom_body, reset),
        cmocka_unit_test_setup(test_steps_match_provider_and_model, reset),
        cmocka_unit_test_setup(test_delay_ms_before_headers, reset),
        cmocka_unit_test_setup(test_stream_timing_is_real, reset),
        cmocka_unit_test_setup(test_text_split_at, reset),
        cmocka_unit_test_setup(test_drop_after_chunks, reset),
        cmocka_unit_test_setup(test_error_event_after_chunks, reset),
        cmocka_unit_test_setup(test_malformed_json, reset),
        cmocka_unit_test_setup(test_malformed_sse, reset),
        cmocka_unit_test_setup(test_malformed_truncated, reset),
        cmocka_unit_test_setup(test_hang_until_client_gives_up, reset),
        cmocka_unit_test_setup(test_client_disconnect_mid_stream_is_logged, reset),
        cmocka_unit_test_setup(test_x_mock_script_header, reset),
        cmocka_unit_test_setup(test_bad_scripts_are_refused, reset),
        cmocka_unit_test_setup(test_request_log_records_everything, reset),
        cmocka_unit_test_setup(test_keep_alive_reuses_connection, reset),
        cmocka_unit_test_setup(test_concurrent_connections, reset),
        cmocka_unit_test_setup(test_tls, reset),
        cmocka_unit_test_setup(test_sigterm_with_open_requests, reset),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
