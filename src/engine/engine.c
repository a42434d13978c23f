/*
 * engine.c — see engine.h. libcurl multi bound to libevent, the attempt loop,
 * the streaming first-content gate and warm-ups.
 */
#include "engine/engine.h"

#include "core/wipe.h"

#include <event2/event.h>
#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_MAX_BODY ((size_t)16 << 20)
#define MAX_HEADERS 64
#define HEADER_STORE_MAX 8192 /* response header bytes kept per attempt; more are dropped */

double llmux__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

double llmux__mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* snprintf that may cut the text (detail messages): vsnprintf keeps the compiler
 * from warning about the truncation we accept. */
static void msgf(char *dst, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void msgf(char *dst, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, n, fmt, ap);
    va_end(ap);
}

static void wipe_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

/* curl_slist lines carry the key: wipe them before freeing. */
static void slist_wipe_free(struct curl_slist *l)
{
    for (struct curl_slist *i = l; i; i = i->next)
        if (i->data)
            explicit_bzero(i->data, strlen(i->data));
    curl_slist_free_all(l);
}

/* Every easy handle's PRIVATE points to a struct starting with this tag. */
enum transfer_kind { TRANSFER_CALL = 1, TRANSFER_WARM = 2 };

typedef struct warm {
    enum transfer_kind kind;
    struct warm *prev, *next;
    llmux__engine *engine;
    CURL *easy;
    struct curl_slist *headers;
    llmux__http_request http;
    llmux__provider provider; /* for the SSRF guard */
    char *base_url;           /* copy, NULL: the provider's default */
} warm;

enum abort_reason {
    ABORT_NONE = 0,
    ABORT_TOO_LARGE,
    ABORT_STREAM_ERROR,
    ABORT_CANCELLED,
    ABORT_FIRST_TOKEN
};

struct llmux__call {
    enum transfer_kind kind;
    llmux__call *prev, *next;
    llmux__engine *engine;
    const llmux__request *req;
    llmux__plan plan;
    llmux__provider_config *configs; /* copies, one per chain entry */
    size_t n_configs;
    llmux__call_callbacks cb;
    llmux__attempt_log *log;
    size_t n_log;

    size_t step; /* current plan step */
    struct event *delay_timer;
    struct event *ftt_timer;

    /* the attempt in flight */
    CURL *easy;
    struct curl_slist *headers;
    llmux__http_request http;
    long status;
    double started;    /* llmux__mono() at attempt start */
    double first_byte; /* llmux__mono() of the first body byte, < 0 before */
    llmux__buf body;
    char *header_store; /* "name\0value\0..." of the response headers, grown on demand
                           (most answers need < 1 KiB: an 8 KiB array in every call was a
                           quarter of an open stream's memory); freed with the call */
    size_t header_cap;
    size_t header_used;
    llmux__header hdrs[MAX_HEADERS];
    size_t n_hdrs;
    llmux__stream *stream;
    enum abort_reason abort;
    llmux__upstream_error uerr; /* the attempt's failure */
    bool addr_denied;           /* the SSRF guard refused an address of this attempt */
    char addr_why[200];

    /* streaming gate */
    bool committed;
    bool have_finish, have_usage;
    llmux__delta stash_finish, stash_usage;
    bool paused;

    bool finished;  /* on_done delivered */
    bool cancelled; /* no callbacks any more */
    int in_cb;      /* inside a curl callback for this call */
};

struct llmux__engine {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    llmux__engine_options opt;
    llmux__call *calls;
    warm *warms;
    size_t n_active;
};

/* ---- shared DNS / TLS-session cache ------------------------------------------- */

struct llmux__share {
    CURLSH *share;
    pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
};

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ud)
{
    (void)h;
    (void)access;
    llmux__share *s = ud;
    if ((unsigned)data < CURL_LOCK_DATA_LAST)
        pthread_mutex_lock(&s->locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ud)
{
    (void)h;
    llmux__share *s = ud;
    if ((unsigned)data < CURL_LOCK_DATA_LAST)
        pthread_mutex_unlock(&s->locks[data]);
}

static void global_init(void)
{
    /* Every buffer curl frees is zeroed first: its request headers carry keys. */
    curl_global_init_mem(CURL_GLOBAL_DEFAULT, malloc, llmux__wipe_free, llmux__wipe_realloc, strdup,
                         calloc);
}

llmux__share *llmux__engine_share_new(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, global_init);
    llmux__share *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&s->locks[i], NULL);
    s->share = curl_share_init();
    if (!s->share) {
        llmux__engine_share_free(s);
        return NULL;
    }
    curl_share_setopt(s->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(s->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(s->share, CURLSHOPT_USERDATA, s);
    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    return s;
}

void llmux__engine_share_free(llmux__share *s)
{
    if (!s)
        return;
    if (s->share)
        curl_share_cleanup(s->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&s->locks[i]);
    free(s);
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * nmemb;
}

/* ---- curl <-> libevent glue ----------------------------------------------------- */

static void check_multi_info(llmux__engine *e);

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
    llmux__engine *e = arg;
    int action =
        ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    int running = 0;
    curl_multi_socket_action(e->multi, fd, action, &running);
    check_multi_info(e);
}

