/* test_util.h — small helpers shared by the unit and integration tests. */
#ifndef LLMUX_TEST_UTIL_H
#define LLMUX_TEST_UTIL_H

#include <stddef.h>

/* Reads a whole file; NUL-terminated; *len (may be NULL) gets the size without the NUL.
 * Returns NULL when it cannot be read. Caller frees with free(). */
char *tu_read_file(const char *path, size_t *len);

/* Reads ../shared/<rel> (e.g. "fixtures/openai/chat_completion_text.json"), failing the
 * test (cmocka fail_msg) when it is missing. Caller frees with free(). */
char *tu_read_shared(const char *rel, size_t *len);

/* Reads <source dir>/<rel>, failing the test when it is missing. Caller frees. */
char *tu_read_source(const char *rel, size_t *len);

#endif
