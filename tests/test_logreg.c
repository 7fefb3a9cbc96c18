/* test_logreg.c — the probe optimizer (host/cli/logreg.c, compiled into this test) against
 * (1) scikit-learn's LogisticRegression solutions stored in tests/data/probe/logreg_*.txt
 *     (separable, non-separable, unit-vector and two-class sets; see PROVENANCE.txt), and
 * (2) an independent damped Newton method written here (explicit Hessian, Cholesky), on
 *     random separable and non-separable sets, with and without a prior weight matrix.
 * Plus: the solution does not depend on the start, the intercepts are centred, tiny C gives
 * the prior, the iteration cap is honoured, and bad input is refused. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../host/cli/logreg.c"
#include "testutil.h"

/* ------------------------------------------------------------------ data sets */

typedef struct dataset {
    int K, d, n;
    double C;
    float *X;
    int *y;
    double *W, *b, loss; /* expected (fixtures only) */
} dataset;

static void ds_free(dataset *s)
{
    free(s->X), free(s->y), free(s->W), free(s->b);
    memset(s, 0, sizeof *s);
}

static void load_fixture(const char *name, dataset *s)
{
    char path[4096];
    tu_data(path, sizeof path, name);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    memset(s, 0, sizeof *s);
    ck_assert_int_eq(fscanf(f, "%d %d %d %lf", &s->K, &s->d, &s->n, &s->C), 4);
    ck_assert(s->K >= 2 && s->K < 100 && s->d >= 1 && s->d < 1000 && s->n >= 1 && s->n < 100000);
    s->X = malloc(sizeof(float) * s->n * s->d);
    s->y = malloc(sizeof(int) * s->n);
    s->W = malloc(sizeof(double) * s->K * s->d);
    s->b = malloc(sizeof(double) * s->K);
    for (int i = 0; i < s->n; i++) {
        ck_assert_int_eq(fscanf(f, "%d", &s->y[i]), 1);
        for (int j = 0; j < s->d; j++) {
            double v;
            ck_assert_int_eq(fscanf(f, "%lf", &v), 1);
            s->X[i * s->d + j] = (float)v;
        }
    }
    for (int j = 0; j < s->K * s->d; j++) ck_assert_int_eq(fscanf(f, "%lf", &s->W[j]), 1);
    for (int k = 0; k < s->K; k++) ck_assert_int_eq(fscanf(f, "%lf", &s->b[k]), 1);
    ck_assert_int_eq(fscanf(f, " loss %lf", &s->loss), 1);
    fclose(f);
}

/* Gaussian blobs around K random centres; spread small = separable. */
static void make_blobs(dataset *s, int K, int d, int n, double C, double spread, uint64_t seed)
{
    memset(s, 0, sizeof *s);
    s->K = K, s->d = d, s->n = n, s->C = C;
    s->X = malloc(sizeof(float) * n * d);
    s->y = malloc(sizeof(int) * n);
    float *cent = malloc(sizeof(float) * K * d), *noise = malloc(sizeof(float) * n * d);
    tu_rand(cent, (size_t)K * d, seed, -2, 2);
    tu_rand(noise, (size_t)n * d, seed + 1, -1, 1);
    for (int i = 0; i < n; i++) {
        s->y[i] = (i * 7 + i / 3) % K;
        for (int j = 0; j < d; j++) s->X[i * d + j] = cent[s->y[i] * d + j] + (float)spread * noise[i * d + j];
    }
    free(cent), free(noise);
}

/* ------------------------------------------------------------------ Newton reference */

/* L and its gradient/Hessian over θ = [W (K×d), b (K)], computed directly in the unscaled
 * convention C·ΣCE + ½‖W − P‖² (+ ½‖b‖² when penb). */
