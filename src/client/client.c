/*
 * client.c — the public client API (include/llmux.h, "Client"): clients, sessions,
 * configure_provider, completions, streams and send_and_wait. Everything that needs the
 * network or the engine is handed to the backend (embedded.c or proxy.c); this file
 * checks arguments, copies requests and waits.
 */
#include "client/client.h"
#include "core/secret.h"
#include "engine/engine.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* ---- clients ---------------------------------------------------------------------------- */

llmux_code llmux_client_new(const llmux_client_options *opts, llmux_client **out, llmux_error *err)
{
    *out = NULL;
    llmux_client_options none = {0};
    if (!opts)
        opts = &none;
    llmux_client *c = calloc(1, sizeof *c);
    if (!c)
        return llmux__client_error(err, LLMUX_ENOMEM, "out of memory");
    llmux_code rc;
    if (opts->proxy_url && *opts->proxy_url) {
        rc = llmux__proxy_new(c, opts, &c->proxy, err);
    } else {
        c->embedded = true;
        rc = llmux__embedded_new(c, opts, &c->emb, err);
    }
    if (rc != LLMUX_OK) {
        free(c);
        return rc;
    }
    llmux__client_error(err, LLMUX_OK, "%s", "");
    *out = c;
    return LLMUX_OK;
}

bool llmux_client_is_embedded(const llmux_client *client)
{
    return client->embedded;
}

void llmux_client_free(llmux_client *client)
{
    if (!client)
        return;
    if (client->embedded)
        llmux__embedded_free(client->emb);
    else
        llmux__proxy_free(client->proxy);
    free(client);
}

bool llmux__client_on_loop(const llmux_client *client)
{
    return client->loop_started && pthread_equal(pthread_self(), client->loop_thread);
}

void llmux__client_backend_cancel(llmux_client *client, llmux__op *op)
{
    if (client->embedded)
        llmux__embedded_cancel(client->emb, op);
    else
        llmux__proxy_cancel(client->proxy, op);
}

void llmux__client_backend_resume(llmux_client *client, llmux__op *op)
{
    if (client->embedded)
        llmux__embedded_resume(client->emb, op);
    else
        llmux__proxy_resume(client->proxy, op);
}

llmux__client_stats llmux__client_stats_get(const llmux_client *client)
{
    llmux__client_stats none = {0, 0};
    return client->embedded ? none : llmux__proxy_stats(client->proxy);
}

llmux__provider llmux__chain_provider(const llmux__request *req, size_t i)
{
    if (i == 0 || !(req->fallbacks[i - 1].set & LLMUX__F_PROVIDER))
        return req->primary.provider;
    return req->fallbacks[i - 1].provider;
}

/* ---- sessions --------------------------------------------------------------------------- */

static void fresh_id(char *buf, size_t n)
{
    unsigned char r[12];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        double t = llmux__now();
        uint64_t x = (uint64_t)(t * 1e6) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)buf;
        for (size_t i = 0; i < sizeof r; i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            r[i] = (unsigned char)(x >> 56);
        }
    }
    static const char hex[] = "0123456789abcdef";
    size_t o = (size_t)snprintf(buf, n, "s-");
    for (size_t i = 0; i < sizeof r && o + 2 < n; i++) {
        buf[o++] = hex[r[i] >> 4];
        buf[o++] = hex[r[i] & 15];
    }
    buf[o] = '\0';
}

llmux_code llmux_session_new(llmux_client *client, const char *id, llmux_session **out)
{
    *out = NULL;
    if (id && !llmux__session_id_valid(id))
        return LLMUX_EINVALID_REQUEST;
    llmux_session *s = calloc(1, sizeof *s);
    if (!s)
        return LLMUX_ENOMEM;
    s->client = client;
    if (id)
        snprintf(s->id, sizeof s->id, "%s", id);
    else
        fresh_id(s->id, sizeof s->id);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->conv_mu, NULL);
    *out = s;
    return LLMUX_OK;
}

const char *llmux_session_id(const llmux_session *session)
{
    return session->id;
}

static void variable_free(llmux__variable *v)
{
    free(v->name);
    llmux__secret_free(v->value);
    free(v);
}

