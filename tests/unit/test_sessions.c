/* test_sessions.c — the session store: isolation between tokens and session ids,
 * managed vs customer keys, the first-configure flag, lists without keys, delete and
 * expiry wiping, base_url/api_version precedence, limits, the URL policy hook, and a
 * multi-threaded hammer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/secret.h"
#include "server/keys.h"
#include "server/sessions.h"

#define MANAGED_OPENAI "sk-managed-openai-M1M1M1"
#define MANAGED_ANTHROPIC "sk-ant-managed-M2M2M2"
#define OP_OPENAI_URL "http://127.0.0.1:9000/v1"
#define OP_GOOGLE_URL "http://127.0.0.1:9002"
#define OP_AZURE_VERSION "2024-10-21"

static const char *env_get(const char *name, void *ud)
{
    const char *const(*vars)[2] = ud;
    for (size_t i = 0; vars[i][0]; i++)
        if (strcmp(vars[i][0], name) == 0)
            return vars[i][1];
    return NULL;
}

/* The operator: managed openai and anthropic keys, an openai and a google base URL, an
 * Azure api_version, no Azure endpoint, no managed google key. */
static llmux__managed_keys *operator_keys(void)
{
    static const char *const vars[][2] = {
        {"OPENAI_API_KEY", MANAGED_OPENAI},
        {"ANTHROPIC_API_KEY", MANAGED_ANTHROPIC},
        {"LLMUX_OPENAI_BASE_URL", OP_OPENAI_URL},
        {"LLMUX_GOOGLE_BASE_URL", OP_GOOGLE_URL},
        {"AZURE_OPENAI_API_VERSION", OP_AZURE_VERSION},
        {NULL, NULL},
    };
    llmux__error err;
    llmux__managed_keys *mk = llmux__managed_keys_load(env_get, (void *)vars, &err);
    if (!mk)
        fail_msg("operator keys: %s", err.message);
    return mk;
}

typedef struct fixture {
    llmux__managed_keys *mk;
    llmux__session_store *store;
    size_t live; /* secrets alive before the test, mk's included */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->mk = operator_keys();
    f->store = llmux__session_store_new(NULL);
    if (!f->store)
        return -1;
    f->live = llmux__secret_live_count();
    *state = f;
    return 0;
}

/* Fails (non-zero) when any secret the test made outlived the store: every key the
 * store held, and every resolved copy, must have been released (and so wiped). */
static int teardown(void **state)
{
    fixture *f = *state;
    llmux__session_store_free(f->store);
    int rc = llmux__secret_live_count() == f->live ? 0 : -1;
    if (rc)
        fprintf(stderr, "teardown: %zu secrets alive, want %zu\n", llmux__secret_live_count(),
                f->live);
    llmux__managed_keys_free(f->mk);
    free(f);
    return rc;
}

static llmux__provider_entry customer(const char *key, const char *base_url,
                                      const char *api_version)
{
    return (llmux__provider_entry){false, key, base_url, api_version};
}

static const llmux__provider_entry managed = {true, NULL, NULL, NULL};

/* configure that must succeed; returns the first flag. */
static bool configure_ok(fixture *f, const char *token, const char *sid, llmux__provider p,
                         llmux__provider_entry e, double now)
{
    llmux__error err;
    bool first = false;
    llmux_code rc = llmux__session_configure(f->store, token, sid, p, &e, f->mk, now, &first, &err);
    if (rc != LLMUX_OK)
        fail_msg("configure %s/%s/%s: %d %s", token ? token : "NULL", sid, llmux__provider_name(p),
                 rc, err.message);
    return first;
}

/* resolve that must succeed with exactly these strings (NULL: absent). */
static void expect_resolve(fixture *f, const char *token, const char *sid, llmux__provider p,
                           bool want_managed, const char *key, const char *base_url,
                           const char *api_version, double now)
{
    llmux__resolved_provider r;
    llmux__error err;
    llmux_code rc = llmux__session_resolve(f->store, f->mk, token, sid, p, now, &r, &err);
    if (rc != LLMUX_OK)
        fail_msg("resolve %s/%s: %d %s", sid, llmux__provider_name(p), rc, err.message);
    assert_int_equal(r.cfg.provider, p);
    assert_int_equal(r.managed, want_managed);
    assert_string_equal(r.cfg.api_key, key);
    if (base_url)
        assert_string_equal(r.cfg.base_url, base_url);
    else
        assert_null(r.cfg.base_url);
    if (api_version)
        assert_string_equal(r.cfg.api_version, api_version);
    else
        assert_null(r.cfg.api_version);
    assert_null(r.cfg.anthropic_version);
    assert_int_equal(r.cfg.max_tokens_param, LLMUX__MAX_TOKENS_AUTO);
    assert_false(r.cfg.no_stream_options);
    assert_int_equal(r.cfg.default_max_tokens, 0);
    llmux__resolved_provider_free(&r);
    assert_null(r.storage);
    assert_null(r.cfg.api_key);
}

static llmux_code resolve_code(fixture *f, const char *token, const char *sid, llmux__provider p,
                               double now, llmux__error *err)
{
    llmux__resolved_provider r;
    llmux_code rc = llmux__session_resolve(f->store, f->mk, token, sid, p, now, &r, err);
    if (rc != LLMUX_OK) {
        assert_null(r.storage);
        assert_null(r.cfg.api_key);
    }
    llmux__resolved_provider_free(&r);
    return rc;
}

