/* cltrace.c — an LD_PRELOAD shim that times every OpenCL kernel launch by kernel name,
 * including the copy, pad and transpose kernels CLBlast runs inside one GEMM call (whose
 * events clipcl cannot see: CLBlast returns only the last kernel's event).
 *
 *   LD_PRELOAD=build/cltrace.so build/clipcl bench --arch ViT-B/32 --tower image --batch-sizes 8
 *
 * Queues get profiling enabled; each launch's event is kept and read when the list fills,
 * at clFinish and at exit, so launches stay asynchronous. At exit it prints, to stderr,
 * one line per kernel name: launches, total device ms, share. A developer's tool, built
 * beside the benchmarks and not part of the library. Not thread-safe (one queue at a time). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT */
#endif
/* the project builds against OpenCL 1.2; the shim also wraps the 2.0 queue constructor */
#undef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 200
#include <CL/cl.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NAMES 256
#define MAX_PENDING 4096

static struct {
    char name[64];
    long launches;
    double ms;
} names[MAX_NAMES];
static int n_names;
static struct {
    cl_event ev;
    int name;
} pending[MAX_PENDING];
static int n_pending;

static int name_index(cl_kernel k)
{
    char buf[64] = "?";
    if (clGetKernelInfo(k, CL_KERNEL_FUNCTION_NAME, sizeof buf, buf, NULL) != CL_SUCCESS) strcpy(buf, "?");
    buf[sizeof buf - 1] = '\0';
    for (int i = 0; i < n_names; i++)
        if (!strcmp(names[i].name, buf)) return i;
    if (n_names == MAX_NAMES) return MAX_NAMES - 1;
    strcpy(names[n_names].name, buf);
    return n_names++;
}

static void drain(void)
{
    for (int i = 0; i < n_pending; i++) {
        cl_ulong a = 0, b = 0;
        clWaitForEvents(1, &pending[i].ev);
        if (clGetEventProfilingInfo(pending[i].ev, CL_PROFILING_COMMAND_START, sizeof a, &a, NULL) == CL_SUCCESS &&
            clGetEventProfilingInfo(pending[i].ev, CL_PROFILING_COMMAND_END, sizeof b, &b, NULL) == CL_SUCCESS &&
            b >= a)
            names[pending[i].name].ms += (double)(b - a) * 1e-6;
        names[pending[i].name].launches++;
        clReleaseEvent(pending[i].ev);
    }
    n_pending = 0;
}

static void report(void)
{
    drain();
    double total = 0;
    for (int i = 0; i < n_names; i++) total += names[i].ms;
    fprintf(stderr, "cltrace: %-32s %9s %12s %7s\n", "kernel", "launches", "device ms", "share");
    for (int i = 0; i < n_names; i++)
        fprintf(stderr, "cltrace: %-32s %9ld %12.1f %6.1f%%\n", names[i].name, names[i].launches, names[i].ms,
                total > 0 ? 100.0 * names[i].ms / total : 0.0);
}

cl_int clEnqueueNDRangeKernel(cl_command_queue q, cl_kernel k, cl_uint dim, const size_t *off, const size_t *gws,
                              const size_t *lws, cl_uint nw, const cl_event *wl, cl_event *ev)
{
    static cl_int (*real)(cl_command_queue, cl_kernel, cl_uint, const size_t *, const size_t *, const size_t *,
                          cl_uint, const cl_event *, cl_event *);
    static int registered;
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "clEnqueueNDRangeKernel");
    if (!registered) registered = !atexit(report);
    cl_event mine = NULL;
    cl_int rc = real(q, k, dim, off, gws, lws, nw, wl, &mine);
    if (rc != CL_SUCCESS || !mine) return rc;
    if (n_pending == MAX_PENDING) drain();
    clRetainEvent(mine);
    pending[n_pending].ev = mine;
    pending[n_pending++].name = name_index(k);
    if (ev) *ev = mine;
    else clReleaseEvent(mine);
    return rc;
}

cl_int clFinish(cl_command_queue q)
{
    static cl_int (*real)(cl_command_queue);
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "clFinish");
    cl_int rc = real(q);
    drain();
    return rc;
}

cl_command_queue clCreateCommandQueue(cl_context c, cl_device_id d, cl_command_queue_properties p, cl_int *e)
{
    static cl_command_queue (*real)(cl_context, cl_device_id, cl_command_queue_properties, cl_int *);
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "clCreateCommandQueue");
    return real(c, d, p | CL_QUEUE_PROFILING_ENABLE, e);
}

cl_command_queue clCreateCommandQueueWithProperties(cl_context c, cl_device_id d, const cl_queue_properties *p,
                                                    cl_int *e)
{
    static cl_command_queue (*real)(cl_context, cl_device_id, const cl_queue_properties *, cl_int *);
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "clCreateCommandQueueWithProperties");
    cl_queue_properties props[16];
    int n = 0, found = 0;
    for (; p && p[n] && n < 14; n += 2) {
        props[n] = p[n];
        props[n + 1] = p[n + 1];
        if (p[n] == CL_QUEUE_PROPERTIES) props[n + 1] |= CL_QUEUE_PROFILING_ENABLE, found = 1;
    }
    if (!found) props[n++] = CL_QUEUE_PROPERTIES, props[n++] = CL_QUEUE_PROFILING_ENABLE;
    props[n] = 0;
    return real(c, d, props, e);
}
