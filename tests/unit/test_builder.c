/* test_builder.c — the public typed builder gives the same request as the JSON
 * dict form, refuses bad arguments, and its validation matches the decoder's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/request.h"
#include "llmux.h"

/* Both requests encode to the same canonical JSON. */
static void assert_same_request(llmux_request *built, const char *json)
{
    llmux_request *decoded = NULL;
    char err[256];
    if (llmux_request_from_json(json, strlen(json), &decoded, err, sizeof err) != LLMUX_OK)
        fail_msg("decode: %s", err);
    char *a = llmux_request_to_json(built);
    char *b = llmux_request_to_json(decoded);
    assert_non_null(a);
    assert_non_null(b);
    if (strcmp(a, b) != 0)
        fail_msg("builder and JSON differ:\n  built:   %s\n  decoded: %s", a, b);
    llmux_free(a);
    llmux_free(b);
    llmux_request_free(decoded);
}

static void test_seed_fallback_with_partial_overrides(void **state)
{
    (void)state;
    llmux_request *r = llmux_request_new("anthropic", "claude-haiku-4-5");
    assert_non_null(r);
    llmux_params *p = llmux_request_params(r);
    assert_int_equal(llmux_params_add_message(p, "user", "hi"), LLMUX_OK);
    assert_int_equal(llmux_params_set_temperature(p, 0.7), LLMUX_OK);
    assert_int_equal(llmux_params_set_max_tokens(p, 1000), LLMUX_OK);
    assert_int_equal(llmux_params_add_tool(p, "get_weather", "Weather for a city",
                                           "{\"type\":\"object\",\"properties\":{\"city\":"
                                           "{\"type\":\"string\"}}}"),
                     LLMUX_OK);
    llmux_retry_config retry = LLMUX_RETRY_DEFAULTS;
    retry.max_retries = 2;
    assert_int_equal(llmux_params_set_retry(p, &retry), LLMUX_OK);
    llmux_params *fb = llmux_request_add_fallback(r, "openai", NULL);
    assert_non_null(fb);
    llmux_params *fb2 = llmux_request_add_fallback(r, "google", "gemini-2.5-flash");
    assert_non_null(fb2);
    llmux_retry_config fast = {true, 0, 1.0, 2.0};
    assert_int_equal(llmux_params_set_retry(fb2, &fast), LLMUX_OK);
    assert_int_equal(llmux_params_set_temperature(fb2, 0), LLMUX_OK);
    llmux_request_set_stream_options(r, true, true, false);
    char err[256];
    assert_int_equal(llmux_request_validate(r, err, sizeof err), LLMUX_OK);

    assert_same_request(
        r, "{\"provider\":\"anthropic\",\"model\":\"claude-haiku-4-5\","
           "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":0.7,"
           "\"max_tokens\":1000,\"tools\":[{\"type\":\"function\",\"function\":{\"name\":"
           "\"get_weather\",\"description\":\"Weather for a city\",\"parameters\":{\"type\":"
           "\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}}],"
           "\"retry\":{\"enabled\":true,\"max_retries\":2,\"retry_delay\":1,"
           "\"backoff_multiplier\":2},"
           "\"fallbacks\":[{\"provider\":\"openai\"},{\"provider\":\"google\",\"model\":"
           "\"gemini-2.5-flash\",\"temperature\":0,\"retry\":{\"max_retries\":0}}],"
           "\"stream_options\":{\"chunk_by_sentence\":true,\"clean_sentences\":true}}");

    llmux__plan plan;
    llmux__error e;
    assert_int_equal(llmux__plan_build(r, &plan, &e), LLMUX_OK);
    assert_int_equal(plan.n_steps, 3 + 3 + 1);
    assert_string_equal(plan.chain[1].model, "claude-haiku-4-5"); /* inherited */
    assert_int_equal(plan.chain[1].n_tools, 1);
    llmux__plan_free(&plan);
    llmux_request_free(r);
}

static void test_tool_round_trip_and_sdk_model(void **state)
{
    (void)state;
    llmux_request *r = llmux_request_new(NULL, "openai/gpt-4o");
    llmux_params *p = llmux_request_params(r);
    assert_int_equal(llmux_params_add_message(p, "system", "be brief"), LLMUX_OK);
    assert_int_equal(llmux_params_add_message(p, "user", "weather?"), LLMUX_OK);
    assert_int_equal(llmux_params_add_tool_call(p, "call_1", "get_weather", "{\"city\":\"Paris\"}"),
                     LLMUX_OK);
    assert_int_equal(llmux_params_add_tool_call(p, "call_2", "get_time", NULL), LLMUX_OK);
    assert_int_equal(llmux_params_add_tool_result(p, "call_1", "sunny"), LLMUX_OK);
    assert_int_equal(llmux_params_add_tool_result(p, "call_2", "noon"), LLMUX_OK);
    assert_int_equal(llmux_params_add_message_json(
                         p, "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"and "
                            "this?\"},{\"type\":\"image_url\",\"image_url\":{\"url\":"
                            "\"https://x/y.png\"}}]}"),
                     LLMUX_OK);
    assert_int_equal(llmux_params_set_tool_choice(p, "get_weather"), LLMUX_OK);
    assert_int_equal(llmux_params_add_stop(p, "END"), LLMUX_OK);
    assert_int_equal(llmux_params_set_top_p(p, 0.5), LLMUX_OK);
    assert_int_equal(llmux_params_set_timeout(p, 10), LLMUX_OK);
    assert_int_equal(llmux_params_set_first_token_timeout(p, 1.5), LLMUX_OK);
    assert_same_request(
        r,
        "{\"provider\":\"openai\",\"model\":\"gpt-4o\",\"messages\":["
        "{\"role\":\"system\",\"content\":\"be brief\"},{\"role\":\"user\",\"content\":"
        "\"weather?\"},{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":"
        "\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":"
        "\"{\\\"city\\\":\\\"Paris\\\"}\"}},{\"id\":\"call_2\",\"type\":\"function\",\"function\":"
        "{\"name\":\"get_time\",\"arguments\":\"{}\"}}]},{\"role\":\"tool\",\"tool_call_id\":"
        "\"call_1\",\"content\":\"sunny\"},{\"role\":\"tool\",\"tool_call_id\":\"call_2\","
        "\"content\":\"noon\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"and "
        "this?\"},{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x/y.png\"}}]}],"
        "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}},"
        "\"stop\":[\"END\"],\"top_p\":0.5,\"timeout\":10,\"first_token_timeout\":1.5}");
    llmux_request_free(r);
}

