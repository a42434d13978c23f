/* error_handling.c — seeds 000 and 001: every failure has its own code.
 *
 * A provider that was never configured, a key on a request, a rate limit, an
 * invalid key, an unknown model and a timeout each give a distinct llmux_code
 * (for failed attempts, llmux_error_cause() names the specific one). Messages
 * name the field, the provider or the attempt, never a key. The model names
 * below are placeholders that a real provider answers with its own errors (the
 * tests script the mock for them).
 *
 * Usage: error_handling */
#include <llmux.h>

#include <stdio.h>
#include <stdlib.h>

static const char *advice(llmux_code cause)
{
    switch (cause) {
    case LLMUX_EPROVIDER_NOT_CONFIGURED:
        return "call configure_provider in setup, not inside a turn";
    case LLMUX_EINVALID_REQUEST:
        return "fix the request";
    case LLMUX_ERATE_LIMITED:
        return "rate limited - waiting before retry";
    case LLMUX_EAUTH_FAILED:
        return "invalid API key - check configuration";
    case LLMUX_EMODEL_NOT_FOUND:
        return "model not available - check model name";
    case LLMUX_ETIMEOUT:
        return "request timed out - provider may be slow";
    case LLMUX_EMANAGED_KEY_UNAVAILABLE:
        return "no managed key: configure your own api_key";
    default:
        return "provider error";
    }
}

/* safe_provider_request(): one turn, the failure explained. */
static void safe_request(const char *label, llmux_session *s, const char *provider,
                         const char *model, double timeout_s)
{
    llmux_request *req = llmux_request_new(provider, model);
    llmux_params *p = llmux_request_params(req);
    llmux_params_add_message(p, "user", "hi");
    llmux_retry_config no_retry = {false, 0, 0, 1};
    llmux_params_set_retry(p, &no_retry);
    if (timeout_s > 0)
        llmux_params_set_timeout(p, timeout_s);
    llmux_response *resp = NULL;
    llmux_error err = LLMUX_ERROR_INIT;
    if (llmux_generate_chat_completion(s, req, &resp, &err) == LLMUX_OK) {
        printf("%s: ok (%s)\n", label, llmux_response_provider(resp));
    } else {
        llmux_code cause = llmux_error_cause(&err);
        printf("%s: %s (cause %s) -> %s\n", label, llmux_code_type(err.code),
               llmux_code_type(cause), advice(cause));
        printf("    %s\n", err.message);
    }
    llmux_response_free(resp);
    llmux_request_free(req);
    llmux_error_free(&err);
}

int main(void)
{
    llmux_client_options opts = {.proxy_url = getenv("LLMUX_PROXY_URL"),
                                 .proxy_token = getenv("LLMUX_PROXY_TOKEN")};
    llmux_client *client = NULL;
    llmux_session *s = NULL, *bad = NULL;
    llmux_error err = LLMUX_ERROR_INIT;
    if (llmux_client_new(&opts, &client, &err) != LLMUX_OK ||
        llmux_session_new(client, "errors", &s) != LLMUX_OK ||
        llmux_session_new(client, "errors-bad-key", &bad) != LLMUX_OK) {
        fprintf(stderr, "cannot start: %s\n", err.message);
        return 1;
    }
    llmux_provider_options managed = {.managed = true};
    llmux_provider_options wrong = {.api_key = "sk-invalid-key-000"};
    if (llmux_configure_provider(s, "openai", &managed, &err) != LLMUX_OK ||
        llmux_configure_provider(bad, "openai", &wrong, &err) != LLMUX_OK) {
        fprintf(stderr, "configure_provider: %s\n", err.message);
        return 1;
    }

    /* CompletionsProviderNotConfiguredError, before any network call */
    safe_request("not configured", s, "anthropic", "claude-haiku-4-5", 0);

    /* api_key on a request: the seed's ValueError */
    llmux_response *resp = NULL;
    llmux_code rc = llmux_generate_chat_completion_json(
        s,
        "{\"provider\":\"openai\",\"model\":\"gpt-4.1-mini\",\"api_key\":\"sk-do-"
        "not\","
        "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
        &resp, &err);
    printf("api_key on a request: %s -> %s\n", llmux_code_type(rc), err.message);
    llmux_response_free(resp);

    safe_request("rate limit", s, "openai", "rate-limited-model", 0);
    safe_request("invalid key", bad, "openai", "gpt-4.1-mini", 0);
    safe_request("unknown model", s, "openai", "no-such-model", 0);
    safe_request("timeout", s, "openai", "slow-model", 0.3);

    llmux_session_free(bad);
    llmux_session_free(s);
    llmux_client_free(client);
    llmux_error_free(&err);
    return 0;
}
