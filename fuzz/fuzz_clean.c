/* fuzz_clean.c — the text-to-speech cleaner (core/clean.c) on arbitrary chunks.
 *
 * Input: byte 0 = flags (LLMUX__CLEAN_* in bits 0..2), bits 4..7 the cut point, and bit 3
 * with bits 4..7 clear = "first make the reused cleaner clean a chunk over 16 KiB, so
 * that this one shrinks it"; the rest is the chunk, cleaned whole and then cut in two
 * at a pseudo-random point (each half a chunk of its own, as the chunker may send).
 *
 * Invariants (abort on violation): never crash, leak or overrun (ASan); the output is
 * trimmed, has no run of two spaces outside a table row's ", ", and is no longer than
 * twice the input plus two; valid UTF-8 in gives valid UTF-8 out; the result does not
 * depend on the cleaner's history (a fresh cleaner, a reused one, one that just shrank
 * after a large chunk, and llmux__clean_text agree). */
#include "core/clean.h"
#include "core/response.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_clean: check failed at line %d: %s\n", __LINE__, #cond);         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static llmux__cleaner reused; /* lives across inputs, as a stream's cleaner does */

static void check_output(const char *in, size_t n, const char *out, size_t len)
{
    CHECK(len <= 2 * n + 2);
    if (len == 0)
        return;
    CHECK(out[0] != ' ' && out[len - 1] != ' ');
    CHECK(!memmem(out, len, "   ", 3));
    if (llmux__utf8_valid(in, n))
        CHECK(llmux__utf8_valid(out, len));
}

static void clean_one(const char *in, size_t n, unsigned flags, bool big_first)
{
    llmux__cleaner fresh = {0};
    const char *a, *b;
    size_t alen, blen;
    CHECK(llmux__clean_chunk(&fresh, in, n, flags, &a, &alen) == LLMUX_OK);
    check_output(in, n, a, alen);

    if (big_first) { /* grow the reused cleaner past its 16 KiB keep limit first */
        static char big[(16u << 10) + 64];
        if (!big[0])
            memset(big, 'w', sizeof big - 1);
        const char *o;
        size_t ol;
        CHECK(llmux__clean_chunk(&reused, big, sizeof big - 1, 0, &o, &ol) == LLMUX_OK);
    }
    CHECK(llmux__clean_chunk(&reused, in, n, flags, &b, &blen) == LLMUX_OK);
    CHECK(alen == blen && (alen == 0 || memcmp(a, b, alen) == 0));

    size_t tlen;
    char *t = llmux__clean_text(in, n, flags, &tlen);
    CHECK(t && tlen == alen && t[tlen] == '\0' && (alen == 0 || memcmp(a, t, alen) == 0));
    free(t);
    llmux__cleaner_release(&fresh);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned flags = data[0] & 7;
    bool big_first = (data[0] & 0xF8) == 0x08; /* one input in 32: it costs a 16 KiB clean */
    const char *in = (const char *)data + 1;
    size_t n = size - 1;
    /* a tight copy so ASan sees a read past the chunk */
    char *copy = malloc(n ? n : 1);
    CHECK(copy);
    memcpy(copy, in, n);
    clean_one(copy, n, flags, big_first);
    if (n > 1) {
        size_t cut = 1 + (size_t)(data[0] >> 4) * n / 16 % (n - 1);
        clean_one(copy, cut, flags, false);
        clean_one(copy + cut, n - cut, flags & ~(unsigned)LLMUX__CLEAN_LINE_START, false);
    }
    free(copy);
    return 0;
}
