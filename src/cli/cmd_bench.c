/* cmd_bench.c - `pagoda bench` (being written). */
#include "cli/commands.h"

#include <stdio.h>

int cmd_bench(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "pagoda bench: not available yet\n");
    return 1;
}
