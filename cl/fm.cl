/* fm.cl — the feature-major activation layout and the kernels that write or act on it.
 *
 * CLBlast's fast GEMM kernel (GEMMK=1, 2-D register tiling) wants the weight as it is stored
 * ([out, in]) and the activations and result with tokens contiguous: each feature's values
 * for a run of tokens side by side. Given row-major activations it copies them into that
 * layout and the result back out on every call (9 % of a ViT-B/32 forward on PoCL). The
 * transformer blocks therefore keep the matrices that only GEMMs and our kernels touch
 * (normalized inputs, q|k|v, attention output, MLP hidden) feature-major.
 *
 * Layout of a matrix with F features over Tp tokens (Tp = the real tokens rounded up to the
 * GEMM tile, the extra tokens hold zeros or values nobody reads): tokens in chunks of CH (the
 * last chunk holds the rest), each chunk a [F][w] block of its own so that a GEMM per chunk
 * sees a dense matrix (CPUs run GEMMs per chunk of tokens; GPUs use one chunk). fm_at below
 * and ops_fm_at on the host define it; cl/attn.cl repeats fm_w and fm_at. */
#ifndef NORM_WG
#define NORM_WG 128 /* power of two */
#endif
#define FM_TT 8 /* tokens per work-group of layernorm_fm; chunks and NORM_WG are multiples */

/* tokens in the chunk that holds token t */
static inline int fm_w(int t, int CH, int Tp) { return min(CH, Tp - t / CH * CH); }

static inline size_t fm_at(int t, int f, int F, int CH, int Tp)
{
    const int t0 = t / CH * CH;
    return (size_t)t0 * F + (size_t)f * fm_w(t, CH, Tp) + (size_t)(t - t0);
}

/* y = LayerNorm(x (+ bias)) * gamma + beta per token, x and y feature-major over Tp tokens
 * (rows real ones; the others of y get zeros). With has_bias the biased x is written back (the
 * residual stream keeps the bias of the GEMM that wrote it: GEMMs accumulate into x with
 * beta = 1 and cannot add a bias themselves). y may equal x. A work-group takes FM_TT
 * neighbouring tokens (one chunk holds them all: FM_TT divides CH) with NORM_WG / FM_TT lanes
 * each over the features, so that neighbouring work-items read neighbouring tokens. Launch:
 * global ceil(Tp / FM_TT) * NORM_WG. */
#if NORM_WG > 1
#define FM_NL (NORM_WG / FM_TT)
__kernel __attribute__((reqd_work_group_size(NORM_WG, 1, 1)))
void layernorm_fm(__global float *x, const int has_bias, __global const float *bias,
                  __global const float *gamma, __global const float *beta, __global float *y,
                  const int rows, const int width, const float eps, const int CH, const int Tp)
{
    __local float red[FM_NL][FM_TT];
    const int lid = get_local_id(0), j = lid % FM_TT, lane = lid / FM_TT;
    const int t0 = get_group_id(0) * FM_TT, t = t0 + j;
    const int c0 = t0 / CH * CH, w = fm_w(t0, CH, Tp);
    const size_t col = (size_t)c0 * width + (t - c0);
    const int real = t < rows;
    float s = 0.0f;
    if (real)
        for (int i = lane; i < width; i += FM_NL) {
            __global float *p = x + col + (size_t)i * w;
            float v = *p;
            if (has_bias) {
                v += bias[i];
                *p = v;
            }
            s += v;
        }
    red[lane][j] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int st = FM_NL / 2; st > 0; st >>= 1) {
        if (lane < st) red[lane][j] += red[lane + st][j];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float mean = red[0][j] / width;
    barrier(CLK_LOCAL_MEM_FENCE);
    s = 0.0f;
    if (real)
        for (int i = lane; i < width; i += FM_NL) {
            const float d = x[col + (size_t)i * w] - mean;
            s += d * d;
        }
    red[lane][j] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int st = FM_NL / 2; st > 0; st >>= 1) {
        if (lane < st) red[lane][j] += red[lane + st][j];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float rstd = 1.0f / sqrt(red[0][j] / width + eps);
    if (t >= Tp) return;
    for (int i = lane; i < width; i += FM_NL) {
        const size_t e = col + (size_t)i * w;
        y[e] = real ? (x[e] - mean) * rstd * gamma[i] + beta[i] : 0.0f;
    }
}
#else
/* The CPU form (NORM_WG = 1): a work-group of one work-item takes FM_TT = 8 neighbouring
 * tokens as the lanes of a float8 and walks all the features, so that every load and store is
 * a vector along tokens and nothing is reduced across work-items (which PoCL runs as loops
 * split at each barrier, with scalar loads a chunk's row apart). Each lane sums the features
 * in the same order as the other form's single lane does. Launch: global ceil(Tp / FM_TT). */
__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void layernorm_fm(__global float *x, const int has_bias, __global const float *bias,
                  __global const float *gamma, __global const float *beta, __global float *y,
                  const int rows, const int width, const float eps, const int CH, const int Tp)
{
    const int t0 = get_global_id(0) * FM_TT;
    if (t0 >= Tp) return;
    const int c0 = t0 / CH * CH, w = fm_w(t0, CH, Tp);
    const size_t col = (size_t)c0 * width + (t0 - c0);
    const int8 lane = (int8)(0, 1, 2, 3, 4, 5, 6, 7);
    const int8 real = lane < (int8)(rows - t0); /* -1 where the token is real */
    float8 s = (float8)(0.0f);
    for (int i = 0; i < width; i++) {
        __global float *p = x + col + (size_t)i * w;
        float8 v = vload8(0, p);
        if (has_bias) {
            const float8 vb = v + bias[i];
            vstore8(select(v, vb, real), 0, p);
            v = vb;
        }
        s += v;
    }
    const float8 mean = s / (float)width;
    s = (float8)(0.0f);
    for (int i = 0; i < width; i++) {
        const float8 d = vload8(0, x + col + (size_t)i * w) - mean;
        s += d * d;
    }
    const float8 rstd = 1.0f / sqrt(s / (float)width + eps);
    for (int i = 0; i < width; i++) {
        const size_t e = col + (size_t)i * w;
        const float8 o = (vload8(0, x + e) - mean) * rstd * gamma[i] + beta[i];
        vstore8(select((float8)(0.0f), o, real), 0, y + e);
    }
}
#endif

