/*
 * response.h — the unified response, the unified stream delta, a classified upstream
 * error, and their OpenAI encodings (pure, no I/O).
 *
 * Provider adapters (src/providers/) turn each upstream's body into an
 * llmux__response, and each upstream stream event into llmux__delta values; the
 * engine and server encode them back as OpenAI `chat.completion` objects and
 * `chat.completion.chunk` SSE events with the functions below.
 *
 * Nothing here is thread-safe; distinct objects may be used from distinct threads.
 */
#ifndef LLMUX_CORE_RESPONSE_H
#define LLMUX_CORE_RESPONSE_H

#include "core/arena.h"
#include "llmux.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Growable output buffer and JSON writing ------------------------------- */

/* A byte buffer that grows as it is written. An allocation failure is sticky: every
 * later write is a no-op returning false, and `oom` stays set, so a writer can check
 * once at the end. Zero-initialise it (or llmux__buf_init); free with llmux__buf_free. */
typedef struct llmux__buf {
    char *p;    /* the bytes, NUL-terminated when len > 0 (NULL before the first write) */
    size_t len; /* bytes written, without the NUL */
    size_t cap;
    bool oom; /* an allocation failed */
} llmux__buf;

void llmux__buf_init(llmux__buf *b);
/* Releases the bytes and zeroes b (reusable). */
void llmux__buf_free(llmux__buf *b);
/* Sets len to 0 and clears oom, keeping the allocation. */
void llmux__buf_clear(llmux__buf *b);
/* Appends n bytes. False on ENOMEM (sticky). */
bool llmux__buf_append(llmux__buf *b, const void *s, size_t n);
/* Appends a NUL-terminated string. */
bool llmux__buf_puts(llmux__buf *b, const char *s);
/* Appends a decimal integer. */
bool llmux__buf_int(llmux__buf *b, int64_t v);
/* Appends s[0..n) as a JSON string literal with its quotes: '"' and '\\' escaped,
 * control characters as \n \r \t \b \f or \u00XX, and every byte sequence that is
 * not valid UTF-8 (overlong, surrogate, truncated, > U+10FFFF) replaced by U+FFFD,
 * so the result is always valid JSON whatever the input. */
bool llmux__buf_json_string(llmux__buf *b, const char *s, size_t n);

/* True when s[0..n) is valid UTF-8 (RFC 3629). */
bool llmux__utf8_valid(const char *s, size_t n);

/* ---- Finish reasons and usage ---------------------------------------------- */

/* Why the model stopped, in OpenAI's vocabulary (what every adapter maps to). */
typedef enum llmux__finish_reason {
    LLMUX__FINISH_NONE = 0,       /* not reported (yet) */
    LLMUX__FINISH_STOP = 1,       /* natural end or a stop sequence */
    LLMUX__FINISH_LENGTH = 2,     /* output token cap */
    LLMUX__FINISH_TOOL_CALLS = 3, /* the model called tools */
    LLMUX__FINISH_CONTENT_FILTER = 4
} llmux__finish_reason;

/* "stop", "length", "tool_calls", "content_filter"; NULL for LLMUX__FINISH_NONE. */
const char *llmux__finish_reason_name(llmux__finish_reason f);

/* Token counts in OpenAI's terms (completion includes reasoning/thinking tokens). */
typedef struct llmux__usage {
    bool present; /* the upstream reported usage */
    int64_t prompt_tokens;
    int64_t completion_tokens;
    int64_t total_tokens;
} llmux__usage;

/* ---- Classified upstream error ---------------------------------------------- */

/* What an upstream failure means, per DESIGN.md's error types and retry rules. Plain
 * data (no pointers): copy it freely. The message is the provider's own text, cut to
 * fit, and never contains an API key. */
typedef struct llmux__upstream_error {
    llmux_code code;      /* LLMUX_OK when there is no error */
    bool retryable;       /* worth another attempt on the same provider */
    int http_status;      /* the response status; 0 for an error inside a 200 stream */
    double retry_after_s; /* the upstream's requested wait in seconds, < 0 for none
                             (only 0 < wait <= 60 is ever reported) */
    char type[48];        /* the provider's error type or code, e.g. "insufficient_quota",
                             "overloaded_error", "RESOURCE_EXHAUSTED"; "" when none */
    char param[48];       /* the request parameter the upstream blamed ("max_tokens"),
                             "" when none (OpenAI's error.param) */
    char message[256];    /* the provider's message, NUL-terminated */
} llmux__upstream_error;

