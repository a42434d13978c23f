/* byok_providers.c — seed 001: bring your own key for OpenAI, Azure OpenAI,
 * Anthropic and a custom OpenAI-compatible endpoint.
 *
 * Keys come from the environment or a .env file (OPENAI_API_KEY,
 * AZURE_OPENAI_API_KEY + AZURE_OPENAI_ENDPOINT, ANTHROPIC_API_KEY,
 * CUSTOM_API_KEY + CUSTOM_BASE_URL). The helpers name the variable that is
 * missing; a provider without its variables is skipped. Each provider gets its
 * own session (with an id) and a send_and_wait turn.
 *
 * Usage: byok_providers [path/to/.env] */
#include <llmux.h>

#include <stdio.h>
#include <stdlib.h>

/* One provider of the recipe: how to configure it and which model to talk to. */
typedef struct byok {
    const char *name;     /* session id and label */
    const char *provider; /* llmux provider */
    const char *model;    /* model, or the Azure deployment name */
} byok;

/* get_custom_provider(): an OpenAI-compatible server at CUSTOM_BASE_URL. */
static llmux_code custom_options(llmux_provider_options *out, llmux_error *err)
{
    const char *key = getenv("CUSTOM_API_KEY"), *url = getenv("CUSTOM_BASE_URL");
    if (!key || !*key || !url || !*url) {
        snprintf(err->message, sizeof err->message, "CUSTOM_API_KEY and CUSTOM_BASE_URL required");
        return err->code = LLMUX_EINVALID_REQUEST;
    }
    llmux_provider_options o = {.api_key = key, .base_url = url};
    *out = o;
    return LLMUX_OK;
}

int main(int argc, char **argv)
{
    llmux_error err = LLMUX_ERROR_INIT;
    /* load_dotenv(): a missing file is fine, a malformed one is not */
    llmux_code rc = llmux_load_dotenv(argc > 1 ? argv[1] : ".env", false, &err);
    if (rc != LLMUX_OK && rc != LLMUX_ENOT_FOUND) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    llmux_client_options opts = {.proxy_url = getenv("LLMUX_PROXY_URL"),
                                 .proxy_token = getenv("LLMUX_PROXY_TOKEN")};
    llmux_client *client = NULL;
    if (llmux_client_new(&opts, &client, &err) != LLMUX_OK) {
        fprintf(stderr, "cannot start: %s\n", err.message);
        return 1;
    }
    const char *custom_model = getenv("CUSTOM_MODEL");
    const byok providers[] = {
        {"openai", "openai", "gpt-4o"},
        {"azure", "azure", "gpt-4o"}, /* your deployment name */
        {"anthropic", "anthropic", "claude-sonnet-4-20250514"},
        {"custom", "openai", custom_model ? custom_model : "your-model-name"},
    };
    int answered = 0, failed = 0;
    for (size_t i = 0; i < sizeof providers / sizeof providers[0]; i++) {
        const byok *p = &providers[i];
        llmux_provider_options po;
        rc = i == 3 ? custom_options(&po, &err)
                    : llmux_provider_options_from_env(p->provider, &po, &err);
        if (rc != LLMUX_OK) {
            printf("skipped %s: %s\n", p->name, err.message);
            continue;
        }
        char id[64];
        snprintf(id, sizeof id, "byok-%s", p->name);
        llmux_session *session = NULL;
        llmux_response *resp = NULL;
        if (llmux_session_new(client, id, &session) != LLMUX_OK ||
            llmux_configure_provider(session, p->provider, &po, &err) != LLMUX_OK ||
            llmux_session_set_model(session, p->provider, p->model) != LLMUX_OK ||
            llmux_send_and_wait(session, "Hello from custom provider!", 10.0, &resp, &err) !=
                LLMUX_OK) {
            printf("%s failed: %s: %s\n", p->name, llmux_code_type(err.code), err.message);
            failed++;
        } else {
            printf("%s (%s/%s): %s\n", p->name, llmux_response_provider(resp),
                   llmux_response_model(resp), llmux_response_text(resp));
            answered++;
        }
        llmux_response_free(resp);
        llmux_session_free(session); /* session.destroy() */
    }
    llmux_client_free(client); /* client.stop() */
    llmux_error_free(&err);
    printf("%d answered, %d failed\n", answered, failed);
    return failed || !answered ? 1 : 0;
}
