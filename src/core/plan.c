/*
 * plan.c — fallback inheritance and the retry schedule: request → attempt plan.
 *
 * Order: primary attempts 1..n, then fallbacks[0] attempts 1..n, then
 * fallbacks[1] ... Each provider in the chain gets its own schedule from its
 * (possibly inherited) retry configuration.
 */
#include "core/request.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int llmux__retry_attempts(const llmux__retry *r)
{
    if (!r->enabled)
        return 1;
    int n = r->max_retries;
    if (n < 0)
        n = 0;
    if (n > LLMUX__MAX_RETRIES)
        n = LLMUX__MAX_RETRIES;
    return 1 + n;
}

double llmux__retry_delay(const llmux__retry *r, int attempt)
{
    if (attempt <= 1)
        return 0.0;
    return r->retry_delay * pow(r->backoff_multiplier, attempt - 2);
}

/* Copies into `dst` every field of `src` whose bit is not set in `dst`. */
static void inherit(llmux__params *dst, const llmux__params *src)
{
    uint32_t missing = src->set & ~dst->set;
    if (missing & LLMUX__F_PROVIDER)
        dst->provider = src->provider;
    if (missing & LLMUX__F_MODEL)
        dst->model = src->model;
    if (missing & LLMUX__F_MESSAGES) {
        dst->messages = src->messages;
        dst->n_messages = src->n_messages;
    }
    if (missing & LLMUX__F_TEMPERATURE)
        dst->temperature = src->temperature;
    if (missing & LLMUX__F_MAX_TOKENS)
        dst->max_tokens = src->max_tokens;
    if (missing & LLMUX__F_TOP_P)
        dst->top_p = src->top_p;
    if (missing & LLMUX__F_STOP) {
        dst->stop = src->stop;
        dst->n_stop = src->n_stop;
    }
    if (missing & LLMUX__F_TOOLS) {
        dst->tools = src->tools;
        dst->n_tools = src->n_tools;
    }
    if (missing & LLMUX__F_TOOL_CHOICE)
        dst->tool_choice = src->tool_choice;
    if (missing & LLMUX__F_RETRY)
        dst->retry = src->retry;
    if (missing & LLMUX__F_TIMEOUT)
        dst->timeout = src->timeout;
    if (missing & LLMUX__F_FIRST_TOKEN_TIMEOUT)
        dst->first_token_timeout = src->first_token_timeout;
    dst->set |= missing;
}

llmux_code llmux__plan_build(const llmux__request *req, llmux__plan *out, llmux__error *err)
{
    memset(out, 0, sizeof *out);
    size_t n_chain = 1 + req->n_fallbacks;
    out->chain = calloc(n_chain, sizeof *out->chain);
    if (!out->chain)
        return llmux__error_set(err, LLMUX_ENOMEM, "out of memory building the plan");
    out->n_chain = n_chain;

    llmux__params *primary = &out->chain[0];
    *primary = req->primary;
    if (!(primary->set & LLMUX__F_RETRY)) {
        primary->retry = llmux__retry_default();
        primary->set |= LLMUX__F_RETRY;
    }
    size_t n_steps = (size_t)llmux__retry_attempts(&primary->retry);
    for (size_t i = 0; i < req->n_fallbacks; i++) {
        llmux__params *p = &out->chain[i + 1];
        *p = req->fallbacks[i];
        inherit(p, primary);
        n_steps += (size_t)llmux__retry_attempts(&p->retry);
    }

    out->steps = calloc(n_steps, sizeof *out->steps);
    if (!out->steps) {
        llmux__plan_free(out);
        return llmux__error_set(err, LLMUX_ENOMEM, "out of memory building the plan");
    }
    size_t k = 0;
    for (size_t c = 0; c < n_chain; c++) {
        const llmux__params *p = &out->chain[c];
        int attempts = llmux__retry_attempts(&p->retry);
        for (int a = 1; a <= attempts; a++) {
            llmux__plan_step *s = &out->steps[k++];
            s->chain_index = c;
            s->attempt = a;
            s->delay_before_s = llmux__retry_delay(&p->retry, a);
            s->params = p;
        }
    }
    out->n_steps = k;
    return LLMUX_OK;
}

void llmux__plan_free(llmux__plan *plan)
{
    if (!plan)
        return;
    free(plan->chain);
    free(plan->steps);
    memset(plan, 0, sizeof *plan);
}

/* The resolved parameters shown for one step: everything but the provider and
 * model (shown beside) and the messages (shown as a count). */
static cJSON *params_summary(const llmux__params *p)
{
    llmux__params shown = *p;
    shown.set &= ~(LLMUX__F_PROVIDER | LLMUX__F_MODEL | LLMUX__F_MESSAGES | LLMUX__F_TOOLS);
    cJSON *o = cJSON_CreateObject();
    if (!o || !llmux__params_to_json(&shown, o))
        goto fail;
    if (!cJSON_AddNumberToObject(o, "message_count", (double)p->n_messages))
        goto fail;
    if (p->set & LLMUX__F_TOOLS) {
        cJSON *names = cJSON_AddArrayToObject(o, "tools");
        if (!names)
            goto fail;
        for (size_t i = 0; i < p->n_tools; i++) {
            cJSON *s = cJSON_CreateString(p->tools[i].name);
            if (!s)
                goto fail;
            cJSON_AddItemToArray(names, s);
        }
    }
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

cJSON *llmux__plan_to_json(const llmux__plan *plan)
{
    cJSON *arr = cJSON_CreateArray();
    if (!arr)
        return NULL;
    cJSON *summaries[LLMUX__MAX_FALLBACKS + 1] = {0};
    for (size_t i = 0; i < plan->n_steps; i++) {
        const llmux__plan_step *s = &plan->steps[i];
        cJSON *o = cJSON_CreateObject();
        if (!o)
            goto fail;
        cJSON_AddItemToArray(arr, o);
        if (!cJSON_AddStringToObject(o, "provider", llmux__provider_name(s->params->provider)) ||
            !cJSON_AddStringToObject(o, "model", s->params->model ? s->params->model : "") ||
            !cJSON_AddNumberToObject(o, "attempt", s->attempt) ||
            !cJSON_AddNumberToObject(o, "delay_before_s", s->delay_before_s))
            goto fail;
        cJSON *params;
        if (s->chain_index <= LLMUX__MAX_FALLBACKS) {
            if (!summaries[s->chain_index] &&
                !(summaries[s->chain_index] = params_summary(s->params)))
                goto fail;
            params = cJSON_Duplicate(summaries[s->chain_index], true);
        } else {
            params = params_summary(s->params);
        }
        if (!params)
            goto fail;
        cJSON_AddItemToObjectCS(o, "params", params);
    }
    for (size_t i = 0; i <= LLMUX__MAX_FALLBACKS; i++)
        cJSON_Delete(summaries[i]);
    return arr;
fail:
    for (size_t i = 0; i <= LLMUX__MAX_FALLBACKS; i++)
        cJSON_Delete(summaries[i]);
    cJSON_Delete(arr);
    return NULL;
}
