/* cmd_chat_template.c - `pagoda chat-template` (being written). */
#include "cli/commands.h"

#include <stdio.h>

int cmd_chat_template(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "pagoda chat-template: not available yet\n");
    return 1;
}
