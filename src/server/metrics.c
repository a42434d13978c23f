/* metrics.c — see metrics.h. Counters are relaxed atomics; model label values are
 * interned in a fixed open-addressing table read without locks (slots are written once,
 * with release ordering, under a mutex, and never move or disappear). */
#include "server/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_PROVIDER_LABELS (LLMUX__PROVIDER_COUNT + 1) /* + "none" */
#define N_OUTCOMES LLMUX_CODE_COUNT_
#define N_HTTP 600
#define MODEL_SLOTS 512 /* > 2 x LLMUX__METRICS_MAX_MODELS: short probe chains */
#define MODEL_NAME_MAX 128

static const double bucket_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                       1,     2.5,  5,     10,   30,  60};
#define N_BUCKETS (sizeof bucket_bounds / sizeof bucket_bounds[0])

typedef struct histogram {
    atomic_uint_fast64_t buckets[N_BUCKETS + 1]; /* non-cumulative; the last is +Inf */
    atomic_uint_fast64_t sum_us;                 /* sum of observations, microseconds */
} histogram;

/* One model label value and its request counters. */
typedef struct model_entry {
    char name[MODEL_NAME_MAX + 1];
    atomic_uint_fast64_t requests[N_PROVIDER_LABELS][N_OUTCOMES];
} model_entry;

struct llmux__metrics {
    pthread_mutex_t model_lock;                       /* serialises inserts only */
    _Atomic(model_entry *) slots[MODEL_SLOTS];        /* the lookup table */
    model_entry *by_order[LLMUX__METRICS_MAX_MODELS]; /* insertion order, for rendering */
    atomic_size_t n_models;                           /* published entries of by_order */
    model_entry other;                                /* "other": over the cap or unusable */
    model_entry none;                                 /* "none": no model given */

    atomic_uint_fast64_t attempts_http[LLMUX__PROVIDER_COUNT][N_HTTP];
    atomic_uint_fast64_t attempts_error[LLMUX__PROVIDER_COUNT][N_OUTCOMES];
    atomic_uint_fast64_t retries[LLMUX__PROVIDER_COUNT];
    atomic_uint_fast64_t fallbacks[LLMUX__PROVIDER_COUNT];
    histogram latency[LLMUX__PROVIDER_COUNT];
    histogram ttfb[LLMUX__PROVIDER_COUNT];
    histogram duration;
    atomic_int_fast64_t in_flight;
    atomic_int_fast64_t streams_open;
    atomic_uint_fast64_t sessions;
};

static void inc(atomic_uint_fast64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static uint64_t get(atomic_uint_fast64_t *c)
{
    return (uint64_t)atomic_load_explicit(c, memory_order_relaxed);
}

llmux__metrics *llmux__metrics_new(void)
{
    /* calloc's zero bytes are valid zero atomics and NULL pointers on every platform
     * llmux builds on (C11 atomics of integer/pointer type with lock-free storage). */
    llmux__metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    if (pthread_mutex_init(&m->model_lock, NULL) != 0) {
        free(m);
        return NULL;
    }
    strcpy(m->other.name, "other");
    strcpy(m->none.name, "none");
    return m;
}

void llmux__metrics_free(llmux__metrics *m)
{
    if (!m)
        return;
    size_t n = atomic_load(&m->n_models);
    for (size_t i = 0; i < n; i++)
        free(m->by_order[i]);
    pthread_mutex_destroy(&m->model_lock);
    free(m);
}

/* True when s (n bytes) is valid UTF-8 without control characters. */
static bool label_text_ok(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c < 0x20 || c == 0x7f)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (i + len > n)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0x85 ||
            (cp >= 0x80 && cp < 0xa0))
            return false;
        i += len;
    }
    return true;
}

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The slot holding `name`, or the first empty slot of its probe chain (*found false). */
static size_t probe(llmux__metrics *m, const char *name, bool *found)
{
    size_t i = (size_t)(hash_name(name) % MODEL_SLOTS);
    for (size_t n = 0; n < MODEL_SLOTS; n++, i = (i + 1) % MODEL_SLOTS) {
        model_entry *e = atomic_load_explicit(&m->slots[i], memory_order_acquire);
        if (!e) {
            *found = false;
            return i;
        }
        if (strcmp(e->name, name) == 0) {
            *found = true;
            return i;
        }
    }
    *found = false; /* unreachable: the table is never more than 40% full */
    return MODEL_SLOTS;
}

