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

/* ==== Client: what handler code links (seeds 000, 001, 002) ================ */
/*
 * A client runs completions either in-process (embedded mode, the default: the same
 * engine as the proxy, on a background thread of the client) or through an llmux
 * proxy (proxy mode: a small pool of keep-alive connections to proxy_url). The code
 * you write is the same in both modes:
 *
 *     llmux_client *client;
 *     llmux_client_new(NULL, &client, NULL);                 // embedded mode
 *     llmux_session *s;
 *     llmux_session_new(client, "call-42", &s);
 *     llmux_configure_provider(s, "anthropic",
 *                              &(llmux_provider_options){.managed = true}, NULL);
 *     llmux_request *req = llmux_request_new("anthropic", "claude-haiku-4-5");
 *     llmux_params_add_message(llmux_request_params(req), "user", "hi");
 *     llmux_response *resp;
 *     llmux_error err = LLMUX_ERROR_INIT;
 *     if (llmux_generate_chat_completion(s, req, &resp, &err) == LLMUX_OK)
 *         printf("%s/%s: %s\n", llmux_response_provider(resp), llmux_response_model(resp),
 *                llmux_response_text(resp));
 *
 * Keys: llmux_configure_provider() is the only call that takes an API key. A request
 * (or a fallback) can never carry one; every provider a request names — primary and
 * fallbacks — must have been configured in the session, or the call fails with
 * LLMUX_EPROVIDER_NOT_CONFIGURED before any network traffic. "Managed" means the key
 * the operator provides: the proxy's keys in proxy mode, this process's environment
 * (OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY / GOOGLE_API_KEY,
 * AZURE_OPENAI_API_KEY + AZURE_OPENAI_ENDPOINT, or files in LLMUX_KEYS_DIR) in
 * embedded mode, where LLMUX_OPENAI_BASE_URL, LLMUX_ANTHROPIC_BASE_URL and
 * LLMUX_GOOGLE_BASE_URL also redirect upstreams as they do for the proxy. Keys are
 * copied into wiped memory, never logged and never put in an error message.
 *
 * Threads, per type: llmux_client and llmux_session are thread-safe (any thread, many
 * calls at once) except their *_free functions; an llmux_response is immutable and
 * may be read from any number of threads; an llmux_stream is used by one thread at a
 * time. Blocking calls must not be made from inside a stream callback.
 */

/* The client. Opaque; thread-safe. */
typedef struct llmux_client llmux_client;
/* A session: an id, its provider map (configure_provider), variables and the
 * send_and_wait history. Opaque; thread-safe. */
typedef struct llmux_session llmux_session;
/* A completed chat completion. Opaque; immutable. */
typedef struct llmux_response llmux_response;
/* A streamed chat completion in progress. Opaque; one thread at a time. */
typedef struct llmux_stream llmux_stream;

/* One attempt of a completion: the plan's primary attempts, then each fallback's. */
typedef struct llmux_attempt {
    const char *provider; /* "openai", "azure", "anthropic", "google" */
    const char *model;    /* the model this attempt asked for */
    int attempt;          /* 1-based attempt number for this provider of the chain */
    int status;           /* upstream HTTP status, 0 when none came (connect failure, ...) */
    llmux_code error;     /* LLMUX_OK for the attempt that answered, else its error type
                             (LLMUX_ERATE_LIMITED, LLMUX_EAUTH_FAILED, LLMUX_ETIMEOUT, ...) */
    double latency_ms;    /* attempt start to end */
    const char *message;  /* the failure's detail (the provider's message), "" on success */
} llmux_attempt;

/*
 * What went wrong: the code, a detail message (which field, which provider, which
 * attempt — never a key) and, when attempts were made (LLMUX_EALL_PROVIDERS_FAILED,
 * LLMUX_ETIMEOUT, LLMUX_ESTREAM_INTERRUPTED: the seeds' CompletionsProxyError), the
 * attempt log. Declare it with LLMUX_ERROR_INIT. Every function taking an
 * `llmux_error *err` (which may be NULL) releases what err held, then fills it.
 * Release it with llmux_error_free() when done. Not thread-safe.
 */
