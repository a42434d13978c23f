/* test_client_install.c — what a user does with llmux: `cmake --install` into a prefix,
 * then build a program against it with pkg-config (shared, and static with
 * `pkg-config --static`), and run it against the mock. Proves the installed header, the
 * libraries, the exported symbols and llmux.pc (relocatable, with its private
 * dependencies) are complete. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"
#include "mock/mock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef LLMUX_BUILD_DIR
#error "set by cmake/examples.cmake"
#endif
#ifndef LLMUX_EXTRA_CFLAGS
#define LLMUX_EXTRA_CFLAGS ""
#endif

static char prefix[256];

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Runs a shell command; returns its exit status. */
static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* The first line a command prints, into buf. */
static const char *sh_out(char *buf, size_t n, const char *cmd)
{
    buf[0] = '\0';
    FILE *p = popen(cmd, "r");
    if (!p)
        return buf;
    if (!fgets(buf, (int)n, p))
        buf[0] = '\0';
    pclose(p);
    buf[strcspn(buf, "\n")] = '\0';
    return buf;
}

static bool exists(const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", prefix, rel);
    struct stat st;
    return stat(p, &st) == 0;
}

static int setup(void **state)
{
    (void)state;
    snprintf(prefix, sizeof prefix, "/tmp/llmux-install-XXXXXX");
    if (!mkdtemp(prefix))
        return -1;
    return sh("'%s' --install '%s' --prefix '%s' > '%s/install.log' 2>&1", LLMUX_CMAKE_COMMAND,
              LLMUX_BUILD_DIR, prefix, prefix) == 0
               ? 0
               : -1;
}

static int teardown(void **state)
{
    (void)state;
    if (prefix[0] && strncmp(prefix, "/tmp/llmux-install-", 19) == 0)
        sh("rm -rf '%s'", prefix);
    return 0;
}

static void test_installed_files(void **state)
{
    (void)state;
    assert_true(exists("bin/llmux"));
    assert_true(exists(LLMUX_INSTALL_INCLUDEDIR "/llmux.h"));
    assert_true(exists(LLMUX_INSTALL_LIBDIR "/libllmux.so"));
    assert_true(exists(LLMUX_INSTALL_LIBDIR "/libllmux.a"));
    assert_true(exists(LLMUX_INSTALL_LIBDIR "/pkgconfig/llmux.pc"));
    char buf[1024], cmd[1024];
    snprintf(cmd, sizeof cmd, "PKG_CONFIG_PATH='%s/%s/pkgconfig' pkg-config --modversion llmux",
             prefix, LLMUX_INSTALL_LIBDIR);
    assert_string_equal(sh_out(buf, sizeof buf, cmd), LLMUX_VERSION);
    /* relocatable: the flags point into this prefix, wherever it is */
    snprintf(cmd, sizeof cmd, "PKG_CONFIG_PATH='%s/%s/pkgconfig' pkg-config --cflags llmux", prefix,
             LLMUX_INSTALL_LIBDIR);
    sh_out(buf, sizeof buf, cmd);
    if (!strstr(buf, prefix))
        fail_msg("pkg-config --cflags does not point into %s: %s", prefix, buf);
    /* the private dependencies are listed for static links */
    snprintf(cmd, sizeof cmd, "PKG_CONFIG_PATH='%s/%s/pkgconfig' pkg-config --static --libs llmux",
             prefix, LLMUX_INSTALL_LIBDIR);
    sh_out(buf, sizeof buf, cmd);
    assert_non_null(strstr(buf, "-lhttp_parser"));
    assert_non_null(strstr(buf, "-lcurl"));
    assert_non_null(strstr(buf, "-lcjson"));
    assert_non_null(strstr(buf, "-levent_pthreads"));
}

