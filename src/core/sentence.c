/* sentence.c — see sentence.h.
 *
 * Layout. All unemitted text lives in one buffer: buf[start..len) is the current chunk
 * plus whatever has arrived after it, scan is the next byte to classify. Two machines
 * read each code point:
 *  - the line machine (fed each byte of the stream exactly once, tracked by the
 *    absolute offset line_fed) knows where lines start, and switches the mode between
 *    TEXT, TABLE (a table row) and FENCE (a fenced block), and reports the newlines
 *    that end a chunk;
 *  - the sentence machine (TEXT mode only) follows terminator runs, their closers and
 *    the lookahead a `.` needs, and ends sentences.
 * When the sentence machine ends a sentence at p, it emits buf[start..p) and rewinds
 * scan to p: the bytes after p (only lookahead: whitespace, opening punctuation, a
 * partial closer) are read again as the start of the next sentence. Rewinds never cross
 * a newline, and each byte is re-read at most a bounded number of times, so feeding
 * stays linear. In the common state (inside a sentence, nothing pending) a byte table
 * skips everything that cannot matter. */
#include "core/sentence.h"
#include "core/clean.h"
#include "core/sentence_text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum mode { MODE_TEXT, MODE_TABLE, MODE_FENCE };

enum line_state {
    LS_START,    /* at a line start, counting leading spaces */
    LS_OPEN_RUN, /* counting backticks/tildes at a line start (a fence once there are 3) */
    LS_REST,     /* the rest of a text line or table row: only a newline matters */
    LS_F_START,  /* a line inside a fence, leading spaces */
    LS_F_RUN,    /* a run of the fence character at a fenced line's start */
    LS_F_TAIL,   /* after a closing run: only spaces may follow */
    LS_F_REST    /* the rest of a fenced line */
};

enum line_event { EV_NONE, EV_ENTER, EV_TEXT_END, EV_ROW_END, EV_FENCE_END };

enum sent_state {
    ST_NORMAL,    /* inside a sentence, nothing pending */
    ST_RUN,       /* inside a run of terminators */
    ST_CLOSERS,   /* after a run, taking closers */
    ST_CLOSER_SP, /* closers then one space: a `»` may follow */
    ST_TAG,       /* closers then a partial closing HTML tag */
    ST_SEEK_N,    /* a lone `.` whose fate depends on the next word's first character */
    ST_EAGER      /* eager first chunk: a clause mark, waiting for whitespace */
};

/* Terminator run flags. */
enum { T_DOT = 1, T_MULTI_DOT = 2, T_ELLIPSIS = 4, T_BANG = 8, T_CJK = 16 };

/* Closing tag sub-states. */
enum { TAG_LT, TAG_SLASH, TAG_NAME, TAG_SPACE };
#define TAG_NAME_MAX 32

/* Byte classes for the fast path. */
enum { B_NL = 1, B_TERM = 2, B_CLAUSE = 4 };
static const unsigned char k_byte_class[256] = {
    ['\n'] = B_NL,
    ['\r'] = B_NL,
    ['.'] = B_TERM,
    ['!'] = B_TERM,
    ['?'] = B_TERM,
    [','] = B_CLAUSE,
    [';'] = B_CLAUSE,
    [':'] = B_CLAUSE,
    [0xE2] = B_TERM,            /* … U+2026 */
    [0xE3] = B_TERM,            /* 。 U+3002 */
    [0xEF] = B_TERM | B_CLAUSE, /* ！？ ，；： fullwidth forms */
};

struct llmux__sentencer {
    llmux__sentence_options opt;
    size_t cap;          /* effective max_buffer */
    char *buf;           /* unemitted text */
    size_t len, size;    /* bytes used / allocated */
    size_t start;        /* first byte of the current chunk */
    size_t scan;         /* next byte to classify */
    uint64_t base;       /* stream offset of buf[0] */
    uint64_t line_fed;   /* stream offset up to which the line machine has read */
    int error;           /* sticky non-zero result */
    bool delivered;      /* a chunk has been passed to a callback in this stream */
    bool line_has_chunk; /* a non-empty chunk has been emitted on the current line */

