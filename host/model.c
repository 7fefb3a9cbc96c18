/* model.c — load a CLIP model folder: find its layout (Hugging Face or OpenAI / open_clip),
 * check every tensor against the description, convert to float32, fold ResNet BatchNorms into
 * their convolutions, upload to the device. Also owns the model's scratch buffers. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "st.h"

#define COL_CAP_FLOATS ((size_t)16 << 20) /* im2col chunk: 64 MiB, whatever the batch */

clipcl_model_params clipcl_model_default_params(void)
{
    return (clipcl_model_params){.max_batch = 0, .load_text = 1, .load_vision = 1,
                                 .precision = CLIPCL_PRECISION_FP32};
}

typedef struct loader {
    clipcl_model *m;
    st_file *st;
    float *tmp;              /* conversion buffer */
    size_t tmp_cap;
    int half;                /* the upload in progress stores IEEE halves (fp16 weights) */
    uint16_t *htmp;          /* half conversion buffer */
    size_t htmp_cap;
} loader;

static clipcl_status reserve(loader *L, size_t numel, const char *name)
{
    if (numel <= L->tmp_cap) return CLIPCL_OK;
    float *t = realloc(L->tmp, numel * sizeof(float));
    if (!t) return err_set(CLIPCL_ERR_NOMEM, "out of memory converting tensor '%s'", name);
    L->tmp = t;
    L->tmp_cap = numel;
    return CLIPCL_OK;
}

/* Writes n floats at element offset `at` of buf, as floats or (L->half) as IEEE halves. */
static clipcl_status put(loader *L, cl_mem buf, size_t at, const float *src, size_t n, const char *name)
{
    ocl *o = &L->m->ctx->cl;
    if (!L->half) return ocl_upload(o, buf, at * sizeof(float), n * sizeof(float), src);
    if (n > L->htmp_cap) {
        uint16_t *h = realloc(L->htmp, n * sizeof *h);
        if (!h) return err_set(CLIPCL_ERR_NOMEM, "out of memory converting tensor '%s' to fp16", name);
        L->htmp = h;
        L->htmp_cap = n;
    }
    for (size_t i = 0; i < n; i++) L->htmp[i] = st_f32_to_f16(src[i]);
    return ocl_upload(o, buf, at * sizeof(uint16_t), n * sizeof(uint16_t), L->htmp);
}

/* Device buffer for n elements of the upload in progress. */
static clipcl_status alloc_for(loader *L, size_t n, cl_mem *out, const char *name)
{
    return ocl_alloc(&L->m->ctx->cl, n * (L->half ? sizeof(uint16_t) : sizeof(float)), out, name);
}

/* Floats of the largest fp16 GEMM weight of a transformer tower (its widening scratch). */
static size_t widest_weight(const tower *t, int embed_dim)
{
    if (!t->present || t->kind == TOWER_RESNET) return 0;
    size_t W = (size_t)t->c.width, cands[4] = {3 * W * W, (size_t)t->c.ff * W, (size_t)embed_dim * W, 0}, mx = 0;
    if (t->kind == TOWER_VIT) cands[3] = W * 3 * (size_t)t->c.patch_size * t->c.patch_size;
    for (int i = 0; i < 4; i++)
        if (cands[i] > mx) mx = cands[i];
    return mx;
}

/* Uploads `count` tensors (same trailing shape) concatenated along dim 0 into one buffer:
 * used for q;k;v. Each name is checked against its expected shape first. */
static clipcl_status upload_cat(loader *L, cl_mem *out, int count, const char *const *names, int ndim,
                                const int64_t *shape)
{
    size_t numel = 1;
    for (int d = 0; d < ndim; d++) numel *= (size_t)shape[d];
    const st_tensor *ts[3];
    for (int i = 0; i < count; i++) {
        clipcl_status st = st_expect(L->st, names[i], ndim, shape, &ts[i]);
        if (st) return st;
    }
    clipcl_status st = reserve(L, numel, names[0]);
    if (!st) st = alloc_for(L, numel * count, out, names[0]);
    for (int i = 0; !st && i < count; i++) {
        st = st_to_f32(ts[i], L->tmp);
        if (!st) st = put(L, *out, i * numel, L->tmp, numel, names[i]);
    }
    return st;
}

static clipcl_status upload(loader *L, cl_mem *out, const char *name, int ndim, int64_t d0, int64_t d1,
                            int64_t d2, int64_t d3)
{
    int64_t shape[4] = {d0, d1, d2, d3};
    return upload_cat(L, out, 1, &name, ndim, shape);
}

