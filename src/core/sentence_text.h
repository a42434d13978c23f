/* sentence_text.h — UTF-8 decoding and the few character classes the sentence chunker
 * and the cleaner need (pure: no allocation, no locale, no globals). Classes are
 * built-in ranges, deliberately independent of the C locale so that output never
 * depends on the process environment. Invalid UTF-8 decodes to
 * LLMUX__UTF8_INVALID, one byte at a time, and belongs to no class. */
#ifndef LLMUX_CORE_SENTENCE_TEXT_H
#define LLMUX_CORE_SENTENCE_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The code point reported for a byte that does not start a valid UTF-8 sequence. */
#define LLMUX__UTF8_INVALID 0x110000u

/* Decodes the code point at s[0..n) (n >= 1). Returns its length (1..4) and sets *cp.
 * A byte that cannot start a valid sequence (stray continuation, overlong form,
 * surrogate, > U+10FFFF) yields length 1 and LLMUX__UTF8_INVALID. Returns 0 when
 * s[0..n) is a valid but incomplete prefix: the caller waits for more bytes. */
static inline size_t llmux__utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char b = s[0];
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    size_t need;
    uint32_t c;
    if (b >= 0xC2 && b <= 0xDF) {
        need = 2;
        c = b & 0x1Fu;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 3;
        c = b & 0x0Fu;
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 4;
        c = b & 0x07u;
    } else {
        *cp = LLMUX__UTF8_INVALID;
        return 1;
    }
    for (size_t i = 1; i < need; i++) {
        if (i >= n)
            return 0;
        unsigned char t = s[i];
        if ((t & 0xC0) != 0x80 ||
            (i == 1 && ((b == 0xE0 && t < 0xA0) || (b == 0xED && t > 0x9F) ||
                        (b == 0xF0 && t < 0x90) || (b == 0xF4 && t > 0x8F)))) {
            *cp = LLMUX__UTF8_INVALID;
            return 1;
        }
        c = (c << 6) | (t & 0x3Fu);
    }
    *cp = c;
    return need;
}

/* Decodes the code point that ends at s[n] (exclusive; n >= 1), looking back at most
 * 4 bytes. Returns its length and sets *cp; a byte that is not the end of a valid
 * sequence yields length 1 (LLMUX__UTF8_INVALID unless it is ASCII). Agrees with
 * forward decoding on valid text. */
static inline size_t llmux__utf8_decode_prev(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t k = 1;
    while (k < 4 && k < n && (s[n - k] & 0xC0) == 0x80)
        k++;
    uint32_t c;
    if (llmux__utf8_decode(s + n - k, k, &c) == k) {
        *cp = c;
        return k;
    }
    *cp = s[n - 1] < 0x80 ? s[n - 1] : LLMUX__UTF8_INVALID;
    return 1;
}

/* Writes cp (<= U+10FFFF, not a surrogate) as UTF-8 to out; returns its length (1..4). */
static inline size_t llmux__utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* True for the Unicode White_Space characters: tab, LF, VT, FF, CR, space, U+0085,
 * no-break space, U+1680, U+2000–U+200A, U+2028, U+2029, U+202F, U+205F, U+3000. */
static inline bool llmux__uc_is_space(uint32_t cp)
{
    if (cp < 0x80)
        return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* True for an uppercase letter: ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic
 * capitals (the scripts whose case the chunking rules can observe). */
static inline bool llmux__uc_is_upper(uint32_t cp)
{
    if (cp < 0x80)
        return cp >= 'A' && cp <= 'Z';
    if (cp >= 0xC0 && cp <= 0xDE)
        return cp != 0xD7;
    if (cp >= 0x100 && cp <= 0x17F) {
        if (cp == 0x138 || cp == 0x149 || cp == 0x17F)
            return false;
        if (cp == 0x178)
            return true;
        if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E))
            return (cp & 1u) == 1;
        return (cp & 1u) == 0;
    }
    if (cp >= 0x386 && cp <= 0x3AB)
        return cp != 0x387 && cp != 0x38B && cp != 0x38D && cp != 0x390 && cp != 0x3A2;
    if (cp >= 0x400 && cp <= 0x42F)
        return true;
    if ((cp >= 0x460 && cp <= 0x481) || (cp >= 0x48A && cp <= 0x4BF))
        return (cp & 1u) == 0;
    return false;
}

