/* google.c — the Google Gemini (Generative Language API) adapter:
 * POST {base}/v1beta/models/{model}:generateContent, or
 * :streamGenerateContent?alt=sse when streaming. Mapping and choices: docs/providers.md. */
#include "providers/common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Gemini's documented placeholder for a function call whose signature was lost (a
 * history from another provider): it skips the signature check of Gemini 3 models. */
#define DUMMY_THOUGHT_SIGNATURE "skip_thought_signature_validator"

/* ---- request ------------------------------------------------------------------------- */

/* JSON Schema → the OpenAPI subset `parameters` accepts. Keeps the keywords Gemini knows,
 * turns a type list ["string","null"] into type + nullable, const into a one-value enum,
 * and recurses through properties / items / anyOf. Unknown keywords
 * (additionalProperties, $schema, $ref, strict, ...) are dropped. */
static cJSON *schema_subset(const cJSON *s, int depth)
{
    static const char *const keep[] = {
        "format",   "title",    "description",      "nullable",      "enum",      "maxItems",
        "minItems", "required", "minProperties",    "maxProperties", "minLength", "maxLength",
        "pattern",  "example",  "propertyOrdering", "default",       "minimum",   "maximum"};
    if (!cJSON_IsObject(s) || depth > 64)
        return cJSON_CreateObject();
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    const cJSON *f;
    cJSON_ArrayForEach(f, s)
    {
        const char *k = f->string;
        cJSON *v = NULL;
        if (strcmp(k, "type") == 0) {
            if (cJSON_IsString(f)) {
                v = cJSON_CreateString(f->valuestring);
            } else if (cJSON_IsArray(f)) {
                const cJSON *t;
                const char *first = NULL; /* the first non-null type */
                bool nullable = false;
                cJSON_ArrayForEach(t, f)
                {
                    if (!cJSON_IsString(t))
                        continue;
                    if (strcmp(t->valuestring, "null") == 0)
                        nullable = true;
                    else if (!first)
                        first = t->valuestring;
                }
                if (nullable && !cJSON_AddTrueToObject(o, "nullable"))
                    goto oom;
                if (!first)
                    continue;
                v = cJSON_CreateString(first); /* NULL: out of memory, below */
            } else {
                continue;
            }
        } else if (strcmp(k, "properties") == 0 && cJSON_IsObject(f)) {
            v = cJSON_CreateObject();
            const cJSON *props = v ? f : NULL;
            const cJSON *prop;
            cJSON_ArrayForEach(prop, props)
            {
                cJSON *ps = schema_subset(prop, depth + 1);
                if (!ps)
                    goto oom_v;
                if (!cJSON_AddItemToObject(v, prop->string, ps)) {
                    cJSON_Delete(ps);
                    goto oom_v;
                }
            }
        } else if (strcmp(k, "items") == 0 && cJSON_IsObject(f)) {
            v = schema_subset(f, depth + 1);
        } else if (strcmp(k, "anyOf") == 0 && cJSON_IsArray(f)) {
            v = cJSON_CreateArray();
            const cJSON *alts = v ? f : NULL;
            const cJSON *alt;
            cJSON_ArrayForEach(alt, alts)
            {
                cJSON *as = schema_subset(alt, depth + 1);
                if (!as)
                    goto oom_v;
                cJSON_AddItemToArray(v, as);
            }
        } else if (strcmp(k, "const") == 0) {
            if (cJSON_GetObjectItemCaseSensitive(s, "enum"))
                continue;
            v = cJSON_CreateArray();
            cJSON *c = v ? cJSON_Duplicate(f, true) : NULL;
            if (!c)
                goto oom_v;
            cJSON_AddItemToArray(v, c);
            k = "enum";
        } else {
            bool kept = false;
            for (size_t i = 0; i < sizeof keep / sizeof keep[0] && !kept; i++)
                kept = strcmp(k, keep[i]) == 0;
            if (!kept || cJSON_GetObjectItemCaseSensitive(o, k))
                continue;
            v = cJSON_Duplicate(f, true);
        }
        if (!v)
            goto oom;
        if (!cJSON_AddItemToObject(o, k, v))
            goto oom_v;
        continue;
    oom_v:
        cJSON_Delete(v);
        goto oom;
    }
    return o;
oom:
    cJSON_Delete(o);
    return NULL;
}

