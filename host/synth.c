/* synth.c — synthetic weights: element i of tensor N is derived from
 * splitmix64(fnv1a64(N) + i), scaled by the tensor's role (LayerNorm weight, bias, other). */
#include "synth.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "ops.h"
#include "st.h"

static uint64_t fnv1a64(const char *s)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001B3ull;
    return h;
}

static uint64_t splitmix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* The second-to-last dotted component of a name ("ln_1" in "x.ln_1.weight"). */
static void parent(const char *name, char *buf, size_t cap)
{
    const char *last = strrchr(name, '.');
    buf[0] = '\0';
    if (!last) return;
    const char *p = last;
    while (p > name && p[-1] != '.') p--;
    size_t n = (size_t)(last - p);
    if (n >= cap) n = cap - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
}

static int is_layernorm_weight(const char *name)
{
    if (!ends_with(name, ".weight")) return 0;
    char par[128];
    parent(name, par, sizeof par);
    return strstr(name, "layer_norm") || strstr(name, "layernorm") || strstr(name, "layrnorm") ||
           !strncmp(par, "ln_", 3);
}

static int is_batchnorm(const char *name)
{
    char par[128];
    parent(name, par, sizeof par);
    if (!par[0]) return 0;
    if (!strncmp(par, "bn", 2)) return 1;
    const char *last = strrchr(name, '.');
    char want[160];
    snprintf(want, sizeof want, "downsample.1%s", last);
    return ends_with(name, want);
}

void synth_fill(const char *name, float *out, size_t n)
{
    if (!strcmp(name, "logit_scale")) {
        for (size_t i = 0; i < n; i++) out[i] = (float)log(100.0);
        return;
    }
    const uint64_t h = fnv1a64(name);
    double scale = 0.035, offset = 0.0;
    if (is_layernorm_weight(name) || (is_batchnorm(name) && (ends_with(name, ".weight") || ends_with(name, ".running_var")))) {
        scale = 0.1;
        offset = 1.0;
    } else if (ends_with(name, ".running_mean") || ends_with(name, ".bias")) {
        scale = 0.02;
    }
    for (size_t i = 0; i < n; i++) {
        double u = (double)(splitmix64(h + i) >> 11) / 9007199254740992.0;
        out[i] = (float)(offset + scale * (2.0 * u - 1.0));
    }
}

clipcl_status synth_arch(const char *name, model_cfg *c)
{
    struct {
        const char *name;
        int E, tw, tl, th, vw, vl, vh, img, patch;
    } archs[] = {
        {"ViT-B/32", 512, 512, 12, 8, 768, 12, 12, 224, 32},
        {"ViT-B/16", 512, 512, 12, 8, 768, 12, 12, 224, 16},
        {"ViT-L/14", 768, 768, 12, 12, 1024, 24, 16, 224, 14},
        {"ViT-L/14-336", 768, 768, 12, 12, 1024, 24, 16, 336, 14},
    };
    for (size_t i = 0; i < sizeof archs / sizeof *archs; i++) {
        if (strcasecmp(name, archs[i].name)) continue;
        *c = (model_cfg){
            .embed_dim = archs[i].E,
            .text = {.width = archs[i].tw, .layers = archs[i].tl, .heads = archs[i].th, .ff = 4 * archs[i].tw,
                     .act = OPS_ACT_QUICK_GELU, .eps = 1e-5f, .ctx = 77, .vocab = 49408},
            .vision = {.width = archs[i].vw, .layers = archs[i].vl, .heads = archs[i].vh, .ff = 4 * archs[i].vw,
                       .act = OPS_ACT_QUICK_GELU, .eps = 1e-5f, .image_size = archs[i].img,
                       .patch_size = archs[i].patch, .channels = 3},
        };
        return CLIPCL_OK;
    }
    return err_set(CLIPCL_ERR_INVALID_ARG,
                   "unknown architecture '%s' (known: ViT-B/32, ViT-B/16, ViT-L/14, ViT-L/14-336; the ResNets "
                   "RN50, RN101, RN50x4, RN50x16, RN50x64 through synth_arch_desc)",
                   name);
}

