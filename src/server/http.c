/* http.c — see http.h. */
#include "server/http.h"

#include "core/response.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <strings.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_HEADERS 100

enum conn_state {
    ST_IDLE = 0, /* between requests */
    ST_READING,  /* a request has started arriving */
    ST_BUSY,     /* the handler owns the exchange */
    ST_CLOSING   /* flushing the last bytes, then lingering, then closed */
};

struct llmux__http_server {
    struct event_base *base;
    struct evconnlistener *listener;
    llmux__http_limits lim;
    llmux__http_on_request on_request;
    llmux__http_on_abort on_abort;
    void *ud;
    llmux__http_conn *conns;
    size_t n_conns;
    size_t n_busy;
    uint64_t next_id;
};

struct llmux__http_conn {
    llmux__http_server *s;
    llmux__http_conn *prev, *next;
    struct bufferevent *bev;
    struct event *timer;
    http_parser parser;
    enum conn_state state;
    uint64_t id;
    char peer[64];

    /* the request being read: url and header strings NUL-separated in `head` */
    llmux__buf head;
    size_t url_off;
    size_t name_off[MAX_HEADERS], value_off[MAX_HEADERS];
    size_t n_headers;
    bool in_value; /* the last header callback was a value */
    bool url_done;
    bool headers_done;    /* past the header block: further fields are chunked trailers */
    size_t trailer_bytes; /* trailer bytes seen (counted against max_header_bytes, not kept) */
    llmux__buf body;
    const char *names[MAX_HEADERS], *values[MAX_HEADERS];
    llmux__http_req req;
    char method[16];

    int fail_status; /* set by a parser callback that rejects the request */
    const char *fail_type;
    const char *fail_msg;

    bool keep_alive;
    bool http10;
    bool head_only; /* the request being answered is a HEAD: status line and headers only */
    bool streaming;
    void *exchange;
    void (*drain_cb)(void *);
    void *drain_arg;

    bool in_process, reprocess, close_pending;
    bool lingering; /* output flushed and write side shut: discarding input until EOF */
};

static const char *status_text(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Payload Too Large";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return status < 400 ? "OK" : "Error";
    }
}

/* ---- lifecycle -------------------------------------------------------------------- */

static void conn_free(llmux__http_conn *c)
{
    llmux__http_server *s = c->s;
    if (c->state == ST_BUSY) {
        s->n_busy--;
        if (c->exchange && s->on_abort) {
            void *ex = c->exchange;
            c->exchange = NULL;
            s->on_abort(ex, s->ud);
        }
    }
    if (c->timer)
        event_free(c->timer);
    if (c->bev)
        bufferevent_free(c->bev);
    llmux__buf_free(&c->head);
    llmux__buf_free(&c->body);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->n_conns--;
    free(c);
}

/* Closes now, or as soon as process_input unwinds. */
static void conn_close(llmux__http_conn *c)
{
    if (c->in_process) {
        c->close_pending = true;
        return;
    }
    conn_free(c);
}

static void set_timer(llmux__http_conn *c, double seconds)
{
    if (seconds <= 0) {
        evtimer_del(c->timer);
        return;
    }
    struct timeval tv = {(time_t)seconds, (suseconds_t)((seconds - (double)(time_t)seconds) * 1e6)};
    evtimer_add(c->timer, &tv);
}

/* The output is flushed: shut our write side and read (and drop) what the client still
 * sends until it closes, at most 2 s, before closing the socket. Closing a socket with
 * unread input makes the kernel send RST, which can destroy the response still in flight
 * (a client pipelining, or still uploading a body we answered 413): the client would see
 * a reset instead of our answer. This is the "lingering close" of Apache and nginx. */
static void linger(llmux__http_conn *c)
{
    if (c->lingering)
        return;
    c->lingering = true;
    shutdown(bufferevent_getfd(c->bev), SHUT_WR);
    struct evbuffer *in = bufferevent_get_input(c->bev);
    evbuffer_drain(in, evbuffer_get_length(in));
    bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
    bufferevent_enable(c->bev, EV_READ);
    set_timer(c, 2.0);
}

