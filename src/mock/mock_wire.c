/* mock_wire.c — provider request checks, answers, bodies, stream events and error bodies as
 * the real APIs write them. See mock_wire.h and ../shared/spec/providers.md. */
#include "mock/mock_wire.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const provider_names[] = {"openai", "azure", "anthropic", "google"};

const char *llmux__mock_provider_name(int provider)
{
    if (provider < 0 || provider >= LLMUX__MOCK_PROVIDER_COUNT)
        return "unknown";
    return provider_names[provider];
}

int llmux__mock_provider_from_name(const char *name)
{
    for (int i = 0; name && i < LLMUX__MOCK_PROVIDER_COUNT; i++)
        if (strcmp(name, provider_names[i]) == 0)
            return i;
    return -1;
}

/* ------------------------------------------------------------------------------------ */
/* small helpers                                                                          */
/* ------------------------------------------------------------------------------------ */

static int bad(llmux__mock_error *err, const char *param, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Fills *err as a 400 the API refuses; returns -1. */
static int bad(llmux__mock_error *err, const char *param, const char *code, const char *fmt, ...)
{
    memset(err, 0, sizeof *err);
    err->status = 400;
    err->kind = LLMUX__MOCK_ERR_INVALID;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    snprintf(err->param, sizeof err->param, "%s", param ? param : "");
    snprintf(err->code, sizeof err->code, "%s", code ? code : "");
    return -1;
}

static const cJSON *get(const cJSON *obj, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(obj, name);
}

static const char *type_name(const cJSON *it)
{
    if (cJSON_IsString(it))
        return "a string";
    if (cJSON_IsNumber(it))
        return "a number";
    if (cJSON_IsBool(it))
        return "a boolean";
    if (cJSON_IsNull(it))
        return "null";
    if (cJSON_IsArray(it))
        return "an array";
    return "an object";
}

static bool in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

static bool is_int(const cJSON *it)
{
    return cJSON_IsNumber(it) && it->valuedouble == floor(it->valuedouble);
}

long llmux__mock_count_tokens(const char *text)
{
    long tokens = 0;
    const char *p = text;
    while (p && *p) {
        while (*p && isspace((unsigned char)*p))
            p++;
        size_t n = 0;
        while (p[n] && !isspace((unsigned char)p[n]))
            n++;
        tokens += (long)((n + 3) / 4);
        p += n;
    }
    return tokens;
}

/* Tokens of every string value under `it`, skipping structural keys. */
static long count_json_tokens(const cJSON *it)
{
    long n = 0;
    for (; it; it = it->next) {
        if (it->string && (strcmp(it->string, "role") == 0 || strcmp(it->string, "type") == 0))
            continue;
        if (cJSON_IsString(it))
            n += llmux__mock_count_tokens(it->valuestring);
        else if (cJSON_IsArray(it) || cJSON_IsObject(it))
            n += count_json_tokens(it->child);
    }
    return n;
}

static long count_tokens_of(const cJSON *it)
{
    if (!it)
        return 0;
    if (cJSON_IsString(it))
        return llmux__mock_count_tokens(it->valuestring);
    return count_json_tokens(it->child);
}

void llmux__mock_random_chars(uint64_t *rng, char *out, size_t n)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    for (size_t i = 0; i < n; i++) {
        /* xorshift64* */
        uint64_t x = *rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *rng = x;
        out[i] = alphabet[((x * 2685821657736338717ULL) >> 33) % (sizeof alphabet - 1)];
    }
    out[n] = '\0';
}

static char *dup_s(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d)
        memcpy(d, s, n + 1);
    return d;
}

/* Appends the text of a content value (string, or parts/blocks with a text field). */
static void append_text(char **acc, const cJSON *content, const char *part_text_key)
{
    const char *pieces[64];
    size_t np = 0;
    if (cJSON_IsString(content)) {
        pieces[np++] = content->valuestring;
    } else if (cJSON_IsArray(content)) {
        for (const cJSON *p = content->child; p && np < 64; p = p->next) {
            const cJSON *t = get(p, part_text_key);
            if (cJSON_IsString(t))
                pieces[np++] = t->valuestring;
        }
    }
    size_t total = 0;
    for (size_t i = 0; i < np; i++)
        total += strlen(pieces[i]);
    char *s = malloc(total + 1);
    if (!s)
        return;
    s[0] = '\0';
    for (size_t i = 0; i < np; i++)
        strcat(s, pieces[i]);
    free(*acc);
    *acc = s;
}

