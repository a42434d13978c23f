/* test_keys.c — managed keys from the environment and LLMUX_KEYS_DIR: precedence,
 * trimming, errors that name the file or variable and never the key, the log summary,
 * and the base URL / key / api_version checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/secret.h"
#include "server/keys.h"

/* A fake environment: name/value pairs, NULL-terminated. */
typedef struct fake_env {
    const char *vars[24][2];
} fake_env;

static const char *fake_getenv(const char *name, void *ud)
{
    const fake_env *env = ud;
    for (size_t i = 0; i < 24 && env->vars[i][0]; i++)
        if (strcmp(env->vars[i][0], name) == 0)
            return env->vars[i][1];
    return NULL;
}

/* A fresh temporary keys directory. */
typedef struct keys_dir {
    char path[64];
} keys_dir;

static void dir_make(keys_dir *d)
{
    snprintf(d->path, sizeof d->path, "/tmp/llmux-keys-XXXXXX");
    assert_non_null(mkdtemp(d->path));
}

static void dir_put(const keys_dir *d, const char *name, const char *content, size_t n)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", d->path, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void dir_remove(const keys_dir *d)
{
    DIR *dh = opendir(d->path);
    assert_non_null(dh);
    struct dirent *e;
    while ((e = readdir(dh)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", d->path, e->d_name);
        if (unlinkat(dirfd(dh), e->d_name, 0) != 0)
            assert_int_equal(rmdir(p), 0);
    }
    closedir(dh);
    assert_int_equal(rmdir(d->path), 0);
}

static char *summary_of(const llmux__managed_keys *mk)
{
    size_t need = llmux__managed_keys_summary(mk, NULL, 0);
    char *s = malloc(need + 1);
    assert_non_null(s);
    assert_int_equal(llmux__managed_keys_summary(mk, s, need + 1), need);
    assert_int_equal(strlen(s), need);
    return s;
}

static void test_no_keys(void **state)
{
    (void)state;
    fake_env env = {{{NULL, NULL}}};
    llmux__error err;
    llmux__managed_keys *mk = llmux__managed_keys_load(fake_getenv, &env, &err);
    assert_non_null(mk);
    assert_int_equal(err.code, LLMUX_OK);
    for (int p = 0; p < LLMUX__PROVIDER_COUNT; p++) {
        assert_false(llmux__managed_keys_has(mk, (llmux__provider)p));
        assert_null(llmux__managed_keys_key(mk, (llmux__provider)p));
        assert_null(llmux__managed_keys_base_url(mk, (llmux__provider)p));
        assert_null(llmux__managed_keys_api_version(mk, (llmux__provider)p));
    }
    assert_false(llmux__managed_keys_has(mk, LLMUX__PROVIDER_COUNT));
    assert_false(llmux__managed_keys_has(NULL, LLMUX__PROVIDER_OPENAI));
    char *s = summary_of(mk);
    assert_string_equal(s, "managed keys: none");
    free(s);
    llmux__managed_keys_free(mk);
    llmux__managed_keys_free(NULL);
}

static void test_env_keys_and_urls(void **state)
{
    (void)state;
    size_t live = llmux__secret_live_count();
    fake_env env = {{
        {"OPENAI_API_KEY", "sk-openai-env-1111"},
        {"ANTHROPIC_API_KEY", "  sk-ant-env-2222\n"},
        {"GOOGLE_API_KEY", "AIza-google-3333"},
        {"AZURE_OPENAI_API_KEY", "azure-env-4444"},
        {"AZURE_OPENAI_ENDPOINT", "https://res.openai.azure.com"},
        {"AZURE_OPENAI_API_VERSION", "2024-10-21"},
        {"LLMUX_OPENAI_BASE_URL", "http://127.0.0.1:8080/v1"},
        {"LLMUX_ANTHROPIC_BASE_URL", "HTTPS://[::1]:9443"},
        {"LLMUX_GOOGLE_BASE_URL", ""},
        {NULL, NULL},
    }};
    llmux__error err;
    llmux__managed_keys *mk = llmux__managed_keys_load(fake_getenv, &env, &err);
    if (!mk)
        fail_msg("load failed: %s", err.message);
    assert_string_equal(llmux__managed_keys_key(mk, LLMUX__PROVIDER_OPENAI), "sk-openai-env-1111");
    assert_string_equal(llmux__managed_keys_key(mk, LLMUX__PROVIDER_ANTHROPIC), "sk-ant-env-2222");
    assert_string_equal(llmux__managed_keys_key(mk, LLMUX__PROVIDER_GOOGLE), "AIza-google-3333");
    assert_string_equal(llmux__managed_keys_key(mk, LLMUX__PROVIDER_AZURE), "azure-env-4444");
    for (int p = 0; p < LLMUX__PROVIDER_COUNT; p++)
        assert_true(llmux__managed_keys_has(mk, (llmux__provider)p));
    assert_string_equal(llmux__managed_keys_base_url(mk, LLMUX__PROVIDER_OPENAI),
                        "http://127.0.0.1:8080/v1");
    assert_string_equal(llmux__managed_keys_base_url(mk, LLMUX__PROVIDER_ANTHROPIC),
                        "HTTPS://[::1]:9443");
    assert_null(llmux__managed_keys_base_url(mk, LLMUX__PROVIDER_GOOGLE));
    assert_string_equal(llmux__managed_keys_base_url(mk, LLMUX__PROVIDER_AZURE),
                        "https://res.openai.azure.com");
    assert_string_equal(llmux__managed_keys_api_version(mk, LLMUX__PROVIDER_AZURE), "2024-10-21");
    assert_null(llmux__managed_keys_api_version(mk, LLMUX__PROVIDER_OPENAI));

    char *s = summary_of(mk);
    assert_string_equal(s, "managed keys: openai (env OPENAI_API_KEY), azure (env "
                           "AZURE_OPENAI_API_KEY), anthropic (env ANTHROPIC_API_KEY), google "
                           "(env GOOGLE_API_KEY); base urls: openai=http://127.0.0.1:8080, "
                           "azure=https://res.openai.azure.com, anthropic=HTTPS://[::1]:9443; "
                           "azure api_version=2024-10-21");
    static const char *const keys[] = {"sk-openai-env-1111",
                                       "sk-ant-env-2222",
                                       "AIza-google-3333",
                                       "azure-env-4444",
                                       "1111",
                                       "2222"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        assert_null(strstr(s, keys[i]));

    /* Truncation is snprintf-like: full length returned, output terminated. */
    char small[20];
    assert_int_equal(llmux__managed_keys_summary(mk, small, sizeof small), strlen(s));
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_memory_equal(small, s, sizeof small - 1);
    free(s);
    llmux__managed_keys_free(mk);
    assert_int_equal(llmux__secret_live_count(), live);
}

static void test_gemini_before_google(void **state)
{
    (void)state;
    fake_env both = {{{"GOOGLE_API_KEY", "google-key"}, {"GEMINI_API_KEY", "gemini-key"}}};
    llmux__error err;
    llmux__managed_keys *mk = llmux__managed_keys_load(fake_getenv, &both, &err);
    assert_non_null(mk);
    assert_string_equal(llmux__managed_keys_key(mk, LLMUX__PROVIDER_GOOGLE), "gemini-key");
    char *s = summary_of(mk);
    assert_non_null(strstr(s, "google (env GEMINI_API_KEY)"));
    free(s);
    llmux__managed_keys_free(mk);

    /* An empty GEMINI_API_KEY counts as unset. */
    fake_env empty = {{{"GEMINI_API_KEY", ""}, {"GOOGLE_API_KEY", "google-key"}}};
    mk = llmux__managed_keys_load(fake_getenv, &empty, &err);
    assert_non_null(mk);
    assert_string_equal(llmux__managed_keys_key(mk, LLMUX__PROVIDER_GOOGLE), "google-key");
    llmux__managed_keys_free(mk);

    /* Whitespace only is unset too. */
    fake_env blank = {{{"OPENAI_API_KEY", " \n"}}};
    mk = llmux__managed_keys_load(fake_getenv, &blank, &err);
    assert_non_null(mk);
    assert_false(llmux__managed_keys_has(mk, LLMUX__PROVIDER_OPENAI));
    llmux__managed_keys_free(mk);
}

static void test_keys_dir_wins_over_env(void **state)
{
    (void)state;
    size_t live = llmux__secret_live_count();
    keys_dir d;
    dir_make(&d);
    dir_put(&d, "openai", "sk-file-openai\n", 15);
    dir_put(&d, "gemini", "\t gem-file \r\n\n", 14);
    dir_put(&d, "README", "not a key file", 14);
    dir_put(&d, "..data", "ignored", 7);
    fake_env env = {{
        {"LLMUX_KEYS_DIR", d.path},
        {"OPENAI_API_KEY", "sk-env-openai"},
        {"GEMINI_API_KEY", "gem-env"},
        {"ANTHROPIC_API_KEY", "sk-ant-env"},
    }};
    llmux__error err;
    llmux__managed_keys *mk = llmux__managed_keys_load(fake_getenv, &env, &err);
    if (!mk)
        fail_msg("load failed: %s", err.message);
    assert_string_equal(llmux__managed_keys_key(mk, LLMUX__PROVIDER_OPENAI), "sk-file-openai");
    assert_string_equal(llmux__managed_keys_key(mk, LLMUX__PROVIDER_GOOGLE), "gem-file");
    assert_string_equal(llmux__managed_keys_key(mk, LLMUX__PROVIDER_ANTHROPIC), "sk-ant-env");
    assert_false(llmux__managed_keys_has(mk, LLMUX__PROVIDER_AZURE));
    char *s = summary_of(mk);
    assert_string_equal(s, "managed keys: openai (file openai), anthropic (env "
                           "ANTHROPIC_API_KEY), google (file gemini)");
    free(s);
    llmux__managed_keys_free(mk);

    /* A dir with no files for a provider: the environment still applies. */
    keys_dir empty;
    dir_make(&empty);
    fake_env env2 = {{{"LLMUX_KEYS_DIR", empty.path}, {"OPENAI_API_KEY", "sk-env"}}};
    mk = llmux__managed_keys_load(fake_getenv, &env2, &err);
    assert_non_null(mk);
    assert_string_equal(llmux__managed_keys_key(mk, LLMUX__PROVIDER_OPENAI), "sk-env");
    llmux__managed_keys_free(mk);
    dir_remove(&empty);
    dir_remove(&d);
    assert_int_equal(llmux__secret_live_count(), live);
}

/* One failing configuration: which files to create, which variables to set. The error
 * must be invalid_request, mention `want`, and contain none of the `secret` strings. */
typedef struct error_case {
    const char *what;
    const char *files[2][2]; /* name, content ("<dir>" makes a directory, "<big>" 9000 B) */
    const char *vars[4][2];
    bool use_dir;
    const char *want;
    const char *secrets[2];
} error_case;

static void run_error_case(const error_case *c)
{
    keys_dir d = {{0}};
    char big[9001];
    fake_env env = {{{NULL, NULL}}};
    size_t nv = 0;
    if (c->use_dir) {
        dir_make(&d);
        env.vars[nv][0] = "LLMUX_KEYS_DIR";
        env.vars[nv++][1] = d.path;
        for (int i = 0; i < 2 && c->files[i][0]; i++) {
            const char *content = c->files[i][1];
            if (strcmp(content, "<dir>") == 0) {
                char p[128];
                snprintf(p, sizeof p, "%s/%s", d.path, c->files[i][0]);
                assert_int_equal(mkdir(p, 0700), 0);
            } else if (strcmp(content, "<big>") == 0) {
                memset(big, 'B', sizeof big);
                memcpy(big, "sk-bigsecret", 12);
                dir_put(&d, c->files[i][0], big, sizeof big);
            } else {
                dir_put(&d, c->files[i][0], content, strlen(content));
            }
        }
    }
    for (int i = 0; i < 4 && c->vars[i][0]; i++) {
        env.vars[nv][0] = c->vars[i][0];
        env.vars[nv++][1] = c->vars[i][1];
    }
    size_t live = llmux__secret_live_count();
    llmux__error err;
    llmux__managed_keys *mk = llmux__managed_keys_load(fake_getenv, &env, &err);
    if (mk)
        fail_msg("%s: load succeeded, want an error mentioning '%s'", c->what, c->want);
    if (err.code != LLMUX_EINVALID_REQUEST)
        fail_msg("%s: code %d, want invalid_request (%s)", c->what, err.code, err.message);
    if (!strstr(err.message, c->want))
        fail_msg("%s: message '%s' does not mention '%s'", c->what, err.message, c->want);
    for (int i = 0; i < 2 && c->secrets[i]; i++)
        if (strstr(err.message, c->secrets[i]))
            fail_msg("%s: message '%s' leaks '%s'", c->what, err.message, c->secrets[i]);
    assert_int_equal(llmux__secret_live_count(), live);
    if (c->use_dir)
        dir_remove(&d);
}

static void test_errors_name_the_source_never_the_key(void **state)
{
    (void)state;
    static const error_case cases[] = {
        {"file too large",
         {{"openai", "<big>"}},
         {{NULL, NULL}},
         true,
         "/openai': larger than",
         {"sk-bigsecret", "BBBB"}},
        {"empty file", {{"anthropic", " \n\n"}}, {{NULL, NULL}}, true, "/anthropic': empty", {0}},
        {"space inside key",
         {{"google", "sk-half one\n"}},
         {{NULL, NULL}},
         true,
         "/google': a key must be visible ASCII",
         {"sk-half", "one"}},
        {"control char in key",
         {{"azure", "az\x01secret"}},
         {{"AZURE_OPENAI_ENDPOINT", "https://r.example"}},
         true,
         "/azure'",
         {"secret", NULL}},
        {"not a regular file",
         {{"openai", "<dir>"}},
         {{NULL, NULL}},
         true,
         "/openai': not a regular file",
         {0}},
        {"google and gemini both",
         {{"google", "gkey-one"}, {"gemini", "gkey-two"}},
         {{NULL, NULL}},
         true,
         "both 'google' and 'gemini'",
         {"gkey-one", "gkey-two"}},
        {"missing keys dir",
         {{NULL, NULL}},
         {{"LLMUX_KEYS_DIR", "/nonexistent/llmux-keys"}},
         false,
         "LLMUX_KEYS_DIR '/nonexistent/llmux-keys': cannot open",
         {0}},
        {"keys dir is a file",
         {{NULL, NULL}},
         {{"LLMUX_KEYS_DIR", "/etc/hostname"}},
         false,
         "LLMUX_KEYS_DIR '/etc/hostname'",
         {0}},
        {"env key with a newline inside",
         {{NULL, NULL}},
         {{"OPENAI_API_KEY", "sk-abc\nX-Evil: 1"}},
         false,
         "OPENAI_API_KEY: a key must be",
         {"sk-abc", "X-Evil"}},
        {"env key too long",
         {{NULL, NULL}},
         {{"ANTHROPIC_API_KEY", NULL}},
         false,
         "ANTHROPIC_API_KEY: a key must be",
         {0}},
        {"azure key without endpoint",
         {{NULL, NULL}},
         {{"AZURE_OPENAI_API_KEY", "azkey-secret"}},
         false,
         "AZURE_OPENAI_ENDPOINT is not",
         {"azkey-secret", NULL}},
        {"azure file key without endpoint",
         {{"azure", "azkey-file"}},
         {{NULL, NULL}},
         true,
         "(file azure)",
         {"azkey-file", NULL}},
        {"base url scheme",
         {{NULL, NULL}},
         {{"LLMUX_OPENAI_BASE_URL", "ftp://x.example/v1"}},
         false,
         "LLMUX_OPENAI_BASE_URL: must start with http:// or https://",
         {0}},
        {"base url credentials",
         {{NULL, NULL}},
         {{"LLMUX_ANTHROPIC_BASE_URL", "https://me:hunter2@h.example"}},
         false,
         "LLMUX_ANTHROPIC_BASE_URL: must not contain credentials",
         {"hunter2", NULL}},
        {"azure endpoint with space",
         {{NULL, NULL}},
         {{"AZURE_OPENAI_ENDPOINT", "https://r.example /x"}},
         false,
         "AZURE_OPENAI_ENDPOINT: must contain only visible ASCII",
         {0}},
        {"api version",
         {{NULL, NULL}},
         {{"AZURE_OPENAI_API_VERSION", "2024 10&x=1"}},
         false,
         "AZURE_OPENAI_API_VERSION: must be",
         {"&x=1", NULL}},
    };
    static char long_key[LLMUX__KEY_FILE_MAX + 2];
    memset(long_key, 'k', sizeof long_key - 1);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        error_case c = cases[i];
        if (strcmp(c.what, "env key too long") == 0)
            c.vars[0][1] = long_key;
        run_error_case(&c);
    }
}

/* A file that cannot be opened: mode 000, or for root (who reads anything) a unix
 * socket, which open() refuses with ENXIO. */
static void test_unopenable_file(void **state)
{
    (void)state;
    keys_dir d;
    dir_make(&d);
    char p[128];
    snprintf(p, sizeof p, "%s/openai", d.path);
    int sock = -1;
    if (geteuid() == 0) {
        sock = socket(AF_UNIX, SOCK_STREAM, 0);
        assert_true(sock >= 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        assert_true(strlen(p) < sizeof sa.sun_path);
        memcpy(sa.sun_path, p, strlen(p) + 1);
        assert_int_equal(bind(sock, (struct sockaddr *)&sa, sizeof sa), 0);
    } else {
        dir_put(&d, "openai", "sk-unreadable", 13);
        assert_int_equal(chmod(p, 0), 0);
    }
    fake_env env = {{{"LLMUX_KEYS_DIR", d.path}}};
    llmux__error err;
    assert_null(llmux__managed_keys_load(fake_getenv, &env, &err));
    assert_int_equal(err.code, LLMUX_EINVALID_REQUEST);
    assert_non_null(strstr(err.message, "/openai': cannot open"));
    assert_null(strstr(err.message, "sk-unreadable"));
    if (sock >= 0)
        close(sock);
    dir_remove(&d);
}

static void test_exactly_max_size_file_is_accepted(void **state)
{
    (void)state;
    keys_dir d;
    dir_make(&d);
    static char content[LLMUX__KEY_FILE_MAX];
    memset(content, 'k', sizeof content);
    dir_put(&d, "openai", content, sizeof content);
    fake_env env = {{{"LLMUX_KEYS_DIR", d.path}}};
    llmux__error err;
    llmux__managed_keys *mk = llmux__managed_keys_load(fake_getenv, &env, &err);
    if (!mk)
        fail_msg("8192-byte key refused: %s", err.message);
    assert_int_equal(strlen(llmux__managed_keys_key(mk, LLMUX__PROVIDER_OPENAI)),
                     LLMUX__KEY_FILE_MAX);
    llmux__managed_keys_free(mk);
    dir_remove(&d);
}

static void test_base_url_check_table(void **state)
{
    (void)state;
    static const struct {
        const char *url;
        bool ok;
    } cases[] = {
        {"https://api.openai.com/v1", true},
        {"http://127.0.0.1:8080", true},
        {"HTTP://Example.COM/", true},
        {"https://[::1]:443/v1", true},
        {"https://host:", true},
        {"https://my-res.openai.azure.com", true},
        {NULL, false},
        {"", false},
        {"api.openai.com/v1", false},
        {"ftp://host/", false},
        {"https://", false},
        {"https:///v1", false},
        {"http://:8080/", false},
        {"https://[]/v1", false},
        {"https://[::1/v1", false},
        {"https://user@host/", false},
        {"https://u:p@host/", false},
        {"https://host/v1?key=abc", false},
        {"https://host/#frag", false},
        {"https://ho st/", false},
        {"https://host/\r\nX: y", false},
        {"https://h\xc3\xa9.example/", false},
        {"javascript:alert(1)", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *why = "unset";
        bool ok = llmux__base_url_check(cases[i].url, &why);
        if (ok != cases[i].ok)
            fail_msg("base url '%s': got %d, want %d", cases[i].url ? cases[i].url : "NULL", ok,
                     cases[i].ok);
        if (ok)
            assert_null(why);
        else
            assert_non_null(why);
    }
    char longurl[LLMUX__BASE_URL_MAX + 2];
    memcpy(longurl, "https://h/", 10);
    memset(longurl + 10, 'a', sizeof longurl - 11);
    longurl[sizeof longurl - 1] = '\0';
    assert_false(llmux__base_url_check(longurl, NULL));
    longurl[LLMUX__BASE_URL_MAX] = '\0';
    assert_true(llmux__base_url_check(longurl, NULL));
}

static void test_key_and_version_checks(void **state)
{
    (void)state;
    assert_true(llmux__key_chars_ok("sk-proj-AbC_123.~+/=", 20));
    assert_false(llmux__key_chars_ok("", 0));
    assert_false(llmux__key_chars_ok(NULL, 3));
    assert_false(llmux__key_chars_ok("a b", 3));
    assert_false(llmux__key_chars_ok("a\tb", 3));
    assert_false(llmux__key_chars_ok("ab\x7f", 3));
    assert_false(llmux__key_chars_ok("ab\xc3\xa9", 4));
    assert_false(llmux__key_chars_ok("ab\0c", 4));

    assert_true(llmux__api_version_check("2024-10-21"));
    assert_true(llmux__api_version_check("2025-01-01-preview"));
    assert_true(llmux__api_version_check("v1"));
    assert_false(llmux__api_version_check(""));
    assert_false(llmux__api_version_check(NULL));
    assert_false(llmux__api_version_check("2024&x=y"));
    assert_false(llmux__api_version_check("2024 10"));
    char v[66];
    memset(v, '1', 65);
    v[65] = '\0';
    assert_false(llmux__api_version_check(v));
    v[64] = '\0';
    assert_true(llmux__api_version_check(v));
}

static void test_process_getenv(void **state)
{
    (void)state;
    assert_int_equal(setenv("LLMUX_TEST_KEYS_PROBE", "value", 1), 0);
    assert_string_equal(llmux__getenv_process("LLMUX_TEST_KEYS_PROBE", NULL), "value");
    unsetenv("LLMUX_TEST_KEYS_PROBE");
    assert_null(llmux__getenv_process("LLMUX_TEST_KEYS_PROBE", NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_keys),
        cmocka_unit_test(test_env_keys_and_urls),
        cmocka_unit_test(test_gemini_before_google),
        cmocka_unit_test(test_keys_dir_wins_over_env),
        cmocka_unit_test(test_errors_name_the_source_never_the_key),
        cmocka_unit_test(test_unopenable_file),
        cmocka_unit_test(test_exactly_max_size_file_is_accepted),
        cmocka_unit_test(test_base_url_check_table),
        cmocka_unit_test(test_key_and_version_checks),
        cmocka_unit_test(test_process_getenv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
