/*
 * server.c — see server.h. Routes, the chat completion exchange (non-streaming and
 * streaming), workers, warm-up broadcast and graceful shutdown.
 */
#include "server/server.h"

#include "core/request.h"
#include "core/response.h"
#include "core/secret.h"
#include "core/sentence.h"
#include "core/wipe.h"
#include "engine/engine.h"
#include "providers/provider.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/sessions.h"
#include "server/tokens.h"
#include "server/url_policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_WORKERS 64

typedef struct server server;
typedef struct worker worker;

/* A job posted to a worker's mailbox from another thread. */
typedef enum job_kind { JOB_WARM, JOB_STOP_ACCEPTING, JOB_EXIT } job_kind;

typedef struct job {
    job_kind kind;
    struct job *next;
    llmux__provider_config cfg; /* JOB_WARM: owned copies */
} job;

struct worker {
    server *srv;
    int index;
    pthread_t thread;
    struct event_base *base;
    llmux__engine *engine;
    llmux__http_server *http;
    evutil_socket_t fd;
    struct event *wake;
    pthread_mutex_t lock;
    job *jobs;
    size_t inflight;
    atomic_size_t busy; /* readable from the main thread while draining */
    uint64_t next_exchange;
};

struct server {
    llmux__server_config cfg;
    worker workers[MAX_WORKERS];
    int n_workers;
    llmux__session_store *sessions;
    llmux__managed_keys *keys;
    llmux__metrics *metrics;
    llmux__share *share;
    llmux__token_set *token_set;
    llmux__base_url_policy *url_policy; /* customers' base_urls (SSRF guard) */
    struct event *sweep; /* on worker 0: expires idle sessions */
    char host[256];
    int port;
    atomic_size_t *streams_per_token; /* n_tokens + 1 counters */
    uint64_t id_seed;
};

/* ---- exchanges ---------------------------------------------------------------------- */

typedef struct exchange {
    worker *w;
    llmux__http_conn *conn;
    llmux__request *req;
    llmux__call *call;
    double t0;
    char token_index_set;
    size_t token_index;
    const char *token; /* borrowed from the config, "" when none */
    char session[136];
    char id[64]; /* chat completion / chunk id */
    int64_t created;
    /* streaming */
    bool started;
    bool counted_stream;
    llmux__sentencer *sentencer;
    bool text_flushed_for_tools;
    llmux__chunk_meta meta;
    char provider_name[16];
    const char *model; /* borrowed from req */
    llmux__buf out;
    double ttfb_ms; /* first byte to the client, < 0 before */
} exchange;

static void exchange_free(exchange *x)
{
    if (!x)
        return;
    if (x->counted_stream)
        atomic_fetch_sub(&x->w->srv->streams_per_token[x->token_index], 1);
    if (x->started)
        llmux__metrics_streams_open_add(x->w->srv->metrics, -1);
    llmux__metrics_in_flight_add(x->w->srv->metrics, -1);
    llmux__sentencer_free(x->sentencer);
    llmux__buf_free(&x->out);
    llmux__request_free(x->req);
    x->w->inflight--;
    atomic_fetch_sub(&x->w->busy, 1);
    free(x);
}

/* ---- small helpers ------------------------------------------------------------------ */

static const char *req_header(const llmux__http_req *r, const char *name)
{
    for (size_t i = 0; i < r->n_headers; i++)
        if (strcmp(r->header_names[i], name) == 0)
            return r->header_values[i];
    return NULL;
}

static int status_for(llmux_code code)
{
    switch (code) {
    case LLMUX_OK:
        return 200;
    case LLMUX_EINVALID_REQUEST:
    case LLMUX_EPROVIDER_NOT_CONFIGURED:
    case LLMUX_EMANAGED_KEY_UNAVAILABLE:
        return 400;
    case LLMUX_EUNAUTHORIZED:
        return 401;
    case LLMUX_ENOT_FOUND:
        return 404;
    case LLMUX_ERATE_LIMITED:
        return 429;
    case LLMUX_ETIMEOUT:
        return 504;
    case LLMUX_ELIMIT:
        return 503;
    case LLMUX_ENOMEM:
        return 500;
    default:
        return 502;
    }
}

static void respond_json(llmux__http_conn *conn, int status, cJSON *body)
{
    char *s = body ? cJSON_PrintUnformatted(body) : NULL;
    if (!s) {
        llmux__http_respond_error(conn, 500, "out_of_memory", "out of memory");
        return;
    }
    llmux__http_respond(conn, status, "application/json", s, strlen(s), "");
    cJSON_free(s);
}

/* A number of milliseconds rounded down to the microsecond, as the shortest decimal
 * ("0.178", "12.5", "3"): what cJSON printed for the same double, without printf. */
static void put_ms(llmux__buf *b, double ms)
{
    int64_t us = (int64_t)(ms * 1000);
    if (us < 0) {
        llmux__buf_puts(b, "-");
        us = -us;
    }
    llmux__buf_int(b, us / 1000);
    int frac = (int)(us % 1000);
    if (frac) {
        char f[5] = {'.', (char)('0' + frac / 100), (char)('0' + frac / 10 % 10),
                     (char)('0' + frac % 10), 0};
        size_t n = 4;
        while (f[n - 1] == '0')
            n--;
        llmux__buf_append(b, f, n);
    }
}

static void put_str(llmux__buf *b, const char *s)
{
    llmux__buf_json_string(b, s, strlen(s));
}

/* The attempts array: [{provider, model, attempt, status, error_type, message?,
 * latency_ms}, ...]. */
