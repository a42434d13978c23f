/* sessions.c — see sessions.h. 16 shards, each a chained hash table keyed by the
 * session digest plus an LRU list (oldest first) for idle expiry. */
#include "server/sessions.h"

#include "core/secret.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define N_SHARDS 16
#define INITIAL_BUCKETS 16
#define DIGEST_LEN 32
#define SEED_LEN 16

/* One provider of a session's map. */
typedef struct provider_slot {
    bool configured;
    bool managed;
    char *api_key;     /* secret; NULL when managed */
    char *base_url;    /* secret; NULL when none */
    char *api_version; /* secret; NULL when none */
} provider_slot;

typedef struct session {
    struct session *hnext;            /* next in the hash bucket */
    struct session *older, *newer;    /* LRU neighbours */
    double last_used;                 /* `now` of the last configure/list/resolve */
    unsigned char digest[DIGEST_LEN]; /* SHA-256(seed, token, id): the identity */
    unsigned char tenant[DIGEST_LEN]; /* SHA-256(seed, 0xff, token): whose session */
    char id[LLMUX__SESSION_ID_MAX + 1];
    provider_slot slots[LLMUX__PROVIDER_COUNT];
} session;

typedef struct shard {
    pthread_mutex_t lock;
    session **buckets; /* nbuckets chains */
    size_t nbuckets;   /* a power of two */
    size_t count;
    session *oldest, *newest; /* LRU list, least recently used first */
} shard;

/* Live sessions per token, keyed by the tenant digest (never the token). Few entries
 * (one per configured token), so a linear array under its own lock; lock order is
 * shard, then tenants. */
typedef struct tenant_count {
    unsigned char tenant[DIGEST_LEN];
    size_t count;
} tenant_count;

struct llmux__session_store {
    llmux__session_limits lim;
    pthread_mutex_t tenants_lock;
    tenant_count *tenants;
    size_t n_tenants, cap_tenants;
    EVP_MD *sha256;
    unsigned char seed[SEED_LEN];
    atomic_size_t count; /* sessions in all shards, reserved before insertion */
    shard shards[N_SHARDS];
};

/* ---- small helpers ---------------------------------------------------------------- */

bool llmux__session_id_valid(const char *id)
{
    if (!id)
        return false;
    size_t n = 0;
    for (; id[n]; n++) {
        char c = id[n];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == ':' || c == '-';
        if (!ok || n >= LLMUX__SESSION_ID_MAX)
            return false;
    }
    return n > 0;
}

static llmux_code bad_id(llmux__error *err)
{
    return llmux__error_set(err, LLMUX_EINVALID_REQUEST,
                            "session id must be 1-%d characters of A-Z a-z 0-9 . _ : -",
                            LLMUX__SESSION_ID_MAX);
}

static void slot_wipe(provider_slot *s)
{
    llmux__secret_free(s->api_key);
    llmux__secret_free(s->base_url);
    llmux__secret_free(s->api_version);
    memset(s, 0, sizeof *s);
}

static void session_destroy(session *s)
{
    for (int p = 0; p < LLMUX__PROVIDER_COUNT; p++)
        slot_wipe(&s->slots[p]);
    llmux__secret_wipe(s, sizeof *s);
    free(s);
}

