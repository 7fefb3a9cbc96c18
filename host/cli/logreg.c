/* logreg.c — multinomial logistic regression (L2) by L-BFGS with a strong-Wolfe line search.
 * The problem and the stopping rules are stated in logreg.h. All arithmetic is in double;
 * the parameter vector is θ = [W (K × d, row-major), b (K)]. */
#include "logreg.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

lr_params lr_default_params(void)
{
    lr_params p = {0};
    p.C = 1.0;
    p.max_iter = 1000;
    p.tol = 1e-6;
    p.ftol = 64 * DBL_EPSILON;
    p.memory = 10;
    return p;
}

typedef struct problem {
    const double *X;         /* n × d */
    const int *y;
    int n, d, K;
    double pen;              /* 1 / (C n): weight of ½‖W − P‖² in the scaled objective */
    const double *prior;     /* K × d or NULL */
    int pen_b;               /* penalize the intercepts too */
    double *z;               /* RB × K scratch */
    double *WT;              /* d × K scratch: W transposed */
    int evals;
} problem;

/* Rows are handled four at a time against the transposed weights WT (d × K): the inner loops
 * run over classes with no reduction, so they vectorize, and each weight is read once per four
 * images. */
enum { RB = 4 };

/* z[r * K + k] = b[k] + W[k] · x_r for the m (<= RB) rows at X. */
static void logits_block(const double *X, int m, int d, int K, const double *WT, const double *b, double *z)
{
    for (int r = 0; r < m; r++) memcpy(z + (size_t)r * K, b, (size_t)K * sizeof *z);
    if (m == RB) {
        double *restrict z0 = z, *restrict z1 = z + K, *restrict z2 = z + 2 * (size_t)K,
                         *restrict z3 = z + 3 * (size_t)K;
        const double *x0 = X, *x1 = X + d, *x2 = X + 2 * (size_t)d, *x3 = X + 3 * (size_t)d;
        for (int j = 0; j < d; j++) {
            const double *restrict wt = WT + (size_t)j * K;
            const double a0 = x0[j], a1 = x1[j], a2 = x2[j], a3 = x3[j];
            for (int k = 0; k < K; k++) {
                const double w = wt[k];
                z0[k] += a0 * w, z1[k] += a1 * w, z2[k] += a2 * w, z3[k] += a3 * w;
            }
        }
        return;
    }
    for (int r = 0; r < m; r++) {
        const double *x = X + (size_t)r * d;
        double *restrict zr = z + (size_t)r * K;
        for (int j = 0; j < d; j++) {
            const double *restrict wt = WT + (size_t)j * K;
            const double a = x[j];
            for (int k = 0; k < K; k++) zr[k] += a * wt[k];
        }
    }
}

/* The scaled objective f = L / (C n) = mean CE + ½‖W − P‖² / (C n) and its gradient. */
static double objective(problem *pb, const double *th, double *g)
{
    const int n = pb->n, d = pb->d, K = pb->K;
    const size_t nw = (size_t)K * d;
    const double *W = th, *b = th + nw;
    double *gW = g, *gb = g + nw, *z = pb->z, f = 0;
    memset(g, 0, (nw + (size_t)K) * sizeof *g);
    const double inv_n = 1.0 / n;
    double *WT = pb->WT;
    for (int k = 0; k < K; k++)
        for (int j = 0; j < d; j++) WT[(size_t)j * K + k] = W[(size_t)k * d + j];
    for (int i0 = 0; i0 < n; i0 += RB) {
        const int m = n - i0 < RB ? n - i0 : RB;
        const double *X = pb->X + (size_t)i0 * d;
        logits_block(X, m, d, K, WT, b, z);
        /* z := the residuals (softmax − onehot) / n */
        for (int r = 0; r < m; r++) {
            double *zr = z + (size_t)r * K, mx = -INFINITY, sum = 0;
            const int y = pb->y[i0 + r];
            for (int k = 0; k < K; k++)
                if (zr[k] > mx) mx = zr[k];
            for (int k = 0; k < K; k++) sum += exp(zr[k] - mx);
            const double lse = mx + log(sum);
            f += lse - zr[y];
            for (int k = 0; k < K; k++) zr[k] = (exp(zr[k] - lse) - (k == y)) * inv_n;
        }
        for (int k = 0; k < K; k++) {
            double *restrict gw = gW + (size_t)k * d;
            if (m == RB) {
                const double r0 = z[k], r1 = z[K + k], r2 = z[2 * K + k], r3 = z[3 * K + k];
                const double *restrict x0 = X, *restrict x1 = X + d, *restrict x2 = X + 2 * (size_t)d,
                                       *restrict x3 = X + 3 * (size_t)d;
                for (int j = 0; j < d; j++) gw[j] += r0 * x0[j] + r1 * x1[j] + r2 * x2[j] + r3 * x3[j];
                gb[k] += r0 + r1 + r2 + r3;
            } else {
                for (int r = 0; r < m; r++) {
                    const double rr = z[(size_t)r * K + k], *x = X + (size_t)r * d;
                    for (int j = 0; j < d; j++) gw[j] += rr * x[j];
                    gb[k] += rr;
                }
            }
        }
    }
    f *= inv_n;
    double reg = 0;
    for (size_t j = 0; j < nw; j++) {
        double w = W[j] - (pb->prior ? pb->prior[j] : 0);
        reg += w * w;
        gW[j] += pb->pen * w;
    }
    for (int k = 0; pb->pen_b && k < K; k++) {
        reg += b[k] * b[k];
        gb[k] += pb->pen * b[k];
    }
    pb->evals++;
    return f + 0.5 * pb->pen * reg;
}

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static double max_abs(const double *a, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(a[i]) > m) m = fabs(a[i]);
    return m;
}

