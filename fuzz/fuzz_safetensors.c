/* fuzz_safetensors.c — st_open on arbitrary bytes, then every accessor on what it accepted:
 * tensor lookup, shape checks, the F32/F16/BF16/F64 conversions (which read the whole data
 * range) and, for OpenAI tensor names, the sizes derived from the shapes (arch_from_tensors). */
#include <stdint.h>
#include <stdlib.h>

#include "arch.h"
#include "clipcl.h"
#include "fuzz_common.h"
#include "st.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    const char *path = fz_file(data, size, ".safetensors");
    st_file *f = NULL;
    if (st_open(path, &f) != CLIPCL_OK) {
        if (f) abort(); /* a failed open hands out nothing */
        if (!clipcl_errmsg()[0]) abort();
        return 0;
    }
    for (int i = 0; i < f->n; i++) {
        const st_tensor *t = &f->tensors[i];
        if (st_find(f, t->name) == NULL) abort();
        if (t->data < (const uint8_t *)f->map || t->data + t->nbytes > (const uint8_t *)f->map + f->size) abort();
        st_expect(f, t->name, t->ndim, t->shape, NULL);
        float *out = malloc(t->numel ? (size_t)t->numel * sizeof(float) : 1);
        if (!out) continue;
        st_to_f32(t, out);
        free(out);
    }
    st_find(f, "text_model.embeddings.token_embedding.weight");
    /* OpenAI-layout checkpoints: sizes derived from hostile tensor shapes */
    arch_desc d;
    if (arch_is_openai(f)) arch_from_tensors(f, path, &d);
    st_close(f);
    return 0;
}