/* SHA-256(seed ‖ len(token) as 8 bytes ‖ token ‖ id). False when OpenSSL fails. */
static bool session_digest(const llmux__session_store *store, const char *token, const char *id,
                           unsigned char out[DIGEST_LEN])
{
    uint64_t tlen = strlen(token);
    unsigned char lenbuf[8];
    for (int i = 0; i < 8; i++)
        lenbuf[i] = (unsigned char)(tlen >> (8 * i));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 0;
    bool ok = ctx && EVP_DigestInit_ex(ctx, store->sha256, NULL) == 1 &&
              EVP_DigestUpdate(ctx, store->seed, SEED_LEN) == 1 &&
              EVP_DigestUpdate(ctx, lenbuf, sizeof lenbuf) == 1 &&
              EVP_DigestUpdate(ctx, token, (size_t)tlen) == 1 &&
              EVP_DigestUpdate(ctx, id, strlen(id)) == 1 && EVP_DigestFinal_ex(ctx, out, &n) == 1 &&
              n == DIGEST_LEN;
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* SHA-256(seed ‖ 0xff ‖ token): the tenant a session counts against. */
static bool tenant_digest(const llmux__session_store *store, const char *token,
                          unsigned char out[DIGEST_LEN])
{
    static const unsigned char tag = 0xff;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 0;
    bool ok = ctx && EVP_DigestInit_ex(ctx, store->sha256, NULL) == 1 &&
              EVP_DigestUpdate(ctx, store->seed, SEED_LEN) == 1 &&
              EVP_DigestUpdate(ctx, &tag, 1) == 1 &&
              EVP_DigestUpdate(ctx, token, strlen(token)) == 1 &&
              EVP_DigestFinal_ex(ctx, out, &n) == 1 && n == DIGEST_LEN;
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* Reserves one session for the tenant. LLMUX_OK, LLMUX_ELIMIT (at its cap) or
 * LLMUX_ENOMEM. */
static llmux_code tenant_reserve(llmux__session_store *store, const unsigned char *tenant)
{
    llmux_code rc = LLMUX_OK;
    pthread_mutex_lock(&store->tenants_lock);
    tenant_count *t = NULL;
    for (size_t i = 0; i < store->n_tenants && !t; i++)
        if (memcmp(store->tenants[i].tenant, tenant, DIGEST_LEN) == 0)
            t = &store->tenants[i];
    if (!t) {
        if (store->n_tenants == store->cap_tenants) {
            size_t cap = store->cap_tenants ? store->cap_tenants * 2 : 8;
            tenant_count *nt = realloc(store->tenants, cap * sizeof *nt);
            if (!nt) {
                rc = LLMUX_ENOMEM;
                goto out;
            }
            store->tenants = nt;
            store->cap_tenants = cap;
        }
        t = &store->tenants[store->n_tenants++];
        memcpy(t->tenant, tenant, DIGEST_LEN);
        t->count = 0;
    }
    if (t->count >= store->lim.max_sessions_per_token)
        rc = LLMUX_ELIMIT;
    else
        t->count++;
out:
    pthread_mutex_unlock(&store->tenants_lock);
    return rc;
}

/* Gives back one session of the tenant. */
static void tenant_release(llmux__session_store *store, const unsigned char *tenant)
{
    pthread_mutex_lock(&store->tenants_lock);
    for (size_t i = 0; i < store->n_tenants; i++) {
        if (memcmp(store->tenants[i].tenant, tenant, DIGEST_LEN) == 0) {
            if (store->tenants[i].count)
                store->tenants[i].count--;
            break;
        }
    }
    pthread_mutex_unlock(&store->tenants_lock);
}

static shard *shard_of(llmux__session_store *store, const unsigned char *digest)
{
    return &store->shards[digest[8] % N_SHARDS];
}

static size_t bucket_of(const shard *sh, const unsigned char *digest)
{
    uint64_t h = 0;
    memcpy(&h, digest, sizeof h);
    return (size_t)(h & (sh->nbuckets - 1));
}

static bool expired(const llmux__session_store *store, const session *s, double now)
{
    return store->lim.idle_ttl > 0 && now - s->last_used >= store->lim.idle_ttl;
}

/* ---- shard operations (caller holds sh->lock) --------------------------------------- */

static void lru_unlink(shard *sh, session *s)
{
    if (s->older)
        s->older->newer = s->newer;
    else
        sh->oldest = s->newer;
    if (s->newer)
        s->newer->older = s->older;
    else
        sh->newest = s->older;
    s->older = s->newer = NULL;
}

static void lru_append(shard *sh, session *s)
{
    s->older = sh->newest;
    s->newer = NULL;
    if (sh->newest)
        sh->newest->newer = s;
    else
        sh->oldest = s;
    sh->newest = s;
}

/* Marks s used at `now`, keeping the LRU list sorted even when callers' clocks
 * interleave: a time older than the newest session's counts as that time. */
static void touch(shard *sh, session *s, double now)
{
    double newest = sh->newest ? sh->newest->last_used : now;
    lru_unlink(sh, s);
    s->last_used = now > newest ? now : newest;
    lru_append(sh, s);
}

/* Unlinks s from its bucket, the LRU list and the counts; the caller destroys it. */
static void shard_remove(llmux__session_store *store, shard *sh, session *s)
{
    session **pp = &sh->buckets[bucket_of(sh, s->digest)];
    while (*pp != s)
        pp = &(*pp)->hnext;
    *pp = s->hnext;
    lru_unlink(sh, s);
    sh->count--;
    atomic_fetch_sub_explicit(&store->count, 1, memory_order_relaxed);
    tenant_release(store, s->tenant);
}

/* The live session with this digest; an expired one is removed and destroyed first. */
static session *shard_find(llmux__session_store *store, shard *sh, const unsigned char *digest,
                           double now, bool check_expiry)
{
    session *s = sh->buckets[bucket_of(sh, digest)];
    while (s && memcmp(s->digest, digest, DIGEST_LEN) != 0)
        s = s->hnext;
    if (s && check_expiry && expired(store, s, now)) {
        shard_remove(store, sh, s);
        session_destroy(s);
        return NULL;
    }
    return s;
}

/* Doubles the bucket array when the chains get long. Failure keeps the old table. */
static void shard_maybe_grow(shard *sh)
{
    if (sh->count < sh->nbuckets)
        return;
    size_t n = sh->nbuckets * 2;
    session **nb = calloc(n, sizeof *nb);
    if (!nb)
        return;
    for (size_t i = 0; i < sh->nbuckets; i++) {
        session *s = sh->buckets[i];
        while (s) {
            session *next = s->hnext;
            uint64_t h;
            memcpy(&h, s->digest, sizeof h);
            size_t b = (size_t)(h & (n - 1));
            s->hnext = nb[b];
            nb[b] = s;
            s = next;
        }
    }
    free(sh->buckets);
    sh->buckets = nb;
    sh->nbuckets = n;
}

static void shard_insert(shard *sh, session *s)
{
    shard_maybe_grow(sh);
    size_t b = bucket_of(sh, s->digest);
    s->hnext = sh->buckets[b];
    sh->buckets[b] = s;
    lru_append(sh, s);
    sh->count++;
}

/* ---- store ------------------------------------------------------------------------ */

llmux__session_store *llmux__session_store_new(const llmux__session_limits *lim)
{
    llmux__session_store *store = calloc(1, sizeof *store);
    if (!store)
        return NULL;
    if (lim)
        store->lim = *lim;
    if (store->lim.max_sessions == 0)
        store->lim.max_sessions = LLMUX__SESSIONS_DEFAULT_MAX;
    if (store->lim.max_sessions_per_token == 0)
        store->lim.max_sessions_per_token = LLMUX__SESSIONS_DEFAULT_PER_TOKEN;
    pthread_mutex_init(&store->tenants_lock, NULL);
    if (store->lim.idle_ttl == 0)
        store->lim.idle_ttl = LLMUX__SESSIONS_DEFAULT_TTL;
    atomic_init(&store->count, 0);
    store->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    int i = 0;
    if (!store->sha256 || RAND_bytes(store->seed, SEED_LEN) != 1)
        goto fail;
    for (; i < N_SHARDS; i++) {
        shard *sh = &store->shards[i];
        sh->buckets = calloc(INITIAL_BUCKETS, sizeof *sh->buckets);
        if (!sh->buckets)
            goto fail;
        sh->nbuckets = INITIAL_BUCKETS;
        pthread_mutex_init(&sh->lock, NULL);
    }
    return store;
fail:
    while (i-- > 0) {
        pthread_mutex_destroy(&store->shards[i].lock);
        free(store->shards[i].buckets);
    }
    EVP_MD_free(store->sha256);
    llmux__secret_wipe(store->seed, SEED_LEN);
    pthread_mutex_destroy(&store->tenants_lock);
    free(store);
    return NULL;
}

void llmux__session_store_free(llmux__session_store *store)
{
    if (!store)
        return;
    for (int i = 0; i < N_SHARDS; i++) {
        shard *sh = &store->shards[i];
        session *s = sh->oldest;
        while (s) {
            session *next = s->newer;
            session_destroy(s);
            s = next;
        }
        free(sh->buckets);
        pthread_mutex_destroy(&sh->lock);
    }
    EVP_MD_free(store->sha256);
    llmux__secret_wipe(store->seed, SEED_LEN);
    free(store->tenants);
    pthread_mutex_destroy(&store->tenants_lock);
    free(store);
}

size_t llmux__session_count(const llmux__session_store *store)
{
    return store ? atomic_load_explicit(&store->count, memory_order_relaxed) : 0;
}

size_t llmux__session_store_sweep(llmux__session_store *store, double now)
{
    if (!store || store->lim.idle_ttl <= 0)
        return 0;
    size_t removed = 0;
    for (int i = 0; i < N_SHARDS; i++) {
        shard *sh = &store->shards[i];
        pthread_mutex_lock(&sh->lock);
        while (sh->oldest && expired(store, sh->oldest, now)) {
            session *s = sh->oldest;
            shard_remove(store, sh, s);
            session_destroy(s);
            removed++;
        }
        pthread_mutex_unlock(&sh->lock);
    }
    return removed;
}

/* ---- configure --------------------------------------------------------------------- */

static const char *nonempty(const char *s)
{
    return s && s[0] ? s : NULL;
}

/* Checks e for provider p; LLMUX_OK or the error, with nothing secret in it. */
static llmux_code validate_entry(const llmux__session_store *store, llmux__provider p,
                                 const llmux__provider_entry *e, const llmux__managed_keys *mk,
                                 llmux__error *err)
{
    const char *name = llmux__provider_name(p);
    const char *base_url = nonempty(e->base_url);
    const char *api_version = nonempty(e->api_version);
    if (e->managed && e->api_key)
        return llmux__error_set(err, LLMUX_EINVALID_REQUEST,
                                "%s: give either managed: true or an api_key, not both", name);
    if (!e->managed && !e->api_key)
        return llmux__error_set(err, LLMUX_EINVALID_REQUEST,
                                "%s: either managed: true or an api_key is required", name);
    if (e->managed && base_url)
        return llmux__error_set(err, LLMUX_EINVALID_REQUEST,
                                "%s: base_url cannot be combined with managed: true (the managed "
                                "key only goes to the operator's endpoint)",
                                name);
    if (!e->managed && !llmux__key_chars_ok(e->api_key, strlen(e->api_key)))
        return llmux__error_set(err, LLMUX_EINVALID_REQUEST,
                                e->api_key[0] ? "%s: api_key must be 1-%d visible ASCII "
                                                "characters (no spaces or control characters)"
                                              : "%s: api_key must not be empty (%d bytes max)",
                                name, LLMUX__KEY_FILE_MAX);
    const char *why;
    if (base_url && !llmux__base_url_check(base_url, &why))
        return llmux__error_set(err, LLMUX_EINVALID_REQUEST, "%s: base_url %s", name, why);
    if (api_version && !llmux__api_version_check(api_version))
        return llmux__error_set(err, LLMUX_EINVALID_REQUEST,
                                "%s: api_version must be 1-64 characters of A-Z a-z 0-9 . _ -",
                                name);
    if (e->managed && !llmux__managed_keys_has(mk, p))
        return llmux__error_set(err, LLMUX_EMANAGED_KEY_UNAVAILABLE,
                                "no managed key for %s on this proxy; configure it with your own "
                                "api_key instead",
                                name);
    if (!e->managed && p == LLMUX__PROVIDER_AZURE && !base_url &&
        !llmux__managed_keys_base_url(mk, p))
        return llmux__error_set(err, LLMUX_EINVALID_REQUEST,
                                "azure: base_url is required (the resource URL, e.g. "
                                "https://NAME.openai.azure.com)");
    if (base_url && store->lim.url_policy) {
        llmux__error perr;
        llmux__error_clear(&perr);
        llmux_code rc = store->lim.url_policy(p, base_url, store->lim.url_policy_ud, &perr);
        if (rc != LLMUX_OK) {
            if (perr.message[0])
                return llmux__error_set(err, rc, "%s: base_url %s", name, perr.message);
            return llmux__error_set(err, rc, "%s: base_url is not allowed on this proxy", name);
        }
    }
    return LLMUX_OK;
}

/* The slot e describes, with secret copies. False when out of memory (nothing held). */
static bool slot_from_entry(const llmux__provider_entry *e, provider_slot *out)
{
    memset(out, 0, sizeof *out);
    out->configured = true;
    out->managed = e->managed;
    const char *base_url = nonempty(e->base_url);
    const char *api_version = nonempty(e->api_version);
    if (!e->managed && !(out->api_key = llmux__secret_strdup(e->api_key)))
        goto oom;
    if (base_url && !(out->base_url = llmux__secret_strdup(base_url)))
        goto oom;
    if (api_version && !(out->api_version = llmux__secret_strdup(api_version)))
        goto oom;
    return true;
oom:
    slot_wipe(out);
    return false;
}

llmux_code llmux__session_configure(llmux__session_store *store, const char *token,
                                    const char *session_id, llmux__provider p,
                                    const llmux__provider_entry *e, const llmux__managed_keys *mk,
                                    double now, bool *first, llmux__error *err)
{
    llmux__error_clear(err);
    if (first)
        *first = false;
    if (!token)
        token = "";
    if (!store || !e)
        return llmux__error_set(err, LLMUX_EINVALID_REQUEST, "no store or entry");
    if (!llmux__session_id_valid(session_id))
        return bad_id(err);
    if ((unsigned)p >= LLMUX__PROVIDER_COUNT)
        return llmux__error_set(err, LLMUX_EINVALID_REQUEST,
                                "unknown provider (expected openai, azure, anthropic or google)");
    llmux_code rc = validate_entry(store, p, e, mk, err);
    if (rc != LLMUX_OK)
        return rc;

    unsigned char digest[DIGEST_LEN], tenant[DIGEST_LEN];
    if (!session_digest(store, token, session_id, digest) || !tenant_digest(store, token, tenant))
        return llmux__error_set(err, LLMUX_ENOMEM, "cannot hash the session id");
    provider_slot fresh, old;
    if (!slot_from_entry(e, &fresh))
        return llmux__error_set(err, LLMUX_ENOMEM, NULL);
    memset(&old, 0, sizeof old);
    if (llmux__session_count(store) >= store->lim.max_sessions)
        llmux__session_store_sweep(store, now);

    shard *sh = shard_of(store, digest);
    pthread_mutex_lock(&sh->lock);
    session *s = shard_find(store, sh, digest, now, true);
    if (!s) {
        size_t before = atomic_fetch_add_explicit(&store->count, 1, memory_order_relaxed);
        if (before >= store->lim.max_sessions) {
            atomic_fetch_sub_explicit(&store->count, 1, memory_order_relaxed);
            rc = llmux__error_set(err, LLMUX_ELIMIT,
                                  "too many sessions on this proxy (%zu); delete unused ones",
                                  store->lim.max_sessions);
            goto unlock;
        }
        llmux_code trc = tenant_reserve(store, tenant);
        if (trc != LLMUX_OK) {
            atomic_fetch_sub_explicit(&store->count, 1, memory_order_relaxed);
            rc = trc == LLMUX_ELIMIT
                     ? llmux__error_set(err, LLMUX_ELIMIT,
                                        "too many sessions for this token (%zu); delete unused ones",
                                        store->lim.max_sessions_per_token)
                     : llmux__error_set(err, LLMUX_ENOMEM, NULL);
            goto unlock;
        }
        s = calloc(1, sizeof *s);
        if (!s) {
            atomic_fetch_sub_explicit(&store->count, 1, memory_order_relaxed);
            tenant_release(store, tenant);
            rc = llmux__error_set(err, LLMUX_ENOMEM, NULL);
            goto unlock;
        }
        memcpy(s->digest, digest, DIGEST_LEN);
        memcpy(s->tenant, tenant, DIGEST_LEN);
        memcpy(s->id, session_id, strlen(session_id) + 1);
        s->last_used = now;
        shard_insert(sh, s);
    }
    old = s->slots[p];
    s->slots[p] = fresh;
    memset(&fresh, 0, sizeof fresh);
    touch(sh, s, now);
    if (first)
        *first = !old.configured;
unlock:
    pthread_mutex_unlock(&sh->lock);
    slot_wipe(&old);
    slot_wipe(&fresh);
    return rc;
}

/* ---- list / delete ----------------------------------------------------------------- */

static bool add_slot_json(cJSON *arr, llmux__provider p, const provider_slot *slot)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(arr, o)) {
        cJSON_Delete(o);
        return false;
    }
    if (!cJSON_AddStringToObject(o, "provider", llmux__provider_name(p)) ||
        !cJSON_AddBoolToObject(o, "managed", slot->managed))
        return false;
    if (slot->base_url && !cJSON_AddStringToObject(o, "base_url", slot->base_url))
        return false;
    if (slot->api_version && !cJSON_AddStringToObject(o, "api_version", slot->api_version))
        return false;
    return true;
}

