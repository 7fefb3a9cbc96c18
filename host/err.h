/* err.h — the library's error state: a status code plus a per-thread message. */
#ifndef CLIPCL_ERR_H
#define CLIPCL_ERR_H

#include "clipcl.h"

#if defined(__GNUC__)
#define ERR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define ERR_PRINTF(a, b)
#endif

/* Sets the calling thread's message and returns st, so callers can `return err_set(...)`. */
clipcl_status err_set(clipcl_status st, const char *fmt, ...) ERR_PRINTF(2, 3);
/* Prefixes the current message with more context ("loading X: " + old message). */
clipcl_status err_prefix(clipcl_status st, const char *fmt, ...) ERR_PRINTF(2, 3);
void err_clear(void);

#endif
