/* retries.c — seed 002: retries with exponential backoff, in both forms the
 * seed shows.
 *
 * The typed RetryConfiguration (enabled, max_retries 3, retry_delay,
 * backoff 2.0) on a builder request, and the dict form ("retry": {...}) in
 * JSON. Retried: connection failures, timeouts, 429, 5xx/529 and 401; other 4xx
 * go straight to the next fallback.
 *
 * Usage: retries [retry_delay_s]   (default 1.0: waits 0, 1, 2, 4 s before
 * attempts 1-4) */
#include <llmux.h>

#include <stdio.h>
#include <stdlib.h>

static void report(const char *form, const llmux_response *resp)
{
    size_t n = llmux_response_attempt_count(resp);
    printf("%s: ok after %zu attempt%s:", form, n, n == 1 ? "" : "s");
    for (size_t i = 0; i < n; i++)
        printf(" %d", llmux_response_attempt(resp, i)->status);
    printf(" — %s\n", llmux_response_text(resp));
}

int main(int argc, char **argv)
{
    double delay = argc > 1 ? atof(argv[1]) : 1.0;
    llmux_client_options opts = {.proxy_url = getenv("LLMUX_PROXY_URL"),
                                 .proxy_token = getenv("LLMUX_PROXY_TOKEN")};
    llmux_client *client = NULL;
    llmux_session *session = NULL;
    llmux_request *req = NULL;
    llmux_response *resp = NULL;
    llmux_error err = LLMUX_ERROR_INIT;
    int status = 1;

    if (llmux_client_new(&opts, &client, &err) != LLMUX_OK ||
        llmux_session_new(client, NULL, &session) != LLMUX_OK)
        goto fail;
    llmux_provider_options managed = {.managed = true};
    if (llmux_configure_provider(session, "anthropic", &managed, &err) != LLMUX_OK)
        goto fail;

    /* RetryConfiguration(enabled=True, max_retries=3, retry_delay=1.0,
     * backoff_multiplier=2.0) */
    req = llmux_request_new("anthropic", "claude-haiku-4-5");
    llmux_params_add_message(llmux_request_params(req), "user", "Hello?");
    llmux_retry_config retry = {
        .enabled = true, .max_retries = 3, .retry_delay = delay, .backoff_multiplier = 2.0};
    llmux_params_set_retry(llmux_request_params(req), &retry);
    if (llmux_generate_chat_completion(session, req, &resp, &err) != LLMUX_OK)
        goto fail;
    report("typed", resp);
    llmux_response_free(resp);
    resp = NULL;

    /* "retry" as a dict */
    char json[512];
    snprintf(json, sizeof json,
             "{\"provider\":\"anthropic\",\"model\":\"claude-haiku-4-5\","
             "\"messages\":[{\"role\":\"user\",\"content\":\"Hello again?\"}],"
             "\"retry\":{\"max_retries\":5,\"retry_delay\":%g,\"backoff_"
             "multiplier\":1.5}}",
             delay / 2);
    if (llmux_generate_chat_completion_json(session, json, &resp, &err) != LLMUX_OK)
        goto fail;
    report("dict", resp);
    status = 0;
    goto out;
fail:
    fprintf(stderr, "error: %s: %s (%zu attempts)\n", llmux_code_type(err.code), err.message,
            err.n_attempts);
out:
    llmux_response_free(resp);
    llmux_request_free(req);
    llmux_session_free(session);
    llmux_client_free(client);
    llmux_error_free(&err);
    return status;
}