/* A matrix used as a GEMM operand (or the token table): stored in the model's precision. */
static clipcl_status upload_w(loader *L, cl_mem *out, const char *name, int ndim, int64_t d0, int64_t d1,
                              int64_t d2, int64_t d3)
{
    L->half = L->m->half;
    clipcl_status st = upload(L, out, name, ndim, d0, d1, d2, d3);
    L->half = 0;
    return st;
}


/* A [rows, cols] tensor used as x @ P (OpenAI's projections) uploaded as [cols, rows], the
 * [out, in] layout the GEMMs take. */
static clipcl_status upload_t(loader *L, cl_mem *out, const char *name, int64_t rows, int64_t cols)
{
    const int64_t shape[2] = {rows, cols};
    const st_tensor *t;
    clipcl_status st = st_expect(L->st, name, 2, shape, &t);
    size_t n = (size_t)rows * (size_t)cols;
    if (!st) st = reserve(L, 2 * n, name);
    if (!st) st = st_to_f32(t, L->tmp);
    if (st) return st;
    float *tr = L->tmp + n;
    for (size_t r = 0; r < (size_t)rows; r++)
        for (size_t c = 0; c < (size_t)cols; c++) tr[c * rows + r] = L->tmp[r * cols + c];
    if ((st = alloc_for(L, n, out, name))) return st;
    return put(L, *out, 0, tr, n, name);
}

static clipcl_status upload_wt(loader *L, cl_mem *out, const char *name, int64_t rows, int64_t cols)
{
    L->half = L->m->half;
    clipcl_status st = upload_t(L, out, name, rows, cols);
    L->half = 0;
    return st;
}

/* ---------------------------------------------------------------- transformer towers */

enum { N_OUT_W, N_OUT_B, N_LN1_G, N_LN1_B, N_LN2_G, N_LN2_B, N_FC1_W, N_FC1_B, N_FC2_W, N_FC2_B, N_NAMES };

static const char *const hf_names[N_NAMES] = {
    "self_attn.out_proj.weight", "self_attn.out_proj.bias", "layer_norm1.weight", "layer_norm1.bias",
    "layer_norm2.weight",        "layer_norm2.bias",        "mlp.fc1.weight",     "mlp.fc1.bias",
    "mlp.fc2.weight",            "mlp.fc2.bias"};
static const char *const oai_names[N_NAMES] = {
    "attn.out_proj.weight", "attn.out_proj.bias", "ln_1.weight",      "ln_1.bias",        "ln_2.weight",
    "ln_2.bias",            "mlp.c_fc.weight",    "mlp.c_fc.bias",    "mlp.c_proj.weight", "mlp.c_proj.bias"};

/* A block's GEMM weight [rows, cols] turned [cols, rows] on the device, for contexts whose
 * GEMM kernel reads the weights that way (ops_set_gemm, ops_gemm_fm). */
static clipcl_status turn_weight(loader *L, cl_mem *w, int rows, int cols, const char *name)
{
    clipcl_model *m = L->m;
    if (!m->ctx->k.w_t) return CLIPCL_OK;
    const int elem = m->half ? 2 : 4;
    cl_mem t;
    clipcl_status st = ocl_alloc(&m->ctx->cl, (size_t)rows * cols * elem, &t, name);
    if (st) return st;
    if ((st = ops_transpose(&m->ctx->k, *w, t, rows, cols, elem))) {
        ocl_release(&m->ctx->cl, &t);
        return st;
    }
    ocl_release(&m->ctx->cl, w); /* freed once the transpose has run */
    *w = t;
    return CLIPCL_OK;
}

/* Blocks of a tower. HF: "<prefix>.encoder.layers.N." with separate q, k, v; OpenAI:
 * "<prefix>transformer.resblocks.N." with q;k;v already stacked in in_proj_weight. */
