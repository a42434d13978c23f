/*
 * sessions.h — the proxy's session store: for each (token, session id), the provider
 * map configure_provider fills (DESIGN.md "Proxy HTTP contract", seed 000).
 *
 * Isolation. A session belongs to the pair (proxy token, session id): the same id under
 * another token is another session, so one token can never see or use another's
 * customer keys. With no tokens configured the token is "" (loopback-only mode). The
 * store keeps no token: an entry is found by SHA-256(seed ‖ len(token) ‖ token ‖ id),
 * where seed is 16 random bytes drawn when the store is made (so bucket positions
 * cannot be predicted from outside, and the map does not outlive the process).
 *
 * Entries. Per provider: managed (the operator's key, llmux__managed_keys) or a
 * customer api_key, plus an optional base_url and api_version. Customer keys, base
 * URLs and api_versions are held in secret memory (core/secret.h) and wiped when
 * replaced, deleted, expired or freed. Keys never appear in an error message, a list,
 * or anything else this module produces.
 *
 * Expiry. A session unused (no configure, list or resolve) for idle_ttl seconds is
 * expired: it is wiped lazily when next looked up and by llmux__session_store_sweep().
 * Time is never read here: callers pass `now`, seconds on a monotonic clock
 * (CLOCK_MONOTONIC). Times that go backwards are treated as "no time passed".
 *
 * Thread-safety: every function is thread-safe. The store is split in 16 shards, each
 * with its own mutex, so worker threads resolving different sessions rarely contend.
 * No callback is run with a shard lock held except url_policy, which must not call
 * back into the store.
 */
#ifndef LLMUX_SERVER_SESSIONS_H
#define LLMUX_SERVER_SESSIONS_H

#include "core/error.h"
#include "core/request.h"
#include "providers/provider.h"
#include "server/keys.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* A session id: 1..LLMUX__SESSION_ID_MAX characters of [A-Za-z0-9._:-]. */
#define LLMUX__SESSION_ID_MAX 128
#define LLMUX__SESSIONS_DEFAULT_MAX 100000
#define LLMUX__SESSIONS_DEFAULT_PER_TOKEN 10000
#define LLMUX__SESSIONS_DEFAULT_TTL 86400.0

/*
 * The SSRF hook: decides whether a customer's base_url may be used for provider p.
 * Return LLMUX_OK to allow, or an error code (normally LLMUX_EINVALID_REQUEST) with a
 * message in err (which must not echo anything secret). Called during configure, with
 * no store lock held, from any worker thread: must be thread-safe. The operator's own
 * base URLs are never passed to it.
 */
typedef llmux_code (*llmux__url_policy)(llmux__provider p, const char *base_url, void *ud,
                                        llmux__error *err);

/* Limits of a store. A zeroed struct means the defaults. */
typedef struct llmux__session_limits {
    size_t max_sessions;          /* sessions across all tokens; 0 → 100000 */
    size_t max_sessions_per_token; /* sessions of one token; 0 → 10000 (so one tenant
                                      cannot fill the store and lock the others out) */
    double idle_ttl;              /* seconds unused before expiry; 0 → 86400; < 0 → never */
    llmux__url_policy url_policy; /* NULL: every http(s) base_url allowed */
    void *url_policy_ud;          /* passed to url_policy */
} llmux__session_limits;

/* One configure_provider call: exactly one of managed / api_key. All strings are
 * borrowed for the call only; "" counts as absent for base_url and api_version. */
typedef struct llmux__provider_entry {
    bool managed;            /* use the operator's managed key for the provider */
    const char *api_key;     /* the customer's key, or NULL when managed */
    const char *base_url;    /* customer endpoint (never with managed), or NULL */
    const char *api_version; /* e.g. Azure's api-version, or NULL */
} llmux__provider_entry;

/* The configuration one request uses for one provider: a snapshot, unaffected by later
 * configure/delete calls. `cfg`'s strings point into `storage` (secret memory) and are
 * valid until llmux__resolved_provider_free(). */
typedef struct llmux__resolved_provider {
    llmux__provider_config cfg; /* what the adapters take (providers/provider.h) */
    bool managed;               /* the operator's key is in cfg.api_key */
    char *storage;              /* owned: key, base URL and api_version, NUL-separated */
} llmux__resolved_provider;

typedef struct llmux__session_store llmux__session_store;

/* A new empty store with the limits in lim (NULL: the defaults). Returns NULL when out
 * of memory or when no random seed or SHA-256 implementation is available. Caller
 * owns; free with llmux__session_store_free(). */
llmux__session_store *llmux__session_store_new(const llmux__session_limits *lim);

/* Wipes every session and releases the store. No other call may be running on it.
 * NULL is fine. */
