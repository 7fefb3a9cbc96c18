/* refrn.c — OpenAI's ModifiedResNet image tower in double precision with plain loops (see
 * refrn.h). NCHW throughout, as PyTorch runs it; nothing folded, nothing fused. */
#include "refrn.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clipcl.h"
#include "st.h"

struct rn_ref {
    st_file *f;
    double **vals;           /* per tensor of f (same index), converted on load; NULL when unused */
    int heads, width, C, T, E;
};

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "refrn: out of memory (%zu bytes)\n", n);
        abort();
    }
    return p;
}

/* The tensor's values as doubles, checking its element count; aborts when absent (a test bug
 * or a broken writer, never an input case). */
static const double *get(const rn_ref *m, const char *name, size_t numel)
{
    const st_tensor *t = st_find(m->f, name);
    if (!t || !m->vals[t - m->f->tensors] || (size_t)t->numel != numel) {
        fprintf(stderr, "refrn: tensor %s missing or of %lld elements, expected %zu\n", name,
                t ? (long long)t->numel : -1LL, numel);
        abort();
    }
    return m->vals[t - m->f->tensors];
}

static int has(const rn_ref *m, const char *name) { return st_find(m->f, name) != NULL; }

int rn_ref_load(const char *dir, int heads, rn_ref **out)
{
    char path[4096];
    *out = NULL;
    rn_ref *m = calloc(1, sizeof *m);
    if (!m) return -1;
    snprintf(path, sizeof path, "%s/open_clip_model.safetensors", dir);
    struct stat sb;
    if (stat(path, &sb)) snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (st_open(path, &m->f) != CLIPCL_OK) {
        fprintf(stderr, "rn_ref_load: %s\n", clipcl_errmsg());
        free(m);
        return -1;
    }
    m->vals = calloc((size_t)m->f->n, sizeof *m->vals);
    for (int i = 0; i < m->f->n; i++) {
        const st_tensor *t = &m->f->tensors[i];
        if (strncmp(t->name, "visual.", 7) || (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16))
            continue;
        float *tmp = xmalloc((size_t)t->numel * sizeof *tmp);
        if (st_to_f32(t, tmp) != CLIPCL_OK) {
            fprintf(stderr, "rn_ref_load: %s\n", clipcl_errmsg());
            free(tmp);
            rn_ref_free(m);
            return -1;
        }
        m->vals[i] = xmalloc((size_t)t->numel * sizeof(double));
        for (int64_t k = 0; k < t->numel; k++) m->vals[i][k] = tmp[k];
        free(tmp);
    }
    const st_tensor *pos = st_find(m->f, "visual.attnpool.positional_embedding");
    const st_tensor *c1 = st_find(m->f, "visual.layer1.0.conv1.weight");
    const st_tensor *cp = st_find(m->f, "visual.attnpool.c_proj.weight");
    if (!pos || !c1 || !cp || pos->ndim != 2 || cp->ndim != 2) {
        fprintf(stderr, "rn_ref_load: %s is not an OpenAI-layout ResNet\n", path);
        rn_ref_free(m);
        return -1;
    }
    m->T = (int)pos->shape[0];
    m->C = (int)pos->shape[1];
    m->E = (int)cp->shape[0];
    m->width = (int)c1->shape[0];
    m->heads = heads;
    if (heads < 1 || m->C % heads) {
        fprintf(stderr, "rn_ref_load: %d heads do not divide %d\n", heads, m->C);
        rn_ref_free(m);
        return -1;
    }
    *out = m;
    return 0;
}

void rn_ref_free(rn_ref *m)
{
    if (!m) return;
    if (m->vals)
        for (int i = 0; i < m->f->n; i++) free(m->vals[i]);
    free(m->vals);
    st_close(m->f);
    free(m);
}

int rn_ref_tokens(const rn_ref *m) { return m->T; }
int rn_ref_pool_width(const rn_ref *m) { return m->C; }

/* ---- the math, NCHW (one image: [C][H][W]) ---- */

