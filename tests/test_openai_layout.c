/* test_openai_layout.c — OpenAI / open_clip layout and ResNet image towers:
 * - the fixtures tiny-rn (ResNet) and tiny-vit-openai (ViT) within 1e-4 of OpenAI's own model
 *   code on every output of their references, through the library and through `clipcl verify`;
 * - F16 / BF16 weights, layout detection, and a named error for each kind of broken folder;
 * - generated ResNets of other depths, widths, head widths and input sizes (one without
 *   open_clip_config.json) against the independent float64 reference in tests/support/refrn.c;
 * - a full-size RN50 with synthetic weights: its embeddings, finite and unit-norm, and its
 *   image features against the float64 reference. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "refrn.h"
#include "st.h"
#include "synth.h"
#include "testutil.h"

#define TOL 1e-4

static clipcl_context *ctx;
static void setup(void) { ctx = tu_context(); }
static void teardown(void) { clipcl_context_free(ctx); }

static clipcl_model *load(const char *dir, int max_batch)
{
    clipcl_model *m = NULL;
    clipcl_model_params p = clipcl_model_default_params();
    p.max_batch = max_batch;
    clipcl_status st = clipcl_model_load(ctx, dir, &p, &m);
    ck_assert_msg(st == CLIPCL_OK, "load %s: %s", dir, clipcl_errmsg());
    return m;
}

/* ---------------------------------------------------------------- fixtures */

/* Both towers on the fixture's inputs; every output of its reference compared. */
static void check_fixture(const char *name, const char *dir, int max_batch, double tol)
{
    char d[4096];
    tu_fixture f;
    tu_fixture_open(&f, name);
    clipcl_model *m = load(dir ? dir : tu_data(d, sizeof d, name), max_batch);
    const size_t E = (size_t)clipcl_model_embed_dim(m);
    float *tf = malloc(f.nt * E * 4), *te = malloc(f.nt * E * 4), *vf = malloc(f.ni * E * 4), *ve = malloc(f.ni * E * 4);
    clipcl_outputs to = {.embeds = te, .features = tf}, vo = {.embeds = ve, .features = vf};
    ck_assert_msg(clipcl_encode_texts_ex(m, f.ids, f.nt, &to) == CLIPCL_OK, "%s", clipcl_errmsg());
    ck_assert_msg(clipcl_encode_images_ex(m, f.pix, f.ni, &vo) == CLIPCL_OK, "%s", clipcl_errmsg());
    double e[6];
    e[0] = tu_fixture_check(&f, "text.features", tf, tol);
    e[1] = tu_fixture_check(&f, "text.embeds", te, tol);
    e[2] = tu_fixture_check(&f, "vision.features", vf, tol);
    e[3] = tu_fixture_check(&f, "vision.embeds", ve, tol);
    float *logits = malloc((size_t)f.ni * f.nt * 4), *probs = malloc((size_t)f.ni * f.nt * 4);
    for (int a = 0; a < f.ni; a++) {
        double mx = -INFINITY, sum = 0;
        for (int b = 0; b < f.nt; b++) {
            double s = 0;
            for (size_t k = 0; k < E; k++) s += (double)ve[a * E + k] * te[b * E + k];
            logits[a * f.nt + b] = (float)(clipcl_model_logit_scale(m) * s);
            if (logits[a * f.nt + b] > mx) mx = logits[a * f.nt + b];
        }
        for (int b = 0; b < f.nt; b++) sum += exp(logits[a * f.nt + b] - mx);
        for (int b = 0; b < f.nt; b++) probs[a * f.nt + b] = (float)(exp(logits[a * f.nt + b] - mx) / sum);
    }
    e[4] = tu_fixture_check(&f, "logits_per_image", logits, tol);
    e[5] = tu_fixture_check(&f, "probs_per_image", probs, tol);
    fprintf(stderr, "%s (batch %d): text.features %.2e text.embeds %.2e vision.features %.2e vision.embeds %.2e "
                    "logits %.2e probs %.2e\n", name, max_batch, e[0], e[1], e[2], e[3], e[4], e[5]);
    free(tf), free(te), free(vf), free(ve), free(logits), free(probs);
    clipcl_model_free(m);
    tu_fixture_close(&f);
}

