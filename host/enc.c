/* enc.c — the encoders: pre-LayerNorm transformer blocks (causal for text), the ViT and
 * text input stages, the ResNet image tower (convolution stages, attention pool), pooling,
 * projection and L2 normalization. A forward pass only enqueues work; the host waits once,
 * when it reads the outputs.
 *
 * The residual stream x receives each block's two output GEMMs with beta = 1; their biases
 * are "pending" and folded into the next LayerNorm (or the final gather), which saves a pass
 * over x per GEMM. */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "img.h"
#include "model.h"

static clipcl_status ws_ensure(clipcl_model *m, int batch)
{
    workspace *ws = &m->ws;
    if (ws->batch >= batch) return CLIPCL_OK;
    model_ws_free(m);
    /* Each buffer is sized for the larger tower; both towers share them. */
    ws_need a, b, n;
    model_ws_need(&m->text, &a);
    model_ws_need(&m->vision, &b);
#define MAX_(f) n.f = a.f > b.f ? a.f : b.f
    MAX_(x), MAX_(ln), MAX_(qkv), MAX_(h), MAX_(ids), MAX_(pix), MAX_(pooled);
#undef MAX_
    const size_t E = (size_t)m->cfg.embed_dim, B = (size_t)batch, col = model_col_floats(&b, batch);
    /* the transformer blocks' feature-major matrices hold up to OPS_FM_MAX_ALIGN tokens more
       than the batch has (padding to the GEMM's token tile, ops_fm_layout) */
    size_t W = 0, I = 0;
    const tower *tw[2] = {&m->text, &m->vision};
    for (int i = 0; i < 2; i++)
        if (tw[i]->present && tw[i]->kind != TOWER_RESNET) {
            W = (size_t)tw[i]->c.width > W ? (size_t)tw[i]->c.width : W;
            I = (size_t)tw[i]->c.ff > I ? (size_t)tw[i]->c.ff : I;
            if (tw[i]->kind == TOWER_VIT) { /* h also holds the unfolded patches */
                const size_t patch = (size_t)tw[i]->c.channels * tw[i]->c.patch_size * tw[i]->c.patch_size;
                I = patch > I ? patch : I;
            }
        }
    const size_t pad = OPS_FM_MAX_ALIGN;
    ocl *o = &m->ctx->cl;
    clipcl_status st;
    if ((st = ocl_alloc(o, (B * n.x + pad * W) * sizeof(float), &ws->x, "activations (residual)")) ||
        (st = ocl_alloc(o, (B * n.ln + pad * W) * sizeof(float), &ws->ln, "activations (normalized)")) ||
        (st = ocl_alloc(o, (B * n.qkv + 3 * pad * W) * sizeof(float), &ws->qkv, "activations (q, k, v)")) ||
        (st = ocl_alloc(o, (B * n.h + pad * I) * sizeof(float), &ws->h, "activations (MLP)")) ||
        (st = ocl_alloc(o, B * sizeof(cl_int), &ws->idx, "pooling indices")) ||
        (st = ocl_alloc(o, B * n.ids * sizeof(cl_int), &ws->ids, "token ids")) ||
        (st = ocl_alloc(o, B * n.pix * sizeof(float), &ws->pix, "pixels")) ||
        (st = ocl_alloc(o, (B * n.pooled + pad * W) * sizeof(float), &ws->pooled, "pooled states")) ||
        (st = ocl_alloc(o, B * E * sizeof(float), &ws->feat, "features")) ||
        (st = ocl_alloc(o, B * E * sizeof(float), &ws->emb, "embeddings")) ||
        (col && (st = ocl_alloc(o, col * sizeof(float), &ws->col, "im2col")))) {
        model_ws_free(m);
        return err_prefix(st, "batch of %d: ", batch);
    }
    ws->col_floats = col;
    ws->batch = batch;
    return CLIPCL_OK;
}

/* A half-precision weight (fp16 storage) is widened into the model's float scratch right
 * before its GEMM (same queue, so in order); *W then names the scratch. */
static clipcl_status widen(clipcl_model *m, int half, cl_mem *W, size_t n)
{
    if (!half) return CLIPCL_OK;
    clipcl_status st = ops_half_to_float(&m->ctx->k, *W, m->wtmp, n);
    if (!st) *W = m->wtmp;
    return st;
}