static clipcl_status load_layers(loader *L, tower *t, const char *prefix, int oai)
{
    const int W = t->c.width, I = t->c.ff;
    char n[8][192], lp[160];
    t->layers = calloc((size_t)t->c.layers, sizeof *t->layers);
    if (!t->layers) return err_set(CLIPCL_ERR_NOMEM, "out of memory");
    for (int l = 0; l < t->c.layers; l++) {
        layer_w *w = &t->layers[l];
        clipcl_status st;
        if (oai) {
            snprintf(lp, sizeof lp, "%stransformer.resblocks.%d.", prefix, l);
            snprintf(n[0], sizeof n[0], "%sattn.in_proj_weight", lp);
            snprintf(n[1], sizeof n[1], "%sattn.in_proj_bias", lp);
            if ((st = upload_w(L, &w->qkv_w, n[0], 2, 3 * (int64_t)W, W, 0, 0)) ||
                (st = upload(L, &w->qkv_b, n[1], 1, 3 * (int64_t)W, 0, 0, 0)))
                return st;
        } else {
            snprintf(lp, sizeof lp, "%s.encoder.layers.%d.", prefix, l);
            const char *proj[3] = {"q_proj", "k_proj", "v_proj"};
            for (int i = 0; i < 3; i++) {
                snprintf(n[i], sizeof n[i], "%sself_attn.%s.weight", lp, proj[i]);
                snprintf(n[3 + i], sizeof n[3 + i], "%sself_attn.%s.bias", lp, proj[i]);
            }
            const char *wq[3] = {n[0], n[1], n[2]}, *bq[3] = {n[3], n[4], n[5]};
            int64_t sw[2] = {W, W}, sb[1] = {W};
            L->half = L->m->half;
            st = upload_cat(L, &w->qkv_w, 3, wq, 2, sw);
            L->half = 0;
            if (st || (st = upload_cat(L, &w->qkv_b, 3, bq, 1, sb))) return st;
        }
        struct {
            cl_mem *dst;
            int name, ndim;
            int64_t d0, d1;
        } items[] = {
            {&w->out_w, N_OUT_W, 2, W, W}, {&w->out_b, N_OUT_B, 1, W, 0}, {&w->ln1_g, N_LN1_G, 1, W, 0},
            {&w->ln1_b, N_LN1_B, 1, W, 0}, {&w->ln2_g, N_LN2_G, 1, W, 0}, {&w->ln2_b, N_LN2_B, 1, W, 0},
            {&w->fc1_w, N_FC1_W, 2, I, W}, {&w->fc1_b, N_FC1_B, 1, I, 0}, {&w->fc2_w, N_FC2_W, 2, W, I},
            {&w->fc2_b, N_FC2_B, 1, W, 0},
        };
        for (size_t i = 0; i < sizeof items / sizeof *items; i++) {
            snprintf(n[6], sizeof n[6], "%s%s", lp, (oai ? oai_names : hf_names)[items[i].name]);
            /* the 2-D items are the GEMM weights */
            if ((st = (items[i].ndim == 2 ? upload_w : upload)(L, items[i].dst, n[6], items[i].ndim, items[i].d0,
                                                               items[i].d1, 0, 0)))
                return st;
        }
        if ((st = turn_weight(L, &w->qkv_w, 3 * W, W, "q;k;v weight")) ||
            (st = turn_weight(L, &w->out_w, W, W, "out_proj weight")) ||
            (st = turn_weight(L, &w->fc1_w, I, W, "fc1 weight")) || (st = turn_weight(L, &w->fc2_w, W, I, "fc2 weight")))
            return st;
    }
    return CLIPCL_OK;
}

/* Tensor names of the two layouts: Hugging Face (CLIPModel) and OpenAI / open_clip. OpenAI
 * stores the projections as [width, embed] (x @ proj), Hugging Face as [embed, width]. */
typedef struct tower_names {
    const char *embed, *cls, *pos, *pre_g, *pre_b; /* embed: token table or patch convolution */
    const char *layers;                            /* prefix of the blocks */
    const char *final_g, *final_b, *proj;
} tower_names;

static const tower_names hf_text = {"text_model.embeddings.token_embedding.weight", NULL,
                                    "text_model.embeddings.position_embedding.weight", NULL, NULL, "text_model",
                                    "text_model.final_layer_norm.weight", "text_model.final_layer_norm.bias",
                                    "text_projection.weight"};
static const tower_names oai_text = {"token_embedding.weight", NULL, "positional_embedding", NULL, NULL, "",
                                     "ln_final.weight", "ln_final.bias", "text_projection"};
static const tower_names hf_vit = {"vision_model.embeddings.patch_embedding.weight",
                                   "vision_model.embeddings.class_embedding",
                                   "vision_model.embeddings.position_embedding.weight",
                                   "vision_model.pre_layrnorm.weight", "vision_model.pre_layrnorm.bias", "vision_model",
                                   "vision_model.post_layernorm.weight", "vision_model.post_layernorm.bias",
                                   "visual_projection.weight"};
static const tower_names oai_vit = {"visual.conv1.weight", "visual.class_embedding", "visual.positional_embedding",
                                    "visual.ln_pre.weight", "visual.ln_pre.bias", "visual.",
                                    "visual.ln_post.weight", "visual.ln_post.bias", "visual.proj"};