static double ref_eval(const dataset *s, const double *prior, int penb, const double *th, double *g, double *H)
{
    const int K = s->K, d = s->d, np = K * (d + 1);
    double loss = 0, z[64], p[64];
    if (g) memset(g, 0, sizeof(double) * np);
    if (H) memset(H, 0, sizeof(double) * np * np);
    for (int i = 0; i < s->n; i++) {
        double xa[1024];
        for (int j = 0; j < d; j++) xa[j] = s->X[i * d + j];
        xa[d] = 1;
        double mx = -INFINITY, sum = 0;
        for (int k = 0; k < K; k++) {
            z[k] = th[K * d + k];
            for (int j = 0; j < d; j++) z[k] += th[k * d + j] * xa[j];
            mx = fmax(mx, z[k]);
        }
        for (int k = 0; k < K; k++) sum += exp(z[k] - mx);
        loss += s->C * (mx + log(sum) - z[s->y[i]]);
        for (int k = 0; k < K; k++) p[k] = exp(z[k] - mx) / sum;
#define IDX(k, j) ((j) < d ? (k) * d + (j) : K * d + (k))
        for (int k = 0; k < K && g; k++)
            for (int j = 0; j <= d; j++) g[IDX(k, j)] += s->C * (p[k] - (k == s->y[i])) * xa[j];
        for (int k = 0; k < K && H; k++)
            for (int l = 0; l < K; l++) {
                double a = s->C * ((k == l) * p[k] - p[k] * p[l]);
                for (int j = 0; j <= d; j++)
                    for (int m = 0; m <= d; m++) H[IDX(k, j) * np + IDX(l, m)] += a * xa[j] * xa[m];
            }
    }
    for (int j = 0; j < K * d; j++) {
        double w = th[j] - (prior ? prior[j] : 0);
        loss += 0.5 * w * w;
        if (g) g[j] += w;
        if (H) H[j * np + j] += 1;
    }
    for (int k = 0; penb && k < K; k++) {
        double v = th[K * d + k];
        loss += 0.5 * v * v;
        if (g) g[K * d + k] += v;
        if (H) H[(K * d + k) * np + K * d + k] += 1;
    }
    /* the intercepts' common shift is a null direction; the gradient never points along it,
     * so a tiny ridge there leaves the Newton steps inside Σb = 0 */
    for (int k = 0; H && k < K; k++) H[(K * d + k) * np + K * d + k] += 1e-10;
    return loss;
}

/* Solves H x = r in place (H symmetric positive definite, destroyed). */
static void cholesky_solve(double *H, double *r, int n)
{
    for (int j = 0; j < n; j++) {
        double s = H[j * n + j];
        for (int k = 0; k < j; k++) s -= H[j * n + k] * H[j * n + k];
        ck_assert_msg(s > 0, "Hessian not positive definite");
        H[j * n + j] = sqrt(s);
        for (int i = j + 1; i < n; i++) {
            double t = H[i * n + j];
            for (int k = 0; k < j; k++) t -= H[i * n + k] * H[j * n + k];
            H[i * n + j] = t / H[j * n + j];
        }
    }
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < i; k++) r[i] -= H[i * n + k] * r[k];
        r[i] /= H[i * n + i];
    }
    for (int i = n - 1; i >= 0; i--) {
        for (int k = i + 1; k < n; k++) r[i] -= H[k * n + i] * r[k];
        r[i] /= H[i * n + i];
    }
}

/* Damped Newton from zero until the step is negligible. Writes W (K×d), b (K, centred). */
static double ref_newton(const dataset *s, const double *prior, int penb, double *W, double *b)
{
    const int K = s->K, d = s->d, np = K * (d + 1);
    double *th = calloc(np, sizeof *th), *g = malloc(sizeof *g * np), *H = malloc(sizeof *H * np * np);
    double *tn = malloc(sizeof *tn * np);
    double f = ref_eval(s, prior, penb, th, g, H);
    for (int it = 0; it < 200; it++) {
        cholesky_solve(H, g, np); /* g := Newton step */
        double dec = 0, t = 1, fn;
        for (int j = 0; j < np; j++) dec += g[j] * g[j];
        if (sqrt(dec) < 1e-13) break;
        for (;;) {
            for (int j = 0; j < np; j++) tn[j] = th[j] - t * g[j];
            fn = ref_eval(s, prior, penb, tn, NULL, NULL);
            if (fn <= f || t < 1e-12) break;
            t *= 0.5;
        }
        memcpy(th, tn, sizeof *th * np);
        f = ref_eval(s, prior, penb, th, g, H);
    }
    double mean = 0;
    for (int k = 0; k < K; k++) mean += th[K * d + k] / K;
    for (int k = 0; k < K; k++) b[k] = th[K * d + k] - mean;
    memcpy(W, th, sizeof *W * K * d);
    free(th), free(g), free(H), free(tn);
    return f;
}

