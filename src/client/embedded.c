/*
 * embedded.c — embedded mode: the proxy's engine in-process (see client.h).
 *
 * One background thread runs an event_base with one llmux__engine (its curl multi
 * handle is the upstream connection pool). Public calls post jobs to it through a
 * mutex-protected FIFO and event_active() on a wake event (libevent is made
 * thread-aware once with evthread_use_pthreads()). Sessions live in a
 * llmux__session_store, exactly as in the proxy, with the token "" and no expiry;
 * managed keys and base URLs come from llmux__managed_keys_load() over the client's
 * getenv function (the process environment by default).
 *
 * Checks that need no network (provider configured, managed key present) are made on
 * the caller's thread, so a refused request never reaches the loop.
 */
#include "client/client.h"
#include "core/secret.h"
#include "core/sentence.h"
#include "engine/engine.h"
#include "server/keys.h"
#include "server/sessions.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum job_kind { JOB_CALL, JOB_CANCEL, JOB_RESUME, JOB_WARM, JOB_EXIT } job_kind;

typedef struct ecall ecall;

typedef struct job {
    job_kind kind;
    struct job *next;
    llmux__op *op;              /* CALL, CANCEL, RESUME: holds a reference */
    ecall *call;                /* CALL: the prepared call */
    llmux__provider_config cfg; /* WARM: owned copies (key in secret memory) */
} job;

/* One completion on the loop thread. */
struct ecall {
    ecall *prev, *next;
    llmux__embedded *emb;
    llmux__op *op;       /* the backend's reference */
    llmux__request *req; /* owned; alive until on_done or cancel */
    llmux__resolved_provider rp[LLMUX__MAX_FALLBACKS + 1]; /* until the engine copied them */
    size_t n_rp;
    llmux__call *call;
    llmux__sentencer *sentencer; /* chunk_by_sentence */
    bool stop;                   /* the caller went away: end quietly */
    bool paused;
};

struct llmux__embedded {
    llmux_client *client;
    struct event_base *base;
    llmux__engine *engine;
    llmux__session_store *store;
    llmux__managed_keys *keys;
    struct event *wake;
    bool thread_started;
    bool no_warmup;
    pthread_mutex_t mu; /* the job queue */
    job *head, *tail;
    ecall *calls; /* loop thread only */
};

/* ---- jobs ---------------------------------------------------------------------------- */

static void post(llmux__embedded *emb, job *j)
{
    pthread_mutex_lock(&emb->mu);
    if (emb->tail)
        emb->tail->next = j;
    else
        emb->head = j;
    emb->tail = j;
    pthread_mutex_unlock(&emb->mu);
    event_active(emb->wake, EV_READ, 0);
}

static void cfg_free(llmux__provider_config *c)
{
    llmux__secret_free((char *)c->api_key);
    free((char *)c->base_url);
    free((char *)c->api_version);
    memset(c, 0, sizeof *c);
}

static bool cfg_copy(llmux__provider_config *dst, const llmux__provider_config *src)
{
    memset(dst, 0, sizeof *dst);
    dst->provider = src->provider;
    dst->max_tokens_param = src->max_tokens_param;
    dst->no_stream_options = src->no_stream_options;
    dst->default_max_tokens = src->default_max_tokens;
    dst->api_key = src->api_key ? llmux__secret_strdup(src->api_key) : NULL;
    dst->base_url = src->base_url ? strdup(src->base_url) : NULL;
    dst->api_version = src->api_version ? strdup(src->api_version) : NULL;
    if ((src->api_key && !dst->api_key) || (src->base_url && !dst->base_url) ||
        (src->api_version && !dst->api_version)) {
        cfg_free(dst);
        return false;
    }
    return true;
}

static void ecall_free(ecall *c)
{
    llmux__embedded *emb = c->emb;
    if (c->prev)
        c->prev->next = c->next;
    else if (emb->calls == c)
        emb->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    for (size_t i = 0; i < c->n_rp; i++)
        llmux__resolved_provider_free(&c->rp[i]);
    llmux__sentencer_free(c->sentencer);
    llmux__request_free(c->req);
    free(c);
}

/* Detaches the call from its op and frees it; drops the backend's reference. */
static void ecall_done(ecall *c)
{
    llmux__op *op = c->op;
    op->backend = NULL;
    ecall_free(c);
    llmux__op_unref(op);
}

