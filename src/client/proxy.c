/*
 * proxy.c — proxy mode: the client speaks DESIGN.md's "Proxy HTTP contract" to an
 * llmux proxy (see client.h).
 *
 * One background thread drives a libcurl multi handle with curl_multi_poll(); other
 * threads post jobs to a mutex-protected FIFO and wake it with curl_multi_wakeup().
 * The multi handle's connection cache is the keep-alive pool (CURLMOPT_MAXCONNECTS =
 * max_connections), so successive requests reuse a connection to the proxy; finished
 * easy handles are kept for reuse as well.
 *
 * Requests: configure_provider is PUT /v1/sessions/{id}/providers/{provider} (its body,
 * which carries the key, lives in secret memory and is wiped after the transfer);
 * completions are POST /v1/chat/completions with X-Llmux-Session; streams are read as
 * SSE with core/sse.h as bytes arrive. A provider this session handle has not
 * configured is refused before anything is sent. Error bodies
 * {"error":{"type","message","attempts"?}} map to llmux_code with llmux_code_from_type().
 */
#include "client/client.h"
#include "core/secret.h"
#include "core/sse.h"
#include "engine/engine.h"
#include "server/keys.h"

#include <curl/curl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_BODY ((size_t)64 << 20)
#define DELETE_TIMEOUT_MS 2000L

typedef enum xfer_kind { X_CONFIGURE, X_CHAT, X_DELETE } xfer_kind;

typedef struct xfer xfer;

struct xfer {
    xfer *prev, *next;
    llmux__proxy *px;
    xfer_kind kind;
    llmux__op *op; /* the backend's reference; NULL for X_DELETE */
    CURL *easy;
    struct curl_slist *headers;
    char *url;
    const char *method;
    char *body; /* X_CONFIGURE: secret memory; X_CHAT: cJSON text */
    size_t body_len;
    char session_header[LLMUX__SESSION_ID_BUF + 32];
    bool stream;
    bool linked; /* in px->xfers */

    long status;
    bool checked; /* status and content type looked at */
    bool is_sse;
    llmux__buf resp; /* a non-stream body */
    bool too_large;
    llmux__sse_parser sse;
    bool answering;   /* provider/model known */
    bool got_content; /* a content chunk was delivered */
    bool done;        /* data: [DONE] */
    bool failed;      /* an error event came */
    llmux_code fail_code;
    char fail_msg[256];
    llmux__attempts fail_attempts;
    bool malformed; /* an event we could not read */
    bool pause_wanted;
    bool stop; /* abort the transfer (cancelled) */
};

typedef enum pjob_kind { P_ADD, P_CANCEL, P_RESUME, P_EXIT } pjob_kind;

typedef struct pjob {
    pjob_kind kind;
    struct pjob *next;
    xfer *x;       /* P_ADD */
    llmux__op *op; /* P_CANCEL, P_RESUME: holds a reference */
} pjob;

struct llmux__proxy {
    llmux_client *client;
    char *base; /* scheme://host[:port][/prefix], no trailing '/' */
    char *auth; /* "Authorization: Bearer …" in secret memory, or NULL */
    char *ca_file;
    bool insecure;
    long connect_timeout_ms;
    size_t max_connections;
    CURLM *multi;
    bool thread_started;
    pthread_mutex_t mu; /* the job queue */
    pjob *head, *tail;
    xfer *xfers;    /* loop thread only */
    CURL *idle[16]; /* loop thread only: easy handles kept for reuse */
    size_t n_idle;
    atomic_size_t n_requests;
    atomic_size_t n_connections;
};

/* ---- transfers ---------------------------------------------------------------------------- */

static void slist_wipe_free(struct curl_slist *l)
{
    for (struct curl_slist *i = l; i; i = i->next)
        if (i->data)
            llmux__secret_wipe(i->data, strlen(i->data));
    curl_slist_free_all(l);
}

