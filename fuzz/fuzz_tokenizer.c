/* fuzz_tokenizer.c — the CLIP tokenizer on arbitrary bytes (invalid UTF-8, NULs, HTML
 * entities, mojibake): clipcl_tokenize (cleanup + BPE, the id layout), the raw entry point
 * for texts with NULs, and html.unescape. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clipcl.h"
#include "tok.h"

static clipcl_tokenizer *tok;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!tok && clipcl_tokenizer_create(NULL, &tok) != CLIPCL_OK) abort();
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    int32_t ids[CLIPCL_CONTEXT_LENGTH];
    int n = -1;
    clipcl_status st = clipcl_tokenize(tok, text, ids, CLIPCL_CONTEXT_LENGTH, 0, &n);
    if (st != CLIPCL_OK) abort(); /* truncation on: every text below the size limit tokenizes */
    if (ids[0] != CLIPCL_SOT || n < 2) abort();
    /* the text may itself spell the special tokens, so only the end is fixed: 49407 last,
     * then zeros */
    int last = n < CLIPCL_CONTEXT_LENGTH ? n - 1 : CLIPCL_CONTEXT_LENGTH - 1;
    if (ids[last] != CLIPCL_EOT) abort();
    for (int i = 1; i < CLIPCL_CONTEXT_LENGTH; i++)
        if (ids[i] < 0 || ids[i] > CLIPCL_EOT || (i > last && ids[i] != 0)) abort();
    if (n > CLIPCL_CONTEXT_LENGTH) {
        st = clipcl_tokenize(tok, text, ids, CLIPCL_CONTEXT_LENGTH, 1, &n);
        if (st != CLIPCL_ERR_TOO_LONG) abort();
    }

    /* raw BPE over all the bytes, where a NUL makes them differ from the C string */
    if (memchr(data, 0, size)) {
        int32_t raw[16];
        int nraw = -1;
        if (clipcl_tokenize_raw(tok, (const char *)data, (ptrdiff_t)size, raw, 16, &nraw) != CLIPCL_OK) abort();
        for (int i = 0; i < nraw && i < 16; i++)
            if (!clipcl_token_text(tok, raw[i])) abort();
    }
    /* html.unescape on its own (the cleanup above runs ftfy, which unescapes differently) */
    char *out = NULL;
    size_t out_len = 0;
    if (tok_html_unescape((const char *)data, size, &out, &out_len) == CLIPCL_OK) free(out);
    free(text);
    return 0;
}
