/*
 * provider.h — the provider adapters: pure translation between llmux's unified model
 * and each upstream wire format (OpenAI and OpenAI-compatible, Azure OpenAI,
 * Anthropic Messages, Google Gemini). No sockets, no clocks, no globals: buffers in,
 * buffers or deltas out. docs/providers.md says what each adapter maps and why.
 *
 * An attempt, as the engine runs it:
 *   1. a = llmux__adapter_for(provider);
 *      a->build_request(params, req, cfg, &http, &err)  → method, URL, headers, body
 *   2. send it; then
 *      - not streaming, or any non-2xx status: collect the body and call
 *        a->parse_response(status, headers, n, body, len, now, &resp, &uerr);
 *      - streaming with a 2xx status: s = llmux__stream_new(a); for each read,
 *        llmux__stream_feed(s, bytes, n, sink, ud); at end of body
 *        llmux__stream_finish(s, sink, ud). The sink gets llmux__delta values
 *        (core/response.h): PREAMBLE, then content, FINISH, USAGE, and DONE, or an
 *        ERROR at any point. The first content delta (llmux__delta_is_content) is the
 *        "first chunk" of DESIGN.md.
 *   3. warm-up: a->warm_request(cfg, &http, &err) gives a cheap authenticated GET.
 *
 * Thread-safety: adapters are stateless tables (any thread); a stream decoder belongs
 * to one attempt on one thread.
 */
#ifndef LLMUX_PROVIDERS_PROVIDER_H
#define LLMUX_PROVIDERS_PROVIDER_H

#include "core/error.h"
#include "core/request.h"
#include "core/response.h"
#include "core/sse.h"

#include <stdbool.h>
#include <stddef.h>

/* ---- Resolved provider configuration ------------------------------------------- */

/* Which field carries the output cap for OpenAI-format upstreams. */
typedef enum llmux__max_tokens_param {
    LLMUX__MAX_TOKENS_AUTO = 0,      /* api.openai.com: max_completion_tokens (max_tokens is
                                        refused by reasoning models); a custom base_url and
                                        Azure: max_tokens (what most servers and older
                                        Azure api-versions know) */
    LLMUX__MAX_TOKENS_LEGACY = 1,    /* always max_tokens */
    LLMUX__MAX_TOKENS_COMPLETION = 2 /* always max_completion_tokens */
} llmux__max_tokens_param;

#define LLMUX__AZURE_DEFAULT_API_VERSION "2024-10-21"
#define LLMUX__ANTHROPIC_DEFAULT_VERSION "2023-06-01"
#define LLMUX__ANTHROPIC_DEFAULT_MAX_TOKENS 4096

/* One provider as a session configured it. All strings are borrowed (NUL-terminated)
 * and only read during the call they are passed to; the adapters copy the key only
 * into the header lines of an llmux__http_request, which wipes them when freed. */
typedef struct llmux__provider_config {
    llmux__provider provider;
    const char *api_key;           /* NULL or "": no auth header is sent */
    const char *base_url;          /* NULL or "": the provider's default. Forms as each SDK spells
                                      them: OpenAI's includes the version ("https://api.openai.com/v1",
                                      a custom "https://host/v1"); Anthropic's and Google's do not;
                                      Azure's is the bare resource URL (required). A trailing '/' is
                                      ignored. */
    const char *api_version;       /* azure: NULL → LLMUX__AZURE_DEFAULT_API_VERSION; "v1"
                                      selects the 2025+ /openai/v1 surface */
    const char *anthropic_version; /* NULL → LLMUX__ANTHROPIC_DEFAULT_VERSION */
    llmux__max_tokens_param max_tokens_param; /* openai/azure */
    bool no_stream_options;  /* openai/azure: never send stream_options (servers that
                                reject it); usage is then not reported when streaming */
    long default_max_tokens; /* anthropic: max_tokens when the request has none;
                                0 → LLMUX__ANTHROPIC_DEFAULT_MAX_TOKENS */
} llmux__provider_config;

/* The default base URL of a provider ("https://api.openai.com/v1", …; "" for Azure,
 * which has none). Static string. */
const char *llmux__provider_default_base_url(llmux__provider p);

/* ---- Upstream HTTP request -------------------------------------------------------- */

/* An upstream request, ready for curl. Owns every string; free with
 * llmux__http_request_free (which wipes the header lines: they carry the key). */
typedef struct llmux__http_request {
    const char *method; /* "POST" or "GET" (static) */
    char *url;          /* absolute URL; never contains the key */
    char **headers;     /* n_headers lines "Name: value" (curl_slist_append-ready) */
    size_t n_headers;
    char *body; /* NUL-terminated JSON, NULL for GET */
    size_t body_len;
} llmux__http_request;

/* Releases everything r owns (header lines are zeroed first) and zeroes r. Safe on a
 * zeroed or already freed request. */
void llmux__http_request_free(llmux__http_request *r);

/* ---- Upstream response headers ---------------------------------------------------- */

/* One response header as the engine collected it (borrowed, NUL-terminated, value
 * without surrounding whitespace). */
typedef struct llmux__header {
    const char *name;
    const char *value;
} llmux__header;

/* The value of the first header called `name` (ASCII case-insensitive), or NULL. */
const char *llmux__header_get(const llmux__header *headers, size_t n, const char *name);

/*
 * The wait an upstream asks for, in seconds, or -1 when it asks for none usable. As the
 * official SDKs do: `retry-after-ms` (milliseconds) first, then `retry-after` (seconds,
 * possibly fractional, or an HTTP date, compared with `now`, Unix seconds); a wait is
 * used only when 0 < wait <= 60.
 */
double llmux__retry_after(const llmux__header *headers, size_t n, double now);