typedef struct map {
    double *v;
    int C, H, W;
} map;

static map map_new(int C, int H, int W)
{
    return (map){xmalloc((size_t)C * H * W * sizeof(double)), C, H, W};
}

/* nn.Conv2d(bias=False): weight [cout][cin][k][k] */
static map conv(const rn_ref *m, const map *x, const char *wname, int cout, int k, int stride, int pad)
{
    const double *w = get(m, wname, (size_t)cout * x->C * k * k);
    int Ho = (x->H + 2 * pad - k) / stride + 1, Wo = (x->W + 2 * pad - k) / stride + 1;
    map y = map_new(cout, Ho, Wo);
    for (int o = 0; o < cout; o++)
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++) {
                double s = 0;
                for (int c = 0; c < x->C; c++)
                    for (int ky = 0; ky < k; ky++) {
                        int iy = oy * stride - pad + ky;
                        if (iy < 0 || iy >= x->H) continue;
                        for (int kx = 0; kx < k; kx++) {
                            int ix = ox * stride - pad + kx;
                            if (ix < 0 || ix >= x->W) continue;
                            s += w[(((size_t)o * x->C + c) * k + ky) * k + kx] * x->v[((size_t)c * x->H + iy) * x->W + ix];
                        }
                    }
                y.v[((size_t)o * Ho + oy) * Wo + ox] = s;
            }
    return y;
}

/* nn.BatchNorm2d in eval mode, eps 1e-5; then ReLU when asked */
static void bn(const rn_ref *m, map *x, const char *prefix, int relu)
{
    char n[256];
    size_t C = (size_t)x->C, HW = (size_t)x->H * x->W;
    snprintf(n, sizeof n, "%s.weight", prefix);
    const double *g = get(m, n, C);
    snprintf(n, sizeof n, "%s.bias", prefix);
    const double *b = get(m, n, C);
    snprintf(n, sizeof n, "%s.running_mean", prefix);
    const double *mu = get(m, n, C);
    snprintf(n, sizeof n, "%s.running_var", prefix);
    const double *var = get(m, n, C);
    for (size_t c = 0; c < C; c++)
        for (size_t i = 0; i < HW; i++) {
            double v = (x->v[c * HW + i] - mu[c]) / sqrt(var[c] + 1e-5) * g[c] + b[c];
            x->v[c * HW + i] = relu && v < 0 ? 0 : v;
        }
}

/* nn.AvgPool2d(k): stride k, floor */
static map avgpool(const map *x, int k)
{
    map y = map_new(x->C, x->H / k, x->W / k);
    for (int c = 0; c < x->C; c++)
        for (int oy = 0; oy < y.H; oy++)
            for (int ox = 0; ox < y.W; ox++) {
                double s = 0;
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) s += x->v[((size_t)c * x->H + oy * k + ky) * x->W + ox * k + kx];
                y.v[((size_t)c * y.H + oy) * y.W + ox] = s / (k * k);
            }
    return y;
}

static void swap_free(map *x, map y)
{
    free(x->v);
    *x = y;
}

