/* openai.c — the OpenAI Chat Completions adapter, also used for any OpenAI-compatible
 * server (a custom base_url) and, for bodies, responses and streams, by azure.c.
 * Mapping and choices: docs/providers.md. */
#include "providers/common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- request ------------------------------------------------------------------------ */

/* Fields llmux sets itself or that are llmux's own: never copied from `extra`. */
static bool reserved_key(const char *k)
{
    static const char *const reserved[] = {"model",          "messages",
                                           "temperature",    "top_p",
                                           "max_tokens",     "max_completion_tokens",
                                           "stop",           "tools",
                                           "tool_choice",    "stream",
                                           "stream_options", "provider",
                                           "fallbacks",      "retry",
                                           "timeout",        "first_token_timeout",
                                           "api_key",        "apiKey"};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strcmp(k, reserved[i]) == 0)
            return true;
    return false;
}

static bool add_item(cJSON *o, const char *k, cJSON *v)
{
    if (!v)
        return false;
    if (!cJSON_AddItemToObject(o, k, v)) {
        cJSON_Delete(v);
        return false;
    }
    return true;
}

cJSON *llmux__openai_body(const llmux__params *p, const llmux__request *req,
                          const llmux__provider_config *cfg, bool with_model,
                          bool use_max_completion, llmux__error *err)
{
    cJSON *body = cJSON_CreateObject();
    if (!body)
        goto oom;
    if (with_model && !cJSON_AddStringToObject(body, "model", p->model ? p->model : ""))
        goto oom;
    cJSON *msgs = cJSON_AddArrayToObject(body, "messages");
    if (!msgs)
        goto oom;
    for (size_t i = 0; i < p->n_messages; i++) {
        cJSON *m = llmux__message_to_json(&p->messages[i]);
        if (!m)
            goto oom;
        cJSON_AddItemToArray(msgs, m);
    }
    if ((p->set & LLMUX__F_TEMPERATURE) &&
        !cJSON_AddNumberToObject(body, "temperature", p->temperature))
        goto oom;
    if ((p->set & LLMUX__F_TOP_P) && !cJSON_AddNumberToObject(body, "top_p", p->top_p))
        goto oom;
    if ((p->set & LLMUX__F_MAX_TOKENS) &&
        !cJSON_AddNumberToObject(body, use_max_completion ? "max_completion_tokens" : "max_tokens",
                                 (double)p->max_tokens))
        goto oom;
    if ((p->set & LLMUX__F_STOP) && p->n_stop) {
        cJSON *stop = cJSON_AddArrayToObject(body, "stop");
        if (!stop)
            goto oom;
        for (size_t i = 0; i < p->n_stop; i++) {
            cJSON *s = cJSON_CreateString(p->stop[i]);
            if (!s)
                goto oom;
            cJSON_AddItemToArray(stop, s);
        }
    }
    if ((p->set & LLMUX__F_TOOLS) && p->n_tools) {
        cJSON *tools = cJSON_AddArrayToObject(body, "tools");
        if (!tools)
            goto oom;
        for (size_t i = 0; i < p->n_tools; i++) {
            cJSON *t = llmux__tool_to_json(&p->tools[i]);
            if (!t)
                goto oom;
            cJSON_AddItemToArray(tools, t);
        }
        /* tool_choice without tools is refused by OpenAI: only send it with tools. */
        if ((p->set & LLMUX__F_TOOL_CHOICE) &&
            !add_item(body, "tool_choice", llmux__tool_choice_to_json(&p->tool_choice)))
            goto oom;
    }
    if (req && req->stream) {
        if (!cJSON_AddTrueToObject(body, "stream"))
            goto oom;
        if (!(cfg && cfg->no_stream_options)) {
            cJSON *so = cJSON_AddObjectToObject(body, "stream_options");
            if (!so || !cJSON_AddTrueToObject(so, "include_usage"))
                goto oom;
        }
    }
    if (req && req->extra) {
        const cJSON *e;
        cJSON_ArrayForEach(e, req->extra)
        {
            if (!e->string || reserved_key(e->string) ||
                cJSON_GetObjectItemCaseSensitive(body, e->string))
                continue;
            if (!add_item(body, e->string, cJSON_Duplicate(e, true)))
                goto oom;
        }
    }
    return body;
oom:
    cJSON_Delete(body);
    llmux__error_set(err, LLMUX_ENOMEM, NULL);
    return NULL;
}