typedef struct llmux_error {
    llmux_code code;         /* LLMUX_OK when the call succeeded */
    char message[256];       /* NUL-terminated detail, "" on success */
    llmux_attempt *attempts; /* n_attempts entries, owned by the error; NULL when none */
    size_t n_attempts;
    void *owner_; /* private: owns attempts and their strings */
} llmux_error;

/* clang-format off */
#define LLMUX_ERROR_INIT {LLMUX_OK, "", NULL, 0, NULL}
/* clang-format on */

/* Releases the attempts err holds and resets it to LLMUX_ERROR_INIT. NULL is fine. */
LLMUX_API void llmux_error_free(llmux_error *err);

/* The specific cause of a failure: for LLMUX_EALL_PROVIDERS_FAILED and LLMUX_ETIMEOUT
 * the error type of the last failed attempt (LLMUX_ERATE_LIMITED, LLMUX_EAUTH_FAILED,
 * LLMUX_EMODEL_NOT_FOUND, LLMUX_ETIMEOUT, LLMUX_EUPSTREAM, ...), else err->code. The
 * seeds' "rate limit" / "invalid api key" / "model not found" / timeout distinction. */
LLMUX_API llmux_code llmux_error_cause(const llmux_error *err);

/* Looks up one configuration variable: returns its value or NULL when unset. The
 * string must stay valid until the function that called it returns. */
typedef const char *(*llmux_getenv_fn)(const char *name, void *ud);

/* How to make a client. Zero-initialise, then set what you need; strings are copied. */
typedef struct llmux_client_options {
    const char *proxy_url;    /* "http(s)://host:port" of an llmux proxy; NULL or "": embedded */
    const char *proxy_token;  /* proxy mode: the bearer token the proxy accepts, or NULL */
    size_t max_connections;   /* proxy mode: keep-alive connections kept open; 0 → 4 */
    double connect_timeout_s; /* connection setup bound (proxy or upstream); 0 → 10 */
    const char *ca_file;      /* PEM CA bundle for TLS (the proxy's, or upstreams'), or NULL */
    bool tls_insecure;        /* skip TLS certificate checks (tests only) */
    bool no_warmup;           /* embedded mode: do not warm connections on configure */
    /* Embedded mode: where managed keys, LLMUX_KEYS_DIR and the base-URL variables are
     * read (once, in llmux_client_new). NULL: the process environment. */
    llmux_getenv_fn getenv_fn;
    void *getenv_ud;
} llmux_client_options;

/*
 * Makes a client: proxy mode when opts->proxy_url is set, embedded mode otherwise (opts
 * may be NULL). Embedded mode reads the managed keys and base URLs now and starts one
 * background thread; proxy mode starts one I/O thread and opens no connection yet.
 * Errors: LLMUX_EINVALID_REQUEST (bad proxy_url, bad LLMUX_KEYS_DIR or base-URL
 * variable: err names it), LLMUX_EIO (no thread), LLMUX_ENOMEM. Caller owns *out; free
 * with llmux_client_free().
 */
LLMUX_API llmux_code llmux_client_new(const llmux_client_options *opts, llmux_client **out,
                                      llmux_error *err);

/* True in embedded mode, false in proxy mode. Thread-safe. */
LLMUX_API bool llmux_client_is_embedded(const llmux_client *client);

/* Stops the client's thread and frees it, cancelling whatever is still running. Free
 * every session and stream of the client first; responses may outlive it. NULL is
 * fine. Not thread-safe: no other call on the client may be running. */
LLMUX_API void llmux_client_free(llmux_client *client);

/* ---- Sessions ----------------------------------------------------------------- */

/*
 * A session with id `id` (1-128 characters of A-Z a-z 0-9 . _ : -), or a fresh unique
 * id when id is NULL. The session's provider map belongs to (client, id) — in proxy
 * mode to (token, id) on the proxy. Errors: LLMUX_EINVALID_REQUEST (bad id),
 * LLMUX_ENOMEM. Caller owns *out; free with llmux_session_free(). Thread-safe.
 */
LLMUX_API llmux_code llmux_session_new(llmux_client *client, const char *id, llmux_session **out);

/* The session's id. Valid as long as the session. Thread-safe. */
LLMUX_API const char *llmux_session_id(const llmux_session *session);

