/* mock_script.h — the mock's scripted steps (pure: JSON in, steps out, no I/O).
 *
 * A step says how the mock answers one request (or `count` requests): a status, delays,
 * a fault, a tool call, a text. Steps wait in a queue; a request takes the first pending
 * step whose `provider` and `model` (when set) match it. The field list and meanings are in
 * docs/mock.md. Not thread-safe; the mock uses a queue from its own thread only.
 */
#ifndef LLMUX_MOCK_SCRIPT_H
#define LLMUX_MOCK_SCRIPT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum llmux__mock_malformed {
    LLMUX__MOCK_MALFORMED_NONE = 0,
    LLMUX__MOCK_MALFORMED_JSON = 1,     /* 200 whose JSON (body or stream events) is invalid */
    LLMUX__MOCK_MALFORMED_SSE = 2,      /* stream whose SSE framing is broken */
    LLMUX__MOCK_MALFORMED_TRUNCATED = 3 /* body cut short / stream without its terminator */
} llmux__mock_malformed;

/* One extra response header a step asks for. */
typedef struct llmux__mock_header {
    char *name;
    char *value;
} llmux__mock_header;

/* One parsed step. Every pointer member is owned by the step. */
typedef struct llmux__mock_step {
    int provider; /* llmux__mock_provider to match, -1 = any */
    char *model;  /* model to match, NULL = any */
    long count;   /* requests this step still applies to (>= 1) */
    int status;   /* HTTP status to answer with, 0 = a normal 200 answer */
    char *body;   /* exact body to send with `status` (NULL = the provider's own body) */
    size_t body_len;
    llmux__mock_header *headers; /* extra response headers (retry-after ones included) */
    size_t nheaders;
    long delay_ms;                 /* before the status line */
    long first_chunk_delay_ms;     /* before the first content (stream chunk or JSON body) */
    long chunk_interval_ms;        /* between content chunks */
    long drop_after_chunks;        /* close the socket after n content chunks, -1 = never */
    long error_event_after_chunks; /* provider-shaped in-stream error after n, -1 = never */
    llmux__mock_malformed malformed;
    bool hang;        /* accept the request and never answer */
    bool tool_call;   /* answer with a tool call (when the request offers tools) */
    char *tool_name;  /* NULL = the first tool the request offers */
    char *tool_args;  /* JSON object text; NULL = "{}" */
    char *tool_id;    /* NULL = a generated, provider-shaped id */
    char *text;       /* answer text, NULL = default (or echo) */
    size_t *split_at; /* byte offsets where stream deltas of `text` split */
    size_t nsplit;
    char *source; /* the step as JSON text, for the request log */
} llmux__mock_step;

/* Parses one step object into *out (zeroed first). Returns 0, or -1 with a message in
 * why[0..why_len) naming the field and the problem ("delay_ms: must be a number >= 0").
 * On failure *out holds nothing to free. */
int llmux__mock_step_parse(const cJSON *obj, llmux__mock_step *out, char *why, size_t why_len);

/* Frees what a step owns (not the struct itself). NULL is a no-op. */
void llmux__mock_step_clear(llmux__mock_step *step);

/* Deep copy of `src` into *dst. Returns 0, or -1 when out of memory (nothing to free). */
int llmux__mock_step_copy(llmux__mock_step *dst, const llmux__mock_step *src);

/* The queue of pending steps, in the order they were posted. */
typedef struct llmux__mock_script {
    llmux__mock_step *steps;
    size_t count;
    size_t cap;
} llmux__mock_script;

/* Parses `json` (a JSON array of steps, or {"steps": [...]}) and appends every step to the
 * queue — all or none. Returns the number of steps added, or -1 with a message in why
 * ("step 2: unknown field 'dealy_ms'"). */
long llmux__mock_script_add(llmux__mock_script *script, const char *json, size_t len, char *why,
                            size_t why_len);

/* Takes the first pending step matching (provider, model) into *out (a copy the caller
 * clears with llmux__mock_step_clear), decrementing its count and dropping it at zero.
 * Returns true when one matched; false leaves *out zeroed. */
bool llmux__mock_script_take(llmux__mock_script *script, int provider, const char *model,
                             llmux__mock_step *out);

/* Drops every pending step (the queue stays usable). */
void llmux__mock_script_clear(llmux__mock_script *script);

#endif