/* True when the base URL (or its absence) is OpenAI's own API. */
static bool is_openai_host(const char *base)
{
    if (!base || !*base)
        return true;
    const char *h = strstr(base, "://");
    h = h ? h + 3 : base;
    return strncasecmp(h, "api.openai.com", 14) == 0 &&
           (h[14] == '\0' || h[14] == '/' || h[14] == ':');
}

static llmux_code add_common_headers(llmux__http_request *out, const llmux__provider_config *cfg,
                                     llmux__error *err)
{
    if (llmux__has_key(cfg)) {
        llmux__buf auth = {0};
        llmux__buf_puts(&auth, "Bearer ");
        llmux__buf_puts(&auth, cfg->api_key);
        llmux_code rc = auth.oom ? llmux__error_set(err, LLMUX_ENOMEM, NULL)
                                 : llmux__http_add_header(out, "Authorization", auth.p, err);
        if (auth.p)
            explicit_bzero(auth.p, auth.len);
        llmux__buf_free(&auth);
        if (rc)
            return rc;
    }
    return LLMUX_OK;
}

static llmux_code openai_build(const llmux__params *p, const llmux__request *req,
                               const llmux__provider_config *cfg, llmux__http_request *out,
                               llmux__error *err)
{
    memset(out, 0, sizeof *out);
    const char *base = cfg ? cfg->base_url : NULL;
    bool official = is_openai_host(base);
    llmux__max_tokens_param mtp = cfg ? cfg->max_tokens_param : LLMUX__MAX_TOKENS_AUTO;
    bool use_mct =
        mtp == LLMUX__MAX_TOKENS_COMPLETION || (mtp == LLMUX__MAX_TOKENS_AUTO && official);

    llmux__buf url = {0};
    if (!llmux__url_base(&url, base, llmux__provider_default_base_url(LLMUX__PROVIDER_OPENAI),
                         err)) {
        llmux__buf_free(&url);
        return err->code;
    }
    llmux__buf_puts(&url, "/chat/completions");
    llmux_code rc = llmux__http_begin(out, "POST", &url, err);
    if (rc)
        return rc;
    cJSON *body = llmux__openai_body(p, req, cfg, true, use_mct, err);
    if (!body) {
        rc = err->code;
        goto fail;
    }
    rc = llmux__http_set_body(out, body, err);
    cJSON_Delete(body);
    if (rc || (rc = add_common_headers(out, cfg, err)) ||
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

static llmux_code openai_warm(const llmux__provider_config *cfg, llmux__http_request *out,
                              llmux__error *err)
{
    memset(out, 0, sizeof *out);
    llmux__buf url = {0};
    if (!llmux__url_base(&url, cfg ? cfg->base_url : NULL,
                         llmux__provider_default_base_url(LLMUX__PROVIDER_OPENAI), err)) {
        llmux__buf_free(&url);
        return err->code;
    }
    llmux__buf_puts(&url, "/models");
    llmux_code rc = llmux__http_begin(out, "GET", &url, err);
    if (rc || (rc = add_common_headers(out, cfg, err)))
        llmux__http_request_free(out);
    return rc;
}

/* ---- response ------------------------------------------------------------------------- */

static llmux__finish_reason map_finish(const char *s)
{
    if (!s)
        return LLMUX__FINISH_NONE;
    if (strcmp(s, "length") == 0)
        return LLMUX__FINISH_LENGTH;
    if (strcmp(s, "tool_calls") == 0 || strcmp(s, "function_call") == 0)
        return LLMUX__FINISH_TOOL_CALLS;
    if (strcmp(s, "content_filter") == 0)
        return LLMUX__FINISH_CONTENT_FILTER;
    return LLMUX__FINISH_STOP; /* "stop", and servers' own words ("eos", "end_turn") */
}

static void parse_usage(const cJSON *u, llmux__usage *out)
{
    if (!cJSON_IsObject(u))
        return;
    int64_t p, c, t;
    bool hp = llmux__jcount(u, "prompt_tokens", &p);
    bool hc = llmux__jcount(u, "completion_tokens", &c);
    bool ht = llmux__jcount(u, "total_tokens", &t);
    if (!hp && !hc && !ht)
        return;
    out->present = true;
    out->prompt_tokens = p;
    out->completion_tokens = c;
    out->total_tokens = ht ? t : p + c;
}

/* Text of a content value: a string, or an array of {type:"text", text} parts joined. */
static bool content_text(const cJSON *content, llmux__buf *b)
{
    if (cJSON_IsString(content)) {
        llmux__buf_puts(b, content->valuestring);
        return true;
    }
    if (!cJSON_IsArray(content))
        return false;
    bool any = false;
    const cJSON *part;
    cJSON_ArrayForEach(part, content)
    {
        const char *t = llmux__jstr(part, "text");
        if (t) {
            llmux__buf_puts(b, t);
            any = true;
        }
    }
    return any;
}

/* Azure says how long to wait only in words: "... Please retry after 20 seconds." */
static double wait_from_message(const char *msg)
{
    static const char marker[] = "retry after ";
    const char *p = strcasestr(msg, marker);
    if (!p)
        return -1.0;
    p += sizeof marker - 1;
    char *end;
    double v = strtod(p, &end);
    if (end == p || !isfinite(v) || strncasecmp(end, " second", 7) != 0 || v <= 0 || v > 60)
        return -1.0;
    return v;
}

/* An error object inside a 2xx body or a stream: classify it (status 0 = in-stream). */
static void embedded_error(llmux__upstream_error *e, const cJSON *root, int http_status)
{
    const cJSON *err = llmux__jget(root, "error");
    int hint = 0;
    double v;
    const cJSON *sc = llmux__jget(err, "status_code");
    if (!cJSON_IsNumber(sc))
        sc = llmux__jget(err, "status");
    if (!cJSON_IsNumber(sc))
        sc = llmux__jget(err, "code");
    if (cJSON_IsNumber(sc) && isfinite(v = sc->valuedouble) && v >= 100 && v < 600)
        hint = (int)v;
    const char *type = llmux__jstr(err, "type");
    const char *code = llmux__jstr(err, "code");
    const char *msg = cJSON_IsString(err) ? err->valuestring : llmux__jstr(err, "message");
    llmux__uerr_in_stream(e, hint, code && llmux__status_for_error_type(code) ? code : type, msg);
    llmux__openai_error_body(e, root);
    e->http_status = http_status;
}

llmux_code llmux__openai_parse_response(int status, const llmux__header *h, size_t n,
                                        const char *body, size_t len, double now,
                                        llmux__response **out, llmux__upstream_error *uerr)
{
    *out = NULL;
    llmux__upstream_error_clear(uerr);
    cJSON *root = llmux__json_parse(body, len);
    if (status < 200 || status > 299) {
        llmux__uerr_from_status(uerr, status, h, n, now);
        llmux__openai_error_body(uerr, root);
        if (status == 429 && uerr->retry_after_s < 0)
            uerr->retry_after_s = wait_from_message(uerr->message);
        llmux__uerr_should_retry(uerr, h, n);
        cJSON_Delete(root);
        return uerr->code;
    }
    llmux_code rc = LLMUX_OK;
    llmux__response *r = NULL;
    llmux__buf text = {0};
    if (!cJSON_IsObject(root)) {
        rc = llmux__uerr_malformed(uerr, status, "the body is not a JSON object");
        goto out;
    }
    const cJSON *choices = llmux__jarr(root, "choices");
    if (!choices && llmux__jget(root, "error")) {
        embedded_error(uerr, root, status);
        rc = uerr->code;
        goto out;
    }
    const cJSON *c0 = choices ? cJSON_GetArrayItem(choices, 0) : NULL;
    const cJSON *msg = llmux__jobj(c0, "message");
    if (!msg) {
        rc = llmux__uerr_malformed(uerr, status, "no choices[0].message");
        goto out;
    }
    if (!(r = llmux__response_new()))
        goto oom;
    const char *id = llmux__jstr(root, "id");
    const char *model = llmux__jstr(root, "model");
    if ((id && !(r->id = llmux__response_strdup(r, id, strlen(id)))) ||
        (model && !(r->model = llmux__response_strdup(r, model, strlen(model)))))
        goto oom;
    const cJSON *created = llmux__jget(root, "created");
    if (cJSON_IsNumber(created) && isfinite(created->valuedouble) && created->valuedouble > 0 &&
        created->valuedouble < 1e12)
        r->created = (int64_t)created->valuedouble;

    if (content_text(llmux__jget(msg, "content"), &text)) {
        if (text.oom || !llmux__response_set_text(r, text.p ? text.p : "", text.len))
            goto oom;
    }
    const cJSON *calls = llmux__jget(msg, "tool_calls");
    if (calls && !cJSON_IsNull(calls) && !cJSON_IsArray(calls)) {
        rc = llmux__uerr_malformed(uerr, status, "tool_calls is not an array");
        goto out;
    }
    const cJSON *tc;
    const cJSON *call_list = cJSON_IsArray(calls) ? calls : NULL;
    int index = 0;
    cJSON_ArrayForEach(tc, call_list)
    {
        const cJSON *fn = llmux__jobj(tc, "function");
        const char *name = llmux__jstr(fn, "name");
        if (!name) {
            rc = llmux__uerr_malformed(uerr, status, "a tool call has no function.name");
            goto out;
        }
        const cJSON *args = llmux__jget(fn, "arguments");
        char *printed = NULL;
        const char *a = "{}";
        if (cJSON_IsString(args))
            a = args->valuestring;
        else if (cJSON_IsObject(args) && !(a = printed = cJSON_PrintUnformatted(args)))
            goto oom;
        const char *tid = llmux__jstr(tc, "id");
        char synth[48];
        if (!tid || !*tid) {
            llmux__synth_call_id(synth, sizeof synth, r->id, name, index);
            tid = synth;
        }
        bool ok = llmux__response_add_tool_call(r, tid, name, a, NULL);
        cJSON_free(printed);
        if (!ok)
            goto oom;
        index++;
    }
    /* The legacy single function_call. */
    const cJSON *fc = llmux__jobj(msg, "function_call");
    const char *fc_name = llmux__jstr(fc, "name");
    if (fc_name && r->n_tool_calls == 0) {
        const char *a = llmux__jstr(fc, "arguments");
        char synth[48];
        llmux__synth_call_id(synth, sizeof synth, r->id, fc_name, 0);
        if (!llmux__response_add_tool_call(r, synth, fc_name, a ? a : "{}", NULL))
            goto oom;
    }
    r->finish_reason = map_finish(llmux__jstr(c0, "finish_reason"));
    if (r->finish_reason == LLMUX__FINISH_NONE)
        r->finish_reason = r->n_tool_calls ? LLMUX__FINISH_TOOL_CALLS : LLMUX__FINISH_STOP;
    parse_usage(llmux__jget(root, "usage"), &r->usage);
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

/* ---- stream ------------------------------------------------------------------------------ */

static bool is_done_marker(const llmux__sse_event *ev)
{
    const char *s = ev->data;
    size_t n = ev->data_len;
    while (n && (s[0] == ' ' || s[0] == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    return n == 6 && memcmp(s, "[DONE]", 6) == 0;
}

static int stream_error(llmux__stream_decoder *d, const cJSON *root, llmux__delta_sink sink,
                        void *ud)
{
    embedded_error(&d->err, root, 0);
    return llmux__dec_error(d, sink, ud);
}

static int end_ok(llmux__stream_decoder *d, llmux__delta_sink sink, void *ud)
{
    int r =
        llmux__dec_finish(d, d->n_tools ? LLMUX__FINISH_TOOL_CALLS : LLMUX__FINISH_STOP, sink, ud);
    if (!r)
        r = llmux__dec_usage(d, sink, ud);
    if (!r)
        r = llmux__dec_done(d, sink, ud);
    return r;
}

static int tool_deltas(llmux__stream_decoder *d, const cJSON *calls, llmux__delta_sink sink,
                       void *ud)
{
    const cJSON *tc;
    int pos = 0;
    cJSON_ArrayForEach(tc, calls)
    {
        int r = 0;
        if (!cJSON_IsObject(tc))
            return llmux__dec_fail(d, "malformed stream chunk: a tool call is not an object", sink,
                                   ud);
        const cJSON *ix = llmux__jget(tc, "index");
        int64_t key = pos;
        if (cJSON_IsNumber(ix)) {
            double v = ix->valuedouble;
            if (!isfinite(v) || v < 0 || v > 1e6)
                return llmux__dec_fail(d, "malformed stream chunk: bad tool call index", sink, ud);
            key = (int64_t)v;
        }
        const cJSON *fn = llmux__jobj(tc, "function");
        llmux__stream_tool *t = llmux__dec_tool(d, key);
        if (!t) {
            r = llmux__dec_tool_start(d, key, llmux__jstr(tc, "id"), llmux__jstr(fn, "name"), NULL,
                                      sink, ud);
            if (r || d->ended)
                return r;
            t = llmux__dec_tool(d, key);
        }
        const char *args = llmux__jstr(fn, "arguments");
        if (args && (r = llmux__dec_tool_args(d, t, args, strlen(args), sink, ud)))
            return r;
        pos++;
    }
    return 0;
}

int llmux__openai_stream_event(llmux__stream_decoder *d, const llmux__sse_event *ev,
                               llmux__delta_sink sink, void *ud)
{
    if (d->ended)
        return 0;
    if (is_done_marker(ev))
        return end_ok(d, sink, ud);
    cJSON *root = llmux__json_parse(ev->data, ev->data_len);
    int r = 0;
    if (!cJSON_IsObject(root)) {
        r = llmux__dec_fail(d, "malformed stream chunk: not a JSON object", sink, ud);
        goto out;
    }
    if (strcmp(ev->name, "error") == 0 || llmux__jget(root, "error")) {
        r = stream_error(d, root, sink, ud);
        goto out;
    }
    if (!llmux__dec_set_id_model(d, llmux__jstr(root, "id"), llmux__jstr(root, "model")))
        goto oom;
    const cJSON *choices = llmux__jarr(root, "choices");
    const cJSON *ch;
    cJSON_ArrayForEach(ch, choices)
    {
        const cJSON *ix = llmux__jget(ch, "index");
        if (cJSON_IsNumber(ix) && ix->valuedouble != 0)
            continue; /* n > 1: only the first choice is relayed */
        const cJSON *delta = llmux__jobj(ch, "delta");
        if (llmux__jstr(delta, "role") && (r = llmux__dec_preamble(d, sink, ud)))
            goto out;
        const char *content = llmux__jstr(delta, "content");
        if (content && (r = llmux__dec_text(d, content, strlen(content), sink, ud)))
            goto out;
        const cJSON *calls = llmux__jarr(delta, "tool_calls");
        if (calls && (r = tool_deltas(d, calls, sink, ud)))
            goto out;
        const char *fr = llmux__jstr(ch, "finish_reason");
        if (fr && !d->ended && (r = llmux__dec_finish(d, map_finish(fr), sink, ud)))
            goto out;
        break;
    }
    /* Usage rides on its own chunk (choices: []) or on the finish chunk; some servers
     * repeat it cumulatively. Keep the last; it is reported once, at the end. */
    parse_usage(llmux__jget(root, "usage"), &d->usage);
    goto out;
oom:
    llmux__upstream_error_clear(&d->err);
    d->err.code = LLMUX_ENOMEM;
    snprintf(d->err.message, sizeof d->err.message, "out of memory");
    r = llmux__dec_error(d, sink, ud);
out:
    cJSON_Delete(root);
    return r;
}

int llmux__openai_stream_end(llmux__stream_decoder *d, llmux__delta_sink sink, void *ud)
{
    if (d->ended)
        return 0;
    /* No [DONE]: a stream that at least delivered its finish reason is complete. */
    if (d->finish_sent)
        return end_ok(d, sink, ud);
    return llmux__dec_fail(d, "upstream stream ended before [DONE]", sink, ud);
}

const llmux__adapter llmux__openai_adapter = {
    .provider = LLMUX__PROVIDER_OPENAI,
    .name = "openai",
    .build_request = openai_build,
    .parse_response = llmux__openai_parse_response,
    .stream_event = llmux__openai_stream_event,
    .stream_end = llmux__openai_stream_end,
    .warm_request = openai_warm,
};