static void test_managed_and_customer(void **state)
{
    fixture *f = *state;
    assert_true(configure_ok(f, "tok", "s1", LLMUX__PROVIDER_OPENAI, managed, 1));
    assert_true(configure_ok(f, "tok", "s1", LLMUX__PROVIDER_ANTHROPIC,
                             customer("sk-ant-cust-1", NULL, NULL), 1));
    assert_int_equal(llmux__session_count(f->store), 1);
    expect_resolve(f, "tok", "s1", LLMUX__PROVIDER_OPENAI, true, MANAGED_OPENAI, OP_OPENAI_URL,
                   NULL, 2);
    expect_resolve(f, "tok", "s1", LLMUX__PROVIDER_ANTHROPIC, false, "sk-ant-cust-1", NULL, NULL,
                   2);

    /* Reconfiguring is not a first configuration, and replaces the entry. */
    assert_false(configure_ok(f, "tok", "s1", LLMUX__PROVIDER_OPENAI,
                              customer("sk-cust-openai", NULL, NULL), 3));
    expect_resolve(f, "tok", "s1", LLMUX__PROVIDER_OPENAI, false, "sk-cust-openai", OP_OPENAI_URL,
                   NULL, 4);
    assert_false(configure_ok(f, "tok", "s1", LLMUX__PROVIDER_ANTHROPIC, managed, 5));
    expect_resolve(f, "tok", "s1", LLMUX__PROVIDER_ANTHROPIC, true, MANAGED_ANTHROPIC, NULL, NULL,
                   6);
    /* A first configuration of another provider in the same session is first. */
    assert_true(
        configure_ok(f, "tok", "s1", LLMUX__PROVIDER_GOOGLE, customer("AIza-cust", NULL, NULL), 7));

    llmux__error err;
    assert_int_equal(resolve_code(f, "tok", "s1", LLMUX__PROVIDER_AZURE, 8, &err),
                     LLMUX_EPROVIDER_NOT_CONFIGURED);
    assert_string_equal(err.message,
                        "provider 'azure' is not configured in session 's1': call "
                        "configure_provider(\"azure\", ...) for it first (fallbacks too)");
    assert_int_equal(resolve_code(f, "tok", "nosuch", LLMUX__PROVIDER_OPENAI, 8, &err),
                     LLMUX_EPROVIDER_NOT_CONFIGURED);
    assert_non_null(strstr(err.message, "'openai'"));
    assert_int_equal(llmux__session_count(f->store), 1);
}

