/* test_client_env.c — seed 001's conveniences: provider options from the environment (clear
 * errors naming the missing variable) and the .env loader (quotes, escapes, export,
 * comments, ${VAR} expansion, override, errors by line that never show a value); plus the
 * pure parts of the client: llmux_error, attempt lists and responses read from the proxy's
 * JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "client/client.h"
#include "core/secret.h"
#include "llmux.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const VARS[] = {"OPENAI_API_KEY",
                                   "OPENAI_BASE_URL",
                                   "AZURE_OPENAI_API_KEY",
                                   "AZURE_OPENAI_ENDPOINT",
                                   "AZURE_OPENAI_API_VERSION",
                                   "ANTHROPIC_API_KEY",
                                   "GEMINI_API_KEY",
                                   "GOOGLE_API_KEY",
                                   "DOTENV_A",
                                   "DOTENV_B",
                                   "DOTENV_C",
                                   "DOTENV_D",
                                   "DOTENV_E",
                                   "DOTENV_F",
                                   "DOTENV_G",
                                   "DOTENV_H",
                                   "DOTENV_KEEP",
                                   "DOTENV_EMPTY",
                                   NULL};

static int clean_env(void **state)
{
    (void)state;
    for (int i = 0; VARS[i]; i++)
        unsetenv(VARS[i]);
    return 0;
}

/* ---- provider options from the environment ------------------------------------------- */

static void test_openai_from_env(void **state)
{
    (void)state;
    llmux_provider_options po;
    llmux_error err = LLMUX_ERROR_INIT;
    assert_int_equal(llmux_provider_options_from_env("openai", &po, &err), LLMUX_EINVALID_REQUEST);
    assert_string_equal(err.message, "OPENAI_API_KEY not set");
    setenv("OPENAI_API_KEY", "", 1); /* empty counts as unset */
    assert_int_equal(llmux_provider_options_from_env("openai", &po, &err), LLMUX_EINVALID_REQUEST);
    setenv("OPENAI_API_KEY", "sk-env-1", 1);
    assert_int_equal(llmux_provider_options_from_env("openai", &po, &err), LLMUX_OK);
    assert_int_equal(err.code, LLMUX_OK);
    assert_false(po.managed);
    assert_string_equal(po.api_key, "sk-env-1");
    assert_null(po.base_url);
    setenv("OPENAI_BASE_URL", "https://example.test/v1", 1);
    assert_int_equal(llmux_provider_options_from_env("openai", &po, &err), LLMUX_OK);
    assert_string_equal(po.base_url, "https://example.test/v1");
    llmux_error_free(&err);
}

static void test_azure_from_env(void **state)
{
    (void)state;
    llmux_provider_options po;
    llmux_error err = LLMUX_ERROR_INIT;
    assert_int_equal(llmux_provider_options_from_env("azure", &po, &err), LLMUX_EINVALID_REQUEST);
    assert_non_null(strstr(err.message, "AZURE_OPENAI_API_KEY and AZURE_OPENAI_ENDPOINT required"));
    assert_non_null(strstr(err.message, "neither is"));
    setenv("AZURE_OPENAI_API_KEY", "az-1", 1);
    assert_int_equal(llmux_provider_options_from_env("azure", &po, &err), LLMUX_EINVALID_REQUEST);
    assert_non_null(strstr(err.message, "AZURE_OPENAI_ENDPOINT is not set"));
    unsetenv("AZURE_OPENAI_API_KEY");
    setenv("AZURE_OPENAI_ENDPOINT", "https://r.openai.azure.com", 1);
    assert_int_equal(llmux_provider_options_from_env("azure", &po, &err), LLMUX_EINVALID_REQUEST);
    assert_non_null(strstr(err.message, "AZURE_OPENAI_API_KEY is not set"));
    setenv("AZURE_OPENAI_API_KEY", "az-1", 1);
    setenv("AZURE_OPENAI_API_VERSION", "2024-02-15-preview", 1);
    assert_int_equal(llmux_provider_options_from_env("azure", &po, &err), LLMUX_OK);
    assert_string_equal(po.api_key, "az-1");
    assert_string_equal(po.base_url, "https://r.openai.azure.com");
    assert_string_equal(po.api_version, "2024-02-15-preview");
    llmux_error_free(&err);
}

