/* attn.cl — multi-head self-attention for CLIP's short sequences (T <= ~600) in one kernel:
 * each work-item owns one query of one head, work-groups share key/value tiles in local
 * memory, and the softmax is computed online (running max and sum), so the T×T score matrix
 * never reaches global memory. Scaling, the q/k/v biases and the causal mask happen here.
 *
 * qkv: [B, T, 3W] rows of q | k | v (W = heads * HEAD_DIM, head h at columns h*HEAD_DIM);
 * bias: [3W]; out: [B, T, W]. Launch: global (roundup(T, ATT_WG), heads, B), local (ATT_WG,1,1).
 *
 * ATT_LOCAL=0 builds the CPU variant instead: no local memory or barriers (a CPU's "local"
 * memory is ordinary cached memory), keys and values read in place, and the head dimension
 * in float4 vectors. A CPU compiler vectorises inner loops, and a float dot product in plain
 * C order is a reduction it may not reorder; written with float4 the work is SIMD already
 * (PoCL: 3.5 GFLOP/s scalar). The k and v biases are applied once per query rather than once
 * per key: q.(k + bk) = q.k + q.bk, and with softmax weights summing to one,
 * sum p (v + bv) = sum p v + bv. */
#ifndef HEAD_DIM
#define HEAD_DIM 64
#endif
#ifndef ATT_WG
#define ATT_WG 32 /* queries per work-group */
#endif
#ifndef ATT_KT
#define ATT_KT 32 /* keys per local-memory tile */
#endif

#ifndef ATT_LOCAL
#define ATT_LOCAL 1
#endif

#if ATT_LOCAL
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
#else /* !ATT_LOCAL */

#if HEAD_DIM % 8 == 0
#define NV (HEAD_DIM / 8)
#define LOAD(i, p) vload8(i, p)
#define STORE(v, i, p) vstore8(v, i, p)
#define HSUM(v) ((v).s0 + (v).s1 + (v).s2 + (v).s3 + (v).s4 + (v).s5 + (v).s6 + (v).s7)
typedef float8 vec;
#elif HEAD_DIM % 4 == 0
#define NV (HEAD_DIM / 4)
#define LOAD(i, p) vload4(i, p)
#define STORE(v, i, p) vstore4(v, i, p)
#define HSUM(v) ((v).x + (v).y + (v).z + (v).w)
typedef float4 vec;
#else
#define NV HEAD_DIM
#define LOAD(i, p) ((p)[i])
#define HSUM(v) (v)
typedef float vec;
#endif

__kernel __attribute__((reqd_work_group_size(ATT_WG, 1, 1)))
void attention(__global const float *qkv, __global const float *bias, __global float *out,
               const int T, const int heads, const float scale, const int causal)
{
    const int W = heads * HEAD_DIM, W3 = 3 * W;
    const int qi = get_global_id(0), h = get_global_id(1), b = get_global_id(2);
    if (qi >= T) return;
    const int hoff = h * HEAD_DIM;
    __global const float *row = qkv + (size_t)b * T * W3 + hoff;
    __global const float *bq = bias + hoff, *bk = bias + W + hoff, *bv = bias + 2 * W + hoff;

    vec q[NV], acc[NV];
    float qb = 0.0f;
    for (int i = 0; i < NV; i++) {
        q[i] = (LOAD(i, row + (size_t)qi * W3) + LOAD(i, bq)) * scale;
        acc[i] = (vec)0.0f;
        qb += HSUM(q[i] * LOAD(i, bk));
    }
    const int kend = causal ? qi + 1 : T;
    float m = -INFINITY, l = 0.0f, sc[ATT_KT];
    for (int k0 = 0; k0 < kend; k0 += ATT_KT) {
        const int nk = min(ATT_KT, kend - k0);
        float tmax = -INFINITY;
        for (int j = 0; j < nk; j++) {
            __global const float *kr = row + (size_t)(k0 + j) * W3 + W;
            vec s = (vec)0.0f;
            for (int i = 0; i < NV; i++) s += q[i] * LOAD(i, kr);
            sc[j] = HSUM(s) + qb;
            tmax = fmax(tmax, sc[j]);
        }
        const float mnew = fmax(m, tmax);
        const float corr = exp(m - mnew); /* exp(-inf) = 0 on the first tile */
        l *= corr;
        for (int i = 0; i < NV; i++) acc[i] *= corr;
        for (int j = 0; j < nk; j++) {
            __global const float *vr = row + (size_t)(k0 + j) * W3 + 2 * W;
            const float p = exp(sc[j] - mnew);
            l += p;
            for (int i = 0; i < NV; i++) acc[i] += p * LOAD(i, vr);
        }
        m = mnew;
    }
    const float inv = 1.0f / l;
    __global float *o = out + ((size_t)b * T + qi) * W + hoff;
    for (int i = 0; i < NV; i++) {
#if HEAD_DIM % 4 == 0
        STORE(acc[i] * inv + LOAD(i, bv), i, o);
#else
        o[i] = acc[i] * inv + bv[i];
#endif
    }
}
#endif
