/* test_request.c — the request model: decoding the seeds' requests, validation
 * errors, fallback inheritance, the retry schedule, and encode/decode round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/request.h"

#define MSG "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"

static llmux__request *decode_ok(const char *json)
{
    llmux__request *req = NULL;
    llmux__error err;
    llmux_code rc = llmux__request_decode(json, strlen(json), &req, &err);
    if (rc != LLMUX_OK)
        fail_msg("decode failed (%s): %s\n  json: %s", llmux_code_type(rc), err.message, json);
    return req;
}

/* ---- plans of the seeds' examples ------------------------------------------ */

typedef struct expected_step {
    const char *provider;
    const char *model;
    int attempt;
    double delay;
} expected_step;

typedef struct plan_case {
    const char *name;
    const char *json;
    expected_step steps[24];
    size_t n_steps;
} plan_case;

static const plan_case plan_cases[] = {
    {"basic retry (seed 002)",
     "{\"provider\":\"anthropic\",\"model\":\"claude-haiku-4-5\"," MSG
     ",\"retry\":{\"enabled\":true,\"max_retries\":3,\"retry_delay\":1.0,"
     "\"backoff_multiplier\":2.0}}",
     {{"anthropic", "claude-haiku-4-5", 1, 0},
      {"anthropic", "claude-haiku-4-5", 2, 1},
      {"anthropic", "claude-haiku-4-5", 3, 2},
      {"anthropic", "claude-haiku-4-5", 4, 4}},
     4},
    {"default retry when absent",
     "{\"provider\":\"openai\",\"model\":\"gpt-4.1-mini\"," MSG "}",
     {{"openai", "gpt-4.1-mini", 1, 0},
      {"openai", "gpt-4.1-mini", 2, 1},
      {"openai", "gpt-4.1-mini", 3, 2},
      {"openai", "gpt-4.1-mini", 4, 4}},
     4},
    {"retry as a dict with partial fields (seed 002)",
     "{\"provider\":\"anthropic\",\"model\":\"m\"," MSG
     ",\"retry\":{\"max_retries\":5,\"retry_delay\":0.5,\"backoff_multiplier\":1.5}}",
     {{"anthropic", "m", 1, 0},
      {"anthropic", "m", 2, 0.5},
      {"anthropic", "m", 3, 0.75},
      {"anthropic", "m", 4, 1.125},
      {"anthropic", "m", 5, 1.6875},
      {"anthropic", "m", 6, 2.53125}},
     6},
    {"retry disabled means one attempt",
     "{\"provider\":\"openai\",\"model\":\"m\"," MSG ",\"retry\":{\"enabled\":false}}",
     {{"openai", "m", 1, 0}},
     1},
    {"retry max_retries 0",
     "{\"provider\":\"openai\",\"model\":\"m\"," MSG ",\"retry\":{\"max_retries\":0}}",
     {{"openai", "m", 1, 0}},
     1},
    {"retries + fallbacks: anthropic #1..#4 then openai #1..#4 (seed 002)",
     "{\"provider\":\"anthropic\",\"model\":\"claude-haiku-4-5\"," MSG
     ",\"retry\":{\"max_retries\":3},"
     "\"fallbacks\":[{\"provider\":\"openai\",\"model\":\"gpt-4.1-mini\"}]}",
     {{"anthropic", "claude-haiku-4-5", 1, 0},
      {"anthropic", "claude-haiku-4-5", 2, 1},
      {"anthropic", "claude-haiku-4-5", 3, 2},
      {"anthropic", "claude-haiku-4-5", 4, 4},
      {"openai", "gpt-4.1-mini", 1, 0},
      {"openai", "gpt-4.1-mini", 2, 1},
      {"openai", "gpt-4.1-mini", 3, 2},
      {"openai", "gpt-4.1-mini", 4, 4}},
     8},
    {"fallback chain anthropic -> openai -> google, retry disabled",
     "{\"provider\":\"anthropic\",\"model\":\"claude-haiku-4-5\"," MSG
     ",\"retry\":{\"enabled\":false},"
     "\"fallbacks\":[{\"provider\":\"openai\",\"model\":\"gpt-4.1-mini\"},"
     "{\"provider\":\"google\",\"model\":\"gemini-2.5-flash\"}]}",
     {{"anthropic", "claude-haiku-4-5", 1, 0},
      {"openai", "gpt-4.1-mini", 1, 0},
      {"google", "gemini-2.5-flash", 1, 0}},
     3},
    {"fallback overrides retry for a faster second try (seed 002)",
     "{\"provider\":\"anthropic\",\"model\":\"claude-haiku-4-5\"," MSG
     ",\"fallbacks\":[{\"provider\":\"openai\",\"model\":\"gpt-4.1-mini\","
     "\"retry\":{\"max_retries\":0}}]}",
     {{"anthropic", "claude-haiku-4-5", 1, 0},
      {"anthropic", "claude-haiku-4-5", 2, 1},
      {"anthropic", "claude-haiku-4-5", 3, 2},
      {"anthropic", "claude-haiku-4-5", 4, 4},
      {"openai", "gpt-4.1-mini", 1, 0}},
     5},
    {"fallback with provider only inherits the model",
     "{\"provider\":\"anthropic\",\"model\":\"claude-haiku-4-5\"," MSG
     ",\"retry\":{\"enabled\":false},\"fallbacks\":[{\"provider\":\"openai\"}]}",
     {{"anthropic", "claude-haiku-4-5", 1, 0}, {"openai", "claude-haiku-4-5", 1, 0}},
     2},
    {"fallback with model only inherits the provider",
     "{\"provider\":\"openai\",\"model\":\"gpt-4o\"," MSG
     ",\"retry\":{\"enabled\":false},\"fallbacks\":[{\"model\":\"gpt-4o-mini\"}]}",
     {{"openai", "gpt-4o", 1, 0}, {"openai", "gpt-4o-mini", 1, 0}},
     2},
    {"OpenAI-SDK form: model provider/model",
     "{\"model\":\"anthropic/claude-haiku-4-5\"," MSG
     ",\"retry\":{\"enabled\":false},\"fallbacks\":[{\"model\":\"openai/gpt-4.1-mini\"}]}",
     {{"anthropic", "claude-haiku-4-5", 1, 0}, {"openai", "gpt-4.1-mini", 1, 0}},
     2},
    {"provider given and model keeps a foreign slash",
     "{\"provider\":\"openai\",\"model\":\"meta-llama/Llama-3-8B\"," MSG
     ",\"retry\":{\"enabled\":false}}",
     {{"openai", "meta-llama/Llama-3-8B", 1, 0}},
     1},
    {"gemini is an alias of google",
     "{\"provider\":\"gemini\",\"model\":\"gemini-2.5-flash\"," MSG
     ",\"retry\":{\"enabled\":false}}",
     {{"google", "gemini-2.5-flash", 1, 0}},
     1},
    {"null fallbacks and null retry are absent",
     "{\"provider\":\"openai\",\"model\":\"m\"," MSG ",\"retry\":null,\"fallbacks\":null}",
     {{"openai", "m", 1, 0}, {"openai", "m", 2, 1}, {"openai", "m", 3, 2}, {"openai", "m", 4, 4}},
     4},
    {"max_retries 10 with slow backoff",
     "{\"provider\":\"openai\",\"model\":\"m\"," MSG
     ",\"retry\":{\"max_retries\":10,\"retry_delay\":0.01,\"backoff_multiplier\":1}}",
     {{"openai", "m", 1, 0},
      {"openai", "m", 2, 0.01},
      {"openai", "m", 3, 0.01},
      {"openai", "m", 4, 0.01},
      {"openai", "m", 5, 0.01},
      {"openai", "m", 6, 0.01},
      {"openai", "m", 7, 0.01},
      {"openai", "m", 8, 0.01},
      {"openai", "m", 9, 0.01},
      {"openai", "m", 10, 0.01},
      {"openai", "m", 11, 0.01}},
     11},
};

