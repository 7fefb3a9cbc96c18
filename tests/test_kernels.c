/* test_kernels.c — every kernel in cl/ (and the GEMM wrapper) against a plain-C reference in
 * double precision, on random inputs and awkward shapes: widths not a multiple of 4 or 16,
 * one head, head dims 8/12/64, sequence lengths 1, 17, 50, 77, 197, 257, and feature-major
 * layouts whose chunks end inside items and work-groups. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "st.h"
#include "testutil.h"

static clipcl_context *ctx;
static ops *K;
static ocl *O;

static void setup(void)
{
    ctx = tu_context();
    K = &ctx->k;
    O = &ctx->cl;
}

static void teardown(void) { clipcl_context_free(ctx); }

static cl_mem dev(const void *host, size_t bytes)
{
    cl_mem m;
    ck_assert_msg(ocl_alloc(O, bytes, &m, "test") == CLIPCL_OK, "%s", clipcl_errmsg());
    if (host) ck_assert(ocl_upload(O, m, 0, bytes, host) == CLIPCL_OK);
    return m;
}

static float *get(cl_mem m, size_t n)
{
    float *h = malloc(n * sizeof *h);
    ck_assert_msg(ocl_download(O, m, 0, n * sizeof *h, h) == CLIPCL_OK, "%s", clipcl_errmsg());
    return h;
}

static float *rnd(size_t n, uint64_t seed, float lo, float hi)
{
    float *x = malloc((n ? n : 1) * sizeof *x);
    tu_rand(x, n, seed, lo, hi);
    return x;
}

#define OK(call) ck_assert_msg((call) == CLIPCL_OK, "%s: %s", #call, clipcl_errmsg())

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

/* want = LayerNorm(x (+ b)) * g + be, wantx = x (+ b); row-major [R, W] */
static void layernorm_ref(const float *x, const float *b, const float *g, const float *be, int R, int W, double *want,
                          double *wantx)
{
    for (int r = 0; r < R; r++) {
        double mean = 0, var = 0;
        for (int i = 0; i < W; i++) {
            wantx[r * W + i] = (double)x[r * W + i] + (b ? b[i] : 0);
            mean += wantx[r * W + i];
        }
        mean /= W;
        for (int i = 0; i < W; i++) var += pow(wantx[r * W + i] - mean, 2);
        var /= W;
        for (int i = 0; i < W; i++) want[r * W + i] = (wantx[r * W + i] - mean) / sqrt(var + 1e-5) * g[i] + be[i];
    }
}

/* Feature-major layouts to test with: (token tile, tokens per chunk): many small chunks (items
 * and work-groups straddle chunk ends), one chunk, CPU-like chunks, and the device's own. */
static const int fm_cfgs[][2] = {{8, 16}, {8, 0}, {32, 128}, {-1, -1}}; /* 8: the smallest tile */
#define N_FM_CFGS 4

static ops_fm fm_layout(int cfg, int rows)
{
    const int align = K->fm_align, chunk = K->fm_chunk;
    if (fm_cfgs[cfg][0] > 0) {
        K->fm_align = fm_cfgs[cfg][0];
        K->fm_chunk = fm_cfgs[cfg][1];
    }
    ops_fm L = ops_fm_layout(K, rows);
    K->fm_align = align, K->fm_chunk = chunk;
    ck_assert(L.tp >= rows && L.tp % 8 == 0 && L.ch % 8 == 0 && L.ch <= (L.tp > 8 ? L.tp : 8));
    return L;
}

/* row-major [rows, F] → feature-major (padding tokens = pad) and back */
static float *to_fm(const float *tm, size_t F, const ops_fm *L, float pad)
{
    float *fm = malloc((size_t)L->tp * F * sizeof *fm);
    for (size_t t = 0; t < (size_t)L->tp; t++)
        for (size_t f = 0; f < F; f++) fm[ops_fm_at(L, t, f, F)] = t < (size_t)L->rows ? tm[t * F + f] : pad;
    return fm;
}

static float *from_fm(const float *fm, size_t F, const ops_fm *L)
{
    float *tm = malloc(((size_t)L->rows * F + 1) * sizeof *tm);
    for (size_t t = 0; t < (size_t)L->rows; t++)
        for (size_t f = 0; f < F; f++) tm[t * F + f] = fm[ops_fm_at(L, t, f, F)];
    return tm;
}

START_TEST(test_fm_layout)
{
    /* every (token, feature) has its own place inside the tp * F floats */
    for (int cfg = 0; cfg < N_FM_CFGS; cfg++)
        for (int rows = 1; rows < 300; rows += 37) {
            ops_fm L = fm_layout(cfg, rows);
            const size_t F = 5, n = (size_t)L.tp * F;
            char *seen = calloc(n, 1);
            for (size_t t = 0; t < (size_t)L.tp; t++)
                for (size_t f = 0; f < F; f++) {
                    size_t i = ops_fm_at(&L, t, f, F);
                    ck_assert_msg(i < n && !seen[i], "layout %d rows %d: (%zu, %zu) -> %zu", cfg, rows, t, f, i);
                    seen[i] = 1;
                }
            free(seen);
        }
}
END_TEST

