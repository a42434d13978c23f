/* test_provider_translate.c — `llmux translate`, run as users run it: the upstream request
 * for each provider, the key never printed, fallbacks resolved, errors with exit 1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/response.h"

static const char REQUEST[] =
    "{\"provider\":\"openai\",\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"system\","
    "\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hi\"}],\"stop\":\"END\","
    "\"retry\":{\"max_retries\":1},\"fallbacks\":[{\"provider\":\"google\",\"model\":"
    "\"gemini-2.5-flash\",\"temperature\":0.5}]}";

/* Runs `llmux translate ARGS` with `input` on stdin; returns the exit code, *out gets
 * stdout and stderr. */
static int run(const char *args, const char *input, char **out)
{
    char in_path[] = "/tmp/llmux-translate-XXXXXX";
    int fd = mkstemp(in_path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, input, strlen(input)), (ssize_t)strlen(input));
    close(fd);
    const char *bin = getenv("LLMUX_BIN");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' translate %s < '%s' 2>&1", bin && *bin ? bin : LLMUX_BIN, args,
             in_path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    llmux__buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, p)) > 0)
        llmux__buf_append(&b, chunk, n);
    llmux__buf_puts(&b, "");
    int status = pclose(p);
    unlink(in_path);
    *out = b.p;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void expect(const char *out, const char *needle)
{
    if (!strstr(out, needle))
        fail_msg("'%s' not in output:\n%s", needle, out);
}

static void test_providers(void **state)
{
    (void)state;
    static const struct {
        const char *args;
        const char *lines[4];
    } cases[] = {
        {"--key sk-secret-123",
         {"POST https://api.openai.com/v1/chat/completions\n", "Authorization: Bearer <redacted>\n",
          "\"stop\": [\n    \"END\"\n  ]", NULL}},
        {"--provider anthropic --key sk-secret-123",
         {"POST https://api.anthropic.com/v1/messages\n", "x-api-key: <redacted>\n",
          "\"max_tokens\": 4096", "\"system\": \"Be brief.\""}},
        {"--provider azure --key sk-secret-123 --base-url https://r.openai.azure.com "
         "--api-version 2025-01-01-preview --stream",
         {"POST https://r.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version="
          "2025-01-01-preview\n",
          "api-key: <redacted>\n", "\"include_usage\": true", NULL}},
        {"--fallback 1 --key sk-secret-123 -",
         {"POST https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:"
          "generateContent\n",
          "x-goog-api-key: <redacted>\n", "\"temperature\": 0.5", "\"stopSequences\""}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out;
        int rc = run(cases[i].args, REQUEST, &out);
        if (rc != 0)
            fail_msg("exit %d: %s", rc, out);
        for (int k = 0; k < 4 && cases[i].lines[k]; k++)
            expect(out, cases[i].lines[k]);
        assert_null(strstr(out, "sk-secret-123"));
        assert_null(strstr(out, "\"retry\""));
        assert_null(strstr(out, "fallbacks"));
        free(out);
    }
}

static void test_failures(void **state)
{
    (void)state;
    static const struct {
        const char *args;
        const char *input;
        int rc;
        const char *message;
    } cases[] = {
        {"", "{\"provider\":\"openai\",\"model\":\"m\",\"messages\":[],\"api_key\":\"k\"}", 1,
         "invalid_request: api_key"},
        {"", "not json", 1, "invalid_request"},
        {"--provider google",
         "{\"provider\":\"openai\",\"model\":\"m\",\"messages\":[{\"role\":\"tool\","
         "\"tool_call_id\":\"x\",\"content\":\"r\"}]}",
         1, "google needs the function name"},
        {"--fallback 3", REQUEST, 1, "the request has 1 fallback(s)"},
        {"--provider nope", REQUEST, 2, "unknown provider 'nope'"},
        {"--bogus", REQUEST, 2, "unknown option '--bogus'"},
        {"--key", REQUEST, 2, "--key needs a value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out;
        int rc = run(cases[i].args, cases[i].input, &out);
        if (rc != cases[i].rc)
            fail_msg("%s: exit %d, expected %d: %s", cases[i].args, rc, cases[i].rc, out);
        expect(out, cases[i].message);
        free(out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_providers),
        cmocka_unit_test(test_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