static void xfer_free(xfer *x)
{
    if (!x)
        return;
    if (x->linked) {
        if (x->prev)
            x->prev->next = x->next;
        else
            x->px->xfers = x->next;
        if (x->next)
            x->next->prev = x->prev;
    }
    slist_wipe_free(x->headers);
    free(x->url);
    if (x->kind == X_CONFIGURE)
        llmux__secret_free(x->body);
    else
        cJSON_free(x->body);
    llmux__buf_free(&x->resp);
    llmux__sse_free(&x->sse);
    llmux__attempts_free(&x->fail_attempts);
    free(x);
}

static xfer *xfer_new(llmux__proxy *px, xfer_kind kind, llmux_session *s)
{
    xfer *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->px = px;
    x->kind = kind;
    llmux__buf_init(&x->resp);
    llmux__sse_init(&x->sse, 0);
    llmux__attempts_init(&x->fail_attempts);
    if (s)
        snprintf(x->session_header, sizeof x->session_header, "X-Llmux-Session: %s", s->id);
    return x;
}

static CURL *pool_get(llmux__proxy *px)
{
    if (px->n_idle)
        return px->idle[--px->n_idle];
    return curl_easy_init();
}

static void pool_put(llmux__proxy *px, CURL *h)
{
    if (!h)
        return;
    if (px->n_idle < sizeof px->idle / sizeof px->idle[0] && px->n_idle < px->max_connections) {
        curl_easy_reset(h);
        px->idle[px->n_idle++] = h;
    } else {
        curl_easy_cleanup(h);
    }
}

/* Takes the easy handle out of the multi and back to the pool. */
static void xfer_release_easy(xfer *x)
{
    if (!x->easy)
        return;
    curl_multi_remove_handle(x->px->multi, x->easy);
    long connects = 0;
    if (curl_easy_getinfo(x->easy, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK && connects > 0)
        atomic_fetch_add(&x->px->n_connections, (size_t)connects);
    pool_put(x->px, x->easy);
    x->easy = NULL;
}

/* The end of an op-carrying transfer: detach and drop the backend's reference. */
static void xfer_end(xfer *x)
{
    llmux__op *op = x->op;
    if (op)
        op->backend = NULL;
    xfer_release_easy(x);
    xfer_free(x);
    if (op)
        llmux__op_unref(op);
}

/* ---- stream events ------------------------------------------------------------------------------
 */

static const char *jstr(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void push(xfer *x, const llmux_chunk *ch)
{
    llmux__push_result r = llmux__op_push(x->op, ch);
    if (r == LLMUX__PUSH_STOP)
        x->stop = true;
    else if (r == LLMUX__PUSH_PAUSE)
        x->pause_wanted = true;
}

static void read_error_object(xfer *x, const cJSON *e)
{
    const char *type = jstr(e, "type");
    const char *msg = jstr(e, "message");
    x->failed = true;
    x->fail_code = type ? llmux_code_from_type(type) : LLMUX_EUPSTREAM;
    if (x->fail_code == LLMUX_OK)
        x->fail_code = LLMUX_EUPSTREAM;
    snprintf(x->fail_msg, sizeof x->fail_msg, "%s",
             msg && *msg ? msg : llmux_strerror(x->fail_code));
    llmux__attempts_add_json(&x->fail_attempts, cJSON_GetObjectItemCaseSensitive(e, "attempts"));
}

static void handle_event(xfer *x, const llmux__sse_event *ev)
{
    if (x->done || x->failed || x->stop)
        return;
    if (ev->data_len == 6 && memcmp(ev->data, "[DONE]", 6) == 0) {
        x->done = true;
        return;
    }
    cJSON *root = cJSON_ParseWithLength(ev->data, ev->data_len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        x->malformed = true;
        x->stop = true;
        return;
    }
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
    if (cJSON_IsObject(e)) {
        read_error_object(x, e);
        cJSON_Delete(root);
        return;
    }
    if (!x->answering) {
        const char *pn = jstr(root, "provider");
        llmux__provider p;
        llmux__op_set_answering(x->op,
                                pn && llmux__provider_parse(pn, &p) ? llmux__provider_name(p) : "",
                                jstr(root, "model"));
        x->answering = true;
    }
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
    const cJSON *choice = cJSON_IsArray(choices) ? cJSON_GetArrayItem(choices, 0) : NULL;
    const cJSON *delta = cJSON_GetObjectItemCaseSensitive(choice, "delta");
    llmux_chunk ch;
    const char *text = jstr(delta, "content");
    if (text && *text && !x->stop) {
        memset(&ch, 0, sizeof ch);
        ch.kind = LLMUX_CHUNK_TEXT;
        ch.text = text;
        ch.text_len = strlen(text);
        x->got_content = true;
        push(x, &ch);
    }
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(delta, "tool_calls");
    const cJSON *calls_arr = cJSON_IsArray(calls) ? calls : NULL;
    const cJSON *tc;
    cJSON_ArrayForEach(tc, calls_arr)
    {
        if (x->stop)
            break;
        const cJSON *idx = cJSON_GetObjectItemCaseSensitive(tc, "index");
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
        const char *id = jstr(tc, "id");
        const char *name = jstr(fn, "name");
        const char *args = jstr(fn, "arguments");
        int index = cJSON_IsNumber(idx) ? idx->valueint : 0;
        if (id || name) {
            memset(&ch, 0, sizeof ch);
            ch.kind = LLMUX_CHUNK_TOOL_CALL_START;
            ch.tool_index = index;
            ch.tool_id = id ? id : "";
            ch.tool_name = name ? name : "";
            x->got_content = true;
            push(x, &ch);
        }
        if (args && *args && !x->stop) {
            memset(&ch, 0, sizeof ch);
            ch.kind = LLMUX_CHUNK_TOOL_CALL_ARGS;
            ch.tool_index = index;
            ch.text = args;
            ch.text_len = strlen(args);
            x->got_content = true;
            push(x, &ch);
        }
    }
    const char *finish = jstr(choice, "finish_reason");
    if (finish && !x->stop) {
        memset(&ch, 0, sizeof ch);
        ch.kind = LLMUX_CHUNK_FINISH;
        ch.finish_reason = finish;
        push(x, &ch);
    }
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(root, "usage");
    if (cJSON_IsObject(usage) && !x->stop) {
        memset(&ch, 0, sizeof ch);
        ch.kind = LLMUX_CHUNK_USAGE;
        ch.usage.present = true;
        const cJSON *v;
        if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens")))
            ch.usage.prompt_tokens = (int64_t)v->valuedouble;
        if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(usage, "completion_tokens")))
            ch.usage.completion_tokens = (int64_t)v->valuedouble;
        if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(usage, "total_tokens")))
            ch.usage.total_tokens = (int64_t)v->valuedouble;
        push(x, &ch);
    }
    cJSON_Delete(root);
}

