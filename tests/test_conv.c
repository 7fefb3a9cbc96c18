/* test_conv.c — the ResNet kernels (cl/conv.cl and ops_conv2d) against plain-C references in
 * double precision on odd shapes: 1×1 and 3×3 convolutions with stride 1 and 2, padding 0 and
 * 1, channels not a multiple of 4, odd spatial sizes, NCHW and NHWC inputs, im2col split into
 * chunks, accumulation (beta = 1); average pools that drop a border; bias + ReLU; the attention
 * pool's tokens and its single-query attention at head dims 4, 64, 96. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "testutil.h"

static clipcl_context *ctx;
static ops *K;
static ocl *O;
static ops_conv CV;

#define OK(call) ck_assert_msg((call) == CLIPCL_OK, "%s: %s", #call, clipcl_errmsg())

static void setup(void)
{
    ctx = tu_context();
    K = &ctx->k;
    O = &ctx->cl;
    OK(ops_conv_create(K, &CV));
}

static void teardown(void)
{
    ops_conv_free(&CV);
    clipcl_context_free(ctx);
}

static cl_mem dev(const void *host, size_t n)
{
    cl_mem m;
    ck_assert_msg(ocl_alloc(O, (n ? n : 1) * sizeof(float), &m, "test") == CLIPCL_OK, "%s", clipcl_errmsg());
    if (host && n) ck_assert(ocl_upload(O, m, 0, n * sizeof(float), host) == CLIPCL_OK);
    return m;
}

static float *get(cl_mem m, size_t n)
{
    float *h = malloc((n ? n : 1) * sizeof *h);
    ck_assert_msg(ocl_download(O, m, 0, n * sizeof *h, h) == CLIPCL_OK, "%s", clipcl_errmsg());
    return h;
}

static float *rnd(size_t n, uint64_t seed, float lo, float hi)
{
    float *x = malloc((n ? n : 1) * sizeof *x);
    tu_rand(x, n, seed, lo, hi);
    return x;
}

static void check_close(const float *got, const double *want, size_t n, double tol, const char *what)
{
    double dmax = 0, wmax = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(got[i] - want[i]);
        if (!(d <= dmax)) dmax = d;
        if (fabs(want[i]) > wmax) wmax = fabs(want[i]);
    }
    double rel = wmax > 0 ? dmax / wmax : dmax;
    ck_assert_msg(rel <= tol, "%s: max rel err %.3g > %.3g", what, rel, tol);
}

/* ---------------------------------------------------------------- convolution */

typedef struct conv_case {
    int B, Cin, H, W, Cout, K, stride, pad, nchw;
    size_t col_floats;       /* 0: room for everything */
    int accumulate;
} conv_case;

static const conv_case conv_cases[] = {
    {2, 5, 7, 9, 3, 1, 1, 0, 0, 0, 0},      /* 1×1 stride 1 NHWC: a plain GEMM */
    {2, 6, 9, 7, 5, 1, 2, 0, 0, 0, 0},      /* 1×1 stride 2: through im2col, odd sides */
    {3, 3, 11, 5, 7, 3, 1, 1, 0, 0, 0},     /* 3×3 pad 1, 3 channels in, 7 out */
    {2, 3, 13, 13, 6, 3, 2, 1, 1, 0, 0},    /* the stem's first convolution: NCHW, stride 2 */
    {1, 3, 14, 10, 5, 3, 2, 1, 1, 0, 0},    /* even input, stride 2, NCHW */
    {2, 7, 9, 11, 9, 3, 1, 1, 0, 63 * 5, 0}, /* im2col in chunks of 5 rows (K*K*C = 63) */
    {2, 10, 5, 5, 6, 3, 2, 0, 0, 90 * 3, 1}, /* no padding, stride 2, chunks of 3, beta = 1 */
    {1, 5, 6, 6, 4, 1, 1, 0, 1, 0, 1},      /* 1×1 of NCHW input (a transpose through im2col) */
    {3, 13, 1, 1, 2, 3, 1, 1, 0, 0, 0},     /* 1×1 image under a 3×3 kernel */
};

