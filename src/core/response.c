/* response.c — see response.h. */
#include "core/response.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- llmux__buf ---------------------------------------------------------------- */

void llmux__buf_init(llmux__buf *b)
{
    memset(b, 0, sizeof *b);
}

void llmux__buf_free(llmux__buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

void llmux__buf_clear(llmux__buf *b)
{
    b->len = 0;
    b->oom = false;
    if (b->p)
        b->p[0] = '\0';
}

static bool buf_reserve(llmux__buf *b, size_t extra)
{
    if (b->oom)
        return false;
    if (extra >= SIZE_MAX - b->len) {
        b->oom = true;
        return false;
    }
    size_t need = b->len + extra + 1; /* + NUL */
    if (need <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *np = realloc(b->p, cap);
    if (!np) {
        b->oom = true;
        return false;
    }
    b->p = np;
    b->cap = cap;
    return true;
}

bool llmux__buf_append(llmux__buf *b, const void *s, size_t n)
{
    if (!buf_reserve(b, n))
        return false;
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return true;
}

bool llmux__buf_puts(llmux__buf *b, const char *s)
{
    return llmux__buf_append(b, s, strlen(s));
}

bool llmux__buf_int(llmux__buf *b, int64_t v)
{
    /* by hand: snprintf costs ~10x more, and every streamed chunk writes one or more */
    char tmp[24];
    char *e = tmp + sizeof tmp, *p = e;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    return llmux__buf_append(b, p, (size_t)(e - p));
}

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    if (c < 0xC2 || c > 0xF4)
        return 0;
    size_t len = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (n < len)
        return 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c == 0xE0)
        lo = 0xA0;
    else if (c == 0xED)
        hi = 0x9F;
    else if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

/* SWAR over 8 bytes: the high bit of each byte that is >= 0x80 / < 0x20 / equal to c. */
#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull
static inline uint64_t bytes_high(uint64_t w)
{
    return w & HIGHS;
}
static inline uint64_t bytes_below_0x20(uint64_t w)
{
    return (w - ONES * 0x20) & ~w & HIGHS;
}
static inline uint64_t bytes_equal(uint64_t w, unsigned char c)
{
    uint64_t x = w ^ (ONES * c);
    return (x - ONES) & ~x & HIGHS;
}

bool llmux__utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        /* answers are mostly ASCII: skip it 8 bytes at a time */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, u + i, 8);
            if (bytes_high(w))
                break;
            i += 8;
        }
        if (i >= n)
            break;
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = utf8_seq(u + i, n - i);
        if (!l)
            return false;
        i += l;
    }
    return true;
}

static const char REPLACEMENT[] = "\xEF\xBF\xBD";

bool llmux__buf_json_string(llmux__buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    if (!buf_reserve(b, n + 2))
        return false;
    b->p[b->len++] = '"';
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        while (run + 8 <= n) { /* 8 plain bytes at a time (no escape, no UTF-8 check) */
            uint64_t w;
            memcpy(&w, u + run, 8);
            if (bytes_high(w) | bytes_below_0x20(w) | bytes_equal(w, '"') | bytes_equal(w, '\\'))
                break;
            run += 8;
        }
        while (run < n && u[run] >= 0x20 && u[run] < 0x80 && u[run] != '"' && u[run] != '\\')
            run++;
        if (run > i) {
            llmux__buf_append(b, s + i, run - i);
            i = run;
            if (i == n)
                break;
        }
        unsigned char c = u[i];
        char esc[6];
        if (c >= 0x80) {
            size_t l = utf8_seq(u + i, n - i);
            if (l) {
                llmux__buf_append(b, s + i, l);
                i += l;
            } else {
                llmux__buf_append(b, REPLACEMENT, 3);
                i++;
            }
            continue;
        }
        switch (c) {
        case '"':
            llmux__buf_append(b, "\\\"", 2);
            break;
        case '\\':
            llmux__buf_append(b, "\\\\", 2);
            break;
        case '\n':
            llmux__buf_append(b, "\\n", 2);
            break;
        case '\r':
            llmux__buf_append(b, "\\r", 2);
            break;
        case '\t':
            llmux__buf_append(b, "\\t", 2);
            break;
        case '\b':
            llmux__buf_append(b, "\\b", 2);
            break;
        case '\f':
            llmux__buf_append(b, "\\f", 2);
            break;
        default:
            esc[0] = '\\';
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            llmux__buf_append(b, esc, 6);
            break;
        }
        i++;
    }
    return llmux__buf_append(b, "\"", 1);
}

