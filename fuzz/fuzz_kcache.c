/* fuzz_kcache.c — the kernel-binary cache entry reader (host/kcache.c, kc_read_entry) on
 * arbitrary bytes, keyed as the seed entries are (fuzz/make_seeds.py). */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "kcache.h"

#define FUZZ_KEY "clipcl fuzz\nplatform p\ndevice d\ndriver 1\noptions -cl-std=CL1.2\n__kernel void k() {}\n"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    const char *path = fz_file(data, size, ".bin");
    unsigned char *bin = NULL;
    size_t len = 0;
    int r = kc_read_entry(path, FUZZ_KEY, &bin, &len);
    if (r == 0) {
        if (!bin || !len || len > size) abort();
        volatile unsigned char x = bin[len - 1];
        (void)x;
    } else if (bin) {
        abort();
    }
    free(bin);
    return 0;
}