START_TEST(test_tiny_rn) { check_fixture("tiny-rn", NULL, 0, TOL); }
END_TEST

START_TEST(test_tiny_rn_split) { check_fixture("tiny-rn", NULL, 3, TOL); } /* 4 images as 3 + 1 */
END_TEST

START_TEST(test_tiny_vit_openai) { check_fixture("tiny-vit-openai", NULL, 0, TOL); }
END_TEST

START_TEST(test_info)
{
    char d[4096];
    clipcl_model *m = load(tu_data(d, sizeof d, "tiny-rn"), 0);
    const clipcl_model_info *i = clipcl_model_get_info(m);
    ck_assert_int_eq(i->layout, CLIPCL_LAYOUT_OPENAI);
    ck_assert_int_eq(i->vision_kind, CLIPCL_VISION_RESNET);
    ck_assert_int_eq(i->resnet_width, 8);
    for (int s = 0; s < 4; s++) ck_assert_int_eq(i->resnet_stages[s], 1);
    ck_assert_int_eq(i->image_size, 64);
    ck_assert_int_eq(i->vision_width, 256);
    ck_assert_int_eq(i->vision_heads, 4);
    ck_assert_int_eq(i->vision_tokens, 5);
    ck_assert_int_eq(i->vision_layers, 4);
    ck_assert_int_eq(i->patch_size, 0);
    ck_assert_int_eq(i->embed_dim, 32);
    ck_assert_int_eq(i->text_width, 32);
    ck_assert_int_eq(i->text_heads, 2);
    ck_assert_int_eq(i->text_ff, 128);
    ck_assert_int_eq(i->text_gelu, 0);
    ck_assert_int_eq((int)clipcl_model_pixels_per_image(m), 3 * 64 * 64);
    const clipcl_preproc *pp = clipcl_model_preproc(m);
    ck_assert_int_eq(pp->size, 64);
    ck_assert_float_eq_tol(pp->mean[0], 0.48145466f, 1e-7f);
    ck_assert_float_eq_tol(pp->std[2], 0.27577711f, 1e-7f);
    ck_assert(isfinite(clipcl_model_logit_scale(m)) && clipcl_model_logit_scale(m) > 0);
    clipcl_model_free(m);

    m = load(tu_data(d, sizeof d, "tiny-vit-openai"), 0);
    i = clipcl_model_get_info(m);
    ck_assert_int_eq(i->layout, CLIPCL_LAYOUT_OPENAI);
    ck_assert_int_eq(i->vision_kind, CLIPCL_VISION_VIT);
    ck_assert_int_eq(i->resnet_width, 0);
    ck_assert_int_eq(i->patch_size, 16);
    ck_assert_int_eq(i->vision_tokens, 17);
    ck_assert_int_eq(i->vision_width, 128);
    ck_assert_int_eq(i->vision_heads, 2);
    ck_assert_int_eq(i->vision_ff, 512);
    ck_assert_int_eq(i->text_heads, 4);
    ck_assert_int_eq(i->embed_dim, 24);
    clipcl_model_free(m);

    m = load(tu_data(d, sizeof d, "tiny-quickgelu"), 0);
    ck_assert_int_eq(clipcl_model_get_info(m)->layout, CLIPCL_LAYOUT_HF);
    ck_assert_int_eq(clipcl_model_get_info(m)->vision_kind, CLIPCL_VISION_VIT);
    clipcl_model_free(m);
}
END_TEST

START_TEST(test_verify_cli)
{
    char cmd[12288], dir[4096], ref[4096];
    const char *names[2] = {"tiny-rn", "tiny-vit-openai"};
    for (int i = 0; i < 2; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "%s/reference.safetensors", names[i]);
        snprintf(cmd, sizeof cmd, "%s verify -m %s %s", CLIPCL_EXE, tu_data(dir, sizeof dir, names[i]),
                 tu_data(ref, sizeof ref, rel));
        ck_assert_msg(WEXITSTATUS(system(cmd)) == 0, "%s", cmd);
    }
    /* the ViT model against the ResNet's reference: the check fails or the inputs do not fit */
    snprintf(cmd, sizeof cmd, "%s verify -m %s %s > /dev/null 2>&1", CLIPCL_EXE,
             tu_data(dir, sizeof dir, "tiny-vit-openai"), tu_data(ref, sizeof ref, "tiny-rn/reference.safetensors"));
    int rc = WEXITSTATUS(system(cmd));
    ck_assert_msg(rc == 1 || rc == 2, "mismatched verify exited %d", rc);
}
END_TEST