/* C = A·Wᵀ + beta·C for a weight W ([N, K]) stored as halves when `half`. */
static clipcl_status gemm_wh(clipcl_model *m, int half, size_t M, size_t N, size_t K, cl_mem A, cl_mem W, float beta,
                             cl_mem C)
{
    clipcl_status st = widen(m, half, &W, N * K);
    return st ? st : ops_gemm_nt(&m->ctx->k, M, N, K, 1.0f, A, 0, W, 0, beta, C, 0);
}

/* A GEMM on feature-major activations with a transformer tower's weight, stored in the
 * model's precision (clipcl's own kernel reads fp16 as it is, CLBlast gets it widened):
 * C = A·Wᵀ + beta·C (ops_gemm_fm), or with a bias, C = act(A·Wᵀ + bias) (ops_gemm_fm_act). */
static clipcl_status gemm_fm(clipcl_model *m, const ops_fm *L, size_t N, size_t K, cl_mem A, cl_mem W, float beta,
                             cl_mem bias, int act, cl_mem C)
{
    const int direct = m->half && (ops_gemm_small(&m->ctx->k, L) || ops_gemm_tile(&m->ctx->k, L));
    clipcl_status st = direct ? CLIPCL_OK : widen(m, m->half, &W, N * K);
    if (st) return st;
    return bias ? ops_gemm_fm_act(&m->ctx->k, L, N, K, A, W, direct, bias, act, C)
                : ops_gemm_fm(&m->ctx->k, L, N, K, A, W, direct, beta, C);
}

/* Runs the transformer blocks on ws->x, which holds the B*T tokens feature-major (cl/fm.cl,
 * layout ops_fm_layout(B*T)): every matrix of a block is, so CLBlast's kernel reads and
 * writes them in place (row-major operands cost it a transposing copy each). Returns the last
 * pending bias. With pooled_only the last block runs only the tokens ws->idx names (one per
 * item: the positions that are pooled) after its attention, and leaves them in ws->pooled
 * (feature-major, layout ops_fm_layout(B)); ws->x then holds the stream before that block.
 * Every load path checks that a tower has a block. */
static clipcl_status blocks(clipcl_model *m, const tower *t, int B, int T, int causal, int pooled_only,
                            cl_mem *pending)
{
    ops *k = &m->ctx->k;
    workspace *ws = &m->ws;
    const size_t W = (size_t)t->c.width, I = (size_t)t->c.ff;
    const ops_fm all = ops_fm_layout(k, B * T), pooled = ops_fm_layout(k, B);
    cl_mem bias = NULL;
    clipcl_status st = CLIPCL_OK;
    for (int l = 0; l < t->c.layers && !st; l++) {
        const layer_w *w = &t->layers[l];
        const ops_fm *L = &all;
        if ((st = ops_layernorm_fm(k, ws->x, bias, w->ln1_g, w->ln1_b, ws->ln, L, (int)W, t->c.eps)) ||
            (st = gemm_fm(m, L, 3 * W, W, ws->ln, w->qkv_w, 0.0f, NULL, 0, ws->qkv)) ||
            (st = ops_attention(k, &t->attn, ws->qkv, w->qkv_b, ws->ln, L, B, T, t->c.heads, causal)))
            break;
        cl_mem x = ws->x, a = ws->ln;
        /* Nothing after the attention mixes positions, so the last block's other tokens would
           be computed only to be dropped: three quarters of that block's work, about 6 % of a
           12-block tower. */
        if (pooled_only && l == t->c.layers - 1) {
            x = ws->pooled, a = ws->h;
            if ((st = ops_gather_fm(k, ws->ln, L, ws->idx, a, &pooled, (int)W)) ||
                (st = ops_gather_fm(k, ws->x, L, ws->idx, x, &pooled, (int)W)))
                break;
            L = &pooled;
        }
        if ((st = gemm_fm(m, L, W, W, a, w->out_w, 1.0f, NULL, 0, x)) ||
            (st = ops_layernorm_fm(k, x, w->out_b, w->ln2_g, w->ln2_b, ws->ln, L, (int)W, t->c.eps)) ||
            (st = gemm_fm(m, L, I, W, ws->ln, w->fc1_w, 0.0f, w->fc1_b, t->c.act, ws->h)) ||
            (st = gemm_fm(m, L, W, I, ws->h, w->fc2_w, 1.0f, NULL, 0, x)))
            break;
        bias = w->fc2_b;
    }
    *pending = bias;
    return st;
}