static int add_stop(llmux__mock_call *c, const char *s)
{
    char **v = realloc(c->stops, (c->nstops + 1) * sizeof *v);
    if (!v)
        return -1;
    c->stops = v;
    if (!(v[c->nstops] = dup_s(s)))
        return -1;
    c->nstops++;
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* OpenAI / Azure request checks                                                          */
/* ------------------------------------------------------------------------------------ */

static const char *const openai_fields[] = {"model",
                                            "messages",
                                            "frequency_penalty",
                                            "logit_bias",
                                            "logprobs",
                                            "top_logprobs",
                                            "max_tokens",
                                            "max_completion_tokens",
                                            "n",
                                            "presence_penalty",
                                            "response_format",
                                            "seed",
                                            "service_tier",
                                            "stop",
                                            "stream",
                                            "stream_options",
                                            "temperature",
                                            "top_p",
                                            "tools",
                                            "tool_choice",
                                            "parallel_tool_calls",
                                            "user",
                                            "function_call",
                                            "functions",
                                            "metadata",
                                            "store",
                                            "modalities",
                                            "audio",
                                            "prediction",
                                            "reasoning_effort",
                                            "web_search_options",
                                            "verbosity",
                                            "prompt_cache_key",
                                            "safety_identifier",
                                            "data_sources",
                                            NULL};

static const char *const openai_roles[] = {"system", "developer", "user", "assistant",
                                           "tool",   "function",  NULL};

static int check_openai_message(const cJSON *m, size_t i, const cJSON **pending_calls,
                                llmux__mock_error *err)
{
    char param[96];
    if (!cJSON_IsObject(m)) {
        snprintf(param, sizeof param, "messages[%zu]", i);
        return bad(err, param, "invalid_type",
                   "Invalid type for 'messages[%zu]': expected an object, but got %s instead.", i,
                   type_name(m));
    }
    const cJSON *role = get(m, "role");
    snprintf(param, sizeof param, "messages[%zu].role", i);
    if (!role)
        return bad(err, param, "missing_required_parameter",
                   "Missing required parameter: 'messages[%zu].role'.", i);
    if (!cJSON_IsString(role) || !in_list(role->valuestring, openai_roles))
        return bad(err, param, "invalid_value",
                   "Invalid value: '%s'. Supported values are: 'system', 'assistant', 'user', "
                   "'function', 'tool', and 'developer'.",
                   cJSON_IsString(role) ? role->valuestring : "?");
    const char *r = role->valuestring;
    const cJSON *content = get(m, "content");
    const cJSON *calls = get(m, "tool_calls");
    if (*pending_calls && strcmp(r, "tool") != 0) {
        const cJSON *first = (*pending_calls)->child;
        const cJSON *id = first ? get(first, "id") : NULL;
        return bad(err, "messages", NULL,
                   "An assistant message with 'tool_calls' must be followed by tool messages "
                   "responding to each 'tool_call_id'. The following tool_call_ids did not "
                   "have response messages: %s",
                   cJSON_IsString(id) ? id->valuestring : "?");
    }
    snprintf(param, sizeof param, "messages[%zu].content", i);
    if (strcmp(r, "assistant") == 0) {
        if (content && !cJSON_IsNull(content) && !cJSON_IsString(content) &&
            !cJSON_IsArray(content))
            return bad(err, param, "invalid_type",
                       "Invalid type for 'messages[%zu].content': expected one of a string or "
                       "array of objects, but got %s instead.",
                       i, type_name(content));
        if ((!content || cJSON_IsNull(content)) && !calls)
            return bad(err, param, "missing_required_parameter",
                       "Missing required parameter: 'messages[%zu].content'.", i);
        if (calls) {
            if (!cJSON_IsArray(calls) || cJSON_GetArraySize(calls) == 0)
                return bad(err, "messages", "invalid_type",
                           "Invalid 'messages[%zu].tool_calls': expected a non-empty array.", i);
            size_t j = 0;
            for (const cJSON *tc = calls->child; tc; tc = tc->next, j++) {
                const cJSON *fn = get(tc, "function");
                const cJSON *args = fn ? get(fn, "arguments") : NULL;
                const cJSON *name = fn ? get(fn, "name") : NULL;
                snprintf(param, sizeof param, "messages[%zu].tool_calls[%zu]", i, j);
                if (!cJSON_IsString(get(tc, "id")))
                    return bad(err, param, "missing_required_parameter",
                               "Missing required parameter: 'messages[%zu].tool_calls[%zu].id'.", i,
                               j);
                const cJSON *type = get(tc, "type");
                if (!cJSON_IsString(type) || strcmp(type->valuestring, "function") != 0)
                    return bad(err, param, "invalid_value",
                               "Invalid value for 'messages[%zu].tool_calls[%zu].type': expected "
                               "'function'.",
                               i, j);
                if (!cJSON_IsString(name))
                    return bad(err, param, "missing_required_parameter",
                               "Missing required parameter: "
                               "'messages[%zu].tool_calls[%zu].function.name'.",
                               i, j);
                if (!cJSON_IsString(args))
                    return bad(err, param, "invalid_type",
                               "Invalid type for 'messages[%zu].tool_calls[%zu].function."
                               "arguments': expected a string, but got %s instead.",
                               i, j, args ? type_name(args) : "nothing");
            }
            *pending_calls = calls;
        }
        return 0;
    }
    if (!content)
        return bad(err, param, "missing_required_parameter",
                   "Missing required parameter: 'messages[%zu].content'.", i);
    if (!cJSON_IsString(content) && !cJSON_IsArray(content))
        return bad(err, param, "invalid_type",
                   "Invalid type for 'messages[%zu].content': expected one of a string or array "
                   "of objects, but got %s instead.",
                   i, type_name(content));
    if (cJSON_IsArray(content)) {
        size_t j = 0;
        for (const cJSON *p = content->child; p; p = p->next, j++)
            if (!cJSON_IsString(get(p, "type")))
                return bad(err, param, "missing_required_parameter",
                           "Missing required parameter: 'messages[%zu].content[%zu].type'.", i, j);
    }
    if (strcmp(r, "tool") == 0) {
        const cJSON *id = get(m, "tool_call_id");
        if (!cJSON_IsString(id))
            return bad(err, "messages", "missing_required_parameter",
                       "Missing required parameter: 'messages[%zu].tool_call_id'.", i);
        if (!*pending_calls)
            return bad(err, "messages", NULL,
                       "Invalid parameter: messages with role 'tool' must be a response to a "
                       "preceeding message with 'tool_calls'.");
        /* drop the answered call; when none is left the assistant turn is complete */
        cJSON *calls_mut = (cJSON *)*pending_calls;
        int k = 0;
        bool found = false;
        for (cJSON *tc = calls_mut->child; tc; tc = tc->next, k++) {
            const cJSON *tid = get(tc, "id");
            if (cJSON_IsString(tid) && strcmp(tid->valuestring, id->valuestring) == 0) {
                cJSON_DeleteItemFromArray(calls_mut, k);
                found = true;
                break;
            }
        }
        if (!found)
            return bad(err, "messages", NULL,
                       "Invalid parameter: 'tool_call_id' of '%s' not found in 'tool_calls' of "
                       "previous message.",
                       id->valuestring);
        if (!calls_mut->child)
            *pending_calls = NULL;
    }
    return 0;
}

static int parse_openai(cJSON *root, bool azure, llmux__mock_call *c, llmux__mock_error *err)
{
    for (const cJSON *f = root->child; f; f = f->next)
        if (!in_list(f->string, openai_fields))
            return bad(err, NULL, NULL, "Unrecognized request argument supplied: %s", f->string);
    const cJSON *model = get(root, "model");
    if (!c->model) {
        if (!cJSON_IsString(model) || !*model->valuestring)
            return bad(err, NULL, NULL, "you must provide a model parameter");
        if (!(c->model = dup_s(model->valuestring)))
            return -2;
    }
    (void)azure;
    const cJSON *messages = get(root, "messages");
    if (!messages)
        return bad(err, "messages", "missing_required_parameter",
                   "Missing required parameter: 'messages'.");
    if (!cJSON_IsArray(messages))
        return bad(err, "messages", "invalid_type",
                   "Invalid type for 'messages': expected an array of objects, but got %s "
                   "instead.",
                   type_name(messages));
    if (!messages->child)
        return bad(err, "messages", "empty_array",
                   "Invalid 'messages': empty array. Expected an array with minimum length 1, "
                   "but got an empty array instead.");
    const cJSON *pending = NULL;
    size_t i = 0;
    for (const cJSON *m = messages->child; m; m = m->next, i++) {
        if (check_openai_message(m, i, &pending, err))
            return -1;
        const cJSON *role = get(m, "role");
        if (strcmp(role->valuestring, "user") == 0)
            append_text(&c->last_user, get(m, "content"), "text");
    }
    if (pending) {
        const cJSON *id = pending->child ? get(pending->child, "id") : NULL;
        return bad(err, "messages", NULL,
                   "An assistant message with 'tool_calls' must be followed by tool messages "
                   "responding to each 'tool_call_id'. The following tool_call_ids did not "
                   "have response messages: %s",
                   cJSON_IsString(id) ? id->valuestring : "?");
    }
    const cJSON *it;
    if ((it = get(root, "temperature")) && !cJSON_IsNull(it)) {
        if (!cJSON_IsNumber(it))
            return bad(err, "temperature", "invalid_type",
                       "Invalid type for 'temperature': expected a decimal, but got %s instead.",
                       type_name(it));
        if (it->valuedouble < 0 || it->valuedouble > 2)
            return bad(err, "temperature",
                       it->valuedouble < 0 ? "decimal_below_min_value" : "decimal_above_max_value",
                       "Invalid 'temperature': decimal %s value. Expected a value %s, but got %g "
                       "instead.",
                       it->valuedouble < 0 ? "below minimum" : "above maximum",
                       it->valuedouble < 0 ? ">= 0" : "<= 2", it->valuedouble);
    }
    if ((it = get(root, "top_p")) && !cJSON_IsNull(it) &&
        (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > 1))
        return bad(err, "top_p", "invalid_value",
                   "Invalid 'top_p': expected a decimal from 0 to 1.");
    static const char *const caps[] = {"max_completion_tokens", "max_tokens"};
    for (size_t k = 0; k < 2; k++) {
        if ((it = get(root, caps[k])) && !cJSON_IsNull(it)) {
            if (!is_int(it) || it->valuedouble < 1)
                return bad(err, caps[k], "integer_below_min_value",
                           "Invalid '%s': expected an integer >= 1.", caps[k]);
            if (c->max_tokens < 0)
                c->max_tokens = (long)it->valuedouble;
        }
    }
    if ((it = get(root, "stop")) && !cJSON_IsNull(it)) {
        if (cJSON_IsString(it)) {
            if (add_stop(c, it->valuestring))
                return -2;
        } else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) <= 4) {
            for (const cJSON *s = it->child; s; s = s->next) {
                if (!cJSON_IsString(s))
                    return bad(err, "stop", "invalid_type",
                               "Invalid type for 'stop[]': expected a string.");
                if (add_stop(c, s->valuestring))
                    return -2;
            }
        } else {
            return bad(err, "stop", "invalid_value",
                       "Invalid 'stop': expected a string or an array of at most 4 strings.");
        }
    }
    if ((it = get(root, "stream")) && !cJSON_IsNull(it)) {
        if (!cJSON_IsBool(it))
            return bad(err, "stream", "invalid_type",
                       "Invalid type for 'stream': expected a boolean, but got %s instead.",
                       type_name(it));
        c->stream = cJSON_IsTrue(it);
    }
    if ((it = get(root, "stream_options")) && !cJSON_IsNull(it)) {
        if (!c->stream)
            return bad(err, "stream_options", NULL,
                       "The 'stream_options' parameter is only allowed when 'stream' is "
                       "enabled.");
        const cJSON *iu = get(it, "include_usage");
        if (!cJSON_IsObject(it) || (iu && !cJSON_IsBool(iu)))
            return bad(err, "stream_options", "invalid_type",
                       "Invalid 'stream_options': expected an object with a boolean "
                       "'include_usage'.");
        c->include_usage = cJSON_IsTrue(iu);
    }
    const cJSON *tools = get(root, "tools");
    if (tools && !cJSON_IsNull(tools)) {
        if (!cJSON_IsArray(tools))
            return bad(err, "tools", "invalid_type",
                       "Invalid type for 'tools': expected an array of objects, but got %s "
                       "instead.",
                       type_name(tools));
        size_t j = 0;
        for (const cJSON *t = tools->child; t; t = t->next, j++) {
            char param[64];
            snprintf(param, sizeof param, "tools[%zu].function", j);
            const cJSON *type = get(t, "type");
            const cJSON *fn = get(t, "function");
            if (!cJSON_IsString(type) || strcmp(type->valuestring, "function") != 0)
                return bad(err, param, "invalid_value",
                           "Invalid value for 'tools[%zu].type': expected 'function'.", j);
            if (!cJSON_IsObject(fn))
                return bad(err, param, "missing_required_parameter",
                           "Missing required parameter: 'tools[%zu].function'.", j);
            const cJSON *name = get(fn, "name");
            if (!cJSON_IsString(name) || !*name->valuestring || strlen(name->valuestring) > 64 ||
                strspn(name->valuestring, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                          "0123456789_-") != strlen(name->valuestring))
                return bad(err, param, "invalid_value",
                           "Invalid 'tools[%zu].function.name': string does not match pattern. "
                           "Expected a string that matches the pattern '^[a-zA-Z0-9_-]{1,64}$'.",
                           j);
            const cJSON *params = get(fn, "parameters");
            if (params && !cJSON_IsObject(params))
                return bad(err, param, "invalid_type",
                           "Invalid type for 'tools[%zu].function.parameters': expected an "
                           "object.",
                           j);
            if (!c->first_tool && !(c->first_tool = dup_s(name->valuestring)))
                return -2;
        }
    }
    const cJSON *choice = get(root, "tool_choice");
    if (choice && !cJSON_IsNull(choice)) {
        if (!c->first_tool)
            return bad(err, "tool_choice", NULL,
                       "Invalid value for 'tool_choice': 'tool_choice' is only allowed when "
                       "'tools' are specified.");
        static const char *const modes[] = {"none", "auto", "required", NULL};
        bool ok = cJSON_IsString(choice)
                      ? in_list(choice->valuestring, modes)
                      : cJSON_IsObject(choice) && cJSON_IsObject(get(choice, "function")) &&
                            cJSON_IsString(get(get(choice, "function"), "name"));
        if (!ok)
            return bad(err, "tool_choice", "invalid_value",
                       "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or "
                       "{\"type\": \"function\", \"function\": {\"name\": ...}}.");
    }
    c->prompt_tokens = count_tokens_of(messages) + count_tokens_of(tools);
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Anthropic request checks                                                               */
/* ------------------------------------------------------------------------------------ */

static const char *const anthropic_fields[] = {"model",
                                               "messages",
                                               "max_tokens",
                                               "system",
                                               "metadata",
                                               "stop_sequences",
                                               "stream",
                                               "temperature",
                                               "top_k",
                                               "top_p",
                                               "tools",
                                               "tool_choice",
                                               "thinking",
                                               "service_tier",
                                               "container",
                                               "mcp_servers",
                                               "context_management",
                                               NULL};

static int check_anthropic_block(const cJSON *b, size_t i, size_t j, const char *role,
                                 const cJSON *prev_tool_ids, llmux__mock_error *err)
{
    const cJSON *type = get(b, "type");
    if (!cJSON_IsObject(b) || !cJSON_IsString(type))
        return bad(err, NULL, NULL, "messages.%zu.content.%zu.type: Field required", i, j);
    const char *t = type->valuestring;
    if (strcmp(t, "text") == 0) {
        const cJSON *text = get(b, "text");
        if (!cJSON_IsString(text))
            return bad(err, NULL, NULL, "messages.%zu.content.%zu.text: Field required", i, j);
        if (!*text->valuestring)
            return bad(err, NULL, NULL, "messages: text content blocks must be non-empty");
    } else if (strcmp(t, "tool_use") == 0) {
        if (strcmp(role, "assistant") != 0)
            return bad(err, NULL, NULL,
                       "messages.%zu.content.%zu: tool_use blocks are only allowed in assistant "
                       "messages",
                       i, j);
        if (!cJSON_IsString(get(b, "id")) || !cJSON_IsString(get(b, "name")))
            return bad(err, NULL, NULL,
                       "messages.%zu.content.%zu.tool_use: id and name are "
                       "required",
                       i, j);
        if (!cJSON_IsObject(get(b, "input")))
            return bad(err, NULL, NULL,
                       "messages.%zu.content.%zu.tool_use.input: Input should be a valid "
                       "dictionary",
                       i, j);
    } else if (strcmp(t, "tool_result") == 0) {
        const cJSON *id = get(b, "tool_use_id");
        if (strcmp(role, "user") != 0)
            return bad(err, NULL, NULL,
                       "messages.%zu.content.%zu: tool_result blocks are only allowed in user "
                       "messages",
                       i, j);
        if (!cJSON_IsString(id))
            return bad(err, NULL, NULL,
                       "messages.%zu.content.%zu.tool_result.tool_use_id: Field required", i, j);
        bool found = false;
        for (const cJSON *p = prev_tool_ids ? prev_tool_ids->child : NULL; p; p = p->next)
            if (strcmp(p->valuestring, id->valuestring) == 0)
                found = true;
        if (!found)
            return bad(err, NULL, NULL,
                       "messages.%zu.content.%zu: unexpected `tool_use_id` found in "
                       "`tool_result` blocks: %s. Each `tool_result` block must have a "
                       "corresponding `tool_use` block in the previous message.",
                       i, j, id->valuestring);
        const cJSON *content = get(b, "content");
        if (content && !cJSON_IsString(content) && !cJSON_IsArray(content))
            return bad(err, NULL, NULL,
                       "messages.%zu.content.%zu.tool_result.content: Input should be a valid "
                       "string or list",
                       i, j);
    } else {
        static const char *const other[] = {"image",
                                            "document",
                                            "thinking",
                                            "redacted_thinking",
                                            "search_result",
                                            "server_tool_use",
                                            "web_search_tool_result",
                                            NULL};
        if (!in_list(t, other))
            return bad(err, NULL, NULL,
                       "messages.%zu.content.%zu.type: Input tag '%s' found using 'type' does "
                       "not match any of the expected tags",
                       i, j, t);
    }
    return 0;
}

