/* index_file.h — the image index that `clipcl index` writes and `clipcl search` reads.
 *
 * Format, version 1. Every integer is little-endian; the file is exactly
 * matrix_offset + n * E * 4 bytes long.
 *
 *   offset size
 *    0      8  magic "CLIPCLIX"
 *    8      4  u32 version (1)
 *   12      4  u32 E, the embedding width (1 .. IDX_MAX_EMBED)
 *   16      8  u64 n, the number of images (0 .. IDX_MAX_ENTRIES)
 *   24      8  u64 matrix_offset: where the matrix starts (a multiple of 64)
 *   32      8  u64 size of the model's weights file (model identity)
 *   40      8  i64 mtime of the model's weights file, nanoseconds since the epoch
 *   48      4  u32 length of the model folder's path (1 .. IDX_MAX_PATH - 1)
 *   52      4  u32 length of the root folder's path (1 .. IDX_MAX_PATH - 1)
 *   56      4  u32 CRC-32 (zlib) of the whole file, these 4 bytes counted as zero
 *   60      4  u32 0 (reserved)
 *   64         the model folder's absolute path (no NUL), then the root folder's absolute path
 *              (the DIR given to `clipcl index`, resolved with realpath)
 *              n entries, in strictly increasing strcmp order of their paths:
 *                 u32 path length (1 .. IDX_MAX_PATH - 1), u32 0, u64 file size,
 *                 i64 file mtime (ns since the epoch), the path bytes (no NUL)
 *              entry paths are relative to the root (no leading '/', no "." or ".." parts)
 *              zero bytes up to matrix_offset (fewer than 64)
 *   matrix_offset  n × E float32, row i = the L2-normalized embedding of entry i
 *
 * Model identity = the model folder's absolute path + its weights file's size and mtime + E:
 * an index is searched only with the very model it was built with. A file is unchanged for
 * re-indexing when its path, size and mtime are all equal. */
#ifndef CLIPCL_CLI_INDEX_FILE_H
#define CLIPCL_CLI_INDEX_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define IDX_MAGIC "CLIPCLIX"
#define IDX_VERSION 1
#define IDX_HEADER 64
#define IDX_MAX_ENTRIES (1u << 26)
#define IDX_MAX_EMBED 65536
#define IDX_MAX_PATH 4096

typedef struct idx_model_id {
    char path[IDX_MAX_PATH];   /* absolute model folder */
    uint64_t weights_size;
    int64_t weights_mtime_ns;
} idx_model_id;

typedef struct idx_entry {
    char *path;                /* relative to the root */
    uint64_t size;
    int64_t mtime_ns;
} idx_entry;

typedef struct idx_index {
    idx_model_id model;
    int embed_dim;
    char root[IDX_MAX_PATH];   /* absolute */
    size_t n;
    idx_entry *entries;
    float *emb;                /* n × embed_dim */
    void *blob_;               /* owner of paths/emb when read from a file */
} idx_index;

/* Reads and validates an index file. Returns 0; -1 with a message naming the file in err;
 * -2 (message too) when the file does not exist. */
int idx_read(const char *path, idx_index *out, char *err, size_t errlen);
/* Writes ix (entries must be sorted, paths valid) to f. Returns 0 or -1 with errno set. */
int idx_write(FILE *f, const idx_index *ix);
void idx_free(idx_index *ix);

/* The identity of the model folder dir: realpath, and the size and mtime of its weights
 * file (model.safetensors, else open_clip_model.safetensors). Returns 0, or -1 with a
 * message in err. */
int idx_model_identify(const char *dir, idx_model_id *out, char *err, size_t errlen);
/* Whether a relative entry path is acceptable (non-empty, relative, no "."/".." parts, no
 * empty parts, shorter than IDX_MAX_PATH). */
int idx_path_ok(const char *p, size_t len);
/* Nanoseconds since the epoch of a stat's mtime. */
struct stat;
int64_t idx_mtime_ns(const struct stat *sb);

#endif
