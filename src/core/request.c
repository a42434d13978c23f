/*
 * request.c — decoding, validation and encoding of the unified request.
 *
 * Decoding keeps the parsed cJSON document and borrows its strings, so a request
 * costs one parse plus a few arena blocks. Type errors are found while decoding;
 * the semantic rules live in llmux__request_validate() so that requests made with
 * the builder are checked by the same code.
 */
#include "core/request.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- names ---------------------------------------------------------------- */

static const char *const provider_names[LLMUX__PROVIDER_COUNT] = {"openai", "azure", "anthropic",
                                                                  "google"};

const char *llmux__provider_name(llmux__provider p)
{
    return (unsigned)p < LLMUX__PROVIDER_COUNT ? provider_names[p] : "unknown";
}

bool llmux__provider_parse(const char *name, llmux__provider *out)
{
    if (!name)
        return false;
    for (int i = 0; i < LLMUX__PROVIDER_COUNT; i++) {
        if (strcmp(name, provider_names[i]) == 0) {
            *out = (llmux__provider)i;
            return true;
        }
    }
    if (strcmp(name, "gemini") == 0) {
        *out = LLMUX__PROVIDER_GOOGLE;
        return true;
    }
    return false;
}

static const char *const role_names[] = {"system", "developer", "user", "assistant", "tool"};

const char *llmux__role_name(llmux__role r)
{
    return (unsigned)r <= LLMUX__ROLE_TOOL ? role_names[r] : "user";
}

static bool role_parse(const char *s, llmux__role *out)
{
    for (int i = 0; i <= LLMUX__ROLE_TOOL; i++) {
        if (strcmp(s, role_names[i]) == 0) {
            *out = (llmux__role)i;
            return true;
        }
    }
    return false;
}

llmux__retry llmux__retry_default(void)
{
    llmux__retry r = {.enabled = true, .max_retries = 3, .retry_delay = 1.0,
                      .backoff_multiplier = 2.0};
    return r;
}

/* ---- lifecycle ------------------------------------------------------------ */

llmux__request *llmux__request_new(void)
{
    llmux__request *req = calloc(1, sizeof *req);
    if (!req)
        return NULL;
    llmux__arena_init(&req->arena);
    req->primary.owner = req;
    return req;
}

void llmux__request_free(llmux__request *req)
{
    if (!req)
        return;
    cJSON_Delete(req->extra);
    cJSON_Delete(req->json);
    llmux__arena_free(&req->arena);
    free(req);
}

/* ---- decoding ------------------------------------------------------------- */

/* Decoder state: the request being filled and where errors go. `path` is the
 * prefix of the field being decoded ("" or "fallbacks[2]."). */
typedef struct decoder {
    llmux__request *req;
    llmux__error *err;
    char path[64];
} decoder;

static llmux_code fail(decoder *d, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static llmux_code fail(decoder *d, const char *field, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return llmux__error_set(d->err, LLMUX_EINVALID_REQUEST, "%s%s: %s", d->path, field, msg);
}

/* snprintf for field paths: a path longer than the buffer is cut, which is fine
 * for a message (and vsnprintf keeps the compiler from warning about it). */
static void pathf(char *dst, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void pathf(char *dst, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, n, fmt, ap);
    va_end(ap);
}

static llmux_code nomem(decoder *d)
{
    return llmux__error_set(d->err, LLMUX_ENOMEM, "out of memory decoding the request");
}

static const char *type_name(const cJSON *v)
{
    if (cJSON_IsNull(v))
        return "null";
    if (cJSON_IsBool(v))
        return "a boolean";
    if (cJSON_IsNumber(v))
        return "a number";
    if (cJSON_IsString(v))
        return "a string";
    if (cJSON_IsArray(v))
        return "an array";
    if (cJSON_IsObject(v))
        return "an object";
    return "invalid";
}

static llmux_code want_number(decoder *d, const char *field, const cJSON *v, double *out)
{
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return fail(d, field, "must be a number, got %s", type_name(v));
    *out = v->valuedouble;
    return LLMUX_OK;
}

static llmux_code want_integer(decoder *d, const char *field, const cJSON *v, long *out)
{
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || floor(v->valuedouble) != v->valuedouble)
        return fail(d, field, "must be an integer, got %s",
                    cJSON_IsNumber(v) ? "a fraction" : type_name(v));
    if (v->valuedouble > 1e12 || v->valuedouble < -1e12)
        return fail(d, field, "is out of range");
    *out = (long)v->valuedouble;
    return LLMUX_OK;
}

static llmux_code want_string(decoder *d, const char *field, const cJSON *v, const char **out)
{
    if (!cJSON_IsString(v))
        return fail(d, field, "must be a string, got %s", type_name(v));
    *out = v->valuestring;
    return LLMUX_OK;
}

static llmux_code want_bool(decoder *d, const char *field, const cJSON *v, bool *out)
{
    if (!cJSON_IsBool(v))
        return fail(d, field, "must be true or false, got %s", type_name(v));
    *out = cJSON_IsTrue(v);
    return LLMUX_OK;
}

