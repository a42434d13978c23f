/* common.c — see common.h and provider.h. */
#include "providers/common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- adapter table, defaults ----------------------------------------------------- */

const llmux__adapter *llmux__adapter_for(llmux__provider p)
{
    switch (p) {
    case LLMUX__PROVIDER_OPENAI:
        return &llmux__openai_adapter;
    case LLMUX__PROVIDER_AZURE:
        return &llmux__azure_adapter;
    case LLMUX__PROVIDER_ANTHROPIC:
        return &llmux__anthropic_adapter;
    case LLMUX__PROVIDER_GOOGLE:
        return &llmux__google_adapter;
    default:
        return NULL;
    }
}

const char *llmux__provider_default_base_url(llmux__provider p)
{
    switch (p) {
    case LLMUX__PROVIDER_OPENAI:
        return "https://api.openai.com/v1";
    case LLMUX__PROVIDER_ANTHROPIC:
        return "https://api.anthropic.com";
    case LLMUX__PROVIDER_GOOGLE:
        return "https://generativelanguage.googleapis.com";
    default:
        return "";
    }
}

/* ---- JSON getters ------------------------------------------------------------------- */

const cJSON *llmux__jget(const cJSON *o, const char *k)
{
    if (!cJSON_IsObject(o))
        return NULL;
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

const char *llmux__jstr(const cJSON *o, const char *k)
{
    const cJSON *v = llmux__jget(o, k);
    return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

const cJSON *llmux__jobj(const cJSON *o, const char *k)
{
    const cJSON *v = llmux__jget(o, k);
    return cJSON_IsObject(v) ? v : NULL;
}

const cJSON *llmux__jarr(const cJSON *o, const char *k)
{
    const cJSON *v = llmux__jget(o, k);
    return cJSON_IsArray(v) ? v : NULL;
}

bool llmux__jcount(const cJSON *o, const char *k, int64_t *out)
{
    const cJSON *v = llmux__jget(o, k);
    *out = 0;
    if (!cJSON_IsNumber(v))
        return false;
    double x = v->valuedouble;
    if (!isfinite(x) || x < 0 || x > 9007199254740992.0)
        return false;
    *out = (int64_t)x;
    return true;
}

cJSON *llmux__json_parse(const char *body, size_t len)
{
    if (!body || len == 0)
        return NULL;
    /* One JSON value and nothing after it but whitespace. cJSON stops at the end of the
     * first value: without this check "{...}\n{...}" (stream events run together with
     * no blank line between them) passed as its first event alone, and the rest of the
     * answer was dropped without an error. */
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    for (const char *p = end; root && p && p < body + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            cJSON_Delete(root);
            root = NULL;
        }
    }
    return root;
}

/* ---- headers and Retry-After ---------------------------------------------------------- */

const char *llmux__header_get(const llmux__header *h, size_t n, const char *name)
{
    if (!h || !name)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (h[i].name && h[i].value && strcasecmp(h[i].name, name) == 0)
            return h[i].value;
    return NULL;
}

/* Parses a whole decimal number (optional surrounding blanks). */
static bool parse_number(const char *s, double *out)
{
    while (*s == ' ' || *s == '\t')
        s++;
    if (!(*s >= '0' && *s <= '9') && *s != '.' && *s != '-' && *s != '+')
        return false;
    char *end;
    double v = strtod(s, &end);
    if (end == s)
        return false;
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end || !isfinite(v))
        return false;
    *out = v;
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* An HTTP date (IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", RFC 850
 * "Sunday, 06-Nov-94 08:49:37 GMT" or asctime "Sun Nov  6 08:49:37 1994") as Unix
 * seconds. False when it is none of them. */
static bool parse_http_date(const char *s, double *out)
{
    static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
    int day = -1, mon = -1, hh = -1, mm = -1, ss = -1;
    long year = -1;
    const char *p = s;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '-' || *p == '\t')
            p++;
        if (!*p)
            break;
        const char *tok = p;
        while (*p && *p != ' ' && *p != ',' && *p != '-' && *p != '\t')
            p++;
        size_t n = (size_t)(p - tok);
        if (n >= 7 && n <= 8 && tok[2] == ':') {
            if (sscanf(tok, "%2d:%2d:%2d", &hh, &mm, &ss) != 3)
                return false;
        } else if (tok[0] >= '0' && tok[0] <= '9') {
            long v = 0;
            for (size_t i = 0; i < n; i++) {
                if (tok[i] < '0' || tok[i] > '9' || v > 100000)
                    return false;
                v = v * 10 + (tok[i] - '0');
            }
            if (day < 0 && n <= 2)
                day = (int)v;
            else if (year < 0)
                year = n <= 2 ? (v >= 70 ? 1900 + v : 2000 + v) : v;
            else
                return false;
        } else if (n == 3 && mon < 0) {
            char low[4] = {(char)(tok[0] | 0x20), (char)(tok[1] | 0x20), (char)(tok[2] | 0x20), 0};
            const char *f = strstr(months, low);
            if (f && (f - months) % 3 == 0)
                mon = (int)((f - months) / 3) + 1;
            /* else a weekday name: ignore */
        }
        /* other words (weekday, "GMT") are ignored */
    }
    if (day < 1 || day > 31 || mon < 1 || year < 1970 || year > 9999 || hh < 0 || hh > 23 ||
        mm < 0 || mm > 59 || ss < 0 || ss > 60)
        return false;
    *out = (double)(days_from_civil(year, mon, day) * 86400 + hh * 3600 + mm * 60 + ss);
    return true;
}