    /* line machine */
    enum mode mode;
    enum line_state ls;
    size_t ls_count;   /* leading spaces, or the length of the current fence-char run */
    uint32_t fence_ch; /* '`' or '~' */
    size_t fence_len;  /* length of the opening fence run */

    /* sentence machine (reset at every chunk start) */
    enum sent_state st;
    unsigned run_flags;
    size_t run_start;   /* first byte of the terminator run */
    size_t closers_end; /* end of run + closers: where the sentence would end */
    size_t eager_end;   /* end of the clause mark (ST_EAGER) */
    int tag_state;
    size_t tag_len;
    bool seek_number; /* ST_SEEK_N: W allows a digit to continue (No. 5) */
    size_t lead;      /* eager: buf[start..lead) is known to be whitespace ... */
    bool lead_done;   /* ... and lead is the sentence's first non-whitespace byte */

    llmux__cleaner cleaner;
};

/* ---- character classes of the rules -------------------------------------------------- */

static unsigned term_flags(uint32_t cp)
{
    switch (cp) {
    case '.':
        return T_DOT;
    case '!':
    case '?':
        return T_BANG;
    case 0x2026:
        return T_ELLIPSIS;
    case 0x3002:
        return T_CJK;
    case 0xFF01:
    case 0xFF1F:
        return T_CJK | T_BANG;
    default:
        return 0;
    }
}

static bool is_closer(uint32_t cp)
{
    switch (cp) {
    case '"':
    case '\'':
    case ')':
    case ']':
    case '}':
    case '*':
    case '_':
    case 0x201D: /* ” */
    case 0x2019: /* ’ */
    case 0x201C: /* “ */
    case 0x2018: /* ‘ */
    case 0x00BB: /* » */
    case 0x00AB: /* « */
    case 0x300D: /* 」 */
    case 0x300F: /* 』 */
    case 0xFF09: /* ） */
    case 0x3011: /* 】 */
    case 0x300B: /* 》 */
        return true;
    default:
        return false;
    }
}

/* The opening characters stripped from W and skipped when looking for N. */
static bool is_opener(uint32_t cp)
{
    switch (cp) {
    case '(':
    case '[':
    case '{':
    case '"':
    case '\'':
    case '*':
    case '_':
    case '`':
    case 0x201C: /* “ */
    case 0x2018: /* ‘ */
    case 0x201E: /* „ */
    case 0x00AB: /* « */
    case 0x00BB: /* » */
    case 0x00BF: /* ¿ */
    case 0x00A1: /* ¡ */
        return true;
    default:
        return false;
    }
}

/* Spaces that may stand between a terminator and a closing `»`. */
static bool is_guillemet_space(uint32_t cp)
{
    return cp == ' ' || cp == 0xA0 || cp == 0x202F;
}

static bool is_newline(uint32_t cp)
{
    return cp == '\n' || cp == '\r';
}

/* ---- the period exceptions ------------------------------------------------------------- */

/* A word list entry with its length. */
typedef struct word_entry {
    const char *text;
    size_t len;
} word_entry;
/* An entry from a string literal. */
/* clang-format off */
#define W(s) {s, sizeof s - 1}
/* clang-format on */

/* Rule 1: never-final words (case-sensitive; a lowercase entry also matches with its
 * first letter capitalised). */
static const word_entry k_never_final[] = {
    W("Mr"),    W("Mrs"),  W("Ms"),   W("Mx"),  W("Dr"),  W("Prof"), W("Rev"),  W("Hon"),
    W("St"),    W("Mt"),   W("Ft"),   W("Gen"), W("Col"), W("Capt"), W("Lt"),   W("Sgt"),
    W("Maj"),   W("Adm"),  W("Gov"),  W("Sen"), W("Rep"), W("Pres"), W("Supt"), W("Messrs"),
    W("Sr"),    W("Sra"),  W("Srta"), W("Dra"), W("Ud"),  W("Uds"),  W("Mme"),  W("Mlle"),
    W("Hr"),    W("Fr"),   W("vs"),   W("e.g"), W("i.e"), W("cf"),   W("viz"),  W("approx"),
    W("aprox"), W("ca"),   W("env"),  W("z.B"), W("d.h"), W("u.a"),  W("bzw"),  W("vgl"),
    W("ggf"),   W("evtl"), W("inkl"), W("sog")};

