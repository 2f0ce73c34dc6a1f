/* prompt.c - chat prompt tokens with request text kept out of special-token
 * parsing (see prompt.h).
 *
 * How the request's text is told apart from the template's own text:
 *
 *   1. Scan every string (and dict key) in messages and tools for
 *      special-token text: full occurrences of a CONTROL/UNKNOWN token
 *      (pg_vocab_special_at), a trailing proper prefix of one ("...<|en")
 *      and a leading proper suffix ("d|>..."), the last two because two
 *      request texts (or a text and template text) that end up adjacent
 *      could otherwise form a token between them.
 *   2. None found (normal traffic): render, tokenize the whole text with
 *      special parsing. Nothing differs from the naive path.
 *   3. Found: every such piece is replaced in a copy of the values by a
 *      placeholder MARK_OPEN <index> MARK_CLOSE (private-use code points
 *      that survive trim, concatenation and tojson unchanged); render;
 *      put the pieces back, recording the byte span each one occupies in
 *      the prompt; tokenize with pg_tokenize_spans so that no control
 *      token may overlap a recorded span. The pieces are tokenized with
 *      their neighbours, in context, exactly as plain text would be (same
 *      fragments between the template's markers, same merges).
 *
 * So the rendered text is byte for byte the naive rendering, except for
 * templates that inspect a message's characters where a piece sits (e.g.
 * content.split('<|end|>') sees the placeholder, not the token text):
 * those see the text as opaque, which is the safe reading. A piece that
 * a template drops never comes back; one it repeats is restored each time.
 *
 * Memory: one arena per call (the copied values, the piece table), freed
 * before return; the ids and text are malloc'd for the caller. */
#include "server/prompt.h"

#include "base/arena.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Placeholder brackets: candidate pairs of private-use code points; the
 * first pair that occurs in no request string is used. */
static const char *const MARKS[][2] = {
    {"\xEE\x80\x80", "\xEE\x80\x81"},         /* U+E000 U+E001 */
    {"\xF3\xB0\x80\x80", "\xF3\xB0\x80\x81"}, /* U+F0000 U+F0001 */
    {"\xF4\x8F\xBF\xBC", "\xF4\x8F\xBF\xBD"}, /* U+10FFFC U+10FFFD */
};
#define N_MARKS (sizeof MARKS / sizeof MARKS[0])

typedef struct piece {
    const char *p;
    size_t n;
} piece;

typedef struct spec {
    const char *p;
    size_t n;
} spec;

typedef struct ctx {
    const pg_vocab *v;
    pg_arena *a;
    spec *specs; /* CONTROL / UNKNOWN token texts (for the leading-suffix test) */
    size_t n_specs, max_len;
    uint8_t tail_byte[256]; /* bytes at a non-first position of some special token */
    piece *pieces;
    size_t n_pieces, cap_pieces;
    int mark;       /* MARKS index */
    int mark_used[N_MARKS];
    int oom;
} ctx;

/* ------------------------------------------------------------ scanning */

static int load_specs(ctx *c) {
    size_t n;
    const int32_t *ids = pg_vocab_special_ids(c->v, &n); /* a few hundred, not the whole vocabulary */
    c->specs = pg_arena_alloc(c->a, (n + 1) * sizeof *c->specs);
    if (!c->specs) return PG_ENOMEM;
    for (size_t k = 0; k < n; k++) {
        int32_t id = ids[k];
        int t = pg_vocab_token_type(c->v, id);
        size_t l;
        const char *p = pg_vocab_token_text(c->v, id, &l);
        if ((t == PG_TOKTYPE_CONTROL || t == PG_TOKTYPE_UNKNOWN) && p && l) {
            c->specs[c->n_specs].p = p;
            c->specs[c->n_specs++].n = l;
            for (size_t i = 1; i < l; i++) c->tail_byte[(uint8_t)p[i]] = 1;
            if (l > c->max_len) c->max_len = l;
        }
    }
    return PG_OK;
}

/* s[0..k) is a proper suffix of a special token */
static int is_special_suffix(const ctx *c, const char *s, size_t k) {
    if (!c->tail_byte[(uint8_t)s[0]]) return 0;
    for (size_t i = 0; i < c->n_specs; i++) {
        const spec *t = &c->specs[i];
        if (t->n > k && t->p[t->n - k] == s[0] && memcmp(t->p + t->n - k, s, k) == 0) return 1;
    }
    return 0;
}

/* Byte ranges of s to protect, in order: full special-token occurrences,
 * a leading proper suffix, a trailing proper prefix. Returns how many
 * ranges (at most cap; more are merged into the last); *full counts the
 * full occurrences. */
typedef struct range {
    size_t b, e;
} range;

/* Append [b, e) (b never before the previous range's start), merging it
 * with the previous range when they touch or overlap; past cap the last
 * range is widened instead. */
