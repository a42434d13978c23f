/* mock_http.c — a small HTTP/1.1 server on bufferevents for the mock. See mock_http.h. */
#include "mock/mock_http.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define MAX_HEAD_BYTES (64 * 1024)
#define MAX_HEADERS 128
#define MAX_BODY_BYTES (32u * 1024 * 1024)
#define IDLE_TIMEOUT_S 300

typedef enum conn_state {
    ST_HEAD,       /* reading the request line and headers */
    ST_BODY,       /* reading a Content-Length body */
    ST_CHUNK_SIZE, /* chunked body: the size line */
    ST_CHUNK_DATA, /* chunked body: chunk bytes */
    ST_CHUNK_CRLF, /* chunked body: the CRLF after a chunk */
    ST_TRAILER,    /* chunked body: trailer lines up to the empty one */
    ST_BUSY,       /* request dispatched, response in progress */
    ST_CLOSING     /* closing once the output is flushed */
} conn_state;

struct llmux__mock_conn {
    llmux__mock_http *http;
    struct bufferevent *bev;
    struct event *defer; /* runs deferred work: next pipelined request, or the free */
    uint64_t id;
    conn_state state;
    bool in_process; /* inside process_input: do not recurse */
    /* the request being read */
    char *method;
    char *target; /* path, then '\0', then query */
    char *query;
    char **names;
    char **values;
    size_t nheaders;
    size_t head_bytes;
    char *body;
    size_t body_len;
    size_t want; /* bytes still expected for the body or the current chunk */
    int http_minor;
    bool keep_alive;
    void *exchange;
    llmux__mock_conn *prev, *next;
};

struct llmux__mock_http {
    struct event_base *base;
    struct evconnlistener *listener;
    SSL_CTX *ssl_ctx;
    int port;
    uint64_t next_conn_id;
    llmux__mock_on_request on_request;
    llmux__mock_on_abort on_abort;
    void *arg;
    llmux__mock_conn *conns;
};

static void process_input(llmux__mock_conn *c);

static void reset_request(llmux__mock_conn *c)
{
    free(c->method);
    free(c->target);
    for (size_t i = 0; i < c->nheaders; i++) {
        free(c->names[i]);
        free(c->values[i]);
    }
    free(c->names);
    free(c->values);
    free(c->body);
    c->method = c->target = c->query = c->body = NULL;
    c->names = c->values = NULL;
    c->nheaders = c->head_bytes = c->body_len = c->want = 0;
    c->http_minor = 1;
    c->keep_alive = true;
}

static void conn_free(llmux__mock_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        c->http->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    reset_request(c);
    if (c->bev)
        bufferevent_free(c->bev);
    if (c->defer)
        event_free(c->defer);
    free(c);
}

/* The peer is gone or the server stops: tell the exchange owner, then free. */
static void conn_abort(llmux__mock_conn *c)
{
    void *ex = c->exchange;
    c->exchange = NULL;
    if (ex)
        c->http->on_abort(ex, c->http->arg);
    conn_free(c);
}

