/* usage.h - one table per command describing its synopsis and options; the
 * single source of `--help`, `pagoda help`, the man page (`pagoda help
 * --man`) and the README's command and flag tables (`pagoda help
 * --markdown [COMMAND]`, compared with README.md by tests/help.test.sh).
 *
 * Before a command's own parser runs, main() passes its arguments through
 * pg_cli_precheck(), which enforces what every command shares:
 *   -h / --help anywhere among the options -> the usage on stdout, exit 0;
 *   an option that is not in the table      -> "unknown option", exit 2;
 *   a value missing                         -> "needs a value", exit 2;
 *   a numeric value that does not parse     -> "'abc' is not a number", exit 2;
 *   a required option missing               -> "FLAG is required", exit 2;
 *   a single-value option given twice       -> "given more than once", exit 2
 *     (options marked repeat, such as serve's --api-key, may repeat).
 * Ranges and meaning stay with each command's parser. A value is never
 * taken for an option (`-p --help` is a prompt), and "--" ends options. */
#ifndef PG_CLI_USAGE_H
#define PG_CLI_USAGE_H

#include <stdio.h>

enum {
    PG_ARG_NONE = 0, /* a switch */
    PG_ARG_STR,      /* any text */
    PG_ARG_INT,      /* a decimal integer (sign allowed) */
    PG_ARG_UINT,     /* a non-negative decimal integer */
    PG_ARG_NUM,      /* a finite decimal number */
    PG_ARG_SIZE,     /* a number with an optional K/M/G suffix */
    PG_ARG_KIND = 0xff,
    PG_ARG_REQ = 0x100, /* or'ed into kind: the command fails without it (checked before its parser) */
};

typedef struct pg_cli_opt {
    const char *names; /* "-m, --model" or "--json": short and long spellings */
    const char *arg;   /* value placeholder shown in help ("FILE"), NULL for a switch */
    int kind;          /* PG_ARG_*, optionally | PG_ARG_REQ */
    int repeat;        /* may be given more than once */
    const char *def;   /* default shown in help and the README, NULL: none */
    const char *help;  /* one sentence, no trailing period */
} pg_cli_opt;

typedef struct pg_cli_cmd {
    const char *name;     /* "run", "bench throughput" */
    const char *synopsis; /* arguments after "pagoda NAME " */
    const char *summary;  /* what it does (README command table, help, man page) */
    const char *args;     /* positional arguments explained (help), or NULL */
    const pg_cli_opt *opts;
    int n_opts;
    int min_pos, max_pos; /* positional arguments allowed (max -1: any) */
    const char *missing;  /* printed when fewer than min_pos positionals are given */
} pg_cli_cmd;

#define PG_CLI_N(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Every command, in the order of `pagoda help` (bench subcommands are
 * "bench NAME" entries). */
extern const pg_cli_cmd *const pg_cli_cmds[];
extern const int pg_cli_n_cmds;

const pg_cli_cmd *pg_cli_find(const char *name);

/* -1: go on with the command's parser; otherwise the exit code (help was
 * printed, or an error line on stderr). argv[0] is the command's name. */
int pg_cli_precheck(const pg_cli_cmd *c, int argc, char **argv);

void pg_cli_print_help(FILE *f, const pg_cli_cmd *c);
/* The top-level usage: every command's synopsis and summary, global flags
 * and environment variables. */
void pg_cli_print_usage(FILE *f);
/* README tables: the command table (c == NULL) or c's flag table. */
void pg_cli_print_markdown(FILE *f, const pg_cli_cmd *c);
/* A man page (troff, section 1) of every command. */
void pg_cli_print_man(FILE *f);
/* "pagoda VERSION (commit C)" and the compiled and detected CPU levels. */
void pg_cli_print_version(FILE *f);
const char *pg_cli_version(void); /* "0.1.0" */

/* Shared value parsers of the command parsers: 0 ok, -1 not a number,
 * -2 out of [lo, hi]. */
int pg_cli_parse_long(const char *s, long lo, long hi, long *out);
int pg_cli_parse_double(const char *s, double lo, double hi, double *out);

#endif
