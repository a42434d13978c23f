/* cmd_demo.c — `llmux demo`: the seeds' story told offline in about a second.
 *
 * The mock provider (src/mock/mock.h) starts in-process on a loopback port; a client in
 * embedded mode gets an environment of its own (managed keys that are just labels, base
 * URLs pointing at the mock — nothing is read from the real environment), so the demo
 * needs no key and makes no non-loopback connection. Each step scripts the mock through
 * its control endpoint, runs the client API as handler code would, checks the outcome and
 * narrates it in one line. Exit 0 when every step behaved as the seeds say, 1 otherwise. */
#include "cli/commands.h"
#include "engine/engine.h"
#include "llmux.h"
#include "mock/mock.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct demo {
    llmux__mock *mock;
    int port;
    char url_openai[64], url_root[64];
    llmux_client *client;
    llmux_session *s;
    bool verbose;
    int failures;
} demo;

/* The client's whole environment. */
static const char *demo_env(const char *name, void *ud)
{
    demo *d = ud;
    if (strcmp(name, "ANTHROPIC_API_KEY") == 0)
        return "demo-managed-anthropic";
    if (strcmp(name, "OPENAI_API_KEY") == 0)
        return "demo-managed-openai";
    if (strcmp(name, "LLMUX_ANTHROPIC_BASE_URL") == 0 || strcmp(name, "LLMUX_GOOGLE_BASE_URL") == 0)
        return d->url_root;
    if (strcmp(name, "LLMUX_OPENAI_BASE_URL") == 0)
        return d->url_openai;
    return NULL;
}

static size_t collect(char *ptr, size_t size, size_t nmemb, void *ud)
{
    size_t n = size * nmemb;
    char **buf = ud;
    size_t have = *buf ? strlen(*buf) : 0;
    char *nb = realloc(*buf, have + n + 1);
    if (!nb)
        return 0;
    memcpy(nb + have, ptr, n);
    nb[have + n] = '\0';
    *buf = nb;
    return n;
}

/* One request to the mock's control endpoints; returns the body (caller frees) or NULL. */
static char *mock_http(demo *d, const char *method, const char *path, const char *body)
{
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    char url[128];
    snprintf(url, sizeof url, "%s%s", d->url_root, path);
    char *out = NULL;
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (body)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &out);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    if (curl_easy_perform(h) != CURLE_OK ||
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status != 200) {
        free(out);
        out = NULL;
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    return out;
}

static bool script(demo *d, const char *steps)
{
    char *r = mock_http(d, "POST", "/_mock/script", steps);
    free(r);
    return r != NULL;
}

/* Upstream requests so far (only those to `provider` when not NULL), and over how many
 * connections. */
static void upstream_counts(demo *d, const char *provider, int *requests, int *connections)
{
    *requests = *connections = -1;
    char *body = mock_http(d, "GET", "/_mock/requests", NULL);
    cJSON *root = body ? cJSON_Parse(body) : NULL;
    free(body);
    const cJSON *reqs = cJSON_GetObjectItemCaseSensitive(root, "requests");
    if (cJSON_IsArray(reqs)) {
        *requests = 0;
        double ids[256];
        int n = 0;
        const cJSON *r;
        cJSON_ArrayForEach(r, reqs)
        {
            const cJSON *p = cJSON_GetObjectItemCaseSensitive(r, "provider");
            if (provider && !(cJSON_IsString(p) && strcmp(p->valuestring, provider) == 0))
                continue;
            ++*requests;
            const cJSON *c = cJSON_GetObjectItemCaseSensitive(r, "connection_id");
            if (!cJSON_IsNumber(c))
                continue;
            bool seen = false;
            for (int i = 0; i < n; i++)
                seen = seen || ids[i] == c->valuedouble;
            if (!seen && n < 256)
                ids[n++] = c->valuedouble;
        }
        *connections = n;
    }
    cJSON_Delete(root);
}

