/*
 * wipe.h — allocator functions that zero a block before giving it back, for the
 * libraries that hold bytes carrying keys in their own buffers: libevent (the raw
 * request of a configure_provider call, with the customer's key in its body) and
 * libcurl (the upstream request headers, with every key). Installed once at start-up
 * (event_set_mem_functions, curl_global_init_mem), they make "keys are zeroed on free"
 * hold for those copies too, not only for llmux's own (core/secret.h).
 *
 * The size wiped is malloc_usable_size() of the block: the whole block, including
 * bytes past what was asked for. realloc never leaves a moved-from block behind
 * unwiped (it allocates, copies, wipes, frees). Thread-safe like malloc itself.
 */
#ifndef LLMUX_CORE_WIPE_H
#define LLMUX_CORE_WIPE_H

#include <stddef.h>

/* free(), after zeroing the whole block. NULL is fine. */
void llmux__wipe_free(void *p);

/* realloc() whose old block, when it moves or is released (n == 0), is zeroed first.
 * Growing in place is not possible through malloc's API, so a larger n always moves. */
void *llmux__wipe_realloc(void *p, size_t n);

#endif
