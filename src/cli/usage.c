/* usage.c - see usage.h. The tables themselves live beside each command's
 * parser (pg_cli_run in cmd_run.c, ...); this file lists them and renders
 * them as help text, markdown tables and a man page, so all three always
 * say the same thing. */
#include "cli/usage.h"

#include "cli/commands.h"
#include "base/cpu.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifndef PG_VERSION
#define PG_VERSION "0.0.0"
#endif
#ifndef PG_GIT_COMMIT
#define PG_GIT_COMMIT "unknown"
#endif

const pg_cli_cmd *const pg_cli_cmds[] = {
    &pg_cli_run,        &pg_cli_logits,          &pg_cli_info,          &pg_cli_tokenize,
    &pg_cli_chat_tpl,   &pg_cli_serve,           &pg_cli_quantize,      &pg_cli_bench_throughput,
    &pg_cli_bench_serve, &pg_cli_bench_tokenize, &pg_cli_bench_kernels, &pg_cli_embed, &pg_cli_rerank,
    &pg_cli_bench_embed, &pg_cli_schema_test, &pg_cli_parse_output, &pg_cli_bench_attn,
};
const int pg_cli_n_cmds = PG_CLI_N(pg_cli_cmds);

/* Environment variables (top-level usage, man page). */
static const struct {
    const char *name, *help;
} envs[] = {
    {"PAGODA_CPU=scalar|avx2|avx512", "caps the kernel dispatch level (default: the best the CPU supports)"},
    {"PAGODA_TESTDATA=DIR", "test data for the tests (default ../shared)"},
    {"PAGODA_REPACK=off", "keep weights in their stored layout (A/B measurements)"},
    {"PAGODA_GEMM=off", "per-element dot products instead of the GEMM kernels (A/B measurements)"},
    {"PAGODA_TRACE_ROUTER=1", "print every MoE router decision (layer, token, scores, chosen experts) to stderr"},
};

const pg_cli_cmd *pg_cli_find(const char *name) {
    for (int i = 0; i < pg_cli_n_cmds; i++)
        if (!strcmp(pg_cli_cmds[i]->name, name)) return pg_cli_cmds[i];
    return NULL;
}

int pg_cli_parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || (errno && errno != ERANGE)) return -1;
    if (errno == ERANGE || v < lo || v > hi) return -2;
    *out = v;
    return 0;
}

int pg_cli_parse_double(const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v)) return -1;
    if (!(v >= lo && v <= hi)) return -2;
    *out = v;
    return 0;
}

/* Does one of the comma-separated spellings in names equal a? */
static int names_match(const char *names, const char *a) {
    size_t al = strlen(a);
    for (const char *p = names; *p;) {
        while (*p == ' ' || *p == ',') p++;
        const char *q = p;
        while (*q && *q != ',') q++;
        if ((size_t)(q - p) == al && !strncmp(p, a, al)) return 1;
        p = q;
    }
    return 0;
}

static int value_ok(int kind, const char *v) {
    char *end;
    switch (kind) {
    case PG_ARG_INT:
    case PG_ARG_UINT: {
        const char *s = v;
        while (*s == ' ') s++;
        if (kind == PG_ARG_UINT && *s == '-') return 0;
        errno = 0;
        (void)strtoll(v, &end, 10);
        return end != v && !*end;
    }
    case PG_ARG_NUM: {
        double d = strtod(v, &end);
        return end != v && !*end && isfinite(d);
    }
    case PG_ARG_SIZE: {
        double d = strtod(v, &end);
        if (end == v || !isfinite(d)) return 0;
        if (strchr("kKmMgG", *end) && *end) end++;
        if (*end == 'i' || *end == 'I') end++;
        if (*end == 'b' || *end == 'B') end++;
        return !*end;
    }
    default: return 1;
    }
}