/* After blocks(pooled_only): ws->pooled = the final LayerNorm of the pooled tokens (+ the
 * pending bias), row-major [B, W], by way of ws->ln. */
static clipcl_status pooled_final(clipcl_model *m, const tower *t, int B, cl_mem pending)
{
    ops *k = &m->ctx->k;
    workspace *ws = &m->ws;
    const ops_fm pooled = ops_fm_layout(k, B);
    clipcl_status st = ops_fm_to_rows(k, ws->pooled, &pooled, pending, ws->ln, t->c.width);
    return st ? st : ops_layernorm(k, ws->ln, NULL, t->final_g, t->final_b, ws->pooled, B, t->c.width, t->c.eps);
}

/* pooled (ws->pooled, [B, W]) → features (· proj [E, W]ᵀ, + bias when given) → embeddings,
 * then reads the requested outputs. */
static clipcl_status project(clipcl_model *m, const tower *t, cl_mem proj, cl_mem bias, int B,
                             const clipcl_outputs *out, size_t item0)
{
    ops *k = &m->ctx->k;
    ocl *o = &m->ctx->cl;
    workspace *ws = &m->ws;
    const size_t E = (size_t)m->cfg.embed_dim, W = (size_t)t->c.width;
    clipcl_status st;
    if ((st = gemm_wh(m, m->half && t->kind != TOWER_RESNET, (size_t)B, E, W, ws->pooled, proj, 0.0f, ws->feat)) ||
        (bias && (st = ops_add_bias(k, ws->feat, bias, B, (int)E))) ||
        (st = ops_l2norm(k, ws->feat, ws->emb, B, (int)E)))
        return st;
    if (out->pooled && (st = ocl_download(o, ws->pooled, 0, B * W * sizeof(float), out->pooled + item0 * W)))
        return st;
    if (out->features && (st = ocl_download(o, ws->feat, 0, B * E * sizeof(float), out->features + item0 * E)))
        return st;
    if (out->embeds && (st = ocl_download(o, ws->emb, 0, B * E * sizeof(float), out->embeds + item0 * E)))
        return st;
    return CLIPCL_OK;
}