/* The parts both towers share after their embeddings: blocks, final LayerNorm, projection. */
static clipcl_status load_tail(loader *L, tower *t, const tower_names *n, int oai)
{
    const tower_cfg *c = &t->c;
    const int E = L->m->cfg.embed_dim;
    clipcl_status st;
    if ((st = load_layers(L, t, n->layers, oai)) ||
        (st = upload(L, &t->final_g, n->final_g, 1, c->width, 0, 0, 0)) ||
        (st = upload(L, &t->final_b, n->final_b, 1, c->width, 0, 0, 0)) ||
        (st = oai ? upload_wt(L, &t->proj, n->proj, c->width, E) : upload_w(L, &t->proj, n->proj, 2, E, c->width, 0, 0)))
        return st;
    return ops_attn_create(&L->m->ctx->k, c->width / c->heads, &t->attn);
}

static clipcl_status load_text(loader *L, int oai)
{
    const tower_names *n = oai ? &oai_text : &hf_text;
    tower *t = &L->m->text;
    const tower_cfg *c = &t->c;
    clipcl_status st;
    t->kind = TOWER_TEXT;
    t->tokens = c->ctx;
    if ((st = upload_w(L, &t->tok_emb, n->embed, 2, c->vocab, c->width, 0, 0)) ||
        (st = upload(L, &t->pos_emb, n->pos, 2, c->ctx, c->width, 0, 0)))
        return st;
    return load_tail(L, t, n, oai);
}

static clipcl_status load_vit(loader *L, int oai)
{
    const tower_names *n = oai ? &oai_vit : &hf_vit;
    tower *t = &L->m->vision;
    const tower_cfg *c = &t->c;
    const int G = c->image_size / c->patch_size, P = c->patch_size;
    clipcl_status st;
    t->kind = TOWER_VIT;
    t->tokens = G * G + 1;
    if ((st = upload_w(L, &t->patch_w, n->embed, 4, c->width, c->channels, P, P)) ||
        (st = turn_weight(L, &t->patch_w, c->width, c->channels * P * P, "patch weight")) ||
        (st = upload(L, &t->cls, n->cls, 1, c->width, 0, 0, 0)) ||
        (st = upload(L, &t->pos_emb, n->pos, 2, t->tokens, c->width, 0, 0)) ||
        (st = upload(L, &t->pre_g, n->pre_g, 1, c->width, 0, 0, 0)) ||
        (st = upload(L, &t->pre_b, n->pre_b, 1, c->width, 0, 0, 0)))
        return st;
    return load_tail(L, t, n, oai);
}

/* ---------------------------------------------------------------- ResNet */

/* One [n] BatchNorm parameter as floats. */
static clipcl_status bn_param(loader *L, const char *bn, const char *what, int n, float *out)
{
    char name[192];
    snprintf(name, sizeof name, "%s.%s", bn, what);
    const int64_t shape[1] = {n};
    const st_tensor *t;
    clipcl_status st = st_expect(L->st, name, 1, shape, &t);
    return st ? st : st_to_f32(t, out);
}

/* Convolution `conv` [cout, cin, k, k] followed by BatchNorm `bn`, folded (in double) into
 * w' = w·s and b = beta - mean·s with s = gamma / sqrt(var + eps), the weight reordered to
 * [cout][ky][kx][cin] for channels-last im2col. The bias goes to host memory `bias`. */
static clipcl_status load_conv_bn(loader *L, conv_w *cw, const char *conv, const char *bn, int cin, int cout, int k,
                                  int stride, int pad, float *bias)
{
    *cw = (conv_w){.cin = cin, .cout = cout, .k = k, .stride = stride, .pad = pad};
    const int64_t shape[4] = {cout, cin, k, k};
    const size_t kk = (size_t)k * k, n = (size_t)cout * cin * kk;
    const st_tensor *t;
    float *g = malloc(4 * (size_t)cout * sizeof *g), *reo = malloc(n * sizeof *reo);
    clipcl_status st = CLIPCL_OK;
    if (!g || !reo) {
        st = err_set(CLIPCL_ERR_NOMEM, "out of memory folding '%s'", conv);
        goto done;
    }
    float *be = g + cout, *mean = be + cout, *var = mean + cout;
    if ((st = st_expect(L->st, conv, 4, shape, &t)) || (st = reserve(L, n, conv)) || (st = st_to_f32(t, L->tmp)) ||
        (st = bn_param(L, bn, "weight", cout, g)) || (st = bn_param(L, bn, "bias", cout, be)) ||
        (st = bn_param(L, bn, "running_mean", cout, mean)) || (st = bn_param(L, bn, "running_var", cout, var)))
        goto done;
    for (int o = 0; o < cout; o++) {
        double v = (double)var[o] + ARCH_BN_EPS;
        if (!(v > 0) || !isfinite(v)) {
            st = err_set(CLIPCL_ERR_MODEL, "%s: tensor '%s.running_var' channel %d is %g, not a variance", L->st->path,
                         bn, o, (double)var[o]);
            goto done;
        }
        if (!isfinite(g[o]) || !isfinite(mean[o]) || !isfinite(be[o])) {
            st = err_set(CLIPCL_ERR_MODEL, "%s: BatchNorm '%s' channel %d has a non-finite parameter", L->st->path, bn, o);
            goto done;
        }
        double s = (double)g[o] / sqrt(v);
        bias[o] = (float)((double)be[o] - (double)mean[o] * s);
        for (int ci = 0; ci < cin; ci++)
            for (size_t p = 0; p < kk; p++)
                reo[((size_t)o * kk + p) * cin + ci] = (float)((double)L->tmp[((size_t)o * cin + ci) * kk + p] * s);
    }
    ocl *oc = &L->m->ctx->cl;
    if (!(st = ocl_alloc(oc, n * sizeof(float), &cw->w, conv))) st = ocl_upload(oc, cw->w, 0, n * sizeof(float), reo);
done:
    free(g);
    free(reo);
    return st;
}