static void test_anthropic_google_from_env(void **state)
{
    (void)state;
    llmux_provider_options po;
    llmux_error err = LLMUX_ERROR_INIT;
    assert_int_equal(llmux_provider_options_from_env("anthropic", &po, &err),
                     LLMUX_EINVALID_REQUEST);
    assert_string_equal(err.message, "ANTHROPIC_API_KEY not set");
    setenv("ANTHROPIC_API_KEY", "sk-ant-env", 1);
    assert_int_equal(llmux_provider_options_from_env("anthropic", &po, &err), LLMUX_OK);
    assert_string_equal(po.api_key, "sk-ant-env");
    assert_int_equal(llmux_provider_options_from_env("google", &po, &err), LLMUX_EINVALID_REQUEST);
    assert_non_null(strstr(err.message, "GEMINI_API_KEY"));
    setenv("GOOGLE_API_KEY", "g-2", 1);
    assert_int_equal(llmux_provider_options_from_env("gemini", &po, &err), LLMUX_OK);
    assert_string_equal(po.api_key, "g-2");
    setenv("GEMINI_API_KEY", "g-1", 1); /* GEMINI_API_KEY wins */
    assert_int_equal(llmux_provider_options_from_env("google", &po, &err), LLMUX_OK);
    assert_string_equal(po.api_key, "g-1");
    assert_int_equal(llmux_provider_options_from_env("mistral", &po, &err), LLMUX_EINVALID_REQUEST);
    assert_non_null(strstr(err.message, "mistral"));
    assert_int_equal(llmux_provider_options_from_env(NULL, &po, &err), LLMUX_EINVALID_REQUEST);
    llmux_error_free(&err);
}

/* ---- .env ---------------------------------------------------------------------------------- */

static char dir[64];

static const char *write_env(const char *text)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/.env", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_dotenv_forms(void **state)
{
    (void)state;
    setenv("DOTENV_KEEP", "from-environment", 1);
    const char *path = write_env("# comment line\n"
                                 "\n"
                                 "DOTENV_A=plain value  # trailing comment\n"
                                 "export DOTENV_B='single # not a comment $NOT ${X}'\n"
                                 "DOTENV_C=\"double\\nline\\t\\\"q\\\" \\\\ end\"  # c\n"
                                 "  DOTENV_D = spaced\r\n"
                                 "DOTENV_E=${DOTENV_A}-and-${DOTENV_KEEP}-${NOT_SET_ANYWHERE}\n"
                                 "DOTENV_F=\"multi\nline\"\n"
                                 "DOTENV_G=a#b\n"
                                 "DOTENV_EMPTY=\n"
                                 "DOTENV_KEEP=from-file\n"
                                 "DOTENV_H=last-without-newline");
    llmux_error err = LLMUX_ERROR_INIT;
    assert_int_equal(llmux_load_dotenv(path, false, &err), LLMUX_OK);
    assert_string_equal(getenv("DOTENV_A"), "plain value");
    assert_string_equal(getenv("DOTENV_B"), "single # not a comment $NOT ${X}");
    assert_string_equal(getenv("DOTENV_C"), "double\nline\t\"q\" \\ end");
    assert_string_equal(getenv("DOTENV_D"), "spaced");
    assert_string_equal(getenv("DOTENV_E"), "plain value-and-from-environment-");
    assert_string_equal(getenv("DOTENV_F"), "multi\nline");
    assert_string_equal(getenv("DOTENV_G"), "a#b");
    assert_string_equal(getenv("DOTENV_EMPTY"), "");
    assert_string_equal(getenv("DOTENV_KEEP"), "from-environment"); /* not overridden */
    assert_string_equal(getenv("DOTENV_H"), "last-without-newline");
    /* override: the file wins */
    assert_int_equal(llmux_load_dotenv(path, true, &err), LLMUX_OK);
    assert_string_equal(getenv("DOTENV_KEEP"), "from-file");
    llmux_error_free(&err);
}

static void test_dotenv_errors(void **state)
{
    (void)state;
    llmux_error err = LLMUX_ERROR_INIT;
    char missing[128];
    snprintf(missing, sizeof missing, "%s/nope.env", dir);
    assert_int_equal(llmux_load_dotenv(missing, false, &err), LLMUX_ENOT_FOUND);
    assert_non_null(strstr(err.message, "nope.env"));

    static const struct {
        const char *text;
        const char *line;
    } bad[] = {
        {"DOTENV_A=1\nnot an assignment sk-secret-1\n", "line 2"},
        {"DOTENV_A=1\n\n\nDOTENV_B=\"unterminated sk-secret-2\n", "line 4"},
        {"=sk-secret-3\n", "line 1"},
        {"DOTENV_A='x' trailing sk-secret-4\n", "line 1"},
        {"1DIGIT=sk-secret-5\n", "line 1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsetenv("DOTENV_A");
        const char *path = write_env(bad[i].text);
        assert_int_equal(llmux_load_dotenv(path, false, &err), LLMUX_EINVALID_REQUEST);
        if (!strstr(err.message, bad[i].line))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.message, bad[i].line);
        assert_null(strstr(err.message, "sk-secret"));
        assert_null(getenv("DOTENV_A")); /* nothing was set */
    }
    llmux_error_free(&err);
}