static void test_base_url_and_api_version_precedence(void **state)
{
    fixture *f = *state;
    static const struct {
        llmux__provider p;
        bool managed;
        const char *key, *base_url, *api_version;
        const char *want_base_url, *want_api_version;
    } cases[] = {
        /* customer base_url wins over the operator's */
        {LLMUX__PROVIDER_OPENAI, false, "k1", "https://my.example/v1", NULL,
         "https://my.example/v1", NULL},
        /* none given: the operator's */
        {LLMUX__PROVIDER_OPENAI, false, "k2", NULL, NULL, OP_OPENAI_URL, NULL},
        {LLMUX__PROVIDER_OPENAI, false, "k2b", "", "", OP_OPENAI_URL, NULL},
        /* managed: always the operator's */
        {LLMUX__PROVIDER_OPENAI, true, NULL, NULL, NULL, OP_OPENAI_URL, NULL},
        {LLMUX__PROVIDER_GOOGLE, false, "k3", NULL, NULL, OP_GOOGLE_URL, NULL},
        {LLMUX__PROVIDER_GOOGLE, false, "k4", "https://g.example", NULL, "https://g.example", NULL},
        /* no operator URL: NULL, the provider's default */
        {LLMUX__PROVIDER_ANTHROPIC, false, "k5", NULL, NULL, NULL, NULL},
        {LLMUX__PROVIDER_ANTHROPIC, true, NULL, NULL, NULL, NULL, NULL},
        /* Azure: customer api_version wins, else the operator's */
        {LLMUX__PROVIDER_AZURE, false, "k6", "https://r.openai.azure.com", "2025-01-01-preview",
         "https://r.openai.azure.com", "2025-01-01-preview"},
        {LLMUX__PROVIDER_AZURE, false, "k7", "https://r.openai.azure.com", NULL,
         "https://r.openai.azure.com", OP_AZURE_VERSION},
        /* a managed entry may pick its api_version */
        {LLMUX__PROVIDER_ANTHROPIC, true, NULL, NULL, "v9", NULL, "v9"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char sid[16];
        snprintf(sid, sizeof sid, "case-%zu", i);
        llmux__provider_entry e = {cases[i].managed, cases[i].key, cases[i].base_url,
                                   cases[i].api_version};
        configure_ok(f, "tok", sid, cases[i].p, e, 1);
        const char *want_key = cases[i].key;
        if (cases[i].managed)
            want_key = cases[i].p == LLMUX__PROVIDER_OPENAI ? MANAGED_OPENAI : MANAGED_ANTHROPIC;
        expect_resolve(f, "tok", sid, cases[i].p, cases[i].managed, want_key,
                       cases[i].want_base_url, cases[i].want_api_version, 2);
    }
}

static void test_isolation_between_tokens_and_ids(void **state)
{
    fixture *f = *state;
    llmux__error err;
    configure_ok(f, "token-A", "s1", LLMUX__PROVIDER_OPENAI, customer("key-A-s1", NULL, NULL), 1);
    /* Same id, another token: another session. */
    assert_int_equal(resolve_code(f, "token-B", "s1", LLMUX__PROVIDER_OPENAI, 2, &err),
                     LLMUX_EPROVIDER_NOT_CONFIGURED);
    assert_null(strstr(err.message, "key-A"));
    /* Same token, another id. */
    assert_int_equal(resolve_code(f, "token-A", "s2", LLMUX__PROVIDER_OPENAI, 2, &err),
                     LLMUX_EPROVIDER_NOT_CONFIGURED);
    /* The token is not a prefix game: ("token-A", "s1") is not ("token-As", "1"). */
    assert_int_equal(resolve_code(f, "token-As", "1", LLMUX__PROVIDER_OPENAI, 2, &err),
                     LLMUX_EPROVIDER_NOT_CONFIGURED);
    assert_int_equal(resolve_code(f, "token-", "As1", LLMUX__PROVIDER_OPENAI, 2, &err),
                     LLMUX_EPROVIDER_NOT_CONFIGURED);

    assert_true(configure_ok(f, "token-B", "s1", LLMUX__PROVIDER_OPENAI,
                             customer("key-B-s1", NULL, NULL), 3));
    configure_ok(f, "token-A", "s2", LLMUX__PROVIDER_OPENAI, customer("key-A-s2", NULL, NULL), 3);
    expect_resolve(f, "token-A", "s1", LLMUX__PROVIDER_OPENAI, false, "key-A-s1", OP_OPENAI_URL,
                   NULL, 4);
    expect_resolve(f, "token-B", "s1", LLMUX__PROVIDER_OPENAI, false, "key-B-s1", OP_OPENAI_URL,
                   NULL, 4);
    expect_resolve(f, "token-A", "s2", LLMUX__PROVIDER_OPENAI, false, "key-A-s2", OP_OPENAI_URL,
                   NULL, 4);
    assert_int_equal(llmux__session_count(f->store), 3);

    /* The no-token mode: NULL and "" are the same token, distinct from any real one. */
    configure_ok(f, NULL, "default", LLMUX__PROVIDER_OPENAI, customer("key-none", NULL, NULL), 5);
    expect_resolve(f, "", "default", LLMUX__PROVIDER_OPENAI, false, "key-none", OP_OPENAI_URL, NULL,
                   6);
    assert_int_equal(resolve_code(f, "token-A", "default", LLMUX__PROVIDER_OPENAI, 6, &err),
                     LLMUX_EPROVIDER_NOT_CONFIGURED);

    /* Deleting one token's session leaves the other token's same id alone. */
    assert_true(llmux__session_delete(f->store, "token-A", "s1"));
    assert_int_equal(resolve_code(f, "token-A", "s1", LLMUX__PROVIDER_OPENAI, 7, &err),
                     LLMUX_EPROVIDER_NOT_CONFIGURED);
    expect_resolve(f, "token-B", "s1", LLMUX__PROVIDER_OPENAI, false, "key-B-s1", OP_OPENAI_URL,
                   NULL, 7);
    assert_false(llmux__session_delete(f->store, "token-C", "s1"));

    /* A list under another token shows nothing of A's. */
    cJSON *list = NULL;
    assert_int_equal(llmux__session_list(f->store, "token-C", "s2", 8, &list, &err), LLMUX_OK);
    char *text = cJSON_PrintUnformatted(list);
    assert_string_equal(text, "{\"session\":\"s2\",\"providers\":[]}");
    cJSON_free(text);
    cJSON_Delete(list);
}

static void test_managed_key_unavailable(void **state)
{
    fixture *f = *state;
    llmux__error err;
    bool first = true;
    assert_int_equal(llmux__session_configure(f->store, "tok", "s", LLMUX__PROVIDER_GOOGLE,
                                              &managed, f->mk, 1, &first, &err),
                     LLMUX_EMANAGED_KEY_UNAVAILABLE);
    assert_false(first);
    assert_string_equal(err.message, "no managed key for google on this proxy; configure it "
                                     "with your own api_key instead");
    assert_int_equal(llmux__session_count(f->store), 0);
    /* No operator keys at all. */
    assert_int_equal(llmux__session_configure(f->store, "tok", "s", LLMUX__PROVIDER_OPENAI,
                                              &managed, NULL, 1, NULL, &err),
                     LLMUX_EMANAGED_KEY_UNAVAILABLE);
    /* Configured as managed, resolved against a set that lost the key. */
    configure_ok(f, "tok", "s", LLMUX__PROVIDER_OPENAI, managed, 2);
    llmux__resolved_provider r;
    assert_int_equal(
        llmux__session_resolve(f->store, NULL, "tok", "s", LLMUX__PROVIDER_OPENAI, 3, &r, &err),
        LLMUX_EMANAGED_KEY_UNAVAILABLE);
    assert_null(r.storage);
    assert_int_equal(resolve_code(f, "tok", "s", LLMUX__PROVIDER_GOOGLE, 3, &err),
                     LLMUX_EPROVIDER_NOT_CONFIGURED);
}

static void test_invalid_configurations(void **state)
{
    fixture *f = *state;
    static char long_id[LLMUX__SESSION_ID_MAX + 2];
    memset(long_id, 'i', sizeof long_id - 1);
    static char long_key[LLMUX__KEY_FILE_MAX + 2];
    memset(long_key, 'k', sizeof long_key - 1);
    static const struct {
        const char *sid;
        llmux__provider p;
        llmux__provider_entry e;
        llmux_code code;
        const char *want;
    } cases[] = {
        {"s",
         LLMUX__PROVIDER_OPENAI,
         {true, "sk-both-XYZ", NULL, NULL},
         LLMUX_EINVALID_REQUEST,
         "openai: give either managed: true or an api_key, not both"},
        {"s",
         LLMUX__PROVIDER_OPENAI,
         {false, NULL, NULL, NULL},
         LLMUX_EINVALID_REQUEST,
         "openai: either managed: true or an api_key is required"},
        {"s",
         LLMUX__PROVIDER_OPENAI,
         {true, NULL, "https://evil.example/v1", NULL},
         LLMUX_EINVALID_REQUEST,
         "openai: base_url cannot be combined with managed: true"},
        {"s",
         LLMUX__PROVIDER_OPENAI,
         {false, "", NULL, NULL},
         LLMUX_EINVALID_REQUEST,
         "openai: api_key must not be empty"},
        {"s",
         LLMUX__PROVIDER_ANTHROPIC,
         {false, "sk-XYZ\r\nX-Injected: 1", NULL, NULL},
         LLMUX_EINVALID_REQUEST,
         "anthropic: api_key must be 1-8192 visible ASCII"},
        {"s",
         LLMUX__PROVIDER_ANTHROPIC,
         {false, "sk-XYZ with space", NULL, NULL},
         LLMUX_EINVALID_REQUEST,
         "anthropic: api_key must be"},
        {"s",
         LLMUX__PROVIDER_ANTHROPIC,
         {false, "sk-XYZ\x7f", NULL, NULL},
         LLMUX_EINVALID_REQUEST,
         "anthropic: api_key must be"},
        {"s",
         LLMUX__PROVIDER_OPENAI,
         {false, "sk-XYZ", "ftp://h/v1", NULL},
         LLMUX_EINVALID_REQUEST,
         "openai: base_url must start with http:// or https://"},
        {"s",
         LLMUX__PROVIDER_OPENAI,
         {false, "sk-XYZ", "https://u:pw-XYZ@h/v1", NULL},
         LLMUX_EINVALID_REQUEST,
         "openai: base_url must not contain credentials"},
        {"s",
         LLMUX__PROVIDER_OPENAI,
         {false, "sk-XYZ", "https://h/v1?api-key=XYZ", NULL},
         LLMUX_EINVALID_REQUEST,
         "openai: base_url must not contain a query"},
        {"s",
         LLMUX__PROVIDER_AZURE,
         {false, "sk-XYZ", "https://r.example", "1&x=XYZ"},
         LLMUX_EINVALID_REQUEST,
         "azure: api_version must be"},
        {"s",
         LLMUX__PROVIDER_AZURE,
         {false, "sk-XYZ", NULL, NULL},
         LLMUX_EINVALID_REQUEST,
         "azure: base_url is required"},
        {"s",
         LLMUX__PROVIDER_COUNT,
         {false, "sk-XYZ", NULL, NULL},
         LLMUX_EINVALID_REQUEST,
         "unknown provider"},
        {"",
         LLMUX__PROVIDER_OPENAI,
         {false, "sk-XYZ", NULL, NULL},
         LLMUX_EINVALID_REQUEST,
         "session id must be 1-128 characters"},
        {NULL,
         LLMUX__PROVIDER_OPENAI,
         {false, "sk-XYZ", NULL, NULL},
         LLMUX_EINVALID_REQUEST,
         "session id must be"},
        {"a b",
         LLMUX__PROVIDER_OPENAI,
         {false, "sk-XYZ", NULL, NULL},
         LLMUX_EINVALID_REQUEST,
         "session id must be"},
        {"a/b",
         LLMUX__PROVIDER_OPENAI,
         {false, "sk-XYZ", NULL, NULL},
         LLMUX_EINVALID_REQUEST,
         "session id must be"},
        {"caf\xc3\xa9",
         LLMUX__PROVIDER_OPENAI,
         {false, "sk-XYZ", NULL, NULL},
         LLMUX_EINVALID_REQUEST,
         "session id must be"},
        {"..%2f",
         LLMUX__PROVIDER_OPENAI,
         {false, "sk-XYZ", NULL, NULL},
         LLMUX_EINVALID_REQUEST,
         "session id must be"},
        {long_id,
         LLMUX__PROVIDER_OPENAI,
         {false, "sk-XYZ", NULL, NULL},
         LLMUX_EINVALID_REQUEST,
         "session id must be"},
        {"s",
         LLMUX__PROVIDER_OPENAI,
         {false, long_key, NULL, NULL},
         LLMUX_EINVALID_REQUEST,
         "openai: api_key must be"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        llmux__error err;
        bool first = true;
        llmux_code rc = llmux__session_configure(f->store, "tok", cases[i].sid, cases[i].p,
                                                 &cases[i].e, f->mk, 1, &first, &err);
        if (rc != cases[i].code || strncmp(err.message, cases[i].want, strlen(cases[i].want)))
            fail_msg("case %zu: got %d '%s', want %d '%s...'", i, rc, err.message, cases[i].code,
                     cases[i].want);
        if (strstr(err.message, "XYZ"))
            fail_msg("case %zu: message leaks a key or URL part: %s", i, err.message);
        assert_false(first);
    }
    assert_int_equal(llmux__session_count(f->store), 0);
    /* 128 characters of every allowed kind is a valid id. */
    char id[LLMUX__SESSION_ID_MAX + 1];
    for (size_t i = 0; i < LLMUX__SESSION_ID_MAX; i++)
        id[i] = "azAZ09._:-"[i % 10];
    id[LLMUX__SESSION_ID_MAX] = '\0';
    assert_true(llmux__session_id_valid(id));
    configure_ok(f, "tok", id, LLMUX__PROVIDER_OPENAI, customer("k", NULL, NULL), 1);
    assert_false(llmux__session_id_valid(long_id));
    /* A bad id is refused by list and resolve too. */
    cJSON *out = (cJSON *)1;
    llmux__error err;
    assert_int_equal(llmux__session_list(f->store, "tok", "a b", 1, &out, &err),
                     LLMUX_EINVALID_REQUEST);
    assert_null(out);
    assert_int_equal(resolve_code(f, "tok", "a b", LLMUX__PROVIDER_OPENAI, 1, &err),
                     LLMUX_EINVALID_REQUEST);
    assert_false(llmux__session_delete(f->store, "tok", "a b"));
}

static void test_list_never_shows_keys(void **state)
{
    fixture *f = *state;
    configure_ok(f, "tok", "s", LLMUX__PROVIDER_OPENAI,
                 customer("sk-LISTSECRET-openai-0001", "https://my.example/v1", NULL), 1);
    configure_ok(f, "tok", "s", LLMUX__PROVIDER_AZURE,
                 customer("LISTSECRET-azure-0002", "https://r.openai.azure.com", "2024-06-01"), 1);
    configure_ok(f, "tok", "s", LLMUX__PROVIDER_ANTHROPIC, managed, 1);
    cJSON *list = NULL;
    llmux__error err;
    assert_int_equal(llmux__session_list(f->store, "tok", "s", 2, &list, &err), LLMUX_OK);
    char *text = cJSON_PrintUnformatted(list);
    assert_non_null(text);
    assert_string_equal(text, "{\"session\":\"s\",\"providers\":["
                              "{\"provider\":\"openai\",\"managed\":false,"
                              "\"base_url\":\"https://my.example/v1\"},"
                              "{\"provider\":\"azure\",\"managed\":false,"
                              "\"base_url\":\"https://r.openai.azure.com\","
                              "\"api_version\":\"2024-06-01\"},"
                              "{\"provider\":\"anthropic\",\"managed\":true}]}");
    static const char *const leaks[] = {"LISTSECRET",      "0001",       "0002", "sk-", "api_key",
                                        MANAGED_ANTHROPIC, OP_OPENAI_URL};
    for (size_t i = 0; i < sizeof leaks / sizeof leaks[0]; i++)
        if (strstr(text, leaks[i]))
            fail_msg("list leaks '%s': %s", leaks[i], text);
    cJSON_free(text);
    cJSON_Delete(list);

    /* An unknown session is an empty map, not an error. */
    assert_int_equal(llmux__session_list(f->store, "tok", "unknown", 2, &list, &err), LLMUX_OK);
    const cJSON *providers = cJSON_GetObjectItemCaseSensitive(list, "providers");
    assert_true(cJSON_IsArray(providers));
    assert_int_equal(cJSON_GetArraySize(providers), 0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(list, "session")->valuestring, "unknown");
    cJSON_Delete(list);
    /* Listing creates no session. */
    assert_int_equal(llmux__session_count(f->store), 1);
}

static void test_delete_wipes_and_resets_first(void **state)
{
    fixture *f = *state;
    configure_ok(f, "tok", "s", LLMUX__PROVIDER_OPENAI, customer("k-del-1", NULL, "v1"), 1);
    configure_ok(f, "tok", "s", LLMUX__PROVIDER_GOOGLE,
                 customer("k-del-2", "https://g.example", NULL), 1);
    /* Two keys, a base URL and an api_version are held. */
    assert_int_equal(llmux__secret_live_count(), f->live + 4);
    assert_true(llmux__session_delete(f->store, "tok", "s"));
    assert_int_equal(llmux__secret_live_count(), f->live);
    assert_int_equal(llmux__session_count(f->store), 0);
    llmux__error err;
    assert_int_equal(resolve_code(f, "tok", "s", LLMUX__PROVIDER_OPENAI, 2, &err),
                     LLMUX_EPROVIDER_NOT_CONFIGURED);
    assert_false(llmux__session_delete(f->store, "tok", "s"));
    assert_true(configure_ok(f, "tok", "s", LLMUX__PROVIDER_OPENAI, managed, 3));

    /* Replacing an entry releases the old key at once. */
    configure_ok(f, "tok", "s", LLMUX__PROVIDER_OPENAI, customer("k-rep-1", NULL, NULL), 4);
    size_t live = llmux__secret_live_count();
    configure_ok(f, "tok", "s", LLMUX__PROVIDER_OPENAI, customer("k-rep-2", NULL, NULL), 4);
    assert_int_equal(llmux__secret_live_count(), live);
    configure_ok(f, "tok", "s", LLMUX__PROVIDER_OPENAI, managed, 4);
    assert_int_equal(llmux__secret_live_count(), live - 1);
}

static void test_resolve_is_a_snapshot(void **state)
{
    fixture *f = *state;
    configure_ok(f, "tok", "s", LLMUX__PROVIDER_OPENAI,
                 customer("k-old", "https://old.example/v1", NULL), 1);
    llmux__resolved_provider r;
    llmux__error err;
    assert_int_equal(
        llmux__session_resolve(f->store, f->mk, "tok", "s", LLMUX__PROVIDER_OPENAI, 2, &r, &err),
        LLMUX_OK);
    configure_ok(f, "tok", "s", LLMUX__PROVIDER_OPENAI, customer("k-new", NULL, NULL), 3);
    assert_true(llmux__session_delete(f->store, "tok", "s"));
    assert_string_equal(r.cfg.api_key, "k-old");
    assert_string_equal(r.cfg.base_url, "https://old.example/v1");
    assert_int_equal(llmux__secret_live_count(), f->live + 1);
    llmux__resolved_provider_free(&r);
    llmux__resolved_provider_free(&r);
    assert_int_equal(llmux__secret_live_count(), f->live);
}

static void test_idle_expiry(void **state)
{
    (void)state;
    fixture f = {operator_keys(), NULL, 0};
    llmux__session_limits lim = {.idle_ttl = 100};
    f.store = llmux__session_store_new(&lim);
    assert_non_null(f.store);
    f.live = llmux__secret_live_count();
    configure_ok(&f, "tok", "s1", LLMUX__PROVIDER_OPENAI, customer("k1", NULL, NULL), 0);
    configure_ok(&f, "tok", "s2", LLMUX__PROVIDER_OPENAI, customer("k2", NULL, NULL), 50);
    configure_ok(&f, "tok", "s3", LLMUX__PROVIDER_OPENAI, customer("k3", NULL, NULL), 50);
    assert_int_equal(llmux__session_store_sweep(f.store, 99), 0);
    /* A resolve at 60 keeps s1 alive; list at 70 keeps s3 alive. */
    expect_resolve(&f, "tok", "s1", LLMUX__PROVIDER_OPENAI, false, "k1", OP_OPENAI_URL, NULL, 60);
    cJSON *list;
    llmux__error err;
    assert_int_equal(llmux__session_list(f.store, "tok", "s3", 70, &list, &err), LLMUX_OK);
    cJSON_Delete(list);
    /* At 150 only s2 (last used at 50) has been idle for 100 s. */
    assert_int_equal(llmux__session_store_sweep(f.store, 150), 1);
    assert_int_equal(llmux__session_count(f.store), 2);
    assert_int_equal(resolve_code(&f, "tok", "s2", LLMUX__PROVIDER_OPENAI, 150, &err),
                     LLMUX_EPROVIDER_NOT_CONFIGURED);
    /* Lazy expiry: s1 (60) is gone when looked up at 160, before any sweep. */
    assert_int_equal(resolve_code(&f, "tok", "s1", LLMUX__PROVIDER_OPENAI, 160, &err),
                     LLMUX_EPROVIDER_NOT_CONFIGURED);
    assert_int_equal(llmux__session_count(f.store), 1);
    /* An expired session's list is empty; configuring it again is a first time. */
    assert_int_equal(llmux__session_list(f.store, "tok", "s3", 170, &list, &err), LLMUX_OK);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(list, "providers")), 0);
    cJSON_Delete(list);
    assert_int_equal(llmux__session_count(f.store), 0);
    assert_true(
        configure_ok(&f, "tok", "s3", LLMUX__PROVIDER_OPENAI, customer("k3", NULL, NULL), 170));
    /* Time going backwards counts as no time passing. */
    expect_resolve(&f, "tok", "s3", LLMUX__PROVIDER_OPENAI, false, "k3", OP_OPENAI_URL, NULL, 20);
    assert_int_equal(llmux__session_store_sweep(f.store, 269), 0);
    assert_int_equal(llmux__session_store_sweep(f.store, 270), 1);
    assert_int_equal(llmux__secret_live_count(), f.live);
    llmux__session_store_free(f.store);

    /* A negative TTL never expires. */
    lim.idle_ttl = -1;
    f.store = llmux__session_store_new(&lim);
    configure_ok(&f, "tok", "s", LLMUX__PROVIDER_OPENAI, customer("k", NULL, NULL), 0);
    assert_int_equal(llmux__session_store_sweep(f.store, 1e12), 0);
    expect_resolve(&f, "tok", "s", LLMUX__PROVIDER_OPENAI, false, "k", OP_OPENAI_URL, NULL, 1e12);
    llmux__session_store_free(f.store);
    llmux__managed_keys_free(f.mk);
}

