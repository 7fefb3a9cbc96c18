/* attn.cl — multi-head self-attention for CLIP's short sequences (T <= ~600) in one kernel:
 * each work-item owns one query of one head, work-groups share key/value tiles in local
 * memory, and the softmax is computed online (running max and sum), so the T×T score matrix
 * never reaches global memory. Scaling, the q/k/v biases and the causal mask happen here.
 *
 * qkv: [B, T, 3W] rows of q | k | v (W = heads * HEAD_DIM, head h at columns h*HEAD_DIM);
 * bias: [3W]; out: [B, T, W]. Launch: global (roundup(T, ATT_WG), heads, B), local (ATT_WG,1,1). */
#ifndef HEAD_DIM
#define HEAD_DIM 64
#endif
#ifndef ATT_WG
#define ATT_WG 32 /* queries per work-group */
#endif
#ifndef ATT_KT
#define ATT_KT 32 /* keys per local-memory tile */
#endif

__kernel __attribute__((reqd_work_group_size(ATT_WG, 1, 1)))
void attention(__global const float *qkv, __global const float *bias, __global float *out,
               const int T, const int heads, const float scale, const int causal)
{
    __local float Ks[ATT_KT][HEAD_DIM];
    __local float Vs[ATT_KT][HEAD_DIM];
    const int W = heads * HEAD_DIM, W3 = 3 * W;
    const int qi = get_global_id(0), h = get_global_id(1), b = get_global_id(2);
    const int lid = get_local_id(0);
    const size_t base = (size_t)b * T * W3;
    const int hoff = h * HEAD_DIM;
    const int active = qi < T;

    float q[HEAD_DIM], acc[HEAD_DIM], sc[ATT_KT];
    for (int d = 0; d < HEAD_DIM; d++) {
        q[d] = active ? (qkv[base + (size_t)qi * W3 + hoff + d] + bias[hoff + d]) * scale : 0.0f;
        acc[d] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    /* With the causal mask no query of this group looks past its last query. */
    int kend = T;
    if (causal) kend = min((int)(get_group_id(0) + 1) * ATT_WG, T);

    for (int k0 = 0; k0 < kend; k0 += ATT_KT) {
        const int nk = min(ATT_KT, kend - k0);
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int e = lid; e < nk * HEAD_DIM; e += ATT_WG) {
            const int j = e / HEAD_DIM, d = e % HEAD_DIM;
            const size_t r = base + (size_t)(k0 + j) * W3 + hoff + d;
            Ks[j][d] = qkv[r + W] + bias[W + hoff + d];
            Vs[j][d] = qkv[r + 2 * W] + bias[2 * W + hoff + d];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        int jn = nk;
        if (causal) jn = min(nk, qi - k0 + 1);
        if (!active || jn <= 0) continue;
        float tmax = -INFINITY;
        for (int j = 0; j < jn; j++) {
            float s = 0.0f;
            for (int d = 0; d < HEAD_DIM; d++) s += q[d] * Ks[j][d];
            sc[j] = s;
            tmax = fmax(tmax, s);
        }
        const float mnew = fmax(m, tmax);
        const float corr = exp(m - mnew); /* exp(-inf) = 0 on the first tile */
        l *= corr;
        for (int d = 0; d < HEAD_DIM; d++) acc[d] *= corr;
        for (int j = 0; j < jn; j++) {
            const float p = exp(sc[j] - mnew);
            l += p;
            for (int d = 0; d < HEAD_DIM; d++) acc[d] += p * Vs[j][d];
        }
        m = mnew;
    }
    if (!active) return;
    const float inv = 1.0f / l;
    __global float *o = out + ((size_t)b * T + qi) * W + hoff;
    for (int d = 0; d < HEAD_DIM; d++) o[d] = acc[d] * inv;
}