START_TEST(test_conv2d)
{
    const conv_case *c = &conv_cases[_i];
    const int Ho = (c->H + 2 * c->pad - c->K) / c->stride + 1, Wo = (c->W + 2 * c->pad - c->K) / c->stride + 1;
    const size_t nin = (size_t)c->B * c->Cin * c->H * c->W, KC = (size_t)c->K * c->K * c->Cin;
    const size_t nout = (size_t)c->B * Ho * Wo * c->Cout;
    float *x = rnd(nin, 100 + _i, -1, 1), *w = rnd((size_t)c->Cout * KC, 200 + _i, -1, 1);
    float *y0 = rnd(nout, 300 + _i, -1, 1);
    /* PyTorch weight [Cout][Cin][K][K] → the engine's [Cout][K][K][Cin] */
    float *we = malloc((size_t)c->Cout * KC * sizeof *we);
    for (int o = 0; o < c->Cout; o++)
        for (int ci = 0; ci < c->Cin; ci++)
            for (int p = 0; p < c->K * c->K; p++)
                we[((size_t)o * c->K * c->K + p) * c->Cin + ci] = w[((size_t)o * c->Cin + ci) * c->K * c->K + p];
    size_t colf = c->col_floats ? c->col_floats : (size_t)c->B * Ho * Wo * KC;
    cl_mem dx = dev(x, nin), dw = dev(we, (size_t)c->Cout * KC), dy = dev(y0, nout), dc = dev(NULL, colf);
    OK(ops_conv2d(K, &CV, dx, c->nchw, c->B, c->Cin, c->H, c->W, dw, c->Cout, c->K, c->stride, c->pad,
                  c->accumulate ? 1.0f : 0.0f, dy, dc, colf));
    float *y = get(dy, nout);
    double *want = malloc(nout * sizeof *want);
    for (int b = 0; b < c->B; b++)
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++)
                for (int o = 0; o < c->Cout; o++) {
                    size_t r = (((size_t)b * Ho + oy) * Wo + ox) * c->Cout + o;
                    double s = c->accumulate ? y0[r] : 0;
                    for (int ci = 0; ci < c->Cin; ci++)
                        for (int ky = 0; ky < c->K; ky++)
                            for (int kx = 0; kx < c->K; kx++) {
                                int iy = oy * c->stride - c->pad + ky, ix = ox * c->stride - c->pad + kx;
                                if (iy < 0 || iy >= c->H || ix < 0 || ix >= c->W) continue;
                                size_t xi = c->nchw ? (((size_t)b * c->Cin + ci) * c->H + iy) * c->W + ix
                                                    : (((size_t)b * c->H + iy) * c->W + ix) * c->Cin + ci;
                                s += (double)w[(((size_t)o * c->Cin + ci) * c->K + ky) * c->K + kx] * x[xi];
                            }
                    want[r] = s;
                }
    char what[64];
    snprintf(what, sizeof what, "conv case %d", _i);
    check_close(y, want, nout, 1e-5, what);
    free(x), free(w), free(we), free(y0), free(y), free(want);
    ocl_release(O, &dx), ocl_release(O, &dw), ocl_release(O, &dy), ocl_release(O, &dc);
}
END_TEST

START_TEST(test_conv_errors)
{
    cl_mem d = dev(NULL, 64);
    /* a kernel larger than the padded input; an im2col buffer below one row */
    ck_assert_int_eq(ops_conv2d(K, &CV, d, 0, 1, 2, 2, 2, d, 1, 3, 1, 0, 0.0f, d, d, 64), CLIPCL_ERR_INVALID_ARG);
    ck_assert_int_eq(ops_conv2d(K, &CV, d, 0, 1, 8, 3, 3, d, 1, 3, 1, 1, 0.0f, d, d, 71), CLIPCL_ERR_INVALID_ARG);
    ck_assert(strstr(clipcl_errmsg(), "im2col"));
    ocl_release(O, &d);
}
END_TEST

