/* testutil.c — helpers shared by the tests. */
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

const char *tu_data(char *buf, size_t cap, const char *rel)
{
    snprintf(buf, cap, "%s/%s", TEST_DATA_DIR, rel);
    return buf;
}

char *tu_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/clipcl-test-XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    ck_assert_msg(d != NULL, "mkdtemp failed");
    return strdup(d);
}

void tu_rmtree(const char *dir)
{
    if (!dir || strncmp(dir, "/tmp", 4) != 0 || strstr(dir, "clipcl-test-") == NULL) return;
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", dir);
}

void tu_rand(float *x, size_t n, uint64_t seed, float lo, float hi)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        x[i] = lo + (hi - lo) * (float)((s >> 11) * (1.0 / 9007199254740992.0));
    }
}

double tu_max_rel(const float *a, const float *b, size_t n)
{
    double dmax = 0, bmax = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= dmax)) dmax = d;
        if (fabs(b[i]) > bmax) bmax = fabs(b[i]);
    }
    return bmax > 0 ? dmax / bmax : dmax;
}

clipcl_context *tu_context(void)
{
    clipcl_context *ctx = NULL;
    clipcl_context_params p = clipcl_context_default_params();
    clipcl_status st = clipcl_context_create(&p, &ctx);
    ck_assert_msg(st == CLIPCL_OK, "context: %s", clipcl_errmsg());
    return ctx;
}

int tu_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

int tu_sh(const char *cmd, char **out)
{
    FILE *p = popen(cmd, "r");
    ck_assert_msg(p != NULL, "popen failed: %s", cmd);
    size_t cap = 1 << 16, n = 0, r;
    char *buf = malloc(cap);
    ck_assert(buf != NULL);
    while ((r = fread(buf + n, 1, cap - 1 - n, p)) > 0) {
        n += r;
        if (cap - 1 - n == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
            ck_assert(buf != NULL);
        }
    }
    buf[n] = '\0';
    int st = pclose(p);
    if (out) *out = buf;
    else free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