START_TEST(test_layernorm_fm)
{
    const int widths[] = {1, 3, 17, 48, 129, 768}, rows_list[] = {1, 5, 19};
    /* the group sizes CPUs (1: a float8 of tokens per work-item; 8: one lane per token) and
       GPUs (16 or 64 lanes) use, on this device */
    const int wgs[] = {1, 8, 128, 512};
    const cl_kernel saved_kern = K->layernorm_fm;
    const int saved_wg = K->fm_wg;
    size_t max_wg = 0;
    ck_assert(clGetDeviceInfo(O->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof max_wg, &max_wg, NULL) == CL_SUCCESS);
    for (size_t gi = 0; gi < sizeof wgs / sizeof *wgs; gi++) {
        if ((size_t)wgs[gi] > max_wg) continue;
        char opts[32];
        snprintf(opts, sizeof opts, "-DNORM_WG=%d", wgs[gi]);
        cl_kernel kern;
        OK(ocl_kernel(O, "fm", opts, "layernorm_fm", &kern));
        K->layernorm_fm = kern, K->fm_wg = wgs[gi];
        for (size_t wi = 0; wi < sizeof widths / sizeof *widths; wi++)
            for (int ri = 0; ri < 3; ri++)
                for (int cfg = 0; cfg < N_FM_CFGS; cfg++) {
                    int W = widths[wi], R = rows_list[ri], with_bias = (cfg + ri) % 2, inplace = (cfg + (int)wi) % 2;
                    ops_fm L = fm_layout(cfg, R);
                    size_t n = (size_t)W * R, nf = (size_t)W * L.tp;
                    float *x = rnd(n, 1 + wi, -3, 5), *b = rnd(W, 2, -1, 1), *g = rnd(W, 3, 0.5f, 1.5f),
                          *be = rnd(W, 4, -0.5f, 0.5f), *junk = rnd(nf, 5, 100, 200), *xf = to_fm(x, W, &L, 1e30f);
                    cl_mem dx = dev(xf, nf * 4), db = dev(b, W * 4), dg = dev(g, W * 4), dbe = dev(be, W * 4);
                    cl_mem dy = inplace ? dx : dev(junk, nf * 4);
                    OK(ops_layernorm_fm(K, dx, with_bias ? db : NULL, dg, dbe, dy, &L, W, 1e-5f));
                    float *yf = get(dy, nf), *y = from_fm(yf, W, &L), *xbf = get(dx, nf), *xb = from_fm(xbf, W, &L);
                    double *want = malloc(n * sizeof *want), *wantx = malloc(n * sizeof *wantx);
                    layernorm_ref(x, with_bias ? b : NULL, g, be, R, W, want, wantx);
                    char what[96];
                    snprintf(what, sizeof what, "layernorm_fm W=%d rows=%d layout %d/%d%s, %d per group", W, R, L.ch,
                             L.tp, inplace ? " in place" : "", wgs[gi]);
                    check_close(y, want, n, 1e-5, what);
                    if (!inplace) check_close(xb, wantx, n, 1e-6, "layernorm_fm bias write-back");
                    for (int t = R; t < L.tp; t++)
                        for (int i = 0; i < W; i++) ck_assert_msg(yf[ops_fm_at(&L, t, i, W)] == 0.0f, "%s: padding", what);
                    free(want), free(wantx), free(y), free(yf), free(xb), free(xbf), free(x), free(xf), free(b), free(g);
                    free(be), free(junk);
                    if (!inplace) ocl_release(O, &dy);
                    ocl_release(O, &dx), ocl_release(O, &db), ocl_release(O, &dg), ocl_release(O, &dbe);
                }
        K->layernorm_fm = saved_kern, K->fm_wg = saved_wg;
        clReleaseKernel(kern);
    }
}
END_TEST

START_TEST(test_transpose)
{
    const int dims[][2] = {{1, 1}, {3, 70}, {65, 9}, {129, 130}};
    for (size_t di = 0; di < sizeof dims / sizeof *dims; di++)
        for (int elem = 2; elem <= 4; elem += 2) {
            int R = dims[di][0], C = dims[di][1];
            size_t n = (size_t)R * C;
            uint32_t *src = malloc(n * 4), *got = malloc(n * 4);
            for (size_t i = 0; i < n; i++) src[i] = (uint32_t)(i * 2654435761u);
            if (elem == 2)
                for (size_t i = 0; i < n; i++) ((uint16_t *)src)[i] = (uint16_t)(i * 40503u + 7);
            cl_mem ds = dev(src, n * elem), dd = dev(NULL, n * elem);
            OK(ops_transpose(K, ds, dd, R, C, elem));
            OK(ocl_download(O, dd, 0, n * elem, got));
            for (int r = 0; r < R; r++)
                for (int c = 0; c < C; c++) {
                    size_t i = (size_t)r * C + c, o = (size_t)c * R + r;
                    int ok = elem == 2 ? ((uint16_t *)got)[o] == ((uint16_t *)src)[i] : got[o] == src[i];
                    ck_assert_msg(ok, "transpose%d %dx%d: element (%d, %d)", elem * 8, R, C, r, c);
                }
            free(src), free(got);
            ocl_release(O, &ds), ocl_release(O, &dd);
        }
}
END_TEST

START_TEST(test_fm_rows)
{
    const int feats[] = {1, 13, 64, 100}, rows_list[] = {1, 9, 50, 130};
    for (size_t fi = 0; fi < sizeof feats / sizeof *feats; fi++)
        for (int ri = 0; ri < 4; ri++) {
            int F = feats[fi], R = rows_list[ri], cfg = (int)(fi + ri) % N_FM_CFGS;
            ops_fm L = fm_layout(cfg, R);
            size_t n = (size_t)F * R, nf = (size_t)F * L.tp;
            float *x = rnd(n, 40 + fi, -3, 3), *b = rnd(F, 41, -1, 1), *junk = rnd(nf, 42, 5, 6);
            cl_mem dx = dev(x, n * 4), df = dev(junk, nf * 4), db = dev(b, F * 4), dr = dev(NULL, n * 4);
            OK(ops_fm_from_rows(K, dx, df, &L, F));
            float *got = get(df, nf);
            for (int t = 0; t < L.tp; t++)
                for (int f = 0; f < F; f++)
                    ck_assert_msg(got[ops_fm_at(&L, t, f, F)] == (t < R ? x[(size_t)t * F + f] : 0.0f),
                                  "fm_from_rows F=%d rows=%d: token %d feature %d", F, R, t, f);
            for (int with_bias = 0; with_bias < 2; with_bias++) {
                OK(ops_fm_to_rows(K, df, &L, with_bias ? db : NULL, dr, F));
                float *back = get(dr, n);
                for (size_t i = 0; i < n; i++)
                    ck_assert_msg(back[i] == x[i] + (with_bias ? b[i % F] : 0.0f), "fm_to_rows F=%d rows=%d: %zu", F,
                                  R, i);
                free(back);
            }
            free(x), free(b), free(junk), free(got);
            ocl_release(O, &dx), ocl_release(O, &df), ocl_release(O, &db), ocl_release(O, &dr);
        }
}
END_TEST