/* ---------------------------------------------------------------- pooling, bias, tokens */

START_TEST(test_avgpool)
{
    const struct { int B, C, H, W, K; } cs[] = {{2, 5, 7, 9, 2}, {1, 3, 9, 9, 3}, {3, 1, 2, 3, 2}, {1, 6, 4, 4, 1}};
    for (size_t i = 0; i < sizeof cs / sizeof *cs; i++) {
        const int B = cs[i].B, C = cs[i].C, H = cs[i].H, W = cs[i].W, k = cs[i].K, Ho = H / k, Wo = W / k;
        size_t nin = (size_t)B * H * W * C, nout = (size_t)B * Ho * Wo * C;
        float *x = rnd(nin, 400 + i, -2, 2);
        cl_mem dx = dev(x, nin), dy = dev(NULL, nout);
        OK(ops_avgpool(K, &CV, dx, dy, B, C, H, W, k));
        float *y = get(dy, nout);
        double *want = malloc(nout * sizeof *want);
        for (int b = 0; b < B; b++)
            for (int oy = 0; oy < Ho; oy++)
                for (int ox = 0; ox < Wo; ox++)
                    for (int c = 0; c < C; c++) {
                        double s = 0;
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) s += x[(((size_t)b * H + oy * k + ky) * W + ox * k + kx) * C + c];
                        want[(((size_t)b * Ho + oy) * Wo + ox) * C + c] = s / (k * k);
                    }
        check_close(y, want, nout, 1e-6, "avgpool");
        free(x), free(y), free(want);
        ocl_release(O, &dx), ocl_release(O, &dy);
    }
}
END_TEST

START_TEST(test_bias_relu)
{
    const int R = 7, Cc = 67;
    float *x = rnd((size_t)R * Cc, 500, -1, 1), *b = rnd(Cc, 501, -0.5f, 0.5f);
    cl_mem dx = dev(x, (size_t)R * Cc), db = dev(b, Cc);
    OK(ops_bias_relu(K, &CV, dx, db, R, Cc));
    float *y = get(dx, (size_t)R * Cc);
    double *want = malloc((size_t)R * Cc * sizeof *want);
    int zeros = 0;
    for (int i = 0; i < R * Cc; i++) {
        double v = (double)x[i] + b[i % Cc];
        want[i] = v > 0 ? v : 0;
        zeros += v <= 0;
    }
    ck_assert(zeros > 0 && zeros < R * Cc);
    check_close(y, want, (size_t)R * Cc, 1e-7, "bias_relu");
    free(x), free(b), free(y), free(want);
    ocl_release(O, &dx), ocl_release(O, &db);
}
END_TEST

START_TEST(test_rn_tokens)
{
    const int B = 2, P = 9, C = 7;
    float *f = rnd((size_t)B * P * C, 600, -3, 3);
    cl_mem df = dev(f, (size_t)B * P * C), dx = dev(NULL, (size_t)B * (P + 1) * C);
    OK(ops_rn_tokens(K, &CV, df, dx, B, P, C));
    float *x = get(dx, (size_t)B * (P + 1) * C);
    double *want = malloc((size_t)B * (P + 1) * C * sizeof *want);
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) {
            double s = 0;
            for (int p = 0; p < P; p++) {
                s += f[((size_t)b * P + p) * C + c];
                want[((size_t)b * (P + 1) + 1 + p) * C + c] = f[((size_t)b * P + p) * C + c];
            }
            want[(size_t)b * (P + 1) * C + c] = s / P;
        }
    check_close(x, want, (size_t)B * (P + 1) * C, 1e-6, "rn_tokens");
    free(f), free(x), free(want);
    ocl_release(O, &df), ocl_release(O, &dx);
}
END_TEST