static void write_attempts(llmux__buf *b, const llmux__attempt_log *a, size_t n)
{
    llmux__buf_puts(b, "[");
    for (size_t i = 0; i < n; i++) {
        llmux__buf_puts(b, i ? ",{\"provider\":" : "{\"provider\":");
        put_str(b, llmux__provider_name(a[i].provider));
        llmux__buf_puts(b, ",\"model\":");
        put_str(b, a[i].model ? a[i].model : "");
        llmux__buf_puts(b, ",\"attempt\":");
        llmux__buf_int(b, a[i].attempt);
        llmux__buf_puts(b, ",\"status\":");
        if (a[i].status)
            llmux__buf_int(b, a[i].status);
        else
            llmux__buf_puts(b, "null");
        llmux__buf_puts(b, ",\"error_type\":");
        if (a[i].error == LLMUX_OK)
            llmux__buf_puts(b, "null");
        else
            put_str(b, llmux_code_type(a[i].error));
        if (a[i].message[0]) {
            llmux__buf_puts(b, ",\"message\":");
            put_str(b, a[i].message);
        }
        llmux__buf_puts(b, ",\"latency_ms\":");
        put_ms(b, a[i].latency_ms);
        llmux__buf_puts(b, "}");
    }
    llmux__buf_puts(b, "]");
}

static void respond_buf(llmux__http_conn *conn, int status, llmux__buf *b)
{
    if (b->oom)
        llmux__http_respond_error(conn, 500, "out_of_memory", "out of memory");
    else
        llmux__http_respond(conn, status, "application/json", b->p, b->len, "");
}

static void respond_call_error(exchange *x, const llmux__call_result *r)
{
    llmux__buf b;
    llmux__buf_init(&b);
    llmux__buf_puts(&b, "{\"error\":{\"type\":");
    put_str(&b, llmux_code_type(r->code));
    llmux__buf_puts(&b, ",\"message\":");
    put_str(&b, r->message[0] ? r->message : llmux_strerror(r->code));
    llmux__buf_puts(&b, ",\"attempts\":");
    write_attempts(&b, r->attempts, r->n_attempts);
    llmux__buf_puts(&b, "}}");
    respond_buf(x->conn, status_for(r->code), &b);
    llmux__buf_free(&b);
}

/* ---- metrics and logs ------------------------------------------------------------------ */

static void on_attempt(void *ud, const llmux__attempt_log *a)
{
    exchange *x = ud;
    llmux__metrics_attempt(x->w->srv->metrics, a->provider, a->status, a->error,
                           a->latency_ms / 1000.0, a->ttfb_ms >= 0 ? a->ttfb_ms / 1000.0 : -1);
    if (a->attempt > 1)
        llmux__metrics_retry(x->w->srv->metrics, a->provider);
    else if (a->chain_index > 0)
        llmux__metrics_fallback(x->w->srv->metrics, a->provider);
}

static void record(exchange *x, int provider, const char *model, llmux_code outcome,
                   const llmux__attempt_log *attempts, size_t n_attempts, int status)
{
    double secs = llmux__mono() - x->t0;
    llmux__metrics_request(x->w->srv->metrics,
                           provider >= 0 ? provider : LLMUX__METRICS_NO_PROVIDER, model, outcome,
                           secs);
    if (!llmux__log_enabled(LLMUX__LOG_INFO))
        return;
    llmux__log_attempt la[LLMUX__MAX_FALLBACKS * (LLMUX__MAX_RETRIES + 1) + 1];
    size_t n = n_attempts < sizeof la / sizeof la[0] ? n_attempts : sizeof la / sizeof la[0];
    for (size_t i = 0; i < n; i++) {
        la[i].provider = llmux__provider_name(attempts[i].provider);
        la[i].model = attempts[i].model;
        la[i].status = attempts[i].status;
        la[i].error_type = attempts[i].error ? llmux_code_type(attempts[i].error) : NULL;
        la[i].latency_ms = attempts[i].latency_ms;
    }
    llmux__log_request line = {0};
    line.id = x->id;
    line.session = x->session;
    line.method = "POST";
    line.path = "/v1/chat/completions";
    line.status = status;
    line.outcome = outcome == LLMUX_OK ? "success" : llmux_code_type(outcome);
    line.provider = provider >= 0 ? llmux__provider_name((llmux__provider)provider) : NULL;
    line.model = model;
    line.attempts = la;
    line.n_attempts = n;
    line.latency_ms = secs * 1000.0;
    line.ttfb_ms = x->ttfb_ms;
    llmux__log_request_line(&line);
}

/* ---- streaming ------------------------------------------------------------------------ */

static void flush_out(exchange *x)
{
    if (x->out.len) {
        llmux__http_stream_write(x->conn, x->out.p, x->out.len);
        llmux__buf_clear(&x->out);
    }
}

static void on_drain(void *arg)
{
    exchange *x = arg;
    if (x->call)
        llmux__call_pause(x->call, false);
}

static void after_write(exchange *x)
{
    flush_out(x);
    if (x->call && llmux__http_output_full(x->conn)) {
        llmux__call_pause(x->call, true);
        llmux__http_on_drain(x->conn, on_drain, x);
    }
}

static int write_sentence(void *ud, const char *s, size_t len)
{
    exchange *x = ud;
    llmux__delta d = {0};
    d.kind = LLMUX__DELTA_TEXT;
    d.text = s;
    d.text_len = len;
    llmux__chunk_write_sse(&x->out, &x->meta, &d);
    return 0;
}