/* Forgets the session: wipes its keys (embedded: its provider map; proxy: DELETE on the
 * proxy, best effort), its variables and history. NULL is fine. No other call on the
 * session may be running. */
LLMUX_API void llmux_session_free(llmux_session *session);

/* Sets a session variable (the seeds' context.variables: per-session settings such as
 * a customer's OPENAI_API_KEY). The value is copied into wiped memory; NULL removes
 * the variable. LLMUX_OK, LLMUX_EINVALID_REQUEST (empty name), LLMUX_ENOMEM.
 * Thread-safe. */
LLMUX_API llmux_code llmux_session_set_variable(llmux_session *session, const char *name,
                                                const char *value);

/* The variable's value or NULL. Borrowed: valid until the variable is set or removed
 * again or the session is freed. Thread-safe. */
LLMUX_API const char *llmux_session_variable(const llmux_session *session, const char *name);

/* The seeds' configure_provider arguments: exactly one of `managed` / `api_key`. */
typedef struct llmux_provider_options {
    bool managed;            /* use the operator's key (seed: voicerun_managed=True) */
    const char *api_key;     /* the customer's own key for this session (copied, wiped) */
    const char *base_url;    /* optional custom endpoint: an OpenAI-compatible server's
                                "https://host/v1", or an Azure resource URL; not with
                                managed */
    const char *api_version; /* optional, e.g. Azure's "2024-10-21" */
} llmux_provider_options;

/*
 * configure_provider: registers `provider` ("openai", "azure", "anthropic", "google")
 * for this session with a managed or customer key, replacing (and wiping) an earlier
 * configuration of it. The only call that takes a key. The first configuration of a
 * provider in a session starts a background warm-up of the upstream connection (the
 * proxy warms in proxy mode), so the first real turn pays no TLS handshake. Errors
 * (err says which field, never the key): LLMUX_EINVALID_REQUEST (unknown provider,
 * both or neither of managed/api_key, a bad key, base_url or api_version),
 * LLMUX_EMANAGED_KEY_UNAVAILABLE (no managed key for that provider), proxy mode also
 * LLMUX_EUNAUTHORIZED, LLMUX_EIO, LLMUX_ELIMIT. Blocks until done. Thread-safe.
 */
LLMUX_API llmux_code llmux_configure_provider(llmux_session *session, const char *provider,
                                              const llmux_provider_options *opts, llmux_error *err);

/*
 * Seed 001's get_openai_provider() & co: fills *out (strings borrowed from the process
 * environment, valid until it changes) with a customer-key configuration for
 * `provider` read from the environment:
 *   openai     OPENAI_API_KEY (+ OPENAI_BASE_URL when set)
 *   azure      AZURE_OPENAI_API_KEY and AZURE_OPENAI_ENDPOINT (+ AZURE_OPENAI_API_VERSION)
 *   anthropic  ANTHROPIC_API_KEY
 *   google     GEMINI_API_KEY, else GOOGLE_API_KEY
 * LLMUX_EINVALID_REQUEST naming the missing variable ("OPENAI_API_KEY not set") or an
 * unknown provider. Reads the environment: not thread-safe against setenv.
 */
LLMUX_API llmux_code llmux_provider_options_from_env(const char *provider,
                                                     llmux_provider_options *out, llmux_error *err);

/* llmux_provider_options_from_env() then llmux_configure_provider(). */
LLMUX_API llmux_code llmux_configure_provider_from_env(llmux_session *session, const char *provider,
                                                       llmux_error *err);

/*
 * Loads a .env file (NULL: "./.env") into the process environment, as python-dotenv
 * does: NAME=VALUE lines, optional `export `, # comments, blank lines, values in '...'
 * (literal) or "..." (\n \t \" \\ escapes) or bare (trailing " # comment" and blanks
 * dropped). Variables already set are kept unless `override`. Errors: LLMUX_ENOT_FOUND
 * (no such file), LLMUX_EINVALID_REQUEST (err names the line, never a value),
 * LLMUX_ENOMEM; on error nothing was set. Not thread-safe (setenv).
 */
LLMUX_API llmux_code llmux_load_dotenv(const char *path, bool override, llmux_error *err);

/* ---- Completions --------------------------------------------------------------- */

