/* test_alloc_fail.c — fail the Nth allocation, for every N, in every core and adapter
 * operation (curl's "torture" idea): proves that each error path frees what it took,
 * never crashes, and reports the failure instead of a wrong answer.
 *
 * How: this program defines malloc, calloc, realloc, free (and the aligned variants)
 * itself, forwarding to glibc's __libc_* functions, so that every allocation in the
 * process (llmux, cJSON, libc's strdup, ...) goes through a countdown. For one
 * operation on one input, the loop runs it with allocation N made to fail, for N = 1,
 * 2, ..., until a run completes without reaching N. Two modes: only the Nth call fails
 * ("one"), or the Nth and every later one ("all after"), which also exercises cleanup
 * code that allocates. After each run:
 *  - the number of live blocks is what it was before (no leak, no double free —
 *    glibc aborts on the latter);
 *  - the operation either reported an error that an allocation failure may give
 *    (LLMUX_ENOMEM; for a few calls also the documented stand-in, e.g. cJSON cannot
 *    tell "out of memory" from "bad JSON", and the SSE parser reports a failed copy as
 *    TOO_LARGE) or produced exactly the answer of the unfailed run (compared by hash).
 *
 * Operations: request decode + validate + plan + to_json (+ plan to_json) on request
 * seeds; the public builder; every adapter's build_request and warm_request; every
 * response fixture through its adapter's parse_response and the response encoder;
 * every stream fixture through llmux__stream_feed (in pieces) + finish + the chunk
 * encoder; the SSE parser alone; the sentencer (with and without cleaning) and the
 * cleaner; and the proxy's pure state: managed keys, the token set (a good token may be
 * refused for lack of memory, a wrong one never accepted), metrics (a model label that
 * cannot be allocated is counted as "other"), the session store (configure, list,
 * resolve, delete; secret buffers counted too).
 *
 * Not built into sanitizer runs: ASan owns malloc there (the test prints a skip).
 * Set LLMUX_ALLOC_FAIL_VERBOSE=1 to print each operation's number of allocation points,
 * LLMUX_ALLOC_FAIL_TRACK=1 to print where the blocks of a leaking run were allocated
 * (build with -rdynamic or read the addresses with addr2line).
 */
#include <stdio.h>
#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#define AF_SKIP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define AF_SKIP 1
#endif
#endif

#ifdef AF_SKIP
int main(void)
{
    printf("test_alloc_fail: skipped (a sanitizer owns malloc in this build)\n");
    return 0;
}
#else

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/clean.h"
#include "core/request.h"
#include "core/response.h"
#include "core/sentence.h"
#include "core/sse.h"
#include "llmux.h"
#include "core/secret.h"
#include "providers/provider.h"
#include "server/keys.h"
#include "server/metrics.h"
#include "server/sessions.h"
#include "server/tokens.h"
#include "test_util.h"

#include <openssl/err.h>

#include <dirent.h>
#include <errno.h>
#include <execinfo.h>
#include <string.h>
#include <unistd.h>

/* ---- the allocator ---------------------------------------------------------------- */

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);
extern void __libc_free(void *p);

static long af_live;       /* blocks allocated minus blocks freed, since start */
static bool af_armed;      /* counting allocation calls */
static long af_calls;      /* allocation calls since armed */
static long af_fail_at;    /* the call that fails (1-based) */
static bool af_sticky;     /* every call after it fails too */
static bool af_injected;   /* a failure was injected since armed */
static void *af_trace[32]; /* where the (first) injected failure happened */
static int af_trace_len;

/* LLMUX_ALLOC_FAIL_TRACK=1: remember where each block of a run was allocated, and
 * print the blocks still live when the run leaks. */
typedef struct af_block {
    void *p;
    void *trace[12];
    int trace_len;
} af_block;
static af_block af_blocks[8192];
static int af_nblocks;
static bool af_tracking;

static void af_track(void *p)
{
    if (!af_tracking || !af_armed || !p || af_nblocks == 8192)
        return;
    af_tracking = false; /* backtrace() must not recurse into here */
    af_blocks[af_nblocks].p = p;
    af_blocks[af_nblocks].trace_len = backtrace(af_blocks[af_nblocks].trace, 12);
    af_nblocks++;
    af_tracking = true;
}

static void af_untrack(void *p)
{
    for (int i = 0; i < af_nblocks; i++)
        if (af_blocks[i].p == p) {
            af_blocks[i] = af_blocks[--af_nblocks];
            return;
        }
}

static bool af_fail_now(void)
{
    if (!af_armed)
        return false;
    af_calls++;
    if (af_calls == af_fail_at || (af_sticky && af_calls > af_fail_at)) {
        if (af_calls == af_fail_at) {
            af_armed = false; /* backtrace may allocate */
            af_trace_len = backtrace(af_trace, 32);
            af_armed = true;
        }
        af_injected = true;
        errno = ENOMEM;
        return true;
    }
    return false;
}

void *malloc(size_t n)
{
    if (af_fail_now())
        return NULL;
    void *p = __libc_malloc(n);
    if (p)
        af_live++;
    af_track(p);
    return p;
}

void *calloc(size_t n, size_t size)
{
    if (af_fail_now())
        return NULL;
    void *p = __libc_calloc(n, size);
    if (p)
        af_live++;
    af_track(p);
    return p;
}

void *realloc(void *p, size_t n)
{
    if (!p)
        return malloc(n);
    if (n == 0) {
        free(p);
        return NULL;
    }
    if (af_fail_now())
        return NULL; /* p stays valid */
    void *q = __libc_realloc(p, n);
    if (q && af_tracking) {
        af_untrack(p);
        af_track(q);
    }
    return q;
}

