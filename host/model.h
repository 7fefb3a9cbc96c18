/* model.h — a loaded CLIP model: configuration, device weights and scratch buffers.
 *
 * A model has two towers. The text tower is always a transformer; the image tower is a ViT
 * (a transformer behind a patch embedding) or a modified ResNet (convolution stages behind
 * an attention pool). Both kinds share `tower`: the transformer fields serve the text tower
 * and ViTs, `rn` holds a ResNet, and `kind` says which of them a forward pass runs. */
#ifndef CLIPCL_MODEL_H
#define CLIPCL_MODEL_H

#include "arch.h"
#include "cfg.h"
#include "ctx.h"
#include "ops.h"
#include "st.h"

typedef enum tower_kind { TOWER_TEXT = 0, TOWER_VIT = 1, TOWER_RESNET = 2 } tower_kind;

typedef struct layer_w {
    cl_mem ln1_g, ln1_b, qkv_w, qkv_b, out_w, out_b, ln2_g, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b;
} layer_w;

/* A convolution with its BatchNorm folded in: w [cout, k*k*cin] in (ky, kx, cin) order,
 * b [cout]. */
typedef struct conv_w {
    cl_mem w, b;
    int cin, cout, k, stride, pad;
} conv_w;

/* A Bottleneck: c1 (1×1) → c2 (3×3) → pool×pool average pool (pool 1: none) → c3 (1×1), plus
 * the shortcut: the identity, or when has_down the same pool then `down` (1×1). c3.b holds
 * the biases of c3 and down together: both GEMMs accumulate into one output, biased once. */
typedef struct rn_block {
    conv_w c1, c2, c3, down;
    int pool, has_down;
} rn_block;

typedef struct resnet_w {
    int width, stages[ARCH_RN_STAGES], grid; /* first-stage width, blocks per stage, final map side */
    conv_w stem[3];
    rn_block *blocks;
    int n_blocks;
    /* attention pool: pos [T, C]; q [C, C]; k;v stacked [2C, C]; c_proj [E, C] */
    cl_mem pos, q_w, q_b, kv_w, kv_b, c_w, c_b;
    ops_conv conv;
} resnet_w;

typedef struct tower {
    int present;
    tower_kind kind;
    tower_cfg c;             /* for a ResNet see arch_desc: width = attention-pool width C, heads its heads */
    int tokens;              /* sequence length T (ResNet: the attention pool's) */
    layer_w *layers;
    ops_attn attn;
    cl_mem final_g, final_b; /* text: final_layer_norm; vision: post_layernorm */
    cl_mem proj;             /* [E, W] */
    /* text */
    cl_mem tok_emb, pos_emb; /* [V, W], [T, W] */
    /* ViT */
    cl_mem patch_w, cls, pre_g, pre_b; /* [W, 3PP], [W], [W], [W]; pos_emb is [T, W] */
    /* ResNet */
    resnet_w rn;
} tower;

/* Activation buffers for up to `batch` items, shared by both towers. A ResNet uses x and ln
 * as its ping-pong feature maps, qkv and h for the inner activations of a Bottleneck (and the
 * attention pool's k|v and tokens), col for im2col. */
typedef struct workspace {
    int batch;
    cl_mem x, ln, qkv, h, idx, ids, pix, pooled, feat, emb, col;
    cl_mem pix8; /* image bytes for clipcl_encode_images_rgb8, allocated on its first use */
    size_t col_floats;
} workspace;

/* Floats per item each workspace buffer needs for one tower (col: per item, before the cap). */
typedef struct ws_need {
    size_t x, ln, qkv, h, ids, pix, pooled, col, col_min;
} ws_need;

struct clipcl_model {
    clipcl_context *ctx;
    model_cfg cfg;
    arch_desc arch;
    clipcl_model_info info;
    clipcl_preproc preproc;
    clipcl_tokenizer *tok;   /* created on first use */
    tower text, vision;
    int max_batch;
    workspace ws;
    int half;                /* transformer GEMM weights and token tables stored as IEEE halves */
    cl_mem wtmp;             /* float scratch a half weight is widened into before its GEMM */
    cl_mem lut8;             /* [3][256] normalized value of each byte (img_norm_lut), on first use */
    size_t wtmp_floats;
};

void model_ws_free(clipcl_model *m);
void model_ws_need(const tower *t, ws_need *n);
/* im2col buffer floats for a batch of B: the per-item need times B, capped at 64 MiB, never
 * below one row of the widest im2col. 0 when the tower needs none. */
size_t model_col_floats(const ws_need *n, int B);
/* Output side of a convolution. */
static inline int model_conv_out(int in, int k, int stride, int pad) { return (in + 2 * pad - k) / stride + 1; }

#endif
