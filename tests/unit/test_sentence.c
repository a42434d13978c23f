/* test_sentence.c — the streaming sentence chunker (core/sentence.h): the shared corpus
 * fed whole, one code point per delta and at random cut points, split-invariance and
 * word-preservation properties on generated text, the memory cap, UTF-8 edge cases,
 * eager_first_chunk, callback aborts and reuse after finish. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sentence.h"
#include "core/sentence_text.h"
#include "test_util.h"

/* ---- helpers ------------------------------------------------------------------------- */

typedef struct chunks {
    char **items;
    size_t *lens;
    size_t count, cap;
    size_t max_len;      /* longest chunk seen */
    size_t max_memory;   /* largest llmux__sentencer_memory() seen at a callback */
    llmux__sentencer *s; /* for the memory probe (may be NULL) */
} chunks;

static int collect(void *ud, const char *s, size_t len)
{
    chunks *c = ud;
    if (c->count == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 16;
        c->items = realloc(c->items, c->cap * sizeof *c->items);
        c->lens = realloc(c->lens, c->cap * sizeof *c->lens);
        assert_non_null(c->items);
        assert_non_null(c->lens);
    }
    c->lens[c->count] = len;
    char *copy = malloc(len + 1);
    assert_non_null(copy);
    memcpy(copy, s, len);
    copy[len] = '\0';
    c->items[c->count++] = copy;
    if (len > c->max_len)
        c->max_len = len;
    if (c->s) {
        size_t m = llmux__sentencer_memory(c->s);
        if (m > c->max_memory)
            c->max_memory = m;
    }
    return 0;
}

static void chunks_free(chunks *c)
{
    for (size_t i = 0; i < c->count; i++)
        free(c->items[i]);
    free(c->items);
    free(c->lens);
    memset(c, 0, sizeof *c);
}

/* Deterministic xorshift64* generator. */
static uint64_t rnd(uint64_t *st)
{
    *st ^= *st >> 12;
    *st ^= *st << 25;
    *st ^= *st >> 27;
    return *st * 2685821657736338717ull;
}

enum feed_mode { FEED_WHOLE, FEED_CODE_POINTS, FEED_RANDOM_BYTES, FEED_RANDOM_POINTS };

static const char *const k_mode_names[] = {"whole", "one code point per delta", "random byte cuts",
                                           "random code point cuts"};

/* Feeds text[0..len) as deltas cut per mode and collects the chunks. */
static void run(const char *text, size_t len, const llmux__sentence_options *opt,
                enum feed_mode mode, uint64_t seed, chunks *out)
{
    memset(out, 0, sizeof *out);
    llmux__sentencer *s = llmux__sentencer_new(opt);
    assert_non_null(s);
    out->s = s;
    uint64_t st = seed * 0x9E3779B97F4A7C15ull + 1;
    size_t i = 0;
    while (i < len) {
        size_t n = len - i;
        if (mode == FEED_CODE_POINTS || mode == FEED_RANDOM_POINTS) {
            size_t want = mode == FEED_CODE_POINTS ? 1 : 1 + rnd(&st) % 6;
            n = 0;
            for (size_t k = 0; k < want && i + n < len; k++) {
                uint32_t cp;
                size_t l =
                    llmux__utf8_decode((const unsigned char *)text + i + n, len - i - n, &cp);
                n += l ? l : len - i - n;
            }
        } else if (mode == FEED_RANDOM_BYTES) {
            n = 1 + rnd(&st) % (rnd(&st) % 3 == 0 ? 40 : 5);
            if (n > len - i)
                n = len - i;
        }
        assert_int_equal(llmux__sentencer_feed(s, text + i, n, collect, out), LLMUX_OK);
        i += n;
    }
    assert_int_equal(llmux__sentencer_finish(s, collect, out), LLMUX_OK);
    out->s = NULL;
    llmux__sentencer_free(s);
}

static bool same_chunks(const chunks *a, const chunks *b)
{
    if (a->count != b->count)
        return false;
    for (size_t i = 0; i < a->count; i++)
        if (a->lens[i] != b->lens[i] || memcmp(a->items[i], b->items[i], a->lens[i]) != 0)
            return false;
    return true;
}

static void print_chunks(const char *label, const chunks *c)
{
    print_message("  %s (%zu):", label, c->count);
    for (size_t i = 0; i < c->count; i++)
        print_message(" [%s]", c->items[i]);
    print_message("\n");
}

static bool is_space_at(const char *s, size_t n, size_t i, size_t *len)
{
    uint32_t cp;
    size_t k = llmux__utf8_decode((const unsigned char *)s + i, n - i, &cp);
    if (k == 0)
        k = 1, cp = LLMUX__UTF8_INVALID;
    *len = k;
    return llmux__uc_is_space(cp);
}

