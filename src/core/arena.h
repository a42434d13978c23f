/*
 * arena.h — a bump allocator for per-request data (pure).
 *
 * Allocations live until llmux__arena_free(); there is no per-object free. Blocks
 * grow geometrically, so a request costs a handful of malloc calls however many
 * strings and arrays it holds. Not thread-safe.
 */
#ifndef LLMUX_CORE_ARENA_H
#define LLMUX_CORE_ARENA_H

#include <stddef.h>

typedef struct llmux__arena_block llmux__arena_block;

typedef struct llmux__arena {
    llmux__arena_block *head; /* current block, linked to older ones */
} llmux__arena;

/* Initialises an empty arena (no allocation yet). */
void llmux__arena_init(llmux__arena *a);

/* Returns `size` bytes aligned for any type, or NULL on ENOMEM. Zeroed. */
void *llmux__arena_alloc(llmux__arena *a, size_t size);

/* Copies `len` bytes of `s` and a NUL. NULL on ENOMEM. */
char *llmux__arena_strndup(llmux__arena *a, const char *s, size_t len);

/* Copies a NUL-terminated string (NULL gives NULL). */
char *llmux__arena_strdup(llmux__arena *a, const char *s);

/* Frees every block; the arena is empty and reusable afterwards. */
void llmux__arena_free(llmux__arena *a);

#endif
