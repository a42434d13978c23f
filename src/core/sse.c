/* sse.c — see sse.h. */
#include "core/sse.h"

#include <stdlib.h>
#include <string.h>

void llmux__sse_init(llmux__sse_parser *p, size_t max_event)
{
    memset(p, 0, sizeof *p);
    p->max_event = max_event ? max_event : LLMUX__SSE_DEFAULT_MAX_EVENT;
}

static void clear_event(llmux__sse_parser *p)
{
    p->data.len = 0;
    p->data_ref = NULL;
    p->data_ref_len = 0;
    p->has_data = false;
    p->data_owned = false;
    p->name[0] = '\0';
    p->dispatched = false;
}

void llmux__sse_reset(llmux__sse_parser *p)
{
    clear_event(p);
    p->line.len = 0;
    p->skip_lf = false;
    p->failed = false;
}

void llmux__sse_free(llmux__sse_parser *p)
{
    free(p->line.p);
    free(p->data.p);
    size_t max = p->max_event;
    memset(p, 0, sizeof *p);
    p->max_event = max;
}

/* Appends n bytes to b, keeping b within max. False on overflow or ENOMEM. */
static bool buf_append(llmux__sse_buf *b, const char *s, size_t n, size_t max)
{
    if (n > max || b->len > max - n)
        return false;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        if (cap > max)
            cap = max;
        char *np = realloc(b->p, cap);
        if (!np)
            return false;
        b->p = np;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    return true;
}

/* A line may hold a field name before max_event bytes of value. */
#define LINE_SLACK 64

/* Moves borrowed event data into the owned buffer (before its source goes away). */
static bool own_data(llmux__sse_parser *p)
{
    if (p->has_data && !p->data_owned) {
        p->data.len = 0;
        if (!buf_append(&p->data, p->data_ref, p->data_ref_len, p->max_event))
            return false;
        p->data_owned = true;
        p->data_ref = NULL;
        p->data_ref_len = 0;
    }
    return true;
}

typedef enum line_result { LINE_OK, LINE_DISPATCH, LINE_FAIL } line_result;

/* Handles one complete line. `borrowed` says the line lives in the caller's buffer
 * (so a data value may be referenced in place) rather than in p->line. */
static line_result process_line(llmux__sse_parser *p, const char *line, size_t n, bool borrowed)
{
    if (n == 0)
        return p->has_data ? LINE_DISPATCH : (p->name[0] = '\0', LINE_OK);
    if (line[0] == ':')
        return LINE_OK;
    const char *colon = memchr(line, ':', n);
    size_t flen = colon ? (size_t)(colon - line) : n;
    const char *value = colon ? colon + 1 : line + n;
    size_t vlen = (size_t)(line + n - value);
    if (vlen && value[0] == ' ') {
        value++;
        vlen--;
    }
    if (flen == 4 && memcmp(line, "data", 4) == 0) {
        if (!p->has_data) {
            p->has_data = true;
            if (borrowed) {
                if (vlen > p->max_event)
                    return LINE_FAIL;
                p->data_ref = value;
                p->data_ref_len = vlen;
                p->data_owned = false;
                return LINE_OK;
            }
            p->data.len = 0;
            p->data_owned = true;
            return buf_append(&p->data, value, vlen, p->max_event) ? LINE_OK : LINE_FAIL;
        }
        if (!own_data(p) || !buf_append(&p->data, "\n", 1, p->max_event) ||
            !buf_append(&p->data, value, vlen, p->max_event))
            return LINE_FAIL;
        return LINE_OK;
    }
    if (flen == 5 && memcmp(line, "event", 5) == 0) {
        size_t keep = vlen < LLMUX__SSE_MAX_NAME ? vlen : LLMUX__SSE_MAX_NAME;
        memcpy(p->name, value, keep);
        p->name[keep] = '\0';
    }
    return LINE_OK;
}

static void fill_event(llmux__sse_parser *p, llmux__sse_event *ev)
{
    ev->name = p->name;
    if (p->data_owned) {
        ev->data = p->data.p ? p->data.p : "";
        ev->data_len = p->data.len;
    } else {
        ev->data = p->data_ref ? p->data_ref : "";
        ev->data_len = p->data_ref_len;
    }
    p->dispatched = true;
}

/* The first CR or LF in s[0..n), or NULL. */
static const char *find_eol(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\n' || s[i] == '\r')
            return s + i;
    return NULL;
}

llmux__sse_status llmux__sse_next(llmux__sse_parser *p, const char *buf, size_t len,
                                  size_t *consumed, llmux__sse_event *ev)
{
    size_t i = 0;
    *consumed = 0;
    if (p->failed)
        return LLMUX__SSE_TOO_LARGE;
    if (p->dispatched)
        clear_event(p);
    if (p->skip_lf && len > 0) {
        if (buf[0] == '\n')
            i = 1;
        p->skip_lf = false;
    }
    while (i < len) {
        const char *eol = find_eol(buf + i, len - i);
        if (!eol) {
            /* A cut line: keep it, and what it may extend, for the next buffer. */
            if (!own_data(p) || !buf_append(&p->line, buf + i, len - i, p->max_event + LINE_SLACK))
                goto fail;
            i = len;
            break;
        }
        size_t j = (size_t)(eol - buf);
        size_t next = j + 1;
        if (*eol == '\r') {
            if (next < len) {
                if (buf[next] == '\n')
                    next++;
            } else {
                p->skip_lf = true;
            }
        }
        line_result r;
        if (p->line.len > 0) {
            if (!buf_append(&p->line, buf + i, j - i, p->max_event + LINE_SLACK))
                goto fail;
            r = process_line(p, p->line.p, p->line.len, false);
            p->line.len = 0;
        } else {
            if (j - i > p->max_event + LINE_SLACK) /* the same limit as for a cut line */
                goto fail;
            r = process_line(p, buf + i, j - i, true);
        }
        i = next;
        if (r == LINE_FAIL)
            goto fail;
        if (r == LINE_DISPATCH) {
            fill_event(p, ev);
            *consumed = i;
            return LLMUX__SSE_EVENT;
        }
    }
    if (!own_data(p))
        goto fail;
    *consumed = len;
    return LLMUX__SSE_NEED_MORE;
fail:
    p->failed = true;
    *consumed = len;
    return LLMUX__SSE_TOO_LARGE;
}

llmux__sse_status llmux__sse_feed(llmux__sse_parser *p, const char *buf, size_t len,
                                  llmux__sse_cb cb, void *ud)
{
    size_t off = 0;
    for (;;) {
        size_t used;
        llmux__sse_event ev;
        llmux__sse_status st = llmux__sse_next(p, buf + off, len - off, &used, &ev);
        off += used;
        if (st != LLMUX__SSE_EVENT)
            return st;
        if (!cb(ud, &ev))
            return LLMUX__SSE_EVENT;
    }
}

llmux__sse_status llmux__sse_finish(llmux__sse_parser *p, llmux__sse_event *ev)
{
    if (p->failed)
        return LLMUX__SSE_TOO_LARGE;
    if (p->dispatched)
        clear_event(p);
    p->skip_lf = false;
    if (p->line.len > 0) {
        line_result r = process_line(p, p->line.p, p->line.len, false);
        p->line.len = 0;
        if (r == LINE_FAIL) {
            p->failed = true;
            return LLMUX__SSE_TOO_LARGE;
        }
    }
    if (p->has_data) {
        fill_event(p, ev);
        return LLMUX__SSE_EVENT;
    }
    clear_event(p);
    return LLMUX__SSE_NEED_MORE;
}
