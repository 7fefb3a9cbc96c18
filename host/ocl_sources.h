/* ocl_sources.h — the OpenCL C sources embedded at build time (cl/ *.cl, see CMakeLists.txt). */
#ifndef CLIPCL_OCL_SOURCES_H
#define CLIPCL_OCL_SOURCES_H
#include <stddef.h>

typedef struct ocl_source {
    const char *name;        /* file stem: "norm" for cl/norm.cl */
    const char *text;        /* NUL-terminated */
    const size_t *len;
} ocl_source;

extern const ocl_source ocl_sources[]; /* terminated by a NULL name */

#endif
