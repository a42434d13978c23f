/* test_mock_inproc.c — the mock as a library (llmux__mock_start/stop on a background
 * thread, as `llmux demo` and client tests use it), and its HTTP/1.1 layer spoken to over a
 * raw socket: pipelining, chunked request bodies, Expect: 100-continue, HTTP/1.0, bad
 * requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"
#include "mock/mock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *const OPENAI_AUTH[] = {"Authorization: Bearer sk-test", NULL};
static const char OPENAI_HELLO[] =
    "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}";

static llmux__mock *start(const llmux__mock_options *opts)
{
    llmux__mock *m = NULL;
    llmux__error err;
    llmux__error_clear(&err);
    llmux_code rc = llmux__mock_start(opts, &m, &err);
    if (rc != LLMUX_OK)
        fail_msg("llmux__mock_start: %d %s", rc, err.message);
    assert_true(llmux__mock_port(m) > 0);
    return m;
}

static void test_start_request_stop(void **state)
{
    (void)state;
    llmux__mock *m = start(NULL);
    char url[128];
    tu_response r;
    assert_int_equal(tu_http("POST",
                             tu_url(url, sizeof url, llmux__mock_port(m), "/v1/chat/completions"),
                             OPENAI_AUTH, OPENAI_HELLO, &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "Dr. Ada Byte measured 3.14"));
    tu_response_free(&r);
    llmux__mock_stop(m);
    llmux__mock_stop(NULL);
}

static void test_two_mocks_at_once_and_keys(void **state)
{
    (void)state;
    llmux__mock_options opts = {.listen = "127.0.0.1:0", .echo = true};
    opts.keys[LLMUX__MOCK_OPENAI] = "sk-only";
    llmux__mock *a = start(&opts);
    llmux__mock *b = start(NULL);
    assert_int_not_equal(llmux__mock_port(a), llmux__mock_port(b));
    char url[128];
    tu_response r;
    tu_http("POST", tu_url(url, sizeof url, llmux__mock_port(a), "/v1/chat/completions"),
            OPENAI_AUTH, OPENAI_HELLO, &r);
    assert_int_equal(r.status, 401);
    tu_response_free(&r);
    static const char *const good[] = {"Authorization: Bearer sk-only", NULL};
    tu_http("POST", tu_url(url, sizeof url, llmux__mock_port(a), "/v1/chat/completions"), good,
            OPENAI_HELLO, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"content\":\"Hello\"")); /* echo */
    tu_response_free(&r);
    tu_http("POST", tu_url(url, sizeof url, llmux__mock_port(b), "/v1/chat/completions"),
            OPENAI_AUTH, OPENAI_HELLO, &r);
    assert_int_equal(r.status, 200);
    tu_response_free(&r);
    llmux__mock_stop(b);
    llmux__mock_stop(a);
}

static void test_start_errors(void **state)
{
    (void)state;
    llmux__mock *m = (llmux__mock *)1;
    llmux__error err;
    llmux__mock_options bad_addr = {.listen = "nowhere"};
    assert_int_equal(llmux__mock_start(&bad_addr, &m, &err), LLMUX_EINVALID_REQUEST);
    assert_null(m);
    assert_non_null(strstr(err.message, "nowhere"));
    llmux__mock_options bad_tls = {.tls_cert = "/nonexistent/cert.pem",
                                   .tls_key = "/nonexistent/key.pem"};
    assert_int_equal(llmux__mock_start(&bad_tls, &m, &err), LLMUX_EINVALID_REQUEST);
    assert_non_null(strstr(err.message, "cert.pem"));
    llmux__mock_options half_tls = {.tls_cert = "/nonexistent/cert.pem"};
    assert_int_equal(llmux__mock_start(&half_tls, &m, &err), LLMUX_EINVALID_REQUEST);
    /* a port in use */
    llmux__mock *first = start(NULL);
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", llmux__mock_port(first));
    llmux__mock_options taken = {.listen = listen};
    assert_int_equal(llmux__mock_start(&taken, &m, &err), LLMUX_EIO);
    assert_null(m);
    llmux__mock_stop(first);
}

/* ---------------------------------------------------------------------------------- */
/* raw sockets                                                                          */
/* ---------------------------------------------------------------------------------- */

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static void send_all(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        assert_true(w > 0);
        s += w;
        n -= (size_t)w;
    }
}