void llmux__session_store_free(llmux__session_store *store);

/* True when id is a valid session id (see LLMUX__SESSION_ID_MAX). Use it on the
 * X-Llmux-Session header before anything else. */
bool llmux__session_id_valid(const char *id);

/*
 * configure_provider: sets provider p of session (token, session_id) from e, creating
 * the session if needed and replacing (and wiping) an earlier configuration of p.
 * mk is the operator's managed keys (may be NULL: none). token NULL means "".
 * On success returns LLMUX_OK and sets *first (may be NULL) to true when p was not
 * configured in this session before — the caller starts the connection warm-up only
 * then. Errors (err says which field; the key is never in it):
 *  - LLMUX_EINVALID_REQUEST: bad session id, p out of range, both or neither of
 *    managed/api_key, base_url with managed, an api_key that is not 1-8192 visible
 *    ASCII characters, a bad base_url or api_version, an Azure api_key with no base_url
 *    when the operator has no AZURE_OPENAI_ENDPOINT either, or what url_policy refused;
 *  - LLMUX_EMANAGED_KEY_UNAVAILABLE: managed, but mk has no key for p;
 *  - LLMUX_ELIMIT: the session is new and the token already holds max_sessions_per_token
 *    live sessions, or the store already holds max_sessions live
 *    sessions (expired ones are swept first);
 *  - LLMUX_ENOMEM.
 * On error nothing changed. Managed entries may carry an api_version (it overrides the
 * operator's); they always go to the operator's base URL.
 */
llmux_code llmux__session_configure(llmux__session_store *store, const char *token,
                                    const char *session_id, llmux__provider p,
                                    const llmux__provider_entry *e, const llmux__managed_keys *mk,
                                    double now, bool *first, llmux__error *err);

/*
 * GET /v1/sessions/{id}/providers: *out gets a new JSON object
 *   {"session": id, "providers": [{"provider": "openai", "managed": false,
 *                                  "base_url"?: "...", "api_version"?: "..."}, ...]}
 * in provider order (openai, azure, anthropic, google). Never a key, its length or any
 * part of it. An unknown or expired session is not an error: its map is empty
 * ("providers": []). Counts as a use of the session (refreshes its idle time).
 * Returns LLMUX_OK, LLMUX_EINVALID_REQUEST (bad id) or LLMUX_ENOMEM (*out NULL).
 * Caller owns *out; free with cJSON_Delete().
 */
llmux_code llmux__session_list(llmux__session_store *store, const char *token,
                               const char *session_id, double now, cJSON **out, llmux__error *err);

/* DELETE /v1/sessions/{id}: forgets the session and wipes its keys. Returns true when
 * it existed (an idle session not yet swept counts), false otherwise. */
bool llmux__session_delete(llmux__session_store *store, const char *token, const char *session_id);

/*
 * The provider configuration for one request's use of provider p in the session:
 *  - managed: the operator's key, the operator's base URL (LLMUX_*_BASE_URL /
 *    AZURE_OPENAI_ENDPOINT, or NULL for the provider's default) and the entry's
 *    api_version, else the operator's;
 *  - customer: its key, its base_url else the operator's, its api_version else the
 *    operator's.
 * On success *out owns secret copies (free with llmux__resolved_provider_free()) and
 * the session's idle time is refreshed. Errors (*out zeroed):
 *  - LLMUX_EPROVIDER_NOT_CONFIGURED: the session (unknown or expired) has no entry for
 *    p; the message names the provider and says to call configure_provider;
 *  - LLMUX_EMANAGED_KEY_UNAVAILABLE: a managed entry but mk has no key for p;
 *  - LLMUX_EINVALID_REQUEST: bad session id or p; LLMUX_ENOMEM.
 * Resolve every provider of a request's chain before the first upstream call: a missing
 * one must fail the request before any network traffic (seed 000).
 */
llmux_code llmux__session_resolve(llmux__session_store *store, const llmux__managed_keys *mk,
                                  const char *token, const char *session_id, llmux__provider p,
                                  double now, llmux__resolved_provider *out, llmux__error *err);

/* Wipes and releases what r owns and zeroes r. Safe on a zeroed or freed value. */
void llmux__resolved_provider_free(llmux__resolved_provider *r);

/* Live sessions in the store (expired ones not yet swept included). Lock-free. */
size_t llmux__session_count(const llmux__session_store *store);

/* Wipes every session idle for idle_ttl or longer at `now`. Returns how many went.
 * Cheap when nothing expired (one look at the oldest session of each shard): call it
 * from a periodic timer, e.g. every minute. */
size_t llmux__session_store_sweep(llmux__session_store *store, double now);

#endif