/* ------------------------------------------------------------------ helpers */

static double max_diff(const double *a, const double *b, int n)
{
    double m = 0;
    for (int i = 0; i < n; i++) m = fmax(m, fabs(a[i] - b[i]));
    return m;
}

static lr_params tight(double C)
{
    lr_params p = lr_default_params();
    p.C = C;
    p.tol = 1e-10;
    p.ftol = 0; /* run to the gradient tolerance or the end of double precision */
    p.max_iter = 20000;
    return p;
}

/* ------------------------------------------------------------------ tests */

static const char *fixtures[] = {"probe/logreg_overlap.txt", "probe/logreg_separable.txt",
                                 "probe/logreg_embeddings.txt", "probe/logreg_binary.txt"};

START_TEST(test_matches_scikit_learn)
{
    dataset s;
    load_fixture(fixtures[_i], &s);
    double *W = malloc(sizeof *W * s.K * s.d), b[64];
    /* the loss of the stored solution, evaluated here, is the one the fixture states */
    double l_sk = lr_loss(s.X, s.y, s.n, s.d, s.K, s.C, NULL, 0, s.W, s.b);
    ck_assert_msg(fabs(l_sk - s.loss) <= 1e-9 * fmax(1, s.loss), "%s: loss %.12g vs stored %.12g", fixtures[_i], l_sk,
                  s.loss);
    lr_params p = tight(s.C);
    lr_result r;
    ck_assert_int_eq(lr_fit(s.X, s.y, s.n, s.d, s.K, &p, W, b, &r), LR_OK);
    ck_assert_msg(r.converged != 0, "%s: not converged after %d iterations", fixtures[_i], r.iterations);
    double dw = max_diff(W, s.W, s.K * s.d), db = max_diff(b, s.b, s.K);
    ck_assert_msg(dw <= 1e-4 && db <= 1e-4, "%s: |W - W_sklearn| %g, |b - b_sklearn| %g", fixtures[_i], dw, db);
    /* ours is at least as low as scikit-learn's, and equal within 1e-6 (relative) */
    ck_assert_msg(r.loss <= s.loss + 1e-9 * fmax(1, s.loss) && s.loss - r.loss <= 1e-6 * fmax(1, s.loss),
                  "%s: loss %.12g vs scikit-learn %.12g", fixtures[_i], r.loss, s.loss);
    double sum = 0;
    for (int k = 0; k < s.K; k++) sum += b[k];
    ck_assert(fabs(sum) < 1e-12 * s.K + 1e-12);
    free(W);
    ds_free(&s);
}
END_TEST

/* random sets: K, d, n, C, spread (small spread = separable), with prior or not, with the
 * intercept penalized or not */
static const struct {
    int K, d, n;
    double C, spread;
    int prior, penb;
} cases[] = {
    {3, 4, 50, 1.0, 1.5, 0, 0},   {3, 4, 30, 50.0, 0.05, 0, 0}, /* separable, weakly regularized */
    {6, 8, 90, 0.3, 1.0, 0, 0},   {2, 5, 25, 4.0, 0.2, 0, 0},   /* two classes, separable */
    {4, 6, 40, 2.0, 1.0, 1, 0},   {5, 3, 12, 1e-3, 0.5, 1, 0},  /* prior; tiny C: W ≈ prior */
    {3, 12, 9, 1000.0, 0.1, 0, 0},                              /* fewer rows than parameters */
    {4, 6, 40, 2.0, 1.0, 1, 1},   {5, 3, 12, 1e-4, 0.5, 1, 1},  /* prior, b penalized: tiny C gives (P, 0) */
    {3, 5, 30, 5.0, 0.8, 0, 1},
};

