/* mock.c — the mock provider's server: routes, auth, scripted steps, the request log and
 * the timed writing of answers and faults. See mock.h and docs/mock.md. */
#include "mock/mock.h"

#include "mock/mock_http.h"
#include "mock/mock_script.h"
#include "mock/mock_wire.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_LOG_LIMIT 10000

typedef struct exchange exchange;

/* One request as the log keeps it. */
typedef struct log_entry {
    uint64_t seq;
    int provider; /* -1 when the URL matched no provider */
    char *method;
    char *path;
    char *query;
    char **names;
    char **values;
    size_t nheaders;
    char *body;
    uint64_t conn_id;
    double arrival_ms;     /* since the mock started (monotonic) */
    double arrival_unix_s; /* wall clock */
    char *model;
    bool stream;
    int status;           /* 0 until the status line is sent */
    long chunks_sent;     /* content chunks written (1 for a non-streaming body) */
    bool completed;       /* the whole response was written */
    bool dropped;         /* the mock closed the connection on purpose */
    bool client_closed;   /* the client closed before the response was complete */
    long closed_at_chunk; /* chunks_sent when the client closed, -1 */
    char *step;           /* the step applied, JSON text, or NULL */
    exchange *ex;         /* the response in progress, or NULL */
} log_entry;

struct llmux__mock {
    struct event_base *base;
    llmux__mock_http *http;
    struct event *stop_ev;
    int stop_pipe[2];
    pthread_t thread;
    bool thread_started;
    bool echo;
    bool verbose;
    char *keys[LLMUX__MOCK_PROVIDER_COUNT];
    llmux__mock_script script;
    uint64_t rng;
    struct timespec started;
    /* the request log: a ring of entries, oldest first from `head` */
    log_entry **log;
    size_t log_cap;
    size_t log_head;
    size_t log_count;
    uint64_t log_dropped;
    uint64_t next_seq;
};

/* One response being written. */
struct exchange {
    llmux__mock *m;
    llmux__mock_conn *conn;
    log_entry *log;
    llmux__mock_call call;
    llmux__mock_answer answer;
    llmux__mock_step step;
    struct event *timer;
    llmux__mock_events events; /* what to write after the head, in order */
    size_t next;
    long content_sent;
    long content_total;
    bool started;      /* the delay_ms wait is over */
    bool waited;       /* the wait before events[next] is over */
    bool chunked;      /* HTTP/1.1 chunked framing of each event */
    bool framed;       /* events are stream events (SSE / JSON array), not a raw body */
    bool close_at_end; /* close-delimited body (HTTP/1.0 stream) */
    bool drop_at_end;  /* a truncated body: close instead of finishing */
    bool keep_alive;
    int http_minor;
    char request_id[48]; /* the provider request id, made on first use; "" until then */
};

/* ------------------------------------------------------------------------------------ */
/* helpers                                                                                */
/* ------------------------------------------------------------------------------------ */

static double ms_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) * 1e3 + (double)(now.tv_nsec - t0->tv_nsec) / 1e6;
}

static const char *req_header(const llmux__mock_http_req *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcmp(req->header_names[i], name) == 0)
            return req->header_values[i];
    return NULL;
}