/* ---- Stream decoding ---------------------------------------------------------------- */

/* Per-attempt state of one upstream stream (opaque). */
typedef struct llmux__stream_decoder llmux__stream_decoder;

/* ---- The adapter table -------------------------------------------------------------- */

typedef struct llmux__adapter {
    llmux__provider provider;
    const char *name; /* "openai", "azure", "anthropic", "google" */

    /*
     * The upstream request for one attempt. `params` are the resolved parameters of the
     * attempt's chain entry (model, messages, sampling, tools); `req` gives the
     * request-level options (stream, and `extra`, the caller's other OpenAI fields,
     * forwarded to OpenAI-format upstreams only); `cfg` the provider's key and URLs.
     * llmux's own fields (provider, fallbacks, retry, timeouts, llmux stream options)
     * never go upstream. On success fills *out (caller frees with
     * llmux__http_request_free) and returns LLMUX_OK. A request the upstream cannot
     * express (e.g. a tool result whose call is unknown, for Google) gives
     * LLMUX_EINVALID_REQUEST with err naming the message; a bad config (missing Azure
     * endpoint, a key with a line break) LLMUX_EINVALID_REQUEST; LLMUX_ENOMEM. *out is
     * zeroed on failure. The key never appears in err.
     */
    llmux_code (*build_request)(const llmux__params *params, const llmux__request *req,
                                const llmux__provider_config *cfg, llmux__http_request *out,
                                llmux__error *err);

    /*
     * A complete upstream response. A 2xx with a usable body: *out gets a new response
     * (caller frees with llmux__response_free), uerr is cleared, returns LLMUX_OK.
     * Otherwise *out is NULL, *uerr is filled and its code returned: a non-2xx status is
     * classified per DESIGN.md and refined by the body (OpenAI insufficient_quota and
     * Anthropic spend limits are not retryable, Gemini API_KEY_INVALID is auth_failed,
     * an in-body overloaded_error is a retryable upstream_error, x-should-retry is
     * honoured, retry_after_s from the headers or Gemini's RetryInfo); a 2xx that is
     * not a usable answer (garbage, wrong types, no choices) is a retryable
     * upstream_error. `headers` may be NULL when n_headers is 0. `now` is the current
     * Unix time, only used to read an HTTP-date Retry-After.
     */
    llmux_code (*parse_response)(int status, const llmux__header *headers, size_t n_headers,
                                 const char *body, size_t len, double now, llmux__response **out,
                                 llmux__upstream_error *uerr);

    /*
     * One SSE event of a 2xx stream → zero or more deltas, each passed to sink. Returns
     * 0, or the first non-zero value the sink returned (the decoder then stops and
     * reports nothing more for this event). After an ERROR or DONE delta every further
     * event is ignored.
     */
    int (*stream_event)(llmux__stream_decoder *d, const llmux__sse_event *ev,
                        llmux__delta_sink sink, void *ud);

    /*
     * End of the upstream body. Reports DONE when the stream ended properly (after a
     * final FINISH/USAGE where the protocol delivers them at the end: Gemini, or an
     * OpenAI-compatible stream that never sent finish_reason), or an ERROR delta
     * (retryable upstream_error, "stream ended before …") when it was cut short. Nothing
     * when DONE or ERROR was already reported. Returns like stream_event.
     */
    int (*stream_end)(llmux__stream_decoder *d, llmux__delta_sink sink, void *ud);

    /*
     * The warm-up request: a cheap authenticated GET on the host completions go to
     * (OpenAI/compat {base}/models, Azure {endpoint}/openai/models?api-version=…,
     * Anthropic /v1/models?limit=1, Google /v1beta/models?pageSize=1), so that the
     * connection it opens can be reused. Same ownership and errors as build_request.
     */
    llmux_code (*warm_request)(const llmux__provider_config *cfg, llmux__http_request *out,
                               llmux__error *err);
} llmux__adapter;

/* The adapter for a provider; NULL for an out-of-range value. Static storage. */
const llmux__adapter *llmux__adapter_for(llmux__provider p);

/* A decoder for one streamed attempt with adapter a. NULL on ENOMEM. */
llmux__stream_decoder *llmux__stream_decoder_new(const llmux__adapter *a);

/* Releases a decoder. NULL is fine. */
void llmux__stream_decoder_free(llmux__stream_decoder *d);

/* True once the decoder reported DONE or ERROR (nothing more will come). */
bool llmux__stream_decoder_ended(const llmux__stream_decoder *d);

/* ---- Bytes-level stream: SSE parser + decoder ----------------------------------------- */

/* The whole streamed body of one attempt: raw bytes in, deltas out. */
typedef struct llmux__stream llmux__stream;

/* A stream for adapter a (SSE events capped at LLMUX__SSE_DEFAULT_MAX_EVENT). NULL on
 * ENOMEM. Free with llmux__stream_free. */
llmux__stream *llmux__stream_new(const llmux__adapter *a);

/* Feeds body bytes, split anywhere, and reports the deltas they complete. An event
 * larger than the SSE cap ends the stream with an ERROR delta. Returns 0 or the sink's
 * non-zero value. */
int llmux__stream_feed(llmux__stream *s, const char *buf, size_t len, llmux__delta_sink sink,
                       void *ud);

/* End of body: flushes a last event without its blank line, then the decoder's end
 * (DONE or an "interrupted" ERROR). Returns 0 or the sink's non-zero value. */
int llmux__stream_finish(llmux__stream *s, llmux__delta_sink sink, void *ud);

/* True once DONE or ERROR was reported. */
bool llmux__stream_ended(const llmux__stream *s);

/* Releases a stream. NULL is fine. */
void llmux__stream_free(llmux__stream *s);

#endif
