/*
 * keys.h — the operator's managed keys and upstream base URLs, read by the proxy alone
 * (DESIGN.md "Running it").
 *
 * Sources, per provider:
 *   provider   key (file in LLMUX_KEYS_DIR, else environment)          base URL
 *   openai     openai        | OPENAI_API_KEY                          LLMUX_OPENAI_BASE_URL
 *   anthropic  anthropic     | ANTHROPIC_API_KEY                       LLMUX_ANTHROPIC_BASE_URL
 *   google     google/gemini | GEMINI_API_KEY, then GOOGLE_API_KEY     LLMUX_GOOGLE_BASE_URL
 *   azure      azure         | AZURE_OPENAI_API_KEY                    AZURE_OPENAI_ENDPOINT
 * and AZURE_OPENAI_API_VERSION for Azure's api-version.
 *
 * Precedence: a key file wins over the environment — a mounted secret is the deliberate
 * choice, an inherited variable may be an accident. An empty variable counts as unset.
 * LLMUX_KEYS_DIR, when set, must be a readable directory; files in it other than the
 * five names above are ignored. A key file is trimmed of surrounding whitespace
 * (spaces, tabs, CR, LF); it must be a regular file of at most LLMUX__KEY_FILE_MAX
 * bytes with a non-empty key. Both `google` and `gemini` files present is an error
 * (say which one you mean). A key must be visible ASCII (0x21-0x7e): it goes into an
 * HTTP header. An Azure key needs AZURE_OPENAI_ENDPOINT. Base URLs must be http(s)
 * URLs without credentials or whitespace (llmux__base_url_check).
 *
 * Every error names the file or variable and never contains a key. The keys are held in
 * secret memory (core/secret.h) and wiped when the set is freed.
 *
 * Thread-safety: load and free are not thread-safe with respect to the same set; once
 * loaded a set is immutable and may be read from any number of threads at once.
 */
#ifndef LLMUX_SERVER_KEYS_H
#define LLMUX_SERVER_KEYS_H

#include "core/error.h"
#include "core/request.h"

#include <stdbool.h>
#include <stddef.h>

/* The largest key file accepted, in bytes. */
#define LLMUX__KEY_FILE_MAX 8192
/* The longest base URL accepted (operator's or a session's), in bytes. */
#define LLMUX__BASE_URL_MAX 2048

/* Looks up one configuration variable; returns NULL when it is not set. The returned
 * string must stay valid until llmux__managed_keys_load returns. */
typedef const char *(*llmux__getenv_fn)(const char *name, void *ud);

/* An llmux__getenv_fn over the process environment (getenv; ud is ignored). Not
 * thread-safe against concurrent setenv, like getenv itself: load at start-up. */
const char *llmux__getenv_process(const char *name, void *ud);

/* The operator's managed keys and base URLs (opaque). */
typedef struct llmux__managed_keys llmux__managed_keys;

/*
 * Reads every source above through getenv_fn (with ud) and LLMUX_KEYS_DIR. Returns a
 * new set (possibly with no key at all: a proxy that only serves customer keys) or NULL
 * with err set: LLMUX_EINVALID_REQUEST for a bad file, directory, variable or URL (the
 * message names it, never its contents), LLMUX_ENOMEM. Caller owns the result; free
 * with llmux__managed_keys_free().
 */
llmux__managed_keys *llmux__managed_keys_load(llmux__getenv_fn getenv_fn, void *ud,
                                              llmux__error *err);

/* True when the operator has a key for provider p (managed configuration possible).
 * False for a NULL set or an out-of-range p. */
bool llmux__managed_keys_has(const llmux__managed_keys *mk, llmux__provider p);

/* The managed key for p, or NULL. Borrowed: valid until llmux__managed_keys_free().
 * Never log it. */
const char *llmux__managed_keys_key(const llmux__managed_keys *mk, llmux__provider p);

/* The operator's base URL for p (LLMUX_*_BASE_URL, AZURE_OPENAI_ENDPOINT), or NULL for
 * the provider's default. Set independently of the key: it also applies to sessions'
 * customer keys that name no base_url. Borrowed, valid until free. */
const char *llmux__managed_keys_base_url(const llmux__managed_keys *mk, llmux__provider p);

/* The operator's api_version for p (AZURE_OPENAI_API_VERSION for azure), or NULL.
 * Borrowed, valid until free. */
const char *llmux__managed_keys_api_version(const llmux__managed_keys *mk, llmux__provider p);

/*
 * A one-line description for the start-up log, snprintf-style: writes at most len bytes
 * (NUL included) to buf and returns the length the whole line needs. Names providers,
 * where each key came from and the scheme://host[:port] of each operator base URL
 * (never a path, query or key), e.g.
 *   "managed keys: openai (file openai), anthropic (env ANTHROPIC_API_KEY); base urls:
 *    openai=http://127.0.0.1:8080"
 * "managed keys: none" when there is no key.
 */
size_t llmux__managed_keys_summary(const llmux__managed_keys *mk, char *buf, size_t len);

/* Wipes every key and releases the set. NULL is fine. */
void llmux__managed_keys_free(llmux__managed_keys *mk);

/*
 * Checks a base URL: http:// or https:// (scheme case-insensitive), a non-empty host,
 * no user:password@, no whitespace or control characters, at most LLMUX__BASE_URL_MAX
 * bytes. Returns true when acceptable; otherwise false and *why (when not NULL) points
 * to a static reason ("must start with http:// or https://", ...). Pure, thread-safe.
 */
bool llmux__base_url_check(const char *url, const char **why);

/* True when the n bytes at s are a usable key: 1..LLMUX__KEY_FILE_MAX bytes of visible
 * ASCII (no space, no control character, nothing above 0x7e). Pure, thread-safe. */
bool llmux__key_chars_ok(const char *s, size_t n);

/* True when v is a usable api_version: 1..64 characters of [A-Za-z0-9._-] (it goes
 * into a URL query). Pure, thread-safe. */
bool llmux__api_version_check(const char *v);

#endif
