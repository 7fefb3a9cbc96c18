/* test_model.c — end-to-end encoder numerics against the Hugging Face fixtures (tiny-quickgelu,
 * tiny-gelu: every output within 1e-4 relative), batch invariance, internal batch splitting,
 * F16/BF16 weights, and a clear error for each kind of broken model folder. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "st.h"
#include "testutil.h"

#define TOL 1e-4 /* fp32 engine vs PyTorch fp32 (relative to the largest reference value) */

static clipcl_context *ctx;
static void setup(void) { ctx = tu_context(); }
static void teardown(void) { clipcl_context_free(ctx); }

static int precision = CLIPCL_PRECISION_FP32;

static clipcl_model *load(const char *dir, int max_batch)
{
    clipcl_model *m = NULL;
    clipcl_model_params p = clipcl_model_default_params();
    p.max_batch = max_batch;
    p.precision = precision;
    clipcl_status st = clipcl_model_load(ctx, dir, &p, &m);
    ck_assert_msg(st == CLIPCL_OK, "load %s: %s", dir, clipcl_errmsg());
    return m;
}

/* The reference's pooled states, features and embeddings of one tower ("text" or "vision"). */
static void check_pooled(tu_fixture *f, const char *tower, const float *pool, const float *feat, const float *emb,
                         double tol)
{
    const char *what[3] = {"pooled", "features", "embeds"};
    const float *got[3] = {pool, feat, emb};
    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s.%s", tower, what[i]);
        tu_fixture_check(f, name, got[i], tol);
    }
}

/* Runs both towers on the fixture inputs and compares every output the reference holds. */
static void check_fixture(const char *name, const char *model_dir, int max_batch, double tol)
{
    char dir[4096];
    if (!model_dir) model_dir = tu_data(dir, sizeof dir, name);
    tu_fixture f;
    tu_fixture_open(&f, name);
    clipcl_model *m = load(model_dir, max_batch);
    const clipcl_model_info *info = clipcl_model_get_info(m);
    size_t E = (size_t)info->embed_dim, TW = (size_t)info->text_width, VW = (size_t)info->vision_width;
    size_t VT = (size_t)info->vision_tokens;
    float *t_last = malloc(f.nt * 77 * TW * 4), *t_pool = malloc(f.nt * TW * 4), *t_feat = malloc(f.nt * E * 4),
          *t_emb = malloc(f.nt * E * 4), *v_last = malloc(f.ni * VT * VW * 4), *v_pool = malloc(f.ni * VW * 4),
          *v_feat = malloc(f.ni * E * 4), *v_emb = malloc(f.ni * E * 4);
    clipcl_outputs to = {t_emb, t_feat, t_pool, t_last}, vo = {v_emb, v_feat, v_pool, v_last};
    ck_assert_msg(clipcl_encode_texts_ex(m, f.ids, f.nt, &to) == CLIPCL_OK, "%s", clipcl_errmsg());
    ck_assert_msg(clipcl_encode_images_ex(m, f.pix, f.ni, &vo) == CLIPCL_OK, "%s", clipcl_errmsg());
    tu_fixture_check(&f, "text.last_hidden_state", t_last, tol);
    check_pooled(&f, "text", t_pool, t_feat, t_emb, tol);
    /* without the hidden states the text tower stops at the batch's last end token */
    clipcl_outputs ts = {t_emb, t_feat, t_pool, NULL};
    memset(t_pool, 0, f.nt * TW * 4);
    ck_assert_msg(clipcl_encode_texts_ex(m, f.ids, f.nt, &ts) == CLIPCL_OK, "%s", clipcl_errmsg());
    check_pooled(&f, "text", t_pool, t_feat, t_emb, tol);
    tu_fixture_check(&f, "vision.last_hidden_state", v_last, tol);
    check_pooled(&f, "vision", v_pool, v_feat, v_emb, tol);
    /* without the hidden states the last block runs the class tokens only */
    clipcl_outputs vs = {v_emb, v_feat, v_pool, NULL};
    memset(v_pool, 0, f.ni * VW * 4);
    ck_assert_msg(clipcl_encode_images_ex(m, f.pix, f.ni, &vs) == CLIPCL_OK, "%s", clipcl_errmsg());
    check_pooled(&f, "vision", v_pool, v_feat, v_emb, tol);
    /* logits from the engine's embeddings and logit scale */
    float *logits = malloc((size_t)f.ni * f.nt * 4);
    for (int a = 0; a < f.ni; a++)
        for (int b = 0; b < f.nt; b++) {
            double d = 0;
            for (size_t k = 0; k < E; k++) d += (double)v_emb[a * E + k] * t_emb[b * E + k];
            logits[a * f.nt + b] = (float)(clipcl_model_logit_scale(m) * d);
        }
    tu_fixture_check(&f, "logits_per_image", logits, tol);
    free(logits), free(t_last), free(t_pool), free(t_feat), free(t_emb), free(v_last), free(v_pool), free(v_feat);
    free(v_emb);
    clipcl_model_free(m);
    tu_fixture_close(&f);
}

