/* clean.c — see clean.h. Each inline step is one linear pass from one working buffer
 * to the other, carrying a per-byte mask that protects inline-code text and bare
 * URLs from the steps that must not touch them. */
#include "core/clean.h"
#include "core/sentence_text.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Mask bits. */
enum {
    M_CODE = 1, /* text of an inline code span: exempt from the emphasis step */
    M_URL = 2   /* a bare URL: kept as written by emphasis, entity and emoji steps */
};

#define NO_MATCH UINT32_MAX
#define LINK_FLAG 0x80000000u
#define RELEASE_ABOVE (16u * 1024u) /* give scratch back after chunks larger than this */
#define TAG_MAX 1024                /* longest HTML tag recognised, in bytes */

static bool ascii_alpha(unsigned char c)
{
    return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

static bool ascii_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool ascii_alnum(unsigned char c)
{
    return ascii_alpha(c) || ascii_digit(c);
}

static bool space_or_tab(char c)
{
    return c == ' ' || c == '\t';
}

/* Grows every buffer of c to hold at least n bytes (out: 2n + 8). */
static llmux_code reserve(llmux__cleaner *c, size_t n)
{
    /* Reuse the buffers unless they are too small, or oversized (left by one huge
     * chunk) while this chunk is ordinary: then give the memory back. */
    if (c->text[0] && n <= c->cap && !(c->cap > RELEASE_ABOVE && n <= RELEASE_ABOVE / 4))
        return LLMUX_OK;
    llmux__cleaner_release(c);
    size_t cap = n < 256 ? 256 : n;
    if (cap > (SIZE_MAX - 16) / 4 / sizeof(uint32_t))
        return LLMUX_ENOMEM;
    c->text[0] = malloc(cap + 8);
    c->text[1] = malloc(cap + 8);
    c->mask[0] = malloc(cap + 8);
    c->mask[1] = malloc(cap + 8);
    c->match = malloc((cap + 8) * sizeof(uint32_t));
    c->out = malloc(2 * cap + 16);
    if (!c->text[0] || !c->text[1] || !c->mask[0] || !c->mask[1] || !c->match || !c->out) {
        llmux__cleaner_release(c);
        return LLMUX_ENOMEM;
    }
    c->cap = cap;
    return LLMUX_OK;
}

void llmux__cleaner_release(llmux__cleaner *c)
{
    free(c->text[0]);
    free(c->text[1]);
    free(c->mask[0]);
    free(c->mask[1]);
    free(c->match);
    free(c->out);
    memset(c, 0, sizeof *c);
}

/* The code point before in[i] (EDGE_CP at the start). */
#define EDGE_CP 0xFFFFFFFFu
static uint32_t cp_before(const char *in, size_t i)
{
    if (i == 0)
        return EDGE_CP;
    uint32_t cp;
    llmux__utf8_decode_prev((const unsigned char *)in, i, &cp);
    return cp;
}

/* The code point at in[i] (EDGE_CP at the end). */
static uint32_t cp_at(const char *in, size_t n, size_t i)
{
    if (i >= n)
        return EDGE_CP;
    uint32_t cp;
    if (llmux__utf8_decode((const unsigned char *)in + i, n - i, &cp) == 0)
        return LLMUX__UTF8_INVALID;
    return cp;
}

static bool has_alnum(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        if (u[i] < 0x80) {
            if (ascii_alnum(u[i]))
                return true;
            i++;
            continue;
        }
        uint32_t cp;
        size_t k = llmux__utf8_decode(u + i, n - i, &cp);
        if (k == 0)
            k = 1, cp = LLMUX__UTF8_INVALID;
        if (llmux__uc_is_alnum(cp))
            return true;
        i += k;
    }
    return false;
}

/* ---- step 1: HTML comments ---------------------------------------------------- */

static size_t pass_comments(const char *in, const unsigned char *mi, size_t n, char *out,
                            unsigned char *mo)
{
    size_t o = 0, i = 0;
    while (i < n) {
        const char *lt = memchr(in + i, '<', n - i);
        size_t stop = lt ? (size_t)(lt - in) : n;
        memcpy(out + o, in + i, stop - i);
        memcpy(mo + o, mi + i, stop - i);
        o += stop - i;
        i = stop;
        if (i >= n)
            break;
        if (n - i >= 4 && memcmp(in + i, "<!--", 4) == 0) {
            const char *end = memmem(in + i + 4, n - i - 4, "-->", 3);
            if (end) {
                i = (size_t)(end - in) + 3;
                continue;
            }
            /* Unterminated: not a comment in this chunk; keep the rest as it is. */
            memcpy(out + o, in + i, n - i);
            memcpy(mo + o, mi + i, n - i);
            return o + (n - i);
        }
        out[o] = in[i];
        mo[o++] = mi[i++];
    }
    return o;
}

