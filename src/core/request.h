/*
 * request.h — the unified request model (pure, no I/O).
 *
 * One llmux__request is the seed's ChatCompletionRequest: a primary set of
 * parameters (provider, model, messages, sampling, tools, retry, timeouts), an
 * ordered list of fallbacks (the seed's FallbackRequest: only the fields that
 * differ), and request-level options (stream, stream_options, extra passthrough
 * fields). Messages and tools use the OpenAI chat shapes.
 *
 * Memory: a request owns everything reachable from it. Strings decoded from JSON
 * are borrowed from the parsed cJSON tree the request keeps (`json`); strings given
 * to the builder are copied into the request's arena. Everything is released by
 * llmux__request_free(). A request is not thread-safe; it may be read from several
 * threads at once once it is no longer modified.
 */
#ifndef LLMUX_CORE_REQUEST_H
#define LLMUX_CORE_REQUEST_H

#include "core/arena.h"
#include "core/error.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The upstream wire formats llmux speaks. A custom OpenAI-compatible endpoint is
 * OPENAI with a base_url. */
typedef enum llmux__provider {
    LLMUX__PROVIDER_OPENAI = 0,
    LLMUX__PROVIDER_AZURE = 1,
    LLMUX__PROVIDER_ANTHROPIC = 2,
    LLMUX__PROVIDER_GOOGLE = 3,
    LLMUX__PROVIDER_COUNT = 4
} llmux__provider;

/* "openai", "azure", "anthropic", "google". */
const char *llmux__provider_name(llmux__provider p);

/* Parses a provider name ("gemini" is accepted for google). Returns false when
 * the name is unknown. */
bool llmux__provider_parse(const char *name, llmux__provider *out);

typedef enum llmux__role {
    LLMUX__ROLE_SYSTEM = 0,
    LLMUX__ROLE_DEVELOPER,
    LLMUX__ROLE_USER,
    LLMUX__ROLE_ASSISTANT,
    LLMUX__ROLE_TOOL
} llmux__role;

/* "system", "developer", "user", "assistant", "tool". */
const char *llmux__role_name(llmux__role r);

typedef enum llmux__part_kind {
    LLMUX__PART_TEXT = 0,      /* {type:"text", text} */
    LLMUX__PART_IMAGE_URL = 1, /* {type:"image_url", image_url:{url, detail?}} */
    LLMUX__PART_OTHER = 2      /* any other part type, kept as raw JSON */
} llmux__part_kind;

/* One element of an array-form message content. */
typedef struct llmux__part {
    llmux__part_kind kind;
    const char *text;   /* TEXT: the text */
    const char *url;    /* IMAGE_URL: http(s) URL or data: URL */
    const char *detail; /* IMAGE_URL: "auto" | "low" | "high", or NULL */
    const cJSON *raw;   /* OTHER (and every part decoded from JSON): the part object */
} llmux__part;

/* An assistant's call of a tool. `arguments` is JSON text (OpenAI's string form). */
typedef struct llmux__tool_call {
    const char *id;        /* passed through unchanged; may be "" (some servers) */
    const char *name;      /* function name */
    const char *arguments; /* JSON text, "{}" when the caller gave none */
} llmux__tool_call;

/* One chat message, OpenAI shape. Exactly one of `content` / `parts` is used:
 * `content` non-NULL is string content; otherwise `n_parts` parts (possibly 0,
 * e.g. an assistant turn with only tool_calls and content null). */
typedef struct llmux__message {
    llmux__role role;
    const char *content;          /* string content, or NULL */
    const llmux__part *parts;     /* array content when content == NULL */
    size_t n_parts;
    const char *name;             /* optional participant name, or NULL */
    const llmux__tool_call *tool_calls; /* assistant only */
    size_t n_tool_calls;
    const char *tool_call_id;     /* tool only: the call this message answers */
} llmux__message;

/* A function tool. `parameters` is a JSON Schema object (NULL: no parameters). */
typedef struct llmux__tool {
    const char *name;
    const char *description; /* or NULL */
    const cJSON *parameters; /* borrowed from the request's JSON, or NULL */
    int strict;              /* -1 unset, 0 false, 1 true */
} llmux__tool;