/* Stops reading requests: flush what is queued, then linger and close. */
static void start_closing(llmux__http_conn *c)
{
    if (c->state == ST_BUSY) {
        c->s->n_busy--;
        c->exchange = NULL;
    }
    c->state = ST_CLOSING;
    evtimer_del(c->timer);
    bufferevent_disable(c->bev, EV_READ);
    bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        linger(c);
    else
        set_timer(c, 10.0); /* a client that never reads cannot keep us forever */
}

/* ---- writing ---------------------------------------------------------------------- */

static void write_head(llmux__http_conn *c, int status, const char *content_type, long long len,
                       const char *extra)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    evbuffer_add_printf(out, "HTTP/1.%d %d %s\r\nContent-Type: %s\r\n", c->http10 ? 0 : 1, status,
                        status_text(status), content_type);
    static const char chunked[] = "Transfer-Encoding: chunked\r\nCache-Control: no-cache\r\n";
    static const char close_hdr[] = "Connection: close\r\n";
    static const char keep_hdr[] = "Connection: keep-alive\r\n";
    if (len >= 0)
        evbuffer_add_printf(out, "Content-Length: %lld\r\n", len);
    else if (!c->http10)
        evbuffer_add(out, chunked, sizeof chunked - 1);
    if (!c->keep_alive)
        evbuffer_add(out, close_hdr, sizeof close_hdr - 1);
    else if (c->http10)
        evbuffer_add(out, keep_hdr, sizeof keep_hdr - 1);
    if (extra && *extra)
        evbuffer_add(out, extra, strlen(extra));
    evbuffer_add(out, "\r\n", 2);
}

static void process_input(llmux__http_conn *c);

/* The exchange is over: next request or close. */
static void exchange_done(llmux__http_conn *c)
{
    if (c->state != ST_BUSY)
        return;
    c->drain_cb = NULL;
    c->streaming = false;
    c->head_only = false;
    if (!c->keep_alive) {
        start_closing(c); /* leaves BUSY, detaches the exchange */
        return;
    }
    c->s->n_busy--;
    c->exchange = NULL;
    c->state = ST_IDLE;
    set_timer(c, c->s->lim.idle_timeout_s);
    process_input(c);
}

void llmux__http_respond(llmux__http_conn *c, int status, const char *content_type,
                         const char *body, size_t len, const char *extra_headers)
{
    if (c->state != ST_BUSY)
        return;
    write_head(c, status, content_type, (long long)len, extra_headers);
    if (len && !c->head_only)
        evbuffer_add(bufferevent_get_output(c->bev), body, len);
    exchange_done(c);
}

static void error_body(llmux__buf *b, const char *type, const char *message)
{
    llmux__buf_puts(b, "{\"error\":{\"type\":");
    llmux__buf_json_string(b, type, strlen(type));
    llmux__buf_puts(b, ",\"message\":");
    llmux__buf_json_string(b, message, strlen(message));
    llmux__buf_puts(b, "}}");
}

static void respond_error_with(llmux__http_conn *c, int status, const char *type,
                               const char *message, const char *extra)
{
    llmux__buf b;
    llmux__buf_init(&b);
    error_body(&b, type, message);
    if (b.oom)
        llmux__http_respond(c, 500, "application/json", "", 0, "");
    else
        llmux__http_respond(c, status, "application/json", b.p, b.len, extra);
    llmux__buf_free(&b);
}

void llmux__http_respond_error(llmux__http_conn *c, int status, const char *type,
                               const char *message)
{
    respond_error_with(c, status, type, message, "");
}

/* An error found while reading the request: answer it and close the connection. */
static void reject(llmux__http_conn *c, int status, const char *type, const char *message)
{
    if (c->state == ST_CLOSING)
        return;
    c->keep_alive = false;
    if (c->state != ST_BUSY) {
        c->state = ST_BUSY;
        c->s->n_busy++;
    }
    llmux__http_respond_error(c, status, type, message);
}

void llmux__http_stream_start(llmux__http_conn *c, int status, const char *content_type,
                              const char *extra_headers)
{
    if (c->state != ST_BUSY || c->streaming)
        return;
    c->streaming = true;
    if (c->http10)
        c->keep_alive = false; /* no chunked encoding: the end of the body is the close */
    write_head(c, status, content_type, -1, extra_headers);
}

