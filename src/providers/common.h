/*
 * common.h — helpers shared by the adapters (internal to src/providers/): checked JSON
 * getters, error classification, URL and request assembly, and the stream decoder
 * state with its delta emitters. Pure code; nothing here is thread-safe.
 */
#ifndef LLMUX_PROVIDERS_COMMON_H
#define LLMUX_PROVIDERS_COMMON_H

#include "providers/provider.h"

#include <stdint.h>

/* ---- Checked JSON getters (case-sensitive; NULL/false for a missing or mistyped field) */

/* o[k] when o is an object and has k, else NULL. */
const cJSON *llmux__jget(const cJSON *o, const char *k);
/* o[k] when it is a string, else NULL. */
const char *llmux__jstr(const cJSON *o, const char *k);
/* o[k] when it is an object / array, else NULL. */
const cJSON *llmux__jobj(const cJSON *o, const char *k);
const cJSON *llmux__jarr(const cJSON *o, const char *k);
/* o[k] as a token count: a finite number in [0, 2^53]. False (and *out 0) otherwise. */
bool llmux__jcount(const cJSON *o, const char *k, int64_t *out);

/* Parses body[0..len) as JSON (NULL when it is not). */
cJSON *llmux__json_parse(const char *body, size_t len);

/* ---- Upstream errors ------------------------------------------------------------------ */

/* Sets e from an HTTP status: code/retryable per llmux__classify_http, http_status,
 * retry_after_s from the headers; message "HTTP <status>" until the body gives one. */
void llmux__uerr_from_status(llmux__upstream_error *e, int status, const llmux__header *h, size_t n,
                             double now);
/* Copies the provider's message into e->message (an empty or NULL msg leaves it as it
 * is): control characters become spaces,
 * invalid UTF-8 becomes '?', cut at a character boundary, and the key fragment OpenAI
 * echoes ("Incorrect API key provided: sk-…") is replaced by "<redacted>". */
void llmux__uerr_set_message(llmux__upstream_error *e, const char *msg);
/* Copies a short identifier (error type, code, param) into dst[cap]. */
void llmux__uerr_copy_id(char *dst, size_t cap, const char *s);
/* Applies `x-should-retry: true|false` when present. */
void llmux__uerr_should_retry(llmux__upstream_error *e, const llmux__header *h, size_t n);
/* A retryable upstream_error for an unusable answer ("malformed …: what"). Returns its code. */
llmux_code llmux__uerr_malformed(llmux__upstream_error *e, int status, const char *what);
/* The HTTP status an error type string implies (Anthropic's and OpenAI's type names,
 * Google's RPC status names), 0 when unknown. */
int llmux__status_for_error_type(const char *type);
/* Fills e for an error found inside a stream (status 0): classified from `status_hint`
 * (an explicit status in the payload) or else the type name; unknown → retryable
 * upstream_error. */
void llmux__uerr_in_stream(llmux__upstream_error *e, int status_hint, const char *type,
                           const char *msg);

/* Parses an OpenAI-shaped error body {"error":{message,type,code,param}} (also a plain
 * string `error`, an integer `code`, Azure's string codes) into e, refining the
 * classification. Used by openai/azure and for in-stream errors. `root` may be NULL. */
void llmux__openai_error_body(llmux__upstream_error *e, const cJSON *root);

/* ---- URLs and request assembly -------------------------------------------------------- */

/* Appends the base URL (cfg base or dflt) without trailing '/'. False (with err set) when
 * it is empty or not http(s). */
bool llmux__url_base(llmux__buf *b, const char *base, const char *dflt, llmux__error *err);
/* Appends s percent-encoded (unreserved characters kept): one path segment or one query
 * value. */
void llmux__url_encode(llmux__buf *b, const char *s);

/* Starts out (zeroed) with a method and takes the URL from b (b is left empty). */
llmux_code llmux__http_begin(llmux__http_request *out, const char *method, llmux__buf *url,
                             llmux__error *err);
/* Adds "name: value". A value with CR, LF or NUL is refused (LLMUX_EINVALID_REQUEST,
 * message naming only the header, never the value). */
llmux_code llmux__http_add_header(llmux__http_request *out, const char *name, const char *value,
                                  llmux__error *err);
/* Serialises body as the request body (compact JSON). Does not take ownership. */
llmux_code llmux__http_set_body(llmux__http_request *out, const cJSON *body, llmux__error *err);

/* True when the key is set (non-NULL, non-empty). */
bool llmux__has_key(const llmux__provider_config *cfg);

/* ---- Shared request pieces ------------------------------------------------------------ */

/* The text of a message: its string content, or its text parts joined with "" (non-text
 * parts skipped). Appends to b. */
void llmux__message_text(const llmux__message *m, llmux__buf *b);

/* Splits a data: URL "data:<mime>;base64,<data>" into mime and data (pointers into url).
 * False when url is not a base64 data URL. */
bool llmux__data_url(const char *url, const char **mime, size_t *mime_len, const char **data);

/* Parses a tool call's arguments text as a JSON object (""/NULL → {}). NULL when it is
 * not a JSON object. Caller owns the result. */
cJSON *llmux__arguments_object(const char *arguments);