static void test_many_messages_grow(void **state)
{
    (void)state;
    llmux_request *r = llmux_request_new("openai", "m");
    llmux_params *p = llmux_request_params(r);
    char text[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(text, sizeof text, "message %d", i);
        assert_int_equal(llmux_params_add_message(p, i % 2 ? "assistant" : "user", text), LLMUX_OK);
    }
    assert_int_equal(r->primary.n_messages, 1000);
    assert_string_equal(r->primary.messages[999].content, "message 999");
    assert_string_equal(r->primary.messages[0].content, "message 0");
    /* fallback handles stay valid as more fallbacks are added */
    llmux_params *first = llmux_request_add_fallback(r, "anthropic", NULL);
    for (int i = 0; i < 15; i++)
        assert_non_null(llmux_request_add_fallback(r, NULL, "x"));
    assert_null(llmux_request_add_fallback(r, NULL, "one too many"));
    assert_int_equal(llmux_params_set_temperature(first, 1.0), LLMUX_OK);
    assert_true(r->fallbacks[0].temperature == 1.0);
    llmux_request_free(r);
}

static void test_bad_arguments_and_validation(void **state)
{
    (void)state;
    assert_null(llmux_request_new("mistral", "m"));
    llmux_request *r = llmux_request_new("openai", "m");
    llmux_params *p = llmux_request_params(r);
    char err[256];
    /* no messages yet */
    assert_int_equal(llmux_request_validate(r, err, sizeof err), LLMUX_EINVALID_REQUEST);
    assert_string_equal(err, "messages: is required");
    assert_int_equal(llmux_params_add_message(p, "robot", "x"), LLMUX_EINVALID_REQUEST);
    assert_int_equal(llmux_params_add_message(p, "user", NULL), LLMUX_EINVALID_REQUEST);
    assert_int_equal(llmux_params_add_message_json(p, "{not json"), LLMUX_EINVALID_REQUEST);
    assert_int_equal(llmux_params_add_message_json(p, "{\"role\":\"user\",\"content\":3}"),
                     LLMUX_EINVALID_REQUEST);
    assert_int_equal(llmux_params_add_tool(p, "f", NULL, "[1]"), LLMUX_EINVALID_REQUEST);
    assert_int_equal(llmux_params_add_tool_call(p, "c", "f", "{bad"), LLMUX_EINVALID_REQUEST);
    assert_int_equal(llmux_params_set_provider(p, "nope"), LLMUX_EINVALID_REQUEST);
    assert_null(llmux_request_add_fallback(r, "nope", NULL));
    assert_int_equal(llmux_params_add_message(p, "user", "hi"), LLMUX_OK);
    assert_int_equal(llmux_request_validate(r, err, sizeof err), LLMUX_OK);
    assert_int_equal(llmux_params_set_temperature(p, 3), LLMUX_OK);
    assert_int_equal(llmux_request_validate(r, err, sizeof err), LLMUX_EINVALID_REQUEST);
    assert_string_equal(err, "temperature: must be between 0 and 2");
    llmux_params_set_temperature(p, 1);
    llmux_retry_config absurd = {true, 50, 1, 2};
    llmux_params_set_retry(llmux_request_add_fallback(r, "google", NULL), &absurd);
    assert_int_equal(llmux_request_validate(r, err, sizeof err), LLMUX_EINVALID_REQUEST);
    assert_string_equal(err, "fallbacks[0].retry.max_retries: must be between 0 and 10");
    llmux_request_free(r);

    /* from_json reports the field and never returns a request */
    llmux_request *out = NULL;
    const char *bad = "{\"model\":\"openai/x\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                      "\"fallbacks\":[{\"api_key\":\"sk-live\"}]}";
    assert_int_equal(llmux_request_from_json(bad, strlen(bad), &out, err, sizeof err),
                     LLMUX_EINVALID_REQUEST);
    assert_null(out);
    assert_non_null(strstr(err, "fallbacks[0].api_key"));
    assert_null(strstr(err, "sk-live"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_fallback_with_partial_overrides),
        cmocka_unit_test(test_tool_round_trip_and_sdk_model),
        cmocka_unit_test(test_many_messages_grow),
        cmocka_unit_test(test_bad_arguments_and_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
