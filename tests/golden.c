/* golden.c - see golden.h. */
#include "golden.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int32_t *ints(json_t *a, int *n) {
    *n = (int)json_array_size(a);
    int32_t *v = malloc(((size_t)*n + 1) * sizeof *v);
    for (int i = 0; i < *n; i++) v[i] = (int32_t)json_integer_value(json_array_get(a, (size_t)i));
    return v;
}

/* Some reference files hold raw bytes that are not UTF-8 in fields the tests
 * never read (greedy_text of random-weight models); jansson refuses such a
 * line whole, so each invalid byte becomes '?' before parsing. Valid UTF-8
 * (the prompts) is kept as it is. */
static void utf8_sanitize(char *s) {
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        int n = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 : (*p >> 4) == 14 ? 3 : (*p >> 3) == 30 ? 4 : 0;
        int ok = n > 0;
        for (int i = 1; ok && i < n; i++) ok = (p[i] & 0xC0) == 0x80;
        if (ok && n == 2) ok = *p >= 0xC2;
        if (ok && n == 3) ok = !(*p == 0xE0 && p[1] < 0xA0) && !(*p == 0xED && p[1] >= 0xA0);
        if (ok && n == 4) ok = *p <= 0xF4 && !(*p == 0xF0 && p[1] < 0x90) && !(*p == 0xF4 && p[1] >= 0x90);
        if (!ok) {
            *p++ = '?';
            continue;
        }
        p += n;
    }
}

int golden_load(const char *dir, golden_case **out) {
    char path[1024];
    snprintf(path, sizeof path, "%s/golden.jsonl", dir);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    golden_case *cs = NULL;
    int n = 0;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t je;
        utf8_sanitize(line);
        json_t *o = json_loads(line, 0, &je);
        if (!o) { /* say so: a skipped line would quietly shrink the test */
            fprintf(stderr, "golden: %s/golden.jsonl line %d: %s\n", dir, n + 1, je.text);
            golden_free(cs, n);
            free(line);
            fclose(f);
            return -1;
        }
        cs = realloc(cs, (size_t)(n + 1) * sizeof *cs);
        golden_case *c = &cs[n++];
        memset(c, 0, sizeof *c);
        c->prompt = strdup(json_string_value(json_object_get(o, "prompt")));
        c->prompt_tokens = ints(json_object_get(o, "prompt_tokens"), &c->n_prompt);
        c->greedy = ints(json_object_get(o, "greedy_tokens"), &c->n_greedy);
        const char *lf = json_string_value(json_object_get(o, "logits_file"));
        if (lf) {
            snprintf(path, sizeof path, "%s/%s", dir, lf);
            FILE *g = fopen(path, "rb");
            if (g) {
                fseek(g, 0, SEEK_END);
                long sz = ftell(g);
                fseek(g, 0, SEEK_SET);
                c->n_logits = (size_t)sz / 4;
                c->logits = malloc((size_t)sz);
                if (fread(c->logits, 4, c->n_logits, g) != c->n_logits) {
                    free(c->logits);
                    c->logits = NULL;
                }
                fclose(g);
            }
        }
        json_decref(o);
    }
    free(line);
    fclose(f);
    *out = cs;
    return n;
}

void golden_free(golden_case *c, int n) {
    for (int i = 0; i < n; i++) {
        free(c[i].prompt);
        free(c[i].prompt_tokens);
        free(c[i].greedy);
        free(c[i].logits);
    }
    free(c);
}

double golden_cosine(const float *a, const float *b, size_t n) {
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return ab / (sqrt(aa) * sqrt(bb) + 1e-30);
}