static int parse_anthropic(cJSON *root, llmux__mock_call *c, llmux__mock_error *err)
{
    for (const cJSON *f = root->child; f; f = f->next)
        if (!in_list(f->string, anthropic_fields))
            return bad(err, NULL, NULL, "%s: Extra inputs are not permitted", f->string);
    const cJSON *model = get(root, "model");
    if (!model)
        return bad(err, NULL, NULL, "model: Field required");
    if (!cJSON_IsString(model) || !*model->valuestring)
        return bad(err, NULL, NULL, "model: Input should be a valid string");
    if (!(c->model = dup_s(model->valuestring)))
        return -2;
    const cJSON *max = get(root, "max_tokens");
    if (!max)
        return bad(err, NULL, NULL, "max_tokens: Field required");
    if (!is_int(max))
        return bad(err, NULL, NULL, "max_tokens: Input should be a valid integer");
    if (max->valuedouble < 1)
        return bad(err, NULL, NULL, "max_tokens: Input should be greater than or equal to 1");
    c->max_tokens = (long)max->valuedouble;
    const cJSON *messages = get(root, "messages");
    if (!messages)
        return bad(err, NULL, NULL, "messages: Field required");
    if (!cJSON_IsArray(messages))
        return bad(err, NULL, NULL, "messages: Input should be a valid list");
    if (!messages->child)
        return bad(err, NULL, NULL, "messages: at least one message is required");
    cJSON *prev_ids = NULL; /* tool_use ids of the previous assistant turn */
    size_t i = 0;
    int rc = 0;
    for (const cJSON *m = messages->child; m && !rc; m = m->next, i++) {
        const cJSON *role = get(m, "role");
        const cJSON *content = get(m, "content");
        if (cJSON_IsString(role) && strcmp(role->valuestring, "system") == 0) {
            rc = bad(err, NULL, NULL,
                     "messages: Unexpected role \"system\". The Messages API accepts a top-level "
                     "`system` parameter, not \"system\" as an input message role.");
            break;
        }
        if (!cJSON_IsString(role) || (strcmp(role->valuestring, "user") != 0 &&
                                      strcmp(role->valuestring, "assistant") != 0)) {
            rc =
                bad(err, NULL, NULL, "messages.%zu.role: Input should be 'user' or 'assistant'", i);
            break;
        }
        bool last = m->next == NULL, assistant = strcmp(role->valuestring, "assistant") == 0;
        if (!content || (!cJSON_IsString(content) && !cJSON_IsArray(content))) {
            rc = bad(err, NULL, NULL, "messages.%zu.content: Field required", i);
            break;
        }
        if ((cJSON_IsString(content) && !*content->valuestring && !(last && assistant)) ||
            (cJSON_IsArray(content) && !content->child && !(last && assistant))) {
            rc = bad(err, NULL, NULL,
                     "messages.%zu: all messages must have non-empty content except for the "
                     "optional final assistant message",
                     i);
            break;
        }
        cJSON *ids = cJSON_CreateArray();
        if (!ids) {
            rc = -2;
            break;
        }
        size_t j = 0;
        size_t results = 0;
        for (const cJSON *b = cJSON_IsArray(content) ? content->child : NULL; b && !rc;
             b = b->next, j++) {
            rc = check_anthropic_block(b, i, j, role->valuestring, prev_ids, err);
            const cJSON *type = get(b, "type");
            if (!rc && strcmp(type->valuestring, "tool_use") == 0)
                cJSON_AddItemToArray(ids, cJSON_CreateString(get(b, "id")->valuestring));
            if (!rc && strcmp(type->valuestring, "tool_result") == 0)
                results++;
        }
        if (!rc && prev_ids && prev_ids->child &&
            (assistant || results < (size_t)cJSON_GetArraySize(prev_ids)))
            rc = bad(err, NULL, NULL,
                     "messages.%zu: `tool_use` ids were found without `tool_result` blocks "
                     "immediately after: %s. Each `tool_use` block must have a corresponding "
                     "`tool_result` block in the next message.",
                     i - 1, prev_ids->child->valuestring);
        cJSON_Delete(prev_ids);
        prev_ids = ids;
        if (!rc && !assistant)
            append_text(&c->last_user, content, "text");
    }
    cJSON_Delete(prev_ids);
    if (rc)
        return rc;
    const cJSON *system = get(root, "system");
    if (system && !cJSON_IsString(system) && !cJSON_IsArray(system))
        return bad(err, NULL, NULL, "system: Input should be a valid string or list");
    if (cJSON_IsArray(system)) {
        size_t j = 0;
        for (const cJSON *b = system->child; b; b = b->next, j++) {
            const cJSON *type = get(b, "type");
            if (!cJSON_IsString(type) || strcmp(type->valuestring, "text") != 0 ||
                !cJSON_IsString(get(b, "text")))
                return bad(err, NULL, NULL, "system.%zu: Input should be a text block", j);
        }
    }
    const cJSON *it;
    if ((it = get(root, "temperature")) &&
        (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > 1))
        return bad(err, NULL, NULL, "temperature: Input should be less than or equal to 1");
    if ((it = get(root, "top_p")) &&
        (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > 1))
        return bad(err, NULL, NULL, "top_p: Input should be less than or equal to 1");
    if ((it = get(root, "stop_sequences"))) {
        if (!cJSON_IsArray(it))
            return bad(err, NULL, NULL, "stop_sequences: Input should be a valid list");
        for (const cJSON *s = it->child; s; s = s->next) {
            if (!cJSON_IsString(s))
                return bad(err, NULL, NULL, "stop_sequences: Input should be a valid string");
            if (add_stop(c, s->valuestring))
                return -2;
        }
    }
    if ((it = get(root, "stream"))) {
        if (!cJSON_IsBool(it))
            return bad(err, NULL, NULL, "stream: Input should be a valid boolean");
        c->stream = cJSON_IsTrue(it);
    }
    const cJSON *tools = get(root, "tools");
    if (tools) {
        if (!cJSON_IsArray(tools))
            return bad(err, NULL, NULL, "tools: Input should be a valid list");
        size_t j = 0;
        for (const cJSON *t = tools->child; t; t = t->next, j++) {
            const cJSON *name = get(t, "name");
            if (!cJSON_IsString(name) || !*name->valuestring)
                return bad(err, NULL, NULL, "tools.%zu.name: Field required", j);
            if (!get(t, "type") && !cJSON_IsObject(get(t, "input_schema")))
                return bad(err, NULL, NULL, "tools.%zu.custom.input_schema: Field required", j);
            if (get(t, "parameters") || get(t, "function"))
                return bad(err, NULL, NULL, "tools.%zu.custom.%s: Extra inputs are not permitted",
                           j, get(t, "parameters") ? "parameters" : "function");
            if (!c->first_tool && !(c->first_tool = dup_s(name->valuestring)))
                return -2;
        }
    }
    const cJSON *choice = get(root, "tool_choice");
    if (choice) {
        static const char *const types[] = {"auto", "any", "tool", "none", NULL};
        const cJSON *type = get(choice, "type");
        if (!cJSON_IsObject(choice) || !cJSON_IsString(type) || !in_list(type->valuestring, types))
            return bad(err, NULL, NULL,
                       "tool_choice: Input tag found using 'type' does not match any of the "
                       "expected tags: 'auto', 'any', 'tool', 'none'");
        if (strcmp(type->valuestring, "tool") == 0 && !cJSON_IsString(get(choice, "name")))
            return bad(err, NULL, NULL, "tool_choice.tool.name: Field required");
    }
    c->prompt_tokens = count_tokens_of(messages) + count_tokens_of(system) + count_tokens_of(tools);
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Google request checks                                                                  */
/* ------------------------------------------------------------------------------------ */

/* Google's REST layer takes both camelCase and snake_case names; compare in snake_case. */
static void to_snake(const char *in, char *out, size_t n)
{
    size_t o = 0;
    for (; *in && o + 2 < n; in++) {
        if (*in >= 'A' && *in <= 'Z') {
            out[o++] = '_';
            out[o++] = (char)(*in - 'A' + 'a');
        } else {
            out[o++] = *in;
        }
    }
    out[o] = '\0';
}

static const char *const google_fields[] = {"contents",
                                            "tools",
                                            "tool_config",
                                            "safety_settings",
                                            "system_instruction",
                                            "generation_config",
                                            "cached_content",
                                            "labels",
                                            NULL};

static const char *const google_gen_fields[] = {"temperature",
                                                "top_p",
                                                "top_k",
                                                "candidate_count",
                                                "max_output_tokens",
                                                "stop_sequences",
                                                "response_mime_type",
                                                "response_schema",
                                                "response_json_schema",
                                                "presence_penalty",
                                                "frequency_penalty",
                                                "seed",
                                                "response_logprobs",
                                                "logprobs",
                                                "thinking_config",
                                                "response_modalities",
                                                "speech_config",
                                                "media_resolution",
                                                "enable_enhanced_civic_answers",
                                                "image_config",
                                                NULL};

static const char *const google_part_fields[] = {"text",
                                                 "inline_data",
                                                 "function_call",
                                                 "function_response",
                                                 "file_data",
                                                 "executable_code",
                                                 "code_execution_result",
                                                 "thought",
                                                 "thought_signature",
                                                 "video_metadata",
                                                 "part_metadata",
                                                 NULL};

static const cJSON *get_g(const cJSON *obj, const char *snake)
{
    for (const cJSON *f = obj ? obj->child : NULL; f; f = f->next) {
        char s[96];
        to_snake(f->string, s, sizeof s);
        if (strcmp(s, snake) == 0)
            return f;
    }
    return NULL;
}

static int unknown_google(const cJSON *obj, const char *const *allowed, const char *where,
                          llmux__mock_error *err)
{
    for (const cJSON *f = obj->child; f; f = f->next) {
        char s[96];
        to_snake(f->string, s, sizeof s);
        if (!in_list(s, allowed)) {
            if (where)
                return bad(err, NULL, NULL,
                           "Invalid JSON payload received. Unknown name \"%s\" at '%s': Cannot "
                           "find field.",
                           f->string, where);
            return bad(err, NULL, NULL,
                       "Invalid JSON payload received. Unknown name \"%s\": Cannot find field.",
                       f->string);
        }
    }
    return 0;
}

static int check_google_parts(const cJSON *parts, const char *where, llmux__mock_error *err)
{
    if (!cJSON_IsArray(parts) || !parts->child)
        return bad(err, NULL, NULL,
                   "* GenerateContentRequest.%s.parts: contents.parts must not "
                   "be empty.\n",
                   where);
    size_t j = 0;
    for (const cJSON *p = parts->child; p; p = p->next, j++) {
        char at[96];
        snprintf(at, sizeof at, "%s.parts[%zu]", where, j);
        if (!cJSON_IsObject(p))
            return bad(err, NULL, NULL, "Invalid value at '%s' (Part), expected an object", at);
        if (unknown_google(p, google_part_fields, at, err))
            return -1;
        const cJSON *text = get_g(p, "text");
        const cJSON *fc = get_g(p, "function_call");
        const cJSON *fr = get_g(p, "function_response");
        int data = (text != NULL) + (fc != NULL) + (fr != NULL) +
                   (get_g(p, "inline_data") != NULL) + (get_g(p, "file_data") != NULL) +
                   (get_g(p, "executable_code") != NULL) +
                   (get_g(p, "code_execution_result") != NULL);
        if (data != 1)
            return bad(err, NULL, NULL,
                       "* GenerateContentRequest.%s.data: required oneof field 'data' must have "
                       "one initialized field\n",
                       at);
        if (text && !cJSON_IsString(text))
            return bad(err, NULL, NULL, "Invalid value at '%s.text' (TYPE_STRING), %s", at,
                       type_name(text));
        if (fc) {
            const cJSON *args = get_g(fc, "args");
            if (!cJSON_IsString(get_g(fc, "name")))
                return bad(err, NULL, NULL,
                           "* GenerateContentRequest.%s.function_call.name: Name cannot be "
                           "empty.\n",
                           at);
            if (args && !cJSON_IsObject(args))
                return bad(err, NULL, NULL,
                           "Invalid value at '%s.function_call.args' "
                           "(type.googleapis.com/google.protobuf.Struct), %s",
                           at, type_name(args));
        }
        if (fr) {
            const cJSON *resp = get_g(fr, "response");
            if (!cJSON_IsString(get_g(fr, "name")))
                return bad(err, NULL, NULL,
                           "* GenerateContentRequest.%s.function_response.name: Name cannot be "
                           "empty.\n",
                           at);
            if (!cJSON_IsObject(resp))
                return bad(err, NULL, NULL,
                           "Invalid value at '%s.function_response.response' "
                           "(type.googleapis.com/google.protobuf.Struct), %s",
                           at, resp ? type_name(resp) : "nothing");
        }
    }
    return 0;
}

static int parse_google(cJSON *root, llmux__mock_call *c, llmux__mock_error *err)
{
    if (unknown_google(root, google_fields, NULL, err))
        return -1;
    const cJSON *contents = get_g(root, "contents");
    if (!cJSON_IsArray(contents) || !contents->child)
        return bad(err, NULL, NULL,
                   "* GenerateContentRequest.contents: contents is not specified\n");
    size_t i = 0;
    for (const cJSON *m = contents->child; m; m = m->next, i++) {
        char where[48];
        snprintf(where, sizeof where, "contents[%zu]", i);
        if (!cJSON_IsObject(m))
            return bad(err, NULL, NULL, "Invalid value at '%s' (Content)", where);
        const cJSON *role = get_g(m, "role");
        if (role && (!cJSON_IsString(role) || (strcmp(role->valuestring, "user") != 0 &&
                                               strcmp(role->valuestring, "model") != 0)))
            return bad(err, NULL, NULL, "Please use a valid role: user, model.");
        if (check_google_parts(get_g(m, "parts"), where, err))
            return -1;
        if (!role || strcmp(role->valuestring, "user") == 0) {
            char *t = NULL;
            append_text(&t, get_g(m, "parts"), "text");
            if (t && *t) {
                free(c->last_user);
                c->last_user = t;
            } else {
                free(t);
            }
        }
    }
    const cJSON *sys = get_g(root, "system_instruction");
    if (sys && (!cJSON_IsObject(sys) ||
                check_google_parts(get_g(sys, "parts"), "system_instruction", err)))
        return sys && !cJSON_IsObject(sys)
                   ? bad(err, NULL, NULL, "Invalid value at 'system_instruction' (Content)")
                   : -1;
    const cJSON *gen = get_g(root, "generation_config");
    if (gen) {
        if (!cJSON_IsObject(gen))
            return bad(err, NULL, NULL,
                       "Invalid value at 'generation_config' "
                       "(GenerationConfig)");
        if (unknown_google(gen, google_gen_fields, "generation_config", err))
            return -1;
        const cJSON *t = get_g(gen, "temperature");
        if (t && (!cJSON_IsNumber(t) || t->valuedouble < 0 || t->valuedouble > 2))
            return bad(err, NULL, NULL,
                       "* GenerateContentRequest.generation_config.temperature: temperature must "
                       "be in the range [0.0, 2.0]\n");
        const cJSON *mx = get_g(gen, "max_output_tokens");
        if (mx) {
            if (!is_int(mx) || mx->valuedouble < 1)
                return bad(err, NULL, NULL,
                           "Invalid value at 'generation_config.max_output_tokens' (TYPE_INT32)");
            c->max_tokens = (long)mx->valuedouble;
        }
        const cJSON *stops = get_g(gen, "stop_sequences");
        if (stops) {
            if (!cJSON_IsArray(stops) || cJSON_GetArraySize(stops) > 5)
                return bad(err, NULL, NULL,
                           "* GenerateContentRequest.generation_config.stop_sequences: at most "
                           "5 stop sequences are allowed\n");
            for (const cJSON *s = stops->child; s; s = s->next) {
                if (!cJSON_IsString(s))
                    return bad(err, NULL, NULL,
                               "Invalid value at "
                               "'generation_config.stop_sequences' (TYPE_STRING)");
                if (add_stop(c, s->valuestring))
                    return -2;
            }
        }
    }
    const cJSON *tools = get_g(root, "tools");
    if (tools) {
        if (!cJSON_IsArray(tools))
            return bad(err, NULL, NULL, "Invalid value at 'tools' (Tool), expected a list");
        for (const cJSON *t = tools->child; t; t = t->next) {
            const cJSON *decls = get_g(t, "function_declarations");
            if (decls && !cJSON_IsArray(decls))
                return bad(err, NULL, NULL,
                           "Invalid value at 'tools.function_declarations', expected a list");
            size_t j = 0;
            for (const cJSON *d = decls ? decls->child : NULL; d; d = d->next, j++) {
                const cJSON *name = get_g(d, "name");
                if (!cJSON_IsString(name) || !*name->valuestring)
                    return bad(err, NULL, NULL,
                               "* GenerateContentRequest.tools[0].function_declarations[%zu]."
                               "name: Name cannot be empty.\n",
                               j);
                if (get_g(d, "input_schema"))
                    return bad(err, NULL, NULL,
                               "Invalid JSON payload received. Unknown name \"input_schema\" at "
                               "'tools[0].function_declarations[%zu]': Cannot find field.",
                               j);
                if (!c->first_tool && !(c->first_tool = dup_s(name->valuestring)))
                    return -2;
            }
        }
    }
    c->prompt_tokens = count_tokens_of(contents) + count_tokens_of(sys) + count_tokens_of(tools);
    return 0;
}

int llmux__mock_call_parse(int provider, const char *url_model, bool google_stream, bool google_sse,
                           const char *body, size_t len, llmux__mock_call *out,
                           llmux__mock_error *err)
{
    memset(out, 0, sizeof *out);
    out->provider = provider;
    out->max_tokens = -1;
    if (url_model && !(out->model = dup_s(url_model)))
        goto oom;
    cJSON *root = cJSON_ParseWithLength(body, len);
    int rc;
    if (!root) {
        if (provider == LLMUX__MOCK_ANTHROPIC)
            rc = bad(err, NULL, NULL,
                     "There was an error parsing the body of your request: "
                     "it is not valid JSON");
        else if (provider == LLMUX__MOCK_GOOGLE)
            rc = bad(err, NULL, NULL, "Invalid JSON payload received. Unexpected token.");
        else
            rc = bad(err, NULL, NULL,
                     "We could not parse the JSON body of your request. (HINT: This likely "
                     "means you aren't using your HTTP library correctly. The OpenAI API "
                     "expects a JSON payload, but what was sent was not valid JSON. If you have "
                     "trouble figuring out how to fix this, please contact us through our help "
                     "center at help.openai.com.)");
    } else if (!cJSON_IsObject(root)) {
        rc = provider == LLMUX__MOCK_ANTHROPIC
                 ? bad(err, NULL, NULL, "Input should be a valid dictionary")
             : provider == LLMUX__MOCK_GOOGLE
                 ? bad(err, NULL, NULL, "Invalid JSON payload received. Expected an object.")
                 : bad(err, NULL, "invalid_type",
                       "Invalid type for request body: expected an object, but got %s instead.",
                       type_name(root));
    } else if (provider == LLMUX__MOCK_ANTHROPIC) {
        rc = parse_anthropic(root, out, err);
    } else if (provider == LLMUX__MOCK_GOOGLE) {
        rc = parse_google(root, out, err);
        out->stream = google_stream;
        out->google_sse = google_sse;
    } else {
        rc = parse_openai(root, provider == LLMUX__MOCK_AZURE, out, err);
    }
    cJSON_Delete(root);
    if (rc == -2)
        goto oom;
    if (rc) {
        llmux__mock_call_clear(out);
        return -1;
    }
    if (!out->last_user && !(out->last_user = dup_s("")))
        goto oom;
    return 0;
oom:
    llmux__mock_call_clear(out);
    memset(err, 0, sizeof *err);
    err->status = 500;
    return -1;
}

void llmux__mock_call_clear(llmux__mock_call *c)
{
    free(c->model);
    for (size_t i = 0; i < c->nstops; i++)
        free(c->stops[i]);
    free(c->stops);
    free(c->first_tool);
    free(c->last_user);
    memset(c, 0, sizeof *c);
}

/* ------------------------------------------------------------------------------------ */
/* The answer                                                                             */
/* ------------------------------------------------------------------------------------ */

/* Cuts text after the word where the token count passes `cap`. Returns true if it cut. */
static bool cut_at_tokens(char *text, long cap)
{
    long tokens = 0;
    char *p = text;
    while (*p) {
        char *word = p;
        while (*word && isspace((unsigned char)*word))
            word++;
        if (!*word)
            break;
        size_t n = 0;
        while (word[n] && !isspace((unsigned char)word[n]))
            n++;
        long cost = (long)((n + 3) / 4);
        if (tokens + cost > cap) {
            *p = '\0';
            return true;
        }
        tokens += cost;
        p = word + n;
    }
    return false;
}

int llmux__mock_answer_build(const llmux__mock_call *call, const llmux__mock_step *step, bool echo,
                             uint64_t *rng, long created, llmux__mock_answer *a)
{
    memset(a, 0, sizeof *a);
    a->created = created;
    switch (call->provider) {
    case LLMUX__MOCK_ANTHROPIC:
        memcpy(a->id, "msg_01", 6);
        llmux__mock_random_chars(rng, a->id + 6, 22);
        memcpy(a->tool_id, "toolu_01", 8);
        llmux__mock_random_chars(rng, a->tool_id + 8, 22);
        break;
    case LLMUX__MOCK_GOOGLE:
        llmux__mock_random_chars(rng, a->id, 23);
        break;
    default:
        memcpy(a->id, "chatcmpl-", 9);
        llmux__mock_random_chars(rng, a->id + 9, 29);
        memcpy(a->tool_id, "call_", 5);
        llmux__mock_random_chars(rng, a->tool_id + 5, 24);
        break;
    }
    bool tool = step && step->tool_call && call->first_tool;
    const char *text = step && step->text         ? step->text
                       : echo && *call->last_user ? call->last_user
                       : tool                     ? NULL
                                                  : LLMUX__MOCK_DEFAULT_TEXT;
    if (text && !(a->text = dup_s(text)))
        goto oom;
    if (step && step->text && step->nsplit) {
        a->split_at = malloc(step->nsplit * sizeof *a->split_at);
        if (!a->split_at)
            goto oom;
        memcpy(a->split_at, step->split_at, step->nsplit * sizeof *a->split_at);
        a->nsplit = step->nsplit;
    }
    if (tool) {
        a->tool_name = dup_s(step->tool_name ? step->tool_name : call->first_tool);
        a->tool_args = dup_s(step->tool_args ? step->tool_args : "{}");
        if (!a->tool_name || !a->tool_args)
            goto oom;
        if (step->tool_id && call->provider != LLMUX__MOCK_GOOGLE)
            snprintf(a->tool_id, sizeof a->tool_id, "%s", step->tool_id);
    }
    if (call->provider == LLMUX__MOCK_GOOGLE)
        a->tool_id[0] = '\0';
    a->finish = tool ? "tool_calls" : "stop";
    /* a stop sequence ends the text where it starts (and there is no tool call then) */
    if (a->text) {
        char *first = NULL;
        const char *which = NULL;
        for (size_t i = 0; i < call->nstops; i++) {
            char *at = *call->stops[i] ? strstr(a->text, call->stops[i]) : NULL;
            if (at && (!first || at < first)) {
                first = at;
                which = call->stops[i];
            }
        }
        if (first) {
            *first = '\0';
            if (!(a->stop_sequence = dup_s(which)))
                goto oom;
            a->finish = "stop_sequence";
            free(a->tool_name);
            free(a->tool_args);
            a->tool_name = a->tool_args = NULL;
        }
        if (call->max_tokens >= 0 && cut_at_tokens(a->text, call->max_tokens)) {
            a->finish = "length";
            free(a->tool_name);
            free(a->tool_args);
            a->tool_name = a->tool_args = NULL;
            free(a->stop_sequence);
            a->stop_sequence = NULL;
        }
        size_t len = strlen(a->text);
        while (a->nsplit && a->split_at[a->nsplit - 1] >= len)
            a->nsplit--;
    }
    a->prompt_tokens = call->prompt_tokens > 0 ? call->prompt_tokens : 1;
    a->completion_tokens = llmux__mock_count_tokens(a->text) +
                           llmux__mock_count_tokens(a->tool_name) +
                           llmux__mock_count_tokens(a->tool_args);
    if (a->completion_tokens == 0)
        a->completion_tokens = 1;
    return 0;
oom:
    llmux__mock_answer_clear(a);
    return -1;
}

void llmux__mock_answer_clear(llmux__mock_answer *a)
{
    free(a->text);
    free(a->split_at);
    free(a->tool_name);
    free(a->tool_args);
    free(a->stop_sequence);
    memset(a, 0, sizeof *a);
}

/* ------------------------------------------------------------------------------------ */
/* Bodies                                                                                 */
/* ------------------------------------------------------------------------------------ */

static const char *openai_finish(const llmux__mock_answer *a)
{
    return strcmp(a->finish, "stop_sequence") == 0 ? "stop" : a->finish;
}

static const char *anthropic_stop(const llmux__mock_answer *a)
{
    if (strcmp(a->finish, "length") == 0)
        return "max_tokens";
    if (strcmp(a->finish, "tool_calls") == 0)
        return "tool_use";
    if (strcmp(a->finish, "stop_sequence") == 0)
        return "stop_sequence";
    return "end_turn";
}

static const char *google_finish(const llmux__mock_answer *a)
{
    return strcmp(a->finish, "length") == 0 ? "MAX_TOKENS" : "STOP";
}

static cJSON *openai_usage(const llmux__mock_answer *a)
{
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)a->prompt_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", (double)a->completion_tokens);
    cJSON_AddNumberToObject(u, "total_tokens", (double)(a->prompt_tokens + a->completion_tokens));
    cJSON *pd = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    cJSON_AddNumberToObject(pd, "cached_tokens", 0);
    cJSON_AddNumberToObject(pd, "audio_tokens", 0);
    cJSON *cd = cJSON_AddObjectToObject(u, "completion_tokens_details");
    cJSON_AddNumberToObject(cd, "reasoning_tokens", 0);
    cJSON_AddNumberToObject(cd, "audio_tokens", 0);
    cJSON_AddNumberToObject(cd, "accepted_prediction_tokens", 0);
    cJSON_AddNumberToObject(cd, "rejected_prediction_tokens", 0);
    return u;
}