void llmux__http_stream_write(llmux__http_conn *c, const void *data, size_t len)
{
    if (c->state != ST_BUSY || !c->streaming || len == 0 || c->head_only)
        return;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (!c->http10)
        evbuffer_add_printf(out, "%zx\r\n", len);
    evbuffer_add(out, data, len);
    if (!c->http10)
        evbuffer_add(out, "\r\n", 2);
}

void llmux__http_stream_end(llmux__http_conn *c)
{
    if (c->state != ST_BUSY || !c->streaming)
        return;
    if (!c->http10 && !c->head_only)
        evbuffer_add(bufferevent_get_output(c->bev), "0\r\n\r\n", sizeof "0\r\n\r\n" - 1);
    exchange_done(c);
}

size_t llmux__http_output_pending(const llmux__http_conn *c)
{
    return evbuffer_get_length(bufferevent_get_output(c->bev));
}

bool llmux__http_output_full(const llmux__http_conn *c)
{
    return llmux__http_output_pending(c) > c->s->lim.output_high_water;
}

void llmux__http_on_drain(llmux__http_conn *c, void (*cb)(void *arg), void *arg)
{
    c->drain_cb = cb;
    c->drain_arg = arg;
}

void llmux__http_set_exchange(llmux__http_conn *c, void *exchange)
{
    c->exchange = exchange;
}

/* ---- parsing ---------------------------------------------------------------------- */

static llmux__http_conn *conn_of(http_parser *p)
{
    return p->data;
}

static int header_budget(llmux__http_conn *c, size_t more)
{
    if (c->head.len + more > c->s->lim.max_header_bytes) {
        c->fail_status = 431;
        c->fail_type = "invalid_request";
        c->fail_msg = "request headers are too large";
        return -1;
    }
    return 0;
}

static int on_message_begin(http_parser *p)
{
    llmux__http_conn *c = conn_of(p);
    llmux__buf_clear(&c->head);
    llmux__buf_clear(&c->body);
    c->url_off = 0;
    c->n_headers = 0;
    c->in_value = false;
    c->url_done = false;
    c->headers_done = false;
    c->trailer_bytes = 0;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    llmux__http_conn *c = conn_of(p);
    if (header_budget(c, len + 1))
        return -1;
    return llmux__buf_append(&c->head, at, len) ? 0 : -1;
}

/* NUL-terminates the string being accumulated (the url or a header piece). */
static bool end_piece(llmux__http_conn *c)
{
    return llmux__buf_append(&c->head, "", 1);
}

/* Trailer fields of a chunked body are counted against the header cap and dropped: the
 * request's headers were resolved when the header block ended (names/values point into
 * `head`, which must not grow again). */
static int on_trailer(llmux__http_conn *c, size_t len)
{
    c->trailer_bytes += len;
    return header_budget(c, c->trailer_bytes);
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    llmux__http_conn *c = conn_of(p);
    if (c->headers_done)
        return on_trailer(c, len);
    if (header_budget(c, len + 2))
        return -1;
    if (!c->url_done) {
        if (!end_piece(c))
            return -1;
        c->url_done = true;
    }
    if (c->in_value || c->n_headers == 0) {
        if (c->in_value && !end_piece(c)) /* end the previous value */
            return -1;
        if (c->n_headers >= MAX_HEADERS) {
            c->fail_status = 431;
            c->fail_type = "invalid_request";
            c->fail_msg = "too many request headers";
            return -1;
        }
        c->name_off[c->n_headers++] = c->head.len;
        c->in_value = false;
    }
    return llmux__buf_append(&c->head, at, len) ? 0 : -1;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    llmux__http_conn *c = conn_of(p);
    if (c->headers_done)
        return on_trailer(c, len);
    if (header_budget(c, len + 2))
        return -1;
    if (!c->in_value) {
        if (!end_piece(c)) /* end the name */
            return -1;
        c->value_off[c->n_headers - 1] = c->head.len;
        c->in_value = true;
    }
    return llmux__buf_append(&c->head, at, len) ? 0 : -1;
}

static const char *find_header(llmux__http_conn *c, const char *name)
{
    for (size_t i = 0; i < c->n_headers; i++)
        if (strcmp(c->names[i], name) == 0)
            return c->values[i];
    return NULL;
}