static void fail_step(demo *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail_step(demo *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("   !! ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    d->failures++;
}

static llmux_request *ask(const char *provider, const char *model, const char *text)
{
    llmux_request *req = llmux_request_new(provider, model);
    if (req)
        llmux_params_add_message(llmux_request_params(req), "user", text);
    return req;
}

static void fast_retry(llmux_request *req, int retries, double delay)
{
    llmux_retry_config r = {true, retries, delay, 1.0};
    llmux_params_set_retry(llmux_request_params(req), &r);
}

/* "anthropic 503, 503, 503, openai 200": the provider named when it changes. */
static void attempt_list(const llmux_response *resp, char *buf, size_t n)
{
    buf[0] = '\0';
    for (size_t i = 0; i < llmux_response_attempt_count(resp); i++) {
        const llmux_attempt *a = llmux_response_attempt(resp, i);
        bool same = i && strcmp(a->provider, llmux_response_attempt(resp, i - 1)->provider) == 0;
        size_t len = strlen(buf);
        snprintf(buf + len, n - len, "%s%s%s%d", i ? ", " : "", same ? "" : a->provider,
                 same ? "" : " ", a->status);
    }
}

/* The first sentence of s, for one-line narration. */
static void first_sentence(const char *s, char *out, size_t n)
{
    const char *end = strstr(s, ". ");
    size_t len = end ? (size_t)(end - s) + 1 : strlen(s);
    snprintf(out, n, "%.*s%s", (int)len, s, end ? " …" : "");
}

static void step_configure(demo *d)
{
    llmux_error err = LLMUX_ERROR_INIT;
    llmux_provider_options managed = {.managed = true};
    if (llmux_configure_provider(d->s, "anthropic", &managed, &err) == LLMUX_OK)
        printf("1. configure_provider(\"anthropic\", managed) ... ok, warm-up started\n");
    else
        fail_step(d, "configure_provider(anthropic): %s", err.message);
    if (llmux_configure_provider(d->s, "openai", &managed, &err) == LLMUX_OK)
        printf("   configure_provider(\"openai\", managed) ... ok\n");
    else
        fail_step(d, "configure_provider(openai): %s", err.message);
    /* the seed's CompletionsProviderNotConfiguredError, before any network call */
    int before, conns;
    upstream_counts(d, "google", &before, &conns);
    llmux_request *req = ask("google", "gemini-2.5-flash", "hi");
    llmux_response *resp = NULL;
    llmux_code rc = llmux_generate_chat_completion(d->s, req, &resp, &err);
    int after;
    upstream_counts(d, "google", &after, &conns);
    if (rc == LLMUX_EPROVIDER_NOT_CONFIGURED && after == before)
        printf("   completion for \"google\" (never configured) → refused: %s, 0 requests "
               "sent\n",
               llmux_code_type(rc));
    else
        fail_step(d, "google was not refused before the network (%s)", llmux_code_type(rc));
    llmux_response_free(resp);
    llmux_request_free(req);
    llmux_error_free(&err);
}

static void step_completion(demo *d)
{
    llmux_request *req = ask("anthropic", "claude-haiku-4-5", "Say hello.");
    llmux_response *resp = NULL;
    llmux_error err = LLMUX_ERROR_INIT;
    if (llmux_generate_chat_completion(d->s, req, &resp, &err) == LLMUX_OK) {
        char first[128];
        first_sentence(llmux_response_text(resp), first, sizeof first);
        printf("2. completion → %s/%s: \"%s\"\n", llmux_response_provider(resp),
               llmux_response_model(resp), first);
    } else {
        fail_step(d, "completion: %s", err.message);
    }
    llmux_response_free(resp);
    llmux_request_free(req);
    llmux_error_free(&err);
}

static void step_retry(demo *d)
{
    script(d, "[{\"provider\":\"anthropic\",\"status\":503}]");
    llmux_request *req = ask("anthropic", "claude-haiku-4-5", "Say hello.");
    fast_retry(req, 3, 0.05);
    llmux_response *resp = NULL;
    llmux_error err = LLMUX_ERROR_INIT;
    if (llmux_generate_chat_completion(d->s, req, &resp, &err) == LLMUX_OK &&
        llmux_response_attempt_count(resp) == 2) {
        printf("3. anthropic answers 503 once → retried after 0.05 s → ok (attempts: %d, %d)\n",
               llmux_response_attempt(resp, 0)->status, llmux_response_attempt(resp, 1)->status);
    } else {
        fail_step(d, "retry after a 503: %s", resp ? "wrong attempt count" : err.message);
    }
    llmux_response_free(resp);
    llmux_request_free(req);
    llmux_error_free(&err);
}

static void step_fallback(demo *d)
{
    script(d, "[{\"provider\":\"anthropic\",\"status\":503,\"count\":3}]");
    llmux_request *req = ask("anthropic", "claude-haiku-4-5", "Say hello.");
    fast_retry(req, 2, 0.02);
    llmux_request_add_fallback(req, "openai", "gpt-4.1-mini");
    llmux_response *resp = NULL;
    llmux_error err = LLMUX_ERROR_INIT;
    if (llmux_generate_chat_completion(d->s, req, &resp, &err) == LLMUX_OK &&
        strcmp(llmux_response_provider(resp), "openai") == 0) {
        char list[160];
        attempt_list(resp, list, sizeof list);
        printf("4. anthropic fails 3× → fallback to openai → ok: %s/%s (attempts: %s)\n",
               llmux_response_provider(resp), llmux_response_model(resp), list);
    } else {
        fail_step(d, "fallback: %s", resp ? "answered by the wrong provider" : err.message);
    }
    llmux_response_free(resp);
    llmux_request_free(req);
    llmux_error_free(&err);
}

static void step_sentences(demo *d)
{
    llmux_request *req = ask("anthropic", "claude-haiku-4-5", "Tell me something.");
    llmux_request_set_stream_options(req, true, false, false);
    llmux_stream *st = NULL;
    llmux_error err = LLMUX_ERROR_INIT;
    if (llmux_generate_chat_completion_stream(d->s, req, &st, &err) != LLMUX_OK) {
        fail_step(d, "stream: %s", err.message);
        goto out;
    }
    printf("5. stream with chunk_by_sentence:\n");
    llmux_chunk ch;
    llmux_code rc;
    int n = 0;
    while ((rc = llmux_stream_next(st, &ch, 5.0)) == LLMUX_OK && ch.kind != LLMUX_CHUNK_END)
        if (ch.kind == LLMUX_CHUNK_TEXT)
            printf("   [%d] %s\n", ++n, ch.text);
    if (rc != LLMUX_OK || n < 2)
        fail_step(d, "sentence stream ended with %s after %d sentences", llmux_code_type(rc), n);
out:
    llmux_stream_free(st);
    llmux_request_free(req);
    llmux_error_free(&err);
}

static void step_interrupted(demo *d)
{
    script(d, "[{\"provider\":\"anthropic\",\"drop_after_chunks\":2}]");
    llmux_request *req = ask("anthropic", "claude-haiku-4-5", "Tell me something.");
    fast_retry(req, 3, 0.02);
    llmux_request_add_fallback(req, "openai", "gpt-4.1-mini");
    llmux_stream *st = NULL;
    llmux_error err = LLMUX_ERROR_INIT;
    int before, after, conns;
    upstream_counts(d, NULL, &before, &conns);
    if (llmux_generate_chat_completion_stream(d->s, req, &st, &err) != LLMUX_OK) {
        fail_step(d, "stream: %s", err.message);
        goto out;
    }
    llmux_chunk ch;
    llmux_code rc;
    int texts = 0;
    char got[256] = "";
    while ((rc = llmux_stream_next(st, &ch, 5.0)) == LLMUX_OK && ch.kind != LLMUX_CHUNK_END) {
        if (ch.kind == LLMUX_CHUNK_TEXT) {
            texts++;
            strncat(got, ch.text, sizeof got - strlen(got) - 1);
        }
    }
    upstream_counts(d, NULL, &after, &conns);
    if (rc == LLMUX_ESTREAM_INTERRUPTED && after == before + 1)
        printf("6. stream drops after %d chunks (\"%s\") → error raised inside the iteration: "
               "%s, no retry, no fallback\n",
               texts, got, llmux_code_type(rc));
    else
        fail_step(d, "a dropped stream ended with %s after %d more upstream requests",
                  llmux_code_type(rc), after - before - 1);
out:
    llmux_stream_free(st);
    llmux_request_free(req);
    llmux_error_free(&err);
}

static void demo_usage(FILE *out)
{
    fprintf(out, "usage: llmux demo\n\n"
                 "Tells the seeds' story offline: the mock provider runs in-process on a loopback\n"
                 "port and the client library (embedded mode) configures providers, completes,\n"
                 "retries after a 503, falls back, streams whole sentences and surfaces a\n"
                 "mid-stream failure as an error. No keys, no network; exit 0 when every step\n"
                 "behaved as documented.\n");
}

int llmux__cmd_demo(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            demo_usage(stdout);
            return 0;
        }
        fprintf(stderr, "llmux demo: unknown argument '%s'\n\n", argv[i]);
        demo_usage(stderr);
        return 2;
    }
    /* Loopback only: an http(s)_proxy/ALL_PROXY in the environment must not carry the
     * demo's loopback traffic (set before any thread starts). */
    setenv("no_proxy", "127.0.0.1,localhost", 1);
    setenv("NO_PROXY", "127.0.0.1,localhost", 1);
    double t0 = llmux__mono();
    demo d = {0};
    llmux__mock_options mo = {.listen = "127.0.0.1:0"};
    llmux__error merr;
    if (llmux__mock_start(&mo, &d.mock, &merr) != LLMUX_OK) {
        fprintf(stderr, "llmux demo: cannot start the mock: %s\n", merr.message);
        return 1;
    }
    d.port = llmux__mock_port(d.mock);
    snprintf(d.url_root, sizeof d.url_root, "http://127.0.0.1:%d", d.port);
    snprintf(d.url_openai, sizeof d.url_openai, "http://127.0.0.1:%d/v1", d.port);
    int status = 1;
    llmux_client_options o = {.getenv_fn = demo_env, .getenv_ud = &d};
    llmux_error err = LLMUX_ERROR_INIT;
    if (llmux_client_new(&o, &d.client, &err) != LLMUX_OK ||
        llmux_session_new(d.client, "demo", &d.s) != LLMUX_OK) {
        fprintf(stderr, "llmux demo: cannot start the client: %s\n", err.message);
        goto out;
    }
    printf("llmux demo — mock provider in-process on 127.0.0.1:%d; no keys, no network\n\n",
           d.port);
    fflush(stdout);
    step_configure(&d);
    step_completion(&d);
    step_retry(&d);
    step_fallback(&d);
    step_sentences(&d);
    step_interrupted(&d);
    int requests, connections;
    upstream_counts(&d, NULL, &requests, &connections);
    printf("\n%d upstream requests over %d keep-alive connection%s in %.2f s.\n"
           "The same code runs through a proxy: set llmux_client_options.proxy_url "
           "(docs/client.md).\n",
           requests, connections, connections == 1 ? "" : "s", llmux__mono() - t0);
    status = d.failures ? 1 : 0;
    if (d.failures)
        printf("%d step(s) did not behave as documented\n", d.failures);
out:
    llmux_session_free(d.s);
    llmux_client_free(d.client);
    llmux__mock_stop(d.mock);
    llmux_error_free(&err);
    return status;
}