START_TEST(test_tiny_quickgelu) { check_fixture("tiny-quickgelu", NULL, 0, TOL); }
END_TEST

START_TEST(test_tiny_gelu) { check_fixture("tiny-gelu", NULL, 0, TOL); }
END_TEST

/* max_batch 4 with 16 texts and 6 images: the split (4, 4, 4, 4 / 4, 2) must not show. */
START_TEST(test_internal_batch_split) { check_fixture("tiny-quickgelu", NULL, 4, TOL); }
END_TEST

/* fp16 weight storage: every output within 3e-3 of the float32 reference (the weights are
 * rounded to half; arithmetic stays float32), with about half the weight memory. */
START_TEST(test_fp16_storage)
{
    char dir[4096];
    uint64_t mem[2];
    for (int p = 0; p < 2; p++) {
        clipcl_context *c2 = tu_context();
        clipcl_model *m = NULL;
        clipcl_model_params mp = clipcl_model_default_params();
        mp.precision = p ? CLIPCL_PRECISION_FP16 : CLIPCL_PRECISION_FP32;
        ck_assert(clipcl_model_load(c2, tu_data(dir, sizeof dir, "tiny-quickgelu"), &mp, &m) == CLIPCL_OK);
        ck_assert_int_eq(clipcl_model_get_info(m)->precision, mp.precision);
        clipcl_context_memory(c2, &mem[p], NULL);
        clipcl_model_free(m);
        clipcl_context_free(c2);
    }
    ck_assert_msg(mem[1] < 0.6 * mem[0], "fp16 weights use %llu bytes vs %llu in fp32", (unsigned long long)mem[1],
                  (unsigned long long)mem[0]);
    precision = CLIPCL_PRECISION_FP16;
    check_fixture("tiny-quickgelu", NULL, 0, 3e-3);
    check_fixture("tiny-gelu", NULL, 4, 3e-3);
    precision = CLIPCL_PRECISION_FP32;
    clipcl_model_params bad = clipcl_model_default_params();
    bad.precision = 7;
    clipcl_model *m = NULL;
    ck_assert_int_eq(clipcl_model_load(ctx, dir, &bad, &m), CLIPCL_ERR_INVALID_ARG);
}
END_TEST