static void push_range(range *r, size_t *nr, size_t cap, size_t b, size_t e) {
    if (*nr && r[*nr - 1].e >= b) {
        if (e > r[*nr - 1].e) r[*nr - 1].e = e;
    } else if (*nr < cap) {
        r[(*nr)++] = (range){b, e};
    } else if (e > r[*nr - 1].e) {
        r[*nr - 1].e = e;
    }
}

static size_t find_ranges(const ctx *c, const char *s, size_t n, range *r, size_t cap, size_t *full) {
    size_t nr = 0;
    *full = 0;
    /* leading proper suffix of a special token (the longest) */
    size_t kmax = c->max_len ? c->max_len - 1 : 0;
    if (kmax > n) kmax = n;
    for (size_t k = kmax; k >= 1; k--)
        if (is_special_suffix(c, s, k)) {
            push_range(r, &nr, cap, 0, k);
            break;
        }
    /* full occurrences, leftmost-longest as the tokenizer finds them; an
     * occurrence starting inside one found overlaps it, so it is covered */
    for (size_t i = 0; i < n;) {
        int32_t id = pg_vocab_special_at(c->v, s + i, n - i);
        if (id < 0) {
            i++;
            continue;
        }
        size_t l;
        pg_vocab_token_text(c->v, id, &l);
        (*full)++;
        push_range(r, &nr, cap, i, i + l);
        i += l;
    }
    /* trailing proper prefix of a special token (the longest) */
    size_t from = nr ? r[nr - 1].e : 0;
    size_t start = c->max_len && n > c->max_len - 1 ? n - (c->max_len - 1) : 0;
    if (start < from) start = from;
    for (size_t j = start; j < n; j++)
        if (pg_vocab_special_prefix(c->v, s + j, n - j)) {
            push_range(r, &nr, cap, j, n);
            break;
        }
    return nr;
}

/* ------------------------------------------------------------ rewriting */

static void note_marks(ctx *c, const char *s, size_t n) {
    for (size_t m = 0; m < N_MARKS; m++)
        if (!c->mark_used[m] && (memmem(s, n, MARKS[m][0], strlen(MARKS[m][0])) ||
                                 memmem(s, n, MARKS[m][1], strlen(MARKS[m][1]))))
            c->mark_used[m] = 1;
}

/* Pass 1 (rw = 0): count what needs protecting and which marks occur.
 * Pass 2 (rw = 1): *out = v with every protected piece replaced by a
 * placeholder (strings copied into the arena only where they change). */
#define MAX_RANGES 64

static int add_piece(ctx *c, const char *p, size_t n) {
    if (c->n_pieces == c->cap_pieces) {
        size_t nc = c->cap_pieces ? c->cap_pieces * 2 : 64;
        piece *np = pg_arena_alloc(c->a, nc * sizeof *np);
        if (!np) return -1;
        if (c->n_pieces) memcpy(np, c->pieces, c->n_pieces * sizeof *np);
        c->pieces = np;
        c->cap_pieces = nc;
    }
    c->pieces[c->n_pieces].p = p;
    c->pieces[c->n_pieces].n = n;
    return (int)(c->n_pieces++);
}

static pg_jv rewrite_str(ctx *c, pg_jv s, int rw, size_t *full, int *any) {
    range r[MAX_RANGES];
    size_t f = 0;
    size_t nr = find_ranges(c, s.u.s.p, s.u.s.n, r, MAX_RANGES, &f);
    *full += f;
    if (!nr) return s;
    *any = 1;
    if (!rw) return s;
    const char *mo = MARKS[c->mark][0], *mc = MARKS[c->mark][1];
    size_t lo = strlen(mo), lc = strlen(mc);
    pg_jv_buf b;
    pg_jv_buf_init(&b, c->a, SIZE_MAX);
    size_t at = 0;
    for (size_t k = 0; k < nr; k++) {
        pg_jv_buf_put(&b, s.u.s.p + at, r[k].b - at);
        int idx = add_piece(c, s.u.s.p + r[k].b, r[k].e - r[k].b);
        if (idx < 0) {
            c->oom = 1;
            return s;
        }
        char num[24];
        int nl = snprintf(num, sizeof num, "%d", idx);
        pg_jv_buf_put(&b, mo, lo);
        pg_jv_buf_put(&b, num, (size_t)nl);
        pg_jv_buf_put(&b, mc, lc);
        at = r[k].e;
    }
    pg_jv_buf_put(&b, s.u.s.p + at, s.u.s.n - at);
    if (b.err) {
        c->oom = 1;
        return s;
    }
    return pg_jv_str_ref(b.p ? b.p : "", b.len);
}

