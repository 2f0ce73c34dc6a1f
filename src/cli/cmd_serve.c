/* cmd_serve.c - `pagoda serve` (being written). */
#include "cli/commands.h"

#include <stdio.h>

int cmd_serve(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "pagoda serve: not available yet\n");
    return 1;
}
