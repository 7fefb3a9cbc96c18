/* ocl.c — OpenCL platform/device discovery, context + queue, program cache, buffers. */
#include "ocl.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "kcache.h"

#define OCL_MAX_PLATFORMS 16
#define OCL_MAX_DEVICES 64

const char *ocl_errstr(cl_int e)
{
    switch (e) {
#define C(x) case x: return #x;
    C(CL_SUCCESS) C(CL_DEVICE_NOT_FOUND) C(CL_DEVICE_NOT_AVAILABLE) C(CL_COMPILER_NOT_AVAILABLE)
    C(CL_MEM_OBJECT_ALLOCATION_FAILURE) C(CL_OUT_OF_RESOURCES) C(CL_OUT_OF_HOST_MEMORY)
    C(CL_PROFILING_INFO_NOT_AVAILABLE) C(CL_MEM_COPY_OVERLAP) C(CL_IMAGE_FORMAT_MISMATCH)
    C(CL_IMAGE_FORMAT_NOT_SUPPORTED) C(CL_BUILD_PROGRAM_FAILURE) C(CL_MAP_FAILURE)
    C(CL_MISALIGNED_SUB_BUFFER_OFFSET) C(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
    C(CL_COMPILE_PROGRAM_FAILURE) C(CL_LINKER_NOT_AVAILABLE) C(CL_LINK_PROGRAM_FAILURE)
    C(CL_DEVICE_PARTITION_FAILED) C(CL_KERNEL_ARG_INFO_NOT_AVAILABLE) C(CL_INVALID_VALUE)
    C(CL_INVALID_DEVICE_TYPE) C(CL_INVALID_PLATFORM) C(CL_INVALID_DEVICE) C(CL_INVALID_CONTEXT)
    C(CL_INVALID_QUEUE_PROPERTIES) C(CL_INVALID_COMMAND_QUEUE) C(CL_INVALID_HOST_PTR)
    C(CL_INVALID_MEM_OBJECT) C(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR) C(CL_INVALID_IMAGE_SIZE)
    C(CL_INVALID_SAMPLER) C(CL_INVALID_BINARY) C(CL_INVALID_BUILD_OPTIONS) C(CL_INVALID_PROGRAM)
    C(CL_INVALID_PROGRAM_EXECUTABLE) C(CL_INVALID_KERNEL_NAME) C(CL_INVALID_KERNEL_DEFINITION)
    C(CL_INVALID_KERNEL) C(CL_INVALID_ARG_INDEX) C(CL_INVALID_ARG_VALUE) C(CL_INVALID_ARG_SIZE)
    C(CL_INVALID_KERNEL_ARGS) C(CL_INVALID_WORK_DIMENSION) C(CL_INVALID_WORK_GROUP_SIZE)
    C(CL_INVALID_WORK_ITEM_SIZE) C(CL_INVALID_GLOBAL_OFFSET) C(CL_INVALID_EVENT_WAIT_LIST)
    C(CL_INVALID_EVENT) C(CL_INVALID_OPERATION) C(CL_INVALID_GL_OBJECT) C(CL_INVALID_BUFFER_SIZE)
    C(CL_INVALID_MIP_LEVEL) C(CL_INVALID_GLOBAL_WORK_SIZE) C(CL_INVALID_PROPERTY)
#undef C
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR (no OpenCL driver installed)";
    default: return "unknown OpenCL error";
    }
}

clipcl_status ocl_fail(cl_int e, const char *call)
{
    clipcl_status st = (e == CL_MEM_OBJECT_ALLOCATION_FAILURE || e == CL_OUT_OF_HOST_MEMORY ||
                        e == CL_INVALID_BUFFER_SIZE)
                           ? CLIPCL_ERR_NOMEM
                           : CLIPCL_ERR_OPENCL;
    return err_set(st, "%s failed: %s (%d)", call, ocl_errstr(e), (int)e);
}

/* ---------------------------------------------------------------- device discovery */

typedef struct dev_ref {
    cl_platform_id platform;
    cl_device_id device;
    int platform_index;
} dev_ref;

static clipcl_status enumerate(dev_ref *refs, int cap, int *count)
{
    cl_platform_id plats[OCL_MAX_PLATFORMS];
    cl_uint np = 0;
    cl_int e = clGetPlatformIDs(OCL_MAX_PLATFORMS, plats, &np);
    *count = 0;
    if (e == -1001 || (e == CL_SUCCESS && np == 0))
        return err_set(CLIPCL_ERR_DEVICE, "no OpenCL platform found: install an OpenCL driver "
                                          "(for the CPU: Debian package pocl-opencl-icd)");
    if (e != CL_SUCCESS) return ocl_fail(e, "clGetPlatformIDs");
    if (np > OCL_MAX_PLATFORMS) np = OCL_MAX_PLATFORMS;
    int n = 0;
    for (cl_uint p = 0; p < np; p++) {
        cl_device_id devs[OCL_MAX_DEVICES];
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, OCL_MAX_DEVICES, devs, &nd) != CL_SUCCESS) continue;
        if (nd > OCL_MAX_DEVICES) nd = OCL_MAX_DEVICES;
        for (cl_uint d = 0; d < nd; d++, n++)
            if (n < cap) refs[n] = (dev_ref){plats[p], devs[d], (int)p};
    }
    *count = n;
    if (n == 0) return err_set(CLIPCL_ERR_DEVICE, "no OpenCL device found on %u platform(s)", np);
    return CLIPCL_OK;
}

