/* secret.c — see secret.h. A size-class pool of MADV_DONTDUMP pages for small
 * secrets, one mapping per large secret, both wiped on free. */
#include "core/secret.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define SECRET_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SECRET_ASAN 1
#endif
#endif

#ifdef SECRET_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define MAGIC_LIVE 0x4c53454bu /* a live secret */
#define MAGIC_FREE 0x4653454bu /* a free pool slot */
#define CLASS_LARGE 0xffffffffu
#define CHUNK_SIZE ((size_t)64 * 1024)
#define N_CLASSES 6
#define MIN_CLASS_SHIFT 6 /* 64 bytes */

/* The 16 bytes in front of every secret. In a free slot `len`/`pad` hold the free list
 * link instead. */
typedef struct secret_hdr {
    uint32_t magic;
    uint32_t cls; /* size class index, or CLASS_LARGE */
    uint32_t len; /* the n of llmux__secret_dup/alloc */
    uint32_t pad;
} secret_hdr;

_Static_assert(sizeof(secret_hdr) == 16, "secret header must keep data 16-byte aligned");

typedef struct secret_class {
    pthread_mutex_t lock;
    unsigned char *free_list; /* first free slot; its bytes 8..15 link to the next */
} secret_class;

static secret_class classes[N_CLASSES] = {
    {PTHREAD_MUTEX_INITIALIZER, NULL}, {PTHREAD_MUTEX_INITIALIZER, NULL},
    {PTHREAD_MUTEX_INITIALIZER, NULL}, {PTHREAD_MUTEX_INITIALIZER, NULL},
    {PTHREAD_MUTEX_INITIALIZER, NULL}, {PTHREAD_MUTEX_INITIALIZER, NULL},
};
static atomic_size_t live_count;
static atomic_bool mlock_gave_up;

static size_t class_size(unsigned cls)
{
    return (size_t)1 << (MIN_CLASS_SHIFT + cls);
}

/* The class whose slot holds a header, n bytes and a NUL; N_CLASSES when none does. */
static unsigned class_for(size_t n)
{
    size_t need = sizeof(secret_hdr) + n + 1;
    unsigned cls = 0;
    while (cls < N_CLASSES && class_size(cls) < need)
        cls++;
    return cls;
}

static size_t page_size(void)
{
    long ps = sysconf(_SC_PAGESIZE);
    return ps > 0 ? (size_t)ps : 4096;
}

/* Fresh zeroed pages kept out of core dumps and, best-effort, out of swap. */
static void *map_secret_pages(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
#ifdef MADV_DONTDUMP
    (void)madvise(p, size, MADV_DONTDUMP);
#endif
    if (!atomic_load_explicit(&mlock_gave_up, memory_order_relaxed) && mlock(p, size) != 0)
        atomic_store_explicit(&mlock_gave_up, true, memory_order_relaxed);
    return p;
}

static unsigned char *slot_link_get(unsigned char *slot)
{
    unsigned char *next;
    memcpy(&next, slot + 8, sizeof next);
    return next;
}

static void slot_link_set(unsigned char *slot, unsigned char *next)
{
    memcpy(slot + 8, &next, sizeof next);
}

/* Marks a zeroed slot free and pushes it. Caller holds the class lock. */
static void push_free(secret_class *c, unsigned cls, unsigned char *slot)
{
    secret_hdr h = {MAGIC_FREE, cls, 0, 0};
    memcpy(slot, &h, 8);
    slot_link_set(slot, c->free_list);
    c->free_list = slot;
    POISON(slot + sizeof(secret_hdr), class_size(cls) - sizeof(secret_hdr));
}

/* A new chunk carved into free slots of class cls. Caller holds the class lock.
 * Returns false when out of memory. */
static bool grow_class(secret_class *c, unsigned cls)
{
    unsigned char *chunk = map_secret_pages(CHUNK_SIZE);
    if (!chunk)
        return false;
    size_t sz = class_size(cls);
    for (size_t off = CHUNK_SIZE; off >= sz; off -= sz)
        push_free(c, cls, chunk + off - sz);
    return true;
}