/* Rule 3: words that stay with a following number (any case; stored lowercase). */
static const word_entry k_before_number[] = {
    W("no"),  W("nos"),        W("nr"),         W("vol"),  W("vols"), W("fig"), W("figs"), W("p"),
    W("pp"),  W("p\xC3\xA1g"), W("n\xC3\xBAm"), W("jan"),  W("feb"),  W("mar"), W("apr"),  W("jun"),
    W("jul"), W("aug"),        W("sep"),        W("sept"), W("oct"),  W("nov"), W("dec")};

static bool never_final(const char *w, size_t n)
{
    if (n == 0 || n > 6)
        return false;
    for (size_t k = 0; k < sizeof k_never_final / sizeof k_never_final[0]; k++) {
        const word_entry *e = &k_never_final[k];
        if (e->len != n || (e->text[0] != w[0] && e->text[0] - 32 != w[0]))
            continue;
        if (memcmp(e->text + 1, w + 1, n - 1) != 0)
            continue;
        if (e->text[0] == w[0] || (e->text[0] >= 'a' && e->text[0] <= 'z'))
            return true;
    }
    return false;
}

static bool before_number(const char *w, size_t n)
{
    char low[8];
    if (n == 0 || n > 5)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)w[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        /* Latin-1 capitals (Á, Ú, ...) are C3 80..9E: lowercase is +0x20 */
        if (i > 0 && (unsigned char)w[i - 1] == 0xC3 && c >= 0x80 && c <= 0x9E && c != 0x97)
            c = (unsigned char)(c + 0x20);
        low[i] = (char)c;
    }
    for (size_t k = 0; k < sizeof k_before_number / sizeof k_before_number[0]; k++)
        if (k_before_number[k].len == n && k_before_number[k].text[0] == low[0] &&
            memcmp(k_before_number[k].text, low, n) == 0)
            return true;
    return false;
}

/* Rule 2: a capital initial or dotted capitals (J, U.S, J.R.R). */
static bool initials(const char *w, size_t n)
{
    const unsigned char *u = (const unsigned char *)w;
    size_t i = 0;
    for (;;) {
        uint32_t cp;
        if (i >= n)
            return false;
        size_t k = llmux__utf8_decode(u + i, n - i, &cp);
        if (k == 0 || !llmux__uc_is_upper(cp))
            return false;
        i += k;
        if (i == n)
            return true;
        if (u[i] != '.')
            return false;
        i++;
    }
}

/* ---- buffer ---------------------------------------------------------------------------- */

static void reset_sentence(llmux__sentencer *s)
{
    s->st = ST_NORMAL;
    s->run_flags = 0;
    s->lead = 0;
    s->lead_done = false;
}

static void reset_stream(llmux__sentencer *s)
{
    s->len = s->start = s->scan = 0;
    s->base = s->line_fed = 0;
    s->delivered = false;
    s->line_has_chunk = false;
    s->mode = MODE_TEXT;
    s->ls = LS_START;
    s->ls_count = 0;
    s->fence_ch = 0;
    s->fence_len = 0;
    reset_sentence(s);
}

llmux__sentencer *llmux__sentencer_new(const llmux__sentence_options *opt)
{
    llmux__sentencer *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (opt)
        s->opt = *opt;
    s->cap = s->opt.max_buffer ? s->opt.max_buffer : LLMUX__SENTENCE_DEFAULT_CAP;
    if (s->cap < LLMUX__SENTENCE_MIN_CAP)
        s->cap = LLMUX__SENTENCE_MIN_CAP;
    if (s->cap > SIZE_MAX / 8)
        s->cap = SIZE_MAX / 8;
    reset_stream(s);
    return s;
}

void llmux__sentencer_free(llmux__sentencer *s)
{
    if (!s)
        return;
    free(s->buf);
    llmux__cleaner_release(&s->cleaner);
    free(s);
}