static void test_session_limit(void **state)
{
    (void)state;
    fixture f = {operator_keys(), NULL, 0};
    llmux__session_limits lim = {.max_sessions = 3, .idle_ttl = 1000};
    f.store = llmux__session_store_new(&lim);
    assert_non_null(f.store);
    for (int i = 0; i < 3; i++) {
        char sid[8];
        snprintf(sid, sizeof sid, "s%d", i);
        configure_ok(&f, "tok", sid, LLMUX__PROVIDER_OPENAI, customer("k", NULL, NULL), i);
    }
    llmux__error err;
    llmux__provider_entry e = customer("k", NULL, NULL);
    assert_int_equal(llmux__session_configure(f.store, "tok", "s3", LLMUX__PROVIDER_OPENAI, &e,
                                              f.mk, 10, NULL, &err),
                     LLMUX_ELIMIT);
    assert_non_null(strstr(err.message, "too many sessions"));
    /* Another token does not get around it. */
    assert_int_equal(llmux__session_configure(f.store, "other", "s0", LLMUX__PROVIDER_OPENAI, &e,
                                              f.mk, 10, NULL, &err),
                     LLMUX_ELIMIT);
    assert_int_equal(llmux__session_count(f.store), 3);
    /* Existing sessions can still be reconfigured. */
    configure_ok(&f, "tok", "s1", LLMUX__PROVIDER_ANTHROPIC, managed, 11);
    /* Deleting one makes room. */
    assert_true(llmux__session_delete(f.store, "tok", "s0"));
    configure_ok(&f, "tok", "s3", LLMUX__PROVIDER_OPENAI, e, 12);
    /* A full store of idle sessions makes room by sweeping them. */
    configure_ok(&f, "tok", "s4", LLMUX__PROVIDER_OPENAI, e, 5000);
    assert_int_equal(llmux__session_count(f.store), 1);
    llmux__session_store_free(f.store);
    llmux__managed_keys_free(f.mk);
}