static void bottleneck(const rn_ref *m, map *x, const char *pre, int stride)
{
    char w[256], b[256];
    snprintf(w, sizeof w, "%s.conv1.weight", pre);
    const st_tensor *t1 = st_find(m->f, w), *t3;
    int planes = (int)t1->shape[0];
    snprintf(w, sizeof w, "%s.conv3.weight", pre);
    t3 = st_find(m->f, w);
    int cout = (int)t3->shape[0];

    snprintf(w, sizeof w, "%s.conv1.weight", pre);
    map o = conv(m, x, w, planes, 1, 1, 0);
    snprintf(b, sizeof b, "%s.bn1", pre);
    bn(m, &o, b, 1);
    snprintf(w, sizeof w, "%s.conv2.weight", pre);
    swap_free(&o, conv(m, &o, w, planes, 3, 1, 1));
    snprintf(b, sizeof b, "%s.bn2", pre);
    bn(m, &o, b, 1);
    if (stride > 1) swap_free(&o, avgpool(&o, stride));
    snprintf(w, sizeof w, "%s.conv3.weight", pre);
    swap_free(&o, conv(m, &o, w, cout, 1, 1, 0));
    snprintf(b, sizeof b, "%s.bn3", pre);
    bn(m, &o, b, 0);

    snprintf(w, sizeof w, "%s.downsample.0.weight", pre);
    map id = *x;
    int own = 0;
    if (has(m, w)) {
        map p = stride > 1 ? avgpool(x, stride) : *x;
        id = conv(m, &p, w, cout, 1, 1, 0);
        if (stride > 1) free(p.v);
        snprintf(b, sizeof b, "%s.downsample.1", pre);
        bn(m, &id, b, 0);
        own = 1;
    }
    if (id.C != o.C || id.H != o.H || id.W != o.W) {
        fprintf(stderr, "refrn: %s: shortcut %dx%dx%d vs %dx%dx%d\n", pre, id.C, id.H, id.W, o.C, o.H, o.W);
        abort();
    }
    for (size_t i = 0; i < (size_t)o.C * o.H * o.W; i++) {
        double v = o.v[i] + id.v[i];
        o.v[i] = v > 0 ? v : 0;
    }
    if (own) free(id.v);
    swap_free(x, o);
}

/* y[o] = b[o] + sum_i w[o][i] x[i] */
static void linear(const double *x, int in, const double *w, const double *b, int outn, double *y)
{
    for (int o = 0; o < outn; o++) {
        double s = b ? b[o] : 0;
        for (int i = 0; i < in; i++) s += w[(size_t)o * in + i] * x[i];
        y[o] = s;
    }
}

