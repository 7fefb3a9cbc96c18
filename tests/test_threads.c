/* test_threads.c — the threading rule of include/clipcl.h: separate contexts encode at the
 * same time from different threads; one context (and its model) is shared by threads that
 * take turns under a mutex. Results must equal a single-threaded run bit for bit. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st.h"
#include "testutil.h"

#define NTHREADS 4
#define ROUNDS 3

static char model_dir[4096];
static st_file *ref;
static const int32_t *ids;
static float *pix;
static int nt, ni, E;
static float *want_t, *want_i;

static void load_inputs(void)
{
    char p[4096];
    tu_data(model_dir, sizeof model_dir, "tiny-gelu");
    ck_assert(st_open(tu_data(p, sizeof p, "tiny-gelu/reference.safetensors"), &ref) == CLIPCL_OK);
    const st_tensor *it = st_find(ref, "input_ids"), *pt = st_find(ref, "pixel_values");
    nt = (int)it->shape[0];
    ni = (int)pt->shape[0];
    ids = (const int32_t *)it->data;
    pix = malloc(pt->nbytes);
    memcpy(pix, pt->data, pt->nbytes);
}

static clipcl_model *load(clipcl_context *ctx)
{
    clipcl_model *m = NULL;
    ck_assert_msg(clipcl_model_load(ctx, model_dir, NULL, &m) == CLIPCL_OK, "%s", clipcl_errmsg());
    return m;
}

static void setup(void)
{
    load_inputs();
    clipcl_context *ctx = tu_context();
    clipcl_model *m = load(ctx);
    E = clipcl_model_embed_dim(m);
    want_t = malloc((size_t)nt * E * sizeof *want_t);
    want_i = malloc((size_t)ni * E * sizeof *want_i);
    ck_assert(clipcl_encode_texts(m, ids, nt, want_t) == CLIPCL_OK);
    ck_assert(clipcl_encode_images(m, pix, ni, want_i) == CLIPCL_OK);
    clipcl_model_free(m);
    clipcl_context_free(ctx);
}

static void teardown(void)
{
    st_close(ref);
    free(pix);
    free(want_t);
    free(want_i);
}

typedef struct job {
    clipcl_context *ctx;     /* shared (with lock) or NULL: the thread makes its own */
    clipcl_model *model;
    pthread_mutex_t *lock;
    int failures;
    char msg[512];
} job;

static void *worker(void *arg)
{
    job *j = arg;
    clipcl_context *ctx = j->ctx;
    clipcl_model *m = j->model;
    if (!ctx) {
        if (clipcl_context_create(NULL, &ctx) || clipcl_model_load(ctx, model_dir, NULL, &m)) {
            snprintf(j->msg, sizeof j->msg, "setup: %s", clipcl_errmsg());
            j->failures++;
            clipcl_context_free(ctx);
            return NULL;
        }
    }
    float *t = malloc((size_t)nt * E * sizeof *t), *im = malloc((size_t)ni * E * sizeof *im);
    for (int r = 0; r < ROUNDS; r++) {
        if (j->lock) pthread_mutex_lock(j->lock);
        clipcl_status st = clipcl_encode_texts(m, ids, nt, t);
        if (!st) st = clipcl_encode_images(m, pix, ni, im);
        if (st) snprintf(j->msg, sizeof j->msg, "encode: %s", clipcl_errmsg());
        if (j->lock) pthread_mutex_unlock(j->lock);
        if (st || memcmp(t, want_t, (size_t)nt * E * 4) || memcmp(im, want_i, (size_t)ni * E * 4)) {
            if (!st) snprintf(j->msg, sizeof j->msg, "round %d differs from the single-threaded run", r);
            j->failures++;
        }
    }
    free(t);
    free(im);
    if (!j->ctx) {
        clipcl_model_free(m);
        clipcl_context_free(ctx);
    }
    return NULL;
}

static void run_jobs(job *jobs)
{
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) ck_assert(pthread_create(&th[i], NULL, worker, &jobs[i]) == 0);
    for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < NTHREADS; i++) ck_assert_msg(jobs[i].failures == 0, "thread %d: %s", i, jobs[i].msg);
}

START_TEST(test_own_contexts)
{
    job jobs[NTHREADS] = {{0}};
    run_jobs(jobs);
}
END_TEST

START_TEST(test_shared_context_with_lock)
{
    clipcl_context *ctx = tu_context();
    clipcl_model *m = load(ctx);
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    job jobs[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) jobs[i] = (job){.ctx = ctx, .model = m, .lock = &lock};
    run_jobs(jobs);
    clipcl_model_free(m);
    clipcl_context_free(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("threads");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 1800);
    tcase_add_test(tc, test_own_contexts);
    tcase_add_test(tc, test_shared_context_with_lock);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