static void on_curl_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    llmux__engine *e = arg;
    int running = 0;
    curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_multi_info(e);
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    llmux__engine *e = userp;
    struct event *ev = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (ev) {
            event_free(ev);
            curl_multi_assign(e->multi, s, NULL);
        }
        return 0;
    }
    short kind = (short)(((what & CURL_POLL_IN) ? EV_READ : 0) |
                         ((what & CURL_POLL_OUT) ? EV_WRITE : 0) | EV_PERSIST);
    if (!ev) {
        ev = event_new(e->base, s, kind, on_socket_event, e);
        if (!ev)
            return -1;
        curl_multi_assign(e->multi, s, ev);
    } else {
        event_del(ev);
        event_assign(ev, e->base, s, kind, on_socket_event, e);
    }
    event_add(ev, NULL);
    return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    llmux__engine *e = userp;
    if (timeout_ms < 0) {
        evtimer_del(e->timer);
    } else {
        struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        evtimer_add(e->timer, &tv);
    }
    return 0;
}

llmux__engine *llmux__engine_new(struct event_base *base, const llmux__engine_options *opt)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, global_init);
    llmux__engine *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->base = base;
    if (opt)
        e->opt = *opt;
    if (!e->opt.max_upstream_body)
        e->opt.max_upstream_body = DEFAULT_MAX_BODY;
    if (!e->opt.connect_timeout_ms)
        e->opt.connect_timeout_ms = 10000;
    if (!(e->opt.default_timeout_s > 0))
        e->opt.default_timeout_s = 600;
    e->multi = curl_multi_init();
    e->timer = evtimer_new(base, on_curl_timeout, e);
    if (!e->multi || !e->timer) {
        llmux__engine_free(e);
        return NULL;
    }
    curl_multi_setopt(e->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(e->multi, CURLMOPT_SOCKETDATA, e);
    curl_multi_setopt(e->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(e->multi, CURLMOPT_TIMERDATA, e);
    curl_multi_setopt(e->multi, CURLMOPT_MAXCONNECTS, 512L);
    if (e->opt.max_host_connections > 0)
        curl_multi_setopt(e->multi, CURLMOPT_MAX_HOST_CONNECTIONS, e->opt.max_host_connections);
    return e;
}

/* CURLOPT_OPENSOCKETFUNCTION, set only when opt.allow_connect is: the SSRF guard sees
 * every address curl is about to connect to (each one tried, after DNS). Refusing
 * returns CURL_SOCKET_BAD, so curl never connects; when every address is refused the
 * transfer ends with CURLE_COULDNT_CONNECT and transfer_done reports addr_why. */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    (void)purpose;
    llmux__engine *e;
    llmux__provider provider;
    const char *base_url;
    llmux__call *c = NULL;
    if (*(enum transfer_kind *)clientp == TRANSFER_CALL) {
        c = clientp;
        const llmux__plan_step *s = &c->plan.steps[c->step];
        e = c->engine;
        provider = s->params->provider;
        base_url = c->configs[s->chain_index].base_url;
    } else {
        warm *w = clientp;
        e = w->engine;
        provider = w->provider;
        base_url = w->base_url;
    }
    char why[200] = "";
    if (!e->opt.allow_connect(e->opt.allow_connect_ud, provider, base_url, &a->addr, why,
                              sizeof why)) {
        if (c) {
            c->addr_denied = true;
            msgf(c->addr_why, sizeof c->addr_why, "%s",
                 why[0] ? why : "base_url: the address is not allowed on this proxy");
        }
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype, a->protocol);
}

/* ---- provider config copies ------------------------------------------------------ */

static void config_free(llmux__provider_config *c)
{
    wipe_free((char *)c->api_key);
    free((char *)c->base_url);
    free((char *)c->api_version);
    free((char *)c->anthropic_version);
    memset(c, 0, sizeof *c);
}

static bool config_copy(llmux__provider_config *dst, const llmux__provider_config *src)
{
    *dst = *src;
    dst->api_key = src->api_key ? strdup(src->api_key) : NULL;
    dst->base_url = src->base_url ? strdup(src->base_url) : NULL;
    dst->api_version = src->api_version ? strdup(src->api_version) : NULL;
    dst->anthropic_version = src->anthropic_version ? strdup(src->anthropic_version) : NULL;
    if ((src->api_key && !dst->api_key) || (src->base_url && !dst->base_url) ||
        (src->api_version && !dst->api_version) ||
        (src->anthropic_version && !dst->anthropic_version)) {
        config_free(dst);
        return false;
    }
    return true;
}

