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
        "                   [--upstream-timeout S] [--upstream-ca FILE] [--upstream-insecure]\n"
        "                   [--read-timeout S] [--idle-timeout S] [--max-connections N]\n"
        "                   [--max-header-bytes N] [--max-streams-per-token N] [--max-sessions-per-token N]\n"
        "                   [--max-upstream-body BYTES]\n"
        "                   [--allow-base-url PATTERN]... [--deny-base-url PATTERN]...\n\n"
        "Runs the llmux proxy (default 127.0.0.1:8080; port 0 picks a free port). The first\n"
        "stdout line is 'listening HOST:PORT'. Stops on SIGTERM/SIGINT after draining\n"
        "in-flight requests.\n\n"
        "Limits: --read-timeout (a request must arrive whole within S seconds, else 408;\n"
        "30), --idle-timeout (idle keep-alive connections close; 75), --max-connections\n"
        "(per worker, beyond: 503; 10000), --max-header-bytes (request line + headers,\n"
        "beyond: 431; 32768), --max-streams-per-token (concurrent streams, beyond: 429;\n"
        "1024), --max-sessions-per-token (sessions one token may hold, beyond: 503 on\n"
        "configure; 10000), --max-upstream-body (a non-streamed upstream answer larger than this fails\n"
        "the attempt; 16 MiB).\n\n"
        "Customer base_url policy (SSRF guard, docs/security.md): link-local and cloud\n"
        "metadata addresses are always refused; --deny-base-url PATTERN refuses more hosts,\n"
        "--allow-base-url PATTERN (when given) admits only matching hosts. PATTERN is a host\n"
        "glob (*.example.com) or an address range (10.0.0.0/8, fd00::/8, 192.0.2.7).\n\n"
        "Environment (or the \"env\" object of --config FILE):\n"
        "  LLMUX_TOKENS                 comma-separated bearer tokens accepted; without any,\n"
        "                               the proxy only listens on loopback\n"
        "  OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY (or GOOGLE_API_KEY),\n"
        "  AZURE_OPENAI_API_KEY + AZURE_OPENAI_ENDPOINT   managed keys\n"
        "  LLMUX_KEYS_DIR               one file per provider (mounted secrets)\n"
        "  LLMUX_OPENAI_BASE_URL, LLMUX_ANTHROPIC_BASE_URL, LLMUX_GOOGLE_BASE_URL\n\n"
        "--config FILE is JSON: {\"listen\", \"workers\", \"tokens\": [...], \"log_level\",\n"
        "\"max_body\", \"max_inflight\", \"allow_base_urls\": [...], \"deny_base_urls\": [...],\n"
        "\"env\": {\"OPENAI_API_KEY\": \"...\", ...}}; flags win (base URL rules add up).\n");
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

/* A non-negative number (seconds or a count) from a flag; false when it is not one. */
static bool number_arg(const char *flag, const char *s, double max, double *out)
{
    char *end;
    double v = s ? strtod(s, &end) : -1;
    if (!s || end == s || *end || !(v >= 0) || v > max) {
        fprintf(stderr, "llmux serve: %s wants a number from 0 to %.0f, got '%s'\n", flag, max,
                s ? s : "");
        return false;
    }
    *out = v;
    return true;
}

/* Appends the strings of a config array to list. */
static void add_rules(const cJSON *arr, const char **list, size_t *n)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, arr)
    {
        if (cJSON_IsString(t))
            list[(*n)++] = t->valuestring;
    }
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
    const char **allow = NULL, **deny = NULL;
    size_t n_allow = 0, n_deny = 0;
    int status = 2;
    double num;

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
        if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(config, "max_sessions_per_token")))
            cfg.max_sessions_per_token = (size_t)v->valuedouble;
        cfg.getenv_ud = cJSON_GetObjectItemCaseSensitive(config, "env");
    }
    {
        const cJSON *ja = cJSON_GetObjectItemCaseSensitive(config, "allow_base_urls");
        const cJSON *jd = cJSON_GetObjectItemCaseSensitive(config, "deny_base_urls");
        allow = calloc((size_t)argc + (size_t)cJSON_GetArraySize(ja) + 1, sizeof *allow);
        deny = calloc((size_t)argc + (size_t)cJSON_GetArraySize(jd) + 1, sizeof *deny);
        if (!allow || !deny)
            goto out;
        add_rules(ja, allow, &n_allow);
        add_rules(jd, deny, &n_deny);
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
        } else if (!strcmp(a, "--read-timeout") && next) {
            if (!number_arg(a, argv[++i], 86400, &cfg.http.read_timeout_s))
                goto out;
        } else if (!strcmp(a, "--idle-timeout") && next) {
            if (!number_arg(a, argv[++i], 86400, &cfg.http.idle_timeout_s))
                goto out;
        } else if (!strcmp(a, "--max-connections") && next) {
            if (!number_arg(a, argv[++i], 1e7, &num))
                goto out;
            cfg.http.max_connections = (size_t)num;
        } else if (!strcmp(a, "--max-header-bytes") && next) {
            if (!number_arg(a, argv[++i], 1 << 24, &num))
                goto out;
            cfg.http.max_header_bytes = (size_t)num;
        } else if (!strcmp(a, "--max-streams-per-token") && next) {
            if (!number_arg(a, argv[++i], 1e9, &num))
                goto out;
            cfg.max_streams_per_token = (size_t)num;
        } else if (!strcmp(a, "--max-sessions-per-token") && next) {
            if (!number_arg(a, argv[++i], 1e9, &num))
                goto out;
            cfg.max_sessions_per_token = (size_t)num;
        } else if (!strcmp(a, "--max-upstream-body") && next) {
            if (!number_arg(a, argv[++i], 1e12, &num))
                goto out;
            cfg.max_upstream_body = (size_t)num;
        } else if (!strcmp(a, "--allow-base-url") && next) {
            allow[n_allow++] = argv[++i];
        } else if (!strcmp(a, "--deny-base-url") && next) {
            deny[n_deny++] = argv[++i];
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
    cfg.allow_base_urls = allow;
    cfg.n_allow_base_urls = n_allow;
    cfg.deny_base_urls = deny;
    cfg.n_deny_base_urls = n_deny;
    status = llmux__server_run(&cfg, stdout);
out:
    if (tokens_copy) {
        explicit_bzero(tokens_copy, tokens_copy_len);
        free(tokens_copy);
    }
    free(tokens);
    free(allow);
    free(deny);
    cJSON_Delete(config);
    return status;
}
