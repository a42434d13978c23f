/* arena.c — see arena.h. */
#include "core/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct llmux__arena_block {
    llmux__arena_block *prev;
    size_t used;
    size_t cap;
    alignas(max_align_t) unsigned char data[];
};

#define ARENA_FIRST_BLOCK 2048

void llmux__arena_init(llmux__arena *a)
{
    a->head = NULL;
}

void *llmux__arena_alloc(llmux__arena *a, size_t size)
{
    const size_t align = alignof(max_align_t);
    size = (size + align - 1) & ~(align - 1);
    if (size == 0)
        size = align;
    llmux__arena_block *b = a->head;
    if (!b || b->cap - b->used < size) {
        size_t cap = b ? b->cap * 2 : ARENA_FIRST_BLOCK;
        while (cap < size)
            cap *= 2;
        if (cap > SIZE_MAX - sizeof *b)
            return NULL;
        llmux__arena_block *nb = malloc(sizeof *nb + cap);
        if (!nb)
            return NULL;
        nb->prev = b;
        nb->used = 0;
        nb->cap = cap;
        a->head = b = nb;
    }
    void *p = b->data + b->used;
    b->used += size;
    memset(p, 0, size);
    return p;
}

char *llmux__arena_strndup(llmux__arena *a, const char *s, size_t len)
{
    if (len == SIZE_MAX)
        return NULL;
    char *d = llmux__arena_alloc(a, len + 1);
    if (!d)
        return NULL;
    if (len)
        memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *llmux__arena_strdup(llmux__arena *a, const char *s)
{
    return s ? llmux__arena_strndup(a, s, strlen(s)) : NULL;
}

void llmux__arena_free(llmux__arena *a)
{
    llmux__arena_block *b = a->head;
    while (b) {
        llmux__arena_block *prev = b->prev;
        free(b);
        b = prev;
    }
    a->head = NULL;
}