START_TEST(test_bias_act_fm)
{
    const int feats[] = {1, 13, 100, 3072}, rows_list[] = {3, 21};
    for (int act = 0; act < 3; act++)
        for (size_t fi = 0; fi < sizeof feats / sizeof *feats; fi++)
            for (int ri = 0; ri < 2; ri++) {
                int F = feats[fi], R = rows_list[ri], cfg = (act + (int)fi + ri) % N_FM_CFGS;
                ops_fm L = fm_layout(cfg, R);
                size_t n = (size_t)F * R;
                float *h = rnd(n, 20 + fi, -6, 6), *b = rnd(F, 21, -1, 1), *hf = to_fm(h, F, &L, 0.0f);
                cl_mem dh = dev(hf, (size_t)L.tp * F * 4), db = dev(b, F * 4);
                OK(ops_bias_act_fm(K, dh, db, &L, F, act));
                float *yf = get(dh, (size_t)L.tp * F), *y = from_fm(yf, F, &L);
                double *want = malloc(n * sizeof *want);
                for (size_t i = 0; i < n; i++) {
                    double v = (double)h[i] + b[i % F];
                    if (act == OPS_ACT_QUICK_GELU) v = v / (1 + exp(-1.702 * v));
                    if (act == OPS_ACT_GELU) v = 0.5 * v * (1 + erf(v / sqrt(2.0)));
                    want[i] = v;
                }
                char what[96];
                snprintf(what, sizeof what, "bias_act_fm act=%d F=%d rows=%d layout %d/%d", act, F, R, L.ch, L.tp);
                check_close(y, want, n, 2e-6, what);
                free(h), free(b), free(hf), free(yf), free(y), free(want);
                ocl_release(O, &dh), ocl_release(O, &db);
            }
}
END_TEST

START_TEST(test_gather_fm)
{
    int W = 37, R = 29;
    cl_int idx[4] = {28, 0, 17, 17};
    float *src = rnd((size_t)W * R, 30, -1, 1);
    for (int cfg = 0; cfg < N_FM_CFGS; cfg++) {
        ops_fm Ls = fm_layout(cfg, R), Ld = fm_layout((cfg + 1) % N_FM_CFGS, 4);
        float *sf = to_fm(src, W, &Ls, 9.0f), *junk = rnd((size_t)W * Ld.tp, 5, 1, 2);
        cl_mem ds = dev(sf, (size_t)W * Ls.tp * 4), di = dev(idx, sizeof idx), dd = dev(junk, (size_t)W * Ld.tp * 4);
        OK(ops_gather_fm(K, ds, &Ls, di, dd, &Ld, W));
        float *yf = get(dd, (size_t)W * Ld.tp);
        for (int t = 0; t < Ld.tp; t++)
            for (int c = 0; c < W; c++)
                ck_assert_msg(yf[ops_fm_at(&Ld, t, c, W)] == (t < 4 ? src[idx[t] * W + c] : 0.0f),
                              "gather_fm layout %d: token %d feature %d", cfg, t, c);
        free(sf), free(junk), free(yf);
        ocl_release(O, &ds), ocl_release(O, &di), ocl_release(O, &dd);
    }
    free(src);
}
END_TEST

START_TEST(test_layernorm)
{
    const int widths[] = {1, 3, 17, 48, 129, 768}, rows_list[] = {1, 5};
    for (size_t wi = 0; wi < sizeof widths / sizeof *widths; wi++)
        for (int ri = 0; ri < 2; ri++)
            for (int with_bias = 0; with_bias < 2; with_bias++)
                for (int inplace = 0; inplace < 2; inplace++) {
                    int W = widths[wi], R = rows_list[ri];
                    size_t n = (size_t)W * R;
                    float *x = rnd(n, 1 + wi, -3, 5), *b = rnd(W, 2, -1, 1), *g = rnd(W, 3, 0.5f, 1.5f),
                          *be = rnd(W, 4, -0.5f, 0.5f);
                    cl_mem dx = dev(x, n * 4), db = dev(b, W * 4), dg = dev(g, W * 4), dbe = dev(be, W * 4);
                    cl_mem dy = inplace ? dx : dev(NULL, n * 4);
                    OK(ops_layernorm(K, dx, with_bias ? db : NULL, dg, dbe, dy, R, W, 1e-5f));
                    float *y = get(dy, n), *xb = get(dx, n);
                    double *want = malloc(n * sizeof *want), *wantx = malloc(n * sizeof *wantx);
                    layernorm_ref(x, with_bias ? b : NULL, g, be, R, W, want, wantx);
                    check_close(y, want, n, 1e-5, "layernorm");
                    if (!inplace) check_close(xb, wantx, n, 1e-6, "layernorm bias write-back");
                    free(want), free(wantx), free(y), free(xb), free(x), free(b), free(g), free(be);
                    if (!inplace) ocl_release(O, &dy);
                    ocl_release(O, &dx), ocl_release(O, &db), ocl_release(O, &dg), ocl_release(O, &dbe);
                }
}
END_TEST