static void get_str(cl_device_id d, cl_device_info what, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (clGetDeviceInfo(d, what, cap, buf, NULL) != CL_SUCCESS) buf[0] = '\0';
    buf[cap - 1] = '\0';
}

static void describe(const dev_ref *r, int index, clipcl_device_info *info)
{
    memset(info, 0, sizeof *info);
    info->index = index;
    info->platform_index = r->platform_index;
    clGetPlatformInfo(r->platform, CL_PLATFORM_NAME, sizeof info->platform, info->platform, NULL);
    info->platform[sizeof info->platform - 1] = '\0';
    get_str(r->device, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
    get_str(r->device, CL_DEVICE_NAME, info->name, sizeof info->name);
    get_str(r->device, CL_DEVICE_OPENCL_C_VERSION, info->version, sizeof info->version);
    get_str(r->device, CL_DRIVER_VERSION, info->driver, sizeof info->driver);
    cl_device_type type = 0;
    clGetDeviceInfo(r->device, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    info->is_gpu = (type & CL_DEVICE_TYPE_GPU) != 0;
    info->is_cpu = (type & CL_DEVICE_TYPE_CPU) != 0;
    cl_uint cu = 0;
    clGetDeviceInfo(r->device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
    info->compute_units = (int)cu;
    cl_uint vw = 0;
    clGetDeviceInfo(r->device, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, sizeof vw, &vw, NULL);
    info->vector_width = vw > 64 ? 64 : (int)vw;
    cl_ulong gm = 0, ma = 0;
    clGetDeviceInfo(r->device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof gm, &gm, NULL);
    clGetDeviceInfo(r->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof ma, &ma, NULL);
    info->global_mem = gm;
    info->max_alloc = ma;
    size_t ext_len = 0;
    if (clGetDeviceInfo(r->device, CL_DEVICE_EXTENSIONS, 0, NULL, &ext_len) == CL_SUCCESS && ext_len) {
        char *ext = malloc(ext_len + 1);
        if (ext && clGetDeviceInfo(r->device, CL_DEVICE_EXTENSIONS, ext_len, ext, NULL) == CL_SUCCESS) {
            ext[ext_len] = '\0';
            info->fp16 = strstr(ext, "cl_khr_fp16") != NULL;
        }
        free(ext);
    }
}

static int ci_contains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (!strncasecmp(hay, needle, n)) return 1;
    return n == 0;
}

/* Picks a device index for a selector; -1 when nothing matches. */
static int select_device(const clipcl_device_info *infos, int n, const char *sel)
{
    if (!sel || !*sel) {
        for (int i = 0; i < n; i++)
            if (infos[i].is_gpu) return i;
        return 0;
    }
    char *end;
    errno = 0;
    long idx = strtol(sel, &end, 10);
    if (*sel && !*end && !errno) return idx >= 0 && idx < n ? (int)idx : -1;
    int want_gpu = !strcasecmp(sel, "gpu"), want_cpu = !strcasecmp(sel, "cpu");
    for (int i = 0; i < n; i++) {
        if (want_gpu || want_cpu) {
            if ((want_gpu && infos[i].is_gpu) || (want_cpu && infos[i].is_cpu)) return i;
        } else if (ci_contains(infos[i].name, sel) || ci_contains(infos[i].vendor, sel) ||
                   ci_contains(infos[i].platform, sel)) {
            return i;
        }
    }
    return -1;
}

static const char *effective_selector(const char *sel)
{
    if (sel && *sel) return sel;
    const char *env = getenv("CLIPCL_DEVICE");
    return env && *env ? env : NULL;
}

clipcl_status ocl_list_devices(clipcl_device_info *out, int cap, int *count)
{
    dev_ref refs[OCL_MAX_DEVICES];
    clipcl_device_info infos[OCL_MAX_DEVICES];
    int n = 0;
    *count = 0;
    clipcl_status st = enumerate(refs, OCL_MAX_DEVICES, &n);
    if (st) return st;
    if (n > OCL_MAX_DEVICES) n = OCL_MAX_DEVICES;
    for (int i = 0; i < n; i++) describe(&refs[i], i, &infos[i]);
    int def = select_device(infos, n, effective_selector(NULL));
    for (int i = 0; i < n; i++) {
        infos[i].is_default = i == def;
        if (i < cap && out) out[i] = infos[i];
    }
    *count = n;
    return CLIPCL_OK;
}

clipcl_status clipcl_devices(clipcl_device_info *out, int cap, int *count)
{
    int dummy;
    return ocl_list_devices(out, cap, count ? count : &dummy);
}

clipcl_status ocl_open(ocl *o, const char *selector, int profile)
{
    memset(o, 0, sizeof *o);
    dev_ref refs[OCL_MAX_DEVICES];
    clipcl_device_info infos[OCL_MAX_DEVICES];
    int n = 0;
    clipcl_status st = enumerate(refs, OCL_MAX_DEVICES, &n);
    if (st) return st;
    if (n > OCL_MAX_DEVICES) n = OCL_MAX_DEVICES;
    for (int i = 0; i < n; i++) describe(&refs[i], i, &infos[i]);
    const char *sel = effective_selector(selector);
    int pick = select_device(infos, n, sel);
    if (pick < 0) {
        char list[1024];
        size_t off = 0;
        for (int i = 0; i < n && off < sizeof list; i++)
            off += (size_t)snprintf(list + off, sizeof list - off, "%s%d: %s", i ? ", " : "", i, infos[i].name);
        return err_set(CLIPCL_ERR_DEVICE, "no OpenCL device matches '%s'%s (devices: %s)", sel,
                       selector && *selector ? "" : " (from $CLIPCL_DEVICE)", list);
    }
    o->platform = refs[pick].platform;
    o->device = refs[pick].device;
    o->info = infos[pick];
    o->info.is_default = select_device(infos, n, effective_selector(NULL)) == pick;
    o->profile = profile;
    cl_int e;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)o->platform, 0};
    o->context = clCreateContext(props, 1, &o->device, NULL, NULL, &e);
    if (!o->context) return ocl_fail(e, "clCreateContext");
    o->queue = clCreateCommandQueue(o->context, o->device, profile ? CL_QUEUE_PROFILING_ENABLE : 0, &e);
    if (!o->queue) {
        st = ocl_fail(e, "clCreateCommandQueue");
        ocl_close(o);
        return st;
    }
    return CLIPCL_OK;
}