static void feed_sse(xfer *x, const char *buf, size_t len)
{
    while (len && !x->stop) {
        size_t used = 0;
        llmux__sse_event ev;
        llmux__sse_status st = llmux__sse_next(&x->sse, buf, len, &used, &ev);
        if (st == LLMUX__SSE_TOO_LARGE) {
            x->malformed = true;
            x->stop = true;
            return;
        }
        if (st == LLMUX__SSE_NEED_MORE)
            return;
        handle_event(x, &ev);
        buf += used;
        len -= used;
    }
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    xfer *x = ud;
    size_t n = size * nmemb;
    if (x->stop)
        return 0;
    if (x->pause_wanted)
        return CURL_WRITEFUNC_PAUSE; /* curl keeps these bytes until resumed */
    if (!x->checked) {
        x->checked = true;
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
        char *ct = NULL;
        curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ct);
        x->is_sse =
            x->stream && x->status == 200 && ct && strncasecmp(ct, "text/event-stream", 17) == 0;
    }
    if (x->is_sse) {
        feed_sse(x, ptr, n);
        return x->stop ? 0 : n;
    }
    if (x->resp.len + n > MAX_BODY) {
        x->too_large = true;
        return 0;
    }
    if (!llmux__buf_append(&x->resp, ptr, n))
        return 0;
    return n;
}

/* ---- the end of a transfer
 * ------------------------------------------------------------------------ */

/* The failure an error answer means: {"error":{"type","message","attempts"?}}, else by
 * status. */