/* The text with every Unicode whitespace character removed (malloc'd). */
static char *without_space(const char *s, size_t n, size_t *out_len)
{
    char *r = malloc(n + 1);
    assert_non_null(r);
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t k;
        bool sp = is_space_at(s, n, i, &k);
        if (!sp)
            memcpy(r + o, s + i, k), o += k;
        i += k;
    }
    r[o] = '\0';
    *out_len = o;
    return r;
}

/* Every chunk is non-empty and trimmed; without cleaning, the chunks hold exactly the
 * input's non-whitespace bytes, in order (nothing lost, added or reordered). */
static void check_chunk_shape(const char *text, size_t len, const chunks *c, bool clean)
{
    for (size_t i = 0; i < c->count; i++) {
        const char *s = c->items[i];
        size_t n = c->lens[i], k;
        assert_true(n > 0);
        assert_false(is_space_at(s, n, 0, &k));
        uint32_t cp;
        llmux__utf8_decode_prev((const unsigned char *)s, n, &cp);
        assert_false(llmux__uc_is_space(cp));
    }
    if (clean)
        return;
    size_t in_n, out_n = 0;
    char *in = without_space(text, len, &in_n);
    size_t total = 0;
    for (size_t i = 0; i < c->count; i++)
        total += c->lens[i];
    char *joined = malloc(total + 1);
    assert_non_null(joined);
    for (size_t i = 0; i < c->count; i++) {
        size_t l;
        char *w = without_space(c->items[i], c->lens[i], &l);
        memcpy(joined + out_n, w, l);
        out_n += l;
        free(w);
    }
    if (in_n != out_n || memcmp(in, joined, in_n) != 0)
        fail_msg("chunks do not hold the input's words in order (%zu vs %zu bytes)", in_n, out_n);
    free(in);
    free(joined);
}

/* ---- the corpus ------------------------------------------------------------------------- */

static void expect_list(const cJSON *arr, chunks *want)
{
    memset(want, 0, sizeof *want);
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        assert_true(cJSON_IsString(it));
        collect(want, it->valuestring, strlen(it->valuestring));
    }
}

static void test_corpus_all_feeding_modes(void **state)
{
    (void)state;
    size_t len = 0;
    char *data = tu_read_shared("data/sentences.jsonl", &len);
    size_t cases = 0, failures = 0;
    size_t pass[4][2] = {{0}};
    char *line = data;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (*line) {
            cJSON *c = cJSON_Parse(line);
            assert_non_null(c);
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "id");
            const cJSON *text = cJSON_GetObjectItemCaseSensitive(c, "text");
            assert_true(cJSON_IsString(id) && cJSON_IsString(text));
            const char *t = text->valuestring;
            size_t tlen = strlen(t);
            cases++;
            for (int clean = 0; clean < 2; clean++) {
                chunks want;
                expect_list(cJSON_GetObjectItemCaseSensitive(c, clean ? "clean" : "sentences"),
                            &want);
                llmux__sentence_options opt = {.clean = clean != 0};
                for (int mode = 0; mode < 4; mode++) {
                    /* random modes: several different cut patterns per case */
                    int reps = mode >= FEED_RANDOM_BYTES ? 8 : 1;
                    bool ok = true;
                    for (int r = 0; r < reps; r++) {
                        chunks got;
                        run(t, tlen, &opt, (enum feed_mode)mode, (uint64_t)(cases * 131 + r), &got);
                        if (!same_chunks(&want, &got)) {
                            if (ok)
                                print_message("FAIL %s (%s, %s)\n", id->valuestring,
                                              clean ? "clean" : "sentences", k_mode_names[mode]);
                            print_chunks("want", &want);
                            print_chunks("got ", &got);
                            ok = false;
                        }
                        check_chunk_shape(t, tlen, &got, clean != 0);
                        chunks_free(&got);
                    }
                    if (ok)
                        pass[mode][clean]++;
                    else
                        failures++;
                }
                chunks_free(&want);
            }
            cJSON_Delete(c);
        }
        line = nl ? nl + 1 : NULL;
    }
    for (int mode = 0; mode < 4; mode++)
        print_message("corpus %-26s sentences %zu/%zu  clean %zu/%zu\n", k_mode_names[mode],
                      pass[mode][0], cases, pass[mode][1], cases);
    free(data);
    assert_int_equal(cases, 130);
    assert_int_equal(failures, 0);
}

/* ---- rule cases beyond the corpus (written from the README) ------------------------------ */

typedef struct rule_case {
    const char *text;
    const char *want[8]; /* NULL-terminated */
} rule_case;

static void check_cases(const rule_case *cases, size_t n, const llmux__sentence_options *opt)
{
    for (size_t i = 0; i < n; i++) {
        chunks want = {0};
        for (size_t k = 0; cases[i].want[k]; k++)
            collect(&want, cases[i].want[k], strlen(cases[i].want[k]));
        for (int mode = 0; mode < 4; mode++) {
            chunks got;
            run(cases[i].text, strlen(cases[i].text), opt, (enum feed_mode)mode, i + 7, &got);
            if (!same_chunks(&want, &got)) {
                print_message("case %zu (%s): %s\n", i, k_mode_names[mode], cases[i].text);
                print_chunks("want", &want);
                print_chunks("got ", &got);
                fail();
            }
            chunks_free(&got);
        }
        chunks_free(&want);
    }
}

