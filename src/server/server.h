/*
 * server.h — the llmux proxy: HTTP ingress, sessions and their provider maps,
 * managed keys, auth, limits, metrics and logs, over one engine per worker thread.
 *
 * Each worker runs its own event_base with its own HTTP listener (SO_REUSEPORT on
 * one port: the kernel spreads connections) and its own engine (upstream
 * connection pool). Sessions, managed keys and metrics are shared, thread-safe.
 */
#ifndef LLMUX_SERVER_SERVER_H
#define LLMUX_SERVER_SERVER_H

#include "server/http.h"
#include "server/keys.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct llmux__server_config {
    const char *listen;       /* "HOST:PORT" (port 0 picks one); default 127.0.0.1:8080 */
    int workers;              /* event-loop threads; 0 → number of cores */
    const char *const *tokens; /* accepted bearer tokens (n_tokens); none → loopback only */
    size_t n_tokens;
    llmux__http_limits http;  /* ingress limits (0 fields → defaults) */
    size_t max_inflight;      /* concurrent requests per worker before 503; 0 → 4096 */
    size_t max_streams_per_token; /* concurrent streams per token; 0 → 1024 */
    size_t max_sessions_per_token; /* sessions one token may hold; 0 → 10000 */
    double drain_timeout_s;   /* SIGTERM: wait this long for in-flight requests; 0 → 30 */
    int log_level;            /* 0 error, 1 warn, 2 info (default), 3 debug */
    bool log_content;         /* include message text in debug logs (off by default) */
    const char *ca_file;      /* upstream CA bundle (tests with a TLS mock) */
    bool upstream_insecure;   /* skip upstream TLS verification (tests only) */
    double upstream_timeout_s; /* attempt bound when a request gives none; 0 → 600 */
    size_t max_upstream_body;  /* non-streamed upstream body cap in bytes; 0 → 16 MiB */
    const char *const *allow_base_urls; /* customer base_url allow rules (url_policy.h) */
    size_t n_allow_base_urls;
    const char *const *deny_base_urls; /* customer base_url deny rules, on top of the
                                          built-in ones */
    size_t n_deny_base_urls;
    llmux__getenv_fn getenv_fn; /* where managed keys and base URLs are read */
    void *getenv_ud;
} llmux__server_config;

/* Runs the proxy until SIGTERM/SIGINT: binds, prints "listening HOST:PORT" as the
 * first line on `announce` (flushed) when not NULL, serves, then drains in-flight
 * requests (bounded) and wipes every key. Returns 0 on a clean stop, 1 when it
 * cannot start (the reason on stderr). */
int llmux__server_run(const llmux__server_config *cfg, FILE *announce);

#endif