/* ---- finish reasons, errors ---------------------------------------------------- */

const char *llmux__finish_reason_name(llmux__finish_reason f)
{
    switch (f) {
    case LLMUX__FINISH_STOP:
        return "stop";
    case LLMUX__FINISH_LENGTH:
        return "length";
    case LLMUX__FINISH_TOOL_CALLS:
        return "tool_calls";
    case LLMUX__FINISH_CONTENT_FILTER:
        return "content_filter";
    case LLMUX__FINISH_NONE:
        break;
    }
    return NULL;
}

void llmux__upstream_error_clear(llmux__upstream_error *e)
{
    memset(e, 0, sizeof *e);
    e->code = LLMUX_OK;
    e->retry_after_s = -1.0;
}

cJSON *llmux__upstream_error_to_json(const llmux__upstream_error *e, const char *provider)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    if (!cJSON_AddStringToObject(o, "type", llmux_code_type(e->code)) ||
        !cJSON_AddStringToObject(o, "message", e->message) ||
        (provider && !cJSON_AddStringToObject(o, "provider", provider))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* ---- llmux__response ------------------------------------------------------------ */

llmux__response *llmux__response_new(void)
{
    llmux__response *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    llmux__arena_init(&r->arena);
    r->id = "";
    r->model = "";
    r->finish_reason = LLMUX__FINISH_NONE;
    return r;
}

void llmux__response_free(llmux__response *r)
{
    if (!r)
        return;
    llmux__arena_free(&r->arena);
    free(r);
}

/* llmux__response_strdup, also giving the length of the copy. */
static char *dup_len(llmux__response *r, const char *s, size_t n, size_t *out_len)
{
    if (llmux__utf8_valid(s, n)) {
        *out_len = n;
        return llmux__arena_strndup(&r->arena, s, n);
    }
    /* Worst case every byte becomes a 3-byte U+FFFD. */
    if (n > (SIZE_MAX - 1) / 3)
        return NULL;
    char *d = llmux__arena_alloc(&r->arena, n * 3 + 1);
    if (!d)
        return NULL;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, o = 0;
    while (i < n) {
        size_t l = u[i] < 0x80 ? 1 : utf8_seq(u + i, n - i);
        if (l) {
            memcpy(d + o, s + i, l);
            o += l;
            i += l;
        } else {
            memcpy(d + o, REPLACEMENT, 3);
            o += 3;
            i++;
        }
    }
    d[o] = '\0';
    *out_len = o;
    return d;
}

char *llmux__response_strdup(llmux__response *r, const char *s, size_t n)
{
    size_t len;
    return dup_len(r, s, n, &len);
}

bool llmux__response_set_text(llmux__response *r, const char *s, size_t n)
{
    if (!s) {
        r->text = NULL;
        r->text_len = 0;
        return true;
    }
    size_t len;
    char *t = dup_len(r, s, n, &len);
    if (!t)
        return false;
    r->text = t;
    r->text_len = len;
    return true;
}

bool llmux__response_add_tool_call(llmux__response *r, const char *id, const char *name,
                                   const char *arguments, const char *thought_signature)
{
    size_t n = r->n_tool_calls;
    /* The array lives in the arena: grow by doubling into a fresh copy. */
    if ((n & (n - 1)) == 0) {
        size_t cap = n ? n * 2 : 1;
        llmux__response_tool_call *nt = llmux__arena_alloc(&r->arena, cap * sizeof *nt);
        if (!nt)
            return false;
        if (n)
            memcpy(nt, r->tool_calls, n * sizeof *nt);
        r->tool_calls = nt;
    }
    llmux__response_tool_call *tc = &r->tool_calls[n];
    tc->id = llmux__response_strdup(r, id ? id : "", id ? strlen(id) : 0);
    tc->name = llmux__response_strdup(r, name ? name : "", name ? strlen(name) : 0);
    tc->arguments =
        llmux__response_strdup(r, arguments ? arguments : "{}", arguments ? strlen(arguments) : 2);
    tc->thought_signature =
        thought_signature ? llmux__response_strdup(r, thought_signature, strlen(thought_signature))
                          : NULL;
    if (!tc->id || !tc->name || !tc->arguments || (thought_signature && !tc->thought_signature))
        return false;
    r->n_tool_calls = n + 1;
    return true;
}

static cJSON *tool_call_json(const char *id, const char *name, const char *arguments,
                             const char *sig)
{
    cJSON *tc = cJSON_CreateObject();
    cJSON *fn = cJSON_CreateObject();
    if (!tc || !fn)
        goto fail;
    if (!cJSON_AddStringToObject(tc, "id", id) || !cJSON_AddStringToObject(tc, "type", "function"))
        goto fail;
    if (!cJSON_AddStringToObject(fn, "name", name) ||
        !cJSON_AddStringToObject(fn, "arguments", arguments))
        goto fail;
    cJSON_AddItemToObjectCS(tc, "function", fn);
    fn = NULL;
    if (sig) {
        cJSON *extra = cJSON_AddObjectToObject(tc, "extra_content");
        cJSON *google = extra ? cJSON_AddObjectToObject(extra, "google") : NULL;
        if (!google || !cJSON_AddStringToObject(google, "thought_signature", sig))
            goto fail;
    }
    return tc;
fail:
    cJSON_Delete(fn);
    cJSON_Delete(tc);
    return NULL;
}

cJSON *llmux__response_to_json(const llmux__response *r, int64_t now)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    const char *finish = llmux__finish_reason_name(r->finish_reason);
    cJSON *choices, *choice, *msg;
    if (!cJSON_AddStringToObject(root, "id", r->id ? r->id : "") ||
        !cJSON_AddStringToObject(root, "object", "chat.completion") ||
        !cJSON_AddNumberToObject(root, "created", (double)(r->created ? r->created : now)) ||
        !cJSON_AddStringToObject(root, "model", r->model ? r->model : "") ||
        !(choices = cJSON_AddArrayToObject(root, "choices")) || !(choice = cJSON_CreateObject()))
        goto fail;
    cJSON_AddItemToArray(choices, choice);
    if (!cJSON_AddNumberToObject(choice, "index", 0) ||
        !(msg = cJSON_AddObjectToObject(choice, "message")) ||
        !cJSON_AddStringToObject(msg, "role", "assistant"))
        goto fail;
    if (r->text) {
        if (!cJSON_AddStringToObject(msg, "content", r->text))
            goto fail;
    } else if (!cJSON_AddNullToObject(msg, "content")) {
        goto fail;
    }
    if (r->n_tool_calls) {
        cJSON *calls = cJSON_AddArrayToObject(msg, "tool_calls");
        if (!calls)
            goto fail;
        for (size_t i = 0; i < r->n_tool_calls; i++) {
            const llmux__response_tool_call *t = &r->tool_calls[i];
            cJSON *tc = tool_call_json(t->id, t->name, t->arguments, t->thought_signature);
            if (!tc)
                goto fail;
            cJSON_AddItemToArray(calls, tc);
        }
    }
    if (finish ? !cJSON_AddStringToObject(choice, "finish_reason", finish)
               : !cJSON_AddNullToObject(choice, "finish_reason"))
        goto fail;
    if (r->usage.present) {
        cJSON *u = cJSON_AddObjectToObject(root, "usage");
        if (!u || !cJSON_AddNumberToObject(u, "prompt_tokens", (double)r->usage.prompt_tokens) ||
            !cJSON_AddNumberToObject(u, "completion_tokens", (double)r->usage.completion_tokens) ||
            !cJSON_AddNumberToObject(u, "total_tokens", (double)r->usage.total_tokens))
            goto fail;
    }
    return root;
fail:
    cJSON_Delete(root);
    return NULL;
}