static llmux_code decode_tool_calls(decoder *d, const char *field, const cJSON *arr,
                                    llmux__message *m)
{
    char f[160];
    if (!cJSON_IsArray(arr))
        return fail(d, field, "must be an array, got %s", type_name(arr));
    size_t n = (size_t)cJSON_GetArraySize(arr);
    llmux__tool_call *calls = n ? llmux__arena_alloc(&d->req->arena, n * sizeof *calls) : NULL;
    if (n && !calls)
        return nomem(d);
    size_t i = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, arr)
    {
        llmux__tool_call *tc = &calls[i];
        pathf(f, sizeof f, "%s[%zu]", field, i);
        if (!cJSON_IsObject(c))
            return fail(d, f, "must be an object, got %s", type_name(c));
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(c, "type");
        if (type && !cJSON_IsNull(type) &&
            !(cJSON_IsString(type) && strcmp(type->valuestring, "function") == 0))
            return fail(d, f, "type must be \"function\"");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "id");
        if (!id)
            return fail(d, f, "id is required");
        char sub[192];
        pathf(sub, sizeof sub, "%s.id", f);
        if (want_string(d, sub, id, &tc->id))
            return d->err->code;
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(c, "function");
        pathf(sub, sizeof sub, "%s.function", f);
        if (!cJSON_IsObject(fn))
            return fail(d, sub, "must be an object with name and arguments");
        pathf(sub, sizeof sub, "%s.function.name", f);
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
        if (!name)
            return fail(d, sub, "is required");
        if (want_string(d, sub, name, &tc->name))
            return d->err->code;
        const cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
        pathf(sub, sizeof sub, "%s.function.arguments", f);
        if (!args || cJSON_IsNull(args)) {
            tc->arguments = "{}";
        } else if (cJSON_IsString(args)) {
            tc->arguments = args->valuestring;
        } else if (cJSON_IsObject(args)) {
            char *s = cJSON_PrintUnformatted(args);
            if (!s)
                return nomem(d);
            tc->arguments = llmux__arena_strdup(&d->req->arena, s);
            cJSON_free(s);
            if (!tc->arguments)
                return nomem(d);
        } else {
            return fail(d, sub, "must be a JSON string, got %s", type_name(args));
        }
        i++;
    }
    m->tool_calls = calls;
    m->n_tool_calls = n;
    return LLMUX_OK;
}

static llmux_code decode_parts(decoder *d, const char *field, const cJSON *arr, llmux__message *m)
{
    char f[160];
    size_t n = (size_t)cJSON_GetArraySize(arr);
    llmux__part *parts = n ? llmux__arena_alloc(&d->req->arena, n * sizeof *parts) : NULL;
    if (n && !parts)
        return nomem(d);
    size_t i = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, arr)
    {
        pathf(f, sizeof f, "%s[%zu]", field, i);
        llmux__part *part = &parts[i++];
        part->raw = p;
        if (cJSON_IsString(p)) { /* a bare string part: treat as text */
            part->kind = LLMUX__PART_TEXT;
            part->text = p->valuestring;
            continue;
        }
        if (!cJSON_IsObject(p))
            return fail(d, f, "must be an object, got %s", type_name(p));
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "type");
        if (!cJSON_IsString(type))
            return fail(d, f, "type is required (\"text\", \"image_url\", ...)");
        if (strcmp(type->valuestring, "text") == 0) {
            part->kind = LLMUX__PART_TEXT;
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "text");
            char sub[192];
            pathf(sub, sizeof sub, "%s.text", f);
            if (!t)
                return fail(d, sub, "is required");
            if (want_string(d, sub, t, &part->text))
                return d->err->code;
        } else if (strcmp(type->valuestring, "image_url") == 0) {
            part->kind = LLMUX__PART_IMAGE_URL;
            const cJSON *iu = cJSON_GetObjectItemCaseSensitive(p, "image_url");
            char sub[192];
            pathf(sub, sizeof sub, "%s.image_url", f);
            if (cJSON_IsString(iu)) {
                part->url = iu->valuestring;
            } else if (cJSON_IsObject(iu)) {
                const cJSON *url = cJSON_GetObjectItemCaseSensitive(iu, "url");
                pathf(sub, sizeof sub, "%s.image_url.url", f);
                if (!url)
                    return fail(d, sub, "is required");
                if (want_string(d, sub, url, &part->url))
                    return d->err->code;
                const cJSON *det = cJSON_GetObjectItemCaseSensitive(iu, "detail");
                if (det && !cJSON_IsNull(det)) {
                    pathf(sub, sizeof sub, "%s.image_url.detail", f);
                    if (want_string(d, sub, det, &part->detail))
                        return d->err->code;
                }
            } else {
                return fail(d, sub, "must be an object with a url");
            }
        } else {
            part->kind = LLMUX__PART_OTHER;
        }
    }
    m->parts = parts;
    m->n_parts = n;
    return LLMUX_OK;
}

