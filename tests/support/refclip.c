/* refclip.c — CLIP's forward pass in double precision with plain loops (see refclip.h).
 *
 * Deliberately naive: no blocking, no fused kernels, no shared code with the engine beyond the
 * config and safetensors readers, so a bug in the engine's kernels cannot hide in here too. */
#include "refclip.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "cfg.h"
#include "clipcl.h"
#include "ops.h"
#include "st.h"

#define REF_EOT 49407
#define REF_CTX 77

typedef struct ref_layer {
    double *ln1_w, *ln1_b, *q_w, *q_b, *k_w, *k_b, *v_w, *v_b, *o_w, *o_b;
    double *ln2_w, *ln2_b, *fc1_w, *fc1_b, *fc2_w, *fc2_b;
} ref_layer;

typedef struct ref_tower {
    tower_cfg c;
    ref_layer *layers;
    double *tok_emb;           /* text: [vocab, W] */
    double *patch_w;           /* vision: [W, 3, P, P] */
    double *cls;               /* vision: [W] */
    double *pos;               /* [T, W] */
    double *pre_w, *pre_b;     /* vision: pre_layrnorm */
    double *post_w, *post_b;   /* text: final_layer_norm; vision: post_layernorm */
    double *proj;              /* [E, W] */
} ref_tower;

struct ref_model {
    model_cfg c;
    ref_tower text, vision;
    double logit_scale;        /* the stored (log) value */
    double **allocs;
    int nallocs, cap;
};

/* ---- tensor table: one list of names, shapes and init kinds for both loading and writing ---- */

enum { K_LN_W, K_BIAS, K_MAT, K_EMB, K_SCALAR };

typedef int (*visit_fn)(void *ctx, const char *name, int ndim, const int64_t *shape, int kind, int64_t fan_in,
                        double **slot);

static int grid(const tower_cfg *v) { return v->image_size / v->patch_size; }

static int visit_layers(const char *pre, const tower_cfg *c, ref_layer *ls, visit_fn fn, void *ctx)
{
    char nm[256];
    int64_t W = c->width, F = c->ff;
    for (int i = 0; i < c->layers; i++) {
        ref_layer *L = &ls[i];
        struct { const char *suffix; int ndim; int64_t d0, d1; int kind; int64_t fan; double **slot; } t[] = {
            {"layer_norm1.weight", 1, W, 0, K_LN_W, 0, &L->ln1_w},
            {"layer_norm1.bias", 1, W, 0, K_BIAS, 0, &L->ln1_b},
            {"self_attn.q_proj.weight", 2, W, W, K_MAT, W, &L->q_w},
            {"self_attn.q_proj.bias", 1, W, 0, K_BIAS, 0, &L->q_b},
            {"self_attn.k_proj.weight", 2, W, W, K_MAT, W, &L->k_w},
            {"self_attn.k_proj.bias", 1, W, 0, K_BIAS, 0, &L->k_b},
            {"self_attn.v_proj.weight", 2, W, W, K_MAT, W, &L->v_w},
            {"self_attn.v_proj.bias", 1, W, 0, K_BIAS, 0, &L->v_b},
            {"self_attn.out_proj.weight", 2, W, W, K_MAT, W, &L->o_w},
            {"self_attn.out_proj.bias", 1, W, 0, K_BIAS, 0, &L->o_b},
            {"layer_norm2.weight", 1, W, 0, K_LN_W, 0, &L->ln2_w},
            {"layer_norm2.bias", 1, W, 0, K_BIAS, 0, &L->ln2_b},
            {"mlp.fc1.weight", 2, F, W, K_MAT, W, &L->fc1_w},
            {"mlp.fc1.bias", 1, F, 0, K_BIAS, 0, &L->fc1_b},
            {"mlp.fc2.weight", 2, W, F, K_MAT, F, &L->fc2_w},
            {"mlp.fc2.bias", 1, W, 0, K_BIAS, 0, &L->fc2_b},
        };
        for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
            snprintf(nm, sizeof nm, "%s.encoder.layers.%d.%s", pre, i, t[k].suffix);
            int64_t sh[2] = {t[k].d0, t[k].d1};
            if (fn(ctx, nm, t[k].ndim, sh, t[k].kind, t[k].fan, t[k].slot)) return -1;
        }
    }
    return 0;
}

