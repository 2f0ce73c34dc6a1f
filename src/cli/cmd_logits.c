/* cmd_logits.c - `pagoda logits` (being written). */
#include "cli/commands.h"

#include <stdio.h>

int cmd_logits(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "pagoda logits: not available yet\n");
    return 1;
}
