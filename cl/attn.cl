/* attn.cl — multi-head self-attention for CLIP's short sequences (T <= ~600) in one kernel:
 * each work-item owns one query of one head, work-groups share key/value tiles in local
 * memory, and the softmax is computed online (running max and sum), so the T×T score matrix
 * never reaches global memory. Scaling, the q/k/v biases and the causal mask happen here.
 *
 * qkv: feature-major (cl/fm.cl) over the B*T tokens, 3W features q | k | v (W = heads *
 * HEAD_DIM, head h at features h*HEAD_DIM); bias: [3W]; out: feature-major, W features; both
 * in chunks of CH tokens over Tp. Launch: global (roundup(T, ATT_WG), heads, B), local
 * (ATT_WG,1,1).
 *
 * ATT_LOCAL=0 builds the CPU variant instead (below): no local memory or barriers (a CPU's
 * "local" memory is ordinary cached memory), several queries per work-item, and the scores
 * of eight keys at a time in one float8, so that the work is SIMD without horizontal sums
 * (PoCL: a float dot product in plain C order is a reduction the compiler may not reorder,
 * so the scalar form ran at 3.5 GFLOP/s). Launch: global (ceil(T / ATT_QB), heads, B), local
 * (1, 1, 1). It applies the k and v biases once per query rather than once per key:
 * q.(k + bk) = q.k + q.bk, and with softmax weights summing to one, sum p (v + bv) =
 * sum p v + bv. */
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

/* the feature-major layout (the same as cl/fm.cl) */
/* tokens in the chunk that holds token t */
static inline int fm_w(int t, int CH, int Tp) { return min(CH, Tp - t / CH * CH); }

static inline size_t fm_at(int t, int f, int F, int CH, int Tp)
{
    const int t0 = t / CH * CH;
    return (size_t)t0 * F + (size_t)f * fm_w(t, CH, Tp) + (size_t)(t - t0);
}

#if ATT_LOCAL
/* Head dimensions in vectors of four where they divide (every CLIP model's: 64, 80, 88, 104):
 * a score is then four independent multiply-add chains, and every local-memory read feeds
 * four of them. Each tile row gets one vector of padding: the tile is filled along keys
 * (coalesced reads of the feature-major input), and unpadded rows would put all of a fill's
 * writes in one bank. */
#if HEAD_DIM % 4 == 0
#define AV 4
typedef float4 avec;
#define AV_SUM(v) (((v).x + (v).y) + ((v).z + (v).w))
#define AV_MAKE(f, d) ((float4)(f(d), f((d) + 1), f((d) + 2), f((d) + 3)))
#define AV_STORE(f, v, d) (f(d, (v).x), f((d) + 1, (v).y), f((d) + 2, (v).z), f((d) + 3, (v).w))
#else
#define AV 1
typedef float avec;
#define AV_SUM(v) (v)
#define AV_MAKE(f, d) f(d)
#define AV_STORE(f, v, d) f(d, v)
#endif
#define HDV (HEAD_DIM / AV)
#define ROWV (HDV + 1) /* vectors per tile row */