/* ---------------------------------------------------------------- folders on disk */

static void copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    ck_assert_msg(a && b, "copy %s -> %s", from, to);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0) ck_assert(fwrite(buf, 1, n, b) == n);
    fclose(a);
    fclose(b);
}

/* A copy of a fixture's model files (open_clip_config.json when with_config) in a temp folder. */
static char *fixture_copy(const char *name, int with_config)
{
    char *d = tu_tmpdir(), src[4096], dst[4096], rel[256];
    const char *files[2] = {"open_clip_model.safetensors", "open_clip_config.json"};
    for (int i = 0; i < 1 + with_config; i++) {
        snprintf(rel, sizeof rel, "%s/%s", name, files[i]);
        snprintf(dst, sizeof dst, "%s/%s", d, files[i]);
        copy_file(tu_data(src, sizeof src, rel), dst);
    }
    return d;
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

static char *read_text(const char *dir, const char *name)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "rb");
    ck_assert(f != NULL);
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* dir/name with the first `from` replaced by `to` */
static void edit_text(const char *dir, const char *name, const char *orig, const char *from, const char *to)
{
    char *at = strstr(orig, from), *out = malloc(strlen(orig) + strlen(to) + 1);
    ck_assert_msg(at != NULL, "'%s' not in %s", from, name);
    memcpy(out, orig, (size_t)(at - orig));
    strcpy(out + (at - orig), to);
    strcat(out, at + strlen(from));
    write_text(dir, name, out);
    free(out);
}

static void rewrite_weights(const char *dir, tu_st_edit edit, void *arg)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/open_clip_model.safetensors", dir);
    tu_st_rewrite(p, edit, arg);
}

static void negative_var(st_tensor *ts, int *n, void *arg)
{
    st_tensor *t = tu_st_find(ts, *n, arg);
    float v = -0.5f;
    memcpy((void *)(t->data + 4), &v, 4); /* channel 1 */
}

START_TEST(test_half_precision)
{
    const double tols[2] = {3e-3, 3e-2};
    for (int bf16 = 0; bf16 < 2; bf16++) {
        char *d = fixture_copy("tiny-rn", 1);
        rewrite_weights(d, tu_st_to_half, &bf16);
        tu_fixture f;
        tu_fixture_open(&f, "tiny-rn");
        clipcl_model *m = load(d, 0);
        size_t E = (size_t)clipcl_model_embed_dim(m);
        float *te = malloc(f.nt * E * 4), *ie = malloc(f.ni * E * 4);
        ck_assert(clipcl_encode_texts(m, f.ids, f.nt, te) == CLIPCL_OK);
        ck_assert(clipcl_encode_images(m, f.pix, f.ni, ie) == CLIPCL_OK);
        double et = tu_fixture_check(&f, "text.embeds", te, tols[bf16]), ei = tu_fixture_check(&f, "vision.embeds", ie, tols[bf16]);
        fprintf(stderr, "tiny-rn %s weights: text.embeds %.2e vision.embeds %.2e\n", bf16 ? "BF16" : "F16", et, ei);
        free(te), free(ie);
        clipcl_model_free(m);
        tu_fixture_close(&f);
        tu_rmtree(d);
        free(d);
    }
}
END_TEST

static void expect_load_error(const char *dir, clipcl_status want, const char *n1, const char *n2)
{
    clipcl_model *m = NULL;
    clipcl_status st = clipcl_model_load(ctx, dir, NULL, &m);
    ck_assert_msg(st == want, "status %d (%s), want %d", st, clipcl_errmsg(), want);
    ck_assert(m == NULL);
    ck_assert_msg(strstr(clipcl_errmsg(), n1), "message '%s' lacks '%s'", clipcl_errmsg(), n1);
    if (n2) ck_assert_msg(strstr(clipcl_errmsg(), n2), "message '%s' lacks '%s'", clipcl_errmsg(), n2);
}

