/* st.c — safetensors reader: mmap the file, validate the JSON header completely, then hand
 * out pointers into the mapping. Nothing read from the file is used before it is bounded. */
#include "st.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

static const struct {
    const char *name;
    size_t size;
} dtypes[ST_NDTYPES] = {
    [ST_F32] = {"F32", 4}, [ST_F16] = {"F16", 2}, [ST_BF16] = {"BF16", 2},
    [ST_F64] = {"F64", 8}, [ST_I64] = {"I64", 8}, [ST_I32] = {"I32", 4},
    [ST_I16] = {"I16", 2}, [ST_I8] = {"I8", 1},  [ST_U8] = {"U8", 1},
    [ST_BOOL] = {"BOOL", 1},
};

const char *st_dtype_name(st_dtype dt) { return dt < ST_NDTYPES ? dtypes[dt].name : "?"; }
size_t st_dtype_size(st_dtype dt) { return dt < ST_NDTYPES ? dtypes[dt].size : 0; }

static int cmp_tensor(const void *a, const void *b)
{
    return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

typedef struct range {
    uint64_t begin, end;
    const char *name;
} range;

static int cmp_range(const void *a, const void *b)
{
    const range *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end < y->end ? -1 : x->end > y->end);
}

/* JSON numbers are doubles: accept only exact non-negative integers below 2^53. */
static int json_u64(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0.0) || d > 9007199254740992.0 || floor(d) != d) return 0;
    *out = (uint64_t)d;
    return 1;
}

static clipcl_status parse_header(st_file *f, const char *json, size_t json_len, const uint8_t *data,
                                  uint64_t data_size)
{
    clipcl_status st = CLIPCL_OK;
    range *ranges = NULL;
    cJSON *root = cJSON_ParseWithLength(json, json_len);
    if (!root || !cJSON_IsObject(root)) {
        st = err_set(CLIPCL_ERR_FORMAT, "%s: header is not a valid JSON object", f->path);
        goto done;
    }
    int n = 0;
    for (cJSON *it = root->child; it; it = it->next)
        if (strcmp(it->string, "__metadata__")) n++;
    if (n > ST_MAX_TENSORS) {
        st = err_set(CLIPCL_ERR_LIMIT, "%s: %d tensors (limit %d)", f->path, n, ST_MAX_TENSORS);
        goto done;
    }
    f->tensors = calloc(n ? (size_t)n : 1, sizeof *f->tensors);
    ranges = calloc(n ? (size_t)n : 1, sizeof *ranges);
    if (!f->tensors || !ranges) {
        st = err_set(CLIPCL_ERR_NOMEM, "%s: out of memory for %d tensor entries", f->path, n);
        goto done;
    }
    for (cJSON *it = root->child; it; it = it->next) {
        if (!strcmp(it->string, "__metadata__")) continue;
        st_tensor *t = &f->tensors[f->n];
        const char *nm = it->string;
        t->name = strdup(nm);
        if (!t->name) { st = err_set(CLIPCL_ERR_NOMEM, "out of memory"); goto done; }
        f->n++;
        const cJSON *dt = cJSON_GetObjectItemCaseSensitive(it, "dtype");
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(it, "shape");
        const cJSON *offs = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
        if (!cJSON_IsObject(it) || !cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs)) {
            st = err_set(CLIPCL_ERR_FORMAT, "%s: tensor '%s': entry needs dtype, shape and data_offsets", f->path, nm);
            goto done;
        }
        int k;
        for (k = 0; k < ST_NDTYPES; k++)
            if (!strcmp(dt->valuestring, dtypes[k].name)) break;
        if (k == ST_NDTYPES) {
            st = err_set(CLIPCL_ERR_FORMAT, "%s: tensor '%s': unknown dtype '%s'", f->path, nm, dt->valuestring);
            goto done;
        }
        t->dtype = (st_dtype)k;
        int nd = cJSON_GetArraySize(shape);
        if (nd > ST_MAX_DIMS) {
            st = err_set(CLIPCL_ERR_FORMAT, "%s: tensor '%s': %d dimensions (limit %d)", f->path, nm, nd, ST_MAX_DIMS);
            goto done;
        }
        t->ndim = nd;
        /* Overflow-safe element count: every factor is bounded by the data size. */
        uint64_t numel = 1;
        int d = 0;
        for (const cJSON *e = shape->child; e; e = e->next, d++) {
            uint64_t v;
            if (!json_u64(e, &v)) {
                st = err_set(CLIPCL_ERR_FORMAT, "%s: tensor '%s': dimension %d is not a non-negative integer", f->path, nm, d);
                goto done;
            }
            t->shape[d] = (int64_t)v;
            if (v && numel > data_size / v + 1) {
                st = err_set(CLIPCL_ERR_FORMAT, "%s: tensor '%s': shape is larger than the file", f->path, nm);
                goto done;
            }
            numel *= v;
        }
        uint64_t b, e;
        if (cJSON_GetArraySize(offs) != 2 || !json_u64(offs->child, &b) || !json_u64(offs->child->next, &e) || e < b) {
            st = err_set(CLIPCL_ERR_FORMAT, "%s: tensor '%s': data_offsets must be two increasing integers", f->path, nm);
            goto done;
        }
        if (e > data_size) {
            st = err_set(CLIPCL_ERR_FORMAT,
                         "%s: tensor '%s': data range [%llu, %llu) lies outside the file's %llu data bytes (truncated file?)",
                         f->path, nm, (unsigned long long)b, (unsigned long long)e, (unsigned long long)data_size);
            goto done;
        }
        if (numel > data_size || numel * dtypes[k].size != e - b) {
            st = err_set(CLIPCL_ERR_FORMAT, "%s: tensor '%s': %llu bytes in data_offsets but dtype %s and shape need %llu",
                         f->path, nm, (unsigned long long)(e - b), dtypes[k].name,
                         (unsigned long long)(numel * dtypes[k].size));
            goto done;
        }
        t->numel = (int64_t)numel;
        t->nbytes = (size_t)(e - b);
        t->data = data + b;
        ranges[f->n - 1] = (range){b, e, t->name};
    }
    qsort(ranges, (size_t)f->n, sizeof *ranges, cmp_range);
    for (int i = 1; i < f->n; i++) {
        if (ranges[i].begin < ranges[i - 1].end && ranges[i].end > ranges[i].begin) {
            st = err_set(CLIPCL_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap in the file", f->path,
                         ranges[i - 1].name, ranges[i].name);
            goto done;
        }
    }
    qsort(f->tensors, (size_t)f->n, sizeof *f->tensors, cmp_tensor);
    for (int i = 1; i < f->n; i++)
        if (!strcmp(f->tensors[i].name, f->tensors[i - 1].name)) {
            st = err_set(CLIPCL_ERR_FORMAT, "%s: tensor '%s' appears twice", f->path, f->tensors[i].name);
            goto done;
        }