static void on_stream_start(void *ud, llmux__provider provider, const char *model)
{
    exchange *x = ud;
    x->started = true;
    x->ttfb_ms = (llmux__mono() - x->t0) * 1000.0;
    llmux__metrics_streams_open_add(x->w->srv->metrics, 1);
    snprintf(x->provider_name, sizeof x->provider_name, "%s", llmux__provider_name(provider));
    x->model = model;
    x->meta.id = x->id;
    x->meta.created = x->created;
    x->meta.provider = x->provider_name;
    x->meta.model = model;
    llmux__http_stream_start(x->conn, 200, "text/event-stream", "X-Accel-Buffering: no\r\n");
    llmux__delta pre = {0};
    pre.kind = LLMUX__DELTA_PREAMBLE;
    llmux__chunk_write_sse(&x->out, &x->meta, &pre);
    after_write(x);
}

static void flush_sentences(exchange *x)
{
    if (x->sentencer)
        llmux__sentencer_finish(x->sentencer, write_sentence, x);
}

static int on_delta(void *ud, const llmux__delta *d)
{
    exchange *x = ud;
    if (d->kind == LLMUX__DELTA_TEXT && x->sentencer) {
        llmux__sentencer_feed(x->sentencer, d->text, d->text_len, write_sentence, x);
    } else {
        if (x->sentencer &&
            (d->kind == LLMUX__DELTA_TOOL_CALL_START || d->kind == LLMUX__DELTA_FINISH))
            flush_sentences(x); /* speak what came before the tool call / the end */
        llmux__chunk_write_sse(&x->out, &x->meta, d);
    }
    if (x->out.oom)
        return 1;
    after_write(x);
    return 0;
}

/* ---- the end of a chat completion ------------------------------------------------------- */

static void on_done(void *ud, llmux__call_result *r)
{
    exchange *x = ud;
    x->call = NULL; /* the engine owns it from here */
    llmux__http_set_exchange(x->conn, NULL);
    int prov_i =
        r->code == LLMUX_OK || r->code == LLMUX_ESTREAM_INTERRUPTED ? (int)r->provider : -1;
    const char *prov = prov_i >= 0 ? llmux__provider_name(r->provider) : NULL;
    if (x->started) {
        flush_sentences(x);
        /* The attempt log rides on one last chunk with no choices (the shape of OpenAI's
         * usage chunk, which clients already accept). */
        llmux__buf_puts(&x->out, "data: {\"id\":");
        put_str(&x->out, x->id);
        llmux__buf_puts(&x->out, ",\"object\":\"chat.completion.chunk\",\"created\":");
        llmux__buf_int(&x->out, x->created);
        llmux__buf_puts(&x->out, ",\"model\":");
        put_str(&x->out, x->model ? x->model : "");
        llmux__buf_puts(&x->out, ",\"provider\":");
        put_str(&x->out, x->provider_name);
        llmux__buf_puts(&x->out, ",\"choices\":[],\"llmux\":{\"attempts\":");
        write_attempts(&x->out, r->attempts, r->n_attempts);
        llmux__buf_puts(&x->out, "}}\n\n");
        if (r->code == LLMUX_OK) {
            llmux__buf_puts(&x->out, "data: [DONE]\n\n");
        } else {
            llmux__upstream_error e;
            llmux__upstream_error_clear(&e);
            e.code = r->code == LLMUX_ESTREAM_INTERRUPTED ? LLMUX_ESTREAM_INTERRUPTED : r->code;
            snprintf(e.message, sizeof e.message, "%s", r->message);
            llmux__delta d = {0};
            d.kind = LLMUX__DELTA_ERROR;
            d.error = &e;
            llmux__chunk_write_sse(&x->out, &x->meta, &d);
        }
        flush_out(x);
        record(x, prov_i, r->model, r->code, r->attempts, r->n_attempts, 200);
        llmux__http_stream_end(x->conn);
        exchange_free(x);
        return;
    }
    if (r->code != LLMUX_OK) {
        record(x, prov_i, r->model, r->code, r->attempts, r->n_attempts, status_for(r->code));
        respond_call_error(x, r);
        exchange_free(x);
        return;
    }
    /* Non-streaming success: an OpenAI chat.completion naming who answered, written
     * straight into a buffer (a cJSON tree + print cost ~4x more: bench/README.md). */
    llmux__buf b;
    llmux__buf_init(&b);
    llmux__response_write_json(&b, r->response, (int64_t)llmux__now(), r->model ? r->model : "");
    llmux__buf_puts(&b, ",\"provider\":");
    put_str(&b, prov);
    llmux__buf_puts(&b, ",\"llmux\":{\"attempts\":");
    write_attempts(&b, r->attempts, r->n_attempts);
    llmux__buf_puts(&b, ",\"upstream_model\":");
    put_str(&b, r->response->model ? r->response->model : "");
    llmux__buf_puts(&b, "}}");
    record(x, prov_i, r->model, LLMUX_OK, r->attempts, r->n_attempts, 200);
    respond_buf(x->conn, 200, &b);
    llmux__buf_free(&b);
    exchange_free(x);
}

static void on_http_abort(void *exchange_ptr, void *ud)
{
    (void)ud;
    exchange *x = exchange_ptr;
    if (x->call) {
        llmux__call_cancel(x->call);
        x->call = NULL;
    }
    llmux__provider ap = LLMUX__PROVIDER_OPENAI;
    record(x, x->started && llmux__provider_parse(x->provider_name, &ap) ? (int)ap : -1, x->model,
           LLMUX_ESTREAM_INTERRUPTED, NULL, 0, 499);
    exchange_free(x);
}

/* ---- routes -------------------------------------------------------------------------- */

/* Checks the bearer token. Returns the token's index (n_tokens when none are
 * configured) or -1 after answering 401. */