START_TEST(test_l2norm)
{
    const int widths[] = {1, 7, 24, 130, 512};
    for (size_t wi = 0; wi < sizeof widths / sizeof *widths; wi++) {
        int W = widths[wi], R = 3;
        size_t n = (size_t)W * R;
        float *x = rnd(n, 10 + wi, -2, 2);
        cl_mem dx = dev(x, n * 4), dy = dev(NULL, n * 4);
        OK(ops_l2norm(K, dx, dy, R, W));
        float *y = get(dy, n);
        double *want = malloc(n * sizeof *want);
        for (int r = 0; r < R; r++) {
            double ss = 0;
            for (int i = 0; i < W; i++) ss += (double)x[r * W + i] * x[r * W + i];
            for (int i = 0; i < W; i++) want[r * W + i] = x[r * W + i] / sqrt(ss);
        }
        check_close(y, want, n, 1e-6, "l2norm");
        free(x), free(y), free(want);
        ocl_release(O, &dx), ocl_release(O, &dy);
    }
}
END_TEST

START_TEST(test_add_bias)
{
    const int cols_list[] = {1, 13, 100, 3072};
    for (size_t ci = 0; ci < sizeof cols_list / sizeof *cols_list; ci++) {
        int C = cols_list[ci], R = 3;
        size_t n = (size_t)C * R;
        float *h = rnd(n, 20 + ci, -6, 6), *b = rnd(C, 21, -1, 1);
        cl_mem dh = dev(h, n * 4), db = dev(b, C * 4);
        OK(ops_add_bias(K, dh, db, R, C));
        float *y = get(dh, n);
        double *want = malloc(n * sizeof *want);
        for (size_t i = 0; i < n; i++) want[i] = (double)h[i] + b[i % C];
        check_close(y, want, n, 1e-7, "add_bias");
        free(h), free(b), free(y), free(want);
        ocl_release(O, &dh), ocl_release(O, &db);
    }
}
END_TEST

START_TEST(test_gather_rows)
{
    int W = 37, R = 9;
    float *src = rnd((size_t)W * R, 30, -1, 1), *b = rnd(W, 31, -1, 1);
    cl_int idx[4] = {8, 0, 3, 3};
    cl_mem ds = dev(src, (size_t)W * R * 4), db = dev(b, W * 4), di = dev(idx, sizeof idx), dd = dev(NULL, 4 * W * 4);
    for (int with_bias = 0; with_bias < 2; with_bias++) {
        OK(ops_gather_rows(K, ds, di, with_bias ? db : NULL, dd, 4, W));
        float *y = get(dd, 4 * (size_t)W);
        double want[4 * 37];
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < W; c++) want[r * W + c] = (double)(src[idx[r] * W + c] + (with_bias ? b[c] : 0.0f)); /* float add, exact */
        check_close(y, want, 4 * (size_t)W, 0, "gather_rows");
        free(y);
    }
    free(src), free(b);
    ocl_release(O, &ds), ocl_release(O, &db), ocl_release(O, &di), ocl_release(O, &dd);
}
END_TEST

START_TEST(test_text_embed)
{
    int V = 11, T = 5, W = 19, B = 3;
    float *tok = rnd((size_t)V * W, 40, -1, 1), *pos = rnd((size_t)T * W, 41, -1, 1);
    cl_int ids[15];
    for (int i = 0; i < B * T; i++) ids[i] = (i * 7 + 3) % V;
    cl_mem dt = dev(tok, (size_t)V * W * 4), dp = dev(pos, (size_t)T * W * 4), di = dev(ids, sizeof ids),
           dx = dev(NULL, (size_t)B * T * W * 4);
    OK(ops_text_embed(K, di, dt, 0, dp, dx, B * T, T, W));
    float *x = get(dx, (size_t)B * T * W);
    double *want = malloc((size_t)B * T * W * sizeof *want);
    for (int r = 0; r < B * T; r++)
        for (int c = 0; c < W; c++) want[r * W + c] = (double)tok[ids[r] * W + c] + pos[(r % T) * W + c];
    check_close(x, want, (size_t)B * T * W, 1e-7, "text_embed");
    free(tok), free(pos), free(x), free(want);
    ocl_release(O, &dt), ocl_release(O, &dp), ocl_release(O, &di), ocl_release(O, &dx);
}
END_TEST

/* Bytes to normalized pixels: exactly the table's values, in CHW order; one pixel, odd planes. */
START_TEST(test_rgb8_normalize)
{
    const int cases[][2] = {{1, 1}, {3, 7}, {2, 50177}, {5, 33}}; /* B, plane */
    float *lut = rnd(3 * 256, 60, -3, 3);
    cl_mem dl = dev(lut, 3 * 256 * 4);
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        int B = cases[ci][0], plane = cases[ci][1];
        size_t n = (size_t)B * plane * 3;
        uint8_t *rgb = malloc(n);
        for (size_t i = 0; i < n; i++) rgb[i] = (uint8_t)((i * 2654435761u + ci) >> 7);
        cl_mem dr = dev(rgb, n), dp = dev(NULL, n * 4);
        OK(ops_rgb8_normalize(K, dr, dl, dp, B, plane));
        float *pix = get(dp, n);
        for (int b = 0; b < B; b++)
            for (int p = 0; p < plane; p++)
                for (int c = 0; c < 3; c++) {
                    float want = lut[c * 256 + rgb[((size_t)b * plane + p) * 3 + c]];
                    float got = pix[((size_t)b * 3 + c) * plane + p];
                    ck_assert_msg(got == want, "B %d plane %d: [%d][%d][%d] = %g, want %g", B, plane, b, c, p, got, want);
                }
        free(rgb), free(pix);
        ocl_release(O, &dr), ocl_release(O, &dp);
    }
    free(lut);
    ocl_release(O, &dl);
}
END_TEST