static void put_str(llmux__buf *b, const char *s);

bool llmux__response_write_json(llmux__buf *b, const llmux__response *r, int64_t now,
                                const char *model)
{
    const char *finish = llmux__finish_reason_name(r->finish_reason);
    llmux__buf_puts(b, "{\"id\":");
    put_str(b, r->id);
    llmux__buf_puts(b, ",\"object\":\"chat.completion\",\"created\":");
    llmux__buf_int(b, r->created ? r->created : now);
    llmux__buf_puts(b, ",\"model\":");
    put_str(b, model ? model : r->model);
    llmux__buf_puts(b, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                       "\"content\":");
    if (r->text)
        llmux__buf_json_string(b, r->text, strlen(r->text));
    else
        llmux__buf_puts(b, "null");
    if (r->n_tool_calls) {
        llmux__buf_puts(b, ",\"tool_calls\":[");
        for (size_t i = 0; i < r->n_tool_calls; i++) {
            const llmux__response_tool_call *t = &r->tool_calls[i];
            llmux__buf_puts(b, i ? ",{\"id\":" : "{\"id\":");
            put_str(b, t->id);
            llmux__buf_puts(b, ",\"type\":\"function\",\"function\":{\"name\":");
            put_str(b, t->name);
            llmux__buf_puts(b, ",\"arguments\":");
            put_str(b, t->arguments);
            llmux__buf_puts(b, "}");
            if (t->thought_signature) {
                llmux__buf_puts(b, ",\"extra_content\":{\"google\":{\"thought_signature\":");
                put_str(b, t->thought_signature);
                llmux__buf_puts(b, "}}");
            }
            llmux__buf_puts(b, "}");
        }
        llmux__buf_puts(b, "]");
    }
    llmux__buf_puts(b, "},\"finish_reason\":");
    if (finish)
        put_str(b, finish);
    else
        llmux__buf_puts(b, "null");
    llmux__buf_puts(b, "}]");
    if (r->usage.present) {
        llmux__buf_puts(b, ",\"usage\":{\"prompt_tokens\":");
        llmux__buf_int(b, r->usage.prompt_tokens);
        llmux__buf_puts(b, ",\"completion_tokens\":");
        llmux__buf_int(b, r->usage.completion_tokens);
        llmux__buf_puts(b, ",\"total_tokens\":");
        llmux__buf_int(b, r->usage.total_tokens);
        llmux__buf_puts(b, "}");
    }
    return !b->oom;
}