/* ---- attempts -------------------------------------------------------------------- */

static void start_step(llmux__call *c);
static void attempt_failed(llmux__call *c);

/* Releases what the attempt in flight holds (the easy handle must already be out of
 * the multi handle, or never added). */
static void attempt_cleanup(llmux__call *c)
{
    if (c->easy) {
        curl_easy_cleanup(c->easy);
        c->easy = NULL;
    }
    slist_wipe_free(c->headers);
    c->headers = NULL;
    llmux__http_request_free(&c->http);
    llmux__stream_free(c->stream);
    c->stream = NULL;
    llmux__buf_clear(&c->body);
    if (c->ftt_timer)
        evtimer_del(c->ftt_timer);
    c->header_used = 0;
    c->n_hdrs = 0;
    c->status = 0;
    c->abort = ABORT_NONE;
    c->have_finish = c->have_usage = false;
    c->paused = false;
}

static void call_free(llmux__call *c)
{
    llmux__engine *e = c->engine;
    if (c->easy)
        curl_multi_remove_handle(e->multi, c->easy);
    attempt_cleanup(c);
    llmux__buf_free(&c->body);
    free(c->header_store);
    if (c->delay_timer)
        event_free(c->delay_timer);
    if (c->ftt_timer)
        event_free(c->ftt_timer);
    for (size_t i = 0; i < c->n_configs; i++)
        config_free(&c->configs[i]);
    free(c->configs);
    free(c->log);
    llmux__plan_free(&c->plan);
    if (c->prev)
        c->prev->next = c->next;
    else
        e->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    e->n_active--;
    free(c);
}

static void deliver(llmux__call *c, llmux__call_result *r)
{
    if (c->finished || c->cancelled)
        return;
    c->finished = true;
    r->attempts = c->log;
    r->n_attempts = c->n_log;
    if (c->cb.on_done)
        c->cb.on_done(c->cb.ud, r);
}

static llmux__attempt_log *log_attempt(llmux__call *c, llmux_code error, const char *message)
{
    const llmux__plan_step *s = &c->plan.steps[c->step];
    llmux__attempt_log *a = &c->log[c->n_log++];
    a->provider = s->params->provider;
    a->model = s->params->model;
    a->chain_index = s->chain_index;
    a->attempt = s->attempt;
    a->status = (int)c->status;
    a->error = error;
    double end = llmux__mono();
    a->latency_ms = (end - c->started) * 1000.0;
    a->ttfb_ms = c->first_byte >= 0 ? (c->first_byte - c->started) * 1000.0 : -1;
    msgf(a->message, sizeof a->message, "%s", message ? message : "");
    if (c->cb.on_attempt)
        c->cb.on_attempt(c->cb.ud, a);
    return a;
}

static void commit_stream(llmux__call *c)
{
    c->committed = true;
    if (c->ftt_timer)
        evtimer_del(c->ftt_timer);
    const llmux__plan_step *s = &c->plan.steps[c->step];
    if (c->cb.on_stream_start)
        c->cb.on_stream_start(c->cb.ud, s->params->provider, s->params->model);
}

static void finish_stream_ok(llmux__call *c)
{
    const llmux__plan_step *s = &c->plan.steps[c->step];
    log_attempt(c, LLMUX_OK, NULL);
    llmux__call_result r = {0};
    r.code = LLMUX_OK;
    r.provider = s->params->provider;
    r.model = s->params->model;
    deliver(c, &r);
}