static void error_from_body(xfer *x, llmux_code *code, char *msg, size_t msgn, llmux__attempts *att)
{
    cJSON *root = x->resp.len ? cJSON_ParseWithLength(x->resp.p, x->resp.len) : NULL;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
    if (cJSON_IsObject(e) && jstr(e, "type")) {
        read_error_object(x, e);
        *code = x->fail_code;
        snprintf(msg, msgn, "%s", x->fail_msg);
        llmux__attempts_add_all(att, &x->fail_attempts);
        cJSON_Delete(root);
        return;
    }
    cJSON_Delete(root);
    switch (x->status) {
    case 400:
        *code = LLMUX_EINVALID_REQUEST;
        break;
    case 401:
        *code = LLMUX_EUNAUTHORIZED;
        break;
    case 404:
        *code = LLMUX_ENOT_FOUND;
        break;
    case 413:
    case 429:
    case 503:
        *code = LLMUX_ELIMIT;
        break;
    case 504:
        *code = LLMUX_ETIMEOUT;
        break;
    default:
        *code = LLMUX_EIO;
        break;
    }
    snprintf(msg, msgn, "the llmux proxy answered HTTP %ld without an error body", x->status);
}

static void transport_error(xfer *x, CURLcode res, llmux_code *code, char *msg, size_t msgn)
{
    *code = res == CURLE_OPERATION_TIMEDOUT ? LLMUX_ETIMEOUT : LLMUX_EIO;
    if (x->too_large)
        snprintf(msg, msgn, "the llmux proxy's answer is larger than %zu bytes", MAX_BODY);
    else
        snprintf(msg, msgn, "cannot talk to the llmux proxy at %s: %s", x->px->base,
                 curl_easy_strerror(res));
}

static void xfer_done(xfer *x, CURLcode res)
{
    if (!x->status && x->easy)
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
    xfer_release_easy(x);
    if (x->kind == X_DELETE) {
        xfer_free(x);
        return;
    }
    llmux__op *op = x->op;
    if (llmux__op_cancelled(op)) {
        xfer_end(x);
        return;
    }
    llmux_code code = LLMUX_OK;
    char msg[256] = "";
    llmux__attempts att;
    llmux__attempts_init(&att);
    llmux_response *resp = NULL;
    if (x->is_sse) {
        llmux__sse_event ev;
        if (!x->stop && llmux__sse_finish(&x->sse, &ev) == LLMUX__SSE_EVENT)
            handle_event(x, &ev);
        if (x->done) {
            code = LLMUX_OK;
        } else if (x->failed) {
            code = x->fail_code;
            snprintf(msg, sizeof msg, "%s", x->fail_msg);
            llmux__attempts_add_all(&att, &x->fail_attempts);
        } else if (x->malformed) {
            code = x->got_content ? LLMUX_ESTREAM_INTERRUPTED : LLMUX_EIO;
            snprintf(msg, sizeof msg, "the llmux proxy sent a stream event that is not JSON");
        } else {
            code = x->got_content ? LLMUX_ESTREAM_INTERRUPTED : LLMUX_EIO;
            snprintf(msg, sizeof msg, "the connection to the llmux proxy ended mid-stream (%s)",
                     res == CURLE_OK ? "no [DONE]" : curl_easy_strerror(res));
        }
    } else if (res != CURLE_OK) {
        transport_error(x, res, &code, msg, sizeof msg);
    } else if (x->status == 200 && x->kind == X_CONFIGURE) {
        code = LLMUX_OK;
    } else if (x->status == 200 && !x->stream) {
        cJSON *root = cJSON_ParseWithLength(x->resp.p ? x->resp.p : "", x->resp.len);
        bool nomem = false;
        resp = root ? llmux__client_response_from_json(root, &nomem) : NULL;
        cJSON_Delete(root);
        if (!resp) {
            code = nomem ? LLMUX_ENOMEM : LLMUX_EIO;
            snprintf(msg, sizeof msg, "%s",
                     nomem ? "out of memory reading the answer"
                           : "the llmux proxy's answer is not a chat.completion");
        }
    } else {
        error_from_body(x, &code, msg, sizeof msg, &att);
    }
    llmux__op_finish(op, code, msg, resp, &att);
    llmux__attempts_free(&att);
    xfer_end(x);
}

