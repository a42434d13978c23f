/* mock_wire.h — the four providers' wire shapes as the mock writes them (pure: buffers in,
 * buffers out, no I/O). Written from ../shared/spec/providers.md and the fixtures, never
 * through src/providers/, so that an adapter bug and a mock bug cannot agree.
 *
 * It reads a completion request the way the real API checks it (auth is checked by the
 * server, bodies here), decides the answer (default text, echo, scripted text or tool call,
 * truncated by max tokens or a stop sequence, usage counted), and writes it as one JSON body
 * or as a list of stream events, plus every provider's error bodies.
 */
#ifndef LLMUX_MOCK_WIRE_H
#define LLMUX_MOCK_WIRE_H

#include "mock/mock.h"
#include "mock/mock_script.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What kind of error body to write. */
typedef enum llmux__mock_error_kind {
    LLMUX__MOCK_ERR_STATUS = 0,       /* the provider's usual body for `status` */
    LLMUX__MOCK_ERR_AUTH_MISSING = 1, /* no key sent */
    LLMUX__MOCK_ERR_AUTH_INVALID = 2, /* a key that is not accepted */
    LLMUX__MOCK_ERR_INVALID = 3,      /* a request the API refuses: message/param/code set */
    LLMUX__MOCK_ERR_NO_ROUTE = 4      /* unknown URL (message set) */
} llmux__mock_error_kind;

/* An error to answer with. */
typedef struct llmux__mock_error {
    int status; /* HTTP status */
    llmux__mock_error_kind kind;
    char message[512]; /* "" = the provider's default for the status */
    char param[128];   /* OpenAI `param`, "" = null */
    char code[64];     /* OpenAI `code`, "" = null */
} llmux__mock_error;

/* What the mock understood of one completion request. Owned strings; clear with
 * llmux__mock_call_clear(). */
typedef struct llmux__mock_call {
    int provider; /* llmux__mock_provider */
    char *model;  /* body model, Azure deployment or Google URL model */
    bool stream;
    bool include_usage; /* OpenAI/Azure stream_options.include_usage */
    bool google_sse;    /* Google streaming with alt=sse (else a JSON array is streamed) */
    long prompt_tokens; /* counted from the request's messages, system and tools */
    long max_tokens;    /* the request's output cap, -1 when none */
    char **stops;       /* stop sequences */
    size_t nstops;
    char *first_tool; /* the first tool the request offers, NULL when none */
    char *last_user;  /* text of the last user message ("" when none) */
} llmux__mock_call;

/* Checks and reads a completion request body for `provider`. url_model is the model (or
 * Azure deployment) named by the URL, NULL when the body names it. google_stream says the
 * Google method was streamGenerateContent (google_sse: with alt=sse). Returns 0 with *out
 * filled, or -1 with *err set to the provider's 400 (and *out cleared). */
int llmux__mock_call_parse(int provider, const char *url_model, bool google_stream, bool google_sse,
                           const char *body, size_t len, llmux__mock_call *out,
                           llmux__mock_error *err);

/* Frees what a call owns. */
void llmux__mock_call_clear(llmux__mock_call *call);

/* The answer to write. Owned strings; clear with llmux__mock_answer_clear(). */
typedef struct llmux__mock_answer {
    char id[64];      /* chatcmpl-…, msg_…, or Google responseId */
    char tool_id[64]; /* call_…, toolu_… ("" for Google, which sends none) */
    long created;     /* unix seconds */
    char *text;       /* NULL when the answer is only a tool call */
    size_t *split_at; /* where stream deltas of text split; NULL = at words */
    size_t nsplit;
    char *tool_name;     /* NULL when no tool call */
    char *tool_args;     /* JSON object text */
    const char *finish;  /* "stop", "length", "tool_calls" or "stop_sequence" */
    char *stop_sequence; /* the matched stop sequence, or NULL */
    long prompt_tokens;
    long completion_tokens;
} llmux__mock_answer;

/* Decides the answer to `call` under `step` (NULL = no step): the step's text, else the last
 * user message when echo, else LLMUX__MOCK_DEFAULT_TEXT; a tool call when the step asks for
 * one and the request offers tools; cut at a stop sequence or at the output cap.
 * *rng is the id generator's state. Returns 0, or -1 when out of memory. */
int llmux__mock_answer_build(const llmux__mock_call *call, const llmux__mock_step *step, bool echo,
                             uint64_t *rng, long created, llmux__mock_answer *out);

/* Frees what an answer owns. */
void llmux__mock_answer_clear(llmux__mock_answer *answer);

/* Writes n random letters/digits and a NUL into out (n + 1 bytes). */
void llmux__mock_random_chars(uint64_t *rng, char *out, size_t n);

/* The non-streaming JSON body of `answer`. Caller frees. NULL when out of memory. */
char *llmux__mock_wire_body(const llmux__mock_call *call, const llmux__mock_answer *answer);

/* One stream event before framing. */
typedef struct llmux__mock_event {
    char *name;   /* SSE event name (Anthropic), NULL for data-only events */
    char *data;   /* the JSON payload (or "[DONE]") */
    bool content; /* carries content: text or a tool call (not a preamble or a finish) */
} llmux__mock_event;

typedef struct llmux__mock_events {
    llmux__mock_event *v;
    size_t n;
    size_t cap;
} llmux__mock_events;

/* Appends the provider's whole event sequence for `answer` (preamble, content deltas,
 * finish, usage, terminator). omit_finish leaves out everything that ends the stream
 * (finish reasons, usage-only chunks, [DONE], message_stop), for a truncated stream.
 * Returns 0, or -1 when out of memory. */
int llmux__mock_wire_events(const llmux__mock_call *call, const llmux__mock_answer *answer,
                            bool omit_finish, llmux__mock_events *out);

/* Appends the provider's in-stream error event (Anthropic `event: error`, OpenAI/Azure
 * `data: {"error":…}`, Google `data: {"error":…}`). Returns 0 or -1. */
int llmux__mock_wire_stream_error(const llmux__mock_call *call, llmux__mock_events *out);

/* Frees every event. */
void llmux__mock_events_clear(llmux__mock_events *events);

/* Frames one event for the wire: `event: NAME\n` + `data: DATA\n\n` (Google: CRLF); for a
 * Google stream without alt=sse, JSON-array framing ("[" before the first, "," between).
 * broken drops the blank line that ends each event (malformed SSE). *len gets the length.
 * Caller frees; NULL when out of memory. */
char *llmux__mock_frame(const llmux__mock_call *call, const llmux__mock_event *ev, bool first,
                        bool broken, size_t *len);

/* What ends a framed stream after its last event: "]" for the Google JSON array, else "". */
const char *llmux__mock_frame_end(const llmux__mock_call *call);

/* The provider's error body. model may be NULL; retry_after (seconds, may be NULL) feeds
 * Google's RetryInfo. Caller frees; NULL when out of memory. */
char *llmux__mock_wire_error(int provider, const llmux__mock_error *err, const char *model,
                             const char *request_id, const char *retry_after);

/* The provider's model list (GET …/models). Caller frees. */
char *llmux__mock_wire_models(int provider);

/* The standard reason phrase for an HTTP status ("OK", "Too Many Requests", …). */
const char *llmux__mock_reason(int status);

#endif