clipcl_status synth_arch_desc(const char *name, arch_desc *d)
{
    /* OpenAI's ResNet CLIPs (clip/model.py build_model; open_clip's RN*.json) */
    static const struct {
        const char *name;
        int E, tw, th, img, w, s0, s1, s2, s3;
    } rns[] = {
        {"RN50", 1024, 512, 8, 224, 64, 3, 4, 6, 3},       {"RN101", 512, 512, 8, 224, 64, 3, 4, 23, 3},
        {"RN50x4", 640, 640, 10, 288, 80, 4, 6, 10, 6},    {"RN50x16", 768, 768, 12, 384, 96, 6, 8, 18, 8},
        {"RN50x64", 1024, 1024, 16, 448, 128, 3, 15, 36, 10},
    };
    memset(d, 0, sizeof *d);
    for (size_t i = 0; i < sizeof rns / sizeof *rns; i++) {
        if (strcasecmp(name, rns[i].name)) continue;
        const int W = rns[i].w;
        d->layout = ARCH_LAYOUT_OPENAI;
        d->vision_kind = ARCH_RESNET;
        d->rn_width = W;
        d->rn_stages[0] = rns[i].s0, d->rn_stages[1] = rns[i].s1, d->rn_stages[2] = rns[i].s2, d->rn_stages[3] = rns[i].s3;
        d->c = (model_cfg){
            .embed_dim = rns[i].E,
            .text = {.width = rns[i].tw, .layers = 12, .heads = rns[i].th, .ff = 4 * rns[i].tw,
                     .act = OPS_ACT_QUICK_GELU, .eps = 1e-5f, .ctx = 77, .vocab = 49408},
            .vision = {.width = 32 * W, .layers = rns[i].s0 + rns[i].s1 + rns[i].s2 + rns[i].s3, .heads = 32 * W / 64,
                       .act = OPS_ACT_QUICK_GELU, .eps = 1e-5f, .image_size = rns[i].img, .channels = 3},
        };
        return CLIPCL_OK;
    }
    d->layout = ARCH_LAYOUT_HF;
    d->vision_kind = ARCH_VIT;
    clipcl_status st = synth_arch(name, &d->c);
    if (st) err_set(st, "unknown architecture '%s' (known: ViT-B/32, ViT-B/16, ViT-L/14, ViT-L/14-336, RN50, RN101, "
                        "RN50x4, RN50x16, RN50x64)", name);
    return st;
}

typedef struct tlist {
    st_tensor *t;
    int n, cap;
} tlist;

static int add(tlist *L, const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    if (L->n == L->cap) {
        int cap = L->cap ? 2 * L->cap : 256;
        st_tensor *t = realloc(L->t, (size_t)cap * sizeof *t);
        if (!t) return -1;
        L->t = t;
        L->cap = cap;
    }
    st_tensor *t = &L->t[L->n];
    memset(t, 0, sizeof *t);
    int64_t dims[4] = {d0, d1, d2, d3};
    t->numel = 1;
    for (int i = 0; i < ndim; i++) t->numel *= (t->shape[i] = dims[i]);
    t->ndim = ndim;
    t->dtype = ST_F32;
    t->nbytes = (size_t)t->numel * 4;
    t->name = strdup(name);
    float *data = malloc(t->nbytes ? t->nbytes : 4);
    if (!t->name || !data) {
        free(t->name);
        free(data);
        return -1;
    }
    synth_fill(name, data, (size_t)t->numel);
    t->data = (const uint8_t *)data;
    L->n++;
    return 0;
}

/* A PyTorch BatchNorm's num_batches_tracked: I64 [1], 0 (stored by PyTorch, unused). */
static int add_i64(tlist *L, const char *name)
{
    if (add(L, name, 1, 1, 0, 0, 0)) return -1;
    st_tensor *t = &L->t[L->n - 1];
    void *zero = calloc(1, 8);
    if (!zero) return -1;
    free((void *)t->data);
    t->data = zero;
    t->dtype = ST_I64;
    t->nbytes = 8;
    return 0;
}