/* ---- step 2: inline code -------------------------------------------------------- */

static size_t backtick_run(const char *in, size_t n, size_t i)
{
    size_t j = i;
    while (j < n && in[j] == '`')
        j++;
    return j - i;
}

static size_t pass_code(const char *in, const unsigned char *mi, size_t n, char *out,
                        unsigned char *mo, uint32_t *failed)
{
    /* failed[r]: a search for a closing run of exactly r backticks already failed from
     * an earlier position, so every later search for r fails too (keeps this linear). */
    memset(failed, 0, (n + 1) * sizeof *failed);
    size_t o = 0, i = 0;
    while (i < n) {
        if (in[i] != '`') {
            out[o] = in[i];
            mo[o++] = mi[i++];
            continue;
        }
        size_t r = backtick_run(in, n, i);
        size_t close = SIZE_MAX;
        if (!failed[r]) {
            size_t j = i + r;
            while (j < n) {
                const char *bt = memchr(in + j, '`', n - j);
                if (!bt)
                    break;
                j = (size_t)(bt - in);
                size_t q = backtick_run(in, n, j);
                if (q == r) {
                    close = j;
                    break;
                }
                j += q;
            }
            if (close == SIZE_MAX)
                failed[r] = 1;
        }
        if (close == SIZE_MAX) {
            memcpy(out + o, in + i, r);
            memcpy(mo + o, mi + i, r);
            o += r;
            i += r;
            continue;
        }
        for (size_t k = i + r; k < close; k++) {
            out[o] = in[k];
            mo[o++] = (unsigned char)(mi[k] | M_CODE);
        }
        i = close + r;
    }
    return o;
}

/* ---- step 3: autolinks ------------------------------------------------------------ */

static bool email_local_char(unsigned char c)
{
    return ascii_alnum(c) || (c != 0 && strchr(".!#$%&'*+/=?^_`{|}~-", c) != NULL);
}

/* If in[i] == '<' opens an autolink, returns the index of its '>' (else 0). */
static size_t autolink_end(const char *in, size_t n, size_t i)
{
    const unsigned char *u = (const unsigned char *)in;
    size_t j = i + 1;
    if (j < n && ascii_alpha(u[j])) {
        size_t k = j + 1;
        while (k < n && k - j <= 32 &&
               (ascii_alnum(u[k]) || u[k] == '+' || u[k] == '.' || u[k] == '-'))
            k++;
        if (k < n && u[k] == ':' && k - j >= 2) {
            size_t e = k + 1;
            while (e < n && u[e] > ' ' && u[e] != '<' && u[e] != '>')
                e++;
            if (e < n && u[e] == '>')
                return e;
        }
    }
    size_t k = j;
    while (k < n && email_local_char(u[k]))
        k++;
    if (k == j || k >= n || u[k] != '@')
        return 0;
    size_t d = k + 1;
    while (d < n && (ascii_alnum(u[d]) || u[d] == '-' || u[d] == '.'))
        d++;
    if (d > k + 1 && d < n && u[d] == '>')
        return d;
    return 0;
}

static size_t pass_autolinks(const char *in, const unsigned char *mi, size_t n, char *out,
                             unsigned char *mo)
{
    size_t o = 0, i = 0;
    while (i < n) {
        size_t e;
        if (in[i] == '<' && (e = autolink_end(in, n, i)) != 0) {
            memcpy(out + o, in + i + 1, e - i - 1);
            memcpy(mo + o, mi + i + 1, e - i - 1);
            o += e - i - 1;
            i = e + 1;
            continue;
        }
        out[o] = in[i];
        mo[o++] = mi[i++];
    }
    return o;
}

/* ---- step 4: images and links ---------------------------------------------------- */

/* Pairs brackets and parentheses in match[]: for an opener, the index
 * of its closer, for a closer, its opener, NO_MATCH when unpaired. Open brackets are
 * chained through match[] while they wait, so no other stack is needed. */
