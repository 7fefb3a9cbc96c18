/* fuzz_bpe.c — clipcl_tokenizer_create on an arbitrary vocabulary file (plain or gzip). A
 * vocabulary the reader accepts must tokenize. */
#include <stdint.h>
#include <stdlib.h>

#include "clipcl.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    int gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    const char *path = fz_file(data, size, gz ? ".txt.gz" : ".txt");
    clipcl_tokenizer *tok = NULL;
    if (clipcl_tokenizer_create(path, &tok) != CLIPCL_OK) {
        if (tok) abort();
        return 0;
    }
    int32_t ids[CLIPCL_CONTEXT_LENGTH];
    if (clipcl_tokenize(tok, "a photo of a cat, 3.5 \xc3\xa9t\xc3\xa9 &amp; caf\xc3\xa9!", ids, CLIPCL_CONTEXT_LENGTH,
                        0, NULL) != CLIPCL_OK)
        abort();
    clipcl_tokenizer_free(tok);
    return 0;
}
