/* fuzz_sentence.c — the streaming sentence chunker and the cleaner on arbitrary bytes.
 * Input layout: byte 0 = options (bit 0 clean, bit 1 eager first chunk, bit 2 small
 * cap), byte 1 = cap size, bytes 2..3 = seed of the delta cuts, the rest = the text.
 * Invariants (abort on violation): never crash, leak or overrun; the chunks are the
 * same whether the text is fed whole, at random byte cuts, or one byte at a time;
 * every chunk is non-empty and trimmed; without cleaning the chunks hold exactly the
 * text's non-whitespace bytes in order; raw chunks never exceed the cap; the standalone
 * cleaner accepts every chunk kind. */
#include "core/clean.h"
#include "core/sentence.h"
#include "core/sentence_text.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct record {
    char *bytes; /* all chunks, each preceded by its length (a size_t) */
    size_t len, cap;
    size_t count;
    size_t max_len; /* longest chunk */
    bool bad_shape; /* an empty or untrimmed chunk was seen */
} record;

static bool space_at(const char *s, size_t n, size_t i, size_t *k)
{
    uint32_t cp;
    *k = llmux__utf8_decode((const unsigned char *)s + i, n - i, &cp);
    if (*k == 0)
        *k = 1, cp = LLMUX__UTF8_INVALID;
    return llmux__uc_is_space(cp);
}

static int on_chunk(void *ud, const char *s, size_t len)
{
    record *r = ud;
    size_t k;
    uint32_t last;
    if (len == 0 || space_at(s, len, 0, &k))
        r->bad_shape = true;
    else if (llmux__utf8_decode_prev((const unsigned char *)s, len, &last) &&
             llmux__uc_is_space(last))
        r->bad_shape = true;
    size_t need = sizeof len + len;
    if (r->len + need > r->cap) {
        size_t cap = 2 * (r->len + need);
        char *nb = realloc(r->bytes, cap);
        if (!nb)
            abort();
        r->bytes = nb;
        r->cap = cap;
    }
    memcpy(r->bytes + r->len, &len, sizeof len);
    memcpy(r->bytes + r->len + sizeof len, s, len);
    r->len += need;
    r->count++;
    if (len > r->max_len)
        r->max_len = len;
    return 0;
}

static uint64_t next(uint64_t *st)
{
    *st ^= *st << 13;
    *st ^= *st >> 7;
    *st ^= *st << 17;
    return *st;
}

/* step 0: whole; step 1: one byte per delta; otherwise random cuts from seed. */
static void run(const char *text, size_t n, const llmux__sentence_options *opt, int step,
                uint64_t seed, record *r)
{
    memset(r, 0, sizeof *r);
    llmux__sentencer *s = llmux__sentencer_new(opt);
    if (!s)
        abort();
    size_t i = 0;
    while (i < n) {
        size_t d = step == 0 ? n - i : step == 1 ? 1 : 1 + next(&seed) % 17;
        if (d > n - i)
            d = n - i;
        if (llmux__sentencer_feed(s, text + i, d, on_chunk, r) != LLMUX_OK)
            abort();
        i += d;
    }
    if (llmux__sentencer_finish(s, on_chunk, r) != LLMUX_OK)
        abort();
    llmux__sentencer_free(s);
}

/* Appends the non-whitespace code points (and invalid bytes) of s[0..n) to out. */
static size_t strip_space(const char *s, size_t n, char *out)
{
    size_t o = 0, k;
    for (size_t i = 0; i < n; i += k)
        if (!space_at(s, n, i, &k)) {
            memcpy(out + o, s + i, k);
            o += k;
        }
    return o;
}

static void check_words_kept(const char *text, size_t n, const record *r)
{
    char *a = malloc(n + 1), *b = malloc(r->len + 1);
    if (!a || !b)
        abort();
    size_t an = strip_space(text, n, a), bn = 0;
    for (size_t j = 0; j < r->len;) {
        size_t len;
        memcpy(&len, r->bytes + j, sizeof len);
        bn += strip_space(r->bytes + j + sizeof len, len, b + bn);
        j += sizeof len + len;
    }
    if (an != bn || memcmp(a, b, an) != 0)
        abort(); /* a word was lost, added or moved */
    free(a);
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    llmux__sentence_options opt = {
        .clean = data[0] & 1,
        .eager_first_chunk = (data[0] >> 1) & 1,
        .max_buffer = (data[0] & 4) ? LLMUX__SENTENCE_MIN_CAP + data[1] : 0,
    };
    uint64_t seed = 0x9E3779B97F4A7C15ull ^ ((uint64_t)data[2] << 8 | data[3]);
    const char *text = (const char *)data + 4;
    size_t n = size - 4;

    record whole, other;
    run(text, n, &opt, 0, seed, &whole);
    if (whole.bad_shape)
        abort();
    if (!opt.clean && opt.max_buffer && whole.max_len > opt.max_buffer)
        abort(); /* (a cleaned table row may be longer than its chunk: ", " joins) */
    if (!opt.clean)
        check_words_kept(text, n, &whole);
    for (int step = 1; step <= 2; step++) {
        run(text, n, &opt, step, seed, &other);
        if (other.count != whole.count || other.len != whole.len ||
            (whole.len && memcmp(other.bytes, whole.bytes, whole.len) != 0))
            abort(); /* the output depends on the delta split */
        free(other.bytes);
    }
    free(whole.bytes);

    /* the cleaner alone, with every flag combination */
    llmux__cleaner c = {0};
    for (unsigned flags = 0; flags < 8; flags++) {
        const char *out;
        size_t len;
        if (llmux__clean_chunk(&c, text, n, flags, &out, &len) != LLMUX_OK)
            abort();
        if (len > 2 * n + 2)
            abort();
    }
    llmux__cleaner_release(&c);
    return 0;
}
