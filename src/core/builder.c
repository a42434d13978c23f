/*
 * builder.c — the public typed request builder (include/llmux.h).
 *
 * Arrays grow in the request's arena by doubling: an array of n elements has
 * capacity n rounded up to a power of two, so no capacity field is needed and the
 * waste is at most 2x. Strings are copied into the arena; JSON arguments are
 * parsed and kept under req->json (a cJSON array the request owns).
 */
#include "core/request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_pow2_or_zero(size_t n)
{
    return (n & (n - 1)) == 0;
}

/* Makes room for one more element in an arena array of n elements. */
static void *grow(llmux__arena *a, const void *arr, size_t n, size_t elem)
{
    if (n && !is_pow2_or_zero(n))
        return (void *)arr;
    size_t cap = n ? n * 2 : 2;
    void *na = llmux__arena_alloc(a, cap * elem);
    if (na && n)
        memcpy(na, arr, n * elem);
    return na;
}

/* Keeps a parsed JSON value alive for the request's lifetime. */
static bool keep_json(llmux__request *req, cJSON *v)
{
    if (!req->json && !(req->json = cJSON_CreateArray()))
        return false;
    if (!cJSON_IsArray(req->json))
        return false;
    cJSON_AddItemToArray(req->json, v);
    return true;
}

/* The request a params handle belongs to (set when the handle is made). */
static llmux__request *owner_of(llmux__params *p)
{
    return p ? p->owner : NULL;
}

llmux_request *llmux_request_new(const char *provider, const char *model)
{
    llmux__request *req = llmux__request_new();
    if (!req)
        return NULL;
    if ((provider && llmux_params_set_provider(&req->primary, provider) != LLMUX_OK) ||
        (model && llmux_params_set_model(&req->primary, model) != LLMUX_OK)) {
        llmux__request_free(req);
        return NULL;
    }
    return req;
}

llmux_code llmux_request_from_json(const char *json, size_t len, llmux_request **out,
                                   char *errbuf, size_t errlen)
{
    llmux__error err;
    llmux_code rc = llmux__request_decode(json, len, out, &err);
    if (rc && errbuf && errlen)
        snprintf(errbuf, errlen, "%s", err.message);
    return rc;
}