static void pair_brackets(const char *in, size_t n, uint32_t *match)
{
    uint32_t top_sq = NO_MATCH, top_par = NO_MATCH;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        match[i] = NO_MATCH;
        if (c == '[' || c == '(') {
            uint32_t *top = c == '[' ? &top_sq : &top_par;
            match[i] = *top;
            *top = (uint32_t)i;
        } else if (c == ']' || c == ')') {
            uint32_t *top = c == ']' ? &top_sq : &top_par;
            if (*top != NO_MATCH) {
                uint32_t open = *top;
                *top = match[open];
                match[open] = (uint32_t)i;
                match[i] = open;
            }
        }
    }
    for (uint32_t *top = &top_sq;; top = &top_par) {
        while (*top != NO_MATCH) {
            uint32_t open = *top;
            *top = match[open];
            match[open] = NO_MATCH;
        }
        if (top == &top_par)
            break;
    }
}

/* If the '[' at i starts [text](dest), marks its ']' with the index of the ')'. */
static bool mark_link(const char *in, size_t n, uint32_t *match, size_t i)
{
    uint32_t close = match[i];
    if (close == NO_MATCH || (close & LINK_FLAG) || (size_t)close + 1 >= n || in[close + 1] != '(')
        return false;
    uint32_t paren = match[close + 1];
    if (paren == NO_MATCH || paren <= close + 1)
        return false;
    match[close] = paren | LINK_FLAG;
    return true;
}

static size_t pass_links(const char *in, const unsigned char *mi, size_t n, char *out,
                         unsigned char *mo, uint32_t *match)
{
    pair_brackets(in, n, match);
    size_t o = 0, i = 0;
    while (i < n) {
        if (in[i] == '!' && i + 1 < n && in[i + 1] == '[' && mark_link(in, n, match, i + 1)) {
            i += 2;
            continue;
        }
        if (in[i] == '[' && mark_link(in, n, match, i)) {
            i++;
            continue;
        }
        if (in[i] == ']' && match[i] != NO_MATCH && (match[i] & LINK_FLAG)) {
            i = (size_t)(match[i] & ~LINK_FLAG) + 1;
            continue;
        }
        out[o] = in[i];
        mo[o++] = mi[i++];
    }
    return o;
}

/* ---- step 5: HTML tags --------------------------------------------------------------- */

/* If in[i] == '<' opens an HTML tag, returns the index of its '>' (else 0) and whether
 * it is a <br>. */
static size_t tag_end(const char *in, size_t n, size_t i, bool *is_br)
{
    const unsigned char *u = (const unsigned char *)in;
    size_t j = i + 1;
    if (j < n && u[j] == '/')
        j++;
    if (j >= n || !ascii_alpha(u[j]))
        return 0;
    size_t name = j;
    while (j < n && (ascii_alnum(u[j]) || u[j] == '-'))
        j++;
    *is_br = j - name == 2 && (u[name] | 0x20) == 'b' && (u[name + 1] | 0x20) == 'r';
    if (j >= n)
        return 0;
    if (u[j] == '>')
        return j;
    if (u[j] == '/' && j + 1 < n && u[j + 1] == '>')
        return j + 1;
    if (!space_or_tab((char)u[j]) && u[j] != '\n' && u[j] != '\r')
        return 0;
    unsigned char quote = 0;
    for (size_t k = j; k < n && k - i < TAG_MAX; k++) {
        if (u[k] == '<') /* even inside quotes: keeps every scan short of the next tag */
            return 0;
        if (quote) {
            if (u[k] == quote)
                quote = 0;
        } else if (u[k] == '"' || u[k] == '\'') {
            quote = u[k];
        } else if (u[k] == '>') {
            return k;
        }
    }
    return 0;
}

static size_t pass_tags(const char *in, const unsigned char *mi, size_t n, char *out,
                        unsigned char *mo)
{
    size_t o = 0, i = 0;
    while (i < n) {
        bool br = false;
        size_t e;
        if (in[i] == '<' && (e = tag_end(in, n, i, &br)) != 0) {
            if (br) {
                out[o] = ' ';
                mo[o++] = 0;
            }
            i = e + 1;
            continue;
        }
        out[o] = in[i];
        mo[o++] = mi[i++];
    }
    return o;
}

