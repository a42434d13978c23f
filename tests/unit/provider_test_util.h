/* provider_test_util.h — helpers shared by the provider adapter tests (header-only):
 * a delta collector that checks the stream invariants and records a transcript, a
 * runner that feeds a body whole, byte by byte or at random splits, and request
 * helpers. Include after cmocka.h. */
#ifndef LLMUX_PROVIDER_TEST_UTIL_H
#define LLMUX_PROVIDER_TEST_UTIL_H

#include "core/request.h"
#include "core/response.h"
#include "providers/provider.h"
#include "test_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PT_MAX_TOOLS 8

typedef struct pt_tool {
    char id[128];
    char name[128];
    char sig[2048];
    llmux__buf args;
} pt_tool;

/* Everything a stream produced. */
typedef struct pt_collect {
    llmux__buf log;  /* one line per delta */
    llmux__buf text; /* all TEXT fragments */
    pt_tool tools[PT_MAX_TOOLS];
    int n_tools;
    llmux__finish_reason finish;
    llmux__usage usage;
    llmux__upstream_error err;
    int n_deltas, n_pre, n_finish, n_usage, n_done, n_err;
    int first_content; /* delta number of the first content delta, -1 if none */
    char id[128], model[128];
    int violations; /* broken invariants (anything after the end, no preamble first...) */
} pt_collect;

static inline void pt_init(pt_collect *c)
{
    memset(c, 0, sizeof *c);
    c->first_content = -1;
}

static inline void pt_free(pt_collect *c)
{
    llmux__buf_free(&c->log);
    llmux__buf_free(&c->text);
    for (int i = 0; i < PT_MAX_TOOLS; i++)
        llmux__buf_free(&c->tools[i].args);
}