static cJSON *azure_filter(bool full)
{
    cJSON *f = cJSON_CreateObject();
    if (!full)
        return f;
    static const char *const cats[] = {"hate", "self_harm", "sexual", "violence"};
    for (size_t i = 0; i < 4; i++) {
        cJSON *c = cJSON_AddObjectToObject(f, cats[i]);
        cJSON_AddBoolToObject(c, "filtered", 0);
        cJSON_AddStringToObject(c, "severity", "safe");
    }
    return f;
}

static cJSON *azure_prompt_filter(void)
{
    cJSON *arr = cJSON_CreateArray();
    cJSON *p = cJSON_CreateObject();
    cJSON_AddNumberToObject(p, "prompt_index", 0);
    cJSON *f = azure_filter(true);
    cJSON *jb = cJSON_AddObjectToObject(f, "jailbreak");
    cJSON_AddBoolToObject(jb, "filtered", 0);
    cJSON_AddBoolToObject(jb, "detected", 0);
    cJSON_AddItemToObject(p, "content_filter_results", f);
    cJSON_AddItemToArray(arr, p);
    return arr;
}

static cJSON *openai_tool_call(const llmux__mock_answer *a, bool stream, const char *args)
{
    cJSON *tc = cJSON_CreateObject();
    if (stream)
        cJSON_AddNumberToObject(tc, "index", 0);
    cJSON_AddStringToObject(tc, "id", a->tool_id);
    cJSON_AddStringToObject(tc, "type", "function");
    cJSON *fn = cJSON_AddObjectToObject(tc, "function");
    cJSON_AddStringToObject(fn, "name", a->tool_name);
    cJSON_AddStringToObject(fn, "arguments", args);
    return tc;
}