/* The value of query parameter `name` (not decoded) copied into out; false when absent. */
static bool query_param(const char *query, const char *name, char *out, size_t n)
{
    size_t len = strlen(name);
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t seg = amp ? (size_t)(amp - p) : strlen(p);
        if (seg > len && strncmp(p, name, len) == 0 && p[len] == '=') {
            size_t vlen = seg - len - 1;
            if (vlen >= n)
                vlen = n - 1;
            memcpy(out, p + len + 1, vlen);
            out[vlen] = '\0';
            return true;
        }
        p = amp ? amp + 1 : NULL;
    }
    return false;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static char *dup_s(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* ------------------------------------------------------------------------------------ */
/* the request log                                                                        */
/* ------------------------------------------------------------------------------------ */

static void log_entry_free(log_entry *e)
{
    free(e->method);
    free(e->path);
    free(e->query);
    for (size_t i = 0; i < e->nheaders; i++) {
        free(e->names[i]);
        free(e->values[i]);
    }
    free(e->names);
    free(e->values);
    free(e->body);
    free(e->model);
    free(e->step);
    free(e);
}

static log_entry *log_add(llmux__mock *m, const llmux__mock_http_req *req)
{
    log_entry *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->seq = ++m->next_seq;
    e->provider = -1;
    e->closed_at_chunk = -1;
    e->conn_id = req->conn_id;
    e->arrival_ms = ms_since(&m->started);
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    e->arrival_unix_s = (double)wall.tv_sec + (double)wall.tv_nsec / 1e9;
    e->method = dup_s(req->method);
    e->path = dup_s(req->path);
    e->query = dup_s(req->query);
    e->body = malloc(req->body_len + 1);
    e->names = calloc(req->nheaders ? req->nheaders : 1, sizeof *e->names);
    e->values = calloc(req->nheaders ? req->nheaders : 1, sizeof *e->values);
    bool ok = e->method && e->path && e->query && e->body && e->names && e->values;
    if (ok) {
        memcpy(e->body, req->body, req->body_len);
        e->body[req->body_len] = '\0';
    }
    for (size_t i = 0; ok && i < req->nheaders; i++) {
        e->names[i] = dup_s(req->header_names[i]);
        e->values[i] = dup_s(req->header_values[i]);
        e->nheaders = i + 1;
        ok = e->names[i] && e->values[i];
    }
    if (!ok) {
        log_entry_free(e);
        return NULL;
    }
    if (m->log_count == m->log_cap) {
        log_entry *old = m->log[m->log_head];
        if (old->ex)
            old->ex->log = NULL;
        log_entry_free(old);
        m->log_head = (m->log_head + 1) % m->log_cap;
        m->log_count--;
        m->log_dropped++;
    }
    m->log[(m->log_head + m->log_count) % m->log_cap] = e;
    m->log_count++;
    return e;
}

static void log_clear(llmux__mock *m)
{
    for (size_t i = 0; i < m->log_count; i++) {
        log_entry *e = m->log[(m->log_head + i) % m->log_cap];
        if (e->ex)
            e->ex->log = NULL;
        log_entry_free(e);
    }
    m->log_head = m->log_count = 0;
    m->log_dropped = 0;
}

static cJSON *log_entry_json(const log_entry *e)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)e->seq);
    if (e->provider >= 0)
        cJSON_AddStringToObject(o, "provider", llmux__mock_provider_name(e->provider));
    else
        cJSON_AddNullToObject(o, "provider");
    cJSON_AddStringToObject(o, "method", e->method);
    cJSON_AddStringToObject(o, "path", e->path);
    cJSON_AddStringToObject(o, "query", e->query);
    cJSON *h = cJSON_AddObjectToObject(o, "headers");
    for (size_t i = 0; i < e->nheaders; i++) {
        cJSON *prev = cJSON_GetObjectItemCaseSensitive(h, e->names[i]);
        if (prev && cJSON_IsString(prev)) {
            size_t n = strlen(prev->valuestring) + strlen(e->values[i]) + 3;
            char *joined = malloc(n);
            if (joined) {
                snprintf(joined, n, "%s, %s", prev->valuestring, e->values[i]);
                cJSON_ReplaceItemInObjectCaseSensitive(h, e->names[i], cJSON_CreateString(joined));
                free(joined);
            }
        } else {
            cJSON_AddStringToObject(h, e->names[i], e->values[i]);
        }
    }
    cJSON_AddStringToObject(o, "body", e->body);
    cJSON_AddNumberToObject(o, "connection_id", (double)e->conn_id);
    cJSON_AddNumberToObject(o, "arrival_ms", e->arrival_ms);
    cJSON_AddNumberToObject(o, "time", e->arrival_unix_s);
    if (e->model)
        cJSON_AddStringToObject(o, "model", e->model);
    else
        cJSON_AddNullToObject(o, "model");
    cJSON_AddBoolToObject(o, "stream", e->stream);
    if (e->status)
        cJSON_AddNumberToObject(o, "status", e->status);
    else
        cJSON_AddNullToObject(o, "status");
    cJSON *step = e->step ? cJSON_Parse(e->step) : NULL;
    cJSON_AddItemToObject(o, "step", step ? step : cJSON_CreateNull());
    cJSON_AddNumberToObject(o, "chunks_sent", (double)e->chunks_sent);
    cJSON_AddBoolToObject(o, "completed", e->completed);
    cJSON_AddBoolToObject(o, "dropped", e->dropped);
    cJSON_AddBoolToObject(o, "client_closed", e->client_closed);
    if (e->closed_at_chunk >= 0)
        cJSON_AddNumberToObject(o, "closed_at_chunk", (double)e->closed_at_chunk);
    else
        cJSON_AddNullToObject(o, "closed_at_chunk");
    return o;
}

/* ------------------------------------------------------------------------------------ */
/* writing responses                                                                      */
/* ------------------------------------------------------------------------------------ */

static void exchange_free(exchange *x)
{
    if (x->log)
        x->log->ex = NULL;
    if (x->timer)
        event_free(x->timer);
    llmux__mock_call_clear(&x->call);
    llmux__mock_answer_clear(&x->answer);
    llmux__mock_step_clear(&x->step);
    llmux__mock_events_clear(&x->events);
    free(x);
}

/* The exchange's request id, made on first use: the header carries it, and so does an
 * Anthropic error body (as the real API sends them, the same id in both). */
static const char *request_id(exchange *x, int provider)
{
    if (!x->request_id[0]) {
        char id[25];
        llmux__mock_random_chars(&x->m->rng, id, 24);
        id[24] = '\0';
        if (provider == LLMUX__MOCK_ANTHROPIC) /* req_011C + 20, like the recorded ids */
            snprintf(x->request_id, sizeof x->request_id, "req_011C%.20s", id);
        else if (provider == LLMUX__MOCK_OPENAI)
            snprintf(x->request_id, sizeof x->request_id, "req_%s", id);
        else
            snprintf(x->request_id, sizeof x->request_id, "%s", id);
    }
    return x->request_id;
}

