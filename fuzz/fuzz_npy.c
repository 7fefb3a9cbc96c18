/* fuzz_npy.c — the .npy reader (clipcl embed / search inputs) on arbitrary bytes. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    const char *path = fz_file(data, size, ".npy");
    float *x = NULL;
    int64_t rows = -1, cols = -1;
    char err[256] = "";
    if (npy_read_f32(path, &x, &rows, &cols, err, sizeof err) != 0) {
        if (x || !err[0]) abort();
        return 0;
    }
    if (rows < 0 || cols < 0 || (uint64_t)rows * (uint64_t)cols * 4 > size) abort();
    volatile float sum = 0;
    for (int64_t i = 0; i < rows * cols; i++) sum += x[i]; /* every float is readable */
    (void)sum;
    free(x);
    return 0;
}
