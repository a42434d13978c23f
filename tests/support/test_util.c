/* test_util.c — see test_util.h. */
#include "test_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>

char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
        if (cap - n - 1 == 0) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf)
        return NULL;
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static char *read_under(const char *dir, const char *rel, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    char *s = tu_read_file(path, len);
    if (!s)
        fail_msg("cannot read %s", path);
    return s;
}

char *tu_read_shared(const char *rel, size_t *len)
{
    const char *dir = getenv("LLMUX_SHARED_DIR");
    return read_under(dir && *dir ? dir : LLMUX_SHARED_DIR, rel, len);
}

char *tu_read_source(const char *rel, size_t *len)
{
    return read_under(LLMUX_SOURCE_DIR, rel, len);
}
