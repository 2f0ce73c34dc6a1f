/* main.c - the pagoda command line: dispatch to a subcommand. */
#include "cli/commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} cmds[] = {
    {"run", cmd_run, "run -m MODEL -p TEXT [-n N] [--temp T] [--seed S] [--threads N] [--json]"},
    {"logits", cmd_logits, "logits -m MODEL -p TEXT -o FILE [--threads N]"},
    {"info", cmd_info, "info MODEL"},
    {"tokenize", cmd_tokenize, "tokenize -m MODEL [--no-bos] [--special] [--json] (TEXT | --file PATH)"},
    {"chat-template", cmd_chat_template, "chat-template (--template FILE | -m MODEL) --case CASE.json"},
    {"serve", cmd_serve, "serve [-m MODEL] [--host H] [--port P] ... (see README)"},
    {"quantize", cmd_quantize, "quantize IN.gguf OUT.gguf TYPE [--threads N]"},
    {"bench", cmd_bench, "bench (kernels|throughput|serve) ..."},
    {"schema-test", cmd_schema_test,
     "schema-test --vocab VOCAB.gguf [--json] [--whitespace compact|flexible] [--summary] FILE.json..."},
};

static void usage(FILE *f) {
    fprintf(f, "usage: pagoda COMMAND [ARGS]\ncommands:\n");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) fprintf(f, "  %s\n", cmds[i].help);
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        exit(argc < 2 ? 2 : 0);
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(argv[1], cmds[i].name)) exit(cmds[i].fn(argc - 1, argv + 1));
    fprintf(stderr, "pagoda: unknown command '%s'\n", argv[1]);
    usage(stderr);
    exit(2);
}
