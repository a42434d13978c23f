/* log.c — see log.h. Lines are built in a buffer (on the stack unless they grow past
 * it) and written with write(2). */
#include "server/log.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Process-wide settings (see llmux__log_configure). */
static atomic_int log_fd = 2;
static atomic_int log_level = LLMUX__LOG_INFO;
static atomic_bool log_content;

#define LINE_STACK 2048
#define TRUNCATED_MARK "...(truncated)"

typedef struct line_buf {
    char *data;
    size_t len, cap;
    bool heap;
    bool oom;
    char stack[LINE_STACK];
} line_buf;

static void line_init(line_buf *b)
{
    b->data = b->stack;
    b->len = 0;
    b->cap = sizeof b->stack;
    b->heap = false;
    b->oom = false;
}

static void line_release(line_buf *b)
{
    if (b->heap)
        free(b->data);
}

static void put(line_buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap * 2;
        while (cap < b->len + n)
            cap *= 2;
        char *d = b->heap ? realloc(b->data, cap) : malloc(cap);
        if (!d) {
            b->oom = true;
            return;
        }
        if (!b->heap)
            memcpy(d, b->data, b->len);
        b->data = d;
        b->cap = cap;
        b->heap = true;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

static void puts_(line_buf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* The length of the valid UTF-8 sequence at s (n bytes available), 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp, min;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0)
        len = 2, cp = c & 0x1f, min = 0x80;
    else if ((c & 0xf0) == 0xe0)
        len = 3, cp = c & 0x0f, min = 0x800;
    else if ((c & 0xf8) == 0xf0)
        len = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* A JSON string literal for s (NULL → null), at most LLMUX__LOG_VALUE_MAX input bytes. */
static void put_json_string(line_buf *b, const char *s)
{
    if (!s) {
        puts_(b, "null");
        return;
    }
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    bool cut = n > LLMUX__LOG_VALUE_MAX;
    if (cut)
        n = LLMUX__LOG_VALUE_MAX;
    put(b, "\"", 1);
    size_t run = 0; /* start of the pending run of bytes copied as they are */
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        const char *esc = NULL;
        char ubuf[8];
        size_t adv = 1;
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\t')
            esc = "\\t";
        else if (c < 0x20 || c == 0x7f) {
            snprintf(ubuf, sizeof ubuf, "\\u%04x", c);
            esc = ubuf;
        } else if (c >= 0x80) {
            adv = utf8_seq(p + i, n - i);
            if (adv == 0) {
                adv = 1;
                esc = "\\ufffd";
            }
        }
        if (esc) {
            put(b, s + run, i - run);
            puts_(b, esc);
            run = i + adv;
        }
        i += adv;
    }
    put(b, s + run, n - run);
    if (cut)
        puts_(b, TRUNCATED_MARK);
    put(b, "\"", 1);
}

static void put_key(line_buf *b, const char *key)
{
    put(b, ",", 1);
    put_json_string(b, key ? key : "");
    put(b, ":", 1);
}

static void put_number(line_buf *b, double v)
{
    char tmp[64];
    if (!isfinite(v)) {
        puts_(b, "null");
        return;
    }
    double a = fabs(v);
    if (a != 0 && (a < 1e-3 || a >= 1e15)) {
        snprintf(tmp, sizeof tmp, "%.6g", v);
    } else {
        /* milliseconds and the like: three decimals, trailing zeros dropped */
        int n = snprintf(tmp, sizeof tmp, "%.3f", v);
        while (n > 0 && tmp[n - 1] == '0')
            tmp[--n] = '\0';
        if (n > 0 && tmp[n - 1] == '.')
            tmp[--n] = '\0';
    }
    puts_(b, tmp);
}

static void put_int(line_buf *b, long long v)
{
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%lld", v);
    puts_(b, tmp);
}

const char *llmux__log_level_name(llmux__log_level level)
{
    switch (level) {
    case LLMUX__LOG_ERROR:
        return "error";
    case LLMUX__LOG_WARN:
        return "warn";
    case LLMUX__LOG_INFO:
        return "info";
    case LLMUX__LOG_DEBUG:
        return "debug";
    }
    return "info";
}

bool llmux__log_level_parse(const char *name, llmux__log_level *out)
{
    static const struct {
        const char *name;
        llmux__log_level level;
    } names[] = {{"error", LLMUX__LOG_ERROR},
                 {"warn", LLMUX__LOG_WARN},
                 {"warning", LLMUX__LOG_WARN},
                 {"info", LLMUX__LOG_INFO},
                 {"debug", LLMUX__LOG_DEBUG}};
    for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].level;
            return true;
        }
    }
    return false;
}

void llmux__log_configure(FILE *out, llmux__log_level level, bool content)
{
    int fd = out ? fileno(out) : 2;
    atomic_store(&log_fd, fd >= 0 ? fd : 2);
    atomic_store(&log_level, (int)level);
    atomic_store(&log_content, content);
}

bool llmux__log_enabled(llmux__log_level level)
{
    return (int)level <= atomic_load_explicit(&log_level, memory_order_relaxed);
}

