/* mock_script.c — parsing and matching the mock's scripted steps. See mock_script.h. */
#include "mock/mock_script.h"

#include "mock/mock.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest delay a step may ask for: ten minutes. */
#define MAX_DELAY_MS 600000L
/* Most requests one step may apply to. */
#define MAX_COUNT 1000000L

static const char *const step_fields[] = {
    "provider",
    "model",
    "count",
    "repeat",
    "status",
    "body",
    "retry_after",
    "retry_after_ms",
    "headers",
    "delay_ms",
    "first_chunk_delay_ms",
    "chunk_interval_ms",
    "drop_after_chunks",
    "error_event_after_chunks",
    "malformed",
    "hang",
    "tool_call",
    "text",
    "split_at",
};

static int fail(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *why, size_t why_len, const char *fmt, ...)
{
    if (why && why_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, why_len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static char *dup_s(const char *s)
{
    return s ? dup_n(s, strlen(s)) : NULL;
}

/* Reads an optional integer field in [lo, hi] into *out. Returns 0 or -1 (why set). */
static int get_long(const cJSON *obj, const char *name, long lo, long hi, long *out, char *why,
                    size_t why_len)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!it)
        return 0;
    if (!cJSON_IsNumber(it) || it->valuedouble != floor(it->valuedouble) ||
        it->valuedouble < (double)lo || it->valuedouble > (double)hi)
        return fail(why, why_len, "%s: must be an integer from %ld to %ld", name, lo, hi);
    *out = (long)it->valuedouble;
    return 0;
}

static int add_header(llmux__mock_step *s, const char *name, const char *value)
{
    llmux__mock_header *h = realloc(s->headers, (s->nheaders + 1) * sizeof *h);
    if (!h)
        return -1;
    s->headers = h;
    h[s->nheaders].name = dup_s(name);
    h[s->nheaders].value = dup_s(value);
    if (!h[s->nheaders].name || !h[s->nheaders].value) {
        free(h[s->nheaders].name);
        free(h[s->nheaders].value);
        return -1;
    }
    s->nheaders++;
    return 0;
}

/* A header name is a token; a value has no CR/LF (it goes verbatim into the response). */
static bool header_ok(const char *name, const char *value)
{
    if (!*name)
        return false;
    for (const char *p = name; *p; p++)
        if (*p <= ' ' || *p == ':' || (unsigned char)*p >= 127)
            return false;
    return strpbrk(value, "\r\n") == NULL;
}

static int parse_tool_call(const cJSON *it, llmux__mock_step *s, char *why, size_t why_len)
{
    if (cJSON_IsTrue(it)) {
        s->tool_call = true;
        return 0;
    }
    if (!cJSON_IsObject(it))
        return fail(why, why_len, "tool_call: must be true or an object {name?, arguments?, id?}");
    for (const cJSON *f = it->child; f; f = f->next)
        if (strcmp(f->string, "name") && strcmp(f->string, "arguments") && strcmp(f->string, "id"))
            return fail(why, why_len, "tool_call: unknown field '%s'", f->string);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(it, "arguments");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
    if (name && (!cJSON_IsString(name) || !*name->valuestring))
        return fail(why, why_len, "tool_call.name: must be a non-empty string");
    if (id && (!cJSON_IsString(id) || !*id->valuestring))
        return fail(why, why_len, "tool_call.id: must be a non-empty string");
    s->tool_call = true;
    if (name && !(s->tool_name = dup_s(name->valuestring)))
        return fail(why, why_len, "out of memory");
    if (id && !(s->tool_id = dup_s(id->valuestring)))
        return fail(why, why_len, "out of memory");
    if (args) {
        cJSON *obj = NULL;
        if (cJSON_IsString(args))
            obj = cJSON_Parse(args->valuestring);
        else if (cJSON_IsObject(args))
            obj = cJSON_Duplicate(args, 1);
        if (!cJSON_IsObject(obj)) {
            cJSON_Delete(obj);
            return fail(why, why_len,
                        "tool_call.arguments: must be an object or a string holding one");
        }
        s->tool_args = cJSON_PrintUnformatted(obj);
        cJSON_Delete(obj);
        if (!s->tool_args)
            return fail(why, why_len, "out of memory");
    }
    return 0;
}