llmux_code llmux__session_list(llmux__session_store *store, const char *token,
                               const char *session_id, double now, cJSON **out, llmux__error *err)
{
    llmux__error_clear(err);
    *out = NULL;
    if (!token)
        token = "";
    if (!store || !llmux__session_id_valid(session_id))
        return bad_id(err);
    unsigned char digest[DIGEST_LEN];
    if (!session_digest(store, token, session_id, digest))
        return llmux__error_set(err, LLMUX_ENOMEM, "cannot hash the session id");
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = NULL;
    if (root && cJSON_AddStringToObject(root, "session", session_id))
        arr = cJSON_AddArrayToObject(root, "providers");
    if (!arr) {
        cJSON_Delete(root);
        return llmux__error_set(err, LLMUX_ENOMEM, NULL);
    }
    bool ok = true;
    shard *sh = shard_of(store, digest);
    pthread_mutex_lock(&sh->lock);
    session *s = shard_find(store, sh, digest, now, true);
    if (s) {
        touch(sh, s, now);
        for (int p = 0; ok && p < LLMUX__PROVIDER_COUNT; p++)
            if (s->slots[p].configured)
                ok = add_slot_json(arr, (llmux__provider)p, &s->slots[p]);
    }
    pthread_mutex_unlock(&sh->lock);
    if (!ok) {
        cJSON_Delete(root);
        return llmux__error_set(err, LLMUX_ENOMEM, NULL);
    }
    *out = root;
    return LLMUX_OK;
}

