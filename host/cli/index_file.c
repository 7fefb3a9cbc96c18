/* index_file.c — reading, validating and writing the image index (format in index_file.h). */
#include "index_file.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

static int host_is_le(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

static uint32_t rd32(const unsigned char *p)
{
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const unsigned char *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static void wr32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void wr64(unsigned char *p, uint64_t v)
{
    wr32(p, (uint32_t)v);
    wr32(p + 4, (uint32_t)(v >> 32));
}

/* zlib's crc32 takes uInt lengths; feed big buffers in pieces */
static uint32_t crc_update(uint32_t crc, const void *data, size_t n)
{
    const unsigned char *p = data;
    while (n) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = (uint32_t)crc32(crc, p, k);
        p += k;
        n -= k;
    }
    return crc;
}

static int efail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

int64_t idx_mtime_ns(const struct stat *sb)
{
    return (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
}

int idx_path_ok(const char *p, size_t len)
{
    if (len == 0 || len >= IDX_MAX_PATH || p[0] == '/' || memchr(p, '\0', len)) return 0;
    size_t i = 0;
    while (i <= len) {
        size_t j = i;
        while (j < len && p[j] != '/') j++;
        size_t part = j - i;
        if (part == 0) return 0; /* "a//b" or a trailing '/' */
        if ((part == 1 && p[i] == '.') || (part == 2 && p[i] == '.' && p[i + 1] == '.')) return 0;
        i = j + 1;
    }
    return 1;
}

int idx_model_identify(const char *dir, idx_model_id *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    char real[PATH_MAX];
    if (!realpath(dir, real)) return efail(err, errlen, "%s: %s", dir, strerror(errno));
    if (strlen(real) >= sizeof out->path) return efail(err, errlen, "%s: path too long", dir);
    strcpy(out->path, real);
    static const char *names[] = {"model.safetensors", "open_clip_model.safetensors"};
    for (int i = 0; i < 2; i++) {
        char w[PATH_MAX + 64];
        struct stat sb;
        snprintf(w, sizeof w, "%s/%s", real, names[i]);
        if (stat(w, &sb) == 0 && S_ISREG(sb.st_mode)) {
            out->weights_size = (uint64_t)sb.st_size;
            out->weights_mtime_ns = idx_mtime_ns(&sb);
            return 0;
        }
    }
    return efail(err, errlen, "%s: no model.safetensors in the model folder", real);
}

void idx_free(idx_index *ix)
{
    if (!ix) return;
    if (!ix->blob_ && ix->entries)
        for (size_t i = 0; i < ix->n; i++) free(ix->entries[i].path);
    free(ix->entries);
    if (!ix->blob_) free(ix->emb);
    free(ix->blob_);
    memset(ix, 0, sizeof *ix);
}

/* ------------------------------------------------------------------ reading */

int idx_read(const char *path, idx_index *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        efail(err, errlen, "%s: cannot open: %s", path, strerror(e));
        return e == ENOENT ? -2 : -1;
    }
    unsigned char *blob = NULL;
    idx_entry *ent = NULL;
    int rc = -1;
    struct stat sb;
    unsigned char h[IDX_HEADER];
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        efail(err, errlen, "%s: not a regular file", path);
        goto out;
    }
    const uint64_t fsize = (uint64_t)sb.st_size;
    if (fsize < 8 || fread(h, 1, 8, f) != 8 || memcmp(h, IDX_MAGIC, 8)) {
        efail(err, errlen, "%s: not a clipcl index (bad magic)", path);
        goto out;
    }
    if (fsize < IDX_HEADER || fread(h + 8, 1, IDX_HEADER - 8, f) != IDX_HEADER - 8) {
        efail(err, errlen, "%s: truncated index (%llu bytes, header alone is %d)", path, (unsigned long long)fsize,
              IDX_HEADER);
        goto out;
    }
    const uint32_t version = rd32(h + 8), E = rd32(h + 12), mlen = rd32(h + 48), rlen = rd32(h + 52);
    const uint64_t n = rd64(h + 16), moff = rd64(h + 24);
    if (version != IDX_VERSION) {
        efail(err, errlen, "%s: index format version %u (this clipcl reads %d); re-create it with clipcl index", path,
              version, IDX_VERSION);
        goto out;
    }
    if (E < 1 || E > IDX_MAX_EMBED || n > IDX_MAX_ENTRIES || mlen < 1 || mlen >= IDX_MAX_PATH || rlen < 1 ||
        rlen >= IDX_MAX_PATH || rd32(h + 60) != 0) {
        efail(err, errlen, "%s: corrupt index header (embedding width %u, %llu entries, path lengths %u/%u)", path, E,
              (unsigned long long)n, mlen, rlen);
        goto out;
    }
    /* each entry needs at least 25 bytes (24 fixed + one path byte) */
    const uint64_t min_table = IDX_HEADER + (uint64_t)mlen + rlen + n * 25;
    if (moff % 64 || moff < min_table || moff - min_table > n * (IDX_MAX_PATH - 2) + 63) {
        efail(err, errlen, "%s: corrupt index header (matrix offset %llu)", path, (unsigned long long)moff);
        goto out;
    }
    const uint64_t expect = moff + n * E * 4;
    if (fsize != expect) {
        efail(err, errlen, "%s: %s index: %llu bytes where its header needs %llu", path,
              fsize < expect ? "truncated" : "corrupt", (unsigned long long)fsize, (unsigned long long)expect);
        goto out;
    }
    if (fsize > SIZE_MAX || !(blob = malloc((size_t)(fsize - IDX_HEADER) + 1))) {
        efail(err, errlen, "%s: out of memory reading %llu bytes", path, (unsigned long long)fsize);
        goto out;
    }
    const size_t body = (size_t)(fsize - IDX_HEADER);
    if (fread(blob, 1, body, f) != body) {
        efail(err, errlen, "%s: read error (file shrank while reading?)", path);
        goto out;
    }
    unsigned char hz[IDX_HEADER];
    memcpy(hz, h, IDX_HEADER);
    wr32(hz + 56, 0);
    if (crc_update(crc_update((uint32_t)crc32(0, Z_NULL, 0), hz, IDX_HEADER), blob, body) != rd32(h + 56)) {
        efail(err, errlen, "%s: corrupt index (checksum mismatch)", path);
        goto out;
    }

    /* Paths are NUL-terminated in place by shifting each into the byte before it: the
     * blob is reused as string storage, so the header-parsed pointers are only taken after. */
    const unsigned char *p = blob, *end_table = blob + (moff - IDX_HEADER);
    if (memchr(p, '\0', mlen) || memchr(p + mlen, '\0', rlen) || p[0] != '/' || p[mlen] != '/') {
        efail(err, errlen, "%s: corrupt index (model or root path)", path);
        goto out;
    }
    memcpy(out->model.path, p, mlen);
    out->model.path[mlen] = '\0';
    memcpy(out->root, p + mlen, rlen);
    out->root[rlen] = '\0';
    p += mlen + rlen;
    out->model.weights_size = rd64(h + 32);
    out->model.weights_mtime_ns = (int64_t)rd64(h + 40);

    if (n && !(ent = calloc((size_t)n, sizeof *ent))) {
        efail(err, errlen, "%s: out of memory for %llu entries", path, (unsigned long long)n);
        goto out;
    }
    for (uint64_t i = 0; i < n; i++) {
        if (end_table - p < 24) {
            efail(err, errlen, "%s: corrupt index (entry %llu runs past the table)", path, (unsigned long long)i);
            goto out;
        }
        uint32_t plen = rd32(p);
        if (rd32(p + 4) != 0 || plen < 1 || plen >= IDX_MAX_PATH || (uint64_t)(end_table - p - 24) < plen ||
            !idx_path_ok((const char *)p + 24, plen)) {
            efail(err, errlen, "%s: corrupt index (entry %llu)", path, (unsigned long long)i);
            goto out;
        }
        ent[i].size = rd64(p + 8);
        ent[i].mtime_ns = (int64_t)rd64(p + 16);
        /* move the path 24 bytes back over its own record head, then terminate it */
        char *s = (char *)p;
        memmove(s, p + 24, plen);
        s[plen] = '\0';
        ent[i].path = s;
        p += 24 + plen;
        if (i && strcmp(ent[i - 1].path, ent[i].path) >= 0) {
            efail(err, errlen, "%s: corrupt index (entries out of order at %llu)", path, (unsigned long long)i);
            goto out;
        }
    }
    if (end_table - p >= 64) {
        efail(err, errlen, "%s: corrupt index (gap before the matrix)", path);
        goto out;
    }
    for (; p < end_table; p++)
        if (*p) {
            efail(err, errlen, "%s: corrupt index (non-zero padding)", path);
            goto out;
        }
    float *emb = (float *)(blob + (moff - IDX_HEADER)); /* 64-aligned offset in a malloc block */
    const size_t ne = (size_t)n * E;
    if (!host_is_le()) {
        unsigned char *b = (unsigned char *)emb;
        for (size_t i = 0; i < ne; i++, b += 4) {
            unsigned char t = b[0];
            b[0] = b[3], b[3] = t, t = b[1], b[1] = b[2], b[2] = t;
        }
    }
    for (size_t i = 0; i < ne; i++)
        if (!isfinite(emb[i]) || fabsf(emb[i]) > 1.0001f) {
            efail(err, errlen, "%s: corrupt index (embedding of entry %zu is not a unit vector)", path, i / E);
            goto out;
        }
    out->embed_dim = (int)E;
    out->n = (size_t)n;
    out->entries = ent;
    out->emb = emb;
    out->blob_ = blob;
    ent = NULL;
    blob = NULL;
    rc = 0;
out:
    if (rc) memset(out, 0, sizeof *out);
    free(ent);
    free(blob);
    fclose(f);
    return rc;
}

