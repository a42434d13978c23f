/* test_error.c — error type strings and the classification table (DESIGN.md). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/error.h"

static void test_type_strings_round_trip(void **state)
{
    (void)state;
    for (int c = 0; c < LLMUX_CODE_COUNT_; c++) {
        const char *t = llmux_code_type((llmux_code)c);
        assert_non_null(t);
        assert_int_equal(llmux_code_from_type(t), c);
        assert_non_null(llmux_strerror((llmux_code)c));
    }
    assert_string_equal(llmux_code_type(LLMUX_EALL_PROVIDERS_FAILED), "all_providers_failed");
    assert_string_equal(llmux_code_type(LLMUX_EPROVIDER_NOT_CONFIGURED), "provider_not_configured");
    assert_int_equal(llmux_code_from_type("no_such_type"), LLMUX_EUPSTREAM);
    assert_int_equal(llmux_code_from_type(NULL), LLMUX_EUPSTREAM);
    assert_string_equal(llmux_strerror((llmux_code)999), "unknown error");
}

static void test_classify_http_table(void **state)
{
    (void)state;
    static const struct {
        int status;
        llmux_code code;
        bool retryable;
    } cases[] = {
        {200, LLMUX_OK, false},
        {400, LLMUX_EINVALID_REQUEST, false},
        {401, LLMUX_EAUTH_FAILED, true},
        {403, LLMUX_EAUTH_FAILED, false},
        {404, LLMUX_EMODEL_NOT_FOUND, false},
        {408, LLMUX_ETIMEOUT, true},
        {409, LLMUX_EINVALID_REQUEST, false},
        {413, LLMUX_EINVALID_REQUEST, false},
        {422, LLMUX_EINVALID_REQUEST, false},
        {429, LLMUX_ERATE_LIMITED, true},
        {500, LLMUX_EUPSTREAM, true},
        {502, LLMUX_EUPSTREAM, true},
        {503, LLMUX_EUPSTREAM, true},
        {504, LLMUX_EUPSTREAM, true},
        {529, LLMUX_EUPSTREAM, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        llmux__failure f = llmux__classify_http(cases[i].status);
        if (f.code != cases[i].code || f.retryable != cases[i].retryable)
            fail_msg("status %d: got code %d retryable %d, want %d %d", cases[i].status, f.code,
                     f.retryable, cases[i].code, cases[i].retryable);
    }
}

static void test_classify_transport(void **state)
{
    (void)state;
    llmux__failure f = llmux__classify_transport(LLMUX__TRANSPORT_CONNECT);
    assert_int_equal(f.code, LLMUX_EUPSTREAM);
    assert_true(f.retryable);
    f = llmux__classify_transport(LLMUX__TRANSPORT_TIMEOUT);
    assert_int_equal(f.code, LLMUX_ETIMEOUT);
    assert_true(f.retryable);
}

static void test_error_set_formats_and_truncates(void **state)
{
    (void)state;
    llmux__error e;
    llmux__error_clear(&e);
    assert_int_equal(e.code, LLMUX_OK);
    assert_int_equal(llmux__error_set(&e, LLMUX_EINVALID_REQUEST, "field %s", "messages[0]"),
                     LLMUX_EINVALID_REQUEST);
    assert_string_equal(e.message, "field messages[0]");
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    llmux__error_set(&e, LLMUX_EUPSTREAM, "%s", big);
    assert_int_equal(strlen(e.message), sizeof e.message - 1);
    llmux__error_set(&e, LLMUX_ETIMEOUT, NULL);
    assert_string_equal(e.message, "timed out");
    assert_int_equal(llmux__error_set(NULL, LLMUX_ENOMEM, "x"), LLMUX_ENOMEM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_strings_round_trip),
        cmocka_unit_test(test_classify_http_table),
        cmocka_unit_test(test_classify_transport),
        cmocka_unit_test(test_error_set_formats_and_truncates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
