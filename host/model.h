/* model.h — a loaded CLIP model: configuration, device weights and scratch buffers. */
#ifndef CLIPCL_MODEL_H
#define CLIPCL_MODEL_H

#include "cfg.h"
#include "ctx.h"
#include "ops.h"

typedef struct layer_w {
    cl_mem ln1_g, ln1_b, qkv_w, qkv_b, out_w, out_b, ln2_g, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b;
} layer_w;

/* One transformer tower; `kind` leaves room for non-ViT image towers. */
typedef struct tower {
    int present;
    tower_cfg c;
    int tokens;              /* sequence length T */
    layer_w *layers;
    ops_attn attn;
    cl_mem final_g, final_b; /* text: final_layer_norm; vision: post_layernorm */
    cl_mem proj;             /* [E, W] */
    /* text */
    cl_mem tok_emb, pos_emb; /* [V, W], [T, W] */
    /* vision */
    cl_mem patch_w, cls, pre_g, pre_b; /* [W, 3PP], [W], [W], [W]; pos_emb is [T, W] */
} tower;

/* Activation buffers for up to `batch` items, shared by both towers. */
typedef struct workspace {
    int batch;
    cl_mem x, ln, qkv, h, idx, ids, pix, pooled, feat, emb;
} workspace;

struct clipcl_model {
    clipcl_context *ctx;
    model_cfg cfg;
    clipcl_model_info info;
    clipcl_preproc preproc;
    clipcl_tokenizer *tok;   /* created on first use */
    tower text, vision;
    int max_batch;
    workspace ws;
};

void model_ws_free(clipcl_model *m);

#endif