static void attention_ref(const float *qkv, const float *bias, double *out, int B, int T, int H, int D, int causal)
{
    int W = H * D;
    double *s = malloc((size_t)T * sizeof *s);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < T; i++) {
                const float *q = qkv + ((size_t)b * T + i) * 3 * W + h * D;
                int n = causal ? i + 1 : T;
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < n; j++) {
                    const float *k = qkv + ((size_t)b * T + j) * 3 * W + W + h * D;
                    double d = 0;
                    for (int e = 0; e < D; e++) d += ((double)q[e] + bias[h * D + e]) * ((double)k[e] + bias[W + h * D + e]);
                    s[j] = d / sqrt((double)D);
                    if (s[j] > mx) mx = s[j];
                }
                for (int j = 0; j < n; j++) sum += (s[j] = exp(s[j] - mx));
                for (int e = 0; e < D; e++) {
                    double acc = 0;
                    for (int j = 0; j < n; j++)
                        acc += s[j] * ((double)qkv[((size_t)b * T + j) * 3 * W + 2 * W + h * D + e] + bias[2 * W + h * D + e]);
                    out[((size_t)b * T + i) * W + h * D + e] = acc / sum;
                }
            }
    free(s);
}

START_TEST(test_attention)
{
    const int Ts[] = {1, 17, 50, 77, 197, 257};
    const int dims[][2] = {{8, 1}, {12, 3}, {64, 2}, {5, 1}, {128, 1}}; /* head dim, heads */
    /* both variants on every device: local-memory tiles (GPUs) and direct reads (CPUs), the
       latter with the device's queries per work-item, one, and five (blocks ending mid-way),
       in the device's vectors, vectors of 16 (AVX-512) and of 8 (AVX2) */
    const int qbs[] = {0, 1, 5, 0}, vws[] = {0, 16, 8, 0};
    for (int variant = 0; variant < 5; variant++)
    for (size_t di = 0; di < sizeof dims / sizeof *dims; di++) {
        ops_attn a = {0};
        const int local = variant == 4, vw = variant == 3 ? (K->o->info.vector_width >= 16 ? 8 : 16) : vws[variant % 4];
        OK(ops_attn_create_variant(K, dims[di][0], local, local ? 0 : qbs[variant], vw, &a));
        for (size_t ti = 0; ti < sizeof Ts / sizeof *Ts; ti++)
            for (int causal = 0; causal < 2; causal++) {
                int D = dims[di][0], H = dims[di][1], T = Ts[ti], B = 2, W = H * D;
                if (D == 64 && T > 77 && causal) continue; /* text never has long sequences */
                size_t nq = (size_t)B * T * 3 * W, no = (size_t)B * T * W;
                ops_fm L = fm_layout((int)(ti + di + causal) % N_FM_CFGS, B * T);
                float *qkv = rnd(nq, 60 + ti + di, -2, 2), *bias = rnd(3 * W, 61, -0.5f, 0.5f);
                float *qf = to_fm(qkv, 3 * W, &L, 0.0f);
                cl_mem dq = dev(qf, (size_t)L.tp * 3 * W * 4), db = dev(bias, 3 * W * 4),
                       dout = dev(NULL, (size_t)L.tp * W * 4);
                OK(ops_attention(K, &a, dq, db, dout, &L, B, T, H, causal));
                float *gotf = get(dout, (size_t)L.tp * W), *got = from_fm(gotf, W, &L);
                free(qf), free(gotf);
                double *want = malloc(no * sizeof *want);
                attention_ref(qkv, bias, want, B, T, H, D, causal);
                char what[96];
                snprintf(what, sizeof what,
                         "attention (%s, %d queries per item, vectors %d) D=%d H=%d T=%d causal=%d layout %d/%d",
                         local ? "local" : "direct", a.qb, vw, D, H, T, causal, L.ch, L.tp);
                check_close(got, want, no, 2e-6, what);
                free(qkv), free(bias), free(got), free(want);
                ocl_release(O, &dq), ocl_release(O, &db), ocl_release(O, &dout);
            }
        ops_attn_free(&a);
    }
}
END_TEST

START_TEST(test_gemm_nt)
{
    const int shapes[][3] = {{1, 5, 3}, {7, 33, 17}, {33, 1, 64}, {100, 24, 48}, {13, 129, 257}, {300, 45, 70}, {129, 7, 5}};
    const size_t saved_rows = K->gemm_rows;
    /* one call, and the row chunks CPUs use (1 row, 128 rows), at offsets inside larger buffers */
    const size_t rows[] = {0, 1, 128};
    for (size_t ri = 0; ri < sizeof rows / sizeof *rows; ri++)
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
        K->gemm_rows = rows[ri];
        int M = shapes[si][0], N = shapes[si][1], Kd = shapes[si][2];
        size_t oa = ri * 3, ob = ri * 5, oc = ri * 7; /* element offsets */
        float *a = rnd(oa + (size_t)M * Kd, 70 + si, -1, 1), *b = rnd(ob + (size_t)N * Kd, 71, -1, 1),
              *c = rnd(oc + (size_t)M * N, 72, -1, 1);
        cl_mem da = dev(a, (oa + (size_t)M * Kd) * 4), dbm = dev(b, (ob + (size_t)N * Kd) * 4),
               dc = dev(c, (oc + (size_t)M * N) * 4);
        OK(ops_gemm_nt(K, M, N, Kd, 0.5f, da, oa, dbm, ob, 1.0f, dc, oc)); /* accumulate, as into x */
        float *got = get(dc, oc + (size_t)M * N);
        double *want = malloc((oc + (size_t)M * N) * sizeof *want);
        for (size_t i = 0; i < oc; i++) want[i] = c[i]; /* before the offset: untouched */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double s = 0;
                for (int k = 0; k < Kd; k++) s += (double)a[oa + (size_t)i * Kd + k] * b[ob + (size_t)j * Kd + k];
                want[oc + (size_t)i * N + j] = 0.5 * s + c[oc + (size_t)i * N + j];
            }
        char what[96];
        snprintf(what, sizeof what, "gemm_nt %dx%dx%d, %zu rows per call", M, N, Kd, rows[ri]);
        check_close(got, want, oc + (size_t)M * N, 1e-5, what);
        free(a), free(b), free(c), free(got), free(want);
        ocl_release(O, &da), ocl_release(O, &dbm), ocl_release(O, &dc);
    }
    K->gemm_rows = saved_rows;
}
END_TEST