typedef enum llmux__tool_choice_kind {
    LLMUX__TOOL_CHOICE_AUTO = 0,
    LLMUX__TOOL_CHOICE_NONE,
    LLMUX__TOOL_CHOICE_REQUIRED,
    LLMUX__TOOL_CHOICE_NAMED
} llmux__tool_choice_kind;

typedef struct llmux__tool_choice {
    llmux__tool_choice_kind kind;
    const char *name; /* NAMED: the function to call */
} llmux__tool_choice;

/* The seed's RetryConfiguration. Defaults: enabled, 3 retries, 1.0 s, x2.0. */
typedef struct llmux__retry {
    bool enabled;
    int max_retries;           /* attempts after the first, 0..LLMUX__MAX_RETRIES */
    double retry_delay;        /* seconds before the 2nd attempt */
    double backoff_multiplier; /* each further wait is multiplied by this */
} llmux__retry;

#define LLMUX__MAX_RETRIES 10
#define LLMUX__MAX_RETRY_DELAY 60.0
#define LLMUX__MAX_BACKOFF 10.0
#define LLMUX__MAX_FALLBACKS 16
#define LLMUX__MAX_STOP 16
#define LLMUX__MAX_TIMEOUT 3600.0

/* The default retry configuration (seed 002's table). */
llmux__retry llmux__retry_default(void);

/* Which fields of an llmux__params are set (present and not null). For a fallback,
 * a field that is not set inherits the primary's value. */
enum llmux__field {
    LLMUX__F_PROVIDER = 1u << 0,
    LLMUX__F_MODEL = 1u << 1,
    LLMUX__F_MESSAGES = 1u << 2,
    LLMUX__F_TEMPERATURE = 1u << 3,
    LLMUX__F_MAX_TOKENS = 1u << 4,
    LLMUX__F_TOP_P = 1u << 5,
    LLMUX__F_STOP = 1u << 6,
    LLMUX__F_TOOLS = 1u << 7,
    LLMUX__F_TOOL_CHOICE = 1u << 8,
    LLMUX__F_RETRY = 1u << 9,
    LLMUX__F_TIMEOUT = 1u << 10,
    LLMUX__F_FIRST_TOKEN_TIMEOUT = 1u << 11,
    LLMUX__F_ALL = (1u << 12) - 1
};

/* The inheritable parameters of one provider in the chain (the primary, or a
 * fallback before inheritance, or a resolved plan entry after it). A value is
 * meaningful only when its bit is in `set`. */
typedef struct llmux_params {
    struct llmux_request *owner; /* the request these params belong to */
    uint32_t set;                /* LLMUX__F_* bits */
    llmux__provider provider;
    const char *model;
    const llmux__message *messages;
    size_t n_messages;
    double temperature;
    long max_tokens;
    double top_p;
    const char *const *stop; /* n_stop strings */
    size_t n_stop;
    const llmux__tool *tools;
    size_t n_tools;
    llmux__tool_choice tool_choice;
    llmux__retry retry;
    double timeout;             /* seconds, bounds one attempt */
    double first_token_timeout; /* seconds, bounds the wait for first content */
} llmux__params;

/* llmux's own streaming options; never forwarded upstream. */
typedef struct llmux__stream_options {
    bool chunk_by_sentence;
    bool clean_sentences;
    bool eager_first_chunk;
    bool include_usage; /* OpenAI's stream_options.include_usage from the caller */
} llmux__stream_options;

/* The whole request (public name: llmux_request). */
typedef struct llmux_request {
    llmux__params primary;
    llmux__params *fallbacks; /* n_fallbacks entries, in order */
    size_t n_fallbacks;
    size_t cap_fallbacks;
    bool stream;
    llmux__stream_options stream_options;
    /* Top-level fields llmux does not model (n, seed, response_format, user, ...):
     * forwarded as-is to OpenAI-format upstreams. A cJSON object owned by the
     * request, or NULL when there are none. */
    cJSON *extra;
    cJSON *json;       /* owned: the decoded document (or builder-made JSON values) */
    llmux__arena arena; /* owned: builder copies, decoded arrays */
} llmux__request;