void llmux_session_free(llmux_session *session)
{
    if (!session)
        return;
    if (session->client->embedded)
        llmux__embedded_session_free(session->client->emb, session);
    else
        llmux__proxy_session_free(session->client->proxy, session);
    while (session->vars) {
        llmux__variable *v = session->vars;
        session->vars = v->next;
        variable_free(v);
    }
    llmux_session_clear_history(session);
    free(session->turns);
    free(session->tmpl_json);
    pthread_mutex_destroy(&session->mu);
    pthread_mutex_destroy(&session->conv_mu);
    free(session);
}

llmux_code llmux_session_set_variable(llmux_session *session, const char *name, const char *value)
{
    if (!name || !*name)
        return LLMUX_EINVALID_REQUEST;
    llmux__variable *nv = NULL;
    if (value) {
        nv = calloc(1, sizeof *nv);
        if (!nv)
            return LLMUX_ENOMEM;
        nv->name = strdup(name);
        nv->value = llmux__secret_strdup(value);
        if (!nv->name || !nv->value) {
            variable_free(nv);
            return LLMUX_ENOMEM;
        }
    }
    pthread_mutex_lock(&session->mu);
    llmux__variable **pp = &session->vars, *old = NULL;
    while (*pp && strcmp((*pp)->name, name) != 0)
        pp = &(*pp)->next;
    if (*pp) {
        old = *pp;
        *pp = old->next;
    }
    if (nv) {
        nv->next = session->vars;
        session->vars = nv;
    }
    pthread_mutex_unlock(&session->mu);
    if (old)
        variable_free(old);
    return LLMUX_OK;
}

const char *llmux_session_variable(const llmux_session *session, const char *name)
{
    if (!name)
        return NULL;
    llmux_session *s = (llmux_session *)session;
    pthread_mutex_lock(&s->mu);
    const char *value = NULL;
    for (llmux__variable *v = s->vars; v; v = v->next)
        if (strcmp(v->name, name) == 0)
            value = v->value;
    pthread_mutex_unlock(&s->mu);
    return value;
}

/* ---- configure_provider ------------------------------------------------------------------ */

llmux_code llmux_configure_provider(llmux_session *session, const char *provider,
                                    const llmux_provider_options *opts, llmux_error *err)
{
    llmux__provider p;
    if (!provider || !llmux__provider_parse(provider, &p))
        return llmux__client_error(
            err, LLMUX_EINVALID_REQUEST,
            "configure_provider: unknown provider '%.40s' (expected openai, azure, anthropic "
            "or google)",
            provider ? provider : "(null)");
    if (!opts || opts->managed == (opts->api_key != NULL))
        return llmux__client_error(err, LLMUX_EINVALID_REQUEST,
                                   "configure_provider(\"%s\"): give exactly one of managed or "
                                   "api_key",
                                   llmux__provider_name(p));
    if (opts->api_key && !*opts->api_key)
        return llmux__client_error(err, LLMUX_EINVALID_REQUEST,
                                   "configure_provider(\"%s\"): api_key is empty (is the "
                                   "variable that should hold it set?)",
                                   llmux__provider_name(p));
    if (session->client->embedded)
        return llmux__embedded_configure(session->client->emb, session, p, opts, err);
    return llmux__proxy_configure(session->client->proxy, session, p, opts, err);
}

/* ---- requests ---------------------------------------------------------------------------- */

/* Decodes `root` (taken) into a request of our own, with `stream` forced. */
static llmux_code decode_owned(cJSON *root, bool stream, llmux__request **out, llmux_error *err)
{
    *out = NULL;
    if (!root)
        return llmux__client_error(err, LLMUX_ENOMEM, "out of memory copying the request");
    cJSON_DeleteItemFromObjectCaseSensitive(root, "stream");
    if (stream && !cJSON_AddTrueToObject(root, "stream")) {
        cJSON_Delete(root);
        return llmux__client_error(err, LLMUX_ENOMEM, "out of memory copying the request");
    }
    llmux__error ie;
    llmux__error_clear(&ie);
    llmux_code rc = llmux__request_decode_json(root, out, &ie);
    if (rc != LLMUX_OK)
        return llmux__client_error_from(err, &ie);
    return LLMUX_OK;
}

