/*
 * client.h — internals of the client library (include/llmux.h, "Client" section).
 *
 * Layout:
 *   client.c    the public API: clients, sessions, configure, completions, streams,
 *               send_and_wait; dispatches to one of the two backends
 *   op.c        one operation in flight (llmux_stream): the result of a blocking call or
 *               the chunk queue of a stream, the hand-over between the backend thread
 *               and the caller, callbacks, cancellation, reference counts
 *   result.c    responses, attempt lists, errors, JSON to and from responses
 *   embedded.c  embedded mode: an event_base + llmux__engine on a background thread,
 *               the session store and managed keys of src/server/
 *   proxy.c     proxy mode: libcurl multi on a background thread, the proxy's HTTP
 *               contract, SSE parsing
 *   env.c       provider options from the environment, the .env loader
 *
 * Threads. Every backend runs one background thread ("the loop thread"). Public calls
 * post jobs to it and wait on the operation's condition variable; the loop thread is
 * the only one that touches transfers, engine calls, timers and sentencers. An op's
 * fields documented "under mu" are shared between the two sides.
 */
#ifndef LLMUX_CLIENT_CLIENT_H
#define LLMUX_CLIENT_CLIENT_H

#include "core/arena.h"
#include "core/error.h"
#include "core/request.h"
#include "core/response.h"
#include "llmux.h"
#include "server/sessions.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#define LLMUX__SESSION_ID_BUF (LLMUX__SESSION_ID_MAX + 1)

typedef struct llmux__embedded llmux__embedded;
typedef struct llmux__proxy llmux__proxy;

/* ---- Attempt lists (result.c) ------------------------------------------------------ */

/* A growable list of attempts whose strings live in its own arena. */
typedef struct llmux__attempts {
    llmux_attempt *v;
    size_t n, cap;
    llmux__arena strings;
} llmux__attempts;

void llmux__attempts_init(llmux__attempts *l);
void llmux__attempts_free(llmux__attempts *l);
/* Appends a copy of a (strings copied). False on ENOMEM. */
bool llmux__attempts_add(llmux__attempts *l, const llmux_attempt *a);
/* Appends copies of every attempt of src. False on ENOMEM. */
bool llmux__attempts_add_all(llmux__attempts *l, const llmux__attempts *src);
/* Parses a JSON array of {provider, model, attempt?, status, error_type, message?,
 * latency_ms} (the proxy's attempts) and appends them. Missing attempt numbers are
 * inferred (consecutive entries of one provider+model count up). False on ENOMEM. */
bool llmux__attempts_add_json(llmux__attempts *l, const cJSON *arr);
/* The attempts as the proxy's JSON array. NULL on ENOMEM. */
cJSON *llmux__attempts_to_json(const llmux__attempts *l);

/* ---- Errors (result.c) --------------------------------------------------------------- */

/* Fills err (may be NULL; its earlier attempts are released) with code and message.
 * Returns code. */
