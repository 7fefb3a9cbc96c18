/* npy.c — float32 .npy writer/reader and atomic file replacement (see npy.h). */
#include "npy.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NPY_ALIGN 64
#define NPY_MAX_HEADER (1u << 20)

static int host_is_le(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

/* ------------------------------------------------------------------ writer */

int npy_write_f32(FILE *f, const float *data, int64_t rows, int64_t cols)
{
    if (rows < 0 || cols < 0 || (cols && rows > INT64_MAX / 4 / cols)) {
        errno = EINVAL;
        return -1;
    }
    char dict[256];
    int dl = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld, %lld), }",
                      (long long)rows, (long long)cols);
    /* magic(6) + version(2) + length(2) + dict + padding + '\n' ≡ 0 (mod 64), as numpy pads */
    size_t total = 10 + (size_t)dl + 1;
    size_t padded = (total + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
    size_t hlen = padded - 10;
    unsigned char head[10 + 320];
    memcpy(head, "\x93NUMPY\x01\x00", 8);
    head[8] = (unsigned char)(hlen & 0xff);
    head[9] = (unsigned char)(hlen >> 8);
    memcpy(head + 10, dict, (size_t)dl);
    memset(head + 10 + dl, ' ', hlen - (size_t)dl - 1);
    head[padded - 1] = '\n';
    if (fwrite(head, 1, padded, f) != padded) return -1;

    size_t n = (size_t)rows * (size_t)cols;
    if (host_is_le()) {
        if (n && fwrite(data, sizeof(float), n, f) != n) return -1;
        return 0;
    }
    unsigned char buf[4096];
    for (size_t i = 0; i < n;) {
        size_t k = 0;
        for (; i < n && k + 4 <= sizeof buf; i++, k += 4) {
            uint32_t u;
            memcpy(&u, data + i, 4);
            buf[k] = (unsigned char)u, buf[k + 1] = (unsigned char)(u >> 8);
            buf[k + 2] = (unsigned char)(u >> 16), buf[k + 3] = (unsigned char)(u >> 24);
        }
        if (fwrite(buf, 1, k, f) != k) return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ reader */

static int msgf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

typedef struct hdr_parse {
    const char *p, *end;
} hdr_parse;

static void skip_ws(hdr_parse *h)
{
    while (h->p < h->end && isspace((unsigned char)*h->p)) h->p++;
}

static int expect_ch(hdr_parse *h, char c)
{
    skip_ws(h);
    if (h->p >= h->end || *h->p != c) return -1;
    h->p++;
    return 0;
}

/* A Python string literal ('...' or "...") without escapes, copied into out. */
static int parse_str(hdr_parse *h, char *out, size_t cap)
{
    skip_ws(h);
    if (h->p >= h->end || (*h->p != '\'' && *h->p != '"')) return -1;
    char q = *h->p++;
    size_t n = 0;
    while (h->p < h->end && *h->p != q) {
        if (*h->p == '\\' || n + 1 >= cap) return -1;
        out[n++] = *h->p++;
    }
    if (h->p >= h->end) return -1;
    h->p++;
    out[n] = '\0';
    return 0;
}

static int parse_int(hdr_parse *h, int64_t *v)
{
    skip_ws(h);
    int64_t x = 0;
    int digits = 0;
    while (h->p < h->end && isdigit((unsigned char)*h->p)) {
        if (x > NPY_MAX_DIM) return -1;
        x = x * 10 + (*h->p++ - '0');
        digits++;
    }
    if (!digits || x > NPY_MAX_DIM) return -1;
    *v = x;
    return 0;
}

int npy_read_f32(const char *path, float **data, int64_t *rows, int64_t *cols, char *err, size_t errlen)
{
    *data = NULL;
    *rows = *cols = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return msgf(err, errlen, "cannot open: %s", strerror(errno));
    char *hdr = NULL;
    float *x = NULL;
    int rc = -1;
    struct stat sb;
    unsigned char pre[12];
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        msgf(err, errlen, "not a regular file");
        goto out;
    }
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6)) {
        msgf(err, errlen, "not an .npy file (bad magic)");
        goto out;
    }
    int major = pre[6];
    uint32_t hlen;
    size_t pre_len;
    if (major == 1) {
        hlen = pre[8] | (uint32_t)pre[9] << 8;
        pre_len = 10;
    } else if (major == 2 || major == 3) {
        if (fread(pre + 10, 1, 2, f) != 2) {
            msgf(err, errlen, "truncated header");
            goto out;
        }
        hlen = pre[8] | (uint32_t)pre[9] << 8 | (uint32_t)pre[10] << 16 | (uint32_t)pre[11] << 24;
        pre_len = 12;
    } else {
        msgf(err, errlen, "unsupported .npy version %d.%d", pre[6], pre[7]);
        goto out;
    }
    if (hlen > NPY_MAX_HEADER || (uint64_t)sb.st_size < pre_len + hlen) {
        msgf(err, errlen, "header length %u exceeds the file", (unsigned)hlen);
        goto out;
    }
    if (!(hdr = malloc(hlen + 1)) || fread(hdr, 1, hlen, f) != hlen) {
        msgf(err, errlen, hdr ? "truncated header" : "out of memory");
        goto out;
    }
    hdr[hlen] = '\0';

    hdr_parse h = {hdr, hdr + hlen};
    char key[32], descr[16] = "";
    int fortran = -1, have_shape = 0;
    int64_t shape[2] = {0, 0};
    if (expect_ch(&h, '{')) goto bad;
    for (;;) {
        skip_ws(&h);
        if (h.p < h.end && *h.p == '}') break;
        if (parse_str(&h, key, sizeof key) || expect_ch(&h, ':')) goto bad;
        if (!strcmp(key, "descr")) {
            if (parse_str(&h, descr, sizeof descr)) goto bad;
        } else if (!strcmp(key, "fortran_order")) {
            skip_ws(&h);
            if (h.end - h.p >= 4 && !memcmp(h.p, "True", 4)) fortran = 1, h.p += 4;
            else if (h.end - h.p >= 5 && !memcmp(h.p, "False", 5)) fortran = 0, h.p += 5;
            else goto bad;
        } else if (!strcmp(key, "shape")) {
            int nd = 0;
            if (expect_ch(&h, '(')) goto bad;
            for (;;) {
                skip_ws(&h);
                if (h.p >= h.end) goto bad;
                if (*h.p == ')') break;
                int64_t v;
                if (nd == 2) {
                    msgf(err, errlen, "not a 2-D array");
                    goto out;
                }
                if (parse_int(&h, &v)) goto bad;
                shape[nd++] = v;
                skip_ws(&h);
                if (h.p < h.end && *h.p == ',') h.p++;
            }
            h.p++;
            if (nd != 2) {
                msgf(err, errlen, "not a 2-D array (%d dimensions)", nd);
                goto out;
            }
            have_shape = 1;
        } else {
            goto bad;
        }
        skip_ws(&h);
        if (h.p < h.end && *h.p == ',') h.p++;
    }
    if (!descr[0] || fortran < 0 || !have_shape) goto bad;
    if (strcmp(descr, "<f4")) {
        msgf(err, errlen, "dtype '%s' is not little-endian float32 '<f4'", descr);
        goto out;
    }
    if (fortran) {
        msgf(err, errlen, "Fortran-ordered arrays are not supported");
        goto out;
    }
    uint64_t n = (uint64_t)shape[0] * (uint64_t)shape[1];
    if ((uint64_t)sb.st_size != pre_len + hlen + n * 4) {
        msgf(err, errlen, "file size %lld does not match shape (%lld, %lld)", (long long)sb.st_size,
             (long long)shape[0], (long long)shape[1]);
        goto out;
    }
    if (n) {
        if (n > SIZE_MAX / 4 || !(x = malloc((size_t)n * 4))) {
            msgf(err, errlen, "out of memory for %llu floats", (unsigned long long)n);
            goto out;
        }
        if (fread(x, 4, (size_t)n, f) != n) {
            msgf(err, errlen, "read error");
            goto out;
        }
        if (!host_is_le()) {
            unsigned char *b = (unsigned char *)x;
            for (uint64_t i = 0; i < n; i++, b += 4) {
                unsigned char t = b[0];
                b[0] = b[3], b[3] = t, t = b[1], b[1] = b[2], b[2] = t;
            }
        }
    }
    *data = x;
    x = NULL;
    *rows = shape[0];
    *cols = shape[1];
    rc = 0;
    goto out;