/* Writes a deterministic tool-call id into out[cap] for a call the upstream gave none:
 * "call_" + the response id (non [A-Za-z0-9_-] bytes dropped, cut to 24) or, without
 * one, a hash of `name`, then "_" + index. At most 40 characters (OpenAI's limit), and
 * only characters Anthropic's id pattern accepts. */
void llmux__synth_call_id(char *out, size_t cap, const char *response_id, const char *name,
                          int index);

/* ---- Stream decoder state ------------------------------------------------------------- */

typedef struct llmux__stream_tool {
    int64_t key;     /* upstream index (OpenAI tool index, Anthropic block index) */
    char *id;        /* the call id as reported in TOOL_CALL_START */
    size_t args_len; /* argument bytes reported so far */
} llmux__stream_tool;

#define LLMUX__MAX_STREAM_TOOLS 256

struct llmux__stream_decoder {
    const llmux__adapter *adapter;
    char *id;    /* upstream response id, NULL until known (reported as "") */
    char *model; /* served model, NULL until known (reported as "") */
    bool preamble_sent;
    bool finish_sent;
    bool ended;                /* DONE or ERROR reported */
    llmux__usage usage;        /* latest known counts */
    int64_t input_tokens;      /* anthropic: message_start input + cache counts */
    llmux__stream_tool *tools; /* n_tools entries, in call order (index = position) */
    size_t n_tools;
    size_t cap_tools;
    llmux__upstream_error err; /* storage for the ERROR delta */
};

/* Records the upstream id / model the first time each is non-empty. False on ENOMEM. */
bool llmux__dec_set_id_model(llmux__stream_decoder *d, const char *id, const char *model);

/* Reports one delta: fills response_id/model, sends PREAMBLE first when it was not sent
 * yet (for any kind but ERROR), marks the stream ended on DONE/ERROR, and ignores
 * everything once ended. Returns the sink's value. */
int llmux__dec_emit(llmux__stream_decoder *d, llmux__delta *delta, llmux__delta_sink sink,
                    void *ud);
/* Reports PREAMBLE if not yet sent. */
int llmux__dec_preamble(llmux__stream_decoder *d, llmux__delta_sink sink, void *ud);
/* Reports TEXT for s[0..n) (nothing for n == 0). */
int llmux__dec_text(llmux__stream_decoder *d, const char *s, size_t n, llmux__delta_sink sink,
                    void *ud);
/* Reports FINISH f once (later calls are ignored). */
int llmux__dec_finish(llmux__stream_decoder *d, llmux__finish_reason f, llmux__delta_sink sink,
                      void *ud);
/* Reports USAGE with d->usage when present. */
int llmux__dec_usage(llmux__stream_decoder *d, llmux__delta_sink sink, void *ud);
/* Reports DONE. */
int llmux__dec_done(llmux__stream_decoder *d, llmux__delta_sink sink, void *ud);
/* Reports ERROR with d->err (which the caller filled). */
int llmux__dec_error(llmux__stream_decoder *d, llmux__delta_sink sink, void *ud);
/* Fills d->err as a retryable upstream_error with message msg and reports it. */
int llmux__dec_fail(llmux__stream_decoder *d, const char *msg, llmux__delta_sink sink, void *ud);

/* The tool with upstream key `key`, or NULL. */
llmux__stream_tool *llmux__dec_tool(llmux__stream_decoder *d, int64_t key);
/* Starts a new tool call (dense index = its position): records it and reports
 * TOOL_CALL_START. An empty/NULL id is replaced by a synthesised one. Fails (ERROR
 * delta) past LLMUX__MAX_STREAM_TOOLS. */
int llmux__dec_tool_start(llmux__stream_decoder *d, int64_t key, const char *id, const char *name,
                          const char *thought_signature, llmux__delta_sink sink, void *ud);
/* Reports TOOL_CALL_ARGS for tool t (nothing for an empty fragment). */
int llmux__dec_tool_args(llmux__stream_decoder *d, llmux__stream_tool *t, const char *frag,
                         size_t n, llmux__delta_sink sink, void *ud);

/* ---- Adapters (defined in openai.c, azure.c, anthropic.c, google.c) ------------------- */

extern const llmux__adapter llmux__openai_adapter;
extern const llmux__adapter llmux__azure_adapter;
extern const llmux__adapter llmux__anthropic_adapter;
extern const llmux__adapter llmux__google_adapter;

/* Shared by openai.c and azure.c: the OpenAI chat body for params/req. `with_model`
 * false leaves out `model` (Azure's classic URL names the deployment).
 * `use_max_completion` picks the output-cap field. Caller owns the result. */
cJSON *llmux__openai_body(const llmux__params *p, const llmux__request *req,
                          const llmux__provider_config *cfg, bool with_model,
                          bool use_max_completion, llmux__error *err);
llmux_code llmux__openai_parse_response(int status, const llmux__header *h, size_t n,
                                        const char *body, size_t len, double now,
                                        llmux__response **out, llmux__upstream_error *uerr);
int llmux__openai_stream_event(llmux__stream_decoder *d, const llmux__sse_event *ev,
                               llmux__delta_sink sink, void *ud);
int llmux__openai_stream_end(llmux__stream_decoder *d, llmux__delta_sink sink, void *ud);

#endif
