/* sentence.h — the streaming sentence chunker for text-to-speech (chunk_by_sentence,
 * with clean_sentences as an option). Pure code: no I/O, no clocks, no globals. One
 * sentencer per stream; not thread-safe (one thread at a time per sentencer).
 *
 * Text deltas of any size and split go in; whole sentences come out through a
 * callback as soon as each is certain, trimmed of Unicode whitespace and never empty.
 * The output depends only on the concatenated text, never on where the deltas were
 * cut (byte cuts inside a UTF-8 sequence included). The rules are those of
 * ../shared/data/README.md, summarised:
 *  - every newline (\n, \r\n, \r) ends the current sentence;
 *  - a fenced code block (a line starting, after at most 3 spaces, with 3+ backticks
 *    or tildes, through the matching closing fence line or the end of the text) is one
 *    chunk; a table row (a line whose first non-space character is `|`) is one chunk;
 *  - a run of terminators (. ! ? … 。 ！ ？) plus its closers (quotes, brackets, `*`,
 *    `_`, closing HTML tags, a `»` after one (no-break) space) ends the sentence when
 *    it holds 。！？ (whatever follows), or when the closers are followed by whitespace
 *    or the end of the line and the run holds ! or ?, or is a single `.` that none of
 *    the exceptions (abbreviation, initial, "No. 5", list number, lowercase next word)
 *    keeps; an ellipsis ends a sentence only at the end of a line or of the text.
 * Deciding a `.` may need the first letter of the next word, so a sentence can wait
 * for one more delta or for llmux__sentencer_finish().
 *
 * Memory cap. The bytes of the current, not yet emitted chunk (including the lookahead
 * that decides it) are limited to max_buffer (default LLMUX__SENTENCE_DEFAULT_CAP,
 * at least LLMUX__SENTENCE_MIN_CAP). When a chunk reaches max_buffer bytes without
 * ending, its first max_buffer bytes are cut at a safe boundary and emitted as a chunk
 * of their own: just after the last ASCII whitespace in the second half of those
 * bytes, else at the last UTF-8 code point boundary. The rest continues as a new
 * chunk, in the same state (a cut fenced block or table row continues as one, and is
 * still cleaned as one). The cut depends only on the text, so it too is independent of
 * the delta split. Per stream the chunker holds at most about 4 × max_buffer bytes of
 * text plus, with cleaning, scratch for the largest chunk (about 10 bytes per byte).
 *
 * eager_first_chunk (off by default). To cut time-to-first-audio, the first chunk of
 * the stream may end early at a clause boundary: a `,` `;` or `:` followed by
 * whitespace (so 1,000 and 10:30 never qualify), or a fullwidth `，` `；` `：`, once the
 * chunk holds at least LLMUX__SENTENCE_EAGER_MIN_CHARS code points (punctuation
 * included, leading whitespace not). Only the first delivered chunk is affected; the
 * rest of that sentence and everything after follow the normal rules. With cleaning,
 * "first" means first delivered: a leading chunk that cleaning omits does not count.
 *
 * Cost: feeding is O(delta) amortised — the buffer is never rescanned from its start
 * (a few bytes of lookahead may be looked at twice), so a one-byte-per-delta stream
 * stays linear. */
#ifndef LLMUX_CORE_SENTENCE_H
#define LLMUX_CORE_SENTENCE_H

#include "llmux.h"

#include <stdbool.h>
#include <stddef.h>

/* Default and minimum max_buffer, in bytes. */
#define LLMUX__SENTENCE_DEFAULT_CAP (32u * 1024u)
#define LLMUX__SENTENCE_MIN_CAP 64u
/* With eager_first_chunk: the shortest first chunk a clause boundary may end. */
#define LLMUX__SENTENCE_EAGER_MIN_CHARS 20u

typedef struct llmux__sentence_options {
    bool clean;             /* clean_sentences: apply the cleaner (clean.h) to each chunk */
    bool eager_first_chunk; /* end the first chunk at a clause boundary (see above) */
    size_t max_buffer;      /* cap on a pending chunk, bytes; 0 = default */
} llmux__sentence_options;

typedef struct llmux__sentencer llmux__sentencer; /* one per stream */

/* Receives one chunk: s[0..len) is trimmed, non-empty, not NUL-terminated, and valid
 * only until the callback returns. Return 0 to go on, non-zero to abort the feed or
 * finish call that invoked it (that value is then returned). A callback must not call
 * back into the same sentencer. */
typedef int (*llmux__sentence_cb)(void *ud, const char *s, size_t len);

/* Creates a sentencer for one stream; opt may be NULL (all defaults: no cleaning, no
 * eager first chunk, default cap). Caller owns the result; free with
 * llmux__sentencer_free(). NULL on ENOMEM. */
llmux__sentencer *llmux__sentencer_new(const llmux__sentence_options *opt);

/* Feeds delta[0..len) (any bytes; len may be 0) and calls cb for every chunk that is
 * now certain, in order. Returns LLMUX_OK, LLMUX_ENOMEM, or the non-zero value a
 * callback returned. After a non-zero return the sentencer is failed: every later
 * feed/finish returns that value again without calling back; free it. */
int llmux__sentencer_feed(llmux__sentencer *s, const char *delta, size_t len, llmux__sentence_cb cb,
                          void *ud);

/* Ends the stream: flushes what remains (a last sentence with or without terminator,
 * an unclosed code block, a trailing incomplete UTF-8 sequence as-is) through cb, then
 * resets s so it can take a new stream. Call it at the end of the stream and also
 * before reporting an upstream error, so no text is lost. Returns as feed does. */
int llmux__sentencer_finish(llmux__sentencer *s, llmux__sentence_cb cb, void *ud);

/* Bytes of heap memory s holds right now (buffers included): for tests and metrics. */
size_t llmux__sentencer_memory(const llmux__sentencer *s);

/* Frees s and everything it holds. NULL is ignored. */
void llmux__sentencer_free(llmux__sentencer *s);

#endif