void ocl_close(ocl *o)
{
    if (!o) return;
    if (o->queue) clFinish(o->queue);
    for (int i = 0; i < o->n_programs; i++) {
        clReleaseProgram(o->programs[i].program);
        free(o->programs[i].key);
    }
    o->n_programs = 0;
    if (o->queue) clReleaseCommandQueue(o->queue);
    if (o->context) clReleaseContext(o->context);
    o->queue = NULL;
    o->context = NULL;
}

/* ---------------------------------------------------------------- programs */

static char *read_kernel_file(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.cl", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && n < (1L << 24) && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1))) {
            if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
                free(buf);
                buf = NULL;
            } else {
                buf[n] = '\0';
            }
        }
    }
    fclose(f);
    return buf;
}

clipcl_status ocl_program(ocl *o, const char *source, const char *options, cl_program *out)
{
    char key[1024];
    snprintf(key, sizeof key, "%s\n%s", source, options ? options : "");
    for (int i = 0; i < o->n_programs; i++)
        if (!strcmp(o->programs[i].key, key)) {
            *out = o->programs[i].program;
            return CLIPCL_OK;
        }
    if (o->n_programs == OCL_MAX_PROGRAMS)
        return err_set(CLIPCL_ERR_LIMIT, "too many kernel program variants (%d)", OCL_MAX_PROGRAMS);

    const char *text = NULL;
    char *owned = NULL;
    const char *dir = getenv("CLIPCL_KERNEL_DIR");
    if (dir && *dir) {
        owned = read_kernel_file(dir, source);
        if (!owned) return err_set(CLIPCL_ERR_IO, "$CLIPCL_KERNEL_DIR: cannot read %s/%s.cl", dir, source);
        text = owned;
    } else {
        for (const ocl_source *s = ocl_sources; s->name; s++)
            if (!strcmp(s->name, source)) text = s->text;
        if (!text) return err_set(CLIPCL_ERR_BUILD, "no embedded kernel source '%s'", source);
    }
    char opts[1024];
    snprintf(opts, sizeof opts, "-cl-std=CL1.2 %s", options ? options : "");
    cl_program prog = kc_load(o, text, opts);
    if (!prog) {
        cl_int e;
        prog = clCreateProgramWithSource(o->context, 1, &text, NULL, &e);
        if (!prog) {
            free(owned);
            return ocl_fail(e, "clCreateProgramWithSource");
        }
        e = clBuildProgram(prog, 1, &o->device, opts, NULL, NULL);
        if (e != CL_SUCCESS) {
            char log[6000] = "";
            clGetProgramBuildInfo(prog, o->device, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log, NULL);
            log[sizeof log - 1] = '\0';
            clReleaseProgram(prog);
            free(owned);
            return err_set(CLIPCL_ERR_BUILD, "building kernels '%s.cl' (options: %s) failed: %s (%d)\nbuild log:\n%s",
                           source, opts, ocl_errstr(e), (int)e, log);
        }
        kc_store(o, text, opts, prog);
    }
    free(owned);
    o->programs[o->n_programs].key = strdup(key);
    o->programs[o->n_programs].program = prog;
    o->n_programs++;
    *out = prog;
    return CLIPCL_OK;
}

