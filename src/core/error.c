/* error.c — llmux_code strings, type names, the detail-message carrier and the
 * classification of upstream failures (DESIGN.md "Details of the contract"). */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *type;
    const char *text;
} code_table[LLMUX_CODE_COUNT_] = {
    [LLMUX_OK] = {"ok", "success"},
    [LLMUX_EINVALID_REQUEST] = {"invalid_request", "invalid request"},
    [LLMUX_EPROVIDER_NOT_CONFIGURED] = {"provider_not_configured",
                                        "provider not configured in this session"},
    [LLMUX_EMANAGED_KEY_UNAVAILABLE] = {"managed_key_unavailable",
                                        "no managed key for this provider"},
    [LLMUX_ERATE_LIMITED] = {"rate_limited", "upstream rate limit"},
    [LLMUX_EAUTH_FAILED] = {"auth_failed", "upstream rejected the API key"},
    [LLMUX_EMODEL_NOT_FOUND] = {"model_not_found", "model not found"},
    [LLMUX_ETIMEOUT] = {"timeout", "timed out"},
    [LLMUX_EUPSTREAM] = {"upstream_error", "upstream error"},
    [LLMUX_EALL_PROVIDERS_FAILED] = {"all_providers_failed", "all providers failed"},
    [LLMUX_ESTREAM_INTERRUPTED] = {"stream_interrupted", "stream interrupted after first chunk"},
    [LLMUX_EUNAUTHORIZED] = {"unauthorized", "missing or wrong proxy token"},
    [LLMUX_ENOMEM] = {"out_of_memory", "out of memory"},
    [LLMUX_EIO] = {"io_error", "I/O error talking to the proxy"},
    [LLMUX_ELIMIT] = {"limit_exceeded", "limit exceeded"},
    [LLMUX_ENOT_FOUND] = {"not_found", "not found"},
};

const char *llmux_strerror(llmux_code code)
{
    if ((unsigned)code >= LLMUX_CODE_COUNT_)
        return "unknown error";
    return code_table[code].text;
}

const char *llmux_code_type(llmux_code code)
{
    if ((unsigned)code >= LLMUX_CODE_COUNT_)
        return "upstream_error";
    return code_table[code].type;
}

llmux_code llmux_code_from_type(const char *type)
{
    if (type) {
        for (int i = 0; i < LLMUX_CODE_COUNT_; i++)
            if (strcmp(code_table[i].type, type) == 0)
                return (llmux_code)i;
    }
    return LLMUX_EUPSTREAM;
}

const char *llmux_version(void)
{
    return LLMUX_VERSION;
}

llmux_code llmux__error_set(llmux__error *err, llmux_code code, const char *fmt, ...)
{
    if (err) {
        err->code = code;
        if (fmt) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err->message, sizeof err->message, fmt, ap);
            va_end(ap);
        } else {
            snprintf(err->message, sizeof err->message, "%s", llmux_strerror(code));
        }
    }
    return code;
}

void llmux__error_clear(llmux__error *err)
{
    if (err) {
        err->code = LLMUX_OK;
        err->message[0] = '\0';
    }
}

llmux__failure llmux__classify_http(int status)
{
    llmux__failure f = {LLMUX_OK, false};
    if (status >= 200 && status < 300)
        return f;
    if (status == 401 || status == 403) {
        f.code = LLMUX_EAUTH_FAILED;
        f.retryable = (status == 401); /* the seeds retry 401 (key rotation), not 403 */
    } else if (status == 429) {
        f.code = LLMUX_ERATE_LIMITED;
        f.retryable = true;
    } else if (status == 404) {
        f.code = LLMUX_EMODEL_NOT_FOUND;
        f.retryable = false;
    } else if (status == 408) {
        f.code = LLMUX_ETIMEOUT;
        f.retryable = true;
    } else if (status >= 500 || status == 529) {
        f.code = LLMUX_EUPSTREAM;
        f.retryable = true;
    } else if (status >= 400) {
        f.code = LLMUX_EINVALID_REQUEST;
        f.retryable = false;
    } else {
        /* 1xx/3xx: nothing usable came back */
        f.code = LLMUX_EUPSTREAM;
        f.retryable = true;
    }
    return f;
}

llmux__failure llmux__classify_transport(llmux__transport_failure kind)
{
    llmux__failure f = {LLMUX_EUPSTREAM, true};
    if (kind == LLMUX__TRANSPORT_TIMEOUT)
        f.code = LLMUX_ETIMEOUT;
    return f;
}