static clipcl_status text_chunk(clipcl_model *m, const int32_t *ids, int B, const clipcl_outputs *out, size_t item0)
{
    const tower *t = &m->text;
    ops *k = &m->ctx->k;
    ocl *o = &m->ctx->cl;
    workspace *ws = &m->ws;
    const int T = t->tokens, W = t->c.width;
    cl_int eos[256], *eos_heap = NULL, *eosp = eos;
    int32_t *short_ids = NULL;
    clipcl_status st;
    if (B > 256) {
        eos_heap = malloc((size_t)B * sizeof *eos_heap);
        if (!eos_heap) return err_set(CLIPCL_ERR_NOMEM, "out of memory");
        eosp = eos_heap;
    }
    /* Pool at the first end-of-text token; OpenAI's argmax gives the same position. */
    int Tn = 1;
    for (int b = 0; b < B; b++) {
        const int32_t *row = ids + (size_t)b * T;
        int pos = -1, amax = 0;
        for (int i = 0; i < T; i++) {
            if (row[i] == CLIPCL_EOT && pos < 0) pos = i;
            if (row[i] > row[amax]) amax = i;
        }
        eosp[b] = pos >= 0 ? pos : amax;
        if (eosp[b] + 1 > Tn) Tn = eosp[b] + 1;
    }
    /* The mask is causal, so a pooled position never sees the tokens after it: unless every
       position's state is asked for, the batch runs only up to its last pooling position
       (a prompt of 10 tokens costs 10 positions, not 77), with the same result per row. */
    if (out->last_hidden_state) Tn = T;
    if (Tn < T) {
        if (!(short_ids = malloc((size_t)B * Tn * sizeof *short_ids))) {
            st = err_set(CLIPCL_ERR_NOMEM, "out of memory");
            goto done;
        }
        for (int b = 0; b < B; b++) memcpy(short_ids + (size_t)b * Tn, ids + (size_t)b * T, Tn * sizeof *ids);
        ids = short_ids;
    }
    for (int b = 0; b < B; b++) eosp[b] += b * Tn;
    cl_mem pending;
    const ops_fm all = ops_fm_layout(k, B * Tn);
    if ((st = ocl_upload(o, ws->ids, 0, (size_t)B * Tn * sizeof(cl_int), ids)) ||
        (st = ocl_upload(o, ws->idx, 0, (size_t)B * sizeof(cl_int), eosp)) ||
        (st = ops_text_embed(k, ws->ids, t->tok_emb, m->half, t->pos_emb, ws->ln, B * Tn, Tn, W)) ||
        (st = ops_fm_from_rows(k, ws->ln, ws->x, &all, W)) ||
        (st = blocks(m, t, B, Tn, 1, !out->last_hidden_state, &pending)))
        goto done;
    if (out->last_hidden_state) {
        if ((st = ops_fm_to_rows(k, ws->x, &all, pending, ws->qkv, W)) ||
            (st = ops_layernorm(k, ws->qkv, NULL, t->final_g, t->final_b, ws->ln, B * T, W, t->c.eps)) ||
            (st = ops_gather_rows(k, ws->ln, ws->idx, NULL, ws->pooled, B, W)) ||
            (st = ocl_download(o, ws->ln, 0, (size_t)B * T * W * sizeof(float),
                               out->last_hidden_state + item0 * T * W)))
            goto done;
    } else if ((st = pooled_final(m, t, B, pending))) {
        goto done;
    }
    st = project(m, t, t->proj, NULL, B, out, item0);
done:
    free(short_ids);
    free(eos_heap);
    return st;
}

/* ws->pix = B images: the normalized floats given, or the bytes given (rgb, S x S x 3 each)
 * normalized on the device with the host's table. */
static clipcl_status upload_pixels(clipcl_model *m, const float *pix, const uint8_t *rgb, int B)
{
    ocl *o = &m->ctx->cl;
    workspace *ws = &m->ws;
    const size_t S = (size_t)m->vision.c.image_size, plane = S * S;
    if (!rgb) return ocl_upload(o, ws->pix, 0, (size_t)B * 3 * plane * sizeof(float), pix);
    clipcl_status st;
    if (!m->lut8) {
        float lut[3][256];
        if ((st = img_norm_lut(&m->preproc, lut)) ||
            (st = ocl_alloc(o, sizeof lut, &m->lut8, "pixel normalization table")) ||
            (st = ocl_upload(o, m->lut8, 0, sizeof lut, lut))) {
            ocl_release(o, &m->lut8); /* so that the next call fills it again */
            return st;
        }
    }
    if (!ws->pix8 && (st = ocl_alloc(o, (size_t)ws->batch * plane * 3, &ws->pix8, "image bytes"))) return st;
    if ((st = ocl_upload(o, ws->pix8, 0, (size_t)B * plane * 3, rgb))) return st;
    return ops_rgb8_normalize(&m->ctx->k, ws->pix8, m->lut8, ws->pix, B, (int)plane);
}