START_TEST(test_matches_newton_reference)
{
    dataset s;
    make_blobs(&s, cases[_i].K, cases[_i].d, cases[_i].n, cases[_i].C, cases[_i].spread, 1000 + 17 * _i);
    const int K = s.K, d = s.d;
    double *prior = NULL, W[1024], b[64], Wr[1024], br[64];
    if (cases[_i].prior) {
        float pf[1024];
        prior = malloc(sizeof *prior * K * d);
        tu_rand(pf, (size_t)K * d, 77 + _i, -3, 3);
        for (int j = 0; j < K * d; j++) prior[j] = pf[j];
    }
    double lr_ref = ref_newton(&s, prior, cases[_i].penb, Wr, br);
    lr_params p = tight(s.C);
    p.prior = prior;
    p.penalize_intercept = cases[_i].penb;
    lr_result r;
    ck_assert_int_eq(lr_fit(s.X, s.y, s.n, d, K, &p, W, b, &r), LR_OK);
    ck_assert_msg(r.converged != 0, "case %d: not converged (%d iterations)", _i, r.iterations);
    double dw = max_diff(W, Wr, K * d), db = max_diff(b, br, K);
    /* 10x tighter than the 1e-4 asked of the probe; the ill-conditioned case 6 (9 rows,
     * 39 parameters, C = 1000) is what keeps it from being tighter still */
    double wscale = fmax(1, fmax(max_diff(Wr, (double[1024]){0}, K * d), max_diff(br, (double[64]){0}, K)));
    ck_assert_msg(dw <= 1e-5 * wscale && db <= 1e-5 * wscale, "case %d: |W - W_newton| %g, |b - b_newton| %g", _i, dw,
                  db);
    ck_assert_msg(fabs(r.loss - lr_ref) <= 1e-9 * fmax(1, lr_ref), "case %d: loss %.15g vs Newton %.15g", _i, r.loss,
                  lr_ref);
    /* the loss reported equals an independent evaluation at the returned weights */
    double th[2048];
    memcpy(th, W, sizeof *W * K * d);
    memcpy(th + K * d, b, sizeof *b * K);
    ck_assert(fabs(ref_eval(&s, prior, cases[_i].penb, th, NULL, NULL) - r.loss) <= 1e-10 * fmax(1, r.loss));
    if (cases[_i].prior && s.C < 0.01) /* almost no data weight: the prior wins */
        ck_assert_msg(max_diff(W, prior, K * d) < 0.05, "tiny C should stay near the prior");
    if (cases[_i].prior && cases[_i].penb && s.C < 0.01) /* ... and the intercepts stay near 0 */
        ck_assert_msg(max_diff(b, (double[64]){0}, K) < 0.01, "tiny C with a penalized intercept should give b = 0");
    free(prior);
    ds_free(&s);
}
END_TEST

START_TEST(test_start_does_not_matter)
{
    dataset s;
    make_blobs(&s, 4, 6, 48, 3.0, 0.8, 4242);
    double W0[24], b0[4], W1[24], b1[4], iw[24], ib[4];
    float r[28];
    tu_rand(r, 28, 99, -5, 5);
    for (int j = 0; j < 24; j++) iw[j] = r[j];
    for (int k = 0; k < 4; k++) ib[k] = r[24 + k];
    lr_params p = tight(s.C);
    ck_assert_int_eq(lr_fit(s.X, s.y, s.n, s.d, s.K, &p, W0, b0, NULL), LR_OK);
    p.init_W = iw, p.init_b = ib;
    ck_assert_int_eq(lr_fit(s.X, s.y, s.n, s.d, s.K, &p, W1, b1, NULL), LR_OK);
    ck_assert(max_diff(W0, W1, 24) < 1e-6 && max_diff(b0, b1, 4) < 1e-6);
    ds_free(&s);
}
END_TEST