/* ---- engine callbacks (loop thread) -------------------------------------------------------- */

/* Pushes a chunk; records what the push asks for. Returns 0 or 1 (stop). */
static int push(ecall *c, const llmux_chunk *ch)
{
    llmux__push_result r = llmux__op_push(c->op, ch);
    if (r == LLMUX__PUSH_STOP) {
        c->stop = true;
        return 1;
    }
    if (r == LLMUX__PUSH_PAUSE && !c->paused && c->call) {
        c->paused = true;
        llmux__call_pause(c->call, true);
    }
    return 0;
}

static int push_text(void *ud, const char *s, size_t len)
{
    llmux_chunk ch = {0};
    ch.kind = LLMUX_CHUNK_TEXT;
    ch.text = s;
    ch.text_len = len;
    return push(ud, &ch);
}

static int flush_sentences(ecall *c)
{
    if (!c->sentencer)
        return 0;
    return llmux__sentencer_finish(c->sentencer, push_text, c) ? 1 : 0;
}

static void on_stream_start(void *ud, llmux__provider provider, const char *model)
{
    ecall *c = ud;
    llmux__op_set_answering(c->op, llmux__provider_name(provider), model);
}

static int on_delta(void *ud, const llmux__delta *d)
{
    ecall *c = ud;
    llmux_chunk ch = {0};
    int stop = 0;
    switch (d->kind) {
    case LLMUX__DELTA_TEXT:
        if (c->sentencer) {
            stop = llmux__sentencer_feed(c->sentencer, d->text, d->text_len, push_text, c) != 0;
        } else {
            stop = push_text(c, d->text, d->text_len);
        }
        break;
    case LLMUX__DELTA_TOOL_CALL_START:
        stop = flush_sentences(c);
        ch.kind = LLMUX_CHUNK_TOOL_CALL_START;
        ch.tool_index = d->index;
        ch.tool_id = d->tool_id ? d->tool_id : "";
        ch.tool_name = d->tool_name ? d->tool_name : "";
        stop = stop || push(c, &ch);
        break;
    case LLMUX__DELTA_TOOL_CALL_ARGS:
        ch.kind = LLMUX_CHUNK_TOOL_CALL_ARGS;
        ch.tool_index = d->index;
        ch.text = d->text;
        ch.text_len = d->text_len;
        stop = push(c, &ch);
        break;
    case LLMUX__DELTA_FINISH:
        stop = flush_sentences(c);
        ch.kind = LLMUX_CHUNK_FINISH;
        ch.finish_reason = llmux__finish_reason_name(d->finish_reason);
        if (!ch.finish_reason)
            ch.finish_reason = "";
        stop = stop || push(c, &ch);
        break;
    case LLMUX__DELTA_USAGE:
        ch.kind = LLMUX_CHUNK_USAGE;
        ch.usage.present = d->usage.present;
        ch.usage.prompt_tokens = d->usage.prompt_tokens;
        ch.usage.completion_tokens = d->usage.completion_tokens;
        ch.usage.total_tokens = d->usage.total_tokens;
        stop = push(c, &ch);
        break;
    default:
        break;
    }
    if (stop || c->stop) {
        /* Cancel explicitly (we are inside the engine's callback, so it only marks the call
         * and frees it when the transfer unwinds): every path of the engine checks the mark
         * before calling back again, including those that ignore our return value. */
        if (c->call)
            llmux__call_cancel(c->call);
        c->call = NULL;
        ecall_done(c);
        return 1;
    }
    return 0;
}

static void attempts_from_log(llmux__attempts *l, const llmux__attempt_log *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        llmux_attempt x = {0};
        x.provider = llmux__provider_name(a[i].provider);
        x.model = a[i].model;
        x.attempt = a[i].attempt;
        x.status = a[i].status;
        x.error = a[i].error;
        x.latency_ms = a[i].latency_ms;
        x.message = a[i].message;
        llmux__attempts_add(l, &x);
    }
}