__kernel __attribute__((reqd_work_group_size(ATT_WG, 1, 1)))
void attention(__global const float *qkv, __global const float *bias, __global float *out,
               const int T, const int heads, const float scale, const int causal, const int CH, const int Tp)
{
    __local avec Ks[ATT_KT][ROWV];
    __local avec Vs[ATT_KT][ROWV];
    __local float *ksf = (__local float *)Ks, *vsf = (__local float *)Vs;
    const int W = heads * HEAD_DIM, W3 = 3 * W;
    const int qi = get_global_id(0), h = get_global_id(1), b = get_global_id(2);
    const int lid = get_local_id(0);
    const int tb = b * T; /* the item's first token */
    const int hoff = h * HEAD_DIM;
    const int active = qi < T;
    const size_t qrow = fm_at(tb + (active ? qi : 0), 0, W3, CH, Tp), qw = fm_w(tb + (active ? qi : 0), CH, Tp);

#define LOAD_Q(d) (active ? (qkv[qrow + (size_t)(hoff + (d)) * qw] + bias[hoff + (d)]) * scale : 0.0f)
    avec q[HDV], acc[HDV];
    float sc[ATT_KT];
    for (int c = 0; c < HDV; c++) {
        q[c] = AV_MAKE(LOAD_Q, c * AV);
        acc[c] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    /* With the causal mask no query of this group looks past its last query. */
    int kend = T;
    if (causal) kend = min((int)(get_group_id(0) + 1) * ATT_WG, T);

    for (int k0 = 0; k0 < kend; k0 += ATT_KT) {
        const int nk = min(ATT_KT, kend - k0);
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int e = lid; e < nk * HEAD_DIM; e += ATT_WG) {
            const int j = e % nk, d = e / nk;
            const size_t r = fm_at(tb + k0 + j, 0, W3, CH, Tp), w = fm_w(tb + k0 + j, CH, Tp);
            ksf[j * ROWV * AV + d] = qkv[r + (W + hoff + d) * w] + bias[W + hoff + d];
            vsf[j * ROWV * AV + d] = qkv[r + (2 * W + hoff + d) * w] + bias[2 * W + hoff + d];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        int jn = nk;
        if (causal) jn = min(nk, qi - k0 + 1);
        if (!active || jn <= 0) continue;
        float tmax = -INFINITY;
        for (int j = 0; j < jn; j++) {
            avec s = 0.0f;
            for (int c = 0; c < HDV; c++) s += q[c] * Ks[j][c];
            sc[j] = AV_SUM(s);
            tmax = fmax(tmax, sc[j]);
        }
        const float mnew = fmax(m, tmax);
        const float corr = exp(m - mnew); /* exp(-inf) = 0 on the first tile */
        l *= corr;
        for (int c = 0; c < HDV; c++) acc[c] *= corr;
        for (int j = 0; j < jn; j++) {
            const float p = exp(sc[j] - mnew);
            l += p;
            for (int c = 0; c < HDV; c++) acc[c] += p * Vs[j][c];
        }
        m = mnew;
    }
    if (!active) return;
    const float inv = 1.0f / l;
    const size_t orow = fm_at(tb + qi, 0, W, CH, Tp), ow = fm_w(tb + qi, CH, Tp);
#define STORE_O(d, v) (out[orow + (size_t)(hoff + (d)) * ow] = (v) * inv)
    for (int c = 0; c < HDV; c++) AV_STORE(STORE_O, acc[c], c * AV);
}
#else /* !ATT_LOCAL */

/* CPU variant: one work-item (work-group of one: no barriers, no work-item loops) takes
 * ATT_QB queries of one head and walks the keys in chunks of ATT_KC. Each chunk of keys and
 * values is copied into private memory once for all ATT_QB queries: keys as they lie (one
 * row of keys per head dimension), so that the scores of ATT_VW keys (the CPU's vector: 8
 * floats for AVX2, 16 for AVX-512) are one vector multiply-add per head dimension: no
 * horizontal sums, and the exponentials are taken a vector at a time; values turned to one
 * row per key, ATT_VW (else 8) head dimensions per vector where HEAD_DIM allows. */
#ifndef ATT_QB
#define ATT_QB 32 /* queries per work-item */
#endif
#ifndef ATT_VW
#define ATT_VW 8 /* floats per vector: 8 or 16 */
#endif
#define ATT_KC 64 /* keys per chunk, a multiple of ATT_VW */

#if ATT_VW == 16
typedef float16 kvec;
typedef int16 kint;
#define KLOAD(i, p) vload16(i, p)
#define KSTORE(v, i, p) vstore16(v, i, p)
#define KLANES ((kint)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))
#define KRED(f, v) KRED8(f, f((v).lo, (v).hi))
#elif ATT_VW == 8
typedef float8 kvec;
typedef int8 kint;
#define KLOAD(i, p) vload8(i, p)
#define KSTORE(v, i, p) vstore8(v, i, p)
#define KLANES ((kint)(0, 1, 2, 3, 4, 5, 6, 7))
#define KRED(f, v) KRED8(f, v)
#else
#error "ATT_VW must be 8 or 16"
#endif

/* a vector's lanes folded with f (fmax or ADD), halves first */
#define KRED8(f, v) KRED4(f, f((v).lo, (v).hi))
#define KRED4(f, v) f(f((v).x, (v).y), f((v).z, (v).w))
#define ADD(a, b) ((a) + (b))

#if HEAD_DIM % ATT_VW == 0
#define NV (HEAD_DIM / ATT_VW)
typedef kvec vec;
#define VLOAD(i, p) KLOAD(i, p)
#define VSTORE(v, i, p) KSTORE(v, i, p)
#elif HEAD_DIM % 8 == 0
#define NV (HEAD_DIM / 8)
typedef float8 vec;
#define VLOAD(i, p) vload8(i, p)
#define VSTORE(v, i, p) vstore8(v, i, p)
#else
#define NV HEAD_DIM
typedef float vec;
#define VLOAD(i, p) ((p)[i])
#define VSTORE(v, i, p) ((p)[i] = (v))
#endif

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void attention(__global const float *qkv, __global const float *bias, __global float *out,
               const int T, const int heads, const float scale, const int causal, const int CH, const int Tp)
{
    const int W = heads * HEAD_DIM, W3 = 3 * W;
    const int q0 = get_global_id(0) * ATT_QB, h = get_global_id(1), b = get_global_id(2);
    if (q0 >= T) return;
    const int nq = min(ATT_QB, T - q0);
    const int hoff = h * HEAD_DIM, tb = b * T;
    __global const float *bq = bias + hoff, *bk = bias + W + hoff, *bv = bias + 2 * W + hoff;

    float q[ATT_QB][HEAD_DIM], acc[ATT_QB][HEAD_DIM], m[ATT_QB], l[ATT_QB], qb[ATT_QB];
    float kt[HEAD_DIM][ATT_KC], vt[ATT_KC][HEAD_DIM], p[ATT_KC];
    for (int i = 0; i < nq; i++) {
        float dot = 0.0f;
        const int t = tb + q0 + i, w = fm_w(t, CH, Tp);
        __global const float *src = qkv + fm_at(t, hoff, W3, CH, Tp);
        for (int d = 0; d < HEAD_DIM; d++) {
            q[i][d] = (src[(size_t)d * w] + bq[d]) * scale;
            dot += q[i][d] * bk[d];
            acc[i][d] = 0.0f;
        }
        /* q.(k + bk) = q.k + q.bk: the key bias once per query */
        qb[i] = dot;
        m[i] = -INFINITY;
        l[i] = 0.0f;
    }
    /* with the causal mask no query here looks past the block's last query */
    const int kend = causal ? q0 + nq : T;
    for (int k0 = 0; k0 < kend; k0 += ATT_KC) {
        const int nk = min(ATT_KC, kend - k0);
        const int nkv = (nk + ATT_VW - 1) / ATT_VW * ATT_VW;
        for (int j = 0; j < nkv; j++) {
            if (j >= nk) {
                for (int d = 0; d < HEAD_DIM; d++) kt[d][j] = 0.0f;
                continue;
            }
            const int t = tb + k0 + j, w = fm_w(t, CH, Tp);
            __global const float *kp = qkv + fm_at(t, W + hoff, W3, CH, Tp), *vp = kp + (size_t)W * w;
            for (int d = 0; d < HEAD_DIM; d++) {
                kt[d][j] = kp[(size_t)d * w];
                vt[j][d] = vp[(size_t)d * w];
            }
        }
        for (int i = 0; i < nq; i++) {
            const int n = causal ? min(nk, q0 + i - k0 + 1) : nk;
            if (n <= 0) continue;
            const int nv = (n + ATT_VW - 1) / ATT_VW;
            kvec mxv = (kvec)(-INFINITY);
            for (int v = 0; v < nv; v++) {
                kvec s0 = (kvec)(qb[i]), s1 = (kvec)0.0f, s2 = (kvec)0.0f, s3 = (kvec)0.0f;
                int d = 0;
                for (; d + 4 <= HEAD_DIM; d += 4) {
                    s0 += q[i][d] * KLOAD(v, kt[d]);
                    s1 += q[i][d + 1] * KLOAD(v, kt[d + 1]);
                    s2 += q[i][d + 2] * KLOAD(v, kt[d + 2]);
                    s3 += q[i][d + 3] * KLOAD(v, kt[d + 3]);
                }
                for (; d < HEAD_DIM; d++) s0 += q[i][d] * KLOAD(v, kt[d]);
                /* keys past n (the chunk's end or the causal mask) score -inf: weight 0 */
                const kvec s = select((s0 + s1) + (s2 + s3), (kvec)(-INFINITY), KLANES >= (kint)(n - v * ATT_VW));
                mxv = fmax(mxv, s);
                KSTORE(s, v, p);
            }
            const float mnew = fmax(m[i], KRED(fmax, mxv));
            const float corr = exp(m[i] - mnew); /* exp(-inf) = 0 on the first chunk */
            kvec sumv = (kvec)(0.0f);
            for (int v = 0; v < nv; v++) {
                const kvec e = exp(KLOAD(v, p) - mnew);
                sumv += e;
                KSTORE(e, v, p);
            }
            l[i] = l[i] * corr + KRED(ADD, sumv);
            vec a[NV];
            for (int c = 0; c < NV; c++) a[c] = VLOAD(c, acc[i]) * corr;
            for (int j = 0; j < n; j++) {
                const float pj = p[j];
                for (int c = 0; c < NV; c++) a[c] += pj * VLOAD(c, vt[j]);
            }
            for (int c = 0; c < NV; c++) VSTORE(a[c], c, acc[i]);
            m[i] = mnew;
        }
    }
    for (int i = 0; i < nq; i++) {
        const float inv = 1.0f / l[i];
        const int t = tb + q0 + i, w = fm_w(t, CH, Tp);
        __global float *o = out + fm_at(t, hoff, W, CH, Tp);
        /* softmax weights sum to one: the value bias once per query */
        for (int d = 0; d < HEAD_DIM; d++) o[(size_t)d * w] = acc[i][d] * inv + bv[d];
    }
}
#endif