void free(void *p)
{
    if (!p)
        return;
    af_live--;
    if (af_tracking)
        af_untrack(p);
    __libc_free(p);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    if (af_fail_now())
        return ENOMEM;
    void *p = __libc_memalign(align, n);
    if (!p)
        return ENOMEM;
    af_live++;
    *out = p;
    return 0;
}

void *aligned_alloc(size_t align, size_t n)
{
    if (af_fail_now())
        return NULL;
    void *p = __libc_memalign(align, n);
    if (p)
        af_live++;
    return p;
}

void *memalign(size_t align, size_t n)
{
    return aligned_alloc(align, n);
}

/* ---- the loop ------------------------------------------------------------------------ */

/* One operation on one input. Returns 0 and a hash of its result in *hash, or -1 when
 * it reported a failure (after checking, with ok_failure(), that it may). */
typedef int (*op_fn)(const void *arg, uint64_t *hash);

typedef struct stats {
    long operations;
    long points;   /* allocation points exercised, both modes */
    long errors;   /* runs that reported the failure */
    long absorbed; /* runs that succeeded anyway, with the right answer */
} stats;
static stats total;
static bool verbose;

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 0x100000001b3ull;
    return h;
}
#define FNV0 0xcbf29ce484222325ull

static const char *cur_name; /* for messages */
static long cur_n;
static uint64_t cur_want; /* the unfailed run's hash (valid once have_want) */
static bool have_want;

/* cmocka's fail_msg, with the countdown off first (cmocka allocates as it reports) */
#define AF_FAIL(...)                                                                               \
    do {                                                                                           \
        af_armed = false;                                                                          \
        fail_msg(__VA_ARGS__);                                                                     \
    } while (0)

/* The operation reported rc: fine only when a failure was injected and rc is ENOMEM or
 * `alt` (a documented stand-in; pass LLMUX_ENOMEM when there is none). */
static int ok_failure(llmux_code rc, llmux_code alt, const char *what)
{
    if (!af_injected)
        AF_FAIL("%s (N=%ld): %s failed with %d (%s) but no allocation failed", cur_name, cur_n,
                what, (int)rc, llmux_strerror(rc));
    if (rc != LLMUX_ENOMEM && rc != alt)
        AF_FAIL("%s (N=%ld): %s gave %d (%s) for a failed allocation, not LLMUX_ENOMEM", cur_name,
                cur_n, what, (int)rc, llmux_strerror(rc));
    return -1;
}

/* A NULL (or false) result from a call documented as "NULL on ENOMEM". */
static int ok_null(const char *what)
{
    if (!af_injected)
        AF_FAIL("%s (N=%ld): %s returned NULL but no allocation failed", cur_name, cur_n, what);
    return -1;
}

static void torture(const char *name, op_fn op, const void *arg)
{
    cur_name = name;
    cur_n = 0;
    have_want = false;
    uint64_t want = 0;
    /* the unfailed run, twice: the first may fill one-time caches */
    for (int i = 0; i < 2; i++) {
        long live0 = af_live;
        af_armed = true;
        af_calls = 0;
        af_fail_at = 0;
        af_sticky = false;
        af_injected = false;
        int rc = op(arg, &want);
        af_armed = false;
        if (rc != 0)
            AF_FAIL("%s: fails without an injected allocation failure", name);
        if (i == 1 && af_live != live0)
            AF_FAIL("%s: leaks %ld blocks without any failure", name, af_live - live0);
    }
    cur_want = want;
    have_want = true;
    long points = 0;
    for (int sticky = 0; sticky < 2; sticky++) {
        for (long n = 1;; n++) {
            if (n > 1000000)
                AF_FAIL("%s: more than a million allocations", name);
            cur_n = n;
            long live0 = af_live;
            af_calls = 0;
            af_fail_at = n;
            af_sticky = sticky;
            af_injected = false;
            af_nblocks = 0;
            af_armed = true;
            uint64_t got = 0;
            int rc = op(arg, &got);
            af_armed = false;
            bool injected = af_injected;
            if (af_live != live0) {
                fprintf(stderr, "the failed allocation:\n");
                backtrace_symbols_fd(af_trace, af_trace_len, STDERR_FILENO);
                for (int i = 0; i < af_nblocks; i++) {
                    fprintf(stderr, "a block still live, allocated at:\n");
                    backtrace_symbols_fd(af_blocks[i].trace, af_blocks[i].trace_len, STDERR_FILENO);
                }
                if (getenv("LLMUX_ALLOC_FAIL_EXIT")) /* under valgrind: see the leak's stacks */
                    exit(3);
            }
            if (af_live != live0)
                AF_FAIL("%s: failing allocation %ld%s leaks %ld blocks", name, n,
                        sticky ? " and every later one" : "", af_live - live0);
            if (rc == 0 && got != want)
                AF_FAIL("%s: failing allocation %ld%s gives success with a different result", name,
                        n, sticky ? " and every later one" : "");
            if (!injected)
                break; /* the operation made fewer than n allocations: done */
            points++;
            if (rc == 0)
                total.absorbed++;
            else
                total.errors++;
        }
    }
    total.operations++;
    total.points += points;
    if (verbose)
        printf("  %-60s %6ld points\n", name, points);
}

/* ---- inputs ---------------------------------------------------------------------------- */

typedef struct file {
    char *path; /* relative to its root */
    char *data;
    size_t len;
} file;