/* Decodes one OpenAI-shaped message object; `f` is its path ("messages[3]"). */
static llmux_code decode_message(decoder *d, const char *f, const cJSON *jm, llmux__message *m)
{
    char sub[192];
    if (!cJSON_IsObject(jm))
        return fail(d, f, "must be an object, got %s", type_name(jm));
    pathf(sub, sizeof sub, "%s.role", f);
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(jm, "role");
    if (!role)
        return fail(d, sub, "is required");
    if (!cJSON_IsString(role))
        return fail(d, sub, "must be a string, got %s", type_name(role));
    if (!role_parse(role->valuestring, &m->role))
        return fail(d, sub,
                    "unknown role '%s' (expected system, developer, user, assistant or tool)",
                    role->valuestring);
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(jm, "content");
    pathf(sub, sizeof sub, "%s.content", f);
    if (cJSON_IsString(content)) {
        m->content = content->valuestring;
    } else if (cJSON_IsArray(content)) {
        if (decode_parts(d, sub, content, m))
            return d->err->code;
    } else if (content && !cJSON_IsNull(content)) {
        return fail(d, sub, "must be a string or an array of parts, got %s", type_name(content));
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(jm, "name");
    if (name && !cJSON_IsNull(name)) {
        pathf(sub, sizeof sub, "%s.name", f);
        if (want_string(d, sub, name, &m->name))
            return d->err->code;
    }
    const cJSON *tcs = cJSON_GetObjectItemCaseSensitive(jm, "tool_calls");
    if (tcs && !cJSON_IsNull(tcs)) {
        pathf(sub, sizeof sub, "%s.tool_calls", f);
        if (m->role != LLMUX__ROLE_ASSISTANT)
            return fail(d, sub, "only assistant messages carry tool_calls");
        if (decode_tool_calls(d, sub, tcs, m))
            return d->err->code;
    }
    const cJSON *tcid = cJSON_GetObjectItemCaseSensitive(jm, "tool_call_id");
    if (tcid && !cJSON_IsNull(tcid)) {
        pathf(sub, sizeof sub, "%s.tool_call_id", f);
        if (want_string(d, sub, tcid, &m->tool_call_id))
            return d->err->code;
    }
    return LLMUX_OK;
}

llmux_code llmux__message_decode(llmux__request *req, const cJSON *jm, const char *path,
                                 llmux__message *m, llmux__error *err)
{
    decoder d = {.req = req, .err = err, .path = ""};
    memset(m, 0, sizeof *m);
    return decode_message(&d, path, jm, m);
}

static llmux_code decode_messages(decoder *d, const cJSON *arr, llmux__params *p)
{
    if (!cJSON_IsArray(arr))
        return fail(d, "messages", "must be an array of messages, got %s", type_name(arr));
    size_t n = (size_t)cJSON_GetArraySize(arr);
    llmux__message *msgs = n ? llmux__arena_alloc(&d->req->arena, n * sizeof *msgs) : NULL;
    if (n && !msgs)
        return nomem(d);
    size_t i = 0;
    const cJSON *jm;
    char f[48];
    cJSON_ArrayForEach(jm, arr)
    {
        pathf(f, sizeof f, "messages[%zu]", i);
        if (decode_message(d, f, jm, &msgs[i]))
            return d->err->code;
        i++;
    }
    p->messages = msgs;
    p->n_messages = n;
    return LLMUX_OK;
}

static llmux_code decode_tools(decoder *d, const cJSON *arr, llmux__params *p)
{
    if (!cJSON_IsArray(arr))
        return fail(d, "tools", "must be an array, got %s", type_name(arr));
    size_t n = (size_t)cJSON_GetArraySize(arr);
    llmux__tool *tools = n ? llmux__arena_alloc(&d->req->arena, n * sizeof *tools) : NULL;
    if (n && !tools)
        return nomem(d);
    size_t i = 0;
    const cJSON *jt;
    char f[64], sub[160];
    cJSON_ArrayForEach(jt, arr)
    {
        llmux__tool *t = &tools[i];
        pathf(f, sizeof f, "tools[%zu]", i);
        i++;
        t->strict = -1;
        if (!cJSON_IsObject(jt))
            return fail(d, f, "must be an object, got %s", type_name(jt));
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(jt, "type");
        if (type && !(cJSON_IsString(type) && strcmp(type->valuestring, "function") == 0))
            return fail(d, f, "type must be \"function\"");
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(jt, "function");
        pathf(sub, sizeof sub, "%s.function", f);
        if (!cJSON_IsObject(fn))
            return fail(d, sub, "must be an object with a name");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
        pathf(sub, sizeof sub, "%s.function.name", f);
        if (!name)
            return fail(d, sub, "is required");
        if (want_string(d, sub, name, &t->name))
            return d->err->code;
        const cJSON *desc = cJSON_GetObjectItemCaseSensitive(fn, "description");
        if (desc && !cJSON_IsNull(desc)) {
            pathf(sub, sizeof sub, "%s.function.description", f);
            if (want_string(d, sub, desc, &t->description))
                return d->err->code;
        }
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
        if (params && !cJSON_IsNull(params)) {
            pathf(sub, sizeof sub, "%s.function.parameters", f);
            if (!cJSON_IsObject(params))
                return fail(d, sub, "must be a JSON Schema object, got %s", type_name(params));
            t->parameters = params;
        }
        const cJSON *strict = cJSON_GetObjectItemCaseSensitive(fn, "strict");
        if (strict && !cJSON_IsNull(strict)) {
            bool b = false;
            pathf(sub, sizeof sub, "%s.function.strict", f);
            if (want_bool(d, sub, strict, &b))
                return d->err->code;
            t->strict = b;
        }
    }
    p->tools = tools;
    p->n_tools = n;
    return LLMUX_OK;
}

static llmux_code decode_tool_choice(decoder *d, const cJSON *v, llmux__params *p)
{
    llmux__tool_choice *tc = &p->tool_choice;
    if (cJSON_IsString(v)) {
        if (strcmp(v->valuestring, "auto") == 0)
            tc->kind = LLMUX__TOOL_CHOICE_AUTO;
        else if (strcmp(v->valuestring, "none") == 0)
            tc->kind = LLMUX__TOOL_CHOICE_NONE;
        else if (strcmp(v->valuestring, "required") == 0)
            tc->kind = LLMUX__TOOL_CHOICE_REQUIRED;
        else
            return fail(d, "tool_choice", "must be \"auto\", \"none\", \"required\" or "
                        "{\"type\":\"function\",\"function\":{\"name\":...}}, got '%s'",
                        v->valuestring);
        return LLMUX_OK;
    }
    if (cJSON_IsObject(v)) {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(v, "function");
        const cJSON *name = cJSON_IsObject(fn) ? cJSON_GetObjectItemCaseSensitive(fn, "name")
                                               : NULL;
        if (!cJSON_IsString(name))
            return fail(d, "tool_choice.function.name", "is required (a string)");
        tc->kind = LLMUX__TOOL_CHOICE_NAMED;
        tc->name = name->valuestring;
        return LLMUX_OK;
    }
    return fail(d, "tool_choice", "must be a string or an object, got %s", type_name(v));
}

static llmux_code decode_stop(decoder *d, const cJSON *v, llmux__params *p)
{
    if (cJSON_IsString(v)) {
        const char **arr = llmux__arena_alloc(&d->req->arena, sizeof *arr);
        if (!arr)
            return nomem(d);
        arr[0] = v->valuestring;
        p->stop = arr;
        p->n_stop = 1;
        return LLMUX_OK;
    }
    if (!cJSON_IsArray(v))
        return fail(d, "stop", "must be a string or an array of strings, got %s", type_name(v));
    size_t n = (size_t)cJSON_GetArraySize(v);
    if (n > LLMUX__MAX_STOP)
        return fail(d, "stop", "has too many sequences (at most 16)");
    const char **arr = n ? llmux__arena_alloc(&d->req->arena, n * sizeof *arr) : NULL;
    if (n && !arr)
        return nomem(d);
    size_t i = 0;
    const cJSON *s;
    cJSON_ArrayForEach(s, v)
    {
        char f[32];
        pathf(f, sizeof f, "stop[%zu]", i);
        if (want_string(d, f, s, &arr[i]))
            return d->err->code;
        i++;
    }
    p->stop = arr;
    p->n_stop = n;
    return LLMUX_OK;
}

static llmux_code decode_retry(decoder *d, const cJSON *v, llmux__params *p)
{
    llmux__retry r = llmux__retry_default();
    if (cJSON_IsBool(v)) {
        r.enabled = cJSON_IsTrue(v);
    } else if (cJSON_IsObject(v)) {
        const cJSON *f;
        cJSON_ArrayForEach(f, v)
        {
            char name[64];
            pathf(name, sizeof name, "retry.%.50s", f->string);
            if (cJSON_IsNull(f))
                continue;
            if (strcmp(f->string, "enabled") == 0) {
                if (want_bool(d, name, f, &r.enabled))
                    return d->err->code;
            } else if (strcmp(f->string, "max_retries") == 0) {
                long n;
                if (want_integer(d, name, f, &n))
                    return d->err->code;
                if (n < 0 || n > LLMUX__MAX_RETRIES)
                    return fail(d, name, "must be between 0 and 10");
                r.max_retries = (int)n;
            } else if (strcmp(f->string, "retry_delay") == 0) {
                if (want_number(d, name, f, &r.retry_delay))
                    return d->err->code;
            } else if (strcmp(f->string, "backoff_multiplier") == 0) {
                if (want_number(d, name, f, &r.backoff_multiplier))
                    return d->err->code;
            } else {
                return fail(d, name,
                            "unknown field (retry takes enabled, max_retries, retry_delay, "
                            "backoff_multiplier)");
            }
        }
    } else {
        return fail(d, "retry", "must be an object (or true/false), got %s", type_name(v));
    }
    p->retry = r;
    return LLMUX_OK;
}

/* Splits "provider/model" when the prefix names a known provider. */
static bool split_sdk_model(const char *model, llmux__provider *prov, const char **rest)
{
    const char *slash = strchr(model, '/');
    if (!slash || slash == model)
        return false;
    char name[16];
    size_t n = (size_t)(slash - model);
    if (n >= sizeof name)
        return false;
    memcpy(name, model, n);
    name[n] = '\0';
    if (!llmux__provider_parse(name, prov))
        return false;
    *rest = slash + 1;
    return true;
}

#define API_KEY_HINT                                                                       \
    "keys are not accepted on requests; register the provider with configure_provider "        \
    "(PUT /v1/sessions/{id}/providers/{provider}) instead"

/* Decodes one params object (the request's top level or a fallback). Fields the
 * request handles itself are skipped when `top` is true and refused otherwise. */
static llmux_code decode_params(decoder *d, const cJSON *obj, llmux__params *p, bool top)
{
    const cJSON *f;
    cJSON_ArrayForEach(f, obj)
    {
        const char *k = f->string;
        if (strcmp(k, "api_key") == 0 || strcmp(k, "apiKey") == 0)
            return fail(d, k, API_KEY_HINT);
        if (strcmp(k, "fallbacks") == 0) {
            if (top)
                continue;
            return fail(d, k, "a fallback cannot have fallbacks of its own");
        }
        bool is_null = cJSON_IsNull(f);
        if (strcmp(k, "provider") == 0) {
            if (is_null)
                continue;
            if (!cJSON_IsString(f))
                return fail(d, k, "must be a string, got %s", type_name(f));
            if (!llmux__provider_parse(f->valuestring, &p->provider))
                return fail(d, k,
                            "unknown provider '%s' (expected openai, azure, anthropic or google)",
                            f->valuestring);
            p->set |= LLMUX__F_PROVIDER;
        } else if (strcmp(k, "model") == 0) {
            if (is_null)
                continue;
            if (want_string(d, k, f, &p->model))
                return d->err->code;
            p->set |= LLMUX__F_MODEL;
        } else if (strcmp(k, "messages") == 0) {
            if (is_null)
                continue;
            if (decode_messages(d, f, p))
                return d->err->code;
            p->set |= LLMUX__F_MESSAGES;
        } else if (strcmp(k, "temperature") == 0) {
            if (is_null)
                continue;
            if (want_number(d, k, f, &p->temperature))
                return d->err->code;
            p->set |= LLMUX__F_TEMPERATURE;
        } else if (strcmp(k, "max_tokens") == 0 || strcmp(k, "max_completion_tokens") == 0) {
            if (is_null)
                continue;
            if (want_integer(d, k, f, &p->max_tokens))
                return d->err->code;
            p->set |= LLMUX__F_MAX_TOKENS;
        } else if (strcmp(k, "top_p") == 0) {
            if (is_null)
                continue;
            if (want_number(d, k, f, &p->top_p))
                return d->err->code;
            p->set |= LLMUX__F_TOP_P;
        } else if (strcmp(k, "stop") == 0) {
            if (is_null)
                continue;
            if (decode_stop(d, f, p))
                return d->err->code;
            p->set |= LLMUX__F_STOP;
        } else if (strcmp(k, "tools") == 0) {
            if (is_null)
                continue;
            if (decode_tools(d, f, p))
                return d->err->code;
            p->set |= LLMUX__F_TOOLS;
        } else if (strcmp(k, "tool_choice") == 0) {
            if (is_null)
                continue;
            if (decode_tool_choice(d, f, p))
                return d->err->code;
            p->set |= LLMUX__F_TOOL_CHOICE;
        } else if (strcmp(k, "retry") == 0) {
            if (is_null)
                continue;
            if (decode_retry(d, f, p))
                return d->err->code;
            p->set |= LLMUX__F_RETRY;
        } else if (strcmp(k, "timeout") == 0) {
            if (is_null)
                continue;
            if (want_number(d, k, f, &p->timeout))
                return d->err->code;
            p->set |= LLMUX__F_TIMEOUT;
        } else if (strcmp(k, "first_token_timeout") == 0) {
            if (is_null)
                continue;
            if (want_number(d, k, f, &p->first_token_timeout))
                return d->err->code;
            p->set |= LLMUX__F_FIRST_TOKEN_TIMEOUT;
        } else if (top) {
            continue; /* request-level fields, handled by the caller */
        } else {
            return fail(d, k,
                        "'%s' is not a fallback field (fallbacks take provider, model, messages, "
                        "temperature, max_tokens, top_p, stop, tools, tool_choice, retry, timeout, "
                        "first_token_timeout)",
                        k);
        }
    }
    /* The OpenAI-SDK form: model "provider/model". */
    if ((p->set & LLMUX__F_MODEL)) {
        llmux__provider sp;
        const char *rest;
        if (split_sdk_model(p->model, &sp, &rest)) {
            if (!(p->set & LLMUX__F_PROVIDER)) {
                p->provider = sp;
                p->set |= LLMUX__F_PROVIDER;
                p->model = rest;
            } else if (sp == p->provider) {
                p->model = rest;
            }
        }
    }
    return LLMUX_OK;
}

static llmux_code decode_stream_options(decoder *d, const cJSON *v, llmux__request *req)
{
    if (cJSON_IsNull(v))
        return LLMUX_OK;
    if (!cJSON_IsObject(v))
        return fail(d, "stream_options", "must be an object, got %s", type_name(v));
    const cJSON *f;
    cJSON_ArrayForEach(f, v)
    {
        char name[80];
        pathf(name, sizeof name, "stream_options.%.50s", f->string);
        bool *dst = NULL;
        if (strcmp(f->string, "chunk_by_sentence") == 0)
            dst = &req->stream_options.chunk_by_sentence;
        else if (strcmp(f->string, "clean_sentences") == 0)
            dst = &req->stream_options.clean_sentences;
        else if (strcmp(f->string, "eager_first_chunk") == 0)
            dst = &req->stream_options.eager_first_chunk;
        else if (strcmp(f->string, "include_usage") == 0)
            dst = &req->stream_options.include_usage;
        else
            return fail(d, name,
                        "unknown option (expected chunk_by_sentence, clean_sentences, "
                        "eager_first_chunk, include_usage)");
        if (cJSON_IsNull(f))
            continue;
        if (want_bool(d, name, f, dst))
            return d->err->code;
    }
    return LLMUX_OK;
}

/* Top-level keys the request itself understands (everything else is `extra`). */
static bool is_known_top_key(const char *k)
{
    static const char *const known[] = {
        "provider", "model", "messages", "temperature", "max_tokens", "max_completion_tokens",
        "top_p", "stop", "tools", "tool_choice", "retry", "fallbacks", "timeout",
        "first_token_timeout", "stream", "stream_options"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(k, known[i]) == 0)
            return true;
    return false;
}

llmux_code llmux__request_decode_json(cJSON *root, llmux__request **out, llmux__error *err)
{
    *out = NULL;
    llmux__error local;
    if (!err)
        err = &local;
    llmux__error_clear(err);
    if (!root)
        return llmux__error_set(err, LLMUX_EINVALID_REQUEST, "request body is not valid JSON");
    llmux__request *req = llmux__request_new();
    if (!req) {
        cJSON_Delete(root);
        return llmux__error_set(err, LLMUX_ENOMEM, "out of memory");
    }
    req->json = root;
    decoder d = {.req = req, .err = err, .path = ""};
    if (!cJSON_IsObject(root)) {
        fail(&d, "request", "must be a JSON object, got %s", type_name(root));
        goto out;
    }
    if (decode_params(&d, root, &req->primary, true))
        goto out;

    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "stream");
    if (v && !cJSON_IsNull(v) && want_bool(&d, "stream", v, &req->stream))
        goto out;
    v = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    if (v && decode_stream_options(&d, v, req))
        goto out;

    v = cJSON_GetObjectItemCaseSensitive(root, "fallbacks");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsArray(v)) {
            fail(&d, "fallbacks", "must be an array, got %s", type_name(v));
            goto out;
        }
        size_t n = (size_t)cJSON_GetArraySize(v);
        if (n > LLMUX__MAX_FALLBACKS) {
            fail(&d, "fallbacks", "too many fallbacks (at most 16)");
            goto out;
        }
        req->fallbacks = n ? llmux__arena_alloc(&req->arena, n * sizeof *req->fallbacks) : NULL;
        if (n && !req->fallbacks) {
            nomem(&d);
            goto out;
        }
        req->cap_fallbacks = n;
        const cJSON *fb;
        cJSON_ArrayForEach(fb, v)
        {
            snprintf(d.path, sizeof d.path, "fallbacks[%zu].", req->n_fallbacks);
            if (!cJSON_IsObject(fb)) {
                char f[8] = "";
                d.path[strlen(d.path) - 1] = '\0'; /* "fallbacks[i]" */
                fail(&d, f, "must be an object, got %s", type_name(fb));
                goto out;
            }
            llmux__params *p = &req->fallbacks[req->n_fallbacks++];
            p->owner = req;
            if (decode_params(&d, fb, p, false))
                goto out;
        }
        d.path[0] = '\0';
    }

    /* Everything else at the top level is forwarded to OpenAI-format upstreams. */
    cJSON *item = root->child;
    while (item) {
        cJSON *next = item->next;
        if (!is_known_top_key(item->string)) {
            if (!req->extra && !(req->extra = cJSON_CreateObject())) {
                nomem(&d);
                goto out;
            }
            cJSON_DetachItemViaPointer(root, item);
            if (!cJSON_AddItemToObject(req->extra, item->string, item)) {
                cJSON_Delete(item); /* detached: ours to free */
                nomem(&d);
                goto out;
            }
        }
        item = next;
    }

    if (llmux__request_validate(req, err))
        goto out;
    *out = req;
    return LLMUX_OK;