/* The sizes of the kernel for many tokens in the tests (min_tokens local NF TT RF RT KB):
 * gemm_fm_tile at the default, the smallest tiles, and unequal ones with a K tile of 32 (with
 * the default's 16, a K that is not a multiple of them); gemm_fm_reg at 6x16 and an odd
 * number of features by three vectors of tokens. The first two are the forms' defaults. Each
 * set is a program PoCL compiles for seconds, so a test picks them with tile_cfg. */
static const ops_tile tile_cfgs[] = {
    {1, 1, 128, 128, 8, 8, 16}, {1, 0, 6, 16, 6, 8, 1}, {1, 1, 16, 16, 4, 4, 8}, {1, 0, 5, 48, 5, 16, 1},
    {1, 0, 3, 24, 3, 8, 1},     {1, 1, 64, 32, 8, 4, 32},
};
#define N_TILE_CFGS (int)(sizeof tile_cfgs / sizeof *tile_cfgs)

/* Every set with the weights as stored, only the three smallest (both vector widths of the CPU
 * form) with them transposed or as halves: the weight forms are a branch each per kernel, the
 * sizes a loop bound (test_synth_tile runs the GPU form's default with transposed weights, as
 * on NVIDIA, fp32 and fp16). The CPU form's vectors of 16 tokens meet chunks that end 8 tokens
 * into a vector where fm_cfgs aligns to 8. */
static int tile_cfg(int i, int wt, int half) { return wt || half ? 1 + i % 3 : i % N_TILE_CFGS; }

/* Which of ops_gemm_fm's paths a test asks for: 0 CLBlast, 1 cl/gemm.cl's kernel for few
 * tokens, 2 its tiled kernel with tile_cfgs[cfg]; returns the settings to restore. */
static void gemm_path(int path, int cfg, int *small, ops_tile *tile)
{
    *small = K->small_tokens;
    *tile = K->tile;
    K->small_tokens = path == 1 ? 65536 : 0;
    ops_tile t = path == 2 ? tile_cfgs[cfg % N_TILE_CFGS] : *tile;
    if (path != 2) t.min_tokens = 0;
    ops_set_tile(K, &t);
}

static void gemm_path_restore(int small, const ops_tile *tile)
{
    K->small_tokens = small;
    ops_set_tile(K, tile);
}

/* Patch unfold + GEMM + class/position embedding == a stride-P convolution, in the blocks'
 * feature-major layout (several token alignments and chunkings, each GEMM path). */
START_TEST(test_patch_embed)
{
    const int cases[][3] = {{42, 10, 13}, {40, 14, 8}, {16, 16, 5}, {17, 4, 6}, {64, 32, 3}}; /* S, P, W */
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++)
        for (int cfg = 0; cfg < N_FM_CFGS; cfg++) {
            int S = cases[ci][0], P = cases[ci][1], W = cases[ci][2], B = 1 + (int)(ci + cfg) % 3, G = S / P;
            int T = G * G + 1, Kd = 3 * P * P;
            ops_fm L = fm_layout(cfg, B * T);
            float *pix = rnd((size_t)B * 3 * S * S, 50 + ci, -2, 2), *w = rnd((size_t)W * Kd, 51, -0.1f, 0.1f),
                  *cls = rnd(W, 52, -1, 1), *pos = rnd((size_t)T * W, 53, -1, 1), *wt = malloc((size_t)W * Kd * 4);
            for (int o = 0; o < W; o++)
                for (int i = 0; i < Kd; i++) wt[(size_t)i * W + o] = w[(size_t)o * Kd + i];
            float *junk = rnd((size_t)Kd * L.tp, 54, 100, 200);
            cl_mem dpix = dev(pix, (size_t)B * 3 * S * S * 4), dw = dev(K->w_t ? wt : w, (size_t)W * Kd * 4),
                   dc = dev(cls, W * 4), dpos = dev(pos, (size_t)T * W * 4), dpat = dev(junk, (size_t)Kd * L.tp * 4),
                   dx = dev(NULL, (size_t)W * L.tp * 4);
            int saved_small;
            ops_tile saved_tile;
            const int path = (int)(ci + cfg) % 3; /* CLBlast, the kernel for few tokens, the tiled one */
            gemm_path(path, (int)ci, &saved_small, &saved_tile);
            OK(ops_patch_unfold_fm(K, dpix, dpat, &L, 3, S, P));
            OK(ops_gemm_fm(K, &L, W, Kd, dpat, dw, 0, 0.0f, dx));
            OK(ops_vit_embed_fm(K, dx, dc, dpos, &L, T, W));
            gemm_path_restore(saved_small, &saved_tile);
            float *x = get(dx, (size_t)W * L.tp), *pat = get(dpat, (size_t)Kd * L.tp);
            double *want = malloc((size_t)B * T * W * sizeof *want);
            float *got = malloc((size_t)B * T * W * sizeof *got);
            for (int b = 0; b < B; b++)
                for (int t = 0; t < T; t++)
                    for (int o = 0; o < W; o++) {
                        double v = 0;
                        if (t == 0) {
                            v = cls[o];
                        } else {
                            int gy = (t - 1) / G, gx = (t - 1) % G;
                            for (int c = 0; c < 3; c++)
                                for (int ky = 0; ky < P; ky++)
                                    for (int kx = 0; kx < P; kx++)
                                        v += (double)w[((o * 3 + c) * P + ky) * P + kx] *
                                             pix[(((size_t)b * 3 + c) * S + gy * P + ky) * S + gx * P + kx];
                        }
                        const size_t r = (size_t)b * T + t;
                        want[r * W + o] = v + pos[t * W + o];
                        got[r * W + o] = x[ops_fm_at(&L, r, o, W)];
                    }
            check_close(got, want, (size_t)B * T * W, 1e-5, "patch embedding");
            /* the class tokens' and the padding's patch columns are zeros (the padding's
               embeddings are whatever the GEMM leaves there: nothing reads them) */
            for (int t = 0; t < L.tp; t++)
                for (int i = 0; i < Kd; i++)
                    if (t >= B * T || t % T == 0)
                        ck_assert_msg(pat[ops_fm_at(&L, t, i, Kd)] == 0.0f, "patch column of token %d", t);
            free(pix), free(w), free(wt), free(cls), free(pos), free(junk), free(x), free(pat), free(want), free(got);
            ocl_release(O, &dpix), ocl_release(O, &dw), ocl_release(O, &dc), ocl_release(O, &dpos);
            ocl_release(O, &dpat), ocl_release(O, &dx);
        }
}
END_TEST