START_TEST(test_defaults_and_cap)
{
    dataset s;
    make_blobs(&s, 5, 10, 100, 10.0, 1.0, 555);
    double W[50], b[5], Wr[50], br[5];
    ref_newton(&s, NULL, 0, Wr, br);
    lr_params p = lr_default_params();
    ck_assert(p.C == 1.0 && p.max_iter == 1000 && p.tol == 1e-6 && p.memory == 10 && p.ftol == 64 * DBL_EPSILON);
    p.C = s.C;
    lr_result r;
    ck_assert_int_eq(lr_fit(s.X, s.y, s.n, s.d, s.K, &p, W, b, &r), LR_OK);
    ck_assert(r.converged == 1 && r.grad_max <= 1e-6);
    ck_assert_msg(max_diff(W, Wr, 50) < 1e-3, "default tolerance too loose: %g", max_diff(W, Wr, 50));
    /* cap: 2 iterations stop early, unconverged, with a higher loss */
    lr_result r2;
    p.max_iter = 2;
    ck_assert_int_eq(lr_fit(s.X, s.y, s.n, s.d, s.K, &p, W, b, &r2), LR_OK);
    ck_assert(r2.iterations == 2 && r2.converged == 0 && r2.loss > r.loss);
    ds_free(&s);
}
END_TEST

START_TEST(test_predict)
{
    double W[6] = {1, 0, 0, 1, -1, -1}, b[3] = {0, 0.5, -0.5}, p[3];
    float x[2] = {2, 1};
    lr_predict(W, b, 2, 3, x, p);
    double z[3] = {2, 1.5, -3.5}, sum = exp(2) + exp(1.5) + exp(-3.5);
    for (int k = 0; k < 3; k++) ck_assert(fabs(p[k] - exp(z[k]) / sum) < 1e-15);
}
END_TEST

START_TEST(test_bad_input)
{
    float X[6] = {1, 2, 3, 4, 5, 6};
    int y[3] = {0, 1, 1};
    double W[4], b[2];
    lr_params p = lr_default_params();
    ck_assert_int_eq(lr_fit(X, y, 3, 2, 1, &p, W, b, NULL), LR_EINVAL); /* one class */
    ck_assert_int_eq(lr_fit(X, y, 0, 2, 2, &p, W, b, NULL), LR_EINVAL);
    y[2] = 2;
    ck_assert_int_eq(lr_fit(X, y, 3, 2, 2, &p, W, b, NULL), LR_EINVAL); /* label out of range */
    y[2] = 1;
    p.C = 0;
    ck_assert_int_eq(lr_fit(X, y, 3, 2, 2, &p, W, b, NULL), LR_EINVAL);
    p.C = NAN;
    ck_assert_int_eq(lr_fit(X, y, 3, 2, 2, &p, W, b, NULL), LR_EINVAL);
    p = lr_default_params();
    X[3] = NAN;
    ck_assert_int_eq(lr_fit(X, y, 3, 2, 2, &p, W, b, NULL), LR_EINVAL);
    X[3] = INFINITY;
    ck_assert_int_eq(lr_fit(X, y, 3, 2, 2, &p, W, b, NULL), LR_EINVAL);
    X[3] = 4;
    ck_assert_int_eq(lr_fit(X, y, 3, 2, 2, &p, W, b, NULL), LR_OK);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("logreg");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_matches_scikit_learn, 0, (int)(sizeof fixtures / sizeof *fixtures));
    tcase_add_loop_test(tc, test_matches_newton_reference, 0, (int)(sizeof cases / sizeof *cases));
    tcase_add_test(tc, test_start_does_not_matter);
    tcase_add_test(tc, test_defaults_and_cap);
    tcase_add_test(tc, test_predict);
    tcase_add_test(tc, test_bad_input);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