llmux_code llmux__client_error(llmux_error *err, llmux_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same from an internal llmux__error. */
llmux_code llmux__client_error_from(llmux_error *err, const llmux__error *ie);
/* Gives err a copy of the attempts (err's code/message untouched). False on ENOMEM. */
bool llmux__client_error_set_attempts(llmux_error *err, const llmux__attempts *l);

/* ---- Responses (result.c) -------------------------------------------------------------- */

struct llmux_response {
    llmux__response *core;       /* text, tool calls, finish, usage, id, upstream model */
    const char *provider;        /* static name */
    char *model;                 /* the chain entry's model (malloc) */
    llmux_tool_call *tool_calls; /* views of core's calls */
    llmux__attempts attempts;
};

/* A response that takes `core` (always, even on failure) and copies model and the
 * attempts. NULL on ENOMEM. */
llmux_response *llmux__client_response_new(llmux__response *core, const char *provider,
                                           const char *model, const llmux__attempts *attempts);

/* Builds a response from the proxy's chat.completion JSON. NULL when the document is not
 * a chat.completion (or ENOMEM; *nomem tells which). */
llmux_response *llmux__client_response_from_json(const cJSON *root, bool *nomem);

/* ---- Operations (op.c) ------------------------------------------------------------------- */

typedef struct llmux__chunk_node llmux__chunk_node;

/* One completion in flight (public name for streams: llmux_stream). */
typedef struct llmux__op {
    llmux_client *client;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    int refs;          /* under mu: the caller's, the backend's, one per queued job */
    bool streaming;
    bool want_response; /* a successful end must carry a response (blocking completions) */
    bool has_callbacks;
    llmux_stream_callbacks cb;

    /* under mu */
    bool cancelled;   /* the caller gave up: no callback, no chunk any more */
    bool ended;       /* the backend reported the end */
    bool in_callback; /* a callback of this op is running on the loop thread */
    llmux_code code;  /* the end: LLMUX_OK or the failure */
    char message[256];
    llmux__attempts attempts;
    llmux_response *response; /* non-streaming success, until the caller takes it */
    llmux__chunk_node *head, *tail;
    size_t queued;
    bool paused;          /* the backend stopped reading because the queue is full */
    const char *provider; /* static, once known */
    char *model;          /* once known (malloc) */

    /* the caller's side only */
    llmux__chunk_node *current; /* the chunk last returned by llmux_stream_next */
    llmux_error view;           /* what llmux_stream_error returns */
    bool view_attempts;         /* view holds a copy of the attempts */

    /* the loop thread's side only */
    void *backend; /* embedded: its call state; proxy: its transfer */
} llmux__op;

struct llmux_stream {
    llmux__op op;
};

/* Queue bounds of a pull stream: above HIGH chunks the backend pauses the upstream
 * (nothing more is read), at LOW it resumes. */
#define LLMUX__OP_QUEUE_HIGH 64
#define LLMUX__OP_QUEUE_LOW 16

/* A new op with one reference (the caller's). NULL on ENOMEM. */
llmux__op *llmux__op_new(llmux_client *client, bool streaming, const llmux_stream_callbacks *cb);
/* Takes one more reference. */
void llmux__op_ref(llmux__op *op);
/* Drops one reference; the last one frees the op. */
void llmux__op_unref(llmux__op *op);

/* Backend side (loop thread). */
/* Records the provider and model answering (before the first chunk). */
void llmux__op_set_answering(llmux__op *op, const char *provider, const char *model);

/* What the backend should do after a chunk. */
typedef enum llmux__push_result {
    LLMUX__PUSH_GO = 0,    /* go on */
    LLMUX__PUSH_PAUSE = 1, /* go on but stop reading upstream until resumed */
    LLMUX__PUSH_STOP = 2   /* cancelled (or ENOMEM): abort the transfer, end quietly */
} llmux__push_result;

/* Delivers one chunk (copied): to the queue, or to on_chunk. */
llmux__push_result llmux__op_push(llmux__op *op, const llmux_chunk *chunk);

/* The end: code (LLMUX_OK or a failure), message, the non-streaming response (taken,
 * may be NULL) and attempts to add (may be NULL). Wakes the caller or runs on_end.
 * Later calls are ignored (the response is then freed). */
void llmux__op_finish(llmux__op *op, llmux_code code, const char *message, llmux_response *response,
                      const llmux__attempts *attempts);

/* True when the caller cancelled. */
bool llmux__op_cancelled(llmux__op *op);

/* Caller side. */
/* Waits until the op ended, at most until the monotonic time `deadline` (< 0: no
 * limit). True when it ended. */
bool llmux__op_wait(llmux__op *op, double deadline);
/* Marks the op cancelled and waits until no callback of it runs (unless called from
 * the loop thread itself). Returns true when it had not ended (the backend must be told). */
bool llmux__op_cancel(llmux__op *op);
/* The caller's result of an ended op: code, and err filled with message + attempts. */
llmux_code llmux__op_result(llmux__op *op, llmux_error *err);

/* ---- Clients and sessions (client.c) ---------------------------------------------------- */

struct llmux_client {
    bool embedded;
    llmux__embedded *emb;
    llmux__proxy *proxy;
    pthread_t loop_thread; /* set by the backend once its thread runs */
    bool loop_started;
};

/* True when the current thread is the client's loop thread. */
bool llmux__client_on_loop(const llmux_client *client);

/* Tell the client's backend that the caller cancelled op / drained its queue. */
void llmux__client_backend_cancel(llmux_client *client, llmux__op *op);
void llmux__client_backend_resume(llmux_client *client, llmux__op *op);

typedef struct llmux__variable {
    struct llmux__variable *next;
    char *name;  /* malloc */
    char *value; /* secret memory */
} llmux__variable;

typedef struct llmux__turn {
    llmux__role role;
    char *content; /* malloc */
} llmux__turn;

struct llmux_session {
    llmux_client *client;
    char id[LLMUX__SESSION_ID_BUF];
    pthread_mutex_t mu;      /* variables, history, template, configured */
    pthread_mutex_t conv_mu; /* serialises send_and_wait */
    llmux__variable *vars;
    llmux__turn *turns;
    size_t n_turns, cap_turns;
    char *tmpl_json;     /* send_and_wait's request template (cJSON_Print) */
    unsigned configured; /* proxy mode: providers configured through this handle */
};

/* ---- Backends ----------------------------------------------------------------------------- */

/* Embedded (embedded.c). */
llmux_code llmux__embedded_new(llmux_client *client, const llmux_client_options *opts,
                               llmux__embedded **out, llmux_error *err);
void llmux__embedded_free(llmux__embedded *emb);
llmux_code llmux__embedded_configure(llmux__embedded *emb, llmux_session *s, llmux__provider p,
                                     const llmux_provider_options *po, llmux_error *err);
/* Checks every provider of req's chain, then starts it. Takes req in every case. On
 * success the op has one more reference, held by the backend until it is done. */
llmux_code llmux__embedded_start(llmux__embedded *emb, llmux_session *s, llmux__request *req,
                                 llmux__op *op, llmux_error *err);
void llmux__embedded_cancel(llmux__embedded *emb, llmux__op *op);
void llmux__embedded_resume(llmux__embedded *emb, llmux__op *op);
void llmux__embedded_session_free(llmux__embedded *emb, llmux_session *s);

/* Proxy (proxy.c). Same contracts. */
llmux_code llmux__proxy_new(llmux_client *client, const llmux_client_options *opts,
                            llmux__proxy **out, llmux_error *err);
void llmux__proxy_free(llmux__proxy *px);
llmux_code llmux__proxy_configure(llmux__proxy *px, llmux_session *s, llmux__provider p,
                                  const llmux_provider_options *po, llmux_error *err);
llmux_code llmux__proxy_start(llmux__proxy *px, llmux_session *s, llmux__request *req,
                              llmux__op *op, llmux_error *err);
void llmux__proxy_cancel(llmux__proxy *px, llmux__op *op);
void llmux__proxy_resume(llmux__proxy *px, llmux__op *op);
void llmux__proxy_session_free(llmux__proxy *px, llmux_session *s);

/* Counters of the proxy backend, for tests: HTTP requests sent to the proxy and
 * connections opened to it. Zero in embedded mode. Thread-safe. */
typedef struct llmux__client_stats {
    size_t requests;
    size_t connections;
} llmux__client_stats;
llmux__client_stats llmux__client_stats_get(const llmux_client *client);
llmux__client_stats llmux__proxy_stats(const llmux__proxy *px);

/* The provider of chain entry i of req (0 the primary, i the fallback i-1, which
 * inherits the primary's when it names none). */
llmux__provider llmux__chain_provider(const llmux__request *req, size_t i);

#endif