clipcl_status ocl_kernel(ocl *o, const char *source, const char *options, const char *name, cl_kernel *out)
{
    cl_program prog;
    clipcl_status st = ocl_program(o, source, options, &prog);
    if (st) return st;
    cl_int e;
    *out = clCreateKernel(prog, name, &e);
    if (!*out) return err_set(CLIPCL_ERR_BUILD, "clCreateKernel(%s from %s.cl) failed: %s (%d)", name, source,
                              ocl_errstr(e), (int)e);
    return CLIPCL_OK;
}

/* ---------------------------------------------------------------- buffers and launches */

/* Test hook (fault injection): the Nth ocl_alloc from now fails as a device out of memory
 * would. Armed by ocl_fault_alloc(N) or, on the first allocation of the process, by
 * $CLIPCL_FAULT_ALLOC=N; fires once. One relaxed atomic load per allocation when unarmed. */
static atomic_long fault_countdown;
static atomic_int fault_env_read;

void ocl_fault_alloc(long n)
{
    atomic_store(&fault_env_read, 1);
    atomic_store(&fault_countdown, n > 0 ? n : 0);
}

static int fault_alloc_fires(void)
{
    if (!atomic_load_explicit(&fault_env_read, memory_order_relaxed) && !atomic_exchange(&fault_env_read, 1)) {
        const char *env = getenv("CLIPCL_FAULT_ALLOC");
        long n = env && *env ? strtol(env, NULL, 10) : 0;
        if (n > 0) atomic_store(&fault_countdown, n);
    }
    long c = atomic_load_explicit(&fault_countdown, memory_order_relaxed);
    while (c > 0 && !atomic_compare_exchange_weak(&fault_countdown, &c, c - 1)) {
    }
    return c == 1;
}