static void check_plan(const plan_case *c, const llmux__plan *plan)
{
    if (plan->n_steps != c->n_steps)
        fail_msg("%s: %zu steps, want %zu", c->name, plan->n_steps, c->n_steps);
    for (size_t i = 0; i < c->n_steps; i++) {
        const llmux__plan_step *s = &plan->steps[i];
        const expected_step *e = &c->steps[i];
        const char *prov = llmux__provider_name(s->params->provider);
        if (strcmp(prov, e->provider) != 0 || strcmp(s->params->model, e->model) != 0 ||
            s->attempt != e->attempt || fabs(s->delay_before_s - e->delay) > 1e-9)
            fail_msg("%s: step %zu is %s/%s #%d after %.4fs, want %s/%s #%d after %.4fs", c->name,
                     i, prov, s->params->model, s->attempt, s->delay_before_s, e->provider,
                     e->model, e->attempt, e->delay);
    }
}

static void test_seed_plans(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof plan_cases / sizeof plan_cases[0]; i++) {
        const plan_case *c = &plan_cases[i];
        llmux__request *req = decode_ok(c->json);
        llmux__plan plan;
        llmux__error err;
        assert_int_equal(llmux__plan_build(req, &plan, &err), LLMUX_OK);
        check_plan(c, &plan);
        llmux__plan_free(&plan);

        /* Encoding and decoding again gives the same plan. */
        cJSON *j = llmux__request_to_json(req);
        assert_non_null(j);
        char *text = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        llmux__request *again = decode_ok(text);
        assert_int_equal(llmux__plan_build(again, &plan, &err), LLMUX_OK);
        check_plan(c, &plan);
        llmux__plan_free(&plan);
        llmux__request_free(again);
        cJSON_free(text);
        llmux__request_free(req);
    }
}