START_TEST(test_gemm_fm)
{
    /* K > 1024 splits cl/gemm.cl's K into parts (2 and 4 here) */
    const int shapes[][3] = {{1, 5, 3},     {7, 33, 17},  {33, 1, 64},     {100, 24, 48},
                             {13, 129, 257}, {300, 45, 70}, {50, 40, 1100}, {9, 20, 2600}};
    const int saved_wt = K->w_t;
    /* path 0: CLBlast; 1: cl/gemm.cl for few tokens wherever one chunk allows; 2: its tiled
       kernel (several tile sizes); each with fp16 weights too, except CLBlast. Both weight
       forms: as stored (CLBlast's kernel 1) and transposed. */
    for (int path = 0; path < 5; path++)
    for (int wt = 0; wt < 2; wt++)
    for (int cfg = 0; cfg < N_FM_CFGS; cfg++)
        for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
            int M = shapes[si][0], N = shapes[si][1], Kd = shapes[si][2];
            float beta = (float)((si + cfg) % 2);
            ops_fm L = fm_layout(cfg, M);
            const int half = path >= 3, which = path >= 3 ? path - 2 : path;
            int saved_small;
            ops_tile saved_tile;
            gemm_path(which, tile_cfg((int)si + cfg, wt, half), &saved_small, &saved_tile);
            const int ours = ops_gemm_small(K, &L) ? 1 : ops_gemm_tile(K, &L) ? 2 : 0;
            if (half && !ours) { /* fp16 weights only reach clipcl's kernels */
                gemm_path_restore(saved_small, &saved_tile);
                continue;
            }
            ck_assert_int_eq(ours, which == 1 && L.tp > L.ch ? 0 : which); /* few tokens: one chunk only */
            size_t nc = (size_t)L.tp * N, nw = (size_t)N * Kd;
            float *a = rnd((size_t)M * Kd, 80 + si, -1, 1), *w = rnd(nw, 81, -1, 1),
                  *c0 = rnd((size_t)M * N, 82, -1, 1), *af = to_fm(a, Kd, &L, 5.0f), *cf0 = to_fm(c0, N, &L, 55.0f);
            uint16_t *wh = malloc(nw * sizeof *wh);
            for (size_t i = 0; i < nw; i++) {
                wh[i] = st_f32_to_f16(w[i]);
                if (half) w[i] = st_f16_to_f32(wh[i]); /* the reference uses what the device reads */
            }
            float *wtr = malloc(nw * sizeof *wtr);
            uint16_t *whtr = malloc(nw * sizeof *whtr);
            for (int j = 0; j < N; j++)
                for (int q = 0; q < Kd; q++) {
                    wtr[(size_t)q * N + j] = w[(size_t)j * Kd + q];
                    whtr[(size_t)q * N + j] = wh[(size_t)j * Kd + q];
                }
            const void *wsrc = half ? (const void *)(wt ? whtr : wh) : (const void *)(wt ? wtr : w);
            cl_mem da = dev(af, (size_t)L.tp * Kd * 4), dw = dev(wsrc, nw * (half ? 2 : 4)), dc = dev(cf0, nc * 4);
            K->w_t = wt;
            const ops_tile used = K->tile;
            clipcl_status st = ops_gemm_fm(K, &L, N, Kd, da, dw, half, beta, dc);
            K->w_t = saved_wt;
            gemm_path_restore(saved_small, &saved_tile);
            ck_assert_msg(st == CLIPCL_OK, "ops_gemm_fm: %s", clipcl_errmsg());
            float *cf = get(dc, nc), *got = from_fm(cf, N, &L);
            double *want = malloc((size_t)M * N * sizeof *want);
            for (int t = 0; t < M; t++)
                for (int j = 0; j < N; j++) {
                    double sum = 0;
                    for (int k = 0; k < Kd; k++) sum += (double)a[(size_t)t * Kd + k] * w[(size_t)j * Kd + k];
                    want[(size_t)t * N + j] = sum + beta * c0[(size_t)t * N + j];
                }
            char what[160], tiles[48] = "";
            if (ours == 2 && used.local)
                snprintf(tiles, sizeof tiles, " %dx%d/%dx%d/%d", used.nf, used.tt, used.rf, used.rt, used.kb);
            else if (ours == 2)
                snprintf(tiles, sizeof tiles, " registers %dx%d", used.nf, used.tt);
            snprintf(what, sizeof what, "gemm_fm %dx%dx%d beta=%g, layout %d/%d, weight %s%s, %s%s", M, N, Kd, beta,
                     L.ch, L.tp, wt ? "transposed" : "as stored", half ? " fp16" : "",
                     ours == 1 ? "gemm_fm_small" : ours == 2 ? "many tokens" : "CLBlast", tiles);
            check_close(got, want, (size_t)M * N, 1e-5, what);
            free(a), free(w), free(wtr), free(wh), free(whtr), free(c0), free(af), free(cf0), free(cf), free(got),
                free(want);
            ocl_release(O, &da), ocl_release(O, &dw), ocl_release(O, &dc);
        }
}
END_TEST

