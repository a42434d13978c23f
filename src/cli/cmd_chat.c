/* cmd_chat.c — `llmux chat`: one completion streamed to the terminal through the client
 * library (include/llmux.h), embedded mode by default or through a proxy with --proxy.
 *
 * The answer goes to stdout as it arrives (one sentence per line with --sentences); which
 * provider answered and the attempt log go to stderr. Exit 0 when an answer came, 1 when
 * the completion failed, 2 on a usage error. */
#include "cli/commands.h"
#include "cli/util.h"
#include "core/request.h"
#include "llmux.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FALLBACKS 16

static void chat_usage(FILE *out)
{
    fprintf(out,
            "usage: llmux chat [--proxy URL] [--token TOKEN] --provider P --model M\n"
            "                  [--fallback P:M]... [--retries N] [--retry-delay S] [--timeout S]\n"
            "                  [--sentences] [--clean] [--system TEXT] [--customer-keys]\n"
            "                  [--no-stream] [--session ID] \"prompt\" | -\n"
            "\n"
            "One chat completion, streamed to the terminal.\n"
            "  --proxy URL        go through an llmux proxy (also LLMUX_PROXY_URL); without it\n"
            "                     the engine runs in-process (embedded mode)\n"
            "  --token TOKEN      the proxy's bearer token (also LLMUX_PROXY_TOKEN)\n"
            "  --provider P       openai, azure, anthropic or google (or --model P/M)\n"
            "  --model M          the model (an Azure deployment name for azure)\n"
            "  --fallback P:M     a fallback provider and model, tried in order (repeatable);\n"
            "                     P alone keeps the model\n"
            "  --retries N        retries per provider (default 3); --retry-delay S (default 1)\n"
            "  --timeout S        bound on one attempt, in seconds\n"
            "  --sentences        one whole sentence per line (chunk_by_sentence); --clean also\n"
            "                     removes markdown (clean_sentences)\n"
            "  --system TEXT      a system message before the prompt\n"
            "  --customer-keys    configure providers with keys from the environment as the\n"
            "                     session's own (OPENAI_API_KEY, ...) instead of managed keys\n"
            "  --no-stream        wait for the whole answer instead of streaming\n"
            "  --session ID       the session id (default: a fresh one)\n"
            "  \"prompt\" | -       the user message; '-' reads it from stdin\n"
            "Managed keys come from the environment in embedded mode (OPENAI_API_KEY,\n"
            "ANTHROPIC_API_KEY, GEMINI_API_KEY, AZURE_OPENAI_API_KEY + AZURE_OPENAI_ENDPOINT or\n"
            "LLMUX_KEYS_DIR) and from the proxy's in proxy mode. Provider and attempts go to\n"
            "stderr.\n");
}

static void print_attempts(const llmux_attempt *a, size_t n)
{
    if (!n)
        return;
    fprintf(stderr, "attempts:");
    for (size_t i = 0; i < n; i++) {
        fprintf(stderr, "%s %s/%s #%d ", i ? "," : "", a[i].provider, a[i].model, a[i].attempt);
        if (a[i].status)
            fprintf(stderr, "%d", a[i].status);
        else
            fprintf(stderr, "-");
        fprintf(stderr, " %s %.0f ms", a[i].error ? llmux_code_type(a[i].error) : "ok",
                a[i].latency_ms);
    }
    fprintf(stderr, "\n");
}

static void print_error(const llmux_error *err)
{
    fprintf(stderr, "llmux chat: %s: %s\n", llmux_code_type(err->code), err->message);
    print_attempts(err->attempts, err->n_attempts);
}

/* Splits "P:M" (or "P") into a provider and an optional model. */
static bool split_fallback(char *spec, const char **provider, const char **model)
{
    char *colon = strchr(spec, ':');
    *provider = spec;
    *model = NULL;
    if (colon) {
        *colon = '\0';
        *model = colon + 1;
        if (!**model)
            *model = NULL;
    }
    return **provider != '\0';
}