/* A private copy of the caller's request (validated like the proxy validates). */
static llmux_code copy_request(const llmux_request *req, bool stream, llmux__request **out,
                               llmux_error *err)
{
    if (!req) {
        *out = NULL;
        return llmux__client_error(err, LLMUX_EINVALID_REQUEST, "request is NULL");
    }
    return decode_owned(llmux__request_to_json(req), stream, out, err);
}

static llmux_code parse_request(const char *json, bool stream, llmux__request **out,
                                llmux_error *err)
{
    *out = NULL;
    if (!json)
        return llmux__client_error(err, LLMUX_EINVALID_REQUEST, "request JSON is NULL");
    cJSON *root = cJSON_Parse(json);
    if (!root)
        return llmux__client_error(err, LLMUX_EINVALID_REQUEST, "request body is not valid JSON");
    return decode_owned(root, stream, out, err);
}

static llmux_code backend_start(llmux_session *s, llmux__request *req, llmux__op *op,
                                llmux_error *err)
{
    if (s->client->embedded)
        return llmux__embedded_start(s->client->emb, s, req, op, err);
    return llmux__proxy_start(s->client->proxy, s, req, op, err);
}

/* Runs req (taken) to the end or the monotonic deadline (< 0: none). */
static llmux_code run_blocking(llmux_session *s, llmux__request *req, double deadline,
                               double timeout_s, llmux_response **out, llmux_error *err)
{
    llmux__op *op = llmux__op_new(s->client, false, NULL);
    if (!op) {
        llmux__request_free(req);
        return llmux__client_error(err, LLMUX_ENOMEM, "out of memory");
    }
    llmux_code rc = backend_start(s, req, op, err);
    if (rc != LLMUX_OK) {
        llmux__op_unref(op);
        return rc;
    }
    if (!llmux__op_wait(op, deadline)) {
        if (llmux__op_cancel(op))
            llmux__client_backend_cancel(s->client, op);
        if (!llmux__op_wait(op, 0)) { /* still not ended: it is ours to report */
            llmux__op_unref(op);
            return llmux__client_error(err, LLMUX_ETIMEOUT, "no answer within %.3g s", timeout_s);
        }
    }
    rc = llmux__op_result(op, err);
    if (rc == LLMUX_OK) {
        pthread_mutex_lock(&op->mu);
        *out = op->response;
        op->response = NULL;
        pthread_mutex_unlock(&op->mu);
    }
    llmux__op_unref(op);
    return rc;
}

llmux_code llmux_generate_chat_completion(llmux_session *session, const llmux_request *req,
                                          llmux_response **out, llmux_error *err)
{
    *out = NULL;
    llmux__request *own;
    llmux_code rc = copy_request(req, false, &own, err);
    if (rc != LLMUX_OK)
        return rc;
    return run_blocking(session, own, -1, 0, out, err);
}

llmux_code llmux_generate_chat_completion_json(llmux_session *session, const char *json,
                                               llmux_response **out, llmux_error *err)
{
    *out = NULL;
    llmux__request *own;
    llmux_code rc = parse_request(json, false, &own, err);
    if (rc != LLMUX_OK)
        return rc;
    return run_blocking(session, own, -1, 0, out, err);
}

/* ---- streams ----------------------------------------------------------------------------- */

static llmux_code start_stream(llmux_session *s, llmux__request *req,
                               const llmux_stream_callbacks *cb, llmux_stream **out,
                               llmux_error *err)
{
    llmux__op *op = llmux__op_new(s->client, true, cb);
    if (!op) {
        llmux__request_free(req);
        return llmux__client_error(err, LLMUX_ENOMEM, "out of memory");
    }
    llmux_code rc = backend_start(s, req, op, err);
    if (rc != LLMUX_OK) {
        llmux__op_unref(op);
        return rc;
    }
    llmux__client_error(err, LLMUX_OK, "%s", "");
    *out = (llmux_stream *)op;
    return LLMUX_OK;
}

llmux_code llmux_generate_chat_completion_stream(llmux_session *session, const llmux_request *req,
                                                 llmux_stream **out, llmux_error *err)
{
    *out = NULL;
    llmux__request *own;
    llmux_code rc = copy_request(req, true, &own, err);
    if (rc != LLMUX_OK)
        return rc;
    return start_stream(session, own, NULL, out, err);
}

