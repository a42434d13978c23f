/*
 * result.c — attempt lists, llmux_error, llmux_response (see client.h), and the JSON
 * forms of both as the proxy writes them (DESIGN.md "Proxy HTTP contract").
 */
#include "client/client.h"
#include "engine/engine.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- attempt lists ------------------------------------------------------------------- */

void llmux__attempts_init(llmux__attempts *l)
{
    memset(l, 0, sizeof *l);
    llmux__arena_init(&l->strings);
}

void llmux__attempts_free(llmux__attempts *l)
{
    free(l->v);
    llmux__arena_free(&l->strings);
    llmux__attempts_init(l);
}

bool llmux__attempts_add(llmux__attempts *l, const llmux_attempt *a)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        llmux_attempt *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return false;
        l->v = v;
        l->cap = cap;
    }
    llmux_attempt c = *a;
    c.provider = a->provider ? a->provider : "";
    c.model = llmux__arena_strdup(&l->strings, a->model ? a->model : "");
    c.message = llmux__arena_strdup(&l->strings, a->message ? a->message : "");
    if (!c.model || !c.message)
        return false;
    /* provider names are static strings of the library, but a parsed one is not */
    if (a->provider) {
        llmux__provider p;
        if (llmux__provider_parse(a->provider, &p))
            c.provider = llmux__provider_name(p);
        else if (!(c.provider = llmux__arena_strdup(&l->strings, a->provider)))
            return false;
    }
    l->v[l->n++] = c;
    return true;
}

bool llmux__attempts_add_all(llmux__attempts *l, const llmux__attempts *src)
{
    for (size_t i = 0; i < src->n; i++)
        if (!llmux__attempts_add(l, &src->v[i]))
            return false;
    return true;
}

