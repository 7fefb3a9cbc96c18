/* probe_file.c — reading, writing and validating probe files; the model fingerprint. The
 * format is documented in probe_file.h. */
#include "probe_file.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "cli.h"
#include "hub.h"
#include "npy.h"

static int efail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void wr64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t rd32(const uint8_t *p) { return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static void wrf32(uint8_t *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    wr32(p, u);
}
static float rdf32(const uint8_t *p)
{
    uint32_t u = rd32(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static void wrf64(uint8_t *p, double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    wr64(p, u);
}
static double rdf64(const uint8_t *p)
{
    uint64_t u = rd64(p);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* zlib's crc32 takes uInt lengths; feed big buffers in pieces */
static uint32_t crc_update(uint32_t crc, const uint8_t *p, size_t n)
{
    while (n) {
        size_t k = n > (1u << 30) ? (1u << 30) : n;
        crc = (uint32_t)crc32(crc, p, (uInt)k);
        p += k;
        n -= k;
    }
    return crc;
}

/* ------------------------------------------------------------------ model fingerprint */

int probe_model_identify(const char *dir, probe_model_id *out, char *err, size_t errlen)
{
    static const char *names[] = {"model.safetensors", "open_clip_model.safetensors"};
    memset(out, 0, sizeof *out);
    char w[PATH_MAX + 64];
    FILE *f = NULL;
    struct stat sb;
    for (int i = 0; i < 2 && !f; i++) {
        snprintf(w, sizeof w, "%s/%s", dir, names[i]);
        if (stat(w, &sb) == 0 && S_ISREG(sb.st_mode)) f = fopen(w, "rb");
    }
    if (!f) return efail(err, errlen, "%s: no readable model.safetensors in the model folder", dir);
    enum { HEAD = 1 << 20, CHUNK = 1 << 16, SAMPLES = 16 };
    uint8_t *buf = malloc(HEAD);
    if (!buf) {
        fclose(f);
        return efail(err, errlen, "out of memory");
    }
    hub_sha256 h;
    hub_sha256_init(&h);
    uint8_t sz[8];
    const uint64_t size = (uint64_t)sb.st_size;
    wr64(sz, size);
    hub_sha256_update(&h, "clipcl model fingerprint v1", 28);
    hub_sha256_update(&h, sz, 8);
    int rc = 0;
    size_t n = fread(buf, 1, HEAD, f);
    if (n != (size < HEAD ? size : HEAD)) rc = efail(err, errlen, "%s: read error", w);
    hub_sha256_update(&h, buf, n);
    for (int i = 0; i < SAMPLES && !rc && size > HEAD + CHUNK; i++) {
        uint64_t off = HEAD + (size - HEAD - CHUNK) / (SAMPLES - 1) * (uint64_t)i;
        if (fseeko(f, (off_t)off, SEEK_SET) || fread(buf, 1, CHUNK, f) != CHUNK)
            rc = efail(err, errlen, "%s: read error", w);
        else
            hub_sha256_update(&h, buf, CHUNK);
    }
    fclose(f);
    free(buf);
    if (rc) return rc;
    hub_sha256_final(&h, out->digest);
    out->weights_size = size;
    return 0;
}

/* ------------------------------------------------------------------ writing */

int probe_write(const char *path, const probe *p, char *err, size_t errlen)
{
    const size_t K = (size_t)p->n_classes, E = (size_t)p->embed_dim, name_len = strlen(p->model_name);
    size_t labels_len = 0;
    for (size_t k = 0; k < K; k++) labels_len += strlen(p->labels[k]) + 1;
    if (K < 2 || K > PROBE_MAX_CLASSES || E < 1 || E > PROBE_MAX_EMBED || K * E > PROBE_MAX_WEIGHTS ||
        labels_len > PROBE_MAX_LABEL_BYTES || name_len >= PROBE_MAX_NAME)
        return efail(err, errlen, "%s: probe too large to store (%zu classes, width %zu)", path, K, E);
    const size_t total = PROBE_HEADER + name_len + labels_len + 4 * K * (E + 1);
    uint8_t *buf = calloc(1, total);
    if (!buf) return efail(err, errlen, "out of memory");
    memcpy(buf, PROBE_MAGIC, 8);
    wr32(buf + 8, PROBE_VERSION);
    wr32(buf + 12, (uint32_t)K);
    wr32(buf + 16, (uint32_t)E);
    wr32(buf + 20, (uint32_t)labels_len);
    wr32(buf + 24, (uint32_t)name_len);
    wr64(buf + 32, p->model.weights_size);
    memcpy(buf + 40, p->model.digest, 32);
    wr32(buf + 72, (uint32_t)p->preproc.size);
    for (int c = 0; c < 3; c++) {
        wrf32(buf + 76 + 4 * c, p->preproc.mean[c]);
        wrf32(buf + 88 + 4 * c, p->preproc.std[c]);
    }
    wr32(buf + 100, p->flags);
    wrf64(buf + 104, p->C);
    wr32(buf + 112, (uint32_t)p->shots);
    wr32(buf + 116, (uint32_t)p->n_train);
    wr64(buf + 120, p->seed);
    wr32(buf + 128, (uint32_t)p->iterations);
    wr32(buf + 132, (uint32_t)p->outcome);
    wrf64(buf + 136, p->train_accuracy);
    wrf64(buf + 144, p->val_accuracy);
    uint8_t *q = buf + PROBE_HEADER;
    memcpy(q, p->model_name, name_len);
    q += name_len;
    for (size_t k = 0; k < K; k++) {
        size_t l = strlen(p->labels[k]) + 1;
        memcpy(q, p->labels[k], l);
        q += l;
    }
    for (size_t i = 0; i < K * E; i++, q += 4) wrf32(q, p->W[i]);
    for (size_t k = 0; k < K; k++, q += 4) wrf32(q, p->b[k]);
    wr32(buf + 28, crc_update((uint32_t)crc32(0, Z_NULL, 0), buf, total));

    npy_atomic a = {0};
    int rc = 0;
    if (npy_atomic_open(&a, path))
        rc = efail(err, errlen, "%s: cannot write: %s", path, strerror(errno));
    else if (fwrite(buf, 1, total, a.f) != total || npy_atomic_commit(&a))
        rc = efail(err, errlen, "%s: cannot write: %s", path, strerror(errno));
    npy_atomic_abort(&a);
    free(buf);
    return rc;
}

/* ------------------------------------------------------------------ reading */

void probe_free(probe *p)
{
    if (!p) return;
    free(p->labels); /* the strings live in one block after the array */
    free(p->W);
    memset(p, 0, sizeof *p);
}

int probe_read(const char *path, probe *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return efail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    uint8_t h[PROBE_HEADER], *buf = NULL;
    int rc = -1;
    struct stat sb;
    if (fstat(fileno(f), &sb) || !S_ISREG(sb.st_mode)) {
        efail(err, errlen, "%s: not a regular file", path);
        goto done;
    }
    if (fread(h, 1, PROBE_HEADER, f) != PROBE_HEADER || memcmp(h, PROBE_MAGIC, 8)) {
        efail(err, errlen, "%s: not a clipcl probe file (bad magic or truncated header)", path);
        goto done;
    }
    const uint32_t ver = rd32(h + 8), K = rd32(h + 12), E = rd32(h + 16), labels_len = rd32(h + 20),
                   name_len = rd32(h + 24);
    if (ver != PROBE_VERSION) {
        efail(err, errlen, "%s: probe format version %u, this clipcl reads version %u%s", path, ver, PROBE_VERSION,
              ver > PROBE_VERSION ? " (written by a newer clipcl)" : "");
        goto done;
    }
    if (K < 2 || K > PROBE_MAX_CLASSES || E < 1 || E > PROBE_MAX_EMBED || (uint64_t)K * E > PROBE_MAX_WEIGHTS ||
        labels_len < 2 * K || labels_len > PROBE_MAX_LABEL_BYTES || name_len >= PROBE_MAX_NAME) {
        efail(err, errlen, "%s: corrupt probe header (classes %u, width %u, label bytes %u, name bytes %u)", path, K, E,
              labels_len, name_len);
        goto done;
    }
    const uint64_t total = PROBE_HEADER + (uint64_t)name_len + labels_len + 4ull * K * (E + 1ull);
    if ((uint64_t)sb.st_size != total) {
        efail(err, errlen, "%s: %s probe file (%lld bytes, the header implies %llu)", path,
              (uint64_t)sb.st_size < total ? "truncated" : "oversized", (long long)sb.st_size,
              (unsigned long long)total);
        goto done;
    }
    const size_t body = (size_t)(total - PROBE_HEADER);
    if (!(buf = malloc(body))) {
        efail(err, errlen, "out of memory reading %s", path);
        goto done;
    }
    if (fread(buf, 1, body, f) != body) {
        efail(err, errlen, "%s: read error or truncated", path);
        goto done;
    }
    uint8_t hz[PROBE_HEADER];
    memcpy(hz, h, PROBE_HEADER);
    wr32(hz + 28, 0);
    if (crc_update(crc_update((uint32_t)crc32(0, Z_NULL, 0), hz, PROBE_HEADER), buf, body) != rd32(h + 28)) {
        efail(err, errlen, "%s: checksum mismatch: the probe file is corrupt", path);
        goto done;
    }
    out->n_classes = (int)K;
    out->embed_dim = (int)E;
    out->model.weights_size = rd64(h + 32);
    memcpy(out->model.digest, h + 40, 32);
    out->preproc.size = (int)rd32(h + 72);
    int pp_ok = out->preproc.size >= 1 && out->preproc.size <= 8192;
    for (int c = 0; c < 3; c++) {
        out->preproc.mean[c] = rdf32(h + 76 + 4 * c);
        out->preproc.std[c] = rdf32(h + 88 + 4 * c);
        pp_ok = pp_ok && isfinite(out->preproc.mean[c]) && isfinite(out->preproc.std[c]) && out->preproc.std[c] > 0;
    }
    out->flags = rd32(h + 100);
    out->C = rdf64(h + 104);
    out->shots = (int)rd32(h + 112);
    out->n_train = (int)rd32(h + 116);
    out->seed = rd64(h + 120);
    out->iterations = (int)rd32(h + 128);
    out->outcome = (int)rd32(h + 132);
    out->train_accuracy = rdf64(h + 136);
    out->val_accuracy = rdf64(h + 144);
    if (!pp_ok || (out->flags & ~3u) || !(out->C > 0) || !isfinite(out->C) || out->outcome > 2 || out->shots < 0 ||
        out->n_train < 0 || out->iterations < 0 || rd64(h + 152)) {
        efail(err, errlen, "%s: corrupt probe header (preprocessing, flags or training record)", path);
        goto done;
    }
    memcpy(out->model_name, buf, name_len);
    out->model_name[name_len] = '\0';
    if (memchr(out->model_name, '\0', name_len)) {
        efail(err, errlen, "%s: corrupt model name", path);
        goto done;
    }
    /* labels: exactly K NUL-terminated, non-empty strings without control bytes */
    char *lab = (char *)buf + name_len;
    if (!(out->labels = malloc(K * sizeof(char *) + labels_len))) {
        efail(err, errlen, "out of memory reading %s", path);
        goto done;
    }
    char *ls = (char *)(out->labels + K);
    memcpy(ls, lab, labels_len);
    size_t pos = 0;
    for (uint32_t k = 0; k < K; k++) {
        char *nul = pos < labels_len ? memchr(ls + pos, '\0', labels_len - pos) : NULL;
        size_t l = nul ? (size_t)(nul - (ls + pos)) : 0;
        if (!nul || l == 0 || l >= PROBE_MAX_LABEL) {
            efail(err, errlen, "%s: corrupt label block (label %u)", path, k + 1);
            goto done;
        }
        for (size_t i = 0; i < l; i++)
            if ((unsigned char)ls[pos + i] < 0x20 || ls[pos + i] == 0x7f) {
                efail(err, errlen, "%s: label %u has a control character", path, k + 1);
                goto done;
            }
        out->labels[k] = ls + pos;
        pos += l + 1;
    }
    if (pos != labels_len) {
        efail(err, errlen, "%s: corrupt label block (%zu bytes left over)", path, labels_len - pos);
        goto done;
    }
    for (uint32_t k = 1; k < K; k++)
        for (uint32_t j = 0; j < k; j++)
            if (!strcmp(out->labels[k], out->labels[j])) {
                efail(err, errlen, "%s: label '%s' appears twice", path, out->labels[k]);
                goto done;
            }
    /* weights */
    if (!(out->W = malloc(4ull * K * (E + 1ull)))) {
        efail(err, errlen, "out of memory reading %s", path);
        goto done;
    }
    out->b = out->W + (size_t)K * E;
    const uint8_t *q = buf + name_len + labels_len;
    for (size_t i = 0; i < (size_t)K * (E + 1); i++, q += 4) {
        out->W[i] = rdf32(q);
        if (!isfinite(out->W[i])) {
            efail(err, errlen, "%s: a weight is not a finite number", path);
            goto done;
        }
    }
    rc = 0;
done:
    if (rc) probe_free(out);
    free(buf);
    fclose(f);
    return rc;
}

int probe_check_model(const probe *p, const char *probe_path, const probe_model_id *id, int embed_dim,
                      const clipcl_preproc *pp, char *err, size_t errlen)
{
    if (p->model.weights_size != id->weights_size || memcmp(p->model.digest, id->digest, 32))
        return efail(err, errlen, "%s was trained with another model (%s); train a probe for this one", probe_path,
                     p->model_name[0] ? p->model_name : "unnamed");
    if (p->embed_dim != embed_dim)
        return efail(err, errlen, "%s: embedding width %d differs from the model's %d", probe_path, p->embed_dim,
                     embed_dim);
    int same = p->preproc.size == pp->size;
    for (int c = 0; c < 3; c++) same = same && p->preproc.mean[c] == pp->mean[c] && p->preproc.std[c] == pp->std[c];
    if (!same)
        return efail(err, errlen, "%s: trained with other image preprocessing (size %d) than the model's (size %d)",
                     probe_path, p->preproc.size, pp->size);
    return 0;
}

int probe_open_model(const char *cmd, const char *probe_path, const probe *p, const cli_opts *o, cli_session *s)
{
    cli_opts mo = *o;
    if (!mo.model && p->model_name[0]) mo.model = p->model_name;
    probe_model_id id;
    char dir[4096], err[8192];
    /* the fingerprint first: a wrong model is refused before its weights are loaded */
    if (hub_resolve_model(mo.model, 1, dir, sizeof dir)) return 2;
    if (probe_model_identify(dir, &id, err, sizeof err)) return cli_fail(2, cmd, "%s", err);
    if (p->model.weights_size != id.weights_size || memcmp(p->model.digest, id.digest, 32))
        return cli_fail(2, cmd, "%s was trained with another model (%s); train a probe for this one", probe_path,
                        p->model_name[0] ? p->model_name : "unnamed");
    mo.model = dir;
    int rc = cli_open(cmd, &mo, 0, 1, s);
    if (rc) return rc;
    if (probe_check_model(p, probe_path, &id, clipcl_model_embed_dim(s->model), clipcl_model_preproc(s->model), err,
                          sizeof err)) {
        cli_close(s);
        return cli_fail(2, cmd, "%s", err);
    }
    return 0;
}
