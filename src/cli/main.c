/* main.c — the llmux binary: dispatches to one subcommand. */
#include "cli/commands.h"
#include "llmux.h"

#include <stdio.h>
#include <string.h>

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

/* One row per subcommand, in the order `llmux help` lists them. */
static const llmux__command commands[] = {
    {"demo", "the seeds' story offline: retries, fallback, sentences (no keys)", llmux__cmd_demo},
    {"chat", "one completion streamed to the terminal (embedded or --proxy)", llmux__cmd_chat},
    {"serve", "run the proxy (sessions, keys, retries, fallbacks, streaming)", llmux__cmd_serve},
    {"plan", "print the attempt plan a request will follow (validates it)", llmux__cmd_plan},
    {"mock", "run the mock provider (fake upstreams with scripted faults)", llmux__cmd_mock},
    {"sentences", "show how text is chunked (and cleaned) for text-to-speech",
     llmux__cmd_sentences},
    {"translate", "print the upstream request for a provider (key redacted)", llmux__cmd_translate},
    {"version", "print the version", cmd_version},
    {"help", "list the subcommands", cmd_help},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: llmux <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'llmux <command> --help' describes one command.\n");
}

static int cmd_help(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    usage(stdout);
    return 0;
}

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("llmux %s\n", llmux_version());
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
        return cmd_help(0, NULL);
    if (strcmp(name, "--version") == 0)
        return cmd_version(0, NULL);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "llmux: unknown command '%s'\n\n", name);
    usage(stderr);
    return 2;
}