static cJSON *openai_body(const llmux__mock_call *call, const llmux__mock_answer *a)
{
    bool azure = call->provider == LLMUX__MOCK_AZURE;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "id", a->id);
    cJSON_AddStringToObject(root, "object", "chat.completion");
    cJSON_AddNumberToObject(root, "created", (double)a->created);
    cJSON_AddStringToObject(root, "model", call->model);
    cJSON *choices = cJSON_AddArrayToObject(root, "choices");
    cJSON *ch = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, ch);
    if (azure)
        cJSON_AddItemToObject(ch, "content_filter_results", azure_filter(true));
    cJSON_AddNumberToObject(ch, "index", 0);
    cJSON *msg = cJSON_AddObjectToObject(ch, "message");
    cJSON_AddStringToObject(msg, "role", "assistant");
    if (a->text)
        cJSON_AddStringToObject(msg, "content", a->text);
    else
        cJSON_AddNullToObject(msg, "content");
    cJSON_AddNullToObject(msg, "refusal");
    if (a->tool_name) {
        cJSON *calls = cJSON_AddArrayToObject(msg, "tool_calls");
        cJSON_AddItemToArray(calls, openai_tool_call(a, false, a->tool_args));
    }
    cJSON_AddArrayToObject(msg, "annotations");
    cJSON_AddNullToObject(ch, "logprobs");
    cJSON_AddStringToObject(ch, "finish_reason", openai_finish(a));
    if (azure)
        cJSON_AddItemToObject(root, "prompt_filter_results", azure_prompt_filter());
    cJSON_AddItemToObject(root, "usage", openai_usage(a));
    if (!azure)
        cJSON_AddStringToObject(root, "service_tier", "default");
    cJSON_AddStringToObject(root, "system_fingerprint", "fp_11mux0mock");
    return root;
}

static cJSON *anthropic_usage(const llmux__mock_answer *a, long output)
{
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "input_tokens", (double)a->prompt_tokens);
    cJSON_AddNumberToObject(u, "cache_creation_input_tokens", 0);
    cJSON_AddNumberToObject(u, "cache_read_input_tokens", 0);
    cJSON_AddNumberToObject(u, "output_tokens", (double)output);
    cJSON_AddStringToObject(u, "service_tier", "standard");
    return u;
}

static cJSON *anthropic_body(const llmux__mock_call *call, const llmux__mock_answer *a)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "id", a->id);
    cJSON_AddStringToObject(root, "type", "message");
    cJSON_AddStringToObject(root, "role", "assistant");
    cJSON_AddStringToObject(root, "model", call->model);
    cJSON *content = cJSON_AddArrayToObject(root, "content");
    if (a->text) {
        cJSON *b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "type", "text");
        cJSON_AddStringToObject(b, "text", a->text);
        cJSON_AddItemToArray(content, b);
    }
    if (a->tool_name) {
        cJSON *b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "type", "tool_use");
        cJSON_AddStringToObject(b, "id", a->tool_id);
        cJSON_AddStringToObject(b, "name", a->tool_name);
        cJSON *input = cJSON_Parse(a->tool_args);
        cJSON_AddItemToObject(b, "input", input ? input : cJSON_CreateObject());
        cJSON_AddItemToArray(content, b);
    }
    cJSON_AddStringToObject(root, "stop_reason", anthropic_stop(a));
    if (a->stop_sequence)
        cJSON_AddStringToObject(root, "stop_sequence", a->stop_sequence);
    else
        cJSON_AddNullToObject(root, "stop_sequence");
    cJSON_AddItemToObject(root, "usage", anthropic_usage(a, a->completion_tokens));
    return root;
}

