/* testutil.h — shared helpers for the Check test programs. */
#ifndef CLIPCL_TESTUTIL_H
#define CLIPCL_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include <check.h>

#include "clipcl.h"
#include "st.h"

/* Path under tests/data (static buffer per call site is not needed: caller gives buf). */
const char *tu_data(char *buf, size_t cap, const char *rel);
/* A fresh temporary directory (mkdtemp under $TMPDIR or /tmp); caller removes it with tu_rmtree. */
char *tu_tmpdir(void);
void tu_rmtree(const char *dir);
/* Deterministic uniform floats in [lo, hi). */
void tu_rand(float *x, size_t n, uint64_t seed, float lo, float hi);
/* max |a-b| / max |b| */
double tu_max_rel(const float *a, const float *b, size_t n);
/* Context on the default test device ($CLIPCL_DEVICE or the first device). */
clipcl_context *tu_context(void);
/* A model opened through the public API on the test device, for comparing the CLI's output
 * with the library's on the same input. Each call fails the test on an error. */
typedef struct tu_lib {
    clipcl_context *ctx;
    clipcl_model *model;
    int E; /* embedding width */
} tu_lib;
void tu_lib_open(tu_lib *l, const char *model_dir);
void tu_lib_close(tu_lib *l);
/* One image file or one text, through preprocessing/tokenizing, to its embedding (E floats). */
void tu_lib_image(tu_lib *l, const char *path, float *emb);
void tu_lib_text(tu_lib *l, const char *text, float *emb);
/* Rewrites a safetensors file through `edit`, which gets a private copy of every tensor
 * (data malloc'd, room for one more entry) and may change, add or drop them. */
typedef void (*tu_st_edit)(st_tensor *ts, int *n, void *arg);
void tu_st_rewrite(const char *path, tu_st_edit edit, void *arg);
/* Edits for tu_st_rewrite; arg is a tensor name (const char *), or for to_half a pointer to
 * an int, 1 for BF16 and 0 for F16 (every F32 tensor converted, others kept). A missing tensor
 * fails the test. */
void tu_st_drop(st_tensor *ts, int *n, void *name);
void tu_st_swap_2d(st_tensor *ts, int *n, void *name); /* [a, b] -> [b, a], same bytes */
void tu_st_to_half(st_tensor *ts, int *n, void *bf16);
st_tensor *tu_st_find(st_tensor *ts, int n, const char *name);
/* A fixture's reference.safetensors (tests/data/<name>/): its input_ids and pixel_values
 * (copies the caller may change), and each reference output by name. */
typedef struct tu_fixture {
    st_file *ref;
    int nt, ni; /* texts, images */
    int32_t *ids;
    float *pix;
} tu_fixture;
void tu_fixture_open(tu_fixture *f, const char *name);
void tu_fixture_close(tu_fixture *f);
/* A copy of reference tensor `name` (F32); *n gets its element count. Fails when absent. */
float *tu_fixture_ref(const tu_fixture *f, const char *name, size_t *n);
/* Fails the test when got differs from reference `name` by more than tol (max |a-b| / max |b|);
 * returns that error. */
double tu_fixture_check(const tu_fixture *f, const char *name, const float *got, double tol);
/* Runs a suite with the Check runner; returns the process exit status (0 when all pass). */
int tu_run_suite(Suite *s);
/* Runs a shell command; *out (if not NULL) receives its stdout (malloc'd, NUL-terminated).
 * Returns its exit status, -1 if it did not exit normally. */
int tu_sh(const char *cmd, char **out);

/* Whole file, NUL-terminated (*len, if not NULL, gets its size). tu_slurp fails the test when
 * the file cannot be read; tu_try_slurp returns NULL when it does not exist. */
char *tu_slurp(const char *path, size_t *len);
char *tu_try_slurp(const char *path, size_t *len);
/* Writes n bytes to path (replacing it); fails the test on any error. */
void tu_spit(const char *path, const void *data, size_t n);
void tu_spit_str(const char *path, const char *text);
/* Runs argv[0] (a path) with argv (NULL-terminated), stdin from in_path (NULL: /dev/null),
 * stdout and stderr through files in dir. Fails the test, naming `what` (NULL: argv[1]), when
 * the program outlives limit_s seconds (it is killed) or dies from a signal. *out and *err
 * (each optional) are freed and replaced by what it printed. Returns its exit status. */
int tu_exec(const char *what, const char *const *argv, const char *in_path, const char *dir, int limit_s, char **out,
            char **err);
/* tu_exec with the arguments after exe listed, NULL-terminated. */
int tu_run(const char *dir, int limit_s, char **out, char **err, const char *exe, ...);

#endif
