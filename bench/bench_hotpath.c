/* bench_hotpath.c — the proxy's pure per-request work in isolation, many iterations,
 * best of 3 (not a test; prints a table). What bench/run.sh part 5 reports.
 *
 * usage: bench_hotpath [REQUEST_JSON] [FIXTURES_DIR] [SECONDS_PER_ROW]
 *   REQUEST_JSON   the ~1 KB chat request the load tests send (bench/chat_request.json)
 *   FIXTURES_DIR   the recorded provider payloads (../shared/fixtures)
 *   SECONDS        time budget of each row (default 0.3; run.sh quick passes less)
 *
 * Rows:
 *   request decode        JSON text → validated llmux request (the OpenAI-SDK form)
 *   plan                  attempt plan (fallback inheritance, retry schedule)
 *   translate → openai    the upstream HTTP request for OpenAI (URL, headers, body)
 *   translate → anthropic the same for Anthropic (system prompt moved, max_tokens)
 *   decode+plan+translate the three together, per provider: the request side of a call
 *   response ← openai     recorded chat.completion (2.7 KB) → unified response
 *   response ← anthropic  recorded Messages answer → unified response
 *   response → client     unified → the chat.completion JSON text the client gets: by a
 *                         cJSON tree + print (what the server did before) and by the
 *                         buffer writer it uses now (llmux__response_write_json)
 *   SSE parse             recorded OpenAI stream, bytes → events (MB/s)
 *   stream openai→openai  bytes → deltas → the client's SSE chunks (per chunk, MB/s)
 *   stream anthropic→openai  the same from Anthropic's event stream
 * Sentence chunking has its own benchmark (bench_sentence).
 */
#include "core/request.h"
#include "core/response.h"
#include "core/sse.h"
#include "providers/provider.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = (size_t)n;
    }
    return buf;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_hotpath: %s\n", what);
    exit(1);
}

/* ---- the inputs -------------------------------------------------------------------- */

static char *g_req; /* the request, model "openai/…" */
static size_t g_req_len;
static char *g_req_an; /* the same, model "anthropic/…" */
static size_t g_req_an_len;
static llmux__request *g_decoded;
static llmux__request *g_decoded_an;
static llmux__plan g_plan, g_plan_an;
static char *g_oai_body, *g_an_body, *g_oai_sse, *g_an_sse;
static size_t g_oai_len, g_an_len, g_oai_sse_len, g_an_sse_len;
static llmux__response *g_resp;
static volatile size_t g_sink; /* keeps results alive */

static const llmux__provider_config k_oai_cfg = {
    .provider = LLMUX__PROVIDER_OPENAI,
    .api_key = "sk-bench-0123456789abcdef",
    .base_url = "http://127.0.0.1:8081/v1",
};
static const llmux__provider_config k_an_cfg = {
    .provider = LLMUX__PROVIDER_ANTHROPIC,
    .api_key = "sk-ant-bench-0123456789abcdef",
    .base_url = "http://127.0.0.1:8081",
};

/* Replaces the first "model":"…" value of json with model (malloc'd). */
static char *with_model(const char *json, const char *model, size_t *out_len)
{
    const char *k = strstr(json, "\"model\":\"");
    if (!k)
        die("the request has no \"model\":\"…\"");
    const char *v = k + 9;
    const char *e = strchr(v, '"');
    size_t ml = strlen(model), n = (size_t)(v - json) + ml + strlen(e);
    char *out = malloc(n + 1);
    if (!out)
        die("out of memory");
    memcpy(out, json, (size_t)(v - json));
    memcpy(out + (v - json), model, ml);
    strcpy(out + (v - json) + ml, e);
    *out_len = n;
    return out;
}

/* ---- rows -------------------------------------------------------------------------- */

typedef void (*op_fn)(void);

static void op_decode(void)
{
    llmux__request *r;
    llmux__error err;
    if (llmux__request_decode(g_req, g_req_len, &r, &err) != LLMUX_OK)
        die(err.message);
    g_sink += r->primary.n_messages;
    llmux__request_free(r);
}

static void op_plan(void)
{
    llmux__plan p;
    llmux__error err;
    if (llmux__plan_build(g_decoded, &p, &err) != LLMUX_OK)
        die(err.message);
    g_sink += p.n_steps;
    llmux__plan_free(&p);
}

static void translate(const llmux__plan *p, const llmux__request *r,
                      const llmux__provider_config *cfg)
{
    llmux__http_request http;
    llmux__error err;
    const llmux__adapter *a = llmux__adapter_for(cfg->provider);
    if (a->build_request(p->steps[0].params, r, cfg, &http, &err) != LLMUX_OK)
        die(err.message);
    g_sink += http.body_len;
    llmux__http_request_free(&http);
}

static void op_translate_oai(void)
{
    translate(&g_plan, g_decoded, &k_oai_cfg);
}

static void op_translate_an(void)
{
    translate(&g_plan_an, g_decoded_an, &k_an_cfg);
}

