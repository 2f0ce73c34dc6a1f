/* cmd_tokenize.c - `pagoda tokenize -m MODEL [--no-bos] [--special] [--json]
 * (TEXT | --file PATH)`: prints the token ids of TEXT, space separated, or
 * with --json {"tokens":[...],"pieces":[...]}. Only the GGUF metadata is
 * read (pg_gguf_open + pg_vocab_load), so vocabulary-only files work and no
 * weights are touched. Pieces are the tokens' output text with control
 * tokens shown; bytes that are not valid UTF-8 on their own (a byte token
 * that is half a character) appear as U+FFFD so the JSON stays valid.
 * Exit codes: 0 ok, 1 runtime error, 2 usage error (one line on stderr). */
#include "cli/commands.h"

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INPUT ((size_t)256 << 20)

static const pg_cli_opt tok_opts[] = {
    {"-m, --model", "FILE", PG_ARG_STR | PG_ARG_REQ, 0, NULL, "GGUF model or vocabulary-only file (required)"},
    {"-f, --file", "PATH", PG_ARG_STR, 0, NULL, "tokenize this file's text instead of TEXT"},
    {"--no-bos", NULL, PG_ARG_NONE, 0, NULL, "do not add BOS/EOS tokens"},
    {"--special", NULL, PG_ARG_NONE, 0, NULL, "recognise special-token text such as <|im_start|>"},
    {"--json", NULL, PG_ARG_NONE, 0, NULL, "print {\"tokens\":[...],\"pieces\":[...]}"},
};
const pg_cli_cmd pg_cli_tokenize = {
    "tokenize", "-m MODEL [--no-bos] [--special] [--json] (TEXT | --file PATH)",
    "token ids, space separated (or tokens and pieces as JSON); works on vocabulary-only GGUF files",
    "TEXT  the text to tokenize (put -- before a text that starts with '-')",
    tok_opts, PG_CLI_N(tok_opts), 0, 1, NULL};

static int usage_error(const char *msg) {
    fprintf(stderr, "pagoda tokenize: %s (usage: pagoda tokenize -m MODEL [--no-bos] [--special] [--json] "
                    "(TEXT | --file PATH))\n",
            msg);
    return 2;
}

static char *read_all(const char *path, size_t *len, pg_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        pg_error_set(err, PG_EIO, "cannot open %s", path);
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    while (b) {
        if (n == cap) {
            if (cap >= MAX_INPUT) {
                pg_error_set(err, PG_ELIMIT, "%s is larger than %zu bytes", path, MAX_INPUT);
                free(b);
                b = NULL;
                break;
            }
            char *r = realloc(b, cap * 2);
            if (!r) {
                free(b);
                b = NULL;
                break;
            }
            b = r;
            cap *= 2;
        }
        size_t k = fread(b + n, 1, cap - n, f);
        n += k;
        if (k == 0) {
            if (ferror(f)) {
                pg_error_set(err, PG_EIO, "cannot read %s", path);
                free(b);
                b = NULL;
            }
            break;
        }
    }
    if (!b && !err->msg[0]) pg_error_set(err, PG_ENOMEM, "out of memory reading %s", path);
    fclose(f);
    *len = n;
    return b;
}

static int print_json(const pg_vocab *v, const int32_t *ids, int64_t n) {
    json_t *root = json_object(), *toks = json_array(), *pieces = json_array();
    if (!root || !toks || !pieces) return -1;
    json_object_set_new(root, "tokens", toks);
    json_object_set_new(root, "pieces", pieces);
    char raw[512], clean[2048];
    for (int64_t i = 0; i < n; i++) {
        json_array_append_new(toks, json_integer(ids[i]));
        int64_t l = pg_token_to_piece(v, ids[i], raw, sizeof raw, 1);
        char *rp = raw, *heap_raw = NULL, *heap_clean = NULL;
        if (l > (int64_t)sizeof raw) {
            heap_raw = rp = malloc((size_t)l);
            if (!rp) return -1;
            pg_token_to_piece(v, ids[i], rp, (size_t)l, 1);
        }
        int64_t cl = pg_utf8_sanitize(rp, (size_t)l, 1, NULL, 0, NULL);
        char *cp = clean;
        if (cl > (int64_t)sizeof clean) {
            heap_clean = cp = malloc((size_t)cl);
            if (!cp) {
                free(heap_raw);
                return -1;
            }
        }
        pg_utf8_sanitize(rp, (size_t)l, 1, cp, (size_t)cl, NULL);
        json_array_append_new(pieces, json_stringn(cp, (size_t)cl));
        free(heap_raw);
        free(heap_clean);
    }
    int rc = json_dumpf(root, stdout, JSON_COMPACT);
    fputc('\n', stdout);
    json_decref(root);
    return rc;
}

int cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *file = NULL, *text = NULL;
    int add_special = 1, parse_special = 0, as_json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (++i >= argc) return usage_error("-m needs a value");
            model = argv[i];
        } else if (!strcmp(a, "--file") || !strcmp(a, "-f")) {
            if (++i >= argc) return usage_error("--file needs a value");
            file = argv[i];
        } else if (!strcmp(a, "--no-bos")) {
            add_special = 0;
        } else if (!strcmp(a, "--special")) {
            parse_special = 1;
        } else if (!strcmp(a, "--json")) {
            as_json = 1;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: pagoda tokenize -m MODEL [--no-bos] [--special] [--json] (TEXT | --file PATH)\n"
                   "  --no-bos   do not add BOS/EOS tokens\n"
                   "  --special  recognise special token text such as <|im_start|>\n"
                   "  --json     print {\"tokens\":[...],\"pieces\":[...]}\n");
            return 0;
        } else if (!strcmp(a, "--")) {
            if (i + 1 < argc) {
                if (text || i + 2 < argc) return usage_error("more than one TEXT");
                text = argv[++i];
            }
        } else if (a[0] == '-' && a[1] != 0) {
            fprintf(stderr, "pagoda tokenize: unknown option '%s'\n", a);
            return 2;
        } else {
            if (text) return usage_error("more than one TEXT");
            text = a;
        }
    }
    if (!model) return usage_error("missing -m MODEL");
    if (!text == !file) return usage_error(text ? "give TEXT or --file, not both" : "missing TEXT or --file PATH");

    pg_error err = {0};
    char *buf = NULL;
    size_t len;
    if (file) {
        buf = read_all(file, &len, &err);
        if (!buf) {
            fprintf(stderr, "pagoda tokenize: %s\n", err.msg);
            return 1;
        }
    } else {
        len = strlen(text);
    }
    const char *src = file ? buf : text;

    pg_gguf *g = NULL;
    pg_vocab *v = NULL;
    int32_t *ids = NULL;
    int ret = 1;
    if (pg_gguf_open(model, &g, &err) != PG_OK) goto fail;
    if (pg_vocab_load(g, &v, &err) != PG_OK) goto fail;
    pg_gguf_close(g);
    g = NULL;
    int64_t n = pg_tokenize(v, src, len, add_special, parse_special, NULL, 0, &err);
    if (n < 0) goto fail;
    ids = malloc(((size_t)n + 1) * sizeof *ids);
    if (!ids) {
        pg_error_set(&err, PG_ENOMEM, "out of memory");
        goto fail;
    }
    n = pg_tokenize(v, src, len, add_special, parse_special, ids, (size_t)n, &err);
    if (n < 0) goto fail;
    if (as_json) {
        if (print_json(v, ids, n) != 0) {
            pg_error_set(&err, PG_ENOMEM, "cannot build the JSON output");
            goto fail;
        }
    } else {
        for (int64_t i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
        putchar('\n');
    }
    if (fflush(stdout) != 0) {
        pg_error_set(&err, PG_EIO, "cannot write the output");
        goto fail;
    }
    ret = 0;
    goto done;
fail:
    fprintf(stderr, "pagoda tokenize: %s\n", err.msg[0] ? err.msg : "failed");
done:
    free(ids);
    pg_vocab_free(v);
    if (g) pg_gguf_close(g);
    free(buf);
    return ret;
}