size_t llmux__sentencer_memory(const llmux__sentencer *s)
{
    const llmux__cleaner *c = &s->cleaner;
    /* what clean.c's reserve() allocates: 2 texts, 2 masks, the match array, out */
    size_t clean =
        c->text[0] ? 4 * (c->cap + 8) + (c->cap + 8) * sizeof(uint32_t) + 2 * c->cap + 16 : 0;
    return sizeof *s + s->size + clean;
}

/* Drops buf[0..start): the positions move down by start. */
static void compact(llmux__sentencer *s)
{
    size_t d = s->start;
    if (d == 0)
        return;
    memmove(s->buf, s->buf + d, s->len - d);
    s->len -= d;
    s->start = 0;
    s->scan -= d;
    s->run_start = s->run_start >= d ? s->run_start - d : 0;
    s->closers_end = s->closers_end >= d ? s->closers_end - d : 0;
    s->eager_end = s->eager_end >= d ? s->eager_end - d : 0;
    s->lead = s->lead >= d ? s->lead - d : 0;
    s->base += d;
}

/* Makes room for n more bytes. Keeps size >= 2 * (used + n) after a move or a growth,
 * so moves cost O(1) amortised per byte. */
static int reserve(llmux__sentencer *s, size_t n)
{
    if (s->size - s->len >= n)
        return LLMUX_OK;
    compact(s);
    if (2 * (s->len + n) <= s->size)
        return LLMUX_OK;
    size_t want = 2 * (s->len + n);
    if (want < 256)
        want = 256;
    char *nb = realloc(s->buf, want);
    if (!nb)
        return LLMUX_ENOMEM;
    s->buf = nb;
    s->size = want;
    return LLMUX_OK;
}

/* ---- emitting ---------------------------------------------------------------------------- */

static void trim(const char *buf, size_t *a, size_t *b)
{
    const unsigned char *u = (const unsigned char *)buf;
    while (*a < *b) {
        uint32_t cp;
        size_t k = llmux__utf8_decode(u + *a, *b - *a, &cp);
        if (k == 0 || !llmux__uc_is_space(cp))
            break;
        *a += k;
    }
    while (*b > *a) {
        uint32_t cp;
        size_t k = llmux__utf8_decode_prev(u + *a, *b - *a, &cp);
        if (!llmux__uc_is_space(cp))
            break;
        *b -= k;
    }
}

/* Emits buf[a..b) (trimmed; nothing if empty) as a chunk of the given kind. */
static int emit(llmux__sentencer *s, size_t a, size_t b, enum mode kind, llmux__sentence_cb cb,
                void *ud)
{
    trim(s->buf, &a, &b);
    if (a >= b)
        return 0;
    unsigned flags = kind == MODE_FENCE   ? LLMUX__CLEAN_FENCE
                     : kind == MODE_TABLE ? LLMUX__CLEAN_TABLE_ROW
                     : s->line_has_chunk  ? 0
                                          : LLMUX__CLEAN_LINE_START;
    s->line_has_chunk = true;
    const char *out = s->buf + a;
    size_t n = b - a;
    if (s->opt.clean) {
        if (llmux__clean_chunk(&s->cleaner, out, n, flags, &out, &n) != LLMUX_OK)
            return LLMUX_ENOMEM;
        if (n == 0)
            return 0;
    }
    s->delivered = true;
    return cb ? cb(ud, out, n) : 0;
}

/* Ends the sentence at p (start < p <= scan) and rewinds: the bytes after p are read
 * again as the beginning of the next sentence. */
static int end_at(llmux__sentencer *s, size_t p, llmux__sentence_cb cb, void *ud)
{
    int rc = emit(s, s->start, p, MODE_TEXT, cb, ud);
    s->start = p;
    s->scan = p;
    reset_sentence(s);
    return rc;
}

/* A text line ends at p (a newline, or the end of the text): resolves what is pending
 * as "end of line" and emits everything before p. */