static cJSON *google_usage(const llmux__mock_answer *a, long candidates)
{
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "promptTokenCount", (double)a->prompt_tokens);
    if (candidates >= 0)
        cJSON_AddNumberToObject(u, "candidatesTokenCount", (double)candidates);
    cJSON_AddNumberToObject(u, "totalTokenCount",
                            (double)(a->prompt_tokens + (candidates > 0 ? candidates : 0)));
    cJSON *details = cJSON_AddArrayToObject(u, "promptTokensDetails");
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "modality", "TEXT");
    cJSON_AddNumberToObject(d, "tokenCount", (double)a->prompt_tokens);
    cJSON_AddItemToArray(details, d);
    if (candidates >= 0) {
        cJSON *cdetails = cJSON_AddArrayToObject(u, "candidatesTokensDetails");
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "modality", "TEXT");
        cJSON_AddNumberToObject(c, "tokenCount", (double)candidates);
        cJSON_AddItemToArray(cdetails, c);
    }
    return u;
}

/* One Google response object with the given parts (text piece and/or function call). */
static cJSON *google_response(const llmux__mock_call *call, const llmux__mock_answer *a,
                              const char *text, size_t text_len, bool with_call, const char *finish,
                              long candidates)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *cands = cJSON_AddArrayToObject(root, "candidates");
    cJSON *cand = cJSON_CreateObject();
    cJSON_AddItemToArray(cands, cand);
    cJSON *content = cJSON_AddObjectToObject(cand, "content");
    cJSON *parts = cJSON_AddArrayToObject(content, "parts");
    if (text) {
        char *piece = strndup(text, text_len);
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "text", piece ? piece : "");
        free(piece);
        cJSON_AddItemToArray(parts, p);
    }
    if (with_call) {
        cJSON *p = cJSON_CreateObject();
        cJSON *fc = cJSON_AddObjectToObject(p, "functionCall");
        cJSON_AddStringToObject(fc, "name", a->tool_name);
        cJSON *args = cJSON_Parse(a->tool_args);
        cJSON_AddItemToObject(fc, "args", args ? args : cJSON_CreateObject());
        cJSON_AddItemToArray(parts, p);
    }
    cJSON_AddStringToObject(content, "role", "model");
    if (finish)
        cJSON_AddStringToObject(cand, "finishReason", finish);
    cJSON_AddNumberToObject(cand, "index", 0);
    cJSON_AddItemToObject(root, "usageMetadata", google_usage(a, candidates));
    cJSON_AddStringToObject(root, "modelVersion", call->model);
    cJSON_AddStringToObject(root, "responseId", a->id);
    return root;
}

static char *print_and_free(cJSON *root)
{
    char *s = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return s;
}

char *llmux__mock_wire_body(const llmux__mock_call *call, const llmux__mock_answer *a)
{
    switch (call->provider) {
    case LLMUX__MOCK_ANTHROPIC:
        return print_and_free(anthropic_body(call, a));
    case LLMUX__MOCK_GOOGLE:
        return print_and_free(google_response(call, a, a->text, a->text ? strlen(a->text) : 0,
                                              a->tool_name != NULL, google_finish(a),
                                              a->completion_tokens));
    default:
        return print_and_free(openai_body(call, a));
    }
}

/* ------------------------------------------------------------------------------------ */
/* Stream events                                                                          */
/* ------------------------------------------------------------------------------------ */

static int push(llmux__mock_events *ev, const char *name, cJSON *data, bool content)
{
    char *s = data ? cJSON_PrintUnformatted(data) : NULL;
    cJSON_Delete(data);
    if (!s)
        return -1;
    if (ev->n == ev->cap) {
        size_t cap = ev->cap ? ev->cap * 2 : 32;
        llmux__mock_event *v = realloc(ev->v, cap * sizeof *v);
        if (!v) {
            free(s);
            return -1;
        }
        ev->v = v;
        ev->cap = cap;
    }
    char *n = NULL;
    if (name && !(n = dup_s(name))) {
        free(s);
        return -1;
    }
    ev->v[ev->n++] = (llmux__mock_event){.name = n, .data = s, .content = content};
    return 0;
}

static int push_raw(llmux__mock_events *ev, const char *data)
{
    cJSON *holder = cJSON_CreateRaw(data);
    return push(ev, NULL, holder, false);
}

void llmux__mock_events_clear(llmux__mock_events *ev)
{
    for (size_t i = 0; i < ev->n; i++) {
        free(ev->v[i].name);
        free(ev->v[i].data);
    }
    free(ev->v);
    memset(ev, 0, sizeof *ev);
}

/* Next delta boundary in text after `at`: the step's split_at, else the next word (a word
 * with the blanks before it, as the real APIs stream). */
static size_t next_split(const llmux__mock_answer *a, size_t at, size_t len, size_t *k)
{
    if (a->split_at) {
        while (*k < a->nsplit && a->split_at[*k] <= at)
            (*k)++;
        return *k < a->nsplit ? a->split_at[*k] : len;
    }
    size_t p = at;
    while (p < len && isspace((unsigned char)a->text[p]))
        p++;
    while (p < len && !isspace((unsigned char)a->text[p]))
        p++;
    return p;
}

/* Splits tool arguments into fragments of about 8 bytes, never inside a UTF-8 sequence. */
static size_t next_arg_split(const char *args, size_t at, size_t len)
{
    size_t p = at + 8 < len ? at + 8 : len;
    while (p < len && ((unsigned char)args[p] & 0xC0) == 0x80)
        p++;
    return p;
}

static cJSON *openai_chunk(const llmux__mock_call *call, const llmux__mock_answer *a, cJSON *delta,
                           const char *finish, bool full_filter)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "id", a->id);
    cJSON_AddStringToObject(root, "object", "chat.completion.chunk");
    cJSON_AddNumberToObject(root, "created", (double)a->created);
    cJSON_AddStringToObject(root, "model", call->model);
    if (call->provider != LLMUX__MOCK_AZURE)
        cJSON_AddStringToObject(root, "service_tier", "default");
    cJSON_AddStringToObject(root, "system_fingerprint", "fp_11mux0mock");
    cJSON *choices = cJSON_AddArrayToObject(root, "choices");
    if (delta) {
        cJSON *ch = cJSON_CreateObject();
        cJSON_AddNumberToObject(ch, "index", 0);
        if (call->provider == LLMUX__MOCK_AZURE)
            cJSON_AddItemToObject(ch, "content_filter_results", azure_filter(full_filter));
        cJSON_AddItemToObject(ch, "delta", delta);
        cJSON_AddNullToObject(ch, "logprobs");
        if (finish)
            cJSON_AddStringToObject(ch, "finish_reason", finish);
        else
            cJSON_AddNullToObject(ch, "finish_reason");
        cJSON_AddItemToArray(choices, ch);
    }
    if (call->include_usage)
        cJSON_AddNullToObject(root, "usage");
    return root;
}

static int openai_events(const llmux__mock_call *call, const llmux__mock_answer *a,
                         bool omit_finish, llmux__mock_events *ev)
{
    int rc = 0;
    if (call->provider == LLMUX__MOCK_AZURE) {
        cJSON *pre = cJSON_CreateObject();
        cJSON_AddArrayToObject(pre, "choices");
        cJSON_AddNumberToObject(pre, "created", 0);
        cJSON_AddStringToObject(pre, "id", "");
        cJSON_AddStringToObject(pre, "model", "");
        cJSON_AddStringToObject(pre, "object", "");
        cJSON_AddItemToObject(pre, "prompt_filter_results", azure_prompt_filter());
        rc |= push(ev, NULL, pre, false);
    }
    if (a->text) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "role", "assistant");
        cJSON_AddStringToObject(d, "content", "");
        cJSON_AddNullToObject(d, "refusal");
        rc |= push(ev, NULL, openai_chunk(call, a, d, NULL, false), false);
        size_t len = strlen(a->text), at = 0, k = 0;
        while (at < len && !rc) {
            size_t next = next_split(a, at, len, &k);
            char *piece = strndup(a->text + at, next - at);
            d = cJSON_CreateObject();
            cJSON_AddStringToObject(d, "content", piece ? piece : "");
            free(piece);
            rc |= push(ev, NULL, openai_chunk(call, a, d, NULL, true), true);
            at = next;
        }
    }
    if (a->tool_name && !rc) {
        cJSON *d = cJSON_CreateObject();
        if (!a->text) {
            cJSON_AddStringToObject(d, "role", "assistant");
            cJSON_AddNullToObject(d, "content");
        }
        cJSON *calls = cJSON_AddArrayToObject(d, "tool_calls");
        cJSON_AddItemToArray(calls, openai_tool_call(a, true, ""));
        if (!a->text)
            cJSON_AddNullToObject(d, "refusal");
        rc |= push(ev, NULL, openai_chunk(call, a, d, NULL, false), true);
        size_t len = strlen(a->tool_args), at = 0;
        while (at < len && !rc) {
            size_t next = next_arg_split(a->tool_args, at, len);
            char *piece = strndup(a->tool_args + at, next - at);
            d = cJSON_CreateObject();
            calls = cJSON_AddArrayToObject(d, "tool_calls");
            cJSON *tc = cJSON_CreateObject();
            cJSON_AddNumberToObject(tc, "index", 0);
            cJSON *fn = cJSON_AddObjectToObject(tc, "function");
            cJSON_AddStringToObject(fn, "arguments", piece ? piece : "");
            free(piece);
            cJSON_AddItemToArray(calls, tc);
            rc |= push(ev, NULL, openai_chunk(call, a, d, NULL, false), true);
            at = next;
        }
    }
    if (omit_finish || rc)
        return rc ? -1 : 0;
    rc |=
        push(ev, NULL, openai_chunk(call, a, cJSON_CreateObject(), openai_finish(a), false), false);
    if (call->include_usage) {
        cJSON *u = openai_chunk(call, a, NULL, NULL, false);
        cJSON_DeleteItemFromObjectCaseSensitive(u, "usage");
        cJSON_AddItemToObject(u, "usage", openai_usage(a));
        rc |= push(ev, NULL, u, false);
    }
    rc |= push_raw(ev, "[DONE]");
    return rc ? -1 : 0;
}

static cJSON *typed(const char *type)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", type);
    return o;
}

