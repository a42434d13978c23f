/*
 * op.c — one completion in flight (see client.h): the hand-over between the backend's
 * loop thread and the caller, and the public stream functions (llmux_stream_*).
 *
 * Who touches what. The loop thread pushes chunks, records the answering provider and
 * finishes the op; the caller waits, pops chunks, cancels. Both sides hold a reference
 * (plus one per queued job), so either may drop out first. Callbacks run on the loop
 * thread with `in_callback` set; a cancel from another thread waits for it to clear,
 * which is what makes "no callback runs after llmux_stream_free returns" true.
 */
#include "client/client.h"
#include "engine/engine.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct llmux__chunk_node {
    llmux__chunk_node *next;
    llmux_chunk chunk;
    char data[]; /* text NUL [tool_id NUL] [tool_name NUL] [finish_reason NUL] */
};

llmux__op *llmux__op_new(llmux_client *client, bool streaming, const llmux_stream_callbacks *cb)
{
    llmux__op *op = calloc(1, sizeof(struct llmux_stream));
    if (!op)
        return NULL;
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0) {
        free(op);
        return NULL;
    }
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (pthread_cond_init(&op->cv, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        free(op);
        return NULL;
    }
    pthread_condattr_destroy(&ca);
    if (pthread_mutex_init(&op->mu, NULL) != 0) {
        pthread_cond_destroy(&op->cv);
        free(op);
        return NULL;
    }
    op->client = client;
    op->refs = 1;
    op->streaming = streaming;
    op->want_response = !streaming;
    if (cb) {
        op->has_callbacks = true;
        op->cb = *cb;
    }
    op->code = LLMUX_OK;
    llmux__attempts_init(&op->attempts);
    llmux_error init = LLMUX_ERROR_INIT;
    op->view = init;
    return op;
}

void llmux__op_ref(llmux__op *op)
{
    pthread_mutex_lock(&op->mu);
    op->refs++;
    pthread_mutex_unlock(&op->mu);
}

static void free_chunks(llmux__chunk_node *n)
{
    while (n) {
        llmux__chunk_node *next = n->next;
        free(n);
        n = next;
    }
}

void llmux__op_unref(llmux__op *op)
{
    if (!op)
        return;
    pthread_mutex_lock(&op->mu);
    int left = --op->refs;
    pthread_mutex_unlock(&op->mu);
    if (left > 0)
        return;
    free_chunks(op->head);
    free(op->current);
    llmux_response_free(op->response);
    free(op->model);
    llmux__attempts_free(&op->attempts);
    llmux_error_free(&op->view);
    pthread_mutex_destroy(&op->mu);
    pthread_cond_destroy(&op->cv);
    free(op);
}

/* ---- the loop thread's side ---------------------------------------------------------- */

void llmux__op_set_answering(llmux__op *op, const char *provider, const char *model)
{
    char *m = strdup(model ? model : "");
    pthread_mutex_lock(&op->mu);
    op->provider = provider;
    if (!op->model) {
        op->model = m;
        m = NULL;
    }
    pthread_mutex_unlock(&op->mu);
    free(m);
}

bool llmux__op_cancelled(llmux__op *op)
{
    pthread_mutex_lock(&op->mu);
    bool c = op->cancelled;
    pthread_mutex_unlock(&op->mu);
    return c;
}

/* A node holding a copy of c's strings. NULL on ENOMEM. */
static llmux__chunk_node *node_new(const llmux_chunk *c)
{
    size_t tl = c->text ? c->text_len : 0;
    size_t il = c->tool_id ? strlen(c->tool_id) : 0;
    size_t nl = c->tool_name ? strlen(c->tool_name) : 0;
    size_t fl = c->finish_reason ? strlen(c->finish_reason) : 0;
    llmux__chunk_node *n = malloc(sizeof *n + tl + il + nl + fl + 4);
    if (!n)
        return NULL;
    n->next = NULL;
    n->chunk = *c;
    char *p = n->data;
    if (tl)
        memcpy(p, c->text, tl);
    p[tl] = '\0';
    n->chunk.text = p;
    n->chunk.text_len = tl;
    p += tl + 1;
    n->chunk.tool_id = NULL;
    if (c->tool_id) {
        memcpy(p, c->tool_id, il + 1);
        n->chunk.tool_id = p;
        p += il + 1;
    }
    n->chunk.tool_name = NULL;
    if (c->tool_name) {
        memcpy(p, c->tool_name, nl + 1);
        n->chunk.tool_name = p;
        p += nl + 1;
    }
    n->chunk.finish_reason = NULL;
    if (c->finish_reason) {
        memcpy(p, c->finish_reason, fl + 1);
        n->chunk.finish_reason = p;
    }
    return n;
}