static void test_rules_beyond_corpus(void **state)
{
    (void)state;
    static const rule_case cases[] = {
        /* rule 1, with a lowercase entry capitalised; Etc is not never-final */
        {"E.g. Rust is fast. Cf. Smith agrees. Etc. Done.",
         {"E.g. Rust is fast.", "Cf. Smith agrees.", "Etc.", "Done."}},
        {"Ask Prof. Moreau or Sgt. Pepper. Then go.",
         {"Ask Prof. Moreau or Sgt. Pepper.", "Then go."}},
        {"Das ist z.B. Kaffee. Z.B. Tee auch. Gut.",
         {"Das ist z.B. Kaffee.", "Z.B. Tee auch.", "Gut."}},
        /* rule 2: initials and dotted capitals; known limits keep "plan B. It" and
         * "the U.S. The" together */
        {"Then plan B. It works. In the U.S. The end.",
         {"Then plan B. It works.", "In the U.S. The end."}},
        /* rule 3: only before a digit, any case */
        {"See Fig. 3 for details. In JAN. 2024 we met. In Jan. The end.",
         {"See Fig. 3 for details.", "In JAN. 2024 we met.", "In Jan.", "The end."}},
        {"Vea la p\xC3\xA1g. 12 y el N\xC3\xBAm. 3 hoy. Listo.",
         {"Vea la p\xC3\xA1g. 12 y el N\xC3\xBAm. 3 hoy.", "Listo."}},
        /* rule 4: list numbers open the sentence or follow "word:" */
        {"Steps: 1. Mix well. It is 42. That is all. 12. Twelve. 123. Three.",
         {"Steps: 1. Mix well.", "It is 42.", "That is all.", "12. Twelve.", "123.", "Three."}},
        {"Step 1. Preheat.", {"Step 1.", "Preheat."}},
        /* rule 5: a lowercase next word, found past openers; none on the line: split */
        {"Bring pens etc. (and paper). Go. \"and so\" on.",
         {"Bring pens etc. (and paper).", "Go. \"and so\" on."}},
        {"Hi. (\nthere", {"Hi.", "(", "there"}},
        {"Go. ((( Now", {"Go.", "((( Now"}},
        {"Talk to Dr. ", {"Talk to Dr."}},
        /* ! and ? end whatever the next word; quotes keep the question */
        {"\"Ready?\" he asked. Wow! amazing.", {"\"Ready?\"", "he asked.", "Wow!", "amazing."}},
        /* never split without whitespace after the closers */
        {"Visit x.io/a?b=1. Try v2.0.1! Or 3.5? Ok.",
         {"Visit x.io/a?b=1.", "Try v2.0.1!", "Or 3.5?", "Ok."}},
        /* ellipses: only at a line end; mixed with ! they end */
        {"Wait... What?\nYes...\nNo\xE2\x80\xA6 maybe... Hm...!  Ok",
         {"Wait... What?", "Yes...", "No\xE2\x80\xA6 maybe... Hm...!", "Ok"}},
        /* closers: tags, » after a (no-break) space, CJK closers then anything */
        {"This is <b>bold.</b> Next one.</b>Not split. Ok.",
         {"This is <b>bold.</b>", "Next one.</b>Not split.", "Ok."}},
        {"Il dit \xC2\xAB Oui. \xC2\xBB Puis. Non.\xC2\xA0\xC2\xBB Fin.",
         {"Il dit \xC2\xAB Oui. \xC2\xBB", "Puis.", "Non.\xC2\xA0\xC2\xBB", "Fin."}},
        {"\xE4\xBD\xA0\xE5\xA5\xBD\xE3\x80\x82\xE3\x80\x8D\xE7\x84\xB6\xE5\x90\x8E\xEF\xBC\x81x",
         {"\xE4\xBD\xA0\xE5\xA5\xBD\xE3\x80\x82\xE3\x80\x8D",
          "\xE7\x84\xB6\xE5\x90\x8E\xEF\xBC\x81", "x"}},
        {"\xE5\xA5\xBD\xE3\x80\x82</b>\xE5\x90\x8E \xE5\xA5\xBD\xE3\x80\x82</b x",
         {"\xE5\xA5\xBD\xE3\x80\x82</b>", "\xE5\x90\x8E \xE5\xA5\xBD\xE3\x80\x82", "</b x"}},
        /* fences: longer closing needed, other character inside, indentation limit */
        {"````\n```\nstill code. Yes!\n~~~\n````\nAfter.",
         {"````\n```\nstill code. Yes!\n~~~\n````", "After."}},
        {"    ```\nnot code. Really.", {"```", "not code.", "Really."}},
        {"  ~~~ info\nx. Y.\n  ~~~~   \nZ.", {"~~~ info\nx. Y.\n  ~~~~", "Z."}},
        {"```\nnot closed ``` x\n```a\nend", {"```\nnot closed ``` x\n```a\nend"}},
        /* table rows: one chunk whatever they hold; \t before | still a row */
        {"| a. B! | c\xE3\x80\x82"
         "d |\n\t| x. Y |\nNext. One.",
         {"| a. B! | c\xE3\x80\x82"
          "d |",
          "| x. Y |", "Next.", "One."}},
        /* newlines: \r\n and \r */
        {"A.\r\nB\rC.\r\n\r\n", {"A.", "B", "C."}},
        /* whitespace only */
        {"  \xC2\xA0\t\n\xE3\x80\x80 ", {NULL}},
    };
    llmux__sentence_options opt = {0};
    check_cases(cases, sizeof cases / sizeof cases[0], &opt);
}