void rn_ref_encode_images(const rn_ref *m, const float *pix, int n, int S, float *tokens, float *pooled,
                          float *features, float *embeds)
{
    const int C = m->C, T = m->T, E = m->E, H = m->heads, D = C / H, W = m->width;
    for (int s = 0; s < n; s++) {
        map x = map_new(3, S, S);
        for (size_t i = 0; i < (size_t)3 * S * S; i++) x.v[i] = pix[(size_t)s * 3 * S * S + i];
        swap_free(&x, conv(m, &x, "visual.conv1.weight", W / 2, 3, 2, 1));
        bn(m, &x, "visual.bn1", 1);
        swap_free(&x, conv(m, &x, "visual.conv2.weight", W / 2, 3, 1, 1));
        bn(m, &x, "visual.bn2", 1);
        swap_free(&x, conv(m, &x, "visual.conv3.weight", W, 3, 1, 1));
        bn(m, &x, "visual.bn3", 1);
        swap_free(&x, avgpool(&x, 2));
        for (int st = 1; st <= 4; st++)
            for (int i = 0;; i++) {
                char pre[64], w[96];
                snprintf(pre, sizeof pre, "visual.layer%d.%d", st, i);
                snprintf(w, sizeof w, "%s.conv1.weight", pre);
                if (!has(m, w)) break;
                bottleneck(m, &x, pre, st > 1 && i == 0 ? 2 : 1);
            }
        const int P = x.H * x.W;
        if (P + 1 != T || x.C != C) {
            fprintf(stderr, "refrn: feature map %dx%dx%d does not fit the attention pool [%d, %d]\n", x.C, x.H, x.W, T, C);
            abort();
        }
        /* tokens [T][C]: mean, then positions row by row (x.flatten(2).permute(2, 0, 1)) */
        double *tok = xmalloc((size_t)T * C * sizeof *tok);
        for (int c = 0; c < C; c++) {
            double mean = 0;
            for (int p = 0; p < P; p++) {
                tok[(size_t)(1 + p) * C + c] = x.v[(size_t)c * P + p];
                mean += x.v[(size_t)c * P + p];
            }
            tok[c] = mean / P;
        }
        if (tokens)
            for (size_t i = 0; i < (size_t)T * C; i++) tokens[(size_t)s * T * C + i] = (float)tok[i];
        const double *pos = get(m, "visual.attnpool.positional_embedding", (size_t)T * C);
        for (size_t i = 0; i < (size_t)T * C; i++) tok[i] += pos[i];
        double *q = xmalloc((size_t)C * sizeof *q), *k = xmalloc((size_t)T * C * sizeof *k);
        double *v = xmalloc((size_t)T * C * sizeof *v), *o = xmalloc((size_t)C * sizeof *o);
        double *p = xmalloc((size_t)T * sizeof *p), *f = xmalloc((size_t)E * sizeof *f);
        linear(tok, C, get(m, "visual.attnpool.q_proj.weight", (size_t)C * C), get(m, "visual.attnpool.q_proj.bias", C),
               C, q);
        for (int t = 0; t < T; t++) {
            linear(tok + (size_t)t * C, C, get(m, "visual.attnpool.k_proj.weight", (size_t)C * C),
                   get(m, "visual.attnpool.k_proj.bias", C), C, k + (size_t)t * C);
            linear(tok + (size_t)t * C, C, get(m, "visual.attnpool.v_proj.weight", (size_t)C * C),
                   get(m, "visual.attnpool.v_proj.bias", C), C, v + (size_t)t * C);
        }
        for (int h = 0; h < H; h++) {
            double mx = -INFINITY, sum = 0;
            for (int t = 0; t < T; t++) {
                double sc = 0;
                for (int d = 0; d < D; d++) sc += q[h * D + d] * k[(size_t)t * C + h * D + d];
                p[t] = sc / sqrt((double)D);
                if (p[t] > mx) mx = p[t];
            }
            for (int t = 0; t < T; t++) sum += (p[t] = exp(p[t] - mx));
            for (int d = 0; d < D; d++) {
                double acc = 0;
                for (int t = 0; t < T; t++) acc += p[t] * v[(size_t)t * C + h * D + d];
                o[h * D + d] = acc / sum;
            }
        }
        if (pooled)
            for (int c = 0; c < C; c++) pooled[(size_t)s * C + c] = (float)o[c];
        linear(o, C, get(m, "visual.attnpool.c_proj.weight", (size_t)E * C), get(m, "visual.attnpool.c_proj.bias", E),
               E, f);
        double nrm = 0;
        for (int e = 0; e < E; e++) nrm += f[e] * f[e];
        nrm = sqrt(nrm);
        for (int e = 0; e < E; e++) {
            if (features) features[(size_t)s * E + e] = (float)f[e];
            if (embeds) embeds[(size_t)s * E + e] = (float)(f[e] / nrm);
        }
        free(tok), free(q), free(k), free(v), free(o), free(p), free(f), free(x.v);
    }
}

/* ---- random models ---- */

typedef struct wlist {
    uint64_t rng;
    st_tensor *t;
    int n, cap;
} wlist;

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *s) { return (double)(splitmix64(s) >> 11) * 0x1.0p-53 * 2.0 - 1.0; }

/* value = offset + scale * u */
static void put(wlist *L, const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3, double offset,
                double scale)
{
    if (L->n == L->cap) {
        L->cap = L->cap ? 2 * L->cap : 256;
        L->t = realloc(L->t, (size_t)L->cap * sizeof *L->t);
        if (!L->t) abort();
    }
    st_tensor *t = &L->t[L->n++];
    memset(t, 0, sizeof *t);
    int64_t d[4] = {d0, d1, d2, d3};
    t->numel = 1;
    for (int i = 0; i < ndim; i++) t->numel *= (t->shape[i] = d[i]);
    t->ndim = ndim;
    t->dtype = ST_F32;
    t->nbytes = (size_t)t->numel * 4;
    t->name = strdup(name);
    float *v = xmalloc(t->nbytes);
    for (int64_t i = 0; i < t->numel; i++) v[i] = (float)(offset + scale * uniform(&L->rng));
    t->data = (const uint8_t *)v;
}