/* ---- deltas and chunks ------------------------------------------------------------ */

bool llmux__delta_is_content(const llmux__delta *d)
{
    return d->kind == LLMUX__DELTA_TEXT || d->kind == LLMUX__DELTA_TOOL_CALL_START ||
           d->kind == LLMUX__DELTA_TOOL_CALL_ARGS;
}

const char *llmux__delta_kind_name(llmux__delta_kind k)
{
    static const char *const names[] = {"preamble", "text",  "tool_call_start", "tool_call_args",
                                        "finish",   "usage", "error",           "done"};
    if ((unsigned)k < sizeof names / sizeof names[0])
        return names[k];
    return "unknown";
}

static void put_str(llmux__buf *b, const char *s)
{
    llmux__buf_json_string(b, s ? s : "", s ? strlen(s) : 0);
}

/* Writes {"id":…,"object":"chat.completion.chunk","created":…,"model":…,"provider":…, */
static void chunk_head(llmux__buf *b, const llmux__chunk_meta *m)
{
    llmux__buf_puts(b, "{\"id\":");
    put_str(b, m->id);
    llmux__buf_puts(b, ",\"object\":\"chat.completion.chunk\",\"created\":");
    llmux__buf_int(b, m->created);
    llmux__buf_puts(b, ",\"model\":");
    put_str(b, m->model);
    llmux__buf_puts(b, ",\"provider\":");
    put_str(b, m->provider);
    llmux__buf_puts(b, ",");
}