double llmux__retry_after(const llmux__header *h, size_t n, double now)
{
    double v;
    const char *ms = llmux__header_get(h, n, "retry-after-ms");
    if (ms && parse_number(ms, &v)) {
        v /= 1000.0;
        if (v > 0 && v <= 60)
            return v;
    }
    const char *ra = llmux__header_get(h, n, "retry-after");
    if (ra) {
        if (parse_number(ra, &v)) {
            if (v > 0 && v <= 60)
                return v;
        } else if (parse_http_date(ra, &v)) {
            v -= now;
            if (v > 0 && v <= 60)
                return v;
        }
    }
    return -1.0;
}

/* ---- upstream errors ---------------------------------------------------------------------- */

void llmux__uerr_copy_id(char *dst, size_t cap, const char *s)
{
    size_t o = 0;
    if (s)
        for (; s[o] && o + 1 < cap; o++)
            dst[o] = (s[o] > 0x20 && s[o] < 0x7f) ? s[o] : '_';
    dst[o] = '\0';
}

void llmux__uerr_set_message(llmux__upstream_error *e, const char *msg)
{
    static const char key_marker[] = "API key provided: ";
    if (!msg || !*msg)
        return; /* keep what we had ("HTTP 503"): an empty message says nothing */
    char *out = e->message;
    const size_t cap = sizeof e->message;
    size_t o = 0;
    const unsigned char *u = (const unsigned char *)(msg ? msg : "");
    size_t n = strlen((const char *)u);
    size_t i = 0;
    while (i < n && o + 1 < cap) {
        if (strncmp((const char *)u + i, key_marker, sizeof key_marker - 1) == 0) {
            /* OpenAI echoes part of a wrong key: keep the words, drop the key. */
            static const char red[] = "API key provided: <redacted>";
            size_t rl = sizeof red - 1;
            if (o + rl + 1 > cap)
                break;
            memcpy(out + o, red, rl);
            o += rl;
            i += sizeof key_marker - 1;
            while (i < n && u[i] != ' ' && !(u[i] == '.' && (i + 1 == n || u[i + 1] == ' ')))
                i++;
            continue;
        }
        unsigned char c = u[i];
        if (c < 0x20 || c == 0x7f) {
            out[o++] = ' ';
            i++;
        } else if (c < 0x80) {
            out[o++] = (char)c;
            i++;
        } else {
            size_t l = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            if (i + l <= n && llmux__utf8_valid((const char *)u + i, l)) {
                if (o + l + 1 > cap)
                    break;
                memcpy(out + o, u + i, l);
                o += l;
                i += l;
            } else {
                out[o++] = '?';
                i++;
            }
        }
    }
    out[o] = '\0';
}