typedef struct chat_args {
    const char *proxy, *token, *provider, *model, *system, *session, *prompt;
    char *fallbacks[MAX_FALLBACKS];
    int n_fallbacks;
    int retries;
    double retry_delay, timeout;
    bool sentences, clean, customer_keys, no_stream;
} chat_args;

static int parse_double(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (*end || end == s || v < 0)
        return -1;
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, chat_args *a)
{
    a->retries = -1;
    a->retry_delay = -1;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        bool more = i + 1 < argc;
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            chat_usage(stdout);
            return 1;
        } else if (strcmp(s, "--proxy") == 0 && more) {
            a->proxy = argv[++i];
        } else if (strcmp(s, "--token") == 0 && more) {
            a->token = argv[++i];
        } else if (strcmp(s, "--provider") == 0 && more) {
            a->provider = argv[++i];
        } else if (strcmp(s, "--model") == 0 && more) {
            a->model = argv[++i];
        } else if (strcmp(s, "--fallback") == 0 && more) {
            if (a->n_fallbacks == MAX_FALLBACKS) {
                fprintf(stderr, "llmux chat: at most %d fallbacks\n", MAX_FALLBACKS);
                return 2;
            }
            a->fallbacks[a->n_fallbacks++] = argv[++i];
        } else if (strcmp(s, "--retries") == 0 && more) {
            char *end;
            long n = strtol(argv[++i], &end, 10);
            if (*end || n < 0 || n > 10) {
                fprintf(stderr, "llmux chat: --retries wants 0..10\n");
                return 2;
            }
            a->retries = (int)n;
        } else if (strcmp(s, "--retry-delay") == 0 && more) {
            if (parse_double(argv[++i], &a->retry_delay) != 0) {
                fprintf(stderr, "llmux chat: --retry-delay wants seconds\n");
                return 2;
            }
        } else if (strcmp(s, "--timeout") == 0 && more) {
            if (parse_double(argv[++i], &a->timeout) != 0 || a->timeout == 0) {
                fprintf(stderr, "llmux chat: --timeout wants seconds\n");
                return 2;
            }
        } else if (strcmp(s, "--system") == 0 && more) {
            a->system = argv[++i];
        } else if (strcmp(s, "--session") == 0 && more) {
            a->session = argv[++i];
        } else if (strcmp(s, "--sentences") == 0) {
            a->sentences = true;
        } else if (strcmp(s, "--clean") == 0) {
            a->sentences = a->clean = true;
        } else if (strcmp(s, "--customer-keys") == 0) {
            a->customer_keys = true;
        } else if (strcmp(s, "--no-stream") == 0) {
            a->no_stream = true;
        } else if (s[0] == '-' && s[1] != '\0') {
            fprintf(stderr, "llmux chat: unknown option '%s' (or missing value)\n\n", s);
            chat_usage(stderr);
            return 2;
        } else if (!a->prompt) {
            a->prompt = s;
        } else {
            fprintf(stderr, "llmux chat: one prompt only (quote it)\n");
            return 2;
        }
    }
    if (!a->model || !a->prompt) {
        chat_usage(stderr);
        return 2;
    }
    if (!a->proxy)
        a->proxy = getenv("LLMUX_PROXY_URL");
    if (!a->token)
        a->token = getenv("LLMUX_PROXY_TOKEN");
    return 0;
}

