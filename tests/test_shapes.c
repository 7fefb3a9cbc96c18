/* test_shapes.c — models of shapes the fixtures do not have (odd widths, one head, head dims
 * 8/12/64, patch 10/14, image 40/42, one layer, GELU and quick GELU) load and match the
 * independent float64 reference (tests/support/refclip.c) within 1e-4 on every output. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refclip.h"
#include "testutil.h"

static const ref_arch archs[] = {
    /* E, text: W L H FF act, vision: W L H FF act S P, vocab */
    {20, 36, 1, 1, 72, 2, 40, 1, 5, 80, 1, 42, 10, 0},   /* width 36 / 1 head; width 40 / 5 heads (dim 8) */
    {16, 40, 2, 5, 100, 1, 36, 2, 3, 60, 2, 40, 14, 0},  /* head dim 8 / 12; patch 14 leaves a border */
    {32, 128, 1, 2, 256, 1, 64, 1, 1, 128, 2, 28, 14, 0}, /* head dim 64 text; one 64-wide head vision */
    {8, 24, 1, 2, 40, 2, 12, 1, 1, 20, 1, 16, 16, 0},    /* one patch: T = 2 */
};

static void run_arch(const ref_arch *a, uint64_t seed)
{
    char *dir = tu_tmpdir();
    ck_assert_int_eq(ref_write_random_model(dir, a, seed), 0);
    ref_model *ref = NULL;
    ck_assert_int_eq(ref_load(dir, &ref), 0);
    clipcl_context *ctx = tu_context();
    clipcl_model *m = NULL;
    ck_assert_msg(clipcl_model_load(ctx, dir, NULL, &m) == CLIPCL_OK, "%s", clipcl_errmsg());
    const clipcl_model_info *in = clipcl_model_get_info(m);
    const int nt = 5, ni = 3, E = a->embed_dim, S = a->image_size, G = S / a->patch_size, T = G * G + 1;
    ck_assert_int_eq(in->vision_tokens, T);
    int32_t ids[5 * 77] = {0};
    for (int r = 0; r < nt; r++) {
        int len = 1 + r * 7; /* 1 .. 29 tokens, the last row also without padding room */
        if (r == nt - 1) len = 75;
        ids[r * 77] = 49406;
        for (int i = 1; i <= len; i++) ids[r * 77 + i] = (int32_t)((r * 7919 + i * 104729) % 49406);
        ids[r * 77 + len + 1] = 49407;
    }
    size_t np = (size_t)ni * 3 * S * S;
    float *pix = malloc(np * sizeof *pix);
    tu_rand(pix, np, seed, -2, 2);
    size_t sz[2][4] = {{(size_t)nt * 77 * a->t_width, (size_t)nt * a->t_width, (size_t)nt * E, (size_t)nt * E},
                       {(size_t)ni * T * a->v_width, (size_t)ni * a->v_width, (size_t)ni * E, (size_t)ni * E}};
    const char *names[4] = {"last_hidden_state", "pooled", "features", "embeds"};
    for (int tower = 0; tower < 2; tower++) {
        float *got[4], *want[4];
        for (int k = 0; k < 4; k++) {
            got[k] = malloc(sz[tower][k] * sizeof(float));
            want[k] = malloc(sz[tower][k] * sizeof(float));
        }
        clipcl_outputs o = {got[3], got[2], got[1], got[0]};
        if (tower == 0) {
            ck_assert_msg(clipcl_encode_texts_ex(m, ids, nt, &o) == CLIPCL_OK, "%s", clipcl_errmsg());
            ref_encode_texts(ref, ids, nt, want[0], want[1], want[2], want[3]);
        } else {
            ck_assert_msg(clipcl_encode_images_ex(m, pix, ni, &o) == CLIPCL_OK, "%s", clipcl_errmsg());
            ref_encode_images(ref, pix, ni, want[0], want[1], want[2], want[3]);
        }
        for (int k = 0; k < 4; k++) {
            double e = tu_max_rel(got[k], want[k], sz[tower][k]);
            ck_assert_msg(e <= 1e-4, "arch %d/%d %s.%s: max rel err %.3g", a->t_width, a->v_width,
                          tower ? "vision" : "text", names[k], e);
        }
        /* Without every position's state the text tower stops at the batch's last pooling
           position: the first four rows (23 positions), the first alone (3), and a row whose
           end token comes first (1 position) must still match. */
        for (int c = 0; tower == 0 && c < 3; c++) {
            int32_t one[77] = {49407, 320, 1929};
            const int32_t *in = c == 2 ? one : ids;
            const int n = c == 0 ? nt - 1 : 1, W = a->t_width;
            clipcl_outputs os = {got[3], got[2], got[1], NULL};
            ck_assert_msg(clipcl_encode_texts_ex(m, in, n, &os) == CLIPCL_OK, "%s", clipcl_errmsg());
            if (c == 2) ref_encode_texts(ref, in, 1, NULL, want[1], want[2], want[3]);
            size_t cnt[4] = {0, (size_t)n * W, (size_t)n * E, (size_t)n * E};
            for (int k = 1; k < 4; k++) {
                double e = tu_max_rel(got[k], want[k], cnt[k]);
                ck_assert_msg(e <= 1e-4, "arch %d/%d text.%s, %d rows up to their end tokens: max rel err %.3g",
                              a->t_width, a->v_width, names[k], n, e);
            }
        }
        if (tower == 1) { /* the last block on the class tokens only */
            clipcl_outputs os = {got[3], got[2], got[1], NULL};
            ck_assert_msg(clipcl_encode_images_ex(m, pix, ni, &os) == CLIPCL_OK, "%s", clipcl_errmsg());
            for (int k = 1; k < 4; k++) {
                double e = tu_max_rel(got[k], want[k], sz[1][k]);
                ck_assert_msg(e <= 1e-4, "arch %d/%d vision.%s without hidden states: max rel err %.3g", a->t_width,
                              a->v_width, names[k], e);
            }
        }
        for (int k = 0; k < 4; k++) {
            free(got[k]);
            free(want[k]);
        }
    }
    ck_assert_float_eq_tol(clipcl_model_logit_scale(m), ref_logit_scale(ref), 1e-4f);
    free(pix);
    clipcl_model_free(m);
    clipcl_context_free(ctx);
    ref_free(ref);
    tu_rmtree(dir);
    free(dir);
}

START_TEST(test_arch) { run_arch(&archs[_i], 1000 + (uint64_t)_i); }
END_TEST

int main(void)
{
    Suite *s = suite_create("shapes");
    TCase *tc = tcase_create("shapes");
    tcase_set_timeout(tc, 1800);
    tcase_add_loop_test(tc, test_arch, 0, (int)(sizeof archs / sizeof *archs));
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
