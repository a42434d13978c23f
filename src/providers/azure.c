/* azure.c — the Azure OpenAI adapter: OpenAI's body, response and stream (openai.c) on
 * Azure's URLs and auth. Classic surface (default):
 *   {endpoint}/openai/deployments/{model}/chat/completions?api-version={ver}
 * where the request's model names the deployment; api_version "v1" selects the 2025+
 * surface {endpoint}/openai/v1/chat/completions with the deployment as body `model`.
 * Mapping and choices: docs/providers.md. */
#include "providers/common.h"

#include <string.h>

static bool is_v1(const llmux__provider_config *cfg)
{
    return cfg && cfg->api_version && strcmp(cfg->api_version, "v1") == 0;
}

static const char *api_version(const llmux__provider_config *cfg)
{
    return cfg && cfg->api_version && *cfg->api_version ? cfg->api_version
                                                        : LLMUX__AZURE_DEFAULT_API_VERSION;
}

static llmux_code add_key(llmux__http_request *out, const llmux__provider_config *cfg,
                          llmux__error *err)
{
    if (!llmux__has_key(cfg))
        return LLMUX_OK;
    return llmux__http_add_header(out, "api-key", cfg->api_key, err);
}

static llmux_code azure_build(const llmux__params *p, const llmux__request *req,
                              const llmux__provider_config *cfg, llmux__http_request *out,
                              llmux__error *err)
{
    memset(out, 0, sizeof *out);
    llmux__buf url = {0};
    if (!llmux__url_base(&url, cfg ? cfg->base_url : NULL, NULL, err)) {
        llmux__buf_free(&url);
        return err->code;
    }
    bool v1 = is_v1(cfg);
    if (v1) {
        llmux__buf_puts(&url, "/openai/v1/chat/completions");
    } else {
        llmux__buf_puts(&url, "/openai/deployments/");
        llmux__url_encode(&url, p->model);
        llmux__buf_puts(&url, "/chat/completions?api-version=");
        llmux__url_encode(&url, api_version(cfg));
    }
    llmux_code rc = llmux__http_begin(out, "POST", &url, err);
    if (rc)
        return rc;
    /* max_tokens unless configured: older api-versions and most deployments know only it. */
    bool use_mct = cfg && cfg->max_tokens_param == LLMUX__MAX_TOKENS_COMPLETION;
    cJSON *body = llmux__openai_body(p, req, cfg, v1, use_mct, err);
    if (!body) {
        rc = err->code;
        goto fail;
    }
    rc = llmux__http_set_body(out, body, err);
    cJSON_Delete(body);
    if (rc || (rc = add_key(out, cfg, err)) ||
        (rc = llmux__http_add_header(out, "Content-Type", "application/json", err)))
        goto fail;
    if (req && req->stream &&
        (rc = llmux__http_add_header(out, "Accept", "text/event-stream", err)))
        goto fail;
    return LLMUX_OK;
fail:
    llmux__http_request_free(out);
    return rc;
}

static llmux_code azure_warm(const llmux__provider_config *cfg, llmux__http_request *out,
                             llmux__error *err)
{
    memset(out, 0, sizeof *out);
    llmux__buf url = {0};
    if (!llmux__url_base(&url, cfg ? cfg->base_url : NULL, NULL, err)) {
        llmux__buf_free(&url);
        return err->code;
    }
    if (is_v1(cfg)) {
        llmux__buf_puts(&url, "/openai/v1/models");
    } else {
        llmux__buf_puts(&url, "/openai/models?api-version=");
        llmux__url_encode(&url, api_version(cfg));
    }
    llmux_code rc = llmux__http_begin(out, "GET", &url, err);
    if (rc || (rc = add_key(out, cfg, err)))
        llmux__http_request_free(out);
    return rc;
}

const llmux__adapter llmux__azure_adapter = {
    .provider = LLMUX__PROVIDER_AZURE,
    .name = "azure",
    .build_request = azure_build,
    .parse_response = llmux__openai_parse_response,
    .stream_event = llmux__openai_stream_event,
    .stream_end = llmux__openai_stream_end,
    .warm_request = azure_warm,
};