START_TEST(test_broken_config)
{
    char *d = fixture_copy("tiny-rn", 1);
    char *cfg = read_text(d, "open_clip_config.json");
    write_text(d, "open_clip_config.json", "{\"model_cfg\": {\"embed_dim\": 32,");
    expect_load_error(d, CLIPCL_ERR_FORMAT, "open_clip_config.json", "malformed JSON");
    edit_text(d, "open_clip_config.json", cfg, "\"embed_dim\"", "\"embed_dimension\"");
    expect_load_error(d, CLIPCL_ERR_MODEL, "open_clip_config.json", "embed_dim is missing");
    edit_text(d, "open_clip_config.json", cfg, "\"width\": 8", "\"width\": 0");
    expect_load_error(d, CLIPCL_ERR_MODEL, "vision_cfg.width", NULL);
    edit_text(d, "open_clip_config.json", cfg, "\"head_width\": 64", "\"head_width\": 48");
    expect_load_error(d, CLIPCL_ERR_MODEL, "head width 48", NULL);
    edit_text(d, "open_clip_config.json", cfg, "\"context_length\": 77", "\"context_length\": 64");
    expect_load_error(d, CLIPCL_ERR_UNSUPPORTED, "context_length", NULL);
    edit_text(d, "open_clip_config.json", cfg, "\"width\": 8", "\"width\": 8, \"timm_model_name\": \"resnet50\"");
    expect_load_error(d, CLIPCL_ERR_UNSUPPORTED, "timm_model_name", NULL);
    edit_text(d, "open_clip_config.json", cfg, "\"resize_mode\": \"shortest\"", "\"resize_mode\": \"squash\"");
    expect_load_error(d, CLIPCL_ERR_UNSUPPORTED, "resize_mode", NULL);
    edit_text(d, "open_clip_config.json", cfg, "\"image_size\": 64", "\"image_size\": 16");
    expect_load_error(d, CLIPCL_ERR_MODEL, "no feature map", NULL);
    /* config disagreeing with the weights: the first mismatching tensor is named */
    edit_text(d, "open_clip_config.json", cfg, "\"width\": 8", "\"width\": 10");
    expect_load_error(d, CLIPCL_ERR_MODEL, "visual.conv1.weight", "[4, 3, 3, 3]");
    edit_text(d, "open_clip_config.json", cfg, "\"image_size\": 64", "\"image_size\": 96");
    expect_load_error(d, CLIPCL_ERR_MODEL, "visual.attnpool.positional_embedding", "[5, 256]");
    /* layers list of three: not a ResNet clipcl knows */
    char *three = strdup(cfg), *at = strstr(three, "\"layers\": [");
    ck_assert(at != NULL);
    char *close = strchr(at, ']');
    char *fixed = malloc(strlen(three) + 32);
    memcpy(fixed, three, (size_t)(at - three));
    strcpy(fixed + (at - three), "\"layers\": [1, 1, 1");
    strcat(fixed, close);
    write_text(d, "open_clip_config.json", fixed);
    expect_load_error(d, CLIPCL_ERR_MODEL, "vision_cfg.layers", NULL);
    free(three), free(fixed), free(cfg);
    tu_rmtree(d);
    free(d);
}
END_TEST

START_TEST(test_broken_weights)
{
    struct {
        const char *fixture;
        tu_st_edit edit;
        const char *tensor, *msg;
    } cs[] = {
        {"tiny-rn", tu_st_drop, "visual.layer3.0.downsample.1.running_var", "missing tensor"},
        {"tiny-rn", tu_st_drop, "visual.attnpool.q_proj.bias", "missing tensor"},
        {"tiny-rn", tu_st_drop, "visual.bn2.weight", "missing tensor"},
        {"tiny-rn", tu_st_swap_2d, "visual.attnpool.c_proj.weight", "shape [256, 32]"},
        {"tiny-rn", negative_var, "visual.layer2.0.bn1.running_var", "running_var"},
        {"tiny-rn", tu_st_swap_2d, "transformer.resblocks.1.attn.in_proj_weight", "shape [32, 96]"},
        {"tiny-rn", tu_st_drop, "logit_scale", "missing tensor"},
        {"tiny-vit-openai", tu_st_drop, "visual.proj", "missing tensor"},
        {"tiny-vit-openai", tu_st_drop, "visual.transformer.resblocks.1.ln_2.bias", "missing tensor"},
        {"tiny-vit-openai", tu_st_swap_2d, "text_projection", "shape [24, 32]"},
    };
    for (size_t i = 0; i < sizeof cs / sizeof *cs; i++) {
        char *d = fixture_copy(cs[i].fixture, 1);
        rewrite_weights(d, cs[i].edit, (void *)cs[i].tensor);
        expect_load_error(d, CLIPCL_ERR_MODEL, cs[i].tensor, cs[i].msg);
        tu_rmtree(d);
        free(d);
    }
    /* without a config, sizes come from shapes with heads = width / 64: a text width of 32
     * cannot be split so, and the error says why */
    char *d = fixture_copy("tiny-rn", 0);
    expect_load_error(d, CLIPCL_ERR_MODEL, "text width 32", "multiple of 64");
    tu_rmtree(d);
    free(d);
}
END_TEST

