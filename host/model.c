/* model.c — load a Hugging Face CLIP folder: check every tensor against the config, convert
 * to float32, upload to the device. Also owns the model's scratch buffers. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "st.h"

clipcl_model_params clipcl_model_default_params(void)
{
    return (clipcl_model_params){.max_batch = 0, .load_text = 1, .load_vision = 1};
}

typedef struct loader {
    clipcl_model *m;
    st_file *st;
    float *tmp;              /* conversion buffer */
    size_t tmp_cap;
} loader;

/* Uploads `count` tensors (same trailing shape) concatenated along dim 0 into one buffer:
 * used for q;k;v. Each name is checked against its expected shape first. */
static clipcl_status upload_cat(loader *L, cl_mem *out, int count, const char *const *names, int ndim,
                                const int64_t *shape)
{
    ocl *o = &L->m->ctx->cl;
    size_t numel = 1;
    for (int d = 0; d < ndim; d++) numel *= (size_t)shape[d];
    const st_tensor *ts[3];
    for (int i = 0; i < count; i++) {
        clipcl_status st = st_expect(L->st, names[i], ndim, shape, &ts[i]);
        if (st) return st;
    }
    if (numel > L->tmp_cap) {
        float *t = realloc(L->tmp, numel * sizeof(float));
        if (!t) return err_set(CLIPCL_ERR_NOMEM, "out of memory converting tensor '%s'", names[0]);
        L->tmp = t;
        L->tmp_cap = numel;
    }
    clipcl_status st = ocl_alloc(o, numel * count * sizeof(float), out, names[0]);
    for (int i = 0; !st && i < count; i++) {
        st = st_to_f32(ts[i], L->tmp);
        if (!st) st = ocl_upload(o, *out, i * numel * sizeof(float), numel * sizeof(float), L->tmp);
    }
    return st;
}

static clipcl_status upload(loader *L, cl_mem *out, const char *name, int ndim, int64_t d0, int64_t d1,
                            int64_t d2, int64_t d3)
{
    int64_t shape[4] = {d0, d1, d2, d3};
    return upload_cat(L, out, 1, &name, ndim, shape);
}

static clipcl_status load_layers(loader *L, tower *t, const char *prefix)
{
    const int W = t->c.width, I = t->c.ff;
    char n[8][192];
    t->layers = calloc((size_t)t->c.layers, sizeof *t->layers);
    if (!t->layers) return err_set(CLIPCL_ERR_NOMEM, "out of memory");
    for (int l = 0; l < t->c.layers; l++) {
        layer_w *w = &t->layers[l];
        clipcl_status st;
#define NAME(i, fmt) snprintf(n[i], sizeof n[i], "%s.encoder.layers.%d." fmt, prefix, l)
        NAME(0, "self_attn.q_proj.weight");
        NAME(1, "self_attn.k_proj.weight");
        NAME(2, "self_attn.v_proj.weight");
        NAME(3, "self_attn.q_proj.bias");
        NAME(4, "self_attn.k_proj.bias");
        NAME(5, "self_attn.v_proj.bias");
        const char *wq[3] = {n[0], n[1], n[2]}, *bq[3] = {n[3], n[4], n[5]};
        int64_t sw[2] = {W, W}, sb[1] = {W};
        if ((st = upload_cat(L, &w->qkv_w, 3, wq, 2, sw)) || (st = upload_cat(L, &w->qkv_b, 3, bq, 1, sb)))
            return st;
        struct {
            cl_mem *dst;
            const char *fmt;
            int ndim;
            int64_t d0, d1;
        } items[] = {
            {&w->out_w, "self_attn.out_proj.weight", 2, W, W}, {&w->out_b, "self_attn.out_proj.bias", 1, W, 0},
            {&w->ln1_g, "layer_norm1.weight", 1, W, 0},        {&w->ln1_b, "layer_norm1.bias", 1, W, 0},
            {&w->ln2_g, "layer_norm2.weight", 1, W, 0},        {&w->ln2_b, "layer_norm2.bias", 1, W, 0},
            {&w->fc1_w, "mlp.fc1.weight", 2, I, W},            {&w->fc1_b, "mlp.fc1.bias", 1, I, 0},
            {&w->fc2_w, "mlp.fc2.weight", 2, W, I},            {&w->fc2_b, "mlp.fc2.bias", 1, W, 0},
        };
        for (size_t i = 0; i < sizeof items / sizeof *items; i++) {
            snprintf(n[6], sizeof n[6], "%s.encoder.layers.%d.%s", prefix, l, items[i].fmt);
            if ((st = upload(L, items[i].dst, n[6], items[i].ndim, items[i].d0, items[i].d1, 0, 0))) return st;
        }
#undef NAME
    }
    return CLIPCL_OK;
}

