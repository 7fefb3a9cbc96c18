/* test_refclip.c — the double-precision reference (tests/support/refclip.c) against Hugging Face's
 * outputs on the tiny fixtures, and its random-model writer round trip. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "clipcl.h"
#include "ops.h"
#include "refclip.h"
#include "st.h"
#include "testutil.h"

#define TOL 1e-5

/* The named tensor of a reference file as float32 (caller frees); checks its element count. */
static float *ref_tensor(const st_file *f, const char *name, int64_t want_numel)
{
    const st_tensor *t = st_find(f, name);
    ck_assert_msg(t != NULL, "%s: missing %s", f->path, name);
    ck_assert_msg(t->numel == want_numel, "%s: %s has %lld values, expected %lld", f->path, name,
                  (long long)t->numel, (long long)want_numel);
    float *out = malloc((size_t)t->numel * sizeof *out);
    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(st_to_f32(t, out), CLIPCL_OK);
    return out;
}

static void expect_close(const char *what, const char *name, const float *got, const float *want, size_t n)
{
    double r = ref_max_rel(got, want, n);
    printf("%-16s %-26s max rel %.3g\n", what, name, r);
    ck_assert_msg(r < TOL, "%s: %s differs from Hugging Face by %.3g relative (limit %g)", what, name, r, TOL);
}

/* Every output in dir/reference.safetensors, recomputed from dir's model. */
static void check_fixture(const char *name)
{
    char dir[1024], path[1100];
    snprintf(dir, sizeof dir, "%s/%s", TEST_DATA_DIR, name);
    snprintf(path, sizeof path, "%s/config.json", dir);
    model_cfg c;
    ck_assert_msg(cfg_load(path, &c) == CLIPCL_OK, "%s", clipcl_errmsg());
    ref_model *m = NULL;
    ck_assert_int_eq(ref_load(dir, &m), 0);

    snprintf(path, sizeof path, "%s/reference.safetensors", dir);
    st_file *f = NULL;
    ck_assert_msg(st_open(path, &f) == CLIPCL_OK, "%s", clipcl_errmsg());
    const st_tensor *ti = st_find(f, "input_ids"), *tp = st_find(f, "pixel_values");
    ck_assert(ti && ti->dtype == ST_I32 && ti->ndim == 2 && ti->shape[1] == 77);
    ck_assert(tp && tp->ndim == 4 && tp->shape[1] == 3 && tp->shape[2] == c.vision.image_size &&
              tp->shape[3] == c.vision.image_size);
    int nt = (int)ti->shape[0], ni = (int)tp->shape[0];
    int E = c.embed_dim, Wt = c.text.width, Wv = c.vision.width, S = c.vision.image_size;
    int G = S / c.vision.patch_size, T = G * G + 1;
    int32_t *ids = malloc((size_t)nt * 77 * sizeof *ids);
    ck_assert_ptr_nonnull(ids);
    memcpy(ids, ti->data, (size_t)nt * 77 * sizeof *ids);
    float *pix = ref_tensor(f, "pixel_values", (int64_t)ni * 3 * S * S);

    struct { const char *name; int64_t n; float *got, *want; } o[] = {
        {"text.last_hidden_state", (int64_t)nt * 77 * Wt, 0, 0},
        {"text.pooled", (int64_t)nt * Wt, 0, 0},
        {"text.features", (int64_t)nt * E, 0, 0},
        {"text.embeds", (int64_t)nt * E, 0, 0},
        {"vision.last_hidden_state", (int64_t)ni * T * Wv, 0, 0},
        {"vision.pooled", (int64_t)ni * Wv, 0, 0},
        {"vision.features", (int64_t)ni * E, 0, 0},
        {"vision.embeds", (int64_t)ni * E, 0, 0},
        {"logits_per_image", (int64_t)ni * nt, 0, 0},
    };
    enum { N = sizeof o / sizeof o[0] };
    for (int i = 0; i < N; i++) {
        o[i].want = ref_tensor(f, o[i].name, o[i].n);
        o[i].got = calloc((size_t)o[i].n, sizeof(float));
        ck_assert_ptr_nonnull(o[i].got);
    }
    ref_encode_texts(m, ids, nt, o[0].got, o[1].got, o[2].got, o[3].got);
    ref_encode_images(m, pix, ni, o[4].got, o[5].got, o[6].got, o[7].got);
    double ls = ref_logit_scale(m);
    for (int i = 0; i < ni; i++)
        for (int j = 0; j < nt; j++) {
            double s = 0;
            for (int e = 0; e < E; e++) s += (double)o[7].got[(size_t)i * E + e] * o[3].got[(size_t)j * E + e];
            o[8].got[(size_t)i * nt + j] = (float)(ls * s);
        }
    for (int i = 0; i < N; i++) expect_close(name, o[i].name, o[i].got, o[i].want, (size_t)o[i].n);

    /* NULL outputs are allowed and must not change the others. */
    float *emb = malloc((size_t)nt * E * sizeof *emb);
    ck_assert_ptr_nonnull(emb);
    ref_encode_texts(m, ids, nt, NULL, NULL, NULL, emb);
    ck_assert_mem_eq(emb, o[3].got, (size_t)nt * E * sizeof *emb);
    free(emb);

    for (int i = 0; i < N; i++) {
        free(o[i].got);
        free(o[i].want);
    }
    free(ids);
    free(pix);
    st_close(f);
    ref_free(m);
}