static const char *kind_word(int kind) {
    switch (kind) {
    case PG_ARG_INT: return "not an integer";
    case PG_ARG_UINT: return "not a non-negative integer";
    case PG_ARG_SIZE: return "not a size (a number with an optional K, M or G suffix)";
    default: return "not a number";
    }
}

/* "-m, --model FILE" */
static void opt_label(const pg_cli_opt *o, char *buf, size_t n) {
    snprintf(buf, n, "%s%s%s", o->names, o->arg ? " " : "", o->arg ? o->arg : "");
}

int pg_cli_precheck(const pg_cli_cmd *c, int argc, char **argv) {
    int seen[64] = {0};
    int npos = 0;
    if (c->n_opts > 64) abort(); /* table invariant */
    /* help first, wherever it is, so `pagoda run -m x --help` still helps */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) break;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            pg_cli_print_help(stdout, c);
            return fflush(stdout) == 0 ? 0 : 1;
        }
        for (int k = 0; k < c->n_opts; k++)
            if (names_match(c->opts[k].names, a) && (c->opts[k].kind & PG_ARG_KIND) != PG_ARG_NONE) {
                i++; /* skip its value */
                break;
            }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            npos += argc - i - 1;
            break;
        }
        if (a[0] != '-' || !a[1]) {
            npos++;
            continue;
        }
        int k = 0;
        while (k < c->n_opts && !names_match(c->opts[k].names, a)) k++;
        if (k == c->n_opts) {
            fprintf(stderr, "pagoda %s: unknown option '%s' (see pagoda %s --help)\n", c->name, a, c->name);
            return 2;
        }
        const pg_cli_opt *o = &c->opts[k];
        if (seen[k]++ && !o->repeat) {
            fprintf(stderr, "pagoda %s: %s is given more than once\n", c->name, a);
            return 2;
        }
        if ((o->kind & PG_ARG_KIND) == PG_ARG_NONE) continue;
        if (i + 1 >= argc) {
            fprintf(stderr, "pagoda %s: %s needs a value (%s)\n", c->name, a, o->arg ? o->arg : "VALUE");
            return 2;
        }
        const char *v = argv[++i];
        if (!value_ok(o->kind & PG_ARG_KIND, v)) {
            fprintf(stderr, "pagoda %s: %s: '%s' is %s\n", c->name, a, v, kind_word(o->kind & PG_ARG_KIND));
            return 2;
        }
    }
    for (int k = 0; k < c->n_opts; k++)
        if ((c->opts[k].kind & PG_ARG_REQ) && !seen[k]) {
            char label[128];
            opt_label(&c->opts[k], label, sizeof label);
            fprintf(stderr, "pagoda %s: %s is required (usage: pagoda %s %s)\n", c->name, label, c->name, c->synopsis);
            return 2;
        }
    if (npos < c->min_pos) {
        fprintf(stderr, "pagoda %s: %s (usage: pagoda %s %s)\n", c->name,
                c->missing ? c->missing : "missing arguments", c->name, c->synopsis);
        return 2;
    }
    if (c->max_pos >= 0 && npos > c->max_pos) {
        fprintf(stderr, "pagoda %s: too many arguments (usage: pagoda %s %s)\n", c->name, c->name, c->synopsis);
        return 2;
    }
    return -1;
}

/* Prints text from column `indent` (the cursor is there), breaking lines
 * at spaces before column `width`, continuing at `indent`. */
