/* test_limits.c — limits and abuse against `llmux serve` with small limits: body and
 * header caps, slowloris (header and body read timeouts), idle connections, too many
 * connections, too many concurrent streams per token, and upstream answers that never
 * end. Each abuse gets a clear error and the proxy goes on serving everyone else,
 * checked while the abuse is still going on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define TOKEN_A "tok-limits-a"
#define TOKEN_B "tok-limits-b"
#define MAX_BODY 16384
#define MAX_HEADER 4096
#define MAX_CONNECTIONS 8
#define MAX_STREAMS 2
#define MAX_INFLIGHT 6

static tu_proc mock, proxy;

static int start_all(void **state)
{
    (void)state;
    if (tu_mock_start(&mock, NULL) != 0)
        return -1;
    static char e_openai[96];
    snprintf(e_openai, sizeof e_openai, "LLMUX_OPENAI_BASE_URL=http://127.0.0.1:%d/v1", mock.port);
    const char *env[] = {e_openai,
                         "OPENAI_API_KEY=sk-limits-openai",
                         "ANTHROPIC_API_KEY=",
                         "GEMINI_API_KEY=",
                         "GOOGLE_API_KEY=",
                         "AZURE_OPENAI_API_KEY=",
                         "LLMUX_KEYS_DIR=",
                         "LLMUX_TOKENS=" TOKEN_A "," TOKEN_B,
                         NULL};
    char max_body[16], max_header[16], max_conn[16], max_streams[16], max_inflight[16];
    snprintf(max_inflight, sizeof max_inflight, "%d", MAX_INFLIGHT);
    snprintf(max_body, sizeof max_body, "%d", MAX_BODY);
    snprintf(max_header, sizeof max_header, "%d", MAX_HEADER);
    snprintf(max_conn, sizeof max_conn, "%d", MAX_CONNECTIONS);
    snprintf(max_streams, sizeof max_streams, "%d", MAX_STREAMS);
    const char *argv[] = {tu_llmux_bin(),
                          "serve",
                          "--listen",
                          "127.0.0.1:0",
                          "--workers",
                          "1",
                          "--log-level",
                          "warn",
                          "--max-body",
                          max_body,
                          "--max-header-bytes",
                          max_header,
                          "--read-timeout",
                          "1",
                          "--idle-timeout",
                          "1.5",
                          "--max-connections",
                          max_conn,
                          "--max-streams-per-token",
                          max_streams,
                          "--upstream-timeout",
                          "2",
                          "--max-inflight",
                          max_inflight,
                          NULL};
    if (tu_proc_start(&proxy, argv, env, 5000) != 0)
        return -1;
    const char *tokens[] = {TOKEN_A, TOKEN_B};
    for (int i = 0; i < 2; i++) {
        char url[256], auth[64];
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", tokens[i]);
        const char *h[] = {auth, NULL};
        tu_response r;
        tu_http("PUT", tu_url(url, sizeof url, proxy.port, "/v1/sessions/lim/providers/openai"), h,
                "{\"managed\":true}", &r);
        int st = (int)r.status;
        tu_response_free(&r);
        if (st != 200)
            return -1;
    }
    return 0;
}

static int stop_all(void **state)
{
    (void)state;
    int rc = tu_proc_stop(&proxy, 5000);
    tu_proc_free(&proxy);
    tu_proc_free(&mock);
    return rc == 0 ? 0 : -1;
}

static int reset_mock(void **state)
{
    (void)state;
    return tu_mock_reset(mock.port) == 200 ? 0 : -1;
}

/* ---- helpers ----------------------------------------------------------------------- */

static void script(const char *json)
{
    char why[512];
    int st = tu_mock_script(mock.port, json, why, sizeof why);
    if (st != 200)
        fail_msg("mock script refused (%d): %s", st, why);
}