static long authenticate(worker *w, llmux__http_conn *conn, const llmux__http_req *r)
{
    const llmux__server_config *cfg = &w->srv->cfg;
    if (cfg->n_tokens == 0)
        return (long)cfg->n_tokens;
    const char *auth = req_header(r, "authorization");
    size_t len = 0;
    const char *t = auth ? llmux__bearer_token(auth, &len) : NULL;
    if (t && llmux__token_set_check(w->srv->token_set, t, len)) {
        /* which token: only to key the per-token stream counter (the digests were
         * already compared in constant time) */
        for (size_t i = 0; i < cfg->n_tokens; i++)
            if (strlen(cfg->tokens[i]) == len && memcmp(cfg->tokens[i], t, len) == 0)
                return (long)i;
    }
    llmux__metrics_request(w->srv->metrics, LLMUX__METRICS_NO_PROVIDER, NULL, LLMUX_EUNAUTHORIZED,
                           0);
    llmux__http_respond_error(conn, 401, "unauthorized",
                              "missing or wrong bearer token (Authorization: Bearer <token>)");
    return -1;
}

static const char *token_of(worker *w, long index)
{
    const llmux__server_config *cfg = &w->srv->cfg;
    return (size_t)index < cfg->n_tokens ? cfg->tokens[index] : "";
}

static void session_of(const llmux__http_req *r, char *out, size_t n)
{
    const char *s = req_header(r, "x-llmux-session");
    snprintf(out, n, "%s", s && *s ? s : "default");
}

/* Posts a job to every worker (including the caller's own). */
static void broadcast_warm(server *srv, const llmux__provider_config *cfg)
{
    for (int i = 0; i < srv->n_workers; i++) {
        worker *w = &srv->workers[i];
        job *j = calloc(1, sizeof *j);
        if (!j)
            return;
        j->kind = JOB_WARM;
        j->cfg = *cfg;
        j->cfg.api_key = cfg->api_key ? llmux__secret_strdup(cfg->api_key) : NULL;
        j->cfg.base_url = cfg->base_url ? strdup(cfg->base_url) : NULL;
        j->cfg.api_version = cfg->api_version ? strdup(cfg->api_version) : NULL;
        j->cfg.anthropic_version = NULL;
        pthread_mutex_lock(&w->lock);
        j->next = w->jobs;
        w->jobs = j;
        pthread_mutex_unlock(&w->lock);
        event_active(w->wake, EV_READ, 0);
    }
}

static void handle_configure(worker *w, llmux__http_conn *conn, const llmux__http_req *r,
                             const char *token, const char *session, const char *provider_name)
{
    llmux__provider p;
    if (!llmux__provider_parse(provider_name, &p)) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "unknown provider '%.40s' (expected openai, azure, anthropic or google)",
                 provider_name);
        llmux__http_respond_error(conn, 400, "invalid_request", msg);
        return;
    }
    /* One JSON object and nothing after it but whitespace ("{...} {...}" must not pass
     * as its first half). */
    const char *end = NULL;
    cJSON *body = cJSON_ParseWithLengthOpts(r->body, r->body_len, &end, 0);
    for (const char *q = end; body && q && q < r->body + r->body_len; q++) {
        if (*q != ' ' && *q != '\t' && *q != '\r' && *q != '\n') {
            cJSON_Delete(body);
            body = NULL;
        }
    }
    if (!cJSON_IsObject(body)) {
        cJSON_Delete(body);
        llmux__http_respond_error(
            conn, 400, "invalid_request",
            "body must be a JSON object: {\"managed\": true} or "
            "{\"api_key\": \"...\", \"base_url\"?: ..., \"api_version\"?: ...}");
        return;
    }
    llmux__provider_entry e = {0};
    const cJSON *managed = cJSON_GetObjectItemCaseSensitive(body, "managed");
    if (!managed)
        managed = cJSON_GetObjectItemCaseSensitive(body, "voicerun_managed");
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(body, "api_key");
    const cJSON *base = cJSON_GetObjectItemCaseSensitive(body, "base_url");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(body, "api_version");
    const char *bad = NULL;
    if (managed && !cJSON_IsBool(managed))
        bad = "managed must be true or false";
    else if (key && !cJSON_IsNull(key) && !cJSON_IsString(key))
        bad = "api_key must be a string";
    else if (base && !cJSON_IsNull(base) && !cJSON_IsString(base))
        bad = "base_url must be a string";
    else if (ver && !cJSON_IsNull(ver) && !cJSON_IsString(ver))
        bad = "api_version must be a string";
    if (bad) {
        cJSON_Delete(body);
        llmux__http_respond_error(conn, 400, "invalid_request", bad);
        return;
    }
    e.managed = cJSON_IsTrue(managed);
    e.api_key = cJSON_IsString(key) ? key->valuestring : NULL;
    e.base_url = cJSON_IsString(base) ? base->valuestring : NULL;
    e.api_version = cJSON_IsString(ver) ? ver->valuestring : NULL;
    llmux__error err;
    llmux__error_clear(&err);
    bool first = false;
    double now = llmux__mono();
    llmux_code rc = llmux__session_configure(w->srv->sessions, token, session, p, &e, w->srv->keys,
                                             now, &first, &err);
    if (cJSON_IsString(key))
        llmux__secret_wipe(key->valuestring, strlen(key->valuestring));
    cJSON_Delete(body);
    if (rc) {
        llmux__http_respond_error(conn, status_for(rc), llmux_code_type(rc), err.message);
        return;
    }
    llmux__metrics_sessions_set(w->srv->metrics, llmux__session_count(w->srv->sessions));
    if (first) {
        llmux__resolved_provider rp;
        if (llmux__session_resolve(w->srv->sessions, w->srv->keys, token, session, p, now, &rp,
                                   &err) == LLMUX_OK) {
            broadcast_warm(w->srv, &rp.cfg);
            llmux__resolved_provider_free(&rp);
        }
    }
    char out[160];
    int n = snprintf(out, sizeof out,
                     "{\"provider\":\"%s\",\"managed\":%s,\"session\":", llmux__provider_name(p),
                     e.managed ? "true" : "false");
    llmux__buf b;
    llmux__buf_init(&b);
    llmux__buf_append(&b, out, (size_t)n);
    llmux__buf_json_string(&b, session, strlen(session));
    llmux__buf_puts(&b, "}");
    llmux__http_respond(conn, 200, "application/json", b.p, b.len, "");
    llmux__buf_free(&b);
}