static int visit_all(ref_model *m, visit_fn fn, void *ctx)
{
    const tower_cfg *tc = &m->c.text, *vc = &m->c.vision;
    int64_t E = m->c.embed_dim, Wt = tc->width, Wv = vc->width, P = vc->patch_size, G = grid(vc);
    ref_tower *t = &m->text, *v = &m->vision;
#define VISIT(name, nd, kind, fan, slot, ...)                                                                   \
    do {                                                                                                        \
        int64_t sh_[4] = {__VA_ARGS__};                                                                         \
        if (fn(ctx, name, nd, sh_, kind, fan, slot)) return -1;                                                 \
    } while (0)
    VISIT("text_model.embeddings.token_embedding.weight", 2, K_EMB, 0, &t->tok_emb, tc->vocab, Wt);
    VISIT("text_model.embeddings.position_embedding.weight", 2, K_EMB, 0, &t->pos, REF_CTX, Wt);
    if (visit_layers("text_model", tc, t->layers, fn, ctx)) return -1;
    VISIT("text_model.final_layer_norm.weight", 1, K_LN_W, 0, &t->post_w, Wt);
    VISIT("text_model.final_layer_norm.bias", 1, K_BIAS, 0, &t->post_b, Wt);
    VISIT("text_projection.weight", 2, K_MAT, Wt, &t->proj, E, Wt);

    VISIT("vision_model.embeddings.class_embedding", 1, K_EMB, 0, &v->cls, Wv);
    VISIT("vision_model.embeddings.patch_embedding.weight", 4, K_MAT, 3 * P * P, &v->patch_w, Wv, 3, P, P);
    VISIT("vision_model.embeddings.position_embedding.weight", 2, K_EMB, 0, &v->pos, G * G + 1, Wv);
    VISIT("vision_model.pre_layrnorm.weight", 1, K_LN_W, 0, &v->pre_w, Wv);
    VISIT("vision_model.pre_layrnorm.bias", 1, K_BIAS, 0, &v->pre_b, Wv);
    if (visit_layers("vision_model", vc, v->layers, fn, ctx)) return -1;
    VISIT("vision_model.post_layernorm.weight", 1, K_LN_W, 0, &v->post_w, Wv);
    VISIT("vision_model.post_layernorm.bias", 1, K_BIAS, 0, &v->post_b, Wv);
    VISIT("visual_projection.weight", 2, K_MAT, Wv, &v->proj, E, Wv);

    double *ls = NULL;
    VISIT("logit_scale", 0, K_SCALAR, 0, &ls, 0);
    if (ls) m->logit_scale = ls[0];
#undef VISIT
    return 0;
}

static ref_model *model_new(const model_cfg *c)
{
    ref_model *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->c = *c;
    m->text.c = c->text;
    m->vision.c = c->vision;
    m->text.layers = calloc((size_t)c->text.layers, sizeof(ref_layer));
    m->vision.layers = calloc((size_t)c->vision.layers, sizeof(ref_layer));
    if (!m->text.layers || !m->vision.layers) {
        ref_free(m);
        return NULL;
    }
    return m;
}

void ref_free(ref_model *m)
{
    if (!m) return;
    for (int i = 0; i < m->nallocs; i++) free(m->allocs[i]);
    free(m->allocs);
    free(m->text.layers);
    free(m->vision.layers);
    free(m);
}

/* ---- loading ---- */

typedef struct load_ctx {
    ref_model *m;
    const st_file *f;
} load_ctx;

static int load_one(void *vctx, const char *name, int ndim, const int64_t *shape, int kind, int64_t fan_in,
                    double **slot)
{
    load_ctx *lc = vctx;
    ref_model *m = lc->m;
    const st_tensor *t;
    if (st_expect(lc->f, name, ndim, shape, &t) != CLIPCL_OK) {
        fprintf(stderr, "ref_load: %s\n", clipcl_errmsg());
        return -1;
    }
    size_t n = (size_t)t->numel;
    double *d = malloc((n ? n : 1) * sizeof *d);
    float *tmp = malloc((n ? n : 1) * sizeof *tmp);
    if (m->nallocs == m->cap) {
        int cap = m->cap ? 2 * m->cap : 256;
        double **a = realloc(m->allocs, (size_t)cap * sizeof *a);
        if (a) {
            m->allocs = a;
            m->cap = cap;
        }
    }
    if (!d || !tmp || m->nallocs == m->cap) {
        fprintf(stderr, "ref_load: out of memory for '%s'\n", name);
        free(d);
        free(tmp);
        return -1;
    }
    m->allocs[m->nallocs++] = d;
    if (t->dtype == ST_F64) {
        /* keep all 53 bits rather than rounding through float */
        for (size_t i = 0; i < n; i++) memcpy(&d[i], t->data + 8 * i, 8);
    } else {
        if (st_to_f32(t, tmp) != CLIPCL_OK) {
            fprintf(stderr, "ref_load: %s\n", clipcl_errmsg());
            free(tmp);
            return -1;
        }
        for (size_t i = 0; i < n; i++) d[i] = tmp[i];
    }
    free(tmp);
    *slot = d;
    return 0;
}