#define REQ(model, extra)                                                                          \
    "{\"provider\":\"openai\",\"model\":\"" model "\",\"messages\":[{\"role\":\"user\","           \
    "\"content\":\"hi\"}],\"retry\":{\"enabled\":false}" extra "}"

static void chat(const char *token, const char *body, long timeout_ms, tu_response *r)
{
    char url[128], auth[64];
    tu_url(url, sizeof url, proxy.port, "/v1/chat/completions");
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    const char *h[] = {auth, "X-Llmux-Session: lim", NULL};
    tu_http_opts o = {.timeout_ms = timeout_ms ? timeout_ms : 10000};
    tu_http_ex(NULL, "POST", url, h, body, &o, r);
}

/* The proxy answers others promptly: /healthz and a completion, each well within the
 * given time. */
static void assert_serving(double within_ms)
{
    char url[128];
    tu_response r;
    double t0 = tu_now_ms();
    tu_http("GET", tu_url(url, sizeof url, proxy.port, "/healthz"), NULL, NULL, &r);
    if (r.status != 200)
        fail_msg("healthz: %ld (curl %d %s)", r.status, r.curl_code, r.error);
    tu_response_free(&r);
    chat(TOKEN_B, REQ("gpt-4.1-mini", ""), 5000, &r);
    if (r.status != 200)
        fail_msg("completion: %ld %s (curl %d %s)", r.status, r.body, r.curl_code, r.error);
    tu_response_free(&r);
    double took = tu_now_ms() - t0;
    if (took > within_ms)
        fail_msg("serving others took %.0f ms (limit %.0f)", took, within_ms);
}

static int raw_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)proxy.port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void raw_send(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* the proxy may have closed: the reply tells */
        data += n;
        len -= (size_t)n;
    }
}

/* Reads until the peer closes or timeout_ms passes. Returns the bytes (NUL-terminated,
 * caller frees); *closed tells whether the peer closed. */
static char *raw_read(int fd, int timeout_ms, bool *closed)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    *closed = false;
    double deadline = tu_now_ms() + timeout_ms;
    for (;;) {
        int left = (int)(deadline - tu_now_ms());
        if (left <= 0)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, left) <= 0)
            break;
        if (len + 1024 > cap)
            buf = realloc(buf, cap *= 2);
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            *closed = true;
            break;
        }
        len += (size_t)n;
    }
    buf[len] = '\0';
    return buf;
}

/* ---- tests -------------------------------------------------------------------------- */

static void test_body_cap(void **state)
{
    (void)state;
    /* Content-Length over the cap: 413 before the body is read */
    size_t big = MAX_BODY + 100;
    char *body = malloc(big + 1);
    memset(body, ' ', big);
    body[0] = '{';
    body[big - 1] = '}';
    body[big] = '\0';
    tu_response r;
    chat(TOKEN_A, body, 0, &r);
    free(body);
    assert_int_equal(r.status, 413);
    assert_non_null(strstr(r.body, "\"invalid_request\""));
    assert_non_null(strstr(r.body, "too large"));
    tu_response_free(&r);

    /* chunked, no length: cut as soon as the cap is passed */
    int fd = raw_connect();
    const char *head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                       "Authorization: Bearer " TOKEN_A "\r\nTransfer-Encoding: chunked\r\n\r\n";
    raw_send(fd, head, strlen(head));
    char chunk[4096 + 16];
    int hl = snprintf(chunk, sizeof chunk, "1000\r\n");
    memset(chunk + hl, 'x', 4096);
    memcpy(chunk + hl + 4096, "\r\n", 2);
    for (int i = 0; i < 6; i++) /* 24 KiB > 16 KiB */
        raw_send(fd, chunk, (size_t)hl + 4096 + 2);
    bool closed;
    char *reply = raw_read(fd, 3000, &closed);
    if (strncmp(reply, "HTTP/1.1 413", 12) != 0)
        fail_msg("chunked body over the cap: '%.200s'", reply);
    assert_non_null(strstr(reply, "Connection: close"));
    assert_true(closed);
    free(reply);
    close(fd);
    assert_serving(2000);
}