/* Provider-flavoured headers every answer carries. */
static void provider_headers(exchange *x, int provider, char *out, size_t n)
{
    switch (provider) {
    case LLMUX__MOCK_OPENAI:
        snprintf(out, n, "x-request-id: %s\r\nopenai-processing-ms: 1\r\n",
                 request_id(x, provider));
        break;
    case LLMUX__MOCK_AZURE:
        snprintf(out, n, "apim-request-id: %s\r\nx-request-id: %s\r\nx-ms-region: mock\r\n",
                 request_id(x, provider), request_id(x, provider));
        break;
    case LLMUX__MOCK_ANTHROPIC:
        snprintf(out, n, "request-id: %s\r\n", request_id(x, provider));
        break;
    default:
        out[0] = '\0';
        break;
    }
}

/* Writes the status line and headers. body_len < 0: no Content-Length (stream). */
static void write_head(exchange *x, int status, const char *content_type, long body_len,
                       int provider)
{
    char head[2048];
    char extra[256];
    provider_headers(x, provider, extra, sizeof extra);
    int n = snprintf(head, sizeof head,
                     "HTTP/1.%d %d %s\r\nserver: llmux-mock\r\n"
                     "content-type: %s\r\n%s",
                     x->http_minor, status, llmux__mock_reason(status), content_type, extra);
    if (body_len >= 0) {
        n += snprintf(head + n, sizeof head - (size_t)n, "content-length: %ld\r\n", body_len);
    } else if (x->chunked) {
        n += snprintf(head + n, sizeof head - (size_t)n,
                      "transfer-encoding: chunked\r\ncache-control: no-cache\r\n");
    } else {
        n += snprintf(head + n, sizeof head - (size_t)n, "cache-control: no-cache\r\n");
    }
    if (!x->keep_alive || x->close_at_end)
        n += snprintf(head + n, sizeof head - (size_t)n, "connection: close\r\n");
    else if (x->http_minor == 0)
        n += snprintf(head + n, sizeof head - (size_t)n, "connection: keep-alive\r\n");
    llmux__mock_conn_write(x->conn, head, (size_t)n);
    /* step headers can be long: write them on their own */
    for (size_t i = 0; i < x->step.nheaders; i++) {
        const llmux__mock_header *h = &x->step.headers[i];
        llmux__mock_conn_write(x->conn, h->name, strlen(h->name));
        llmux__mock_conn_write(x->conn, ": ", 2);
        llmux__mock_conn_write(x->conn, h->value, strlen(h->value));
        llmux__mock_conn_write(x->conn, "\r\n", 2);
    }
    llmux__mock_conn_write(x->conn, "\r\n", 2);
    if (x->log)
        x->log->status = status;
}

static void write_piece(exchange *x, const char *data, size_t len)
{
    if (x->chunked && len) {
        char size[24];
        int n = snprintf(size, sizeof size, "%zx\r\n", len);
        llmux__mock_conn_write(x->conn, size, (size_t)n);
        llmux__mock_conn_write(x->conn, data, len);
        llmux__mock_conn_write(x->conn, "\r\n", 2);
    } else {
        llmux__mock_conn_write(x->conn, data, len);
    }
}

/* The response is over: the connection goes on (or closes) and the exchange is freed. */
static void finish(exchange *x, bool drop)
{
    llmux__mock_conn *conn = x->conn;
    if (x->log) {
        x->log->completed = !drop;
        x->log->dropped = drop;
    }
    exchange_free(x);
    if (drop)
        llmux__mock_conn_drop(conn);
    else
        llmux__mock_conn_done(conn);
}

/* A complete, simple response (errors, control endpoints). */
static void respond(exchange *x, int status, const char *body, int provider)
{
    size_t len = body ? strlen(body) : 0;
    write_head(x, status, "application/json", (long)len, provider);
    llmux__mock_conn_write(x->conn, body, len);
    if (x->log)
        x->log->chunks_sent = 0;
    finish(x, false);
}

static void respond_error(exchange *x, int provider, const llmux__mock_error *err)
{
    const char *rid = request_id(x, provider);
    const char *retry = NULL;
    for (size_t i = 0; i < x->step.nheaders; i++)
        if (strcasecmp(x->step.headers[i].name, "retry-after") == 0)
            retry = x->step.headers[i].value;
    char *body = llmux__mock_wire_error(provider, err, x->call.model, rid, retry);
    respond(x, err->status, body ? body : "{}", provider);
    free(body);
}

static void schedule(exchange *x, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(x->timer, &tv);
}

