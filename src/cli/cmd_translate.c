/* cmd_translate.c — `llmux translate`: print the upstream request a chat completion
 * request becomes for one provider (method, URL, headers with the key redacted, body). */
#include "cli/commands.h"
#include "cli/util.h"
#include "core/request.h"
#include "providers/provider.h"
#include "server/keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PLACEHOLDER_KEY "sk-llmux-translate-placeholder"
#define PLACEHOLDER_AZURE "https://YOUR-RESOURCE.openai.azure.com"

static void translate_usage(FILE *out)
{
    fprintf(out,
            "usage: llmux translate [--provider P] [--key K] [--base-url U] [--api-version V]\n"
            "                       [--stream] [--fallback N] [FILE|-]\n\n"
            "Reads a chat completion request (the JSON dict form; stdin when FILE is - or\n"
            "absent) and prints the HTTP request llmux would send upstream: the method and URL,\n"
            "the headers (the key shown as <redacted>) and the body.\n\n"
            "  --provider P     openai, azure, anthropic or google (default: the request's)\n"
            "  --key K          the key to place in the auth header (it is never printed)\n"
            "  --base-url U     a custom endpoint (required form per provider: docs/providers.md;\n"
            "                   Azure: the resource URL, a placeholder when absent)\n"
            "  --api-version V  Azure api-version (default " LLMUX__AZURE_DEFAULT_API_VERSION
            "; v1 for the /openai/v1 surface)\n"
            "  --stream         translate as a streaming request\n"
            "  --fallback N     translate the N-th fallback (1-based) with inherited fields\n\n"
            "Exit 1 with the reason on stderr when the request is invalid or cannot be\n"
            "expressed for the provider.\n");
}

/* Prints a header line with every occurrence of key replaced by <redacted>. */
static void print_header(const char *line, const char *key)
{
    size_t kl = strlen(key);
    const char *p = line;
    const char *hit;
    while (kl && (hit = strstr(p, key))) {
        fwrite(p, 1, (size_t)(hit - p), stdout);
        fputs("<redacted>", stdout);
        p = hit + kl;
    }
    fputs(p, stdout);
    fputc('\n', stdout);
}

/* Prints compact JSON text indented by two spaces per level ("key": value), keeping
 * empty objects and arrays on one line. */
static void print_pretty(const char *json)
{
    int depth = 0;
    bool in_str = false;
    for (const char *p = json; *p; p++) {
        char c = *p;
        if (in_str) {
            putchar(c);
            if (c == '\\' && p[1])
                putchar(*++p);
            else if (c == '"')
                in_str = false;
            continue;
        }
        switch (c) {
        case '"':
            in_str = true;
            putchar(c);
            break;
        case '{':
        case '[':
            putchar(c);
            if (p[1] == '}' || p[1] == ']') {
                putchar(*++p);
                break;
            }
            depth++;
            printf("\n%*s", depth * 2, "");
            break;
        case '}':
        case ']':
            depth--;
            printf("\n%*s%c", depth * 2, "", c);
            break;
        case ',':
            printf(",\n%*s", depth * 2, "");
            break;
        case ':':
            fputs(": ", stdout);
            break;
        default:
            putchar(c);
        }
    }
    putchar('\n');
}

int llmux__cmd_translate(int argc, char **argv)
{
    const char *path = NULL, *provider = NULL, *key = NULL, *base_url = NULL, *version = NULL;
    bool stream = false;
    long fallback = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            translate_usage(stdout);
            return 0;
        } else if (strcmp(a, "--stream") == 0) {
            stream = true;
            continue;
        } else if (strcmp(a, "--provider") == 0) {
            dst = &provider;
        } else if (strcmp(a, "--key") == 0) {
            dst = &key;
        } else if (strcmp(a, "--base-url") == 0) {
            dst = &base_url;
        } else if (strcmp(a, "--api-version") == 0) {
            dst = &version;
        } else if (strcmp(a, "--fallback") == 0) {
            char *end;
            if (i + 1 >= argc || (fallback = strtol(argv[i + 1], &end, 10)) < 1 || *end) {
                fprintf(stderr, "llmux translate: --fallback takes a number from 1\n");
                return 2;
            }
            i++;
            continue;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "llmux translate: unknown option '%s'\n", a);
            translate_usage(stderr);
            return 2;
        } else if (path) {
            translate_usage(stderr);
            return 2;
        } else {
            path = a;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "llmux translate: %s needs a value\n", a);
            return 2;
        }
        *dst = argv[++i];
    }

    size_t len = 0;
    char *text = llmux__cli_read_input(path, &len);
    if (!text) {
        fprintf(stderr, "llmux translate: cannot read %s\n",
                path && strcmp(path, "-") ? path : "stdin");
        return 1;
    }
    llmux__request *req = NULL;
    llmux__error err;
    llmux_code rc = llmux__request_decode(text, len, &req, &err);
    free(text);
    if (rc) {
        fprintf(stderr, "llmux translate: %s: %s\n", llmux_code_type(rc), err.message);
        return 1;
    }
    int status = 1;
    llmux__plan plan = {0};
    llmux__http_request http = {0};
    if (llmux__plan_build(req, &plan, &err)) {
        fprintf(stderr, "llmux translate: %s\n", err.message);
        goto out;
    }
    if ((size_t)fallback >= plan.n_chain) {
        fprintf(stderr, "llmux translate: the request has %zu fallback(s)\n", plan.n_chain - 1);
        goto out;
    }
    llmux__params params = plan.chain[fallback];
    if (provider && !llmux__provider_parse(provider, &params.provider)) {
        fprintf(stderr,
                "llmux translate: unknown provider '%s' (openai, azure, anthropic, google)\n",
                provider);
        status = 2;
        goto out;
    }
    if (stream)
        req->stream = true;
    const char *why = NULL;
    if (base_url && !llmux__base_url_check(base_url, &why)) {
        /* the proxy's own rule: no credentials in the URL (they would be printed) */
        fprintf(stderr, "llmux translate: --base-url %s\n", why);
        status = 2;
        goto out;
    }
    llmux__provider_config cfg = {
        .provider = params.provider,
        .api_key = key && *key ? key : PLACEHOLDER_KEY,
        .base_url = base_url,
        .api_version = version,
    };
    if (params.provider == LLMUX__PROVIDER_AZURE && !base_url)
        cfg.base_url = PLACEHOLDER_AZURE;
    const llmux__adapter *a = llmux__adapter_for(params.provider);
    if ((rc = a->build_request(&params, req, &cfg, &http, &err))) {
        fprintf(stderr, "llmux translate: %s: %s\n", llmux_code_type(rc), err.message);
        goto out;
    }
    printf("%s ", http.method);
    print_header(http.url, cfg.api_key); /* the URL never holds the key; make sure */
    for (size_t i = 0; i < http.n_headers; i++)
        print_header(http.headers[i], cfg.api_key);
    if (http.body) {
        putchar('\n');
        print_pretty(http.body); /* compact JSON from cJSON: no spaces outside strings */
    }
    status = 0;
out:
    llmux__http_request_free(&http);
    llmux__plan_free(&plan);
    llmux__request_free(req);
    return status;
}