/* The regular files of dir ending in `suffix`, sorted by name; NULL-path-terminated. */
static file *list_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    file *out = calloc(256, sizeof *out);
    assert_non_null(out);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 255) {
        size_t l = strlen(e->d_name), sl = strlen(suffix);
        if (e->d_name[0] == '.' || l < sl || strcmp(e->d_name + l - sl, suffix) != 0)
            continue;
        char full[1024];
        snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
        out[n].data = tu_read_file(full, &out[n].len);
        if (!out[n].data)
            continue;
        out[n].path = strdup(e->d_name);
        n++;
    }
    closedir(d);
    for (size_t i = 0; i + 1 < n; i++) /* sort by name (few files) */
        for (size_t j = i + 1; j < n; j++)
            if (strcmp(out[i].path, out[j].path) > 0) {
                file t = out[i];
                out[i] = out[j];
                out[j] = t;
            }
    return out;
}

static void free_files(file *f)
{
    for (file *p = f; p->path; p++) {
        free(p->path);
        free(p->data);
    }
    free(f);
}

static const char *shared_dir(void)
{
    const char *d = getenv("LLMUX_SHARED_DIR");
    return d && *d ? d : LLMUX_SHARED_DIR;
}

/* ---- request decode, plan, encode --------------------------------------------------------- */

static int op_request(const void *arg, uint64_t *hash)
{
    const file *f = arg;
    llmux__request *req = NULL;
    llmux__error err;
    int ret = -1;
    char *text = NULL;
    cJSON *j = NULL, *pj = NULL;
    llmux__plan plan = {0};
    bool have_plan = false;
    llmux_code rc = llmux__request_decode(f->data, f->len, &req, &err);
    if (rc != LLMUX_OK) {
        /* cJSON answers NULL for "out of memory" and "bad JSON" alike */
        ok_failure(rc, LLMUX_EINVALID_REQUEST, "llmux__request_decode");
        if (req)
            AF_FAIL("%s: decode failed but left a request", cur_name);
        goto out;
    }
    rc = llmux__request_validate(req, &err);
    if (rc != LLMUX_OK) {
        ok_failure(rc, LLMUX_ENOMEM, "llmux__request_validate");
        goto out;
    }
    rc = llmux__plan_build(req, &plan, &err);
    if (rc != LLMUX_OK) {
        ok_failure(rc, LLMUX_ENOMEM, "llmux__plan_build");
        goto out;
    }
    have_plan = true;
    if (!(j = llmux__request_to_json(req))) {
        ok_null("llmux__request_to_json");
        goto out;
    }
    if (!(pj = llmux__plan_to_json(&plan))) {
        ok_null("llmux__plan_to_json");
        goto out;
    }
    if (!(text = cJSON_PrintUnformatted(j))) {
        ok_null("cJSON_PrintUnformatted");
        goto out;
    }
    *hash = fnv(FNV0, text, strlen(text));
    cJSON_free(text);
    if (!(text = cJSON_PrintUnformatted(pj))) {
        ok_null("cJSON_PrintUnformatted");
        goto out;
    }
    *hash = fnv(*hash, text, strlen(text));
    *hash = fnv(*hash, &plan.n_steps, sizeof plan.n_steps);
    ret = 0;
out:
    cJSON_free(text);
    cJSON_Delete(j);
    cJSON_Delete(pj);
    if (have_plan)
        llmux__plan_free(&plan);
    llmux__request_free(req);
    return ret;
}

/* ---- the public builder ---------------------------------------------------------------- */

