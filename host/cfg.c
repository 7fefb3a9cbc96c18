/* cfg.c — config.json / preprocessor_config.json through cJSON, with every value bounded. */
#include "cfg.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "ops.h"

#define CFG_MAX_BYTES (16u << 20)

clipcl_status cfg_read_json(const char *path, cJSON **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(CLIPCL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    /* The buffer is sized from the file (one byte more shows growth past the limit), not the
     * limit: a 1 KiB config should not cost a 16 MiB allocation. */
    struct stat sb;
    size_t cap = fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size < CFG_MAX_BYTES
                     ? (size_t)sb.st_size + 1
                     : CFG_MAX_BYTES + 1;
    char *buf = malloc(cap);
    size_t n = buf ? fread(buf, 1, cap, f) : 0;
    int rd_err = ferror(f);
    if (buf && !rd_err && n == cap && cap <= CFG_MAX_BYTES) { /* grew since fstat: read the rest */
        char *nb = realloc(buf, CFG_MAX_BYTES + 1);
        if (nb) n += fread(nb + n, 1, CFG_MAX_BYTES + 1 - n, f);
        else free(buf);
        buf = nb;
        rd_err = ferror(f);
    }
    fclose(f);
    if (!buf) return err_set(CLIPCL_ERR_NOMEM, "out of memory");
    if (rd_err) {
        free(buf);
        return err_set(CLIPCL_ERR_IO, "%s: read error", path);
    }
    if (n > CFG_MAX_BYTES) {
        free(buf);
        return err_set(CLIPCL_ERR_LIMIT, "%s: larger than %u bytes", path, CFG_MAX_BYTES);
    }
    const char *end = NULL;
    *out = cJSON_ParseWithLengthOpts(buf, n, &end, 0);
    if (!*out || !cJSON_IsObject(*out)) {
        long off = *out || !end ? -1 : (long)(end - buf);
        cJSON_Delete(*out);
        *out = NULL;
        free(buf);
        if (off >= 0) return err_set(CLIPCL_ERR_FORMAT, "%s: malformed JSON near byte %ld", path, off);
        return err_set(CLIPCL_ERR_FORMAT, "%s: not a JSON object", path);
    }
    free(buf);
    return CLIPCL_OK;
}

/* Reads an integer field into *v (kept when absent), bounded to [lo, hi]. */
static clipcl_status get_int(const char *path, const char *sect, const cJSON *o, const char *key, int lo, int hi,
                             int *v)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it || cJSON_IsNull(it)) return CLIPCL_OK;
    double d = it->valuedouble;
    if (!cJSON_IsNumber(it) || floor(d) != d || d < lo || d > hi)
        return err_set(CLIPCL_ERR_MODEL, "%s: %s%s%s must be an integer in [%d, %d]", path, sect, *sect ? "." : "",
                       key, lo, hi);
    *v = (int)d;
    return CLIPCL_OK;
}

static clipcl_status get_act(const char *path, const char *sect, const cJSON *o, int *act)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, "hidden_act");
    if (!it || cJSON_IsNull(it)) return CLIPCL_OK;
    if (cJSON_IsString(it)) {
        if (!strcmp(it->valuestring, "quick_gelu")) {
            *act = OPS_ACT_QUICK_GELU;
            return CLIPCL_OK;
        }
        if (!strcmp(it->valuestring, "gelu")) {
            *act = OPS_ACT_GELU;
            return CLIPCL_OK;
        }
    }
    return err_set(CLIPCL_ERR_UNSUPPORTED, "%s: %s.hidden_act must be \"quick_gelu\" or \"gelu\"", path, sect);
}