int ref_load(const char *dir, ref_model **out)
{
    *out = NULL;
    char path[4096];
    model_cfg c;
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (cfg_load(path, &c) != CLIPCL_OK) {
        fprintf(stderr, "ref_load: %s\n", clipcl_errmsg());
        return -1;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    st_file *f = NULL;
    if (st_open(path, &f) != CLIPCL_OK) {
        fprintf(stderr, "ref_load: %s\n", clipcl_errmsg());
        return -1;
    }
    ref_model *m = model_new(&c);
    int rc = -1;
    if (!m) {
        fprintf(stderr, "ref_load: out of memory\n");
        goto done;
    }
    load_ctx lc = {m, f};
    if (visit_all(m, load_one, &lc)) goto done;
    *out = m;
    m = NULL;
    rc = 0;
done:
    ref_free(m);
    st_close(f);
    return rc;
}

float ref_logit_scale(const ref_model *m) { return (float)exp(m->logit_scale); }

/* ---- the math ---- */

static void layer_norm(const double *x, double *y, int W, const double *g, const double *b, double eps)
{
    double mean = 0, var = 0;
    for (int i = 0; i < W; i++) mean += x[i];
    mean /= W;
    for (int i = 0; i < W; i++) var += (x[i] - mean) * (x[i] - mean);
    var /= W;
    double inv = 1.0 / sqrt(var + eps);
    for (int i = 0; i < W; i++) y[i] = (x[i] - mean) * inv * g[i] + b[i];
}

/* y[t, o] = b[o] + sum_i x[t, i] * w[o, i]  (PyTorch's nn.Linear: weight is [out, in]) */
static void linear(const double *x, int T, int in, const double *w, const double *b, int outn, double *y)
{
    for (int t = 0; t < T; t++)
        for (int o = 0; o < outn; o++) {
            double s = b ? b[o] : 0.0;
            for (int i = 0; i < in; i++) s += x[(size_t)t * in + i] * w[(size_t)o * in + i];
            y[(size_t)t * outn + o] = s;
        }
}

static double act(int kind, double x)
{
    if (kind == OPS_ACT_QUICK_GELU) return x / (1.0 + exp(-1.702 * x));
    return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "refclip: out of memory (%zu bytes)\n", n);
        abort();
    }
    return p;
}