/* ---- inheritance ------------------------------------------------------------ */

static void test_partial_override_inheritance(void **state)
{
    (void)state;
    /* The seed's partial-override example, plus null/falsy values. */
    const char *json =
        "{\"provider\":\"anthropic\",\"model\":\"claude-haiku-4-5\","
        "\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
        "{\"role\":\"user\",\"content\":\"hi\"}],"
        "\"temperature\":0.7,\"max_tokens\":1000,\"top_p\":0.9,\"stop\":[\"END\"],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
        "\"parameters\":{\"type\":\"object\"}}}],\"tool_choice\":\"auto\","
        "\"timeout\":12.5,\"first_token_timeout\":2,"
        "\"fallbacks\":["
        "{\"provider\":\"openai\"},"
        "{\"provider\":\"google\",\"temperature\":0,\"tools\":[],\"stop\":null,\"model\":null},"
        "{\"provider\":\"openai\",\"model\":\"gpt-4.1-mini\",\"max_tokens\":1,"
        "\"messages\":[{\"role\":\"user\",\"content\":\"other\"}],\"tool_choice\":\"none\","
        "\"timeout\":1,\"first_token_timeout\":0.5,\"top_p\":0}]}";
    llmux__request *req = decode_ok(json);
    llmux__plan plan;
    llmux__error err;
    assert_int_equal(llmux__plan_build(req, &plan, &err), LLMUX_OK);
    assert_int_equal(plan.n_chain, 4);

    const llmux__params *p0 = &plan.chain[0], *p1 = &plan.chain[1], *p2 = &plan.chain[2],
                        *p3 = &plan.chain[3];
    /* {"provider":"openai"}: everything else inherited. */
    assert_int_equal(p1->provider, LLMUX__PROVIDER_OPENAI);
    assert_string_equal(p1->model, "claude-haiku-4-5");
    assert_ptr_equal(p1->messages, p0->messages);
    assert_int_equal(p1->n_messages, 2);
    assert_true(fabs(p1->temperature - 0.7) < 1e-12);
    assert_int_equal(p1->max_tokens, 1000);
    assert_true(fabs(p1->top_p - 0.9) < 1e-12);
    assert_int_equal(p1->n_stop, 1);
    assert_string_equal(p1->stop[0], "END");
    assert_int_equal(p1->n_tools, 1);
    assert_string_equal(p1->tools[0].name, "get_weather");
    assert_int_equal(p1->tool_choice.kind, LLMUX__TOOL_CHOICE_AUTO);
    assert_true(fabs(p1->timeout - 12.5) < 1e-12);
    assert_true(fabs(p1->first_token_timeout - 2) < 1e-12);
    assert_int_equal(p1->retry.max_retries, 3); /* default inherited */
    assert_true(p1->set & LLMUX__F_TIMEOUT);

    /* temperature 0 overrides 0.7; tools [] overrides; null stop/model inherit. */
    assert_int_equal(p2->provider, LLMUX__PROVIDER_GOOGLE);
    assert_string_equal(p2->model, "claude-haiku-4-5");
    assert_true(p2->temperature == 0.0);
    assert_true(p2->set & LLMUX__F_TEMPERATURE);
    assert_int_equal(p2->n_tools, 0);
    assert_true(p2->set & LLMUX__F_TOOLS);
    assert_int_equal(p2->n_stop, 1);

    /* Every field overridden. */
    assert_string_equal(p3->model, "gpt-4.1-mini");
    assert_int_equal(p3->max_tokens, 1);
    assert_int_equal(p3->n_messages, 1);
    assert_string_equal(p3->messages[0].content, "other");
    assert_int_equal(p3->tool_choice.kind, LLMUX__TOOL_CHOICE_NONE);
    assert_true(p3->timeout == 1.0);
    assert_true(p3->first_token_timeout == 0.5);
    assert_true(p3->top_p == 0.0);
    assert_true(fabs(p3->temperature - 0.7) < 1e-12);

    llmux__plan_free(&plan);
    llmux__request_free(req);
}