static char *pool_alloc(unsigned cls, size_t n)
{
    secret_class *c = &classes[cls];
    pthread_mutex_lock(&c->lock);
    if (!c->free_list && !grow_class(c, cls)) {
        pthread_mutex_unlock(&c->lock);
        return NULL;
    }
    unsigned char *slot = c->free_list;
    secret_hdr h;
    memcpy(&h, slot, sizeof h);
    if (h.magic != MAGIC_FREE || h.cls != cls)
        abort(); /* the free list was overwritten: a memory-safety bug elsewhere */
    c->free_list = slot_link_get(slot);
    pthread_mutex_unlock(&c->lock);

    UNPOISON(slot, sizeof(secret_hdr) + n + 1);
    h = (secret_hdr){MAGIC_LIVE, cls, (uint32_t)n, 0};
    memcpy(slot, &h, sizeof h);
    return (char *)slot + sizeof h; /* data bytes are zero: free slots hold only zeroes */
}

static char *large_alloc(size_t n)
{
    size_t ps = page_size();
    size_t size = (sizeof(secret_hdr) + n + 1 + ps - 1) / ps * ps;
    unsigned char *p = map_secret_pages(size);
    if (!p)
        return NULL;
    secret_hdr h = {MAGIC_LIVE, CLASS_LARGE, (uint32_t)n, 0};
    memcpy(p, &h, sizeof h);
    return (char *)p + sizeof h;
}

char *llmux__secret_alloc(size_t n)
{
    if (n > LLMUX__SECRET_MAX)
        return NULL;
    unsigned cls = class_for(n);
    char *p = cls < N_CLASSES ? pool_alloc(cls, n) : large_alloc(n);
    if (p)
        atomic_fetch_add_explicit(&live_count, 1, memory_order_relaxed);
    return p;
}

char *llmux__secret_dup(const char *s, size_t n)
{
    if (!s && n > 0)
        return NULL;
    char *p = llmux__secret_alloc(n);
    if (p && n > 0)
        memcpy(p, s, n);
    return p;
}

char *llmux__secret_strdup(const char *s)
{
    return s ? llmux__secret_dup(s, strlen(s)) : NULL;
}

static secret_hdr *header_of(const char *p)
{
    return (secret_hdr *)(void *)(p - sizeof(secret_hdr));
}

size_t llmux__secret_len(const char *p)
{
    if (!p)
        return 0;
    secret_hdr h;
    memcpy(&h, header_of(p), sizeof h);
    if (h.magic != MAGIC_LIVE)
        abort();
    return h.len;
}

void llmux__secret_free(char *p)
{
    if (!p)
        return;
    unsigned char *base = (unsigned char *)header_of(p);
    secret_hdr h;
    memcpy(&h, base, sizeof h);
    if (h.magic != MAGIC_LIVE || (h.cls >= N_CLASSES && h.cls != CLASS_LARGE))
        abort(); /* double free or not a secret */
    size_t used = sizeof h + (size_t)h.len + 1;
    explicit_bzero(base, used);
    atomic_fetch_sub_explicit(&live_count, 1, memory_order_relaxed);
    if (h.cls == CLASS_LARGE) {
        size_t ps = page_size();
        munmap(base, (used + ps - 1) / ps * ps);
        return;
    }
    secret_class *c = &classes[h.cls];
    pthread_mutex_lock(&c->lock);
    push_free(c, h.cls, base);
    pthread_mutex_unlock(&c->lock);
}

bool llmux__secret_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    size_t la = strlen(a), lb = strlen(b);
    size_t n = la > lb ? la : lb;
    volatile unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < n; i++) {
        /* The branches depend on the lengths only. */
        unsigned char ca = (unsigned char)(i < la ? a[i] : 0);
        unsigned char cb = (unsigned char)(i < lb ? b[i] : 0);
        diff = (unsigned char)(diff | (ca ^ cb));
    }
    return diff == 0;
}

void llmux__secret_wipe(void *p, size_t n)
{
    if (p && n > 0)
        explicit_bzero(p, n);
}

size_t llmux__secret_live_count(void)
{
    return atomic_load_explicit(&live_count, memory_order_relaxed);
}