out:
    llmux__request_free(req);
    return err->code;
}

llmux_code llmux__request_decode(const char *json, size_t len, llmux__request **out,
                                 llmux__error *err)
{
    *out = NULL;
    /* One JSON value and nothing after it but whitespace: cJSON stops at the end of the
     * first value, and "{...} {...}" must not pass as its first half. */
    const char *end = NULL;
    cJSON *root = json && len ? cJSON_ParseWithLengthOpts(json, len, &end, 0) : NULL;
    for (const char *p = end; root && p && p < json + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            cJSON_Delete(root);
            return llmux__error_set(err, LLMUX_EINVALID_REQUEST,
                                    "request body has data after the JSON object");
        }
    }
    if (!root)
        return llmux__error_set(err, LLMUX_EINVALID_REQUEST, "request body is not valid JSON");
    return llmux__request_decode_json(root, out, err);
}

/* ---- validation ----------------------------------------------------------- */

static llmux_code vfail(llmux__error *err, const char *path, const char *field, const char *msg)
{
    return llmux__error_set(err, LLMUX_EINVALID_REQUEST, "%s%s: %s", path, field, msg);
}

static llmux_code validate_params(const llmux__params *p, const char *path, llmux__error *err)
{
    if ((p->set & LLMUX__F_MODEL) && p->model[0] == '\0')
        return vfail(err, path, "model", "must not be empty");
    if (p->set & LLMUX__F_MESSAGES) {
        if (p->n_messages == 0)
            return vfail(err, path, "messages", "must contain at least one message");
        for (size_t i = 0; i < p->n_messages; i++) {
            const llmux__message *m = &p->messages[i];
            char f[64];
            pathf(f, sizeof f, "messages[%zu]", i);
            bool has_content = m->content != NULL || m->n_parts > 0;
            if (!has_content && !(m->role == LLMUX__ROLE_ASSISTANT && m->n_tool_calls > 0))
                return vfail(err, path, f,
                             m->role == LLMUX__ROLE_ASSISTANT
                                 ? "has no content (an assistant message needs content or "
                                   "tool_calls)"
                                 : "has no content");
            if (m->role == LLMUX__ROLE_TOOL && (!m->tool_call_id || !*m->tool_call_id))
                return vfail(err, path, f,
                             "a tool message needs tool_call_id (the id of the call it answers)");
            for (size_t j = 0; j < m->n_tool_calls; j++)
                if (!m->tool_calls[j].name || !*m->tool_calls[j].name)
                    return vfail(err, path, f, "a tool call needs a function name");
        }
    }
    if ((p->set & LLMUX__F_TEMPERATURE) && (p->temperature < 0 || p->temperature > 2))
        return vfail(err, path, "temperature", "must be between 0 and 2");
    if ((p->set & LLMUX__F_TOP_P) && (p->top_p < 0 || p->top_p > 1))
        return vfail(err, path, "top_p", "must be between 0 and 1");
    if ((p->set & LLMUX__F_MAX_TOKENS) && (p->max_tokens < 1 || p->max_tokens > 100000000))
        return vfail(err, path, "max_tokens", "must be between 1 and 100000000");
    if ((p->set & LLMUX__F_STOP) && p->n_stop > LLMUX__MAX_STOP)
        return vfail(err, path, "stop", "has too many sequences (at most 16)");
    if (p->set & LLMUX__F_TOOLS) {
        for (size_t i = 0; i < p->n_tools; i++) {
            if (!p->tools[i].name || !*p->tools[i].name) {
                char f[48];
                pathf(f, sizeof f, "tools[%zu].function.name", i);
                return vfail(err, path, f, "must not be empty");
            }
        }
    }
    if ((p->set & LLMUX__F_TOOL_CHOICE) && p->tool_choice.kind == LLMUX__TOOL_CHOICE_NAMED &&
        (!p->tool_choice.name || !*p->tool_choice.name))
        return vfail(err, path, "tool_choice.function.name", "must not be empty");
    if (p->set & LLMUX__F_RETRY) {
        const llmux__retry *r = &p->retry;
        if (r->max_retries < 0 || r->max_retries > LLMUX__MAX_RETRIES)
            return vfail(err, path, "retry.max_retries", "must be between 0 and 10");
        if (!(r->retry_delay >= 0 && r->retry_delay <= LLMUX__MAX_RETRY_DELAY))
            return vfail(err, path, "retry.retry_delay", "must be between 0 and 60 seconds");
        if (!(r->backoff_multiplier >= 1 && r->backoff_multiplier <= LLMUX__MAX_BACKOFF))
            return vfail(err, path, "retry.backoff_multiplier", "must be between 1 and 10");
    }
    if ((p->set & LLMUX__F_TIMEOUT) && !(p->timeout > 0 && p->timeout <= LLMUX__MAX_TIMEOUT))
        return vfail(err, path, "timeout", "must be more than 0 and at most 3600 seconds");
    if ((p->set & LLMUX__F_FIRST_TOKEN_TIMEOUT) &&
        !(p->first_token_timeout > 0 && p->first_token_timeout <= LLMUX__MAX_TIMEOUT))
        return vfail(err, path, "first_token_timeout",
                     "must be more than 0 and at most 3600 seconds");
    return LLMUX_OK;
}