static void write_event(exchange *x, const llmux__mock_event *ev, bool first)
{
    if (!x->framed) {
        write_piece(x, ev->data, strlen(ev->data));
        return;
    }
    llmux__mock_event copy = *ev;
    char *bad = NULL;
    /* malformed json: the first content event's JSON is cut in half */
    if (x->step.malformed == LLMUX__MOCK_MALFORMED_JSON && ev->content && x->content_sent == 0) {
        size_t half = strlen(ev->data) / 2;
        bad = strndup(ev->data, half);
        if (bad)
            copy.data = bad;
    }
    size_t len;
    char *framed = llmux__mock_frame(&x->call, &copy, first,
                                     x->step.malformed == LLMUX__MOCK_MALFORMED_SSE, &len);
    if (framed)
        write_piece(x, framed, len);
    free(framed);
    free(bad);
}

static void pump(exchange *x);

static void start_answer(exchange *x);

/* One timer per exchange: first the delay_ms wait, then the waits between events. */
static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    exchange *x = arg;
    if (x->started)
        pump(x);
    else
        start_answer(x);
}

static void write_end(exchange *x)
{
    const char *end = x->framed ? llmux__mock_frame_end(&x->call) : "";
    if (*end)
        write_piece(x, end, strlen(end));
    if (x->chunked)
        llmux__mock_conn_write(x->conn, "0\r\n\r\n", 5);
}

/* Writes events in order, waiting on timers, until done or a fault ends the response. */
static void pump(exchange *x)
{
    const llmux__mock_step *s = &x->step;
    while (x->next < x->events.n) {
        const llmux__mock_event *ev = &x->events.v[x->next];
        if (!x->waited) {
            long delay = 0;
            if (ev->content)
                delay = x->content_sent == 0 ? s->first_chunk_delay_ms : s->chunk_interval_ms;
            if (delay > 0) {
                x->waited = true;
                schedule(x, delay);
                return;
            }
        }
        x->waited = false;
        /* a cut after n chunks, n past the last chunk: right after the last one */
        bool at_cut = ev->content || x->content_sent == x->content_total;
        long drop_n =
            s->drop_after_chunks < x->content_total ? s->drop_after_chunks : x->content_total;
        long err_n = s->error_event_after_chunks < x->content_total ? s->error_event_after_chunks
                                                                    : x->content_total;
        if (s->drop_after_chunks >= 0 && x->content_sent >= drop_n && at_cut) {
            finish(x, true);
            return;
        }
        if (s->error_event_after_chunks >= 0 && x->content_sent >= err_n && at_cut && x->framed) {
            llmux__mock_events err = {0};
            if (llmux__mock_wire_stream_error(&x->call, &err) == 0)
                write_event(x, &err.v[0], x->next == 0);
            llmux__mock_events_clear(&err);
            write_end(x);
            finish(x, false);
            return;
        }
        write_event(x, ev, x->next == 0);
        if (ev->content) {
            x->content_sent++;
            if (x->log)
                x->log->chunks_sent = x->content_sent;
        }
        x->next++;
    }
    if (x->drop_at_end) {
        finish(x, true);
        return;
    }
    write_end(x);
    if (x->close_at_end) {
        /* a close-delimited body (HTTP/1.0): complete, and the close is its end */
        llmux__mock_conn *conn = x->conn;
        if (x->log)
            x->log->completed = true;
        exchange_free(x);
        llmux__mock_conn_drop(conn);
        return;
    }
    finish(x, false);
}

static int add_raw_event(llmux__mock_events *ev, char *data, bool content)
{
    llmux__mock_event *v = realloc(ev->v, (ev->n + 1) * sizeof *v);
    if (!v) {
        free(data);
        return -1;
    }
    ev->v = v;
    ev->cap = ev->n + 1;
    ev->v[ev->n++] = (llmux__mock_event){.name = NULL, .data = data, .content = content};
    return 0;
}

static const char *stream_content_type(const llmux__mock_call *call)
{
    if (call->provider == LLMUX__MOCK_GOOGLE && !call->google_sse)
        return "application/json; charset=UTF-8";
    return "text/event-stream; charset=utf-8";
}

