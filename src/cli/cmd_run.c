/* cmd_run.c - `pagoda run` (being written). */
#include "cli/commands.h"

#include <stdio.h>

int cmd_run(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "pagoda run: not available yet\n");
    return 1;
}