static int end_text_line(llmux__sentencer *s, size_t p, llmux__sentence_cb cb, void *ud)
{
    int rc = 0;
    size_t split = 0;
    if (s->st == ST_SEEK_N)
        split = s->closers_end; /* no next word on this line: the period ends it */
    else if (s->st == ST_TAG && (s->run_flags & T_CJK))
        split = s->closers_end; /* 。 ends after its closers, whatever follows */
    if (split)
        rc = emit(s, s->start, split, MODE_TEXT, cb, ud);
    if (!rc)
        rc = emit(s, split ? split : s->start, p, MODE_TEXT, cb, ud);
    reset_sentence(s);
    return rc;
}

/* ---- the line machine ------------------------------------------------------------------ */

static enum line_event line_step(llmux__sentencer *s, uint32_t cp)
{
    if (is_newline(cp)) {
        enum line_event ev = EV_NONE;
        if (s->ls == LS_OPEN_RUN && s->mode == MODE_FENCE)
            s->fence_len = s->ls_count;
        if (s->mode == MODE_TEXT)
            ev = EV_TEXT_END;
        else if (s->mode == MODE_TABLE)
            ev = EV_ROW_END;
        else if (s->ls == LS_F_TAIL || (s->ls == LS_F_RUN && s->ls_count >= s->fence_len))
            ev = EV_FENCE_END;
        s->ls = s->mode == MODE_FENCE && ev == EV_NONE ? LS_F_START : LS_START;
        s->ls_count = 0;
        return ev;
    }
    switch (s->ls) {
    case LS_START:
        if (cp == ' ' || cp == '\t') {
            if (s->ls_count < 1000)
                s->ls_count += cp == ' ' ? 1 : 4;
            return EV_NONE;
        }
        if (cp == '|') {
            s->mode = MODE_TABLE;
            s->ls = LS_REST;
            return EV_ENTER;
        }
        if ((cp == '`' || cp == '~') && s->ls_count <= 3) {
            s->fence_ch = cp;
            s->ls_count = 1;
            s->ls = LS_OPEN_RUN;
            return EV_NONE;
        }
        s->ls = LS_REST;
        return EV_NONE;
    case LS_OPEN_RUN:
        if (cp == s->fence_ch) {
            s->ls_count++;
            if (s->ls_count == 3) {
                s->mode = MODE_FENCE;
                return EV_ENTER;
            }
            return EV_NONE;
        }
        if (s->mode == MODE_FENCE) {
            s->fence_len = s->ls_count;
            s->ls = LS_F_REST;
        } else {
            s->ls = LS_REST;
        }
        return EV_NONE;
    case LS_F_START:
        if (cp == ' ')
            return EV_NONE;
        if (cp == s->fence_ch) {
            s->ls_count = 1;
            s->ls = LS_F_RUN;
            return EV_NONE;
        }
        s->ls = LS_F_REST;
        return EV_NONE;
    case LS_F_RUN:
        if (cp == s->fence_ch) {
            s->ls_count++;
            return EV_NONE;
        }
        s->ls = cp == ' ' && s->ls_count >= s->fence_len ? LS_F_TAIL : LS_F_REST;
        return EV_NONE;
    case LS_F_TAIL:
        if (cp != ' ')
            s->ls = LS_F_REST;
        return EV_NONE;
    case LS_REST:
    case LS_F_REST:
        return EV_NONE;
    }
    return EV_NONE;
}

/* ---- the sentence machine ---------------------------------------------------------------- */

static bool eager_active(const llmux__sentencer *s)
{
    return s->opt.eager_first_chunk && !s->delivered;
}

/* True when buf[start..end) holds at least LLMUX__SENTENCE_EAGER_MIN_CHARS code points
 * after its leading whitespace. The whitespace is skipped once per sentence (cached in
 * lead), so each clause mark costs O(LLMUX__SENTENCE_EAGER_MIN_CHARS). */