static int parse_split_at(const cJSON *it, llmux__mock_step *s, char *why, size_t why_len)
{
    if (!s->text)
        return fail(why, why_len, "split_at: needs a text");
    if (!cJSON_IsArray(it))
        return fail(why, why_len, "split_at: must be an array of byte offsets into text");
    size_t len = strlen(s->text), n = (size_t)cJSON_GetArraySize(it);
    s->split_at = calloc(n ? n : 1, sizeof *s->split_at);
    if (!s->split_at)
        return fail(why, why_len, "out of memory");
    size_t prev = 0;
    for (const cJSON *e = it->child; e; e = e->next) {
        if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) ||
            e->valuedouble <= (double)prev || e->valuedouble >= (double)len)
            return fail(why, why_len,
                        "split_at: offsets must be increasing integers strictly inside the "
                        "text (1..%zu)",
                        len ? len - 1 : 0);
        size_t at = (size_t)e->valuedouble;
        if (((unsigned char)s->text[at] & 0xC0) == 0x80)
            return fail(why, why_len, "split_at: offset %zu is inside a UTF-8 character", at);
        s->split_at[s->nsplit++] = at;
        prev = at;
    }
    return 0;
}

static int parse_body(const cJSON *it, llmux__mock_step *s, char *why, size_t why_len)
{
    if (cJSON_IsString(it)) {
        s->body = dup_s(it->valuestring);
    } else if (cJSON_IsObject(it) || cJSON_IsArray(it)) {
        s->body = cJSON_PrintUnformatted(it);
    } else {
        return fail(why, why_len, "body: must be a string (sent as is) or a JSON object/array");
    }
    if (!s->body)
        return fail(why, why_len, "out of memory");
    s->body_len = strlen(s->body);
    return 0;
}

static int parse_retry_after(const cJSON *obj, llmux__mock_step *s, char *why, size_t why_len)
{
    const cJSON *ra = cJSON_GetObjectItemCaseSensitive(obj, "retry_after");
    const cJSON *ram = cJSON_GetObjectItemCaseSensitive(obj, "retry_after_ms");
    char buf[64];
    if (ra) {
        if (cJSON_IsNumber(ra) && ra->valuedouble >= 0 && ra->valuedouble <= 86400) {
            snprintf(buf, sizeof buf, "%.15g", ra->valuedouble);
        } else if (cJSON_IsString(ra) && *ra->valuestring && header_ok("x", ra->valuestring)) {
            snprintf(buf, sizeof buf, "%.63s", ra->valuestring);
        } else {
            return fail(why, why_len,
                        "retry_after: must be seconds (0..86400) or a header string (HTTP date)");
        }
        if (add_header(s, "retry-after", buf))
            return fail(why, why_len, "out of memory");
    }
    if (ram) {
        if (!cJSON_IsNumber(ram) || ram->valuedouble < 0 || ram->valuedouble > 86400000.0)
            return fail(why, why_len, "retry_after_ms: must be milliseconds (0..86400000)");
        snprintf(buf, sizeof buf, "%.15g", ram->valuedouble);
        if (add_header(s, "retry-after-ms", buf))
            return fail(why, why_len, "out of memory");
    }
    return 0;
}

static int parse_headers(const cJSON *it, llmux__mock_step *s, char *why, size_t why_len)
{
    if (!cJSON_IsObject(it))
        return fail(why, why_len, "headers: must be an object of name: string value");
    for (const cJSON *h = it->child; h; h = h->next) {
        if (!cJSON_IsString(h) || !header_ok(h->string, h->valuestring))
            return fail(why, why_len,
                        "headers.%s: must be a string without CR/LF, named by a "
                        "valid header name",
                        h->string);
        if (add_header(s, h->string, h->valuestring))
            return fail(why, why_len, "out of memory");
    }
    return 0;
}