/*
 * generate_chat_completion: runs `req` (borrowed for the call; not modified) in the
 * session: primary attempts with their retry schedule, then each fallback. Blocks until
 * the answer or the end of the plan. On success *out is the answer (caller owns; free
 * with llmux_response_free()). Errors, with err's detail:
 *  - LLMUX_EINVALID_REQUEST: the request breaks a rule (an api_key anywhere included);
 *  - LLMUX_EPROVIDER_NOT_CONFIGURED: a provider of the chain was never configured in
 *    this session — refused before any network call;
 *  - LLMUX_EMANAGED_KEY_UNAVAILABLE;
 *  - LLMUX_EALL_PROVIDERS_FAILED / LLMUX_ETIMEOUT (the last failure was a timeout):
 *    every attempt failed; err->attempts has them all (llmux_error_cause() says why);
 *  - proxy mode: LLMUX_EUNAUTHORIZED, LLMUX_ELIMIT, LLMUX_EIO (proxy unreachable);
 *  - LLMUX_ENOMEM.
 * Thread-safe: many calls may run at once on one session.
 */
LLMUX_API llmux_code llmux_generate_chat_completion(llmux_session *session,
                                                    const llmux_request *req, llmux_response **out,
                                                    llmux_error *err);

/* The same with the request's JSON dict form (the seeds' dict, or the OpenAI-SDK form
 * with model "provider/model"). An api_key anywhere is refused (LLMUX_EINVALID_REQUEST
 * naming the field). */
LLMUX_API llmux_code llmux_generate_chat_completion_json(llmux_session *session, const char *json,
                                                         llmux_response **out, llmux_error *err);

/* The answer text ("" when the model only called tools). Valid as long as the
 * response; NUL-terminated, llmux_response_text_len() bytes. */
LLMUX_API const char *llmux_response_text(const llmux_response *resp);
LLMUX_API size_t llmux_response_text_len(const llmux_response *resp);
/* The provider that actually answered ("anthropic"; after a fallback, the fallback's). */
LLMUX_API const char *llmux_response_provider(const llmux_response *resp);
/* The model of the chain entry that answered, as requested ("claude-haiku-4-5"). */
LLMUX_API const char *llmux_response_model(const llmux_response *resp);
/* The model the upstream reported serving (often a dated snapshot), "" when unknown. */
LLMUX_API const char *llmux_response_upstream_model(const llmux_response *resp);
/* The completion id ("chatcmpl-…"), "" when none. */
LLMUX_API const char *llmux_response_id(const llmux_response *resp);
/* "stop", "length", "tool_calls", "content_filter", or "" when not reported. */
LLMUX_API const char *llmux_response_finish_reason(const llmux_response *resp);

/* Token counts (OpenAI's terms); present is false when the upstream gave none. */
typedef struct llmux_usage {
    bool present;
    int64_t prompt_tokens;
    int64_t completion_tokens;
    int64_t total_tokens;
} llmux_usage;

LLMUX_API llmux_usage llmux_response_usage(const llmux_response *resp);

/* A tool call of the answer. Strings valid as long as the response. */
typedef struct llmux_tool_call {
    const char *id;        /* the upstream's call id, passed through unchanged */
    const char *name;      /* function name */
    const char *arguments; /* JSON text of the arguments ("{}" when none) */
} llmux_tool_call;

LLMUX_API size_t llmux_response_tool_call_count(const llmux_response *resp);
/* The i-th tool call, or NULL when i is out of range. Valid as long as the response. */
LLMUX_API const llmux_tool_call *llmux_response_tool_call(const llmux_response *resp, size_t i);

/* The attempt log: every attempt the answer took, the answering one last. */
LLMUX_API size_t llmux_response_attempt_count(const llmux_response *resp);
/* The i-th attempt, or NULL. Valid as long as the response. */
LLMUX_API const llmux_attempt *llmux_response_attempt(const llmux_response *resp, size_t i);

/* The answer as an OpenAI chat.completion JSON object with "provider" and
 * "llmux":{"attempts":[...]} (what the proxy sends). Caller frees with llmux_free().
 * NULL on ENOMEM. */
LLMUX_API char *llmux_response_to_json(const llmux_response *resp);