/* Hugging Face files win when a folder holds both layouts. */
START_TEST(test_both_layouts)
{
    char *d = fixture_copy("tiny-rn", 1), src[4096], dst[4096];
    const char *files[2] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "tiny-quickgelu/%s", files[i]);
        snprintf(dst, sizeof dst, "%s/%s", d, files[i]);
        copy_file(tu_data(src, sizeof src, rel), dst);
    }
    clipcl_model *m = load(d, 0);
    ck_assert_int_eq(clipcl_model_get_info(m)->layout, CLIPCL_LAYOUT_HF);
    ck_assert_int_eq(clipcl_model_get_info(m)->vision_kind, CLIPCL_VISION_VIT);
    clipcl_model_free(m);
    /* without Hugging Face weights the open_clip files are used */
    snprintf(dst, sizeof dst, "%s/model.safetensors", d);
    unlink(dst);
    m = load(d, 0);
    ck_assert_int_eq(clipcl_model_get_info(m)->layout, CLIPCL_LAYOUT_OPENAI);
    ck_assert_int_eq(clipcl_model_get_info(m)->vision_kind, CLIPCL_VISION_RESNET);
    clipcl_model_free(m);
    tu_rmtree(d);
    free(d);
}
END_TEST

/* ---------------------------------------------------------------- generated ResNets */

static const rn_arch archs[] = {
    /* E, W, stages, head width, S, text W L H, quick_gelu, config, model.safetensors */
    {40, 6, {2, 1, 3, 1}, 32, 100, 32, 1, 2, 1, 1, 0},  /* 3-channel stem, odd 25×25 stage, 6 heads of 32 */
    {24, 10, {1, 2, 1, 2}, 64, 64, 64, 1, 1, 1, 0, 1},  /* no config: sizes from shapes; OpenAI names in model.safetensors */
    {16, 12, {1, 1, 2, 1}, 48, 72, 32, 2, 4, 0, 1, 0},  /* 72 → 36 → 18 → 9 → 4 → 2: floors; 8 heads of 48; GELU text */
};

static int rn_grid(int S)
{
    int h = (S - 1) / 2 + 1;
    return h / 2 / 2 / 2 / 2;
}