static bool eager_long_enough(llmux__sentencer *s, size_t end)
{
    const unsigned char *u = (const unsigned char *)s->buf;
    uint32_t cp;
    size_t i, k;
    if (!s->lead_done) {
        for (i = s->lead > s->start ? s->lead : s->start; i < end; i += k) {
            if ((k = llmux__utf8_decode(u + i, end - i, &cp)) == 0)
                k = 1, cp = LLMUX__UTF8_INVALID;
            if (!llmux__uc_is_space(cp)) {
                s->lead_done = true;
                break;
            }
        }
        s->lead = i;
        if (!s->lead_done)
            return false;
    }
    size_t count = 0;
    for (i = s->lead; i < end && count < LLMUX__SENTENCE_EAGER_MIN_CHARS; i += k, count++)
        if ((k = llmux__utf8_decode(u + i, end - i, &cp)) == 0)
            k = 1;
    return count >= LLMUX__SENTENCE_EAGER_MIN_CHARS;
}

enum verdict { V_END, V_CONTINUE, V_SEEK };

/* The run's closers are followed by whitespace (or a line end): does it end here? */
static enum verdict decide_at_space(llmux__sentencer *s)
{
    unsigned f = s->run_flags;
    if (f & (T_CJK | T_BANG))
        return V_END;
    if (f & (T_ELLIPSIS | T_MULTI_DOT))
        return V_CONTINUE; /* an ellipsis ends only at a line end */
    /* A single '.': find W, the word before it, within this sentence. */
    const unsigned char *u = (const unsigned char *)s->buf;
    size_t ws = s->run_start;
    while (ws > s->start) {
        uint32_t cp;
        size_t k = llmux__utf8_decode_prev(u + s->start, ws - s->start, &cp);
        if (llmux__uc_is_space(cp))
            break;
        ws -= k;
    }
    size_t w = ws;
    while (w < s->run_start) {
        uint32_t cp;
        size_t k = llmux__utf8_decode(u + w, s->run_start - w, &cp);
        if (k == 0 || !is_opener(cp))
            break;
        w += k;
    }
    const char *word = s->buf + w;
    size_t wlen = s->run_start - w;
    if (never_final(word, wlen) || initials(word, wlen))
        return V_CONTINUE;
    if (wlen >= 1 && wlen <= 2 && u[w] >= '0' && u[w] <= '9' &&
        (wlen == 1 || (u[w + 1] >= '0' && u[w + 1] <= '9'))) {
        /* Rule 4: a list number opening the sentence or following "word:". */
        size_t p = ws;
        uint32_t cp = ' ';
        while (p > s->start) {
            size_t k = llmux__utf8_decode_prev(u + s->start, p - s->start, &cp);
            if (!llmux__uc_is_space(cp))
                break;
            p -= k;
        }
        if (p == s->start || cp == ':')
            return V_CONTINUE;
    }
    s->seek_number = before_number(word, wlen);
    return V_SEEK;
}

/* Runs the sentence machine on one code point at [pos, next). May end a sentence
 * (then s->scan moves back and the caller simply continues). */
