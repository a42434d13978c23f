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


/* ==== Requests: the seeds' ChatCompletionRequest / FallbackRequest ======== */

/* A chat completion request: the primary provider's parameters, an ordered
 * fallback chain and stream options. Opaque; build it with the functions below
 * or decode the JSON dict form with llmux_request_from_json(). Not thread-safe. */
typedef struct llmux_request llmux_request;

/* One provider's parameters: the request's primary (llmux_request_params) or a
 * fallback (llmux_request_add_fallback). A fallback names only what differs:
 * every field it leaves unset comes from the primary, retry included; a field
 * it sets overrides, whatever its value. Owned by its request. */
typedef struct llmux_params llmux_params;

/* The seeds' RetryConfiguration. LLMUX_RETRY_DEFAULTS: enabled, 3 retries,
 * 1.0 s initial delay, x2.0 backoff (waits 0, 1, 2, 4 s before attempts 1-4). */
typedef struct llmux_retry_config {
    bool enabled;
    int max_retries;           /* attempts after the first, 0..10 */
    double retry_delay;        /* seconds before the second attempt, 0..60 */
    double backoff_multiplier; /* each further wait is multiplied by this, 1..10 */
} llmux_retry_config;

#define LLMUX_RETRY_DEFAULTS {true, 3, 1.0, 2.0}

/* A new request for `provider` ("openai", "azure", "anthropic", "google") and
 * `model`. provider may be NULL when model is "provider/model". There is no way
 * to put an API key on a request: keys enter only through configure_provider.
 * Returns NULL on ENOMEM. Caller owns; free with llmux_request_free(). */
LLMUX_API llmux_request *llmux_request_new(const char *provider, const char *model);

/* Decodes the JSON dict form (or the OpenAI-SDK form). On failure returns
 * LLMUX_EINVALID_REQUEST and writes a message naming the field into errbuf
 * (may be NULL). An api_key anywhere is refused. Caller owns *out. */
LLMUX_API llmux_code llmux_request_from_json(const char *json, size_t len, llmux_request **out,
                                             char *errbuf, size_t errlen);

/* The request's JSON dict form. Caller frees with llmux_free(). NULL on ENOMEM. */
LLMUX_API char *llmux_request_to_json(const llmux_request *req);

/* Checks every rule the proxy checks (ranges, required fields, message shapes).
 * LLMUX_OK or LLMUX_EINVALID_REQUEST with the message in errbuf. */
LLMUX_API llmux_code llmux_request_validate(const llmux_request *req, char *errbuf,
                                            size_t errlen);

/* Frees a request and every llmux_params it handed out. NULL is fine. */
LLMUX_API void llmux_request_free(llmux_request *req);

/* Frees memory llmux returned as "free with llmux_free". */
LLMUX_API void llmux_free(void *p);

/* The primary's parameters. Valid as long as the request. */
LLMUX_API llmux_params *llmux_request_params(llmux_request *req);

/* Appends a fallback (at most 16). provider/model may be NULL to inherit.
 * Returns NULL on ENOMEM, an unknown provider or too many fallbacks. */
LLMUX_API llmux_params *llmux_request_add_fallback(llmux_request *req, const char *provider,
                                                   const char *model);

/* stream_options: one whole sentence per chunk; markdown and other unspeakable
 * text removed; first chunk at a clause boundary for a faster first audio. */
LLMUX_API void llmux_request_set_stream_options(llmux_request *req, bool chunk_by_sentence,
                                                bool clean_sentences, bool eager_first_chunk);

/* Setters on a primary or a fallback. Strings are copied. Each returns LLMUX_OK,
 * LLMUX_EINVALID_REQUEST (bad argument, e.g. unknown role or malformed JSON) or
 * LLMUX_ENOMEM. Ranges are checked by llmux_request_validate and when sent. */
LLMUX_API llmux_code llmux_params_set_provider(llmux_params *p, const char *provider);
LLMUX_API llmux_code llmux_params_set_model(llmux_params *p, const char *model);
/* Appends {role, content}; role is system, developer, user, assistant or tool. */
LLMUX_API llmux_code llmux_params_add_message(llmux_params *p, const char *role,
                                              const char *content);
/* Appends any OpenAI-shaped message given as JSON (content parts, images, ...). */
LLMUX_API llmux_code llmux_params_add_message_json(llmux_params *p, const char *message_json);
/* Appends a tool call to the last message when it is an assistant turn, else to a
 * new assistant turn with no content. arguments_json is JSON text ("{}" if NULL). */
LLMUX_API llmux_code llmux_params_add_tool_call(llmux_params *p, const char *id, const char *name,
                                                const char *arguments_json);
/* Appends {role:"tool", tool_call_id, content}. */
LLMUX_API llmux_code llmux_params_add_tool_result(llmux_params *p, const char *tool_call_id,
                                                  const char *content);
LLMUX_API llmux_code llmux_params_set_temperature(llmux_params *p, double temperature);
LLMUX_API llmux_code llmux_params_set_max_tokens(llmux_params *p, long max_tokens);
LLMUX_API llmux_code llmux_params_set_top_p(llmux_params *p, double top_p);
LLMUX_API llmux_code llmux_params_add_stop(llmux_params *p, const char *stop);
/* Adds a function tool; parameters_json is a JSON Schema object or NULL. */
LLMUX_API llmux_code llmux_params_add_tool(llmux_params *p, const char *name,
                                           const char *description, const char *parameters_json);
/* "auto", "none", "required", or the name of a function to force. */
LLMUX_API llmux_code llmux_params_set_tool_choice(llmux_params *p, const char *choice);
LLMUX_API llmux_code llmux_params_set_retry(llmux_params *p, const llmux_retry_config *retry);
/* Seconds bounding one attempt / the wait for an attempt's first content. */
LLMUX_API llmux_code llmux_params_set_timeout(llmux_params *p, double seconds);
LLMUX_API llmux_code llmux_params_set_first_token_timeout(llmux_params *p, double seconds);

#ifdef __cplusplus
}
#endif
#endif /* LLMUX_H */