/* ---- step 6: bare URLs (marked in place) ------------------------------------------ */

static bool url_start(const char *in, size_t n, size_t i, size_t *prefix)
{
    static const char *const schemes[] = {"https://", "http://", "ftp://", "www."};
    if (i > 0 && (ascii_alnum((unsigned char)in[i - 1]) || in[i - 1] == '/'))
        return false;
    for (size_t k = 0; k < sizeof schemes / sizeof schemes[0]; k++) {
        size_t l = strlen(schemes[k]);
        if (n - i > l && strncmp(in + i, schemes[k], l) == 0) {
            *prefix = l;
            return true;
        }
    }
    return false;
}

static void pass_urls(const char *in, unsigned char *mask, size_t n)
{
    const unsigned char *u = (const unsigned char *)in;
    size_t i = 0, prefix = 0;
    while (i < n) {
        if ((u[i] != 'h' && u[i] != 'f' && u[i] != 'w') || !url_start(in, n, i, &prefix)) {
            i++;
            continue;
        }
        size_t e = i;
        while (e < n) {
            if (u[e] < 0x80) {
                if (u[e] <= ' ' || u[e] == '<' || u[e] == '>' || u[e] == '"' || u[e] == '`')
                    break;
                e++;
                continue;
            }
            uint32_t cp;
            size_t k = llmux__utf8_decode(u + e, n - e, &cp);
            if (k == 0)
                k = 1, cp = LLMUX__UTF8_INVALID;
            if (llmux__uc_is_space(cp))
                break;
            e += k;
        }
        /* Trailing punctuation belongs to the sentence, and so does a ')' that
         * closes nothing inside the URL. */
        long depth = 0;
        for (size_t k = i; k < e; k++)
            depth += in[k] == '(' ? 1 : in[k] == ')' ? -1 : 0;
        while (e > i + prefix) {
            char c = in[e - 1];
            if (strchr(".,:;!?*_~'\"", c)) {
                e--;
            } else if (c == ')' && depth < 0) {
                e--;
                depth++;
            } else {
                break;
            }
        }
        if (e > i + prefix)
            for (size_t k = i; k < e; k++)
                mask[k] |= M_URL;
        i = e > i ? e : i + 1;
    }
}

/* ---- step 7: emphasis ------------------------------------------------------------- */

static size_t pass_emphasis(const char *in, const unsigned char *mi, size_t n, char *out,
                            unsigned char *mo)
{
    size_t o = 0, i = 0;
    while (i < n) {
        char c = in[i];
        if ((c != '*' && c != '_' && c != '~') || (mi[i] & (M_CODE | M_URL))) {
            out[o] = c;
            mo[o++] = mi[i++];
            continue;
        }
        size_t j = i;
        while (j < n && in[j] == c && !(mi[j] & (M_CODE | M_URL)))
            j++;
        uint32_t left = cp_before(in, i), right = cp_at(in, n, j);
        bool keep;
        if (c == '*')
            keep = (left == EDGE_CP || llmux__uc_is_space(left)) &&
                   (right == EDGE_CP || llmux__uc_is_space(right));
        else if (c == '_')
            keep = left != EDGE_CP && right != EDGE_CP && llmux__uc_is_alnum(left) &&
                   llmux__uc_is_alnum(right);
        else
            keep = j - i < 2;
        if (keep) {
            memcpy(out + o, in + i, j - i);
            memcpy(mo + o, mi + i, j - i);
            o += j - i;
        }
        i = j;
    }
    return o;
}

/* ---- step 8: entities -------------------------------------------------------------- */

/* If an entity starts at in[i] ('&'), writes its UTF-8 to buf and returns the length
 * of the entity text (else 0). */
