/* testutil.h — shared helpers for the Check test programs. */
#ifndef CLIPCL_TESTUTIL_H
#define CLIPCL_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include <check.h>

#include "clipcl.h"

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
/* Runs a suite with the Check runner; returns the process exit status (0 when all pass). */
int tu_run_suite(Suite *s);
/* Runs a shell command; *out (if not NULL) receives its stdout (malloc'd, NUL-terminated).
 * Returns its exit status, -1 if it did not exit normally. */
int tu_sh(const char *cmd, char **out);

#endif