/* Resets e to "no error" (code LLMUX_OK, retry_after_s -1, empty strings). */
void llmux__upstream_error_clear(llmux__upstream_error *e);

/* The upstream error as the proxy's error object {"type", "message", "provider"?}.
 * `type` comes from e->code; provider may be NULL. Caller owns the result
 * (cJSON_Delete); NULL on ENOMEM. */
cJSON *llmux__upstream_error_to_json(const llmux__upstream_error *e, const char *provider);

/* ---- Unified response ------------------------------------------------------- */

/* One tool call of a response. Strings are NUL-terminated and owned by the response. */
typedef struct llmux__response_tool_call {
    const char *id;                /* upstream id, or synthesised when it had none */
    const char *name;              /* function name */
    const char *arguments;         /* JSON text of the arguments ("{}" when none) */
    const char *thought_signature; /* Gemini's opaque thoughtSignature, or NULL */
} llmux__response_tool_call;

/* A complete non-streamed answer. Owns everything it points to (an arena); free with
 * llmux__response_free(). Every field is initialised by the parsers. */
typedef struct llmux__response {
    const char *id;    /* upstream id ("chatcmpl-…", "msg_…", responseId), "" if none */
    const char *model; /* the model that answered (a dated snapshot), "" if none */
    int64_t created;   /* upstream Unix time, 0 when it gave none */
    const char *text;  /* the answer text, NULL when there was none (tool calls only) */
    size_t text_len;
    llmux__response_tool_call *tool_calls; /* n_tool_calls entries */
    size_t n_tool_calls;
    llmux__finish_reason finish_reason; /* never NONE for a parsed response */
    llmux__usage usage;
    llmux__arena arena; /* owns all of the above */
} llmux__response;

/* An empty response (id/model "", no text, no calls, finish NONE, no usage). NULL on
 * ENOMEM. Adapters fill it with the setters below. */
llmux__response *llmux__response_new(void);

/* Releases r and everything it owns. NULL is fine. */
void llmux__response_free(llmux__response *r);

/* Copies s[0..n) into r's arena, replacing invalid UTF-8 by U+FFFD. NULL on ENOMEM. */
char *llmux__response_strdup(llmux__response *r, const char *s, size_t n);

/* Sets r->text to a copy of s[0..n) (s NULL: no text). False on ENOMEM. */
bool llmux__response_set_text(llmux__response *r, const char *s, size_t n);

/* Appends a tool call (strings copied; thought_signature may be NULL). False on ENOMEM. */
bool llmux__response_add_tool_call(llmux__response *r, const char *id, const char *name,
                                   const char *arguments, const char *thought_signature);

/*
 * The response as an OpenAI `chat.completion` object: id, object, created (r->created,
 * or `now` when the upstream gave none), model, choices[0] {index 0, message {role
 * "assistant", content (text or null), tool_calls? [{id, type "function", function
 * {name, arguments}, extra_content? {google {thought_signature}}}]}, finish_reason},
 * usage? {prompt_tokens, completion_tokens, total_tokens}. The caller may add fields
 * (the server adds `provider` and `llmux`). Caller owns it (cJSON_Delete); NULL on
 * ENOMEM.
 */
cJSON *llmux__response_to_json(const llmux__response *r, int64_t now);

/*
 * The same chat.completion written straight into b, without a cJSON tree (the proxy's
 * non-streaming hot path: building and printing the tree cost about 4x more). Members
 * in the order id, object, created, model, choices, usage?; `model` replaces r->model
 * when not NULL. The object is left OPEN (no closing brace) so the caller can append
 * members (",\"provider\":…") before closing it with "}". Strings are escaped with
 * llmux__buf_json_string. False on ENOMEM (b->oom).
 */
bool llmux__response_write_json(llmux__buf *b, const llmux__response *r, int64_t now,
                                const char *model);

/* ---- Unified stream deltas --------------------------------------------------- */

