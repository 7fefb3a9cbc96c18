/* conv.cl — the ResNet image tower's own kernels. The convolutions themselves are CLBlast
 * GEMMs; these kernels do what a GEMM cannot: im2col for 3×3 and strided convolutions,
 * bias + ReLU (the BatchNorm is folded into the weights and this bias at load time), k×k
 * average pooling, the attention pool's token sequence and its single-query attention.
 *
 * Activations are channels-last (NHWC): [B, H, W, C] = rows of C channels, one per pixel, so
 * that a 1×1 convolution is a GEMM over the activations as they lie. */
#ifndef POOL_WG
#define POOL_WG 64 /* work-items per attention-pool work-group; power of two */
#endif

/* col[r][(ky*K + kx)*C + c] = src[b][c][iy][ix] with iy = oy*stride - pad + ky, ix likewise
 * (0 outside the image), for output row g = row0 + r = (b*Ho + oy)*Wo + ox. The source is
 * addressed through element strides (sb, sc, sy, sx), so NCHW pixels and NHWC activations
 * both work. Column order matches weights stored [Cout][ky][kx][Cin].
 * Launch: (C, K*K, rows), local (<= 64, 1, 1): consecutive work-items take consecutive
 * channels (contiguous in NHWC), and everything that depends on the row and the kernel tap
 * only is the same across a work-group. */
__kernel void im2col(__global const float *src, __global float *col, const int C, const int H, const int W,
                     const int sb, const int sc, const int sy, const int sx, const int K, const int stride,
                     const int pad, const int Ho, const int Wo, const int row0)
{
    const int c = get_global_id(0);
    if (c >= C) return;
    const int kk = get_global_id(1), r = get_global_id(2);
    const int g = row0 + r;
    const int ox = g % Wo, t = g / Wo, oy = t % Ho, b = t / Ho;
    const int kx = kk % K, ky = kk / K;
    const int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
    float v = 0.0f;
    if (iy >= 0 && iy < H && ix >= 0 && ix < W)
        v = src[(size_t)b * sb + (size_t)c * sc + (size_t)iy * sy + (size_t)ix * sx];
    col[((size_t)r * K * K + kk) * C + c] = v;
}

/* x = max(x + bias, 0) over rows of `cols` channels. Launch: (cols, rows). */
__kernel void bias_relu(__global float *x, __global const float *bias, const int cols)
{
    const int c = get_global_id(0);
    if (c >= cols) return;
    const size_t i = (size_t)get_global_id(1) * cols + c;
    x[i] = fmax(x[i] + bias[c], 0.0f);
}

/* PyTorch's AvgPool2d(K): stride K, no padding, rows and columns past Ho*K, Wo*K unread.
 * NHWC in, NHWC out. Launch: (C, B*Ho*Wo). */
__kernel void avgpool(__global const float *src, __global float *dst, const int C, const int H, const int W,
                      const int K, const int Ho, const int Wo)
{
    const int c = get_global_id(0);
    if (c >= C) return;
    const int g = get_global_id(1);
    const int ox = g % Wo, t = g / Wo, oy = t % Ho, b = t / Ho;
    __global const float *s = src + (((size_t)b * H + (size_t)oy * K) * W + (size_t)ox * K) * C + c;
    float acc = 0.0f;
    for (int ky = 0; ky < K; ky++)
        for (int kx = 0; kx < K; kx++) acc += s[((size_t)ky * W + kx) * C];
    dst[(size_t)g * C + c] = acc / (float)(K * K);
}

/* The attention pool's sequence from a feature map f [B, P, C] (P = H*W positions):
 * x[b][0] = the mean over positions, x[b][1 + p] = f[b][p]. Launch: (C, B*(P+1)). */
__kernel void rn_tokens(__global const float *f, __global float *x, const int P, const int C)
{
    const int c = get_global_id(0);
    if (c >= C) return;
    const int row = get_global_id(1);
    const int b = row / (P + 1), t = row % (P + 1);
    __global const float *fb = f + (size_t)b * P * C + c;
    float v;
    if (t == 0) {
        float acc = 0.0f;
        for (int p = 0; p < P; p++) acc += fb[(size_t)p * C];
        v = acc / (float)P;
    } else {
        v = fb[(size_t)(t - 1) * C];
    }
    x[(size_t)row * C + c] = v;
}

static float wg_reduce(float v, __local float *red, const int op_max)
{
    const int lid = get_local_id(0);
    red[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = POOL_WG / 2; s > 0; s >>= 1) {
        if (lid < s) red[lid] = op_max ? fmax(red[lid], red[lid + s]) : red[lid] + red[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float r = red[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

/* Multi-head attention with one query per item (the attention pool): for head h,
 * out[b][h*D + d] = sum_t softmax_t(scale * (q[b] + qb)·(k_t + kb)) (v_t + vb)[d], where
 * kv[b*T + t] = k_t | v_t (2C columns) and kvb = kb | vb. One work-group per (head, item);
 * the T scores live in local memory (sc, T floats) and the scaled query in qs (D floats).
 * Launch: (heads * POOL_WG, B), local (POOL_WG, 1). */
__kernel __attribute__((reqd_work_group_size(POOL_WG, 1, 1)))
void attn_pool(__global const float *q, __global const float *qb, __global const float *kv,
               __global const float *kvb, __global float *out, const int T, const int C, const int D,
               const float scale, __local float *sc, __local float *qs)
{
    __local float red[POOL_WG];
    const int h = get_group_id(0), b = get_group_id(1), lid = get_local_id(0);
    const int ho = h * D;
    const size_t C2 = 2 * (size_t)C;
    for (int d = lid; d < D; d += POOL_WG) qs[d] = (q[(size_t)b * C + ho + d] + qb[ho + d]) * scale;
    barrier(CLK_LOCAL_MEM_FENCE);
    float mx = -INFINITY;
    for (int t = lid; t < T; t += POOL_WG) {
        __global const float *kr = kv + ((size_t)b * T + t) * C2 + ho;
        float s = 0.0f;
        for (int d = 0; d < D; d++) s += qs[d] * (kr[d] + kvb[ho + d]);
        sc[t] = s;
        mx = fmax(mx, s);
    }
    mx = wg_reduce(mx, red, 1);
    float sum = 0.0f;
    for (int t = lid; t < T; t += POOL_WG) {
        const float p = exp(sc[t] - mx);
        sc[t] = p;
        sum += p;
    }
    sum = wg_reduce(sum, red, 0); /* its barriers also publish sc */
    const float inv = 1.0f / sum;
    for (int d = lid; d < D; d += POOL_WG) {
        __global const float *vr = kv + (size_t)b * T * C2 + C + ho + d;
        const float vb = kvb[C + ho + d];
        float acc = 0.0f;
        for (int t = 0; t < T; t++) acc += sc[t] * (vr[(size_t)t * C2] + vb);
        out[(size_t)b * C + ho + d] = acc * inv;
    }
}
