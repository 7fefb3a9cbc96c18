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
 * and ops_fm_at on the host define it; cl/attn.cl repeats fm_at. */
#ifndef NORM_WG
#define NORM_WG 128 /* power of two */
#endif
#define FM_TT 8 /* tokens per work-group of layernorm_fm; chunks and NORM_WG are multiples */

static inline size_t fm_at(int t, int f, int F, int CH, int Tp)
{
    const int t0 = t / CH * CH, w = min(CH, Tp - t0);
    return (size_t)t0 * F + (size_t)f * w + (size_t)(t - t0);
}

/* y (feature-major) = LayerNorm(x (+ bias)) * gamma + beta for FM_TT tokens of row-major x
 * [rows, width]; tokens rows..Tp-1 of y get zeros. With has_bias the biased rows are written
 * back to x (see layernorm in norm.cl). Reads go along x's rows; the writes are turned so that
 * neighbouring work-items write neighbouring tokens. Launch: global ceil(Tp / FM_TT) * NORM_WG. */
__kernel __attribute__((reqd_work_group_size(NORM_WG, 1, 1)))
void layernorm_fm(__global float *x, const int has_bias, __global const float *bias,
                  __global const float *gamma, __global const float *beta, __global float *y,
                  const int rows, const int width, const float eps, const int CH, const int Tp)
{
    __local float red[FM_TT][NORM_WG];
    __local float mean[FM_TT], rstd[FM_TT];
    const int lid = get_local_id(0), t0 = get_group_id(0) * FM_TT;
    float s[FM_TT];
    for (int j = 0; j < FM_TT; j++) s[j] = 0.0f;
    for (int i = lid; i < width; i += NORM_WG) {
        const float b = has_bias ? bias[i] : 0.0f;
        for (int j = 0; j < FM_TT; j++) {
            if (t0 + j >= rows) break;
            __global float *p = x + (size_t)(t0 + j) * width + i;
            const float v = *p + b;
            if (has_bias) *p = v;
            s[j] += v;
        }
    }
    for (int j = 0; j < FM_TT; j++) red[j][lid] = s[j];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int st = NORM_WG / 2; st > 0; st >>= 1) {
        if (lid < st)
            for (int j = 0; j < FM_TT; j++) red[j][lid] += red[j][lid + st];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid < FM_TT) mean[lid] = red[lid][0] / width;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int j = 0; j < FM_TT; j++) s[j] = 0.0f;
    for (int i = lid; i < width; i += NORM_WG)
        for (int j = 0; j < FM_TT; j++) {
            if (t0 + j >= rows) break;
            const float d = x[(size_t)(t0 + j) * width + i] - mean[j];
            s[j] += d * d;
        }
    for (int j = 0; j < FM_TT; j++) red[j][lid] = s[j];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int st = NORM_WG / 2; st > 0; st >>= 1) {
        if (lid < st)
            for (int j = 0; j < FM_TT; j++) red[j][lid] += red[j][lid + st];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid < FM_TT) rstd[lid] = 1.0f / sqrt(red[lid][0] / width + eps);
    /* the biased x written above is read below by other work-items */
    barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
    /* FM_TT divides CH, so the tile lies in one chunk: work-item (j, i0) writes token t0 + j
       of features i0, i0 + NORM_WG / FM_TT, ... */
    const int j = lid % FM_TT, t = t0 + j;
    if (t >= Tp) return;
    const int c0 = t0 / CH * CH, w = min(CH, Tp - c0);
    __global float *yt = y + (size_t)c0 * width + (t - c0);
    if (t >= rows) {
        for (int i = lid / FM_TT; i < width; i += NORM_WG / FM_TT) yt[(size_t)i * w] = 0.0f;
        return;
    }
    __global const float *xt = x + (size_t)t * width;
    const float mj = mean[j], rj = rstd[j];
    for (int i = lid / FM_TT; i < width; i += NORM_WG / FM_TT) yt[(size_t)i * w] = (xt[i] - mj) * rj * gamma[i] + beta[i];
}

#define ACT_NONE 0
#define ACT_QUICK_GELU 1
#define ACT_GELU 2

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