static void test_clean_through_chunker(void **state)
{
    (void)state;
    static const rule_case cases[] = {
        /* only the first chunk of a line loses its list marker */
        {"- First. - second\n2. Two. 3. Three.", {"First.", "- second", "Two.", "3. Three."}},
        /* fenced block dropped even when cut by the cap; emoji-only chunks omitted */
        {"Look:\n```\ncode\n```\n\xF0\x9F\x8E\x89\nDone.", {"Look:", "Done."}},
        {"| a | b |\n|:-|-:|\n| | **c** |", {"a, b", "c"}},
        {"> ## Quoted title\n---\n* * *\nText.", {"Quoted title", "Text."}},
    };
    llmux__sentence_options opt = {.clean = true};
    check_cases(cases, sizeof cases / sizeof cases[0], &opt);
}

/* ---- properties on generated text ------------------------------------------------------- */

static const char *const k_tokens[] = {"Hello",
                                       "world",
                                       "Dr.",
                                       "e.g.",
                                       "U.S.",
                                       "J.",
                                       "No.",
                                       "5",
                                       "42.",
                                       "3.14",
                                       "a.m.",
                                       "etc.",
                                       "1.",
                                       "12)",
                                       "...",
                                       "\xE2\x80\xA6",
                                       "!",
                                       "?",
                                       "?!",
                                       ".",
                                       ",",
                                       ";",
                                       ":",
                                       "\"",
                                       "'",
                                       "(",
                                       ")",
                                       "*",
                                       "**",
                                       "_",
                                       "`",
                                       "```",
                                       "~~~",
                                       "|",
                                       "- ",
                                       "# ",
                                       ">",
                                       "<b>",
                                       "</b>",
                                       "<br>",
                                       "&amp;",
                                       "[x](y)",
                                       "https://a.b/c_d.",
                                       "\xC2\xBB",
                                       "\xC2\xAB",
                                       "\xC2\xA0",
                                       "\xE2\x80\xAF",
                                       "\xE3\x80\x82",
                                       "\xEF\xBC\x81",
                                       "\xE3\x80\x8D",
                                       "\xE4\xBD\xA0\xE5\xA5\xBD",
                                       "\xF0\x9F\x8E\x89",
                                       "\xE2\x9C\x85\xEF\xB8\x8F",
                                       "\xC3\xA9t\xC3\xA9",
                                       "\xFF",
                                       "\xC3",
                                       "\xE2\x82",
                                       "\xED\xA0\x80",
                                       "\x80",
                                       " ",
                                       " ",
                                       " ",
                                       "  ",
                                       "\t",
                                       "\n",
                                       "\n",
                                       "\r\n",
                                       "\r",
                                       "   ",
                                       "word",
                                       "the",
                                       "and",
                                       "Mr",
                                       "x",
                                       "B."};

static char *random_text(uint64_t *st, size_t tokens, size_t *len)
{
    size_t cap = tokens * 24 + 1, n = 0;
    char *t = malloc(cap);
    assert_non_null(t);
    for (size_t i = 0; i < tokens; i++) {
        const char *tok = k_tokens[rnd(st) % (sizeof k_tokens / sizeof k_tokens[0])];
        size_t l = strlen(tok);
        memcpy(t + n, tok, l);
        n += l;
        if (rnd(st) % 3)
            t[n++] = ' ';
    }
    t[n] = '\0';
    *len = n;
    return t;
}