static void test_fallback_retry_inherited_and_overridden(void **state)
{
    (void)state;
    llmux__request *req = decode_ok(
        "{\"provider\":\"anthropic\",\"model\":\"a\"," MSG
        ",\"retry\":{\"max_retries\":1,\"retry_delay\":0.25,\"backoff_multiplier\":3},"
        "\"fallbacks\":[{\"provider\":\"openai\"},"
        "{\"provider\":\"google\",\"retry\":{\"retry_delay\":0.5}}]}");
    llmux__plan plan;
    llmux__error err;
    assert_int_equal(llmux__plan_build(req, &plan, &err), LLMUX_OK);
    /* The fallback inherits the whole primary retry; an override object starts
     * from the defaults (RetryConfiguration semantics), not from the primary. */
    assert_int_equal(plan.chain[1].retry.max_retries, 1);
    assert_true(plan.chain[1].retry.retry_delay == 0.25);
    assert_true(plan.chain[1].retry.backoff_multiplier == 3);
    assert_int_equal(plan.chain[2].retry.max_retries, 3);
    assert_true(plan.chain[2].retry.retry_delay == 0.5);
    assert_true(plan.chain[2].retry.backoff_multiplier == 2);
    assert_int_equal(plan.n_steps, 2 + 2 + 4);
    assert_true(plan.steps[3].delay_before_s == 0.25);
    llmux__plan_free(&plan);
    llmux__request_free(req);
}

/* ---- messages, tools and options --------------------------------------------- */