static void handle_list(worker *w, llmux__http_conn *conn, const char *token, const char *session)
{
    cJSON *out = NULL;
    llmux__error err;
    llmux__error_clear(&err);
    llmux_code rc =
        llmux__session_list(w->srv->sessions, token, session, llmux__mono(), &out, &err);
    if (rc) {
        llmux__http_respond_error(conn, status_for(rc), llmux_code_type(rc),
                                  err.message[0] ? err.message : llmux_strerror(rc));
        return;
    }
    respond_json(conn, 200, out);
    cJSON_Delete(out);
}

static void handle_delete(worker *w, llmux__http_conn *conn, const char *token, const char *session)
{
    bool found = llmux__session_delete(w->srv->sessions, token, session);
    llmux__metrics_sessions_set(w->srv->metrics, llmux__session_count(w->srv->sessions));
    if (!found) {
        llmux__http_respond_error(conn, 404, "not_found", "no such session");
        return;
    }
    llmux__buf b;
    llmux__buf_init(&b);
    llmux__buf_puts(&b, "{\"deleted\":true,\"session\":");
    llmux__buf_json_string(&b, session, strlen(session));
    llmux__buf_puts(&b, "}");
    llmux__http_respond(conn, 200, "application/json", b.p, b.len, "");
    llmux__buf_free(&b);
}

static void handle_chat(worker *w, llmux__http_conn *conn, const llmux__http_req *r,
                        long token_index)
{
    server *srv = w->srv;
    if (w->inflight >= srv->cfg.max_inflight) {
        llmux__metrics_request(srv->metrics, LLMUX__METRICS_NO_PROVIDER, NULL, LLMUX_ELIMIT, 0);
        static const char busy[] = "{\"error\":{\"type\":\"limit_exceeded\",\"message\":"
                                   "\"too many requests in flight, retry shortly\"}}";
        llmux__http_respond(conn, 503, "application/json", busy, sizeof busy - 1,
                            "Retry-After: 1\r\n");
        return;
    }
    exchange *x = calloc(1, sizeof *x);
    if (!x) {
        llmux__http_respond_error(conn, 500, "out_of_memory", "out of memory");
        return;
    }
    x->w = w;
    x->conn = conn;
    x->t0 = llmux__mono();
    x->ttfb_ms = -1;
    llmux__metrics_in_flight_add(srv->metrics, 1);
    x->token = token_of(w, token_index);
    x->token_index = (size_t)token_index;
    llmux__buf_init(&x->out);
    w->inflight++;
    atomic_fetch_add(&w->busy, 1);
    session_of(r, x->session, sizeof x->session);
    x->created = (int64_t)llmux__now();
    snprintf(x->id, sizeof x->id, "chatcmpl-llmux%016llx%02x%06llx",
             (unsigned long long)srv->id_seed, w->index, (unsigned long long)++w->next_exchange);

    llmux__error err;
    llmux__error_clear(&err);
    llmux_code rc = llmux__request_decode(r->body, r->body_len, &x->req, &err);
    if (rc) {
        record(x, -1, NULL, rc, NULL, 0, status_for(rc));
        llmux__http_respond_error(conn, status_for(rc), llmux_code_type(rc), err.message);
        exchange_free(x);
        return;
    }
    /* Every provider of the chain must be configured, before any upstream request. */
    size_t n = 1 + x->req->n_fallbacks;
    llmux__resolved_provider rp[LLMUX__MAX_FALLBACKS + 1];
    llmux__provider_config cfgs[LLMUX__MAX_FALLBACKS + 1];
    size_t resolved = 0;
    double now = llmux__mono();
    for (size_t i = 0; i < n; i++) {
        llmux__provider p = i == 0 ? x->req->primary.provider
                                   : ((x->req->fallbacks[i - 1].set & LLMUX__F_PROVIDER)
                                          ? x->req->fallbacks[i - 1].provider
                                          : x->req->primary.provider);
        rc = llmux__session_resolve(srv->sessions, srv->keys, x->token, x->session, p, now, &rp[i],
                                    &err);
        if (rc) {
            if (i > 0 && rc == LLMUX_EPROVIDER_NOT_CONFIGURED) {
                char msg[sizeof err.message];
                memcpy(msg, err.message, sizeof msg);
                llmux__error_set(&err, rc, "fallbacks[%zu]: %s", i - 1, msg);
            }
            break;
        }
        cfgs[i] = rp[i].cfg;
        resolved++;
    }
    if (rc == LLMUX_OK && x->req->stream) {
        size_t cap = srv->cfg.max_streams_per_token;
        if (atomic_fetch_add(&srv->streams_per_token[x->token_index], 1) >= cap) {
            atomic_fetch_sub(&srv->streams_per_token[x->token_index], 1);
            rc = LLMUX_ELIMIT;
            snprintf(err.message, sizeof err.message,
                     "too many concurrent streams for this token (limit %zu)", cap);
        } else {
            x->counted_stream = true;
        }
    }
    if (rc == LLMUX_OK && x->req->stream && x->req->stream_options.chunk_by_sentence) {
        llmux__sentence_options so = {.clean = x->req->stream_options.clean_sentences,
                                      .eager_first_chunk =
                                          x->req->stream_options.eager_first_chunk};
        if (!(x->sentencer = llmux__sentencer_new(&so))) {
            rc = LLMUX_ENOMEM;
            snprintf(err.message, sizeof err.message, "out of memory");
        }
    }
    if (rc == LLMUX_OK) {
        llmux__call_callbacks cb = {.ud = x,
                                    .on_stream_start = on_stream_start,
                                    .on_delta = on_delta,
                                    .on_done = on_done,
                                    .on_attempt = on_attempt};
        rc = llmux__engine_call(w->engine, x->req, cfgs, n, &cb, &x->call, &err);
    }
    for (size_t i = 0; i < resolved; i++)
        llmux__resolved_provider_free(&rp[i]);
    if (rc) {
        int status = rc == LLMUX_ELIMIT ? 429 : status_for(rc);
        record(x, -1, NULL, rc, NULL, 0, status);
        llmux__http_respond_error(conn, status, llmux_code_type(rc), err.message);
        exchange_free(x);
        return;
    }
    llmux__http_set_exchange(conn, x);
}