bool llmux__chunk_write(llmux__buf *b, const llmux__chunk_meta *m, const llmux__delta *d)
{
    switch (d->kind) {
    case LLMUX__DELTA_DONE:
        return llmux__buf_puts(b, "[DONE]");
    case LLMUX__DELTA_ERROR: {
        llmux__buf_puts(b, "{\"error\":{\"type\":");
        put_str(b, llmux_code_type(d->error ? d->error->code : LLMUX_EUPSTREAM));
        llmux__buf_puts(b, ",\"message\":");
        put_str(b, d->error ? d->error->message : "");
        if (m->provider) {
            llmux__buf_puts(b, ",\"provider\":");
            put_str(b, m->provider);
        }
        return llmux__buf_puts(b, "}}");
    }
    case LLMUX__DELTA_USAGE:
        chunk_head(b, m);
        llmux__buf_puts(b, "\"choices\":[],\"usage\":{\"prompt_tokens\":");
        llmux__buf_int(b, d->usage.prompt_tokens);
        llmux__buf_puts(b, ",\"completion_tokens\":");
        llmux__buf_int(b, d->usage.completion_tokens);
        llmux__buf_puts(b, ",\"total_tokens\":");
        llmux__buf_int(b, d->usage.total_tokens);
        return llmux__buf_puts(b, "}}");
    default:
        break;
    }
    chunk_head(b, m);
    llmux__buf_puts(b, "\"choices\":[{\"index\":0,\"delta\":");
    switch (d->kind) {
    case LLMUX__DELTA_PREAMBLE:
        llmux__buf_puts(b, "{\"role\":\"assistant\",\"content\":\"\"}");
        break;
    case LLMUX__DELTA_TEXT:
        llmux__buf_puts(b, "{\"content\":");
        llmux__buf_json_string(b, d->text ? d->text : "", d->text ? d->text_len : 0);
        llmux__buf_puts(b, "}");
        break;
    case LLMUX__DELTA_TOOL_CALL_START:
        llmux__buf_puts(b, "{\"tool_calls\":[{\"index\":");
        llmux__buf_int(b, d->index);
        llmux__buf_puts(b, ",\"id\":");
        put_str(b, d->tool_id);
        llmux__buf_puts(b, ",\"type\":\"function\",\"function\":{\"name\":");
        put_str(b, d->tool_name);
        llmux__buf_puts(b, ",\"arguments\":\"\"}");
        if (d->thought_signature) {
            llmux__buf_puts(b, ",\"extra_content\":{\"google\":{\"thought_signature\":");
            put_str(b, d->thought_signature);
            llmux__buf_puts(b, "}}");
        }
        llmux__buf_puts(b, "}]}");
        break;
    case LLMUX__DELTA_TOOL_CALL_ARGS:
        llmux__buf_puts(b, "{\"tool_calls\":[{\"index\":");
        llmux__buf_int(b, d->index);
        llmux__buf_puts(b, ",\"function\":{\"arguments\":");
        llmux__buf_json_string(b, d->text ? d->text : "", d->text ? d->text_len : 0);
        llmux__buf_puts(b, "}}]}");
        break;
    default: /* FINISH */
        llmux__buf_puts(b, "{}");
        break;
    }
    llmux__buf_puts(b, ",\"finish_reason\":");
    const char *fr =
        d->kind == LLMUX__DELTA_FINISH ? llmux__finish_reason_name(d->finish_reason) : NULL;
    if (fr)
        put_str(b, fr);
    else
        llmux__buf_puts(b, "null");
    return llmux__buf_puts(b, "}]}");
}

bool llmux__chunk_write_sse(llmux__buf *b, const llmux__chunk_meta *m, const llmux__delta *d)
{
    llmux__buf_puts(b, "data: ");
    llmux__chunk_write(b, m, d);
    return llmux__buf_puts(b, "\n\n");
}
