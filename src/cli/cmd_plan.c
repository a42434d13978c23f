/* cmd_plan.c — `llmux plan [FILE|-]`: validate a request and print its attempt plan. */
#include "cli/commands.h"
#include "cli/util.h"
#include "core/request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void plan_usage(FILE *out)
{
    fprintf(out, "usage: llmux plan [FILE|-]\n\n"
                 "Reads a chat completion request (the JSON dict form; stdin when FILE is - or\n"
                 "absent), validates it and prints the attempts it will make, in order, as JSON:\n"
                 "[{provider, model, attempt, delay_before_s, params}]. params are the resolved\n"
                 "(inherited) parameters of that provider. Exit 1 with the error on stderr when\n"
                 "the request is invalid.\n");
}

int llmux__cmd_plan(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            plan_usage(stdout);
            return 0;
        }
        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "llmux plan: unknown option '%s'\n", argv[i]);
            plan_usage(stderr);
            return 2;
        }
        if (path) {
            plan_usage(stderr);
            return 2;
        }
        path = argv[i];
    }
    size_t len = 0;
    char *text = llmux__cli_read_input(path, &len);
    if (!text) {
        fprintf(stderr, "llmux plan: cannot read %s\n", path && strcmp(path, "-") ? path : "stdin");
        return 1;
    }
    llmux__request *req = NULL;
    llmux__error err;
    llmux_code rc = llmux__request_decode(text, len, &req, &err);
    free(text);
    if (rc) {
        fprintf(stderr, "llmux plan: %s: %s\n", llmux_code_type(rc), err.message);
        return 1;
    }
    llmux__plan plan;
    int status = 1;
    if (llmux__plan_build(req, &plan, &err)) {
        fprintf(stderr, "llmux plan: %s\n", err.message);
        goto out;
    }
    /* A JSON array with one attempt per line: easy to read and to diff. */
    cJSON *json = llmux__plan_to_json(&plan);
    status = json ? 0 : 1;
    fputs("[\n", stdout);
    const cJSON *step;
    cJSON_ArrayForEach(step, json)
    {
        char *s = cJSON_PrintUnformatted(step);
        if (!s) {
            status = 1;
            break;
        }
        printf("  %s%s\n", s, step->next ? "," : "");
        cJSON_free(s);
    }
    fputs("]\n", stdout);
    if (status)
        fprintf(stderr, "llmux plan: out of memory\n");
    cJSON_Delete(json);
    llmux__plan_free(&plan);
out:
    llmux__request_free(req);
    return status;
}