/* Ends the op with `code` (under mu). */
static void end_locked(llmux__op *op, llmux_code code, const char *message)
{
    op->ended = true;
    op->code = code;
    snprintf(op->message, sizeof op->message, "%s",
             message && *message ? message : (code ? llmux_strerror(code) : ""));
    pthread_cond_broadcast(&op->cv);
}

llmux__push_result llmux__op_push(llmux__op *op, const llmux_chunk *chunk)
{
    llmux__chunk_node *n = node_new(chunk);
    pthread_mutex_lock(&op->mu);
    if (op->cancelled || op->ended) {
        pthread_mutex_unlock(&op->mu);
        free(n);
        return LLMUX__PUSH_STOP;
    }
    if (!n) {
        bool cbs = op->has_callbacks;
        end_locked(op, LLMUX_ENOMEM, "out of memory queueing a chunk");
        if (cbs)
            op->in_callback = true;
        pthread_mutex_unlock(&op->mu);
        if (cbs) {
            llmux_error e = {LLMUX_ENOMEM, "out of memory queueing a chunk", NULL, 0, NULL};
            op->cb.on_end(op->cb.ud, &e);
            pthread_mutex_lock(&op->mu);
            op->in_callback = false;
            pthread_cond_broadcast(&op->cv);
            pthread_mutex_unlock(&op->mu);
        }
        return LLMUX__PUSH_STOP;
    }
    n->chunk.provider = op->provider ? op->provider : "";
    n->chunk.model = op->model ? op->model : "";
    if (op->has_callbacks) {
        op->in_callback = true;
        pthread_mutex_unlock(&op->mu);
        int rc = op->cb.on_chunk ? op->cb.on_chunk(op->cb.ud, &n->chunk) : 0;
        free(n);
        pthread_mutex_lock(&op->mu);
        op->in_callback = false;
        if (rc)
            op->cancelled = true;
        pthread_cond_broadcast(&op->cv);
        pthread_mutex_unlock(&op->mu);
        return rc ? LLMUX__PUSH_STOP : LLMUX__PUSH_GO;
    }
    if (op->tail)
        op->tail->next = n;
    else
        op->head = n;
    op->tail = n;
    op->queued++;
    llmux__push_result res = LLMUX__PUSH_GO;
    if (op->queued >= LLMUX__OP_QUEUE_HIGH && !op->paused) {
        op->paused = true;
        res = LLMUX__PUSH_PAUSE;
    }
    pthread_cond_broadcast(&op->cv);
    pthread_mutex_unlock(&op->mu);
    return res;
}

void llmux__op_finish(llmux__op *op, llmux_code code, const char *message, llmux_response *response,
                      const llmux__attempts *attempts)
{
    pthread_mutex_lock(&op->mu);
    if (op->ended) {
        pthread_mutex_unlock(&op->mu);
        llmux_response_free(response);
        return;
    }
    if (attempts && !llmux__attempts_add_all(&op->attempts, attempts) && code == LLMUX_OK) {
        llmux_response_free(response);
        response = NULL;
        code = LLMUX_ENOMEM;
        message = "out of memory keeping the attempt log";
    }
    if (op->want_response && code == LLMUX_OK && !response) {
        code = LLMUX_ENOMEM;
        message = "out of memory building the response";
    }
    end_locked(op, code, message);
    if (op->cancelled) {
        pthread_mutex_unlock(&op->mu);
        llmux_response_free(response);
        return;
    }
    op->response = response;
    if (!op->has_callbacks) {
        pthread_mutex_unlock(&op->mu);
        return;
    }
    op->in_callback = true;
    llmux_error e = LLMUX_ERROR_INIT;
    e.code = op->code;
    snprintf(e.message, sizeof e.message, "%s", op->message);
    e.attempts = op->attempts.v;
    e.n_attempts = op->attempts.n;
    pthread_mutex_unlock(&op->mu);
    /* op stays alive: the backend's reference is dropped only after this returns. */
    if (op->cb.on_end)
        op->cb.on_end(op->cb.ud, &e);
    pthread_mutex_lock(&op->mu);
    op->in_callback = false;
    pthread_cond_broadcast(&op->cv);
    pthread_mutex_unlock(&op->mu);
}

/* ---- the caller's side ----------------------------------------------------------------- */