static clipcl_status upload_bias(loader *L, conv_w *cw, const float *bias, const char *what)
{
    ocl *o = &L->m->ctx->cl;
    clipcl_status st = ocl_alloc(o, (size_t)cw->cout * sizeof(float), &cw->b, what);
    return st ? st : ocl_upload(o, cw->b, 0, (size_t)cw->cout * sizeof(float), bias);
}

static clipcl_status conv_bn(loader *L, conv_w *cw, const char *conv, const char *bn, int cin, int cout, int k,
                             int stride, int pad, float *bias)
{
    clipcl_status st = load_conv_bn(L, cw, conv, bn, cin, cout, k, stride, pad, bias);
    return st ? st : upload_bias(L, cw, bias, conv);
}

static clipcl_status load_resnet(loader *L)
{
    clipcl_model *m = L->m;
    tower *t = &m->vision;
    resnet_w *r = &t->rn;
    const arch_desc *a = &m->arch;
    const int W = a->rn_width, C = t->c.width, E = m->cfg.embed_dim, H = t->c.heads;
    clipcl_status st;
    t->kind = TOWER_RESNET;
    r->width = W;
    memcpy(r->stages, a->rn_stages, sizeof r->stages);
    r->grid = arch_rn_grid(t->c.image_size);
    t->tokens = r->grid * r->grid + 1;
    if ((st = ops_conv_create(&m->ctx->k, &r->conv))) return st;
    if (t->tokens > ops_attn_pool_max_tokens(&r->conv, C / H))
        return err_set(CLIPCL_ERR_LIMIT, "image size %d: an attention pool over %d tokens exceeds this device's local memory",
                       t->c.image_size, t->tokens);
    float *bias = malloc(2 * (size_t)32 * W * sizeof *bias); /* the widest output (4 × 8W) twice */
    if (!bias) return err_set(CLIPCL_ERR_NOMEM, "out of memory");
    char cn[192], bn[192], pre[64];
    /* stem: three 3×3 convolutions, the first with stride 2 */
    const int stem_in[3] = {3, W / 2, W / 2}, stem_out[3] = {W / 2, W / 2, W};
    for (int i = 0; i < 3 && !st; i++) {
        snprintf(cn, sizeof cn, "visual.conv%d.weight", i + 1);
        snprintf(bn, sizeof bn, "visual.bn%d", i + 1);
        st = conv_bn(L, &r->stem[i], cn, bn, stem_in[i], stem_out[i], 3, i == 0 ? 2 : 1, 1, bias);
    }
    r->n_blocks = t->c.layers;
    if (!st && !(r->blocks = calloc((size_t)r->n_blocks, sizeof *r->blocks)))
        st = err_set(CLIPCL_ERR_NOMEM, "out of memory");
    int inpl = W, b = 0;
    for (int s = 0; s < ARCH_RN_STAGES && !st; s++) {
        const int planes = W << s;
        for (int i = 0; i < r->stages[s] && !st; i++, b++) {
            rn_block *k = &r->blocks[b];
            k->pool = s > 0 && i == 0 ? 2 : 1;
            k->has_down = k->pool > 1 || inpl != 4 * planes;
            snprintf(pre, sizeof pre, "visual.layer%d.%d", s + 1, i);
#define NAMES(conv, norm)                                                                                             \
    (snprintf(cn, sizeof cn, "%s." conv ".weight", pre), snprintf(bn, sizeof bn, "%s." norm, pre))
            NAMES("conv1", "bn1");
            if ((st = conv_bn(L, &k->c1, cn, bn, inpl, planes, 1, 1, 0, bias))) break;
            NAMES("conv2", "bn2");
            if ((st = conv_bn(L, &k->c2, cn, bn, planes, planes, 3, 1, 1, bias))) break;
            NAMES("conv3", "bn3");
            if ((st = load_conv_bn(L, &k->c3, cn, bn, planes, 4 * planes, 1, 1, 0, bias))) break;
            if (k->has_down) {
                NAMES("downsample.0", "downsample.1");
                if ((st = load_conv_bn(L, &k->down, cn, bn, inpl, 4 * planes, 1, 1, 0, bias + 4 * planes))) break;
                for (int o = 0; o < 4 * planes; o++) bias[o] += bias[4 * planes + o];
            }
#undef NAMES
            snprintf(cn, sizeof cn, "%s.conv3", pre);
            st = upload_bias(L, &k->c3, bias, cn);
            inpl = 4 * planes;
        }
    }
    free(bias);
    if (st) return st;
    const char *kv_w[2] = {"visual.attnpool.k_proj.weight", "visual.attnpool.v_proj.weight"};
    const char *kv_b[2] = {"visual.attnpool.k_proj.bias", "visual.attnpool.v_proj.bias"};
    const int64_t sw[2] = {C, C}, sb[1] = {C};
    if ((st = upload(L, &r->pos, "visual.attnpool.positional_embedding", 2, t->tokens, C, 0, 0)) ||
        (st = upload(L, &r->q_w, "visual.attnpool.q_proj.weight", 2, C, C, 0, 0)) ||
        (st = upload(L, &r->q_b, "visual.attnpool.q_proj.bias", 1, C, 0, 0, 0)) ||
        (st = upload_cat(L, &r->kv_w, 2, kv_w, 2, sw)) || (st = upload_cat(L, &r->kv_b, 2, kv_b, 1, sb)) ||
        (st = upload(L, &r->c_w, "visual.attnpool.c_proj.weight", 2, E, C, 0, 0)) ||
        (st = upload(L, &r->c_b, "visual.attnpool.c_proj.bias", 1, E, 0, 0, 0)))
        return st;
    return CLIPCL_OK;
}

