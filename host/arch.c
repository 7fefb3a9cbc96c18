/* arch.c — OpenAI / open_clip model descriptions: open_clip_config.json with open_clip's
 * defaults and bounds, or sizes derived from tensor shapes as OpenAI's build_model does. */
#include "arch.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "ops.h"

#define ARCH_MAX_HEAD_DIM 256 /* the attention kernel's bound, as cfg.c checks for Hugging Face configs */

int arch_rn_grid(int image_size)
{
    if (image_size < 1) return 0;
    int h = (image_size - 1) / 2 + 1; /* 3×3 convolution, stride 2, padding 1 */
    h /= 2;                           /* the stem's 2×2 average pool */
    for (int s = 1; s < ARCH_RN_STAGES; s++) h /= 2;
    return h;
}

static const cJSON *item(const cJSON *o, const char *key)
{
    const cJSON *it = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    return it && !cJSON_IsNull(it) ? it : NULL;
}

static clipcl_status bad_int(const char *path, const char *sect, const char *key, int lo, int hi)
{
    return err_set(CLIPCL_ERR_MODEL, "%s: %s.%s must be an integer in [%d, %d]", path, sect, key, lo, hi);
}

static int is_int_in(const cJSON *it, int lo, int hi)
{
    return cJSON_IsNumber(it) && floor(it->valuedouble) == it->valuedouble && it->valuedouble >= lo &&
           it->valuedouble <= hi;
}

/* An integer field (kept when absent). */
static clipcl_status get_int(const char *path, const char *sect, const cJSON *o, const char *key, int lo, int hi,
                             int *v)
{
    const cJSON *it = item(o, key);
    if (!it) return CLIPCL_OK;
    if (!is_int_in(it, lo, hi)) return bad_int(path, sect, key, lo, hi);
    *v = (int)it->valuedouble;
    return CLIPCL_OK;
}

/* An image size: an integer or a square [h, w]. */
static clipcl_status get_size(const char *path, const char *sect, const cJSON *o, const char *key, int *v)
{
    const cJSON *it = item(o, key);
    if (!it) return CLIPCL_OK;
    if (cJSON_IsArray(it)) {
        const cJSON *h = cJSON_GetArrayItem(it, 0), *w = cJSON_GetArrayItem(it, 1);
        if (cJSON_GetArraySize(it) != 2 || !is_int_in(h, 1, 8192) || !is_int_in(w, 1, 8192))
            return err_set(CLIPCL_ERR_MODEL, "%s: %s.%s must be a size in [1, 8192] or a list of two", path, sect, key);
        if (h->valuedouble != w->valuedouble)
            return err_set(CLIPCL_ERR_UNSUPPORTED, "%s: %s.%s: only square images are supported", path, sect, key);
        it = h;
    }
    if (!is_int_in(it, 1, 8192)) return bad_int(path, sect, key, 1, 8192);
    *v = (int)it->valuedouble;
    return CLIPCL_OK;
}

static clipcl_status get_ratio(const char *path, const char *sect, const cJSON *o, int width, int *ff)
{
    const cJSON *it = item(o, "mlp_ratio");
    double r = 4.0;
    if (it) {
        if (!cJSON_IsNumber(it) || !(it->valuedouble > 0) || it->valuedouble > 64)
            return err_set(CLIPCL_ERR_MODEL, "%s: %s.mlp_ratio must be a number in (0, 64]", path, sect);
        r = it->valuedouble;
    }
    double f = floor((double)width * r); /* open_clip: int(width * mlp_ratio) */
    if (f < 1 || f > (1 << 20)) return err_set(CLIPCL_ERR_MODEL, "%s: %s: MLP width %.0f is out of range", path, sect, f);
    *ff = (int)f;
    return CLIPCL_OK;
}

/* Fields selecting variants clipcl does not implement: refused rather than ignored, since
 * ignoring them would produce wrong embeddings silently. */
