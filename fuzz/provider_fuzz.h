/* provider_fuzz.h — shared by the adapter fuzzers (fuzz_<provider>_response.c and
 * fuzz_<provider>_stream.c): drive one adapter's response parser or stream decoder
 * with arbitrary bytes and abort on any broken invariant. Header-only. */
#ifndef LLMUX_PROVIDER_FUZZ_H
#define LLMUX_PROVIDER_FUZZ_H

#include "core/response.h"
#include "providers/provider.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

/* Input: [status selector][header selector][body...]. */
static inline int fuzz_response(llmux__provider p, const uint8_t *data, size_t size)
{
    static const int statuses[] = {200, 400, 401, 403, 404, 429, 500, 503, 529, 201};
    static const llmux__header sets[][2] = {
        {{NULL, NULL}, {NULL, NULL}},
        {{"retry-after-ms", "1500"}, {"x-should-retry", "false"}},
        {{"Retry-After", "Sun, 06 Nov 1994 08:49:37 GMT"}, {NULL, NULL}},
        {{"retry-after", "30"}, {"X-Should-Retry", "true"}},
    };
    if (size < 2)
        return 0;
    int status = statuses[data[0] % (sizeof statuses / sizeof statuses[0])];
    const llmux__header *h = sets[data[1] % 4];
    size_t nh = h[1].name ? 2 : h[0].name ? 1 : 0;
    size_t len = size - 2;
    /* a tight copy so ASan sees reads past the body */
    char *body = malloc(len ? len : 1);
    CHECK(body);
    memcpy(body, data + 2, len);
    llmux__response *r = (llmux__response *)0x1;
    llmux__upstream_error ue;
    memset(&ue, 0xAB, sizeof ue);
    const llmux__adapter *a = llmux__adapter_for(p);
    llmux_code rc = a->parse_response(status, h, nh, body, len, 784111747.0, &r, &ue);
    if (rc == LLMUX_OK) {
        CHECK(status / 100 == 2 && r && ue.code == LLMUX_OK);
        CHECK(r->id && r->model && r->finish_reason != LLMUX__FINISH_NONE);
        CHECK(!r->text || strlen(r->text) == r->text_len);
        CHECK(!r->text || llmux__utf8_valid(r->text, r->text_len));
        for (size_t i = 0; i < r->n_tool_calls; i++)
            CHECK(r->tool_calls[i].id && r->tool_calls[i].name && r->tool_calls[i].arguments);
        cJSON *j = llmux__response_to_json(r, 1);
        char *s = j ? cJSON_PrintUnformatted(j) : NULL;
        cJSON_free(s);
        cJSON_Delete(j);
        llmux__response_free(r);
    } else {
        CHECK(r == NULL && ue.code == rc && rc > LLMUX_OK && rc < LLMUX_CODE_COUNT_);
        CHECK(ue.http_status == status);
        CHECK(memchr(ue.message, 0, sizeof ue.message) && ue.message[0]);
        CHECK(memchr(ue.type, 0, sizeof ue.type) && memchr(ue.param, 0, sizeof ue.param));
        CHECK(ue.retry_after_s == -1.0 || (ue.retry_after_s > 0 && ue.retry_after_s <= 60));
        CHECK(llmux__utf8_valid(ue.message, strlen(ue.message)));
    }
    free(body);
    return 0;
}

typedef struct fuzz_state {
    int n_pre, n_end, n_finish, n_usage, n_tools;
    llmux__buf chunk;
} fuzz_state;

static inline int fuzz_sink(void *ud, const llmux__delta *d)
{
    fuzz_state *st = ud;
    CHECK(st->n_end == 0); /* nothing after DONE/ERROR */
    CHECK(d->response_id && d->model);
    switch (d->kind) {
    case LLMUX__DELTA_PREAMBLE:
        CHECK(st->n_pre++ == 0);
        break;
    case LLMUX__DELTA_TEXT:
    case LLMUX__DELTA_TOOL_CALL_ARGS:
        CHECK(st->n_pre == 1 && d->text && d->text_len > 0 && strlen(d->text) == d->text_len);
        CHECK(d->kind == LLMUX__DELTA_TEXT || (d->index >= 0 && d->index < st->n_tools));
        break;
    case LLMUX__DELTA_TOOL_CALL_START:
        CHECK(st->n_pre == 1 && d->index == st->n_tools++ && d->tool_id && d->tool_name);
        break;
    case LLMUX__DELTA_FINISH:
        CHECK(st->n_pre == 1 && st->n_finish++ == 0 && llmux__finish_reason_name(d->finish_reason));
        break;
    case LLMUX__DELTA_USAGE:
        CHECK(st->n_pre == 1 && st->n_usage++ == 0 && d->usage.present);
        break;
    case LLMUX__DELTA_ERROR:
        CHECK(d->error && d->error->code != LLMUX_OK && d->error->message[0]);
        st->n_end++;
        break;
    case LLMUX__DELTA_DONE:
        CHECK(st->n_pre == 1);
        st->n_end++;
        break;
    default:
        abort();
    }
    /* every delta encodes to a valid chunk */
    llmux__chunk_meta m = {"id", 1, "p", d->model};
    llmux__buf_clear(&st->chunk);
    CHECK(llmux__chunk_write(&st->chunk, &m, d));
    CHECK(llmux__utf8_valid(st->chunk.p, st->chunk.len));
    if (d->kind != LLMUX__DELTA_DONE) {
        cJSON *j = cJSON_ParseWithLength(st->chunk.p, st->chunk.len);
        CHECK(j);
        cJSON_Delete(j);
    }
    return 0;
}

/* Input: [split seed][body...]: fed in pieces of pseudo-random sizes, then finished. */
static inline int fuzz_stream(llmux__provider p, const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned seed = data[0];
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    fuzz_state st = {0};
    llmux__stream *s = llmux__stream_new(llmux__adapter_for(p));
    CHECK(s);
    size_t off = 0;
    while (off < len) {
        seed = seed * 1103515245u + 12345u;
        size_t n = seed & 0x100 ? len - off : 1 + (seed >> 16) % 64;
        if (n > len - off)
            n = len - off;
        char *piece = malloc(n);
        CHECK(piece);
        memcpy(piece, body + off, n);
        llmux__stream_feed(s, piece, n, fuzz_sink, &st);
        free(piece);
        off += n;
    }
    llmux__stream_finish(s, fuzz_sink, &st);
    CHECK(st.n_end == 1 && llmux__stream_ended(s)); /* it always ends, exactly once */
    llmux__stream_free(s);
    llmux__buf_free(&st.chunk);
    return 0;
}

#endif