static clipcl_status vision_chunk(clipcl_model *m, const float *pix, const uint8_t *rgb, int B,
                                  const clipcl_outputs *out, size_t item0)
{
    const tower *t = &m->vision;
    ops *k = &m->ctx->k;
    ocl *o = &m->ctx->cl;
    workspace *ws = &m->ws;
    const int T = t->tokens, W = t->c.width, S = t->c.image_size, P = t->c.patch_size, C = t->c.channels;
    const size_t K = (size_t)C * P * P;
    cl_int cls[256], *cls_heap = NULL, *clsp = cls;
    if (B > 256) {
        cls_heap = malloc((size_t)B * sizeof *cls_heap);
        if (!cls_heap) return err_set(CLIPCL_ERR_NOMEM, "out of memory");
        clsp = cls_heap;
    }
    for (int b = 0; b < B; b++) clsp[b] = b * T;
    const ops_fm all = ops_fm_layout(k, B * T);
    cl_mem pending;
    clipcl_status st;
    /* patches → h (free until the first block), feature-major like the blocks' matrices: the
       patch embedding (a stride-P convolution) is then a GEMM with the blocks' kernel */
    if ((st = upload_pixels(m, pix, rgb, B)) ||
        (st = ocl_upload(o, ws->idx, 0, (size_t)B * sizeof(cl_int), clsp)) ||
        (st = ops_patch_unfold_fm(k, ws->pix, ws->h, &all, C, S, P)) ||
        (st = gemm_fm(m, &all, (size_t)W, K, ws->h, t->patch_w, 0.0f, NULL, 0, ws->x)) ||
        (st = ops_vit_embed_fm(k, ws->x, t->cls, t->pos_emb, &all, T, W)) ||
        (st = ops_layernorm_fm(k, ws->x, NULL, t->pre_g, t->pre_b, ws->x, &all, W, t->c.eps)) ||
        (st = blocks(m, t, B, t->tokens, 0, !out->last_hidden_state, &pending)))
        goto done;
    if (out->last_hidden_state) {
        if ((st = ops_fm_to_rows(k, ws->x, &all, pending, ws->ln, W)) ||
            (st = ocl_download(o, ws->ln, 0, (size_t)B * T * W * sizeof(float),
                               out->last_hidden_state + item0 * T * W)) ||
            (st = ops_gather_rows(k, ws->ln, ws->idx, NULL, ws->pooled, B, W)) ||
            (st = ops_layernorm(k, ws->pooled, NULL, t->final_g, t->final_b, ws->pooled, B, W, t->c.eps)))
            goto done;
    } else if ((st = pooled_final(m, t, B, pending))) {
        goto done;
    }
    st = project(m, t, t->proj, NULL, B, out, item0);
done:
    free(cls_heap);
    return st;
}

/* ---------------------------------------------------------------- ResNet image tower
 *
 * Feature maps are channels-last, [B, H, W, C], and ping-pong between ws->x and ws->ln; inside
 * a Bottleneck, ws->qkv holds the first 1×1 convolution's output (later the pooled 3×3 one)
 * and ws->h the 3×3 convolution's output (later the pooled shortcut input). Convolutions are
 * GEMMs whose BatchNorm was folded in at load time; their bias and the ReLU are one pass. */

typedef struct fmap {
    cl_mem buf;
    int H, W, C;
} fmap;

static clipcl_status conv(clipcl_model *m, const resnet_w *r, const conv_w *c, cl_mem src, int nchw, int B, int H,
                          int W, float beta, cl_mem dst)
{
    return ops_conv2d(&m->ctx->k, &r->conv, src, nchw, B, c->cin, H, W, c->w, c->cout, c->k, c->stride, c->pad,
                      beta, dst, m->ws.col, m->ws.col_floats);
}

/* conv, then bias + ReLU */
static clipcl_status conv_relu(clipcl_model *m, const resnet_w *r, const conv_w *c, cl_mem src, int nchw, int B,
                               int H, int W, cl_mem dst)
{
    const int Ho = model_conv_out(H, c->k, c->stride, c->pad), Wo = model_conv_out(W, c->k, c->stride, c->pad);
    clipcl_status st = conv(m, r, c, src, nchw, B, H, W, 0.0f, dst);
    return st ? st : ops_bias_relu(&m->ctx->k, &r->conv, dst, c->b, B * Ho * Wo, c->cout);
}

