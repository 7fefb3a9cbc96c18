/* ctx.h — the context behind the public clipcl_context handle. */
#ifndef CLIPCL_CTX_H
#define CLIPCL_CTX_H

#include "ocl.h"
#include "ops.h"

struct clipcl_context {
    ocl cl;
    ops k;
};

#endif