/* Splits "/v1/sessions/{id}[/providers[/{provider}]]". Returns the number of parts
 * after "sessions" (1..3) or 0 when the path is not of that form. */
static int split_session_path(const char *path, char *id, size_t idn, char *prov, size_t provn,
                              bool *has_providers)
{
    const char *prefix = "/v1/sessions/";
    size_t pl = strlen(prefix);
    if (strncmp(path, prefix, pl) != 0)
        return 0;
    const char *p = path + pl;
    const char *slash = strchr(p, '/');
    size_t len = slash ? (size_t)(slash - p) : strlen(p);
    if (len == 0 || len >= idn)
        return len ? -1 : 0;
    memcpy(id, p, len);
    id[len] = '\0';
    *has_providers = false;
    prov[0] = '\0';
    if (!slash || slash[1] == '\0')
        return 1;
    p = slash + 1;
    if (strncmp(p, "providers", 9) != 0 || (p[9] != '\0' && p[9] != '/'))
        return 0;
    *has_providers = true;
    if (p[9] == '\0' || p[10] == '\0')
        return 2;
    snprintf(prov, provn, "%s", p + 10);
    if (strchr(prov, '/'))
        return 0;
    return 3;
}

static void on_request(llmux__http_conn *conn, const llmux__http_req *r, void *ud)
{
    worker *w = ud;
    const char *m = r->method;
    const char *path = r->path;
    if (strcmp(path, "/healthz") == 0) {
        if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
            llmux__http_respond_error(conn, 405, "invalid_request", "use GET /healthz");
            return;
        }
        llmux__http_respond(conn, 200, "application/json", "{\"status\":\"ok\"}", 15, "");
        return;
    }
    if (strcmp(path, "/metrics") == 0) {
        char *text = llmux__metrics_render(w->srv->metrics);
        if (!text) {
            llmux__http_respond_error(conn, 500, "out_of_memory", "out of memory");
            return;
        }
        llmux__http_respond(conn, 200, "text/plain; version=0.0.4", text, strlen(text), "");
        free(text);
        return;
    }
    long ti = authenticate(w, conn, r);
    if (ti < 0)
        return;
    const char *token = token_of(w, ti);
    if (strcmp(path, "/v1/chat/completions") == 0 || strcmp(path, "/chat/completions") == 0) {
        if (strcmp(m, "POST") != 0) {
            llmux__http_respond_error(conn, 405, "invalid_request",
                                      "use POST /v1/chat/completions");
            return;
        }
        handle_chat(w, conn, r, ti);
        return;
    }
    char id[160], prov[64];
    bool has_providers = false;
    int parts = split_session_path(path, id, sizeof id, prov, sizeof prov, &has_providers);
    if (parts < 0) {
        llmux__http_respond_error(conn, 400, "invalid_request", "session id is too long");
        return;
    }
    if (parts == 3 && strcmp(m, "PUT") == 0) {
        handle_configure(w, conn, r, token, id, prov);
        /* The body held the customer's key; the connection's buffer outlives the
         * request (keep-alive), so wipe it now (it is ours: http.c's body buffer). */
        llmux__secret_wipe((char *)r->body, r->body_len);
        return;
    }
    if (parts == 2 && strcmp(m, "GET") == 0) {
        handle_list(w, conn, token, id);
        return;
    }
    if (parts == 1 && strcmp(m, "DELETE") == 0) {
        handle_delete(w, conn, token, id);
        return;
    }
    if (parts > 0) {
        llmux__http_respond_error(conn, 405, "invalid_request",
                                  "use PUT /v1/sessions/{id}/providers/{provider}, GET "
                                  "/v1/sessions/{id}/providers or DELETE /v1/sessions/{id}");
        return;
    }
    llmux__http_respond_error(conn, 404, "not_found", "no such route");
}

/* ---- workers ------------------------------------------------------------------------- */

