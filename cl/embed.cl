/* embed.cl — the encoders' input stages: token + position embeddings, image bytes to
 * normalized pixels, the ViT patch unfold (so the stride-P convolution becomes one GEMM) and
 * class token + position embeddings. */

/* x[row] = tok[ids[row]] + pos[row % T]; ids were range-checked on the host. */
__kernel void text_embed(__global const int *ids, __global const float *tok, __global const float *pos,
                         __global float *x, const int T, const int W)
{
    const int c = get_global_id(0);
    if (c >= W) return;
    const int row = get_global_id(1);
    x[(size_t)row * W + c] = tok[(size_t)ids[row] * W + c] + pos[(size_t)(row % T) * W + c];
}

/* The same with a half-precision token table (fp16 weight storage). */
__kernel void text_embed_h(__global const int *ids, __global const half *tok, __global const float *pos,
                           __global float *x, const int T, const int W)
{
    const int c = get_global_id(0);
    if (c >= W) return;
    const int row = get_global_id(1);
    x[(size_t)row * W + c] = vload_half((size_t)ids[row] * W + c, tok) + pos[(size_t)(row % T) * W + c];
}

/* pix[b][c][p] = lut[c][rgb[(b*plane + p)*3 + c]]: HWC bytes to normalized CHW floats through
 * the host's table of every byte's value, so the result equals the host's bit for bit. */
__kernel void rgb8_normalize(__global const uchar *rgb, __global const float *lut, __global float *pix,
                             const int plane, const int total)
{
    const int i = get_global_id(0);
    if (i >= total) return;
    const int b = i / plane, p = i - b * plane;
    __global const uchar *s = rgb + (size_t)i * 3;
    __global float *d = pix + (size_t)b * 3 * plane + p;
    d[0] = lut[s[0]];
    d[plane] = lut[256 + s[1]];
    d[(size_t)2 * plane] = lut[512 + s[2]];
}

/* patches[(b*G + gy)*G + gx][(ch*P + ky)*P + kx] = pix[b][ch][gy*P + ky][gx*P + kx]:
 * the column order of the conv weight [W, C, P, P] read as a [W, C*P*P] matrix. One
 * work-item copies one patch's row of P pixels: the index arithmetic (divisions by values
 * known only at run time, which PoCL computed for every element: 36 ms of a ViT-B/32 batch
 * of 8) is done once per P elements. Launch: global (C*P, B*G*G). */
__kernel void patch_unfold(__global const float *pix, __global float *patches, const int C, const int S,
                           const int P, const int G)
{
    const int cy = get_global_id(0);
    if (cy >= C * P) return;
    const int row = get_global_id(1);
    const int b = row / (G * G), g = row % (G * G), gy = g / G, gx = g % G;
    const int ch = cy / P, ky = cy % P;
    __global const float *src = pix + (((size_t)b * C + ch) * S + gy * P + ky) * S + gx * P;
    __global float *dst = patches + (size_t)row * C * P * P + (size_t)cy * P;
    for (int kx = 0; kx < P; kx++) dst[kx] = src[kx];
}

/* x[b][0] = cls + pos[0]; x[b][t] = patch_out[b][t-1] + pos[t]. */
__kernel void vit_embed(__global const float *patch_out, __global const float *cls, __global const float *pos,
                        __global float *x, const int T, const int W)
{
    const int c = get_global_id(0);
    if (c >= W) return;
    const int row = get_global_id(1);
    const int b = row / T, t = row % T;
    const float v = t == 0 ? cls[c] : patch_out[((size_t)b * (T - 1) + t - 1) * W + c];
    x[(size_t)row * W + c] = v + pos[(size_t)t * W + c];
}