void llmux__uerr_from_status(llmux__upstream_error *e, int status, const llmux__header *h, size_t n,
                             double now)
{
    llmux__upstream_error_clear(e);
    llmux__failure f = llmux__classify_http(status);
    e->code = f.code == LLMUX_OK ? LLMUX_EUPSTREAM : f.code;
    e->retryable = f.code == LLMUX_OK ? true : f.retryable;
    e->http_status = status;
    e->retry_after_s = llmux__retry_after(h, n, now);
    snprintf(e->message, sizeof e->message, "HTTP %d", status);
}

void llmux__uerr_should_retry(llmux__upstream_error *e, const llmux__header *h, size_t n)
{
    const char *v = llmux__header_get(h, n, "x-should-retry");
    if (!v)
        return;
    if (strcasecmp(v, "true") == 0)
        e->retryable = true;
    else if (strcasecmp(v, "false") == 0)
        e->retryable = false;
}

llmux_code llmux__uerr_malformed(llmux__upstream_error *e, int status, const char *what)
{
    llmux__upstream_error_clear(e);
    e->code = LLMUX_EUPSTREAM;
    e->retryable = true;
    e->http_status = status;
    snprintf(e->message, sizeof e->message, "malformed upstream response: %s", what);
    return e->code;
}

int llmux__status_for_error_type(const char *type)
{
    static const struct {
        const char *type;
        int status;
    } map[] = {
        /* Anthropic */
        {"invalid_request_error", 400},
        {"authentication_error", 401},
        {"billing_error", 402},
        {"permission_error", 403},
        {"not_found_error", 404},
        {"request_too_large", 413},
        {"rate_limit_error", 429},
        {"api_error", 500},
        {"overloaded_error", 529},
        /* OpenAI and compatible servers */
        {"invalid_api_key", 401},
        {"model_not_found", 404},
        {"insufficient_quota", 429},
        {"rate_limit_exceeded", 429},
        {"tokens", 429},
        {"requests", 429},
        {"server_error", 500},
        {"service_unavailable", 503},
        /* Google RPC status names */
        {"INVALID_ARGUMENT", 400},
        {"FAILED_PRECONDITION", 400},
        {"OUT_OF_RANGE", 400},
        {"UNAUTHENTICATED", 401},
        {"PERMISSION_DENIED", 403},
        {"NOT_FOUND", 404},
        {"RESOURCE_EXHAUSTED", 429},
        {"INTERNAL", 500},
        {"UNKNOWN", 500},
        {"UNAVAILABLE", 503},
        {"DEADLINE_EXCEEDED", 504},
    };
    if (!type)
        return 0;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i].type, type) == 0)
            return map[i].status;
    return 0;
}

void llmux__uerr_in_stream(llmux__upstream_error *e, int status_hint, const char *type,
                           const char *msg)
{
    llmux__upstream_error_clear(e);
    int status = (status_hint >= 400 && status_hint <= 599) ? status_hint
                                                            : llmux__status_for_error_type(type);
    if (status) {
        llmux__failure f = llmux__classify_http(status);
        e->code = f.code;
        e->retryable = f.retryable;
    } else {
        e->code = LLMUX_EUPSTREAM;
        e->retryable = true;
    }
    if (type)
        llmux__uerr_copy_id(e->type, sizeof e->type, type);
    llmux__uerr_set_message(e, msg && *msg ? msg : "error event in upstream stream");
}

void llmux__openai_error_body(llmux__upstream_error *e, const cJSON *root)
{
    const cJSON *err = llmux__jget(root, "error");
    const char *type = NULL, *code = NULL, *msg = NULL;
    char codebuf[24];
    if (cJSON_IsString(err)) {
        msg = err->valuestring;
    } else if (cJSON_IsObject(err)) {
        msg = llmux__jstr(err, "message");
        type = llmux__jstr(err, "type");
        const cJSON *c = llmux__jget(err, "code");
        if (cJSON_IsString(c)) {
            code = c->valuestring;
        } else if (cJSON_IsNumber(c) && isfinite(c->valuedouble) && c->valuedouble >= 0 &&
                   c->valuedouble < 1e9) {
            snprintf(codebuf, sizeof codebuf, "%d", (int)c->valuedouble);
            code = codebuf;
        }
        llmux__uerr_copy_id(e->param, sizeof e->param, llmux__jstr(err, "param"));
    }
    if (msg)
        llmux__uerr_set_message(e, msg);
    /* The most specific identifier: a non-numeric code, else the type. */
    const char *id = (code && !(code[0] >= '0' && code[0] <= '9')) ? code : type;
    if (id)
        llmux__uerr_copy_id(e->type, sizeof e->type, id);
#define IS(s) ((code && strcmp(code, s) == 0) || (type && strcmp(type, s) == 0))
    if (IS("insufficient_quota")) {
        /* billing: retrying will not help */
        e->code = LLMUX_ERATE_LIMITED;
        e->retryable = false;
    } else if (IS("DeploymentNotFound") && e->http_status == 404) {
        e->code = LLMUX_EMODEL_NOT_FOUND;
        e->retryable = false;
    }
#undef IS
}