static void begin_closing(llmux__mock_conn *c)
{
    c->state = ST_CLOSING;
    c->exchange = NULL;
    bufferevent_disable(c->bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        event_active(c->defer, EV_TIMEOUT, 0);
    /* else write_cb fires once the output is drained */
}

/* A protocol error before a request could be dispatched: a short JSON answer, then close. */
static void reply_error_and_close(llmux__mock_conn *c, int status, const char *reason,
                                  const char *message)
{
    char body[256], head[256];
    int blen =
        snprintf(body, sizeof body,
                 "{\"error\":{\"type\":\"invalid_request_error\",\"message\":\"%s\"}}", message);
    int hlen = snprintf(head, sizeof head,
                        "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                        "Content-Length: %d\r\nConnection: close\r\n\r\n",
                        status, reason, blen);
    bufferevent_write(c->bev, head, (size_t)hlen);
    bufferevent_write(c->bev, body, (size_t)blen);
    begin_closing(c);
}

static void dispatch(llmux__mock_conn *c)
{
    c->state = ST_BUSY;
    bufferevent_set_timeouts(c->bev, NULL, NULL);
    if (!c->body) {
        c->body = malloc(1);
        if (!c->body) {
            reply_error_and_close(c, 500, "Internal Server Error", "out of memory");
            return;
        }
    }
    c->body[c->body_len] = '\0';
    llmux__mock_http_req req = {
        .method = c->method,
        .path = c->target,
        .query = c->query ? c->query : "",
        .header_names = (const char *const *)c->names,
        .header_values = (const char *const *)c->values,
        .nheaders = c->nheaders,
        .body = c->body,
        .body_len = c->body_len,
        .http_minor = c->http_minor,
        .keep_alive = c->keep_alive,
        .conn_id = c->id,
    };
    c->http->on_request(c, &req, c->http->arg);
}

static const char *find_header(const llmux__mock_conn *c, const char *name)
{
    for (size_t i = 0; i < c->nheaders; i++)
        if (strcmp(c->names[i], name) == 0)
            return c->values[i];
    return NULL;
}

static bool has_token(const char *value, const char *token)
{
    size_t n = strlen(token);
    for (const char *p = value; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (strncasecmp(p, token, n) == 0 && (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
            return true;
        p = strchr(p, ',');
    }
    return false;
}

/* Headers are complete: decide body framing and keep-alive. Returns false when closing. */
static bool finish_head(llmux__mock_conn *c)
{
    const char *conn_hdr = find_header(c, "connection");
    if (c->http_minor >= 1)
        c->keep_alive = !(conn_hdr && has_token(conn_hdr, "close"));
    else
        c->keep_alive = conn_hdr && has_token(conn_hdr, "keep-alive");
    const char *te = find_header(c, "transfer-encoding");
    const char *cl = find_header(c, "content-length");
    if (te && has_token(te, "chunked")) {
        c->state = ST_CHUNK_SIZE;
    } else if (cl) {
        char *end;
        unsigned long long n = strtoull(cl, &end, 10);
        if (end == cl || *end || n > MAX_BODY_BYTES) {
            reply_error_and_close(c, n > MAX_BODY_BYTES ? 413 : 400,
                                  n > MAX_BODY_BYTES ? "Payload Too Large" : "Bad Request",
                                  "bad or too large Content-Length");
            return false;
        }
        c->want = (size_t)n;
        c->state = ST_BODY;
    } else {
        dispatch(c);
        return true;
    }
    const char *expect = find_header(c, "expect");
    if (expect && c->http_minor >= 1 && strcasecmp(expect, "100-continue") == 0) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        bufferevent_write(c->bev, cont, sizeof cont - 1);
    }
    if (c->state == ST_BODY && c->want == 0)
        dispatch(c);
    return true;
}

static bool parse_request_line(llmux__mock_conn *c, const char *line)
{
    const char *sp1 = strchr(line, ' ');
    const char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp1 || !sp2 || sp1 == line || sp2 == sp1 + 1 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
        (sp2[8] != '0' && sp2[8] != '1') || sp2[9] != '\0')
        return false;
    c->http_minor = sp2[8] - '0';
    c->method = strndup(line, (size_t)(sp1 - line));
    c->target = strndup(sp1 + 1, (size_t)(sp2 - sp1 - 1));
    if (!c->method || !c->target)
        return false;
    char *q = strchr(c->target, '?');
    if (q) {
        *q = '\0';
        c->query = q + 1;
    }
    return true;
}

static bool add_header_line(llmux__mock_conn *c, const char *line)
{
    const char *colon = strchr(line, ':');
    if (!colon || colon == line || c->nheaders >= MAX_HEADERS)
        return false;
    char **names = realloc(c->names, (c->nheaders + 1) * sizeof *names);
    if (!names)
        return false;
    c->names = names;
    char **values = realloc(c->values, (c->nheaders + 1) * sizeof *values);
    if (!values)
        return false;
    c->values = values;
    const char *v = colon + 1, *e = line + strlen(line);
    while (*v == ' ' || *v == '\t')
        v++;
    while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    char *name = strndup(line, (size_t)(colon - line));
    char *value = strndup(v, (size_t)(e - v));
    if (!name || !value) {
        free(name);
        free(value);
        return false;
    }
    for (char *p = name; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    names[c->nheaders] = name;
    values[c->nheaders] = value;
    c->nheaders++;
    return true;
}

static bool grow_body(llmux__mock_conn *c, size_t more)
{
    if (c->body_len + more > MAX_BODY_BYTES)
        return false;
    char *b = realloc(c->body, c->body_len + more + 1);
    if (!b)
        return false;
    c->body = b;
    return true;
}

/* Handles one step of the state machine. Returns false when it needs more input or the
 * connection stopped reading. */
static bool step_input(llmux__mock_conn *c, struct evbuffer *in)
{
    size_t n;
    char *line;
    switch (c->state) {
    case ST_HEAD:
        line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
        if (!line) {
            if (evbuffer_get_length(in) + c->head_bytes > MAX_HEAD_BYTES)
                reply_error_and_close(c, 431, "Request Header Fields Too Large",
                                      "request head too large");
            return false;
        }
        c->head_bytes += n + 2;
        bool ok = true;
        if (c->head_bytes > MAX_HEAD_BYTES) {
            free(line);
            reply_error_and_close(c, 431, "Request Header Fields Too Large",
                                  "request head too large");
            return false;
        }
        if (!c->method) {
            if (n == 0) { /* stray CRLF between requests */
                c->head_bytes = 0;
                free(line);
                return true;
            }
            ok = parse_request_line(c, line);
            free(line);
            if (!ok) {
                reply_error_and_close(c, 400, "Bad Request", "malformed request line");
                return false;
            }
            return true;
        }
        if (n == 0) {
            free(line);
            return finish_head(c);
        }
        ok = add_header_line(c, line);
        free(line);
        if (!ok) {
            reply_error_and_close(c, 400, "Bad Request", "malformed header line");
            return false;
        }
        return true;
    case ST_BODY:
    case ST_CHUNK_DATA:
        if (evbuffer_get_length(in) < c->want && c->want > 0) {
            /* take what is there so the input buffer stays small */
            size_t have = evbuffer_get_length(in);
            if (have == 0)
                return false;
            if (!grow_body(c, have)) {
                reply_error_and_close(c, 413, "Payload Too Large", "body too large");
                return false;
            }
            evbuffer_remove(in, c->body + c->body_len, have);
            c->body_len += have;
            c->want -= have;
            return false;
        }
        if (c->want) {
            if (!grow_body(c, c->want)) {
                reply_error_and_close(c, 413, "Payload Too Large", "body too large");
                return false;
            }
            evbuffer_remove(in, c->body + c->body_len, c->want);
            c->body_len += c->want;
            c->want = 0;
        }
        if (c->state == ST_BODY) {
            dispatch(c);
            return c->state != ST_BUSY && c->state != ST_CLOSING;
        }
        c->state = ST_CHUNK_CRLF;
        return true;
    case ST_CHUNK_SIZE:
        line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
        if (!line)
            return false;
        char *end;
        unsigned long long size = strtoull(line, &end, 16);
        bool bad = end == line || (*end && *end != ';' && *end != ' ');
        free(line);
        if (bad || size > MAX_BODY_BYTES) {
            reply_error_and_close(c, 400, "Bad Request", "malformed chunk size");
            return false;
        }
        c->want = (size_t)size;
        c->state = size ? ST_CHUNK_DATA : ST_TRAILER;
        return true;
    case ST_CHUNK_CRLF:
        line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
        if (!line)
            return false;
        free(line);
        if (n != 0) {
            reply_error_and_close(c, 400, "Bad Request", "malformed chunk");
            return false;
        }
        c->state = ST_CHUNK_SIZE;
        return true;
    case ST_TRAILER:
        line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
        if (!line)
            return false;
        free(line);
        if (n == 0) {
            dispatch(c);
            return c->state != ST_BUSY && c->state != ST_CLOSING;
        }
        return true;
    case ST_BUSY:
    case ST_CLOSING:
        return false;
    }
    return false;
}

static void process_input(llmux__mock_conn *c)
{
    c->in_process = true;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    while (step_input(c, in))
        ;
    c->in_process = false;
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    llmux__mock_conn *c = arg;
    if (!c->in_process)
        process_input(c);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    llmux__mock_conn *c = arg;
    if (c->state == ST_CLOSING)
        event_active(c->defer, EV_TIMEOUT, 0);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    llmux__mock_conn *c = arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
        conn_abort(c);
}

static void defer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    llmux__mock_conn *c = arg;
    if (c->state == ST_CLOSING) {
        if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
            conn_free(c);
        return;
    }
    if (c->state == ST_HEAD && !c->in_process)
        process_input(c);
}

static void accept_cb(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    (void)lis;
    (void)sa;
    (void)salen;
    llmux__mock_http *http = arg;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    llmux__mock_conn *c = calloc(1, sizeof *c);
    if (!c) {
        evutil_closesocket(fd);
        return;
    }
    c->http = http;
    c->id = ++http->next_conn_id;
    c->http_minor = 1;
    c->keep_alive = true;
    if (http->ssl_ctx) {
        SSL *ssl = SSL_new(http->ssl_ctx);
        if (ssl)
            c->bev = bufferevent_openssl_socket_new(http->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                    BEV_OPT_CLOSE_ON_FREE);
        if (c->bev)
            bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
        else if (ssl)
            SSL_free(ssl);
    } else {
        c->bev = bufferevent_socket_new(http->base, fd, BEV_OPT_CLOSE_ON_FREE);
    }
    c->defer = event_new(http->base, -1, 0, defer_cb, c);
    if (!c->bev || !c->defer) {
        if (c->bev)
            bufferevent_free(c->bev);
        else
            evutil_closesocket(fd);
        if (c->defer)
            event_free(c->defer);
        free(c);
        return;
    }
    c->next = http->conns;
    if (http->conns)
        http->conns->prev = c;
    http->conns = c;
    bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
    struct timeval idle = {IDLE_TIMEOUT_S, 0};
    bufferevent_set_timeouts(c->bev, &idle, NULL);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static SSL_CTX *make_ssl_ctx(const char *cert, const char *key, char *why, size_t why_len)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        snprintf(why, why_len, "cannot create a TLS context");
        return NULL;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        snprintf(why, why_len, "cannot load TLS certificate %s", cert);
    } else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        snprintf(why, why_len, "cannot load TLS key %s", key);
    } else if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(why, why_len, "TLS key %s does not match certificate %s", key, cert);
    } else {
        return ctx;
    }
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

