/* util.h — small helpers shared by the CLI commands. */
#ifndef LLMUX_CLI_UTIL_H
#define LLMUX_CLI_UTIL_H

#include <stddef.h>

/* Reads a whole file, or stdin when path is NULL or "-". NUL-terminated; *len gets
 * the size. Returns NULL when it cannot be read. Caller frees with free(). */
char *llmux__cli_read_input(const char *path, size_t *len);

#endif