START_TEST(test_batch_invariance)
{
    char dir[4096];
    tu_fixture f;
    tu_fixture_open(&f, "tiny-gelu");
    clipcl_model *m = load(tu_data(dir, sizeof dir, "tiny-gelu"), 0);
    const size_t E = (size_t)clipcl_model_embed_dim(m), npix = clipcl_model_pixels_per_image(m);
    /* batch of 7: the 6 fixture images and image 2 again; 7 texts */
    float *pix7 = malloc(7 * npix * 4), *alone = malloc(E * 4), *batch = malloc(7 * E * 4);
    memcpy(pix7, f.pix, 6 * npix * 4);
    memcpy(pix7 + 6 * npix, f.pix + 2 * npix, npix * 4);
    ck_assert(clipcl_encode_images(m, pix7, 7, batch) == CLIPCL_OK);
    int identical = 1;
    for (int i = 0; i < 7; i++) {
        ck_assert(clipcl_encode_images(m, pix7 + i * npix, 1, alone) == CLIPCL_OK);
        double e = tu_max_rel(batch + i * E, alone, E);
        ck_assert_msg(e <= 1e-6, "image %d: batch vs alone %.3g", i, e);
        identical &= memcmp(batch + i * E, alone, E * 4) == 0;
    }
    ck_assert_msg(memcmp(batch + 2 * E, batch + 6 * E, E * 4) == 0, "same image twice in one batch differs");
    ck_assert(clipcl_encode_texts(m, f.ids, 7, batch) == CLIPCL_OK);
    for (int i = 0; i < 7; i++) {
        ck_assert(clipcl_encode_texts(m, f.ids + i * 77, 1, alone) == CLIPCL_OK);
        double e = tu_max_rel(batch + i * E, alone, E);
        ck_assert_msg(e <= 1e-6, "text %d: batch vs alone %.3g", i, e);
        identical &= memcmp(batch + i * E, alone, E * 4) == 0;
    }
    fprintf(stderr, "batch invariance: embeddings %s between batch 1 and batch 7\n",
            identical ? "bit-identical" : "within 1e-6 (not bit-identical)");
    free(pix7), free(alone), free(batch);
    clipcl_model_free(m);

    /* 150 items in one batch: the blocks' feature-major layout then has several chunks of
       tokens on CPUs (and the pooled tokens more than one), each GEMM one call per chunk */
    enum { NB = 150 };
    m = load(tu_data(dir, sizeof dir, "tiny-gelu"), NB);
    float *pixb = malloc(NB * npix * 4), *big = malloc(NB * E * 4), *six = malloc(6 * E * 4);
    int32_t *ids = malloc(NB * 77 * sizeof *ids);
    for (int i = 0; i < NB; i++) {
        memcpy(pixb + i * npix, f.pix + (i % 6) * npix, npix * 4);
        memcpy(ids + i * 77, f.ids + (i % 6) * 77, 77 * sizeof *ids);
    }
    ck_assert(clipcl_encode_images(m, pixb, NB, big) == CLIPCL_OK);
    ck_assert(clipcl_encode_images(m, f.pix, 6, six) == CLIPCL_OK);
    for (int i = 0; i < NB; i++)
        ck_assert_msg(tu_max_rel(big + i * E, six + (i % 6) * E, E) <= 1e-6, "image %d of %d: against batch 6", i, NB);
    ck_assert(clipcl_encode_texts(m, ids, NB, big) == CLIPCL_OK);
    ck_assert(clipcl_encode_texts(m, f.ids, 6, six) == CLIPCL_OK);
    for (int i = 0; i < NB; i++)
        ck_assert_msg(tu_max_rel(big + i * E, six + (i % 6) * E, E) <= 1e-6, "text %d of %d: against batch 6", i, NB);
    free(pixb), free(big), free(six), free(ids);
    clipcl_model_free(m);
    tu_fixture_close(&f);
}
END_TEST

/* ---------------------------------------------------------------- model folders on disk */

static void copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    ck_assert(a && b);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0) ck_assert(fwrite(buf, 1, n, b) == n);
    fclose(a);
    fclose(b);
}

/* A copy of tiny-quickgelu in a fresh temp folder. */
static char *model_copy(void)
{
    char *d = tu_tmpdir(), src[4096], dst[4096];
    const char *files[] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "tiny-quickgelu/%s", files[i]);
        snprintf(dst, sizeof dst, "%s/%s", d, files[i]);
        copy_file(tu_data(src, sizeof src, rel), dst);
    }
    return d;
}

/* Rewrites dir/model.safetensors through `edit`. */
static void rewrite_weights(const char *dir, tu_st_edit edit, void *arg)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    tu_st_rewrite(p, edit, arg);
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    ck_assert(f != NULL);
    fputs(text, f);
    fclose(f);
}

