/* kcache.h — persistent cache of compiled OpenCL program binaries, so later processes skip
 * the kernel compiler. Keyed by the source text, build options, platform, device name,
 * driver version and library version; a missing, stale or corrupt entry is simply rebuilt.
 * Location: $CLIPCL_CACHE_DIR/kernels, else $XDG_CACHE_HOME/clipcl/kernels, else
 * ~/.cache/clipcl/kernels. CLIPCL_KERNEL_CACHE=0 turns it off. */
#ifndef CLIPCL_KCACHE_H
#define CLIPCL_KCACHE_H

#include "ocl.h"

/* A built program from the cache, or NULL when there is none usable. */
cl_program kc_load(ocl *o, const char *source, const char *options);
/* Stores a freshly built program; failures are ignored (the cache is an optimization). */
void kc_store(ocl *o, const char *source, const char *options, cl_program prog);

#endif