/* ---------------------------------------------------------------- workspace sizes */

static size_t zmax(size_t a, size_t b) { return a > b ? a : b; }

/* Walks the ResNet as enc.c runs it (see there for which buffer holds what). */
static void resnet_need(const tower *t, ws_need *n)
{
    const resnet_w *r = &t->rn;
    const size_t S = (size_t)t->c.image_size, W = (size_t)r->width, C = (size_t)t->c.width, T = (size_t)t->tokens;
    size_t H = (size_t)model_conv_out((int)S, 3, 2, 1);
    size_t act = H * H * W, t1 = 0, t2 = 0;
    size_t col = H * H * zmax(27, 9 * (W / 2)), kmax = zmax(27, 9 * (W / 2));
    H /= 2;
    size_t inpl = W;
    for (int s = 0; s < ARCH_RN_STAGES; s++) {
        const size_t planes = W << s;
        for (int i = 0; i < r->stages[s]; i++) {
            const size_t pool = s > 0 && i == 0 ? 2 : 1, Ho = H / pool;
            act = zmax(act, H * H * inpl);
            t1 = zmax(t1, H * H * planes);
            t2 = zmax(t2, H * H * planes);
            col = zmax(col, H * H * 9 * planes);
            kmax = zmax(kmax, 9 * planes);
            if (pool > 1) t2 = zmax(t2, Ho * Ho * inpl);
            act = zmax(act, Ho * Ho * 4 * planes);
            H = Ho;
            inpl = 4 * planes;
        }
    }
    n->x = n->ln = act;
    n->qkv = zmax(t1, T * 2 * C);
    n->h = zmax(t2, T * C);
    n->pooled = C;
    n->pix = 3 * S * S;
    n->col = col;
    n->col_min = kmax;
}

void model_ws_need(const tower *t, ws_need *n)
{
    memset(n, 0, sizeof *n);
    if (!t->present) return;
    if (t->kind == TOWER_RESNET) {
        resnet_need(t, n);
        return;
    }
    size_t T = (size_t)t->tokens, W = (size_t)t->c.width, h = T * (size_t)t->c.ff;
    n->x = n->ln = T * W;
    n->qkv = 3 * T * W;
    n->pooled = W;
    if (t->kind == TOWER_VIT) { /* the unfolded patches also live in h (a column per token) */
        h = zmax(h, T * (size_t)t->c.channels * t->c.patch_size * t->c.patch_size);
        n->pix = 3 * (size_t)t->c.image_size * t->c.image_size;
    } else {
        n->ids = T;
    }
    n->h = h;
}