static void expect_load_error(const char *dir, clipcl_status want, const char *n1, const char *n2)
{
    clipcl_model *m = NULL;
    clipcl_status st = clipcl_model_load(ctx, dir, NULL, &m);
    ck_assert_msg(st == want, "status %d (%s), want %d", st, clipcl_errmsg(), want);
    ck_assert(m == NULL);
    ck_assert_msg(strstr(clipcl_errmsg(), n1), "message '%s' lacks '%s'", clipcl_errmsg(), n1);
    if (n2) ck_assert_msg(strstr(clipcl_errmsg(), n2), "message '%s' lacks '%s'", clipcl_errmsg(), n2);
}

START_TEST(test_half_precision_weights)
{
    /* F16 and BF16 files load and land near the fp32 reference (the weights themselves are
     * rounded, so the tolerance is the storage precision's, not the engine's). */
    const double tols[2] = {2e-3, 2e-2};
    for (int bf16 = 0; bf16 < 2; bf16++) {
        char *d = model_copy();
        rewrite_weights(d, tu_st_to_half, &bf16);
        tu_fixture f;
        tu_fixture_open(&f, "tiny-quickgelu");
        clipcl_model *m = load(d, 0);
        size_t E = (size_t)clipcl_model_embed_dim(m);
        float *te = malloc(f.nt * E * 4), *ie = malloc(f.ni * E * 4);
        ck_assert(clipcl_encode_texts(m, f.ids, f.nt, te) == CLIPCL_OK);
        ck_assert(clipcl_encode_images(m, f.pix, f.ni, ie) == CLIPCL_OK);
        tu_fixture_check(&f, "text.embeds", te, tols[bf16]);
        tu_fixture_check(&f, "vision.embeds", ie, tols[bf16]);
        free(te), free(ie);
        clipcl_model_free(m);
        tu_fixture_close(&f);
        tu_rmtree(d);
        free(d);
    }
}
END_TEST

START_TEST(test_broken_folders)
{
    char *d = model_copy(), p[4096];

    /* missing / malformed / out-of-range config.json */
    snprintf(p, sizeof p, "%s/config.json", d);
    char cfg[8192];
    FILE *cf = fopen(p, "r");
    size_t cn = fread(cfg, 1, sizeof cfg - 1, cf);
    cfg[cn] = '\0';
    fclose(cf);
    unlink(p);
    expect_load_error(d, CLIPCL_ERR_IO, "config.json", "cannot open");
    write_text(d, "config.json", "{\"text_config\": {\"hidden_size\": 32,");
    expect_load_error(d, CLIPCL_ERR_FORMAT, "config.json", "malformed JSON");
    write_text(d, "config.json", "{\"projection_dim\": 24, \"text_config\": {\"hidden_size\": 0}}");
    expect_load_error(d, CLIPCL_ERR_MODEL, "text_config.hidden_size", "[1, 65536]");
    write_text(d, "config.json", "{\"projection_dim\": 24, \"vision_config\": {\"num_hidden_layers\": -3}}");
    expect_load_error(d, CLIPCL_ERR_MODEL, "vision_config.num_hidden_layers", NULL);
    write_text(d, "config.json", "{\"projection_dim\": 24, \"text_config\": {\"hidden_size\": 30, \"num_attention_heads\": 4}}");
    expect_load_error(d, CLIPCL_ERR_MODEL, "not a multiple", NULL);
    write_text(d, "config.json", "{\"text_config\": {\"hidden_act\": \"relu\"}}");
    expect_load_error(d, CLIPCL_ERR_UNSUPPORTED, "hidden_act", NULL);
    /* config disagreeing with the weights: the first mismatching tensor is named */
    char *wrong = strdup(cfg), *at = strstr(wrong, "\"intermediate_size\": 128");
    ck_assert(at != NULL);
    memcpy(at, "\"intermediate_size\": 127", 24);
    write_text(d, "config.json", wrong);
    free(wrong);
    expect_load_error(d, CLIPCL_ERR_MODEL, "text_model.encoder.layers.0.mlp.fc1.weight", "[128, 32]");
    write_text(d, "config.json", cfg);

    /* weights: missing tensor, wrong shape */
    rewrite_weights(d, tu_st_drop, "vision_model.post_layernorm.bias");
    expect_load_error(d, CLIPCL_ERR_MODEL, "missing tensor 'vision_model.post_layernorm.bias'", NULL);
    free(d);
    d = model_copy();
    rewrite_weights(d, tu_st_swap_2d, "text_model.encoder.layers.1.mlp.fc1.weight");
    expect_load_error(d, CLIPCL_ERR_MODEL, "text_model.encoder.layers.1.mlp.fc1.weight", "shape [32, 128]");

    /* truncated file, header length beyond the file, missing weights file */
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    ck_assert(truncate(p, 3000000) == 0);
    expect_load_error(d, CLIPCL_ERR_FORMAT, "model.safetensors", "outside the file");
    FILE *wf = fopen(p, "r+b");
    const unsigned char big[8] = {0, 0, 0, 0, 1, 0, 0, 0};
    fwrite(big, 1, 8, wf);
    fclose(wf);
    expect_load_error(d, CLIPCL_ERR_FORMAT, "model.safetensors", "header length");
    unlink(p);
    expect_load_error(d, CLIPCL_ERR_IO, "model.safetensors", "cannot open");
    tu_rmtree(d);
    free(d);

    /* not a folder at all */
    expect_load_error("/nonexistent/clipcl-model", CLIPCL_ERR_IO, "/nonexistent/clipcl-model/config.json", NULL);
}
END_TEST