static void test_header_caps(void **state)
{
    (void)state;
    char url[128];
    tu_url(url, sizeof url, proxy.port, "/v1/chat/completions");
    /* one header line larger than the whole budget */
    char *big = malloc(MAX_HEADER + 64);
    int n = snprintf(big, 64, "X-Big: ");
    memset(big + n, 'a', MAX_HEADER);
    big[n + MAX_HEADER] = '\0';
    const char *h1[] = {"Authorization: Bearer " TOKEN_A, big, NULL};
    tu_response r;
    tu_http("POST", url, h1, "{}", &r);
    free(big);
    assert_int_equal(r.status, 431);
    assert_non_null(strstr(r.body, "too large"));
    tu_response_free(&r);
    /* a long URL counts too */
    char *long_url = malloc(MAX_HEADER + 256);
    n = snprintf(long_url, 256, "http://127.0.0.1:%d/healthz?", proxy.port);
    memset(long_url + n, 'q', MAX_HEADER);
    long_url[n + MAX_HEADER] = '\0';
    tu_http("GET", long_url, NULL, NULL, &r);
    free(long_url);
    assert_int_equal(r.status, 431);
    tu_response_free(&r);
    /* small headers, but more than 100 of them */
    const char *many[112];
    static char lines[110][24];
    many[0] = "Authorization: Bearer " TOKEN_A;
    for (int i = 0; i < 110; i++) {
        snprintf(lines[i], sizeof lines[i], "X-H%d: v", i);
        many[i + 1] = lines[i];
    }
    many[111] = NULL;
    tu_http("POST", url, many, "{}", &r);
    assert_int_equal(r.status, 431);
    assert_non_null(strstr(r.body, "too many request headers"));
    tu_response_free(&r);
    /* malformed HTTP: 400 and the connection closes */
    int fd = raw_connect();
    raw_send(fd, "GET /healthz HTTP/1.1\r\nBad Header Line\r\n\r\n", 42);
    bool closed;
    char *reply = raw_read(fd, 3000, &closed);
    if (strncmp(reply, "HTTP/1.1 400", 12) != 0)
        fail_msg("malformed request: '%.200s'", reply);
    assert_true(closed);
    free(reply);
    close(fd);
    assert_serving(2000);
}

/* Slowloris: one header byte every 200 ms. With --read-timeout 1 the proxy answers 408
 * and closes about a second after the first byte, and serves others meanwhile. */
static void test_slowloris_headers(void **state)
{
    (void)state;
    int fd = raw_connect();
    const char *req =
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    double t0 = tu_now_ms();
    size_t sent = 0;
    char *reply = NULL;
    bool closed = false, checked_others = false;
    while (sent < strlen(req) && tu_now_ms() - t0 < 5000) {
        raw_send(fd, req + sent, 1);
        sent++;
        if (sent == 3 && !checked_others) {
            assert_serving(800); /* the slow client does not hold the worker */
            checked_others = true;
        }
        reply = raw_read(fd, 200, &closed);
        if (reply[0] || closed)
            break;
        free(reply);
        reply = NULL;
    }
    double took = tu_now_ms() - t0;
    if (!reply || !closed) {
        char *more = raw_read(fd, 2000, &closed);
        free(reply);
        reply = more;
    }
    took = took > 0 ? took : 0;
    if (strncmp(reply, "HTTP/1.1 408", 12) != 0)
        fail_msg("after %zu bytes in %.0f ms: '%.200s'", sent, took, reply);
    assert_non_null(strstr(reply, "did not arrive in time"));
    assert_true(closed);
    assert_true(sent < strlen(req)); /* cut before the request was complete */
    if (took < 900 || took > 2500)
        fail_msg("408 after %.0f ms, want about 1000", took);
    free(reply);
    close(fd);
    assert_serving(1000);
}

