/* fuzz_translate.c — request decode + plan, then every adapter's build_request (and
 * warm_request) for every entry of the chain: what `llmux translate` and each attempt do.
 *
 * Input: byte 0 selects the provider configuration variant (base URL, API version,
 * max_tokens field, stream_options, default max_tokens); the rest is the request JSON.
 *
 * Invariants (abort on violation): never crash or leak; on success the upstream request
 * has a method, an absolute http(s) URL, "Name: value" header lines without CR or LF, a
 * body that is valid JSON (POST) and the key in no place but a header; on failure the
 * output is zeroed and the error names a code and a message without the key. */
#include "core/request.h"
#include "core/response.h"
#include "providers/provider.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_translate: check failed at line %d: %s\n", __LINE__, #cond);     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define KEY "sk-fuzz-SECRET-7f3a"

static bool user_wrote_key; /* the request's own text contains KEY (the fuzzer found it) */

static void check_http(const llmux__http_request *h, bool warm)
{
    CHECK(h->method && (strcmp(h->method, "POST") == 0 || strcmp(h->method, "GET") == 0));
    CHECK(h->url && (strncmp(h->url, "http://", 7) == 0 || strncmp(h->url, "https://", 8) == 0));
    CHECK(user_wrote_key || !strstr(h->url, KEY));
    CHECK(!strpbrk(h->url, "\r\n"));
    for (size_t i = 0; i < h->n_headers; i++) {
        CHECK(h->headers[i] && strstr(h->headers[i], ": "));
        CHECK(!strpbrk(h->headers[i], "\r\n"));
    }
    if (warm || strcmp(h->method, "GET") == 0) {
        CHECK(!h->body || h->body_len == 0 || !strstr(h->body, KEY));
        return;
    }
    CHECK(h->body && strlen(h->body) == h->body_len);
    CHECK(user_wrote_key || !strstr(h->body, KEY));
    cJSON *j = cJSON_ParseWithLength(h->body, h->body_len);
    CHECK(cJSON_IsObject(j)); /* what goes upstream is always a JSON object */
    cJSON_Delete(j);
}

static void check_failed(llmux_code rc, const llmux__http_request *h, const llmux__error *err)
{
    CHECK(rc == LLMUX_EINVALID_REQUEST || rc == LLMUX_ENOMEM);
    CHECK(!h->url && !h->headers && !h->body && h->n_headers == 0);
    CHECK(err->message[0] && (user_wrote_key || !strstr(err->message, KEY)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const char *const bases[] = {NULL, "http://127.0.0.1:9/v1/", "https://h.example/x"};
    static const char *const versions[] = {NULL, "v1", "2025-01-01-preview"};
    unsigned v = data[0];
    llmux__provider_config cfg = {
        .api_key = (v & 0x80) ? "" : KEY,
        .base_url = bases[v % 3],
        .api_version = versions[(v >> 2) % 3],
        .anthropic_version = (v & 0x10) ? "2023-01-01" : NULL,
        .max_tokens_param = (llmux__max_tokens_param)((v >> 5) % 3),
        .no_stream_options = (v & 0x40) != 0,
        .default_max_tokens = (v & 0x10) ? 7 : 0,
    };
    llmux__request *req = NULL;
    llmux__error err;
    if (llmux__request_decode((const char *)data + 1, size - 1, &req, &err) != LLMUX_OK) {
        CHECK(req == NULL);
        return 0;
    }
    cJSON *again = llmux__request_to_json(req);
    char *text = again ? cJSON_PrintUnformatted(again) : NULL;
    user_wrote_key = !text || strstr(text, KEY) || memmem(data, size, "SECRET", 6);
    cJSON_free(text);
    cJSON_Delete(again);
    llmux__plan plan;
    if (llmux__plan_build(req, &plan, &err) == LLMUX_OK) {
        for (size_t c = 0; c < plan.n_chain; c++) {
            for (int p = 0; p < LLMUX__PROVIDER_COUNT; p++) {
                const llmux__adapter *a = llmux__adapter_for((llmux__provider)p);
                CHECK(a);
                cfg.provider = (llmux__provider)p;
                /* Azure needs an endpoint: give it one unless the variant says none */
                const char *saved = cfg.base_url;
                if (p == LLMUX__PROVIDER_AZURE && !cfg.base_url && (v & 1))
                    cfg.base_url = "https://res.openai.azure.com";
                llmux__http_request h;
                memset(&h, 0x5A, sizeof h);
                llmux_code rc = a->build_request(&plan.chain[c], req, &cfg, &h, &err);
                if (rc == LLMUX_OK)
                    check_http(&h, false);
                else
                    check_failed(rc, &h, &err);
                llmux__http_request_free(&h);
                if (c == 0) {
                    memset(&h, 0x5A, sizeof h);
                    rc = a->warm_request(&cfg, &h, &err);
                    if (rc == LLMUX_OK)
                        check_http(&h, true);
                    else
                        check_failed(rc, &h, &err);
                    llmux__http_request_free(&h);
                }
                cfg.base_url = saved;
            }
        }
        llmux__plan_free(&plan);
    }
    llmux__request_free(req);
    return 0;
}
