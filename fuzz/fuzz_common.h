/* fuzz_common.h — shared by the libFuzzer harnesses: most readers take a path and fstat the
 * file, so each input is written to one temporary file on tmpfs (/dev/shm when present). */
#ifndef CLIPCL_FUZZ_COMMON_H
#define CLIPCL_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fz_path[256];
static int fz_fd = -1;

/* Replaces the temporary file's contents with data; returns its path. */
static const char *fz_file(const uint8_t *data, size_t size, const char *suffix)
{
    if (fz_fd < 0) {
        const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(fz_path, sizeof fz_path, "%s/clipcl-fuzz-XXXXXX%s", dir, suffix);
        fz_fd = mkstemps(fz_path, (int)strlen(suffix));
        if (fz_fd < 0) abort();
    }
    if (ftruncate(fz_fd, 0) != 0) abort();
    size_t off = 0;
    while (off < size) {
        ssize_t k = pwrite(fz_fd, data + off, size - off, (off_t)off);
        if (k <= 0) abort();
        off += (size_t)k;
    }
    return fz_path;
}

static void fz_cleanup(void)
{
    if (fz_fd >= 0) unlink(fz_path);
}

/* Registers fz_cleanup once (the harnesses call this first). */
static void fz_init(void)
{
    static int done;
    if (!done) {
        done = 1;
        atexit(fz_cleanup);
    }
}

#endif
