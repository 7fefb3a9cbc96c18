/* ops.h — launches of clipcl's own kernels (the .cl files in cl/) and of CLBlast's GEMMs. Each op only
 * enqueues work on the context's in-order queue: no waits, no host round trips. Activations
 * are float32 matrices, row-major [tokens, features] unless a function says feature-major
 * (the transformer blocks' layout, see ops_fm and cl/fm.cl). */
#ifndef CLIPCL_OPS_H
#define CLIPCL_OPS_H

#include "ocl.h"

enum { OPS_ACT_NONE = 0, OPS_ACT_QUICK_GELU = 1, OPS_ACT_GELU = 2 }; /* as in cl/fm.cl */

/* One profiled launch: its op kind (clipcl_op_kind), work and event. */
typedef struct ops_event {
    int kind;
    double flops, bytes;
    cl_event ev;
    cl_event start; /* marker enqueued before a multi-kernel call, or NULL */
} ops_event;

/* clipcl's GEMM for many tokens (cl/gemm.cl): from min_tokens real tokens up (0: never), in
 * its local-memory form for GPUs (local = 1: gemm_fm_tile, nf x tt per work-group, rf x rt
 * per work-item, kb along K per local tile) or its register form for CPUs (local = 0:
 * gemm_fm_reg, nf x tt per work-item in vectors of rt tokens, 8 or 16 as the CPU's vector
 * registers hold; rf, kb unused). Tuning's ClipclTile, host/tune.h. */
typedef struct ops_tile {
    int min_tokens, local, nf, tt, rf, rt, kb;
} ops_tile;

typedef struct ops {
    ocl *o;
    size_t gemm_rows; /* rows of A per GEMM call (CPUs), 0 = all in one call */
    int norm_wg; /* work-items per row of the norm kernels (-DNORM_WG) */
    int fm_wg;   /* work-items per group of layernorm_fm (cl/fm.cl) */
    cl_mem gemm_tmp;  /* CLBlast's scratch for operand copies, kept between calls */
    size_t gemm_tmp_bytes;
    cl_kernel layernorm, l2norm, add_bias, gather_rows, text_embed, text_embed_h, patch_unfold_fm, vit_embed_fm,
        half_to_float, rgb8_normalize, layernorm_fm, bias_act_fm, gather_fm, fm_from_rows, fm_to_rows, transpose32,
        transpose16;
    int fm_align; /* feature-major token counts are padded to this (the GEMM's token tile) */
    int w_t;      /* transformer GEMM weights are stored transposed, [in, out] (see ops_set_gemm) */
    int fm_chunk; /* tokens per feature-major chunk (0: one chunk; see ops_set_tile) */
    int rows_forced; /* gemm_rows and fm_chunk came from $CLIPCL_GEMM_ROWS */
    int small_tokens; /* ops_gemm_fm runs cl/gemm.cl over up to this many tokens (tuning's ClipclGemm) */
    int small_forced; /* small_tokens came from $CLIPCL_GEMM_SMALL, which wins over tuning */
    cl_kernel gemm_small[2][2][2]; /* cl/gemm.cl by [w_t][fp16 weight][narrow], made on first use */
    cl_kernel gemm_reduce;
    ops_tile tile;     /* see ops_set_tile */
    int tile_forced;   /* tile.min_tokens came from $CLIPCL_GEMM_TILE, which wins over tuning */
    cl_kernel gemm_tile[2][2]; /* gemm_fm_tile or _reg by [w_t][fp16 weight] for `tile`, made on first use */
    size_t sub_align; /* bytes: sub-buffer origin alignment (0: no sub-buffers) */
    /* profiling (when the queue has it): events not yet folded into stats */
    ops_event *evs;
    int n_evs, cap_evs;
    clipcl_op_stats stats[CLIPCL_OP_KINDS];
} ops;

/* The feature-major layout of a matrix over `rows` tokens (cl/fm.cl): tp tokens (rows
 * rounded up to the GEMM's token tile) in chunks of ch, each chunk a dense [F][w] block. */