bool llmux__log_content_enabled(void)
{
    return atomic_load_explicit(&log_content, memory_order_relaxed);
}

/* {"ts":"…","level":"…","event":… — the common start of every line. */
static void line_start(line_buf *b, llmux__log_level level, const char *event)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char tsbuf[128];
    snprintf(tsbuf, sizeof tsbuf, "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             ts.tv_nsec / 1000000);
    puts_(b, tsbuf);
    puts_(b, llmux__log_level_name(level));
    puts_(b, "\",\"event\":");
    put_json_string(b, event);
}

/* Ends the line and writes it; a line that could not be built is replaced by a short
 * notice so the event is not silently lost. */
static void line_emit(line_buf *b, llmux__log_level level)
{
    put(b, "}\n", 2);
    const char *data = b->data;
    size_t len = b->len;
    char fallback[160];
    if (b->oom) {
        int n = snprintf(fallback, sizeof fallback,
                         "{\"level\":\"%s\",\"event\":\"log_line_dropped\",\"reason\":"
                         "\"out of memory\"}\n",
                         llmux__log_level_name(level));
        data = fallback;
        len = (size_t)n;
    }
    int fd = atomic_load_explicit(&log_fd, memory_order_relaxed);
    while (len > 0) {
        ssize_t w = write(fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break; /* nowhere to report a failing log */
        data += w;
        len -= (size_t)w;
    }
}

void llmux__log_write(llmux__log_level level, const char *event, ...)
{
    if (!llmux__log_enabled(level))
        return;
    bool content = llmux__log_content_enabled();
    line_buf b;
    line_init(&b);
    line_start(&b, level, event);
    va_list ap;
    va_start(ap, event);
    for (;;) {
        int type = va_arg(ap, int);
        if (type == LLMUX__LT_END)
            break;
        const char *key = va_arg(ap, const char *);
        switch (type) {
        case LLMUX__LT_STR:
            put_key(&b, key);
            put_json_string(&b, va_arg(ap, const char *));
            break;
        case LLMUX__LT_CONTENT: {
            const char *v = va_arg(ap, const char *);
            if (content) {
                put_key(&b, key);
                put_json_string(&b, v);
            }
            break;
        }
        case LLMUX__LT_INT:
            put_key(&b, key);
            put_int(&b, va_arg(ap, long long));
            break;
        case LLMUX__LT_DBL:
            put_key(&b, key);
            put_number(&b, va_arg(ap, double));
            break;
        case LLMUX__LT_BOOL:
            put_key(&b, key);
            puts_(&b, va_arg(ap, int) ? "true" : "false");
            break;
        default:
            /* Not built by the macros: the rest of the list cannot be read safely. */
            goto done;
        }
    }
done:
    va_end(ap);
    line_emit(&b, level);
    line_release(&b);
}

static void put_str_field(line_buf *b, const char *key, const char *v)
{
    put_key(b, key);
    put_json_string(b, v);
}

void llmux__log_request_line(const llmux__log_request *r)
{
    if (!r)
        return;
    llmux__log_level level = r->status >= 500 ? LLMUX__LOG_WARN : LLMUX__LOG_INFO;
    if (!llmux__log_enabled(level))
        return;
    line_buf b;
    line_init(&b);
    line_start(&b, level, "request");
    put_str_field(&b, "id", r->id);
    put_str_field(&b, "session", r->session);
    put_str_field(&b, "method", r->method);
    put_key(&b, "path");
    if (r->path) {
        char path[512];
        size_t n = strcspn(r->path, "?");
        if (n >= sizeof path)
            n = sizeof path - 1;
        memcpy(path, r->path, n);
        path[n] = '\0';
        put_json_string(&b, path);
    } else {
        puts_(&b, "null");
    }
    put_key(&b, "status");
    put_int(&b, r->status);
    put_str_field(&b, "outcome", r->outcome);
    put_str_field(&b, "provider", r->provider);
    put_str_field(&b, "model", r->model);
    put_key(&b, "attempts");
    put(&b, "[", 1);
    for (size_t i = 0; i < r->n_attempts && r->attempts; i++) {
        const llmux__log_attempt *a = &r->attempts[i];
        puts_(&b, i ? ",{\"provider\":" : "{\"provider\":");
        put_json_string(&b, a->provider);
        put_str_field(&b, "model", a->model);
        put_key(&b, "status");
        if (a->status > 0)
            put_int(&b, a->status);
        else
            puts_(&b, "null");
        put_str_field(&b, "error_type", a->error_type);
        put_key(&b, "latency_ms");
        put_number(&b, a->latency_ms);
        put(&b, "}", 1);
    }
    put(&b, "]", 1);
    put_key(&b, "latency_ms");
    put_number(&b, r->latency_ms);
    if (r->ttfb_ms >= 0) {
        put_key(&b, "ttfb_ms");
        put_number(&b, r->ttfb_ms);
    }
    line_emit(&b, level);
    line_release(&b);
}