static int sentence_step(llmux__sentencer *s, uint32_t cp, size_t pos, size_t next,
                         llmux__sentence_cb cb, void *ud)
{
    for (;;) {
        switch (s->st) {
        case ST_NORMAL: {
            unsigned f = term_flags(cp);
            if (f) {
                s->st = ST_RUN;
                s->run_start = pos;
                s->run_flags = f;
                return 0;
            }
            if (eager_active(s)) {
                bool wide = cp == 0xFF0C || cp == 0xFF1B || cp == 0xFF1A;
                if ((cp == ',' || cp == ';' || cp == ':' || wide) && eager_long_enough(s, next)) {
                    if (wide)
                        return end_at(s, next, cb, ud);
                    s->st = ST_EAGER;
                    s->eager_end = next;
                }
            }
            return 0;
        }
        case ST_RUN: {
            unsigned f = term_flags(cp);
            if (f) {
                if (f & s->run_flags & T_DOT)
                    f |= T_MULTI_DOT;
                s->run_flags |= f;
                return 0;
            }
            s->st = ST_CLOSERS;
            s->closers_end = pos;
            continue;
        }
        case ST_CLOSERS:
            if (is_closer(cp)) {
                s->closers_end = next;
                return 0;
            }
            if (cp == '<') {
                s->st = ST_TAG;
                s->tag_state = TAG_LT;
                s->tag_len = 0;
                return 0;
            }
            if (is_guillemet_space(cp)) {
                s->st = ST_CLOSER_SP;
                return 0;
            }
            if (llmux__uc_is_space(cp)) {
                enum verdict v = decide_at_space(s);
                if (v == V_END)
                    return end_at(s, s->closers_end, cb, ud);
                s->st = v == V_SEEK ? ST_SEEK_N : ST_NORMAL;
                return 0; /* the whitespace itself needs nothing more */
            }
            /* Anything else right after the closers: only 。！？ end here. */
            if (s->run_flags & T_CJK)
                return end_at(s, s->closers_end, cb, ud);
            s->st = ST_NORMAL;
            continue;
        case ST_CLOSER_SP: {
            if (cp == 0x00BB) {
                s->closers_end = next;
                s->st = ST_CLOSERS;
                return 0;
            }
            enum verdict v = decide_at_space(s);
            if (v == V_END)
                return end_at(s, s->closers_end, cb, ud);
            s->st = v == V_SEEK ? ST_SEEK_N : ST_NORMAL;
            continue;
        }
        case ST_TAG: {
            bool ok = false, done = false;
            switch (s->tag_state) {
            case TAG_LT:
                ok = cp == '/';
                s->tag_state = TAG_SLASH;
                break;
            case TAG_SLASH:
                ok = cp < 0x80 && ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z');
                s->tag_state = TAG_NAME;
                break;
            case TAG_NAME:
                if (cp == '>') {
                    ok = done = true;
                } else if (cp == ' ' || cp == '\t') {
                    ok = true;
                    s->tag_state = TAG_SPACE;
                } else {
                    ok = cp < 0x80 && (((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') ||
                                       (cp >= '0' && cp <= '9') || cp == '-');
                }
                break;
            case TAG_SPACE:
                ok = cp == ' ' || cp == '\t' || cp == '>';
                done = cp == '>';
                break;
            }
            if (ok && ++s->tag_len > TAG_NAME_MAX)
                ok = done = false;
            if (ok && done) {
                s->closers_end = next;
                s->st = ST_CLOSERS;
                return 0;
            }
            if (ok)
                return 0;
            /* Not a closing tag: the closers ended at its '<'. */
            if (s->run_flags & T_CJK)
                return end_at(s, s->closers_end, cb, ud);
            s->st = ST_NORMAL;
            continue;
        }
        case ST_SEEK_N:
            if (llmux__uc_is_space(cp) || is_opener(cp))
                return 0;
            if (llmux__uc_is_lower(cp) || (s->seek_number && cp >= '0' && cp <= '9')) {
                s->st = ST_NORMAL;
                continue;
            }
            return end_at(s, s->closers_end, cb, ud);
        case ST_EAGER:
            if (llmux__uc_is_space(cp))
                return end_at(s, s->eager_end, cb, ud);
            s->st = ST_NORMAL;
            continue;
        }
        return 0;
    }
}

/* ---- the cap ------------------------------------------------------------------------------- */

/* The pending chunk reached cap bytes: emit its first part, cut at a safe boundary
 * chosen from buf[start..start+cap) only. */
static int cap_cut(llmux__sentencer *s, llmux__sentence_cb cb, void *ud)
{
    const unsigned char *u = (const unsigned char *)s->buf;
    size_t lo = s->start + s->cap / 2, hi = s->start + s->cap, p = 0;
    for (size_t i = hi; i > lo; i--) {
        unsigned char c = u[i - 1];
        if (c == ' ' || (c >= 0x09 && c <= 0x0D)) {
            p = i;
            break;
        }
    }
    if (!p) {
        /* No whitespace: the last code point boundary at or before hi, judged from the
         * bytes before hi (a sequence cut by hi is left for the next chunk). */
        p = hi;
        for (size_t k = 1; k <= 3; k++) {
            unsigned char c = u[hi - k];
            if ((c & 0xC0) == 0x80)
                continue;
            size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
            if (need > k && c >= 0xC2 && c <= 0xF4)
                p = hi - k;
            break;
        }
    }
    int rc = emit(s, s->start, p, s->mode, cb, ud);
    s->start = p;
    if (s->mode == MODE_TEXT) {
        s->scan = p;
        reset_sentence(s);
    }
    return rc;
}

/* ---- the main loop -------------------------------------------------------------------------- */

static int process(llmux__sentencer *s, bool at_end, llmux__sentence_cb cb, void *ud)
{
    const unsigned char *u = (const unsigned char *)s->buf;
    for (;;) {
        if (s->scan - s->start >= s->cap) {
            int rc = cap_cut(s, cb, ud);
            if (rc)
                return rc;
            continue;
        }
        if (s->scan >= s->len)
            return 0;
        if (s->st == ST_NORMAL && (s->ls == LS_REST || s->ls == LS_F_REST)) {
            /* Fast path: nothing pending, only newlines (and, in text, terminators and
             * clause marks) can matter. */
            unsigned mask = B_NL;
            if (s->mode == MODE_TEXT)
                mask |= B_TERM | (eager_active(s) ? B_CLAUSE : 0);
            size_t lim = s->start + s->cap;
            if (lim > s->len)
                lim = s->len;
            size_t p = s->scan;
            while (p < lim && !(k_byte_class[u[p]] & mask))
                p++;
            s->scan = p;
            if (p >= lim)
                continue;
        }
        uint32_t cp;
        size_t pos = s->scan;
        size_t k = llmux__utf8_decode(u + pos, s->len - pos, &cp);
        if (k == 0) {
            if (!at_end)
                return 0; /* wait for the rest of the code point */
            k = 1;
            cp = LLMUX__UTF8_INVALID;
        }
        s->scan = pos + k;
        enum line_event ev = EV_NONE;
        if (s->base + pos >= s->line_fed) {
            ev = line_step(s, cp);
            s->line_fed = s->base + pos + k;
        }
        int rc = 0;
        switch (ev) {
        case EV_NONE:
            if (s->mode == MODE_TEXT)
                rc = sentence_step(s, cp, pos, s->scan, cb, ud);
            break;
        case EV_ENTER:
            reset_sentence(s);
            break;
        case EV_TEXT_END:
            rc = end_text_line(s, pos, cb, ud);
            break;
        case EV_ROW_END:
            rc = emit(s, s->start, pos, MODE_TABLE, cb, ud);
            break;
        case EV_FENCE_END:
            rc = emit(s, s->start, pos, MODE_FENCE, cb, ud);
            break;
        }
        if (ev == EV_TEXT_END || ev == EV_ROW_END || ev == EV_FENCE_END) {
            s->mode = MODE_TEXT;
            s->start = s->scan;
            s->line_has_chunk = false;
            reset_sentence(s);
        }
        if (rc)
            return rc;
    }
}

int llmux__sentencer_feed(llmux__sentencer *s, const char *delta, size_t len, llmux__sentence_cb cb,
                          void *ud)
{
    if (s->error)
        return s->error;
    while (len > 0) {
        /* Take at most cap bytes at a time, so the buffer stays within ~4 caps. */
        size_t n = len < s->cap ? len : s->cap;
        int rc = reserve(s, n);
        if (!rc) {
            memcpy(s->buf + s->len, delta, n);
            s->len += n;
            rc = process(s, false, cb, ud);
        }
        if (rc)
            return s->error = rc;
        delta += n;
        len -= n;
    }
    return LLMUX_OK;
}

int llmux__sentencer_finish(llmux__sentencer *s, llmux__sentence_cb cb, void *ud)
{
    if (s->error)
        return s->error;
    int rc = s->buf ? process(s, true, cb, ud) : 0;
    if (!rc) {
        if (s->mode == MODE_TEXT)
            rc = end_text_line(s, s->len, cb, ud);
        else
            rc = emit(s, s->start, s->len, s->mode, cb, ud);
    }
    if (rc)
        return s->error = rc;
    reset_stream(s);
    return LLMUX_OK;
}
