/* cmd_serve.c — `llmux serve`: run the proxy. */
#include "cli/commands.h"
#include "cli/util.h"
#include "server/server.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void serve_usage(FILE *out)
{
    fprintf(
        out,
        "usage: llmux serve [--listen HOST:PORT] [--workers N] [--config FILE]\n"
        "                   [--log-level error|warn|info|debug] [--log-content]\n"
        "                   [--max-body BYTES] [--max-inflight N] [--drain-timeout S]\n"
        "                   [--upstream-timeout S] [--upstream-ca FILE] [--upstream-insecure]\n\n"
        "Runs the llmux proxy (default 127.0.0.1:8080; port 0 picks a free port). The first\n"
        "stdout line is 'listening HOST:PORT'. Stops on SIGTERM/SIGINT after draining\n"
        "in-flight requests.\n\n"
        "Environment (or the \"env\" object of --config FILE):\n"
        "  LLMUX_TOKENS                 comma-separated bearer tokens accepted; without any,\n"
        "                               the proxy only listens on loopback\n"
        "  OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY (or GOOGLE_API_KEY),\n"
        "  AZURE_OPENAI_API_KEY + AZURE_OPENAI_ENDPOINT   managed keys\n"
        "  LLMUX_KEYS_DIR               one file per provider (mounted secrets)\n"
        "  LLMUX_OPENAI_BASE_URL, LLMUX_ANTHROPIC_BASE_URL, LLMUX_GOOGLE_BASE_URL\n\n"
        "--config FILE is JSON: {\"listen\", \"workers\", \"tokens\": [...], \"log_level\",\n"
        "\"max_body\", \"max_inflight\", \"env\": {\"OPENAI_API_KEY\": \"...\", ...}}; flags "
        "win.\n");
}

/* Config "env" first, then the process environment. */
static const char *config_getenv(const char *name, void *ud)
{
    const cJSON *env = ud;
    const cJSON *v = env ? cJSON_GetObjectItemCaseSensitive(env, name) : NULL;
    if (cJSON_IsString(v))
        return v->valuestring;
    return getenv(name);
}

static int level_of(const char *s)
{
    if (!strcmp(s, "error"))
        return 0;
    if (!strcmp(s, "warn"))
        return 1;
    if (!strcmp(s, "info"))
        return 2;
    if (!strcmp(s, "debug"))
        return 3;
    return -1;
}

int llmux__cmd_serve(int argc, char **argv)
{
    llmux__server_config cfg = {0};
    cfg.log_level = 2;
    const char *config_path = NULL;
    cJSON *config = NULL;
    char *tokens_copy = NULL;
    size_t tokens_copy_len = 0;
    const char **tokens = NULL;
    int status = 2;

    for (int i = 1; i < argc; i++) { /* first pass: --config */
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config_path = argv[++i];
    }
    if (config_path) {
        size_t len;
        char *text = llmux__cli_read_input(config_path, &len);
        if (!text) {
            fprintf(stderr, "llmux serve: cannot read config %s\n", config_path);
            return 1;
        }
        config = cJSON_ParseWithLength(text, len);
        free(text);
        if (!cJSON_IsObject(config)) {
            fprintf(stderr, "llmux serve: config %s is not a JSON object\n", config_path);
            cJSON_Delete(config);
            return 1;
        }
        const cJSON *v;
        if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(config, "listen")))
            cfg.listen = v->valuestring;
        if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(config, "workers")))
            cfg.workers = v->valueint;
        if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(config, "log_level")))
            cfg.log_level = level_of(v->valuestring);
        if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(config, "max_body")))
            cfg.http.max_body = (size_t)v->valuedouble;
        if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(config, "max_inflight")))
            cfg.max_inflight = (size_t)v->valuedouble;
        if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(config, "max_streams_per_token")))
            cfg.max_streams_per_token = (size_t)v->valuedouble;
        cfg.getenv_ud = cJSON_GetObjectItemCaseSensitive(config, "env");
    }
    cfg.getenv_fn = config_getenv;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            serve_usage(stdout);
            status = 0;
            goto out;
        } else if (!strcmp(a, "--config") && next) {
            i++;
        } else if (!strcmp(a, "--listen") && next) {
            cfg.listen = argv[++i];
        } else if (!strcmp(a, "--workers") && next) {
            cfg.workers = atoi(argv[++i]);
        } else if (!strcmp(a, "--log-level") && next) {
            cfg.log_level = level_of(argv[++i]);
        } else if (!strcmp(a, "--log-content")) {
            cfg.log_content = true;
        } else if (!strcmp(a, "--max-body") && next) {
            cfg.http.max_body = strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(a, "--max-inflight") && next) {
            cfg.max_inflight = strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(a, "--drain-timeout") && next) {
            cfg.drain_timeout_s = atof(argv[++i]);
        } else if (!strcmp(a, "--upstream-timeout") && next) {
            cfg.upstream_timeout_s = atof(argv[++i]);
        } else if (!strcmp(a, "--upstream-ca") && next) {
            cfg.ca_file = argv[++i];
        } else if (!strcmp(a, "--upstream-insecure")) {
            cfg.upstream_insecure = true;
        } else {
            fprintf(stderr, "llmux serve: unknown or incomplete option '%s'\n\n", a);
            serve_usage(stderr);
            goto out;
        }
    }
    if (cfg.log_level < 0) {
        fprintf(stderr, "llmux serve: --log-level is error, warn, info or debug\n");
        goto out;
    }
    /* Tokens: config "tokens" array, else LLMUX_TOKENS (from config env or process). */
    const cJSON *jt = config ? cJSON_GetObjectItemCaseSensitive(config, "tokens") : NULL;
    size_t n = 0;
    if (cJSON_IsArray(jt)) {
        tokens = calloc((size_t)cJSON_GetArraySize(jt) + 1, sizeof *tokens);
        const cJSON *t;
        cJSON_ArrayForEach(t, jt)
        {
            if (cJSON_IsString(t) && *t->valuestring)
                tokens[n++] = t->valuestring;
        }
    } else {
        const char *env = config_getenv("LLMUX_TOKENS", cfg.getenv_ud);
        if (env && *env) {
            tokens_copy = strdup(env);
            tokens_copy_len = strlen(env);
            if (!tokens_copy)
                goto out;
            tokens = calloc(strlen(env) / 2 + 2, sizeof *tokens);
            char *save = NULL;
            for (char *t = strtok_r(tokens_copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                while (*t == ' ')
                    t++;
                size_t l = strlen(t);
                while (l && t[l - 1] == ' ')
                    t[--l] = '\0';
                if (*t)
                    tokens[n++] = t;
            }
        }
    }
    cfg.tokens = tokens;
    cfg.n_tokens = n;
    status = llmux__server_run(&cfg, stdout);
out:
    if (tokens_copy) {
        explicit_bzero(tokens_copy, tokens_copy_len);
        free(tokens_copy);
    }
    free(tokens);
    cJSON_Delete(config);
    return status;
}