done:
    free(ranges);
    cJSON_Delete(root);
    return st;
}

clipcl_status st_open(const char *path, st_file **out)
{
    clipcl_status st;
    *out = NULL;
    st_file *f = calloc(1, sizeof *f);
    if (!f) return err_set(CLIPCL_ERR_NOMEM, "out of memory");
    f->map = MAP_FAILED;
    f->path = strdup(path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        st = err_set(CLIPCL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = err_set(CLIPCL_ERR_IO, "%s: not a regular file", path);
        goto fail;
    }
    f->size = (size_t)sb.st_size;
    if (f->size < 8) {
        st = err_set(CLIPCL_ERR_FORMAT, "%s: %zu bytes is too short for a safetensors file", path, f->size);
        goto fail;
    }
    f->map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (f->map == MAP_FAILED) {
        st = err_set(CLIPCL_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
        goto fail;
    }
    close(fd);
    fd = -1;
    const uint8_t *p = f->map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | p[i];
    if (hlen > ST_MAX_HEADER) {
        st = err_set(CLIPCL_ERR_FORMAT, "%s: header length %llu exceeds the %u-byte limit (not a safetensors file?)",
                     path, (unsigned long long)hlen, ST_MAX_HEADER);
        goto fail;
    }
    if (hlen > f->size - 8) {
        st = err_set(CLIPCL_ERR_FORMAT, "%s: header length %llu runs past the end of the %zu-byte file (truncated?)",
                     path, (unsigned long long)hlen, f->size);
        goto fail;
    }
    st = parse_header(f, (const char *)p + 8, (size_t)hlen, p + 8 + hlen, f->size - 8 - hlen);
    if (st) goto fail;
    *out = f;
    return CLIPCL_OK;
fail:
    if (fd >= 0) close(fd);
    st_close(f);
    return st;
}

void st_close(st_file *f)
{
    if (!f) return;
    if (f->map && f->map != MAP_FAILED) munmap(f->map, f->size);
    for (int i = 0; i < f->n; i++) free(f->tensors[i].name);
    free(f->tensors);
    free(f->path);
    free(f);
}

const st_tensor *st_find(const st_file *f, const char *name)
{
    st_tensor key = {.name = (char *)name};
    return f->n ? bsearch(&key, f->tensors, (size_t)f->n, sizeof key, cmp_tensor) : NULL;
}

float st_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp) {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    } else if (man) {
        /* subnormal half: normalize into a float exponent */
        int e = -1;
        do { e++; man <<= 1; } while (!(man & 0x400));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ff) << 13);
    } else {
        bits = sign;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float st_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t st_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, exp = (x >> 23) & 0xff, man = x & 0x7fffff;
    if (exp == 0xff) return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
    int e = (int)exp - 127 + 15;
    if (e >= 0x1f) return (uint16_t)(sign | 0x7c00);
    if (e <= 0) {
        if (e < -10) return (uint16_t)sign;
        man |= 0x800000;
        int shift = 14 - e;
        uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++; /* may carry into exp: correct */
    return (uint16_t)half;
}

clipcl_status st_to_f32(const st_tensor *t, float *out)
{
    const uint8_t *p = t->data;
    size_t n = (size_t)t->numel;
    switch (t->dtype) {
    case ST_F32:
        memcpy(out, p, n * 4);
        return CLIPCL_OK;
    case ST_F16:
    case ST_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
            out[i] = t->dtype == ST_F16 ? st_f16_to_f32(h) : st_bf16_to_f32(h);
        }
        return CLIPCL_OK;
    case ST_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, p + 8 * i, 8);
            out[i] = (float)d;
        }
        return CLIPCL_OK;
    default:
        return err_set(CLIPCL_ERR_FORMAT, "tensor '%s': dtype %s is not a floating-point type",
                       t->name, st_dtype_name(t->dtype));
    }
}