llmux_code llmux_generate_chat_completion_stream_json(llmux_session *session, const char *json,
                                                      llmux_stream **out, llmux_error *err)
{
    *out = NULL;
    llmux__request *own;
    llmux_code rc = parse_request(json, true, &own, err);
    if (rc != LLMUX_OK)
        return rc;
    return start_stream(session, own, NULL, out, err);
}

llmux_code llmux_generate_chat_completion_stream_cb(llmux_session *session,
                                                    const llmux_request *req,
                                                    const llmux_stream_callbacks *cb,
                                                    llmux_stream **out, llmux_error *err)
{
    *out = NULL;
    if (!cb || !cb->on_chunk || !cb->on_end)
        return llmux__client_error(err, LLMUX_EINVALID_REQUEST,
                                   "stream callbacks need on_chunk and on_end");
    llmux__request *own;
    llmux_code rc = copy_request(req, true, &own, err);
    if (rc != LLMUX_OK)
        return rc;
    return start_stream(session, own, cb, out, err);
}

/* ---- send_and_wait ------------------------------------------------------------------------ */

llmux_code llmux_session_set_request(llmux_session *session, const llmux_request *tmpl)
{
    if (!tmpl)
        return LLMUX_EINVALID_REQUEST;
    cJSON *j = llmux__request_to_json(tmpl);
    if (!j)
        return LLMUX_ENOMEM;
    cJSON_DeleteItemFromObjectCaseSensitive(j, "stream");
    cJSON_DeleteItemFromObjectCaseSensitive(j, "stream_options");
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!s)
        return LLMUX_ENOMEM;
    char *copy = strdup(s);
    cJSON_free(s);
    if (!copy)
        return LLMUX_ENOMEM;
    pthread_mutex_lock(&session->mu);
    char *old = session->tmpl_json;
    session->tmpl_json = copy;
    pthread_mutex_unlock(&session->mu);
    free(old);
    return LLMUX_OK;
}

llmux_code llmux_session_set_model(llmux_session *session, const char *provider, const char *model)
{
    if (!model)
        return LLMUX_EINVALID_REQUEST;
    llmux_request *req = llmux_request_new(provider, model);
    if (!req)
        return provider ? LLMUX_EINVALID_REQUEST : LLMUX_ENOMEM;
    if (!(req->primary.set & LLMUX__F_PROVIDER)) {
        llmux_request_free(req);
        return LLMUX_EINVALID_REQUEST;
    }
    llmux_code rc = llmux_session_set_request(session, req);
    llmux_request_free(req);
    return rc;
}

static cJSON *turn_json(const char *role, const char *content)
{
    cJSON *m = cJSON_CreateObject();
    if (!m || !cJSON_AddStringToObject(m, "role", role) ||
        !cJSON_AddStringToObject(m, "content", content)) {
        cJSON_Delete(m);
        return NULL;
    }
    return m;
}

/* The next request of the conversation: template, history, prompt. */
static llmux_code conversation_request(llmux_session *s, const char *prompt, cJSON **out,
                                       llmux_error *err)
{
    *out = NULL;
    pthread_mutex_lock(&s->mu);
    if (!s->tmpl_json) {
        pthread_mutex_unlock(&s->mu);
        return llmux__client_error(err, LLMUX_EINVALID_REQUEST,
                                   "send_and_wait: session '%s' has no model; call "
                                   "llmux_session_set_model() or llmux_session_set_request() "
                                   "first",
                                   s->id);
    }
    cJSON *root = cJSON_Parse(s->tmpl_json);
    cJSON *msgs = root ? cJSON_GetObjectItemCaseSensitive(root, "messages") : NULL;
    if (root && !msgs)
        msgs = cJSON_AddArrayToObject(root, "messages");
    bool ok = root && cJSON_IsArray(msgs);
    for (size_t i = 0; ok && i < s->n_turns; i++) {
        cJSON *m = turn_json(llmux__role_name(s->turns[i].role), s->turns[i].content);
        ok = m != NULL;
        if (m)
            cJSON_AddItemToArray(msgs, m);
    }
    pthread_mutex_unlock(&s->mu);
    cJSON *m = ok ? turn_json("user", prompt) : NULL;
    if (!m) {
        cJSON_Delete(root);
        return llmux__client_error(err, LLMUX_ENOMEM, "out of memory building the request");
    }
    cJSON_AddItemToArray(msgs, m);
    *out = root;
    return LLMUX_OK;
}