typedef enum llmux__delta_kind {
    /* Not content: the stream has started (role / id / model known). Reported exactly
     * once per attempt, before any other kind except ERROR. Anthropic's message_start,
     * OpenAI's role-only first chunk; for Gemini, just before its first content. Pings,
     * Azure's prompt-filter chunk and thinking deltas produce no delta at all. */
    LLMUX__DELTA_PREAMBLE = 0,
    LLMUX__DELTA_TEXT = 1,            /* content: a text fragment (text, text_len) */
    LLMUX__DELTA_TOOL_CALL_START = 2, /* content: a new tool call (index, tool_id, tool_name) */
    LLMUX__DELTA_TOOL_CALL_ARGS = 3,  /* content: arguments JSON fragment (index, text) */
    LLMUX__DELTA_FINISH = 4,          /* the finish reason (once) */
    LLMUX__DELTA_USAGE = 5,           /* token counts (once, the final merged values) */
    LLMUX__DELTA_ERROR = 6,           /* the upstream failed: in-stream error event, bad
                                         payload, or a stream cut before its end; always
                                         the last delta of the attempt */
    LLMUX__DELTA_DONE = 7             /* the upstream's proper end; always the last */
} llmux__delta_kind;

/* One unit of a streamed answer. Pointers are borrowed from the stream decoder: `text`,
 * `tool_id`, `tool_name`, `thought_signature` and `error` are valid only during the sink
 * call that received the delta; `response_id` and `model` (set once, never changed) stay
 * valid until the decoder or stream is freed, so a FINISH or USAGE delta may be copied and
 * kept for later. */
typedef struct llmux__delta {
    llmux__delta_kind kind;
    const char *text; /* TEXT, TOOL_CALL_ARGS: the fragment (NUL-terminated, non-empty) */
    size_t text_len;
    int index;                          /* TOOL_CALL_*: dense 0-based call index of this answer */
    const char *tool_id;                /* TOOL_CALL_START: the call id (upstream or synthesised) */
    const char *tool_name;              /* TOOL_CALL_START: the function name */
    const char *thought_signature;      /* TOOL_CALL_START: Gemini's signature, or NULL */
    llmux__finish_reason finish_reason; /* FINISH */
    llmux__usage usage;                 /* USAGE */
    const llmux__upstream_error *error; /* ERROR: the classified failure */
    const char *response_id; /* every kind: the upstream id as known so far ("" if none) */
    const char *model;       /* every kind: the served model as known so far ("" if none) */
} llmux__delta;

/* True for the kinds that are "first chunk" content: TEXT and TOOL_CALL_*. */
bool llmux__delta_is_content(const llmux__delta *d);

/* "preamble", "text", "tool_call_start", "tool_call_args", "finish", "usage",
 * "error", "done". */
const char *llmux__delta_kind_name(llmux__delta_kind k);

/* Receives the deltas of a stream decoder. Return 0 to go on; any other value stops
 * the decoder, which returns that value to its caller. */
typedef int (*llmux__delta_sink)(void *ud, const llmux__delta *d);

/* What every outgoing chunk says about the answer. Borrowed strings. */
typedef struct llmux__chunk_meta {
    const char *id;       /* the chunk id (the engine's or the upstream's) */
    int64_t created;      /* Unix seconds */
    const char *provider; /* the provider answering ("anthropic") */
    const char *model;    /* the model answering */
} llmux__chunk_meta;

/*
 * Appends the payload of the OpenAI `chat.completion.chunk` for one delta:
 * {"id","object":"chat.completion.chunk","created","model","provider","choices":[...]}
 *  - PREAMBLE: delta {"role":"assistant","content":""}
 *  - TEXT: delta {"content": text}
 *  - TOOL_CALL_START: delta {"tool_calls":[{"index","id","type":"function",
 *    "function":{"name","arguments":""}}]} (+ extra_content.google.thought_signature)
 *  - TOOL_CALL_ARGS: delta {"tool_calls":[{"index","function":{"arguments": text}}]}
 *  - FINISH: delta {} and "finish_reason"
 *  - USAGE: "choices":[] and "usage":{prompt_tokens, completion_tokens, total_tokens}
 *  - ERROR: {"error":{"type","message","provider"}} (type from d->error->code)
 *  - DONE: the bare text [DONE]
 * Strings are escaped with llmux__buf_json_string. False on ENOMEM.
 */
bool llmux__chunk_write(llmux__buf *out, const llmux__chunk_meta *meta, const llmux__delta *d);

/* The same payload framed as one SSE event: "data: <payload>\n\n". */
bool llmux__chunk_write_sse(llmux__buf *out, const llmux__chunk_meta *meta, const llmux__delta *d);

#endif
