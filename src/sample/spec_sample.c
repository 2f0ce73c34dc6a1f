/* spec_sample.c - speculative sampling's accept / resample rule
 * (spec_sample.h). Sums in double, in index order: deterministic. */
#include "sample/spec_sample.h"

/* index of the first token whose cumulative weight exceeds u * total */
static int32_t draw(const float *w, const float *sub, int32_t n, double u) {
    double total = 0;
    for (int32_t i = 0; i < n; i++) {
        double x = (double)w[i] - (sub ? (double)sub[i] : 0.0);
        if (x > 0) total += x;
    }
    if (!(total > 0)) return -1;
    double target = u * total, acc = 0;
    int32_t last = -1;
    for (int32_t i = 0; i < n; i++) {
        double x = (double)w[i] - (sub ? (double)sub[i] : 0.0);
        if (!(x > 0)) continue;
        acc += x;
        last = i;
        if (acc > target) return i;
    }
    return last; /* rounding at the very end */
}

int32_t pg_spec_accept(const float *p, const float *q, int32_t n, int32_t d, double u_accept, double u_resample,
                       int *accepted) {
    const double pd = p[d], qd = q[d];
    if (qd <= 0 || u_accept * qd < pd) { /* u < p(d) / q(d), i.e. accepted with min(1, p/q) */
        *accepted = 1;
        return d;
    }
    *accepted = 0;
    int32_t t = draw(p, q, n, u_resample);
    return t >= 0 ? t : draw(p, 0, n, u_resample);
}