/* The entry for a model label value, creating it on first sight. */
static model_entry *model_for(llmux__metrics *m, const char *model)
{
    if (!model || !model[0] || strcmp(model, "none") == 0)
        return &m->none;
    size_t len = strlen(model);
    if (len > MODEL_NAME_MAX || strcmp(model, "other") == 0 ||
        !label_text_ok((const unsigned char *)model, len))
        return &m->other;
    bool found;
    size_t i = probe(m, model, &found);
    if (found)
        return atomic_load_explicit(&m->slots[i], memory_order_acquire);
    if (atomic_load_explicit(&m->n_models, memory_order_relaxed) >= LLMUX__METRICS_MAX_MODELS)
        return &m->other;

    model_entry *e = &m->other;
    pthread_mutex_lock(&m->model_lock);
    i = probe(m, model, &found);
    if (found) {
        e = atomic_load_explicit(&m->slots[i], memory_order_relaxed);
    } else if (i < MODEL_SLOTS) {
        size_t n = atomic_load_explicit(&m->n_models, memory_order_relaxed);
        model_entry *fresh = n < LLMUX__METRICS_MAX_MODELS ? calloc(1, sizeof *fresh) : NULL;
        if (fresh) {
            memcpy(fresh->name, model, len + 1);
            m->by_order[n] = fresh;
            atomic_store_explicit(&m->slots[i], fresh, memory_order_release);
            atomic_store_explicit(&m->n_models, n + 1, memory_order_release);
            e = fresh;
        }
    }
    pthread_mutex_unlock(&m->model_lock);
    return e;
}

static void observe(histogram *h, double v)
{
    if (!(v >= 0)) /* negative or NaN */
        return;
    size_t b = 0;
    while (b < N_BUCKETS && v > bucket_bounds[b])
        b++;
    inc(&h->buckets[b]);
    double us = v * 1e6;
    atomic_fetch_add_explicit(&h->sum_us, us < 1.8e19 ? (uint64_t)(us + 0.5) : 0,
                              memory_order_relaxed);
}

static int outcome_index(llmux_code code)
{
    return (unsigned)code < N_OUTCOMES ? (int)code : (int)LLMUX_EUPSTREAM;
}

void llmux__metrics_request(llmux__metrics *m, int provider, const char *model, llmux_code outcome,
                            double duration_s)
{
    if (!m)
        return;
    if (provider < 0 || provider > LLMUX__METRICS_NO_PROVIDER)
        provider = LLMUX__METRICS_NO_PROVIDER;
    model_entry *e = model_for(m, model);
    inc(&e->requests[provider][outcome_index(outcome)]);
    observe(&m->duration, duration_s);
}

void llmux__metrics_attempt(llmux__metrics *m, llmux__provider p, int http_status, llmux_code error,
                            double latency_s, double ttfb_s)
{
    if (!m || (unsigned)p >= LLMUX__PROVIDER_COUNT)
        return;
    if (http_status >= 100 && http_status < N_HTTP)
        inc(&m->attempts_http[p][http_status]);
    else
        inc(&m->attempts_error[p][outcome_index(error)]);
    observe(&m->latency[p], latency_s);
    observe(&m->ttfb[p], ttfb_s);
}

void llmux__metrics_retry(llmux__metrics *m, llmux__provider p)
{
    if (m && (unsigned)p < LLMUX__PROVIDER_COUNT)
        inc(&m->retries[p]);
}

void llmux__metrics_fallback(llmux__metrics *m, llmux__provider p)
{
    if (m && (unsigned)p < LLMUX__PROVIDER_COUNT)
        inc(&m->fallbacks[p]);
}

void llmux__metrics_in_flight_add(llmux__metrics *m, int delta)
{
    if (m)
        atomic_fetch_add_explicit(&m->in_flight, delta, memory_order_relaxed);
}

void llmux__metrics_streams_open_add(llmux__metrics *m, int delta)
{
    if (m)
        atomic_fetch_add_explicit(&m->streams_open, delta, memory_order_relaxed);
}

void llmux__metrics_sessions_set(llmux__metrics *m, size_t n)
{
    if (m)
        atomic_store_explicit(&m->sessions, (uint64_t)n, memory_order_relaxed);
}

/* ---- rendering ------------------------------------------------------------------------ */

typedef struct out_buf {
    char *data;
    size_t len, cap;
    bool oom;
} out_buf;

static void out_write(out_buf *o, const char *s, size_t n)
{
    if (o->oom)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->len + n + 1)
            cap *= 2;
        char *d = realloc(o->data, cap);
        if (!d) {
            o->oom = true;
            return;
        }
        o->data = d;
        o->cap = cap;
    }
    memcpy(o->data + o->len, s, n);
    o->len += n;
    o->data[o->len] = '\0';
}