/* ---- the loop
 * -------------------------------------------------------------------------------------- */

static void post(llmux__proxy *px, pjob *j)
{
    pthread_mutex_lock(&px->mu);
    if (px->tail)
        px->tail->next = j;
    else
        px->head = j;
    px->tail = j;
    pthread_mutex_unlock(&px->mu);
    curl_multi_wakeup(px->multi);
}

static bool add_header(xfer *x, const char *line)
{
    struct curl_slist *l = curl_slist_append(x->headers, line);
    if (!l)
        return false;
    x->headers = l;
    return true;
}

/* Starts a transfer. False when it could not (ENOMEM). */
static bool xfer_start(llmux__proxy *px, xfer *x)
{
    CURL *h = pool_get(px);
    if (!h)
        return false;
    x->easy = h;
    if ((x->body && !add_header(x, "Content-Type: application/json")) ||
        (x->session_header[0] && !add_header(x, x->session_header)) ||
        (px->auth && !add_header(x, px->auth)) || !add_header(x, "Expect:") ||
        (x->stream && !add_header(x, "Accept: text/event-stream")))
        return false;
    curl_easy_setopt(h, CURLOPT_URL, x->url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, x->headers);
    if (x->body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, x->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body_len);
    }
    if (strcmp(x->method, "POST") != 0)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, x->method);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_PRIVATE, x);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, px->connect_timeout_ms);
    if (x->kind == X_DELETE)
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, DELETE_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (px->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, px->ca_file);
    if (px->insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (curl_multi_add_handle(px->multi, h) != CURLM_OK)
        return false;
    x->next = px->xfers;
    if (px->xfers)
        px->xfers->prev = x;
    px->xfers = x;
    x->linked = true;
    atomic_fetch_add(&px->n_requests, 1);
    return true;
}

static void run_job(llmux__proxy *px, pjob *j, bool *exit)
{
    xfer *x;
    switch (j->kind) {
    case P_ADD:
        x = j->x;
        if (x->op) {
            x->op->backend = x;
            if (llmux__op_cancelled(x->op)) {
                xfer_end(x);
                break;
            }
        }
        if (!xfer_start(px, x)) {
            if (x->easy) {
                curl_multi_remove_handle(px->multi, x->easy);
                curl_easy_cleanup(x->easy);
                x->easy = NULL;
            }
            if (x->op)
                llmux__op_finish(x->op, LLMUX_ENOMEM, "out of memory starting a request", NULL,
                                 NULL);
            if (x->op)
                xfer_end(x);
            else
                xfer_free(x);
        }
        break;
    case P_CANCEL:
        if ((x = j->op->backend))
            xfer_end(x);
        break;
    case P_RESUME:
        if ((x = j->op->backend) && x->pause_wanted && x->easy) {
            x->pause_wanted = false;
            curl_easy_pause(x->easy, CURLPAUSE_CONT);
        }
        break;
    case P_EXIT:
        *exit = true;
        break;
    }
}

static void pjob_free(pjob *j)
{
    if (j->op)
        llmux__op_unref(j->op);
    free(j);
}

/* True while a DELETE (a session's goodbye) is in flight. */
static bool deleting(const llmux__proxy *px)
{
    for (const xfer *x = px->xfers; x; x = x->next)
        if (x->kind == X_DELETE)
            return true;
    return false;
}