/* The same with the body: headers arrive at once, the body trickles. */
static void test_slowloris_body(void **state)
{
    (void)state;
    int fd = raw_connect();
    const char *head =
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN_A
        "\r\nContent-Length: 100\r\n\r\n{";
    raw_send(fd, head, strlen(head));
    double t0 = tu_now_ms();
    char *reply = NULL;
    bool closed = false;
    for (int i = 0; i < 25; i++) {
        raw_send(fd, " ", 1);
        reply = raw_read(fd, 200, &closed);
        if (reply[0] || closed)
            break;
        free(reply);
        reply = NULL;
        if (i == 1)
            assert_serving(800);
    }
    double took = tu_now_ms() - t0;
    if (!reply || strncmp(reply, "HTTP/1.1 408", 12) != 0)
        fail_msg("slow body: after %.0f ms '%.200s'", took, reply ? reply : "");
    if (took > 2500)
        fail_msg("408 after %.0f ms", took);
    free(reply);
    close(fd);
}

/* A connection that says nothing, and a keep-alive connection left idle, are closed
 * after --idle-timeout (1.5 s), without a response. */
static void test_idle_connections_closed(void **state)
{
    (void)state;
    int silent = raw_connect();
    int kept = raw_connect();
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    raw_send(kept, req, strlen(req));
    bool closed;
    char *reply = raw_read(kept, 300, &closed);
    assert_int_equal(strncmp(reply, "HTTP/1.1 200", 12), 0);
    assert_false(closed);
    free(reply);
    double t0 = tu_now_ms();
    reply = raw_read(silent, 4000, &closed);
    double took = tu_now_ms() - t0;
    assert_true(closed);
    assert_string_equal(reply, "");
    if (took < 1000 || took > 3000)
        fail_msg("silent connection closed after %.0f ms, want about 1500", took);
    free(reply);
    reply = raw_read(kept, 3000, &closed);
    assert_true(closed);
    assert_string_equal(reply, "");
    free(reply);
    close(silent);
    close(kept);
}

static void test_too_many_connections(void **state)
{
    (void)state;
    tu_sleep_ms(200); /* earlier tests' connections are gone */
    int fds[MAX_CONNECTIONS];
    for (int i = 0; i < MAX_CONNECTIONS; i++)
        fds[i] = raw_connect();
    tu_sleep_ms(100);
    int extra = raw_connect();
    bool closed;
    char *reply = raw_read(extra, 2000, &closed);
    if (strncmp(reply, "HTTP/1.1 503", 12) != 0)
        fail_msg("connection %d: '%.200s'", MAX_CONNECTIONS + 1, reply);
    assert_non_null(strstr(reply, "Retry-After: 1"));
    assert_non_null(strstr(reply, "\"limit_exceeded\""));
    assert_true(closed);
    free(reply);
    close(extra);
    /* the held connections still work */
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    raw_send(fds[0], req, strlen(req));
    reply = raw_read(fds[0], 300, &closed);
    assert_int_equal(strncmp(reply, "HTTP/1.1 200", 12), 0);
    free(reply);
    /* and once some go, new clients are served again */
    for (int i = 0; i < MAX_CONNECTIONS; i++)
        close(fds[i]);
    tu_sleep_ms(100);
    assert_serving(1000);
}

typedef struct stream_job {
    const char *token;
    const char *body;
    tu_response resp;
} stream_job;

static void *stream_thread(void *arg)
{
    stream_job *j = arg;
    chat(j->token, j->body, 10000, &j->resp);
    return NULL;
}