static clipcl_status refuse(const char *path, const char *sect, const cJSON *o, const char *pool_type)
{
    static const char *const must_be_null[] = {"timm_model_name", "hf_model_name", "ls_init_value", "eva_model_name"};
    static const char *const must_be_false[] = {"attentional_pool", "global_average_pool", "input_patchnorm",
                                                "no_ln_pre", "final_ln_after_pool", "embed_cls", "no_causal_mask",
                                                "proj_bias"};
    const struct { const char *key, *ok; } strings[] = {
        {"pool_type", pool_type}, {"proj_type", "linear"}, {"pos_embed_type", "learnable"}};
    for (size_t i = 0; i < sizeof must_be_null / sizeof *must_be_null; i++)
        if (item(o, must_be_null[i]))
            return err_set(CLIPCL_ERR_UNSUPPORTED, "%s: %s.%s is set; clipcl runs only CLIP's own towers", path, sect,
                           must_be_null[i]);
    for (size_t i = 0; i < sizeof must_be_false / sizeof *must_be_false; i++) {
        const cJSON *it = item(o, must_be_false[i]);
        if (it && !cJSON_IsFalse(it) && !(cJSON_IsNumber(it) && it->valuedouble == 0))
            return err_set(CLIPCL_ERR_UNSUPPORTED, "%s: %s.%s is not supported", path, sect, must_be_false[i]);
    }
    for (size_t i = 0; i < sizeof strings / sizeof *strings; i++) {
        const cJSON *it = item(o, strings[i].key);
        if (!it) continue;
        if (!cJSON_IsString(it) || strcmp(it->valuestring, strings[i].ok))
            return err_set(CLIPCL_ERR_UNSUPPORTED, "%s: %s.%s %s%s%s is not supported", path, sect, strings[i].key,
                           cJSON_IsString(it) ? "\"" : "", cJSON_IsString(it) ? it->valuestring : "(not a string)",
                           cJSON_IsString(it) ? "\"" : "");
    }
    const cJSON *nk = item(o, "norm_kwargs");
    if (nk && (!cJSON_IsObject(nk) || nk->child))
        return err_set(CLIPCL_ERR_UNSUPPORTED, "%s: %s.norm_kwargs is not supported", path, sect);
    return CLIPCL_OK;
}

static clipcl_status head_check(const char *path, const char *sect, int width, int head_width)
{
    if (width % head_width)
        return err_set(CLIPCL_ERR_MODEL, "%s: %s: width %d is not a multiple of the head width %d", path, sect, width,
                       head_width);
    if (head_width > ARCH_MAX_HEAD_DIM)
        return err_set(CLIPCL_ERR_UNSUPPORTED, "%s: %s: head dimension %d is above the supported %d", path, sect,
                       head_width, ARCH_MAX_HEAD_DIM);
    return CLIPCL_OK;
}

clipcl_status arch_check_resnet(const arch_desc *d, const char *path)
{
    const int W = d->rn_width, S = d->c.vision.image_size;
    /* the stem's first convolutions are width / 2 wide */
    if (W < 2 || W > ARCH_RN_MAX_WIDTH) return bad_int(path, "vision_cfg", "width", 2, ARCH_RN_MAX_WIDTH);
    int total = 0;
    for (int s = 0; s < ARCH_RN_STAGES; s++) {
        if (d->rn_stages[s] < 1 || d->rn_stages[s] > ARCH_RN_MAX_BLOCKS)
            return err_set(CLIPCL_ERR_MODEL, "%s: vision_cfg.layers[%d] must be an integer in [1, %d]", path, s,
                           ARCH_RN_MAX_BLOCKS);
        total += d->rn_stages[s];
    }
    if (d->c.vision.layers != total || d->c.vision.width != 32 * W)
        return err_set(CLIPCL_ERR_MODEL, "%s: inconsistent ResNet description", path);
    if (d->c.vision.heads < 1 || d->c.vision.width % d->c.vision.heads)
        return err_set(CLIPCL_ERR_MODEL, "%s: the attention pool's %d heads do not divide its width %d", path,
                       d->c.vision.heads, d->c.vision.width);
    int G = arch_rn_grid(S);
    if (G < 1)
        return err_set(CLIPCL_ERR_MODEL, "%s: image_size %d leaves no feature map after the ResNet's 32x reduction",
                       path, S);
    if ((long)G * G + 1 > 65536) return err_set(CLIPCL_ERR_LIMIT, "%s: image_size %d is beyond the limit", path, S);
    return CLIPCL_OK;
}