static void test_property_split_invariance(void **state)
{
    (void)state;
    uint64_t st = 0x5EED;
    for (int iter = 0; iter < 1500; iter++) {
        size_t len;
        char *text = random_text(&st, 1 + rnd(&st) % 80, &len);
        llmux__sentence_options opt = {
            .clean = (iter & 1) != 0,
            .eager_first_chunk = (iter & 2) != 0,
            .max_buffer = (iter % 5 == 0) ? 64 + rnd(&st) % 64 : 0,
        };
        chunks whole;
        run(text, len, &opt, FEED_WHOLE, 0, &whole);
        check_chunk_shape(text, len, &whole, opt.clean);
        for (int mode = FEED_CODE_POINTS; mode <= FEED_RANDOM_POINTS; mode++) {
            chunks got;
            run(text, len, &opt, (enum feed_mode)mode, (uint64_t)iter, &got);
            if (!same_chunks(&whole, &got)) {
                print_message("iteration %d (%s, clean %d eager %d cap %zu): [%s]\n", iter,
                              k_mode_names[mode], opt.clean, opt.eager_first_chunk, opt.max_buffer,
                              text);
                print_chunks("whole", &whole);
                print_chunks("split", &got);
                fail();
            }
            chunks_free(&got);
        }
        /* one byte per delta as well (cuts inside every code point) */
        {
            llmux__sentencer *s = llmux__sentencer_new(&opt);
            assert_non_null(s);
            chunks got = {0};
            for (size_t i = 0; i < len; i++)
                assert_int_equal(llmux__sentencer_feed(s, text + i, 1, collect, &got), LLMUX_OK);
            assert_int_equal(llmux__sentencer_finish(s, collect, &got), LLMUX_OK);
            llmux__sentencer_free(s);
            assert_true(same_chunks(&whole, &got));
            chunks_free(&got);
        }
        chunks_free(&whole);
        free(text);
    }
}

/* ---- the cap ---------------------------------------------------------------------------- */

static void test_cap_long_sentence_cut_between_words(void **state)
{
    (void)state;
    const size_t cap = 4096, total = 3u << 20;
    char *text = malloc(total + 1);
    assert_non_null(text);
    static const char *const words[] = {"alpha ", "beta ", "gamma, ", "delta ",
                                        "3.14 ",  "e.g. ", "x "};
    size_t n = 0, w = 0;
    while (n + 8 < total) {
        const char *word = words[w++ % 7];
        memcpy(text + n, word, strlen(word));
        n += strlen(word);
    }
    llmux__sentence_options opt = {.max_buffer = cap};
    chunks got;
    run(text, n, &opt, FEED_RANDOM_BYTES, 3, &got);
    assert_true(got.count > n / cap);
    assert_true(got.max_len <= cap);
    /* cut only between words: every chunk ends with a whole word from the list */
    for (size_t i = 0; i < got.count; i++) {
        const char *c = got.items[i];
        size_t l = got.lens[i];
        bool whole_word = false;
        for (size_t k = 0; k < 7; k++) {
            size_t wl = strlen(words[k]) - 1;
            if (l >= wl && memcmp(c + l - wl, words[k], wl) == 0 &&
                (l == wl || c[l - wl - 1] == ' '))
                whole_word = true;
        }
        assert_true(whole_word);
    }
    check_chunk_shape(text, n, &got, false);
    /* memory stayed bounded: ~4 caps of text plus the struct */
    assert_true(got.max_memory <= 4 * cap + 1024);
    chunks_free(&got);

    /* the same, one byte per delta: the same chunks, and linear (3 MB completes fast) */
    chunks whole, bytes = {0};
    run(text, n, &opt, FEED_WHOLE, 0, &whole);
    llmux__sentencer *s = llmux__sentencer_new(&opt);
    assert_non_null(s);
    bytes.s = s;
    for (size_t i = 0; i < n; i++)
        assert_int_equal(llmux__sentencer_feed(s, text + i, 1, collect, &bytes), LLMUX_OK);
    assert_int_equal(llmux__sentencer_finish(s, collect, &bytes), LLMUX_OK);
    assert_true(bytes.max_memory <= 4 * cap + 1024);
    llmux__sentencer_free(s);
    assert_true(same_chunks(&whole, &bytes));
    chunks_free(&whole);
    chunks_free(&bytes);
    free(text);
}

static void test_cap_no_whitespace_cut_at_code_points(void **state)
{
    (void)state;
    const size_t cap = 100;
    /* 2-, 3- and 4-byte code points without any space or terminator */
    static const char *const pieces[] = {"\xC3\xA9", "\xE4\xBD\xA0", "\xF0\x9F\x98\x80", "a"};
    char text[20000];
    size_t n = 0;
    for (size_t i = 0; n + 4 < sizeof text; i++) {
        const char *p = pieces[(i * 7 + i / 3) % 4];
        memcpy(text + n, p, strlen(p));
        n += strlen(p);
    }
    llmux__sentence_options opt = {.max_buffer = cap};
    chunks whole;
    run(text, n, &opt, FEED_WHOLE, 0, &whole);
    assert_true(whole.count >= n / cap);
    size_t total = 0;
    for (size_t i = 0; i < whole.count; i++) {
        const unsigned char *c = (const unsigned char *)whole.items[i];
        size_t l = whole.lens[i];
        assert_true(l <= cap);
        if (i + 1 < whole.count)
            assert_true(l + 3 >= cap); /* cut at the last code point boundary */
        for (size_t k = 0; k < l;) {   /* every chunk is valid UTF-8 */
            uint32_t cp;
            size_t d = llmux__utf8_decode(c + k, l - k, &cp);
            assert_true(d > 0 && cp != LLMUX__UTF8_INVALID);
            k += d;
        }
        total += l;
    }
    assert_int_equal(total, n);
    for (int mode = FEED_CODE_POINTS; mode <= FEED_RANDOM_POINTS; mode++) {
        chunks got;
        run(text, n, &opt, (enum feed_mode)mode, 11, &got);
        assert_true(same_chunks(&whole, &got));
        chunks_free(&got);
    }
    chunks_free(&whole);
}