/* The delay_ms wait is over: answer. */
static void start_answer(exchange *x)
{
    llmux__mock *m = x->m;
    const llmux__mock_step *s = &x->step;
    x->started = true;
    if (s->hang)
        return; /* never answer: the client gives up, or the mock stops */
    if (s->status >= 300 && !s->body) {
        llmux__mock_error err = {.status = s->status, .kind = LLMUX__MOCK_ERR_STATUS};
        respond_error(x, x->call.provider, &err);
        return;
    }
    if (s->body) {
        respond(x, s->status, s->body, x->call.provider);
        return;
    }
    if (llmux__mock_answer_build(&x->call, s, m->echo, &m->rng, (long)time(NULL), &x->answer)) {
        llmux__mock_error err = {.status = 500, .kind = LLMUX__MOCK_ERR_STATUS};
        respond_error(x, x->call.provider, &err);
        return;
    }
    int status = s->status ? s->status : 200;
    bool stream = x->call.stream;
    bool sse_body = !stream && s->malformed == LLMUX__MOCK_MALFORMED_SSE;
    if (stream || sse_body) {
        bool truncated = s->malformed == LLMUX__MOCK_MALFORMED_TRUNCATED;
        if (llmux__mock_wire_events(&x->call, &x->answer, truncated, &x->events)) {
            llmux__mock_error err = {.status = 500, .kind = LLMUX__MOCK_ERR_STATUS};
            respond_error(x, x->call.provider, &err);
            return;
        }
        x->framed = true;
        if (sse_body) {
            /* a non-streaming request answered with an event stream */
            x->call.google_sse = true;
            x->chunked = x->http_minor >= 1;
            x->close_at_end = !x->chunked;
            write_head(x, status, "text/event-stream; charset=utf-8", -1, x->call.provider);
        } else {
            x->chunked = x->http_minor >= 1;
            x->close_at_end = !x->chunked;
            write_head(x, status, stream_content_type(&x->call), -1, x->call.provider);
        }
    } else {
        char *body = llmux__mock_wire_body(&x->call, &x->answer);
        if (!body || add_raw_event(&x->events, body, true)) {
            llmux__mock_error err = {.status = 500, .kind = LLMUX__MOCK_ERR_STATUS};
            respond_error(x, x->call.provider, &err);
            return;
        }
        size_t full = strlen(body);
        if (s->malformed == LLMUX__MOCK_MALFORMED_JSON) {
            body[full / 2] = '\0'; /* a complete HTTP body that is not JSON */
            full /= 2;
        } else if (s->malformed == LLMUX__MOCK_MALFORMED_TRUNCATED) {
            body[full / 2] = '\0'; /* Content-Length says more than is sent */
            x->drop_at_end = true;
        }
        write_head(x, status, "application/json", (long)full, x->call.provider);
    }
    for (size_t i = 0; i < x->events.n; i++)
        if (x->events.v[i].content)
            x->content_total++;
    if (x->log)
        x->log->status = status;
    pump(x);
}

/* ------------------------------------------------------------------------------------ */
/* routing                                                                                */
/* ------------------------------------------------------------------------------------ */

typedef enum route_kind {
    ROUTE_NONE,
    ROUTE_CHAT,
    ROUTE_MODELS,
    ROUTE_MOCK_HEALTH,
    ROUTE_MOCK_SCRIPT,
    ROUTE_MOCK_RESET,
    ROUTE_MOCK_REQUESTS,
    ROUTE_MOCK_BAD_METHOD
} route_kind;

typedef struct route {
    route_kind kind;
    int provider;
    char model[256];    /* from the URL (Azure deployment, Google model), "" when none */
    bool azure_classic; /* /openai/deployments/…: needs api-version */
    bool google_stream;
    bool google_sse;
} route;

static route find_route(const llmux__mock_http_req *req)
{
    route r = {.kind = ROUTE_NONE, .provider = -1};
    const char *p = req->path;
    bool post = strcmp(req->method, "POST") == 0, get = strcmp(req->method, "GET") == 0;
    if (strncmp(p, "/_mock/", 7) == 0) {
        const char *what = p + 7;
        if (strcmp(what, "health") == 0)
            r.kind = get ? ROUTE_MOCK_HEALTH : ROUTE_MOCK_BAD_METHOD;
        else if (strcmp(what, "script") == 0)
            r.kind = post || get ? ROUTE_MOCK_SCRIPT : ROUTE_MOCK_BAD_METHOD;
        else if (strcmp(what, "reset") == 0)
            r.kind = post ? ROUTE_MOCK_RESET : ROUTE_MOCK_BAD_METHOD;
        else if (strcmp(what, "requests") == 0)
            r.kind = get ? ROUTE_MOCK_REQUESTS : ROUTE_MOCK_BAD_METHOD;
        return r;
    }
    const char *dep = strstr(p, "/openai/deployments/");
    if (post && dep && ends_with(p, "/chat/completions")) {
        const char *name = dep + strlen("/openai/deployments/");
        const char *slash = strchr(name, '/');
        size_t n = (size_t)(slash - name);
        if (slash && n > 0 && n < sizeof r.model && slash == p + strlen(p) - 17) {
            memcpy(r.model, name, n);
            r.model[n] = '\0';
            r.kind = ROUTE_CHAT;
            r.provider = LLMUX__MOCK_AZURE;
            r.azure_classic = true;
        }
        return r;
    }
    if (post && ends_with(p, "/chat/completions")) {
        r.kind = ROUTE_CHAT;
        r.provider = strncmp(p, "/openai/", 8) == 0 ? LLMUX__MOCK_AZURE : LLMUX__MOCK_OPENAI;
        return r;
    }
    if (post && ends_with(p, "/v1/messages")) {
        r.kind = ROUTE_CHAT;
        r.provider = LLMUX__MOCK_ANTHROPIC;
        return r;
    }
    const char *models = strstr(p, "/models/");
    if (post && models) {
        const char *name = models + 8;
        const char *colon = strrchr(name, ':');
        if (colon && (strcmp(colon, ":generateContent") == 0 ||
                      strcmp(colon, ":streamGenerateContent") == 0)) {
            size_t n = (size_t)(colon - name);
            if (n == 0 || n >= sizeof r.model || memchr(name, '/', n))
                return r;
            memcpy(r.model, name, n);
            r.model[n] = '\0';
            r.kind = ROUTE_CHAT;
            r.provider = LLMUX__MOCK_GOOGLE;
            r.google_stream = strcmp(colon, ":streamGenerateContent") == 0;
            char alt[16];
            r.google_sse =
                query_param(req->query, "alt", alt, sizeof alt) && strcmp(alt, "sse") == 0;
        }
        return r;
    }
    if (get && ends_with(p, "/models")) {
        char key[8];
        r.kind = ROUTE_MODELS;
        if (req_header(req, "anthropic-version") || req_header(req, "x-api-key"))
            r.provider = LLMUX__MOCK_ANTHROPIC;
        else if (strstr(p, "/v1beta") || req_header(req, "x-goog-api-key") ||
                 query_param(req->query, "key", key, sizeof key))
            r.provider = LLMUX__MOCK_GOOGLE;
        else if (strncmp(p, "/openai/", 8) == 0)
            r.provider = LLMUX__MOCK_AZURE;
        else
            r.provider = LLMUX__MOCK_OPENAI;
    }
    return r;
}