char *llmux_request_to_json(const llmux_request *req)
{
    cJSON *j = llmux__request_to_json(req);
    if (!j)
        return NULL;
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

llmux_code llmux_request_validate(const llmux_request *req, char *errbuf, size_t errlen)
{
    llmux__error err;
    llmux__error_clear(&err);
    llmux_code rc = llmux__request_validate(req, &err);
    if (errbuf && errlen)
        snprintf(errbuf, errlen, "%s", rc ? err.message : "");
    return rc;
}

void llmux_request_free(llmux_request *req)
{
    llmux__request_free(req);
}

void llmux_free(void *p)
{
    cJSON_free(p);
}

llmux_params *llmux_request_params(llmux_request *req)
{
    return &req->primary;
}

llmux_params *llmux_request_add_fallback(llmux_request *req, const char *provider,
                                         const char *model)
{
    if (req->n_fallbacks >= LLMUX__MAX_FALLBACKS)
        return NULL;
    if (req->cap_fallbacks < LLMUX__MAX_FALLBACKS) {
        /* Jump straight to the maximum so handles already given out stay valid. */
        llmux__params *fb =
            llmux__arena_alloc(&req->arena, LLMUX__MAX_FALLBACKS * sizeof *req->fallbacks);
        if (!fb)
            return NULL;
        if (req->n_fallbacks)
            memcpy(fb, req->fallbacks, req->n_fallbacks * sizeof *fb);
        req->fallbacks = fb;
        req->cap_fallbacks = LLMUX__MAX_FALLBACKS;
    }
    llmux__params *p = &req->fallbacks[req->n_fallbacks++];
    memset(p, 0, sizeof *p);
    p->owner = req;
    if ((provider && llmux_params_set_provider(p, provider) != LLMUX_OK) ||
        (model && llmux_params_set_model(p, model) != LLMUX_OK)) {
        req->n_fallbacks--;
        return NULL;
    }
    return p;
}

void llmux_request_set_stream_options(llmux_request *req, bool chunk_by_sentence,
                                      bool clean_sentences, bool eager_first_chunk)
{
    req->stream_options.chunk_by_sentence = chunk_by_sentence;
    req->stream_options.clean_sentences = clean_sentences;
    req->stream_options.eager_first_chunk = eager_first_chunk;
}

#define OWNER_OR_FAIL(p, req)                                                                      \
    llmux__request *req = owner_of(p);                                                             \
    if (!req)                                                                                      \
    return LLMUX_EINVALID_REQUEST

llmux_code llmux_params_set_provider(llmux_params *p, const char *provider)
{
    llmux__provider kind;
    if (!provider || !llmux__provider_parse(provider, &kind))
        return LLMUX_EINVALID_REQUEST;
    p->provider = kind;
    p->set |= LLMUX__F_PROVIDER;
    return LLMUX_OK;
}

llmux_code llmux_params_set_model(llmux_params *p, const char *model)
{
    OWNER_OR_FAIL(p, req);
    if (!model)
        return LLMUX_EINVALID_REQUEST;
    llmux__provider sdk;
    const char *slash = strchr(model, '/');
    if (!(p->set & LLMUX__F_PROVIDER) && slash && slash != model) {
        char name[16];
        size_t n = (size_t)(slash - model);
        if (n < sizeof name) {
            memcpy(name, model, n);
            name[n] = '\0';
            if (llmux__provider_parse(name, &sdk)) {
                p->provider = sdk;
                p->set |= LLMUX__F_PROVIDER;
                model = slash + 1;
            }
        }
    }
    const char *copy = llmux__arena_strdup(&req->arena, model);
    if (!copy)
        return LLMUX_ENOMEM;
    p->model = copy;
    p->set |= LLMUX__F_MODEL;
    return LLMUX_OK;
}

/* Appends a zeroed message and returns it (NULL on ENOMEM). */
static llmux__message *append_message(llmux__request *req, llmux__params *p)
{
    llmux__message *arr = grow(&req->arena, p->messages, p->n_messages, sizeof *arr);
    if (!arr)
        return NULL;
    p->messages = arr;
    llmux__message *m = &arr[p->n_messages++];
    memset(m, 0, sizeof *m);
    p->set |= LLMUX__F_MESSAGES;
    return m;
}

llmux_code llmux_params_add_message(llmux_params *p, const char *role, const char *content)
{
    OWNER_OR_FAIL(p, req);
    static const char *const roles[] = {"system", "developer", "user", "assistant", "tool"};
    int r = -1;
    for (int i = 0; role && i < 5; i++)
        if (strcmp(role, roles[i]) == 0)
            r = i;
    if (r < 0 || !content)
        return LLMUX_EINVALID_REQUEST;
    const char *copy = llmux__arena_strdup(&req->arena, content);
    llmux__message *m = copy ? append_message(req, p) : NULL;
    if (!m)
        return LLMUX_ENOMEM;
    m->role = (llmux__role)r;
    m->content = copy;
    return LLMUX_OK;
}

llmux_code llmux_params_add_message_json(llmux_params *p, const char *message_json)
{
    OWNER_OR_FAIL(p, req);
    if (!message_json)
        return LLMUX_EINVALID_REQUEST;
    cJSON *jm = cJSON_Parse(message_json);
    if (!jm)
        return LLMUX_EINVALID_REQUEST;
    if (!keep_json(req, jm)) {
        cJSON_Delete(jm);
        return LLMUX_ENOMEM;
    }
    llmux__message tmp;
    llmux__error err;
    char path[32];
    snprintf(path, sizeof path, "messages[%zu]", p->n_messages);
    llmux_code rc = llmux__message_decode(req, jm, path, &tmp, &err);
    if (rc)
        return rc;
    llmux__message *m = append_message(req, p);
    if (!m)
        return LLMUX_ENOMEM;
    *m = tmp;
    return LLMUX_OK;
}

llmux_code llmux_params_add_tool_call(llmux_params *p, const char *id, const char *name,
                                      const char *arguments_json)
{
    OWNER_OR_FAIL(p, req);
    if (!name || !*name)
        return LLMUX_EINVALID_REQUEST;
    if (arguments_json) {
        cJSON *check = cJSON_Parse(arguments_json);
        if (!check)
            return LLMUX_EINVALID_REQUEST;
        cJSON_Delete(check);
    }
    llmux__message *m = NULL;
    if (p->n_messages && p->messages[p->n_messages - 1].role == LLMUX__ROLE_ASSISTANT)
        m = (llmux__message *)&p->messages[p->n_messages - 1];
    else if (!(m = append_message(req, p)))
        return LLMUX_ENOMEM;
    m->role = LLMUX__ROLE_ASSISTANT;
    llmux__tool_call *calls = grow(&req->arena, m->tool_calls, m->n_tool_calls, sizeof *calls);
    if (!calls)
        return LLMUX_ENOMEM;
    llmux__tool_call *tc = &calls[m->n_tool_calls];
    tc->id = llmux__arena_strdup(&req->arena, id ? id : "");
    tc->name = llmux__arena_strdup(&req->arena, name);
    tc->arguments = llmux__arena_strdup(&req->arena, arguments_json ? arguments_json : "{}");
    if (!tc->id || !tc->name || !tc->arguments)
        return LLMUX_ENOMEM;
    m->tool_calls = calls;
    m->n_tool_calls++;
    return LLMUX_OK;
}

llmux_code llmux_params_add_tool_result(llmux_params *p, const char *tool_call_id,
                                        const char *content)
{
    OWNER_OR_FAIL(p, req);
    if (!tool_call_id || !content)
        return LLMUX_EINVALID_REQUEST;
    const char *id = llmux__arena_strdup(&req->arena, tool_call_id);
    const char *text = llmux__arena_strdup(&req->arena, content);
    llmux__message *m = (id && text) ? append_message(req, p) : NULL;
    if (!m)
        return LLMUX_ENOMEM;
    m->role = LLMUX__ROLE_TOOL;
    m->tool_call_id = id;
    m->content = text;
    return LLMUX_OK;
}

llmux_code llmux_params_set_temperature(llmux_params *p, double temperature)
{
    p->temperature = temperature;
    p->set |= LLMUX__F_TEMPERATURE;
    return LLMUX_OK;
}

llmux_code llmux_params_set_max_tokens(llmux_params *p, long max_tokens)
{
    p->max_tokens = max_tokens;
    p->set |= LLMUX__F_MAX_TOKENS;
    return LLMUX_OK;
}

llmux_code llmux_params_set_top_p(llmux_params *p, double top_p)
{
    p->top_p = top_p;
    p->set |= LLMUX__F_TOP_P;
    return LLMUX_OK;
}

llmux_code llmux_params_add_stop(llmux_params *p, const char *stop)
{
    OWNER_OR_FAIL(p, req);
    if (!stop)
        return LLMUX_EINVALID_REQUEST;
    if (p->n_stop >= LLMUX__MAX_STOP)
        return LLMUX_EINVALID_REQUEST;
    const char *copy = llmux__arena_strdup(&req->arena, stop);
    const char **arr = copy ? grow(&req->arena, p->stop, p->n_stop, sizeof *arr) : NULL;
    if (!arr)
        return LLMUX_ENOMEM;
    arr[p->n_stop++] = copy;
    p->stop = arr;
    p->set |= LLMUX__F_STOP;
    return LLMUX_OK;
}

llmux_code llmux_params_add_tool(llmux_params *p, const char *name, const char *description,
                                 const char *parameters_json)
{
    OWNER_OR_FAIL(p, req);
    if (!name || !*name)
        return LLMUX_EINVALID_REQUEST;
    cJSON *schema = NULL;
    if (parameters_json) {
        schema = cJSON_Parse(parameters_json);
        if (!cJSON_IsObject(schema)) {
            cJSON_Delete(schema);
            return LLMUX_EINVALID_REQUEST;
        }
        if (!keep_json(req, schema)) {
            cJSON_Delete(schema);
            return LLMUX_ENOMEM;
        }
    }
    llmux__tool *arr = grow(&req->arena, p->tools, p->n_tools, sizeof *arr);
    if (!arr)
        return LLMUX_ENOMEM;
    llmux__tool *t = &arr[p->n_tools];
    memset(t, 0, sizeof *t);
    t->name = llmux__arena_strdup(&req->arena, name);
    t->description = description ? llmux__arena_strdup(&req->arena, description) : NULL;
    t->parameters = schema;
    t->strict = -1;
    if (!t->name || (description && !t->description))
        return LLMUX_ENOMEM;
    p->tools = arr;
    p->n_tools++;
    p->set |= LLMUX__F_TOOLS;
    return LLMUX_OK;
}

llmux_code llmux_params_set_tool_choice(llmux_params *p, const char *choice)
{
    OWNER_OR_FAIL(p, req);
    if (!choice || !*choice)
        return LLMUX_EINVALID_REQUEST;
    if (strcmp(choice, "auto") == 0) {
        p->tool_choice.kind = LLMUX__TOOL_CHOICE_AUTO;
    } else if (strcmp(choice, "none") == 0) {
        p->tool_choice.kind = LLMUX__TOOL_CHOICE_NONE;
    } else if (strcmp(choice, "required") == 0) {
        p->tool_choice.kind = LLMUX__TOOL_CHOICE_REQUIRED;
    } else {
        const char *copy = llmux__arena_strdup(&req->arena, choice);
        if (!copy)
            return LLMUX_ENOMEM;
        p->tool_choice.kind = LLMUX__TOOL_CHOICE_NAMED;
        p->tool_choice.name = copy;
    }
    p->set |= LLMUX__F_TOOL_CHOICE;
    return LLMUX_OK;
}

llmux_code llmux_params_set_retry(llmux_params *p, const llmux_retry_config *retry)
{
    if (!retry)
        return LLMUX_EINVALID_REQUEST;
    p->retry.enabled = retry->enabled;
    p->retry.max_retries = retry->max_retries;
    p->retry.retry_delay = retry->retry_delay;
    p->retry.backoff_multiplier = retry->backoff_multiplier;
    p->set |= LLMUX__F_RETRY;
    return LLMUX_OK;
}

llmux_code llmux_params_set_timeout(llmux_params *p, double seconds)
{
    p->timeout = seconds;
    p->set |= LLMUX__F_TIMEOUT;
    return LLMUX_OK;
}

llmux_code llmux_params_set_first_token_timeout(llmux_params *p, double seconds)
{
    p->first_token_timeout = seconds;
    p->set |= LLMUX__F_FIRST_TOKEN_TIMEOUT;
    return LLMUX_OK;
}