llmux_code llmux__request_validate(const llmux__request *req, llmux__error *err)
{
    const llmux__params *p = &req->primary;
    if (!(p->set & LLMUX__F_PROVIDER))
        return vfail(err, "", "provider",
                     "is required (or give model as \"provider/model\", e.g. "
                     "\"anthropic/claude-haiku-4-5\")");
    if ((unsigned)p->provider >= LLMUX__PROVIDER_COUNT)
        return vfail(err, "", "provider", "unknown provider");
    if (!(p->set & LLMUX__F_MODEL))
        return vfail(err, "", "model", "is required");
    if (!(p->set & LLMUX__F_MESSAGES))
        return vfail(err, "", "messages", "is required");
    llmux_code rc = validate_params(p, "", err);
    if (rc)
        return rc;
    if (req->n_fallbacks > LLMUX__MAX_FALLBACKS)
        return vfail(err, "", "fallbacks", "too many fallbacks (at most 16)");
    for (size_t i = 0; i < req->n_fallbacks; i++) {
        char path[48];
        snprintf(path, sizeof path, "fallbacks[%zu].", i);
        if ((req->fallbacks[i].set & LLMUX__F_PROVIDER) &&
            (unsigned)req->fallbacks[i].provider >= LLMUX__PROVIDER_COUNT)
            return vfail(err, path, "provider", "unknown provider");
        rc = validate_params(&req->fallbacks[i], path, err);
        if (rc)
            return rc;
    }
    return LLMUX_OK;
}

