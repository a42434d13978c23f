/* test_client_cli.c — `llmux demo` and `llmux chat`, the real binary.
 *
 * demo: exit 0, every step of the story narrated, fast, and with no key and no way out: the
 * environment holds bogus keys and a LLMUX_KEYS_DIR that does not exist (the demo must read
 * neither) and routes every non-loopback connection to an unreachable proxy (so one would
 * fail the run). chat: against `llmux mock`, embedded and through `llmux serve` — the answer
 * on stdout, who answered and the attempts on stderr, exit codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static tu_proc mock, proxy;
static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/llmux-cli-XXXXXX");
    if (!mkdtemp(dir) || tu_mock_start(&mock, NULL) != 0)
        return -1;
    char e1[128], e2[128];
    snprintf(e1, sizeof e1, "LLMUX_ANTHROPIC_BASE_URL=http://127.0.0.1:%d", mock.port);
    snprintf(e2, sizeof e2, "LLMUX_OPENAI_BASE_URL=http://127.0.0.1:%d/v1", mock.port);
    const char *env[] = {e1,
                         e2,
                         "ANTHROPIC_API_KEY=sk-ant-proxy",
                         "OPENAI_API_KEY=sk-openai-proxy",
                         "LLMUX_KEYS_DIR=",
                         "LLMUX_TOKENS=tok-cli",
                         NULL};
    const char *argv[] = {tu_llmux_bin(), "serve", "--listen", "127.0.0.1:0", "--workers", "1",
                          "--log-level",  "error", NULL};
    return tu_proc_start(&proxy, argv, env, 5000) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    int a = tu_proc_stop(&proxy, 5000);
    tu_proc_free(&proxy);
    tu_proc_free(&mock);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 && a == 0 ? 0 : -1;
}

typedef struct cli_run {
    int status;
    char out[8192];
    char err[8192];
    double ms;
} cli_run;

static void slurp(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "r");
    size_t len = f ? fread(buf, 1, n - 1, f) : 0;
    buf[len] = '\0';
    if (f)
        fclose(f);
}

/* Runs `env -i PATH=... <env> llmux <args>` (a clean environment: only what the test says). */
static void run_cli(const char *env, const char *args, cli_run *r)
{
    char cmd[4096], out[128], err[128];
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(err, sizeof err, "%s/err", dir);
    snprintf(cmd, sizeof cmd, "env -i PATH=/usr/bin:/bin %s '%s' %s > '%s' 2> '%s' < /dev/null",
             env, tu_llmux_bin(), args, out, err);
    double t0 = tu_now_ms();
    int st = system(cmd);
    r->ms = tu_now_ms() - t0;
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    slurp(out, r->out, sizeof r->out);
    slurp(err, r->err, sizeof r->err);
}

static void expect(const char *where, const char *text, const char *needle)
{
    if (!strstr(text, needle))
        fail_msg("expected \"%s\" in %s:\n%s", needle, where, text);
}

static void test_demo_offline(void **state)
{
    (void)state;
    cli_run r;
    run_cli("OPENAI_API_KEY=sk-real-looking ANTHROPIC_API_KEY=sk-ant-real-looking "
            "LLMUX_KEYS_DIR=/nonexistent/keys LLMUX_OPENAI_BASE_URL=https://api.openai.com/v1 "
            "ALL_PROXY=http://192.0.2.1:9 HTTPS_PROXY=http://192.0.2.1:9 "
            "http_proxy=http://192.0.2.1:9",
            "demo", &r);
    if (r.status != 0)
        fail_msg("demo exited %d\nstdout:\n%s\nstderr:\n%s", r.status, r.out, r.err);
    expect("stdout", r.out,
           "1. configure_provider(\"anthropic\", managed) ... ok, warm-up started");
    expect("stdout", r.out, "refused: provider_not_configured, 0 requests sent");
    expect("stdout", r.out,
           "2. completion → anthropic/claude-haiku-4-5: \"Hello from the llmux mock.");
    expect("stdout", r.out,
           "3. anthropic answers 503 once → retried after 0.05 s → ok (attempts: 503, 200)");
    expect("stdout", r.out, "4. anthropic fails 3× → fallback to openai → ok: openai/gpt-4.1-mini");
    expect("stdout", r.out, "   [2] Dr. Ada Byte measured 3.14 meters of cable today.\n");
    expect("stdout", r.out,
           "6. stream drops after 2 chunks (\"Hello from\") → error raised inside the "
           "iteration: stream_interrupted");
    assert_null(strstr(r.out, "!!"));
    assert_true(r.ms < 5000);
    /* nothing secret from the environment shows up */
    assert_null(strstr(r.out, "sk-real-looking"));
    assert_null(strstr(r.err, "sk-real-looking"));
}