static void deadline_ts(double deadline, struct timespec *ts)
{
    double s = floor(deadline);
    ts->tv_sec = (time_t)s;
    ts->tv_nsec = (long)((deadline - s) * 1e9);
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Waits on op->cv (mu held) until the monotonic deadline (< 0: none). False on timeout. */
static bool wait_locked(llmux__op *op, double deadline)
{
    if (deadline < 0) {
        pthread_cond_wait(&op->cv, &op->mu);
        return true;
    }
    struct timespec ts;
    deadline_ts(deadline, &ts);
    return pthread_cond_timedwait(&op->cv, &op->mu, &ts) != ETIMEDOUT;
}

bool llmux__op_wait(llmux__op *op, double deadline)
{
    pthread_mutex_lock(&op->mu);
    while (!op->ended)
        if (!wait_locked(op, deadline))
            break;
    bool ended = op->ended;
    pthread_mutex_unlock(&op->mu);
    return ended;
}

bool llmux__op_cancel(llmux__op *op)
{
    bool on_loop = llmux__client_on_loop(op->client);
    pthread_mutex_lock(&op->mu);
    bool running = !op->ended && !op->cancelled;
    op->cancelled = true;
    if (!on_loop)
        while (op->in_callback)
            pthread_cond_wait(&op->cv, &op->mu);
    pthread_mutex_unlock(&op->mu);
    return running;
}

llmux_code llmux__op_result(llmux__op *op, llmux_error *err)
{
    pthread_mutex_lock(&op->mu);
    llmux_code code = op->code;
    if (err) {
        llmux__client_error(err, code, "%s", code ? op->message : "");
        if (op->attempts.n && !llmux__client_error_set_attempts(err, &op->attempts))
            llmux__client_error(err, LLMUX_ENOMEM, "out of memory copying the attempts");
    }
    pthread_mutex_unlock(&op->mu);
    return code;
}

/* ---- public stream functions --------------------------------------------------------------- */

/* Fills op->view with the end (mu held). */
static void fill_view_locked(llmux__op *op)
{
    if (op->view_attempts)
        return;
    llmux__client_error(&op->view, op->code, "%s", op->code ? op->message : "");
    if (op->attempts.n)
        llmux__client_error_set_attempts(&op->view, &op->attempts);
    op->view_attempts = true;
}

llmux_code llmux_stream_next(llmux_stream *stream, llmux_chunk *chunk, double timeout_s)
{
    llmux__op *op = &stream->op;
    memset(chunk, 0, sizeof *chunk);
    chunk->text = "";
    if (op->has_callbacks)
        return LLMUX_EINVALID_REQUEST;
    free(op->current);
    op->current = NULL;
    double deadline = timeout_s < 0 ? -1 : llmux__mono() + timeout_s;
    pthread_mutex_lock(&op->mu);
    for (;;) {
        llmux__chunk_node *n = op->head;
        if (n) {
            op->head = n->next;
            if (!op->head)
                op->tail = NULL;
            op->queued--;
            bool resume = false;
            if (op->paused && op->queued <= LLMUX__OP_QUEUE_LOW && !op->ended) {
                op->paused = false;
                resume = true;
            }
            pthread_mutex_unlock(&op->mu);
            op->current = n;
            *chunk = n->chunk;
            if (resume)
                llmux__client_backend_resume(op->client, op);
            return LLMUX_OK;
        }
        if (op->ended || op->cancelled) {
            llmux_code code = op->ended ? op->code : LLMUX_ESTREAM_INTERRUPTED;
            if (!op->ended) {
                op->ended = true;
                op->code = code;
                snprintf(op->message, sizeof op->message, "stream cancelled");
            }
            fill_view_locked(op);
            if (code == LLMUX_OK) {
                chunk->kind = LLMUX_CHUNK_END;
                chunk->provider = op->provider ? op->provider : "";
                chunk->model = op->model ? op->model : "";
            }
            pthread_mutex_unlock(&op->mu);
            return code;
        }
        if (!wait_locked(op, deadline) && !op->head && !op->ended) {
            pthread_mutex_unlock(&op->mu);
            return LLMUX_ETIMEOUT;
        }
    }
}

const llmux_error *llmux_stream_error(const llmux_stream *stream)
{
    return &stream->op.view;
}

const char *llmux_stream_provider(const llmux_stream *stream)
{
    llmux__op *op = (llmux__op *)&stream->op;
    pthread_mutex_lock(&op->mu);
    const char *p = op->provider;
    pthread_mutex_unlock(&op->mu);
    return p;
}

const char *llmux_stream_model(const llmux_stream *stream)
{
    llmux__op *op = (llmux__op *)&stream->op;
    pthread_mutex_lock(&op->mu);
    const char *m = op->provider ? op->model : NULL;
    pthread_mutex_unlock(&op->mu);
    return m;
}

size_t llmux_stream_attempt_count(const llmux_stream *stream)
{
    return stream->op.view_attempts ? stream->op.view.n_attempts : 0;
}

const llmux_attempt *llmux_stream_attempt(const llmux_stream *stream, size_t i)
{
    if (!stream->op.view_attempts || i >= stream->op.view.n_attempts)
        return NULL;
    return &stream->op.view.attempts[i];
}

void llmux_stream_free(llmux_stream *stream)
{
    if (!stream)
        return;
    llmux__op *op = &stream->op;
    if (llmux__op_cancel(op))
        llmux__client_backend_cancel(op->client, op);
    llmux__op_unref(op);
}
