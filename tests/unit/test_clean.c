/* test_clean.c — the text-to-speech cleaner on single chunks (core/clean.h), one table
 * row per rule of ../shared/data/README.md "Cleaning rules", plus invalid UTF-8, the
 * omit-when-nothing-to-say rule and linear behaviour on hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/clean.h"

#define LS LLMUX__CLEAN_LINE_START
#define ROW LLMUX__CLEAN_TABLE_ROW
#define FENCE LLMUX__CLEAN_FENCE

typedef struct clean_case {
    const char *in;
    unsigned flags;
    const char *want; /* "" = omitted */
} clean_case;

static void check(const clean_case *cases, size_t n)
{
    llmux__cleaner c = {0};
    for (size_t i = 0; i < n; i++) {
        const char *out;
        size_t len;
        assert_int_equal(
            llmux__clean_chunk(&c, cases[i].in, strlen(cases[i].in), cases[i].flags, &out, &len),
            LLMUX_OK);
        if (len != strlen(cases[i].want) || memcmp(out, cases[i].want, len) != 0)
            fail_msg("case %zu [%s] flags %u: want [%s] got [%.*s]", i, cases[i].in, cases[i].flags,
                     cases[i].want, (int)len, out);
        /* the one-shot form agrees */
        size_t l2 = 99;
        char *copy = llmux__clean_text(cases[i].in, strlen(cases[i].in), cases[i].flags, &l2);
        assert_non_null(copy);
        assert_int_equal(l2, len);
        assert_string_equal(copy, cases[i].want);
        free(copy);
    }
    llmux__cleaner_release(&c);
}

static void test_line_start(void **state)
{
    (void)state;
    static const clean_case cases[] = {
        {"---", LS, ""},
        {"- - -", LS, ""},
        {"***", LS, ""},
        {"_ _ _", LS, ""},
        {"=======", LS, ""},
        {"--", LS, ""}, /* not a rule, but nothing to say either */
        {"-*-", LS, ""},
        {"> Quoted words.", LS, "Quoted words."},
        {">> > Deeply quoted.", LS, "Deeply quoted."},
        {"# Welcome", LS, "Welcome"},
        {"###### Six", LS, "Six"},
        {"####### Seven", LS, "####### Seven"}, /* not a heading */
        {"#hashtag here", LS, "#hashtag here"},
        {"## Title ##", LS, "Title ##"},
        {"> ## Quoted heading", LS, "Quoted heading"},
        {"- Two eggs", LS, "Two eggs"},
        {"* Fast setup.", LS, "Fast setup."},
        {"+ Another item", LS, "Another item"},
        {"1. Preheat the oven.", LS, "Preheat the oven."},
        {"12) Sign in.", LS, "Sign in."},
        {"1.5 litres of water.", LS, "1.5 litres of water."},
        {"- [ ] Buy milk", LS, "Buy milk"},
        {"- [x] Call mom", LS, "Call mom"},
        {"* [X] Done", LS, "Done"},
        {"-5 degrees outside.", LS, "-5 degrees outside."},
        {"**Done.**", LS, "Done."},
        /* only the first chunk of a line */
        {"2. Tap Security.", 0, "2. Tap Security."},
        {"- not a list here", 0, "- not a list here"},
        {"# not a heading here", 0, "# not a heading here"},
    };
    check(cases, sizeof cases / sizeof cases[0]);
}

static void test_inline(void **state)
{
    (void)state;
    static const clean_case cases[] = {
        /* 1. comments */
        {"<!-- note --> Your code. <!--x-->Ok", 0, "Your code. Ok"},
        {"Open <!-- never closed", 0, "Open <!-- never closed"},
        /* 2. inline code: backticks go, text kept, exempt from emphasis */
        {"Run `npm install` first.", 0, "Run npm install first."},
        {"Call `get_user_by_id()` or ``a ` b``.", 0, "Call get_user_by_id() or a ` b."},
        {"Keep `*args*` and `__init__`.", 0, "Keep *args* and __init__."},
        {"A lone ` stays.", 0, "A lone ` stays."},
        /* 3. autolinks */
        {"Visit <https://example.com> or <support@example.com>.", 0,
         "Visit https://example.com or support@example.com."},
        /* 4. images and links */
        {"See [the guide](https://x.y/a_(b)) now.", 0, "See the guide now."},
        {"![A cat](cat.png) sleeps.", 0, "A cat sleeps."},
        {"[![badge](https://img)](https://x.y) here", 0, "badge here"},
        {"Just [brackets] and (parens).", 0, "Just [brackets] and (parens)."},
        /* 5. tags */
        {"This is <b>bold</b> and <i>it</i>.", 0, "This is bold and it."},
        {"Line<br>next<BR/>last<br />end", 0, "Line next last end"},
        {"Code <span class=\"c\" title='a>b'>ABC</span>.", 0, "Code ABC."},
        {"5 < 6 and 7 > 3.", 0, "5 < 6 and 7 > 3."},
        /* 6. bare URLs are kept as written */
        {"Read https://example.com/my_docs/__init__.py_ now.", 0,
         "Read https://example.com/my_docs/__init__.py now."},
        {"Go to **https://a.b/c**.", 0, "Go to https://a.b/c."},
        {"Try https://a.b/?q=1&amp;r=2 ok.", 0, "Try https://a.b/?q=1&amp;r=2 ok."},
        /* 7. emphasis */
        {"This is **very** important, *truly*.", 0, "This is very important, truly."},
        {"It returns a ***User*** object.", 0, "It returns a User object."},
        {"5 * 3 = 15, and * alone.", 0, "5 * 3 = 15, and * alone."},
        {"__Note:__ the _first_ run.", 0, "Note: the first run."},
        {"my_var_name and snake_case_2.", 0, "my_var_name and snake_case_2."},
        {"~~old~~ new, ~15 values.", 0, "old new, ~15 values."},
        /* 8. entities */
        {"Tom &amp; Jerry, 5 &lt; 6 &gt; 4, &quot;q&quot; &apos;a&#39;", 0,
         "Tom & Jerry, 5 < 6 > 4, \"q\" 'a'"},
        {"A&nbsp;B &#65;&#x42;&#X43; &#0; &#xD800; &bogus; &#1114112;", 0,
         "A B ABC &#0; &#xD800; &bogus; &#1114112;"},
        {"Smile &#128512; now", 0, "Smile now"}, /* decoded, then removed as emoji */
        /* 9. emoji */
        {"Great job! \xF0\x9F\x8E\x89", 0, "Great job!"},
        {"\xE2\x9A\xA0\xEF\xB8\x8F Disk \xE2\x9C\x85 full \xF0\x9F\x87\xAB\xF0\x9F\x87\xB7.", 0,
         "Disk full ."},
        {"The \xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7 family", 0,
         "The family"},
        {"Key 1\xEF\xB8\x8F\xE2\x83\xA3 and \xC2\xA9 stay", 0, "Key 1 and \xC2\xA9 stay"},
        /* 10. whitespace */
        {"Sure,  I\tcan\xC2\xA0\xC2\xA0help\xE2\x80\xAF!", 0, "Sure, I can help !"},
        /* nothing else changes */
        {"Costs $19.99 (approx.) \xE2\x80\x94 50% off #1 @ 3:30.", 0,
         "Costs $19.99 (approx.) \xE2\x80\x94 50% off #1 @ 3:30."},
        /* omitted when no letter or digit is left */
        {"\xF0\x9F\x98\x8A", 0, ""},
        {"** -- !!", 0, ""},
        {"<br>", 0, ""},
    };
    check(cases, sizeof cases / sizeof cases[0]);
}