/* ---- encoding ------------------------------------------------------------- */

cJSON *llmux__message_to_json(const llmux__message *m)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    if (!cJSON_AddStringToObject(o, "role", llmux__role_name(m->role)))
        goto fail;
    if (m->content) {
        if (!cJSON_AddStringToObject(o, "content", m->content))
            goto fail;
    } else if (m->n_parts) {
        cJSON *arr = cJSON_AddArrayToObject(o, "content");
        if (!arr)
            goto fail;
        for (size_t i = 0; i < m->n_parts; i++) {
            const llmux__part *p = &m->parts[i];
            cJSON *jp;
            if (p->raw) {
                jp = cJSON_Duplicate(p->raw, true);
            } else if (p->kind == LLMUX__PART_TEXT) {
                jp = cJSON_CreateObject();
                if (jp && (!cJSON_AddStringToObject(jp, "type", "text") ||
                           !cJSON_AddStringToObject(jp, "text", p->text ? p->text : ""))) {
                    cJSON_Delete(jp);
                    jp = NULL;
                }
            } else {
                jp = cJSON_CreateObject();
                cJSON *iu = jp ? cJSON_CreateObject() : NULL;
                if (!iu || !cJSON_AddStringToObject(jp, "type", "image_url") ||
                    !cJSON_AddStringToObject(iu, "url", p->url ? p->url : "") ||
                    (p->detail && !cJSON_AddStringToObject(iu, "detail", p->detail))) {
                    cJSON_Delete(iu);
                    cJSON_Delete(jp);
                    jp = NULL;
                } else {
                    cJSON_AddItemToObjectCS(jp, "image_url", iu);
                }
            }
            if (!jp)
                goto fail;
            cJSON_AddItemToArray(arr, jp);
        }
    } else {
        if (!cJSON_AddNullToObject(o, "content"))
            goto fail;
    }
    if (m->name && !cJSON_AddStringToObject(o, "name", m->name))
        goto fail;
    if (m->n_tool_calls) {
        cJSON *arr = cJSON_AddArrayToObject(o, "tool_calls");
        if (!arr)
            goto fail;
        for (size_t i = 0; i < m->n_tool_calls; i++) {
            const llmux__tool_call *tc = &m->tool_calls[i];
            cJSON *c = cJSON_CreateObject();
            if (!c)
                goto fail;
            cJSON_AddItemToArray(arr, c);
            cJSON *fn = cJSON_CreateObject();
            if (!fn)
                goto fail;
            cJSON_AddItemToObjectCS(c, "function", fn);
            if (!cJSON_AddStringToObject(c, "id", tc->id ? tc->id : "") ||
                !cJSON_AddStringToObject(c, "type", "function") ||
                !cJSON_AddStringToObject(fn, "name", tc->name) ||
                !cJSON_AddStringToObject(fn, "arguments", tc->arguments ? tc->arguments : "{}"))
                goto fail;
        }
    }
    if (m->tool_call_id && !cJSON_AddStringToObject(o, "tool_call_id", m->tool_call_id))
        goto fail;
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