static void test_chat_embedded(void **state)
{
    (void)state;
    char env[512];
    snprintf(env, sizeof env,
             "LLMUX_ANTHROPIC_BASE_URL=http://127.0.0.1:%d "
             "LLMUX_OPENAI_BASE_URL=http://127.0.0.1:%d/v1 ANTHROPIC_API_KEY=sk-ant-x "
             "OPENAI_API_KEY=sk-openai-x",
             mock.port, mock.port);
    cli_run r;
    run_cli(env, "chat --provider anthropic --model claude-haiku-4-5 --sentences hi", &r);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "Hello from the llmux mock.\n"
                               "Dr. Ada Byte measured 3.14 meters of cable today.\n"
                               "That is **good** news!\n"
                               "Is there anything else I can check for you?\n");
    expect("stderr", r.err, "answered by anthropic/claude-haiku-4-5");
    expect("stderr", r.err, "attempts: anthropic/claude-haiku-4-5 #1 200 ok");

    /* retries exhausted, then the fallback answers; the attempts say so */
    assert_int_equal(tu_mock_script(mock.port,
                                    "[{\"provider\":\"anthropic\",\"status\":503,\"count\":2}]",
                                    NULL, 0),
                     200);
    run_cli(env,
            "chat --model anthropic/claude-haiku-4-5 --fallback openai:gpt-4.1-mini --retries 1 "
            "--retry-delay 0.01 --clean hi",
            &r);
    assert_int_equal(r.status, 0);
    expect("stdout", r.out, "That is good news!\n");
    expect("stderr", r.err, "answered by openai/gpt-4.1-mini");
    expect("stderr", r.err, "anthropic/claude-haiku-4-5 #2 503 upstream_error");
    expect("stderr", r.err, "openai/gpt-4.1-mini #1 200 ok");

    /* a provider with no managed key: exit 1, the variable named */
    run_cli(env, "chat --model google/gemini-2.5-flash hi", &r);
    assert_int_equal(r.status, 1);
    expect("stderr", r.err, "managed_key_unavailable");
    expect("stderr", r.err, "GEMINI_API_KEY");

    /* usage errors */
    run_cli(env, "chat --model anthropic/claude-haiku-4-5", &r);
    assert_int_equal(r.status, 2);
    run_cli(env, "chat --provider nope --model m hi", &r);
    assert_int_equal(r.status, 2);
    run_cli(env, "chat --help", &r);
    assert_int_equal(r.status, 0);
    expect("stdout", r.out, "usage: llmux chat");
}

static void test_chat_through_proxy(void **state)
{
    (void)state;
    char env[256];
    snprintf(env, sizeof env, "LLMUX_PROXY_URL=http://127.0.0.1:%d LLMUX_PROXY_TOKEN=tok-cli",
             proxy.port);
    cli_run r;
    run_cli(env, "chat --model anthropic/claude-haiku-4-5 --no-stream hi", &r);
    if (r.status != 0)
        fail_msg("chat exited %d: %s", r.status, r.err);
    expect("stdout", r.out, "Hello from the llmux mock.");
    expect("stderr", r.err, "answered by anthropic/claude-haiku-4-5 (finish: stop)");
    expect("stderr", r.err, "attempts: anthropic/claude-haiku-4-5 #1 200 ok");

    /* a mid-stream drop through the proxy: the text so far, then the error, exit 1 */
    assert_int_equal(tu_mock_script(mock.port,
                                    "[{\"provider\":\"anthropic\",\"drop_after_chunks\":2}]", NULL,
                                    0),
                     200);
    run_cli(env, "chat --model anthropic/claude-haiku-4-5 hi", &r);
    assert_int_equal(r.status, 1);
    assert_string_equal(r.out, "Hello from\n");
    expect("stderr", r.err, "stream_interrupted");

    /* a wrong token */
    snprintf(env, sizeof env, "LLMUX_PROXY_URL=http://127.0.0.1:%d LLMUX_PROXY_TOKEN=tok-badbadbad",
             proxy.port);
    run_cli(env, "chat --model anthropic/claude-haiku-4-5 hi", &r);
    assert_int_equal(r.status, 1);
    expect("stderr", r.err, "unauthorized");
    assert_null(strstr(r.err, "tok-badbadbad"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_demo_offline),
        cmocka_unit_test(test_chat_embedded),
        cmocka_unit_test(test_chat_through_proxy),
    };
    return cmocka_run_group_tests_name("cli", tests, setup, teardown);
}