/* Deltas of a streamed attempt: the first-content gate. Returns non-zero to stop. */
static int stream_sink(void *ud, const llmux__delta *d)
{
    llmux__call *c = ud;
    if (c->cancelled || c->finished)
        return 1;
    switch (d->kind) {
    case LLMUX__DELTA_PREAMBLE:
        return 0;
    case LLMUX__DELTA_TEXT:
    case LLMUX__DELTA_TOOL_CALL_START:
    case LLMUX__DELTA_TOOL_CALL_ARGS:
        if (!c->committed)
            commit_stream(c);
        if (c->cancelled)
            return 1;
        if (c->cb.on_delta && c->cb.on_delta(c->cb.ud, d) != 0) {
            c->cancelled = true;
            c->abort = ABORT_CANCELLED;
            return 1;
        }
        return c->cancelled ? 1 : 0;
    case LLMUX__DELTA_FINISH:
    case LLMUX__DELTA_USAGE:
        if (!c->committed) {
            /* Held until the attempt turns out to succeed (an answer with no content
             * at all commits at DONE). */
            if (d->kind == LLMUX__DELTA_FINISH) {
                c->stash_finish = *d;
                c->have_finish = true;
            } else {
                c->stash_usage = *d;
                c->have_usage = true;
            }
            return 0;
        }
        if (c->cb.on_delta && c->cb.on_delta(c->cb.ud, d) != 0) {
            c->cancelled = true;
            c->abort = ABORT_CANCELLED;
            return 1;
        }
        return c->cancelled ? 1 : 0;
    case LLMUX__DELTA_ERROR:
        if (d->error)
            c->uerr = *d->error;
        else
            llmux__upstream_error_clear(&c->uerr);
        if (c->uerr.code == LLMUX_OK) {
            c->uerr.code = LLMUX_EUPSTREAM;
            c->uerr.retryable = true;
        }
        c->abort = ABORT_STREAM_ERROR;
        return 1;
    case LLMUX__DELTA_DONE:
        if (!c->committed) {
            commit_stream(c);
            if (c->cancelled)
                return 1;
            /* The held-back FINISH / USAGE of an answer without content: a non-zero
             * return from on_delta cancels, exactly as on the normal path. */
            const llmux__delta *held[2] = {c->have_finish ? &c->stash_finish : NULL,
                                           c->have_usage ? &c->stash_usage : NULL};
            for (int i = 0; i < 2; i++) {
                if (!held[i] || !c->cb.on_delta)
                    continue;
                if (c->cb.on_delta(c->cb.ud, held[i]) != 0) {
                    c->cancelled = true;
                    c->abort = ABORT_CANCELLED;
                }
                if (c->cancelled)
                    return 1;
            }
        }
        finish_stream_ok(c);
        return 0;
    }
    return 0;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    llmux__call *c = ud;
    size_t n = size * nmemb;
    if (c->cancelled)
        return 0;
    if (c->finished)
        return n; /* bytes after the stream's proper end: ignore */
    if (c->first_byte < 0)
        c->first_byte = llmux__mono();
    if (!c->status)
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->status);
    if (c->req->stream && c->status >= 200 && c->status < 300) {
        if (c->paused)
            return CURL_WRITEFUNC_PAUSE;
        if (!c->stream && !(c->stream = llmux__stream_new(
                                llmux__adapter_for(c->plan.steps[c->step].params->provider))))
            return 0;
        c->in_cb++;
        llmux__stream_feed(c->stream, ptr, n, stream_sink, c);
        c->in_cb--;
        if (c->abort != ABORT_NONE || c->cancelled)
            return 0;
        return n;
    }
    if (c->body.len + n > c->engine->opt.max_upstream_body) {
        c->abort = ABORT_TOO_LARGE;
        return 0;
    }
    if (!llmux__buf_append(&c->body, ptr, n))
        return 0;
    return n;
}

/* Grows the header store to hold `need` bytes (<= HEADER_STORE_MAX), keeping the
 * collected headers' pointers valid. False on ENOMEM. */
static bool grow_header_store(llmux__call *c, size_t need)
{
    size_t cap = c->header_cap ? c->header_cap : 1024;
    while (cap < need)
        cap *= 2;
    if (cap > HEADER_STORE_MAX)
        cap = HEADER_STORE_MAX;
    size_t name_off[MAX_HEADERS], value_off[MAX_HEADERS];
    for (size_t i = 0; i < c->n_hdrs; i++) {
        name_off[i] = (size_t)(c->hdrs[i].name - c->header_store);
        value_off[i] = (size_t)(c->hdrs[i].value - c->header_store);
    }
    char *p = realloc(c->header_store, cap);
    if (!p)
        return false;
    c->header_store = p;
    c->header_cap = cap;
    for (size_t i = 0; i < c->n_hdrs; i++) {
        c->hdrs[i].name = p + name_off[i];
        c->hdrs[i].value = p + value_off[i];
    }
    return true;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *ud)
{
    llmux__call *c = ud;
    size_t n = size * nmemb;
    if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) { /* a new response (after 100, ...) */
        c->header_used = 0;
        c->n_hdrs = 0;
        return n;
    }
    const char *colon = memchr(line, ':', n);
    if (!colon || c->n_hdrs >= MAX_HEADERS)
        return n;
    size_t nlen = (size_t)(colon - line);
    const char *v = colon + 1;
    const char *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t vlen = (size_t)(end - v);
    size_t need = c->header_used + nlen + vlen + 2;
    if (need > HEADER_STORE_MAX || (need > c->header_cap && !grow_header_store(c, need)))
        return n;
    char *name = c->header_store + c->header_used;
    memcpy(name, line, nlen);
    name[nlen] = '\0';
    char *value = name + nlen + 1;
    memcpy(value, v, vlen);
    value[vlen] = '\0';
    c->header_used += nlen + vlen + 2;
    c->hdrs[c->n_hdrs].name = name;
    c->hdrs[c->n_hdrs].value = value;
    c->n_hdrs++;
    return n;
}

