/* kcache.h — persistent cache of compiled OpenCL program binaries, so later processes skip
 * the kernel compiler. Keyed by the source text, build options, platform, device name,
 * driver version and library version; a missing, stale or corrupt entry is simply rebuilt.
 * Location: $CLIPCL_CACHE_DIR/kernels, else $XDG_CACHE_HOME/clipcl/kernels, else
 * ~/.cache/clipcl/kernels. CLIPCL_KERNEL_CACHE=0 turns it off. */
#ifndef CLIPCL_KCACHE_H
#define CLIPCL_KCACHE_H

#include "ocl.h"

/* Reads the entry file at path if it was stored under exactly this key: returns 0 with the
 * binary (malloc'd) in *bin and its length in *len; 1 when the file exists but is stale or
 * corrupt; -1 when there is none. Lengths are checked against the file's size before any
 * allocation. No OpenCL call (the fuzz harness fuzz/fuzz_kcache.c drives it). */
int kc_read_entry(const char *path, const char *key, unsigned char **bin, size_t *len);
/* A built program from the cache, or NULL when there is none usable. */
cl_program kc_load(ocl *o, const char *source, const char *options);
/* Stores a freshly built program; failures are ignored (the cache is an optimization). */
void kc_store(ocl *o, const char *source, const char *options, cl_program prog);

#endif