/* One pre-LN transformer block on x [T, W], in place. */
static void block(const ref_layer *L, const tower_cfg *c, double *x, int T, int causal)
{
    int W = c->width, H = c->heads, D = W / H, F = c->ff;
    double eps = c->eps;
    size_t TW = (size_t)T * W;
    double *h = xmalloc(TW * sizeof *h), *q = xmalloc(TW * sizeof *q), *k = xmalloc(TW * sizeof *k);
    double *v = xmalloc(TW * sizeof *v), *o = xmalloc(TW * sizeof *o), *p = xmalloc((size_t)T * sizeof *p);
    double *f = xmalloc((size_t)T * F * sizeof *f);

    for (int t = 0; t < T; t++) layer_norm(x + (size_t)t * W, h + (size_t)t * W, W, L->ln1_w, L->ln1_b, eps);
    linear(h, T, W, L->q_w, L->q_b, W, q);
    linear(h, T, W, L->k_w, L->k_b, W, k);
    linear(h, T, W, L->v_w, L->v_b, W, v);
    double scale = 1.0 / sqrt((double)D);
    for (int hd = 0; hd < H; hd++)
        for (int i = 0; i < T; i++) {
            int nj = causal ? i + 1 : T;
            double mx = -INFINITY;
            for (int j = 0; j < nj; j++) {
                double s = 0;
                for (int d = 0; d < D; d++) s += q[(size_t)i * W + hd * D + d] * k[(size_t)j * W + hd * D + d];
                p[j] = s * scale;
                if (p[j] > mx) mx = p[j];
            }
            double sum = 0;
            for (int j = 0; j < nj; j++) sum += (p[j] = exp(p[j] - mx));
            for (int d = 0; d < D; d++) {
                double s = 0;
                for (int j = 0; j < nj; j++) s += p[j] * v[(size_t)j * W + hd * D + d];
                o[(size_t)i * W + hd * D + d] = s / sum;
            }
        }
    linear(o, T, W, L->o_w, L->o_b, W, h);
    for (size_t i = 0; i < TW; i++) x[i] += h[i];

    for (int t = 0; t < T; t++) layer_norm(x + (size_t)t * W, h + (size_t)t * W, W, L->ln2_w, L->ln2_b, eps);
    linear(h, T, W, L->fc1_w, L->fc1_b, F, f);
    for (size_t i = 0; i < (size_t)T * F; i++) f[i] = act(c->act, f[i]);
    linear(f, T, F, L->fc2_w, L->fc2_b, W, h);
    for (size_t i = 0; i < TW; i++) x[i] += h[i];

    free(h), free(q), free(k), free(v), free(o), free(p), free(f);
}

/* features = pooled · projᵀ, embeds = features / ||features||, all optional. */
static void project(const ref_tower *tw, int E, const double *pooled, float *features, float *embeds)
{
    int W = tw->c.width;
    double *fe = xmalloc((size_t)E * sizeof *fe);
    linear(pooled, 1, W, tw->proj, NULL, E, fe);
    double nrm = 0;
    for (int e = 0; e < E; e++) nrm += fe[e] * fe[e];
    nrm = sqrt(nrm);
    for (int e = 0; e < E; e++) {
        if (features) features[e] = (float)fe[e];
        if (embeds) embeds[e] = (float)(fe[e] / nrm);
    }
    free(fe);
}

void ref_encode_texts(const ref_model *m, const int32_t *ids, int n, float *last_hidden, float *pooled,
                      float *features, float *embeds)
{
    const ref_tower *tw = &m->text;
    const tower_cfg *c = &tw->c;
    int W = c->width, T = REF_CTX, E = m->c.embed_dim;
    double *x = xmalloc((size_t)T * W * sizeof *x), *y = xmalloc((size_t)T * W * sizeof *y);
    for (int s = 0; s < n; s++) {
        const int32_t *id = ids + (size_t)s * T;
        for (int t = 0; t < T; t++) {
            if (id[t] < 0 || id[t] >= c->vocab) {
                fprintf(stderr, "ref_encode_texts: text %d position %d: id %d outside the vocabulary (%d)\n", s, t,
                        (int)id[t], c->vocab);
                abort();
            }
            for (int i = 0; i < W; i++)
                x[(size_t)t * W + i] = tw->tok_emb[(size_t)id[t] * W + i] + tw->pos[(size_t)t * W + i];
        }
        for (int l = 0; l < c->layers; l++) block(&tw->layers[l], c, x, T, 1);
        for (int t = 0; t < T; t++) layer_norm(x + (size_t)t * W, y + (size_t)t * W, W, tw->post_w, tw->post_b, c->eps);
        int at = -1, amax = 0;
        for (int t = 0; t < T && at < 0; t++)
            if (id[t] == REF_EOT) at = t;
        if (at < 0) /* torch.argmax: the first of equal maxima */
            for (int t = 1; t < T; t++)
                if (id[t] > id[amax]) amax = t;
        if (at < 0) at = amax;
        if (last_hidden)
            for (size_t i = 0; i < (size_t)T * W; i++) last_hidden[(size_t)s * T * W + i] = (float)y[i];
        const double *pl = y + (size_t)at * W;
        if (pooled)
            for (int i = 0; i < W; i++) pooled[(size_t)s * W + i] = (float)pl[i];
        if (features || embeds)
            project(tw, E, pl, features ? features + (size_t)s * E : NULL, embeds ? embeds + (size_t)s * E : NULL);
    }
    free(x);
    free(y);
}

