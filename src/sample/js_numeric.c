/* js_numeric.c - numeric ranges for the JSON Schema compiler: GBNF for the
 * canonical integers and decimals between (possibly exclusive) bounds, used
 * for minimum/maximum/exclusive* keywords. */
#include "sample/js_impl.h"


#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>


/* ------------------------------------------------------ numeric ranges */

/* All digit strings s of length n with a <= s <= b (n digits each, leading
 * zeros allowed at this level). */
static void digits_range(sb_t *o, const char *a, const char *b, int n) {
    if (n == 0) { sb_puts(o, "\"\""); return; }
    if (!strncmp(a, b, (size_t)n)) { sb_puts(o, "\""); sb_putn(o, a, (size_t)n); sb_puts(o, "\""); return; }
    if (a[0] == b[0]) {
        sb_printf(o, "\"%c\" ", a[0]);
        digits_range(o, a + 1, b + 1, n - 1);
        return;
    }
    int a_zeros = 1, b_nines = 1;
    for (int i = 1; i < n; i++) {
        if (a[i] != '0') a_zeros = 0;
        if (b[i] != '9') b_nines = 0;
    }
    char lo_d = a_zeros ? a[0] : (char)(a[0] + 1);
    char hi_d = b_nines ? b[0] : (char)(b[0] - 1);
    int k = 0;
    sb_puts(o, "(");
    char nines[40], zeros[40];
    memset(nines, '9', sizeof nines);
    memset(zeros, '0', sizeof zeros);
    if (!a_zeros) {
        sb_printf(o, "\"%c\" ", a[0]);
        digits_range(o, a + 1, nines, n - 1);
        k++;
    }
    if (lo_d <= hi_d) {
        if (k++) sb_puts(o, " | ");
        if (lo_d == hi_d) sb_printf(o, "\"%c\"", lo_d);
        else sb_printf(o, "[%c-%c]", lo_d, hi_d);
        if (n > 1) sb_printf(o, " [0-9]{%d}", n - 1);
    }
    if (!b_nines) {
        if (k++) sb_puts(o, " | ");
        sb_printf(o, "\"%c\" ", b[0]);
        digits_range(o, zeros, b + 1, n - 1);
    }
    sb_puts(o, ")");
}

/* Canonical non-negative integers in [lo, hi] (hi < 0: unbounded); lo <= hi. */
static void nn_range(sb_t *o, long long lo, long long hi) {
    char a[24], bb[24];
    int la = snprintf(a, sizeof a, "%lld", lo);
    int lb = hi < 0 ? 0 : snprintf(bb, sizeof bb, "%lld", hi);
    int k = 0;
    sb_puts(o, "(");
    int last = hi < 0 ? la : lb;
    for (int L = la; L <= last; L++) {
        char x[24], y[24];
        if (L == la) memcpy(x, a, (size_t)L + 1);
        else { x[0] = '1'; memset(x + 1, '0', (size_t)L - 1); x[L] = 0; }
        if (hi >= 0 && L == lb) memcpy(y, bb, (size_t)L + 1);
        else { memset(y, '9', (size_t)L); y[L] = 0; }
        if (k++) sb_puts(o, " | ");
        digits_range(o, x, y, L);
    }
    if (hi < 0) {
        if (k++) sb_puts(o, " | ");
        sb_printf(o, "[1-9] [0-9]{%d,}", la);
    }
    sb_puts(o, ")");
}


/* Canonical integers in [lo, hi]; has_lo/has_hi say whether bounded.
 * Returns 0 if empty. */
int int_range(sb_t *o, int has_lo, long long lo, int has_hi, long long hi) {
    if (has_lo && has_hi && lo > hi) return 0;
    int k = 0;
    sb_puts(o, "(");
    if (!has_hi || hi >= 0) {
        long long a = (!has_lo || lo < 0) ? 0 : lo;
        sb_puts(o, k++ ? " | " : "");
        nn_range(o, a, has_hi ? hi : -1);
    }
    if (!has_lo || lo < 0) {
        long long a = (has_hi && hi < 0) ? -hi : 1;
        sb_puts(o, k++ ? " | " : "");
        sb_puts(o, "\"-\" ");
        nn_range(o, a, has_lo ? -lo : -1);
    }
    sb_puts(o, ")");
    return 1;
}

/* Numbers (decimal, no exponent) in a range with integer-valued bounds.
 * lo_x / hi_x: exclusive. Returns 0 if empty. */