/* Frees a response. NULL is fine. */
LLMUX_API void llmux_response_free(llmux_response *resp);

/* ---- Streaming ----------------------------------------------------------------- */

typedef enum llmux_chunk_kind {
    LLMUX_CHUNK_TEXT = 1,            /* text: a fragment, or one whole sentence with
                                        chunk_by_sentence (cleaned with clean_sentences) */
    LLMUX_CHUNK_TOOL_CALL_START = 2, /* a new tool call: tool_index, tool_id, tool_name */
    LLMUX_CHUNK_TOOL_CALL_ARGS = 3,  /* text: a fragment of tool_index's arguments JSON */
    LLMUX_CHUNK_FINISH = 4,          /* finish_reason */
    LLMUX_CHUNK_USAGE = 5,           /* usage */
    LLMUX_CHUNK_END = 6              /* the stream ended properly; nothing follows */
} llmux_chunk_kind;

/* One piece of a streamed answer. Every pointer is valid until the next
 * llmux_stream_next() on the stream (or, in the callback form, until on_chunk returns). */
typedef struct llmux_chunk {
    llmux_chunk_kind kind;
    const char *text; /* TEXT, TOOL_CALL_ARGS: NUL-terminated, text_len bytes; else "" */
    size_t text_len;
    int tool_index;            /* TOOL_CALL_*: 0-based index of the call in this answer */
    const char *tool_id;       /* TOOL_CALL_START: the call id; else NULL */
    const char *tool_name;     /* TOOL_CALL_START: the function name; else NULL */
    const char *finish_reason; /* FINISH: "stop", "length", "tool_calls", ...; else NULL */
    llmux_usage usage;         /* USAGE */
    const char *provider;      /* every kind: the provider answering ("anthropic") */
    const char *model;         /* every kind: the model of the chain entry answering */
} llmux_chunk;

/*
 * generate_chat_completion_stream: starts `req` as a stream (req is borrowed for the
 * call only; its stream options — llmux_request_set_stream_options(), or
 * "stream_options" in JSON — choose chunk_by_sentence / clean_sentences /
 * eager_first_chunk). Retries and fallbacks happen only before the first chunk; after
 * it, a failure ends the stream with LLMUX_ESTREAM_INTERRUPTED from
 * llmux_stream_next(), never with a second provider's text. Errors found before
 * anything is sent (invalid request, provider not configured, ...) are returned here,
 * as llmux_generate_chat_completion() does; failures of the attempts come out of
 * llmux_stream_next(). Caller owns *out; free with llmux_stream_free(). Thread-safe.
 */
LLMUX_API llmux_code llmux_generate_chat_completion_stream(llmux_session *session,
                                                           const llmux_request *req,
                                                           llmux_stream **out, llmux_error *err);

/* The same with the request's JSON dict form. */
LLMUX_API llmux_code llmux_generate_chat_completion_stream_json(llmux_session *session,
                                                                const char *json,
                                                                llmux_stream **out,
                                                                llmux_error *err);

/*
 * The pull iterator: waits up to timeout_s seconds (< 0: no limit) for the next chunk.
 *  - LLMUX_OK: *chunk holds one chunk; kind LLMUX_CHUNK_END marks the proper end (every
 *    later call returns END again);
 *  - LLMUX_ETIMEOUT: nothing arrived within timeout_s; the stream goes on (call again,
 *    or free it to cancel);
 *  - any other code: the stream failed — LLMUX_ESTREAM_INTERRUPTED after the first
 *    chunk, or the completion's error before it (LLMUX_EALL_PROVIDERS_FAILED, ...);
 *    details and attempts in llmux_stream_error(); every later call returns it again.
 * Chunks already received are always delivered before the error. Not for streams
 * started with callbacks. One thread at a time.
 */
LLMUX_API llmux_code llmux_stream_next(llmux_stream *stream, llmux_chunk *chunk, double timeout_s);

/* How the stream failed: code LLMUX_OK while it has not. Borrowed: valid until the
 * next call on the stream or its free. */
LLMUX_API const llmux_error *llmux_stream_error(const llmux_stream *stream);

/* The provider / model answering, once the first chunk came; NULL before. Valid as
 * long as the stream. */
