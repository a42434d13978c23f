/* stream.c — llmux__stream: an SSE parser feeding a provider's stream decoder (see
 * provider.h). */
#include "providers/common.h"

#include <stdlib.h>

struct llmux__stream {
    llmux__sse_parser sse;
    llmux__stream_decoder *dec;
};

llmux__stream *llmux__stream_new(const llmux__adapter *a)
{
    llmux__stream *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->dec = llmux__stream_decoder_new(a);
    if (!s->dec) {
        free(s);
        return NULL;
    }
    llmux__sse_init(&s->sse, 0);
    return s;
}

void llmux__stream_free(llmux__stream *s)
{
    if (!s)
        return;
    llmux__sse_free(&s->sse);
    llmux__stream_decoder_free(s->dec);
    free(s);
}

bool llmux__stream_ended(const llmux__stream *s)
{
    return llmux__stream_decoder_ended(s->dec);
}

static int too_large(llmux__stream *s, llmux__delta_sink sink, void *ud)
{
    return llmux__dec_fail(s->dec, "upstream stream event larger than the 1 MiB limit", sink, ud);
}

int llmux__stream_feed(llmux__stream *s, const char *buf, size_t len, llmux__delta_sink sink,
                       void *ud)
{
    size_t off = 0;
    while (!s->dec->ended) {
        size_t used;
        llmux__sse_event ev;
        llmux__sse_status st = llmux__sse_next(&s->sse, buf + off, len - off, &used, &ev);
        off += used;
        if (st == LLMUX__SSE_NEED_MORE)
            return 0;
        if (st == LLMUX__SSE_TOO_LARGE)
            return too_large(s, sink, ud);
        int r = s->dec->adapter->stream_event(s->dec, &ev, sink, ud);
        if (r)
            return r;
    }
    return 0;
}

int llmux__stream_finish(llmux__stream *s, llmux__delta_sink sink, void *ud)
{
    if (s->dec->ended)
        return 0;
    llmux__sse_event ev;
    llmux__sse_status st = llmux__sse_finish(&s->sse, &ev);
    if (st == LLMUX__SSE_TOO_LARGE)
        return too_large(s, sink, ud);
    if (st == LLMUX__SSE_EVENT) {
        int r = s->dec->adapter->stream_event(s->dec, &ev, sink, ud);
        if (r)
            return r;
    }
    return s->dec->adapter->stream_end(s->dec, sink, ud);
}
