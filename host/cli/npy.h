/* npy.h — NumPy .npy files of float32 matrices (format version 1.0, '<f4', C order), and the
 * atomic file replacement (temporary file + rename) that embed and index write through.
 *
 * The writer emits exactly what numpy.save writes for a C-contiguous float32 array of shape
 * (rows, cols): "\x93NUMPY" 1 0, a little-endian u16 header length, the header dict
 * "{'descr': '<f4', 'fortran_order': False, 'shape': (R, C), }" padded with spaces and a final
 * '\n' so that the data starts at a multiple of 64, then rows*cols little-endian floats.
 * The reader accepts 2-D '<f4' C-order files of version 1.0, 2.0 and 3.0. */
#ifndef CLIPCL_CLI_NPY_H
#define CLIPCL_CLI_NPY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Largest dimension the reader accepts (rows or cols): bounds allocations from headers. */
#define NPY_MAX_DIM ((int64_t)1 << 31)

/* Writes header + data to f. Returns 0, or -1 with errno set by the failing write. */
int npy_write_f32(FILE *f, const float *data, int64_t rows, int64_t cols);

/* Reads a 2-D float32 matrix. On success returns 0 and sets *data (malloc'd, rows*cols
 * floats; may be NULL when empty), *rows, *cols. On failure returns -1 and writes a message
 * naming the problem (not the path) to err. */
int npy_read_f32(const char *path, float **data, int64_t *rows, int64_t *cols, char *err, size_t errlen);

/* Atomic replacement of a file: the data is written to a temporary file beside the target
 * and renamed over it on commit, so readers see the old file or the complete new one and a
 * failed run leaves the target untouched. */
typedef struct npy_atomic {
    FILE *f;
    char path[4096];
    char tmp[4096 + 32];
} npy_atomic;

/* Creates the temporary file (mode 0666 less the umask, as fopen would). Returns 0, or -1
 * with errno set (e.g. ENOENT or EACCES when the target's folder is not writable). */
int npy_atomic_open(npy_atomic *a, const char *path);
/* Flushes, syncs, closes and renames into place. Returns 0, or -1 with errno set (the
 * temporary file is removed then). */
int npy_atomic_commit(npy_atomic *a);
/* Closes and removes the temporary file; safe on a zeroed or already finished struct. */
void npy_atomic_abort(npy_atomic *a);

#endif
