/* test_secret.c — secret copies: sizes across the pool's classes and large mappings,
 * zeroed reuse, core-dump exclusion, constant-time equality, threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/secret.h"

static void test_dup_sizes(void **state)
{
    (void)state;
    size_t base = llmux__secret_live_count();
    static const size_t sizes[] = {0,   1,    15,   46,   47,   48,   100,  111,   112,
                                   495, 1007, 2030, 2031, 2032, 4096, 8192, 100000};
    char *copies[sizeof sizes / sizeof sizes[0]];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        char *src = malloc(n + 1);
        assert_non_null(src);
        for (size_t j = 0; j < n; j++)
            src[j] = (char)('a' + (j * 7 + i) % 26);
        copies[i] = llmux__secret_dup(src, n);
        assert_non_null(copies[i]);
        assert_int_equal(llmux__secret_len(copies[i]), n);
        assert_memory_equal(copies[i], src, n);
        assert_int_equal(copies[i][n], '\0');
        assert_true(((uintptr_t)copies[i] % 16) == 0);
        free(src);
    }
    assert_int_equal(llmux__secret_live_count(), base + sizeof sizes / sizeof sizes[0]);
    /* Every copy is still intact after all the others were made. */
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        for (size_t j = 0; j < sizes[i]; j++)
            assert_int_equal(copies[i][j], (char)('a' + (j * 7 + i) % 26));
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        llmux__secret_free(copies[i]);
    assert_int_equal(llmux__secret_live_count(), base);
}

static void test_dup_edge_cases(void **state)
{
    (void)state;
    size_t base = llmux__secret_live_count();
    assert_null(llmux__secret_dup(NULL, 3));
    assert_null(llmux__secret_strdup(NULL));
    assert_null(llmux__secret_alloc(LLMUX__SECRET_MAX + 1));
    assert_int_equal(llmux__secret_len(NULL), 0);
    llmux__secret_free(NULL);

    char *empty = llmux__secret_dup(NULL, 0);
    assert_non_null(empty);
    assert_string_equal(empty, "");
    llmux__secret_free(empty);

    /* Embedded NUL: the length is what was asked for, not strlen. */
    char *nul = llmux__secret_dup("ab\0cd", 5);
    assert_non_null(nul);
    assert_int_equal(llmux__secret_len(nul), 5);
    assert_memory_equal(nul, "ab\0cd", 6);
    llmux__secret_free(nul);

    char *s = llmux__secret_strdup("sk-test-123");
    assert_string_equal(s, "sk-test-123");
    assert_int_equal(llmux__secret_len(s), 11);
    llmux__secret_free(s);

    char *z = llmux__secret_alloc(40);
    assert_non_null(z);
    for (size_t i = 0; i <= 40; i++)
        assert_int_equal(z[i], 0);
    llmux__secret_free(z);

    char *max = llmux__secret_alloc(LLMUX__SECRET_MAX);
    assert_non_null(max);
    max[LLMUX__SECRET_MAX - 1] = 'x';
    assert_int_equal(max[LLMUX__SECRET_MAX], 0);
    llmux__secret_free(max);
    assert_int_equal(llmux__secret_live_count(), base);
}

/* A freed slot is wiped: the next secret of the same class reuses it (LIFO) and
 * finds only zeroes where the old key was. */
static void test_free_wipes_before_reuse(void **state)
{
    (void)state;
    static const size_t sizes[] = {10, 100, 300, 1000, 2000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char key[2048];
        memset(key, 'K', sizes[i]);
        char *a = llmux__secret_dup(key, sizes[i]);
        assert_non_null(a);
        llmux__secret_free(a);
        char *b = llmux__secret_alloc(sizes[i]);
        assert_non_null(b);
        assert_ptr_equal(a, b);
        for (size_t j = 0; j <= sizes[i]; j++)
            if (b[j] != 0)
                fail_msg("size %zu: byte %zu of a reused slot is 0x%02x, want 0", sizes[i], j,
                         (unsigned char)b[j]);
        llmux__secret_free(b);
    }
}

/* The VmFlags line of the /proc/self/smaps mapping that contains p, or "" when it
 * cannot be read. */
static void vmflags_of(const void *p, char *out, size_t outlen)
{
    out[0] = '\0';
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f)
        return;
    char line[512];
    bool inside = false;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            inside = (uintptr_t)p >= lo && (uintptr_t)p < hi;
            continue;
        }
        if (inside && strncmp(line, "VmFlags:", 8) == 0) {
            snprintf(out, outlen, "%s", line + 8);
            break;
        }
    }
    fclose(f);
}