static int op_builder(const void *arg, uint64_t *hash)
{
    (void)arg;
    int ret = -1;
    char *json = NULL;
    llmux_request *req = llmux_request_new("anthropic", "claude-x");
    if (!req)
        return ok_null("llmux_request_new");
    llmux_params *p = llmux_request_params(req);
    llmux_code rc;
#define STEP(call)                                                                                 \
    do {                                                                                           \
        if ((rc = (call)) != LLMUX_OK) {                                                           \
            ok_failure(rc, LLMUX_ENOMEM, #call);                                                   \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)
/* a call that parses caller JSON: cJSON's NULL reads as "not valid JSON" */
#define STEP_JSON(call)                                                                            \
    do {                                                                                           \
        if ((rc = (call)) != LLMUX_OK) {                                                           \
            ok_failure(rc, LLMUX_EINVALID_REQUEST, #call);                                         \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)
    STEP(llmux_params_add_message(p, "system", "Be brief."));
    STEP(llmux_params_add_message(p, "user", "What is the weather in Paris?"));
    STEP_JSON(llmux_params_add_tool_call(p, "call_1", "get_weather", "{\"city\":\"Paris\"}"));
    STEP(llmux_params_add_tool_result(p, "call_1", "{\"temp\":21}"));
    STEP_JSON(llmux_params_add_message_json(
        p, "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"and now?\"}]}"));
    STEP(llmux_params_add_stop(p, "END"));
    STEP_JSON(llmux_params_add_tool(p, "get_weather", "Weather by city",
                                    "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":"
                                    "\"string\"}}}"));
    STEP(llmux_params_set_tool_choice(p, "auto"));
    STEP(llmux_params_set_temperature(p, 0.2));
    llmux_params *fb = llmux_request_add_fallback(req, "openai", "gpt-x");
    if (!fb) {
        ok_null("llmux_request_add_fallback");
        goto out;
    }
    STEP(llmux_params_set_max_tokens(fb, 50));
#undef STEP
#undef STEP_JSON
    char errbuf[256];
    rc = llmux_request_validate(req, errbuf, sizeof errbuf);
    if (rc != LLMUX_OK) {
        ok_failure(rc, LLMUX_ENOMEM, "llmux_request_validate");
        goto out;
    }
    if (!(json = llmux_request_to_json(req))) {
        ok_null("llmux_request_to_json");
        goto out;
    }
    *hash = fnv(FNV0, json, strlen(json));
    ret = 0;
out:
    llmux_free(json);
    llmux_request_free(req);
    return ret;
}

/* ---- adapters: build_request / warm_request ------------------------------------------------- */

typedef struct build_case {
    const file *req_file;
    llmux__provider provider;
} build_case;

static uint64_t hash_http(uint64_t h, const llmux__http_request *r)
{
    h = fnv(h, r->method, strlen(r->method));
    h = fnv(h, r->url, strlen(r->url));
    for (size_t i = 0; i < r->n_headers; i++)
        h = fnv(h, r->headers[i], strlen(r->headers[i]));
    if (r->body)
        h = fnv(h, r->body, r->body_len);
    return h;
}

static int op_build(const void *arg, uint64_t *hash)
{
    const build_case *bc = arg;
    const llmux__adapter *a = llmux__adapter_for(bc->provider);
    llmux__provider_config cfg = {.provider = bc->provider, .api_key = "sk-test-key"};
    if (bc->provider == LLMUX__PROVIDER_AZURE)
        cfg.base_url = "https://res.openai.azure.com";
    llmux__request *req = NULL;
    llmux__error err;
    llmux__plan plan = {0};
    bool have_plan = false;
    int ret = -1;
    llmux_code rc = llmux__request_decode(bc->req_file->data, bc->req_file->len, &req, &err);
    if (rc != LLMUX_OK) {
        ok_failure(rc, LLMUX_EINVALID_REQUEST, "llmux__request_decode");
        goto out;
    }
    if ((rc = llmux__plan_build(req, &plan, &err)) != LLMUX_OK) {
        ok_failure(rc, LLMUX_ENOMEM, "llmux__plan_build");
        goto out;
    }
    have_plan = true;
    *hash = FNV0;
    for (size_t c = 0; c < plan.n_chain; c++) {
        llmux__http_request h;
        rc = a->build_request(&plan.chain[c], req, &cfg, &h, &err);
        if (rc != LLMUX_OK) {
            if (h.url || h.headers || h.body)
                AF_FAIL("%s: build_request failed but left output", cur_name);
            /* Anthropic and Gemini parse tool-call arguments (JSON text) into objects */
            bool parses = strstr(err.message, "arguments is not a JSON object") != NULL;
            ok_failure(rc, parses ? LLMUX_EINVALID_REQUEST : LLMUX_ENOMEM, "build_request");
            goto out;
        }
        *hash = hash_http(*hash, &h);
        llmux__http_request_free(&h);
    }
    llmux__http_request w;
    if ((rc = a->warm_request(&cfg, &w, &err)) != LLMUX_OK) {
        ok_failure(rc, LLMUX_ENOMEM, "warm_request");
        goto out;
    }
    *hash = hash_http(*hash, &w);
    llmux__http_request_free(&w);
    ret = 0;
out:
    if (have_plan)
        llmux__plan_free(&plan);
    llmux__request_free(req);
    return ret;
}

/* ---- adapters: parse_response ------------------------------------------------------------- */

typedef struct response_case {
    const file *body;
    llmux__provider provider;
    int status;
} response_case;

static int op_response(const void *arg, uint64_t *hash)
{
    const response_case *rc_ = arg;
    const llmux__adapter *a = llmux__adapter_for(rc_->provider);
    static const llmux__header headers[] = {{"retry-after", "2"}, {"content-type", "json"}};
    llmux__response *r = NULL;
    llmux__upstream_error ue;
    llmux_code rc =
        a->parse_response(rc_->status, headers, 2, rc_->body->data, rc_->body->len, 1.7e9, &r, &ue);
    if (rc_->status / 100 != 2) {
        /* an error answer is classified whatever happens to memory; when the body could
         * not be read for lack of memory, the status alone decides (less detail, and
         * e.g. Gemini's API_KEY_INVALID 400 stays invalid_request) */
        if (r || rc == LLMUX_OK || ue.code != rc || !ue.message[0])
            AF_FAIL("%s: an error status gave a response or an unfilled error", cur_name);
        *hash = fnv(FNV0, &rc, sizeof rc);
        *hash = fnv(*hash, &ue.retryable, sizeof ue.retryable);
        *hash = fnv(*hash, &ue.retry_after_s, sizeof ue.retry_after_s);
        *hash = fnv(*hash, ue.message, strlen(ue.message));
        *hash = fnv(*hash, ue.type, strlen(ue.type));
        *hash = fnv(*hash, ue.param, strlen(ue.param));
        if (af_injected && have_want && *hash != cur_want)
            return -1; /* reported, with less detail */
        return 0;
    }
    if (rc != LLMUX_OK) {
        if (r)
            AF_FAIL("%s: parse_response failed but gave a response", cur_name);
        /* cJSON's NULL on OOM reads as an unusable body: a retryable upstream_error */
        return ok_failure(rc, LLMUX_EUPSTREAM, "parse_response");
    }
    int ret = -1;
    char *text = NULL;
    cJSON *j = llmux__response_to_json(r, 1700000000);
    if (!j) {
        ok_null("llmux__response_to_json");
        goto out;
    }
    if (!(text = cJSON_PrintUnformatted(j))) {
        ok_null("cJSON_PrintUnformatted");
        goto out;
    }
    *hash = fnv(FNV0, text, strlen(text));
    ret = 0;
out:
    cJSON_free(text);
    cJSON_Delete(j);
    llmux__response_free(r);
    return ret;
}

/* ---- adapters: streams ----------------------------------------------------------------------- */

typedef struct stream_case {
    const file *body;
    llmux__provider provider;
} stream_case;

typedef struct transcript {
    uint64_t hash;
    bool ended;
    bool error;
    llmux_code error_code;
    llmux__buf chunk;
    bool oom; /* the chunk encoder failed */
} transcript;

static int transcript_sink(void *ud, const llmux__delta *d)
{
    transcript *t = ud;
    if (d->kind == LLMUX__DELTA_ERROR) {
        t->error = true;
        t->error_code = d->error->code;
    }
    if (d->kind == LLMUX__DELTA_ERROR || d->kind == LLMUX__DELTA_DONE)
        t->ended = true;
    llmux__chunk_meta m = {"chatcmpl-x", 1700000000, "p", d->model};
    llmux__buf_clear(&t->chunk);
    if (!llmux__chunk_write_sse(&t->chunk, &m, d)) {
        t->oom = true;
        return 1; /* stop: the caller would drop the stream */
    }
    t->hash = fnv(t->hash, t->chunk.p, t->chunk.len);
    return 0;
}

static int op_stream(const void *arg, uint64_t *hash)
{
    const stream_case *sc = arg;
    transcript t = {.hash = FNV0};
    llmux__buf_init(&t.chunk);
    llmux__stream *s = llmux__stream_new(llmux__adapter_for(sc->provider));
    if (!s)
        return ok_null("llmux__stream_new");
    int ret = -1;
    size_t off = 0, piece = 1;
    int stop = 0;
    while (off < sc->body->len && !stop) { /* pieces of 1, 2, 4, ... 64 bytes, again */
        size_t n = piece < sc->body->len - off ? piece : sc->body->len - off;
        stop = llmux__stream_feed(s, sc->body->data + off, n, transcript_sink, &t);
        off += n;
        piece = piece >= 64 ? 1 : piece * 2;
    }
    if (!stop)
        stop = llmux__stream_finish(s, transcript_sink, &t);
    if (t.oom) {
        ok_null("llmux__chunk_write_sse");
        goto out;
    }
    if (stop)
        AF_FAIL("%s: the sink never stops, yet the stream returned %d", cur_name, stop);
    if (!t.ended)
        AF_FAIL("%s: the stream did not end (no DONE or ERROR)", cur_name);
    if (af_injected && t.error && have_want && t.hash != cur_want) {
        /* a failed allocation inside the parser or decoder ends the stream with an error
         * (the SSE parser reports a failed copy as an oversized event: upstream_error) */
        ok_failure(t.error_code, LLMUX_EUPSTREAM, "the stream's ERROR delta");
        goto out;
    }
    *hash = t.hash;
    ret = 0;
out:
    llmux__stream_free(s);
    llmux__buf_free(&t.chunk);
    return ret;
}

/* ---- SSE alone --------------------------------------------------------------------------- */

static bool sse_count(void *ud, const llmux__sse_event *ev)
{
    uint64_t *h = ud;
    *h = fnv(*h, ev->name, strlen(ev->name));
    *h = fnv(*h, ev->data, ev->data_len);
    return true;
}

static int op_sse(const void *arg, uint64_t *hash)
{
    const file *f = arg;
    llmux__sse_parser p;
    llmux__sse_init(&p, 0);
    uint64_t h = FNV0;
    llmux__sse_status st = LLMUX__SSE_NEED_MORE;
    for (size_t off = 0; off < f->len && st != LLMUX__SSE_TOO_LARGE; off += 7) {
        size_t n = f->len - off < 7 ? f->len - off : 7;
        st = llmux__sse_feed(&p, f->data + off, n, sse_count, &h);
    }
    if (st != LLMUX__SSE_TOO_LARGE) {
        llmux__sse_event ev;
        st = llmux__sse_finish(&p, &ev);
        if (st == LLMUX__SSE_EVENT)
            sse_count(&h, &ev);
    }
    llmux__sse_free(&p);
    if (st == LLMUX__SSE_TOO_LARGE) /* documented: a failed copy reads as too large */
        return ok_null("llmux__sse_feed (TOO_LARGE)");
    *hash = h;
    return 0;
}

/* ---- sentencer and cleaner ------------------------------------------------------------------ */

typedef struct text_case {
    const char *text;
    size_t len;
    bool clean;
    bool eager;
} text_case;

static int sentence_cb(void *ud, const char *s, size_t len)
{
    uint64_t *h = ud;
    *h = fnv(*h, s, len);
    *h = fnv(*h, "|", 1);
    return 0;
}

static int op_sentence(const void *arg, uint64_t *hash)
{
    const text_case *tc = arg;
    llmux__sentence_options opt = {.clean = tc->clean, .eager_first_chunk = tc->eager};
    llmux__sentencer *s = llmux__sentencer_new(&opt);
    if (!s)
        return ok_null("llmux__sentencer_new");
    uint64_t h = FNV0;
    int ret = -1, rc = 0;
    for (size_t off = 0; off < tc->len && rc == 0; off += 5) {
        size_t n = tc->len - off < 5 ? tc->len - off : 5;
        rc = llmux__sentencer_feed(s, tc->text + off, n, sentence_cb, &h);
    }
    if (rc == 0)
        rc = llmux__sentencer_finish(s, sentence_cb, &h);
    if (rc != 0) {
        ok_failure((llmux_code)rc, LLMUX_ENOMEM, "llmux__sentencer_feed/finish");
        goto out;
    }
    *hash = h;
    ret = 0;
out:
    llmux__sentencer_free(s);
    return ret;
}

static int op_clean(const void *arg, uint64_t *hash)
{
    const text_case *tc = arg;
    llmux__cleaner c = {0};
    uint64_t h = FNV0;
    int ret = -1;
    for (unsigned flags = 0; flags < 8; flags++) {
        const char *out;
        size_t len;
        llmux_code rc = llmux__clean_chunk(&c, tc->text, tc->len, flags, &out, &len);
        if (rc != LLMUX_OK) {
            ok_failure(rc, LLMUX_ENOMEM, "llmux__clean_chunk");
            goto out;
        }
        h = fnv(h, out, len);
    }
    size_t tl;
    char *t = llmux__clean_text(tc->text, tc->len, LLMUX__CLEAN_LINE_START, &tl);
    if (!t) {
        ok_null("llmux__clean_text");
        goto out;
    }
    h = fnv(h, t, tl);
    free(t);
    *hash = h;
    ret = 0;
out:
    llmux__cleaner_release(&c);
    return ret;
}

/* ---- proxy state: sessions, managed keys, tokens, metrics ------------------------------- */

static const char *fake_env(const char *name, void *ud)
{
    (void)ud;
    static const char *const env[][2] = {
        {"OPENAI_API_KEY", "sk-managed-openai"},
        {"ANTHROPIC_API_KEY", "ak-managed"},
        {"AZURE_OPENAI_API_KEY", "az-managed"},
        {"AZURE_OPENAI_ENDPOINT", "https://res.openai.azure.com"},
        {"LLMUX_OPENAI_BASE_URL", "http://127.0.0.1:9/v1"},
    };
    for (size_t i = 0; i < sizeof env / sizeof env[0]; i++)
        if (strcmp(name, env[i][0]) == 0)
            return env[i][1];
    return NULL;
}

static int op_keys(const void *arg, uint64_t *hash)
{
    (void)arg;
    llmux__error err;
    llmux__managed_keys *mk = llmux__managed_keys_load(fake_env, NULL, &err);
    if (!mk) {
        ok_failure(err.code, LLMUX_ENOMEM, "llmux__managed_keys_load");
        return -1;
    }
    char sum[512];
    size_t n = llmux__managed_keys_summary(mk, sum, sizeof sum);
    *hash = fnv(FNV0, sum, n);
    llmux__managed_keys_free(mk);
    return 0;
}

static llmux__session_store *store;
static llmux__managed_keys *keys;

/* configure (customer and managed) + list + resolve + delete: the store is left as found */
static int op_sessions(const void *arg, uint64_t *hash)
{
    (void)arg;
    llmux__error err;
    int ret = -1;
    cJSON *list = NULL;
    char *text = NULL;
    llmux__resolved_provider r[2];
    memset(r, 0, sizeof r);
    size_t secrets0 = llmux__secret_live_count();
    llmux__provider_entry cust = {.api_key = "sk-customer-key", .base_url = "https://x.example/v1"};
    llmux__provider_entry man = {.managed = true, .api_version = "2024-10-21"};
    llmux_code rc = llmux__session_configure(store, "tok", "s1", LLMUX__PROVIDER_OPENAI, &cust,
                                             keys, 1000.0, NULL, &err);
    if (rc != LLMUX_OK) {
        ok_failure(rc, LLMUX_ENOMEM, "llmux__session_configure (customer)");
        goto out;
    }
    rc = llmux__session_configure(store, "tok", "s1", LLMUX__PROVIDER_AZURE, &man, keys, 1000.0,
                                  NULL, &err);
    if (rc != LLMUX_OK) {
        ok_failure(rc, LLMUX_ENOMEM, "llmux__session_configure (managed)");
        goto out;
    }
    if ((rc = llmux__session_list(store, "tok", "s1", 1001.0, &list, &err)) != LLMUX_OK) {
        ok_failure(rc, LLMUX_ENOMEM, "llmux__session_list");
        goto out;
    }
    if (!(text = cJSON_PrintUnformatted(list))) {
        ok_null("cJSON_PrintUnformatted");
        goto out;
    }
    uint64_t h = fnv(FNV0, text, strlen(text));
    llmux__provider ps[2] = {LLMUX__PROVIDER_OPENAI, LLMUX__PROVIDER_AZURE};
    for (int i = 0; i < 2; i++) {
        rc = llmux__session_resolve(store, keys, "tok", "s1", ps[i], 1002.0, &r[i], &err);
        if (rc != LLMUX_OK) {
            ok_failure(rc, LLMUX_ENOMEM, "llmux__session_resolve");
            goto out;
        }
        h = fnv(h, r[i].cfg.api_key, strlen(r[i].cfg.api_key));
        if (r[i].cfg.base_url)
            h = fnv(h, r[i].cfg.base_url, strlen(r[i].cfg.base_url));
    }
    *hash = h;
    ret = 0;
out:
    for (int i = 0; i < 2; i++)
        llmux__resolved_provider_free(&r[i]);
    cJSON_free(text);
    cJSON_Delete(list);
    bool armed = af_armed; /* the clean-up is scaffolding: op_session_delete tortures it */
    af_armed = false;
    llmux__session_delete(store, "tok", "s1");
    af_armed = armed;
    ERR_clear_error(); /* OpenSSL keeps copies of a failure's file/function names */
    if (llmux__session_count(store) != 0)
        AF_FAIL("%s (N=%ld): a session outlived its delete", cur_name, cur_n);
    if (llmux__secret_live_count() != secrets0)
        AF_FAIL("%s (N=%ld): %zd secret buffers leaked", cur_name, cur_n,
                (ssize_t)(llmux__secret_live_count() - secrets0));
    return ret;
}

/* DELETE under allocation failure: hashing (token, id) needs an OpenSSL context, so a
 * failure reads as "no such session" and the session stays (reported, not silent: the
 * proxy answers 404). What must hold: nothing leaks, and a delete that says true did it. */
static int op_session_delete(const void *arg, uint64_t *hash)
{
    (void)arg;
    llmux__error err;
    llmux__provider_entry cust = {.api_key = "sk-customer-key"};
    bool armed = af_armed;
    af_armed = false;
    size_t secrets0 = llmux__secret_live_count();
    assert_int_equal(llmux__session_configure(store, "tok", "s2", LLMUX__PROVIDER_ANTHROPIC, &cust,
                                              keys, 1000.0, NULL, &err),
                     LLMUX_OK);
    af_armed = armed;
    bool gone = llmux__session_delete(store, "tok", "s2");
    af_armed = false;
    ERR_clear_error();
    bool still = llmux__session_count(store) != 0;
    if (gone && still)
        AF_FAIL("%s (N=%ld): delete said yes but the session is there", cur_name, cur_n);
    if (still)
        llmux__session_delete(store, "tok", "s2");
    if (!gone && !af_injected)
        AF_FAIL("%s: delete failed with no allocation failure", cur_name);
    if (llmux__secret_live_count() != secrets0)
        AF_FAIL("%s (N=%ld): secret buffers leaked", cur_name, cur_n);
    af_armed = armed;
    *hash = 1;
    return gone ? 0 : -1;
}

static int op_tokens(const void *arg, uint64_t *hash)
{
    (void)arg;
    llmux__error err;
    llmux__token_set *ts = llmux__token_set_parse("tok-one, tok-two,tok-three", &err);
    if (!ts) {
        ERR_clear_error(); /* OpenSSL keeps copies of the failure's file/function names */
        ok_failure(err.code, LLMUX_ENOMEM, "llmux__token_set_parse");
        return -1;
    }
    bool a = llmux__token_set_check(ts, "tok-two", 7), b = llmux__token_set_check(ts, "nope", 4);
    ERR_clear_error();
    if (b)
        AF_FAIL("%s (N=%ld): a wrong token was accepted", cur_name, cur_n);
    if (!a) { /* fails closed: a good token refused for lack of memory (hashing it) */
        llmux__token_set_free(ts);
        if (!af_injected)
            AF_FAIL("%s: a good token refused with no allocation failure", cur_name);
        return -1;
    }
    *hash = fnv(FNV0, &a, 1);
    *hash = fnv(*hash, &b, 1);
    size_t n = llmux__token_set_count(ts);
    *hash = fnv(*hash, &n, sizeof n);
    llmux__token_set_free(ts);
    return 0;
}

static int op_metrics(const void *arg, uint64_t *hash)
{
    (void)arg;
    llmux__metrics *m = llmux__metrics_new();
    if (!m)
        return ok_null("llmux__metrics_new");
    llmux__metrics_attempt(m, LLMUX__PROVIDER_OPENAI, 429, LLMUX_ERATE_LIMITED, 0.2, 0.1);
    llmux__metrics_request(m, LLMUX__PROVIDER_OPENAI, "gpt-x", LLMUX_OK, 0.3);
    llmux__metrics_request(m, LLMUX__PROVIDER_GOOGLE, "gemini-y", LLMUX_ETIMEOUT, 1.5);
    llmux__metrics_retry(m, LLMUX__PROVIDER_OPENAI);
    llmux__metrics_fallback(m, LLMUX__PROVIDER_ANTHROPIC);
    llmux__metrics_in_flight_add(m, 1);
    llmux__metrics_sessions_set(m, 3);
    char *text = llmux__metrics_render(m);
    llmux__metrics_free(m);
    if (!text)
        return ok_null("llmux__metrics_render");
    *hash = fnv(FNV0, text, strlen(text));
    /* a model label whose entry could not be allocated is counted as model="other" */
    bool degraded =
        af_injected && have_want && *hash != cur_want && strstr(text, "model=\"other\"") != NULL;
    free(text);
    return degraded ? -1 : 0;
}

static void test_proxy_state(void **state)
{
    (void)state;
    torture("managed keys load (fake environment)", op_keys, NULL);
    torture("token set parse + check", op_tokens, NULL);
    torture("metrics new + record + render", op_metrics, NULL);
    llmux__error err;
    store = llmux__session_store_new(NULL);
    keys = llmux__managed_keys_load(fake_env, NULL, &err);
    assert_non_null(store);
    assert_non_null(keys);
    torture("sessions configure + list + resolve + delete", op_sessions, NULL);
    torture("sessions delete", op_session_delete, NULL);
    llmux__managed_keys_free(keys);
    llmux__session_store_free(store);
}

/* ---- the tests ---------------------------------------------------------------------------- */

static void test_requests(void **state)
{
    (void)state;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/fuzz/corpus/request", LLMUX_SOURCE_DIR);
    file *files = list_files(dir, ".json");
    for (file *f = files; f->path; f++) {
        llmux__request *req = NULL;
        llmux__error err;
        if (llmux__request_decode(f->data, f->len, &req, &err) != LLMUX_OK)
            continue; /* a seed of an invalid request: nothing to allocate past the error */
        llmux__request_free(req);
        char name[256];
        snprintf(name, sizeof name, "request %s", f->path);
        torture(name, op_request, f);
    }
    free_files(files);
    torture("builder (messages, tools, fallback, to_json)", op_builder, NULL);
}

/* Whether the adapter accepts this request at all (e.g. Gemini takes no image URL that
 * is not a data: URL): only then is there a success path to torture. */
static bool adapter_accepts(const file *f, llmux__provider p)
{
    llmux__request *req = NULL;
    llmux__error err;
    llmux__plan plan;
    bool ok = false;
    if (llmux__request_decode(f->data, f->len, &req, &err) != LLMUX_OK)
        return false;
    if (llmux__plan_build(req, &plan, &err) == LLMUX_OK) {
        llmux__provider_config cfg = {.provider = p,
                                      .api_key = "k",
                                      .base_url = p == LLMUX__PROVIDER_AZURE ? "https://r" : NULL};
        ok = true;
        for (size_t c = 0; c < plan.n_chain && ok; c++) {
            llmux__http_request h;
            ok = llmux__adapter_for(p)->build_request(&plan.chain[c], req, &cfg, &h, &err) ==
                 LLMUX_OK;
            llmux__http_request_free(&h);
        }
        llmux__plan_free(&plan);
    }
    llmux__request_free(req);
    return ok;
}

static void test_build(void **state)
{
    (void)state;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/fuzz/corpus/request", LLMUX_SOURCE_DIR);
    file *files = list_files(dir, ".json");
    for (file *f = files; f->path; f++) {
        llmux__request *req = NULL;
        llmux__error err;
        if (llmux__request_decode(f->data, f->len, &req, &err) != LLMUX_OK)
            continue; /* a seed of an invalid request */
        llmux__request_free(req);
        for (int p = 0; p < LLMUX__PROVIDER_COUNT; p++) {
            build_case bc = {f, (llmux__provider)p};
            if (!adapter_accepts(f, bc.provider))
                continue;
            char name[256];
            snprintf(name, sizeof name, "build_request %s %s", llmux__provider_name(bc.provider),
                     f->path);
            torture(name, op_build, &bc);
        }
    }
    free_files(files);
}

static bool provider_of_dir(const char *dir, llmux__provider *p)
{
    if (!strcmp(dir, "openai") || !strcmp(dir, "compat"))
        *p = LLMUX__PROVIDER_OPENAI;
    else if (!strcmp(dir, "azure"))
        *p = LLMUX__PROVIDER_AZURE;
    else if (!strcmp(dir, "anthropic"))
        *p = LLMUX__PROVIDER_ANTHROPIC;
    else if (!strcmp(dir, "gemini"))
        *p = LLMUX__PROVIDER_GOOGLE;
    else
        return false;
    return true;
}

static const char *const fixture_dirs[] = {"openai", "azure", "compat", "anthropic", "gemini"};

static void test_responses(void **state)
{
    (void)state;
    for (size_t d = 0; d < sizeof fixture_dirs / sizeof *fixture_dirs; d++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/fixtures/%s", shared_dir(), fixture_dirs[d]);
        file *files = list_files(dir, ".json");
        for (file *f = files; f->path; f++) {
            if (strstr(f->path, "request"))
                continue;
            response_case rc = {.body = f, .status = 200};
            provider_of_dir(fixture_dirs[d], &rc.provider);
            const char *e = strstr(f->path, "error_");
            if (e)
                rc.status = atoi(e + 6);
            char name[256];
            snprintf(name, sizeof name, "parse_response %s/%s", fixture_dirs[d], f->path);
            torture(name, op_response, &rc);
        }
        free_files(files);
    }
}

static void test_streams(void **state)
{
    (void)state;
    for (size_t d = 0; d < sizeof fixture_dirs / sizeof *fixture_dirs; d++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/fixtures/%s", shared_dir(), fixture_dirs[d]);
        file *files = list_files(dir, ".sse");
        for (file *f = files; f->path; f++) {
            stream_case sc = {.body = f};
            provider_of_dir(fixture_dirs[d], &sc.provider);
            char name[256];
            snprintf(name, sizeof name, "stream %s/%s", fixture_dirs[d], f->path);
            torture(name, op_stream, &sc);
            snprintf(name, sizeof name, "sse %s/%s", fixture_dirs[d], f->path);
            torture(name, op_sse, f);
        }
        free_files(files);
    }
}

static const char *const texts[] = {
    "Hello there. It is 3.14 degrees, said Dr. Smith at 5 p.m. Visit https://example.com/a.b "
    "now... Then:\n1. first item\n2. second item\n\nDone!",
    "# Weather\n\n**Paris** is _sunny_ today &amp; tomorrow 😀. See [the map](http://x.y/z).\n"
    "| City | Temp |\n|---|---|\n| Paris | 21 |\n| Rome | 25 |\n```\ncode block\n```\n"
    "> quoted `inline` text. Final line without a stop",
    "日本語の文です。次の文!「引用。」 Mixed English sentence? Yes.",
};

static void test_text(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        for (int mode = 0; mode < 3; mode++) {
            text_case tc = {texts[i], strlen(texts[i]), mode >= 1, mode == 2};
            char name[256];
            snprintf(name, sizeof name, "sentencer text %zu clean=%d eager=%d", i, tc.clean,
                     tc.eager);
            torture(name, op_sentence, &tc);
        }
        text_case tc = {texts[i], strlen(texts[i]), false, false};
        char name[256];
        snprintf(name, sizeof name, "cleaner text %zu (8 flag sets + clean_text)", i);
        torture(name, op_clean, &tc);
    }
}

static void test_summary(void **state)
{
    (void)state;
    printf("alloc-fail: %ld operations, %ld failure points (N x 2 modes): %ld reported the "
           "failure, %ld absorbed it with the right answer; no leak, no crash\n",
           total.operations, total.points, total.errors, total.absorbed);
    assert_true(total.operations > 0);
}

int main(void)
{
    verbose = getenv("LLMUX_ALLOC_FAIL_VERBOSE") != NULL;
    af_tracking = getenv("LLMUX_ALLOC_FAIL_TRACK") != NULL;
    af_trace_len = backtrace(af_trace, 32); /* loads libgcc now, not inside a measured run */
    ERR_put_error(ERR_LIB_NONE, 0, 0, __FILE__, __LINE__); /* OpenSSL's per-thread error */
    ERR_clear_error();                                     /* state exists from here on */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requests),  cmocka_unit_test(test_build),
        cmocka_unit_test(test_responses), cmocka_unit_test(test_streams),
        cmocka_unit_test(test_text),      cmocka_unit_test(test_proxy_state),
        cmocka_unit_test(test_summary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
#endif