/* ---- URLs and requests ---------------------------------------------------------------------- */

bool llmux__url_base(llmux__buf *b, const char *base, const char *dflt, llmux__error *err)
{
    const char *u = base && *base ? base : dflt;
    if (!u || !*u) {
        llmux__error_set(err, LLMUX_EINVALID_REQUEST, "the provider needs a base_url (endpoint)");
        return false;
    }
    if (strncasecmp(u, "https://", 8) != 0 && strncasecmp(u, "http://", 7) != 0) {
        llmux__error_set(err, LLMUX_EINVALID_REQUEST,
                         "base_url must start with http:// or https://");
        return false;
    }
    size_t n = strlen(u);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)u[i];
        if (c <= 0x20 || c == 0x7f || c == '?' || c == '#') {
            llmux__error_set(err, LLMUX_EINVALID_REQUEST,
                             "base_url must not contain spaces, control characters, '?' or '#'");
            return false;
        }
    }
    while (n > 0 && u[n - 1] == '/')
        n--;
    llmux__buf_append(b, u, n);
    return true;
}

void llmux__url_encode(llmux__buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        unsigned char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            llmux__buf_append(b, p, 1);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            llmux__buf_append(b, esc, 3);
        }
    }
}

void llmux__http_request_free(llmux__http_request *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_headers; i++) {
        if (r->headers[i]) {
            explicit_bzero(r->headers[i], strlen(r->headers[i]));
            free(r->headers[i]);
        }
    }
    free(r->headers);
    free(r->url);
    free(r->body);
    memset(r, 0, sizeof *r);
}

llmux_code llmux__http_begin(llmux__http_request *out, const char *method, llmux__buf *url,
                             llmux__error *err)
{
    memset(out, 0, sizeof *out);
    if (url->oom || !url->p) {
        llmux__buf_free(url);
        return llmux__error_set(err, LLMUX_ENOMEM, NULL);
    }
    out->method = method;
    out->url = url->p;
    memset(url, 0, sizeof *url);
    return LLMUX_OK;
}

llmux_code llmux__http_add_header(llmux__http_request *out, const char *name, const char *value,
                                  llmux__error *err)
{
    for (const char *p = value; *p; p++) {
        if (*p == '\r' || *p == '\n') {
            return llmux__error_set(err, LLMUX_EINVALID_REQUEST,
                                    "the value of header '%s' contains a line break", name);
        }
    }
    size_t nl = strlen(name), vl = strlen(value);
    char *line = malloc(nl + 2 + vl + 1);
    char **nh = realloc(out->headers, (out->n_headers + 1) * sizeof *nh);
    if (nh)
        out->headers = nh;
    if (!line || !nh) {
        free(line);
        return llmux__error_set(err, LLMUX_ENOMEM, NULL);
    }
    memcpy(line, name, nl);
    memcpy(line + nl, ": ", 2);
    memcpy(line + nl + 2, value, vl + 1);
    out->headers[out->n_headers++] = line;
    return LLMUX_OK;
}

llmux_code llmux__http_set_body(llmux__http_request *out, const cJSON *body, llmux__error *err)
{
    char *s = cJSON_PrintUnformatted(body);
    if (!s)
        return llmux__error_set(err, LLMUX_ENOMEM, NULL);
    free(out->body);
    out->body = s;
    out->body_len = strlen(s);
    return LLMUX_OK;
}

bool llmux__has_key(const llmux__provider_config *cfg)
{
    return cfg && cfg->api_key && cfg->api_key[0];
}

