/*
 * llmux.h — the public API of llmux, an LLM completions gateway.
 *
 * Handler code asks for a chat completion once; llmux sends it to OpenAI, Azure OpenAI,
 * Anthropic, Google Gemini or any OpenAI-compatible endpoint, retries transient failures
 * with backoff, walks an ordered fallback chain and streams without repeating text.
 *
 * Conventions:
 *  - Functions return an llmux_code (LLMUX_OK = 0) unless documented otherwise.
 *  - "Caller owns" results are freed with the matching *_free function.
 *  - Nothing here is thread-safe unless its comment says so.
 */
#ifndef LLMUX_H
#define LLMUX_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(LLMUX_BUILDING) && defined(__GNUC__)
#define LLMUX_API __attribute__((visibility("default")))
#else
#define LLMUX_API
#endif

#define LLMUX_VERSION "0.1.0"

/*
 * Error codes. The numbers are part of the ABI: never renumber, only append.
 * Each mirrors one error "type" string of the proxy's HTTP contract.
 */
typedef enum llmux_code {
    LLMUX_OK = 0,
    LLMUX_EINVALID_REQUEST = 1,          /* "invalid_request": bad field, api_key given, ... */
    LLMUX_EPROVIDER_NOT_CONFIGURED = 2,  /* "provider_not_configured": no configure_provider */
    LLMUX_EMANAGED_KEY_UNAVAILABLE = 3,  /* "managed_key_unavailable": operator has no key */
    LLMUX_ERATE_LIMITED = 4,             /* "rate_limited": upstream 429 */
    LLMUX_EAUTH_FAILED = 5,              /* "auth_failed": upstream 401/403 */
    LLMUX_EMODEL_NOT_FOUND = 6,          /* "model_not_found": upstream 404 */
    LLMUX_ETIMEOUT = 7,                  /* "timeout": attempt or deadline passed */
    LLMUX_EUPSTREAM = 8,                 /* "upstream_error": 5xx/529, connection failure */
    LLMUX_EALL_PROVIDERS_FAILED = 9,     /* "all_providers_failed": every attempt failed */
    LLMUX_ESTREAM_INTERRUPTED = 10,      /* "stream_interrupted": failure after first chunk */
    LLMUX_EUNAUTHORIZED = 11,            /* "unauthorized": missing/wrong proxy token */
    LLMUX_ENOMEM = 12,                   /* "out_of_memory" */
    LLMUX_EIO = 13,                      /* "io_error": cannot reach the proxy, bad reply */
    LLMUX_ELIMIT = 14,                   /* "limit_exceeded": body/concurrency limits (413/503) */
    LLMUX_ENOT_FOUND = 15,               /* "not_found": unknown route or session */
    LLMUX_CODE_COUNT_ = 16
} llmux_code;

/* A static English description of `code`. Never NULL. */
LLMUX_API const char *llmux_strerror(llmux_code code);

/* The contract's error type string for `code` ("rate_limited", ...). Never NULL. */
LLMUX_API const char *llmux_code_type(llmux_code code);

/* The code whose type string is `type`; LLMUX_EUPSTREAM for an unknown type. */
LLMUX_API llmux_code llmux_code_from_type(const char *type);

/* The library version string, e.g. "0.1.0". */
LLMUX_API const char *llmux_version(void);

#ifdef __cplusplus
}
#endif
#endif /* LLMUX_H */