static clipcl_status get_eps(const char *path, const char *sect, const cJSON *o, float *eps)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, "layer_norm_eps");
    if (!it || cJSON_IsNull(it)) return CLIPCL_OK;
    /* bounded as the float the kernels use: 1e-50 would round to 0 and divide by zero */
    if (!cJSON_IsNumber(it) || !(it->valuedouble >= FLT_MIN) || it->valuedouble > 1.0)
        return err_set(CLIPCL_ERR_MODEL, "%s: %s.layer_norm_eps must be a number in [%g, 1]", path, sect,
                       (double)FLT_MIN);
    *eps = (float)it->valuedouble;
    return CLIPCL_OK;
}

static clipcl_status read_tower(const char *path, const char *sect, const cJSON *o, tower_cfg *t, int vision)
{
    clipcl_status st;
    if (o && !cJSON_IsObject(o)) return err_set(CLIPCL_ERR_MODEL, "%s: %s must be an object", path, sect);
    if ((st = get_int(path, sect, o, "hidden_size", 1, 65536, &t->width)) ||
        (st = get_int(path, sect, o, "intermediate_size", 1, 1 << 20, &t->ff)) ||
        (st = get_int(path, sect, o, "num_hidden_layers", 1, 1024, &t->layers)) ||
        (st = get_int(path, sect, o, "num_attention_heads", 1, 65536, &t->heads)) ||
        (st = get_act(path, sect, o, &t->act)) || (st = get_eps(path, sect, o, &t->eps)))
        return st;
    if (vision) {
        if ((st = get_int(path, sect, o, "image_size", 1, 8192, &t->image_size)) ||
            (st = get_int(path, sect, o, "patch_size", 1, 8192, &t->patch_size)) ||
            (st = get_int(path, sect, o, "num_channels", 1, 16, &t->channels)))
            return st;
        if (t->patch_size > t->image_size)
            return err_set(CLIPCL_ERR_MODEL, "%s: %s.patch_size %d is larger than image_size %d", path, sect,
                           t->patch_size, t->image_size);
        long g = t->image_size / t->patch_size;
        if (g * g + 1 > 65536) return err_set(CLIPCL_ERR_LIMIT, "%s: %s: %ld patches is beyond the limit", path, sect, g * g);
        if (t->channels != 3)
            return err_set(CLIPCL_ERR_UNSUPPORTED, "%s: %s.num_channels is %d; only RGB (3) images are supported",
                           path, sect, t->channels);
    } else {
        if ((st = get_int(path, sect, o, "max_position_embeddings", 1, 65536, &t->ctx)) ||
            (st = get_int(path, sect, o, "vocab_size", 1, 1 << 24, &t->vocab)))
            return st;
        if (t->ctx != CLIPCL_CONTEXT_LENGTH)
            return err_set(CLIPCL_ERR_UNSUPPORTED, "%s: %s.max_position_embeddings is %d; clipcl supports CLIP's %d",
                           path, sect, t->ctx, CLIPCL_CONTEXT_LENGTH);
        if (t->vocab <= CLIPCL_EOT)
            return err_set(CLIPCL_ERR_UNSUPPORTED, "%s: %s.vocab_size %d does not contain CLIP's tokens (%d)", path,
                           sect, t->vocab, CLIPCL_EOT + 1);
    }
    if (t->width % t->heads)
        return err_set(CLIPCL_ERR_MODEL, "%s: %s.hidden_size %d is not a multiple of num_attention_heads %d", path,
                       sect, t->width, t->heads);
    if (t->width / t->heads > 256)
        return err_set(CLIPCL_ERR_UNSUPPORTED, "%s: %s: head dimension %d is above the supported 256", path, sect,
                       t->width / t->heads);
    return CLIPCL_OK;
}