static void test_messages_tools_and_options_decode(void **state)
{
    (void)state;
    llmux__request *req = decode_ok(
        "{\"provider\":\"openai\",\"model\":\"gpt-4o\",\"messages\":["
        "{\"role\":\"developer\",\"content\":\"dev\"},"
        "{\"role\":\"user\",\"name\":\"ann\",\"content\":[{\"type\":\"text\",\"text\":\"look\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x/y.png\",\"detail\":\"low\"}},"
        "{\"type\":\"input_audio\",\"input_audio\":{\"data\":\"AA==\",\"format\":\"wav\"}}]},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\","
        "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":1}\"}},"
        "{\"id\":\"\",\"function\":{\"name\":\"g\",\"arguments\":{\"b\":2}}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"42\"}],"
        "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"f\"}},"
        "\"stop\":\"STOP\",\"stream\":true,"
        "\"stream_options\":{\"chunk_by_sentence\":true,\"clean_sentences\":true,"
        "\"include_usage\":true},"
        "\"seed\":7,\"response_format\":{\"type\":\"json_object\"},\"max_completion_tokens\":50}");
    const llmux__params *p = &req->primary;
    assert_int_equal(p->n_messages, 4);
    assert_int_equal(p->messages[0].role, LLMUX__ROLE_DEVELOPER);
    assert_string_equal(p->messages[1].name, "ann");
    assert_null(p->messages[1].content);
    assert_int_equal(p->messages[1].n_parts, 3);
    assert_int_equal(p->messages[1].parts[0].kind, LLMUX__PART_TEXT);
    assert_string_equal(p->messages[1].parts[0].text, "look");
    assert_int_equal(p->messages[1].parts[1].kind, LLMUX__PART_IMAGE_URL);
    assert_string_equal(p->messages[1].parts[1].url, "https://x/y.png");
    assert_string_equal(p->messages[1].parts[1].detail, "low");
    assert_int_equal(p->messages[1].parts[2].kind, LLMUX__PART_OTHER);
    assert_non_null(p->messages[1].parts[2].raw);
    assert_int_equal(p->messages[2].n_tool_calls, 2);
    assert_string_equal(p->messages[2].tool_calls[0].id, "call_1");
    assert_string_equal(p->messages[2].tool_calls[0].arguments, "{\"a\":1}");
    assert_string_equal(p->messages[2].tool_calls[1].id, "");
    assert_string_equal(p->messages[2].tool_calls[1].arguments, "{\"b\":2}");
    assert_string_equal(p->messages[3].tool_call_id, "call_1");
    assert_int_equal(p->tool_choice.kind, LLMUX__TOOL_CHOICE_NAMED);
    assert_string_equal(p->tool_choice.name, "f");
    assert_int_equal(p->n_stop, 1);
    assert_string_equal(p->stop[0], "STOP");
    assert_int_equal(p->max_tokens, 50);
    assert_true(req->stream);
    assert_true(req->stream_options.chunk_by_sentence);
    assert_true(req->stream_options.clean_sentences);
    assert_false(req->stream_options.eager_first_chunk);
    assert_true(req->stream_options.include_usage);
    /* Unknown OpenAI fields are kept for passthrough, llmux's own are not. */
    assert_non_null(req->extra);
    assert_int_equal(cJSON_GetArraySize(req->extra), 2);
    assert_non_null(cJSON_GetObjectItemCaseSensitive(req->extra, "seed"));
    assert_non_null(cJSON_GetObjectItemCaseSensitive(req->extra, "response_format"));

    /* Round trip of messages keeps ids and arguments. */
    cJSON *m = llmux__message_to_json(&p->messages[2]);
    char *s = cJSON_PrintUnformatted(m);
    assert_string_equal(s, "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"function\":"
                           "{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":1}\"},\"id\":\"call_1\","
                           "\"type\":\"function\"},{\"function\":{\"name\":\"g\",\"arguments\":"
                           "\"{\\\"b\\\":2}\"},\"id\":\"\",\"type\":\"function\"}]}");
    cJSON_free(s);
    cJSON_Delete(m);
    llmux__request_free(req);
}

/* ---- validation errors ---------------------------------------------------------- */

typedef struct invalid_case {
    const char *json;
    const char *message; /* a substring the error message must contain */
} invalid_case;