static bool add_turn(llmux_session *s, llmux__role role, const char *content, size_t len)
{
    if (s->n_turns == s->cap_turns) {
        size_t cap = s->cap_turns ? s->cap_turns * 2 : 8;
        llmux__turn *t = realloc(s->turns, cap * sizeof *t);
        if (!t)
            return false;
        s->turns = t;
        s->cap_turns = cap;
    }
    char *c = malloc(len + 1);
    if (!c)
        return false;
    memcpy(c, content, len);
    c[len] = '\0';
    s->turns[s->n_turns].role = role;
    s->turns[s->n_turns].content = c;
    s->n_turns++;
    return true;
}

llmux_code llmux_send_and_wait(llmux_session *session, const char *prompt, double timeout_s,
                               llmux_response **out, llmux_error *err)
{
    if (out)
        *out = NULL;
    if (!prompt)
        return llmux__client_error(err, LLMUX_EINVALID_REQUEST, "send_and_wait: prompt is NULL");
    if (!(timeout_s > 0))
        timeout_s = 60;
    double deadline = llmux__mono() + timeout_s;
    pthread_mutex_lock(&session->conv_mu);
    cJSON *root;
    llmux__request *req = NULL;
    llmux_response *resp = NULL;
    llmux_code rc = conversation_request(session, prompt, &root, err);
    if (rc == LLMUX_OK)
        rc = decode_owned(root, false, &req, err);
    if (rc == LLMUX_OK)
        rc = run_blocking(session, req, deadline, timeout_s, &resp, err);
    if (rc == LLMUX_ETIMEOUT && err && err->n_attempts == 0)
        llmux__client_error(err, LLMUX_ETIMEOUT,
                            "send_and_wait: no answer within %.3g s (session '%s')", timeout_s,
                            session->id);
    if (rc == LLMUX_OK) {
        pthread_mutex_lock(&session->mu);
        size_t before = session->n_turns;
        if (!add_turn(session, LLMUX__ROLE_USER, prompt, strlen(prompt)) ||
            !add_turn(session, LLMUX__ROLE_ASSISTANT, llmux_response_text(resp),
                      llmux_response_text_len(resp))) {
            while (session->n_turns > before)
                free(session->turns[--session->n_turns].content);
            rc = llmux__client_error(err, LLMUX_ENOMEM, "out of memory keeping the history");
        }
        pthread_mutex_unlock(&session->mu);
    }
    pthread_mutex_unlock(&session->conv_mu);
    if (rc == LLMUX_OK && out)
        *out = resp;
    else
        llmux_response_free(resp);
    return rc;
}

size_t llmux_session_history_count(const llmux_session *session)
{
    llmux_session *s = (llmux_session *)session;
    pthread_mutex_lock(&s->mu);
    size_t n = s->n_turns;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static char *cjson_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = cJSON_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

llmux_code llmux_session_history_turn(const llmux_session *session, size_t i, char **role,
                                      char **content)
{
    llmux_session *s = (llmux_session *)session;
    *role = *content = NULL;
    pthread_mutex_lock(&s->mu);
    llmux_code rc = LLMUX_OK;
    if (i >= s->n_turns) {
        rc = LLMUX_EINVALID_REQUEST;
    } else {
        *role = cjson_strdup(llmux__role_name(s->turns[i].role));
        *content = cjson_strdup(s->turns[i].content);
        if (!*role || !*content) {
            cJSON_free(*role);
            cJSON_free(*content);
            *role = *content = NULL;
            rc = LLMUX_ENOMEM;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void llmux_session_clear_history(llmux_session *session)
{
    pthread_mutex_lock(&session->mu);
    for (size_t i = 0; i < session->n_turns; i++)
        free(session->turns[i].content);
    session->n_turns = 0;
    pthread_mutex_unlock(&session->mu);
}