static void out_str(out_buf *o, const char *s)
{
    out_write(o, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void out_fmt(out_buf *o, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        out_write(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* A label value, escaped per the text format: \ → \\, " → \", newline → \n. */
static void out_label(out_buf *o, const char *v)
{
    for (const char *p = v; *p; p++) {
        if (*p == '\\')
            out_str(o, "\\\\");
        else if (*p == '"')
            out_str(o, "\\\"");
        else if (*p == '\n')
            out_str(o, "\\n");
        else
            out_write(o, p, 1);
    }
}

static void out_header(out_buf *o, const char *name, const char *type, const char *help)
{
    out_fmt(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const char *provider_label(int p)
{
    return p < LLMUX__PROVIDER_COUNT ? llmux__provider_name((llmux__provider)p) : "none";
}

static const char *outcome_label(int code)
{
    return code == LLMUX_OK ? "success" : llmux_code_type((llmux_code)code);
}

static void render_model(out_buf *o, model_entry *e)
{
    for (int p = 0; p < N_PROVIDER_LABELS; p++) {
        for (int c = 0; c < N_OUTCOMES; c++) {
            uint64_t v = get(&e->requests[p][c]);
            if (!v)
                continue;
            out_fmt(o, "llmux_requests_total{provider=\"%s\",model=\"", provider_label(p));
            out_label(o, e->name);
            out_fmt(o, "\",outcome=\"%s\"} %llu\n", outcome_label(c), (unsigned long long)v);
        }
    }
}

/* One histogram series; `labels` is "" or `provider="x"`. */
static void render_histogram(out_buf *o, const char *name, const char *labels, histogram *h)
{
    uint64_t cum = 0;
    const char *sep = labels[0] ? "," : "";
    for (size_t b = 0; b <= N_BUCKETS; b++) {
        cum += get(&h->buckets[b]);
        if (b < N_BUCKETS)
            out_fmt(o, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, bucket_bounds[b],
                    (unsigned long long)cum);
        else
            out_fmt(o, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
                    (unsigned long long)cum);
    }
    const char *open = labels[0] ? "{" : "", *close = labels[0] ? "}" : "";
    out_fmt(o, "%s_sum%s%s%s %.6f\n", name, open, labels, close, (double)get(&h->sum_us) / 1e6);
    out_fmt(o, "%s_count%s%s%s %llu\n", name, open, labels, close, (unsigned long long)cum);
}

static void render_provider_histograms(out_buf *o, const char *name, const char *help,
                                       histogram *hs)
{
    out_header(o, name, "histogram", help);
    for (int p = 0; p < LLMUX__PROVIDER_COUNT; p++) {
        char labels[64];
        snprintf(labels, sizeof labels, "provider=\"%s\"", provider_label(p));
        render_histogram(o, name, labels, &hs[p]);
    }
}

char *llmux__metrics_render(llmux__metrics *m)
{
    if (!m)
        return NULL;
    out_buf o = {0};
    out_header(&o, "llmux_requests_total", "counter",
               "Requests finished, by provider that answered (else the primary), model and "
               "outcome.");
    size_t n = atomic_load_explicit(&m->n_models, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        render_model(&o, m->by_order[i]);
    render_model(&o, &m->other);
    render_model(&o, &m->none);

    out_header(&o, "llmux_attempts_total", "counter",
               "Upstream attempts, by provider and HTTP status (or error type when there was "
               "no response).");
    for (int p = 0; p < LLMUX__PROVIDER_COUNT; p++) {
        for (int s = 100; s < N_HTTP; s++) {
            uint64_t v = get(&m->attempts_http[p][s]);
            if (v)
                out_fmt(&o, "llmux_attempts_total{provider=\"%s\",status=\"%d\"} %llu\n",
                        provider_label(p), s, (unsigned long long)v);
        }
        for (int c = 0; c < N_OUTCOMES; c++) {
            uint64_t v = get(&m->attempts_error[p][c]);
            if (v)
                out_fmt(&o, "llmux_attempts_total{provider=\"%s\",status=\"%s\"} %llu\n",
                        provider_label(p), outcome_label(c), (unsigned long long)v);
        }
    }

    out_header(&o, "llmux_retries_total", "counter", "Retries of the same provider.");
    for (int p = 0; p < LLMUX__PROVIDER_COUNT; p++)
        out_fmt(&o, "llmux_retries_total{provider=\"%s\"} %llu\n", provider_label(p),
                (unsigned long long)get(&m->retries[p]));
    out_header(&o, "llmux_fallbacks_total", "counter",
               "Times the chain gave up on this provider and moved to the next fallback.");
    for (int p = 0; p < LLMUX__PROVIDER_COUNT; p++)
        out_fmt(&o, "llmux_fallbacks_total{provider=\"%s\"} %llu\n", provider_label(p),
                (unsigned long long)get(&m->fallbacks[p]));

    render_provider_histograms(&o, "llmux_upstream_latency_seconds",
                               "Upstream attempt duration, start to last byte.", m->latency);
    render_provider_histograms(&o, "llmux_upstream_ttfb_seconds",
                               "Upstream time to first response byte.", m->ttfb);
    out_header(&o, "llmux_request_duration_seconds", "histogram",
               "Whole request duration at the proxy.");
    render_histogram(&o, "llmux_request_duration_seconds", "", &m->duration);

    out_header(&o, "llmux_requests_in_flight", "gauge", "Requests being served.");
    out_fmt(&o, "llmux_requests_in_flight %lld\n",
            (long long)atomic_load_explicit(&m->in_flight, memory_order_relaxed));
    out_header(&o, "llmux_streams_open", "gauge", "Client streams open.");
    out_fmt(&o, "llmux_streams_open %lld\n",
            (long long)atomic_load_explicit(&m->streams_open, memory_order_relaxed));
    out_header(&o, "llmux_sessions", "gauge", "Sessions in the store.");
    out_fmt(&o, "llmux_sessions %llu\n", (unsigned long long)get(&m->sessions));
    if (o.oom) {
        free(o.data);
        return NULL;
    }
    return o.data;
}