static clipcl_status vision_cfg(const char *path, const cJSON *v, arch_desc *d)
{
    const char *sect = "vision_cfg";
    tower_cfg *t = &d->c.vision;
    clipcl_status st;
    if (v && !cJSON_IsObject(v)) return err_set(CLIPCL_ERR_MODEL, "%s: %s must be an object", path, sect);
    if ((st = refuse(path, sect, v, "tok"))) return st;
    int width = 768, head_width = 64, patch = 16, size = 224;
    if ((st = get_int(path, sect, v, "width", 1, 65536, &width)) ||
        (st = get_int(path, sect, v, "head_width", 1, 65536, &head_width)) ||
        (st = get_size(path, sect, v, "image_size", &size)))
        return st;
    t->image_size = size;
    t->channels = 3;
    t->eps = 1e-5f;
    const cJSON *layers = item(v, "layers");
    if (layers && cJSON_IsArray(layers)) {
        if (cJSON_GetArraySize(layers) != ARCH_RN_STAGES)
            return err_set(CLIPCL_ERR_MODEL, "%s: %s.layers must list %d stage depths for a ResNet", path, sect,
                           ARCH_RN_STAGES);
        d->vision_kind = ARCH_RESNET;
        int s = 0, total = 0;
        for (const cJSON *e = layers->child; e; e = e->next, s++) {
            if (!is_int_in(e, 1, ARCH_RN_MAX_BLOCKS))
                return err_set(CLIPCL_ERR_MODEL, "%s: %s.layers[%d] must be an integer in [1, %d]", path, sect, s,
                               ARCH_RN_MAX_BLOCKS);
            d->rn_stages[s] = (int)e->valuedouble;
            total += d->rn_stages[s];
        }
        if (width > ARCH_RN_MAX_WIDTH) return bad_int(path, sect, "width", 1, ARCH_RN_MAX_WIDTH);
        d->rn_width = width;
        t->width = 32 * width;
        if ((st = head_check(path, sect, t->width, head_width))) return st;
        t->heads = t->width / head_width;
        t->layers = total;
        t->ff = 0;
        t->patch_size = 0;
        return arch_check_resnet(d, path);
    }
    d->vision_kind = ARCH_VIT;
    t->layers = 12;
    if ((st = get_int(path, sect, v, "layers", 1, 1024, &t->layers)) ||
        (st = get_int(path, sect, v, "patch_size", 1, 8192, &patch)) ||
        (st = get_ratio(path, sect, v, width, &t->ff)) || (st = head_check(path, sect, width, head_width)))
        return st;
    t->width = width;
    t->heads = width / head_width;
    t->patch_size = patch;
    if (patch > size)
        return err_set(CLIPCL_ERR_MODEL, "%s: %s.patch_size %d is larger than image_size %d", path, sect, patch, size);
    long g = size / patch;
    if (g * g + 1 > 65536) return err_set(CLIPCL_ERR_LIMIT, "%s: %s: %ld patches is beyond the limit", path, sect, g * g);
    return CLIPCL_OK;
}