bad:
    msgf(err, errlen, "malformed header dict");
out:
    free(x);
    free(hdr);
    fclose(f);
    return rc;
}

/* ------------------------------------------------------------------ atomic replacement */

int npy_atomic_open(npy_atomic *a, const char *path)
{
    memset(a, 0, sizeof *a);
    if (strlen(path) >= sizeof a->path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(a->path, path);
    snprintf(a->tmp, sizeof a->tmp, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(a->tmp);
    if (fd < 0) {
        a->tmp[0] = '\0';
        return -1;
    }
    /* mkstemp creates 0600; give the result the permissions a plain fopen would */
    mode_t um = umask(0);
    umask(um);
    if (fchmod(fd, 0666 & ~um) != 0 || !(a->f = fdopen(fd, "wb"))) {
        int e = errno;
        close(fd);
        unlink(a->tmp);
        a->tmp[0] = '\0';
        errno = e;
        return -1;
    }
    return 0;
}

int npy_atomic_commit(npy_atomic *a)
{
    int bad = fflush(a->f) != 0 || ferror(a->f);
    int e = errno;
    if (!bad && fsync(fileno(a->f)) != 0) bad = 1, e = errno;
    if (fclose(a->f) != 0 && !bad) bad = 1, e = errno;
    a->f = NULL;
    if (!bad && rename(a->tmp, a->path) != 0) bad = 1, e = errno;
    if (bad) {
        unlink(a->tmp);
        a->tmp[0] = '\0';
        errno = e ? e : EIO;
        return -1;
    }
    a->tmp[0] = '\0';
    return 0;
}

void npy_atomic_abort(npy_atomic *a)
{
    if (a->f) fclose(a->f);
    a->f = NULL;
    if (a->tmp[0]) unlink(a->tmp);
    a->tmp[0] = '\0';
}
