/* ocl.h — OpenCL runtime: devices, one context + in-order queue, kernel programs, buffers.
 * Every failing OpenCL call becomes a clipcl status plus a message naming the call. */
#ifndef CLIPCL_OCL_H
#define CLIPCL_OCL_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

#include "clipcl.h"
#include "ocl_sources.h"

#define OCL_MAX_PROGRAMS 64

typedef struct ocl_program_entry {
    char *key;               /* source name + '\n' + options */
    cl_program program;
} ocl_program_entry;

typedef struct ocl {
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
    clipcl_device_info info;
    int profile;
    int n_programs;
    ocl_program_entry programs[OCL_MAX_PROGRAMS];
    uint64_t mem_current, mem_peak; /* bytes in buffers made by ocl_alloc */
} ocl;

/* Human name of an OpenCL error code ("CL_OUT_OF_RESOURCES"). */
const char *ocl_errstr(cl_int err);
/* Sets the thread's error to "<call>: <CL error name> (<code>)" and returns CLIPCL_ERR_OPENCL
 * (or CLIPCL_ERR_NOMEM for allocation failures). */
clipcl_status ocl_fail(cl_int err, const char *call);

/* Lists devices in a stable order (platforms in ICD order, devices in platform order). */
clipcl_status ocl_list_devices(clipcl_device_info *out, int cap, int *count);
/* Opens the device chosen by selector (see clipcl_context_params.device). */
clipcl_status ocl_open(ocl *o, const char *selector, int profile);
void ocl_close(ocl *o);

/* Returns a built program for an embedded source (by file stem, e.g. "norm") and build
 * options; built programs are cached per context. A build failure includes the build log.
 * With $CLIPCL_KERNEL_DIR set, sources are read from that folder instead (for kernel work). */
clipcl_status ocl_program(ocl *o, const char *source, const char *options, cl_program *out);
clipcl_status ocl_kernel(ocl *o, const char *source, const char *options, const char *name,
                         cl_kernel *out);

clipcl_status ocl_alloc(ocl *o, size_t bytes, cl_mem *out, const char *what);
/* Test hook: makes the nth ocl_alloc from now on (any context, any thread) fail with
 * CLIPCL_ERR_NOMEM, once; 0 disarms. $CLIPCL_FAULT_ALLOC=n arms it at the first allocation of
 * the process. Not for production use. */
void ocl_fault_alloc(long n);
clipcl_status ocl_upload(ocl *o, cl_mem buf, size_t offset, size_t bytes, const void *src);
clipcl_status ocl_download(ocl *o, cl_mem buf, size_t offset, size_t bytes, void *dst);
/* Releases a buffer made by ocl_alloc (NULL is fine) and sets *buf to NULL. */
void ocl_release(ocl *o, cl_mem *buf);

/* Sets n kernel arguments given as (size_t size, const void *ptr) pairs, most easily with
 * OCL_A: ocl_setargs(k, "layernorm", 3, OCL_A(x), OCL_A(y), OCL_A(width)). */
clipcl_status ocl_setargs(cl_kernel k, const char *kname, int n, ...);
#define OCL_A(v) sizeof(v), (const void *)&(v)
/* Enqueues a 1-3D range; global sizes are rounded up to multiples of local. ev (may be NULL)
 * receives the launch's event, for profiling. */
clipcl_status ocl_run(ocl *o, cl_kernel k, const char *kname, int dims, const size_t *global,
                      const size_t *local, cl_event *ev);

#endif