/* One token at its cap cannot create more sessions; other tokens still can; deleting,
 * expiry and sweeping give the quota back. */
static void test_per_token_session_limit(void **state)
{
    (void)state;
    fixture f = {operator_keys(), NULL, 0};
    llmux__session_limits lim = {.max_sessions = 100, .max_sessions_per_token = 2, .idle_ttl = 1000};
    f.store = llmux__session_store_new(&lim);
    assert_non_null(f.store);
    llmux__provider_entry e = customer("k", NULL, NULL);
    configure_ok(&f, "greedy", "a", LLMUX__PROVIDER_OPENAI, e, 1);
    configure_ok(&f, "greedy", "b", LLMUX__PROVIDER_OPENAI, e, 2);
    llmux__error err;
    assert_int_equal(llmux__session_configure(f.store, "greedy", "c", LLMUX__PROVIDER_OPENAI, &e,
                                              f.mk, 3, NULL, &err),
                     LLMUX_ELIMIT);
    assert_non_null(strstr(err.message, "too many sessions for this token"));
    assert_null(strstr(err.message, "greedy"));
    /* the existing ones can still be reconfigured, and another token is unaffected */
    configure_ok(&f, "greedy", "a", LLMUX__PROVIDER_ANTHROPIC, managed, 4);
    configure_ok(&f, "polite", "a", LLMUX__PROVIDER_OPENAI, e, 5);
    configure_ok(&f, "polite", "b", LLMUX__PROVIDER_OPENAI, e, 6);
    assert_int_equal(llmux__session_count(f.store), 4);
    /* a delete gives one back */
    assert_true(llmux__session_delete(f.store, "greedy", "b"));
    configure_ok(&f, "greedy", "c", LLMUX__PROVIDER_OPENAI, e, 7);
    /* expiry gives them back too */
    assert_int_equal(llmux__session_store_sweep(f.store, 5000), 4);
    configure_ok(&f, "greedy", "d", LLMUX__PROVIDER_OPENAI, e, 5001);
    configure_ok(&f, "greedy", "e", LLMUX__PROVIDER_OPENAI, e, 5002);
    assert_int_equal(llmux__session_configure(f.store, "greedy", "f", LLMUX__PROVIDER_OPENAI, &e,
                                              f.mk, 5003, NULL, &err),
                     LLMUX_ELIMIT);
    llmux__session_store_free(f.store);
    llmux__managed_keys_free(f.mk);
}