static inline void pt_logf(pt_collect *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void pt_logf(pt_collect *c, const char *fmt, ...)
{
    char tmp[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    llmux__buf_puts(&c->log, tmp);
    llmux__buf_puts(&c->log, "\n");
}

static inline int pt_sink(void *ud, const llmux__delta *d)
{
    pt_collect *c = ud;
    if (c->n_done || c->n_err)
        c->violations++; /* nothing after the end */
    if (d->kind != LLMUX__DELTA_PREAMBLE && d->kind != LLMUX__DELTA_ERROR && c->n_pre == 0)
        c->violations++; /* PREAMBLE comes first */
    if (!d->response_id || !d->model)
        c->violations++;
    /* The chunk encoder must give valid JSON for every delta. */
    llmux__chunk_meta meta = {"chatcmpl-test", 1700000000, "test", d->model};
    llmux__buf chunk = {0};
    llmux__chunk_write(&chunk, &meta, d);
    if (d->kind != LLMUX__DELTA_DONE) {
        cJSON *j = cJSON_Parse(chunk.p);
        if (!j)
            c->violations++;
        cJSON_Delete(j);
    }
    llmux__buf_free(&chunk);

    snprintf(c->id, sizeof c->id, "%s", d->response_id ? d->response_id : "");
    snprintf(c->model, sizeof c->model, "%s", d->model ? d->model : "");
    if (llmux__delta_is_content(d) && c->first_content < 0)
        c->first_content = c->n_deltas;
    c->n_deltas++;
    switch (d->kind) {
    case LLMUX__DELTA_PREAMBLE:
        c->n_pre++;
        pt_logf(c, "pre");
        break;
    case LLMUX__DELTA_TEXT:
        if (!d->text || d->text_len == 0 || strlen(d->text) != d->text_len)
            c->violations++;
        llmux__buf_append(&c->text, d->text, d->text_len);
        pt_logf(c, "text:%s", d->text);
        break;
    case LLMUX__DELTA_TOOL_CALL_START:
        if (d->index != c->n_tools || c->n_tools >= PT_MAX_TOOLS) {
            c->violations++;
            break;
        }
        snprintf(c->tools[d->index].id, sizeof c->tools[0].id, "%s", d->tool_id);
        snprintf(c->tools[d->index].name, sizeof c->tools[0].name, "%s", d->tool_name);
        snprintf(c->tools[d->index].sig, sizeof c->tools[0].sig, "%s",
                 d->thought_signature ? d->thought_signature : "");
        c->n_tools++;
        pt_logf(c, "start#%d:%s:%s", d->index, d->tool_id, d->tool_name);
        break;
    case LLMUX__DELTA_TOOL_CALL_ARGS:
        if (d->index < 0 || d->index >= c->n_tools || !d->text || d->text_len == 0) {
            c->violations++;
            break;
        }
        llmux__buf_append(&c->tools[d->index].args, d->text, d->text_len);
        pt_logf(c, "args#%d:%s", d->index, d->text);
        break;
    case LLMUX__DELTA_FINISH:
        c->n_finish++;
        c->finish = d->finish_reason;
        pt_logf(c, "finish:%s", llmux__finish_reason_name(d->finish_reason));
        break;
    case LLMUX__DELTA_USAGE:
        c->n_usage++;
        c->usage = d->usage;
        pt_logf(c, "usage:%lld/%lld/%lld", (long long)d->usage.prompt_tokens,
                (long long)d->usage.completion_tokens, (long long)d->usage.total_tokens);
        break;
    case LLMUX__DELTA_ERROR:
        c->n_err++;
        if (d->error)
            c->err = *d->error;
        pt_logf(c, "error:%s:%d:%s", llmux_code_type(c->err.code), c->err.retryable,
                c->err.message);
        break;
    case LLMUX__DELTA_DONE:
        c->n_done++;
        pt_logf(c, "done");
        break;
    }
    return 0;
}

/* Feeds body to a new stream of adapter a: split 0 = whole, 1 = one byte at a time,
 * otherwise random splits seeded with `split`. Then finish. */
static inline void pt_run(const llmux__adapter *a, const char *body, size_t len, unsigned split,
                          pt_collect *c)
{
    pt_init(c);
    llmux__stream *s = llmux__stream_new(a);
    assert_non_null(s);
    if (split == 0) {
        llmux__stream_feed(s, body, len, pt_sink, c);
    } else if (split == 1) {
        for (size_t i = 0; i < len; i++)
            llmux__stream_feed(s, body + i, 1, pt_sink, c);
    } else {
        unsigned state = split;
        size_t off = 0;
        while (off < len) {
            state = state * 1103515245u + 12345u;
            size_t n = 1 + (state >> 16) % 97;
            if (n > len - off)
                n = len - off;
            /* Copy to a tight buffer so ASan sees any read past the piece. */
            char *piece = malloc(n);
            memcpy(piece, body + off, n);
            llmux__stream_feed(s, piece, n, pt_sink, c);
            free(piece);
            off += n;
        }
    }
    llmux__stream_finish(s, pt_sink, c);
    llmux__stream_free(s);
}

/* Runs a fixture file through adapter a. */
static inline void pt_run_fixture(const llmux__adapter *a, const char *rel, unsigned split,
                                  pt_collect *c)
{
    size_t len;
    char *body = tu_read_shared(rel, &len);
    pt_run(a, body, len, split, c);
    free(body);
}

/* Parses a fixture body with status through adapter a. */
static inline llmux_code pt_parse_fixture(const llmux__adapter *a, const char *rel, int status,
                                          const llmux__header *h, size_t nh, llmux__response **out,
                                          llmux__upstream_error *uerr)
{
    size_t len;
    char *body = tu_read_shared(rel, &len);
    llmux_code rc = a->parse_response(status, h, nh, body, len, 1700000000.0, out, uerr);
    free(body);
    return rc;
}

/* Decodes a request (JSON text), failing the test when it does not decode. */
static inline llmux__request *pt_request(const char *json)
{
    llmux__request *req = NULL;
    llmux__error err = {0};
    llmux_code rc = llmux__request_decode(json, strlen(json), &req, &err);
    if (rc != LLMUX_OK)
        fail_msg("request does not decode: %s\n%s", err.message, json);
    return req;
}

/* Builds the upstream request for req's primary with cfg and returns the parsed body
 * (caller frees); *http keeps the request for header/URL checks (caller frees). */
static inline cJSON *pt_build(const llmux__request *req, const llmux__provider_config *cfg,
                              llmux__http_request *http)
{
    llmux__error err = {0};
    const llmux__adapter *a = llmux__adapter_for(cfg->provider);
    llmux_code rc = a->build_request(&req->primary, req, cfg, http, &err);
    if (rc != LLMUX_OK)
        fail_msg("build_request failed: %s", err.message);
    cJSON *body = cJSON_Parse(http->body);
    assert_non_null(body);
    return body;
}

/* The header line starting with "name: " (case-sensitive name), or NULL. */
static inline const char *pt_header(const llmux__http_request *r, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < r->n_headers; i++)
        if (strncmp(r->headers[i], name, n) == 0 && r->headers[i][n] == ':')
            return r->headers[i] + n + 2;
    return NULL;
}

/* Compact JSON of item (for exact comparisons). */
static inline void pt_assert_json(const cJSON *item, const char *expected)
{
    char *s = cJSON_PrintUnformatted(item);
    cJSON *e = cJSON_Parse(expected);
    if (!e)
        fail_msg("bad expected JSON: %s", expected);
    if (!cJSON_Compare(item, e, true))
        fail_msg("JSON differs\n  got:      %s\n  expected: %s", s ? s : "(null)", expected);
    cJSON_Delete(e);
    cJSON_free(s);
}

/* Asserts that the JSON at a '.'-separated path of root equals expected (JSON text).
 * Path elements that are numbers index arrays. */
static inline void pt_assert_at(const cJSON *root, const char *path, const char *expected)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *cur = root;
    for (char *tok = strtok(buf, "."); tok && cur; tok = strtok(NULL, ".")) {
        if (tok[0] >= '0' && tok[0] <= '9' && cJSON_IsArray(cur))
            cur = cJSON_GetArrayItem(cur, atoi(tok));
        else
            cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
    }
    if (!cur) {
        if (strcmp(expected, "<absent>") == 0)
            return;
        char *s = cJSON_PrintUnformatted(root);
        fail_msg("%s is absent in %s", path, s);
    }
    if (strcmp(expected, "<absent>") == 0) {
        char *s = cJSON_PrintUnformatted(cur);
        fail_msg("%s should be absent, is %s", path, s);
    }
    pt_assert_json(cur, expected);
}

#endif