static const invalid_case invalid_cases[] = {
    {"", "not valid JSON"},
    {"{", "not valid JSON"},
    {"[1,2]", "request: must be a JSON object"},
    {"{\"model\":\"m\"," MSG ",\"api_key\":\"sk-secret\"}", "api_key: keys are not accepted"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG
     ",\"fallbacks\":[{\"provider\":\"anthropic\",\"api_key\":\"sk-x\"}]}",
     "fallbacks[0].api_key: keys are not accepted on requests; register the provider with "
     "configure_provider"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG
     ",\"fallbacks\":[{\"provider\":\"anthropic\",\"fallbacks\":[]}]}",
     "fallbacks[0].fallbacks: a fallback cannot have fallbacks"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG ",\"fallbacks\":[\"openai\"]}",
     "fallbacks[0]: must be an object"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG ",\"fallbacks\":{}}",
     "fallbacks: must be an array"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG ",\"fallbacks\":[{\"seed\":1}]}",
     "fallbacks[0].seed: 'seed' is not a fallback field"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG ",\"fallbacks\":[{\"stream\":true}]}",
     "fallbacks[0].stream: 'stream' is not a fallback field"},
    {"{\"provider\":\"mistral\",\"model\":\"m\"," MSG "}", "provider: unknown provider 'mistral'"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG
     ",\"fallbacks\":[{\"provider\":\"cohere\"}]}",
     "fallbacks[0].provider: unknown provider 'cohere'"},
    {"{\"model\":\"gpt-4o\"," MSG "}", "provider: is required"},
    {"{\"provider\":\"openai\"," MSG "}", "model: is required"},
    {"{\"provider\":\"openai\",\"model\":\"\"," MSG "}", "model: must not be empty"},
    {"{\"provider\":\"openai\",\"model\":7," MSG "}", "model: must be a string, got a number"},
    {"{\"provider\":\"openai\",\"model\":\"m\"}", "messages: is required"},
    {"{\"provider\":\"openai\",\"model\":\"m\",\"messages\":[]}",
     "messages: must contain at least one message"},
    {"{\"provider\":\"openai\",\"model\":\"m\",\"messages\":\"hi\"}",
     "messages: must be an array of messages, got a string"},
    {"{\"provider\":\"openai\",\"model\":\"m\",\"messages\":[{\"content\":\"hi\"}]}",
     "messages[0].role: is required"},
    {"{\"provider\":\"openai\",\"model\":\"m\",\"messages\":[{\"role\":\"bot\",\"content\":\"x\"}]}",
     "messages[0].role: unknown role 'bot'"},
    {"{\"provider\":\"openai\",\"model\":\"m\",\"messages\":[{\"role\":\"user\"}]}",
     "messages[0]: has no content"},
    {"{\"provider\":\"openai\",\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":null}]}",
     "messages[0]: has no content"},
    {"{\"provider\":\"openai\",\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
     "\"a\"},{\"role\":\"assistant\"}]}",
     "messages[1]: has no content (an assistant message needs content or tool_calls)"},
    {"{\"provider\":\"openai\",\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":5}]}",
     "messages[0].content: must be a string or an array of parts, got a number"},
    {"{\"provider\":\"openai\",\"model\":\"m\",\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}",
     "messages[0]: a tool message needs tool_call_id"},
    {"{\"provider\":\"openai\",\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
     "[{\"type\":\"text\"}]}]}",
     "messages[0].content[0].text: is required"},
    {"{\"provider\":\"openai\",\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
     "[{\"text\":\"x\"}]}]}",
     "messages[0].content[0]: type is required"},
    {"{\"provider\":\"openai\",\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
     "\"x\",\"tool_calls\":[]}]}",
     "messages[0].tool_calls: only assistant messages carry tool_calls"},
    {"{\"provider\":\"openai\",\"model\":\"m\",\"messages\":[{\"role\":\"assistant\","
     "\"tool_calls\":[{\"id\":\"c\",\"function\":{\"arguments\":\"{}\"}}]}]}",
     "messages[0].tool_calls[0].function.name: is required"},
    {"{\"provider\":\"openai\",\"model\":\"m\",\"messages\":[{\"role\":\"assistant\","
     "\"tool_calls\":[{\"function\":{\"name\":\"f\"}}]}]}",
     "messages[0].tool_calls[0]: id is required"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG ",\"temperature\":2.5}",
     "temperature: must be between 0 and 2"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG ",\"temperature\":-0.1}",
     "temperature: must be between 0 and 2"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG ",\"temperature\":\"hot\"}",
     "temperature: must be a number, got a string"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG
     ",\"fallbacks\":[{\"provider\":\"google\",\"temperature\":9}]}",
     "fallbacks[0].temperature: must be between 0 and 2"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG ",\"top_p\":1.5}",
     "top_p: must be between 0 and 1"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG ",\"max_tokens\":0}",
     "max_tokens: must be between 1"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG ",\"max_tokens\":10.5}",
     "max_tokens: must be an integer, got a fraction"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG ",\"max_tokens\":true}",
     "max_tokens: must be an integer, got a boolean"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG ",\"stop\":[1]}",
     "stop[0]: must be a string, got a number"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG ",\"stop\":{}}",
     "stop: must be a string or an array of strings"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG ",\"tools\":{}}", "tools: must be an array"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG ",\"tools\":[{\"type\":\"function\"}]}",
     "tools[0].function: must be an object with a name"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG
     ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":[]}}]}",
     "tools[0].function.parameters: must be a JSON Schema object"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG ",\"tool_choice\":\"sometimes\"}",
     "tool_choice: must be \"auto\""},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG ",\"tool_choice\":{\"type\":\"function\"}}",
     "tool_choice.function.name: is required"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG ",\"retry\":{\"max_retries\":-1}}",
     "retry.max_retries: must be between 0 and 10"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG ",\"retry\":{\"max_retries\":1000}}",
     "retry.max_retries: must be between 0 and 10"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG ",\"retry\":{\"max_retries\":2.5}}",
     "retry.max_retries: must be an integer"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG ",\"retry\":{\"retry_delay\":-1}}",
     "retry.retry_delay: must be between 0 and 60"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG ",\"retry\":{\"retry_delay\":1e9}}",
     "retry.retry_delay: must be between 0 and 60"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG ",\"retry\":{\"backoff_multiplier\":0.5}}",
     "retry.backoff_multiplier: must be between 1 and 10"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG ",\"retry\":{\"tries\":2}}",
     "retry.tries: unknown field"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG ",\"retry\":{\"enabled\":\"yes\"}}",
     "retry.enabled: must be true or false"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG ",\"retry\":3}",
     "retry: must be an object"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG ",\"timeout\":0}",
     "timeout: must be more than 0"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG ",\"timeout\":-5}",
     "timeout: must be more than 0"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG ",\"first_token_timeout\":99999}",
     "first_token_timeout: must be more than 0 and at most 3600"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG ",\"stream\":\"yes\"}",
     "stream: must be true or false"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG ",\"stream_options\":{\"sentences\":true}}",
     "stream_options.sentences: unknown option"},
    {"{\"provider\":\"openai\",\"model\":\"m\"," MSG ",\"stream_options\":[]}",
     "stream_options: must be an object"},
};

