/* fallback_chain.c — seed 002: a fallback chain with partial overrides.
 *
 * anthropic first; then openai, which names only its provider and model and
 * inherits the rest (messages, temperature, max_tokens, retry); then google
 * with its own retry. Every provider of the chain is registered first —
 * fallbacks too. response.provider and response.model say who actually
 * answered; the attempt log says what happened.
 *
 * Usage: fallback_chain [retry_delay_s]   (default 1.0, the seed's) */
#include <llmux.h>

#include <stdio.h>
#include <stdlib.h>

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
    const char *providers[] = {"anthropic", "openai", "google"};
    for (int i = 0; i < 3; i++)
        if (llmux_configure_provider(session, providers[i], &managed, &err) != LLMUX_OK)
            goto fail;

    req = llmux_request_new("anthropic", "claude-haiku-4-5");
    llmux_params *primary = llmux_request_params(req);
    llmux_params_add_message(primary, "user", "What's the weather like in Paris?");
    llmux_params_set_temperature(primary, 0.7);
    llmux_params_set_max_tokens(primary, 1000);
    llmux_retry_config retry = {true, 2, delay, 2.0};
    llmux_params_set_retry(primary, &retry);
    /* {"provider": "openai", "model": "gpt-4.1-mini"}: everything else inherited */
    llmux_request_add_fallback(req, "openai", "gpt-4.1-mini");
    /* a faster last resort: its own retry configuration */
    llmux_params *google = llmux_request_add_fallback(req, "google", "gemini-2.5-flash");
    llmux_retry_config once = {true, 0, 0, 1};
    llmux_params_set_retry(google, &once);

    if (llmux_generate_chat_completion(session, req, &resp, &err) != LLMUX_OK)
        goto fail;
    printf("served by %s / %s\n", llmux_response_provider(resp), llmux_response_model(resp));
    printf("attempts: %zu\n", llmux_response_attempt_count(resp));
    for (size_t i = 0; i < llmux_response_attempt_count(resp); i++) {
        const llmux_attempt *a = llmux_response_attempt(resp, i);
        printf("  %s/%s #%d: %d %s (%.0f ms)\n", a->provider, a->model, a->attempt, a->status,
               a->error ? llmux_code_type(a->error) : "ok", a->latency_ms);
    }
    printf("answer: %s\n", llmux_response_text(resp));
    status = 0;
    goto out;
fail:
    /* CompletionsProxyError: every attempt failed; the attempts say how. */
    fprintf(stderr, "error: %s: %s\n", llmux_code_type(err.code), err.message);
    for (size_t i = 0; i < err.n_attempts; i++)
        fprintf(stderr, "  %s #%d: %d %s\n", err.attempts[i].provider, err.attempts[i].attempt,
                err.attempts[i].status, llmux_code_type(err.attempts[i].error));
out:
    llmux_response_free(resp);
    llmux_request_free(req);
    llmux_session_free(session);
    llmux_client_free(client);
    llmux_error_free(&err);
    return status;
}