static int parse_step(const cJSON *obj, llmux__mock_step *s, char *why, size_t why_len)
{
    if (!cJSON_IsObject(obj))
        return fail(why, why_len, "must be an object");
    for (const cJSON *f = obj->child; f; f = f->next) {
        bool known = false;
        for (size_t i = 0; i < sizeof step_fields / sizeof step_fields[0]; i++)
            if (strcmp(f->string, step_fields[i]) == 0)
                known = true;
        if (!known)
            return fail(why, why_len, "unknown field '%s'", f->string);
    }
    const cJSON *it;
    if ((it = cJSON_GetObjectItemCaseSensitive(obj, "provider"))) {
        if (!cJSON_IsString(it) ||
            (s->provider = llmux__mock_provider_from_name(it->valuestring)) < 0)
            return fail(
                why, why_len,
                "provider: must be one of \"openai\", \"azure\", \"anthropic\", \"google\"");
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(obj, "model"))) {
        if (!cJSON_IsString(it) || !*it->valuestring)
            return fail(why, why_len, "model: must be a non-empty string");
        if (!(s->model = dup_s(it->valuestring)))
            return fail(why, why_len, "out of memory");
    }
    if (cJSON_GetObjectItemCaseSensitive(obj, "count") &&
        cJSON_GetObjectItemCaseSensitive(obj, "repeat"))
        return fail(why, why_len, "count and repeat: give one of them");
    if (get_long(obj, "count", 1, MAX_COUNT, &s->count, why, why_len) ||
        get_long(obj, "repeat", 1, MAX_COUNT, &s->count, why, why_len))
        return -1;
    long status = 0;
    if (get_long(obj, "status", 100, 599, &status, why, why_len))
        return -1;
    if (status && status < 200)
        return fail(why, why_len, "status: must be from 200 to 599");
    s->status = (int)status;
    if ((it = cJSON_GetObjectItemCaseSensitive(obj, "body"))) {
        if (!s->status)
            return fail(why, why_len, "body: needs a status");
        if (parse_body(it, s, why, why_len))
            return -1;
    }
    if (parse_retry_after(obj, s, why, why_len))
        return -1;
    if ((it = cJSON_GetObjectItemCaseSensitive(obj, "headers")) &&
        parse_headers(it, s, why, why_len))
        return -1;
    if (get_long(obj, "delay_ms", 0, MAX_DELAY_MS, &s->delay_ms, why, why_len) ||
        get_long(obj, "first_chunk_delay_ms", 0, MAX_DELAY_MS, &s->first_chunk_delay_ms, why,
                 why_len) ||
        get_long(obj, "chunk_interval_ms", 0, MAX_DELAY_MS, &s->chunk_interval_ms, why, why_len) ||
        get_long(obj, "drop_after_chunks", 0, MAX_COUNT, &s->drop_after_chunks, why, why_len) ||
        get_long(obj, "error_event_after_chunks", 0, MAX_COUNT, &s->error_event_after_chunks, why,
                 why_len))
        return -1;
    if ((it = cJSON_GetObjectItemCaseSensitive(obj, "malformed"))) {
        const char *m = cJSON_IsString(it) ? it->valuestring : "";
        if (strcmp(m, "json") == 0)
            s->malformed = LLMUX__MOCK_MALFORMED_JSON;
        else if (strcmp(m, "sse") == 0)
            s->malformed = LLMUX__MOCK_MALFORMED_SSE;
        else if (strcmp(m, "truncated") == 0)
            s->malformed = LLMUX__MOCK_MALFORMED_TRUNCATED;
        else
            return fail(why, why_len, "malformed: must be \"json\", \"sse\" or \"truncated\"");
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(obj, "hang"))) {
        if (!cJSON_IsBool(it))
            return fail(why, why_len, "hang: must be true or false");
        s->hang = cJSON_IsTrue(it);
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(obj, "tool_call")) && !cJSON_IsFalse(it) &&
        parse_tool_call(it, s, why, why_len))
        return -1;
    if ((it = cJSON_GetObjectItemCaseSensitive(obj, "text"))) {
        if (!cJSON_IsString(it))
            return fail(why, why_len, "text: must be a string");
        if (!(s->text = dup_s(it->valuestring)))
            return fail(why, why_len, "out of memory");
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(obj, "split_at")) &&
        parse_split_at(it, s, why, why_len))
        return -1;
    int faults = (s->drop_after_chunks >= 0) + (s->error_event_after_chunks >= 0) +
                 (s->malformed != LLMUX__MOCK_MALFORMED_NONE) + s->hang;
    if (faults > 1)
        return fail(why, why_len,
                    "drop_after_chunks, error_event_after_chunks, malformed and "
                    "hang exclude each other: give one");
    if (s->status >= 300 && (faults || s->tool_call || s->text))
        return fail(why, why_len,
                    "status %d answers with an error body: it cannot be combined "
                    "with a fault, tool_call or text",
                    s->status);
    if (s->status && s->status < 300 && (s->tool_call || s->text) && s->body)
        return fail(why, why_len,
                    "body replaces the answer: it cannot be combined with "
                    "tool_call or text");
    if (!(s->source = cJSON_PrintUnformatted(obj)))
        return fail(why, why_len, "out of memory");
    return 0;
}

int llmux__mock_step_parse(const cJSON *obj, llmux__mock_step *out, char *why, size_t why_len)
{
    memset(out, 0, sizeof *out);
    out->provider = -1;
    out->count = 1;
    out->drop_after_chunks = -1;
    out->error_event_after_chunks = -1;
    if (parse_step(obj, out, why, why_len)) {
        llmux__mock_step_clear(out);
        return -1;
    }
    return 0;
}