static clipcl_status text_cfg(const char *path, const cJSON *o, arch_desc *d)
{
    const char *sect = "text_cfg";
    tower_cfg *t = &d->c.text;
    clipcl_status st;
    if (o && !cJSON_IsObject(o)) return err_set(CLIPCL_ERR_MODEL, "%s: %s must be an object", path, sect);
    if ((st = refuse(path, sect, o, "argmax"))) return st;
    *t = (tower_cfg){.width = 512, .layers = 12, .heads = 8, .eps = 1e-5f, .ctx = 77, .vocab = 49408};
    if ((st = get_int(path, sect, o, "width", 1, 65536, &t->width)) ||
        (st = get_int(path, sect, o, "heads", 1, 65536, &t->heads)) ||
        (st = get_int(path, sect, o, "layers", 1, 1024, &t->layers)) ||
        (st = get_int(path, sect, o, "context_length", 1, 65536, &t->ctx)) ||
        (st = get_int(path, sect, o, "vocab_size", 1, 1 << 24, &t->vocab)) ||
        (st = get_ratio(path, sect, o, t->width, &t->ff)))
        return st;
    if (t->ctx != CLIPCL_CONTEXT_LENGTH)
        return err_set(CLIPCL_ERR_UNSUPPORTED, "%s: %s.context_length is %d; clipcl supports CLIP's %d", path, sect,
                       t->ctx, CLIPCL_CONTEXT_LENGTH);
    if (t->vocab <= CLIPCL_EOT)
        return err_set(CLIPCL_ERR_UNSUPPORTED, "%s: %s.vocab_size %d does not contain CLIP's tokens (%d)", path, sect,
                       t->vocab, CLIPCL_EOT + 1);
    if (t->width % t->heads)
        return err_set(CLIPCL_ERR_MODEL, "%s: %s.width %d is not a multiple of heads %d", path, sect, t->width, t->heads);
    return head_check(path, sect, t->width, t->width / t->heads);
}

static clipcl_status triplet(const char *path, const cJSON *o, const char *key, float *v, int positive, int *found)
{
    const cJSON *it = item(o, key);
    *found = 0;
    if (!it) return CLIPCL_OK;
    if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) != 3)
        return err_set(CLIPCL_ERR_FORMAT, "%s: preprocess_cfg.%s must be a list of 3 numbers", path, key);
    int i = 0;
    for (const cJSON *e = it->child; e; e = e->next, i++) {
        /* bounded as the floats the preprocessing uses: 1e-95 would round to a zero std */
        if (!cJSON_IsNumber(e) || !(fabs(e->valuedouble) <= FLT_MAX) || (positive && !(e->valuedouble >= FLT_MIN)))
            return err_set(CLIPCL_ERR_FORMAT, "%s: preprocess_cfg.%s[%d] must be a %snumber", path, key, i,
                           positive ? "positive " : "");
        v[i] = (float)e->valuedouble;
    }
    *found = 1;
    return CLIPCL_OK;
}

static clipcl_status preprocess_cfg(const char *path, const cJSON *p, arch_desc *d)
{
    if (!p) return CLIPCL_OK;
    if (!cJSON_IsObject(p)) return err_set(CLIPCL_ERR_FORMAT, "%s: preprocess_cfg must be an object", path);
    int has_mean, has_std;
    clipcl_status st;
    if ((st = triplet(path, p, "mean", d->mean, 0, &has_mean)) || (st = triplet(path, p, "std", d->std, 1, &has_std)) ||
        (st = get_size(path, "preprocess_cfg", p, "size", &d->pp_size)))
        return st;
    if (has_mean != has_std)
        return err_set(CLIPCL_ERR_FORMAT, "%s: preprocess_cfg gives %s without %s", path, has_mean ? "mean" : "std",
                       has_mean ? "std" : "mean");
    d->has_norm = has_mean;
    /* clipcl implements OpenAI's resize: bicubic, shortest side, centre crop */
    static const struct { const char *key, *ok; } fixed[] = {
        {"interpolation", "bicubic"}, {"resize_mode", "shortest"}, {"mode", "RGB"}};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        const cJSON *it = item(p, fixed[i].key);
        if (it && !(cJSON_IsString(it) && !strcmp(it->valuestring, fixed[i].ok)))
            return err_set(CLIPCL_ERR_UNSUPPORTED, "%s: preprocess_cfg.%s must be \"%s\" (OpenAI's preprocessing)", path,
                           fixed[i].key, fixed[i].ok);
    }
    return CLIPCL_OK;
}

