/* test_tokens.c — accepted bearer tokens: parsing LLMUX_TOKENS, checks, errors that
 * never contain a token, and the Authorization header. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "server/tokens.h"

static void test_parse_and_check(void **state)
{
    (void)state;
    static const struct {
        const char *list;
        size_t count;
        const char *accepted[3];
        const char *refused[4];
    } cases[] = {
        {NULL, 0, {NULL}, {"", "x", NULL}},
        {"", 0, {NULL}, {"", "x", NULL}},
        {" , ,\t", 0, {NULL}, {"", " ", NULL}},
        {"tok-one", 1, {"tok-one", NULL}, {"tok-on", "tok-one2", "TOK-ONE", ""}},
        {" tok-a ,tok-b,,\ttok-c\t",
         3,
         {"tok-a", "tok-b", "tok-c"},
         {" tok-a", "tok-a ", "tok-a,tok-b", "tok-"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        llmux__error err;
        llmux__token_set *set = llmux__token_set_parse(cases[i].list, &err);
        if (!set)
            fail_msg("case %zu: %s", i, err.message);
        assert_int_equal(llmux__token_set_count(set), cases[i].count);
        for (size_t k = 0; k < 3 && cases[i].accepted[k]; k++)
            if (!llmux__token_set_check(set, cases[i].accepted[k], strlen(cases[i].accepted[k])))
                fail_msg("case %zu: '%s' refused", i, cases[i].accepted[k]);
        for (size_t k = 0; k < 4 && cases[i].refused[k]; k++)
            if (llmux__token_set_check(set, cases[i].refused[k], strlen(cases[i].refused[k])))
                fail_msg("case %zu: '%s' accepted", i, cases[i].refused[k]);
        assert_false(llmux__token_set_check(set, NULL, 0));
        llmux__token_set_free(set);
    }
    llmux__token_set_free(NULL);
    assert_int_equal(llmux__token_set_count(NULL), 0);
    assert_false(llmux__token_set_check(NULL, "x", 1));
}

static void test_check_uses_the_length(void **state)
{
    (void)state;
    const char *const toks[] = {"secret-token", "other"};
    llmux__error err;
    llmux__token_set *set = llmux__token_set_new(toks, 2, &err);
    assert_non_null(set);
    /* A token inside a longer buffer: only len bytes count. */
    const char *hdr = "secret-token-and-more";
    assert_true(llmux__token_set_check(set, hdr, 12));
    assert_false(llmux__token_set_check(set, hdr, 13));
    assert_true(llmux__token_set_check(set, "other", 5));
    char big[LLMUX__TOKEN_MAX + 2];
    memset(big, 'a', sizeof big);
    assert_false(llmux__token_set_check(set, big, sizeof big));
    llmux__token_set_free(set);

    /* The longest allowed token works. */
    big[LLMUX__TOKEN_MAX] = '\0';
    const char *one[] = {big};
    set = llmux__token_set_new(one, 1, &err);
    assert_non_null(set);
    assert_true(llmux__token_set_check(set, big, LLMUX__TOKEN_MAX));
    llmux__token_set_free(set);
    set = llmux__token_set_new(NULL, 0, &err);
    assert_non_null(set);
    assert_int_equal(llmux__token_set_count(set), 0);
    llmux__token_set_free(set);
}

static void test_bad_tokens_are_named_by_position(void **state)
{
    (void)state;
    llmux__error err;
    assert_null(llmux__token_set_parse("good-1, bad SECRET1 ,good-2", &err));
    assert_int_equal(err.code, LLMUX_EINVALID_REQUEST);
    assert_non_null(strstr(err.message, "token 2 of 3"));
    assert_null(strstr(err.message, "SECRET1"));
    assert_null(strstr(err.message, "good"));

    const char *const toks[] = {"ok", "SECRET2\n"};
    assert_null(llmux__token_set_new(toks, 2, &err));
    assert_non_null(strstr(err.message, "token 2 of 2"));
    assert_null(strstr(err.message, "SECRET2"));
    const char *const with_null[] = {"ok", NULL}; /* a NULL entry is an empty token */
    assert_null(llmux__token_set_new(with_null, 2, &err));
    assert_non_null(strstr(err.message, "token 2 of 2"));
    assert_null(llmux__token_set_parse("caf\xc3\xa9", &err));
    assert_non_null(strstr(err.message, "token 1 of 1"));
}

static void test_bearer_header(void **state)
{
    (void)state;
    static const struct {
        const char *header;
        const char *token; /* NULL: no token */
    } cases[] = {
        {"Bearer abc", "abc"},
        {"bearer abc", "abc"},
        {"BEARER  \tabc  ", "abc"},
        {"Bearer a b", "a b"}, /* the check then refuses it */
        {"Bearer", NULL},
        {"Bearer ", NULL},
        {"Bearerabc", NULL},
        {"Basic dXNlcjpwYXNz", NULL},
        {"", NULL},
        {NULL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = 99;
        const char *t = llmux__bearer_token(cases[i].header, &len);
        if (!cases[i].token) {
            if (t)
                fail_msg("case %zu: got a token from '%s'", i, cases[i].header);
            continue;
        }
        assert_non_null(t);
        assert_int_equal(len, strlen(cases[i].token));
        assert_memory_equal(t, cases[i].token, len);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_check),
        cmocka_unit_test(test_check_uses_the_length),
        cmocka_unit_test(test_bad_tokens_are_named_by_position),
        cmocka_unit_test(test_bearer_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