/* Bytes of activations one item needs in the shared workspace. */
static size_t item_bytes(const tower *t)
{
    ws_need n;
    model_ws_need(t, &n);
    return (n.x + n.ln + n.qkv + n.h + n.ids + n.pix + n.pooled + n.col + 1) * sizeof(float);
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
    i->layout = m->arch.layout;
    i->vision_kind = m->arch.vision_kind;
    i->precision = m->half ? CLIPCL_PRECISION_FP16 : CLIPCL_PRECISION_FP32;
    if (m->arch.vision_kind == ARCH_RESNET) {
        int G = arch_rn_grid(c->vision.image_size);
        i->vision_tokens = G * G + 1;
        i->vision_gelu = 0;
        i->resnet_width = m->arch.rn_width;
        memcpy(i->resnet_stages, m->arch.rn_stages, sizeof i->resnet_stages);
    } else {
        int G = c->vision.image_size / c->vision.patch_size;
        i->vision_tokens = G * G + 1;
        i->vision_gelu = c->vision.act == OPS_ACT_GELU;
    }
}

/* ---------------------------------------------------------------- folders */

static int is_file(const char *dir, const char *name)
{
    char p[4200];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return !stat(p, &sb) && S_ISREG(sb.st_mode);
}

/* Reads the folder's description and opens its weights (HF: config.json, model.safetensors;
 * OpenAI: open_clip_model.safetensors or OpenAI names in model.safetensors, with
 * open_clip_config.json or shape-derived sizes). */
static clipcl_status open_folder(clipcl_model *m, loader *L, const char *dir)
{
    char path[4200];
    clipcl_status st;
    int oai = 0;
    const char *weights = "model.safetensors";
    if (!(is_file(dir, "config.json") && is_file(dir, "model.safetensors"))) {
        if (is_file(dir, "open_clip_model.safetensors")) {
            oai = 1;
            weights = "open_clip_model.safetensors";
        } else if (is_file(dir, "model.safetensors") && !is_file(dir, "config.json")) {
            snprintf(path, sizeof path, "%s/model.safetensors", dir);
            if ((st = st_open(path, &L->st))) return st;
            oai = arch_is_openai(L->st);
        }
    }
    if (!oai) {
        snprintf(path, sizeof path, "%s/config.json", dir);
        if ((st = cfg_load(path, &m->cfg))) return st;
        m->arch = (arch_desc){.c = m->cfg, .layout = ARCH_LAYOUT_HF, .vision_kind = ARCH_VIT};
        m->preproc = clipcl_preproc_default();
        m->preproc.size = m->cfg.vision.image_size;
        if (is_file(dir, "preprocessor_config.json")) {
            snprintf(path, sizeof path, "%s/preprocessor_config.json", dir);
            if ((st = cfg_load_preproc(path, &m->preproc))) return st;
            if (m->preproc.size != m->cfg.vision.image_size)
                return err_set(CLIPCL_ERR_MODEL, "%s: crop size %d differs from the model's image_size %d", path,
                               m->preproc.size, m->cfg.vision.image_size);
        }
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        return L->st ? CLIPCL_OK : st_open(path, &L->st);
    }
    snprintf(path, sizeof path, "%s/%s", dir, weights);
    if (!L->st && (st = st_open(path, &L->st))) return st;
    if (is_file(dir, "open_clip_config.json")) {
        snprintf(path, sizeof path, "%s/open_clip_config.json", dir);
        st = arch_load_openclip(path, &m->arch);
    } else {
        st = arch_from_tensors(L->st, L->st->path, &m->arch);
    }
    if (st) return st;
    m->cfg = m->arch.c;
    m->preproc = clipcl_preproc_default();
    m->preproc.size = m->cfg.vision.image_size;
    if (m->arch.has_norm) {
        memcpy(m->preproc.mean, m->arch.mean, sizeof m->preproc.mean);
        memcpy(m->preproc.std, m->arch.std, sizeof m->preproc.std);
    }
    return CLIPCL_OK;
}

