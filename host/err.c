/* err.c — per-thread last-error text (SQLite style: status code + readable message). */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ERR_CAP 8192 /* big enough for a kernel build log excerpt */

static _Thread_local char err_msg[ERR_CAP];

const char *clipcl_errmsg(void) { return err_msg; }

void err_clear(void) { err_msg[0] = '\0'; }

clipcl_status err_set(clipcl_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_msg, sizeof err_msg, fmt, ap);
    va_end(ap);
    return st;
}

clipcl_status err_prefix(clipcl_status st, const char *fmt, ...)
{
    char old[ERR_CAP];
    memcpy(old, err_msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err_msg, sizeof err_msg, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof err_msg)
        snprintf(err_msg + n, sizeof err_msg - (size_t)n, "%s", old);
    return st;
}

const char *clipcl_status_str(clipcl_status s)
{
    switch (s) {
    case CLIPCL_OK: return "ok";
    case CLIPCL_ERR_INVALID_ARG: return "invalid argument";
    case CLIPCL_ERR_IO: return "I/O error";
    case CLIPCL_ERR_FORMAT: return "format error";
    case CLIPCL_ERR_MODEL: return "model error";
    case CLIPCL_ERR_UNSUPPORTED: return "unsupported";
    case CLIPCL_ERR_NOMEM: return "out of memory";
    case CLIPCL_ERR_DEVICE: return "device error";
    case CLIPCL_ERR_OPENCL: return "OpenCL error";
    case CLIPCL_ERR_BUILD: return "kernel build error";
    case CLIPCL_ERR_BLAS: return "CLBlast error";
    case CLIPCL_ERR_TOO_LONG: return "text too long";
    case CLIPCL_ERR_LIMIT: return "size limit exceeded";
    }
    return "unknown status";
}
