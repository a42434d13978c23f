/*
 * tokens.h — the proxy's accepted bearer tokens (LLMUX_TOKENS, --config) and the
 * Authorization header check (DESIGN.md "Proxy HTTP contract": missing or wrong token
 * → 401 unauthorized).
 *
 * A set keeps only the SHA-256 of each token, never the token. A check hashes the
 * presented token once and compares it with every stored digest (CRYPTO_memcmp, no
 * early exit), so its time does not depend on which token matched, how much of one
 * matched, or the tokens' lengths.
 *
 * Thread-safety: a set is immutable once made; checks may run on any number of threads
 * at once. New and free are not thread-safe with respect to the same set.
 */
#ifndef LLMUX_SERVER_TOKENS_H
#define LLMUX_SERVER_TOKENS_H

#include "core/error.h"

#include <stdbool.h>
#include <stddef.h>

/* The longest token accepted, in bytes. */
#define LLMUX__TOKEN_MAX 4096

typedef struct llmux__token_set llmux__token_set;

/*
 * A set of the n tokens (n may be 0: an empty set, which accepts nothing — the proxy
 * then runs in loopback-only mode without auth, and its session token is ""). Each
 * token must be 1..LLMUX__TOKEN_MAX visible ASCII characters; otherwise NULL with err
 * LLMUX_EINVALID_REQUEST naming the token by position ("token 2 of 3: ..."), never its
 * text. NULL with LLMUX_ENOMEM when out of memory. Caller owns; free with
 * llmux__token_set_free().
 */
llmux__token_set *llmux__token_set_new(const char *const *tokens, size_t n, llmux__error *err);

/* A set from a comma-separated list (LLMUX_TOKENS): entries are trimmed of spaces and
 * tabs, empty entries are skipped, NULL or "" gives an empty set. Errors as above. */
llmux__token_set *llmux__token_set_parse(const char *list, llmux__error *err);

/* How many tokens the set holds. */
size_t llmux__token_set_count(const llmux__token_set *set);

/* True when the len bytes at presented are one of the set's tokens. False for an empty
 * set, a NULL presented token or a len over LLMUX__TOKEN_MAX. */
bool llmux__token_set_check(const llmux__token_set *set, const char *presented, size_t len);

/*
 * The token of an Authorization header value "Bearer <token>" (scheme
 * case-insensitive, spaces after it skipped, trailing spaces dropped): returns a
 * pointer into header and its length in *len; NULL when header is NULL, another scheme,
 * or has no token.
 */
const char *llmux__bearer_token(const char *header, size_t *len);

/* Wipes the digests and releases the set. NULL is fine. */
void llmux__token_set_free(llmux__token_set *set);

#endif