static pg_jv rewrite(ctx *c, pg_jv v, int rw, int depth, size_t *full, int *any) {
    if (depth > 256) return v; /* values were depth-checked when built; stay bounded anyway */
    switch (v.type) {
    case PG_JV_STRING:
        if (!rw) note_marks(c, v.u.s.p, v.u.s.n);
        return rewrite_str(c, v, rw, full, any);
    case PG_JV_LIST: {
        size_t n = pg_jv_list_len(v);
        pg_jv out = rw ? pg_jv_list_new(c->a, n) : v;
        if (out.type != PG_JV_LIST) {
            c->oom = 1;
            return v;
        }
        for (size_t i = 0; i < n; i++) {
            pg_jv x = rewrite(c, pg_jv_list_at(v, i), rw, depth + 1, full, any);
            if (rw && pg_jv_list_push(c->a, out, x)) c->oom = 1;
        }
        return out;
    }
    case PG_JV_DICT: {
        size_t n = pg_jv_dict_len(v);
        pg_jv out = rw ? pg_jv_dict_new(c->a) : v;
        if (out.type != PG_JV_DICT) {
            c->oom = 1;
            return v;
        }
        for (size_t i = 0; i < n; i++) {
            pg_jv k = pg_jv_dict_key_at(v, i), x = pg_jv_dict_val_at(v, i);
            /* keys are request text too (argument objects, schemas) */
            if (k.type == PG_JV_STRING) k = rewrite(c, k, rw, depth + 1, full, any);
            x = rewrite(c, x, rw, depth + 1, full, any);
            if (rw && pg_jv_dict_set(c->a, out, k, x)) c->oom = 1;
        }
        return out;
    }
    default: return v;
    }
}

/* ------------------------------------------------------------ restoring */

typedef struct restored {
    char *text;
    size_t len;
    pg_tok_span *spans;
    size_t n_spans;
} restored;

/* Put the pieces back into the rendered text r[0..n); the spans are where
 * they landed. Unknown placeholder-like bytes are copied as they are. */
static int restore(const ctx *c, const char *r, size_t n, restored *out) {
    const char *mo = MARKS[c->mark][0], *mc = MARKS[c->mark][1];
    size_t lo = strlen(mo), lc = strlen(mc);
    /* a first guess (a piece may be dropped or repeated): grown below */
    size_t cap = n + 1, ns = 0, cap_s = 16;
    for (size_t i = 0; i < c->n_pieces; i++) cap += c->pieces[i].n;
    char *t = malloc(cap);
    pg_tok_span *sp = malloc(cap_s * sizeof *sp);
    if (!t || !sp) {
        free(t);
        free(sp);
        return PG_ENOMEM;
    }
    size_t o = 0, i = 0;
    while (i < n) {
        const char *m = memmem(r + i, n - i, mo, lo);
        size_t stop = m ? (size_t)(m - r) : n;
        size_t idx = 0, j = stop + lo, digits = 0;
        if (m) {
            while (j < n && r[j] >= '0' && r[j] <= '9' && digits < 12) {
                idx = idx * 10 + (size_t)(r[j++] - '0');
                digits++;
            }
        }
        int ok = m && digits && j + lc <= n && !memcmp(r + j, mc, lc) && idx < c->n_pieces;
        size_t copy = ok ? stop - i : (m ? stop + lo - i : n - i);
        size_t add = copy + (ok ? c->pieces[idx].n : 0);
        if (o + add + 1 > cap) {
            size_t nc = (o + add + 1) * 2;
            char *nt = realloc(t, nc);
            if (!nt) {
                free(t);
                free(sp);
                return PG_ENOMEM;
            }
            t = nt;
            cap = nc;
        }
        memcpy(t + o, r + i, copy);
        o += copy;
        if (!ok) {
            i += copy;
            continue;
        }
        if (ns == cap_s) {
            pg_tok_span *nsp = realloc(sp, cap_s * 2 * sizeof *sp);
            if (!nsp) {
                free(t);
                free(sp);
                return PG_ENOMEM;
            }
            sp = nsp;
            cap_s *= 2;
        }
        const piece *p = &c->pieces[idx];
        memcpy(t + o, p->p, p->n);
        if (ns && sp[ns - 1].off + sp[ns - 1].len == o)
            sp[ns - 1].len += p->n; /* adjacent pieces: one span */
        else
            sp[ns++] = (pg_tok_span){o, p->n};
        o += p->n;
        i = j + lc;
    }
    t[o] = 0;
    out->text = t;
    out->len = o;
    out->spans = sp;
    out->n_spans = ns;
    return PG_OK;
}

/* ------------------------------------------------------------ entry */

void pg_prompt_opts_default(pg_prompt_opts *o) {
    memset(o, 0, sizeof *o);
    o->add_generation_prompt = 1;
    o->add_special = -1;
    o->now = time(NULL);
}

void pg_prompt_free(pg_prompt *p) {
    if (!p) return;
    free(p->ids);
    free(p->text);
    memset(p, 0, sizeof *p);
}