void ref_encode_images(const ref_model *m, const float *pix, int n, float *last_hidden, float *pooled,
                       float *features, float *embeds)
{
    const ref_tower *tw = &m->vision;
    const tower_cfg *c = &tw->c;
    int W = c->width, S = c->image_size, P = c->patch_size, G = grid(c), T = G * G + 1, E = m->c.embed_dim;
    double *x = xmalloc((size_t)T * W * sizeof *x), *y = xmalloc((size_t)W * sizeof *y);
    for (int s = 0; s < n; s++) {
        const float *img = pix + (size_t)s * 3 * S * S;
        for (int i = 0; i < W; i++) x[i] = tw->cls[i] + tw->pos[i];
        /* Conv2d(3, W, kernel P, stride P, no bias); rows/columns past G*P are never read,
         * as in PyTorch. */
        for (int gy = 0; gy < G; gy++)
            for (int gx = 0; gx < G; gx++) {
                int tok = 1 + gy * G + gx;
                for (int o = 0; o < W; o++) {
                    double acc = 0;
                    for (int ch = 0; ch < 3; ch++)
                        for (int ky = 0; ky < P; ky++)
                            for (int kx = 0; kx < P; kx++)
                                acc += tw->patch_w[(((size_t)o * 3 + ch) * P + ky) * P + kx] *
                                       img[((size_t)ch * S + gy * P + ky) * S + gx * P + kx];
                    x[(size_t)tok * W + o] = acc + tw->pos[(size_t)tok * W + o];
                }
            }
        for (int t = 0; t < T; t++) {
            layer_norm(x + (size_t)t * W, y, W, tw->pre_w, tw->pre_b, c->eps);
            memcpy(x + (size_t)t * W, y, (size_t)W * sizeof *y);
        }
        for (int l = 0; l < c->layers; l++) block(&tw->layers[l], c, x, T, 0);
        if (last_hidden)
            for (size_t i = 0; i < (size_t)T * W; i++) last_hidden[(size_t)s * T * W + i] = (float)x[i];
        layer_norm(x, y, W, tw->post_w, tw->post_b, c->eps);
        if (pooled)
            for (int i = 0; i < W; i++) pooled[(size_t)s * W + i] = (float)y[i];
        if (features || embeds)
            project(tw, E, y, features ? features + (size_t)s * E : NULL, embeds ? embeds + (size_t)s * E : NULL);
    }
    free(x);
    free(y);
}

double ref_max_rel(const float *a, const float *b, size_t n)
{
    double md = 0, mb = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i]) || !isfinite(b[i])) return INFINITY;
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > md) md = d;
        if (fabs((double)b[i]) > mb) mb = fabs((double)b[i]);
    }
    return mb > 0 ? md / mb : md;
}

/* ---- random models ---- */

typedef struct write_ctx {
    uint64_t rng;
    st_tensor *t;
    int n, cap;
} write_ctx;

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *s) { return (double)(splitmix64(s) >> 11) * 0x1.0p-53 * 2.0 - 1.0; }

static int write_one(void *vctx, const char *name, int ndim, const int64_t *shape, int kind, int64_t fan_in,
                     double **slot)
{
    write_ctx *w = vctx;
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 256;
        st_tensor *t = realloc(w->t, (size_t)cap * sizeof *t);
        if (!t) return -1;
        w->t = t;
        w->cap = cap;
    }
    st_tensor *t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    t->dtype = ST_F32;
    t->ndim = ndim;
    t->numel = 1;
    for (int d = 0; d < ndim; d++) {
        t->shape[d] = shape[d];
        t->numel *= shape[d];
    }
    t->nbytes = (size_t)t->numel * 4;
    t->name = malloc(strlen(name) + 1);
    float *data = malloc(t->nbytes);
    if (!t->name || !data) {
        free(t->name);
        free(data);
        return -1;
    }
    strcpy(t->name, name);
    double sc = kind == K_MAT ? sqrt(3.0 / (double)fan_in) : 1.0;
    for (int64_t i = 0; i < t->numel; i++) {
        double u = uniform(&w->rng), v;
        switch (kind) {
        case K_LN_W: v = 1.0 + 0.1 * u; break;
        case K_BIAS: v = 0.02 * u; break;
        case K_SCALAR: v = log(100.0); break;
        default: v = u * sc; break;
        }
        data[i] = (float)v;
    }
    t->data = (const uint8_t *)data;
    w->n++;
    return 0;
}