static void test_dotenv_then_helpers(void **state)
{
    (void)state;
    const char *path = write_env("OPENAI_API_KEY=sk-from-file\n"
                                 "AZURE_OPENAI_API_KEY=\"az-from-file\"\n"
                                 "AZURE_OPENAI_ENDPOINT=https://res.openai.azure.com\n");
    assert_int_equal(llmux_load_dotenv(path, false, NULL), LLMUX_OK);
    llmux_provider_options po;
    assert_int_equal(llmux_provider_options_from_env("openai", &po, NULL), LLMUX_OK);
    assert_string_equal(po.api_key, "sk-from-file");
    assert_int_equal(llmux_provider_options_from_env("azure", &po, NULL), LLMUX_OK);
    assert_string_equal(po.api_key, "az-from-file");
}

/* ---- errors, attempts, responses ------------------------------------------------------------- */

static void test_error_lifecycle_and_cause(void **state)
{
    (void)state;
    llmux_error err = LLMUX_ERROR_INIT;
    assert_int_equal(llmux_error_cause(&err), LLMUX_OK);
    assert_int_equal(llmux_error_cause(NULL), LLMUX_OK);
    llmux__attempts l;
    llmux__attempts_init(&l);
    llmux_attempt a = {"anthropic", "claude-haiku-4-5", 1, 503, LLMUX_EUPSTREAM,
                       12.5,        "overloaded"};
    llmux_attempt b = {"openai", "gpt-4.1-mini", 1, 429, LLMUX_ERATE_LIMITED, 3, "slow down"};
    assert_true(llmux__attempts_add(&l, &a));
    assert_true(llmux__attempts_add(&l, &b));
    llmux__client_error(&err, LLMUX_EALL_PROVIDERS_FAILED, "every attempt failed (%d)", 2);
    assert_true(llmux__client_error_set_attempts(&err, &l));
    assert_int_equal(err.n_attempts, 2);
    assert_string_equal(err.attempts[0].message, "overloaded");
    assert_int_equal(llmux_error_cause(&err), LLMUX_ERATE_LIMITED);
    /* reusing the error releases what it held (ASan checks) */
    llmux__client_error(&err, LLMUX_EIO, "%s", "");
    assert_int_equal(err.n_attempts, 0);
    assert_string_equal(err.message, llmux_strerror(LLMUX_EIO));
    assert_int_equal(llmux_error_cause(&err), LLMUX_EIO);
    llmux_error_free(&err);
    llmux_error_free(&err);
    llmux_error_free(NULL);

    /* the proxy's JSON form round-trips; missing attempt numbers are inferred */
    cJSON *j = llmux__attempts_to_json(&l);
    assert_non_null(j);
    cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetArrayItem(j, 0), "attempt");
    cJSON *again = cJSON_CreateObject();
    cJSON_AddStringToObject(again, "provider", "anthropic");
    cJSON_AddStringToObject(again, "model", "claude-haiku-4-5");
    cJSON_AddNullToObject(again, "status");
    cJSON_AddStringToObject(again, "error_type", "timeout");
    /* [a, again, b] (cJSON 1.7.15's cJSON_InsertItemInArray drops items: not used) */
    cJSON *arr = cJSON_CreateArray();
    cJSON_AddItemToArray(arr, cJSON_DetachItemFromArray(j, 0));
    cJSON_AddItemToArray(arr, again);
    cJSON_AddItemToArray(arr, cJSON_DetachItemFromArray(j, 0));
    cJSON_Delete(j);
    j = arr;
    llmux__attempts back;
    llmux__attempts_init(&back);
    assert_true(llmux__attempts_add_json(&back, j));
    assert_int_equal(back.n, 3);
    assert_int_equal(back.v[0].attempt, 1);
    assert_int_equal(back.v[1].attempt, 2); /* same provider and model as the one before */
    assert_int_equal(back.v[1].status, 0);
    assert_int_equal(back.v[1].error, LLMUX_ETIMEOUT);
    assert_string_equal(back.v[2].provider, "openai");
    assert_int_equal(back.v[2].error, LLMUX_ERATE_LIMITED);
    assert_string_equal(back.v[2].message, "slow down");
    cJSON_Delete(j);
    llmux__attempts_free(&back);
    llmux__attempts_free(&l);
}