static void on_first_token_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    llmux__call *c = arg;
    if (c->committed || c->finished || c->cancelled || !c->easy)
        return;
    curl_multi_remove_handle(c->engine->multi, c->easy);
    llmux__upstream_error_clear(&c->uerr);
    c->uerr.code = LLMUX_ETIMEOUT;
    c->uerr.retryable = true;
    snprintf(c->uerr.message, sizeof c->uerr.message,
             "no content within first_token_timeout (%.3g s)",
             c->plan.steps[c->step].params->first_token_timeout);
    attempt_failed(c);
}

static void on_delay_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    start_step(arg);
}

/* Builds and adds the transfer for plan step c->step. */
static void start_step(llmux__call *c)
{
    llmux__engine *e = c->engine;
    const llmux__plan_step *s = &c->plan.steps[c->step];
    const llmux__params *p = s->params;
    const llmux__adapter *a = llmux__adapter_for(p->provider);
    llmux__error err;
    llmux__error_clear(&err);
    llmux__upstream_error_clear(&c->uerr);
    c->started = llmux__mono();
    c->first_byte = -1;
    c->status = 0;
    c->addr_denied = false;

    llmux_code rc = a ? a->build_request(p, c->req, &c->configs[s->chain_index], &c->http, &err)
                      : LLMUX_EINVALID_REQUEST;
    if (rc != LLMUX_OK) {
        c->uerr.code = rc == LLMUX_ENOMEM ? LLMUX_ENOMEM : LLMUX_EINVALID_REQUEST;
        c->uerr.retryable = false;
        msgf(c->uerr.message, sizeof c->uerr.message, "%s", err.message);
        attempt_failed(c);
        return;
    }
    CURL *h = curl_easy_init();
    if (!h)
        goto nomem;
    c->easy = h;
    for (size_t i = 0; i < c->http.n_headers; i++) {
        struct curl_slist *l = curl_slist_append(c->headers, c->http.headers[i]);
        if (!l)
            goto nomem;
        c->headers = l;
    }
    /* No "Expect: 100-continue" round trip before the body. */
    struct curl_slist *l = curl_slist_append(c->headers, "Expect:");
    if (!l)
        goto nomem;
    c->headers = l;

    curl_easy_setopt(h, CURLOPT_URL, c->http.url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
    if (c->http.body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->http.body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->http.body_len);
    }
    if (strcmp(c->http.method, "POST") != 0)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->http.method);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(h, CURLOPT_PRIVATE, c);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, e->opt.connect_timeout_ms);
    double timeout = (p->set & LLMUX__F_TIMEOUT) ? p->timeout : e->opt.default_timeout_s;
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)ceil(timeout * 1000.0));
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    /* SSE events are small: a 2 KiB read buffer instead of curl's 16 KiB keeps an open
     * stream's memory down (bench/README.md, part 4; an event longer than one read is
     * joined by the SSE parser; the cost per chunk did not move in callgrind) */
    if (c->req->stream)
        curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 2048L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (e->opt.share)
        curl_easy_setopt(h, CURLOPT_SHARE, e->opt.share->share);
    if (e->opt.ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, e->opt.ca_file);
    if (e->opt.tls_insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (e->opt.allow_connect) {
        curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
        curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, c);
    }
    if (c->req->stream && (p->set & LLMUX__F_FIRST_TOKEN_TIMEOUT)) {
        double ftt = p->first_token_timeout;
        struct timeval tv = {(time_t)ftt, (suseconds_t)((ftt - floor(ftt)) * 1e6)};
        evtimer_add(c->ftt_timer, &tv);
    }
    if (curl_multi_add_handle(e->multi, h) != CURLM_OK)
        goto nomem;
    return;
nomem:
    attempt_cleanup(c);
    c->uerr.code = LLMUX_ENOMEM;
    c->uerr.retryable = false;
    snprintf(c->uerr.message, sizeof c->uerr.message, "out of memory starting the attempt");
    attempt_failed(c);
}

/* Replaces the key in s (NUL-terminated, cap bytes, at most 512) by "<redacted>":
 * every whole occurrence, and a prefix of it (4 bytes or more) that ends s, as left by
 * an earlier cut. An upstream may echo the key it was sent in its error message
 * ("invalid x-api-key: sk-…"), and that text goes on to the attempt log, the client's
 * error and the proxy's logs. Keys shorter than 4 bytes are left alone. */