typedef struct builder {
    const llmux__params *p;
    const llmux__request *req;
    cJSON *contents;
    cJSON *last; /* parts array of the last turn */
    const char *last_role;
    bool dummy_signatures; /* a model that checks thought signatures (Gemini 3 and later) */
    llmux__error *err;
} builder;

static cJSON *turn(builder *b, const char *role)
{
    if (b->last && strcmp(b->last_role, role) == 0)
        return b->last;
    cJSON *t = cJSON_CreateObject();
    cJSON *parts = cJSON_CreateArray();
    if (!t || !parts || !cJSON_AddStringToObject(t, "role", role)) {
        cJSON_Delete(t);
        cJSON_Delete(parts);
        return NULL;
    }
    cJSON_AddItemToObjectCS(t, "parts", parts);
    cJSON_AddItemToArray(b->contents, t);
    b->last = parts;
    b->last_role = role;
    return parts;
}

static cJSON *text_part(const char *text)
{
    cJSON *o = cJSON_CreateObject();
    if (o && !cJSON_AddStringToObject(o, "text", text)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* Appends the text and inline image parts of m's content to arr. */
static llmux_code content_parts(builder *b, size_t mi, const llmux__message *m, cJSON *arr)
{
    if (m->content) {
        if (m->content[0]) {
            cJSON *t = text_part(m->content);
            if (!t)
                return llmux__error_set(b->err, LLMUX_ENOMEM, NULL);
            cJSON_AddItemToArray(arr, t);
        }
        return LLMUX_OK;
    }
    for (size_t i = 0; i < m->n_parts; i++) {
        const llmux__part *p = &m->parts[i];
        cJSON *part = NULL;
        const char *mime, *data;
        size_t mime_len;
        if (p->kind == LLMUX__PART_TEXT) {
            if (!p->text || !p->text[0])
                continue;
            part = text_part(p->text);
        } else if (p->kind == LLMUX__PART_IMAGE_URL &&
                   llmux__data_url(p->url, &mime, &mime_len, &data)) {
            char mt[128];
            if (mime_len >= sizeof mt)
                mime_len = sizeof mt - 1;
            memcpy(mt, mime, mime_len);
            mt[mime_len] = '\0';
            part = cJSON_CreateObject();
            cJSON *inl = part ? cJSON_AddObjectToObject(part, "inlineData") : NULL;
            if (!inl || !cJSON_AddStringToObject(inl, "mimeType", mt) ||
                !cJSON_AddStringToObject(inl, "data", data)) {
                cJSON_Delete(part);
                part = NULL;
            }
        } else if (p->kind == LLMUX__PART_IMAGE_URL) {
            return llmux__error_set(b->err, LLMUX_EINVALID_REQUEST,
                                    "messages[%zu].content[%zu]: google takes images as data: "
                                    "URLs (base64), not links",
                                    mi, i);
        } else {
            return llmux__error_set(b->err, LLMUX_EINVALID_REQUEST,
                                    "messages[%zu].content[%zu]: this part type cannot be sent "
                                    "to google (text and image_url can)",
                                    mi, i);
        }
        if (!part)
            return llmux__error_set(b->err, LLMUX_ENOMEM, NULL);
        cJSON_AddItemToArray(arr, part);
    }
    return LLMUX_OK;
}

/* The thoughtSignature the caller sent back on the tool call `id` (OpenAI-compatible
 * form: tool_calls[].extra_content.google.thought_signature, as in llmux's responses),
 * searched in the request's own JSON (messages and fallbacks' messages). */
static const char *find_signature(const llmux__request *req, const char *id)
{
    if (!req || !req->json || !id || !*id)
        return NULL;
    const cJSON *lists[1 + LLMUX__MAX_FALLBACKS];
    size_t n = 0;
    lists[n++] = llmux__jarr(req->json, "messages");
    const cJSON *fb;
    cJSON_ArrayForEach(fb, llmux__jarr(req->json, "fallbacks"))
    {
        if (n < sizeof lists / sizeof lists[0])
            lists[n++] = llmux__jarr(fb, "messages");
    }
    for (size_t i = 0; i < n; i++) {
        const cJSON *m;
        cJSON_ArrayForEach(m, lists[i])
        {
            const cJSON *tc;
            cJSON_ArrayForEach(tc, llmux__jarr(m, "tool_calls"))
            {
                const char *tid = llmux__jstr(tc, "id");
                if (!tid || strcmp(tid, id) != 0)
                    continue;
                const cJSON *g = llmux__jobj(llmux__jobj(tc, "extra_content"), "google");
                const char *sig = llmux__jstr(g, "thought_signature");
                if (sig)
                    return sig;
            }
        }
    }
    return NULL;
}

/* The function name of the tool call `id` made by an assistant message before message
 * `before` (the nearest one: ids may repeat across turns). */
static const char *call_name(const llmux__params *p, size_t before, const char *id)
{
    for (size_t i = before; i-- > 0;) {
        const llmux__message *m = &p->messages[i];
        for (size_t k = 0; k < m->n_tool_calls; k++)
            if (m->tool_calls[k].id && strcmp(m->tool_calls[k].id, id) == 0)
                return m->tool_calls[k].name;
    }
    return NULL;
}

static llmux_code add_message(builder *b, size_t mi, const llmux__message *m)
{
    cJSON *parts = cJSON_CreateArray();
    if (!parts)
        return llmux__error_set(b->err, LLMUX_ENOMEM, NULL);
    llmux_code rc = LLMUX_OK;
    const char *role = "user";
    llmux__buf text = {0};
    if (m->role == LLMUX__ROLE_TOOL) {
        const char *name = m->tool_call_id ? call_name(b->p, mi, m->tool_call_id) : NULL;
        if (!name) {
            rc = llmux__error_set(b->err, LLMUX_EINVALID_REQUEST,
                                  "messages[%zu]: tool_call_id matches no earlier assistant tool "
                                  "call (google needs the function name)",
                                  mi);
            goto out;
        }
        llmux__message_text(m, &text);
        if (text.oom)
            goto oom;
        cJSON *part = cJSON_CreateObject();
        if (!part)
            goto oom;
        cJSON_AddItemToArray(parts, part);
        cJSON *fr = cJSON_AddObjectToObject(part, "functionResponse");
        cJSON *resp = fr ? cJSON_CreateObject() : NULL;
        if (!resp)
            goto oom;
        if (!cJSON_AddStringToObject(resp, "result", text.p ? text.p : "")) {
            cJSON_Delete(resp);
            goto oom;
        }
        if ((m->tool_call_id[0] && !cJSON_AddStringToObject(fr, "id", m->tool_call_id)) ||
            !cJSON_AddStringToObject(fr, "name", name)) {
            cJSON_Delete(resp);
            goto oom;
        }
        cJSON_AddItemToObjectCS(fr, "response", resp);
    } else {
        if (m->role == LLMUX__ROLE_ASSISTANT)
            role = "model";
        if ((rc = content_parts(b, mi, m, parts)))
            goto out;
        for (size_t i = 0; i < m->n_tool_calls; i++) {
            const llmux__tool_call *tc = &m->tool_calls[i];
            cJSON *args = llmux__arguments_object(tc->arguments);
            if (!args) {
                rc = llmux__error_set(b->err, LLMUX_EINVALID_REQUEST,
                                      "messages[%zu].tool_calls[%zu].function.arguments is not a "
                                      "JSON object",
                                      mi, i);
                goto out;
            }
            cJSON *part = cJSON_CreateObject();
            cJSON *fc = part ? cJSON_AddObjectToObject(part, "functionCall") : NULL;
            if (!fc || !cJSON_AddStringToObject(fc, "name", tc->name ? tc->name : "") ||
                (tc->id && tc->id[0] && !cJSON_AddStringToObject(fc, "id", tc->id))) {
                cJSON_Delete(args);
                cJSON_Delete(part);
                goto oom;
            }
            cJSON_AddItemToObjectCS(fc, "args", args);
            const char *sig = find_signature(b->req, tc->id);
            if (!sig && i == 0 && b->dummy_signatures)
                sig = DUMMY_THOUGHT_SIGNATURE;
            if (sig && !cJSON_AddStringToObject(part, "thoughtSignature", sig)) {
                cJSON_Delete(part);
                goto oom;
            }
            cJSON_AddItemToArray(parts, part);
        }
    }
    if (cJSON_GetArraySize(parts) == 0)
        goto out;
    cJSON *dst = turn(b, role);
    if (!dst)
        goto oom;
    while (parts->child)
        cJSON_AddItemToArray(dst, cJSON_DetachItemViaPointer(parts, parts->child));
    goto out;
oom:
    rc = llmux__error_set(b->err, LLMUX_ENOMEM, NULL);
out:
    llmux__buf_free(&text);
    cJSON_Delete(parts);
    return rc;
}

static cJSON *google_body(const llmux__params *p, const llmux__request *req, llmux__error *err)
{
    cJSON *body = cJSON_CreateObject();
    const char *model = p->model ? p->model : "";
    if (strncmp(model, "models/", 7) == 0)
        model += 7;
    /* Gemini 1.x and 2.x do not check signatures; later models refuse a function call of
     * the current turn without one. */
    bool old = strncmp(model, "gemini-1", 8) == 0 || strncmp(model, "gemini-2", 8) == 0;
    builder b = {.p = p, .req = req, .err = err, .dummy_signatures = !old};
    if (!body || !(b.contents = cJSON_AddArrayToObject(body, "contents")))
        goto oom;
    cJSON *sys_parts = NULL;
    for (size_t i = 0; i < p->n_messages; i++) {
        const llmux__message *m = &p->messages[i];
        if (m->role == LLMUX__ROLE_SYSTEM || m->role == LLMUX__ROLE_DEVELOPER) {
            llmux__buf t = {0};
            llmux__message_text(m, &t);
            if (t.oom)
                goto oom;
            if (!sys_parts) {
                cJSON *si = cJSON_AddObjectToObject(body, "systemInstruction");
                if (!si || !(sys_parts = cJSON_AddArrayToObject(si, "parts"))) {
                    llmux__buf_free(&t);
                    goto oom;
                }
            }
            cJSON *part = text_part(t.p ? t.p : "");
            llmux__buf_free(&t);
            if (!part)
                goto oom;
            cJSON_AddItemToArray(sys_parts, part);
            continue;
        }
        if (add_message(&b, i, m))
            goto fail;
    }
    cJSON *gc = cJSON_CreateObject();
    if (!gc)
        goto oom;
    cJSON_AddItemToObjectCS(body, "generationConfig", gc);
    if ((p->set & LLMUX__F_TEMPERATURE) &&
        !cJSON_AddNumberToObject(gc, "temperature", p->temperature))
        goto oom;
    if ((p->set & LLMUX__F_TOP_P) && !cJSON_AddNumberToObject(gc, "topP", p->top_p))
        goto oom;
    if ((p->set & LLMUX__F_MAX_TOKENS) &&
        !cJSON_AddNumberToObject(gc, "maxOutputTokens", (double)p->max_tokens))
        goto oom;
    if ((p->set & LLMUX__F_STOP) && p->n_stop) {
        cJSON *ss = cJSON_AddArrayToObject(gc, "stopSequences");
        if (!ss)
            goto oom;
        for (size_t i = 0; i < p->n_stop; i++) {
            cJSON *s = cJSON_CreateString(p->stop[i]);
            if (!s)
                goto oom;
            cJSON_AddItemToArray(ss, s);
        }
    }
    if (!gc->child)
        cJSON_DeleteItemFromObjectCaseSensitive(body, "generationConfig");
    if ((p->set & LLMUX__F_TOOLS) && p->n_tools) {
        cJSON *tools = cJSON_AddArrayToObject(body, "tools");
        cJSON *t0 = tools ? cJSON_CreateObject() : NULL;
        if (!t0)
            goto oom;
        cJSON_AddItemToArray(tools, t0);
        cJSON *decls = cJSON_AddArrayToObject(t0, "functionDeclarations");
        if (!decls)
            goto oom;
        for (size_t i = 0; i < p->n_tools; i++) {
            const llmux__tool *t = &p->tools[i];
            cJSON *fd = cJSON_CreateObject();
            if (!fd)
                goto oom;
            cJSON_AddItemToArray(decls, fd);
            if (!cJSON_AddStringToObject(fd, "name", t->name) ||
                (t->description && !cJSON_AddStringToObject(fd, "description", t->description)))
                goto oom;
            if (t->parameters) {
                cJSON *ps = schema_subset(t->parameters, 0);
                if (!ps)
                    goto oom;
                cJSON_AddItemToObjectCS(fd, "parameters", ps);
            }
        }
        if (p->set & LLMUX__F_TOOL_CHOICE) {
            cJSON *tc = cJSON_AddObjectToObject(body, "toolConfig");
            cJSON *fcc = tc ? cJSON_AddObjectToObject(tc, "functionCallingConfig") : NULL;
            const char *mode = p->tool_choice.kind == LLMUX__TOOL_CHOICE_NONE   ? "NONE"
                               : p->tool_choice.kind == LLMUX__TOOL_CHOICE_AUTO ? "AUTO"
                                                                                : "ANY";
            if (!fcc || !cJSON_AddStringToObject(fcc, "mode", mode))
                goto oom;
            if (p->tool_choice.kind == LLMUX__TOOL_CHOICE_NAMED) {
                cJSON *names = cJSON_AddArrayToObject(fcc, "allowedFunctionNames");
                cJSON *nm = names
                                ? cJSON_CreateString(p->tool_choice.name ? p->tool_choice.name : "")
                                : NULL;
                if (!nm)
                    goto oom;
                cJSON_AddItemToArray(names, nm);
            }
        }
    }
    return body;
oom:
    llmux__error_set(err, LLMUX_ENOMEM, NULL);
fail:
    cJSON_Delete(body);
    return NULL;
}

static llmux_code google_url(llmux__buf *url, const llmux__provider_config *cfg, llmux__error *err)
{
    if (!llmux__url_base(url, cfg ? cfg->base_url : NULL,
                         llmux__provider_default_base_url(LLMUX__PROVIDER_GOOGLE), err)) {
        llmux__buf_free(url);
        return err->code;
    }
    return LLMUX_OK;
}

static llmux_code add_key(llmux__http_request *out, const llmux__provider_config *cfg,
                          llmux__error *err)
{
    if (!llmux__has_key(cfg))
        return LLMUX_OK;
    return llmux__http_add_header(out, "x-goog-api-key", cfg->api_key, err);
}

static llmux_code google_build(const llmux__params *p, const llmux__request *req,
                               const llmux__provider_config *cfg, llmux__http_request *out,
                               llmux__error *err)
{
    memset(out, 0, sizeof *out);
    llmux__buf url = {0};
    llmux_code rc = google_url(&url, cfg, err);
    if (rc)
        return rc;
    const char *model = p->model ? p->model : "";
    if (strncmp(model, "models/", 7) == 0)
        model += 7;
    bool stream = req && req->stream;
    llmux__buf_puts(&url, "/v1beta/models/");
    llmux__url_encode(&url, model);
    llmux__buf_puts(&url, stream ? ":streamGenerateContent?alt=sse" : ":generateContent");
    if ((rc = llmux__http_begin(out, "POST", &url, err)))
        return rc;
    cJSON *body = google_body(p, req, err);
    if (!body) {
        rc = err->code;
        goto fail;
    }
    rc = llmux__http_set_body(out, body, err);
    cJSON_Delete(body);
    if (rc || (rc = add_key(out, cfg, err)) ||
        (rc = llmux__http_add_header(out, "Content-Type", "application/json", err)))
        goto fail;
    if (stream && (rc = llmux__http_add_header(out, "Accept", "text/event-stream", err)))
        goto fail;
    return LLMUX_OK;
fail:
    llmux__http_request_free(out);
    return rc;
}

static llmux_code google_warm(const llmux__provider_config *cfg, llmux__http_request *out,
                              llmux__error *err)
{
    memset(out, 0, sizeof *out);
    llmux__buf url = {0};
    llmux_code rc = google_url(&url, cfg, err);
    if (rc)
        return rc;
    llmux__buf_puts(&url, "/v1beta/models?pageSize=1");
    if ((rc = llmux__http_begin(out, "GET", &url, err)) || (rc = add_key(out, cfg, err)))
        llmux__http_request_free(out);
    return rc;
}

/* ---- response --------------------------------------------------------------------------- */

/* finishReason → unified; MALFORMED_FUNCTION_CALL is reported as an error instead
 * (*malformed set). `calls`: the answer has function calls (STOP then means tool_calls). */
static llmux__finish_reason map_finish(const char *s, bool calls, bool *malformed)
{
    *malformed = false;
    if (!s)
        return LLMUX__FINISH_NONE;
    if (strcmp(s, "MAX_TOKENS") == 0)
        return LLMUX__FINISH_LENGTH;
    static const char *const filtered[] = {
        "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"};
    for (size_t i = 0; i < sizeof filtered / sizeof filtered[0]; i++)
        if (strcmp(s, filtered[i]) == 0)
            return LLMUX__FINISH_CONTENT_FILTER;
    if (strcmp(s, "MALFORMED_FUNCTION_CALL") == 0) {
        *malformed = true;
        return LLMUX__FINISH_NONE;
    }
    return calls ? LLMUX__FINISH_TOOL_CALLS : LLMUX__FINISH_STOP;
}

static void parse_usage(const cJSON *u, llmux__usage *out)
{
    int64_t p, c, th, t;
    if (!cJSON_IsObject(u))
        return;
    bool hp = llmux__jcount(u, "promptTokenCount", &p);
    bool hc = llmux__jcount(u, "candidatesTokenCount", &c);
    bool hth = llmux__jcount(u, "thoughtsTokenCount", &th);
    bool ht = llmux__jcount(u, "totalTokenCount", &t);
    if (!hp && !hc && !hth && !ht)
        return;
    out->present = true;
    out->prompt_tokens = p;
    out->completion_tokens = c + th; /* candidates exclude thinking */
    out->total_tokens = ht ? t : p + c + th;
}

/* A function call's args as JSON text ("{}" when absent). Caller frees with cJSON_free
 * when *owned. */
static const char *call_args(const cJSON *fc, char **owned)
{
    const cJSON *args = llmux__jget(fc, "args");
    *owned = NULL;
    if (cJSON_IsObject(args))
        return *owned = cJSON_PrintUnformatted(args);
    return "{}";
}

/* Fills e from a Google error object {code, message, status, details[]}. */
static void error_object(llmux__upstream_error *e, const cJSON *err)
{
    const char *msg = llmux__jstr(err, "message");
    const char *status = llmux__jstr(err, "status");
    if (msg)
        llmux__uerr_set_message(e, msg);
    if (status)
        llmux__uerr_copy_id(e->type, sizeof e->type, status);
    const cJSON *d;
    cJSON_ArrayForEach(d, llmux__jarr(err, "details"))
    {
        const char *reason = llmux__jstr(d, "reason");
        if (reason && strcmp(reason, "API_KEY_INVALID") == 0) {
            /* A bad key is a 400 here: classify it as the 401 it means. */
            llmux__failure f = llmux__classify_http(401);
            e->code = f.code;
            e->retryable = f.retryable;
            llmux__uerr_copy_id(e->type, sizeof e->type, reason);
        }
        const char *delay = llmux__jstr(d, "retryDelay");
        if (delay && e->retry_after_s < 0) {
            char *end;
            double v = strtod(delay, &end);
            if (end != delay && (*end == 's' || *end == '\0') && isfinite(v) && v > 0 && v <= 60)
                e->retry_after_s = v;
        }
    }
}

static llmux_code google_parse(int status, const llmux__header *h, size_t n, const char *body,
                               size_t len, double now, llmux__response **out,
                               llmux__upstream_error *uerr)
{
    *out = NULL;
    llmux__upstream_error_clear(uerr);
    cJSON *root = llmux__json_parse(body, len);
    llmux_code rc = LLMUX_OK;
    llmux__response *r = NULL;
    llmux__buf text = {0};
    char *args = NULL;
    if (status < 200 || status > 299) {
        llmux__uerr_from_status(uerr, status, h, n, now);
        error_object(uerr, llmux__jobj(root, "error"));
        llmux__uerr_should_retry(uerr, h, n);
        rc = uerr->code;
        goto out;
    }
    if (!cJSON_IsObject(root)) {
        rc = llmux__uerr_malformed(uerr, status, "the body is not a JSON object");
        goto out;
    }
    const cJSON *eo = llmux__jobj(root, "error");
    if (eo) {
        const cJSON *code = llmux__jget(eo, "code");
        int hint = cJSON_IsNumber(code) && code->valuedouble >= 400 && code->valuedouble < 600
                       ? (int)code->valuedouble
                       : 0;
        llmux__uerr_in_stream(uerr, hint, llmux__jstr(eo, "status"), llmux__jstr(eo, "message"));
        error_object(uerr, eo);
        uerr->http_status = status;
        rc = uerr->code;
        goto out;
    }
    const cJSON *cands = llmux__jarr(root, "candidates");
    const cJSON *c0 = cands ? cJSON_GetArrayItem(cands, 0) : NULL;
    const char *block = llmux__jstr(llmux__jobj(root, "promptFeedback"), "blockReason");
    if (!cJSON_IsObject(c0) && !block) {
        rc = llmux__uerr_malformed(uerr, status, "no candidates");
        goto out;
    }
    if (!(r = llmux__response_new()))
        goto oom;
    const char *id = llmux__jstr(root, "responseId");
    const char *model = llmux__jstr(root, "modelVersion");
    if ((id && !(r->id = llmux__response_strdup(r, id, strlen(id)))) ||
        (model && !(r->model = llmux__response_strdup(r, model, strlen(model)))))
        goto oom;
    bool has_text = false;
    const cJSON *part;
    cJSON_ArrayForEach(part, llmux__jarr(llmux__jobj(c0, "content"), "parts"))
    {
        if (cJSON_IsTrue(llmux__jget(part, "thought")))
            continue;
        const char *t = llmux__jstr(part, "text");
        const cJSON *fc = llmux__jobj(part, "functionCall");
        if (t) {
            llmux__buf_puts(&text, t);
            has_text = true;
        } else if (fc) {
            const char *name = llmux__jstr(fc, "name");
            if (!name) {
                rc = llmux__uerr_malformed(uerr, status, "a functionCall has no name");
                goto out;
            }
            const char *a = call_args(fc, &args);
            if (!a)
                goto oom;
            const char *cid = llmux__jstr(fc, "id");
            char synth[48];
            if (!cid || !*cid) {
                llmux__synth_call_id(synth, sizeof synth, r->id, name, (int)r->n_tool_calls);
                cid = synth;
            }
            if (!llmux__response_add_tool_call(r, cid, name, a,
                                               llmux__jstr(part, "thoughtSignature")))
                goto oom;
            cJSON_free(args);
            args = NULL;
        }
    }
    if (text.oom || (has_text && !llmux__response_set_text(r, text.p ? text.p : "", text.len)))
        goto oom;
    bool malformed;
    r->finish_reason = map_finish(llmux__jstr(c0, "finishReason"), r->n_tool_calls > 0, &malformed);
    if (malformed) {
        rc = llmux__uerr_malformed(uerr, status,
                                   "the model produced a malformed function call "
                                   "(MALFORMED_FUNCTION_CALL)");
        goto out;
    }
    if (!cJSON_IsObject(c0))
        r->finish_reason = LLMUX__FINISH_CONTENT_FILTER; /* the prompt was blocked */
    if (r->finish_reason == LLMUX__FINISH_NONE)
        r->finish_reason = r->n_tool_calls ? LLMUX__FINISH_TOOL_CALLS : LLMUX__FINISH_STOP;
    parse_usage(llmux__jobj(root, "usageMetadata"), &r->usage);
    *out = r;
    r = NULL;
    goto out;
oom:
    llmux__upstream_error_clear(uerr);
    uerr->code = rc = LLMUX_ENOMEM;
    snprintf(uerr->message, sizeof uerr->message, "out of memory");
out:
    cJSON_free(args);
    llmux__buf_free(&text);
    llmux__response_free(r);
    cJSON_Delete(root);
    return rc;
}

/* ---- stream ------------------------------------------------------------------------------- */

static int google_event(llmux__stream_decoder *d, const llmux__sse_event *ev,
                        llmux__delta_sink sink, void *ud)
{
    if (d->ended)
        return 0;
    cJSON *root = llmux__json_parse(ev->data, ev->data_len);
    int r = 0;
    if (!cJSON_IsObject(root)) {
        r = llmux__dec_fail(d, "malformed stream chunk: not a JSON object", sink, ud);
        goto out;
    }
    const cJSON *eo = llmux__jobj(root, "error");
    if (eo) {
        const cJSON *code = llmux__jget(eo, "code");
        int hint = cJSON_IsNumber(code) && code->valuedouble >= 400 && code->valuedouble < 600
                       ? (int)code->valuedouble
                       : 0;
        llmux__uerr_in_stream(&d->err, hint, llmux__jstr(eo, "status"), llmux__jstr(eo, "message"));
        error_object(&d->err, eo);
        r = llmux__dec_error(d, sink, ud);
        goto out;
    }
    if (!llmux__dec_set_id_model(d, llmux__jstr(root, "responseId"),
                                 llmux__jstr(root, "modelVersion"))) {
        r = llmux__dec_fail(d, "out of memory", sink, ud);
        goto out;
    }
    parse_usage(llmux__jobj(root, "usageMetadata"), &d->usage); /* the last one wins */
    const cJSON *c0 = cJSON_GetArrayItem(llmux__jarr(root, "candidates"), 0);
    const cJSON *part;
    cJSON_ArrayForEach(part, llmux__jarr(llmux__jobj(c0, "content"), "parts"))
    {
        if (cJSON_IsTrue(llmux__jget(part, "thought")))
            continue;
        const char *t = llmux__jstr(part, "text");
        const cJSON *fc = llmux__jobj(part, "functionCall");
        if (t) {
            r = llmux__dec_text(d, t, strlen(t), sink, ud);
        } else if (fc) {
            /* A call arrives whole: start + its complete arguments. */
            const char *name = llmux__jstr(fc, "name");
            if (!name) {
                r = llmux__dec_fail(d, "malformed stream chunk: a functionCall has no name", sink,
                                    ud);
                goto out;
            }
            char *owned;
            const char *a = call_args(fc, &owned);
            if (!a) {
                r = llmux__dec_fail(d, "out of memory", sink, ud);
                goto out;
            }
            int64_t key = (int64_t)d->n_tools;
            r = llmux__dec_tool_start(d, key, llmux__jstr(fc, "id"), name,
                                      llmux__jstr(part, "thoughtSignature"), sink, ud);
            llmux__stream_tool *tool = r || d->ended ? NULL : llmux__dec_tool(d, key);
            if (tool)
                r = llmux__dec_tool_args(d, tool, a, strlen(a), sink, ud);
            cJSON_free(owned);
        }
        if (r || d->ended)
            goto out;
    }
    const char *fr = llmux__jstr(c0, "finishReason");
    const char *block = llmux__jstr(llmux__jobj(root, "promptFeedback"), "blockReason");
    if (fr) {
        bool malformed;
        llmux__finish_reason f = map_finish(fr, d->n_tools > 0, &malformed);
        if (malformed)
            r = llmux__dec_fail(d,
                                "the model produced a malformed function call "
                                "(MALFORMED_FUNCTION_CALL)",
                                sink, ud);
        else
            r = llmux__dec_finish(d, f, sink, ud);
    } else if (block && !c0) {
        r = llmux__dec_finish(d, LLMUX__FINISH_CONTENT_FILTER, sink, ud);
    }
out:
    cJSON_Delete(root);
    return r;
}

static int google_end(llmux__stream_decoder *d, llmux__delta_sink sink, void *ud)
{
    if (d->ended)
        return 0;
    /* No terminator in this protocol: the end of the body after a finishReason is the
     * proper end; without one the stream was cut. */
    if (!d->finish_sent)
        return llmux__dec_fail(d, "upstream stream ended before a finishReason", sink, ud);
    int r = llmux__dec_usage(d, sink, ud);
    return r ? r : llmux__dec_done(d, sink, ud);
}

const llmux__adapter llmux__google_adapter = {
    .provider = LLMUX__PROVIDER_GOOGLE,
    .name = "google",
    .build_request = google_build,
    .parse_response = google_parse,
    .stream_event = google_event,
    .stream_end = google_end,
    .warm_request = google_warm,
};