static clipcl_status bottleneck(clipcl_model *m, const resnet_w *r, const rn_block *k, int B, fmap *cur, cl_mem other)
{
    ops *K = &m->ctx->k;
    const ops_conv *cv = &r->conv;
    workspace *ws = &m->ws;
    const int H = cur->H, W = cur->W, Ho = H / k->pool, Wo = W / k->pool;
    cl_mem src3 = ws->h, dst = cur->buf;
    clipcl_status st;
    if ((st = conv_relu(m, r, &k->c1, cur->buf, 0, B, H, W, ws->qkv)) ||
        (st = conv_relu(m, r, &k->c2, ws->qkv, 0, B, H, W, ws->h)))
        return st;
    if (k->pool > 1) {
        if ((st = ops_avgpool(K, cv, ws->h, ws->qkv, B, k->c2.cout, H, W, k->pool))) return st;
        src3 = ws->qkv;
    }
    if (k->has_down) {
        cl_mem sd = cur->buf;
        if (k->pool > 1) {
            if ((st = ops_avgpool(K, cv, cur->buf, ws->h, B, k->down.cin, H, W, k->pool))) return st;
            sd = ws->h;
        }
        if ((st = conv(m, r, &k->down, sd, 0, B, Ho, Wo, 0.0f, other))) return st;
        dst = other;
    }
    /* the residual: c3 accumulates onto the shortcut (beta = 1), then bias + ReLU once */
    if ((st = conv(m, r, &k->c3, src3, 0, B, Ho, Wo, 1.0f, dst)) ||
        (st = ops_bias_relu(K, cv, dst, k->c3.b, B * Ho * Wo, k->c3.cout)))
        return st;
    *cur = (fmap){dst, Ho, Wo, k->c3.cout};
    return CLIPCL_OK;
}

static clipcl_status resnet_chunk(clipcl_model *m, const float *pix, const uint8_t *rgb, int B,
                                  const clipcl_outputs *out, size_t item0)
{
    const tower *t = &m->vision;
    const resnet_w *r = &t->rn;
    ops *k = &m->ctx->k;
    ocl *o = &m->ctx->cl;
    workspace *ws = &m->ws;
    const int S = t->c.image_size, C = t->c.width, T = t->tokens, P = T - 1;
    cl_int first[256], *first_heap = NULL, *fp = first;
    if (B > 256) {
        first_heap = malloc((size_t)B * sizeof *first_heap);
        if (!first_heap) return err_set(CLIPCL_ERR_NOMEM, "out of memory");
        fp = first_heap;
    }
    for (int b = 0; b < B; b++) fp[b] = b * T;
    clipcl_status st;
    /* stem: NCHW pixels → three 3×3 convolutions → 2×2 average pool */
    const int H1 = model_conv_out(S, 3, 2, 1);
    fmap cur = {ws->ln, H1 / 2, H1 / 2, r->width};
    if ((st = upload_pixels(m, pix, rgb, B)) ||
        (st = ocl_upload(o, ws->idx, 0, (size_t)B * sizeof(cl_int), fp)) ||
        (st = conv_relu(m, r, &r->stem[0], ws->pix, 1, B, S, S, ws->x)) ||
        (st = conv_relu(m, r, &r->stem[1], ws->x, 0, B, H1, H1, ws->ln)) ||
        (st = conv_relu(m, r, &r->stem[2], ws->ln, 0, B, H1, H1, ws->x)) ||
        (st = ops_avgpool(k, &r->conv, ws->x, ws->ln, B, r->width, H1, H1, 2)))
        goto done;
    for (int i = 0; i < r->n_blocks; i++)
        if ((st = bottleneck(m, r, &r->blocks[i], B, &cur, cur.buf == ws->x ? ws->ln : ws->x))) goto done;
    if (cur.H != r->grid || cur.W != r->grid || cur.C != C) {
        st = err_set(CLIPCL_ERR_MODEL, "ResNet feature map %dx%dx%d does not match the attention pool (%dx%dx%d)", cur.H,
                     cur.W, cur.C, r->grid, r->grid, C);
        goto done;
    }
    /* attention pool: tokens (mean, positions) in h, + positional embedding; k|v for all
     * tokens, q for the first only */
    if ((st = ops_rn_tokens(k, &r->conv, cur.buf, ws->h, B, P, C))) goto done;
    if (out->last_hidden_state &&
        (st = ocl_download(o, ws->h, 0, (size_t)B * T * C * sizeof(float), out->last_hidden_state + item0 * T * C)))
        goto done;
    if ((st = ops_add_bias(k, ws->h, r->pos, B, T * C)) ||
        (st = ops_gemm_nt(k, (size_t)B * T, 2 * (size_t)C, (size_t)C, 1.0f, ws->h, 0, r->kv_w, 0, 0.0f, ws->qkv, 0)) ||
        (st = ops_gather_rows(k, ws->h, ws->idx, NULL, ws->pooled, B, C)) ||
        (st = ops_gemm_nt(k, (size_t)B, (size_t)C, (size_t)C, 1.0f, ws->pooled, 0, r->q_w, 0, 0.0f, ws->h, 0)) ||
        (st = ops_attn_pool(k, &r->conv, ws->h, r->q_b, ws->qkv, r->kv_b, ws->pooled, B, T, C, t->c.heads)))
        goto done;
    st = project(m, t, r->c_w, r->c_b, B, out, item0);
done:
    free(first_heap);
    return st;
}