/* logit_scale: a scalar (Hugging Face) or [1] (OpenAI). */
static clipcl_status read_logit_scale(clipcl_model *m, loader *L)
{
    const st_tensor *ls = st_find(L->st, "logit_scale");
    const int64_t one[1] = {1};
    int vec = ls && ls->ndim == 1 && ls->shape[0] == 1;
    clipcl_status st = st_expect(L->st, "logit_scale", vec, vec ? one : NULL, &ls);
    if (st) return st;
    float lsv;
    if ((st = st_to_f32(ls, &lsv))) return st;
    if (!isfinite(lsv) || lsv > 20.0f)
        return err_set(CLIPCL_ERR_MODEL, "%s: logit_scale %g is not a usable temperature", L->st->path, lsv);
    m->info.logit_scale = expf(lsv);
    return CLIPCL_OK;
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
    if (p.precision != CLIPCL_PRECISION_FP32 && p.precision != CLIPCL_PRECISION_FP16)
        return err_set(CLIPCL_ERR_INVALID_ARG, "precision %d: use CLIPCL_PRECISION_FP32 or CLIPCL_PRECISION_FP16",
                       p.precision);
    loader L = {0};
    clipcl_status st;
    clipcl_model *m = calloc(1, sizeof *m);
    if (!m) return err_set(CLIPCL_ERR_NOMEM, "out of memory");
    m->ctx = ctx;
    m->half = p.precision == CLIPCL_PRECISION_FP16;
    L.m = m;

    if ((st = open_folder(m, &L, dir)) || (st = read_logit_scale(m, &L))) goto fail;
    const int oai = m->arch.layout == ARCH_LAYOUT_OPENAI;
    m->text.c = m->cfg.text;
    m->vision.c = m->cfg.vision;
    m->text.present = p.load_text;
    m->vision.present = p.load_vision;
    if (p.load_text && (st = load_text(&L, oai))) goto fail;
    if (p.load_vision) {
        if (m->arch.vision_kind == ARCH_RESNET) st = load_resnet(&L);
        else st = load_vit(&L, oai);
        if (st) goto fail;
    }
    fill_info(m);
    if (m->half) {
        size_t a = widest_weight(&m->text, m->cfg.embed_dim), b = widest_weight(&m->vision, m->cfg.embed_dim);
        m->wtmp_floats = a > b ? a : b;
        if (m->wtmp_floats &&
            (st = ocl_alloc(&ctx->cl, m->wtmp_floats * sizeof(float), &m->wtmp, "fp16 weight widening scratch")))
            goto fail;
    }

    /* Default batch: what fits in a quarter of device memory, at most 64 items. */
    size_t per = item_bytes(&m->text) > item_bytes(&m->vision) ? item_bytes(&m->text) : item_bytes(&m->vision);
    uint64_t budget = ctx->cl.info.global_mem / 4;
    int mb = p.max_batch ? p.max_batch : 64;
    if (!p.max_batch)
        while (mb > 1 && (uint64_t)mb * per > budget) mb /= 2;
    m->max_batch = mb;

    free(L.tmp);
    free(L.htmp);
    st_close(L.st);
    *out = m;
    return CLIPCL_OK;
fail:
    free(L.tmp);
    free(L.htmp);
    st_close(L.st);
    clipcl_model_free(m);
    return st;
}

static void free_conv(ocl *o, conv_w *c)
{
    ocl_release(o, &c->w);
    ocl_release(o, &c->b);
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
    resnet_w *r = &t->rn;
    for (int i = 0; i < 3; i++) free_conv(o, &r->stem[i]);
    if (r->blocks) {
        for (int b = 0; b < r->n_blocks; b++) {
            free_conv(o, &r->blocks[b].c1);
            free_conv(o, &r->blocks[b].c2);
            free_conv(o, &r->blocks[b].c3);
            free_conv(o, &r->blocks[b].down);
        }
        free(r->blocks);
        r->blocks = NULL;
    }
    cl_mem *rn[] = {&r->pos, &r->q_w, &r->q_b, &r->kv_w, &r->kv_b, &r->c_w, &r->c_b};
    for (size_t i = 0; i < sizeof rn / sizeof *rn; i++) ocl_release(o, rn[i]);
    ops_conv_free(&r->conv);
}

void model_ws_free(clipcl_model *m)
{
    workspace *ws = &m->ws;
    cl_mem *all[] = {&ws->x,   &ws->ln,     &ws->qkv,  &ws->h,   &ws->idx, &ws->ids,
                     &ws->pix, &ws->pooled, &ws->feat, &ws->emb, &ws->col, &ws->pix8};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) ocl_release(&m->ctx->cl, all[i]);
    /* the context's GEMM scratch grows with the batch too: freeing a model returns all the
       device memory its encodes took */
    ops_gemm_scratch_free(&m->ctx->k);
    ws->batch = 0;
    ws->col_floats = 0;
}

void clipcl_model_free(clipcl_model *m)
{
    if (!m) return;
    if (m->ctx && m->ctx->cl.queue) clFinish(m->ctx->cl.queue);
    model_ws_free(m);
    ocl_release(&m->ctx->cl, &m->wtmp);
    ocl_release(&m->ctx->cl, &m->lut8);
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

size_t model_col_floats(const ws_need *n, int B)
{
    if (!n->col) return 0;
    size_t want = n->col * (size_t)B;
    if (want > COL_CAP_FLOATS) want = COL_CAP_FLOATS;
    return zmax(want, n->col_min);
}
