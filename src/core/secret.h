/*
 * secret.h — memory for secrets (API keys): copies that are wiped before they are
 * released, kept out of core dumps and, when the system allows it, out of swap.
 *
 * Storage. Secrets up to 2031 bytes live in a process-wide pool of 64 KiB chunks
 * obtained with mmap, marked MADV_DONTDUMP (never in a core dump) and mlock'ed
 * best-effort (the first mlock that fails — RLIMIT_MEMLOCK, EPERM — stops further
 * attempts; nothing else changes). The chunk is carved into fixed size classes (64 …
 * 2048 bytes, a 16-byte header included) with one free list and one mutex per class.
 * Larger secrets get their own page-rounded mapping, also MADV_DONTDUMP. Pool chunks
 * are never returned to the system: the pool stays at its peak size (a proxy with
 * 100000 sessions of 4 customer keys of ~100 bytes holds about 50 MiB). Under
 * AddressSanitizer free slots and the tail of each live slot are poisoned, so a read
 * past a secret or after its free is still reported.
 *
 * Wiping. llmux__secret_free() zeroes the whole secret (explicit_bzero) before the
 * slot is reused or unmapped; a free slot holds nothing but zeroes and a list link.
 *
 * Pure memory: no I/O besides the mappings. Every function here is thread-safe.
 * Secrets are released only with llmux__secret_free(), never with free().
 */
#ifndef LLMUX_CORE_SECRET_H
#define LLMUX_CORE_SECRET_H

#include <stdbool.h>
#include <stddef.h>

/* The largest secret llmux__secret_dup/alloc accept, in bytes (without the NUL). */
#define LLMUX__SECRET_MAX ((size_t)1 << 20)

/* A NUL-terminated copy of the n bytes at s (s may be NULL when n is 0; the bytes may
 * contain NULs, the copy is still terminated after n bytes). Returns NULL when out of
 * memory or when n > LLMUX__SECRET_MAX. Caller owns the result; release it with
 * llmux__secret_free(). */
char *llmux__secret_dup(const char *s, size_t n);

/* llmux__secret_dup(s, strlen(s)); NULL when s is NULL or out of memory. */
char *llmux__secret_strdup(const char *s);

/* A zeroed secret buffer of n + 1 bytes (n usable, then a NUL), for callers that pack
 * several strings into one secret. llmux__secret_len() reports n. NULL when out of
 * memory or n > LLMUX__SECRET_MAX. Caller owns; release with llmux__secret_free(). */
char *llmux__secret_alloc(size_t n);

/* The n the secret was created with (not strlen). 0 for NULL. */
size_t llmux__secret_len(const char *p);

/* Zeroes the whole secret, then releases it. NULL is fine. p must come from
 * llmux__secret_dup/strdup/alloc and not have been freed (a corrupted or foreign
 * pointer aborts the process when detected). */
void llmux__secret_free(char *p);

/* True when the NUL-terminated strings a and b are equal. The time taken depends only
 * on the two lengths, never on the bytes: use it to compare a presented token with a
 * configured one. NULL equals only NULL. */
bool llmux__secret_eq(const char *a, const char *b);

/* explicit_bzero: zeroes n bytes at p in a way the compiler cannot drop. */
void llmux__secret_wipe(void *p, size_t n);

/* How many secrets are currently allocated (process-wide). Tests use it to prove every
 * secret they made was released: the pool's memory is invisible to leak checkers. */
size_t llmux__secret_live_count(void);

#endif