static void on_done(void *ud, llmux__call_result *r)
{
    ecall *c = ud;
    c->call = NULL; /* the engine owns it from here */
    llmux__attempts att;
    llmux__attempts_init(&att);
    attempts_from_log(&att, r->attempts, r->n_attempts);
    llmux_response *resp = NULL;
    if (r->code == LLMUX_OK || r->code == LLMUX_ESTREAM_INTERRUPTED) {
        if (c->op->streaming && flush_sentences(c)) {
            llmux__attempts_free(&att);
            ecall_done(c);
            return;
        }
    }
    if (r->code == LLMUX_OK && !c->op->streaming) {
        resp = llmux__client_response_new(r->response, llmux__provider_name(r->provider), r->model,
                                          &att);
        r->response = NULL; /* taken */
    }
    const char *msg = r->message;
    if (r->code == LLMUX_ESTREAM_INTERRUPTED && !r->message[0])
        msg = "the stream was interrupted after the first chunk";
    llmux__op_finish(c->op, r->code, msg, resp, &att);
    llmux__attempts_free(&att);
    ecall_done(c);
}

/* ---- the loop ------------------------------------------------------------------------------ */

static void run_call(llmux__embedded *emb, ecall *c)
{
    llmux__provider_config cfgs[LLMUX__MAX_FALLBACKS + 1];
    for (size_t i = 0; i < c->n_rp; i++)
        cfgs[i] = c->rp[i].cfg;
    llmux__call_callbacks cb = {
        .ud = c, .on_stream_start = on_stream_start, .on_delta = on_delta, .on_done = on_done};
    llmux__error ie;
    llmux__error_clear(&ie);
    c->next = emb->calls;
    if (emb->calls)
        emb->calls->prev = c;
    emb->calls = c;
    c->op->backend = c;
    llmux_code rc = llmux__engine_call(emb->engine, c->req, cfgs, c->n_rp, &cb, &c->call, &ie);
    /* The engine copied the configs: wipe ours now. */
    for (size_t i = 0; i < c->n_rp; i++)
        llmux__resolved_provider_free(&c->rp[i]);
    c->n_rp = 0;
    if (rc != LLMUX_OK) {
        llmux__op_finish(c->op, rc, ie.message, NULL, NULL);
        ecall_done(c);
    }
}

static void run_job(llmux__embedded *emb, job *j)
{
    ecall *c;
    switch (j->kind) {
    case JOB_CALL:
        if (llmux__op_cancelled(j->call->op))
            ecall_done(j->call);
        else
            run_call(emb, j->call);
        break;
    case JOB_CANCEL:
        if ((c = j->op->backend)) {
            if (c->call)
                llmux__call_cancel(c->call);
            c->call = NULL;
            ecall_done(c);
        }
        break;
    case JOB_RESUME:
        if ((c = j->op->backend) && c->paused && c->call) {
            c->paused = false;
            llmux__call_pause(c->call, false);
        }
        break;
    case JOB_WARM:
        llmux__engine_warm(emb->engine, &j->cfg);
        break;
    case JOB_EXIT:
        event_base_loopbreak(emb->base);
        break;
    }
}

static void job_free(job *j)
{
    if (j->op)
        llmux__op_unref(j->op);
    cfg_free(&j->cfg);
    free(j);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    llmux__embedded *emb = arg;
    pthread_mutex_lock(&emb->mu);
    job *jobs = emb->head;
    emb->head = emb->tail = NULL;
    pthread_mutex_unlock(&emb->mu);
    while (jobs) {
        job *j = jobs;
        jobs = j->next;
        run_job(emb, j);
        job_free(j);
    }
}

static void *loop_main(void *arg)
{
    llmux__embedded *emb = arg;
    event_base_dispatch(emb->base);
    return NULL;
}

static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;

static void evthread_init(void)
{
    evthread_use_pthreads();
}