static void request_side(const char *json, size_t len, const llmux__provider_config *cfg)
{
    llmux__request *r;
    llmux__error err;
    if (llmux__request_decode(json, len, &r, &err) != LLMUX_OK)
        die(err.message);
    llmux__plan p;
    if (llmux__plan_build(r, &p, &err) != LLMUX_OK)
        die(err.message);
    translate(&p, r, cfg);
    llmux__plan_free(&p);
    llmux__request_free(r);
}

static void op_request_oai(void)
{
    request_side(g_req, g_req_len, &k_oai_cfg);
}

static void op_request_an(void)
{
    request_side(g_req_an, g_req_an_len, &k_an_cfg);
}

static void parse(llmux__provider p, const char *body, size_t len)
{
    static const llmux__header hdrs[] = {{"content-type", "application/json"}};
    llmux__response *resp;
    llmux__upstream_error uerr;
    if (llmux__adapter_for(p)->parse_response(200, hdrs, 1, body, len, 1.7e9, &resp, &uerr) !=
        LLMUX_OK)
        die(uerr.message);
    g_sink += resp->text_len;
    llmux__response_free(resp);
}

static void op_response_oai(void)
{
    parse(LLMUX__PROVIDER_OPENAI, g_oai_body, g_oai_len);
}

static void op_response_an(void)
{
    parse(LLMUX__PROVIDER_ANTHROPIC, g_an_body, g_an_len);
}

/* What the server does with a parsed answer: chat.completion JSON + print. */
static void op_response_out(void)
{
    cJSON *j = llmux__response_to_json(g_resp, 1700000000);
    cJSON_AddStringToObject(j, "provider", "openai");
    char *s = cJSON_PrintUnformatted(j);
    g_sink += strlen(s);
    cJSON_free(s);
    cJSON_Delete(j);
}

/* What the server writes since it stopped building a tree: straight into a buffer. */
static void op_response_write(void)
{
    static llmux__buf b;
    llmux__buf_clear(&b);
    llmux__response_write_json(&b, g_resp, 1700000000, "gpt-4o-mini");
    llmux__buf_puts(&b, ",\"provider\":\"openai\"}");
    g_sink += b.len;
}

static char *g_big_sse;
static size_t g_big_sse_len;

static bool count_event(void *ud, const llmux__sse_event *ev)
{
    (void)ud;
    g_sink += ev->data_len;
    return true;
}

/* The recorded stream repeated to ~1 MB, fed in 16 KiB reads (curl's buffer). */
static void op_sse(void)
{
    llmux__sse_parser p;
    llmux__sse_init(&p, 0);
    for (size_t off = 0; off < g_big_sse_len; off += 16384) {
        size_t n = g_big_sse_len - off < 16384 ? g_big_sse_len - off : 16384;
        llmux__sse_feed(&p, g_big_sse + off, n, count_event, NULL);
    }
    llmux__sse_free(&p);
}

typedef struct chunk_out {
    llmux__buf out;
    llmux__chunk_meta meta;
    size_t chunks;
} chunk_out;

static int write_chunk(void *ud, const llmux__delta *d)
{
    chunk_out *o = ud;
    if (d->kind == LLMUX__DELTA_DONE || d->kind == LLMUX__DELTA_ERROR)
        return 0;
    llmux__buf_clear(&o->out);
    llmux__chunk_write_sse(&o->out, &o->meta, d);
    o->chunks++;
    g_sink += o->out.len;
    return 0;
}

static size_t g_stream_chunks;

/* One whole recorded stream, as the engine and server handle it: bytes in (one read),
 * deltas, each re-encoded as the client's chat.completion.chunk event. */
static void stream_translate(llmux__provider p, const char *sse, size_t len)
{
    static chunk_out o = {.meta = {.id = "chatcmpl-llmux0123456789abcdef",
                                   .created = 1700000000,
                                   .provider = "openai",
                                   .model = "gpt-4o-mini"}};
    o.chunks = 0;
    llmux__stream *s = llmux__stream_new(llmux__adapter_for(p));
    if (!s)
        die("out of memory");
    llmux__stream_feed(s, sse, len, write_chunk, &o);
    llmux__stream_finish(s, write_chunk, &o);
    llmux__stream_free(s);
    g_stream_chunks = o.chunks;
}

static void op_stream_oai(void)
{
    stream_translate(LLMUX__PROVIDER_OPENAI, g_oai_sse, g_oai_sse_len);
}

static void op_stream_an(void)
{
    stream_translate(LLMUX__PROVIDER_ANTHROPIC, g_an_sse, g_an_sse_len);
}

/* Runs op for about `budget` seconds three times; returns the best seconds per op. */
static double measure(op_fn op, double budget)
{
    size_t n = 1;
    double t;
    for (;;) { /* calibrate */
        double t0 = now();
        for (size_t i = 0; i < n; i++)
            op();
        t = now() - t0;
        if (t > budget / 10 || n > ((size_t)1 << 30))
            break;
        n *= 4;
    }
    size_t iters = (size_t)((double)n * (budget / 3) / (t > 1e-9 ? t : 1e-9)) + 1;
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now();
        for (size_t i = 0; i < iters; i++)
            op();
        double per = (now() - t0) / (double)iters;
        if (per < best)
            best = per;
    }
    return best;
}

