/* configure_and_complete.c — seed 000: register providers, then complete.
 *
 * configure_provider is the only place a key enters: a managed key (the
 * operator's — here the environment's in embedded mode, the proxy's in proxy
 * mode) for anthropic, and the customer's own key for openai, taken from the
 * session's variables (the seed's context.variables). A provider that was never
 * registered is refused before any network call.
 *
 * Runs in embedded mode, or through a proxy when LLMUX_PROXY_URL (and
 * LLMUX_PROXY_TOKEN) are set. Build: cc configure_and_complete.c $(pkg-config
 * --cflags --libs llmux) */
#include <llmux.h>

#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    llmux_client_options opts = {.proxy_url = getenv("LLMUX_PROXY_URL"),
                                 .proxy_token = getenv("LLMUX_PROXY_TOKEN")};
    llmux_client *client = NULL;
    llmux_session *session = NULL;
    llmux_request *req = NULL;
    llmux_response *resp = NULL;
    llmux_error err = LLMUX_ERROR_INIT;
    int status = 1;

    if (llmux_client_new(&opts, &client, &err) != LLMUX_OK ||
        llmux_session_new(client, "call-42", &session) != LLMUX_OK) {
        fprintf(stderr, "cannot start: %s\n", err.message);
        goto out;
    }
    /* The customer's key arrives with the session's variables. */
    const char *customer_key = getenv("CUSTOMER_OPENAI_API_KEY");
    llmux_session_set_variable(session, "OPENAI_API_KEY",
                               customer_key ? customer_key : "sk-customer-demo");

    /* StartEvent: register every provider this session will use. */
    llmux_provider_options managed = {.managed = true};
    if (llmux_configure_provider(session, "anthropic", &managed, &err) != LLMUX_OK) {
        fprintf(stderr, "configure_provider(anthropic): %s\n", err.message);
        goto out;
    }
    llmux_provider_options customer = {.api_key =
                                           llmux_session_variable(session, "OPENAI_API_KEY")};
    if (llmux_configure_provider(session, "openai", &customer, &err) != LLMUX_OK) {
        fprintf(stderr, "configure_provider(openai): %s\n", err.message);
        goto out;
    }
    printf("registered: anthropic (managed), openai (customer key)\n");

    /* A turn. */
    req = llmux_request_new("anthropic", "claude-haiku-4-5");
    llmux_params_add_message(llmux_request_params(req), "user", "hi");
    if (llmux_generate_chat_completion(session, req, &resp, &err) != LLMUX_OK) {
        fprintf(stderr, "completion failed: %s: %s\n", llmux_code_type(err.code), err.message);
        goto out;
    }
    printf("served by %s / %s: %s\n", llmux_response_provider(resp), llmux_response_model(resp),
           llmux_response_text(resp));
    llmux_response_free(resp);
    resp = NULL;

    /* A provider that was never registered:
     * CompletionsProviderNotConfiguredError. */
    llmux_request_free(req);
    req = llmux_request_new("google", "gemini-2.5-flash");
    llmux_params_add_message(llmux_request_params(req), "user", "hi");
    if (llmux_generate_chat_completion(session, req, &resp, &err) ==
        LLMUX_EPROVIDER_NOT_CONFIGURED) {
        printf("configuration error: %s\n", err.message);
        status = 0;
    } else {
        fprintf(stderr, "expected provider_not_configured, got %s\n", llmux_code_type(err.code));
    }
out:
    llmux_response_free(resp);
    llmux_request_free(req);
    llmux_session_free(session);
    llmux_client_free(client);
    llmux_error_free(&err);
    return status;
}
