/*
 * engine.h — runs attempt plans against upstream providers (I/O).
 *
 * libcurl's multi interface bound to a libevent event_base with
 * curl_multi_socket_action: curl never owns the loop, many attempts are in
 * flight at once on one thread, nothing blocks. An engine belongs to the thread
 * that runs its event_base; none of its functions are thread-safe except
 * llmux__engine_share_new/free.
 *
 * A call executes one request's plan: primary attempts 1..n, then each fallback's,
 * waiting the schedule's delay (at least the upstream's Retry-After when the next
 * attempt goes to the same provider) on libevent timers. Every attempt is logged
 * {provider, model, status, error type, latency}. A retryable failure moves to the
 * same provider's next attempt; a non-retryable one to the next fallback.
 *
 * Streaming: upstream SSE is decoded as it arrives. Until the first content delta
 * (text or tool call) nothing reaches the caller, so a failure may still be retried
 * or fall back. The first content delta commits the attempt: on_stream_start, then
 * every delta of that attempt; a failure after that ends the call with
 * LLMUX_ESTREAM_INTERRUPTED and no further attempt (never a second provider's text).
 */
#ifndef LLMUX_ENGINE_ENGINE_H
#define LLMUX_ENGINE_ENGINE_H

#include "core/request.h"
#include "core/response.h"
#include "providers/provider.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <sys/socket.h>

typedef struct llmux__engine llmux__engine;
typedef struct llmux__call llmux__call;
typedef struct llmux__share llmux__share;

typedef struct llmux__engine_options {
    size_t max_upstream_body;   /* non-streamed upstream body cap (bytes), 0 → 16 MiB */
    long connect_timeout_ms;    /* 0 → 10000 */
    double default_timeout_s;   /* attempt bound when the request gives none, 0 → 600 */
    llmux__share *share;        /* optional: DNS + TLS session cache shared by engines */
    const char *ca_file;        /* optional CA bundle for upstream TLS */
    bool tls_insecure;          /* skip upstream certificate checks (tests with the mock) */
    long max_host_connections;  /* per upstream host, 0 → unlimited */
    /* Optional SSRF guard (server/url_policy.h), asked before every upstream socket is
     * opened — calls and warm-ups — with the provider and base_url of the config being
     * served (NULL: the provider's default) and the address about to be connected.
     * It runs after DNS, so a name that resolves (or re-resolves: DNS rebinding) to a
     * forbidden address is caught. Return false to refuse (why gets the reason): the
     * socket is never opened and a call's attempt fails with invalid_request carrying
     * the reason (not retried: the chain moves on). Runs on the engine's thread. */
    bool (*allow_connect)(void *ud, llmux__provider provider, const char *base_url,
                          const struct sockaddr *addr, char *why, size_t why_len);
    void *allow_connect_ud;
} llmux__engine_options;

/* A new engine on `base` (borrowed, must outlive the engine). NULL on failure. */
llmux__engine *llmux__engine_new(struct event_base *base, const llmux__engine_options *opt);

/* Cancels every call (no callbacks run) and warm-up, frees everything. */
void llmux__engine_free(llmux__engine *e);

/* DNS and TLS-session caches shared by several engines on different threads (locked
 * with mutexes; curl does not support sharing the connection cache across threads,
 * so each engine keeps its own pool). Free after every engine using it is freed. */
llmux__share *llmux__engine_share_new(void);
void llmux__engine_share_free(llmux__share *share);

/* One entry of a call's attempt log. */
typedef struct llmux__attempt_log {
    llmux__provider provider;
    const char *model;    /* borrowed from the request */
    size_t chain_index;   /* 0 primary, i = fallbacks[i-1] */
    int attempt;          /* 1-based per provider */
    int status;           /* upstream HTTP status, 0 when none (connect failure, ...) */
    llmux_code error;     /* LLMUX_OK for the attempt that answered */
    double latency_ms;    /* attempt start → end */
    double ttfb_ms;       /* attempt start → first response byte, -1 when none */
    char message[200];    /* the failure's detail (provider's message), "" on success */
} llmux__attempt_log;

/* How a call ended. Borrowed by on_done; valid only during the callback. */
typedef struct llmux__call_result {
    llmux_code code;  /* OK; EALL_PROVIDERS_FAILED; ETIMEOUT (last failure a timeout);
                         ESTREAM_INTERRUPTED; ENOMEM */
    char message[256];
    llmux__response *response; /* non-streaming success (caller may steal: set to NULL) */
    const llmux__attempt_log *attempts;
    size_t n_attempts;
    llmux__provider provider; /* the provider that answered (OK / interrupted) */
    const char *model;        /* the requested model of the answering chain entry */
    const llmux__upstream_error *upstream; /* the last upstream failure, or NULL */
} llmux__call_result;

typedef struct llmux__call_callbacks {
    void *ud;
    /* Streaming: the first content delta is about to be delivered by `provider`
     * serving `model` (the requested model; the delta carries the served one). */
    void (*on_stream_start)(void *ud, llmux__provider provider, const char *model);
    /* Streaming: one delta of the committed attempt (TEXT, TOOL_CALL_*, FINISH,
     * USAGE). Return 0 to go on; non-zero cancels the call (on_done is not called). */
    int (*on_delta)(void *ud, const llmux__delta *d);
    /* The end. Called exactly once unless the call was cancelled. After it the call
     * is owned by the engine and freed when its transfer is over: do not touch it. */
    void (*on_done)(void *ud, llmux__call_result *result);
    /* Optional: one attempt ended (for metrics/logs), before the next decision. */
    void (*on_attempt)(void *ud, const llmux__attempt_log *a);
} llmux__call_callbacks;

/*
 * Starts running `req` (borrowed: it must stay alive until on_done or cancel).
 * `configs` gives the resolved provider config of each chain entry (n_configs =
 * 1 + req->n_fallbacks); the engine copies them (keys included, wiped on free).
 * Streams when req->stream is set. On success *out is the call (for cancel/pause)
 * and callbacks run later from the event loop, never from inside this function.
 */
llmux_code llmux__engine_call(llmux__engine *e, const llmux__request *req,
                              const llmux__provider_config *configs, size_t n_configs,
                              const llmux__call_callbacks *cb, llmux__call **out,
                              llmux__error *err);

/* Cancels a call that has not ended: the transfer is aborted, timers cleared, no
 * callback runs afterwards. */
void llmux__call_cancel(llmux__call *c);

/* Backpressure for streams: while paused, the upstream transfer is not read (curl
 * pauses the socket), so nothing accumulates. */
void llmux__call_pause(llmux__call *c, bool paused);

/* Opens (and keeps in the connection cache) a connection to the provider with a cheap
 * authenticated GET; never a completion. Fire and forget. */
llmux_code llmux__engine_warm(llmux__engine *e, const llmux__provider_config *cfg);

/* Number of calls and warm-ups in flight. */
size_t llmux__engine_active(const llmux__engine *e);

/* Wall clock in seconds (Unix time), for Retry-After dates and logs. */
double llmux__now(void);

/* Monotonic clock in seconds. */
double llmux__mono(void);

#endif