clipcl_status clipcl_encode_texts_ex(clipcl_model *m, const int32_t *ids, int n, const clipcl_outputs *out)
{
    if (!m || !ids || !out || n < 0) return err_set(CLIPCL_ERR_INVALID_ARG, "clipcl_encode_texts: bad argument");
    if (!m->text.present) return err_set(CLIPCL_ERR_INVALID_ARG, "the model was loaded without its text tower");
    const int T = m->text.tokens, V = m->text.c.vocab;
    for (size_t i = 0; i < (size_t)n * T; i++)
        if (ids[i] < 0 || ids[i] >= V)
            return err_set(CLIPCL_ERR_INVALID_ARG, "token id %d (text %zu, position %zu) is outside the vocabulary of %d",
                           (int)ids[i], i / T, i % T, V);
    for (int i0 = 0; i0 < n; i0 += m->max_batch) {
        int B = n - i0 < m->max_batch ? n - i0 : m->max_batch;
        clipcl_status st = ws_ensure(m, B);
        if (st) return st;
        if ((st = text_chunk(m, ids + (size_t)i0 * T, B, out, (size_t)i0)))
            return err_prefix(st, "batch of %d: ", B);
    }
    return CLIPCL_OK;
}

/* Either pix (floats) or rgb (bytes) is given. */
static clipcl_status encode_images(clipcl_model *m, const float *pix, const uint8_t *rgb, int n,
                                   const clipcl_outputs *out, const char *fn)
{
    if (!m || (!pix && !rgb) || !out || n < 0) return err_set(CLIPCL_ERR_INVALID_ARG, "%s: bad argument", fn);
    if (!m->vision.present) return err_set(CLIPCL_ERR_INVALID_ARG, "the model was loaded without its image tower");
    const size_t npix = clipcl_model_pixels_per_image(m); /* floats, or bytes (3 x S x S either way) */
    for (int i0 = 0; i0 < n; i0 += m->max_batch) {
        int B = n - i0 < m->max_batch ? n - i0 : m->max_batch;
        clipcl_status st = ws_ensure(m, B);
        if (st) return st;
        const float *p = pix ? pix + (size_t)i0 * npix : NULL;
        const uint8_t *r = rgb ? rgb + (size_t)i0 * npix : NULL;
        st = m->vision.kind == TOWER_RESNET ? resnet_chunk(m, p, r, B, out, (size_t)i0)
                                            : vision_chunk(m, p, r, B, out, (size_t)i0);
        if (st) return err_prefix(st, "batch of %d: ", B);
    }
    return CLIPCL_OK;
}

clipcl_status clipcl_encode_images_ex(clipcl_model *m, const float *pix, int n, const clipcl_outputs *out)
{
    return encode_images(m, pix, NULL, n, out, "clipcl_encode_images");
}

clipcl_status clipcl_encode_images_rgb8_ex(clipcl_model *m, const uint8_t *rgb, int n, const clipcl_outputs *out)
{
    return encode_images(m, NULL, rgb, n, out, "clipcl_encode_images_rgb8");
}

clipcl_status clipcl_encode_images_rgb8(clipcl_model *m, const uint8_t *rgb, int n, float *embeds)
{
    clipcl_outputs o = {.embeds = embeds};
    return clipcl_encode_images_rgb8_ex(m, rgb, n, &o);
}

clipcl_status clipcl_encode_texts(clipcl_model *m, const int32_t *ids, int n, float *embeds)
{
    clipcl_outputs o = {.embeds = embeds};
    return clipcl_encode_texts_ex(m, ids, n, &o);
}

clipcl_status clipcl_encode_images(clipcl_model *m, const float *pix, int n, float *embeds)
{
    clipcl_outputs o = {.embeds = embeds};
    return clipcl_encode_images_ex(m, pix, n, &o);
}