/* "HOST:PORT" or "[V6]:PORT" with a numeric host and a port 0..65535 (0 = any free). */
static int parse_addr(const char *addr, struct sockaddr_storage *ss, int *len)
{
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr)
        return -1;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end || port < 0 || port > 65535)
        return -1;
    char host[64];
    size_t n = (size_t)(colon - addr);
    if (addr[0] == '[') {
        if (n < 3 || addr[n - 1] != ']')
            return -1;
        addr++;
        n -= 2;
    }
    if (n >= sizeof host)
        return -1;
    memcpy(host, addr, n);
    host[n] = '\0';
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *len = (int)sizeof *v4;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *len = (int)sizeof *v6;
        return 0;
    }
    return -1;
}

llmux__mock_http *llmux__mock_http_new(struct event_base *base, const char *addr,
                                       const char *tls_cert, const char *tls_key,
                                       llmux__mock_on_request on_request,
                                       llmux__mock_on_abort on_abort, void *arg, char *why,
                                       size_t why_len)
{
    struct sockaddr_storage ss;
    int sslen = 0;
    if (parse_addr(addr, &ss, &sslen) != 0) {
        snprintf(why, why_len, "bad listen address '%s' (want HOST:PORT, e.g. 127.0.0.1:0)", addr);
        return NULL;
    }
    llmux__mock_http *http = calloc(1, sizeof *http);
    if (!http) {
        snprintf(why, why_len, "out of memory");
        return NULL;
    }
    http->base = base;
    http->on_request = on_request;
    http->on_abort = on_abort;
    http->arg = arg;
    if (tls_cert || tls_key) {
        if (!tls_cert || !tls_key) {
            snprintf(why, why_len, "TLS needs both a certificate and a key");
            free(http);
            return NULL;
        }
        if (!(http->ssl_ctx = make_ssl_ctx(tls_cert, tls_key, why, why_len))) {
            free(http);
            return NULL;
        }
    }
    http->listener =
        evconnlistener_new_bind(base, accept_cb, http, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
                                1024, (struct sockaddr *)&ss, sslen);
    if (!http->listener) {
        snprintf(why, why_len, "cannot listen on %s: %s", addr,
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        SSL_CTX_free(http->ssl_ctx);
        free(http);
        return NULL;
    }
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    if (getsockname(evconnlistener_get_fd(http->listener), (struct sockaddr *)&bound, &blen) == 0) {
        if (bound.ss_family == AF_INET)
            http->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
        else if (bound.ss_family == AF_INET6)
            http->port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
    }
    return http;
}

int llmux__mock_http_port(const llmux__mock_http *http)
{
    return http->port;
}

void llmux__mock_http_free(llmux__mock_http *http)
{
    if (!http)
        return;
    evconnlistener_free(http->listener);
    while (http->conns)
        conn_abort(http->conns);
    SSL_CTX_free(http->ssl_ctx);
    free(http);
}

void llmux__mock_conn_write(llmux__mock_conn *c, const void *data, size_t len)
{
    if (c->state != ST_CLOSING && len)
        bufferevent_write(c->bev, data, len);
}

void llmux__mock_conn_set_exchange(llmux__mock_conn *c, void *exchange)
{
    c->exchange = exchange;
}

void llmux__mock_conn_done(llmux__mock_conn *c)
{
    if (c->state != ST_BUSY)
        return;
    c->exchange = NULL;
    bool keep = c->keep_alive;
    reset_request(c);
    if (!keep) {
        begin_closing(c);
        return;
    }
    c->state = ST_HEAD;
    struct timeval idle = {IDLE_TIMEOUT_S, 0};
    bufferevent_set_timeouts(c->bev, &idle, NULL);
    if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
        event_active(c->defer, EV_TIMEOUT, 0);
}

void llmux__mock_conn_drop(llmux__mock_conn *c)
{
    if (c->state == ST_CLOSING)
        return;
    reset_request(c);
    begin_closing(c);
}