/* True for a lowercase letter, over the same scripts as llmux__uc_is_upper. */
static inline bool llmux__uc_is_lower(uint32_t cp)
{
    if (cp < 0x80)
        return cp >= 'a' && cp <= 'z';
    if (cp == 0xB5)
        return true;
    if (cp >= 0xDF && cp <= 0xFF)
        return cp != 0xF7;
    if (cp >= 0x100 && cp <= 0x17F)
        return !llmux__uc_is_upper(cp);
    if (cp == 0x390 || (cp >= 0x3AC && cp <= 0x3CE))
        return true;
    if (cp >= 0x430 && cp <= 0x45F)
        return true;
    if ((cp >= 0x460 && cp <= 0x481) || (cp >= 0x48A && cp <= 0x4BF))
        return (cp & 1u) == 1;
    return false;
}

/* True for the code points the cleaner removes as emoji: U+1F000–U+1FAFF,
 * U+2300–U+23FF, U+2600–U+27BF, U+2B00–U+2BFF, U+200D, U+20E3, U+FE0E, U+FE0F and
 * the tag characters U+E0020–U+E007F. */
static inline bool llmux__uc_is_emoji(uint32_t cp)
{
    return (cp >= 0x1F000 && cp <= 0x1FAFF) || (cp >= 0x2300 && cp <= 0x23FF) ||
           (cp >= 0x2600 && cp <= 0x27BF) || (cp >= 0x2B00 && cp <= 0x2BFF) || cp == 0x200D ||
           cp == 0x20E3 || cp == 0xFE0E || cp == 0xFE0F || (cp >= 0xE0020 && cp <= 0xE007F);
}

/* True for a letter or digit in any script, approximated by blocks: ASCII
 * alphanumerics, Latin-1 letters and digits, and every code point from U+0100 on
 * except the punctuation, symbol, emoji, space, private-use and invalid blocks. Good
 * enough for "is there anything to say here" and for the `_` emphasis rule. */
static inline bool llmux__uc_is_alnum(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= '0' && cp <= '9') || ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z');
    if (cp < 0x100)
        return cp == 0xAA || cp == 0xB2 || cp == 0xB3 || cp == 0xB5 || cp == 0xB9 || cp == 0xBA ||
               (cp >= 0xBC && cp <= 0xBE) || (cp >= 0xC0 && cp != 0xD7 && cp != 0xF7);
    if (cp >= LLMUX__UTF8_INVALID)
        return false;
    if (cp >= 0x2000 && cp <= 0x2BFF) /* punctuation, symbols, arrows, shapes, dingbats */
        return (cp >= 0x2070 && cp <= 0x209F) || (cp >= 0x2150 && cp <= 0x218F) ||
               (cp >= 0x2460 && cp <= 0x24FF);
    if (cp >= 0x2E00 && cp <= 0x2E7F) /* supplemental punctuation */
        return false;
    if (cp >= 0x3000 && cp <= 0x303F) /* CJK punctuation */
        return cp >= 0x3005 && cp <= 0x3007;
    if (cp >= 0xD800 && cp <= 0xF8FF) /* surrogates, private use */
        return false;
    if (cp >= 0xFE00 && cp <= 0xFE6F) /* variation selectors, CJK compatibility forms */
        return false;
    if (cp >= 0xFF00 && cp <= 0xFF65) /* fullwidth ASCII: keep digits and letters */
        return (cp >= 0xFF10 && cp <= 0xFF19) || (cp >= 0xFF21 && cp <= 0xFF3A) ||
               (cp >= 0xFF41 && cp <= 0xFF5A);
    if (cp == 0xFEFF || (cp >= 0xFFF0 && cp <= 0xFFFF))
        return false;
    if (cp >= 0x1F000 && cp <= 0x1FFFF) /* emoji and pictographs */
        return false;
    if (cp >= 0xE0000) /* tags, variation selectors supplement, private use planes */
        return false;
    if (cp == 0x1680 || (cp >= 0x0300 && cp <= 0x036F)) /* ogham space, combining marks */
        return false;
    return true;
}

#endif