cJSON *llmux__tool_to_json(const llmux__tool *t)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *fn = o ? cJSON_CreateObject() : NULL;
    if (!fn) {
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddItemToObjectCS(o, "function", fn);
    if (!cJSON_AddStringToObject(o, "type", "function") ||
        !cJSON_AddStringToObject(fn, "name", t->name))
        goto fail;
    if (t->description && !cJSON_AddStringToObject(fn, "description", t->description))
        goto fail;
    if (t->parameters) {
        cJSON *params = cJSON_Duplicate(t->parameters, true);
        if (!params)
            goto fail;
        cJSON_AddItemToObjectCS(fn, "parameters", params);
    }
    if (t->strict >= 0 && !cJSON_AddBoolToObject(fn, "strict", t->strict))
        goto fail;
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

cJSON *llmux__tool_choice_to_json(const llmux__tool_choice *tc)
{
    switch (tc->kind) {
    case LLMUX__TOOL_CHOICE_AUTO:
        return cJSON_CreateString("auto");
    case LLMUX__TOOL_CHOICE_NONE:
        return cJSON_CreateString("none");
    case LLMUX__TOOL_CHOICE_REQUIRED:
        return cJSON_CreateString("required");
    case LLMUX__TOOL_CHOICE_NAMED:
    default: {
        cJSON *o = cJSON_CreateObject();
        cJSON *fn = o ? cJSON_CreateObject() : NULL;
        if (!fn) {
            cJSON_Delete(o);
            return NULL;
        }
        cJSON_AddItemToObjectCS(o, "function", fn);
        if (!cJSON_AddStringToObject(o, "type", "function") ||
            !cJSON_AddStringToObject(fn, "name", tc->name ? tc->name : "")) {
            cJSON_Delete(o);
            return NULL;
        }
        return o;
    }
    }
}

static cJSON *retry_to_json(const llmux__retry *r)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    if (!cJSON_AddBoolToObject(o, "enabled", r->enabled) ||
        !cJSON_AddNumberToObject(o, "max_retries", r->max_retries) ||
        !cJSON_AddNumberToObject(o, "retry_delay", r->retry_delay) ||
        !cJSON_AddNumberToObject(o, "backoff_multiplier", r->backoff_multiplier)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

bool llmux__params_to_json(const llmux__params *p, cJSON *obj)
{
    if ((p->set & LLMUX__F_PROVIDER) &&
        !cJSON_AddStringToObject(obj, "provider", llmux__provider_name(p->provider)))
        return false;
    if ((p->set & LLMUX__F_MODEL) && !cJSON_AddStringToObject(obj, "model", p->model))
        return false;
    if (p->set & LLMUX__F_MESSAGES) {
        cJSON *arr = cJSON_AddArrayToObject(obj, "messages");
        if (!arr)
            return false;
        for (size_t i = 0; i < p->n_messages; i++) {
            cJSON *m = llmux__message_to_json(&p->messages[i]);
            if (!m)
                return false;
            cJSON_AddItemToArray(arr, m);
        }
    }
    if ((p->set & LLMUX__F_TEMPERATURE) &&
        !cJSON_AddNumberToObject(obj, "temperature", p->temperature))
        return false;
    if ((p->set & LLMUX__F_MAX_TOKENS) &&
        !cJSON_AddNumberToObject(obj, "max_tokens", (double)p->max_tokens))
        return false;
    if ((p->set & LLMUX__F_TOP_P) && !cJSON_AddNumberToObject(obj, "top_p", p->top_p))
        return false;
    if (p->set & LLMUX__F_STOP) {
        cJSON *arr = cJSON_AddArrayToObject(obj, "stop");
        if (!arr)
            return false;
        for (size_t i = 0; i < p->n_stop; i++) {
            cJSON *s = cJSON_CreateString(p->stop[i]);
            if (!s)
                return false;
            cJSON_AddItemToArray(arr, s);
        }
    }
    if (p->set & LLMUX__F_TOOLS) {
        cJSON *arr = cJSON_AddArrayToObject(obj, "tools");
        if (!arr)
            return false;
        for (size_t i = 0; i < p->n_tools; i++) {
            cJSON *t = llmux__tool_to_json(&p->tools[i]);
            if (!t)
                return false;
            cJSON_AddItemToArray(arr, t);
        }
    }
    if (p->set & LLMUX__F_TOOL_CHOICE) {
        cJSON *tc = llmux__tool_choice_to_json(&p->tool_choice);
        if (!tc)
            return false;
        cJSON_AddItemToObjectCS(obj, "tool_choice", tc);
    }
    if (p->set & LLMUX__F_RETRY) {
        cJSON *r = retry_to_json(&p->retry);
        if (!r)
            return false;
        cJSON_AddItemToObjectCS(obj, "retry", r);
    }
    if ((p->set & LLMUX__F_TIMEOUT) && !cJSON_AddNumberToObject(obj, "timeout", p->timeout))
        return false;
    if ((p->set & LLMUX__F_FIRST_TOKEN_TIMEOUT) &&
        !cJSON_AddNumberToObject(obj, "first_token_timeout", p->first_token_timeout))
        return false;
    return true;
}

cJSON *llmux__request_to_json(const llmux__request *req)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    if (!llmux__params_to_json(&req->primary, o))
        goto fail;
    if (req->n_fallbacks) {
        cJSON *arr = cJSON_AddArrayToObject(o, "fallbacks");
        if (!arr)
            goto fail;
        for (size_t i = 0; i < req->n_fallbacks; i++) {
            cJSON *fb = cJSON_CreateObject();
            if (!fb)
                goto fail;
            cJSON_AddItemToArray(arr, fb);
            if (!llmux__params_to_json(&req->fallbacks[i], fb))
                goto fail;
        }
    }
    if (req->stream && !cJSON_AddBoolToObject(o, "stream", true))
        goto fail;
    const llmux__stream_options *so = &req->stream_options;
    if (so->chunk_by_sentence || so->clean_sentences || so->eager_first_chunk ||
        so->include_usage) {
        cJSON *jso = cJSON_AddObjectToObject(o, "stream_options");
        if (!jso)
            goto fail;
        if ((so->chunk_by_sentence && !cJSON_AddBoolToObject(jso, "chunk_by_sentence", true)) ||
            (so->clean_sentences && !cJSON_AddBoolToObject(jso, "clean_sentences", true)) ||
            (so->eager_first_chunk && !cJSON_AddBoolToObject(jso, "eager_first_chunk", true)) ||
            (so->include_usage && !cJSON_AddBoolToObject(jso, "include_usage", true)))
            goto fail;
    }
    if (req->extra) {
        const cJSON *e;
        cJSON_ArrayForEach(e, req->extra)
        {
            cJSON *dup = cJSON_Duplicate(e, true);
            if (!dup)
                goto fail;
            if (!cJSON_AddItemToObject(o, e->string, dup)) {
                cJSON_Delete(dup);
                goto fail;
            }
        }
    }
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}
