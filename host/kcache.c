/* kcache.c — program binaries on disk: file = magic, version, key length, key, binary
 * length, binary. The key is stored whole and compared, so a hash collision cannot load the
 * wrong binary. Writes go to a temporary file and are renamed into place. */
#include "kcache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KC_MAGIC "CLIPCLKB"
#define KC_VERSION 1u
#define KC_MAX_BINARY (256u << 20)
#define KC_MAX_KEY (4u << 20)

static int kc_dir(char *out, size_t cap)
{
    const char *off = getenv("CLIPCL_KERNEL_CACHE");
    if (off && !strcmp(off, "0")) return -1;
    const char *d = getenv("CLIPCL_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n;
    if (d && *d) n = snprintf(out, cap, "%s/kernels", d);
    else if (xdg && xdg[0] == '/') n = snprintf(out, cap, "%s/clipcl/kernels", xdg);
    else if (home && *home) n = snprintf(out, cap, "%s/.cache/clipcl/kernels", home);
    else return -1;
    if (n < 0 || (size_t)n >= cap) return -1;
    /* create each level; existing ones are fine */
    for (char *p = out + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            int r = mkdir(out, 0755);
            *p = '/';
            if (r && errno != EEXIST) return -1;
        }
    return mkdir(out, 0755) && errno != EEXIST ? -1 : 0;
}

static uint64_t fnv(const char *s, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 0x100000001B3ull;
    return h;
}

/* The full key text and the entry's path. */
static char *kc_key(ocl *o, const char *source, const char *options, char *path, size_t cap)
{
    char dir[4096];
    if (kc_dir(dir, sizeof dir)) return NULL;
    size_t n = strlen(source) + strlen(options) + 1024;
    if (n > KC_MAX_KEY) return NULL;
    char *key = malloc(n);
    if (!key) return NULL;
    int len = snprintf(key, n, "clipcl %s\nplatform %s\ndevice %s\ndriver %s\noptions %s\n%s", CLIPCL_VERSION,
                       o->info.platform, o->info.name, o->info.driver, options, source);
    if (len < 0 || (size_t)len >= n) {
        free(key);
        return NULL;
    }
    uint64_t h1 = fnv(key, (size_t)len, 0xCBF29CE484222325ull), h2 = fnv(key, (size_t)len, 0x84222325CBF29CE4ull);
    if ((size_t)snprintf(path, cap, "%s/%016llx%016llx.bin", dir, (unsigned long long)h1, (unsigned long long)h2) >= cap) {
        free(key);
        return NULL;
    }
    return key;
}

int kc_read_entry(const char *path, const char *key, unsigned char **bin, size_t *len)
{
    *bin = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    int rc = 1;
    unsigned char *b = NULL;
    char *stored = NULL;
    char magic[8];
    uint32_t ver;
    uint64_t klen, blen;
    size_t want = strlen(key);
    struct stat sb;
    /* the file's size bounds every length before anything is allocated */
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size < 28) goto done;
    uint64_t fsize = (uint64_t)sb.st_size;
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, KC_MAGIC, 8) || fread(&ver, 4, 1, f) != 1 || ver != KC_VERSION ||
        fread(&klen, 8, 1, f) != 1 || klen != want || klen > fsize - 28)
        goto done;
    if (!(stored = malloc(want ? want : 1)) || fread(stored, 1, want, f) != want || memcmp(stored, key, want)) goto done;
    if (fread(&blen, 8, 1, f) != 1 || blen == 0 || blen > KC_MAX_BINARY || blen != fsize - 28 - klen) goto done;
    if (!(b = malloc((size_t)blen)) || fread(b, 1, (size_t)blen, f) != blen || fgetc(f) != EOF) goto done;
    *bin = b;
    *len = (size_t)blen;
    b = NULL;
    rc = 0;
done:
    fclose(f);
    free(b);
    free(stored);
    return rc;
}

cl_program kc_load(ocl *o, const char *source, const char *options)
{
    char path[4200];
    char *key = kc_key(o, source, options, path, sizeof path);
    if (!key) return NULL;
    cl_program prog = NULL;
    unsigned char *bin = NULL;
    size_t sz = 0;
    int r = kc_read_entry(path, key, &bin, &sz);
    if (r == 0) {
        const unsigned char *bins[1] = {bin};
        cl_int bst, e;
        prog = clCreateProgramWithBinary(o->context, 1, &o->device, &sz, bins, &bst, &e);
        if (prog && (e != CL_SUCCESS || bst != CL_SUCCESS || clBuildProgram(prog, 1, &o->device, options, NULL, NULL))) {
            clReleaseProgram(prog);
            prog = NULL;
        }
    }
    if (!prog && r >= 0) unlink(path); /* stale or corrupt: rebuild and rewrite */
    free(bin);
    free(key);
    return prog;
}

void kc_store(ocl *o, const char *source, const char *options, cl_program prog)
{
    char path[4200], tmp[4300];
    char *key = kc_key(o, source, options, path, sizeof path);
    if (!key) return;
    size_t sz = 0;
    unsigned char *bin = NULL;
    FILE *f = NULL;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof sz, &sz, NULL) != CL_SUCCESS || !sz ||
        sz > KC_MAX_BINARY || !(bin = malloc(sz)))
        goto done;
    unsigned char *bins[1] = {bin};
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) != CL_SUCCESS) goto done;
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
    if (!(f = fopen(tmp, "wb"))) goto done;
    uint32_t ver = KC_VERSION;
    uint64_t klen = strlen(key), blen = sz;
    int ok = fwrite(KC_MAGIC, 1, 8, f) == 8 && fwrite(&ver, 4, 1, f) == 1 && fwrite(&klen, 8, 1, f) == 1 &&
             fwrite(key, 1, klen, f) == klen && fwrite(&blen, 8, 1, f) == 1 && fwrite(bin, 1, sz, f) == sz;
    if (fclose(f) || !ok || rename(tmp, path)) unlink(tmp);
done:
    free(bin);
    free(key);
}
