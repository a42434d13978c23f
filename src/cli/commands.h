/* commands.h — the subcommands of the llmux binary. Each lives in its own
 * src/cli/cmd_<name>.c and is listed once in the table in main.c. A command gets
 * argv with argv[0] = its own name and returns the process exit code
 * (0 ok, 1 failure of the work, 2 usage error). */
#ifndef LLMUX_CLI_COMMANDS_H
#define LLMUX_CLI_COMMANDS_H

typedef int (*llmux__cmd_fn)(int argc, char **argv);

typedef struct llmux__command {
    const char *name;
    const char *summary;
    llmux__cmd_fn run;
} llmux__command;

int llmux__cmd_plan(int argc, char **argv);
int llmux__cmd_serve(int argc, char **argv);
int llmux__cmd_mock(int argc, char **argv);
int llmux__cmd_sentences(int argc, char **argv);
int llmux__cmd_translate(int argc, char **argv);
int llmux__cmd_chat(int argc, char **argv);
int llmux__cmd_demo(int argc, char **argv);

#endif