static clipcl_status load_text(loader *L)
{
    tower *t = &L->m->text;
    const tower_cfg *c = &t->c;
    clipcl_status st;
    t->tokens = c->ctx;
    if ((st = upload(L, &t->tok_emb, "text_model.embeddings.token_embedding.weight", 2, c->vocab, c->width, 0, 0)) ||
        (st = upload(L, &t->pos_emb, "text_model.embeddings.position_embedding.weight", 2, c->ctx, c->width, 0, 0)) ||
        (st = load_layers(L, t, "text_model")) ||
        (st = upload(L, &t->final_g, "text_model.final_layer_norm.weight", 1, c->width, 0, 0, 0)) ||
        (st = upload(L, &t->final_b, "text_model.final_layer_norm.bias", 1, c->width, 0, 0, 0)) ||
        (st = upload(L, &t->proj, "text_projection.weight", 2, L->m->cfg.embed_dim, c->width, 0, 0)))
        return st;
    return ops_attn_create(&L->m->ctx->k, c->width / c->heads, &t->attn);
}

static clipcl_status load_vision(loader *L)
{
    tower *t = &L->m->vision;
    const tower_cfg *c = &t->c;
    const int G = c->image_size / c->patch_size, P = c->patch_size;
    clipcl_status st;
    t->tokens = G * G + 1;
    if ((st = upload(L, &t->patch_w, "vision_model.embeddings.patch_embedding.weight", 4, c->width, c->channels, P,
                     P)) ||
        (st = upload(L, &t->cls, "vision_model.embeddings.class_embedding", 1, c->width, 0, 0, 0)) ||
        (st = upload(L, &t->pos_emb, "vision_model.embeddings.position_embedding.weight", 2, t->tokens, c->width, 0,
                     0)) ||
        (st = upload(L, &t->pre_g, "vision_model.pre_layrnorm.weight", 1, c->width, 0, 0, 0)) ||
        (st = upload(L, &t->pre_b, "vision_model.pre_layrnorm.bias", 1, c->width, 0, 0, 0)) ||
        (st = load_layers(L, t, "vision_model")) ||
        (st = upload(L, &t->final_g, "vision_model.post_layernorm.weight", 1, c->width, 0, 0, 0)) ||
        (st = upload(L, &t->final_b, "vision_model.post_layernorm.bias", 1, c->width, 0, 0, 0)) ||
        (st = upload(L, &t->proj, "visual_projection.weight", 2, L->m->cfg.embed_dim, c->width, 0, 0)))
        return st;
    return ops_attn_create(&L->m->ctx->k, c->width / c->heads, &t->attn);
}

/* Bytes of activations one item needs in the shared workspace (see enc.c for their use). */
static size_t item_bytes(const tower *t)
{
    if (!t->present) return 0;
    size_t T = (size_t)t->tokens, W = (size_t)t->c.width;
    size_t h = T * (size_t)t->c.ff, patches = 0;
    if (t->c.patch_size) patches = (T - 1) * 3 * (size_t)t->c.patch_size * t->c.patch_size;
    return (T * W * 5 + (h > patches ? h : patches) + T) * sizeof(float);
}

static void fill_info(clipcl_model *m)
{
    clipcl_model_info *i = &m->info;
    const model_cfg *c = &m->cfg;
    i->embed_dim = c->embed_dim;
    i->has_text = m->text.present;
    i->has_vision = m->vision.present;
    i->text_width = c->text.width;
    i->text_layers = c->text.layers;
    i->text_heads = c->text.heads;
    i->text_ff = c->text.ff;
    i->text_ctx = c->text.ctx;
    i->vocab_size = c->text.vocab;
    i->text_gelu = c->text.act == OPS_ACT_GELU;
    i->vision_width = c->vision.width;
    i->vision_layers = c->vision.layers;
    i->vision_heads = c->vision.heads;
    i->vision_ff = c->vision.ff;
    i->image_size = c->vision.image_size;
    i->patch_size = c->vision.patch_size;
    i->vision_tokens = m->vision.tokens;
    i->vision_gelu = c->vision.act == OPS_ACT_GELU;
}