clipcl_status arch_load_openclip(const char *path, arch_desc *d)
{
    memset(d, 0, sizeof *d);
    d->layout = ARCH_LAYOUT_OPENAI;
    cJSON *root;
    clipcl_status st = cfg_read_json(path, &root);
    if (st) return st;
    const cJSON *mc = item(root, "model_cfg"), *pp = item(root, "preprocess_cfg");
    if (!mc) mc = root;
    if (!cJSON_IsObject(mc)) {
        st = err_set(CLIPCL_ERR_MODEL, "%s: model_cfg must be an object", path);
        goto done;
    }
    if (!item(mc, "embed_dim")) {
        st = err_set(CLIPCL_ERR_MODEL, "%s: model_cfg.embed_dim is missing", path);
        goto done;
    }
    const cJSON *qg = item(mc, "quick_gelu");
    if (qg && !cJSON_IsBool(qg)) {
        st = err_set(CLIPCL_ERR_MODEL, "%s: model_cfg.quick_gelu must be true or false", path);
        goto done;
    }
    const cJSON *ct = item(mc, "custom_text");
    if (ct && !cJSON_IsFalse(ct)) {
        st = err_set(CLIPCL_ERR_UNSUPPORTED, "%s: model_cfg.custom_text is set; clipcl runs CLIP's own text tower", path);
        goto done;
    }
    if (item(mc, "text_cfg") && item(item(mc, "text_cfg"), "hf_model_name")) {
        st = err_set(CLIPCL_ERR_UNSUPPORTED, "%s: text_cfg.hf_model_name is set; clipcl runs only CLIP's own towers", path);
        goto done;
    }
    if ((st = get_int(path, "model_cfg", mc, "embed_dim", 1, 65536, &d->c.embed_dim)) ||
        (st = text_cfg(path, item(mc, "text_cfg"), d)) || (st = vision_cfg(path, item(mc, "vision_cfg"), d)) ||
        (st = preprocess_cfg(path, pp, d)))
        goto done;
    /* open_clip: QuickGELU when asked for, nn.GELU otherwise; towers share it */
    d->c.text.act = d->c.vision.act = qg && cJSON_IsTrue(qg) ? OPS_ACT_QUICK_GELU : OPS_ACT_GELU;
    if (d->pp_size && d->pp_size != d->c.vision.image_size)
        st = err_set(CLIPCL_ERR_MODEL, "%s: preprocess_cfg.size %d differs from vision_cfg.image_size %d", path,
                     d->pp_size, d->c.vision.image_size);
done:
    cJSON_Delete(root);
    return st;
}

/* ---------------------------------------------------------------- sizes from tensor shapes */

int arch_is_openai(const st_file *f)
{
    return st_find(f, "token_embedding.weight") || st_find(f, "visual.conv1.weight") ||
           st_find(f, "transformer.resblocks.0.attn.in_proj_weight");
}

/* A tensor's dimension for size derivation; the loader checks full shapes later. */
static clipcl_status dim(const st_file *f, const char *path, const char *name, int ndim, int d, int64_t lo,
                         int64_t hi, int *out)
{
    const st_tensor *t = st_find(f, name);
    if (!t) return err_set(CLIPCL_ERR_MODEL, "%s: missing tensor '%s'", path, name);
    if (t->ndim != ndim) return err_set(CLIPCL_ERR_MODEL, "%s: tensor '%s' has %d dimensions, expected %d", path, name, t->ndim, ndim);
    if (t->shape[d] < lo || t->shape[d] > hi)
        return err_set(CLIPCL_ERR_MODEL, "%s: tensor '%s' dimension %d is %lld, outside [%lld, %lld]", path, name, d,
                       (long long)t->shape[d], (long long)lo, (long long)hi);
    *out = (int)t->shape[d];
    return CLIPCL_OK;
}

/* 1 + the largest N among names "<prefix>N.…" (0 when none). */
static int count_indexed(const st_file *f, const char *prefix)
{
    size_t n = strlen(prefix);
    long best = -1;
    for (int i = 0; i < f->n; i++) {
        const char *s = f->tensors[i].name;
        if (strncmp(s, prefix, n)) continue;
        char *end;
        errno = 0;
        long v = strtol(s + n, &end, 10);
        if (end != s + n && *end == '.' && !errno && v >= 0 && v < 100000 && v > best) best = v;
    }
    return (int)(best + 1);
}