/* ---- shared request pieces -------------------------------------------------------------- */

void llmux__message_text(const llmux__message *m, llmux__buf *b)
{
    if (m->content) {
        llmux__buf_puts(b, m->content);
        return;
    }
    for (size_t i = 0; i < m->n_parts; i++)
        if (m->parts[i].kind == LLMUX__PART_TEXT && m->parts[i].text)
            llmux__buf_puts(b, m->parts[i].text);
}

bool llmux__data_url(const char *url, const char **mime, size_t *mime_len, const char **data)
{
    if (!url || strncmp(url, "data:", 5) != 0)
        return false;
    const char *m = url + 5;
    const char *comma = strchr(m, ',');
    if (!comma)
        return false;
    const char *semi = memchr(m, ';', (size_t)(comma - m));
    if (!semi || (size_t)(comma - semi) != 7 || strncmp(semi, ";base64", 7) != 0)
        return false;
    *mime = m;
    *mime_len = (size_t)(semi - m);
    *data = comma + 1;
    return *mime_len > 0;
}

cJSON *llmux__arguments_object(const char *arguments)
{
    if (!arguments)
        return cJSON_CreateObject();
    const char *p = arguments;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    if (!*p)
        return cJSON_CreateObject();
    cJSON *o = cJSON_Parse(p);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

void llmux__synth_call_id(char *out, size_t cap, const char *response_id, const char *name,
                          int index)
{
    char mid[32];
    size_t m = 0;
    for (const char *p = response_id ? response_id : ""; *p && m < 24; p++) {
        char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '_' || c == '-')
            mid[m++] = c;
    }
    mid[m] = '\0';
    if (m == 0) {
        uint32_t h = 2166136261u; /* FNV-1a */
        for (const char *p = name ? name : ""; *p; p++)
            h = (h ^ (unsigned char)*p) * 16777619u;
        snprintf(mid, sizeof mid, "%08x", (unsigned)h);
    }
    snprintf(out, cap, "call_%s_%d", mid, index);
}

/* ---- stream decoder ------------------------------------------------------------------------- */

llmux__stream_decoder *llmux__stream_decoder_new(const llmux__adapter *a)
{
    if (!a)
        return NULL;
    llmux__stream_decoder *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->adapter = a;
    llmux__upstream_error_clear(&d->err);
    return d;
}

void llmux__stream_decoder_free(llmux__stream_decoder *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n_tools; i++)
        free(d->tools[i].id);
    free(d->tools);
    free(d->id);
    free(d->model);
    free(d);
}

bool llmux__stream_decoder_ended(const llmux__stream_decoder *d)
{
    return d->ended;
}

bool llmux__dec_set_id_model(llmux__stream_decoder *d, const char *id, const char *model)
{
    if (!d->id && id && *id && !(d->id = strdup(id)))
        return false;
    if (!d->model && model && *model && !(d->model = strdup(model)))
        return false;
    return true;
}

int llmux__dec_emit(llmux__stream_decoder *d, llmux__delta *delta, llmux__delta_sink sink, void *ud)
{
    if (d->ended)
        return 0;
    if (delta->kind == LLMUX__DELTA_PREAMBLE) {
        if (d->preamble_sent)
            return 0;
        d->preamble_sent = true;
    } else if (delta->kind != LLMUX__DELTA_ERROR && !d->preamble_sent) {
        int r = llmux__dec_preamble(d, sink, ud);
        if (r)
            return r;
    }
    if (delta->kind == LLMUX__DELTA_DONE || delta->kind == LLMUX__DELTA_ERROR)
        d->ended = true;
    delta->response_id = d->id ? d->id : "";
    delta->model = d->model ? d->model : "";
    return sink(ud, delta);
}

int llmux__dec_preamble(llmux__stream_decoder *d, llmux__delta_sink sink, void *ud)
{
    llmux__delta x = {.kind = LLMUX__DELTA_PREAMBLE};
    return d->preamble_sent ? 0 : llmux__dec_emit(d, &x, sink, ud);
}

