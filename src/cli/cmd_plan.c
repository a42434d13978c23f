/* cmd_plan.c — placeholder replaced in the next commit by the real plan command. */
#include "cli/commands.h"
#include <stdio.h>
int llmux__cmd_plan(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "llmux plan: not built yet\n");
    return 2;
}
