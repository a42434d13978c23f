/* clean.h — the text-to-speech cleaner: removes from one chunk what a voice must not
 * read (markdown markers, code fences, table syntax, HTML tags and entities, emoji)
 * and keeps the words, per ../shared/data/README.md "Cleaning rules". Pure code: no
 * I/O, no globals. A cleaner is owned by one thread at a time.
 *
 * The steps, for a text chunk:
 *  - start of a line (LLMUX__CLEAN_LINE_START only): a thematic break (a line made of
 *    3+ of one of `-*_=`, spaces allowed) is dropped; `>` quote markers go; then a
 *    heading's `#` run (1–6) and its space go, otherwise a list marker (`-`, `*`, `+`,
 *    `1.`, `1)`) and its space go, with a following `[ ]` / `[x]`;
 *  - inline, in this order: HTML comments; inline code loses its backticks (the text
 *    inside is kept and exempt from the emphasis step, the later steps apply to it as
 *    to any text); `<scheme:…>` and `<a@b.c>` lose their angle brackets;
 *    `![alt](src)` → alt and `[text](url)` → text; `<br>` → space, other tags removed;
 *    bare URLs (http://, https://, ftp://, www.) are kept as written (no emphasis,
 *    entity or emoji step touches them); emphasis: a `*`
 *    run goes unless whitespace or the edge is on both sides, a `_` run goes unless a
 *    letter or digit is on both sides, a `~~` run goes; the entities &amp; &lt; &gt;
 *    &quot; &apos; &nbsp; and numeric ones are decoded; emoji are removed; whitespace
 *    runs become one space and the ends are trimmed.
 * A table row drops its delimiter row and otherwise becomes its non-empty cleaned cells
 * joined with ", ". A fenced code block is dropped whole. A result with no letter or
 * digit is empty: the caller omits the chunk. Invalid UTF-8 is copied through. */
#ifndef LLMUX_CORE_CLEAN_H
#define LLMUX_CORE_CLEAN_H

#include "llmux.h"

#include <stddef.h>
#include <stdint.h>

/* What a chunk is, as the chunker knows it (flags for llmux__clean_chunk). */
enum {
    LLMUX__CLEAN_LINE_START = 1, /* the chunk is the first chunk of its line */
    LLMUX__CLEAN_TABLE_ROW = 2,  /* the chunk is (a piece of) a table row */
    LLMUX__CLEAN_FENCE = 4       /* the chunk is (a piece of) a fenced code block */
};

/* Reusable scratch memory for cleaning. Zero-initialise it ({0}) before first use;
 * release it with llmux__cleaner_release(). Not thread-safe. */
typedef struct llmux__cleaner {
    char *text[2];          /* the two working texts, used in turn */
    unsigned char *mask[2]; /* per-byte protection flags, parallel to text */
    uint32_t *match;        /* bracket / parenthesis partners for the link step */
    char *out;              /* final output (table rows join cells here) */
    size_t cap;             /* bytes each of text/mask/match can hold */
} llmux__cleaner;

/* Cleans in[0..len) (one chunk, already trimmed by the chunker) according to flags (a
 * combination of LLMUX__CLEAN_*). On LLMUX_OK, *out and *out_len receive the cleaned text;
 * it is not NUL-terminated, is valid until the next call on c or its release, and
 * *out_len == 0 means "omit this chunk". Returns LLMUX_ENOMEM when scratch memory
 * cannot grow (then *out_len is 0). Runs in time linear in len (bounded constant
 * factors). Scratch grows to about 10 bytes per input byte of the largest chunk; after
 * a chunk larger than 16 KiB it is given back by the next ordinary-sized call (or by
 * llmux__cleaner_release). */
llmux_code llmux__clean_chunk(llmux__cleaner *c, const char *in, size_t len, unsigned flags,
                              const char **out, size_t *out_len);

/* Frees the scratch memory of c and zeroes it; c may be used again afterwards. */
void llmux__cleaner_release(llmux__cleaner *c);

/* One-shot convenience: cleans in[0..len) with flags and returns a NUL-terminated copy
 * of the result (possibly "", meaning omit), its length in *out_len (may be NULL).
 * Caller owns the result; free with free(). NULL when memory runs out. */
char *llmux__clean_text(const char *in, size_t len, unsigned flags, size_t *out_len);

#endif