clipcl_status clipcl_model_load(clipcl_context *ctx, const char *dir, const clipcl_model_params *params,
                                clipcl_model **out)
{
    if (!ctx || !dir || !out) return err_set(CLIPCL_ERR_INVALID_ARG, "clipcl_model_load: NULL argument");
    *out = NULL;
    clipcl_model_params p = params ? *params : clipcl_model_default_params();
    if (p.max_batch < 0) return err_set(CLIPCL_ERR_INVALID_ARG, "max_batch %d is negative", p.max_batch);
    if (!p.load_text && !p.load_vision)
        return err_set(CLIPCL_ERR_INVALID_ARG, "clipcl_model_load: neither tower requested");
    char path[4096];
    loader L = {0};
    clipcl_status st;
    clipcl_model *m = calloc(1, sizeof *m);
    if (!m) return err_set(CLIPCL_ERR_NOMEM, "out of memory");
    m->ctx = ctx;
    L.m = m;

    snprintf(path, sizeof path, "%s/config.json", dir);
    if ((st = cfg_load(path, &m->cfg))) goto fail;
    m->preproc = clipcl_preproc_default();
    m->preproc.size = m->cfg.vision.image_size;
    snprintf(path, sizeof path, "%s/preprocessor_config.json", dir);
    FILE *pf = fopen(path, "rb");
    if (pf) {
        fclose(pf);
        if ((st = cfg_load_preproc(path, &m->preproc))) goto fail;
        if (m->preproc.size != m->cfg.vision.image_size) {
            st = err_set(CLIPCL_ERR_MODEL, "%s: crop size %d differs from the model's image_size %d", path,
                         m->preproc.size, m->cfg.vision.image_size);
            goto fail;
        }
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if ((st = st_open(path, &L.st))) goto fail;

    const st_tensor *ls;
    if ((st = st_expect(L.st, "logit_scale", 0, NULL, &ls))) goto fail;
    float lsv;
    if ((st = st_to_f32(ls, &lsv))) goto fail;
    if (!isfinite(lsv) || lsv > 20.0f) {
        st = err_set(CLIPCL_ERR_MODEL, "%s: logit_scale %g is not a usable temperature", path, lsv);
        goto fail;
    }
    m->info.logit_scale = expf(lsv);

    m->text.c = m->cfg.text;
    m->vision.c = m->cfg.vision;
    m->text.present = p.load_text;
    m->vision.present = p.load_vision;
    if (p.load_text && (st = load_text(&L))) goto fail;
    if (p.load_vision && (st = load_vision(&L))) goto fail;
    fill_info(m);

    /* Default batch: what fits in a quarter of device memory, at most 64 items. */
    size_t per = item_bytes(&m->text) > item_bytes(&m->vision) ? item_bytes(&m->text) : item_bytes(&m->vision);
    uint64_t budget = ctx->cl.info.global_mem / 4;
    int mb = p.max_batch ? p.max_batch : 64;
    if (!p.max_batch)
        while (mb > 1 && (uint64_t)mb * per > budget) mb /= 2;
    m->max_batch = mb;

    free(L.tmp);
    st_close(L.st);
    *out = m;
    return CLIPCL_OK;
fail:
    free(L.tmp);
    st_close(L.st);
    clipcl_model_free(m);
    return st;
}

static void free_tower(ocl *o, tower *t)
{
    if (t->layers) {
        for (int l = 0; l < t->c.layers; l++) {
            cl_mem *w = (cl_mem *)&t->layers[l];
            for (size_t i = 0; i < sizeof(layer_w) / sizeof(cl_mem); i++) ocl_release(o, &w[i]);
        }
        free(t->layers);
        t->layers = NULL;
    }
    ops_attn_free(&t->attn);
    cl_mem *all[] = {&t->final_g, &t->final_b, &t->proj, &t->tok_emb, &t->pos_emb,
                     &t->patch_w, &t->cls,     &t->pre_g, &t->pre_b};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) ocl_release(o, all[i]);
}

void model_ws_free(clipcl_model *m)
{
    workspace *ws = &m->ws;
    cl_mem *all[] = {&ws->x, &ws->ln, &ws->qkv, &ws->h, &ws->idx, &ws->ids, &ws->pix, &ws->pooled, &ws->feat, &ws->emb};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) ocl_release(&m->ctx->cl, all[i]);
    ws->batch = 0;
}

void clipcl_model_free(clipcl_model *m)
{
    if (!m) return;
    if (m->ctx && m->ctx->cl.queue) clFinish(m->ctx->cl.queue);
    model_ws_free(m);
    free_tower(&m->ctx->cl, &m->text);
    free_tower(&m->ctx->cl, &m->vision);
    clipcl_tokenizer_free(m->tok);
    free(m);
}

const clipcl_model_info *clipcl_model_get_info(const clipcl_model *m) { return m ? &m->info : NULL; }
int clipcl_model_embed_dim(const clipcl_model *m) { return m ? m->info.embed_dim : 0; }
float clipcl_model_logit_scale(const clipcl_model *m) { return m ? m->info.logit_scale : 0.0f; }
const clipcl_preproc *clipcl_model_preproc(const clipcl_model *m) { return m ? &m->preproc : NULL; }

size_t clipcl_model_pixels_per_image(const clipcl_model *m)
{
    return m ? 3 * (size_t)m->cfg.vision.image_size * (size_t)m->cfg.vision.image_size : 0;
}

const clipcl_tokenizer *clipcl_model_tokenizer(clipcl_model *m)
{
    if (!m) return NULL;
    if (!m->tok && clipcl_tokenizer_create(NULL, &m->tok) != CLIPCL_OK) return NULL;
    return m->tok;
}