static void test_validation_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof invalid_cases / sizeof invalid_cases[0]; i++) {
        const invalid_case *c = &invalid_cases[i];
        llmux__request *req = (llmux__request *)1;
        llmux__error err;
        llmux_code rc = llmux__request_decode(c->json, strlen(c->json), &req, &err);
        if (rc != LLMUX_EINVALID_REQUEST)
            fail_msg("case %zu: got code %d, want invalid_request\n  json: %s", i, rc, c->json);
        assert_null(req);
        if (!strstr(err.message, c->message))
            fail_msg("case %zu: message\n  '%s'\ndoes not contain\n  '%s'", i, err.message,
                     c->message);
        /* Never echo a key back. */
        if (strstr(err.message, "sk-"))
            fail_msg("case %zu: the message echoes a key: %s", i, err.message);
    }
}

static void test_too_many_fallbacks(void **state)
{
    (void)state;
    char json[4096];
    int n = snprintf(json, sizeof json, "{\"provider\":\"openai\",\"model\":\"m\"," MSG
                                        ",\"fallbacks\":[");
    for (int i = 0; i < 17; i++)
        n += snprintf(json + n, sizeof json - (size_t)n, "%s{\"model\":\"m%d\"}", i ? "," : "", i);
    snprintf(json + n, sizeof json - (size_t)n, "]}");
    llmux__request *req;
    llmux__error err;
    assert_int_equal(llmux__request_decode(json, strlen(json), &req, &err),
                     LLMUX_EINVALID_REQUEST);
    assert_non_null(strstr(err.message, "fallbacks: too many fallbacks"));
}