static const char *json_str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double json_num(const cJSON *o, const char *name, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

bool llmux__attempts_add_json(llmux__attempts *l, const cJSON *arr)
{
    if (!cJSON_IsArray(arr))
        return true;
    const cJSON *o;
    cJSON_ArrayForEach(o, arr)
    {
        if (!cJSON_IsObject(o))
            continue;
        llmux_attempt a = {0};
        a.provider = json_str(o, "provider");
        a.model = json_str(o, "model");
        a.status = (int)json_num(o, "status", 0);
        const char *type = json_str(o, "error_type");
        a.error = type ? llmux_code_from_type(type) : LLMUX_OK;
        a.latency_ms = json_num(o, "latency_ms", 0);
        a.message = json_str(o, "message");
        a.attempt = (int)json_num(o, "attempt", 0);
        if (a.attempt <= 0) {
            a.attempt = 1;
            if (l->n) {
                const llmux_attempt *prev = &l->v[l->n - 1];
                if (strcmp(prev->provider, a.provider ? a.provider : "") == 0 &&
                    strcmp(prev->model, a.model ? a.model : "") == 0)
                    a.attempt = prev->attempt + 1;
            }
        }
        if (!llmux__attempts_add(l, &a))
            return false;
    }
    return true;
}

cJSON *llmux__attempts_to_json(const llmux__attempts *l)
{
    cJSON *arr = cJSON_CreateArray();
    if (!arr)
        return NULL;
    for (size_t i = 0; i < l->n; i++) {
        const llmux_attempt *a = &l->v[i];
        cJSON *o = cJSON_CreateObject();
        if (!o)
            goto fail;
        cJSON_AddItemToArray(arr, o);
        if (!cJSON_AddStringToObject(o, "provider", a->provider) ||
            !cJSON_AddStringToObject(o, "model", a->model) ||
            !cJSON_AddNumberToObject(o, "attempt", a->attempt) ||
            !(a->status ? cJSON_AddNumberToObject(o, "status", a->status)
                        : cJSON_AddNullToObject(o, "status")) ||
            !(a->error ? cJSON_AddStringToObject(o, "error_type", llmux_code_type(a->error))
                       : cJSON_AddNullToObject(o, "error_type")) ||
            (a->message[0] && !cJSON_AddStringToObject(o, "message", a->message)) ||
            !cJSON_AddNumberToObject(o, "latency_ms", a->latency_ms))
            goto fail;
    }
    return arr;
fail:
    cJSON_Delete(arr);
    return NULL;
}

/* ---- errors -------------------------------------------------------------------------------- */

void llmux_error_free(llmux_error *err)
{
    if (!err)
        return;
    llmux__attempts *owned = err->owner_;
    if (owned) {
        llmux__attempts_free(owned);
        free(owned);
    }
    llmux_error init = LLMUX_ERROR_INIT;
    *err = init;
}

llmux_code llmux_error_cause(const llmux_error *err)
{
    if (!err)
        return LLMUX_OK;
    if ((err->code == LLMUX_EALL_PROVIDERS_FAILED || err->code == LLMUX_ETIMEOUT) &&
        err->n_attempts) {
        for (size_t i = err->n_attempts; i-- > 0;)
            if (err->attempts[i].error != LLMUX_OK)
                return err->attempts[i].error;
    }
    return err->code;
}

llmux_code llmux__client_error(llmux_error *err, llmux_code code, const char *fmt, ...)
{
    if (!err)
        return code;
    llmux_error_free(err);
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    if (code != LLMUX_OK && !err->message[0])
        snprintf(err->message, sizeof err->message, "%s", llmux_strerror(code));
    return code;
}

llmux_code llmux__client_error_from(llmux_error *err, const llmux__error *ie)
{
    return llmux__client_error(err, ie->code, "%s", ie->message);
}

bool llmux__client_error_set_attempts(llmux_error *err, const llmux__attempts *l)
{
    if (!err)
        return true;
    llmux__attempts *own = err->owner_;
    if (own) {
        llmux__attempts_free(own);
    } else {
        own = malloc(sizeof *own);
        if (!own)
            return false;
        llmux__attempts_init(own);
        err->owner_ = own;
    }
    err->attempts = NULL;
    err->n_attempts = 0;
    if (!llmux__attempts_add_all(own, l))
        return false;
    err->attempts = own->v;
    err->n_attempts = own->n;
    return true;
}

/* ---- responses ----------------------------------------------------------------------------- */

llmux_response *llmux__client_response_new(llmux__response *core, const char *provider,
                                           const char *model, const llmux__attempts *attempts)
{
    llmux_response *r = calloc(1, sizeof *r);
    if (!r) {
        llmux__response_free(core);
        return NULL;
    }
    r->core = core;
    llmux__attempts_init(&r->attempts);
    r->provider = provider ? provider : "";
    r->model = strdup(model ? model : "");
    if (!r->model || !core || (attempts && !llmux__attempts_add_all(&r->attempts, attempts)))
        goto fail;
    if (core->n_tool_calls) {
        r->tool_calls = calloc(core->n_tool_calls, sizeof *r->tool_calls);
        if (!r->tool_calls)
            goto fail;
        for (size_t i = 0; i < core->n_tool_calls; i++) {
            r->tool_calls[i].id = core->tool_calls[i].id;
            r->tool_calls[i].name = core->tool_calls[i].name;
            r->tool_calls[i].arguments = core->tool_calls[i].arguments;
        }
    }
    return r;
fail:
    llmux_response_free(r);
    return NULL;
}

static bool finish_from_name(const char *s, llmux__finish_reason *out)
{
    static const struct {
        const char *name;
        llmux__finish_reason f;
    } map[] = {{"stop", LLMUX__FINISH_STOP},
               {"length", LLMUX__FINISH_LENGTH},
               {"tool_calls", LLMUX__FINISH_TOOL_CALLS},
               {"content_filter", LLMUX__FINISH_CONTENT_FILTER}};
    for (size_t i = 0; s && i < sizeof map / sizeof map[0]; i++) {
        if (strcmp(s, map[i].name) == 0) {
            *out = map[i].f;
            return true;
        }
    }
    return false;
}

llmux_response *llmux__client_response_from_json(const cJSON *root, bool *nomem)
{
    *nomem = false;
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
    const cJSON *choice = cJSON_IsArray(choices) ? cJSON_GetArrayItem(choices, 0) : NULL;
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(choice, "message");
    if (!cJSON_IsObject(msg))
        return NULL;
    llmux__response *core = llmux__response_new();
    llmux__attempts att;
    llmux__attempts_init(&att);
    if (!core)
        goto nomem;
    const char *s;
    if ((s = json_str(root, "id")) && !(core->id = llmux__response_strdup(core, s, strlen(s))))
        goto nomem;
    const cJSON *ll = cJSON_GetObjectItemCaseSensitive(root, "llmux");
    if ((s = json_str(ll, "upstream_model")) &&
        !(core->model = llmux__response_strdup(core, s, strlen(s))))
        goto nomem;
    core->created = (int64_t)json_num(root, "created", 0);
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
    if (cJSON_IsString(content) &&
        !llmux__response_set_text(core, content->valuestring, strlen(content->valuestring)))
        goto nomem;
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
    const cJSON *calls_arr = cJSON_IsArray(calls) ? calls : NULL;
    const cJSON *tc;
    cJSON_ArrayForEach(tc, calls_arr)
    {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
        if (!llmux__response_add_tool_call(core, json_str(tc, "id"), json_str(fn, "name"),
                                           json_str(fn, "arguments"), NULL))
            goto nomem;
    }
    if (!finish_from_name(json_str(choice, "finish_reason"), &core->finish_reason))
        core->finish_reason = LLMUX__FINISH_NONE;
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(root, "usage");
    if (cJSON_IsObject(usage)) {
        core->usage.present = true;
        core->usage.prompt_tokens = (int64_t)json_num(usage, "prompt_tokens", 0);
        core->usage.completion_tokens = (int64_t)json_num(usage, "completion_tokens", 0);
        core->usage.total_tokens = (int64_t)json_num(usage, "total_tokens", 0);
    }
    if (!llmux__attempts_add_json(&att, cJSON_GetObjectItemCaseSensitive(ll, "attempts")))
        goto nomem;
    const char *provider = json_str(root, "provider");
    llmux__provider p;
    provider = provider && llmux__provider_parse(provider, &p) ? llmux__provider_name(p) : "";
    llmux_response *r = llmux__client_response_new(core, provider, json_str(root, "model"), &att);
    llmux__attempts_free(&att);
    if (!r)
        *nomem = true;
    return r;
nomem:
    llmux__response_free(core);
    llmux__attempts_free(&att);
    *nomem = true;
    return NULL;
}

const char *llmux_response_text(const llmux_response *resp)
{
    return resp->core->text ? resp->core->text : "";
}

size_t llmux_response_text_len(const llmux_response *resp)
{
    return resp->core->text ? resp->core->text_len : 0;
}

const char *llmux_response_provider(const llmux_response *resp)
{
    return resp->provider;
}

const char *llmux_response_model(const llmux_response *resp)
{
    return resp->model;
}

const char *llmux_response_upstream_model(const llmux_response *resp)
{
    return resp->core->model ? resp->core->model : "";
}

const char *llmux_response_id(const llmux_response *resp)
{
    return resp->core->id ? resp->core->id : "";
}

const char *llmux_response_finish_reason(const llmux_response *resp)
{
    const char *f = llmux__finish_reason_name(resp->core->finish_reason);
    return f ? f : "";
}

llmux_usage llmux_response_usage(const llmux_response *resp)
{
    llmux_usage u = {0};
    const llmux__usage *c = &resp->core->usage;
    if (c->present) {
        u.present = true;
        u.prompt_tokens = c->prompt_tokens;
        u.completion_tokens = c->completion_tokens;
        u.total_tokens = c->total_tokens;
    }
    return u;
}

size_t llmux_response_tool_call_count(const llmux_response *resp)
{
    return resp->core->n_tool_calls;
}

const llmux_tool_call *llmux_response_tool_call(const llmux_response *resp, size_t i)
{
    return i < resp->core->n_tool_calls ? &resp->tool_calls[i] : NULL;
}

size_t llmux_response_attempt_count(const llmux_response *resp)
{
    return resp->attempts.n;
}

const llmux_attempt *llmux_response_attempt(const llmux_response *resp, size_t i)
{
    return i < resp->attempts.n ? &resp->attempts.v[i] : NULL;
}

char *llmux_response_to_json(const llmux_response *resp)
{
    cJSON *o = llmux__response_to_json(resp->core, (int64_t)llmux__now());
    if (!o)
        return NULL;
    char *s = NULL;
    cJSON_DeleteItemFromObjectCaseSensitive(o, "model");
    if (!cJSON_AddStringToObject(o, "model", resp->model) ||
        !cJSON_AddStringToObject(o, "provider", resp->provider))
        goto out;
    cJSON *ll = cJSON_AddObjectToObject(o, "llmux");
    cJSON *att = llmux__attempts_to_json(&resp->attempts);
    if (!ll || !att) {
        cJSON_Delete(att);
        goto out;
    }
    cJSON_AddItemToObject(ll, "attempts", att);
    if (!cJSON_AddStringToObject(ll, "upstream_model", llmux_response_upstream_model(resp)))
        goto out;
    s = cJSON_PrintUnformatted(o);
out:
    cJSON_Delete(o);
    return s;
}

void llmux_response_free(llmux_response *resp)
{
    if (!resp)
        return;
    llmux__response_free(resp->core);
    free(resp->model);
    free(resp->tool_calls);
    llmux__attempts_free(&resp->attempts);
    free(resp);
}
