/* st.h — safetensors reader (memory-mapped, fully validated before use). */
#ifndef CLIPCL_ST_H
#define CLIPCL_ST_H

#include <stddef.h>
#include <stdint.h>

#include "clipcl.h"

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER (100u * 1024u * 1024u) /* safetensors' own limit on the JSON header */
#define ST_MAX_TENSORS 100000

typedef enum st_dtype {
    ST_F32, ST_F16, ST_BF16, ST_F64, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8, ST_BOOL, ST_NDTYPES
} st_dtype;

typedef struct st_tensor {
    char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    const uint8_t *data;     /* inside the mapping; may be unaligned */
    size_t nbytes;
} st_tensor;

typedef struct st_file {
    char *path;
    void *map;
    size_t size;
    int n;
    st_tensor *tensors;      /* sorted by name */
} st_file;

/* Opens and validates: header length within the file, JSON well formed, known dtypes,
 * non-negative shapes whose byte size matches data_offsets, every range inside the data
 * section, no two ranges overlapping. Errors name the file and the tensor. */
clipcl_status st_open(const char *path, st_file **out);
void st_close(st_file *f);
const st_tensor *st_find(const st_file *f, const char *name);
const char *st_dtype_name(st_dtype dt);
size_t st_dtype_size(st_dtype dt);

/* Converts a floating-point tensor (F32, F16, BF16, F64) to float32 in out (numel floats). */
clipcl_status st_to_f32(const st_tensor *t, float *out);
/* Looks up name and checks its shape (ndim dims); error names the tensor and both shapes. */
clipcl_status st_expect(const st_file *f, const char *name, int ndim, const int64_t *shape,
                        const st_tensor **out);

/* Writes a safetensors file (used by tests and tools). tensors' data must be host memory. */
clipcl_status st_write(const char *path, const st_tensor *tensors, int n);

/* IEEE half and bfloat16 to float. */
float st_f16_to_f32(uint16_t h);
float st_bf16_to_f32(uint16_t h);
uint16_t st_f32_to_f16(float f);

#endif