/* Reads until `count` occurrences of `needle` arrived, EOF, or timeout_ms passed. */
static size_t read_until(int fd, char *buf, size_t cap, const char *needle, int count,
                         int timeout_ms, bool *eof)
{
    size_t n = 0;
    double deadline = tu_now_ms() + timeout_ms;
    *eof = false;
    for (;;) {
        buf[n] = '\0';
        int seen = 0;
        for (const char *p = buf; (p = strstr(p, needle)); p++)
            seen++;
        if (seen >= count)
            return n;
        int left = (int)(deadline - tu_now_ms());
        if (left <= 0 || n + 1 >= cap)
            return n;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, left) <= 0)
            return n;
        ssize_t r = recv(fd, buf + n, cap - n - 1, 0);
        if (r <= 0) {
            *eof = true;
            buf[n] = '\0';
            return n;
        }
        n += (size_t)r;
    }
}

static void test_pipelined_requests_on_one_connection(void **state)
{
    (void)state;
    llmux__mock *m = start(NULL);
    int fd = connect_to(llmux__mock_port(m));
    char req[1024];
    snprintf(req, sizeof req,
             "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n"
             "Content-Length: %zu\r\n\r\n%s"
             "GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n\r\n"
             "GET /_mock/requests HTTP/1.1\r\nHost: x\r\n\r\n",
             strlen(OPENAI_HELLO), OPENAI_HELLO);
    send_all(fd, req);
    char buf[65536];
    bool eof;
    read_until(fd, buf, sizeof buf, "HTTP/1.1 200 OK", 3, 3000, &eof);
    assert_false(eof);
    const char *first = strstr(buf, "HTTP/1.1 200 OK");
    const char *second = strstr(first + 1, "HTTP/1.1 200 OK");
    const char *third = strstr(second + 1, "HTTP/1.1 200 OK");
    assert_non_null(third);
    assert_non_null(strstr(first, "chat.completion"));
    assert_non_null(strstr(second, "\"object\":\"list\""));
    /* both logged requests came on the same connection */
    const char *body = strstr(third, "\r\n\r\n");
    cJSON *log = cJSON_Parse(body + 4);
    assert_non_null(log);
    const cJSON *reqs = cJSON_GetObjectItemCaseSensitive(log, "requests");
    assert_int_equal(cJSON_GetArraySize(reqs), 2);
    assert_true(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(reqs, 0), "connection_id")
                    ->valuedouble ==
                cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(reqs, 1), "connection_id")
                    ->valuedouble);
    cJSON_Delete(log);
    close(fd);
    llmux__mock_stop(m);
}

static void test_chunked_body_and_expect_continue(void **state)
{
    (void)state;
    llmux__mock *m = start(NULL);
    int fd = connect_to(llmux__mock_port(m));
    /* the body in two chunks, after the server's 100 Continue */
    send_all(fd, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n"
                 "Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n");
    char buf[16384];
    bool eof;
    read_until(fd, buf, sizeof buf, "100 Continue", 1, 2000, &eof);
    assert_non_null(strstr(buf, "HTTP/1.1 100 Continue\r\n\r\n"));
    size_t half = strlen(OPENAI_HELLO) / 2;
    char chunk[512];
    snprintf(chunk, sizeof chunk, "%zx\r\n%.*s\r\n%zx;ext=1\r\n%s\r\n0\r\n\r\n", half, (int)half,
             OPENAI_HELLO, strlen(OPENAI_HELLO) - half, OPENAI_HELLO + half);
    send_all(fd, chunk);
    read_until(fd, buf, sizeof buf, "\"total_tokens\"", 1, 2000, &eof);
    assert_non_null(strstr(buf, "HTTP/1.1 200 OK"));
    assert_non_null(strstr(buf, "chat.completion"));
    close(fd);
    llmux__mock_stop(m);
}