/*
 * Decodes the seed's request from JSON text (the dict form, or the OpenAI-SDK form
 * where `provider` is absent and `model` is "provider/model") and validates it.
 * On success *out owns a new request (free with llmux__request_free). On failure
 * returns LLMUX_EINVALID_REQUEST (or LLMUX_ENOMEM) with err->message naming the
 * field path, e.g. "fallbacks[1].api_key: keys are not accepted on requests;
 * register the provider with configure_provider instead".
 */
llmux_code llmux__request_decode(const char *json, size_t len, llmux__request **out,
                                 llmux__error *err);

/* Same, from an already parsed document. Takes ownership of `root` in every case. */
llmux_code llmux__request_decode_json(cJSON *root, llmux__request **out, llmux__error *err);

/* An empty request for the builder (no provider, no model, no messages yet).
 * Returns NULL on ENOMEM. */
llmux__request *llmux__request_new(void);

/* Releases the request and everything it owns. NULL is fine. */
void llmux__request_free(llmux__request *req);

/* Checks the semantic rules (the decoder calls it; the builder's users call it
 * before sending): provider known and model present for the primary; messages
 * present and well formed; numeric ranges; fallbacks without api_key/fallbacks;
 * at most LLMUX__MAX_FALLBACKS. Returns LLMUX_OK or LLMUX_EINVALID_REQUEST. */
llmux_code llmux__request_validate(const llmux__request *req, llmux__error *err);

/* Encodes the request back to its JSON dict form (fallbacks carry only their own
 * set fields). Caller owns the result (cJSON_Delete). NULL on ENOMEM. */
cJSON *llmux__request_to_json(const llmux__request *req);

/* Adds the JSON form of the set fields of `p` to `obj` (messages, tools, ...).
 * Returns false on ENOMEM. */
bool llmux__params_to_json(const llmux__params *p, cJSON *obj);

/* Decodes one OpenAI-shaped message object into *m (strings borrowed from `jm`,
 * arrays in req's arena; `jm` must live as long as req). `path` names it in
 * errors. Returns LLMUX_OK, LLMUX_EINVALID_REQUEST or LLMUX_ENOMEM. */
llmux_code llmux__message_decode(llmux__request *req, const cJSON *jm, const char *path,
                                 llmux__message *m, llmux__error *err);

/* Message and tool encoders in the OpenAI chat shape (shared with adapters). */
cJSON *llmux__message_to_json(const llmux__message *m);
cJSON *llmux__tool_to_json(const llmux__tool *t);
cJSON *llmux__tool_choice_to_json(const llmux__tool_choice *tc);

/* ---- Attempt plan --------------------------------------------------------- */

/* One attempt of the plan. */
typedef struct llmux__plan_step {
    size_t chain_index;           /* 0 = primary, i = fallbacks[i-1] */
    int attempt;                  /* 1-based attempt number for this provider */
    double delay_before_s;        /* wait before this attempt (0 for attempt 1) */
    const llmux__params *params;  /* the resolved parameters (points into the plan) */
} llmux__plan_step;

/* The whole plan: the resolved parameters of each provider in the chain, and the
 * attempts in the order they will run: primary attempts 1..n, then fallbacks[0]
 * attempts 1..n, ... Resolved params borrow the request's data: the request must
 * outlive the plan. */
typedef struct llmux__plan {
    llmux__params *chain; /* n_chain resolved params (every field inherited) */
    size_t n_chain;
    llmux__plan_step *steps;
    size_t n_steps;
} llmux__plan;

/* Resolves inheritance (a fallback field that is not set comes from the primary,
 * retry included; a set field overrides whatever its value) and expands each
 * provider's retry schedule. Returns LLMUX_OK or LLMUX_ENOMEM. */
llmux_code llmux__plan_build(const llmux__request *req, llmux__plan *out, llmux__error *err);

/* Releases what llmux__plan_build allocated. */
void llmux__plan_free(llmux__plan *plan);

/* Number of attempts the retry configuration allows (1 when disabled). */
int llmux__retry_attempts(const llmux__retry *r);

/* The wait in seconds before attempt `attempt` (1-based): 0 for the first, then
 * retry_delay * backoff_multiplier^(attempt-2). */
double llmux__retry_delay(const llmux__retry *r, int attempt);

/* The plan as JSON (what `llmux plan` prints): an array of
 * {provider, model, attempt, delay_before_s, params}. Caller owns it. */
cJSON *llmux__plan_to_json(const llmux__plan *plan);

#endif