static void wrap(FILE *f, const char *text, int indent, int width) {
    int col = indent;
    const char *p = text;
    while (*p) {
        const char *sp = strchr(p, ' ');
        int w = sp ? (int)(sp - p) : (int)strlen(p);
        if (col > indent && col + 1 + w > width) {
            fprintf(f, "\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', f);
            col++;
        }
        fwrite(p, 1, (size_t)w, f);
        col += w;
        p += w;
        while (*p == ' ') p++;
    }
    fputc('\n', f);
}

void pg_cli_print_help(FILE *f, const pg_cli_cmd *c) {
    fprintf(f, "usage: pagoda %s %s\n", c->name, c->synopsis);
    wrap(f, c->summary, 0, 100);
    if (c->args) fprintf(f, "\n%s\n", c->args);
    if (c->n_opts) fputs("\noptions:\n", f);
    for (int k = 0; k < c->n_opts; k++) {
        const pg_cli_opt *o = &c->opts[k];
        char label[128];
        opt_label(o, label, sizeof label);
        if (strlen(label) > 28) fprintf(f, "  %s\n  %-28s ", label, "");
        else fprintf(f, "  %-28s ", label);
        char text[1024];
        snprintf(text, sizeof text, "%s%s%s%s%s", o->help, o->def ? " (default: " : "", o->def ? o->def : "",
                 o->def ? ")" : "", o->repeat ? " [repeatable]" : "");
        wrap(f, text, 31, 100);
    }
    fputs("  -h, --help                   this text\n", f);
}

void pg_cli_print_usage(FILE *f) {
    fputs("usage: pagoda COMMAND [ARGS]\n"
          "       pagoda help [COMMAND]      usage of pagoda or of one command (also: pagoda COMMAND --help)\n"
          "       pagoda --version           version, git commit and CPU levels\n"
          "       pagoda help --markdown [COMMAND] | --man | --commands   README tables, man page, command names\n"
          "commands:\n",
          f);
    for (int i = 0; i < pg_cli_n_cmds; i++) {
        const pg_cli_cmd *c = pg_cli_cmds[i];
        fprintf(f, "  pagoda %s %s\n      ", c->name, c->synopsis);
        wrap(f, c->summary, 6, 100);
        /* every flag, compactly (details: pagoda help COMMAND), wrapped at ~100 columns */
        int col = 0;
        for (int k = 0; k < c->n_opts; k++) {
            char nm[64];
            size_t o = 0;
            for (const char *q = c->opts[k].names; *q && o + 1 < sizeof nm; q++) {
                if (q[0] == ',' && q[1] == ' ') {
                    nm[o++] = '/';
                    q++;
                } else {
                    nm[o++] = *q;
                }
            }
            nm[o] = 0;
            int w = (int)o + 2;
            if (col == 0) col = fprintf(f, "      flags: %s", nm);
            else if (col + w > 100) col = fprintf(f, ",\n             %s", nm) - 2;
            else col += fprintf(f, ", %s", nm);
        }
        if (col) fputc('\n', f);
    }
    fputs("environment:\n", f);
    for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++) fprintf(f, "  %-32s %s\n", envs[i].name, envs[i].help);
    fputs("Errors are one line on stderr; exit status 0 ok, 1 runtime error, 2 usage error.\n", f);
}

/* Markdown table cells: '|' must be escaped. */
static void md_cell(FILE *f, const char *s, int code) {
    if (code) fputc('`', f);
    for (; *s; s++) {
        if (*s == '|') fputs("\\|", f);
        else fputc(*s, f);
    }
    if (code) fputc('`', f);
}

void pg_cli_print_markdown(FILE *f, const pg_cli_cmd *c) {
    if (!c) {
        fputs("| command | what it does |\n|---|---|\n", f);
        for (int i = 0; i < pg_cli_n_cmds; i++) {
            char syn[512];
            snprintf(syn, sizeof syn, "pagoda %s %s", pg_cli_cmds[i]->name, pg_cli_cmds[i]->synopsis);
            fputs("| ", f);
            md_cell(f, syn, 1);
            fputs(" | ", f);
            md_cell(f, pg_cli_cmds[i]->summary, 0);
            fputs(" |\n", f);
        }
        return;
    }
    fputs("| flag | default | meaning |\n|---|---|---|\n", f);
    for (int k = 0; k < c->n_opts; k++) {
        const pg_cli_opt *o = &c->opts[k];
        char label[128];
        opt_label(o, label, sizeof label);
        fputs("| ", f);
        md_cell(f, label, 1);
        fputs(" | ", f);
        md_cell(f, o->def ? o->def : "", 0);
        fputs(" | ", f);
        md_cell(f, o->help, 0);
        if (o->repeat) fputs(" (repeatable)", f);
        fputs(" |\n", f);
    }
}