static void test_streams_per_token(void **state)
{
    (void)state;
    /* two slow streams hold token A's quota */
    script("[{\"provider\":\"openai\",\"model\":\"slow-stream\",\"count\":2,"
           "\"first_chunk_delay_ms\":1200}]");
    stream_job jobs[MAX_STREAMS];
    pthread_t th[MAX_STREAMS];
    for (int i = 0; i < MAX_STREAMS; i++) {
        jobs[i] = (stream_job){.token = TOKEN_A, .body = REQ("slow-stream", ",\"stream\":true")};
        assert_int_equal(pthread_create(&th[i], NULL, stream_thread, &jobs[i]), 0);
    }
    tu_sleep_ms(400);
    tu_response r;
    chat(TOKEN_A, REQ("gpt-4.1-mini", ",\"stream\":true"), 0, &r);
    if (r.status != 429 || !strstr(r.body, "\"limit_exceeded\""))
        fail_msg("third stream of token A: %ld %s", r.status, r.body);
    assert_non_null(strstr(r.body, "limit 2"));
    tu_response_free(&r);
    /* non-streaming requests of A, and B's streams, are not counted against A */
    chat(TOKEN_A, REQ("gpt-4.1-mini", ""), 0, &r);
    assert_int_equal(r.status, 200);
    tu_response_free(&r);
    chat(TOKEN_B, REQ("gpt-4.1-mini", ",\"stream\":true"), 0, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "[DONE]"));
    tu_response_free(&r);
    for (int i = 0; i < MAX_STREAMS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(jobs[i].resp.status, 200);
        assert_non_null(strstr(jobs[i].resp.body, "[DONE]"));
        tu_response_free(&jobs[i].resp);
    }
    /* the quota comes back when streams end (also failed ones) */
    script("[{\"provider\":\"openai\",\"model\":\"fails\",\"status\":500}]");
    chat(TOKEN_A, REQ("fails", ",\"stream\":true"), 0, &r);
    assert_int_equal(r.status, 502);
    tu_response_free(&r);
    for (int i = 0; i < MAX_STREAMS + 1; i++) {
        chat(TOKEN_A, REQ("gpt-4.1-mini", ",\"stream\":true"), 0, &r);
        assert_int_equal(r.status, 200);
        tu_response_free(&r);
    }
}

/* An upstream stream that drips forever is cut by --upstream-timeout (2 s, the request
 * names no timeout): the client gets what came, then stream_interrupted, and the
 * upstream transfer is closed. A non-streaming answer that never comes: 504. */
static void test_upstream_never_ends(void **state)
{
    (void)state;
    char text[2048] = "";
    for (int i = 0; i < 60; i++)
        strcat(text, "Drip drop. ");
    char sc[4096];
    snprintf(sc, sizeof sc,
             "[{\"provider\":\"openai\",\"model\":\"drip\",\"chunk_interval_ms\":250,"
             "\"text\":\"%s\"},{\"provider\":\"openai\",\"model\":\"never\",\"hang\":true}]",
             text);
    script(sc);
    stream_job drip = {.token = TOKEN_A, .body = REQ("drip", ",\"stream\":true")};
    stream_job never = {.token = TOKEN_A, .body = REQ("never", "")};
    pthread_t t1, t2;
    double t0 = tu_now_ms();
    assert_int_equal(pthread_create(&t1, NULL, stream_thread, &drip), 0);
    assert_int_equal(pthread_create(&t2, NULL, stream_thread, &never), 0);
    tu_sleep_ms(500);
    assert_serving(800); /* while both hold an upstream transfer */
    pthread_join(t1, NULL);
    double took1 = tu_now_ms() - t0;
    pthread_join(t2, NULL);
    double took2 = tu_now_ms() - t0;
    assert_int_equal(drip.resp.status, 200);
    assert_int_equal(drip.resp.curl_code, 0);
    assert_non_null(strstr(drip.resp.body, "\"content\":\" drop.\""));
    assert_non_null(strstr(drip.resp.body, "\"stream_interrupted\""));
    assert_non_null(strstr(drip.resp.body, "timed out"));
    assert_null(strstr(drip.resp.body, "[DONE]"));
    if (took1 < 1800 || took1 > 4500)
        fail_msg("the dripping stream ended after %.0f ms, want about 2000", took1);
    assert_int_equal(never.resp.status, 504);
    assert_non_null(strstr(never.resp.body, "\"timeout\""));
    if (took2 < 1800 || took2 > 4500)
        fail_msg("the hanging answer ended after %.0f ms, want about 2000", took2);
    tu_response_free(&drip.resp);
    tu_response_free(&never.resp);
    /* the upstream transfers were closed by the proxy */
    cJSON *log = tu_mock_requests(mock.port);
    int closed = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(log, "requests"))
    {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "model");
        if (cJSON_IsString(m) &&
            (!strcmp(m->valuestring, "drip") || !strcmp(m->valuestring, "never")))
            closed += cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "client_closed"));
    }
    cJSON_Delete(log);
    assert_int_equal(closed, 2);
}