typedef struct ops_fm {
    int rows, tp, ch;
} ops_fm;
#define OPS_FM_MAX_ALIGN 256 /* bound on fm_align: workspaces keep this many spare tokens */
ops_fm ops_fm_layout(const ops *k, int rows);
/* Index of element (token t, feature f) of a feature-major matrix with F features. */
static inline size_t ops_fm_at(const ops_fm *L, size_t t, size_t f, size_t F)
{
    size_t t0 = t / (size_t)L->ch * L->ch, w = (size_t)L->tp - t0 < (size_t)L->ch ? (size_t)L->tp - t0 : (size_t)L->ch;
    return t0 * F + f * w + (t - t0);
}
/* Follows the Xgemm parameters in use (gemmk < 0: CLBlast's own, taken as its usual
 * GEMMK=0; mwg, nwg 0 = unknown): the token tile, and whether ops_gemm_fm wants the weights
 * transposed (w_t), the one layout CLBlast's GEMMK=0 kernel reads without copies. */
void ops_set_gemm(ops *k, int gemmk, int mwg, int nwg);
/* dst [cols, rows] = src [rows, cols]ᵀ for 4-byte (elem 4) or 2-byte (elem 2) elements. */
clipcl_status ops_transpose(ops *k, cl_mem src, cl_mem dst, int rows, int cols, int elem);

/* Attention kernel specialised for one head dimension. */
typedef struct ops_attn {
    cl_kernel k;
    int head_dim, wg;
    int qb; /* queries per work-item: 0 = one (local-memory variant), else the CPU variant's ATT_QB */
} ops_attn;

clipcl_status ops_init(ops *k, ocl *o);
void ops_free(ops *k);
/* Releases the GEMM scratch (it is made again, as large as needed, by the next GEMM). */
void ops_gemm_scratch_free(ops *k);
/* Waits for the recorded events and adds their device time to k->stats. */
clipcl_status ops_profile_flush(ops *k);

/* y = LayerNorm(x (+ bias)) over rows of `width`; with bias, x gets x + bias written back. */
clipcl_status ops_layernorm(ops *k, cl_mem x, cl_mem bias, cl_mem gamma, cl_mem beta, cl_mem y, int rows,
                            int width, float eps);
/* The same per token of feature-major x and y (layout L; y's padding tokens get zeros). */
clipcl_status ops_layernorm_fm(ops *k, cl_mem x, cl_mem bias, cl_mem gamma, cl_mem beta, cl_mem y, const ops_fm *L,
                               int width, float eps);
/* Feature-major dst (layout L, zeros for the padding) = row-major src [L->rows, F]. */
clipcl_status ops_fm_from_rows(ops *k, cl_mem src, cl_mem dst, const ops_fm *L, int F);
/* Row-major dst [L->rows, F] = feature-major src (+ bias; may be NULL). */
clipcl_status ops_fm_to_rows(ops *k, cl_mem src, const ops_fm *L, cl_mem bias, cl_mem dst, int F);
/* ViT input: patches (feature-major, layout L over B*(G*G + 1) tokens, C*S*S/G^2 features:
 * a patch's channels, rows and columns as the convolution weight flattens them; zeros at
 * each image's class token and the padding) = the patches of pix [B, C, S, S], G = S / P. */
clipcl_status ops_patch_unfold_fm(ops *k, cl_mem pix, cl_mem patches, const ops_fm *L, int C, int S, int P);
/* x (feature-major, W features, layout L) += the class embedding at every T-th token (each
 * image's first) and pos [T, W] at every token. */