static int anthropic_events(const llmux__mock_call *call, const llmux__mock_answer *a,
                            bool omit_finish, llmux__mock_events *ev)
{
    int rc = 0;
    cJSON *start = typed("message_start");
    cJSON *msg = cJSON_AddObjectToObject(start, "message");
    cJSON_AddStringToObject(msg, "id", a->id);
    cJSON_AddStringToObject(msg, "type", "message");
    cJSON_AddStringToObject(msg, "role", "assistant");
    cJSON_AddStringToObject(msg, "model", call->model);
    cJSON_AddArrayToObject(msg, "content");
    cJSON_AddNullToObject(msg, "stop_reason");
    cJSON_AddNullToObject(msg, "stop_sequence");
    cJSON_AddItemToObject(msg, "usage", anthropic_usage(a, 1));
    rc |= push(ev, "message_start", start, false);
    int index = 0;
    if (a->text) {
        cJSON *bs = typed("content_block_start");
        cJSON_AddNumberToObject(bs, "index", index);
        cJSON *cb = cJSON_AddObjectToObject(bs, "content_block");
        cJSON_AddStringToObject(cb, "type", "text");
        cJSON_AddStringToObject(cb, "text", "");
        rc |= push(ev, "content_block_start", bs, false);
        rc |= push(ev, "ping", typed("ping"), false);
        size_t len = strlen(a->text), at = 0, k = 0;
        while (at < len && !rc) {
            size_t next = next_split(a, at, len, &k);
            char *piece = strndup(a->text + at, next - at);
            cJSON *d = typed("content_block_delta");
            cJSON_AddNumberToObject(d, "index", index);
            cJSON *delta = cJSON_AddObjectToObject(d, "delta");
            cJSON_AddStringToObject(delta, "type", "text_delta");
            cJSON_AddStringToObject(delta, "text", piece ? piece : "");
            free(piece);
            rc |= push(ev, "content_block_delta", d, true);
            at = next;
        }
        if (!omit_finish) {
            cJSON *stop = typed("content_block_stop");
            cJSON_AddNumberToObject(stop, "index", index);
            rc |= push(ev, "content_block_stop", stop, false);
        }
        index++;
    } else {
        rc |= push(ev, "ping", typed("ping"), false);
    }
    if (a->tool_name && !rc) {
        cJSON *bs = typed("content_block_start");
        cJSON_AddNumberToObject(bs, "index", index);
        cJSON *cb = cJSON_AddObjectToObject(bs, "content_block");
        cJSON_AddStringToObject(cb, "type", "tool_use");
        cJSON_AddStringToObject(cb, "id", a->tool_id);
        cJSON_AddStringToObject(cb, "name", a->tool_name);
        cJSON_AddObjectToObject(cb, "input");
        rc |= push(ev, "content_block_start", bs, true);
        size_t len = strlen(a->tool_args), at = 0;
        bool first = true;
        while ((at < len || first) && !rc) {
            size_t next = first ? at : next_arg_split(a->tool_args, at, len);
            char *piece = strndup(a->tool_args + at, next - at);
            cJSON *d = typed("content_block_delta");
            cJSON_AddNumberToObject(d, "index", index);
            cJSON *delta = cJSON_AddObjectToObject(d, "delta");
            cJSON_AddStringToObject(delta, "type", "input_json_delta");
            cJSON_AddStringToObject(delta, "partial_json", piece ? piece : "");
            free(piece);
            rc |= push(ev, "content_block_delta", d, true);
            at = next;
            first = false;
        }
        if (!omit_finish) {
            cJSON *stop = typed("content_block_stop");
            cJSON_AddNumberToObject(stop, "index", index);
            rc |= push(ev, "content_block_stop", stop, false);
        }
    }
    if (omit_finish || rc)
        return rc ? -1 : 0;
    cJSON *md = typed("message_delta");
    cJSON *delta = cJSON_AddObjectToObject(md, "delta");
    cJSON_AddStringToObject(delta, "stop_reason", anthropic_stop(a));
    if (a->stop_sequence)
        cJSON_AddStringToObject(delta, "stop_sequence", a->stop_sequence);
    else
        cJSON_AddNullToObject(delta, "stop_sequence");
    cJSON *u = cJSON_AddObjectToObject(md, "usage");
    cJSON_AddNumberToObject(u, "output_tokens", (double)a->completion_tokens);
    rc |= push(ev, "message_delta", md, false);
    rc |= push(ev, "message_stop", typed("message_stop"), false);
    return rc ? -1 : 0;
}

static int google_events(const llmux__mock_call *call, const llmux__mock_answer *a,
                         bool omit_finish, llmux__mock_events *ev)
{
    int rc = 0;
    const char *finish = omit_finish ? NULL : google_finish(a);
    long sent = 0;
    if (a->text) {
        size_t len = strlen(a->text), at = 0, k = 0;
        while (at < len && !rc) {
            size_t next = next_split(a, at, len, &k);
            bool last = next >= len && !a->tool_name;
            char *piece = strndup(a->text + at, next - at);
            sent += llmux__mock_count_tokens(piece);
            free(piece);
            rc |=
                push(ev, NULL,
                     google_response(call, a, a->text + at, next - at, false, last ? finish : NULL,
                                     last && !omit_finish ? a->completion_tokens : sent),
                     true);
            at = next;
        }
    }
    if (a->tool_name && !rc)
        rc |= push(ev, NULL, google_response(call, a, NULL, 0, true, finish, a->completion_tokens),
                   true);
    return rc ? -1 : 0;
}

int llmux__mock_wire_events(const llmux__mock_call *call, const llmux__mock_answer *a,
                            bool omit_finish, llmux__mock_events *out)
{
    switch (call->provider) {
    case LLMUX__MOCK_ANTHROPIC:
        return anthropic_events(call, a, omit_finish, out);
    case LLMUX__MOCK_GOOGLE:
        return google_events(call, a, omit_finish, out);
    default:
        return openai_events(call, a, omit_finish, out);
    }
}

int llmux__mock_wire_stream_error(const llmux__mock_call *call, llmux__mock_events *out)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *e;
    switch (call->provider) {
    case LLMUX__MOCK_ANTHROPIC:
        cJSON_AddStringToObject(root, "type", "error");
        e = cJSON_AddObjectToObject(root, "error");
        cJSON_AddStringToObject(e, "type", "overloaded_error");
        cJSON_AddStringToObject(e, "message", "Overloaded");
        return push(out, "error", root, false);
    case LLMUX__MOCK_GOOGLE:
        e = cJSON_AddObjectToObject(root, "error");
        cJSON_AddNumberToObject(e, "code", 503);
        cJSON_AddStringToObject(e, "message", "The model is overloaded. Please try again later.");
        cJSON_AddStringToObject(e, "status", "UNAVAILABLE");
        return push(out, NULL, root, false);
    default:
        e = cJSON_AddObjectToObject(root, "error");
        cJSON_AddStringToObject(e, "message",
                                "The server had an error while processing your request. Sorry "
                                "about that!");
        cJSON_AddStringToObject(e, "type", "server_error");
        cJSON_AddNullToObject(e, "param");
        cJSON_AddNullToObject(e, "code");
        return push(out, NULL, root, false);
    }
}

char *llmux__mock_frame(const llmux__mock_call *call, const llmux__mock_event *ev, bool first,
                        bool broken, size_t *len)
{
    bool google = call->provider == LLMUX__MOCK_GOOGLE;
    const char *eol = google ? "\r\n" : "\n";
    size_t dlen = strlen(ev->data), nlen = ev->name ? strlen(ev->name) : 0;
    size_t cap = dlen + nlen + 32;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    int n;
    if (google && !call->google_sse) {
        n = snprintf(out, cap, "%s%s", first ? "[" : ",\r\n", ev->data);
    } else if (ev->name) {
        n = snprintf(out, cap, "event: %s%sdata: %s%s%s", ev->name, eol, ev->data, eol,
                     broken ? "" : eol);
    } else {
        n = snprintf(out, cap, "data: %s%s%s", ev->data, eol, broken ? "" : eol);
    }
    *len = (size_t)n;
    return out;
}

const char *llmux__mock_frame_end(const llmux__mock_call *call)
{
    return call->provider == LLMUX__MOCK_GOOGLE && !call->google_sse ? "]" : "";
}

/* ------------------------------------------------------------------------------------ */
/* Errors                                                                                 */
/* ------------------------------------------------------------------------------------ */

const char *llmux__mock_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 529:
        return "Site Overloaded";
    default:
        return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
    }
}