clipcl_status ocl_alloc(ocl *o, size_t bytes, cl_mem *out, const char *what)
{
    cl_int e;
    *out = NULL;
    if (bytes == 0) bytes = 4;
    if (fault_alloc_fires())
        return err_set(CLIPCL_ERR_NOMEM, "allocating %zu bytes for %s: clCreateBuffer failed: "
                       "CL_MEM_OBJECT_ALLOCATION_FAILURE (injected by CLIPCL_FAULT_ALLOC)", bytes, what);
    if (bytes > o->info.max_alloc && o->info.max_alloc)
        return err_set(CLIPCL_ERR_NOMEM, "%s: %zu bytes exceeds the device's largest buffer (%llu bytes)", what,
                       bytes, (unsigned long long)o->info.max_alloc);
    *out = clCreateBuffer(o->context, CL_MEM_READ_WRITE, bytes, NULL, &e);
    if (!*out) {
        ocl_fail(e, "clCreateBuffer");
        return err_prefix(CLIPCL_ERR_NOMEM, "allocating %zu bytes for %s: ", bytes, what);
    }
    o->mem_current += bytes;
    if (o->mem_current > o->mem_peak) o->mem_peak = o->mem_current;
    return CLIPCL_OK;
}

clipcl_status ocl_upload(ocl *o, cl_mem buf, size_t offset, size_t bytes, const void *src)
{
    if (!bytes) return CLIPCL_OK;
    cl_int e = clEnqueueWriteBuffer(o->queue, buf, CL_TRUE, offset, bytes, src, 0, NULL, NULL);
    return e == CL_SUCCESS ? CLIPCL_OK : ocl_fail(e, "clEnqueueWriteBuffer");
}

clipcl_status ocl_download(ocl *o, cl_mem buf, size_t offset, size_t bytes, void *dst)
{
    if (!bytes) return CLIPCL_OK;
    cl_int e = clEnqueueReadBuffer(o->queue, buf, CL_TRUE, offset, bytes, dst, 0, NULL, NULL);
    return e == CL_SUCCESS ? CLIPCL_OK : ocl_fail(e, "clEnqueueReadBuffer");
}

void ocl_release(ocl *o, cl_mem *buf)
{
    if (!*buf) return;
    size_t size = 0;
    if (clGetMemObjectInfo(*buf, CL_MEM_SIZE, sizeof size, &size, NULL) == CL_SUCCESS && size <= o->mem_current)
        o->mem_current -= size;
    clReleaseMemObject(*buf);
    *buf = NULL;
}

clipcl_status ocl_setargs(cl_kernel k, const char *kname, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        size_t size = va_arg(ap, size_t);
        const void *ptr = va_arg(ap, const void *);
        cl_int e = clSetKernelArg(k, (cl_uint)i, size, ptr);
        if (e != CL_SUCCESS) {
            va_end(ap);
            return err_set(CLIPCL_ERR_OPENCL, "clSetKernelArg(%s, arg %d) failed: %s (%d)", kname, i,
                           ocl_errstr(e), (int)e);
        }
    }
    va_end(ap);
    return CLIPCL_OK;
}

clipcl_status ocl_run(ocl *o, cl_kernel k, const char *kname, int dims, const size_t *global, const size_t *local,
                      cl_event *ev)
{
    size_t g[3];
    for (int i = 0; i < dims; i++) {
        g[i] = global[i];
        if (local && local[i]) g[i] = (g[i] + local[i] - 1) / local[i] * local[i];
        if (g[i] == 0) return CLIPCL_OK; /* nothing to do */
    }
    cl_int e = clEnqueueNDRangeKernel(o->queue, k, (cl_uint)dims, NULL, g, local, 0, NULL, ev);
    if (e != CL_SUCCESS) return err_set(CLIPCL_ERR_OPENCL, "clEnqueueNDRangeKernel(%s) failed: %s (%d)", kname,
                                        ocl_errstr(e), (int)e);
    return CLIPCL_OK;
}