static int on_headers_complete(http_parser *p)
{
    llmux__http_conn *c = conn_of(p);
    if (!c->url_done) {
        if (!end_piece(c))
            return -1;
        c->url_done = true;
    }
    if (c->in_value && !end_piece(c))
        return -1;
    if (c->head.oom)
        return -1;
    /* Resolve pointers, lower-case names, trim values. */
    for (size_t i = 0; i < c->n_headers; i++) {
        char *n = c->head.p + c->name_off[i];
        for (char *q = n; *q; q++)
            *q = (char)tolower((unsigned char)*q);
        char *v = c->head.p + c->value_off[i];
        while (*v == ' ' || *v == '\t')
            v++;
        size_t vl = strlen(v);
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
            v[--vl] = '\0';
        c->names[i] = n;
        c->values[i] = v;
    }
    c->headers_done = true;
    if (p->content_length != ULLONG_MAX && p->content_length > c->s->lim.max_body) {
        c->fail_status = 413;
        c->fail_type = "invalid_request";
        c->fail_msg = "request body is too large";
        return -1;
    }
    const char *expect = find_header(c, "expect");
    if (expect && strcasecmp(expect, "100-continue") == 0 &&
        !(p->http_major == 1 && p->http_minor == 0)) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        evbuffer_add(bufferevent_get_output(c->bev), cont, sizeof cont - 1);
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    llmux__http_conn *c = conn_of(p);
    if (c->body.len + len > c->s->lim.max_body) {
        c->fail_status = 413;
        c->fail_type = "invalid_request";
        c->fail_msg = "request body is too large";
        return -1;
    }
    return llmux__buf_append(&c->body, at, len) ? 0 : -1;
}