static int mkdir_p(const char *dir)
{
    char p[4096];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p) return -1;
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            if (mkdir(p, 0755) && errno != EEXIST) return -1;
            *s = '/';
        }
    if (mkdir(p, 0755) && errno != EEXIST) return -1;
    return 0;
}

static const char *act_name(int a) { return a == OPS_ACT_GELU ? "gelu" : "quick_gelu"; }

int ref_write_random_model(const char *dir, const ref_arch *a, uint64_t seed)
{
    int vocab = a->vocab ? a->vocab : 49408;
    if (vocab <= REF_EOT || a->t_width % a->t_heads || a->v_width % a->v_heads || a->patch_size > a->image_size ||
        (a->t_act != OPS_ACT_QUICK_GELU && a->t_act != OPS_ACT_GELU) ||
        (a->v_act != OPS_ACT_QUICK_GELU && a->v_act != OPS_ACT_GELU)) {
        fprintf(stderr, "ref_write_random_model: inconsistent architecture\n");
        return -1;
    }
    if (mkdir_p(dir)) {
        fprintf(stderr, "ref_write_random_model: cannot create %s: %s\n", dir, strerror(errno));
        return -1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *fp = fopen(path, "w");
    if (!fp) {
        fprintf(stderr, "ref_write_random_model: cannot create %s: %s\n", path, strerror(errno));
        return -1;
    }
    /* A config Hugging Face's CLIPModel.from_pretrained would also accept. */
    fprintf(fp,
            "{\n  \"architectures\": [\"CLIPModel\"],\n  \"model_type\": \"clip\",\n  \"projection_dim\": %d,\n"
            "  \"logit_scale_init_value\": 4.605170185988092,\n"
            "  \"text_config\": {\n    \"model_type\": \"clip_text_model\", \"hidden_act\": \"%s\",\n"
            "    \"hidden_size\": %d, \"intermediate_size\": %d, \"num_hidden_layers\": %d,\n"
            "    \"num_attention_heads\": %d, \"layer_norm_eps\": 1e-05, \"max_position_embeddings\": 77,\n"
            "    \"vocab_size\": %d, \"bos_token_id\": 49406, \"eos_token_id\": 49407, \"pad_token_id\": 1,\n"
            "    \"projection_dim\": %d\n  },\n"
            "  \"vision_config\": {\n    \"model_type\": \"clip_vision_model\", \"hidden_act\": \"%s\",\n"
            "    \"hidden_size\": %d, \"intermediate_size\": %d, \"num_hidden_layers\": %d,\n"
            "    \"num_attention_heads\": %d, \"layer_norm_eps\": 1e-05, \"image_size\": %d, \"patch_size\": %d,\n"
            "    \"num_channels\": 3, \"projection_dim\": %d\n  }\n}\n",
            a->embed_dim, act_name(a->t_act), a->t_width, a->t_ff, a->t_layers, a->t_heads, vocab, a->embed_dim,
            act_name(a->v_act), a->v_width, a->v_ff, a->v_layers, a->v_heads, a->image_size, a->patch_size,
            a->embed_dim);
    if (fclose(fp)) {
        fprintf(stderr, "ref_write_random_model: write to %s failed\n", path);
        return -1;
    }

    /* Reading the config back through cfg_load keeps the writer's sizes and the reader's
     * defaults in agreement. */
    model_cfg c;
    if (cfg_load(path, &c) != CLIPCL_OK) {
        fprintf(stderr, "ref_write_random_model: %s\n", clipcl_errmsg());
        return -1;
    }
    int rc = -1;
    write_ctx w = {seed, NULL, 0, 0};
    ref_model *shape = model_new(&c);
    if (!shape || visit_all(shape, write_one, &w)) {
        fprintf(stderr, "ref_write_random_model: out of memory\n");
        goto done;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (st_write(path, w.t, w.n) != CLIPCL_OK) {
        fprintf(stderr, "ref_write_random_model: %s\n", clipcl_errmsg());
        goto done;
    }
    rc = 0;
done:
    for (int i = 0; i < w.n; i++) {
        free(w.t[i].name);
        free((void *)w.t[i].data);
    }
    free(w.t);
    ref_free(shape);
    return rc;
}