static int policy_calls;

static llmux_code deny_metadata(llmux__provider p, const char *base_url, void *ud,
                                llmux__error *err)
{
    (void)p;
    int *calls = ud;
    (*calls)++;
    if (strstr(base_url, "169.254.169.254"))
        return llmux__error_set(err, LLMUX_EINVALID_REQUEST, "points at a link-local address");
    if (strstr(base_url, "internal"))
        return LLMUX_EINVALID_REQUEST; /* no message */
    return LLMUX_OK;
}

static void test_url_policy_hook(void **state)
{
    (void)state;
    fixture f = {operator_keys(), NULL, 0};
    policy_calls = 0;
    llmux__session_limits lim = {.url_policy = deny_metadata, .url_policy_ud = &policy_calls};
    f.store = llmux__session_store_new(&lim);
    assert_non_null(f.store);
    llmux__error err;
    llmux__provider_entry e = customer("k-pol", "http://169.254.169.254/v1", NULL);
    assert_int_equal(llmux__session_configure(f.store, "tok", "s", LLMUX__PROVIDER_OPENAI, &e, f.mk,
                                              1, NULL, &err),
                     LLMUX_EINVALID_REQUEST);
    assert_string_equal(err.message, "openai: base_url points at a link-local address");
    e.base_url = "https://internal.corp/v1";
    assert_int_equal(llmux__session_configure(f.store, "tok", "s", LLMUX__PROVIDER_OPENAI, &e, f.mk,
                                              1, NULL, &err),
                     LLMUX_EINVALID_REQUEST);
    assert_string_equal(err.message, "openai: base_url is not allowed on this proxy");
    assert_int_equal(llmux__session_count(f.store), 0);
    configure_ok(&f, "tok", "s", LLMUX__PROVIDER_OPENAI,
                 customer("k-pol", "https://api.example/v1", NULL), 1);
    /* No base_url, or a managed entry: nothing to ask. */
    configure_ok(&f, "tok", "s", LLMUX__PROVIDER_ANTHROPIC, customer("k", NULL, NULL), 1);
    configure_ok(&f, "tok", "s", LLMUX__PROVIDER_OPENAI, managed, 1);
    assert_int_equal(policy_calls, 3);
    llmux__session_store_free(f.store);
    llmux__managed_keys_free(f.mk);
}