START_TEST(fixture_quickgelu) { check_fixture("tiny-quickgelu"); }
END_TEST

START_TEST(fixture_gelu) { check_fixture("tiny-gelu"); }
END_TEST

START_TEST(max_rel)
{
    float a[3] = {1, 2, 3}, b[3] = {1, 2, 4}, z[3] = {0, 0, 0};
    ck_assert_double_eq_tol(ref_max_rel(a, b, 3), 0.25, 1e-12);
    ck_assert_double_eq(ref_max_rel(b, b, 3), 0.0);
    ck_assert_double_eq_tol(ref_max_rel(a, z, 3), 3.0, 1e-12);
    float n[3] = {1, NAN, 3}, inf[3] = {1, 2, INFINITY};
    ck_assert(isinf(ref_max_rel(n, b, 3)));
    ck_assert(isinf(ref_max_rel(b, n, 3)));
    ck_assert(isinf(ref_max_rel(inf, b, 3)));
}
END_TEST

/* An architecture none of the fixtures has: odd widths, 1-head and 5-head attention, a patch
 * size that does not divide the image (42 = 4·10 + 2), one layer, both activations. */
static const ref_arch odd = {.embed_dim = 20,
                             .t_width = 36, .t_layers = 1, .t_heads = 1, .t_ff = 72, .t_act = OPS_ACT_GELU,
                             .v_width = 40, .v_layers = 1, .v_heads = 5, .v_ff = 100, .v_act = OPS_ACT_QUICK_GELU,
                             .image_size = 42, .patch_size = 10, .vocab = 0};