/* ------------------------------------------------------------------ writing */

int idx_write(FILE *f, const idx_index *ix)
{
    const size_t mlen = strlen(ix->model.path), rlen = strlen(ix->root), E = (size_t)ix->embed_dim;
    if (!mlen || mlen >= IDX_MAX_PATH || !rlen || rlen >= IDX_MAX_PATH || E < 1 || E > IDX_MAX_EMBED ||
        ix->n > IDX_MAX_ENTRIES) {
        errno = EINVAL;
        return -1;
    }
    size_t table = mlen + rlen;
    for (size_t i = 0; i < ix->n; i++) {
        size_t pl = strlen(ix->entries[i].path);
        if (!idx_path_ok(ix->entries[i].path, pl) || (i && strcmp(ix->entries[i - 1].path, ix->entries[i].path) >= 0)) {
            errno = EINVAL;
            return -1;
        }
        table += 24 + pl;
    }
    const size_t moff = (IDX_HEADER + table + 63) / 64 * 64;
    unsigned char *buf = calloc(1, moff - IDX_HEADER);
    if (!buf) return -1;
    unsigned char *p = buf;
    memcpy(p, ix->model.path, mlen), p += mlen;
    memcpy(p, ix->root, rlen), p += rlen;
    for (size_t i = 0; i < ix->n; i++) {
        size_t pl = strlen(ix->entries[i].path);
        wr32(p, (uint32_t)pl);
        wr32(p + 4, 0);
        wr64(p + 8, ix->entries[i].size);
        wr64(p + 16, (uint64_t)ix->entries[i].mtime_ns);
        memcpy(p + 24, ix->entries[i].path, pl);
        p += 24 + pl;
    }
    const size_t ne = ix->n * E;
    unsigned char *swapped = NULL;
    const void *mat = ix->emb;
    if (!host_is_le() && ne) {
        if (!(swapped = malloc(ne * 4))) {
            free(buf);
            return -1;
        }
        for (size_t i = 0; i < ne; i++) {
            uint32_t u;
            memcpy(&u, ix->emb + i, 4);
            wr32(swapped + 4 * i, u);
        }
        mat = swapped;
    }
    unsigned char h[IDX_HEADER] = {0};
    memcpy(h, IDX_MAGIC, 8);
    wr32(h + 8, IDX_VERSION);
    wr32(h + 12, (uint32_t)E);
    wr64(h + 16, ix->n);
    wr64(h + 24, moff);
    wr64(h + 32, ix->model.weights_size);
    wr64(h + 40, (uint64_t)ix->model.weights_mtime_ns);
    wr32(h + 48, (uint32_t)mlen);
    wr32(h + 52, (uint32_t)rlen);
    uint32_t crc = crc_update((uint32_t)crc32(0, Z_NULL, 0), h, IDX_HEADER); /* CRC field still 0 */
    crc = crc_update(crc, buf, moff - IDX_HEADER);
    if (ne) crc = crc_update(crc, mat, ne * 4);
    wr32(h + 56, crc);
    int rc = 0;
    if (fwrite(h, 1, IDX_HEADER, f) != IDX_HEADER || fwrite(buf, 1, moff - IDX_HEADER, f) != moff - IDX_HEADER ||
        (ne && fwrite(mat, 4, ne, f) != ne))
        rc = -1;
    free(swapped);
    free(buf);
    return rc;
}