/* Builds the request; NULL after printing why. */
static llmux_request *build_request(chat_args *a, const char *prompt)
{
    llmux_request *req = llmux_request_new(a->provider, a->model);
    if (!req) {
        fprintf(stderr, "llmux chat: unknown provider '%s' (openai, azure, anthropic, google)\n",
                a->provider ? a->provider : a->model);
        return NULL;
    }
    llmux_params *p = llmux_request_params(req);
    if ((a->system && llmux_params_add_message(p, "system", a->system) != LLMUX_OK) ||
        llmux_params_add_message(p, "user", prompt) != LLMUX_OK)
        goto fail;
    if (a->retries >= 0 || a->retry_delay >= 0) {
        llmux_retry_config r = LLMUX_RETRY_DEFAULTS;
        if (a->retries >= 0)
            r.max_retries = a->retries;
        if (a->retry_delay >= 0)
            r.retry_delay = a->retry_delay;
        if (llmux_params_set_retry(p, &r) != LLMUX_OK)
            goto fail;
    }
    if (a->timeout > 0 && llmux_params_set_timeout(p, a->timeout) != LLMUX_OK)
        goto fail;
    for (int i = 0; i < a->n_fallbacks; i++) {
        const char *fp, *fm;
        if (!split_fallback(a->fallbacks[i], &fp, &fm) ||
            !llmux_request_add_fallback(req, fp, fm)) {
            fprintf(stderr, "llmux chat: bad --fallback '%s' (want PROVIDER:MODEL)\n", fp);
            llmux_request_free(req);
            return NULL;
        }
    }
    llmux_request_set_stream_options(req, a->sentences, a->clean, false);
    char why[256];
    if (llmux_request_validate(req, why, sizeof why) != LLMUX_OK) {
        fprintf(stderr, "llmux chat: %s\n", why);
        llmux_request_free(req);
        return NULL;
    }
    return req;
fail:
    fprintf(stderr, "llmux chat: cannot build the request\n");
    llmux_request_free(req);
    return NULL;
}

/* The distinct providers of the request's chain (a fallback naming none inherits the
 * primary's). */
static int chain_providers(const llmux_request *req, const char *names[LLMUX__PROVIDER_COUNT])
{
    bool seen[LLMUX__PROVIDER_COUNT] = {false};
    seen[req->primary.provider] = true;
    for (size_t i = 0; i < req->n_fallbacks; i++)
        if (req->fallbacks[i].set & LLMUX__F_PROVIDER)
            seen[req->fallbacks[i].provider] = true;
    int n = 0;
    for (int p = 0; p < LLMUX__PROVIDER_COUNT; p++)
        if (seen[p])
            names[n++] = llmux__provider_name((llmux__provider)p);
    return n;
}

static int stream_answer(llmux_session *s, const llmux_request *req, bool sentences)
{
    llmux_stream *st = NULL;
    llmux_error err = LLMUX_ERROR_INIT;
    int status = 1;
    if (llmux_generate_chat_completion_stream(s, req, &st, &err) != LLMUX_OK) {
        print_error(&err);
        goto out;
    }
    llmux_chunk ch;
    llmux_code rc;
    bool at_line_start = true;
    while ((rc = llmux_stream_next(st, &ch, -1)) == LLMUX_OK && ch.kind != LLMUX_CHUNK_END) {
        if (ch.kind == LLMUX_CHUNK_TEXT) {
            fwrite(ch.text, 1, ch.text_len, stdout);
            if (sentences)
                fputc('\n', stdout);
            at_line_start = sentences || (ch.text_len && ch.text[ch.text_len - 1] == '\n');
        } else if (ch.kind == LLMUX_CHUNK_TOOL_CALL_START) {
            printf("%s[tool call %s %s] ", at_line_start ? "" : "\n", ch.tool_name, ch.tool_id);
            at_line_start = false;
        } else if (ch.kind == LLMUX_CHUNK_TOOL_CALL_ARGS) {
            fwrite(ch.text, 1, ch.text_len, stdout);
        }
        fflush(stdout);
    }
    if (!at_line_start)
        fputc('\n', stdout);
    fflush(stdout);
    const char *prov = llmux_stream_provider(st);
    if (rc == LLMUX_OK) {
        fprintf(stderr, "answered by %s/%s\n", prov, llmux_stream_model(st));
        status = 0;
    } else {
        if (prov)
            fprintf(stderr, "(%s/%s was answering)\n", prov, llmux_stream_model(st));
        print_error(llmux_stream_error(st));
    }
    size_t n = llmux_stream_attempt_count(st);
    if (rc == LLMUX_OK && n) /* the attempts of a stream are one array */
        print_attempts(llmux_stream_attempt(st, 0), n);
    else if (rc == LLMUX_OK)
        fprintf(stderr, "attempts: not reported for streams by the proxy\n");
out:
    llmux_stream_free(st);
    llmux_error_free(&err);
    return status;
}