static int add_tower(tlist *L, const char *pre, const tower_cfg *c)
{
    char n[256];
    int W = c->width, I = c->ff, r = 0;
    for (int l = 0; l < c->layers && !r; l++) {
        const char *proj[4] = {"k_proj", "v_proj", "q_proj", "out_proj"};
        for (int p = 0; p < 4 && !r; p++) {
            snprintf(n, sizeof n, "%s.encoder.layers.%d.self_attn.%s.weight", pre, l, proj[p]);
            r |= add(L, n, 2, W, W, 0, 0);
            snprintf(n, sizeof n, "%s.encoder.layers.%d.self_attn.%s.bias", pre, l, proj[p]);
            r |= add(L, n, 1, W, 0, 0, 0);
        }
        snprintf(n, sizeof n, "%s.encoder.layers.%d.layer_norm1.weight", pre, l), r |= add(L, n, 1, W, 0, 0, 0);
        snprintf(n, sizeof n, "%s.encoder.layers.%d.layer_norm1.bias", pre, l), r |= add(L, n, 1, W, 0, 0, 0);
        snprintf(n, sizeof n, "%s.encoder.layers.%d.mlp.fc1.weight", pre, l), r |= add(L, n, 2, I, W, 0, 0);
        snprintf(n, sizeof n, "%s.encoder.layers.%d.mlp.fc1.bias", pre, l), r |= add(L, n, 1, I, 0, 0, 0);
        snprintf(n, sizeof n, "%s.encoder.layers.%d.mlp.fc2.weight", pre, l), r |= add(L, n, 2, W, I, 0, 0);
        snprintf(n, sizeof n, "%s.encoder.layers.%d.mlp.fc2.bias", pre, l), r |= add(L, n, 1, W, 0, 0, 0);
        snprintf(n, sizeof n, "%s.encoder.layers.%d.layer_norm2.weight", pre, l), r |= add(L, n, 1, W, 0, 0, 0);
        snprintf(n, sizeof n, "%s.encoder.layers.%d.layer_norm2.bias", pre, l), r |= add(L, n, 1, W, 0, 0, 0);
    }
    return r;
}

static const char *act_name(int act) { return act == OPS_ACT_GELU ? "gelu" : "quick_gelu"; }