clipcl_status ops_vit_embed_fm(ops *k, cl_mem x, cl_mem cls, cl_mem pos, const ops_fm *L, int T, int W);
clipcl_status ops_l2norm(ops *k, cl_mem x, cl_mem y, int rows, int width);
/* h = act(h + bias) in place on a feature-major h with `features` features (bias per feature). */
clipcl_status ops_bias_act_fm(ops *k, cl_mem h, cl_mem bias, const ops_fm *L, int features, int act);
clipcl_status ops_add_bias(ops *k, cl_mem x, cl_mem bias, int rows, int cols);
/* Feature-major dst (layout Ld) token r = src (layout Ls) token idx[r], r < Ld->rows. */
clipcl_status ops_gather_fm(ops *k, cl_mem src, const ops_fm *Ls, cl_mem idx, cl_mem dst, const ops_fm *Ld,
                            int features);
/* dst[r] = src[idx[r]] (+ bias); bias may be NULL. */
clipcl_status ops_gather_rows(ops *k, cl_mem src, cl_mem idx, cl_mem bias, cl_mem dst, int rows, int cols);
/* tok_half: the token table holds IEEE halves. */
clipcl_status ops_text_embed(ops *k, cl_mem ids, cl_mem tok, int tok_half, cl_mem pos, cl_mem x, int rows, int T,
                             int W);
/* dst[0..n) = (float) src[0..n) for a buffer of IEEE halves. */
clipcl_status ops_half_to_float(ops *k, cl_mem src, cl_mem dst, size_t n);
/* pix [B, 3, plane] floats = lut [3, 256] applied to rgb [B, plane, 3] bytes. */
clipcl_status ops_rgb8_normalize(ops *k, cl_mem rgb, cl_mem lut, cl_mem pix, int B, int plane);

/* Chooses the variant for the device (local-memory tiles on GPUs, direct reads on CPUs;
 * $CLIPCL_ATTN_LOCAL=0|1 overrides); _variant builds the one asked for, the CPU variant with
 * qb queries per work-item (0: the device's default) in vectors of vw floats (8 or 16; 0: 16
 * where the device's native float vectors are that wide, else 8). */
clipcl_status ops_attn_create(ops *k, int head_dim, ops_attn *out);
clipcl_status ops_attn_create_variant(ops *k, int head_dim, int local_tiles, int qb, int vw, ops_attn *out);
void ops_attn_free(ops_attn *a);
/* out[b,t] = softmax(q k^T / sqrt(d) (+ causal mask)) v for every head; see cl/attn.cl.
 * qkv and out are feature-major with layout L (L->rows = B * T). */
clipcl_status ops_attention(ops *k, const ops_attn *a, cl_mem qkv, cl_mem bias, cl_mem out, const ops_fm *L, int B,
                            int T, int heads, int causal);

/* The ResNet tower's kernels (cl/conv.cl), built only when a ResNet model is loaded. */
typedef struct ops_conv {
    cl_kernel im2col, bias_relu, avgpool, tokens, attn_pool;
    size_t local_mem;        /* the device's local memory, bounding the attention pool's sequence */
} ops_conv;

clipcl_status ops_conv_create(ops *k, ops_conv *out);
void ops_conv_free(ops_conv *c);
/* Longest sequence ops_attn_pool accepts for head dimension D on this device. */
int ops_attn_pool_max_tokens(const ops_conv *c, int D);

/* dst [B*Ho*Wo, Cout] (NHWC) = beta * dst + convolution of src with w [Cout, K*K*Cin] (rows in
 * (ky, kx, cin) order), no bias; Ho = (H + 2 pad - K) / stride + 1, likewise Wo. src is NHWC
 * [B, H, W, Cin], or NCHW [B, Cin, H, W] when nchw is set. A 1x1 stride-1 convolution of an
 * NHWC input is one GEMM on src as it lies; any other goes through im2col into col
 * (col_floats floats), in chunks of output rows that fit. */
clipcl_status ops_conv2d(ops *k, const ops_conv *c, cl_mem src, int nchw, int B, int Cin, int H, int W, cl_mem w,
                         int Cout, int K, int stride, int pad, float beta, cl_mem dst, cl_mem col,
                         size_t col_floats);
/* The im2col step alone: output rows row0 .. row0+rows of the convolution's patch matrix. */
clipcl_status ops_im2col(ops *k, const ops_conv *c, cl_mem src, int nchw, int Cin, int H, int W, int K, int stride,
                         int pad, int Ho, int Wo, int row0, int rows, cl_mem col);