int llmux__dec_text(llmux__stream_decoder *d, const char *s, size_t n, llmux__delta_sink sink,
                    void *ud)
{
    if (!s || n == 0)
        return 0;
    llmux__delta x = {.kind = LLMUX__DELTA_TEXT, .text = s, .text_len = n};
    return llmux__dec_emit(d, &x, sink, ud);
}

int llmux__dec_finish(llmux__stream_decoder *d, llmux__finish_reason f, llmux__delta_sink sink,
                      void *ud)
{
    if (d->finish_sent || f == LLMUX__FINISH_NONE)
        return 0;
    d->finish_sent = true;
    llmux__delta x = {.kind = LLMUX__DELTA_FINISH, .finish_reason = f};
    return llmux__dec_emit(d, &x, sink, ud);
}

int llmux__dec_usage(llmux__stream_decoder *d, llmux__delta_sink sink, void *ud)
{
    if (!d->usage.present)
        return 0;
    llmux__delta x = {.kind = LLMUX__DELTA_USAGE, .usage = d->usage};
    return llmux__dec_emit(d, &x, sink, ud);
}

int llmux__dec_done(llmux__stream_decoder *d, llmux__delta_sink sink, void *ud)
{
    llmux__delta x = {.kind = LLMUX__DELTA_DONE};
    return llmux__dec_emit(d, &x, sink, ud);
}

int llmux__dec_error(llmux__stream_decoder *d, llmux__delta_sink sink, void *ud)
{
    llmux__delta x = {.kind = LLMUX__DELTA_ERROR, .error = &d->err};
    return llmux__dec_emit(d, &x, sink, ud);
}

int llmux__dec_fail(llmux__stream_decoder *d, const char *msg, llmux__delta_sink sink, void *ud)
{
    llmux__upstream_error_clear(&d->err);
    d->err.code = LLMUX_EUPSTREAM;
    d->err.retryable = true;
    llmux__uerr_set_message(&d->err, msg);
    return llmux__dec_error(d, sink, ud);
}

llmux__stream_tool *llmux__dec_tool(llmux__stream_decoder *d, int64_t key)
{
    for (size_t i = 0; i < d->n_tools; i++)
        if (d->tools[i].key == key)
            return &d->tools[i];
    return NULL;
}

int llmux__dec_tool_start(llmux__stream_decoder *d, int64_t key, const char *id, const char *name,
                          const char *thought_signature, llmux__delta_sink sink, void *ud)
{
    if (d->ended)
        return 0;
    if (d->n_tools >= LLMUX__MAX_STREAM_TOOLS)
        return llmux__dec_fail(d, "too many tool calls in one answer", sink, ud);
    if (d->n_tools == d->cap_tools) {
        size_t cap = d->cap_tools ? d->cap_tools * 2 : 4;
        llmux__stream_tool *nt = realloc(d->tools, cap * sizeof *nt);
        if (!nt)
            goto oom;
        d->tools = nt;
        d->cap_tools = cap;
    }
    int index = (int)d->n_tools;
    char synth[48];
    if (!id || !*id) {
        llmux__synth_call_id(synth, sizeof synth, d->id, name, index);
        id = synth;
    }
    char *copy = strdup(id);
    if (!copy)
        goto oom;
    d->tools[d->n_tools++] = (llmux__stream_tool){.key = key, .id = copy, .args_len = 0};
    llmux__delta x = {.kind = LLMUX__DELTA_TOOL_CALL_START,
                      .index = index,
                      .tool_id = copy,
                      .tool_name = name ? name : "",
                      .thought_signature = thought_signature};
    return llmux__dec_emit(d, &x, sink, ud);
oom:
    llmux__upstream_error_clear(&d->err);
    d->err.code = LLMUX_ENOMEM;
    snprintf(d->err.message, sizeof d->err.message, "out of memory");
    return llmux__dec_error(d, sink, ud);
}

int llmux__dec_tool_args(llmux__stream_decoder *d, llmux__stream_tool *t, const char *frag,
                         size_t n, llmux__delta_sink sink, void *ud)
{
    if (!frag || n == 0)
        return 0;
    t->args_len += n;
    llmux__delta x = {.kind = LLMUX__DELTA_TOOL_CALL_ARGS,
                      .index = (int)(t - d->tools),
                      .text = frag,
                      .text_len = n};
    return llmux__dec_emit(d, &x, sink, ud);
}