static void test_http10_stream_is_close_delimited(void **state)
{
    (void)state;
    llmux__mock *m = start(NULL);
    int fd = connect_to(llmux__mock_port(m));
    static const char body[] = "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\","
                               "\"content\":\"x\"}]}";
    char req[512];
    snprintf(req, sizeof req,
             "POST /v1/chat/completions HTTP/1.0\r\nAuthorization: Bearer k\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             strlen(body), body);
    send_all(fd, req);
    char buf[65536];
    bool eof;
    read_until(fd, buf, sizeof buf, "no such text", 1, 3000, &eof);
    assert_true(eof); /* the end of the body is the close */
    assert_non_null(strstr(buf, "HTTP/1.0 200 OK"));
    assert_null(strstr(buf, "transfer-encoding"));
    assert_non_null(strstr(buf, "data: [DONE]\n\n"));
    close(fd);
    llmux__mock_stop(m);
}

static void test_bad_http_is_refused(void **state)
{
    (void)state;
    llmux__mock *m = start(NULL);
    static const struct {
        const char *req;
        const char *status;
    } cases[] = {
        {"NONSENSE\r\n\r\n", "400"},
        {"GET / HTTP/2.0\r\n\r\n", "400"},
        {"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: abc\r\n\r\n", "400"},
        {"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", "413"},
        {"GET /v1/models HTTP/1.1\r\nno colon here\r\n\r\n", "400"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int fd = connect_to(llmux__mock_port(m));
        send_all(fd, cases[i].req);
        char buf[4096];
        bool eof;
        read_until(fd, buf, sizeof buf, "no such text", 1, 2000, &eof);
        assert_true(eof); /* answered, then closed */
        char want[32];
        snprintf(want, sizeof want, "HTTP/1.1 %s ", cases[i].status);
        if (!strstr(buf, want))
            fail_msg("case %zu: want %s, got %.200s", i, want, buf);
        close(fd);
    }
    /* a head larger than 64 KiB */
    int fd = connect_to(llmux__mock_port(m));
    send_all(fd, "GET /v1/models HTTP/1.1\r\nX-Big: ");
    char *big = malloc(70000);
    memset(big, 'a', 69999);
    big[69999] = '\0';
    send_all(fd, big);
    free(big);
    char buf[4096];
    bool eof;
    read_until(fd, buf, sizeof buf, "no such text", 1, 2000, &eof);
    assert_non_null(strstr(buf, "HTTP/1.1 431 "));
    close(fd);
    /* still serving */
    char url[128];
    tu_response r;
    tu_http("GET", tu_url(url, sizeof url, llmux__mock_port(m), "/_mock/health"), NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    tu_response_free(&r);
    llmux__mock_stop(m);
}

static void test_stop_with_open_connections(void **state)
{
    (void)state;
    llmux__mock *m = start(NULL);
    int port = llmux__mock_port(m);
    /* an idle keep-alive connection, a hanging request and a slow stream, all open */
    int idle = connect_to(port);
    int hang = connect_to(port);
    int slow = connect_to(port);
    char req[1024];
    snprintf(req, sizeof req,
             "POST /v1/chat/completions HTTP/1.1\r\nAuthorization: Bearer k\r\n"
             "X-Mock-Script: {\"hang\":true}\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(OPENAI_HELLO), OPENAI_HELLO);
    send_all(hang, req);
    static const char body[] = "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\","
                               "\"content\":\"x\"}]}";
    snprintf(req, sizeof req,
             "POST /v1/chat/completions HTTP/1.1\r\nAuthorization: Bearer k\r\n"
             "X-Mock-Script: {\"chunk_interval_ms\":1000}\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(body), body);
    send_all(slow, req);
    char buf[8192];
    bool eof;
    read_until(slow, buf, sizeof buf, "\"content\":\"Hello\"", 1, 3000, &eof);
    assert_non_null(strstr(buf, "\"content\":\"Hello\""));
    double t0 = tu_now_ms();
    llmux__mock_stop(m); /* frees every connection and timer: ASan checks the leaks */
    assert_true(tu_now_ms() - t0 < 1000);
    read_until(slow, buf, sizeof buf, "no such text", 1, 2000, &eof);
    assert_true(eof);
    close(idle);
    close(hang);
    close(slow);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_request_stop),
        cmocka_unit_test(test_two_mocks_at_once_and_keys),
        cmocka_unit_test(test_start_errors),
        cmocka_unit_test(test_pipelined_requests_on_one_connection),
        cmocka_unit_test(test_chunked_body_and_expect_continue),
        cmocka_unit_test(test_http10_stream_is_close_delimited),
        cmocka_unit_test(test_bad_http_is_refused),
        cmocka_unit_test(test_stop_with_open_connections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