static void rm_model(const char *dir)
{
    char p[1100];
    snprintf(p, sizeof p, "%s/config.json", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    unlink(p);
    rmdir(dir);
}

static double rms(const float *x, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return sqrt(s / (double)n);
}

/* Made and removed by the parent process, so a failed check does not leave it behind. */
static char base[] = "/tmp/refclip_XXXXXX";
static int have_base;

static void tmp_setup(void) { have_base = mkdtemp(base) != NULL; }

static void tmp_teardown(void)
{
    char d[300];
    for (const char *sub = "abc"; have_base && *sub; sub++) {
        snprintf(d, sizeof d, "%s/%c", base, *sub);
        rm_model(d);
    }
    if (have_base) rmdir(base);
}

START_TEST(random_model_round_trip)
{
    ck_assert(have_base);
    char d1[256], d2[256], d3[256], path[300];
    snprintf(d1, sizeof d1, "%s/a", base);
    snprintf(d2, sizeof d2, "%s/b", base);
    snprintf(d3, sizeof d3, "%s/c", base);
    ck_assert_int_eq(ref_write_random_model(d1, &odd, 7), 0);
    ck_assert_int_eq(ref_write_random_model(d2, &odd, 7), 0);
    ck_assert_int_eq(ref_write_random_model(d3, &odd, 8), 0);

    snprintf(path, sizeof path, "%s/config.json", d1);
    model_cfg c;
    ck_assert_msg(cfg_load(path, &c) == CLIPCL_OK, "%s", clipcl_errmsg());
    ck_assert_int_eq(c.embed_dim, 20);
    ck_assert_int_eq(c.text.width, 36);
    ck_assert_int_eq(c.text.layers, 1);
    ck_assert_int_eq(c.text.heads, 1);
    ck_assert_int_eq(c.text.ff, 72);
    ck_assert_int_eq(c.text.act, OPS_ACT_GELU);
    ck_assert_int_eq(c.text.vocab, 49408);
    ck_assert_int_eq(c.text.ctx, 77);
    ck_assert_int_eq(c.vision.width, 40);
    ck_assert_int_eq(c.vision.layers, 1);
    ck_assert_int_eq(c.vision.heads, 5);
    ck_assert_int_eq(c.vision.ff, 100);
    ck_assert_int_eq(c.vision.act, OPS_ACT_QUICK_GELU);
    ck_assert_int_eq(c.vision.image_size, 42);
    ck_assert_int_eq(c.vision.patch_size, 10);
    ck_assert_double_eq_tol(c.text.eps, 1e-5, 1e-12);

    /* the same seed writes the same bytes; the init rules hold in the file */
    size_t n1, n2;
    snprintf(path, sizeof path, "%s/model.safetensors", d1);
    char *b1 = tu_slurp(path, &n1);
    snprintf(path, sizeof path, "%s/model.safetensors", d2);
    char *b2 = tu_slurp(path, &n2);
    ck_assert(n1 == n2 && memcmp(b1, b2, n1) == 0);
    free(b1);
    free(b2);
    snprintf(path, sizeof path, "%s/model.safetensors", d1);
    st_file *f = NULL;
    ck_assert_msg(st_open(path, &f) == CLIPCL_OK, "%s", clipcl_errmsg());
    ck_assert_int_eq(f->n, 2 * 16 + 14); /* two layers plus 6 text-side and 8 vision-side tensors */
    const st_tensor *t = st_find(f, "vision_model.embeddings.position_embedding.weight");
    ck_assert(t && t->ndim == 2 && t->shape[0] == 17 && t->shape[1] == 40);
    float v[100];
    t = st_find(f, "vision_model.encoder.layers.0.layer_norm2.weight");
    ck_assert(t && t->numel == 40 && st_to_f32(t, v) == CLIPCL_OK);
    for (int i = 0; i < 40; i++) ck_assert(v[i] >= 0.9f && v[i] <= 1.1f);
    t = st_find(f, "text_model.encoder.layers.0.mlp.fc1.bias");
    ck_assert(t && t->numel == 72 && st_to_f32(t, v) == CLIPCL_OK);
    for (int i = 0; i < 72; i++) ck_assert(fabsf(v[i]) <= 0.02f);
    ck_assert(v[0] != v[1] || v[1] != v[2]); /* not constant */
    st_close(f);

    ref_model *m = NULL, *m3 = NULL;
    ck_assert_int_eq(ref_load(d1, &m), 0);
    ck_assert_int_eq(ref_load(d3, &m3), 0);
    ck_assert_double_eq_tol(ref_logit_scale(m), 100.0, 1e-4);

    /* row 0 ends in 49407; row 1 has none, so it pools at the argmax of the ids, the first of
     * two equal maxima (torch.argmax) */
    int32_t ids[2 * 77] = {0};
    int32_t row0[] = {49406, 320, 1125, 539, 320, 1929, 49407};
    memcpy(ids, row0, sizeof row0);
    int32_t row1[] = {320, 40000, 12, 40000, 7};
    memcpy(ids + 77, row1, sizeof row1);
    enum { NT = 2, NI = 2, S = 42, T = 17, E = 20 };
    float th[NT * 77 * 36], tp[NT * 36], tf[NT * E], te[NT * E], te3[NT * E];
    ref_encode_texts(m, ids, NT, th, tp, tf, te);
    ref_encode_texts(m3, ids, NT, NULL, NULL, NULL, te3);
    ck_assert_mem_eq(tp, th + 6 * 36, 36 * sizeof(float));
    ck_assert_mem_eq(tp + 36, th + (77 + 1) * 36, 36 * sizeof(float));

    static float pix[NI * 3 * S * S];
    uint64_t s = 1;
    for (size_t i = 0; i < sizeof pix / sizeof pix[0]; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        pix[i] = (float)((double)(s >> 11) * 0x1.0p-53 * 4.0 - 2.0);
    }
    float vh[NI * T * 40], vp[NI * 40], vf[NI * E], ve[NI * E], ve3[NI * E];
    ref_encode_images(m, pix, NI, vh, vp, vf, ve);
    ref_encode_images(m3, pix, NI, NULL, NULL, NULL, ve3);

    /* finite, O(1) activations, unit embeddings, different seeds give different models */
    ck_assert(isfinite(ref_max_rel(th, th, sizeof th / sizeof th[0])));
    ck_assert(isfinite(ref_max_rel(vh, vh, sizeof vh / sizeof vh[0])));
    double r[] = {rms(th, sizeof th / 4), rms(tf, NT * E), rms(vh, sizeof vh / 4), rms(vp, NI * 40),
                  rms(vf, NI * E)};
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
        ck_assert_msg(r[i] > 0.2 && r[i] < 5.0, "activation %zu has RMS %g", i, r[i]);
    for (int i = 0; i < NT; i++) ck_assert_double_eq_tol(rms(te + i * E, E) * sqrt(E), 1.0, 1e-6);
    for (int i = 0; i < NI; i++) ck_assert_double_eq_tol(rms(ve + i * E, E) * sqrt(E), 1.0, 1e-6);
    ck_assert(ref_max_rel(te, te3, NT * E) > 0.1);
    ck_assert(ref_max_rel(ve, ve3, NI * E) > 0.1);
    /* the two images and the two texts differ */
    ck_assert(ref_max_rel(ve, ve + E, E) > 0.01);
    ck_assert(ref_max_rel(te, te + E, E) > 0.01);

    ref_free(m);
    ref_free(m3);
}
END_TEST

START_TEST(bad_arch_rejected)
{
    ref_arch a = odd;
    a.v_heads = 3; /* 40 is not a multiple of 3 */
    ck_assert_int_ne(ref_write_random_model("/tmp/refclip_never_written", &a, 1), 0);
    a = odd;
    a.vocab = 1000; /* no room for CLIP's special tokens */
    ck_assert_int_ne(ref_write_random_model("/tmp/refclip_never_written", &a, 1), 0);
    ck_assert_int_ne(access("/tmp/refclip_never_written", F_OK), 0);
    ref_model *m = (ref_model *)1;
    ck_assert_int_ne(ref_load(TEST_DATA_DIR "/no-such-model", &m), 0);
    ck_assert_ptr_null(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("refclip");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, tmp_setup, tmp_teardown);
    tcase_add_test(tc, fixture_quickgelu);
    tcase_add_test(tc, fixture_gelu);
    tcase_add_test(tc, max_rel);
    tcase_add_test(tc, random_model_round_trip);
    tcase_add_test(tc, bad_arch_rejected);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