/* Runs `exe` against a fresh in-process mock; returns its exit status, output in out. */
static int run_against_mock(const char *exe, const char *ld_path, char *out, size_t n)
{
    llmux__mock_options mo = {.listen = "127.0.0.1:0"};
    llmux__mock *m;
    llmux__error e;
    assert_int_equal(llmux__mock_start(&mo, &m, &e), LLMUX_OK);
    int port = llmux__mock_port(m);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && env -u LLMUX_PROXY_URL -u LLMUX_KEYS_DIR %s%s "
             "LLMUX_ANTHROPIC_BASE_URL=http://127.0.0.1:%d "
             "LLMUX_OPENAI_BASE_URL=http://127.0.0.1:%d/v1 ANTHROPIC_API_KEY=sk-ant-installed "
             "OPENAI_API_KEY=sk-openai-installed '%s' 0.01 > '%s/run.out' 2>&1",
             prefix, ld_path ? "LD_LIBRARY_PATH=" : "", ld_path ? ld_path : "", port, port, exe,
             prefix);
    int st = sh("%s", cmd);
    llmux__mock_stop(m);
    char path[512];
    snprintf(path, sizeof path, "%s/run.out", prefix);
    FILE *f = fopen(path, "r");
    size_t len = f ? fread(out, 1, n - 1, f) : 0;
    out[len] = '\0';
    if (f)
        fclose(f);
    return st;
}

static void test_build_shared_with_pkg_config(void **state)
{
    (void)state;
    char ld[512], out[8192];
    snprintf(ld, sizeof ld, "%s/%s", prefix, LLMUX_INSTALL_LIBDIR);
    int st = sh("PKG_CONFIG_PATH='%s/pkgconfig' '%s' %s -o '%s/ex_shared' "
                "'%s/examples/configure_and_complete.c' $(PKG_CONFIG_PATH='%s/pkgconfig' "
                "pkg-config --cflags --libs llmux) > '%s/cc.log' 2>&1",
                ld, LLMUX_C_COMPILER, LLMUX_EXTRA_CFLAGS, prefix, LLMUX_SOURCE_DIR, ld, prefix);
    if (st != 0)
        fail_msg("building against the installed library failed (see %s/cc.log)", prefix);
    char exe[512];
    snprintf(exe, sizeof exe, "%s/ex_shared", prefix);
    st = run_against_mock(exe, ld, out, sizeof out);
    if (st != 0)
        fail_msg("the example exited %d:\n%s", st, out);
    assert_non_null(
        strstr(out, "served by anthropic / claude-haiku-4-5: Hello from the llmux mock."));
}

static void test_build_static_with_pkg_config(void **state)
{
    (void)state;
    char libdir[512], out[8192];
    snprintf(libdir, sizeof libdir, "%s/%s", prefix, LLMUX_INSTALL_LIBDIR);
    /* libllmux.a itself, then every library `pkg-config --static` lists that the system
     * has (libcurl's own private dependencies come without static archives on Debian,
     * so they link shared): what libllmux.a needs must be among them */
    int st = sh("cd '%s' && export PKG_CONFIG_PATH='%s/pkgconfig'; LIBS=''; "
                "for l in $(pkg-config --static --libs-only-l llmux); do n=${l#-l}; "
                "[ \"$n\" = llmux ] && continue; "
                "[ \"$('%s' -print-file-name=lib$n.so)\" != \"lib$n.so\" ] && LIBS=\"$LIBS $l\"; "
                "done; '%s' %s -o ex_static '%s/examples/retries.c' $(pkg-config --cflags llmux) "
                "'%s/libllmux.a' $LIBS $(pkg-config --static --libs-only-other llmux) "
                "> cc-static.log 2>&1",
                prefix, libdir, LLMUX_C_COMPILER, LLMUX_C_COMPILER, LLMUX_EXTRA_CFLAGS,
                LLMUX_SOURCE_DIR, libdir);
    if (st != 0)
        fail_msg("the static build failed (see %s/cc-static.log)", prefix);
    char exe[512];
    snprintf(exe, sizeof exe, "%s/ex_static", prefix);
    /* no LD_LIBRARY_PATH: nothing of llmux is loaded at run time */
    st = run_against_mock(exe, NULL, out, sizeof out);
    if (st != 0)
        fail_msg("the static example exited %d:\n%s", st, out);
    assert_non_null(strstr(out, "typed: ok after 1 attempt: 200"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_installed_files),
        cmocka_unit_test(test_build_shared_with_pkg_config),
        cmocka_unit_test(test_build_static_with_pkg_config),
    };
    return cmocka_run_group_tests_name("install", tests, setup, teardown);
}
