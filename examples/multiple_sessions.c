/* multiple_sessions.c — seed 001: several sessions with different providers at
 * once, and a session-level fallback chosen by a ping.
 *
 * "code-assistant" talks to OpenAI and "analysis-assistant" to Anthropic; both
 * turns run at the same time from two threads on one client (clients and
 * sessions are thread-safe). Each session keeps its own conversation for
 * send_and_wait. Then create_session_with_fallback() tries providers in order
 * with a "ping" and keeps the first that answers.
 *
 * Usage: multiple_sessions */
#include <llmux.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct turn {
    llmux_session *session;
    const char *prompt;
    llmux_code rc;
    llmux_response *resp;
} turn;

static void *run_turn(void *arg)
{
    turn *t = arg;
    t->rc = llmux_send_and_wait(t->session, t->prompt, 30.0, &t->resp, NULL);
    return NULL;
}

static llmux_session *assistant(llmux_client *client, const char *id, const char *provider,
                                const char *model)
{
    llmux_session *s = NULL;
    llmux_provider_options managed = {.managed = true};
    llmux_error err = LLMUX_ERROR_INIT;
    if (llmux_session_new(client, id, &s) != LLMUX_OK ||
        llmux_configure_provider(s, provider, &managed, &err) != LLMUX_OK ||
        llmux_session_set_model(s, provider, model) != LLMUX_OK) {
        fprintf(stderr, "%s: %s\n", id, err.message);
        llmux_session_free(s);
        s = NULL;
    }
    llmux_error_free(&err);
    return s;
}

/* Tries each provider with a quick "ping" (no retries: the next candidate is
 * the retry) and returns the first session that answers, set up for normal
 * turns. */
static llmux_session *create_session_with_fallback(llmux_client *client,
                                                   const char *const candidates[][2], int n)
{
    for (int i = 0; i < n; i++) {
        const char *provider = candidates[i][0], *model = candidates[i][1];
        llmux_session *s = assistant(client, NULL, provider, model);
        llmux_error err = LLMUX_ERROR_INIT;
        llmux_request *ping = llmux_request_new(provider, model);
        llmux_retry_config once = {false, 0, 0, 1};
        llmux_params_set_retry(llmux_request_params(ping), &once);
        if (s && llmux_session_set_request(s, ping) == LLMUX_OK &&
            llmux_send_and_wait(s, "ping", 10.0, NULL, &err) == LLMUX_OK) {
            printf("Using provider %d: %s\n", i + 1, provider);
            llmux_session_clear_history(s); /* the ping is not part of the conversation */
            llmux_session_set_model(s, provider, model); /* default retries from now on */
            llmux_request_free(ping);
            llmux_error_free(&err);
            return s;
        }
        printf("Provider %d failed: %s\n", i + 1, s ? llmux_code_type(err.code) : "setup");
        if (i < n - 1)
            printf("Trying next provider...\n");
        llmux_request_free(ping);
        llmux_error_free(&err);
        llmux_session_free(s);
    }
    return NULL;
}

int main(void)
{
    llmux_client_options opts = {.proxy_url = getenv("LLMUX_PROXY_URL"),
                                 .proxy_token = getenv("LLMUX_PROXY_TOKEN")};
    llmux_client *client = NULL;
    llmux_error err = LLMUX_ERROR_INIT;
    if (llmux_client_new(&opts, &client, &err) != LLMUX_OK) {
        fprintf(stderr, "cannot start: %s\n", err.message);
        return 1;
    }
    int status = 1;
    llmux_session *code = assistant(client, "code-assistant", "openai", "gpt-4o");
    llmux_session *analysis =
        assistant(client, "analysis-assistant", "anthropic", "claude-sonnet-4-20250514");
    llmux_session *fallback = NULL;
    if (!code || !analysis)
        goto out;

    turn turns[2] = {
        {code, "Write a C function to parse JSON", LLMUX_OK, NULL},
        {analysis, "Analyze the security implications of parsing untrusted JSON", LLMUX_OK, NULL}};
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&threads[i], NULL, run_turn, &turns[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < 2; i++) {
        if (turns[i].rc != LLMUX_OK) {
            printf("%s: %s\n", llmux_session_id(turns[i].session), llmux_code_type(turns[i].rc));
            goto out;
        }
        printf("%s (%s): %s\n", llmux_session_id(turns[i].session),
               llmux_response_provider(turns[i].resp), llmux_response_text(turns[i].resp));
        llmux_response_free(turns[i].resp);
    }
    printf("history: code-assistant %zu turns, analysis-assistant %zu turns\n",
           llmux_session_history_count(code), llmux_session_history_count(analysis));

    static const char *const candidates[][2] = {
        {"openai", "gpt-4o-mini"}, {"azure", "gpt-4o"}, {"anthropic", "claude-sonnet-4-20250514"}};
    fallback = create_session_with_fallback(client, candidates, 3);
    if (fallback)
        status = 0;
    else
        printf("All providers failed\n");
out:
    llmux_session_free(fallback);
    llmux_session_free(code);
    llmux_session_free(analysis);
    llmux_client_free(client);
    llmux_error_free(&err);
    return status;
}