static void *loop_main(void *arg)
{
    llmux__proxy *px = arg;
    bool exit = false;
    double exit_by = 0;
    for (;;) {
        pthread_mutex_lock(&px->mu);
        pjob *jobs = px->head;
        px->head = px->tail = NULL;
        pthread_mutex_unlock(&px->mu);
        while (jobs) {
            pjob *j = jobs;
            jobs = j->next;
            run_job(px, j, &exit);
            pjob_free(j);
        }
        long wait_ms = 1000;
        if (exit) {
            /* Let the DELETEs of freed sessions reach the proxy (bounded); everything
             * else is abandoned by llmux__proxy_free. */
            double now = llmux__mono();
            if (!exit_by)
                exit_by = now + DELETE_TIMEOUT_MS / 1000.0;
            if (!deleting(px) || now >= exit_by)
                break;
            wait_ms = 20;
        }
        int running = 0;
        curl_multi_perform(px->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(px->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            xfer *x = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            if (x)
                xfer_done(x, m->data.result);
        }
        curl_multi_poll(px->multi, NULL, 0, (int)wait_ms, NULL);
    }
    return NULL;
}

/* ---- life cycle
 * ---------------------------------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

llmux_code llmux__proxy_new(llmux_client *client, const llmux_client_options *opts,
                            llmux__proxy **out, llmux_error *err)
{
    *out = NULL;
    const char *why = NULL;
    if (!llmux__base_url_check(opts->proxy_url, &why))
        return llmux__client_error(err, LLMUX_EINVALID_REQUEST, "proxy_url: %s",
                                   why ? why : "not a usable URL");
    if (opts->proxy_token && !llmux__key_chars_ok(opts->proxy_token, strlen(opts->proxy_token)))
        return llmux__client_error(err, LLMUX_EINVALID_REQUEST,
                                   "proxy_token: must be 1-8192 visible ASCII characters");
    pthread_once(&curl_once, curl_init_once);
    llmux__proxy *px = calloc(1, sizeof *px);
    if (!px)
        return llmux__client_error(err, LLMUX_ENOMEM, "out of memory");
    px->client = client;
    pthread_mutex_init(&px->mu, NULL);
    px->insecure = opts->tls_insecure;
    px->connect_timeout_ms =
        opts->connect_timeout_s > 0 ? (long)(opts->connect_timeout_s * 1000.0) : 10000L;
    px->max_connections = opts->max_connections ? opts->max_connections : 4;
    llmux_code rc = LLMUX_ENOMEM;
    px->base = strdup(opts->proxy_url);
    px->ca_file = opts->ca_file ? strdup(opts->ca_file) : NULL;
    if (!px->base || (opts->ca_file && !px->ca_file))
        goto nomem;
    size_t bl = strlen(px->base);
    while (bl && px->base[bl - 1] == '/')
        px->base[--bl] = '\0';
    if (bl >= 3 && strcmp(px->base + bl - 3, "/v1") == 0)
        px->base[bl -= 3] = '\0';
    if (opts->proxy_token && *opts->proxy_token) {
        static const char prefix[] = "Authorization: Bearer ";
        size_t tl = strlen(opts->proxy_token);
        px->auth = llmux__secret_alloc(sizeof prefix - 1 + tl);
        if (!px->auth)
            goto nomem;
        memcpy(px->auth, prefix, sizeof prefix - 1);
        memcpy(px->auth + sizeof prefix - 1, opts->proxy_token, tl);
    }
    px->multi = curl_multi_init();
    if (!px->multi)
        goto nomem;
    curl_multi_setopt(px->multi, CURLMOPT_MAXCONNECTS, (long)px->max_connections);
    if (pthread_create(&client->loop_thread, NULL, loop_main, px) != 0) {
        rc = llmux__client_error(err, LLMUX_EIO, "cannot start the client's thread");
        goto fail;
    }
    client->loop_started = true;
    px->thread_started = true;
    *out = px;
    return LLMUX_OK;
nomem:
    rc = llmux__client_error(err, LLMUX_ENOMEM, "out of memory");
fail:
    llmux__proxy_free(px);
    return rc;
}

void llmux__proxy_free(llmux__proxy *px)
{
    if (!px)
        return;
    if (px->thread_started) {
        pjob *j = calloc(1, sizeof *j);
        if (j) {
            j->kind = P_EXIT;
            post(px, j);
            pthread_join(px->client->loop_thread, NULL);
        } else {
            pthread_cancel(px->client->loop_thread);
            pthread_join(px->client->loop_thread, NULL);
        }
        px->client->loop_started = false;
    }
    /* The loop is stopped: this thread alone from here. */
    while (px->head) {
        pjob *j = px->head;
        px->head = j->next;
        if (j->kind == P_ADD) {
            if (j->x->op) {
                llmux__op_finish(j->x->op, LLMUX_EIO, "the client was freed", NULL, NULL);
                xfer_end(j->x);
            } else {
                xfer_free(j->x);
            }
        }
        pjob_free(j);
    }
    while (px->xfers) {
        xfer *x = px->xfers;
        if (x->op) {
            llmux__op_finish(x->op, LLMUX_EIO, "the client was freed", NULL, NULL);
            xfer_end(x);
        } else {
            xfer_release_easy(x);
            xfer_free(x);
        }
    }
    while (px->n_idle)
        curl_easy_cleanup(px->idle[--px->n_idle]);
    if (px->multi)
        curl_multi_cleanup(px->multi);
    llmux__secret_free(px->auth);
    free(px->base);
    free(px->ca_file);
    pthread_mutex_destroy(&px->mu);
    free(px);
}