static size_t entity(const char *in, size_t n, size_t i, char *buf, size_t *blen)
{
    static const struct {
        const char *name;
        const char *text;
    } named[] = {{"&amp;", "&"},  {"&lt;", "<"},  {"&gt;", ">"},         {"&quot;", "\""},
                 {"&apos;", "'"}, {"&#39;", "'"}, {"&nbsp;", "\xC2\xA0"}};
    for (size_t k = 0; k < sizeof named / sizeof named[0]; k++) {
        size_t l = strlen(named[k].name);
        if (n - i >= l && memcmp(in + i, named[k].name, l) == 0) {
            *blen = strlen(named[k].text);
            memcpy(buf, named[k].text, *blen);
            return l;
        }
    }
    if (n - i < 4 || in[i + 1] != '#')
        return 0;
    size_t j = i + 2;
    bool hex = in[j] == 'x' || in[j] == 'X';
    if (hex)
        j++;
    uint32_t cp = 0;
    size_t digits = 0;
    for (; j < n && digits < (hex ? 6u : 7u); j++, digits++) {
        unsigned char d = (unsigned char)in[j];
        uint32_t v;
        if (ascii_digit(d))
            v = d - '0';
        else if (hex && (d | 0x20) >= 'a' && (d | 0x20) <= 'f')
            v = (uint32_t)((d | 0x20) - 'a' + 10);
        else
            break;
        cp = cp * (hex ? 16u : 10u) + v;
    }
    if (digits == 0 || j >= n || in[j] != ';')
        return 0;
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    *blen = llmux__utf8_encode(cp, buf);
    return j + 1 - i;
}

static size_t pass_entities(const char *in, const unsigned char *mi, size_t n, char *out,
                            unsigned char *mo)
{
    size_t o = 0, i = 0;
    while (i < n) {
        char buf[4];
        size_t blen = 0, used;
        if (in[i] == '&' && !(mi[i] & M_URL) && (used = entity(in, n, i, buf, &blen)) != 0) {
            memcpy(out + o, buf, blen);
            memset(mo + o, 0, blen);
            o += blen;
            i += used;
            continue;
        }
        out[o] = in[i];
        mo[o++] = mi[i++];
    }
    return o;
}

/* ---- step 9: emoji --------------------------------------------------------------------- */

static size_t pass_emoji(const char *in, const unsigned char *mi, size_t n, char *out,
                         unsigned char *mo)
{
    const unsigned char *u = (const unsigned char *)in;
    size_t o = 0, i = 0;
    while (i < n) {
        if (u[i] < 0xE2 || (mi[i] & M_URL)) { /* every emoji code point is 3+ bytes */
            out[o] = in[i];
            mo[o++] = mi[i++];
            continue;
        }
        uint32_t cp;
        size_t k = llmux__utf8_decode(u + i, n - i, &cp);
        if (k == 0)
            k = 1, cp = LLMUX__UTF8_INVALID;
        if (!llmux__uc_is_emoji(cp)) {
            memcpy(out + o, in + i, k);
            memcpy(mo + o, mi + i, k);
            o += k;
        }
        i += k;
    }
    return o;
}

/* ---- step 10: whitespace ------------------------------------------------------------ */

static size_t pass_space(const char *in, size_t n, char *out)
{
    const unsigned char *u = (const unsigned char *)in;
    size_t o = 0, i = 0;
    bool pending = false;
    while (i < n) {
        uint32_t cp;
        size_t k;
        if (u[i] < 0x80) {
            cp = u[i];
            k = 1;
        } else if ((k = llmux__utf8_decode(u + i, n - i, &cp)) == 0) {
            k = 1;
            cp = LLMUX__UTF8_INVALID;
        }
        if (llmux__uc_is_space(cp)) {
            pending = o > 0;
        } else {
            if (pending)
                out[o++] = ' ';
            pending = false;
            memcpy(out + o, in + i, k);
            o += k;
        }
        i += k;
    }
    return o;
}

/* Runs the inline steps on in[0..n) (n <= c->cap); returns the result, which lives in
 * one of c->text[] (length in *len). */
static const char *clean_inline(llmux__cleaner *c, const char *in, size_t n, size_t *len)
{
    char *a = c->text[0], *b = c->text[1];
    unsigned char *ma = c->mask[0], *mb = c->mask[1];
    memset(ma, 0, n);
    n = pass_comments(in, ma, n, b, mb);
    n = pass_code(b, mb, n, a, ma, c->match);
    n = pass_autolinks(a, ma, n, b, mb);
    n = pass_links(b, mb, n, a, ma, c->match);
    n = pass_tags(a, ma, n, b, mb);
    pass_urls(b, mb, n);
    n = pass_emphasis(b, mb, n, a, ma);
    n = pass_entities(a, ma, n, b, mb);
    n = pass_emoji(b, mb, n, a, ma);
    *len = pass_space(a, n, b);
    return b;
}

/* ---- start of a line ----------------------------------------------------------------- */