/* x = max(x + bias, 0), rows of cols. */
clipcl_status ops_bias_relu(ops *k, const ops_conv *c, cl_mem x, cl_mem bias, int rows, int cols);
/* NHWC KxK average pool, stride K, floor: dst [B, H/K, W/K, C]. */
clipcl_status ops_avgpool(ops *k, const ops_conv *c, cl_mem src, cl_mem dst, int B, int C, int H, int W, int K);
/* x [B, P+1, C]: the mean of f [B, P, C] over its P positions, then f. */
clipcl_status ops_rn_tokens(ops *k, const ops_conv *c, cl_mem f, cl_mem x, int B, int P, int C);
/* One-query multi-head attention (see cl/conv.cl): q [B, C], kv [B*T, 2C] (k | v), biases qb [C]
 * and kvb [2C]; out [B, C]. */
clipcl_status ops_attn_pool(ops *k, const ops_conv *c, cl_mem q, cl_mem qb, cl_mem kv, cl_mem kvb, cl_mem out,
                            int B, int T, int C, int heads);

/* C[M,N] = alpha * A[M,K] * B[N,K]^T + beta * C (row-major, dense, offsets in floats):
 * B is a weight in PyTorch's [out, in] layout. Done by CLBlast. */
clipcl_status ops_gemm_nt(ops *k, size_t M, size_t N, size_t K, float alpha, cl_mem A, size_t a_off, cl_mem B,
                          size_t b_off, float beta, cl_mem C, size_t c_off);
/* C = A·Wᵀ + beta·C with A (K features) and C (N features) feature-major in layout L and W a
 * weight [N, K] (PyTorch's [out, in]), or its transpose [K, N] when k->w_t; padding tokens of
 * C get values nobody should read. Few tokens (ops_gemm_small): one launch of cl/gemm.cl;
 * many (ops_gemm_tile): one launch of its tiled kernel; else one CLBlast call per chunk of
 * tokens, whose kernel reads the operands in place. */
clipcl_status ops_gemm_fm(ops *k, const ops_fm *L, size_t N, size_t K, cl_mem A, cl_mem W, int w_half, float beta,
                          cl_mem C);
/* Whether ops_gemm_fm runs clipcl's own kernel (cl/gemm.cl) for this layout: one chunk, at
 * most k->small_tokens real tokens (set by tuning: ClipclGemm in host/tune.h; or
 * $CLIPCL_GEMM_SMALL). Only then, or with ops_gemm_tile, may its weight be fp16 (w_half);
 * callers widen fp16 weights for CLBlast otherwise. */
int ops_gemm_small(const ops *k, const ops_fm *L);
/* Whether ops_gemm_fm runs clipcl's kernel for many tokens (see ops_tile) for this layout: not
 * ops_gemm_small, and at least k->tile.min_tokens real tokens (tuning's ClipclTile; or
 * $CLIPCL_GEMM_TILE). */
int ops_gemm_tile(const ops *k, const ops_fm *L);
/* Sets the tiled kernel's sizes and threshold (the sizes as tune_valid checks them for
 * ClipclTile; min_tokens stays as $CLIPCL_GEMM_TILE set it, if it did), and the feature-major
 * chunk width that goes with them (the CPU form's tokens per work-item from 64 up, else
 * gemm_rows; $CLIPCL_GEMM_ROWS wins). */
void ops_set_tile(ops *k, const ops_tile *t);
/* C = act(A·Wᵀ + bias) (OPS_ACT_*, as ops_bias_act_fm): one launch on clipcl's own kernel,
 * else ops_gemm_fm then ops_bias_act_fm. */
clipcl_status ops_gemm_fm_act(ops *k, const ops_fm *L, size_t N, size_t K, cl_mem A, cl_mem W, int w_half,
                              cl_mem bias, int act, cl_mem C);
#endif