/* troff text: a leading '.' or '\'' would be a request, '\' an escape. */
static void man_text(FILE *f, const char *s) {
    if (*s == '.' || *s == '\'') fputs("\\&", f);
    for (; *s; s++) {
        if (*s == '\\') fputs("\\e", f);
        else if (*s == '-') fputs("\\-", f);
        else if (*s == '\n') {
            fputc('\n', f);
            if (s[1] == '.' || s[1] == '\'') fputs("\\&", f);
        } else fputc(*s, f);
    }
}

void pg_cli_print_man(FILE *f) {
    fputs(".TH PAGODA 1 \"\" \"pagoda " PG_VERSION "\" \"User Commands\"\n"
          ".SH NAME\npagoda \\- an LLM inference server for GGUF models, on the CPU\n"
          ".SH SYNOPSIS\n.B pagoda\n.I COMMAND\n[\\fIARGS\\fR]\n.br\n.B pagoda help\n[\\fICOMMAND\\fR]\n.br\n"
          ".B pagoda \\-\\-version\n"
          ".SH DESCRIPTION\npagoda loads GGUF models and serves them over an OpenAI-compatible HTTP API "
          "(\\fBpagoda serve\\fR), runs them from the command line, and converts and inspects model files.\n"
          "Every command prints its usage with \\fB\\-h\\fR or \\fB\\-\\-help\\fR.\n"
          ".SH COMMANDS\n",
          f);
    for (int i = 0; i < pg_cli_n_cmds; i++) {
        const pg_cli_cmd *c = pg_cli_cmds[i];
        fputs(".SS \"pagoda ", f);
        man_text(f, c->name);
        fputs("\"\n.B pagoda ", f);
        man_text(f, c->name);
        fputc(' ', f);
        man_text(f, c->synopsis);
        fputs("\n.PP\n", f);
        man_text(f, c->summary);
        fputc('\n', f);
        if (c->args) {
            fputs(".PP\n", f);
            man_text(f, c->args);
            fputc('\n', f);
        }
        for (int k = 0; k < c->n_opts; k++) {
            const pg_cli_opt *o = &c->opts[k];
            char label[128];
            opt_label(o, label, sizeof label);
            fputs(".TP\n.B ", f);
            man_text(f, label);
            fputc('\n', f);
            man_text(f, o->help);
            if (o->def) {
                fputs(" (default: ", f);
                man_text(f, o->def);
                fputc(')', f);
            }
            if (o->repeat) fputs(" [repeatable]", f);
            fputs(".\n", f);
        }
    }
    fputs(".SH ENVIRONMENT\n", f);
    for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++) {
        fputs(".TP\n.B ", f);
        man_text(f, envs[i].name);
        fputc('\n', f);
        man_text(f, envs[i].help);
        fputs(".\n", f);
    }
    fputs(".SH EXIT STATUS\n0 on success, 1 on a runtime error (a missing file, a bad model), "
          "2 on a usage error. Errors are one line on stderr.\n"
          ".SH SEE ALSO\nREADME.md in the source tree.\n",
          f);
}

const char *pg_cli_version(void) { return PG_VERSION; }

void pg_cli_print_version(FILE *f) {
    fprintf(f, "pagoda %s (commit %s)\n", PG_VERSION, PG_GIT_COMMIT);
#if defined(__x86_64__)
    fputs("compiled CPU levels: scalar avx2 avx512\n", f);
#else
    fputs("compiled CPU levels: scalar\n", f);
#endif
    pg_cpu_level l = pg_cpu_level_get(), m = pg_cpu_level_max();
    fprintf(f, "this CPU: %s (in use: %s%s)\n", pg_cpu_level_name(m), pg_cpu_level_name(l),
            l != m ? ", capped by PAGODA_CPU" : "");
}