static void fmt_shape(char *buf, size_t cap, int nd, const int64_t *s)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, cap - o, "[");
    for (int i = 0; i < nd && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? ", " : "", (long long)s[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

clipcl_status st_expect(const st_file *f, const char *name, int ndim, const int64_t *shape,
                        const st_tensor **out)
{
    const st_tensor *t = st_find(f, name);
    if (!t) return err_set(CLIPCL_ERR_MODEL, "%s: missing tensor '%s'", f->path, name);
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == shape[i];
    if (!ok) {
        char want[160], got[160];
        fmt_shape(want, sizeof want, ndim, shape);
        fmt_shape(got, sizeof got, t->ndim, t->shape);
        return err_set(CLIPCL_ERR_MODEL, "%s: tensor '%s' has shape %s, the config needs %s", f->path, name, got, want);
    }
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16 && t->dtype != ST_F64)
        return err_set(CLIPCL_ERR_MODEL, "%s: tensor '%s' has dtype %s; expected F32, F16 or BF16", f->path, name,
                       st_dtype_name(t->dtype));
    if (out) *out = t;
    return CLIPCL_OK;
}

clipcl_status st_write(const char *path, const st_tensor *tensors, int n)
{
    clipcl_status st = CLIPCL_OK;
    FILE *fp = NULL;
    char *json = NULL;
    cJSON *root = cJSON_CreateObject();
    if (!root) return err_set(CLIPCL_ERR_NOMEM, "out of memory");
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_AddObjectToObject(root, tensors[i].name);
        cJSON_AddStringToObject(e, "dtype", st_dtype_name(tensors[i].dtype));
        cJSON *sh = cJSON_AddArrayToObject(e, "shape");
        for (int d = 0; d < tensors[i].ndim; d++)
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)tensors[i].shape[d]));
        cJSON *of = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off));
        off += tensors[i].nbytes;
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off));
    }
    json = cJSON_PrintUnformatted(root);
    if (!json) { st = err_set(CLIPCL_ERR_NOMEM, "out of memory"); goto done; }
    size_t jl = strlen(json), pad = (8 - jl % 8) % 8;
    uint64_t hl = jl + pad;
    uint8_t hdr[8];
    for (int i = 0; i < 8; i++) hdr[i] = (uint8_t)(hl >> (8 * i));
    fp = fopen(path, "wb");
    if (!fp) { st = err_set(CLIPCL_ERR_IO, "%s: cannot create: %s", path, strerror(errno)); goto done; }
    int ok = fwrite(hdr, 1, 8, fp) == 8 && fwrite(json, 1, jl, fp) == jl && fwrite("        ", 1, pad, fp) == pad;
    for (int i = 0; ok && i < n; i++)
        ok = fwrite(tensors[i].data, 1, tensors[i].nbytes, fp) == tensors[i].nbytes;
    if (fclose(fp) != 0) ok = 0;
    if (!ok) st = err_set(CLIPCL_ERR_IO, "%s: write failed", path);
done:
    free(json);
    cJSON_Delete(root);
    return st;
}