static void test_response_from_proxy_json(void **state)
{
    (void)state;
    const char *body =
        "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1700000000,"
        "\"model\":\"gpt-4.1-mini\",\"provider\":\"openai\",\"choices\":[{\"index\":0,"
        "\"message\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_9\","
        "\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":"
        "\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},\"finish_reason\":\"tool_calls\"}],"
        "\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":5,\"total_tokens\":12},"
        "\"llmux\":{\"attempts\":[{\"provider\":\"anthropic\",\"model\":\"claude-haiku-4-5\","
        "\"attempt\":1,\"status\":503,\"error_type\":\"upstream_error\",\"latency_ms\":4.5},"
        "{\"provider\":\"openai\",\"model\":\"gpt-4.1-mini\",\"attempt\":1,\"status\":200,"
        "\"error_type\":null,\"latency_ms\":9}],\"upstream_model\":\"gpt-4.1-mini-2025-04-14\"}}";
    cJSON *root = cJSON_Parse(body);
    bool nomem = true;
    llmux_response *r = llmux__client_response_from_json(root, &nomem);
    cJSON_Delete(root);
    assert_non_null(r);
    assert_false(nomem);
    assert_string_equal(llmux_response_text(r), "");
    assert_int_equal(llmux_response_text_len(r), 0);
    assert_string_equal(llmux_response_provider(r), "openai");
    assert_string_equal(llmux_response_model(r), "gpt-4.1-mini");
    assert_string_equal(llmux_response_upstream_model(r), "gpt-4.1-mini-2025-04-14");
    assert_string_equal(llmux_response_id(r), "chatcmpl-1");
    assert_string_equal(llmux_response_finish_reason(r), "tool_calls");
    llmux_usage u = llmux_response_usage(r);
    assert_true(u.present);
    assert_int_equal(u.total_tokens, 12);
    assert_int_equal(llmux_response_tool_call_count(r), 1);
    assert_string_equal(llmux_response_tool_call(r, 0)->id, "call_9");
    assert_string_equal(llmux_response_tool_call(r, 0)->arguments, "{\"city\":\"Paris\"}");
    assert_int_equal(llmux_response_attempt_count(r), 2);
    assert_int_equal(llmux_response_attempt(r, 0)->error, LLMUX_EUPSTREAM);
    assert_int_equal(llmux_response_attempt(r, 1)->error, LLMUX_OK);
    /* and back to the proxy's shape */
    char *json = llmux_response_to_json(r);
    cJSON *back = cJSON_Parse(json);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(back, "provider")->valuestring, "openai");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(back, "model")->valuestring,
                        "gpt-4.1-mini");
    const cJSON *ll = cJSON_GetObjectItemCaseSensitive(back, "llmux");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ll, "attempts")), 2);
    cJSON_Delete(back);
    llmux_free(json);
    llmux_response_free(r);

    /* not a chat.completion */
    root = cJSON_Parse("{\"object\":\"list\",\"data\":[]}");
    assert_null(llmux__client_response_from_json(root, &nomem));
    assert_false(nomem);
    cJSON_Delete(root);
}

static int setup_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/llmux-dotenv-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
    (void)state;
    char p[128];
    snprintf(p, sizeof p, "%s/.env", dir);
    unlink(p);
    rmdir(dir);
    clean_env(NULL);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_openai_from_env, clean_env),
        cmocka_unit_test_setup(test_azure_from_env, clean_env),
        cmocka_unit_test_setup(test_anthropic_google_from_env, clean_env),
        cmocka_unit_test_setup(test_dotenv_forms, clean_env),
        cmocka_unit_test_setup(test_dotenv_errors, clean_env),
        cmocka_unit_test_setup(test_dotenv_then_helpers, clean_env),
        cmocka_unit_test(test_error_lifecycle_and_cause),
        cmocka_unit_test(test_response_from_proxy_json),
    };
    int failed = cmocka_run_group_tests(tests, setup_dir, teardown_dir);
    if (llmux__secret_live_count() != 0) {
        fprintf(stderr, "secrets still allocated: %zu\n", llmux__secret_live_count());
        failed++;
    }
    return failed;
}