static void test_cap_fence_and_row_keep_their_kind(void **state)
{
    (void)state;
    /* a fenced block far over the cap: cut in pieces, all dropped by the cleaner */
    size_t cap = 256, n = 0;
    char *text = malloc(70000);
    assert_non_null(text);
    n += (size_t)sprintf(text + n, "Intro.\n```\n");
    while (n < 60000)
        n += (size_t)sprintf(text + n, "let x = 1. Print it! ");
    n += (size_t)sprintf(text + n, "\n```\n| a | b. c |");
    while (n < 66000)
        n += (size_t)sprintf(text + n, " cell. | more! |");
    n += (size_t)sprintf(text + n, "\nOutro.");
    llmux__sentence_options opt = {.clean = true, .max_buffer = cap};
    chunks got;
    run(text, n, &opt, FEED_RANDOM_BYTES, 5, &got);
    assert_true(got.count >= 3);
    assert_string_equal(got.items[0], "Intro.");
    assert_string_equal(got.items[got.count - 1], "Outro.");
    for (size_t i = 1; i + 1 < got.count; i++) {
        assert_null(strstr(got.items[i], "let x")); /* code never spoken */
        assert_null(strchr(got.items[i], '|'));     /* table syntax never spoken */
    }
    chunks_free(&got);
    opt.clean = false;
    run(text, n, &opt, FEED_WHOLE, 0, &got);
    check_chunk_shape(text, n, &got, false);
    assert_true(got.max_len <= cap);
    chunks_free(&got);
    free(text);
}

/* ---- UTF-8 -------------------------------------------------------------------------------- */

static void test_utf8_edge_cases(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        size_t len; /* 0: strlen(text) */
        const char *want[4];
        size_t want0_len; /* 0: strlen(want[0]) */
    } cases[] = {
        /* invalid bytes pass through, next to terminators and spaces */
        {"Bad \xFF byte. Next \xC0\x80 one.", 0, {"Bad \xFF byte.", "Next \xC0\x80 one."}, 0},
        /* a surrogate encoding and a lone continuation byte */
        {"Odd \xED\xA0\x80. \x80Then.", 0, {"Odd \xED\xA0\x80.", "\x80Then."}, 0},
        /* a sequence truncated by the end of the text is flushed as it is */
        {"Cut \xE3\x80", 0, {"Cut \xE3\x80"}, 0},
        /* truncated terminator: E3 80 then ASCII is not 。 */
        {"a\xE3\x80"
         "b. C",
         0,
         {"a\xE3\x80"
          "b.",
          "C"},
         0},
        /* NUL bytes are just bytes */
        {"A\0B. C", 6, {"A\0B.", "C"}, 4},
        /* 4-byte code points around the decision points */
        {"\xF0\x9F\x98\x80. \xF0\x9F\x98\x80 hi",
         0,
         {"\xF0\x9F\x98\x80.", "\xF0\x9F\x98\x80 hi"},
         0},
        /* lowercase next word in another script keeps the sentence */
        {"Vgl. \xC3\xA9t\xC3\xA9 ok. \xD0\x94\xD0\xB0. \xD0\xB4\xD0\xB0.",
         0,
         {"Vgl. \xC3\xA9t\xC3\xA9 ok.", "\xD0\x94\xD0\xB0. \xD0\xB4\xD0\xB0."},
         0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].text);
        chunks want = {0};
        for (size_t k = 0; cases[i].want[k]; k++)
            collect(&want, cases[i].want[k],
                    k == 0 && cases[i].want0_len ? cases[i].want0_len : strlen(cases[i].want[k]));
        for (int clean = 0; clean < 2; clean++) {
            llmux__sentence_options opt = {.clean = clean != 0};
            chunks whole;
            run(cases[i].text, len, &opt, FEED_WHOLE, 0, &whole);
            if (!clean) {
                if (!same_chunks(&whole, &want)) {
                    print_message("utf8 case %zu\n", i);
                    print_chunks("want", &want);
                    print_chunks("got ", &whole);
                    fail();
                }
                check_chunk_shape(cases[i].text, len, &whole, false);
            }
            /* every byte-level split gives the same result */
            for (size_t cut = 1; cut < len; cut++) {
                llmux__sentencer *s = llmux__sentencer_new(&opt);
                assert_non_null(s);
                chunks got = {0};
                assert_int_equal(llmux__sentencer_feed(s, cases[i].text, cut, collect, &got), 0);
                assert_int_equal(
                    llmux__sentencer_feed(s, cases[i].text + cut, len - cut, collect, &got), 0);
                assert_int_equal(llmux__sentencer_finish(s, collect, &got), 0);
                llmux__sentencer_free(s);
                assert_true(same_chunks(&whole, &got));
                chunks_free(&got);
            }
            chunks_free(&whole);
        }
        chunks_free(&want);
    }
}