/* side of a square grid with side² + 1 = rows, or -1 */
static int grid_of(int rows)
{
    int g = (int)lround(sqrt((double)(rows - 1)));
    return rows >= 2 && (long)g * g + 1 == rows ? g : -1;
}

clipcl_status arch_from_tensors(const st_file *f, const char *path, arch_desc *d)
{
    memset(d, 0, sizeof *d);
    d->layout = ARCH_LAYOUT_OPENAI;
    tower_cfg *t = &d->c.text, *v = &d->c.vision;
    clipcl_status st;
    int pos_rows;
    *t = (tower_cfg){.act = OPS_ACT_QUICK_GELU, .eps = 1e-5f};
    *v = (tower_cfg){.act = OPS_ACT_QUICK_GELU, .eps = 1e-5f, .channels = 3};
    /* text: OpenAI's build_model */
    if ((st = dim(f, path, "text_projection", 2, 1, 1, 65536, &d->c.embed_dim)) ||
        (st = dim(f, path, "positional_embedding", 2, 0, 1, 65536, &t->ctx)) ||
        (st = dim(f, path, "token_embedding.weight", 2, 0, 1, 1 << 24, &t->vocab)) ||
        (st = dim(f, path, "ln_final.weight", 1, 0, 1, 65536, &t->width)) ||
        (st = dim(f, path, "transformer.resblocks.0.mlp.c_fc.weight", 2, 0, 1, 1 << 20, &t->ff)))
        return st;
    t->layers = count_indexed(f, "transformer.resblocks.");
    if (t->width % 64)
        return err_set(CLIPCL_ERR_MODEL, "%s: text width %d is not a multiple of 64 (heads = width / 64)", path, t->width);
    t->heads = t->width / 64;
    if (t->ctx != CLIPCL_CONTEXT_LENGTH)
        return err_set(CLIPCL_ERR_UNSUPPORTED, "%s: positional_embedding has %d positions; clipcl supports CLIP's %d",
                       path, t->ctx, CLIPCL_CONTEXT_LENGTH);
    if (t->vocab <= CLIPCL_EOT)
        return err_set(CLIPCL_ERR_UNSUPPORTED, "%s: a vocabulary of %d does not contain CLIP's tokens (%d)", path,
                       t->vocab, CLIPCL_EOT + 1);
    if (t->layers < 1 || t->layers > 1024) return err_set(CLIPCL_ERR_MODEL, "%s: %d text blocks", path, t->layers);

    if (st_find(f, "visual.layer1.0.conv1.weight")) {
        d->vision_kind = ARCH_RESNET;
        if ((st = dim(f, path, "visual.layer1.0.conv1.weight", 4, 0, 1, ARCH_RN_MAX_WIDTH, &d->rn_width)) ||
            (st = dim(f, path, "visual.attnpool.positional_embedding", 2, 0, 2, 65537, &pos_rows)))
            return st;
        int total = 0;
        for (int s = 0; s < ARCH_RN_STAGES; s++) {
            char pre[32];
            snprintf(pre, sizeof pre, "visual.layer%d.", s + 1);
            d->rn_stages[s] = count_indexed(f, pre);
            total += d->rn_stages[s];
        }
        int g = grid_of(pos_rows);
        if (g < 1)
            return err_set(CLIPCL_ERR_MODEL, "%s: visual.attnpool.positional_embedding has %d rows, not side² + 1", path,
                           pos_rows);
        v->image_size = 32 * g;
        v->width = 32 * d->rn_width;
        v->heads = v->width / 64;
        v->layers = total;
        if (v->width % 64)
            return err_set(CLIPCL_ERR_MODEL, "%s: attention-pool width %d is not a multiple of 64", path, v->width);
        if (v->image_size > 8192) return err_set(CLIPCL_ERR_LIMIT, "%s: image size %d is beyond the limit", path, v->image_size);
        return arch_check_resnet(d, path);
    }
    d->vision_kind = ARCH_VIT;
    if ((st = dim(f, path, "visual.conv1.weight", 4, 0, 1, 65536, &v->width)) ||
        (st = dim(f, path, "visual.conv1.weight", 4, 3, 1, 8192, &v->patch_size)) ||
        (st = dim(f, path, "visual.positional_embedding", 2, 0, 2, 65537, &pos_rows)) ||
        (st = dim(f, path, "visual.transformer.resblocks.0.mlp.c_fc.weight", 2, 0, 1, 1 << 20, &v->ff)))
        return st;
    int g = grid_of(pos_rows);
    if (g < 1)
        return err_set(CLIPCL_ERR_MODEL, "%s: visual.positional_embedding has %d rows, not grid² + 1", path, pos_rows);
    if ((long)g * v->patch_size > 8192) return err_set(CLIPCL_ERR_LIMIT, "%s: image size beyond the limit", path);
    v->image_size = g * v->patch_size;
    v->layers = count_indexed(f, "visual.transformer.resblocks.");
    if (v->layers < 1 || v->layers > 1024) return err_set(CLIPCL_ERR_MODEL, "%s: %d vision blocks", path, v->layers);
    if (v->width % 64) return err_set(CLIPCL_ERR_MODEL, "%s: vision width %d is not a multiple of 64", path, v->width);
    v->heads = v->width / 64;
    return CLIPCL_OK;
}

