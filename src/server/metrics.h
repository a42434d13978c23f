/*
 * metrics.h — the proxy's Prometheus metrics (GET /metrics, text format 0.0.4).
 *
 *   llmux_requests_total{provider,model,outcome}   counter, one per finished request
 *   llmux_attempts_total{provider,status}          counter, one per upstream attempt
 *   llmux_retries_total{provider}                  counter, a retry of the same provider
 *   llmux_fallbacks_total{provider}                counter, the chain left this provider
 *   llmux_upstream_latency_seconds{provider}       histogram, attempt start → last byte
 *   llmux_upstream_ttfb_seconds{provider}          histogram, attempt start → first byte
 *   llmux_request_duration_seconds                 histogram, whole request at the proxy
 *   llmux_requests_in_flight, llmux_streams_open, llmux_sessions    gauges
 *
 * Labels: provider is "openai", "azure", "anthropic", "google", or "none" for a
 * request that failed before a provider was known. outcome is "success" or the error
 * type of the request's llmux_code ("invalid_request", "provider_not_configured",
 * "all_providers_failed", "timeout", "stream_interrupted", "unauthorized", ...). status
 * is the upstream HTTP status ("200", "429") or, for an attempt that got none, its
 * error type ("timeout", "upstream_error"). model is the caller's model name: at most
 * LLMUX__METRICS_MAX_MODELS distinct values, then "other"; a name longer than 128
 * bytes, with control characters or invalid UTF-8 is "other"; an absent one "none".
 * Nothing else a caller sends (keys, messages) can reach a label.
 *
 * Cost: every recording call is a few relaxed atomic adds, lock-free and without
 * allocation, except the first time a model name is seen (one mutex and one
 * allocation). Rendering walks everything and allocates the text.
 *
 * Thread-safety: every function is thread-safe, except llmux__metrics_free.
 */
#ifndef LLMUX_SERVER_METRICS_H
#define LLMUX_SERVER_METRICS_H

#include "core/request.h"
#include "llmux.h"

#include <stddef.h>

/* Distinct model label values kept before the rest become "other". */
#define LLMUX__METRICS_MAX_MODELS 200
/* The provider argument of llmux__metrics_request when no provider was known. */
#define LLMUX__METRICS_NO_PROVIDER ((int)LLMUX__PROVIDER_COUNT)

typedef struct llmux__metrics llmux__metrics;

/* A new set of metrics, all zero. NULL when out of memory. Caller owns; free with
 * llmux__metrics_free(). */
llmux__metrics *llmux__metrics_new(void);

/* Releases m. No other call may be running on it. NULL is fine. */
void llmux__metrics_free(llmux__metrics *m);

/*
 * One finished request: counts llmux_requests_total{provider, model, outcome} and
 * observes llmux_request_duration_seconds. provider is an llmux__provider (the one
 * that answered, else the primary) or LLMUX__METRICS_NO_PROVIDER; model may be NULL;
 * outcome is LLMUX_OK for success, else the request's error code. A negative or NaN
 * duration is not observed.
 */
void llmux__metrics_request(llmux__metrics *m, int provider, const char *model, llmux_code outcome,
                            double duration_s);

/*
 * One finished upstream attempt: counts llmux_attempts_total{provider, status} with
 * status = http_status when it is 100-599, else the error type of `error` (the
 * transport failure: LLMUX_ETIMEOUT, LLMUX_EUPSTREAM, ...). Observes latency_s and,
 * when >= 0, ttfb_s (pass -1 when no byte arrived). Out-of-range providers are ignored.
 */
void llmux__metrics_attempt(llmux__metrics *m, llmux__provider p, int http_status, llmux_code error,
                            double latency_s, double ttfb_s);

/* A retry of provider p (the attempt after a retryable failure). */
void llmux__metrics_retry(llmux__metrics *m, llmux__provider p);

/* The chain moved on from provider p to the next fallback. */
void llmux__metrics_fallback(llmux__metrics *m, llmux__provider p);

/* Adds delta (+1 when a request starts, -1 when it ends) to llmux_requests_in_flight. */
void llmux__metrics_in_flight_add(llmux__metrics *m, int delta);

/* Adds delta to llmux_streams_open (+1 when a client stream opens, -1 when it closes). */
void llmux__metrics_streams_open_add(llmux__metrics *m, int delta);

/* Sets llmux_sessions (e.g. from llmux__session_count() before rendering). */
void llmux__metrics_sessions_set(llmux__metrics *m, size_t n);

/* The whole exposition in Prometheus text format, NUL-terminated; series with no
 * samples yet are left out of the labelled counters. NULL when out of memory. Caller
 * owns; free with free(). Content-Type: text/plain; version=0.0.4. */
char *llmux__metrics_render(llmux__metrics *m);

#endif