/* Minimizer of the cubic through (a, fa, da) and (b, fb, db), kept inside the middle 80% of
 * the interval so that zooming always shrinks it; bisection when the cubic is unusable. */
static double cubic_step(double a, double fa, double da, double b, double fb, double db)
{
    double lo = a < b ? a : b, hi = a < b ? b : a, w = hi - lo;
    double d1 = da + db - 3 * (fa - fb) / (a - b);
    double disc = d1 * d1 - da * db;
    double t = 0.5 * (a + b);
    if (disc >= 0 && isfinite(disc)) {
        double d2 = (b > a ? 1 : -1) * sqrt(disc);
        double den = db - da + 2 * d2;
        if (den != 0) {
            double c = b - (b - a) * (db + d2 - d1) / den;
            if (isfinite(c)) t = c;
        }
    }
    if (t < lo + 0.1 * w) t = lo + 0.1 * w;
    if (t > hi - 0.1 * w) t = hi - 0.1 * w;
    return t;
}

typedef struct ls_point {
    double a, f, dg;
} ls_point;

/* Strong-Wolfe line search along dir from x0 (Nocedal & Wright, algorithms 3.5 and 3.6).
 * On return x, g, *f hold the accepted point. Returns 0 when the Wolfe conditions hold,
 * 1 when only sufficient decrease was reached, -1 when no lower point was found (x, g, f
 * then hold x0's values). */
static int line_search(problem *pb, size_t np, const double *x0, double f0, const double *g0, const double *dir,
                       double a1, double *x, double *g, double *f)
{
    const double c1 = 1e-4, c2 = 0.9, dg0 = dot(g0, dir, np);
    ls_point prev = {0, f0, dg0}, cur, lo, hi;
    double best_a = 0, best_f = f0;
    int zoom = 0;
    cur.a = a1;
    for (int it = 0; it < 30; it++) {
        for (size_t i = 0; i < np; i++) x[i] = x0[i] + cur.a * dir[i];
        cur.f = objective(pb, x, g);
        cur.dg = dot(g, dir, np);
        if (!isfinite(cur.f)) { /* overflow far out: come back */
            hi = cur;
            lo = prev;
            zoom = 1;
            break;
        }
        if (cur.f < best_f && cur.f <= f0 + c1 * cur.a * dg0) best_a = cur.a, best_f = cur.f;
        if (cur.f > f0 + c1 * cur.a * dg0 || (it > 0 && cur.f >= prev.f)) {
            lo = prev, hi = cur, zoom = 1;
            break;
        }
        if (fabs(cur.dg) <= -c2 * dg0) {
            *f = cur.f;
            return 0;
        }
        if (cur.dg >= 0) {
            lo = cur, hi = prev, zoom = 1;
            break;
        }
        prev = cur;
        cur.a *= 4;
    }
    for (int it = 0; zoom && it < 40; it++) {
        if (fabs(hi.a - lo.a) <= 1e-16 * (fabs(lo.a) + 1e-300)) break;
        cur.a = isfinite(hi.f) ? cubic_step(lo.a, lo.f, lo.dg, hi.a, hi.f, hi.dg) : 0.5 * (lo.a + hi.a);
        for (size_t i = 0; i < np; i++) x[i] = x0[i] + cur.a * dir[i];
        cur.f = objective(pb, x, g);
        cur.dg = dot(g, dir, np);
        if (cur.f < best_f && cur.f <= f0 + c1 * cur.a * dg0) best_a = cur.a, best_f = cur.f;
        if (!isfinite(cur.f) || cur.f > f0 + c1 * cur.a * dg0 || cur.f >= lo.f) {
            hi = cur;
        } else {
            if (fabs(cur.dg) <= -c2 * dg0) {
                *f = cur.f;
                return 0;
            }
            if (cur.dg * (hi.a - lo.a) >= 0) hi = lo;
            lo = cur;
        }
    }
    /* no Wolfe point: settle for the best sufficient decrease seen, if any */
    for (size_t i = 0; i < np; i++) x[i] = x0[i] + best_a * dir[i];
    *f = objective(pb, x, g);
    return best_a > 0 ? 1 : -1;
}