static void test_secrets_excluded_from_core_dumps(void **state)
{
    (void)state;
    char *small = llmux__secret_strdup("sk-small");
    char *large = llmux__secret_alloc(10000);
    assert_non_null(small);
    assert_non_null(large);
    char flags[512];
    vmflags_of(small, flags, sizeof flags);
    if (flags[0] == '\0') {
        llmux__secret_free(small);
        llmux__secret_free(large);
        skip();
    }
    if (!strstr(flags, " dd"))
        fail_msg("pool mapping lacks the dd (MADV_DONTDUMP) flag: %s", flags);
    vmflags_of(large, flags, sizeof flags);
    if (!strstr(flags, " dd"))
        fail_msg("large mapping lacks the dd (MADV_DONTDUMP) flag: %s", flags);
    llmux__secret_free(small);
    llmux__secret_free(large);
}

static void test_secret_eq_table(void **state)
{
    (void)state;
    static const struct {
        const char *a, *b;
        bool eq;
    } cases[] = {
        {"", "", true},
        {"tok", "tok", true},
        {"tok", "tol", false},
        {"tok", "to", false},
        {"to", "tok", false},
        {"", "x", false},
        {"x", "", false},
        {"abcdefghijklmnopqrstuvwxyz0123456789", "abcdefghijklmnopqrstuvwxyz0123456789", true},
        {"abcdefghijklmnopqrstuvwxyz0123456789", "abcdefghijklmnopqrstuvwxyz012345678X", false},
        {"Xbcdefghijklmnopqrstuvwxyz0123456789", "abcdefghijklmnopqrstuvwxyz0123456789", false},
        {"tok\x80", "tok\x81", false},
        {NULL, NULL, true},
        {NULL, "", false},
        {"", NULL, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (llmux__secret_eq(cases[i].a, cases[i].b) != cases[i].eq)
            fail_msg("case %zu: secret_eq(%s, %s) != %d", i, cases[i].a ? cases[i].a : "NULL",
                     cases[i].b ? cases[i].b : "NULL", cases[i].eq);
}

static void test_wipe(void **state)
{
    (void)state;
    char buf[32];
    memset(buf, 'x', sizeof buf);
    llmux__secret_wipe(buf + 4, 8);
    for (size_t i = 0; i < sizeof buf; i++)
        assert_int_equal(buf[i], i >= 4 && i < 12 ? 0 : 'x');
    llmux__secret_wipe(NULL, 8);
    llmux__secret_wipe(buf, 0);
}

#define HAMMER_THREADS 4
#define HAMMER_ROUNDS 2000
#define HAMMER_LIVE 16

static void *hammer(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    char *live[HAMMER_LIVE] = {0};
    size_t lens[HAMMER_LIVE] = {0};
    unsigned seed = id * 2654435761u + 1;
    for (int r = 0; r < HAMMER_ROUNDS; r++) {
        seed = seed * 1103515245u + 12345u;
        unsigned slot = (seed >> 8) % HAMMER_LIVE;
        if (live[slot]) {
            for (size_t j = 0; j < lens[slot]; j++)
                if (live[slot][j] != (char)('A' + (id + j) % 26))
                    return (void *)1;
            llmux__secret_free(live[slot]);
            live[slot] = NULL;
        } else {
            size_t n = (seed >> 4) % 3000;
            char *p = llmux__secret_alloc(n);
            if (!p)
                return (void *)2;
            for (size_t j = 0; j < n; j++)
                p[j] = (char)('A' + (id + j) % 26);
            live[slot] = p;
            lens[slot] = n;
        }
    }
    for (int i = 0; i < HAMMER_LIVE; i++)
        llmux__secret_free(live[i]);
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    size_t base = llmux__secret_live_count();
    pthread_t t[HAMMER_THREADS];
    for (unsigned i = 0; i < HAMMER_THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, (void *)(uintptr_t)i), 0);
    for (unsigned i = 0; i < HAMMER_THREADS; i++) {
        void *ret;
        assert_int_equal(pthread_join(t[i], &ret), 0);
        if (ret)
            fail_msg("thread %u saw a corrupted or failed secret (%p)", i, ret);
    }
    assert_int_equal(llmux__secret_live_count(), base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dup_sizes),
        cmocka_unit_test(test_dup_edge_cases),
        cmocka_unit_test(test_free_wipes_before_reuse),
        cmocka_unit_test(test_secrets_excluded_from_core_dumps),
        cmocka_unit_test(test_secret_eq_table),
        cmocka_unit_test(test_wipe),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