static void test_retry_schedule_edges(void **state)
{
    (void)state;
    llmux__retry r = llmux__retry_default();
    assert_true(r.enabled);
    assert_int_equal(r.max_retries, 3);
    assert_true(r.retry_delay == 1.0);
    assert_true(r.backoff_multiplier == 2.0);
    assert_int_equal(llmux__retry_attempts(&r), 4);
    const double want[] = {0, 0, 1, 2, 4, 8};
    for (int a = 0; a <= 5; a++)
        assert_true(llmux__retry_delay(&r, a) == want[a]);
    r.enabled = false;
    assert_int_equal(llmux__retry_attempts(&r), 1);
    r.enabled = true;
    r.max_retries = 99; /* a builder user bypassing validation is still capped */
    assert_int_equal(llmux__retry_attempts(&r), 1 + LLMUX__MAX_RETRIES);
    r.max_retries = -4;
    assert_int_equal(llmux__retry_attempts(&r), 1);
    r.retry_delay = 0;
    assert_true(llmux__retry_delay(&r, 3) == 0);
}

static void test_plan_json(void **state)
{
    (void)state;
    llmux__request *req = decode_ok("{\"provider\":\"anthropic\",\"model\":\"a\"," MSG
                                    ",\"temperature\":0.7,\"retry\":{\"max_retries\":1},"
                                    "\"fallbacks\":[{\"provider\":\"openai\",\"model\":\"o\","
                                    "\"temperature\":0}]}");
    llmux__plan plan;
    llmux__error err;
    assert_int_equal(llmux__plan_build(req, &plan, &err), LLMUX_OK);
    cJSON *j = llmux__plan_to_json(&plan);
    assert_int_equal(cJSON_GetArraySize(j), 4);
    cJSON *last = cJSON_GetArrayItem(j, 3);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(last, "provider")->valuestring, "openai");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(last, "attempt")->valueint, 2);
    assert_true(cJSON_GetObjectItemCaseSensitive(last, "delay_before_s")->valuedouble == 1.0);
    cJSON *params = cJSON_GetObjectItemCaseSensitive(last, "params");
    assert_true(cJSON_GetObjectItemCaseSensitive(params, "temperature")->valuedouble == 0.0);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(params, "message_count")->valueint, 1);
    cJSON_Delete(j);
    llmux__plan_free(&plan);
    llmux__request_free(req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_plans),
        cmocka_unit_test(test_partial_override_inheritance),
        cmocka_unit_test(test_fallback_retry_inherited_and_overridden),
        cmocka_unit_test(test_messages_tools_and_options_decode),
        cmocka_unit_test(test_validation_errors),
        cmocka_unit_test(test_too_many_fallbacks),
        cmocka_unit_test(test_retry_schedule_edges),
        cmocka_unit_test(test_plan_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
