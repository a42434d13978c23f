/*
 * sse.h — an incremental parser for text/event-stream bodies (pure, no I/O).
 *
 * Feed the bytes of an upstream response as they arrive, split anywhere; get one
 * event at a time. It follows the WHATWG event-stream rules llmux needs:
 *  - lines end in LF, CRLF or CR (a CRLF split across two reads is one line end);
 *  - `field: value` (one optional space after the colon is dropped), a line with no
 *    colon is a field with an empty value, lines starting with ':' are comments;
 *  - the `data:` lines of one event are joined with "\n"; `event:` names it;
 *    `id:`, `retry:` and unknown fields are ignored;
 *  - an empty line ends the event; an event with no `data:` line is not reported;
 *  - at end of input, llmux__sse_finish() reports a last event whose blank line
 *    (or even whose final newline) never came.
 * A leading byte-order mark is not stripped (no provider sends one).
 *
 * Memory: in the style of picohttpparser, the parser reads the caller's buffer in
 * place. An event that lies within one fed buffer and has a single `data:` line (the
 * usual case) is reported without a copy, pointing into that buffer. Only what must
 * outlive a call — a line cut by the end of a buffer, a multi-line event — is copied
 * into two small buffers the parser owns, which grow to the largest such event and
 * never past `max_event` bytes (default 1 MiB): an event whose data is longer, or a line
 * longer than max_event + 64 bytes, is an error.
 *
 * Not thread-safe; one parser per stream.
 */
#ifndef LLMUX_CORE_SSE_H
#define LLMUX_CORE_SSE_H

#include <stdbool.h>
#include <stddef.h>

#define LLMUX__SSE_DEFAULT_MAX_EVENT (1u << 20)
#define LLMUX__SSE_MAX_NAME 63 /* longer event names are truncated (see below) */

/* One dispatched event. Pointers are valid until the next call on the parser
 * (llmux__sse_next/feed/finish/reset/free) and, for `data`, as long as the buffer
 * that was passed to the call that returned it. */
typedef struct llmux__sse_event {
    const char *name; /* NUL-terminated `event:` value; "" when the event had none. A
                         name longer than LLMUX__SSE_MAX_NAME bytes is cut to that
                         length, so it can never equal a shorter known name. */
    const char *data; /* the joined data lines, NOT NUL-terminated; may be empty */
    size_t data_len;
} llmux__sse_event;

typedef enum llmux__sse_status {
    LLMUX__SSE_NEED_MORE = 0, /* every byte was consumed; no complete event */
    LLMUX__SSE_EVENT = 1,     /* *ev holds one event; *consumed says how far we got */
    LLMUX__SSE_TOO_LARGE = 2  /* an event or line exceeded max_event: the stream is
                                 unusable (sticky until llmux__sse_reset) */
} llmux__sse_status;

/* A growable byte buffer the parser owns (internal). */
typedef struct llmux__sse_buf {
    char *p;
    size_t len;
    size_t cap;
} llmux__sse_buf;

typedef struct llmux__sse_parser {
    size_t max_event;     /* cap on one event's data and on one line */
    llmux__sse_buf line;  /* a line cut by the end of the previous buffer */
    llmux__sse_buf data;  /* data copied for the event being built */
    const char *data_ref; /* data of the event being built when borrowed in place */
    size_t data_ref_len;
    bool has_data;   /* the event being built has seen a data: line */
    bool data_owned; /* its data lives in `data` (else in data_ref) */
    bool skip_lf;    /* the last byte seen was CR: a leading LF is its pair */
    bool dispatched; /* an event was returned: clear it on the next call */
    bool failed;     /* TOO_LARGE was reported */
    char name[LLMUX__SSE_MAX_NAME + 1];
} llmux__sse_parser;

/* Prepares a parser. max_event 0 means LLMUX__SSE_DEFAULT_MAX_EVENT. Allocates
 * nothing. */
void llmux__sse_init(llmux__sse_parser *p, size_t max_event);

/* Forgets any partial state (keeps its buffers and max_event) so the parser can read
 * a new stream, e.g. for the next attempt. */
void llmux__sse_reset(llmux__sse_parser *p);

/* Releases the parser's buffers. The parser may be init'ed again afterwards. */
void llmux__sse_free(llmux__sse_parser *p);

/*
 * Reads from buf[0..len) until one event is complete or the bytes run out.
 *  - LLMUX__SSE_EVENT: *ev is filled and *consumed (<= len) bytes were used; call
 *    again with the rest (buf + *consumed) to get the next event.
 *  - LLMUX__SSE_NEED_MORE: all len bytes were consumed (*consumed == len); what was
 *    not a complete event is kept for the next call.
 *  - LLMUX__SSE_TOO_LARGE: stop reading this stream.
 * Returns LLMUX__SSE_TOO_LARGE also when the allocation of the pending copy fails.
 */
llmux__sse_status llmux__sse_next(llmux__sse_parser *p, const char *buf, size_t len,
                                  size_t *consumed, llmux__sse_event *ev);

/* Called once per event by llmux__sse_feed. Return true to go on, false to stop. */
typedef bool (*llmux__sse_cb)(void *ud, const llmux__sse_event *ev);

/* Convenience loop over llmux__sse_next: calls cb for each event in buf[0..len).
 * Returns LLMUX__SSE_NEED_MORE when everything was read, LLMUX__SSE_EVENT when cb
 * returned false (the rest of buf is dropped), LLMUX__SSE_TOO_LARGE on overflow. */
llmux__sse_status llmux__sse_feed(llmux__sse_parser *p, const char *buf, size_t len,
                                  llmux__sse_cb cb, void *ud);

/* End of input: completes a pending last line and reports the pending event, if any.
 * Returns LLMUX__SSE_EVENT with *ev filled (valid until the next call), or
 * LLMUX__SSE_NEED_MORE when nothing was pending, or LLMUX__SSE_TOO_LARGE. After it
 * the parser is empty (as after llmux__sse_reset). */
llmux__sse_status llmux__sse_finish(llmux__sse_parser *p, llmux__sse_event *ev);

#endif