START_TEST(test_bad_encode_input)
{
    char dir[4096];
    clipcl_model *m = load(tu_data(dir, sizeof dir, "tiny-quickgelu"), 0);
    int32_t ids[77] = {49406, 320, 49407};
    float emb[64];
    ids[5] = 49408; /* outside the vocabulary */
    ck_assert_int_eq(clipcl_encode_texts(m, ids, 1, emb), CLIPCL_ERR_INVALID_ARG);
    ck_assert(strstr(clipcl_errmsg(), "outside the vocabulary"));
    ids[5] = -1;
    ck_assert_int_eq(clipcl_encode_texts(m, ids, 1, emb), CLIPCL_ERR_INVALID_ARG);
    ck_assert_int_eq(clipcl_encode_texts(m, NULL, 1, emb), CLIPCL_ERR_INVALID_ARG);
    ck_assert_int_eq(clipcl_encode_texts(m, ids, 0, emb), CLIPCL_OK); /* nothing to do */
    clipcl_model_free(m);
}
END_TEST

/* clipcl_encode_images_rgb8 == clipcl_encode_images on clipcl_image_preprocess's output, bit
 * for bit: a ViT and a ResNet tower, 5 images through batches of 2, fp32 and fp16 weights,
 * with the model's own mean and std; then its argument errors. */