/* Checks the provider's credentials; fills err and returns false when refused. */
static bool check_auth(llmux__mock *m, const llmux__mock_http_req *req, const route *r,
                       llmux__mock_error *err)
{
    const char *key = NULL;
    char qkey[512];
    const char *auth = req_header(req, "authorization");
    const char *bearer = auth && strncasecmp(auth, "Bearer ", 7) == 0 ? auth + 7 : NULL;
    switch (r->provider) {
    case LLMUX__MOCK_OPENAI:
        key = bearer;
        break;
    case LLMUX__MOCK_AZURE:
        key = req_header(req, "api-key");
        if (!key)
            key = bearer;
        break;
    case LLMUX__MOCK_ANTHROPIC:
        /* the official SDKs send the API key as a bearer token (@anthropic-ai/sdk 1.x) */
        key = req_header(req, "x-api-key");
        if (!key)
            key = bearer;
        break;
    default:
        key = req_header(req, "x-goog-api-key");
        if (!key && query_param(req->query, "key", qkey, sizeof qkey))
            key = qkey;
        break;
    }
    memset(err, 0, sizeof *err);
    if (!key || !*key) {
        err->status = r->provider == LLMUX__MOCK_GOOGLE ? 403 : 401;
        err->kind = LLMUX__MOCK_ERR_AUTH_MISSING;
        return false;
    }
    const char *want = m->keys[r->provider];
    if (want && strcmp(want, key) != 0) {
        err->status = r->provider == LLMUX__MOCK_GOOGLE ? 400 : 401;
        err->kind = LLMUX__MOCK_ERR_AUTH_INVALID;
        return false;
    }
    if (r->provider == LLMUX__MOCK_ANTHROPIC && r->kind == ROUTE_CHAT &&
        !req_header(req, "anthropic-version")) {
        err->status = 400;
        err->kind = LLMUX__MOCK_ERR_INVALID;
        snprintf(err->message, sizeof err->message, "anthropic-version: header is required");
        return false;
    }
    return true;
}

static void mock_error_body(char *out, size_t n, const char *type, const char *message)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(e, "type", type);
    cJSON_AddStringToObject(e, "message", message);
    char *s = cJSON_PrintUnformatted(root);
    snprintf(out, n, "%s", s ? s : "{}");
    free(s);
    cJSON_Delete(root);
}

static void handle_mock_route(exchange *x, const route *r, const llmux__mock_http_req *req)
{
    llmux__mock *m = x->m;
    char small[768];
    switch (r->kind) {
    case ROUTE_MOCK_HEALTH:
        snprintf(small, sizeof small, "{\"status\":\"ok\",\"requests\":%llu}",
                 (unsigned long long)m->next_seq);
        respond(x, 200, small, -1);
        return;
    case ROUTE_MOCK_RESET:
        llmux__mock_script_clear(&m->script);
        log_clear(m);
        respond(x, 200, "{\"reset\":true}", -1);
        return;
    case ROUTE_MOCK_SCRIPT: {
        if (strcmp(req->method, "GET") == 0) {
            cJSON *root = cJSON_CreateObject();
            cJSON *arr = cJSON_AddArrayToObject(root, "pending");
            for (size_t i = 0; i < m->script.count; i++) {
                cJSON *step = cJSON_Parse(m->script.steps[i].source);
                if (step)
                    cJSON_AddNumberToObject(step, "remaining", (double)m->script.steps[i].count);
                cJSON_AddItemToArray(arr, step ? step : cJSON_CreateNull());
            }
            char *s = cJSON_PrintUnformatted(root);
            cJSON_Delete(root);
            respond(x, s ? 200 : 500, s ? s : "{}", -1);
            free(s);
            return;
        }
        char why[512];
        long n = llmux__mock_script_add(&m->script, req->body, req->body_len, why, sizeof why);
        if (n < 0) {
            mock_error_body(small, sizeof small, "invalid_script", why);
            respond(x, 400, small, -1);
            return;
        }
        snprintf(small, sizeof small, "{\"accepted\":%ld,\"pending\":%zu}", n, m->script.count);
        respond(x, 200, small, -1);
        return;
    }
    case ROUTE_MOCK_REQUESTS: {
        cJSON *root = cJSON_CreateObject();
        cJSON *arr = cJSON_AddArrayToObject(root, "requests");
        for (size_t i = 0; i < m->log_count; i++)
            cJSON_AddItemToArray(arr, log_entry_json(m->log[(m->log_head + i) % m->log_cap]));
        cJSON_AddNumberToObject(root, "dropped", (double)m->log_dropped);
        char *s = cJSON_PrintUnformatted(root);
        cJSON_Delete(root);
        respond(x, s ? 200 : 500, s ? s : "{}", -1);
        free(s);
        return;
    }
    default:
        mock_error_body(small, sizeof small, "method_not_allowed",
                        "wrong method for this /_mock/ endpoint (see docs/mock.md)");
        respond(x, 405, small, -1);
        return;
    }
}