llmux__client_stats llmux__proxy_stats(const llmux__proxy *px)
{
    llmux__client_stats s;
    s.requests = atomic_load(&((llmux__proxy *)px)->n_requests);
    s.connections = atomic_load(&((llmux__proxy *)px)->n_connections);
    return s;
}

/* ---- calls (caller's thread)
 * ------------------------------------------------------------------------- */

/* Posts x; on failure frees it. Takes a backend reference on x->op. */
static llmux_code submit(llmux__proxy *px, xfer *x, llmux_error *err)
{
    pjob *j = calloc(1, sizeof *j);
    if (!j) {
        xfer_free(x);
        return llmux__client_error(err, LLMUX_ENOMEM, "out of memory");
    }
    if (x->op)
        llmux__op_ref(x->op);
    j->kind = P_ADD;
    j->x = x;
    post(px, j);
    return LLMUX_OK;
}

static char *url_for(llmux__proxy *px, const char *path1, const char *id, const char *path2,
                     const char *provider)
{
    size_t n = strlen(px->base) + strlen(path1) + (id ? strlen(id) : 0) +
               (path2 ? strlen(path2) : 0) + (provider ? strlen(provider) : 0) + 1;
    char *u = malloc(n);
    if (u)
        snprintf(u, n, "%s%s%s%s%s", px->base, path1, id ? id : "", path2 ? path2 : "",
                 provider ? provider : "");
    return u;
}

/* Writes s as a JSON string literal at dst (room: 6 * strlen(s) + 3); returns the end. */
static char *json_lit(char *dst, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    *dst++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            *dst++ = '\\';
            *dst++ = (char)*p;
        } else if (*p < 0x20) {
            memcpy(dst, "\\u00", 4);
            dst[4] = hex[*p >> 4];
            dst[5] = hex[*p & 15];
            dst += 6;
        } else {
            *dst++ = (char)*p;
        }
    }
    *dst++ = '"';
    return dst;
}

/* The PUT body, in secret memory (it carries the key). NULL on ENOMEM. */
static char *configure_body(const llmux_provider_options *po, size_t *len)
{
    if (po->managed) {
        static const char m[] = "{\"managed\":true}";
        char *b = llmux__secret_dup(m, sizeof m - 1);
        *len = sizeof m - 1;
        return b;
    }
    size_t cap = 64 + 6 * strlen(po->api_key) + (po->base_url ? 6 * strlen(po->base_url) : 0) +
                 (po->api_version ? 6 * strlen(po->api_version) : 0);
    char *b = llmux__secret_alloc(cap);
    if (!b)
        return NULL;
    char *p = b;
    memcpy(p, "{\"api_key\":", 11);
    p = json_lit(p + 11, po->api_key);
    if (po->base_url && *po->base_url) {
        memcpy(p, ",\"base_url\":", 12);
        p = json_lit(p + 12, po->base_url);
    }
    if (po->api_version && *po->api_version) {
        memcpy(p, ",\"api_version\":", 15);
        p = json_lit(p + 15, po->api_version);
    }
    *p++ = '}';
    *p = '\0';
    *len = (size_t)(p - b);
    return b;
}