static int whole_answer(llmux_session *s, const llmux_request *req)
{
    llmux_response *resp = NULL;
    llmux_error err = LLMUX_ERROR_INIT;
    int status = 1;
    if (llmux_generate_chat_completion(s, req, &resp, &err) != LLMUX_OK) {
        print_error(&err);
        goto out;
    }
    fwrite(llmux_response_text(resp), 1, llmux_response_text_len(resp), stdout);
    for (size_t i = 0; i < llmux_response_tool_call_count(resp); i++) {
        const llmux_tool_call *tc = llmux_response_tool_call(resp, i);
        printf("%s[tool call %s %s] %s", i || llmux_response_text_len(resp) ? "\n" : "", tc->name,
               tc->id, tc->arguments);
    }
    printf("\n");
    fflush(stdout);
    fprintf(stderr, "answered by %s/%s (finish: %s)\n", llmux_response_provider(resp),
            llmux_response_model(resp), llmux_response_finish_reason(resp));
    print_attempts(llmux_response_attempt(resp, 0), llmux_response_attempt_count(resp));
    status = 0;
out:
    llmux_response_free(resp);
    llmux_error_free(&err);
    return status;
}

int llmux__cmd_chat(int argc, char **argv)
{
    chat_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc == 1 ? 0 : rc;
    char *stdin_prompt = NULL;
    const char *prompt = a.prompt;
    if (strcmp(prompt, "-") == 0) {
        size_t len;
        stdin_prompt = llmux__cli_read_input(NULL, &len);
        if (!stdin_prompt) {
            fprintf(stderr, "llmux chat: cannot read the prompt from stdin\n");
            return 2;
        }
        prompt = stdin_prompt;
    }
    llmux_request *req = build_request(&a, prompt);
    llmux_client *client = NULL;
    llmux_session *session = NULL;
    llmux_error err = LLMUX_ERROR_INIT;
    int status = 2;
    if (!req)
        goto out;
    status = 1;
    llmux_client_options o = {.proxy_url = a.proxy, .proxy_token = a.token};
    if (llmux_client_new(&o, &client, &err) != LLMUX_OK) {
        print_error(&err);
        goto out;
    }
    if (llmux_session_new(client, a.session, &session) != LLMUX_OK) {
        fprintf(stderr, "llmux chat: bad --session id (1-128 of A-Z a-z 0-9 . _ : -)\n");
        status = 2;
        goto out;
    }
    const char *names[LLMUX__PROVIDER_COUNT];
    int n = chain_providers(req, names);
    for (int i = 0; i < n; i++) {
        llmux_code c;
        if (a.customer_keys) {
            c = llmux_configure_provider_from_env(session, names[i], &err);
        } else {
            llmux_provider_options po = {.managed = true};
            c = llmux_configure_provider(session, names[i], &po, &err);
        }
        if (c != LLMUX_OK) {
            fprintf(stderr, "llmux chat: configure_provider(\"%s\") failed\n", names[i]);
            print_error(&err);
            goto out;
        }
    }
    status = a.no_stream ? whole_answer(session, req) : stream_answer(session, req, a.sentences);
out:
    llmux_session_free(session);
    llmux_client_free(client);
    llmux_request_free(req);
    llmux_error_free(&err);
    free(stdin_prompt);
    return status;
}