LLMUX_API const char *llmux_stream_provider(const llmux_stream *stream);
LLMUX_API const char *llmux_stream_model(const llmux_stream *stream);

/* The attempts known so far (embedded mode: every attempt once the stream ended;
 * proxy mode: only those a failure reported). The pointer is valid until the next call
 * on the stream. */
LLMUX_API size_t llmux_stream_attempt_count(const llmux_stream *stream);
LLMUX_API const llmux_attempt *llmux_stream_attempt(const llmux_stream *stream, size_t i);

/* Callbacks for code that runs its own event loop. They run on the client's
 * background thread, one at a time per stream; they must not block and must not call
 * blocking client functions (post to your own loop instead). */
typedef struct llmux_stream_callbacks {
    void *ud;
    /* One chunk (never LLMUX_CHUNK_END). Return 0 to go on; non-zero cancels the stream
     * and on_end is then not called. */
    int (*on_chunk)(void *ud, const llmux_chunk *chunk);
    /* The end, exactly once unless cancelled: err->code is LLMUX_OK after a proper end,
     * else the failure (with attempts). err is valid during the call only. The stream
     * may be freed from inside on_end. */
    void (*on_end)(void *ud, const llmux_error *err);
} llmux_stream_callbacks;

/* Starts a stream whose chunks go to callbacks instead of llmux_stream_next(). Errors
 * before anything is sent are returned here and then no callback ever runs. Free the
 * stream with llmux_stream_free() (after on_end, or earlier to cancel). */
LLMUX_API llmux_code llmux_generate_chat_completion_stream_cb(llmux_session *session,
                                                              const llmux_request *req,
                                                              const llmux_stream_callbacks *cb,
                                                              llmux_stream **out, llmux_error *err);

/* Frees a stream, cancelling it when it has not ended (the upstream transfer is
 * aborted). Once it returns no callback of the stream runs any more (except when
 * called from inside one of them). NULL is fine. */
LLMUX_API void llmux_stream_free(llmux_stream *stream);

/* ---- Conversations: seed 001's send_and_wait ------------------------------------ */

/* The request send_and_wait builds on: provider, model, sampling, retry, fallbacks
 * and leading messages (a system prompt) of `tmpl` are copied (tmpl stays the
 * caller's). LLMUX_OK, LLMUX_EINVALID_REQUEST, LLMUX_ENOMEM. Thread-safe. */
LLMUX_API llmux_code llmux_session_set_request(llmux_session *session, const llmux_request *tmpl);

/* llmux_session_set_request() with a request of just provider and model (or
 * "provider/model" with provider NULL). */
LLMUX_API llmux_code llmux_session_set_model(llmux_session *session, const char *provider,
                                             const char *model);

/*
 * send_and_wait: sends `prompt` as the next user turn of the session's conversation
 * (the template's messages, then the history, then the prompt) and waits at most
 * timeout_s seconds (<= 0: 60) for the answer. On success the prompt and the answer's
 * text are appended to the history and *out is the answer (caller owns; free with
 * llmux_response_free(); out may be NULL). On failure the history is unchanged; past
 * the timeout the completion is cancelled and LLMUX_ETIMEOUT returned. Errors as
 * llmux_generate_chat_completion(), plus LLMUX_EINVALID_REQUEST when no model was set.
 * Thread-safe; concurrent send_and_wait calls on one session run one after the other.
 */
LLMUX_API llmux_code llmux_send_and_wait(llmux_session *session, const char *prompt,
                                         double timeout_s, llmux_response **out, llmux_error *err);

/* Turns in the history (user and assistant messages, in order). Thread-safe. */
LLMUX_API size_t llmux_session_history_count(const llmux_session *session);

/* The i-th turn: its role ("user" / "assistant") and content, copied into *role and
 * *content (caller frees both with llmux_free()). LLMUX_EINVALID_REQUEST when i is out
 * of range, LLMUX_ENOMEM. Thread-safe. */
LLMUX_API llmux_code llmux_session_history_turn(const llmux_session *session, size_t i, char **role,
                                                char **content);

/* Forgets the history (the template stays). Thread-safe. */
LLMUX_API void llmux_session_clear_history(llmux_session *session);

#ifdef __cplusplus
}
#endif
#endif /* LLMUX_H */