static void test_many_sessions(void **state)
{
    fixture *f = *state;
    enum { N = 5000 };
    char sid[32], key[32];
    for (int i = 0; i < N; i++) {
        snprintf(sid, sizeof sid, "sess-%d", i);
        snprintf(key, sizeof key, "key-%d", i);
        assert_true(configure_ok(f, i % 2 ? "tA" : "tB", sid, LLMUX__PROVIDER_OPENAI,
                                 customer(key, NULL, NULL), 1));
    }
    assert_int_equal(llmux__session_count(f->store), N);
    for (int i = 0; i < N; i += 7) {
        snprintf(sid, sizeof sid, "sess-%d", i);
        snprintf(key, sizeof key, "key-%d", i);
        expect_resolve(f, i % 2 ? "tA" : "tB", sid, LLMUX__PROVIDER_OPENAI, false, key,
                       OP_OPENAI_URL, NULL, 2);
    }
    for (int i = 0; i < N; i += 2) {
        snprintf(sid, sizeof sid, "sess-%d", i);
        assert_true(llmux__session_delete(f->store, "tB", sid));
    }
    assert_int_equal(llmux__session_count(f->store), N / 2);
    assert_int_equal(llmux__session_store_sweep(f->store, 1 + LLMUX__SESSIONS_DEFAULT_TTL + 1),
                     N / 2);
    assert_int_equal(llmux__session_count(f->store), 0);
    assert_int_equal(llmux__secret_live_count(), f->live);
}

