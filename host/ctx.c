/* ctx.c — public context API: open a device, build the shared kernels. */
#include <clblast_c.h>
#include <pthread.h>
#include <stdlib.h>

#include "ctx.h"
#include "err.h"
#include "tune.h"

/* Live contexts in this process. CLBlast keeps every program it compiles in a process-wide
 * cache, and each program holds its OpenCL context, so a freed context would stay alive (on
 * a GPU: its driver context and memory) until the process ends. The cache is emptied when
 * the last context goes, which leaves the programs of contexts still in use alone (parameters
 * given to CLBlastOverrideParameters survive it). */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static int live;

clipcl_context_params clipcl_context_default_params(void)
{
    return (clipcl_context_params){.device = NULL, .profile = 0};
}

clipcl_status clipcl_context_create(const clipcl_context_params *params, clipcl_context **out)
{
    if (!out) return err_set(CLIPCL_ERR_INVALID_ARG, "clipcl_context_create: out is NULL");
    *out = NULL;
    clipcl_context_params p = params ? *params : clipcl_context_default_params();
    clipcl_context *c = calloc(1, sizeof *c);
    if (!c) return err_set(CLIPCL_ERR_NOMEM, "out of memory");
    pthread_mutex_lock(&live_lock);
    live++;
    pthread_mutex_unlock(&live_lock);
    clipcl_status st = ocl_open(&c->cl, p.device, p.profile);
    if (st) goto fail;
    st = ops_init(&c->k, &c->cl);
    if (st) goto fail;
    tune_apply(&c->cl);
    tune_set applied;
    tune_applied(&c->cl, &applied);
    ops_set_gemm(&c->k, (int)tune_get(&applied, TUNE_XGEMM, "GEMMK"), (int)tune_get(&applied, TUNE_XGEMM, "MWG"),
                 (int)tune_get(&applied, TUNE_XGEMM, "NWG"));
    long small = tune_get(&applied, TUNE_OWN, "SMALL_TOKENS");
    if (small >= 0 && !c->k.small_forced) c->k.small_tokens = (int)small;
    if (applied.have[TUNE_TILE]) {
        ops_tile tile = tune_tile(applied.v[TUNE_TILE]);
        ops_set_tile(&c->k, &tile);
    }
    *out = c;
    return CLIPCL_OK;
fail:
    clipcl_context_free(c);
    return st;
}

void clipcl_context_free(clipcl_context *c)
{
    if (!c) return;
    ops_free(&c->k);
    ocl_close(&c->cl);
    free(c);
    pthread_mutex_lock(&live_lock);
    if (--live == 0) CLBlastClearCache();
    pthread_mutex_unlock(&live_lock);
}

const clipcl_device_info *clipcl_context_device(const clipcl_context *c) { return c ? &c->cl.info : NULL; }