int lr_fit(const float *Xf, const int *y, int n, int d, int K, const lr_params *p, double *W, double *b,
           lr_result *res)
{
    if (!Xf || !y || !p || !W || !b || n < 1 || d < 1 || K < 2) return LR_EINVAL;
    if ((double)n * d >= 2147483648.0 || (double)K * d >= 2147483648.0) return LR_EINVAL;
    if (!(p->C > 0) || !isfinite(p->C) || !(p->tol > 0) || !(p->ftol >= 0) || p->max_iter < 1 || p->memory < 1 || p->memory > 100)
        return LR_EINVAL;
    for (int i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= K) return LR_EINVAL;
    const size_t nw = (size_t)K * d, np = nw + (size_t)K, m = (size_t)p->memory;
    for (size_t i = 0; i < (size_t)n * d; i++)
        if (!isfinite(Xf[i])) return LR_EINVAL;

    int rc = LR_ENOMEM;
    problem pb = {.y = y, .n = n, .d = d, .K = K, .pen = 1.0 / (p->C * n), .prior = p->prior,
                  .pen_b = p->penalize_intercept};
    double *X = malloc((size_t)n * d * sizeof *X);
    double *work = malloc((7 * np + 2 * m * np + 2 * m + (size_t)RB * K) * sizeof *work);
    if (!X || !work) goto done;
    for (size_t i = 0; i < (size_t)n * d; i++) X[i] = Xf[i];
    pb.X = X;
    double *x = work, *g = x + np, *xn = g + np, *gn = xn + np, *dir = gn + np, *q = dir + np;
    double *S = q + np, *Y = S + m * np, *rho = Y + m * np, *alpha = rho + m;
    pb.z = alpha + m;
    pb.WT = pb.z + (size_t)RB * K;

    for (size_t j = 0; j < nw; j++) x[j] = p->init_W ? p->init_W[j] : p->prior ? p->prior[j] : 0;
    for (int k = 0; k < K; k++) x[nw + k] = p->init_b ? p->init_b[k] : 0;
    double f = objective(&pb, x, g);
    int iter = 0, conv = 0;
    size_t head = 0, count = 0; /* ring buffer of correction pairs */
    if (!isfinite(f)) {
        rc = LR_EINVAL;
        goto done;
    }
    for (;;) {
        if (max_abs(g, np) <= p->tol) {
            conv = 1;
            break;
        }
        if (iter >= p->max_iter) break;
        /* two-loop recursion: dir = -H g */
        memcpy(q, g, np * sizeof *q);
        for (size_t c = 0; c < count; c++) {
            size_t k = (head + m - 1 - c) % m;
            alpha[k] = rho[k] * dot(S + k * np, q, np);
            for (size_t i = 0; i < np; i++) q[i] -= alpha[k] * Y[k * np + i];
        }
        double gamma = 1;
        if (count) {
            size_t k = (head + m - 1) % m;
            gamma = dot(S + k * np, Y + k * np, np) / dot(Y + k * np, Y + k * np, np);
        }
        for (size_t i = 0; i < np; i++) q[i] *= gamma;
        for (size_t c = count; c-- > 0;) {
            size_t k = (head + m - 1 - c) % m;
            double beta = rho[k] * dot(Y + k * np, q, np);
            for (size_t i = 0; i < np; i++) q[i] += (alpha[k] - beta) * S[k * np + i];
        }
        for (size_t i = 0; i < np; i++) dir[i] = -q[i];
        double a1 = 1;
        if (dot(dir, g, np) >= 0) { /* lost descent (rounding): restart from steepest descent */
            for (size_t i = 0; i < np; i++) dir[i] = -g[i];
            count = 0;
        }
        if (!count) a1 = 1.0 / sqrt(dot(g, g, np)) < 1 ? 1.0 / sqrt(dot(g, g, np)) : 1;
        double fn;
        int ls = line_search(&pb, np, x, f, g, dir, a1, xn, gn, &fn);
        iter++;
        if (ls < 0) {
            if (count) { /* the quasi-Newton model may be stale: retry once from steepest descent */
                count = 0;
                continue;
            }
            conv = 2;
            break;
        }
        double *s = S + head * np, *yv = Y + head * np;
        for (size_t i = 0; i < np; i++) s[i] = xn[i] - x[i], yv[i] = gn[i] - g[i];
        double sy = dot(s, yv, np);
        if (sy > 1e-12 * sqrt(dot(s, s, np) * dot(yv, yv, np)) && sy > 0) {
            rho[head] = 1 / sy;
            head = (head + 1) % m;
            if (count < m) count++;
        }
        double fprev = f;
        memcpy(x, xn, np * sizeof *x);
        memcpy(g, gn, np * sizeof *g);
        f = fn;
        double scale = fabs(fprev) > fabs(f) ? fabs(fprev) : fabs(f);
        if (fprev - f <= p->ftol * (scale > 1 ? scale : 1)) {
            conv = max_abs(g, np) <= p->tol ? 1 : 2;
            break;
        }
    }
    /* the loss ignores a common shift of the intercepts: return the centred one */
    double mean = 0;
    for (int k = 0; k < K; k++) mean += x[nw + k];
    mean /= K;
    for (int k = 0; k < K; k++) b[k] = x[nw + k] - mean;
    memcpy(W, x, nw * sizeof *W);
    if (res) {
        res->iterations = iter;
        res->evaluations = pb.evals;
        res->converged = conv;
        res->grad_max = max_abs(g, np);
        res->loss = lr_loss(Xf, y, n, d, K, p->C, p->prior, p->penalize_intercept, W, b);
    }
    rc = LR_OK;
done:
    free(X);
    free(work);
    return rc;
}