static void handle_chat(exchange *x, const route *r, const llmux__mock_http_req *req)
{
    llmux__mock *m = x->m;
    llmux__mock_error err;
    char buf[768];
    if (r->azure_classic && (!query_param(req->query, "api-version", buf, sizeof buf) || !*buf)) {
        respond(x, 404, "{\"error\":{\"code\":\"404\",\"message\":\"Resource not found\"}}",
                r->provider);
        return;
    }
    if (llmux__mock_call_parse(r->provider, *r->model ? r->model : NULL, r->google_stream,
                               r->google_sse, req->body, req->body_len, &x->call, &err)) {
        x->call.provider = r->provider;
        respond_error(x, r->provider, &err);
        return;
    }
    if (x->log) {
        x->log->model = dup_s(x->call.model);
        x->log->stream = x->call.stream;
    }
    const char *hdr = req_header(req, "x-mock-script");
    bool have = false;
    if (hdr) {
        cJSON *obj = cJSON_Parse(hdr);
        char why[400];
        if (!obj || llmux__mock_step_parse(obj, &x->step, why, sizeof why)) {
            char msg[512];
            snprintf(msg, sizeof msg, "X-Mock-Script: %s",
                     obj ? why : "not valid JSON (want one step object)");
            cJSON_Delete(obj);
            mock_error_body(buf, sizeof buf, "invalid_script", msg);
            respond(x, 400, buf, -1);
            return;
        }
        cJSON_Delete(obj);
        have = true;
    }
    if (!have)
        have = llmux__mock_script_take(&m->script, r->provider, x->call.model, &x->step);
    if (have && x->log && x->step.source)
        x->log->step = dup_s(x->step.source);
    if (x->step.delay_ms > 0) {
        schedule(x, x->step.delay_ms); /* timer_cb starts the answer */
        return;
    }
    start_answer(x);
}

static void on_request(llmux__mock_conn *conn, const llmux__mock_http_req *req, void *arg)
{
    llmux__mock *m = arg;
    exchange *x = calloc(1, sizeof *x);
    if (!x) {
        llmux__mock_conn_drop(conn);
        return;
    }
    x->m = m;
    x->conn = conn;
    x->keep_alive = req->keep_alive;
    x->http_minor = req->http_minor;
    x->call.provider = -1;
    x->step.provider = -1;
    x->step.drop_after_chunks = -1;
    x->step.error_event_after_chunks = -1;
    x->timer = evtimer_new(m->base, timer_cb, x);
    if (!x->timer) {
        free(x);
        llmux__mock_conn_drop(conn);
        return;
    }
    llmux__mock_conn_set_exchange(conn, x);
    route r = find_route(req);
    if (r.kind >= ROUTE_MOCK_HEALTH) {
        handle_mock_route(x, &r, req);
        return;
    }
    x->log = log_add(m, req);
    if (x->log) {
        x->log->ex = x;
        x->log->provider = r.provider;
    }
    if (m->verbose)
        fprintf(stderr, "llmux mock: conn %llu %s %s%s%s (%s)\n", (unsigned long long)req->conn_id,
                req->method, req->path, *req->query ? "?" : "", req->query,
                llmux__mock_provider_name(r.provider));
    if (r.kind == ROUTE_NONE) {
        char msg[600], body[768];
        snprintf(msg, sizeof msg, "Invalid URL (%s %.200s)", req->method, req->path);
        cJSON *root = cJSON_CreateObject();
        cJSON *e = cJSON_AddObjectToObject(root, "error");
        cJSON_AddStringToObject(e, "message", msg);
        cJSON_AddStringToObject(e, "type", "invalid_request_error");
        cJSON_AddNullToObject(e, "param");
        cJSON_AddNullToObject(e, "code");
        char *s = cJSON_PrintUnformatted(root);
        cJSON_Delete(root);
        snprintf(body, sizeof body, "%s", s ? s : "{}");
        free(s);
        respond(x, 404, body, -1);
        return;
    }
    llmux__mock_error err;
    if (!check_auth(m, req, &r, &err)) {
        x->call.provider = r.provider;
        respond_error(x, r.provider, &err);
        return;
    }
    if (r.kind == ROUTE_MODELS) {
        char *body = llmux__mock_wire_models(r.provider);
        respond(x, body ? 200 : 500, body ? body : "{}", r.provider);
        free(body);
        return;
    }
    handle_chat(x, &r, req);
}