/* A thematic break / setext underline: 3+ of one of - * _ =, spaces allowed. */
static bool is_rule_line(const char *s, size_t n)
{
    char mark = 0;
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        if (space_or_tab(s[i]))
            continue;
        if (!mark && s[i] != 0 && strchr("-*_=", s[i]))
            mark = s[i];
        if (s[i] != mark)
            return false;
        count++;
    }
    return count >= 3;
}

/* Skips quote markers, then a heading's # run or a list marker (and task box). */
static size_t line_start_skip(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && s[i] == '>') {
        i++;
        while (i < n && space_or_tab(s[i]))
            i++;
    }
    size_t h = 0;
    while (i + h < n && s[i + h] == '#' && h < 7)
        h++;
    if (h >= 1 && h <= 6 && (i + h == n || space_or_tab(s[i + h])))
        return i + h + (i + h < n ? 1 : 0);
    size_t m = 0;
    if (i < n && (s[i] == '-' || s[i] == '*' || s[i] == '+')) {
        m = 1;
    } else {
        size_t d = 0;
        while (i + d < n && d < 10 && ascii_digit((unsigned char)s[i + d]))
            d++;
        if (d >= 1 && d <= 9 && i + d < n && (s[i + d] == '.' || s[i + d] == ')'))
            m = d + 1;
    }
    if (m == 0 || i + m >= n || !space_or_tab(s[i + m]))
        return i;
    i += m + 1;
    while (i < n && space_or_tab(s[i]))
        i++;
    if (n - i >= 3 && s[i] == '[' && (s[i + 1] == ' ' || s[i + 1] == 'x' || s[i + 1] == 'X') &&
        s[i + 2] == ']' && (n - i == 3 || space_or_tab(s[i + 3])))
        i += 3;
    return i;
}

/* ---- tables ------------------------------------------------------------------------- */

static bool is_delimiter_row(const char *s, size_t n)
{
    bool dash = false, pipe = false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '-')
            dash = true;
        else if (s[i] == '|')
            pipe = true;
        else if (s[i] != ':' && !space_or_tab(s[i]))
            return false;
    }
    return dash && pipe;
}

static size_t clean_row(llmux__cleaner *c, const char *s, size_t n)
{
    size_t o = 0, cell = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && (s[i] != '|' || (i > 0 && s[i - 1] == '\\')))
            continue;
        size_t len;
        const char *text = clean_inline(c, s + cell, i - cell, &len);
        if (len > 0) {
            if (o > 0) {
                c->out[o++] = ',';
                c->out[o++] = ' ';
            }
            memcpy(c->out + o, text, len);
            o += len;
        }
        cell = i + 1;
    }
    return o;
}

llmux_code llmux__clean_chunk(llmux__cleaner *c, const char *in, size_t len, unsigned flags,
                              const char **out, size_t *out_len)
{
    *out = "";
    *out_len = 0;
    if (flags & LLMUX__CLEAN_FENCE)
        return LLMUX_OK;
    if (reserve(c, len) != LLMUX_OK)
        return LLMUX_ENOMEM;
    const char *res;
    size_t n;
    if (flags & LLMUX__CLEAN_TABLE_ROW) {
        if (is_delimiter_row(in, len))
            goto done;
        n = clean_row(c, in, len);
        res = c->out;
    } else {
        if (flags & LLMUX__CLEAN_LINE_START) {
            if (is_rule_line(in, len))
                goto done;
            size_t skip = line_start_skip(in, len);
            in += skip;
            len -= skip;
        }
        res = clean_inline(c, in, len, &n);
    }
    if (n > 0 && has_alnum(res, n)) {
        if (res != c->out)
            memcpy(c->out, res, n);
        *out = c->out;
        *out_len = n;
    }
done:
    return LLMUX_OK;
}

char *llmux__clean_text(const char *in, size_t len, unsigned flags, size_t *out_len)
{
    llmux__cleaner c = {0};
    const char *res;
    size_t n;
    char *copy = NULL;
    if (llmux__clean_chunk(&c, in, len, flags, &res, &n) == LLMUX_OK) {
        copy = malloc(n + 1);
        if (copy) {
            memcpy(copy, res, n);
            copy[n] = '\0';
            if (out_len)
                *out_len = n;
        }
    }
    llmux__cleaner_release(&c);
    return copy;
}