void llmux__mock_step_clear(llmux__mock_step *s)
{
    if (!s)
        return;
    free(s->model);
    free(s->body);
    for (size_t i = 0; i < s->nheaders; i++) {
        free(s->headers[i].name);
        free(s->headers[i].value);
    }
    free(s->headers);
    free(s->tool_name);
    free(s->tool_args);
    free(s->tool_id);
    free(s->text);
    free(s->split_at);
    free(s->source);
    memset(s, 0, sizeof *s);
    s->provider = -1;
    s->drop_after_chunks = -1;
    s->error_event_after_chunks = -1;
}

static bool copy_str(char **dst, const char *src)
{
    *dst = NULL;
    return !src || (*dst = dup_s(src)) != NULL;
}

int llmux__mock_step_copy(llmux__mock_step *d, const llmux__mock_step *s)
{
    *d = *s;
    d->model = d->body = d->tool_name = d->tool_args = d->tool_id = d->text = d->source = NULL;
    d->headers = NULL;
    d->nheaders = 0;
    d->split_at = NULL;
    d->nsplit = 0;
    bool ok = copy_str(&d->model, s->model) && copy_str(&d->tool_name, s->tool_name) &&
              copy_str(&d->tool_args, s->tool_args) && copy_str(&d->tool_id, s->tool_id) &&
              copy_str(&d->text, s->text) && copy_str(&d->source, s->source);
    if (ok && s->body)
        ok = (d->body = dup_n(s->body, s->body_len)) != NULL;
    for (size_t i = 0; ok && i < s->nheaders; i++)
        ok = add_header(d, s->headers[i].name, s->headers[i].value) == 0;
    if (ok && s->nsplit) {
        ok = (d->split_at = malloc(s->nsplit * sizeof *d->split_at)) != NULL;
        if (ok) {
            memcpy(d->split_at, s->split_at, s->nsplit * sizeof *d->split_at);
            d->nsplit = s->nsplit;
        }
    }
    if (!ok) {
        llmux__mock_step_clear(d);
        return -1;
    }
    return 0;
}

long llmux__mock_script_add(llmux__mock_script *script, const char *json, size_t len, char *why,
                            size_t why_len)
{
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root)
        return fail(why, why_len, "the script is not valid JSON");
    const cJSON *list = root;
    if (cJSON_IsObject(root)) {
        list = cJSON_GetObjectItemCaseSensitive(root, "steps");
        if (!list || root->child->next) {
            cJSON_Delete(root);
            return fail(why, why_len,
                        "the script must be a JSON array of steps or "
                        "{\"steps\": [...]}");
        }
    }
    if (!cJSON_IsArray(list)) {
        cJSON_Delete(root);
        return fail(why, why_len, "the script must be a JSON array of steps");
    }
    size_t n = (size_t)cJSON_GetArraySize(list);
    if (script->count + n > script->cap) {
        size_t cap = script->cap ? script->cap : 8;
        while (cap < script->count + n)
            cap *= 2;
        llmux__mock_step *grown = realloc(script->steps, cap * sizeof *grown);
        if (!grown) {
            cJSON_Delete(root);
            return fail(why, why_len, "out of memory");
        }
        script->steps = grown;
        script->cap = cap;
    }
    size_t i = 0;
    char msg[256];
    for (const cJSON *e = list->child; e; e = e->next, i++) {
        if (llmux__mock_step_parse(e, &script->steps[script->count + i], msg, sizeof msg)) {
            for (size_t j = 0; j < i; j++)
                llmux__mock_step_clear(&script->steps[script->count + j]);
            cJSON_Delete(root);
            return fail(why, why_len, "step %zu: %s", i, msg);
        }
    }
    script->count += n;
    cJSON_Delete(root);
    return (long)n;
}

bool llmux__mock_script_take(llmux__mock_script *script, int provider, const char *model,
                             llmux__mock_step *out)
{
    memset(out, 0, sizeof *out);
    out->provider = -1;
    out->drop_after_chunks = -1;
    out->error_event_after_chunks = -1;
    for (size_t i = 0; i < script->count; i++) {
        llmux__mock_step *s = &script->steps[i];
        if (s->provider >= 0 && s->provider != provider)
            continue;
        if (s->model && (!model || strcmp(s->model, model) != 0))
            continue;
        if (s->count > 1) {
            if (llmux__mock_step_copy(out, s))
                return false;
            s->count--;
            out->count = 1;
        } else {
            *out = *s;
            memmove(s, s + 1, (script->count - i - 1) * sizeof *s);
            script->count--;
        }
        return true;
    }
    return false;
}

void llmux__mock_script_clear(llmux__mock_script *script)
{
    for (size_t i = 0; i < script->count; i++)
        llmux__mock_step_clear(&script->steps[i]);
    script->count = 0;
}