double lr_loss(const float *X, const int *y, int n, int d, int K, double C, const double *prior, int penalize_intercept,
               const double *W, const double *b)
{
    double ce = 0, reg = 0;
    for (int i = 0; i < n; i++) {
        const float *x = X + (size_t)i * d;
        double m = -INFINITY, zy = 0, sum = 0;
        for (int pass = 0; pass < 2; pass++)
            for (int k = 0; k < K; k++) {
                double z = b[k];
                for (int j = 0; j < d; j++) z += W[(size_t)k * d + j] * x[j];
                if (pass == 0) {
                    if (z > m) m = z;
                    if (k == y[i]) zy = z;
                } else {
                    sum += exp(z - m);
                }
            }
        ce += m + log(sum) - zy;
    }
    for (size_t j = 0; j < (size_t)K * d; j++) {
        double w = W[j] - (prior ? prior[j] : 0);
        reg += w * w;
    }
    for (int k = 0; penalize_intercept && k < K; k++) reg += b[k] * b[k];
    return C * ce + 0.5 * reg;
}

void lr_predict(const double *W, const double *b, int d, int K, const float *x, double *prob)
{
    double m = -INFINITY, sum = 0;
    for (int k = 0; k < K; k++) {
        double z = b[k];
        for (int j = 0; j < d; j++) z += W[(size_t)k * d + j] * x[j];
        prob[k] = z;
        if (z > m) m = z;
    }
    for (int k = 0; k < K; k++) sum += (prob[k] = exp(prob[k] - m));
    for (int k = 0; k < K; k++) prob[k] /= sum;
}