static void row(const char *name, op_fn op, double budget, size_t bytes, size_t units,
                const char *unit)
{
    double s = measure(op, budget);
    printf("%-36s %10.2f %12.0f", name, s * 1e6, 1.0 / s);
    if (bytes)
        printf(" %9.1f", (double)bytes / s / 1e6);
    else
        printf(" %9s", "-");
    if (units)
        printf(" %9.0f ns/%s", s * 1e9 / (double)units, unit);
    printf("\n");
}

int main(int argc, char **argv)
{
    const char *req_path = argc > 1 ? argv[1] : "bench/chat_request.json";
    const char *fx = argc > 2 ? argv[2] : "../shared/fixtures";
    double budget = argc > 3 ? atof(argv[3]) : 0.3;
    size_t raw_len;
    char *raw = read_all(req_path, &raw_len);
    if (!raw)
        die("cannot read the request (bench/chat_request.json)");
    g_req = with_model(raw, "openai/gpt-4o-mini", &g_req_len);
    g_req_an = with_model(raw, "anthropic/claude-haiku-4-5", &g_req_an_len);
    free(raw);
    char path[4096];
#define FIXTURE(var, len, rel)                                                                     \
    do {                                                                                           \
        snprintf(path, sizeof path, "%s/%s", fx, rel);                                             \
        if (!(var = read_all(path, &len))) {                                                       \
            fprintf(stderr, "bench_hotpath: cannot read %s\n", path);                              \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)
    FIXTURE(g_oai_body, g_oai_len, "openai/chat_completion_text.json");
    FIXTURE(g_an_body, g_an_len, "anthropic/messages_text.json");
    FIXTURE(g_oai_sse, g_oai_sse_len, "openai/chat_stream_text.sse");
    FIXTURE(g_an_sse, g_an_sse_len, "anthropic/messages_stream_text.sse");

    llmux__error err;
    if (llmux__request_decode(g_req, g_req_len, &g_decoded, &err) != LLMUX_OK ||
        llmux__request_decode(g_req_an, g_req_an_len, &g_decoded_an, &err) != LLMUX_OK)
        die(err.message);
    if (llmux__plan_build(g_decoded, &g_plan, &err) != LLMUX_OK ||
        llmux__plan_build(g_decoded_an, &g_plan_an, &err) != LLMUX_OK)
        die(err.message);
    llmux__upstream_error uerr;
    if (llmux__adapter_for(LLMUX__PROVIDER_OPENAI)
            ->parse_response(200, NULL, 0, g_oai_body, g_oai_len, 1.7e9, &g_resp, &uerr) !=
        LLMUX_OK)
        die(uerr.message);
    g_big_sse_len = 0;
    size_t reps = (1 << 20) / g_oai_sse_len + 1;
    g_big_sse = malloc(reps * g_oai_sse_len);
    if (!g_big_sse)
        die("out of memory");
    for (size_t i = 0; i < reps; i++, g_big_sse_len += g_oai_sse_len)
        memcpy(g_big_sse + g_big_sse_len, g_oai_sse, g_oai_sse_len);

    printf("request: %s (%zu bytes); fixtures: %s; best of 3 x %.2f s per row\n\n", req_path,
           g_req_len, fx, budget / 3);
    printf("%-36s %10s %12s %9s %s\n", "stage", "us/op", "ops/s", "MB/s", "per unit");
    row("request decode (1 KB)", op_decode, budget, g_req_len, 0, NULL);
    row("plan", op_plan, budget, 0, 0, NULL);
    row("translate -> openai request", op_translate_oai, budget, 0, 0, NULL);
    row("translate -> anthropic request", op_translate_an, budget, 0, 0, NULL);
    row("decode+plan+translate, openai", op_request_oai, budget, g_req_len, 0, NULL);
    row("decode+plan+translate, anthropic", op_request_an, budget, g_req_an_len, 0, NULL);
    row("response <- openai (2.7 KB)", op_response_oai, budget, g_oai_len, 0, NULL);
    row("response <- anthropic (0.7 KB)", op_response_an, budget, g_an_len, 0, NULL);
    row("response -> client JSON (cJSON tree)", op_response_out, budget, 0, 0, NULL);
    row("response -> client JSON (writer)", op_response_write, budget, 0, 0, NULL);
    row("SSE parse (1 MB, 16 KiB reads)", op_sse, budget, g_big_sse_len, 0, NULL);
    op_stream_oai();
    row("stream openai -> client chunks", op_stream_oai, budget, g_oai_sse_len, g_stream_chunks,
        "chunk");
    op_stream_an();
    row("stream anthropic -> client chunks", op_stream_an, budget, g_an_sse_len, g_stream_chunks,
        "chunk");

    llmux__plan_free(&g_plan);
    llmux__plan_free(&g_plan_an);
    llmux__request_free(g_decoded);
    llmux__request_free(g_decoded_an);
    llmux__response_free(g_resp);
    free(g_req);
    free(g_req_an);
    free(g_oai_body);
    free(g_an_body);
    free(g_oai_sse);
    free(g_an_sse);
    free(g_big_sse);
    return 0;
}