int num_range(sb_t *o, int has_lo, long long lo, int lo_x, int has_hi, long long hi, int hi_x) {
    /* split x = sign, integer part i, fraction f (f > 0 meaning nonzero fraction).
     * x >= 0 part: i in [lo', hi'] ... done per component. */
    if (has_lo && has_hi && (lo > hi || (lo == hi && (lo_x || hi_x)))) return 0;
    int k = 0;
    sb_puts(o, "(");
    const char *anyfrac = "(\".\" [0-9]+)?";
    const char *zerofrac = "(\".\" \"0\"+)?";
    const char *nzfrac = "\".\" [0-9]* [1-9] [0-9]*";
    /* non-negative side: value v = i + f, v in range */
    if (!has_hi || hi >= 0) {
        /* integral part i ranges with any fraction where i and i+1 both fit:
         * i + f <= hi (f<1) needs i <= hi-1, or i == hi with zero fraction (if !hi_x) */
        long long a = 0;
        int a_from_lo = 0;
        if (has_lo && lo >= 0) { a = lo; a_from_lo = 1; }
        /* i == a with lo exclusive: needs nonzero fraction */
        long long full_lo = (a_from_lo && lo_x) ? a + 1 : a;
        long long full_hi = has_hi ? hi - 1 : -1; /* any fraction allowed */
        if (a_from_lo && lo_x && (!has_hi || a < hi)) {
            sb_puts(o, k++ ? " | " : "");
            sb_printf(o, "\"%lld\" %s", a, nzfrac);
        }
        if (!has_hi || full_lo <= full_hi) {
            sb_puts(o, k++ ? " | " : "");
            nn_range(o, full_lo, full_hi);
            sb_printf(o, " %s", anyfrac);
        }
        if (has_hi && !hi_x && hi >= full_lo) {
            sb_puts(o, k++ ? " | " : "");
            sb_printf(o, "\"%lld\" %s", hi, zerofrac);
        }
    }
    /* negative side: v = -(i + f) with i + f > 0 */
    if (!has_lo || lo < 0) {
        /* m = -v in (0, -lo] (or (0,inf)), m >= -hi (or > -hi if hi_x) when hi < 0 */
        int has_mlo = has_hi && hi < 0;
        long long mlo = has_mlo ? -hi : 0;
        int mlo_x = has_mlo ? hi_x : 1; /* m > 0 strictly when hi >= 0 */
        int has_mhi = has_lo;
        long long mhi = has_lo ? -lo : 0;
        int mhi_x = lo_x;
        sb_t t = {0};
        if (num_range(&t, 1, mlo, mlo_x, has_mhi, mhi, mhi_x)) {
            sb_puts(o, k++ ? " | " : "");
            sb_printf(o, "\"-\" %s", sb_str(&t));
        }
        sb_free(&t);
    }
    sb_puts(o, ")");
    if (!k) return 0;
    return 1;
}

/* Decimal bounds with a fractional part. A bound is I.F with I >= 0 and F
 * its fraction digits without trailing zeros (F may be empty). */
typedef struct {
    long long ip;
    char fr[24];
    int x; /* exclusive */
} decb;

/* fraction part (".digits" or absent) of values >= 0.F (> when x) */
static void frac_ge(sb_t *o, const char *F, int x) {
    size_t k = strlen(F);
    if (!k) { sb_puts(o, x ? "\".\" [0-9]* [1-9] [0-9]*" : "(\".\" [0-9]+)?"); return; }
    sb_puts(o, "\".\" (");
    int n = 0;
    for (size_t j = 0; j < k; j++) {
        if (F[j] == '9') continue;
        sb_printf(o, "%s\"%.*s\" [%c-9] [0-9]*", n++ ? " | " : "", (int)j, F, F[j] + 1);
    }
    sb_printf(o, "%s\"%s\" %s", n++ ? " | " : "", F, x ? "[0-9]* [1-9] [0-9]*" : "[0-9]*");
    sb_puts(o, ")");
}
/* fraction part of values <= 0.F (< when x); returns 0 if none */
static int frac_le(sb_t *o, const char *F, int x) {
    size_t k = strlen(F);
    if (!k) {
        if (x) return 0;
        sb_puts(o, "(\".\" \"0\"+)?");
        return 1;
    }
    sb_puts(o, "(\".\" (");
    int n = 0;
    for (size_t j = 0; j < k; j++) {
        if (F[j] != '0') sb_printf(o, "%s\"%.*s\" [0-%c] [0-9]*", n++ ? " | " : "", (int)j, F, F[j] - 1);
        if (j + 1 < k || !x) sb_printf(o, "%s\"%.*s\" \"0\"*", n++ ? " | " : "", (int)(j + 1), F);
    }
    sb_puts(o, "))?");
    return 1;
}