/* Request smuggling and framing abuse: 400 and the connection closes. */
static void test_bad_framing(void **state)
{
    (void)state;
    static const char *const cases[] = {
        /* both a length and chunked */
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        /* two different lengths */
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
        "Content-Length: 30\r\n\r\n{}",
        /* a length that is not a number */
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n{}",
        /* a bad chunk size */
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        "zz\r\n{}\r\n0\r\n\r\n",
        /* a NUL in the request line */
        "GET /heal\0thz HTTP/1.1\r\nHost: x\r\n\r\n",
    };
    static const size_t lens[] = {0, 0, 0, 0, 36};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int fd = raw_connect();
        raw_send(fd, cases[i], lens[i] ? lens[i] : strlen(cases[i]));
        bool closed;
        char *reply = raw_read(fd, 3000, &closed);
        if (strncmp(reply, "HTTP/1.1 400", 12) != 0 || !closed)
            fail_msg("case %zu: closed %d, '%.200s'", i, closed, reply);
        assert_null(strstr(reply + 12, "HTTP/1.1")); /* one answer, nothing smuggled */
        free(reply);
        close(fd);
    }
    assert_serving(1000);
}

/* 300 pipelined requests in one write: every one answered, in order, on one connection. */
static void test_pipelining_flood(void **state)
{
    (void)state;
    const char *one = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    size_t n = 300, ol = strlen(one);
    char *all = malloc(n * ol + 64);
    for (size_t i = 0; i < n; i++)
        memcpy(all + i * ol, one, ol);
    const char *last = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    memcpy(all + n * ol, last, strlen(last));
    int fd = raw_connect();
    raw_send(fd, all, n * ol + strlen(last));
    free(all);
    bool closed;
    char *reply = raw_read(fd, 5000, &closed);
    size_t answers = 0;
    for (const char *p = reply; (p = strstr(p, "HTTP/1.1 200 OK")); p++)
        answers++;
    assert_int_equal(answers, n + 1);
    assert_true(closed);
    free(reply);
    close(fd);
}

/* A client that goes away mid-stream gives its stream quota back. */
static void test_stream_quota_returns_on_disconnect(void **state)
{
    (void)state;
    script("[{\"provider\":\"openai\",\"model\":\"slow-quota\",\"count\":2,"
           "\"first_chunk_delay_ms\":3000}]");
    for (int i = 0; i < MAX_STREAMS; i++) {
        tu_response r;
        chat(TOKEN_A, REQ("slow-quota", ",\"stream\":true"), 200, &r); /* we give up */
        assert_int_equal(r.curl_code, 28);
        tu_response_free(&r);
    }
    tu_sleep_ms(100);
    for (int i = 0; i < MAX_STREAMS + 1; i++) {
        tu_response r;
        chat(TOKEN_A, REQ("gpt-4.1-mini", ",\"stream\":true"), 0, &r);
        if (r.status != 200)
            fail_msg("stream %d after the disconnects: %ld %s", i, r.status, r.body);
        tu_response_free(&r);
    }
}