START_TEST(test_generated)
{
    const rn_arch *a = &archs[_i];
    char *dir = tu_tmpdir();
    ck_assert_int_eq(rn_write_random_model(dir, a, 4000 + (uint64_t)_i), 0);
    const int C = 32 * a->width, heads = C / a->head_width, S = a->image_size, G = rn_grid(S), T = G * G + 1;
    const int E = a->embed_dim, ni = 3;
    rn_ref *ref = NULL;
    ck_assert_int_eq(rn_ref_load(dir, heads, &ref), 0);
    ck_assert_int_eq(rn_ref_tokens(ref), T);
    clipcl_model *m = load(dir, 2); /* 3 images as 2 + 1 */
    const clipcl_model_info *in = clipcl_model_get_info(m);
    ck_assert_int_eq(in->vision_kind, CLIPCL_VISION_RESNET);
    ck_assert_int_eq(in->image_size, S);
    ck_assert_int_eq(in->vision_width, C);
    ck_assert_int_eq(in->vision_heads, heads);
    ck_assert_int_eq(in->vision_tokens, T);
    ck_assert_int_eq(in->resnet_width, a->width);
    for (int s = 0; s < 4; s++) ck_assert_int_eq(in->resnet_stages[s], a->stages[s]);
    ck_assert_int_eq(in->text_heads, a->t_heads);
    ck_assert_int_eq(in->text_gelu, !a->quick_gelu);
    const clipcl_preproc *pp = clipcl_model_preproc(m);
    ck_assert_int_eq(pp->size, S);
    ck_assert_float_eq_tol(pp->mean[1], a->write_config ? 0.5f : 0.4578275f, 1e-7f);

    size_t np = (size_t)ni * 3 * S * S;
    float *pix = malloc(np * sizeof *pix);
    tu_rand(pix, np, 77 + _i, -2, 2);
    size_t sz[4] = {(size_t)ni * T * C, (size_t)ni * C, (size_t)ni * E, (size_t)ni * E};
    const char *names[4] = {"tokens (last_hidden_state)", "pooled", "features", "embeds"};
    float *got[4], *want[4];
    for (int k = 0; k < 4; k++) got[k] = malloc(sz[k] * 4), want[k] = malloc(sz[k] * 4);
    clipcl_outputs o = {got[3], got[2], got[1], got[0]};
    ck_assert_msg(clipcl_encode_images_ex(m, pix, ni, &o) == CLIPCL_OK, "%s", clipcl_errmsg());
    rn_ref_encode_images(ref, pix, ni, S, want[0], want[1], want[2], want[3]);
    for (int k = 0; k < 4; k++) {
        double e = tu_max_rel(got[k], want[k], sz[k]);
        fprintf(stderr, "generated ResNet %d (W %d, stages %d,%d,%d,%d, S %d): %s max rel err %.2e\n", _i, a->width,
                a->stages[0], a->stages[1], a->stages[2], a->stages[3], S, names[k], e);
        ck_assert_msg(e <= TOL, "arch %d %s: max rel err %.3g", _i, names[k], e);
        free(got[k]), free(want[k]);
    }
    /* the text tower loads from the same layout and gives unit embeddings */
    int32_t ids[2 * 77] = {49406, 320, 1125, 539, 320, 1929, 49407};
    ids[77] = 49406, ids[78] = 49407;
    float te[2 * 64];
    ck_assert_msg(clipcl_encode_texts(m, ids, 2, te) == CLIPCL_OK, "%s", clipcl_errmsg());
    for (int r = 0; r < 2; r++) {
        double n2 = 0;
        for (int e = 0; e < E; e++) n2 += (double)te[r * E + e] * te[r * E + e];
        ck_assert_msg(fabs(sqrt(n2) - 1) < 1e-5, "text %d norm %g", r, sqrt(n2));
    }
    free(pix);
    clipcl_model_free(m);
    rn_ref_free(ref);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* ---------------------------------------------------------------- full-size RN50 */

START_TEST(test_rn50_synthetic)
{
    char *dir = tu_tmpdir();
    arch_desc d;
    ck_assert_msg(synth_arch_desc("RN50", &d) == CLIPCL_OK, "%s", clipcl_errmsg());
    ck_assert_msg(synth_write(&d, dir) == CLIPCL_OK, "%s", clipcl_errmsg());
    /* the weights follow shared/tools/synth.py's formula on OpenAI names, BatchNorms included
     * (values computed with synth.py) */
    static const struct {
        const char *name;
        int i;
        float v;
    } spots[] = {
        {"visual.layer1.0.bn1.running_var", 3, 1.0502327680587769f},
        {"visual.layer2.0.downsample.1.weight", 1, 1.0621088743209839f},
        {"visual.layer3.1.bn3.running_mean", 1, -0.018104558810591698f},
        {"visual.attnpool.c_proj.bias", 0, -0.01475522480905056f},
        {"visual.layer4.2.conv2.weight", 1, -0.018432941287755966f},
        {"transformer.resblocks.3.ln_1.weight", 0, 1.0929815769195557f},
    };
    char p[4200];
    snprintf(p, sizeof p, "%s/open_clip_model.safetensors", dir);
    st_file *sf;
    ck_assert_msg(st_open(p, &sf) == CLIPCL_OK, "%s", clipcl_errmsg());
    for (size_t i = 0; i < sizeof spots / sizeof *spots; i++) {
        const st_tensor *t = st_find(sf, spots[i].name);
        ck_assert_msg(t && t->dtype == ST_F32, "no F32 %s", spots[i].name);
        float v;
        memcpy(&v, t->data + 4 * spots[i].i, 4);
        ck_assert_msg(v == spots[i].v, "%s[%d] = %.9g, synth.py gives %.9g", spots[i].name, spots[i].i, v, spots[i].v);
    }
    const st_tensor *nbt = st_find(sf, "visual.layer3.5.bn2.num_batches_tracked");
    ck_assert(nbt && nbt->dtype == ST_I64);
    ck_assert(st_find(sf, "visual.layer4.0.downsample.0.weight") && !st_find(sf, "visual.layer4.1.downsample.0.weight"));
    st_close(sf);
    clipcl_model *m = load(dir, 1);
    const clipcl_model_info *in = clipcl_model_get_info(m);
    const int stages[4] = {3, 4, 6, 3};
    for (int s = 0; s < 4; s++) ck_assert_int_eq(in->resnet_stages[s], stages[s]);
    ck_assert_int_eq(in->resnet_width, 64);
    ck_assert_int_eq(in->image_size, 224);
    ck_assert_int_eq(in->vision_width, 2048);
    ck_assert_int_eq(in->vision_heads, 32);
    ck_assert_int_eq(in->vision_tokens, 50);
    ck_assert_int_eq(in->embed_dim, 1024);
    const int E = 1024, S = 224;
    size_t np = 3 * (size_t)S * S;
    float *pix = malloc(np * sizeof *pix), *feat = malloc(E * 4), *emb = malloc(E * 4), *te = malloc(E * 4);
    tu_rand(pix, np, 5, -2, 2);
    clipcl_outputs o = {.embeds = emb, .features = feat};
    ck_assert_msg(clipcl_encode_images_ex(m, pix, 1, &o) == CLIPCL_OK, "%s", clipcl_errmsg());
    int32_t ids[77] = {49406, 320, 1125, 539, 320, 2368, 49407};
    ck_assert_msg(clipcl_encode_texts(m, ids, 1, te) == CLIPCL_OK, "%s", clipcl_errmsg());
    double ni = 0, nt = 0;
    for (int e = 0; e < E; e++) {
        ck_assert_msg(isfinite(emb[e]) && isfinite(te[e]) && isfinite(feat[e]), "non-finite embedding at %d", e);
        ni += (double)emb[e] * emb[e];
        nt += (double)te[e] * te[e];
    }
    ck_assert_msg(fabs(sqrt(ni) - 1) < 1e-5 && fabs(sqrt(nt) - 1) < 1e-5, "norms %g %g", sqrt(ni), sqrt(nt));
    clipcl_model_free(m);
    /* and the numbers themselves, against the float64 reference */
    rn_ref *ref = NULL;
    ck_assert_int_eq(rn_ref_load(dir, 32, &ref), 0);
    float *want = malloc(E * 4);
    rn_ref_encode_images(ref, pix, 1, S, NULL, NULL, want, NULL);
    double e = tu_max_rel(feat, want, E);
    fprintf(stderr, "RN50 synthetic: image features max rel err %.2e vs float64\n", e);
    ck_assert_msg(e <= TOL, "RN50 features: max rel err %.3g", e);
    rn_ref_free(ref);
    free(pix), free(feat), free(emb), free(te), free(want);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("openai_layout");
    TCase *tc = tcase_create("openai_layout");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 1800);
    tcase_add_test(tc, test_tiny_rn);
    tcase_add_test(tc, test_tiny_rn_split);
    tcase_add_test(tc, test_tiny_vit_openai);
    tcase_add_test(tc, test_info);
    tcase_add_test(tc, test_verify_cli);
    tcase_add_test(tc, test_half_precision);
    tcase_add_test(tc, test_broken_config);
    tcase_add_test(tc, test_broken_weights);
    tcase_add_test(tc, test_both_layouts);
    tcase_add_loop_test(tc, test_generated, 0, (int)(sizeof archs / sizeof *archs));
    tcase_add_test(tc, test_rn50_synthetic);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