/* magnitudes m (no sign) with lo <= m <= hi (has_hi 0: unbounded above),
 * lo.ip <= hi.ip. Returns 0 if empty or -1 if not expressible. */
static int mag_range(sb_t *o, const decb *lo, int has_hi, const decb *hi) {
    int n = 0;
    sb_puts(o, "(");
    if (has_hi && lo->ip == hi->ip) {
        if (lo->fr[0] || lo->x) return -1;
        sb_t t = {0};
        if (frac_le(&t, hi->fr, hi->x)) { sb_printf(o, "\"%lld\" %s", lo->ip, sb_str(&t)); n++; }
        sb_free(&t);
        sb_puts(o, ")");
        return n;
    }
    /* i == lo.ip */
    sb_printf(o, "\"%lld\" ", lo->ip);
    frac_ge(o, lo->fr, lo->x);
    n++;
    /* lo.ip < i < hi.ip */
    if (!has_hi || lo->ip + 1 <= hi->ip - 1) {
        sb_puts(o, " | ");
        nn_range(o, lo->ip + 1, has_hi ? hi->ip - 1 : -1);
        sb_puts(o, " (\".\" [0-9]+)?");
    }
    if (has_hi) {
        sb_t t = {0};
        if (frac_le(&t, hi->fr, hi->x)) sb_printf(o, " | \"%lld\" %s", hi->ip, sb_str(&t));
        sb_free(&t);
    }
    sb_puts(o, ")");
    return n;
}

static int to_decb(double v, int x, decb *d) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.15g", v);
    if (strtod(buf, NULL) != v) snprintf(buf, sizeof buf, "%.17g", v);
    if (strchr(buf, 'e') || strchr(buf, 'E') || buf[0] == '-') return 0;
    char *dot = strchr(buf, '.');
    d->x = x;
    d->fr[0] = 0;
    if (dot) {
        *dot = 0;
        snprintf(d->fr, sizeof d->fr, "%s", dot + 1);
        size_t k = strlen(d->fr);
        while (k && d->fr[k - 1] == '0') d->fr[--k] = 0;
    }
    d->ip = atoll(buf);
    return 1;
}

/* numbers (no exponent) in the range; bounds may be fractional.
 * Returns R_OK / R_NEVER, or -2 when not expressible. */
int dec_range(sb_t *o, int has_lo, double lo, int lo_x, int has_hi, double hi, int hi_x) {
    if (has_lo && has_hi && (lo > hi || (lo == hi && (lo_x || hi_x)))) return R_NEVER;
    int n = 0;
    sb_t t = {0};
    sb_puts(&t, "(");
    /* m >= 0 side: [max(lo, 0), hi] */
    if (!has_hi || hi >= 0) {
        decb a, b;
        if (!to_decb(has_lo && lo >= 0 ? lo : 0, has_lo && lo >= 0 ? lo_x : 0, &a)) goto bad;
        if (has_hi && !to_decb(hi, hi_x, &b)) goto bad;
        sb_t u = {0};
        int r = mag_range(&u, &a, has_hi, &b);
        if (r < 0) { sb_free(&u); goto bad; }
        if (r > 0) { sb_printf(&t, "%s%s", n++ ? " | " : "", sb_str(&u)); }
        sb_free(&u);
    }
    /* negative side: m = -x in [max(-hi, 0) (exclusive if hi >= 0), -lo] */
    if (!has_lo || lo < 0) {
        decb a, b;
        int ax = has_hi && hi < 0 ? hi_x : 1;
        if (!to_decb(has_hi && hi < 0 ? -hi : 0, ax, &a)) goto bad;
        if (has_lo && !to_decb(-lo, lo_x, &b)) goto bad;
        sb_t u = {0};
        int r = mag_range(&u, &a, has_lo, &b);
        if (r < 0) { sb_free(&u); goto bad; }
        if (r > 0) sb_printf(&t, "%s\"-\" %s", n++ ? " | " : "", sb_str(&u));
        sb_free(&u);
    }
    sb_puts(&t, ")");
    if (n) sb_puts(o, sb_str(&t));
    sb_free(&t);
    return n ? R_OK : R_NEVER;
bad:
    sb_free(&t);
    return -2;
}