/* More requests in flight than --max-inflight: 503 limit_exceeded with Retry-After. */
static void test_max_inflight(void **state)
{
    (void)state;
    char sc[256];
    snprintf(sc, sizeof sc,
             "[{\"provider\":\"openai\",\"model\":\"held\",\"count\":%d,\"hang\":true}]",
             MAX_INFLIGHT);
    script(sc);
    stream_job jobs[MAX_INFLIGHT];
    pthread_t th[MAX_INFLIGHT];
    for (int i = 0; i < MAX_INFLIGHT; i++) {
        jobs[i] = (stream_job){.token = TOKEN_A, .body = REQ("held", ",\"timeout\":1.5")};
        assert_int_equal(pthread_create(&th[i], NULL, stream_thread, &jobs[i]), 0);
    }
    tu_sleep_ms(500);
    tu_response r;
    chat(TOKEN_B, REQ("gpt-4.1-mini", ""), 0, &r);
    char ra[16];
    if (r.status != 503 || !strstr(r.body, "\"limit_exceeded\""))
        fail_msg("request %d: %ld %s", MAX_INFLIGHT + 1, r.status, r.body);
    assert_non_null(tu_header(&r, "retry-after", ra, sizeof ra));
    assert_string_equal(ra, "1");
    tu_response_free(&r);
    /* routes that hold no upstream transfer still answer */
    char url[128];
    tu_http("GET", tu_url(url, sizeof url, proxy.port, "/healthz"), NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    tu_response_free(&r);
    for (int i = 0; i < MAX_INFLIGHT; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(jobs[i].resp.status, 504);
        tu_response_free(&jobs[i].resp);
    }
    assert_serving(1000);
}

/* A body with data after its JSON value is refused, not read as its first half. */
static void test_trailing_data_after_json(void **state)
{
    (void)state;
    tu_response r;
    chat(TOKEN_A, REQ("gpt-4.1-mini", "") " {\"provider\":\"anthropic\"}", 0, &r);
    if (r.status != 400 || !strstr(r.body, "\"invalid_request\""))
        fail_msg("chat with trailing data: %ld %s", r.status, r.body);
    tu_response_free(&r);
    chat(TOKEN_A, REQ("gpt-4.1-mini", "") " \r\n\t", 0, &r); /* trailing blanks are fine */
    assert_int_equal(r.status, 200);
    tu_response_free(&r);
    char url[256];
    const char *h[] = {"Authorization: Bearer " TOKEN_A, NULL};
    tu_http("PUT", tu_url(url, sizeof url, proxy.port, "/v1/sessions/trail/providers/openai"), h,
            "{\"managed\":true} {\"api_key\":\"sk-second-half\"}", &r);
    if (r.status != 400 || !strstr(r.body, "\"invalid_request\""))
        fail_msg("configure with trailing data: %ld %s", r.status, r.body);
    tu_response_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_body_cap, reset_mock),
        cmocka_unit_test_setup(test_header_caps, reset_mock),
        cmocka_unit_test_setup(test_slowloris_headers, reset_mock),
        cmocka_unit_test_setup(test_slowloris_body, reset_mock),
        cmocka_unit_test_setup(test_idle_connections_closed, reset_mock),
        cmocka_unit_test_setup(test_too_many_connections, reset_mock),
        cmocka_unit_test_setup(test_streams_per_token, reset_mock),
        cmocka_unit_test_setup(test_upstream_never_ends, reset_mock),
        cmocka_unit_test_setup(test_bad_framing, reset_mock),
        cmocka_unit_test_setup(test_pipelining_flood, reset_mock),
        cmocka_unit_test_setup(test_stream_quota_returns_on_disconnect, reset_mock),
        cmocka_unit_test_setup(test_max_inflight, reset_mock),
        cmocka_unit_test_setup(test_trailing_data_after_json, reset_mock),
    };
    return cmocka_run_group_tests(tests, start_all, stop_all);
}