bool llmux__session_delete(llmux__session_store *store, const char *token, const char *session_id)
{
    if (!token)
        token = "";
    unsigned char digest[DIGEST_LEN];
    if (!store || !llmux__session_id_valid(session_id) ||
        !session_digest(store, token, session_id, digest))
        return false;
    shard *sh = shard_of(store, digest);
    pthread_mutex_lock(&sh->lock);
    session *s = shard_find(store, sh, digest, 0, false);
    if (s)
        shard_remove(store, sh, s);
    pthread_mutex_unlock(&sh->lock);
    if (s)
        session_destroy(s);
    return s != NULL;
}

/* ---- resolve ----------------------------------------------------------------------- */

void llmux__resolved_provider_free(llmux__resolved_provider *r)
{
    if (!r)
        return;
    llmux__secret_free(r->storage);
    memset(r, 0, sizeof *r);
}

/* Copies key, base_url and api_version (each may be NULL) into one secret buffer and
 * points r->cfg at the copies. False when out of memory. */
static bool resolved_fill(llmux__resolved_provider *r, const char *key, const char *base_url,
                          const char *api_version)
{
    const char *parts[3] = {key, base_url, api_version};
    size_t lens[3], total = 0;
    for (int i = 0; i < 3; i++) {
        lens[i] = parts[i] ? strlen(parts[i]) : 0;
        total += lens[i] + 1;
    }
    r->storage = llmux__secret_alloc(total);
    if (!r->storage)
        return false;
    char *dst = r->storage;
    const char **fields[3] = {&r->cfg.api_key, &r->cfg.base_url, &r->cfg.api_version};
    for (int i = 0; i < 3; i++) {
        if (!parts[i])
            continue;
        memcpy(dst, parts[i], lens[i] + 1);
        *fields[i] = dst;
        dst += lens[i] + 1;
    }
    return true;
}

