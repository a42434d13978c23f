/* cmd_mock.c — `llmux mock`: runs the mock provider (src/mock/mock.h) until SIGTERM/SIGINT.
 *
 * The first stdout line is `listening HOST:PORT` with the real port (so `--listen
 * 127.0.0.1:0` can be used by tests and scripts), flushed at once. */
#include "cli/commands.h"
#include "mock/mock.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void mock_usage(FILE *out)
{
    fprintf(out,
            "usage: llmux mock [--listen HOST:PORT] [--tls CERT KEY] [--echo]\n"
            "                  [--key PROVIDER=KEY]... [--log-limit N] [--verbose]\n"
            "\n"
            "A fake OpenAI / Azure OpenAI / Anthropic / Gemini upstream with scripted faults.\n"
            "  --listen HOST:PORT  where to listen (default 127.0.0.1:0 = a free port)\n"
            "  --tls CERT KEY      serve HTTPS with these PEM files\n"
            "  --echo              answer with the last user message\n"
            "  --key P=KEY         accept only KEY for provider P (openai, azure, anthropic,\n"
            "                      google); without it any non-empty key is accepted\n"
            "  --log-limit N       request-log entries kept (default 10000)\n"
            "  --verbose           one line per request on stderr\n"
            "Prints 'listening HOST:PORT' as the first stdout line. Stops on SIGTERM/SIGINT.\n"
            "Endpoints and script steps: docs/mock.md.\n");
}

int llmux__cmd_mock(int argc, char **argv)
{
    llmux__mock_options opts = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            mock_usage(stdout);
            return 0;
        } else if (strcmp(a, "--listen") == 0 && i + 1 < argc) {
            opts.listen = argv[++i];
        } else if (strcmp(a, "--tls") == 0 && i + 2 < argc) {
            opts.tls_cert = argv[++i];
            opts.tls_key = argv[++i];
        } else if (strcmp(a, "--echo") == 0) {
            opts.echo = true;
        } else if (strcmp(a, "--verbose") == 0) {
            opts.verbose = true;
        } else if (strcmp(a, "--log-limit") == 0 && i + 1 < argc) {
            char *end;
            long n = strtol(argv[++i], &end, 10);
            if (*end || n < 1) {
                fprintf(stderr, "llmux mock: --log-limit wants a positive number\n");
                return 2;
            }
            opts.log_limit = (size_t)n;
        } else if (strcmp(a, "--key") == 0 && i + 1 < argc) {
            const char *spec = argv[++i];
            const char *eq = strchr(spec, '=');
            char name[32];
            size_t n = eq ? (size_t)(eq - spec) : 0;
            if (!eq || n == 0 || n >= sizeof name || !eq[1]) {
                fprintf(stderr, "llmux mock: --key wants PROVIDER=KEY\n");
                return 2;
            }
            memcpy(name, spec, n);
            name[n] = '\0';
            int p = llmux__mock_provider_from_name(name);
            if (p < 0) {
                fprintf(stderr,
                        "llmux mock: unknown provider '%s' in --key "
                        "(openai, azure, anthropic, google)\n",
                        name);
                return 2;
            }
            opts.keys[p] = eq + 1;
        } else {
            fprintf(stderr, "llmux mock: unknown or incomplete option '%s'\n\n", a);
            mock_usage(stderr);
            return 2;
        }
    }

    /* SIGINT/SIGTERM are taken with sigwait on this thread; the mock's thread inherits the
     * blocked mask, so they never interrupt it. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    llmux__mock *mock = NULL;
    llmux__error err;
    llmux__error_clear(&err);
    if (llmux__mock_start(&opts, &mock, &err) != LLMUX_OK) {
        fprintf(stderr, "llmux mock: %s\n", err.message);
        return 1;
    }
    const char *listen = opts.listen ? opts.listen : "127.0.0.1:0";
    const char *colon = strrchr(listen, ':');
    int host_len = colon ? (int)(colon - listen) : (int)strlen(listen);
    printf("listening %.*s:%d\n", host_len, listen, llmux__mock_port(mock));
    fflush(stdout);

    int sig = 0;
    while (sigwait(&stop, &sig) != 0)
        ;
    llmux__mock_stop(mock);
    if (opts.verbose)
        fprintf(stderr, "llmux mock: stopped by signal %d\n", sig);
    return 0;
}