/* ---------------------------------------------------------------- writing */

/* mlp_ratio such that open_clip's int(width * ratio) gives ff back */
static double ratio_of(int ff, int width)
{
    double r = (double)ff / width;
    while ((int)floor(width * r) < ff) r = nextafter(r, INFINITY);
    return r;
}

clipcl_status arch_write_openclip(const arch_desc *d, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) return err_set(CLIPCL_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    const tower_cfg *t = &d->c.text, *v = &d->c.vision;
    fprintf(f, "{\n \"model_cfg\": {\n  \"embed_dim\": %d,\n  \"quick_gelu\": %s,\n  \"vision_cfg\": {\n",
            d->c.embed_dim, t->act == OPS_ACT_QUICK_GELU ? "true" : "false");
    if (d->vision_kind == ARCH_RESNET)
        fprintf(f, "   \"image_size\": %d,\n   \"layers\": [%d, %d, %d, %d],\n   \"width\": %d,\n   \"head_width\": %d,\n"
                   "   \"patch_size\": null\n",
                v->image_size, d->rn_stages[0], d->rn_stages[1], d->rn_stages[2], d->rn_stages[3], d->rn_width,
                v->width / v->heads);
    else
        fprintf(f, "   \"image_size\": %d,\n   \"layers\": %d,\n   \"width\": %d,\n   \"head_width\": %d,\n"
                   "   \"mlp_ratio\": %.17g,\n   \"patch_size\": %d\n",
                v->image_size, v->layers, v->width, v->width / v->heads, ratio_of(v->ff, v->width), v->patch_size);
    fprintf(f, "  },\n  \"text_cfg\": {\n   \"context_length\": %d,\n   \"vocab_size\": %d,\n   \"width\": %d,\n"
               "   \"heads\": %d,\n   \"layers\": %d,\n   \"mlp_ratio\": %.17g\n  }\n },\n"
               " \"preprocess_cfg\": {\n  \"mean\": [0.48145466, 0.4578275, 0.40821073],\n"
               "  \"std\": [0.26862954, 0.26130258, 0.27577711],\n  \"interpolation\": \"bicubic\",\n"
               "  \"resize_mode\": \"shortest\"\n }\n}\n",
            t->ctx, t->vocab, t->width, t->heads, t->layers, ratio_of(t->ff, t->width));
    if (fclose(f)) return err_set(CLIPCL_ERR_IO, "%s: write failed", path);
    return CLIPCL_OK;
}