static void on_abort(void *ex, void *arg)
{
    (void)arg;
    exchange *x = ex;
    if (x->log) {
        x->log->client_closed = true;
        x->log->closed_at_chunk = x->content_sent;
    }
    exchange_free(x);
}

/* ------------------------------------------------------------------------------------ */
/* lifecycle                                                                              */
/* ------------------------------------------------------------------------------------ */

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    char b[16];
    while (read(fd, b, sizeof b) > 0)
        ;
    event_base_loopbreak(((llmux__mock *)arg)->base);
}

static void *serve(void *arg)
{
    llmux__mock *m = arg;
    /* writes to a closed peer must fail with EPIPE here, not kill the process; process
     * signals (SIGINT, SIGTERM) belong to other threads */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    event_base_dispatch(m->base);
    return NULL;
}

static void mock_free(llmux__mock *m)
{
    llmux__mock_http_free(m->http);
    if (m->stop_ev)
        event_free(m->stop_ev);
    if (m->stop_pipe[0] >= 0)
        close(m->stop_pipe[0]);
    if (m->stop_pipe[1] >= 0)
        close(m->stop_pipe[1]);
    log_clear(m);
    free(m->log);
    llmux__mock_script_clear(&m->script);
    free(m->script.steps);
    for (int i = 0; i < LLMUX__MOCK_PROVIDER_COUNT; i++)
        free(m->keys[i]);
    if (m->base)
        event_base_free(m->base);
    free(m);
}

llmux_code llmux__mock_start(const llmux__mock_options *opts, llmux__mock **out, llmux__error *err)
{
    *out = NULL;
    llmux__mock_options none = {0};
    if (!opts)
        opts = &none;
    llmux__mock *m = calloc(1, sizeof *m);
    if (!m)
        return llmux__error_set(err, LLMUX_ENOMEM, "out of memory");
    m->stop_pipe[0] = m->stop_pipe[1] = -1;
    m->echo = opts->echo;
    m->verbose = opts->verbose;
    m->rng = 0x9E3779B97F4A7C15ULL;
    clock_gettime(CLOCK_MONOTONIC, &m->started);
    m->log_cap = opts->log_limit ? opts->log_limit : DEFAULT_LOG_LIMIT;
    m->log = calloc(m->log_cap, sizeof *m->log);
    llmux_code rc = LLMUX_ENOMEM;
    if (!m->log)
        goto fail_msg;
    for (int i = 0; i < LLMUX__MOCK_PROVIDER_COUNT; i++)
        if (opts->keys[i] && !(m->keys[i] = strdup(opts->keys[i])))
            goto fail_msg;
    struct event_config *cfg = event_config_new();
    if (!cfg)
        goto fail_msg;
    m->base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (!m->base)
        goto fail_msg;
    if (pipe(m->stop_pipe) != 0) {
        rc = llmux__error_set(err, LLMUX_EIO, "pipe: %s", strerror(errno));
        goto fail;
    }
    fcntl(m->stop_pipe[0], F_SETFL, O_NONBLOCK);
    fcntl(m->stop_pipe[0], F_SETFD, FD_CLOEXEC);
    fcntl(m->stop_pipe[1], F_SETFD, FD_CLOEXEC);
    m->stop_ev = event_new(m->base, m->stop_pipe[0], EV_READ | EV_PERSIST, stop_cb, m);
    if (!m->stop_ev || event_add(m->stop_ev, NULL) != 0)
        goto fail_msg;
    char why[256];
    m->http =
        llmux__mock_http_new(m->base, opts->listen ? opts->listen : "127.0.0.1:0", opts->tls_cert,
                             opts->tls_key, on_request, on_abort, m, why, sizeof why);
    if (!m->http) {
        bool bad_input = strncmp(why, "cannot listen", 13) != 0;
        rc = llmux__error_set(err, bad_input ? LLMUX_EINVALID_REQUEST : LLMUX_EIO, "%s", why);
        goto fail;
    }
    if (pthread_create(&m->thread, NULL, serve, m) != 0) {
        rc = llmux__error_set(err, LLMUX_EIO, "cannot start the mock thread");
        goto fail;
    }
    m->thread_started = true;
    *out = m;
    return LLMUX_OK;
fail_msg:
    rc = llmux__error_set(err, LLMUX_ENOMEM, "out of memory");
fail:
    mock_free(m);
    return rc;
}

int llmux__mock_port(const llmux__mock *m)
{
    return llmux__mock_http_port(m->http);
}

void llmux__mock_stop(llmux__mock *m)
{
    if (!m)
        return;
    if (m->thread_started) {
        ssize_t w;
        do {
            w = write(m->stop_pipe[1], "x", 1);
        } while (w < 0 && errno == EINTR);
        pthread_join(m->thread, NULL);
    }
    mock_free(m);
}