llmux_code llmux__session_resolve(llmux__session_store *store, const llmux__managed_keys *mk,
                                  const char *token, const char *session_id, llmux__provider p,
                                  double now, llmux__resolved_provider *out, llmux__error *err)
{
    llmux__error_clear(err);
    memset(out, 0, sizeof *out);
    if (!token)
        token = "";
    if (!store || !llmux__session_id_valid(session_id))
        return bad_id(err);
    if ((unsigned)p >= LLMUX__PROVIDER_COUNT)
        return llmux__error_set(err, LLMUX_EINVALID_REQUEST, "unknown provider");
    unsigned char digest[DIGEST_LEN];
    if (!session_digest(store, token, session_id, digest))
        return llmux__error_set(err, LLMUX_ENOMEM, "cannot hash the session id");

    const char *name = llmux__provider_name(p);
    llmux_code rc = LLMUX_OK;
    shard *sh = shard_of(store, digest);
    pthread_mutex_lock(&sh->lock);
    session *s = shard_find(store, sh, digest, now, true);
    const provider_slot *slot = s ? &s->slots[p] : NULL;
    if (!slot || !slot->configured) {
        rc = llmux__error_set(err, LLMUX_EPROVIDER_NOT_CONFIGURED,
                              "provider '%s' is not configured in session '%s': call "
                              "configure_provider(\"%s\", ...) for it first (fallbacks too)",
                              name, session_id, name);
        goto unlock;
    }
    touch(sh, s, now);
    const char *key, *base_url, *api_version;
    api_version = slot->api_version ? slot->api_version : llmux__managed_keys_api_version(mk, p);
    if (slot->managed) {
        key = llmux__managed_keys_key(mk, p);
        base_url = llmux__managed_keys_base_url(mk, p);
        if (!key) {
            rc = llmux__error_set(err, LLMUX_EMANAGED_KEY_UNAVAILABLE,
                                  "no managed key for %s on this proxy any more", name);
            goto unlock;
        }
    } else {
        key = slot->api_key;
        base_url = slot->base_url ? slot->base_url : llmux__managed_keys_base_url(mk, p);
    }
    if (!resolved_fill(out, key, base_url, api_version)) {
        rc = llmux__error_set(err, LLMUX_ENOMEM, NULL);
        goto unlock;
    }
    out->cfg.provider = p;
    out->cfg.max_tokens_param = LLMUX__MAX_TOKENS_AUTO;
    out->managed = slot->managed;
unlock:
    pthread_mutex_unlock(&sh->lock);
    return rc;
}