static void test_never_split_inside_code_point(void **state)
{
    (void)state;
    /* terminators and no-break spaces, delivered one byte per delta */
    const char *text = "\xE4\xBD\xA0\xE5\xA5\xBD\xE3\x80\x82\xE5\x86\x8D\xE8\xA7\x81\xEF\xBC\x81"
                       "Tu viens\xE2\x80\xAF? Oui\xE2\x80\xAF! Hmm\xE2\x80\xA6 ok.";
    size_t len = strlen(text);
    llmux__sentencer *s = llmux__sentencer_new(NULL);
    assert_non_null(s);
    chunks got = {0};
    for (size_t i = 0; i < len; i++)
        assert_int_equal(llmux__sentencer_feed(s, text + i, 1, collect, &got), LLMUX_OK);
    assert_int_equal(llmux__sentencer_finish(s, collect, &got), LLMUX_OK);
    llmux__sentencer_free(s);
    assert_int_equal(got.count, 5);
    assert_string_equal(got.items[0], "\xE4\xBD\xA0\xE5\xA5\xBD\xE3\x80\x82");
    assert_string_equal(got.items[1], "\xE5\x86\x8D\xE8\xA7\x81\xEF\xBC\x81");
    assert_string_equal(got.items[2], "Tu viens\xE2\x80\xAF?");
    assert_string_equal(got.items[3], "Oui\xE2\x80\xAF!");
    assert_string_equal(got.items[4], "Hmm\xE2\x80\xA6 ok.");
    chunks_free(&got);
}

/* ---- eager_first_chunk --------------------------------------------------------------------- */

static void test_eager_first_chunk(void **state)
{
    (void)state;
    static const rule_case eager[] = {
        /* first chunk ends at the first clause mark past the minimum; later ones do not */
        {"When you arrive at the airport, check in at the counter, then go. Later, we talk.",
         {"When you arrive at the airport,", "check in at the counter, then go.",
          "Later, we talk."}},
        /* too short before the comma: the next qualifying mark is used */
        {"Sure, I can help with that: here it is. Fine.",
         {"Sure, I can help with that:", "here it is.", "Fine."}},
        /* 1,000 and 10:30 are not clause boundaries; a normal end comes first */
        {"It costs 1,000,000 dollars at 10:30 sharp. Yes, it does, really.",
         {"It costs 1,000,000 dollars at 10:30 sharp.", "Yes, it does, really."}},
        /* fullwidth comma needs no space (20 code points with it) */
        {"\xE6\x98\x8E\xE5\xA4\xA9\xE6\x97\xA9\xE4\xB8\x8A\xE4\xBB\x8A\xE5\xA4\xA9\xE6\x88\x91\xE4"
         "\xBB\xAC\xE8\xA6\x81\xE5\x8E\xBB\xE5\x8C\x97"
         "\xE4\xBA\xAC\xE7\x9C\x8B\xE7\x9C\x8B\xE6\x9C\x8B\xE5\x8F\x8B\xE5\x92\x8C\xE5\xAE\xB6"
         "\xE4\xBA\xBA\xEF\xBC\x8C\xE7\x84\xB6\xE5\x90\x8E\xE5\x9B\x9E\xE5\xAE\xB6\xE3\x80\x82",
         {"\xE6\x98\x8E\xE5\xA4\xA9\xE6\x97\xA9\xE4\xB8\x8A\xE4\xBB\x8A\xE5\xA4\xA9\xE6\x88\x91\xE4"
          "\xBB\xAC\xE8\xA6\x81\xE5\x8E\xBB\xE5\x8C\x97"
          "\xE4\xBA\xAC\xE7\x9C\x8B\xE7\x9C\x8B\xE6\x9C\x8B\xE5\x8F\x8B\xE5\x92\x8C\xE5\xAE\xB6"
          "\xE4\xBA\xBA\xEF\xBC\x8C",
          "\xE7\x84\xB6\xE5\x90\x8E\xE5\x9B\x9E\xE5\xAE\xB6\xE3\x80\x82"}},
        /* leading whitespace does not count toward the minimum */
        {"          Short one, then more words here, and more.",
         {"Short one, then more words here,", "and more."}},
    };
    llmux__sentence_options opt = {.eager_first_chunk = true};
    check_cases(eager, sizeof eager / sizeof eager[0], &opt);

    /* off by default: the same text gives whole sentences */
    static const rule_case plain[] = {
        {"When you arrive at the airport, check in at the counter, then go.",
         {"When you arrive at the airport, check in at the counter, then go."}},
    };
    llmux__sentence_options none = {0};
    check_cases(plain, 1, &none);

    /* with cleaning, a first chunk that cleaning omits does not use up the eager cut */
    static const rule_case cleaned[] = {
        {"\xF0\x9F\x8E\x89\nWhen you arrive at the airport, check in at the counter.",
         {"When you arrive at the airport,", "check in at the counter."}},
    };
    llmux__sentence_options both = {.clean = true, .eager_first_chunk = true};
    check_cases(cleaned, 1, &both);
}

