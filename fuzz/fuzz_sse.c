/* fuzz_sse.c — the incremental SSE parser. Invariants: never crash, never read past a
 * buffer; the events are the same whether the input comes whole or split at
 * pseudo-random points (seeded by the first byte); a small event cap (chosen by the
 * second byte) fails cleanly and stays failed. */
#include "core/response.h"
#include "core/sse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

typedef struct record {
    llmux__buf out; /* name \0 len data ... per event */
    size_t events;
} record;

static bool on_event(void *ud, const llmux__sse_event *ev)
{
    record *r = ud;
    size_t nl = strlen(ev->name);
    CHECK(nl <= LLMUX__SSE_MAX_NAME);
    llmux__buf_append(&r->out, ev->name, nl + 1);
    llmux__buf_append(&r->out, &ev->data_len, sizeof ev->data_len);
    llmux__buf_append(&r->out, ev->data, ev->data_len);
    r->events++;
    return true;
}

/* Parses data[0..len) in pieces (whole when seed is 0); returns the final status. */
static llmux__sse_status run(const char *data, size_t len, unsigned seed, size_t cap, record *r)
{
    llmux__sse_parser p;
    llmux__sse_init(&p, cap);
    llmux__sse_status st = LLMUX__SSE_NEED_MORE;
    size_t off = 0;
    while (off < len && st != LLMUX__SSE_TOO_LARGE) {
        size_t n = len - off;
        if (seed) {
            seed = seed * 1103515245u + 12345u;
            n = 1 + (seed >> 16) % (seed & 0x10000 ? 5 : 97); /* often tiny, sometimes larger */
            if (n > len - off)
                n = len - off;
        }
        char *piece = malloc(n);
        CHECK(piece);
        memcpy(piece, data + off, n);
        st = llmux__sse_feed(&p, piece, n, on_event, r);
        free(piece);
        off += n;
    }
    if (st != LLMUX__SSE_TOO_LARGE) {
        llmux__sse_event ev;
        st = llmux__sse_finish(&p, &ev);
        if (st == LLMUX__SSE_EVENT)
            on_event(r, &ev);
    }
    if (st == LLMUX__SSE_TOO_LARGE) {
        /* sticky */
        size_t used;
        llmux__sse_event ev;
        CHECK(llmux__sse_next(&p, "data: x\n\n", 9, &used, &ev) == LLMUX__SSE_TOO_LARGE);
    }
    llmux__sse_free(&p);
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    unsigned seed = data[0] | 1u;
    size_t cap = data[1] & 1 ? 0 : 8 + data[1]; /* 0: the default 1 MiB */
    const char *in = (const char *)data + 2;
    size_t len = size - 2;

    record whole = {0}, split = {0};
    llmux__sse_status a = run(in, len, 0, cap, &whole);
    llmux__sse_status b = run(in, len, seed, cap, &split);
    if (a != LLMUX__SSE_TOO_LARGE && b != LLMUX__SSE_TOO_LARGE) {
        CHECK(whole.events == split.events);
        CHECK(whole.out.len == split.out.len);
        CHECK(whole.out.len == 0 || memcmp(whole.out.p, split.out.p, whole.out.len) == 0);
    }
    /* an overflow depends on the data, not on how it was split */
    CHECK((a == LLMUX__SSE_TOO_LARGE) == (b == LLMUX__SSE_TOO_LARGE));
    llmux__buf_free(&whole.out);
    llmux__buf_free(&split.out);
    return 0;
}
