/* wipe.c — see wipe.h. */
#include "core/wipe.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

void llmux__wipe_free(void *p)
{
    if (!p)
        return;
    explicit_bzero(p, malloc_usable_size(p));
    free(p);
}

void *llmux__wipe_realloc(void *p, size_t n)
{
    if (!p)
        return malloc(n);
    if (n == 0) {
        llmux__wipe_free(p);
        return NULL;
    }
    size_t have = malloc_usable_size(p);
    if (n <= have)
        return p; /* fits: keep the block (a shrink would leave its tail behind) */
    void *q = malloc(n);
    if (!q)
        return NULL;
    memcpy(q, p, have);
    llmux__wipe_free(p);
    return q;
}
