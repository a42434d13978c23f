/* test_engine_release.c — a call is freed once its end is delivered and its transfer is
 * over, whatever the end: success, every attempt failed (HTTP error, a request the adapter
 * cannot build), or a stream cut after its first chunk. Regression test for calls that
 * failed for good staying on the engine's list until shutdown (found by the soak test:
 * ~11 KB per failed request, unbounded RSS under failing upstreams).
 *
 * The engine runs on an event_base in this thread against the in-process mock; after
 * on_done the loop runs until llmux__engine_active() is 0, bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/request.h"
#include "engine/engine.h"
#include "harness.h"
#include "mock/mock.h"

#include <stdio.h>
#include <string.h>

typedef struct outcome {
    bool done;
    llmux_code code;
    size_t n_attempts;
    size_t deltas;
} outcome;

static void on_done(void *ud, llmux__call_result *r)
{
    outcome *o = ud;
    o->done = true;
    o->code = r->code;
    o->n_attempts = r->n_attempts;
}

static int on_delta(void *ud, const llmux__delta *d)
{
    (void)d;
    ((outcome *)ud)->deltas++;
    return 0;
}

/* Runs one call of `json` with every chain entry's provider pointed at the mock (an
 * azure entry gets no endpoint when azure_broken), until on_done and then until the
 * engine holds nothing. Returns the outcome. */
static outcome run_call(int mock_port, const char *json, bool azure_broken)
{
    outcome o = {0};
    struct event_base *base = event_base_new();
    assert_non_null(base);
    llmux__engine_options eo = {.default_timeout_s = 10};
    llmux__engine *e = llmux__engine_new(base, &eo);
    assert_non_null(e);
    llmux__request *req = NULL;
    llmux__error err;
    assert_int_equal(llmux__request_decode(json, strlen(json), &req, &err), LLMUX_OK);

    char v1[64], root[64];
    snprintf(v1, sizeof v1, "http://127.0.0.1:%d/v1", mock_port);
    snprintf(root, sizeof root, "http://127.0.0.1:%d", mock_port);
    llmux__provider_config cfg[4];
    size_t n = 1 + req->n_fallbacks;
    assert_true(n <= 4);
    for (size_t i = 0; i < n; i++) {
        const llmux__params *p = i == 0 ? &req->primary : &req->fallbacks[i - 1];
        llmux__provider prov = (p->set & LLMUX__F_PROVIDER) ? p->provider : req->primary.provider;
        cfg[i] = (llmux__provider_config){.provider = prov, .api_key = "k"};
        cfg[i].base_url = prov == LLMUX__PROVIDER_OPENAI ? v1 : root;
        if (prov == LLMUX__PROVIDER_AZURE && azure_broken)
            cfg[i].base_url = NULL; /* build_request refuses: the start_step failure path */
    }
    llmux__call_callbacks cb = {.ud = &o, .on_done = on_done, .on_delta = on_delta};
    llmux__call *call = NULL;
    assert_int_equal(llmux__engine_call(e, req, cfg, n, &cb, &call, &err), LLMUX_OK);
    double t0 = tu_now_ms();
    while (!o.done && tu_now_ms() - t0 < 10000)
        event_base_loop(base, EVLOOP_ONCE);
    assert_true(o.done);
    for (int i = 0; i < 100 && llmux__engine_active(e) > 0; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    if (llmux__engine_active(e) != 0)
        fail_msg("the engine still holds %zu call(s) after on_done (code %d)",
                 llmux__engine_active(e), (int)o.code);
    llmux__engine_free(e);
    llmux__request_free(req);
    event_base_free(base);
    return o;
}

static int mock_port(void **state)
{
    return llmux__mock_port(*(llmux__mock **)state);
}

static void script(void **state, const char *json)
{
    char why[512];
    int st = tu_mock_script(mock_port(state), json, why, sizeof why);
    if (st != 200)
        fail_msg("mock script refused (%d): %s", st, why);
}

static void test_success_is_released(void **state)
{
    outcome o = run_call(mock_port(state),
                         "{\"provider\":\"openai\",\"model\":\"m\",\"messages\":[{\"role\":"
                         "\"user\",\"content\":\"hi\"}]}",
                         false);
    assert_int_equal(o.code, LLMUX_OK);
}

static void test_all_failed_is_released(void **state)
{
    script(state, "[{\"model\":\"rel-503\",\"status\":503,\"count\":2}]");
    outcome o = run_call(mock_port(state),
                         "{\"provider\":\"google\",\"model\":\"rel-503\",\"retry\":{\"enabled\":"
                         "false},\"fallbacks\":[{\"provider\":\"anthropic\"}],\"messages\":[{"
                         "\"role\":\"user\",\"content\":\"hi\"}]}",
                         false);
    assert_int_equal(o.code, LLMUX_EALL_PROVIDERS_FAILED);
    assert_int_equal(o.n_attempts, 2);
}

static void test_unbuildable_is_released(void **state)
{
    outcome o = run_call(mock_port(state),
                         "{\"provider\":\"azure\",\"model\":\"dep\",\"messages\":[{\"role\":"
                         "\"user\",\"content\":\"hi\"}]}",
                         true);
    assert_int_equal(o.code, LLMUX_EALL_PROVIDERS_FAILED);
    assert_int_equal(o.n_attempts, 1);
}

static void test_stream_cut_is_released(void **state)
{
    script(state, "[{\"model\":\"rel-cut\",\"drop_after_chunks\":2}]");
    outcome o = run_call(mock_port(state),
                         "{\"provider\":\"anthropic\",\"model\":\"rel-cut\",\"stream\":true,"
                         "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                         false);
    assert_int_equal(o.code, LLMUX_ESTREAM_INTERRUPTED);
    assert_true(o.deltas >= 1);
}

static int setup(void **state)
{
    llmux__mock_options mo = {0};
    llmux__mock *m = NULL;
    if (llmux__mock_start(&mo, &m, NULL) != LLMUX_OK)
        return -1;
    *state = m;
    return 0;
}

static int teardown(void **state)
{
    llmux__mock_stop(*state);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_success_is_released),
        cmocka_unit_test(test_all_failed_is_released),
        cmocka_unit_test(test_unbuildable_is_released),
        cmocka_unit_test(test_stream_cut_is_released),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