START_TEST(test_attn_pool)
{
    /* (B, T, C, heads): head dims 4, 64, 96, 5; T 1 .. 197 (more than the work-group) */
    const struct { int B, T, C, H; } cs[] = {{2, 10, 12, 3}, {3, 50, 128, 2}, {1, 197, 96, 1}, {2, 1, 20, 4}, {1, 65, 15, 3}};
    for (size_t i = 0; i < sizeof cs / sizeof *cs; i++) {
        const int B = cs[i].B, T = cs[i].T, C = cs[i].C, H = cs[i].H, D = C / H;
        float *q = rnd((size_t)B * C, 700 + i, -1, 1), *qb = rnd(C, 710 + i, -0.5f, 0.5f);
        float *kv = rnd((size_t)B * T * 2 * C, 720 + i, -1, 1), *kvb = rnd(2 * (size_t)C, 730 + i, -0.5f, 0.5f);
        cl_mem dq = dev(q, (size_t)B * C), dqb = dev(qb, C), dkv = dev(kv, (size_t)B * T * 2 * C), dkvb = dev(kvb, 2 * (size_t)C);
        cl_mem dout = dev(NULL, (size_t)B * C);
        OK(ops_attn_pool(K, &CV, dq, dqb, dkv, dkvb, dout, B, T, C, H));
        float *out = get(dout, (size_t)B * C);
        double *want = malloc((size_t)B * C * sizeof *want), *p = malloc((size_t)T * sizeof *p);
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++) {
                double mx = -INFINITY, sum = 0;
                for (int t = 0; t < T; t++) {
                    double s = 0;
                    for (int d = 0; d < D; d++) {
                        int c = h * D + d;
                        s += ((double)q[(size_t)b * C + c] + qb[c]) * ((double)kv[((size_t)b * T + t) * 2 * C + c] + kvb[c]);
                    }
                    p[t] = s / sqrt((double)D);
                    if (p[t] > mx) mx = p[t];
                }
                for (int t = 0; t < T; t++) sum += (p[t] = exp(p[t] - mx));
                for (int d = 0; d < D; d++) {
                    int c = h * D + d;
                    double acc = 0;
                    for (int t = 0; t < T; t++) acc += p[t] * ((double)kv[((size_t)b * T + t) * 2 * C + C + c] + kvb[C + c]);
                    want[(size_t)b * C + c] = acc / sum;
                }
            }
        char what[64];
        snprintf(what, sizeof what, "attn_pool case %zu", i);
        check_close(out, want, (size_t)B * C, 1e-5, what);
        free(q), free(qb), free(kv), free(kvb), free(out), free(want), free(p);
        ocl_release(O, &dq), ocl_release(O, &dqb), ocl_release(O, &dkv), ocl_release(O, &dkvb), ocl_release(O, &dout);
    }
    /* a sequence beyond local memory is refused, not run */
    cl_mem d = dev(NULL, 16);
    ck_assert_int_eq(ops_attn_pool(K, &CV, d, d, d, d, d, 1, 1 << 24, 64, 1), CLIPCL_ERR_LIMIT);
    ck_assert_int_eq(ops_attn_pool(K, &CV, d, d, d, d, d, 1, 4, 10, 3), CLIPCL_ERR_INVALID_ARG);
    ocl_release(O, &d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conv");
    TCase *tc = tcase_create("conv");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 1800);
    tcase_add_loop_test(tc, test_conv2d, 0, (int)(sizeof conv_cases / sizeof *conv_cases));
    tcase_add_test(tc, test_conv_errors);
    tcase_add_test(tc, test_avgpool);
    tcase_add_test(tc, test_bias_relu);
    tcase_add_test(tc, test_rn_tokens);
    tcase_add_test(tc, test_attn_pool);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