/* dst (feature-major, F features) = src row-major [rows, F]; padding tokens get zeros.
 * Launch: global (Tp, F). */
__kernel void fm_from_rows(__global const float *src, __global float *dst, const int F, const int CH, const int Tp,
                           const int rows)
{
    const int t = get_global_id(0), f = get_global_id(1);
    if (t >= Tp) return;
    dst[fm_at(t, f, F, CH, Tp)] = t < rows ? src[(size_t)t * F + f] : 0.0f;
}

/* The image tower's input as a feature-major matrix of C*P*P features (channel, row and
 * column within the patch, as a convolution weight flattens them) over the B*T tokens
 * (T = G*G + 1: the class token, then the patches row by row), so that the patch embedding
 * is a GEMM in the blocks' layout: pix [B, C, S, S]; each image's class token and the padding
 * tokens get zeros (their embedding is then zero, and vit_embed_fm adds the class
 * embedding). One work-item per token and channel row of its patch. Launch: global (Tp, C*P). */
__kernel void patch_unfold_fm(__global const float *pix, __global float *patches, const int C, const int S,
                              const int P, const int G, const int rows, const int CH, const int Tp)
{
    const int t = get_global_id(0), cy = get_global_id(1);
    if (t >= Tp || cy >= C * P) return;
    const int T = G * G + 1, b = t / T, g = t % T - 1, w = fm_w(t, CH, Tp);
    __global float *dst = patches + fm_at(t, cy * P, C * P * P, CH, Tp);
    if (t >= rows || g < 0) {
        for (int kx = 0; kx < P; kx++) dst[(size_t)kx * w] = 0.0f;
        return;
    }
    const int gy = g / G, gx = g % G, ch = cy / P, ky = cy % P;
    __global const float *src = pix + (((size_t)b * C + ch) * S + gy * P + ky) * S + gx * P;
    for (int kx = 0; kx < P; kx++) dst[(size_t)kx * w] = src[kx];
}

/* x (feature-major, W features, the patch embeddings with zeros at the class tokens) += the
 * class embedding at each image's first token and the position embedding, for the real
 * tokens (T per image). Launch: global (rows, W). */
__kernel void vit_embed_fm(__global float *x, __global const float *cls, __global const float *pos, const int T,
                           const int W, const int rows, const int CH, const int Tp)
{
    const int t = get_global_id(0), f = get_global_id(1);
    if (t >= rows || f >= W) return;
    const int p = t % T;
    x[fm_at(t, f, W, CH, Tp)] += (p == 0 ? cls[f] : 0.0f) + pos[(size_t)p * W + f];
}

/* dst row-major [rows, F] = src (feature-major) (+ bias). Launch: global (F, rows). */
__kernel void fm_to_rows(__global const float *src, const int has_bias, __global const float *bias,
                         __global float *dst, const int F, const int CH, const int Tp)
{
    const int f = get_global_id(0), t = get_global_id(1);
    if (f >= F) return;
    dst[(size_t)t * F + f] = src[fm_at(t, f, F, CH, Tp)] + (has_bias ? bias[f] : 0.0f);
}

#define ACT_NONE 0
#define ACT_QUICK_GELU 1 /* x * sigmoid(1.702 x): OpenAI's models */
#define ACT_GELU 2       /* exact erf GELU: LAION / OpenCLIP models */

/* h = act(h + bias[feature]) in place on a feature-major [F, Tp]: one work-item per eight
 * tokens of one feature row of one chunk (chunks are multiples of 8). Launch: global (CH / 8,
 * chunks * F). */
__kernel void bias_act_fm(__global float *h, __global const float *bias, const int F, const int CH, const int Tp,
                          const int act)
{
    const int r = get_global_id(1), c = r / F, f = r - c * F;
    const int t0 = c * CH, w = min(CH, Tp - t0), col = get_global_id(0) * 8;
    if (col >= w) return;
    __global float *p = h + (size_t)t0 * F + (size_t)f * w + col;
    float8 v = vload8(0, p) + bias[f];
    if (act == ACT_QUICK_GELU)
        v = v * (1.0f / (1.0f + exp(-1.702f * v)));
    else if (act == ACT_GELU)
        v = 0.5f * v * (1.0f + erf(v * 0.70710678118654752f));
    vstore8(v, 0, p);
}

/* dst token r = src token idx[r] for r < rows, zeros after (both feature-major, F features;
 * src in chunks of CH over Tp tokens, dst over dTp tokens in chunks of dCH). Picks the pooled
 * tokens. Launch: global (dTp, F). */
__kernel void gather_fm(__global const float *src, __global const int *idx, __global float *dst, const int F,
                        const int CH, const int Tp, const int rows, const int dCH, const int dTp)
{
    const int r = get_global_id(0), f = get_global_id(1);
    if (r >= dTp) return;
    dst[fm_at(r, f, F, dCH, dTp)] = r < rows ? src[fm_at(idx[r], f, F, CH, Tp)] : 0.0f;
}