static int on_message_complete(http_parser *p)
{
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void dispatch(llmux__http_conn *c)
{
    http_parser *p = &c->parser;
    llmux__http_req *r = &c->req;
    memset(r, 0, sizeof *r);
    snprintf(c->method, sizeof c->method, "%s", http_method_str((enum http_method)p->method));
    r->method = c->method;
    char *url = c->head.p ? c->head.p + c->url_off : (char *)"/";
    char *q = strchr(url, '?');
    if (q) {
        *q = '\0';
        r->query = q + 1;
    } else {
        r->query = "";
    }
    r->path = url;
    r->header_names = c->names;
    r->header_values = c->values;
    r->n_headers = c->n_headers;
    if (!llmux__buf_append(&c->body, "", 1)) {
        reject(c, 500, "out_of_memory", "out of memory reading the request");
        return;
    }
    c->body.len--; /* keep the NUL out of the length */
    r->body = c->body.p;
    r->body_len = c->body.len;
    c->keep_alive = http_should_keep_alive(p) != 0;
    c->http10 = p->http_major == 1 && p->http_minor == 0;
    c->head_only = p->method == HTTP_HEAD; /* (a rejected request gets a body, then a close) */
    r->keep_alive = c->keep_alive;
    r->conn_id = c->id;
    r->peer = c->peer;
    c->state = ST_BUSY;
    c->s->n_busy++;
    evtimer_del(c->timer);
    c->s->on_request(c, r, c->s->ud);
}

static void process_input(llmux__http_conn *c)
{
    if (c->in_process) {
        c->reprocess = true;
        return;
    }
    c->in_process = true;
    do {
        c->reprocess = false;
        while (c->state == ST_IDLE || c->state == ST_READING) {
            struct evbuffer *in = bufferevent_get_input(c->bev);
            if (evbuffer_get_length(in) == 0)
                break;
            if (c->state == ST_IDLE) {
                c->state = ST_READING;
                set_timer(c, c->s->lim.read_timeout_s);
            }
            struct evbuffer_iovec v;
            if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
                break;
            size_t n = http_parser_execute(&c->parser, &parser_settings, v.iov_base, v.iov_len);
            evbuffer_drain(in, n);
            enum http_errno err = HTTP_PARSER_ERRNO(&c->parser);
            if (err == HPE_PAUSED) {
                http_parser_pause(&c->parser, 0);
                dispatch(c);
                continue;
            }
            if (err != HPE_OK) {
                if (c->fail_status) {
                    reject(c, c->fail_status, c->fail_type, c->fail_msg);
                } else {
                    char msg[160];
                    snprintf(msg, sizeof msg, "malformed HTTP request: %s",
                             http_errno_description(err));
                    reject(c, 400, "invalid_request", msg);
                }
                break;
            }
        }
    } while (c->reprocess);
    c->in_process = false;
    if (c->close_pending)
        conn_free(c);
}

/* ---- events ------------------------------------------------------------------------ */

static void on_read(struct bufferevent *bev, void *arg)
{
    llmux__http_conn *c = arg;
    if (c->lingering) { /* drop what a closing client still sends */
        struct evbuffer *in = bufferevent_get_input(bev);
        evbuffer_drain(in, evbuffer_get_length(in));
        return;
    }
    process_input(c);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    llmux__http_conn *c = arg;
    if (c->state == ST_CLOSING) {
        if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
            linger(c);
        return;
    }
    if (c->drain_cb) {
        void (*cb)(void *) = c->drain_cb;
        c->drain_cb = NULL;
        cb(c->drain_arg);
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    llmux__http_conn *c = arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
        conn_close(c); /* on_abort runs for a pending exchange */
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    llmux__http_conn *c = arg;
    if (c->state == ST_READING)
        reject(c, 408, "invalid_request", "the request did not arrive in time");
    else if (c->state == ST_IDLE || c->state == ST_CLOSING)
        conn_close(c);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int socklen, void *arg)
{
    (void)l;
    (void)socklen;
    llmux__http_server *s = arg;
    llmux__http_conn *c = calloc(1, sizeof *c);
    if (!c) {
        evutil_closesocket(fd);
        return;
    }
    c->s = s;
    c->id = ++s->next_id;
    c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    c->timer = evtimer_new(s->base, on_timer, c);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->n_conns++;
    if (!c->bev || !c->timer) {
        if (!c->bev)
            evutil_closesocket(fd);
        conn_free(c);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
    }
    snprintf(c->peer, sizeof c->peer, "%s:%d", host, port);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    llmux__buf_init(&c->head);
    llmux__buf_init(&c->body);
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    /* Stop reading a pipelining client that sends far ahead of our answers. */
    bufferevent_setwatermark(c->bev, EV_READ, 0, s->lim.max_body + s->lim.max_header_bytes + 65536);
    bufferevent_setwatermark(c->bev, EV_WRITE, s->lim.output_high_water / 2, 0);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    if (s->n_conns > s->lim.max_connections) {
        c->state = ST_BUSY;
        s->n_busy++;
        c->keep_alive = false;
        respond_error_with(c, 503, "limit_exceeded", "too many open connections",
                           "Retry-After: 1\r\n");
        return;
    }
    set_timer(c, s->lim.idle_timeout_s);
}

llmux__http_server *llmux__http_server_new(struct event_base *base, evutil_socket_t fd,
                                           const llmux__http_limits *limits,
                                           llmux__http_on_request on_request,
                                           llmux__http_on_abort on_abort, void *ud)
{
    llmux__http_server *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->base = base;
    if (limits)
        s->lim = *limits;
    if (!s->lim.max_body)
        s->lim.max_body = (size_t)8 << 20;
    if (!s->lim.max_header_bytes)
        s->lim.max_header_bytes = 32 << 10;
    if (!(s->lim.read_timeout_s > 0))
        s->lim.read_timeout_s = 30;
    if (!(s->lim.idle_timeout_s > 0))
        s->lim.idle_timeout_s = 75;
    if (!s->lim.max_connections)
        s->lim.max_connections = 10000;
    if (!s->lim.output_high_water)
        s->lim.output_high_water = 256 << 10;
    s->on_request = on_request;
    s->on_abort = on_abort;
    s->ud = ud;
    evutil_make_socket_nonblocking(fd);
    s->listener = evconnlistener_new(base, on_accept, s, LEV_OPT_CLOSE_ON_FREE, -1, fd);
    if (!s->listener) {
        free(s);
        return NULL;
    }
    return s;
}

void llmux__http_server_stop_accepting(llmux__http_server *s)
{
    if (s->listener)
        evconnlistener_disable(s->listener);
}

size_t llmux__http_server_connections(const llmux__http_server *s)
{
    return s->n_conns;
}

size_t llmux__http_server_busy(const llmux__http_server *s)
{
    return s->n_busy;
}

void llmux__http_server_free(llmux__http_server *s)
{
    if (!s)
        return;
    while (s->conns)
        conn_free(s->conns);
    if (s->listener)
        evconnlistener_free(s->listener);
    free(s);
}