llmux_code llmux__embedded_new(llmux_client *client, const llmux_client_options *opts,
                               llmux__embedded **out, llmux_error *err)
{
    *out = NULL;
    pthread_once(&evthread_once, evthread_init);
    llmux__embedded *emb = calloc(1, sizeof *emb);
    if (!emb)
        return llmux__client_error(err, LLMUX_ENOMEM, "out of memory");
    emb->client = client;
    emb->no_warmup = opts->no_warmup;
    pthread_mutex_init(&emb->mu, NULL);
    llmux__error ie;
    llmux__error_clear(&ie);
    llmux_code rc = LLMUX_ENOMEM;
    emb->keys = llmux__managed_keys_load(opts->getenv_fn ? (llmux__getenv_fn)opts->getenv_fn
                                                         : llmux__getenv_process,
                                         opts->getenv_ud, &ie);
    if (!emb->keys) {
        rc = llmux__client_error(err, ie.code, "embedded mode: %s", ie.message);
        goto fail;
    }
    llmux__session_limits lim = {.idle_ttl = -1};
    emb->store = llmux__session_store_new(&lim);
    emb->base = event_base_new();
    llmux__engine_options eo = {.connect_timeout_ms = opts->connect_timeout_s > 0
                                                          ? (long)(opts->connect_timeout_s * 1000.0)
                                                          : 0,
                                .ca_file = opts->ca_file,
                                .tls_insecure = opts->tls_insecure};
    emb->engine = emb->base ? llmux__engine_new(emb->base, &eo) : NULL;
    emb->wake = emb->base ? event_new(emb->base, -1, EV_PERSIST | EV_READ, on_wake, emb) : NULL;
    if (!emb->store || !emb->engine || !emb->wake) {
        rc = llmux__client_error(err, LLMUX_ENOMEM, "out of memory starting embedded mode");
        goto fail;
    }
    event_add(emb->wake, NULL);
    if (pthread_create(&client->loop_thread, NULL, loop_main, emb) != 0) {
        rc = llmux__client_error(err, LLMUX_EIO, "cannot start the client's thread");
        goto fail;
    }
    client->loop_started = true;
    emb->thread_started = true;
    *out = emb;
    return LLMUX_OK;
fail:
    llmux__embedded_free(emb);
    return rc;
}

void llmux__embedded_free(llmux__embedded *emb)
{
    if (!emb)
        return;
    if (emb->thread_started) {
        job *j = calloc(1, sizeof *j);
        if (j) {
            j->kind = JOB_EXIT;
            post(emb, j);
        } else {
            event_base_loopbreak(emb->base);
        }
        pthread_join(emb->client->loop_thread, NULL);
        emb->client->loop_started = false;
    }
    /* The loop is stopped: everything below runs on this thread alone. */
    while (emb->head) {
        job *j = emb->head;
        emb->head = j->next;
        if (j->kind == JOB_CALL) {
            llmux__op_finish(j->call->op, LLMUX_EIO, "the client was freed", NULL, NULL);
            ecall_done(j->call);
        }
        job_free(j);
    }
    emb->tail = NULL;
    llmux__engine_free(emb->engine); /* cancels calls: no callback runs */
    while (emb->calls) {
        ecall *c = emb->calls;
        llmux__op_finish(c->op, LLMUX_EIO, "the client was freed", NULL, NULL);
        ecall_done(c);
    }
    if (emb->wake)
        event_free(emb->wake);
    if (emb->base)
        event_base_free(emb->base);
    llmux__session_store_free(emb->store);
    llmux__managed_keys_free(emb->keys);
    pthread_mutex_destroy(&emb->mu);
    free(emb);
}

/* ---- configure and start (caller's thread) ----------------------------------------------------
 */

static const char *key_variable(llmux__provider p)
{
    switch (p) {
    case LLMUX__PROVIDER_OPENAI:
        return "OPENAI_API_KEY";
    case LLMUX__PROVIDER_AZURE:
        return "AZURE_OPENAI_API_KEY and AZURE_OPENAI_ENDPOINT";
    case LLMUX__PROVIDER_ANTHROPIC:
        return "ANTHROPIC_API_KEY";
    default:
        return "GEMINI_API_KEY";
    }
}

static llmux_code managed_unavailable(llmux_error *err, llmux__provider p)
{
    return llmux__client_error(err, LLMUX_EMANAGED_KEY_UNAVAILABLE,
                               "no managed key for %s in this process's environment (embedded "
                               "mode): set %s, or put a '%s' file in LLMUX_KEYS_DIR",
                               llmux__provider_name(p), key_variable(p), llmux__provider_name(p));
}