static void redact_key(char *s, size_t cap, const char *key)
{
    size_t kl = key ? strlen(key) : 0;
    if (kl < 4 || cap > 512)
        return;
    char out[512];
    size_t o = 0;
    bool changed = false;
    for (const char *p = s; *p && o + 1 < cap;) {
        size_t rest = strlen(p);
        size_t m = rest >= kl ? (strncmp(p, key, kl) == 0 ? kl : 0)
                              : (rest >= 4 && strncmp(p, key, rest) == 0 ? rest : 0);
        if (m) {
            for (const char *r = "<redacted>"; *r && o + 1 < cap; r++)
                out[o++] = *r;
            p += m;
            changed = true;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
    if (changed)
        memcpy(s, out, o + 1);
    explicit_bzero(out, sizeof out);
}

/* A call whose end was delivered and whose transfer is over belongs to nobody: free it
 * now (engine.h: "freed when its transfer is over"). Every path into attempt_failed has
 * the transfer out of the multi handle already (transfer_done, the first-token timer,
 * start_step); a call still inside a curl callback is freed by transfer_done. */
static void release_ended(llmux__call *c)
{
    if (c->finished && !c->easy && !c->in_cb)
        call_free(c);
}

/* The attempt in flight failed with c->uerr (the easy handle is out of the multi). */
static void attempt_failed(llmux__call *c)
{
    const llmux__plan_step *s = &c->plan.steps[c->step];
    /* Upstream text must not carry the attempt's key any further. */
    const char *key = c->configs[s->chain_index].api_key;
    redact_key(c->uerr.message, sizeof c->uerr.message, key);
    redact_key(c->uerr.type, sizeof c->uerr.type, key);
    redact_key(c->uerr.param, sizeof c->uerr.param, key);
    if (c->committed) {
        /* After the first chunk: no retry, no fallback. */
        log_attempt(c, LLMUX_ESTREAM_INTERRUPTED, c->uerr.message);
        llmux__call_result r = {0};
        r.code = LLMUX_ESTREAM_INTERRUPTED;
        msgf(r.message, sizeof r.message, "%s stream interrupted after the first chunk: %s",
             llmux__provider_name(s->params->provider),
             c->uerr.message[0] ? c->uerr.message : llmux_strerror(c->uerr.code));
        r.provider = s->params->provider;
        r.model = s->params->model;
        r.upstream = &c->uerr;
        attempt_cleanup(c);
        deliver(c, &r);
        release_ended(c);
        return;
    }
    log_attempt(c, c->uerr.code, c->uerr.message);
    attempt_cleanup(c);
    if (c->cancelled)
        return;

    size_t next = c->step + 1;
    double delay = 0;
    if (c->uerr.retryable && next < c->plan.n_steps &&
        c->plan.steps[next].chain_index == s->chain_index) {
        delay = c->plan.steps[next].delay_before_s;
        if (c->uerr.retry_after_s > delay)
            delay = c->uerr.retry_after_s;
    } else {
        while (next < c->plan.n_steps && c->plan.steps[next].chain_index == s->chain_index)
            next++;
        if (next < c->plan.n_steps)
            delay = c->plan.steps[next].delay_before_s;
    }
    if (next >= c->plan.n_steps) {
        llmux__call_result r = {0};
        r.code = c->uerr.code == LLMUX_ETIMEOUT ? LLMUX_ETIMEOUT : LLMUX_EALL_PROVIDERS_FAILED;
        if (c->uerr.code == LLMUX_ENOMEM)
            r.code = LLMUX_ENOMEM;
        snprintf(r.message, sizeof r.message,
                 r.code == LLMUX_ETIMEOUT
                     ? "every attempt failed; the last one timed out (%zu attempts)"
                     : "every attempt failed (%zu attempts)",
                 c->n_log);
        r.upstream = &c->uerr;
        deliver(c, &r);
        release_ended(c);
        return;
    }
    c->step = next;
    struct timeval tv = {(time_t)delay, (suseconds_t)((delay - floor(delay)) * 1e6)};
    evtimer_add(c->delay_timer, &tv);
}

/* One transfer ended (curl says so). */
static void transfer_done(llmux__call *c, CURLcode res)
{
    llmux__engine *e = c->engine;
    curl_multi_remove_handle(e->multi, c->easy);
    if (!c->status)
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->status);
    if (c->cancelled) {
        call_free(c);
        return;
    }
    if (c->finished) { /* the stream's end was already delivered */
        call_free(c);
        return;
    }
    bool ok2xx = c->status >= 200 && c->status < 300;
    if (c->req->stream && ok2xx && res == CURLE_OK && c->abort == ABORT_NONE) {
        if (!c->stream)
            c->stream =
                llmux__stream_new(llmux__adapter_for(c->plan.steps[c->step].params->provider));
        if (c->stream) {
            c->in_cb++;
            llmux__stream_finish(c->stream, stream_sink, c);
            c->in_cb--;
        }
        if (c->finished || c->cancelled) {
            call_free(c);
            return;
        }
        if (c->abort == ABORT_NONE) { /* ended without DONE or ERROR */
            llmux__upstream_error_clear(&c->uerr);
            c->uerr.code = LLMUX_EUPSTREAM;
            c->uerr.retryable = true;
            snprintf(c->uerr.message, sizeof c->uerr.message, "upstream stream ended early");
        }
        attempt_failed(c);
        return;
    }
    if (c->abort == ABORT_STREAM_ERROR) {
        attempt_failed(c);
        return;
    }
    if (res != CURLE_OK) {
        llmux__upstream_error_clear(&c->uerr);
        c->uerr.http_status = (int)c->status;
        if (c->addr_denied) { /* the SSRF guard: a request error, not the upstream's */
            c->uerr.code = LLMUX_EINVALID_REQUEST;
            c->uerr.retryable = false;
            msgf(c->uerr.message, sizeof c->uerr.message, "%s", c->addr_why);
        } else if (c->abort == ABORT_TOO_LARGE) {
            c->uerr.code = LLMUX_EUPSTREAM;
            c->uerr.retryable = false;
            snprintf(c->uerr.message, sizeof c->uerr.message,
                     "upstream response larger than %zu bytes", e->opt.max_upstream_body);
        } else if (res == CURLE_OPERATION_TIMEDOUT) {
            c->uerr.code = LLMUX_ETIMEOUT;
            c->uerr.retryable = true;
            snprintf(c->uerr.message, sizeof c->uerr.message, "attempt timed out after %.3g s",
                     (c->plan.steps[c->step].params->set & LLMUX__F_TIMEOUT)
                         ? c->plan.steps[c->step].params->timeout
                         : e->opt.default_timeout_s);
        } else {
            c->uerr.code = LLMUX_EUPSTREAM;
            c->uerr.retryable = true;
            snprintf(c->uerr.message, sizeof c->uerr.message, "%s", curl_easy_strerror(res));
        }
        attempt_failed(c);
        return;
    }
    const llmux__adapter *a = llmux__adapter_for(c->plan.steps[c->step].params->provider);
    llmux__response *resp = NULL;
    llmux_code rc =
        a->parse_response((int)c->status, c->hdrs, c->n_hdrs, c->body.p ? c->body.p : "",
                          c->body.len, llmux__now(), &resp, &c->uerr);
    if (rc != LLMUX_OK) {
        attempt_failed(c);
        return;
    }
    const llmux__plan_step *s = &c->plan.steps[c->step];
    log_attempt(c, LLMUX_OK, NULL);
    llmux__call_result r = {0};
    r.code = LLMUX_OK;
    r.response = resp;
    r.provider = s->params->provider;
    r.model = s->params->model;
    deliver(c, &r);
    llmux__response_free(r.response);
    call_free(c);
}

static void warm_free(warm *w)
{
    llmux__engine *e = w->engine;
    if (w->easy) {
        curl_multi_remove_handle(e->multi, w->easy);
        curl_easy_cleanup(w->easy);
    }
    slist_wipe_free(w->headers);
    llmux__http_request_free(&w->http);
    free(w->base_url);
    if (w->prev)
        w->prev->next = w->next;
    else
        e->warms = w->next;
    if (w->next)
        w->next->prev = w->prev;
    e->n_active--;
    free(w);
}

static void check_multi_info(llmux__engine *e)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(e->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        void *priv = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        if (!priv)
            continue;
        CURLcode res = msg->data.result;
        if (*(enum transfer_kind *)priv == TRANSFER_WARM)
            warm_free(priv);
        else
            transfer_done(priv, res);
    }
}