static void free_job(job *j)
{
    if (j->cfg.api_key)
        llmux__secret_free((char *)j->cfg.api_key);
    free((char *)j->cfg.base_url);
    free((char *)j->cfg.api_version);
    free(j);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    worker *w = arg;
    pthread_mutex_lock(&w->lock);
    job *jobs = w->jobs;
    w->jobs = NULL;
    pthread_mutex_unlock(&w->lock);
    while (jobs) {
        job *j = jobs;
        jobs = j->next;
        if (j->kind == JOB_WARM)
            llmux__engine_warm(w->engine, &j->cfg);
        else if (j->kind == JOB_STOP_ACCEPTING)
            llmux__http_server_stop_accepting(w->http);
        else if (j->kind == JOB_EXIT)
            event_base_loopbreak(w->base);
        free_job(j);
    }
}

static void post(worker *w, job_kind kind)
{
    job *j = calloc(1, sizeof *j);
    if (!j)
        return;
    j->kind = kind;
    pthread_mutex_lock(&w->lock);
    j->next = w->jobs;
    w->jobs = j;
    pthread_mutex_unlock(&w->lock);
    event_active(w->wake, EV_READ, 0);
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    server *srv = arg;
    llmux__session_store_sweep(srv->sessions, llmux__mono());
    llmux__metrics_sessions_set(srv->metrics, llmux__session_count(srv->sessions));
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    event_base_loop(w->base, 0);
    return NULL;
}

static bool is_loopback(const char *host)
{
    return strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
           strcmp(host, "::1") == 0 || strcmp(host, "[::1]") == 0;
}

static bool split_listen(const char *listen, char *host, size_t hn, int *port)
{
    const char *colon = strrchr(listen, ':');
    if (!colon)
        return false;
    size_t len = (size_t)(colon - listen);
    if (len == 0 || len >= hn)
        return false;
    memcpy(host, listen, len);
    host[len] = '\0';
    if (host[0] == '[' && host[len - 1] == ']') {
        memmove(host, host + 1, len - 2);
        host[len - 2] = '\0';
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || p < 0 || p > 65535)
        return false;
    *port = (int)p;
    return true;
}

