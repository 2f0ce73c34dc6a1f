/* cmd_tokenize.c - `pagoda tokenize` (being written). */
#include "cli/commands.h"

#include <stdio.h>

int cmd_tokenize(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "pagoda tokenize: not available yet\n");
    return 1;
}