/* ---- public API ------------------------------------------------------------------- */

llmux_code llmux__engine_call(llmux__engine *e, const llmux__request *req,
                              const llmux__provider_config *configs, size_t n_configs,
                              const llmux__call_callbacks *cb, llmux__call **out, llmux__error *err)
{
    *out = NULL;
    if (n_configs != 1 + req->n_fallbacks)
        return llmux__error_set(err, LLMUX_EINVALID_REQUEST, "one provider config per chain entry");
    llmux__call *c = calloc(1, sizeof *c);
    if (!c)
        return llmux__error_set(err, LLMUX_ENOMEM, "out of memory");
    c->kind = TRANSFER_CALL;
    c->engine = e;
    c->req = req;
    c->cb = *cb;
    c->first_byte = -1;
    llmux__buf_init(&c->body);
    c->next = e->calls;
    if (e->calls)
        e->calls->prev = c;
    e->calls = c;
    e->n_active++;
    if (llmux__plan_build(req, &c->plan, err) != LLMUX_OK)
        goto fail;
    c->log = calloc(c->plan.n_steps, sizeof *c->log);
    c->configs = calloc(n_configs, sizeof *c->configs);
    c->delay_timer = evtimer_new(e->base, on_delay_timer, c);
    c->ftt_timer = evtimer_new(e->base, on_first_token_timeout, c);
    if (!c->log || !c->configs || !c->delay_timer || !c->ftt_timer) {
        llmux__error_set(err, LLMUX_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n_configs; i++) {
        if (!config_copy(&c->configs[i], &configs[i])) {
            llmux__error_set(err, LLMUX_ENOMEM, "out of memory");
            goto fail;
        }
        c->n_configs = i + 1;
    }
    /* Start from the loop, so no callback ever runs inside this function. */
    event_active(c->delay_timer, EV_TIMEOUT, 0);
    *out = c;
    return LLMUX_OK;
fail:
    c->cancelled = true;
    call_free(c);
    return err->code;
}

void llmux__call_cancel(llmux__call *c)
{
    if (!c || c->cancelled)
        return;
    c->cancelled = true;
    if (c->in_cb)
        return; /* the write callback aborts the transfer; transfer_done frees */
    if (c->finished && c->easy)
        return; /* already delivered; freed when the transfer ends */
    call_free(c);
}

void llmux__call_pause(llmux__call *c, bool paused)
{
    if (!c || c->cancelled || c->finished)
        return;
    bool was = c->paused;
    c->paused = paused;
    if (was && !paused && c->easy && !c->in_cb)
        curl_easy_pause(c->easy, CURLPAUSE_CONT);
}

llmux_code llmux__engine_warm(llmux__engine *e, const llmux__provider_config *cfg)
{
    const llmux__adapter *a = llmux__adapter_for(cfg->provider);
    if (!a || !a->warm_request)
        return LLMUX_EINVALID_REQUEST;
    warm *w = calloc(1, sizeof *w);
    if (!w)
        return LLMUX_ENOMEM;
    w->kind = TRANSFER_WARM;
    w->engine = e;
    w->provider = cfg->provider;
    w->next = e->warms;
    if (e->warms)
        e->warms->prev = w;
    e->warms = w;
    e->n_active++;
    llmux__error err;
    if (a->warm_request(cfg, &w->http, &err) != LLMUX_OK)
        goto fail;
    if (cfg->base_url && !(w->base_url = strdup(cfg->base_url)))
        goto fail;
    if (!(w->easy = curl_easy_init()))
        goto fail;
    for (size_t i = 0; i < w->http.n_headers; i++) {
        struct curl_slist *l = curl_slist_append(w->headers, w->http.headers[i]);
        if (!l)
            goto fail;
        w->headers = l;
    }
    curl_easy_setopt(w->easy, CURLOPT_URL, w->http.url);
    curl_easy_setopt(w->easy, CURLOPT_HTTPHEADER, w->headers);
    curl_easy_setopt(w->easy, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(w->easy, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(w->easy, CURLOPT_PRIVATE, w);
    curl_easy_setopt(w->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(w->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(w->easy, CURLOPT_CONNECTTIMEOUT_MS, e->opt.connect_timeout_ms);
    curl_easy_setopt(w->easy, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(w->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    if (e->opt.allow_connect) {
        curl_easy_setopt(w->easy, CURLOPT_OPENSOCKETFUNCTION, open_socket);
        curl_easy_setopt(w->easy, CURLOPT_OPENSOCKETDATA, w);
    }
    if (e->opt.share)
        curl_easy_setopt(w->easy, CURLOPT_SHARE, e->opt.share->share);
    if (e->opt.ca_file)
        curl_easy_setopt(w->easy, CURLOPT_CAINFO, e->opt.ca_file);
    if (e->opt.tls_insecure) {
        curl_easy_setopt(w->easy, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(w->easy, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (curl_multi_add_handle(e->multi, w->easy) != CURLM_OK)
        goto fail;
    return LLMUX_OK;
fail:
    if (w->easy) {
        curl_easy_cleanup(w->easy);
        w->easy = NULL;
    }
    warm_free(w);
    return LLMUX_ENOMEM;
}

size_t llmux__engine_active(const llmux__engine *e)
{
    return e->n_active;
}

void llmux__engine_free(llmux__engine *e)
{
    if (!e)
        return;
    while (e->calls) {
        e->calls->cancelled = true;
        call_free(e->calls);
    }
    while (e->warms)
        warm_free(e->warms);
    if (e->multi)
        curl_multi_cleanup(e->multi);
    if (e->timer)
        event_free(e->timer);
    free(e);
}