static evutil_socket_t bind_socket(const char *host, int port, int *bound_port, char *why,
                                   size_t whyn)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    int gai = getaddrinfo(host, ps, &hints, &res);
    if (gai) {
        snprintf(why, whyn, "cannot resolve %.100s: %s", host, gai_strerror(gai));
        return -1;
    }
    evutil_socket_t fd = socket(res->ai_family, SOCK_STREAM, 0);
    if (fd < 0) {
        snprintf(why, whyn, "socket: %s", strerror(errno));
        freeaddrinfo(res);
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
        snprintf(why, whyn, "cannot listen on %.100s:%d: %s", host, port, strerror(errno));
        close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *bound_port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                           : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

/* The engine's SSRF guard (engine_options.allow_connect): the operator's own base URLs
 * (and the providers' defaults) are trusted; a customer's base_url is checked against
 * the policy on every address it resolves to. */
static bool allow_connect(void *ud, llmux__provider provider, const char *base_url,
                          const struct sockaddr *addr, char *why, size_t why_len)
{
    server *srv = ud;
    if (!base_url)
        return true;
    const char *op = llmux__managed_keys_base_url(srv->keys, provider);
    if (op && strcmp(op, base_url) == 0)
        return true;
    return llmux__base_url_policy_check_addr(srv->url_policy, base_url, addr, why, why_len);
}

static size_t total_busy(server *srv)
{
    size_t n = 0;
    for (int i = 0; i < srv->n_workers; i++)
        n += atomic_load(&srv->workers[i].busy);
    return n;
}

int llmux__server_run(const llmux__server_config *cfg_in, FILE *announce)
{
    server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return 1;
    int status = 1;
    srv->cfg = *cfg_in;
    llmux__server_config *cfg = &srv->cfg;
    if (!cfg->listen)
        cfg->listen = "127.0.0.1:8080";
    if (cfg->workers <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->workers = n > 0 ? (int)n : 1;
    }
    if (cfg->workers > MAX_WORKERS)
        cfg->workers = MAX_WORKERS;
    if (!cfg->max_inflight)
        cfg->max_inflight = 4096;
    if (!cfg->max_streams_per_token)
        cfg->max_streams_per_token = 1024;
    if (!(cfg->drain_timeout_s > 0))
        cfg->drain_timeout_s = 30;
    if (!cfg->getenv_fn)
        cfg->getenv_fn = llmux__getenv_process;
    llmux__log_configure(stderr, (llmux__log_level)cfg->log_level, cfg->log_content);

    if (!split_listen(cfg->listen, srv->host, sizeof srv->host, &srv->port)) {
        fprintf(stderr, "llmux serve: --listen wants HOST:PORT, got '%s'\n", cfg->listen);
        goto out;
    }
    if (cfg->n_tokens == 0 && !is_loopback(srv->host)) {
        fprintf(stderr,
                "llmux serve: no bearer tokens configured (LLMUX_TOKENS): refusing to "
                "listen on non-loopback address %s\n",
                srv->host);
        goto out;
    }
    llmux__error err;
    llmux__error_clear(&err);
    srv->keys = llmux__managed_keys_load(cfg->getenv_fn, cfg->getenv_ud, &err);
    if (!srv->keys) {
        fprintf(stderr, "llmux serve: %s\n", err.message);
        goto out;
    }
    srv->url_policy = llmux__base_url_policy_new(cfg->allow_base_urls, cfg->n_allow_base_urls,
                                                 cfg->deny_base_urls, cfg->n_deny_base_urls, &err);
    if (!srv->url_policy) {
        fprintf(stderr, "llmux serve: %s\n", err.message);
        goto out;
    }
    llmux__session_limits lim = {.url_policy = llmux__base_url_policy_hook,
                                 .url_policy_ud = srv->url_policy,
                                 .max_sessions_per_token = cfg->max_sessions_per_token};
    srv->sessions = llmux__session_store_new(&lim);
    srv->metrics = llmux__metrics_new();
    srv->share = llmux__engine_share_new();
    srv->streams_per_token = calloc(cfg->n_tokens + 1, sizeof *srv->streams_per_token);
    if (!srv->sessions || !srv->metrics || !srv->share || !srv->streams_per_token) {
        fprintf(stderr, "llmux serve: out of memory\n");
        goto out;
    }
    srv->token_set = llmux__token_set_new(cfg->tokens, cfg->n_tokens, &err);
    if (!srv->token_set) {
        fprintf(stderr, "llmux serve: %s\n", err.message);
        goto out;
    }
    srv->id_seed = (uint64_t)(llmux__now() * 1e6) ^ ((uint64_t)getpid() << 40);
    /* Before libevent's first allocation: every buffer it frees is zeroed first (the
     * raw bytes of a configure_provider request carry the customer's key). */
    event_set_mem_functions(malloc, llmux__wipe_realloc, llmux__wipe_free);
    evthread_use_pthreads();

    /* Block the stop signals in every thread; the main thread waits for them. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    char why[256];
    int port = srv->port;
    for (int i = 0; i < cfg->workers; i++) {
        worker *w = &srv->workers[i];
        w->srv = srv;
        w->index = i;
        pthread_mutex_init(&w->lock, NULL);
        int bound = 0;
        w->fd = bind_socket(srv->host, port, &bound, why, sizeof why);
        if (w->fd < 0) {
            fprintf(stderr, "llmux serve: %s\n", why);
            goto out;
        }
        port = bound; /* the other workers share the port picked by the first */
        w->base = event_base_new();
        llmux__engine_options eo = {.share = srv->share,
                                    .ca_file = cfg->ca_file,
                                    .tls_insecure = cfg->upstream_insecure,
                                    .default_timeout_s = cfg->upstream_timeout_s,
                                    .max_upstream_body = cfg->max_upstream_body,
                                    .allow_connect = allow_connect,
                                    .allow_connect_ud = srv};
        w->engine = w->base ? llmux__engine_new(w->base, &eo) : NULL;
        w->http = w->engine ? llmux__http_server_new(w->base, w->fd, &cfg->http, on_request,
                                                     on_http_abort, w)
                            : NULL;
        w->wake = w->base ? event_new(w->base, -1, EV_PERSIST | EV_READ, on_wake, w) : NULL;
        if (!w->http || !w->wake) {
            fprintf(stderr, "llmux serve: cannot start worker %d\n", i);
            goto out;
        }
        w->fd = -1; /* owned by the listener now */
        event_add(w->wake, NULL);
        srv->n_workers = i + 1;
    }
    srv->port = port;
    srv->sweep = event_new(srv->workers[0].base, -1, EV_PERSIST, on_sweep, srv);
    if (srv->sweep) {
        struct timeval minute = {60, 0};
        event_add(srv->sweep, &minute);
    }
    for (int i = 0; i < srv->n_workers; i++) {
        if (pthread_create(&srv->workers[i].thread, NULL, worker_main, &srv->workers[i]) != 0) {
            fprintf(stderr, "llmux serve: cannot start threads\n");
            srv->n_workers = i;
            goto out_stop;
        }
    }
    {
        char summary[1024];
        llmux__managed_keys_summary(srv->keys, summary, sizeof summary);
        if (announce) {
            fprintf(announce, "listening %s:%d\n", srv->host, srv->port);
            fflush(announce);
        }
        fprintf(stderr, "llmux serve: listening on %s:%d with %d worker%s; %s; %s\n", srv->host,
                srv->port, srv->n_workers, srv->n_workers == 1 ? "" : "s", summary,
                cfg->n_tokens ? "bearer tokens required" : "no tokens (loopback only)");
    }
    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "llmux serve: %s, draining\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    status = 0;
out_stop:
    for (int i = 0; i < srv->n_workers; i++)
        post(&srv->workers[i], JOB_STOP_ACCEPTING);
    {
        double deadline = llmux__mono() + cfg->drain_timeout_s;
        while (total_busy(srv) > 0 && llmux__mono() < deadline)
            usleep(20000);
        size_t left = total_busy(srv);
        if (left)
            fprintf(stderr, "llmux serve: drain timeout, %zu request(s) cut\n", left);
    }
    for (int i = 0; i < srv->n_workers; i++)
        post(&srv->workers[i], JOB_EXIT);
    for (int i = 0; i < srv->n_workers; i++)
        pthread_join(srv->workers[i].thread, NULL);
out:
    if (srv->sweep)
        event_free(srv->sweep);
    for (int i = 0; i < MAX_WORKERS; i++) {
        worker *w = &srv->workers[i];
        if (!w->srv)
            continue;
        llmux__http_server_free(w->http);
        llmux__engine_free(w->engine);
        if (w->wake)
            event_free(w->wake);
        pthread_mutex_lock(&w->lock);
        while (w->jobs) {
            job *j = w->jobs;
            w->jobs = j->next;
            free_job(j);
        }
        pthread_mutex_unlock(&w->lock);
        if (w->base)
            event_base_free(w->base);
        if (w->fd > 0)
            close(w->fd);
        pthread_mutex_destroy(&w->lock);
    }
    llmux__engine_share_free(srv->share);
    llmux__token_set_free(srv->token_set);
    llmux__session_store_free(srv->sessions);
    llmux__managed_keys_free(srv->keys);
    llmux__base_url_policy_free(srv->url_policy);
    llmux__metrics_free(srv->metrics);
    free(srv->streams_per_token);
    free(srv);
    return status;
}
