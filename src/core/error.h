/* error.h — the detail-message carrier that travels with an llmux_code, and the
 * classification of upstream failures into error types (pure, no I/O). */
#ifndef LLMUX_CORE_ERROR_H
#define LLMUX_CORE_ERROR_H

#include "llmux.h"

#include <stdbool.h>

/* An error code plus a human message naming the field / provider / attempt.
 * The message never contains a key. */
typedef struct llmux__error {
    llmux_code code;   /* LLMUX_OK when nothing failed */
    char message[256]; /* NUL-terminated detail, "" when none */
} llmux__error;

/* Sets err (when not NULL) to code and a printf-formatted message (NULL fmt: the
 * code's strerror). Returns code, so callers can `return llmux__error_set(...)`. */
llmux_code llmux__error_set(llmux__error *err, llmux_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Resets err to LLMUX_OK with an empty message. */
void llmux__error_clear(llmux__error *err);

/* What one failed attempt means for the plan. */
typedef struct llmux__failure {
    llmux_code code; /* LLMUX_OK for a 2xx */
    bool retryable;  /* try the same provider again (else go to the next fallback) */
} llmux__failure;

/* Classifies an upstream HTTP status per DESIGN.md: 401 auth_failed (retried),
 * 403 auth_failed (not retried), 429 rate_limited (retried), 404 model_not_found,
 * 5xx and 529 upstream_error (retried), 408 timeout (retried), other 4xx
 * invalid_request (not retried). Adapters may refine (insufficient_quota,
 * x-should-retry). */
llmux__failure llmux__classify_http(int status);

typedef enum llmux__transport_failure {
    LLMUX__TRANSPORT_CONNECT = 0, /* refused, DNS, TLS handshake */
    LLMUX__TRANSPORT_TIMEOUT = 1, /* attempt timeout or first-token timeout */
    LLMUX__TRANSPORT_DROPPED = 2, /* connection closed / reset mid-response */
    LLMUX__TRANSPORT_MALFORMED = 3 /* unparseable response */
} llmux__transport_failure;

/* Connect failures, drops and malformed replies are retryable upstream_error;
 * timeouts are retryable timeout. */
llmux__failure llmux__classify_transport(llmux__transport_failure kind);

#endif