START_TEST(test_rgb8_input)
{
    const char *names[] = {"tiny-quickgelu", "tiny-rn"};
    for (int mi = 0; mi < 2; mi++)
        for (int half = 0; half < 2; half++) {
            char dir[4096];
            precision = half ? CLIPCL_PRECISION_FP16 : CLIPCL_PRECISION_FP32;
            clipcl_model *m = load(tu_data(dir, sizeof dir, names[mi]), 2);
            precision = CLIPCL_PRECISION_FP32;
            const clipcl_preproc *pp = clipcl_model_preproc(m);
            const int n = 5, S = pp->size, E = clipcl_model_embed_dim(m);
            const size_t per = clipcl_model_pixels_per_image(m);
            ck_assert_int_eq((int)per, 3 * S * S);
            uint8_t *rgb = malloc(n * per);
            float *pix = malloc(n * per * sizeof *pix), *a = malloc((size_t)n * E * 4), *b = malloc((size_t)n * E * 4);
            ck_assert(rgb && pix && a && b);
            for (size_t i = 0; i < n * per; i++) rgb[i] = (uint8_t)((i * 2654435761u + 17 * mi) >> 9);
            /* the host's normalization, as clipcl_image_preprocess writes it (CHW), of each
               image given as an S x S PPM (no resize, no crop) */
            uint8_t *ppm = malloc(per + 32);
            ck_assert(ppm);
            for (int k = 0; k < n; k++) {
                clipcl_image *img = NULL;
                int hdr = snprintf((char *)ppm, 32, "P6\n%d %d\n255\n", S, S);
                memcpy(ppm + hdr, rgb + k * per, per);
                ck_assert_msg(clipcl_image_load_memory(ppm, hdr + per, "rgb8.ppm", &img) == CLIPCL_OK, "%s",
                              clipcl_errmsg());
                ck_assert_msg(clipcl_image_preprocess(img, pp, pix + k * per) == CLIPCL_OK, "%s", clipcl_errmsg());
                clipcl_image_free(img);
            }
            free(ppm);
            ck_assert_msg(clipcl_encode_images(m, pix, n, a) == CLIPCL_OK, "%s", clipcl_errmsg());
            ck_assert_msg(clipcl_encode_images_rgb8(m, rgb, n, b) == CLIPCL_OK, "%s", clipcl_errmsg());
            ck_assert_msg(!memcmp(a, b, (size_t)n * E * 4), "%s%s: rgb8 embeddings differ from the float path",
                          names[mi], half ? " fp16" : "");
            /* again, now that the table and the byte buffer exist */
            memset(b, 0, (size_t)n * E * 4);
            ck_assert(clipcl_encode_images_rgb8(m, rgb, n, b) == CLIPCL_OK);
            ck_assert(!memcmp(a, b, (size_t)n * E * 4));
            ck_assert_int_eq(clipcl_encode_images_rgb8(m, NULL, 1, b), CLIPCL_ERR_INVALID_ARG);
            ck_assert(strstr(clipcl_errmsg(), "clipcl_encode_images_rgb8"));
            ck_assert_int_eq(clipcl_encode_images_rgb8(m, rgb, -1, b), CLIPCL_ERR_INVALID_ARG);
            ck_assert_int_eq(clipcl_encode_images_rgb8(m, rgb, 0, b), CLIPCL_OK);
            free(rgb), free(pix), free(a), free(b);
            clipcl_model_free(m);
        }
}
END_TEST

START_TEST(test_verify_cli)
{
    char cmd[8192], dir[4096], ref[4096];
    snprintf(cmd, sizeof cmd, "%s verify -m %s %s > /dev/null", CLIPCL_EXE, tu_data(dir, sizeof dir, "tiny-gelu"),
             tu_data(ref, sizeof ref, "tiny-gelu/reference.safetensors"));
    ck_assert_int_eq(WEXITSTATUS(system(cmd)), 0);
    /* a wrong model for the reference fails the check (exit 1), not an error */
    snprintf(cmd, sizeof cmd, "%s verify -m %s %s --tol 1e-4 > /dev/null 2>&1", CLIPCL_EXE,
             tu_data(dir, sizeof dir, "tiny-gelu"), tu_data(ref, sizeof ref, "tiny-quickgelu/reference.safetensors"));
    int rc = WEXITSTATUS(system(cmd));
    ck_assert_msg(rc == 1 || rc == 2, "verify with mismatched model exited %d", rc);
    snprintf(cmd, sizeof cmd, "%s verify -m /nonexistent %s 2>/dev/null", CLIPCL_EXE, ref);
    ck_assert_int_eq(WEXITSTATUS(system(cmd)), 2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("model");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 1800);
    tcase_add_test(tc, test_tiny_quickgelu);
    tcase_add_test(tc, test_tiny_gelu);
    tcase_add_test(tc, test_internal_batch_split);
    tcase_add_test(tc, test_batch_invariance);
    tcase_add_test(tc, test_fp16_storage);
    tcase_add_test(tc, test_half_precision_weights);
    tcase_add_test(tc, test_broken_folders);
    tcase_add_test(tc, test_bad_encode_input);
    tcase_add_test(tc, test_verify_cli);
    tcase_add_test(tc, test_rgb8_input);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
