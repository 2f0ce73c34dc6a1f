/* cmd_info.c - `pagoda info` (being written). */
#include "cli/commands.h"

#include <stdio.h>

int cmd_info(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "pagoda info: not available yet\n");
    return 1;
}