static void put_conv_bn(wlist *L, const char *conv, const char *bnp, int cin, int cout, int k)
{
    char n[256];
    put(L, conv, 4, cout, cin, k, k, 0, sqrt(3.0 / (cin * k * k)));
    snprintf(n, sizeof n, "%s.weight", bnp), put(L, n, 1, cout, 0, 0, 0, 1, 0.2);
    snprintf(n, sizeof n, "%s.bias", bnp), put(L, n, 1, cout, 0, 0, 0, 0, 0.1);
    snprintf(n, sizeof n, "%s.running_mean", bnp), put(L, n, 1, cout, 0, 0, 0, 0, 0.1);
    snprintf(n, sizeof n, "%s.running_var", bnp), put(L, n, 1, cout, 0, 0, 0, 1, 0.5);
}

int rn_write_random_model(const char *dir, const rn_arch *a, uint64_t seed)
{
    char n[256], p[4096];
    if (mkdir(dir, 0755) && errno != EEXIST) {
        fprintf(stderr, "rn_write_random_model: cannot create %s\n", dir);
        return -1;
    }
    const int W = a->width, C = 32 * W, E = a->embed_dim, TW = a->t_width;
    int g = (a->image_size - 1) / 2 + 1;
    g /= 2;
    for (int s = 1; s < 4; s++) g /= 2;
    if (g < 1 || C % a->head_width || TW % a->t_heads) {
        fprintf(stderr, "rn_write_random_model: inconsistent architecture\n");
        return -1;
    }
    wlist L = {seed, NULL, 0, 0};
    put(&L, "logit_scale", 1, 1, 0, 0, 0, log(100.0), 0);
    put_conv_bn(&L, "visual.conv1.weight", "visual.bn1", 3, W / 2, 3);
    put_conv_bn(&L, "visual.conv2.weight", "visual.bn2", W / 2, W / 2, 3);
    put_conv_bn(&L, "visual.conv3.weight", "visual.bn3", W / 2, W, 3);
    int inpl = W;
    for (int s = 0; s < 4; s++) {
        int planes = W << s;
        for (int i = 0; i < a->stages[s]; i++) {
            char c[128], b[128];
            snprintf(c, sizeof c, "visual.layer%d.%d.conv1.weight", s + 1, i);
            snprintf(b, sizeof b, "visual.layer%d.%d.bn1", s + 1, i);
            put_conv_bn(&L, c, b, inpl, planes, 1);
            snprintf(c, sizeof c, "visual.layer%d.%d.conv2.weight", s + 1, i);
            snprintf(b, sizeof b, "visual.layer%d.%d.bn2", s + 1, i);
            put_conv_bn(&L, c, b, planes, planes, 3);
            snprintf(c, sizeof c, "visual.layer%d.%d.conv3.weight", s + 1, i);
            snprintf(b, sizeof b, "visual.layer%d.%d.bn3", s + 1, i);
            put_conv_bn(&L, c, b, planes, 4 * planes, 1);
            if (i == 0 && (s > 0 || inpl != 4 * planes)) {
                snprintf(c, sizeof c, "visual.layer%d.%d.downsample.0.weight", s + 1, i);
                snprintf(b, sizeof b, "visual.layer%d.%d.downsample.1", s + 1, i);
                put_conv_bn(&L, c, b, inpl, 4 * planes, 1);
            }
            inpl = 4 * planes;
        }
    }
    put(&L, "visual.attnpool.positional_embedding", 2, (int64_t)g * g + 1, C, 0, 0, 0, 0.5);
    const char *proj[3] = {"q_proj", "k_proj", "v_proj"};
    for (int i = 0; i < 3; i++) {
        snprintf(n, sizeof n, "visual.attnpool.%s.weight", proj[i]), put(&L, n, 2, C, C, 0, 0, 0, sqrt(3.0 / C));
        snprintf(n, sizeof n, "visual.attnpool.%s.bias", proj[i]), put(&L, n, 1, C, 0, 0, 0, 0, 0.02);
    }
    put(&L, "visual.attnpool.c_proj.weight", 2, E, C, 0, 0, 0, sqrt(3.0 / C));
    put(&L, "visual.attnpool.c_proj.bias", 1, E, 0, 0, 0, 0, 0.02);
    /* text tower (OpenAI names) */
    put(&L, "token_embedding.weight", 2, 49408, TW, 0, 0, 0, 1);
    put(&L, "positional_embedding", 2, 77, TW, 0, 0, 0, 1);
    for (int l = 0; l < a->t_layers; l++) {
#define TB(fmt, nd, d0, d1, off, sc) (snprintf(n, sizeof n, "transformer.resblocks.%d." fmt, l), put(&L, n, nd, d0, d1, 0, 0, off, sc))
        TB("attn.in_proj_weight", 2, 3 * TW, TW, 0, sqrt(3.0 / TW));
        TB("attn.in_proj_bias", 1, 3 * TW, 0, 0, 0.02);
        TB("attn.out_proj.weight", 2, TW, TW, 0, sqrt(3.0 / TW));
        TB("attn.out_proj.bias", 1, TW, 0, 0, 0.02);
        TB("ln_1.weight", 1, TW, 0, 1, 0.1);
        TB("ln_1.bias", 1, TW, 0, 0, 0.02);
        TB("mlp.c_fc.weight", 2, 4 * TW, TW, 0, sqrt(3.0 / TW));
        TB("mlp.c_fc.bias", 1, 4 * TW, 0, 0, 0.02);
        TB("mlp.c_proj.weight", 2, TW, 4 * TW, 0, sqrt(3.0 / (4 * TW)));
        TB("mlp.c_proj.bias", 1, TW, 0, 0, 0.02);
        TB("ln_2.weight", 1, TW, 0, 1, 0.1);
        TB("ln_2.bias", 1, TW, 0, 0, 0.02);
#undef TB
    }
    put(&L, "ln_final.weight", 1, TW, 0, 0, 0, 1, 0.1);
    put(&L, "ln_final.bias", 1, TW, 0, 0, 0, 0, 0.02);
    put(&L, "text_projection", 2, TW, E, 0, 0, 0, sqrt(3.0 / TW));

    int rc = 0;
    snprintf(p, sizeof p, "%s/%s", dir, a->model_safetensors ? "model.safetensors" : "open_clip_model.safetensors");
    if (st_write(p, L.t, L.n) != CLIPCL_OK) {
        fprintf(stderr, "rn_write_random_model: %s\n", clipcl_errmsg());
        rc = -1;
    }
    if (!rc && a->write_config) {
        snprintf(p, sizeof p, "%s/open_clip_config.json", dir);
        FILE *f = fopen(p, "w");
        if (!f) {
            fprintf(stderr, "rn_write_random_model: cannot create %s\n", p);
            rc = -1;
        } else {
            fprintf(f,
                    "{\"model_cfg\": {\"embed_dim\": %d, \"quick_gelu\": %s,\n"
                    " \"vision_cfg\": {\"image_size\": %d, \"layers\": [%d, %d, %d, %d], \"width\": %d, \"head_width\": %d,"
                    " \"patch_size\": null},\n"
                    " \"text_cfg\": {\"context_length\": 77, \"vocab_size\": 49408, \"width\": %d, \"heads\": %d, \"layers\": %d}},\n"
                    " \"preprocess_cfg\": {\"mean\": [0.5, 0.5, 0.5], \"std\": [0.25, 0.25, 0.25], \"interpolation\": \"bicubic\","
                    " \"resize_mode\": \"shortest\"}}\n",
                    E, a->quick_gelu ? "true" : "false", a->image_size, a->stages[0], a->stages[1], a->stages[2],
                    a->stages[3], W, a->head_width, TW, a->t_heads, a->t_layers);
            if (fclose(f)) rc = -1;
        }
    }
    for (int i = 0; i < L.n; i++) {
        free(L.t[i].name);
        free((void *)L.t[i].data);
    }
    free(L.t);
    return rc;
}