static int tokenize(const pg_vocab *v, const restored *r, int add_special, pg_prompt *out, pg_error *err) {
    size_t cap = r->len + 8;
    for (int round = 0; round < 2; round++) {
        int32_t *ids = malloc(cap * sizeof *ids);
        if (!ids) return pg_error_set(err, PG_ENOMEM, "out of memory");
        int64_t k = pg_tokenize_spans(v, r->text, r->len, add_special, r->spans, r->n_spans, ids, cap, err);
        if (k < 0) {
            free(ids);
            return (int)k;
        }
        if ((size_t)k <= cap) {
            out->ids = ids;
            out->n = (size_t)k;
            return PG_OK;
        }
        free(ids);
        cap = (size_t)k;
    }
    return pg_error_set(err, PG_ENOMEM, "tokenizer: inconsistent length");
}

static int render(const pg_tpl *t, const pg_jv *msgs, const pg_jv *tools, const pg_prompt_opts *o, char **text,
                  size_t *len, pg_error *err) {
    pg_chat_args a = {msgs, tools, o->add_generation_prompt, o->bos, o->eos, o->extra, o->n_extra, o->now};
    return pg_chat_render_opt(t, &a, o->render, text, len, err);
}

/* Messages with special text (full occurrences), tools counting as one. */
static size_t count_found(ctx *c, const pg_jv *messages, const pg_jv *tools, int *any) {
    size_t found = 0;
    if (messages->type == PG_JV_LIST)
        for (size_t i = 0; i < pg_jv_list_len(*messages); i++) {
            size_t full = 0;
            rewrite(c, pg_jv_list_at(*messages, i), 0, 0, &full, any);
            found += full > 0;
        }
    else {
        size_t full = 0;
        rewrite(c, *messages, 0, 0, &full, any);
        found += full > 0;
    }
    if (tools) {
        size_t full = 0;
        rewrite(c, *tools, 0, 0, &full, any);
        found += full > 0;
    }
    return found;
}

int pg_prompt_chat_tokens(const pg_vocab *v, const pg_tpl *t, const pg_jv *messages, const pg_jv *tools,
                          const pg_prompt_opts *o, pg_prompt *out, pg_error *err) {
    memset(out, 0, sizeof *out);
    if (!v || !t || !messages || !o) return pg_error_set(err, PG_EINVAL, "pg_prompt_chat_tokens: NULL argument");
    ctx c = {0};
    c.v = v;
    c.a = pg_arena_create(4096);
    if (!c.a) return pg_error_set(err, PG_ENOMEM, "out of memory");
    int rc = load_specs(&c);
    if (rc) {
        pg_arena_destroy(c.a);
        return pg_error_set(err, rc, "out of memory");
    }
    int any = 0;
    size_t found = count_found(&c, messages, tools, &any);
    pg_jv msgs = *messages, tls = tools ? *tools : pg_jv_undefined();
    int track = any && !o->special_in_content;
    if (track) {
        c.mark = -1;
        for (size_t m = 0; m < N_MARKS && c.mark < 0; m++)
            if (!c.mark_used[m]) c.mark = (int)m;
        if (c.mark < 0) {
            pg_arena_destroy(c.a);
            return pg_error_set(err, PG_EINVAL, "message text uses every private-use placeholder the prompt "
                                                "builder could use (U+E000, U+F0000, U+10FFFC)");
        }
        size_t full = 0;
        int any2 = 0;
        msgs = rewrite(&c, *messages, 1, 0, &full, &any2);
        if (tools) tls = rewrite(&c, *tools, 1, 0, &full, &any2);
        if (c.oom) {
            pg_arena_destroy(c.a);
            return pg_error_set(err, PG_ENOMEM, "out of memory");
        }
    }
    char *text = NULL;
    size_t len = 0;
    rc = render(t, &msgs, tools ? &tls : NULL, o, &text, &len, err);
    if (rc) {
        pg_arena_destroy(c.a);
        return rc;
    }
    restored r = {text, len, NULL, 0};
    if (track) {
        rc = restore(&c, text, len, &r);
        free(text);
        if (rc) {
            pg_arena_destroy(c.a);
            return pg_error_set(err, rc, "out of memory");
        }
    }
    pg_arena_destroy(c.a);
    int add_special = o->add_special;
    if (add_special < 0) {
        size_t bl = o->bos ? strlen(o->bos) : 0;
        add_special = !(bl && r.len >= bl && !memcmp(r.text, o->bos, bl));
    }
    rc = tokenize(v, &r, add_special, out, err);
    free(r.spans);
    if (rc) {
        free(r.text);
        memset(out, 0, sizeof *out);
        return rc;
    }
    out->text = r.text;
    out->text_len = r.len;
    out->n_special_found = found;
    return PG_OK;
}
