/* main.c - the pagoda command line: `help`, `--version`, then dispatch to a
 * subcommand after the shared checks of its usage table (usage.h). */
#include "cli/commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int, char **);
} cmds[] = {
    {"run", cmd_run},         {"logits", cmd_logits},     {"info", cmd_info},           {"tokenize", cmd_tokenize},
    {"chat-template", cmd_chat_template}, {"serve", cmd_serve}, {"quantize", cmd_quantize}, {"bench", cmd_bench},
    {"embed", cmd_embed}, {"rerank", cmd_rerank},
    {"schema-test", cmd_schema_test}, {"parse-output", cmd_parse_output},
};

static int finish(int rc) { return fflush(stdout) == 0 ? rc : 1; }

/* pagoda help [COMMAND [SUB]] | help --markdown [COMMAND [SUB]] | help --man
 * | help --commands (every command name, one a line, for tests/help.test.sh) */
static int cmd_help(int argc, char **argv) {
    int md = 0;
    if (argc == 2 && !strcmp(argv[1], "--commands")) {
        for (int i = 0; i < pg_cli_n_cmds; i++) puts(pg_cli_cmds[i]->name);
        return finish(0);
    }
    if (argc > 1 && !strcmp(argv[1], "--man")) {
        if (argc > 2) {
            fprintf(stderr, "pagoda help: --man takes no arguments\n");
            return 2;
        }
        pg_cli_print_man(stdout);
        return finish(0);
    }
    if (argc > 1 && !strcmp(argv[1], "--markdown")) {
        md = 1;
        argc--;
        argv++;
    }
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        argc = 1;
    }
    if (argc == 1) {
        if (md) pg_cli_print_markdown(stdout, NULL);
        else pg_cli_print_usage(stdout);
        return finish(0);
    }
    char name[128];
    snprintf(name, sizeof name, "%s%s%s", argv[1], argc > 2 ? " " : "", argc > 2 ? argv[2] : "");
    const pg_cli_cmd *c = argc <= 3 ? pg_cli_find(name) : NULL;
    if (!c && argc == 2 && !strcmp(argv[1], "bench")) {
        if (md) {
            fprintf(stderr, "pagoda help: --markdown needs a bench subcommand (e.g. bench serve)\n");
            return 2;
        }
        char *a[] = {"bench", "--help", NULL};
        return cmd_bench(2, a);
    }
    if (!c) {
        fprintf(stderr, "pagoda help: unknown command '%s' (pagoda help lists them)\n", name);
        return 2;
    }
    if (md) pg_cli_print_markdown(stdout, c);
    else pg_cli_print_help(stdout, c);
    return finish(0);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        pg_cli_print_usage(stderr);
        exit(2);
    }
    const char *a = argv[1];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
        pg_cli_print_usage(stdout);
        exit(finish(0));
    }
    if (!strcmp(a, "--version") || !strcmp(a, "-V") || !strcmp(a, "version")) {
        pg_cli_print_version(stdout);
        exit(finish(0));
    }
    if (!strcmp(a, "help")) exit(cmd_help(argc - 1, argv + 1));
    if (!strcmp(a, "--help-man")) exit(cmd_help(2, (char *[]){"help", "--man", NULL}));
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (strcmp(a, cmds[i].name)) continue;
        const pg_cli_cmd *c = pg_cli_find(a); /* bench checks its subcommand's table itself */
        if (c) {
            int rc = pg_cli_precheck(c, argc - 1, argv + 1);
            if (rc >= 0) exit(rc);
        }
        exit(cmds[i].fn(argc - 1, argv + 1));
    }
    fprintf(stderr, "pagoda: unknown command '%s' (pagoda --help lists the commands)\n", a);
    exit(2);
}
