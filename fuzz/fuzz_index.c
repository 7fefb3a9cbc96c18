/* fuzz_index.c — the image index reader (clipcl search / index) on arbitrary bytes. The index
 * carries a CRC-32 of the whole file, which random mutations would almost never match: the
 * harness rewrites it so that the fuzzer reaches the table and matrix checks behind it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fuzz_common.h"
#include "index_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    if (size >= IDX_HEADER) {
        memset(buf + 56, 0, 4);
        uLong crc = crc32(0, Z_NULL, 0);
        crc = crc32(crc, buf, (uInt)size);
        for (int i = 0; i < 4; i++) buf[56 + i] = (uint8_t)(crc >> (8 * i));
    }
    const char *path = fz_file(buf, size, ".clipclix");
    free(buf);
    idx_index ix;
    char err[512] = "";
    int r = idx_read(path, &ix, err, sizeof err);
    if (r != 0) {
        if (!err[0] || ix.entries || ix.emb) abort();
        return 0;
    }
    if (ix.embed_dim < 1 || ix.n > IDX_MAX_ENTRIES) abort();
    for (size_t i = 0; i < ix.n; i++)
        if (!idx_path_ok(ix.entries[i].path, strlen(ix.entries[i].path))) abort();
    volatile float sum = 0;
    for (size_t i = 0; i < ix.n * (size_t)ix.embed_dim; i++) sum += ix.emb[i];
    (void)sum;
    idx_free(&ix);
    return 0;
}