/* C = act(A·Wᵀ + bias) in one call: through cl/gemm.cl's epilogue (also after a split K) and
 * through CLBlast plus bias_act_fm. */
START_TEST(test_gemm_fm_act)
{
    const int shapes[][3] = {{1, 5, 3}, {50, 37, 70}, {19, 24, 1100}, {130, 20, 9}}; /* tokens, N, K */
    for (int ours = 0; ours < 3; ours++)
        for (int act = 0; act < 3; act++)
            for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
                int M = shapes[si][0], N = shapes[si][1], Kd = shapes[si][2];
                ops_fm L = fm_layout(ours == 2 ? 2 : 1, M); /* one chunk; several for the tiled kernel */
                int saved_small;
                ops_tile saved_tile;
                gemm_path(ours, tile_cfg(act + (int)si, K->w_t, 0), &saved_small, &saved_tile);
                ck_assert_int_eq(ops_gemm_small(K, &L) ? 1 : ops_gemm_tile(K, &L) ? 2 : 0, ours);
                float *a = rnd((size_t)M * Kd, 90 + si, -1, 1), *w = rnd((size_t)N * Kd, 91, -0.2f, 0.2f),
                      *b = rnd(N, 92, -1, 1), *af = to_fm(a, Kd, &L, 3.0f), *wt = malloc((size_t)N * Kd * 4);
                for (int j = 0; j < N; j++)
                    for (int q = 0; q < Kd; q++) wt[(size_t)q * N + j] = w[(size_t)j * Kd + q];
                cl_mem da = dev(af, (size_t)L.tp * Kd * 4), dw = dev(K->w_t ? wt : w, (size_t)N * Kd * 4),
                       db = dev(b, N * 4), dc = dev(NULL, (size_t)L.tp * N * 4);
                const int reg = ours == 2 && !K->tile.local;
                clipcl_status st = ops_gemm_fm_act(K, &L, N, Kd, da, dw, 0, db, act, dc);
                gemm_path_restore(saved_small, &saved_tile);
                ck_assert_msg(st == CLIPCL_OK, "ops_gemm_fm_act: %s", clipcl_errmsg());
                float *cf = get(dc, (size_t)L.tp * N), *got = from_fm(cf, N, &L);
                double *want = malloc((size_t)M * N * sizeof *want);
                for (int t = 0; t < M; t++)
                    for (int j = 0; j < N; j++) {
                        double v = b[j];
                        for (int q = 0; q < Kd; q++) v += (double)a[(size_t)t * Kd + q] * w[(size_t)j * Kd + q];
                        if (act == OPS_ACT_QUICK_GELU) v = v / (1 + exp(-1.702 * v));
                        if (act == OPS_ACT_GELU) v = 0.5 * v * (1 + erf(v / sqrt(2.0)));
                        want[(size_t)t * N + j] = v;
                    }
                char what[96];
                snprintf(what, sizeof what, "gemm_fm_act %dx%dx%d act=%d, %s", M, N, Kd, act,
                         ours == 1  ? "gemm_fm_small"
                         : reg      ? "gemm_fm_reg"
                         : ours == 2 ? "gemm_fm_tile"
                                     : "CLBlast + bias_act_fm");
                check_close(got, want, (size_t)M * N, 1e-5, what);
                free(a), free(w), free(b), free(af), free(wt), free(cf), free(got), free(want);
                ocl_release(O, &da), ocl_release(O, &dw), ocl_release(O, &db), ocl_release(O, &dc);
            }
}
END_TEST

/* Without a kernel that reads them, fp16 weights are refused rather than read as floats. */
START_TEST(test_gemm_fm_half_refused)
{
    int saved_small;
    ops_tile saved_tile;
    gemm_path(0, 0, &saved_small, &saved_tile);
    ops_fm L = ops_fm_layout(K, 5);
    cl_mem a = dev(NULL, (size_t)L.tp * 8 * 4), w = dev(NULL, 8 * 8 * 2), c = dev(NULL, (size_t)L.tp * 8 * 4);
    clipcl_status st = ops_gemm_fm(K, &L, 8, 8, a, w, 1, 0.0f, c);
    gemm_path_restore(saved_small, &saved_tile);
    ck_assert_int_eq(st, CLIPCL_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(clipcl_errmsg(), "fp16"), "%s", clipcl_errmsg());
    ocl_release(O, &a), ocl_release(O, &w), ocl_release(O, &c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kernels");
    TCase *tc = tcase_create("kernels");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 1800);
    tcase_add_test(tc, test_layernorm);
    tcase_add_test(tc, test_l2norm);
    tcase_add_test(tc, test_add_bias);
    tcase_add_test(tc, test_gather_rows);
    tcase_add_test(tc, test_text_embed);
    tcase_add_test(tc, test_patch_embed);
    tcase_add_test(tc, test_rgb8_normalize);
    tcase_add_test(tc, test_attention);
    tcase_add_test(tc, test_gemm_nt);
    tcase_add_test(tc, test_fm_layout);
    tcase_add_test(tc, test_layernorm_fm);
    tcase_add_test(tc, test_fm_rows);
    tcase_add_test(tc, test_transpose);
    tcase_add_test(tc, test_bias_act_fm);
    tcase_add_test(tc, test_gather_fm);
    tcase_add_test(tc, test_gemm_fm);
    tcase_add_test(tc, test_gemm_fm_half_refused);
    tcase_add_test(tc, test_gemm_fm_act);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