static void test_tables_and_fences(void **state)
{
    (void)state;
    static const clean_case cases[] = {
        {"| Basic | $10 |", ROW, "Basic, $10"},
        {"|------|-------|", ROW, ""},
        {"| :--- | :---: | ---: |", ROW, ""},
        {"| **Item** | `Qty` |", ROW, "Item, Qty"},
        {"| [Apples](https://shop.example.com) | 3 |", ROW, "Apples, 3"},
        {"| Rome | |", ROW, "Rome"},
        {"| Oslo | -2.5 |", ROW, "Oslo, -2.5"},
        {"| \xE2\x9C\x85 | Done |", ROW, "Done"},
        {"| a \\| b | c |", ROW, "a \\| b, c"},
        {"| | |", ROW, ""},
        {"|a|b|c", ROW, "a, b, c"}, /* longer than its input: cells are joined by ", " */
        {"```bash\nnpm install\n```", FENCE, ""},
        {"Anything at all.", FENCE, ""},
    };
    check(cases, sizeof cases / sizeof cases[0]);
}

static void test_invalid_utf8_passes_through(void **state)
{
    (void)state;
    static const clean_case cases[] = {
        {"Bad \xFF byte **here**.", 0, "Bad \xFF byte here."},
        {"Cut \xE3\x80", 0, "Cut \xE3\x80"},
        {"\xED\xA0\x80 _x_ \xC0\x80", 0, "\xED\xA0\x80 x \xC0\x80"},
        {"\xFF\xFE", 0, ""}, /* no letter or digit */
    };
    check(cases, sizeof cases / sizeof cases[0]);
}

/* Inputs built to make naive matching quadratic finish quickly and do not crash. */
static void test_hostile_input_is_linear(void **state)
{
    (void)state;
    const size_t n = 1u << 20;
    char *text = malloc(n);
    assert_non_null(text);
    static const char *const patterns[] = {"[",  "(",  "<a ",  "`` ` ", "&#",
                                           "![", "](", "<!--", "*_~",   "https://"};
    llmux__cleaner c = {0};
    for (size_t p = 0; p < sizeof patterns / sizeof patterns[0]; p++) {
        size_t l = strlen(patterns[p]);
        for (size_t i = 0; i < n; i++)
            text[i] = patterns[p][i % l];
        const char *out;
        size_t len;
        for (unsigned flags = 0; flags < 4; flags++)
            assert_int_equal(llmux__clean_chunk(&c, text, n, flags, &out, &len), LLMUX_OK);
    }
    /* a URL followed by a million ')' */
    memcpy(text, "https://x", 9);
    memset(text + 9, ')', n - 9);
    const char *out;
    size_t len;
    assert_int_equal(llmux__clean_chunk(&c, text, n, 0, &out, &len), LLMUX_OK);
    assert_int_equal(len, n);
    /* unmatched backtick runs of ever greater length, then `<a "` runs */
    size_t o = 0;
    for (size_t r = 1; o + r + 1 < n; r++) {
        memset(text + o, '`', r);
        text[o + r] = 'x';
        o += r + 1;
    }
    assert_int_equal(llmux__clean_chunk(&c, text, o, 0, &out, &len), LLMUX_OK);
    assert_int_equal(len, o);
    for (size_t i = 0; i < n; i++)
        text[i] = "<a \"x"[i % 5];
    assert_int_equal(llmux__clean_chunk(&c, text, n, 0, &out, &len), LLMUX_OK);
    llmux__cleaner_release(&c);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_start),
        cmocka_unit_test(test_inline),
        cmocka_unit_test(test_tables_and_fences),
        cmocka_unit_test(test_invalid_utf8_passes_through),
        cmocka_unit_test(test_hostile_input_is_linear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
