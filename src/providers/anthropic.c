/* anthropic.c — the Anthropic Messages adapter (POST {base}/v1/messages).
 * Mapping and choices: docs/providers.md. */
#include "providers/common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- request ------------------------------------------------------------------------- */

typedef struct builder {
    cJSON *messages; /* the "messages" array */
    cJSON *last;     /* content array of the last turn */
    const char *last_role;
    llmux__error *err;
} builder;

/* The content array to append blocks of a `role` turn to: the last turn's when it has the
 * same role (consecutive turns are merged), else a new turn's. */
static cJSON *turn(builder *b, const char *role)
{
    if (b->last && strcmp(b->last_role, role) == 0)
        return b->last;
    cJSON *t = cJSON_CreateObject();
    cJSON *content = cJSON_CreateArray();
    if (!t || !content || !cJSON_AddStringToObject(t, "role", role)) {
        cJSON_Delete(t);
        cJSON_Delete(content);
        return NULL;
    }
    cJSON_AddItemToObjectCS(t, "content", content);
    cJSON_AddItemToArray(b->messages, t);
    b->last = content;
    b->last_role = role;
    return content;
}

static cJSON *text_block(const char *text)
{
    cJSON *o = cJSON_CreateObject();
    if (o && (!cJSON_AddStringToObject(o, "type", "text") ||
              !cJSON_AddStringToObject(o, "text", text))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* {type:"image", source:{type:"base64", media_type, data} | {type:"url", url}}. */
static cJSON *image_block(const char *url)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *src = cJSON_CreateObject();
    if (!o || !src)
        goto fail;
    const char *mime, *data;
    size_t mime_len;
    if (llmux__data_url(url, &mime, &mime_len, &data)) {
        char media[128];
        if (mime_len >= sizeof media)
            mime_len = sizeof media - 1;
        memcpy(media, mime, mime_len);
        media[mime_len] = '\0';
        if (!cJSON_AddStringToObject(src, "type", "base64") ||
            !cJSON_AddStringToObject(src, "media_type", media) ||
            !cJSON_AddStringToObject(src, "data", data))
            goto fail;
    } else if (!cJSON_AddStringToObject(src, "type", "url") ||
               !cJSON_AddStringToObject(src, "url", url)) {
        goto fail;
    }
    if (!cJSON_AddStringToObject(o, "type", "image"))
        goto fail;
    cJSON_AddItemToObjectCS(o, "source", src);
    return o;
fail:
    cJSON_Delete(src);
    cJSON_Delete(o);
    return NULL;
}

/* Appends the text and image blocks of m's content to arr (empty text is skipped: the
 * API refuses empty text blocks). */
static llmux_code content_blocks(builder *b, size_t mi, const llmux__message *m, cJSON *arr)
{
    if (m->content) {
        if (m->content[0]) {
            cJSON *t = text_block(m->content);
            if (!t)
                return llmux__error_set(b->err, LLMUX_ENOMEM, NULL);
            cJSON_AddItemToArray(arr, t);
        }
        return LLMUX_OK;
    }
    for (size_t i = 0; i < m->n_parts; i++) {
        const llmux__part *p = &m->parts[i];
        cJSON *blk = NULL;
        if (p->kind == LLMUX__PART_TEXT) {
            if (!p->text || !p->text[0])
                continue;
            blk = text_block(p->text);
        } else if (p->kind == LLMUX__PART_IMAGE_URL && p->url) {
            blk = image_block(p->url);
        } else {
            return llmux__error_set(b->err, LLMUX_EINVALID_REQUEST,
                                    "messages[%zu].content[%zu]: this part type cannot be sent "
                                    "to anthropic (text and image_url can)",
                                    mi, i);
        }
        if (!blk)
            return llmux__error_set(b->err, LLMUX_ENOMEM, NULL);
        cJSON_AddItemToArray(arr, blk);
    }
    return LLMUX_OK;
}

static llmux_code add_message(builder *b, size_t mi, const llmux__message *m)
{
    cJSON *blocks = cJSON_CreateArray();
    if (!blocks)
        return llmux__error_set(b->err, LLMUX_ENOMEM, NULL);
    llmux_code rc = LLMUX_OK;
    const char *role = "user";
    if (m->role == LLMUX__ROLE_TOOL) {
        if (!m->tool_call_id || !m->tool_call_id[0]) {
            rc = llmux__error_set(b->err, LLMUX_EINVALID_REQUEST,
                                  "messages[%zu]: a tool message needs tool_call_id", mi);
            goto out;
        }
        cJSON *res = cJSON_CreateObject();
        if (!res)
            goto oom;
        cJSON_AddItemToArray(blocks, res);
        if (!cJSON_AddStringToObject(res, "type", "tool_result") ||
            !cJSON_AddStringToObject(res, "tool_use_id", m->tool_call_id))
            goto oom;
        if (m->content || m->n_parts == 0) {
            if (!cJSON_AddStringToObject(res, "content", m->content ? m->content : ""))
                goto oom;
        } else {
            cJSON *inner = cJSON_AddArrayToObject(res, "content");
            if (!inner)
                goto oom;
            if ((rc = content_blocks(b, mi, m, inner)))
                goto out;
        }
    } else if (m->role == LLMUX__ROLE_ASSISTANT) {
        role = "assistant";
        if ((rc = content_blocks(b, mi, m, blocks)))
            goto out;
        for (size_t i = 0; i < m->n_tool_calls; i++) {
            const llmux__tool_call *tc = &m->tool_calls[i];
            cJSON *input = llmux__arguments_object(tc->arguments);
            if (!input) {
                rc = llmux__error_set(b->err, LLMUX_EINVALID_REQUEST,
                                      "messages[%zu].tool_calls[%zu].function.arguments is not a "
                                      "JSON object",
                                      mi, i);
                goto out;
            }
            cJSON *use = cJSON_CreateObject();
            if (!use) {
                cJSON_Delete(input);
                goto oom;
            }
            cJSON_AddItemToArray(blocks, use);
            if (!cJSON_AddStringToObject(use, "type", "tool_use") ||
                !cJSON_AddStringToObject(use, "id", tc->id ? tc->id : "") ||
                !cJSON_AddStringToObject(use, "name", tc->name ? tc->name : "")) {
                cJSON_Delete(input);
                goto oom;
            }
            cJSON_AddItemToObjectCS(use, "input", input);
        }
    } else {
        if ((rc = content_blocks(b, mi, m, blocks)))
            goto out;
    }
    if (cJSON_GetArraySize(blocks) == 0)
        goto out; /* nothing to say: no turn */
    cJSON *dst = turn(b, role);
    if (!dst)
        goto oom;
    while (blocks->child) {
        cJSON *it = cJSON_DetachItemViaPointer(blocks, blocks->child);
        cJSON_AddItemToArray(dst, it);
    }
    goto out;
oom:
    rc = llmux__error_set(b->err, LLMUX_ENOMEM, NULL);
out:
    cJSON_Delete(blocks);
    return rc;
}

/* `parallel_tool_calls: false` among the caller's extra fields. */
static bool parallel_disabled(const llmux__request *req)
{
    const cJSON *v = req ? llmux__jget(req->extra, "parallel_tool_calls") : NULL;
    return cJSON_IsFalse(v);
}

static cJSON *anthropic_body(const llmux__params *p, const llmux__request *req,
                             const llmux__provider_config *cfg, llmux__error *err)
{
    llmux__buf sys = {0};
    size_t n_sys = 0;
    cJSON *body = cJSON_CreateObject();
    builder b = {.err = err};
    if (!body || !cJSON_AddStringToObject(body, "model", p->model ? p->model : ""))
        goto oom;
    long max_tokens = (p->set & LLMUX__F_MAX_TOKENS)         ? p->max_tokens
                      : (cfg && cfg->default_max_tokens > 0) ? cfg->default_max_tokens
                                                             : LLMUX__ANTHROPIC_DEFAULT_MAX_TOKENS;
    if (!cJSON_AddNumberToObject(body, "max_tokens", (double)max_tokens))
        goto oom;

    /* System and developer messages are lifted out, in order, joined by a blank line. */
    for (size_t i = 0; i < p->n_messages; i++) {
        const llmux__message *m = &p->messages[i];
        if (m->role != LLMUX__ROLE_SYSTEM && m->role != LLMUX__ROLE_DEVELOPER)
            continue;
        if (n_sys++)
            llmux__buf_puts(&sys, "\n\n");
        llmux__message_text(m, &sys);
    }
    if (sys.oom)
        goto oom;
    if (n_sys && !cJSON_AddStringToObject(body, "system", sys.p ? sys.p : ""))
        goto oom;

    if (!(b.messages = cJSON_AddArrayToObject(body, "messages")))
        goto oom;
    for (size_t i = 0; i < p->n_messages; i++) {
        const llmux__message *m = &p->messages[i];
        if (m->role == LLMUX__ROLE_SYSTEM || m->role == LLMUX__ROLE_DEVELOPER)
            continue;
        if (add_message(&b, i, m))
            goto fail;
    }
    if (p->set & LLMUX__F_TEMPERATURE) {
        double t = p->temperature < 0 ? 0 : p->temperature > 1 ? 1 : p->temperature;
        if (!cJSON_AddNumberToObject(body, "temperature", t))
            goto oom;
    }
    if ((p->set & LLMUX__F_TOP_P) && !cJSON_AddNumberToObject(body, "top_p", p->top_p))
        goto oom;
    if ((p->set & LLMUX__F_STOP) && p->n_stop) {
        cJSON *ss = cJSON_AddArrayToObject(body, "stop_sequences");
        if (!ss)
            goto oom;
        for (size_t i = 0; i < p->n_stop; i++) {
            cJSON *s = cJSON_CreateString(p->stop[i]);
            if (!s)
                goto oom;
            cJSON_AddItemToArray(ss, s);
        }
    }
    if ((p->set & LLMUX__F_TOOLS) && p->n_tools) {
        cJSON *tools = cJSON_AddArrayToObject(body, "tools");
        if (!tools)
            goto oom;
        for (size_t i = 0; i < p->n_tools; i++) {
            const llmux__tool *t = &p->tools[i];
            cJSON *o = cJSON_CreateObject();
            if (!o)
                goto oom;
            cJSON_AddItemToArray(tools, o);
            cJSON *schema = t->parameters ? cJSON_Duplicate(t->parameters, true)
                                          : cJSON_Parse("{\"type\":\"object\",\"properties\":{}}");
            if (!schema || !cJSON_AddStringToObject(o, "name", t->name) ||
                (t->description && !cJSON_AddStringToObject(o, "description", t->description))) {
                cJSON_Delete(schema);
                goto oom;
            }
            cJSON_AddItemToObjectCS(o, "input_schema", schema);
        }
        bool no_parallel = parallel_disabled(req);
        if ((p->set & LLMUX__F_TOOL_CHOICE) || no_parallel) {
            cJSON *tc = cJSON_AddObjectToObject(body, "tool_choice");
            const char *type = "auto";
            if (p->set & LLMUX__F_TOOL_CHOICE) {
                switch (p->tool_choice.kind) {
                case LLMUX__TOOL_CHOICE_NONE:
                    type = "none";
                    break;
                case LLMUX__TOOL_CHOICE_REQUIRED:
                    type = "any";
                    break;
                case LLMUX__TOOL_CHOICE_NAMED:
                    type = "tool";
                    break;
                default:
                    break;
                }
            }
            if (!tc || !cJSON_AddStringToObject(tc, "type", type))
                goto oom;
            if (strcmp(type, "tool") == 0 &&
                !cJSON_AddStringToObject(tc, "name",
                                         p->tool_choice.name ? p->tool_choice.name : ""))
                goto oom;
            if (no_parallel && strcmp(type, "none") != 0 &&
                !cJSON_AddTrueToObject(tc, "disable_parallel_tool_use"))
                goto oom;
        }
    }
    if (req && req->stream && !cJSON_AddTrueToObject(body, "stream"))
        goto oom;
    const char *user = req ? llmux__jstr(req->extra, "user") : NULL;
    if (user) {
        cJSON *md = cJSON_AddObjectToObject(body, "metadata");
        if (!md || !cJSON_AddStringToObject(md, "user_id", user))
            goto oom;
    }
    llmux__buf_free(&sys);
    return body;
oom:
    llmux__error_set(err, LLMUX_ENOMEM, NULL);
fail:
    llmux__buf_free(&sys);
    cJSON_Delete(body);
    return NULL;
}

static llmux_code add_auth(llmux__http_request *out, const llmux__provider_config *cfg,
                           llmux__error *err)
{
    llmux_code rc = LLMUX_OK;
    if (llmux__has_key(cfg) && (rc = llmux__http_add_header(out, "x-api-key", cfg->api_key, err)))
        return rc;
    const char *ver = cfg && cfg->anthropic_version && *cfg->anthropic_version
                          ? cfg->anthropic_version
                          : LLMUX__ANTHROPIC_DEFAULT_VERSION;
    return llmux__http_add_header(out, "anthropic-version", ver, err);
}

static llmux_code anthropic_build(const llmux__params *p, const llmux__request *req,
                                  const llmux__provider_config *cfg, llmux__http_request *out,
                                  llmux__error *err)
{
    memset(out, 0, sizeof *out);
    llmux__buf url = {0};
    if (!llmux__url_base(&url, cfg ? cfg->base_url : NULL,
                         llmux__provider_default_base_url(LLMUX__PROVIDER_ANTHROPIC), err)) {
        llmux__buf_free(&url);
        return err->code;
    }
    llmux__buf_puts(&url, "/v1/messages");
    llmux_code rc = llmux__http_begin(out, "POST", &url, err);
    if (rc)
        return rc;
    cJSON *body = anthropic_body(p, req, cfg, err);
    if (!body) {
        rc = err->code;
        goto fail;
    }
    rc = llmux__http_set_body(out, body, err);
    cJSON_Delete(body);
    if (rc || (rc = add_auth(out, cfg, err)) ||
        (rc = llmux__http_add_header(out, "content-type", "application/json", err)))
        goto fail;
    if (req && req->stream &&
        (rc = llmux__http_add_header(out, "accept", "text/event-stream", err)))
        goto fail;
    return LLMUX_OK;
fail:
    llmux__http_request_free(out);
    return rc;
}

static llmux_code anthropic_warm(const llmux__provider_config *cfg, llmux__http_request *out,
                                 llmux__error *err)
{
    memset(out, 0, sizeof *out);
    llmux__buf url = {0};
    if (!llmux__url_base(&url, cfg ? cfg->base_url : NULL,
                         llmux__provider_default_base_url(LLMUX__PROVIDER_ANTHROPIC), err)) {
        llmux__buf_free(&url);
        return err->code;
    }
    llmux__buf_puts(&url, "/v1/models?limit=1");
    llmux_code rc = llmux__http_begin(out, "GET", &url, err);
    if (rc || (rc = add_auth(out, cfg, err)))
        llmux__http_request_free(out);
    return rc;
}

/* ---- response ------------------------------------------------------------------------------- */

static llmux__finish_reason map_stop(const char *s)
{
    if (!s)
        return LLMUX__FINISH_NONE;
    if (strcmp(s, "max_tokens") == 0 || strcmp(s, "model_context_window_exceeded") == 0)
        return LLMUX__FINISH_LENGTH;
    if (strcmp(s, "tool_use") == 0)
        return LLMUX__FINISH_TOOL_CALLS;
    if (strcmp(s, "refusal") == 0)
        return LLMUX__FINISH_CONTENT_FILTER;
    return LLMUX__FINISH_STOP; /* end_turn, stop_sequence, pause_turn, newer values */
}

/* prompt = input + cache creation + cache read (input_tokens excludes cached tokens). */
static bool prompt_tokens(const cJSON *u, int64_t *out)
{
    int64_t in, cc, cr;
    bool any = llmux__jcount(u, "input_tokens", &in);
    any |= llmux__jcount(u, "cache_creation_input_tokens", &cc);
    any |= llmux__jcount(u, "cache_read_input_tokens", &cr);
    *out = in + cc + cr;
    return any;
}

/* Fills e from an Anthropic error object {type, message, details?}. */
static void error_object(llmux__upstream_error *e, const cJSON *err)
{
    const char *type = llmux__jstr(err, "type");
    const char *msg = cJSON_IsString(err) ? err->valuestring : llmux__jstr(err, "message");
    if (msg)
        llmux__uerr_set_message(e, msg);
    if (type)
        llmux__uerr_copy_id(e->type, sizeof e->type, type);
    if (type && strcmp(type, "overloaded_error") == 0) {
        e->code = LLMUX_EUPSTREAM; /* transient, whatever the status */
        e->retryable = true;
    }
    const char *ec = llmux__jstr(llmux__jobj(err, "details"), "error_code");
    if (ec && strcmp(ec, "enforced_spend_limit_reached") == 0) {
        e->code = LLMUX_ERATE_LIMITED; /* a spend cap: retrying will not help */
        e->retryable = false;
        llmux__uerr_copy_id(e->type, sizeof e->type, ec);
    }
}

static llmux_code anthropic_parse(int status, const llmux__header *h, size_t n, const char *body,
                                  size_t len, double now, llmux__response **out,
                                  llmux__upstream_error *uerr)
{
    *out = NULL;
    llmux__upstream_error_clear(uerr);
    cJSON *root = llmux__json_parse(body, len);
    llmux_code rc = LLMUX_OK;
    llmux__response *r = NULL;
    llmux__buf text = {0};
    if (status < 200 || status > 299) {
        llmux__uerr_from_status(uerr, status, h, n, now);
        error_object(uerr, llmux__jget(root, "error"));
        llmux__uerr_should_retry(uerr, h, n);
        rc = uerr->code;
        goto out;
    }
    if (!cJSON_IsObject(root)) {
        rc = llmux__uerr_malformed(uerr, status, "the body is not a JSON object");
        goto out;
    }
    const char *type = llmux__jstr(root, "type");
    if (type && strcmp(type, "error") == 0) {
        const cJSON *eo = llmux__jget(root, "error");
        llmux__uerr_in_stream(uerr, 0, llmux__jstr(eo, "type"), llmux__jstr(eo, "message"));
        error_object(uerr, eo);
        uerr->http_status = status;
        rc = uerr->code;
        goto out;
    }
    const cJSON *content = llmux__jarr(root, "content");
    if (!content) {
        rc = llmux__uerr_malformed(uerr, status, "no content array");
        goto out;
    }
    if (!(r = llmux__response_new()))
        goto oom;
    const char *id = llmux__jstr(root, "id");
    const char *model = llmux__jstr(root, "model");
    if ((id && !(r->id = llmux__response_strdup(r, id, strlen(id)))) ||
        (model && !(r->model = llmux__response_strdup(r, model, strlen(model)))))
        goto oom;
    bool has_text = false;
    const cJSON *blk;
    cJSON_ArrayForEach(blk, content)
    {
        const char *bt = llmux__jstr(blk, "type");
        if (!bt)
            continue;
        if (strcmp(bt, "text") == 0) {
            const char *t = llmux__jstr(blk, "text");
            if (t) {
                llmux__buf_puts(&text, t);
                has_text = true;
            }
        } else if (strcmp(bt, "tool_use") == 0) {
            const char *tid = llmux__jstr(blk, "id");
            const char *name = llmux__jstr(blk, "name");
            if (!tid || !name) {
                rc = llmux__uerr_malformed(uerr, status, "a tool_use block has no id or name");
                goto out;
            }
            const cJSON *input = llmux__jget(blk, "input");
            char *args = cJSON_IsObject(input) ? cJSON_PrintUnformatted(input) : NULL;
            if (cJSON_IsObject(input) && !args)
                goto oom;
            bool ok = llmux__response_add_tool_call(r, tid, name, args ? args : "{}", NULL);
            cJSON_free(args);
            if (!ok)
                goto oom;
        }
        /* thinking, redacted_thinking, server tool blocks: not part of the answer text */
    }
    if (text.oom || (has_text && !llmux__response_set_text(r, text.p ? text.p : "", text.len)))
        goto oom;
    r->finish_reason = map_stop(llmux__jstr(root, "stop_reason"));
    if (r->finish_reason == LLMUX__FINISH_NONE)
        r->finish_reason = r->n_tool_calls ? LLMUX__FINISH_TOOL_CALLS : LLMUX__FINISH_STOP;
    const cJSON *u = llmux__jobj(root, "usage");
    int64_t pt, ct;
    bool hp = prompt_tokens(u, &pt);
    bool hc = llmux__jcount(u, "output_tokens", &ct);
    if (hp || hc) {
        r->usage.present = true;
        r->usage.prompt_tokens = pt;
        r->usage.completion_tokens = ct;
        r->usage.total_tokens = pt + ct;
    }
    *out = r;
    r = NULL;
    goto out;
oom:
    llmux__upstream_error_clear(uerr);
    uerr->code = rc = LLMUX_ENOMEM;
    snprintf(uerr->message, sizeof uerr->message, "out of memory");
out:
    llmux__buf_free(&text);
    llmux__response_free(r);
    cJSON_Delete(root);
    return rc;
}

/* ---- stream -----------------------------------------------------------------------------------
 */

static bool block_index(const cJSON *root, int64_t *out)
{
    const cJSON *ix = llmux__jget(root, "index");
    if (!cJSON_IsNumber(ix) || !isfinite(ix->valuedouble) || ix->valuedouble < 0 ||
        ix->valuedouble > 1e6)
        return false;
    *out = (int64_t)ix->valuedouble;
    return true;
}

static void update_usage(llmux__stream_decoder *d, const cJSON *u)
{
    int64_t counts[2] = {0, 0}; /* prompt, output */
    bool hp = prompt_tokens(u, &counts[0]);
    bool hc = llmux__jcount(u, "output_tokens", &counts[1]);
    if (!hp && !hc)
        return;
    if (hp)
        d->input_tokens = counts[0];
    llmux__usage *us = &d->usage;
    if (hc)
        us->completion_tokens = counts[1]; /* cumulative: the last value wins */
    us->present = true;
    us->prompt_tokens = d->input_tokens;
    us->total_tokens = us->prompt_tokens + us->completion_tokens;
}

static int anthropic_event(llmux__stream_decoder *d, const llmux__sse_event *ev,
                           llmux__delta_sink sink, void *ud)
{
    if (d->ended)
        return 0;
    cJSON *root = llmux__json_parse(ev->data, ev->data_len);
    int r = 0;
    if (!cJSON_IsObject(root)) {
        r = llmux__dec_fail(d, "malformed stream event: not a JSON object", sink, ud);
        goto out;
    }
    const char *type = llmux__jstr(root, "type");
    if (!type)
        type = ev->name;
    int64_t ix;
    if (strcmp(type, "message_start") == 0) {
        const cJSON *msg = llmux__jobj(root, "message");
        if (!llmux__dec_set_id_model(d, llmux__jstr(msg, "id"), llmux__jstr(msg, "model"))) {
            r = llmux__dec_fail(d, "out of memory", sink, ud);
            goto out;
        }
        update_usage(d, llmux__jobj(msg, "usage"));
        r = llmux__dec_preamble(d, sink, ud);
    } else if (strcmp(type, "content_block_start") == 0) {
        const cJSON *cb = llmux__jobj(root, "content_block");
        const char *bt = llmux__jstr(cb, "type");
        if (!bt || !block_index(root, &ix))
            goto out;
        if (strcmp(bt, "tool_use") == 0) {
            if (llmux__dec_tool(d, ix)) {
                r = llmux__dec_fail(d, "malformed stream: a content block index repeats", sink, ud);
                goto out;
            }
            r = llmux__dec_tool_start(d, ix, llmux__jstr(cb, "id"), llmux__jstr(cb, "name"), NULL,
                                      sink, ud);
        } else if (strcmp(bt, "text") == 0) {
            const char *t = llmux__jstr(cb, "text");
            if (t)
                r = llmux__dec_text(d, t, strlen(t), sink, ud);
        }
    } else if (strcmp(type, "content_block_delta") == 0) {
        const cJSON *delta = llmux__jobj(root, "delta");
        const char *dt = llmux__jstr(delta, "type");
        if (!dt || !block_index(root, &ix))
            goto out;
        if (strcmp(dt, "text_delta") == 0) {
            const char *t = llmux__jstr(delta, "text");
            if (t)
                r = llmux__dec_text(d, t, strlen(t), sink, ud);
        } else if (strcmp(dt, "input_json_delta") == 0) {
            const char *pj = llmux__jstr(delta, "partial_json");
            llmux__stream_tool *t = llmux__dec_tool(d, ix);
            if (pj && t)
                r = llmux__dec_tool_args(d, t, pj, strlen(pj), sink, ud);
        }
        /* thinking_delta, signature_delta, citations: not answer text */
    } else if (strcmp(type, "content_block_stop") == 0) {
        llmux__stream_tool *t = block_index(root, &ix) ? llmux__dec_tool(d, ix) : NULL;
        if (t && t->args_len == 0)
            r = llmux__dec_tool_args(d, t, "{}", 2, sink, ud); /* a tool without arguments */
    } else if (strcmp(type, "message_delta") == 0) {
        update_usage(d, llmux__jobj(root, "usage"));
        const char *sr = llmux__jstr(llmux__jobj(root, "delta"), "stop_reason");
        if (sr)
            r = llmux__dec_finish(d, map_stop(sr), sink, ud);
    } else if (strcmp(type, "message_stop") == 0) {
        r = llmux__dec_finish(d, d->n_tools ? LLMUX__FINISH_TOOL_CALLS : LLMUX__FINISH_STOP, sink,
                              ud);
        if (!r)
            r = llmux__dec_usage(d, sink, ud);
        if (!r)
            r = llmux__dec_done(d, sink, ud);
    } else if (strcmp(type, "error") == 0) {
        const cJSON *eo = llmux__jget(root, "error");
        llmux__uerr_in_stream(&d->err, 0, llmux__jstr(eo, "type"), llmux__jstr(eo, "message"));
        error_object(&d->err, eo);
        r = llmux__dec_error(d, sink, ud);
    }
    /* ping and unknown event types: nothing */
out:
    cJSON_Delete(root);
    return r;
}

static int anthropic_end(llmux__stream_decoder *d, llmux__delta_sink sink, void *ud)
{
    if (d->ended)
        return 0;
    if (d->finish_sent) { /* message_delta came, message_stop was lost: complete */
        int r = llmux__dec_usage(d, sink, ud);
        return r ? r : llmux__dec_done(d, sink, ud);
    }
    return llmux__dec_fail(d, "upstream stream ended before message_stop", sink, ud);
}

const llmux__adapter llmux__anthropic_adapter = {
    .provider = LLMUX__PROVIDER_ANTHROPIC,
    .name = "anthropic",
    .build_request = anthropic_build,
    .parse_response = anthropic_parse,
    .stream_event = anthropic_event,
    .stream_end = anthropic_end,
    .warm_request = anthropic_warm,
};