clipcl_status cfg_load(const char *path, model_cfg *c)
{
    /* Hugging Face's CLIPTextConfig / CLIPVisionConfig defaults (ViT-B/32). */
    *c = (model_cfg){
        .embed_dim = 512,
        .text = {.width = 512, .layers = 12, .heads = 8, .ff = 2048, .act = OPS_ACT_QUICK_GELU, .eps = 1e-5f,
                 .ctx = 77, .vocab = 49408},
        .vision = {.width = 768, .layers = 12, .heads = 12, .ff = 3072, .act = OPS_ACT_QUICK_GELU, .eps = 1e-5f,
                   .image_size = 224, .patch_size = 32, .channels = 3},
    };
    cJSON *root;
    clipcl_status st = cfg_read_json(path, &root);
    if (st) return st;
    if ((st = get_int(path, "", root, "projection_dim", 1, 65536, &c->embed_dim)) ||
        (st = read_tower(path, "text_config", cJSON_GetObjectItemCaseSensitive(root, "text_config"), &c->text, 0)) ||
        (st = read_tower(path, "vision_config", cJSON_GetObjectItemCaseSensitive(root, "vision_config"), &c->vision, 1)))
        goto done;
done:
    cJSON_Delete(root);
    return st;
}

static clipcl_status get_triplet(const char *path, const cJSON *o, const char *key, float *v, int positive)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it || cJSON_IsNull(it)) return CLIPCL_OK;
    if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) != 3)
        return err_set(CLIPCL_ERR_FORMAT, "%s: %s must be a list of 3 numbers", path, key);
    float tmp[3];
    int i = 0;
    for (const cJSON *e = it->child; e; e = e->next, i++) {
        /* bounded as the float it becomes: 1e-95 would be a zero std, 1e300 out of range */
        if (!cJSON_IsNumber(e) || !(fabs(e->valuedouble) <= FLT_MAX) || (positive && !(e->valuedouble >= FLT_MIN)))
            return err_set(CLIPCL_ERR_FORMAT, "%s: %s[%d] must be a %sfloat%s", path, key, i, positive ? "positive " : "",
                           positive ? " (at least 1.2e-38)" : "");
        tmp[i] = (float)e->valuedouble;
    }
    memcpy(v, tmp, sizeof tmp);
    return CLIPCL_OK;
}

/* crop_size / size may be an int, {"height": h, "width": w} or {"shortest_edge": s}. */
static clipcl_status get_size(const char *path, const cJSON *o, const char *key, int *v)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it || cJSON_IsNull(it)) return CLIPCL_OK;
    if (cJSON_IsObject(it)) {
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(it, "shortest_edge");
        if (!h) h = cJSON_GetObjectItemCaseSensitive(it, "height");
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(it, "width");
        if (h && w && cJSON_IsNumber(w) && cJSON_IsNumber(h) && w->valuedouble != h->valuedouble)
            return err_set(CLIPCL_ERR_UNSUPPORTED, "%s: %s: only square crops are supported", path, key);
        it = h;
    }
    if (!it || !cJSON_IsNumber(it) || floor(it->valuedouble) != it->valuedouble || it->valuedouble < 1 ||
        it->valuedouble > 8192)
        return err_set(CLIPCL_ERR_FORMAT, "%s: %s must be an integer size in [1, 8192]", path, key);
    *v = (int)it->valuedouble;
    return CLIPCL_OK;
}

clipcl_status cfg_load_preproc(const char *path, clipcl_preproc *pp)
{
    cJSON *root;
    clipcl_status st = cfg_read_json(path, &root);
    if (st) return st;
    clipcl_preproc p = *pp;
    int shortest = 0, crop = 0;
    if ((st = get_triplet(path, root, "image_mean", p.mean, 0)) ||
        (st = get_triplet(path, root, "image_std", p.std, 1)) || (st = get_size(path, root, "size", &shortest)) ||
        (st = get_size(path, root, "crop_size", &crop)))
        goto done;
    if (crop && shortest && crop != shortest) {
        st = err_set(CLIPCL_ERR_UNSUPPORTED, "%s: resize to %d then crop %d differs from CLIP's preprocessing", path,
                     shortest, crop);
        goto done;
    }
    if (crop || shortest) p.size = crop ? crop : shortest;
    *pp = p;
done:
    cJSON_Delete(root);
    return st;
}
