/* norm.cl — row normalizations: LayerNorm (optionally adding a pending bias first) and L2.
 * One work-group per row; NORM_WG work-items stride over the row and reduce in local memory. */
#ifndef NORM_WG
#define NORM_WG 128 /* power of two */
#endif

static float wg_sum(float v, __local float *red)
{
    const int lid = get_local_id(0);
    red[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = NORM_WG / 2; s > 0; s >>= 1) {
        if (lid < s) red[lid] += red[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = red[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

/* y[row] = LayerNorm(x[row] (+ bias)) * gamma + beta. With has_bias the biased row is also
 * written back to x: the residual stream keeps the bias of the GEMM that wrote it (GEMMs
 * accumulate into x with beta = 1 and cannot add a bias themselves). y may equal x. */
__kernel __attribute__((reqd_work_group_size(NORM_WG, 1, 1)))
void layernorm(__global float *x, const int has_bias, __global const float *bias,
               __global const float *gamma, __global const float *beta, __global float *y,
               const int width, const float eps)
{
    __local float red[NORM_WG];
    const int lid = get_local_id(0);
    __global float *xr = x + (size_t)get_group_id(0) * width;
    __global float *yr = y + (size_t)get_group_id(0) * width;
    float s = 0.0f;
    for (int i = lid; i < width; i += NORM_WG) {
        float v = xr[i];
        if (has_bias) {
            v += bias[i];
            xr[i] = v;
        }
        s += v;
    }
    const float mean = wg_sum(s, red) / width;
    float q = 0.0f;
    for (int i = lid; i < width; i += NORM_WG) {
        float d = xr[i] - mean;
        q += d * d;
    }
    const float rstd = 1.0f / sqrt(wg_sum(q, red) / width + eps);
    for (int i = lid; i < width; i += NORM_WG)
        yr[i] = (xr[i] - mean) * rstd * gamma[i] + beta[i];
}

/* y[row] = x[row] / ||x[row]||_2 (a zero row stays zero). */
__kernel __attribute__((reqd_work_group_size(NORM_WG, 1, 1)))
void l2norm(__global const float *x, __global float *y, const int width)
{
    __local float red[NORM_WG];
    const int lid = get_local_id(0);
    __global const float *xr = x + (size_t)get_group_id(0) * width;
    __global float *yr = y + (size_t)get_group_id(0) * width;
    float q = 0.0f;
    for (int i = lid; i < width; i += NORM_WG) q += xr[i] * xr[i];
    const float ss = wg_sum(q, red);
    const float inv = ss > 0.0f ? 1.0f / sqrt(ss) : 0.0f;
    for (int i = lid; i < width; i += NORM_WG) yr[i] = xr[i] * inv;
}