clipcl_status synth_write_model(const model_cfg *c, const char *dir)
{
    clipcl_status st = CLIPCL_OK;
    tlist L = {0};
    const tower_cfg *t = &c->text, *v = &c->vision;
    int G = v->image_size / v->patch_size, r = 0;
    r |= add(&L, "logit_scale", 0, 0, 0, 0, 0);
    r |= add(&L, "text_model.embeddings.token_embedding.weight", 2, t->vocab, t->width, 0, 0);
    r |= add(&L, "text_model.embeddings.position_embedding.weight", 2, t->ctx, t->width, 0, 0);
    r |= add_tower(&L, "text_model", t);
    r |= add(&L, "text_model.final_layer_norm.weight", 1, t->width, 0, 0, 0);
    r |= add(&L, "text_model.final_layer_norm.bias", 1, t->width, 0, 0, 0);
    r |= add(&L, "vision_model.embeddings.class_embedding", 1, v->width, 0, 0, 0);
    r |= add(&L, "vision_model.embeddings.patch_embedding.weight", 4, v->width, 3, v->patch_size, v->patch_size);
    r |= add(&L, "vision_model.embeddings.position_embedding.weight", 2, G * G + 1, v->width, 0, 0);
    r |= add(&L, "vision_model.pre_layrnorm.weight", 1, v->width, 0, 0, 0);
    r |= add(&L, "vision_model.pre_layrnorm.bias", 1, v->width, 0, 0, 0);
    r |= add_tower(&L, "vision_model", v);
    r |= add(&L, "vision_model.post_layernorm.weight", 1, v->width, 0, 0, 0);
    r |= add(&L, "vision_model.post_layernorm.bias", 1, v->width, 0, 0, 0);
    r |= add(&L, "visual_projection.weight", 2, c->embed_dim, v->width, 0, 0);
    r |= add(&L, "text_projection.weight", 2, c->embed_dim, t->width, 0, 0);
    if (r) {
        st = err_set(CLIPCL_ERR_NOMEM, "out of memory generating synthetic weights");
        goto done;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        st = err_set(CLIPCL_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        goto done;
    }
    fprintf(f,
            "{\n  \"model_type\": \"clip\",\n  \"projection_dim\": %d,\n  \"logit_scale_init_value\": 2.6592,\n"
            "  \"text_config\": {\"hidden_size\": %d, \"intermediate_size\": %d, \"num_hidden_layers\": %d,\n"
            "    \"num_attention_heads\": %d, \"hidden_act\": \"%s\", \"layer_norm_eps\": %g,\n"
            "    \"max_position_embeddings\": %d, \"vocab_size\": %d},\n"
            "  \"vision_config\": {\"hidden_size\": %d, \"intermediate_size\": %d, \"num_hidden_layers\": %d,\n"
            "    \"num_attention_heads\": %d, \"hidden_act\": \"%s\", \"layer_norm_eps\": %g,\n"
            "    \"image_size\": %d, \"patch_size\": %d, \"num_channels\": 3}\n}\n",
            c->embed_dim, t->width, t->ff, t->layers, t->heads, act_name(t->act), (double)t->eps, t->ctx, t->vocab,
            v->width, v->ff, v->layers, v->heads, act_name(v->act), (double)v->eps, v->image_size, v->patch_size);
    if (fclose(f)) {
        st = err_set(CLIPCL_ERR_IO, "%s: write failed", path);
        goto done;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    st = st_write(path, L.t, L.n);
done:
    for (int i = 0; i < L.n; i++) {
        free(L.t[i].name);
        free((void *)L.t[i].data);
    }
    free(L.t);
    return st;
}

/* ---------------------------------------------------------------- OpenAI / open_clip layout */

static int add_resblocks(tlist *L, const char *pre, const tower_cfg *c)
{
    char n[256];
    const int W = c->width, I = c->ff;
    int r = 0;
    for (int l = 0; l < c->layers && !r; l++) {
#define T_(fmt, nd, a, b) (snprintf(n, sizeof n, "%stransformer.resblocks.%d." fmt, pre, l), r |= add(L, n, nd, a, b, 0, 0))
        T_("attn.in_proj_weight", 2, 3 * W, W);
        T_("attn.in_proj_bias", 1, 3 * W, 0);
        T_("attn.out_proj.weight", 2, W, W);
        T_("attn.out_proj.bias", 1, W, 0);
        T_("ln_1.weight", 1, W, 0);
        T_("ln_1.bias", 1, W, 0);
        T_("mlp.c_fc.weight", 2, I, W);
        T_("mlp.c_fc.bias", 1, I, 0);
        T_("mlp.c_proj.weight", 2, W, I);
        T_("mlp.c_proj.bias", 1, W, 0);
        T_("ln_2.weight", 1, W, 0);
        T_("ln_2.bias", 1, W, 0);
#undef T_
    }
    return r;
}

/* conv [cout, cin, k, k] + BatchNorm `bn` */
static int add_conv_bn(tlist *L, const char *conv, const char *bn, int cin, int cout, int k)
{
    char n[256];
    int r = add(L, conv, 4, cout, cin, k, k);
    const char *parts[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int i = 0; i < 4; i++) snprintf(n, sizeof n, "%s.%s", bn, parts[i]), r |= add(L, n, 1, cout, 0, 0, 0);
    snprintf(n, sizeof n, "%s.num_batches_tracked", bn);
    return r | add_i64(L, n);
}

static int add_resnet(tlist *L, const arch_desc *d)
{
    char cn[256], bn[256];
    const int W = d->rn_width, C = d->c.vision.width, E = d->c.embed_dim, G = arch_rn_grid(d->c.vision.image_size);
    int r = 0;
    const int stem_in[3] = {3, W / 2, W / 2}, stem_out[3] = {W / 2, W / 2, W};
    for (int i = 0; i < 3; i++) {
        snprintf(cn, sizeof cn, "visual.conv%d.weight", i + 1);
        snprintf(bn, sizeof bn, "visual.bn%d", i + 1);
        r |= add_conv_bn(L, cn, bn, stem_in[i], stem_out[i], 3);
    }
    int inpl = W;
    for (int s = 0; s < ARCH_RN_STAGES && !r; s++) {
        const int planes = W << s;
        for (int b = 0; b < d->rn_stages[s] && !r; b++) {
            const char *conv[3] = {"conv1", "conv2", "conv3"}, *norm[3] = {"bn1", "bn2", "bn3"};
            const int ci[3] = {inpl, planes, planes}, co[3] = {planes, planes, 4 * planes}, k[3] = {1, 3, 1};
            for (int i = 0; i < 3; i++) {
                snprintf(cn, sizeof cn, "visual.layer%d.%d.%s.weight", s + 1, b, conv[i]);
                snprintf(bn, sizeof bn, "visual.layer%d.%d.%s", s + 1, b, norm[i]);
                r |= add_conv_bn(L, cn, bn, ci[i], co[i], k[i]);
            }
            if (b == 0 && (s > 0 || inpl != 4 * planes)) {
                snprintf(cn, sizeof cn, "visual.layer%d.%d.downsample.0.weight", s + 1, b);
                snprintf(bn, sizeof bn, "visual.layer%d.%d.downsample.1", s + 1, b);
                r |= add_conv_bn(L, cn, bn, inpl, 4 * planes, 1);
            }
            inpl = 4 * planes;
        }
    }
    r |= add(L, "visual.attnpool.positional_embedding", 2, G * G + 1, C, 0, 0);
    const char *proj[3] = {"k_proj", "q_proj", "v_proj"};
    for (int i = 0; i < 3; i++) {
        snprintf(cn, sizeof cn, "visual.attnpool.%s.weight", proj[i]), r |= add(L, cn, 2, C, C, 0, 0);
        snprintf(cn, sizeof cn, "visual.attnpool.%s.bias", proj[i]), r |= add(L, cn, 1, C, 0, 0, 0);
    }
    r |= add(L, "visual.attnpool.c_proj.weight", 2, E, C, 0, 0);
    r |= add(L, "visual.attnpool.c_proj.bias", 1, E, 0, 0, 0);
    return r;
}

static int add_vit_oai(tlist *L, const arch_desc *d)
{
    const tower_cfg *v = &d->c.vision;
    const int W = v->width, G = v->image_size / v->patch_size;
    int r = add(L, "visual.class_embedding", 1, W, 0, 0, 0);
    r |= add(L, "visual.positional_embedding", 2, G * G + 1, W, 0, 0);
    r |= add(L, "visual.proj", 2, W, d->c.embed_dim, 0, 0);
    r |= add(L, "visual.conv1.weight", 4, W, 3, v->patch_size, v->patch_size);
    r |= add(L, "visual.ln_pre.weight", 1, W, 0, 0, 0);
    r |= add(L, "visual.ln_pre.bias", 1, W, 0, 0, 0);
    r |= add_resblocks(L, "visual.", v);
    r |= add(L, "visual.ln_post.weight", 1, W, 0, 0, 0);
    r |= add(L, "visual.ln_post.bias", 1, W, 0, 0, 0);
    return r;
}

clipcl_status synth_write_openai(const arch_desc *d, const char *dir)
{
    clipcl_status st = CLIPCL_OK;
    tlist L = {0};
    const tower_cfg *t = &d->c.text;
    int r = add(&L, "positional_embedding", 2, t->ctx, t->width, 0, 0);
    r |= add(&L, "text_projection", 2, t->width, d->c.embed_dim, 0, 0);
    r |= add(&L, "logit_scale", 1, 1, 0, 0, 0);
    r |= d->vision_kind == ARCH_RESNET ? add_resnet(&L, d) : add_vit_oai(&L, d);
    r |= add_resblocks(&L, "", t);
    r |= add(&L, "token_embedding.weight", 2, t->vocab, t->width, 0, 0);
    r |= add(&L, "ln_final.weight", 1, t->width, 0, 0, 0);
    r |= add(&L, "ln_final.bias", 1, t->width, 0, 0, 0);
    char path[4096];
    if (r) {
        st = err_set(CLIPCL_ERR_NOMEM, "out of memory generating synthetic weights");
        goto done;
    }
    snprintf(path, sizeof path, "%s/open_clip_config.json", dir);
    if ((st = arch_write_openclip(d, path))) goto done;
    snprintf(path, sizeof path, "%s/open_clip_model.safetensors", dir);
    st = st_write(path, L.t, L.n);
done:
    for (int i = 0; i < L.n; i++) {
        free(L.t[i].name);
        free((void *)L.t[i].data);
    }
    free(L.t);
    return st;
}

clipcl_status synth_write(const arch_desc *d, const char *dir)
{
    return d->layout == ARCH_LAYOUT_OPENAI ? synth_write_openai(d, dir) : synth_write_model(&d->c, dir);
}