/* ---- the hammer ----------------------------------------------------------------------- */

#define HAMMER_THREADS 4
#define HAMMER_SESSIONS 8
#define HAMMER_ROUNDS 4000

typedef struct hammer_arg {
    fixture *f;
    int id;
    char failure[400];
} hammer_arg;

static void *hammer(void *p)
{
    hammer_arg *a = p;
    fixture *f = a->f;
    char token[16], sid[32], key[64], shared_key[64];
    /* Two threads share each token; session ids are per thread, plus one session every
     * thread writes its own provider into. */
    snprintf(token, sizeof token, "tok-%d", a->id % 2);
    bool configured[HAMMER_SESSIONS] = {0};
    int generation[HAMMER_SESSIONS] = {0};
    llmux__provider mine = (llmux__provider)(a->id % LLMUX__PROVIDER_COUNT);
    snprintf(shared_key, sizeof shared_key, "shared-key-of-thread-%d", a->id);
    llmux__provider_entry se = customer(shared_key, "https://shared.example", NULL);
    llmux__error err;
    if (llmux__session_configure(f->store, "tok-shared", "shared", mine, &se, f->mk, 0, NULL,
                                 &err) != LLMUX_OK) {
        snprintf(a->failure, sizeof a->failure, "shared configure: %s", err.message);
        return a;
    }
    unsigned seed = (unsigned)a->id * 7919u + 17u;
    for (int r = 0; r < HAMMER_ROUNDS; r++) {
        seed = seed * 1103515245u + 12345u;
        int s = (int)((seed >> 8) % HAMMER_SESSIONS);
        int op = (int)((seed >> 16) % 8);
        snprintf(sid, sizeof sid, "t%d-s%d", a->id, s);
        if (op < 3) {
            generation[s]++;
            snprintf(key, sizeof key, "key-t%d-s%d-g%d", a->id, s, generation[s]);
            llmux__provider_entry e = customer(key, NULL, NULL);
            if (llmux__session_configure(f->store, token, sid, LLMUX__PROVIDER_ANTHROPIC, &e, f->mk,
                                         1, NULL, &err) != LLMUX_OK) {
                snprintf(a->failure, sizeof a->failure, "configure: %s", err.message);
                return a;
            }
            configured[s] = true;
        } else if (op < 4) {
            bool existed = llmux__session_delete(f->store, token, sid);
            if (existed != configured[s]) {
                snprintf(a->failure, sizeof a->failure, "delete %s: %d, want %d", sid, existed,
                         configured[s]);
                return a;
            }
            configured[s] = false;
        } else {
            llmux__resolved_provider res;
            llmux_code rc = llmux__session_resolve(f->store, f->mk, token, sid,
                                                   LLMUX__PROVIDER_ANTHROPIC, 1, &res, &err);
            snprintf(key, sizeof key, "key-t%d-s%d-g%d", a->id, s, generation[s]);
            bool ok = configured[s] ? rc == LLMUX_OK && strcmp(res.cfg.api_key, key) == 0
                                    : rc == LLMUX_EPROVIDER_NOT_CONFIGURED;
            if (!ok)
                snprintf(a->failure, sizeof a->failure, "resolve %s: rc %d key %s, want %s", sid,
                         rc, rc == LLMUX_OK ? "(another)" : "-", configured[s] ? key : "none");
            llmux__resolved_provider_free(&res);
            if (!ok)
                return a;
            rc = llmux__session_resolve(f->store, f->mk, "tok-shared", "shared", mine, 1, &res,
                                        &err);
            ok = rc == LLMUX_OK && strcmp(res.cfg.api_key, shared_key) == 0;
            llmux__resolved_provider_free(&res);
            if (!ok) {
                snprintf(a->failure, sizeof a->failure, "shared resolve: rc %d", rc);
                return a;
            }
        }
    }
    return NULL;
}

static void test_threads_hammer(void **state)
{
    fixture *f = *state;
    pthread_t t[HAMMER_THREADS];
    hammer_arg args[HAMMER_THREADS];
    for (int i = 0; i < HAMMER_THREADS; i++) {
        args[i] = (hammer_arg){f, i, ""};
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &args[i]), 0);
    }
    for (int i = 0; i < HAMMER_THREADS; i++) {
        void *ret;
        assert_int_equal(pthread_join(t[i], &ret), 0);
        if (ret)
            fail_msg("thread %d: %s", i, args[i].failure);
    }
    /* Every thread's own provider is still its own in the shared session. */
    for (int i = 0; i < HAMMER_THREADS && i < LLMUX__PROVIDER_COUNT; i++) {
        char k[64];
        snprintf(k, sizeof k, "shared-key-of-thread-%d", i);
        expect_resolve(f, "tok-shared", "shared", (llmux__provider)i, false, k,
                       "https://shared.example",
                       i == LLMUX__PROVIDER_AZURE ? OP_AZURE_VERSION : NULL, 2);
    }
    llmux__session_store_free(f->store);
    f->store = llmux__session_store_new(NULL);
    assert_int_equal(llmux__secret_live_count(), f->live);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_managed_and_customer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_base_url_and_api_version_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_isolation_between_tokens_and_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_managed_key_unavailable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_configurations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_never_shows_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_wipes_and_resets_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve_is_a_snapshot, setup, teardown),
        cmocka_unit_test(test_idle_expiry),
        cmocka_unit_test(test_session_limit),
        cmocka_unit_test(test_per_token_session_limit),
        cmocka_unit_test(test_url_policy_hook),
        cmocka_unit_test_setup_teardown(test_many_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_hammer, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