static char *openai_error(const llmux__mock_error *e, const char *model)
{
    const char *type = e->status >= 500 ? "server_error" : "invalid_request_error";
    const char *code = *e->code ? e->code : NULL;
    char msg[600];
    snprintf(msg, sizeof msg, "%s", e->message);
    if (e->kind == LLMUX__MOCK_ERR_AUTH_MISSING) {
        snprintf(msg, sizeof msg,
                 "You didn't provide an API key. You need to provide your API key in an "
                 "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), "
                 "or as the password field (with blank username) if you're accessing the API "
                 "from your browser and are prompted for a username and password. You can "
                 "obtain an API key from https://platform.openai.com/account/api-keys.");
    } else if (e->kind == LLMUX__MOCK_ERR_AUTH_INVALID) {
        snprintf(msg, sizeof msg,
                 "Incorrect API key provided. You can find your API key at "
                 "https://platform.openai.com/account/api-keys.");
        code = "invalid_api_key";
    } else if (!*msg) {
        switch (e->status) {
        case 401:
            snprintf(msg, sizeof msg,
                     "Incorrect API key provided. You can find your API key at "
                     "https://platform.openai.com/account/api-keys.");
            code = "invalid_api_key";
            break;
        case 403:
            snprintf(msg, sizeof msg, "Country, region, or territory not supported");
            code = "unsupported_country_region_territory";
            type = "request_forbidden";
            break;
        case 404:
            snprintf(msg, sizeof msg,
                     "The model `%s` does not exist or you do not have access to it.",
                     model ? model : "unknown");
            code = "model_not_found";
            break;
        case 429:
            snprintf(msg, sizeof msg,
                     "Rate limit reached for %s in organization org-llmuxmock on requests per "
                     "min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s. Visit "
                     "https://platform.openai.com/account/rate-limits to learn more.",
                     model ? model : "the model");
            code = "rate_limit_exceeded";
            type = "requests";
            break;
        case 500:
            snprintf(msg, sizeof msg,
                     "The server had an error while processing your request. Sorry about that!");
            break;
        case 503:
            snprintf(msg, sizeof msg, "The engine is currently overloaded, please try again later");
            break;
        default:
            snprintf(msg, sizeof msg, "%s", e->status >= 500 ? "Bad gateway." : "Invalid request.");
            break;
        }
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *err = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(err, "message", msg);
    cJSON_AddStringToObject(err, "type", type);
    if (*e->param)
        cJSON_AddStringToObject(err, "param", e->param);
    else
        cJSON_AddNullToObject(err, "param");
    if (code)
        cJSON_AddStringToObject(err, "code", code);
    else
        cJSON_AddNullToObject(err, "code");
    return print_and_free(root);
}

static char *azure_error(const llmux__mock_error *e, const char *model)
{
    /* request-body problems come back in the OpenAI shape, the rest in Azure's own */
    if (e->kind == LLMUX__MOCK_ERR_INVALID)
        return openai_error(e, model);
    char msg[600], code[32];
    snprintf(code, sizeof code, "%d", e->status);
    snprintf(msg, sizeof msg, "%s", e->message);
    if (e->kind == LLMUX__MOCK_ERR_AUTH_MISSING) {
        snprintf(msg, sizeof msg,
                 "Access denied due to missing subscription key. Make sure to "
                 "include subscription key when making requests to an API.");
    } else if (e->kind == LLMUX__MOCK_ERR_AUTH_INVALID || (!*msg && e->status == 401)) {
        snprintf(msg, sizeof msg,
                 "Access denied due to invalid subscription key or wrong API endpoint. Make sure "
                 "to provide a valid key for an active subscription and use a correct regional "
                 "API endpoint for your resource.");
    } else if (!*msg) {
        switch (e->status) {
        case 404:
            snprintf(code, sizeof code, "DeploymentNotFound");
            snprintf(msg, sizeof msg,
                     "The API deployment for this resource does not exist. If you created the "
                     "deployment within the last 5 minutes, please wait a moment and try again.");
            break;
        case 429:
            snprintf(msg, sizeof msg,
                     "Requests to the ChatCompletions_Create Operation under Azure OpenAI API "
                     "version 2024-10-21 have exceeded token rate limit of your current OpenAI "
                     "S0 pricing tier. Please retry after 1 second. Please go here: "
                     "https://aka.ms/oai/quotaincrease if you would like to further increase "
                     "the default rate limit.");
            break;
        default:
            snprintf(msg, sizeof msg, "%s",
                     e->status >= 500 ? "The service is temporarily unable to process your "
                                        "request. Please try again later."
                                      : "The request is invalid.");
            break;
        }
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *err = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(err, "code", code);
    cJSON_AddStringToObject(err, "message", msg);
    return print_and_free(root);
}

static char *anthropic_error(const llmux__mock_error *e, const char *model, const char *request_id)
{
    const char *type;
    const char *msg = e->message;
    switch (e->status) {
    case 400:
        type = "invalid_request_error";
        break;
    case 401:
        type = "authentication_error";
        break;
    case 402:
        type = "billing_error";
        break;
    case 403:
        type = "permission_error";
        break;
    case 404:
        type = "not_found_error";
        break;
    case 413:
        type = "request_too_large";
        break;
    case 429:
        type = "rate_limit_error";
        break;
    case 529:
        type = "overloaded_error";
        break;
    default:
        type = e->status >= 500 ? "api_error" : "invalid_request_error";
        break;
    }
    char buf[256];
    if (e->kind == LLMUX__MOCK_ERR_AUTH_MISSING) {
        msg = "x-api-key header is required";
    } else if (e->kind == LLMUX__MOCK_ERR_AUTH_INVALID) {
        msg = "invalid x-api-key";
    } else if (!*msg) {
        switch (e->status) {
        case 401:
            msg = "invalid x-api-key";
            break;
        case 403:
            msg = "Your API key does not have permission to use the specified resource.";
            break;
        case 404:
            snprintf(buf, sizeof buf, "model: %s", model ? model : "unknown");
            msg = buf;
            break;
        case 413:
            msg = "Request exceeds the maximum allowed number of bytes.";
            break;
        case 429:
            msg = "Number of request tokens has exceeded your per-minute rate limit "
                  "(https://docs.anthropic.com/en/api/rate-limits); see the response headers "
                  "for current usage. Please reduce the prompt length or the maximum tokens "
                  "requested, or try again later.";
            break;
        case 529:
            msg = "Overloaded";
            break;
        default:
            msg = e->status >= 500 ? "Internal server error" : "Invalid request";
            break;
        }
    }
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "type", "error");
    cJSON *err = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(err, "type", type);
    cJSON_AddStringToObject(err, "message", msg);
    if (request_id)
        cJSON_AddStringToObject(root, "request_id", request_id);
    return print_and_free(root);
}

static const char *google_status(int status)
{
    switch (status) {
    case 400:
        return "INVALID_ARGUMENT";
    case 401:
        return "UNAUTHENTICATED";
    case 403:
        return "PERMISSION_DENIED";
    case 404:
        return "NOT_FOUND";
    case 409:
        return "ABORTED";
    case 429:
        return "RESOURCE_EXHAUSTED";
    case 499:
        return "CANCELLED";
    case 500:
        return "INTERNAL";
    case 501:
        return "NOT_IMPLEMENTED";
    case 503:
        return "UNAVAILABLE";
    case 504:
        return "DEADLINE_EXCEEDED";
    default:
        return status >= 500 ? "UNKNOWN" : "FAILED_PRECONDITION";
    }
}

static char *google_error(const llmux__mock_error *e, const char *model, const char *retry_after)
{
    char buf[400];
    const char *msg = e->message;
    cJSON *root = cJSON_CreateObject();
    cJSON *err = cJSON_AddObjectToObject(root, "error");
    cJSON_AddNumberToObject(err, "code", e->status);
    cJSON *details = NULL;
    if (e->kind == LLMUX__MOCK_ERR_AUTH_INVALID) {
        msg = "API key not valid. Please pass a valid API key.";
        details = cJSON_CreateArray();
        cJSON *info = cJSON_CreateObject();
        cJSON_AddStringToObject(info, "@type", "type.googleapis.com/google.rpc.ErrorInfo");
        cJSON_AddStringToObject(info, "reason", "API_KEY_INVALID");
        cJSON_AddStringToObject(info, "domain", "googleapis.com");
        cJSON *meta = cJSON_AddObjectToObject(info, "metadata");
        cJSON_AddStringToObject(meta, "service", "generativelanguage.googleapis.com");
        cJSON_AddItemToArray(details, info);
        cJSON *loc = cJSON_CreateObject();
        cJSON_AddStringToObject(loc, "@type", "type.googleapis.com/google.rpc.LocalizedMessage");
        cJSON_AddStringToObject(loc, "locale", "en-US");
        cJSON_AddStringToObject(loc, "message", msg);
        cJSON_AddItemToArray(details, loc);
    } else if (e->kind == LLMUX__MOCK_ERR_AUTH_MISSING) {
        msg = "Method doesn't allow unregistered callers (callers without established "
              "identity). Please use API Key or other form of API consumer identity to call "
              "this API.";
    } else if (!*msg) {
        switch (e->status) {
        case 400:
            msg = "Request contains an invalid argument.";
            break;
        case 403:
            msg = "The caller does not have permission";
            break;
        case 404:
            snprintf(buf, sizeof buf,
                     "models/%s is not found for API version v1beta, or is not supported for "
                     "generateContent. Call ModelService.ListModels to see the list of available "
                     "models and their supported methods.",
                     model ? model : "unknown");
            msg = buf;
            break;
        case 429:
            msg = "You exceeded your current quota, please check your plan and billing "
                  "details.";
            break;
        case 500:
            msg = "An internal error has occurred. Please retry or report in "
                  "https://developers.generativeai.google/guide/troubleshooting";
            break;
        case 503:
            msg = "The model is overloaded. Please try again later.";
            break;
        case 504:
            msg = "Deadline expired before operation could complete.";
            break;
        default:
            msg = e->status >= 500 ? "Internal error." : "Request failed.";
            break;
        }
    }
    if (e->status == 429 && e->kind != LLMUX__MOCK_ERR_INVALID) {
        details = cJSON_CreateArray();
        cJSON *qf = cJSON_CreateObject();
        cJSON_AddStringToObject(qf, "@type", "type.googleapis.com/google.rpc.QuotaFailure");
        cJSON *viol = cJSON_AddArrayToObject(qf, "violations");
        cJSON *v = cJSON_CreateObject();
        cJSON_AddStringToObject(v, "quotaMetric",
                                "generativelanguage.googleapis.com/generate_content_requests");
        cJSON_AddStringToObject(v, "quotaId", "GenerateRequestsPerMinutePerProjectPerModel");
        cJSON_AddItemToArray(viol, v);
        cJSON_AddItemToArray(details, qf);
        cJSON *ri = cJSON_CreateObject();
        cJSON_AddStringToObject(ri, "@type", "type.googleapis.com/google.rpc.RetryInfo");
        char delay[48];
        snprintf(delay, sizeof delay, "%ss",
                 retry_after && strspn(retry_after, "0123456789.") == strlen(retry_after)
                     ? retry_after
                     : "1");
        cJSON_AddStringToObject(ri, "retryDelay", delay);
        cJSON_AddItemToArray(details, ri);
    }
    cJSON_AddStringToObject(err, "message", msg);
    cJSON_AddStringToObject(err, "status", google_status(e->status));
    if (details)
        cJSON_AddItemToObject(err, "details", details);
    return print_and_free(root);
}

char *llmux__mock_wire_error(int provider, const llmux__mock_error *err, const char *model,
                             const char *request_id, const char *retry_after)
{
    switch (provider) {
    case LLMUX__MOCK_AZURE:
        return azure_error(err, model);
    case LLMUX__MOCK_ANTHROPIC:
        return anthropic_error(err, model, request_id);
    case LLMUX__MOCK_GOOGLE:
        return google_error(err, model, retry_after);
    default:
        return openai_error(err, model);
    }
}

char *llmux__mock_wire_models(int provider)
{
    static const char *const openai_models[] = {"gpt-4o-mini", "gpt-4o", "gpt-4.1-nano", NULL};
    static const char *const anthropic_models[] = {"claude-sonnet-4-5-20250929",
                                                   "claude-3-5-haiku-20241022", NULL};
    static const char *const google_models[] = {"gemini-2.0-flash", "gemini-2.5-flash", NULL};
    cJSON *root = cJSON_CreateObject();
    if (provider == LLMUX__MOCK_GOOGLE) {
        cJSON *arr = cJSON_AddArrayToObject(root, "models");
        for (const char *const *m = google_models; *m; m++) {
            cJSON *o = cJSON_CreateObject();
            char name[96];
            snprintf(name, sizeof name, "models/%s", *m);
            cJSON_AddStringToObject(o, "name", name);
            cJSON_AddStringToObject(o, "displayName", *m);
            cJSON *methods = cJSON_AddArrayToObject(o, "supportedGenerationMethods");
            cJSON_AddItemToArray(methods, cJSON_CreateString("generateContent"));
            cJSON_AddItemToArray(methods, cJSON_CreateString("streamGenerateContent"));
            cJSON_AddItemToArray(arr, o);
        }
    } else if (provider == LLMUX__MOCK_ANTHROPIC) {
        cJSON *arr = cJSON_AddArrayToObject(root, "data");
        for (const char *const *m = anthropic_models; *m; m++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "type", "model");
            cJSON_AddStringToObject(o, "id", *m);
            cJSON_AddStringToObject(o, "display_name", *m);
            cJSON_AddStringToObject(o, "created_at", "2025-09-29T00:00:00Z");
            cJSON_AddItemToArray(arr, o);
        }
        cJSON_AddBoolToObject(root, "has_more", 0);
        cJSON_AddStringToObject(root, "first_id", anthropic_models[0]);
        cJSON_AddStringToObject(root, "last_id", anthropic_models[1]);
    } else {
        cJSON_AddStringToObject(root, "object", "list");
        cJSON *arr = cJSON_AddArrayToObject(root, "data");
        for (const char *const *m = openai_models; *m; m++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "id", *m);
            cJSON_AddStringToObject(o, "object", "model");
            cJSON_AddNumberToObject(o, "created", 1715367049);
            cJSON_AddStringToObject(o, "owned_by", "system");
            cJSON_AddItemToArray(arr, o);
        }
    }
    return print_and_free(root);
}