llmux_code llmux__embedded_configure(llmux__embedded *emb, llmux_session *s, llmux__provider p,
                                     const llmux_provider_options *po, llmux_error *err)
{
    llmux__provider_entry e = {.managed = po->managed,
                               .api_key = po->api_key,
                               .base_url = po->base_url,
                               .api_version = po->api_version};
    llmux__error ie;
    llmux__error_clear(&ie);
    bool first = false;
    llmux_code rc = llmux__session_configure(emb->store, "", s->id, p, &e, emb->keys, llmux__mono(),
                                             &first, &ie);
    if (rc == LLMUX_EMANAGED_KEY_UNAVAILABLE)
        return managed_unavailable(err, p);
    if (rc != LLMUX_OK)
        return llmux__client_error_from(err, &ie);
    if (first && !emb->no_warmup) {
        llmux__resolved_provider rp;
        if (llmux__session_resolve(emb->store, emb->keys, "", s->id, p, llmux__mono(), &rp, &ie) ==
            LLMUX_OK) {
            job *j = calloc(1, sizeof *j);
            if (j && cfg_copy(&j->cfg, &rp.cfg)) {
                j->kind = JOB_WARM;
                post(emb, j);
            } else {
                free(j); /* warm-up is an optimisation: skip it when out of memory */
            }
            llmux__resolved_provider_free(&rp);
        }
    }
    return llmux__client_error(err, LLMUX_OK, "%s", "");
}

llmux_code llmux__embedded_start(llmux__embedded *emb, llmux_session *s, llmux__request *req,
                                 llmux__op *op, llmux_error *err)
{
    ecall *c = calloc(1, sizeof *c);
    if (!c) {
        llmux__request_free(req);
        return llmux__client_error(err, LLMUX_ENOMEM, "out of memory");
    }
    c->emb = emb;
    c->req = req;
    c->op = op;
    llmux_code rc = LLMUX_OK;
    llmux__error ie;
    llmux__error_clear(&ie);
    size_t n = 1 + req->n_fallbacks;
    double now = llmux__mono();
    for (size_t i = 0; i < n; i++) {
        llmux__provider p = llmux__chain_provider(req, i);
        rc = llmux__session_resolve(emb->store, emb->keys, "", s->id, p, now, &c->rp[i], &ie);
        if (rc == LLMUX_EMANAGED_KEY_UNAVAILABLE) {
            managed_unavailable(err, p);
            goto fail;
        }
        if (rc != LLMUX_OK) {
            if (i > 0)
                llmux__client_error(err, rc, "fallbacks[%zu]: %s", i - 1, ie.message);
            else
                llmux__client_error_from(err, &ie);
            goto fail;
        }
        c->n_rp = i + 1;
    }
    if (req->stream && req->stream_options.chunk_by_sentence) {
        llmux__sentence_options so = {.clean = req->stream_options.clean_sentences,
                                      .eager_first_chunk = req->stream_options.eager_first_chunk};
        if (!(c->sentencer = llmux__sentencer_new(&so))) {
            rc = llmux__client_error(err, LLMUX_ENOMEM, "out of memory");
            goto fail;
        }
    }
    job *j = calloc(1, sizeof *j);
    if (!j) {
        rc = llmux__client_error(err, LLMUX_ENOMEM, "out of memory");
        goto fail;
    }
    llmux__op_ref(op); /* the backend's, dropped by ecall_done */
    j->kind = JOB_CALL;
    j->call = c;
    post(emb, j);
    return LLMUX_OK;
fail:
    c->op = NULL;
    c->prev = c->next = NULL;
    for (size_t i = 0; i < c->n_rp; i++)
        llmux__resolved_provider_free(&c->rp[i]);
    llmux__sentencer_free(c->sentencer);
    llmux__request_free(c->req);
    free(c);
    return rc;
}

static void post_op_job(llmux__embedded *emb, job_kind kind, llmux__op *op)
{
    job *j = calloc(1, sizeof *j);
    if (!j)
        return; /* a lost resume/cancel only delays the op until its own end */
    j->kind = kind;
    llmux__op_ref(op);
    j->op = op;
    post(emb, j);
}

void llmux__embedded_cancel(llmux__embedded *emb, llmux__op *op)
{
    /* From a callback on the loop too: the job runs once the callback returned (the next
     * push returns STOP before that). */
    post_op_job(emb, JOB_CANCEL, op);
}

void llmux__embedded_resume(llmux__embedded *emb, llmux__op *op)
{
    post_op_job(emb, JOB_RESUME, op);
}

void llmux__embedded_session_free(llmux__embedded *emb, llmux_session *s)
{
    llmux__session_delete(emb->store, "", s->id);
}