llmux_code llmux__proxy_configure(llmux__proxy *px, llmux_session *s, llmux__provider p,
                                  const llmux_provider_options *po, llmux_error *err)
{
    if (po->managed && ((po->base_url && *po->base_url)))
        return llmux__client_error(err, LLMUX_EINVALID_REQUEST,
                                   "configure_provider(\"%s\"): base_url goes with your own "
                                   "api_key, not with managed",
                                   llmux__provider_name(p));
    llmux__op *op = llmux__op_new(px->client, false, NULL);
    xfer *x = op ? xfer_new(px, X_CONFIGURE, NULL) : NULL;
    if (!x) {
        llmux__op_unref(op);
        return llmux__client_error(err, LLMUX_ENOMEM, "out of memory");
    }
    op->want_response = false;
    x->op = op;
    x->method = "PUT";
    x->url = url_for(px, "/v1/sessions/", s->id, "/providers/", llmux__provider_name(p));
    x->body = configure_body(po, &x->body_len);
    if (!x->url || !x->body) {
        x->op = NULL;
        xfer_free(x);
        llmux__op_unref(op);
        return llmux__client_error(err, LLMUX_ENOMEM, "out of memory");
    }
    llmux_code rc = submit(px, x, err);
    if (rc == LLMUX_OK) {
        llmux__op_wait(op, -1);
        rc = llmux__op_result(op, err);
    }
    llmux__op_unref(op);
    if (rc == LLMUX_OK) {
        pthread_mutex_lock(&s->mu);
        s->configured |= 1u << p;
        pthread_mutex_unlock(&s->mu);
    }
    return rc;
}

llmux_code llmux__proxy_start(llmux__proxy *px, llmux_session *s, llmux__request *req,
                              llmux__op *op, llmux_error *err)
{
    pthread_mutex_lock(&s->mu);
    unsigned configured = s->configured;
    pthread_mutex_unlock(&s->mu);
    llmux_code rc = LLMUX_OK;
    for (size_t i = 0; i < 1 + req->n_fallbacks; i++) {
        llmux__provider p = llmux__chain_provider(req, i);
        if (configured & (1u << p))
            continue;
        const char *name = llmux__provider_name(p);
        char where[48] = "";
        if (i > 0)
            snprintf(where, sizeof where, "fallbacks[%zu]: ", i - 1);
        rc = llmux__client_error(err, LLMUX_EPROVIDER_NOT_CONFIGURED,
                                 "%sprovider '%s' is not configured in session '%s': call "
                                 "configure_provider(\"%s\", ...) for it first (fallbacks too)",
                                 where, name, s->id, name);
        llmux__request_free(req);
        return rc;
    }
    xfer *x = xfer_new(px, X_CHAT, s);
    cJSON *j = x ? llmux__request_to_json(req) : NULL;
    bool stream = req->stream;
    llmux__request_free(req);
    if (x)
        x->body = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!x || !x->body || !(x->url = url_for(px, "/v1/chat/completions", NULL, NULL, NULL))) {
        xfer_free(x);
        return llmux__client_error(err, LLMUX_ENOMEM, "out of memory");
    }
    x->body_len = strlen(x->body);
    x->method = "POST";
    x->stream = stream;
    x->op = op;
    return submit(px, x, err);
}

static void post_op_job(llmux__proxy *px, pjob_kind kind, llmux__op *op)
{
    pjob *j = calloc(1, sizeof *j);
    if (!j)
        return;
    j->kind = kind;
    llmux__op_ref(op);
    j->op = op;
    post(px, j);
}

void llmux__proxy_cancel(llmux__proxy *px, llmux__op *op)
{
    post_op_job(px, P_CANCEL, op);
}

void llmux__proxy_resume(llmux__proxy *px, llmux__op *op)
{
    post_op_job(px, P_RESUME, op);
}

void llmux__proxy_session_free(llmux__proxy *px, llmux_session *s)
{
    if (!s->configured)
        return; /* nothing of ours on the proxy */
    xfer *x = xfer_new(px, X_DELETE, NULL);
    if (!x)
        return;
    x->method = "DELETE";
    x->url = url_for(px, "/v1/sessions/", s->id, NULL, NULL);
    if (!x->url) {
        xfer_free(x);
        return;
    }
    submit(px, x, NULL);
}