/* eager_first_chunk skips a chunk's leading whitespace once, not at every clause mark:
 * 500 KB of spaces then 250 000 clause marks that do not qualify stays linear (this
 * would take minutes if each mark re-skipped the spaces). */
static void test_eager_many_marks_stay_linear(void **state)
{
    (void)state;
    const size_t spaces = 500000, marks = 250000;
    size_t n = spaces + 2 * marks + 5;
    char *text = malloc(n + 1);
    assert_non_null(text);
    memset(text, ' ', spaces);
    for (size_t i = 0; i < marks; i++)
        memcpy(text + spaces + 2 * i, ",x", 2);
    memcpy(text + spaces + 2 * marks, " end.", 5);
    llmux__sentence_options opt = {.eager_first_chunk = true, .max_buffer = 4u << 20};
    chunks got;
    run(text, n, &opt, FEED_RANDOM_BYTES, 9, &got);
    assert_int_equal(got.count, 1);
    assert_int_equal(got.lens[0], 2 * marks + 5);
    chunks_free(&got);
    free(text);
}

/* ---- callbacks, reuse ------------------------------------------------------------------------ */

static int abort_second(void *ud, const char *s, size_t len)
{
    (void)s;
    (void)len;
    int *calls = ud;
    return ++*calls == 2 ? 99 : 0;
}

static void test_callback_abort_is_sticky(void **state)
{
    (void)state;
    llmux__sentencer *s = llmux__sentencer_new(NULL);
    assert_non_null(s);
    int calls = 0;
    const char *t = "One. Two. Three. Four.";
    assert_int_equal(llmux__sentencer_feed(s, t, strlen(t), abort_second, &calls), 99);
    assert_int_equal(calls, 2);
    assert_int_equal(llmux__sentencer_feed(s, "x. ", 3, abort_second, &calls), 99);
    assert_int_equal(llmux__sentencer_finish(s, abort_second, &calls), 99);
    assert_int_equal(calls, 2);
    llmux__sentencer_free(s);
}

static void test_finish_flushes_and_resets(void **state)
{
    (void)state;
    llmux__sentence_options opt = {.eager_first_chunk = true};
    llmux__sentencer *s = llmux__sentencer_new(&opt);
    assert_non_null(s);
    chunks got = {0};
    /* an unfinished fenced block and an unfinished period decision are flushed */
    const char *a = "Answer:\n```\ncode";
    assert_int_equal(llmux__sentencer_feed(s, a, strlen(a), collect, &got), LLMUX_OK);
    assert_int_equal(got.count, 1);
    assert_int_equal(llmux__sentencer_finish(s, collect, &got), LLMUX_OK);
    assert_int_equal(got.count, 2);
    assert_string_equal(got.items[1], "```\ncode");
    /* the next stream starts fresh: not in a fence, eager armed again */
    const char *b = "After the reset we are eager again, yes. Mr.";
    assert_int_equal(llmux__sentencer_feed(s, b, strlen(b), collect, &got), LLMUX_OK);
    assert_int_equal(got.count, 4);
    assert_int_equal(llmux__sentencer_finish(s, collect, &got), LLMUX_OK);
    assert_int_equal(got.count, 5);
    assert_string_equal(got.items[2], "After the reset we are eager again,");
    assert_string_equal(got.items[3], "yes.");
    assert_string_equal(got.items[4], "Mr.");
    llmux__sentencer_free(s);
    chunks_free(&got);
    /* an empty stream emits nothing; NULL is ignored by free */
    s = llmux__sentencer_new(NULL);
    assert_non_null(s);
    assert_int_equal(llmux__sentencer_finish(s, collect, &got), LLMUX_OK);
    assert_int_equal(got.count, 0);
    llmux__sentencer_free(s);
    llmux__sentencer_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus_all_feeding_modes),
        cmocka_unit_test(test_rules_beyond_corpus),
        cmocka_unit_test(test_clean_through_chunker),
        cmocka_unit_test(test_property_split_invariance),
        cmocka_unit_test(test_cap_long_sentence_cut_between_words),
        cmocka_unit_test(test_cap_no_whitespace_cut_at_code_points),
        cmocka_unit_test(test_cap_fence_and_row_keep_their_kind),
        cmocka_unit_test(test_utf8_edge_cases),
        cmocka_unit_test(test_never_split_inside_code_point),
        cmocka_unit_test(test_eager_first_chunk),
        cmocka_unit_test(test_eager_many_marks_stay_linear),
        cmocka_unit_test(test_callback_abort_is_sticky),
        cmocka_unit_test(test_finish_flushes_and_resets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
