/* bench_gemm.c — CLBlast SGEMM speed at given shapes, for the call ops_gemm_nt makes and for
 * alternative operand layouts, with optional CLBlast parameter overrides. A standalone
 * measuring tool behind bench/NOTES.md ("GEMM tuning"); it does not touch the library.
 *
 *   bench_gemm [-d DEV_INDEX] [-l nt|cm|nn|cmnn|fm|fmt|fm0] [-r RUNS] [-c]
 *              [-p Kernel:NAME=V,NAME=V,...]... MxNxK...
 *
 * Every layout computes the same C[M,N] = A[M,K] * W^T, W a weight [N,K] (PyTorch [out,in]):
 *   nt    row-major, B = W [out,in] transposed           (what ops_gemm_nt does today)
 *   cm    column-major, C^T = W * A^T, W [out,in]         (same buffers, operands swapped)
 *   nn    row-major, B = W^T stored [in,out]              (weights transposed at load time)
 *   cmnn  column-major, C^T = W * A^T, W stored [in,out]
 *   fm    feature-major activations: A stored [K,M] and C stored [N,M] (A^T, C^T); row-major
 *         C^T = W * A^T with W [out,in] — every operand already lies as kernel 1 (GEMMK=1)
 *         wants it, so with M a multiple of NWG CLBlast copies nothing
 *   fmt   A stored [K,M] (feature-major) and C row-major [M,N]: column-major C^T = W * A with
 *         both operands transposed — kernel 1 copies only C
 *   fm0   the same activations with W stored [in,out]; column-major C = A * W^T — the layout
 *         kernel 0 (GEMMK=0) wants for every operand
 * -c checks each product against a plain-C reference. Times are wall clock per call
 * (clFinish), best of RUNS after one warm-up; GFLOP/s = 2MNK / time. */
#include <CL/cl.h>
#include <clblast_c.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int apply_override(cl_device_id dev, const char *spec)
{
    char kern[64], buf[1024];
    const char *colon = strchr(spec, ':');
    if (!colon || (size_t)(colon - spec) >= sizeof kern || strlen(colon + 1) >= sizeof buf) return -1;
    memcpy(kern, spec, (size_t)(colon - spec));
    kern[colon - spec] = '\0';
    snprintf(buf, sizeof buf, "%s", colon + 1);
    const char *names[32];
    size_t vals[32];
    size_t n = 0;
    for (char *tok = strtok(buf, ","); tok && n < 32; tok = strtok(NULL, ",")) {
        char *eq = strchr(tok, '=');
        if (!eq) return -1;
        *eq = '\0';
        names[n] = tok;
        vals[n++] = strtoul(eq + 1, NULL, 10);
    }
    CLBlastStatusCode s = CLBlastOverrideParameters(dev, kern, CLBlastPrecisionSingle, n, names, vals);
    if (s != CLBlastSuccess) {
        fprintf(stderr, "CLBlastOverrideParameters(%s) failed: %d\n", kern, (int)s);
        return -1;
    }
    return 0;
}

static int feature_major(const char *layout) { return !strcmp(layout, "fm") || !strcmp(layout, "fm0"); }
static int a_feature_major(const char *layout) { return feature_major(layout) || !strcmp(layout, "fmt"); }

static CLBlastStatusCode gemm(const char *layout, size_t M, size_t N, size_t K, cl_mem A, cl_mem W, cl_mem Wt,
                              cl_mem C, cl_command_queue *q)
{
    if (!strcmp(layout, "fm"))
        return CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, N, M, K, 1.0f, W, 0, K, A,
                            0, M, 0.0f, C, 0, M, q, NULL);
    if (!strcmp(layout, "fmt"))
        return CLBlastSgemm(CLBlastLayoutColMajor, CLBlastTransposeYes, CLBlastTransposeYes, N, M, K, 1.0f, W, 0, K, A,
                            0, M, 0.0f, C, 0, N, q, NULL);
    if (!strcmp(layout, "fm0"))
        return CLBlastSgemm(CLBlastLayoutColMajor, CLBlastTransposeNo, CLBlastTransposeYes, M, N, K, 1.0f, A, 0, M,
                            Wt, 0, N, 0.0f, C, 0, M, q, NULL);
    if (!strcmp(layout, "nt"))
        return CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeYes, M, N, K, 1.0f, A, 0, K,
                            W, 0, K, 0.0f, C, 0, N, q, NULL);
    if (!strcmp(layout, "cm"))
        return CLBlastSgemm(CLBlastLayoutColMajor, CLBlastTransposeYes, CLBlastTransposeNo, N, M, K, 1.0f, W, 0, K,
                            A, 0, K, 0.0f, C, 0, N, q, NULL);
    if (!strcmp(layout, "nn"))
        return CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, M, N, K, 1.0f, A, 0, K,
                            Wt, 0, N, 0.0f, C, 0, N, q, NULL);
    /* cmnn */
    return CLBlastSgemm(CLBlastLayoutColMajor, CLBlastTransposeNo, CLBlastTransposeNo, N, M, K, 1.0f, Wt, 0, N, A,
                        0, K, 0.0f, C, 0, N, q, NULL);
}

int main(int argc, char **argv)
{
    const char *layout = "nt";
    int runs = 5, check = 0, dev_index = 0, i;
    cl_platform_id plats[8];
    cl_uint np = 0;
    if (clGetPlatformIDs(8, plats, &np) != CL_SUCCESS || !np) {
        fprintf(stderr, "no OpenCL platform\n");
        return 2;
    }
    cl_device_id devs[32];
    int nd = 0;
    for (cl_uint p = 0; p < np && nd < 32; p++) {
        cl_uint n = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, (cl_uint)(32 - nd), devs + nd, &n) == CL_SUCCESS) nd += (int)n;
    }
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-d") && i + 1 < argc) dev_index = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-l") && i + 1 < argc) layout = argv[++i];
        else if (!strcmp(argv[i], "-r") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-c")) check = 1;
        else if (!strcmp(argv[i], "-p") && i + 1 < argc) i++; /* applied below, once the device is known */
        else {
            fprintf(stderr, "usage: bench_gemm [-d DEV] [-l nt|cm|nn|cmnn|fm|fmt|fm0] [-r RUNS] [-c] [-p K:N=V,...] MxNxK...\n");
            return 2;
        }
    }
    if (dev_index < 0 || dev_index >= nd || runs < 1 || runs > 1000 ||
        (strcmp(layout, "nt") && strcmp(layout, "cm") && strcmp(layout, "nn") && strcmp(layout, "cmnn") &&
         !a_feature_major(layout))) {
        fprintf(stderr, "bad device, runs or layout\n");
        return 2;
    }
    cl_device_id dev = devs[dev_index];
    for (int j = 1; j < i; j++)
        if (!strcmp(argv[j], "-p") && apply_override(dev, argv[++j])) return 2;
    cl_int err;
    cl_context ctx = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
    if (!ctx) return 2;
    cl_command_queue q = clCreateCommandQueue(ctx, dev, 0, &err);
    if (!q) return 2;
    int rc = 0;
    for (; i < argc; i++) {
        size_t M, N, K;
        if (sscanf(argv[i], "%zux%zux%zu", &M, &N, &K) != 3 || !M || !N || !K || M * N > (1u << 26) ||
            M * K > (1u << 26) || N * K > (1u << 26)) {
            fprintf(stderr, "bad shape '%s'\n", argv[i]);
            return 2;
        }
        float *a = malloc(M * K * 4), *w = malloc(N * K * 4), *wt = malloc(N * K * 4), *c = malloc(M * N * 4);
        if (!a || !w || !wt || !c) return 2;
        srand(1);
        for (size_t x = 0; x < M * K; x++) a[x] = (float)rand() / RAND_MAX - 0.5f;
        for (size_t x = 0; x < N * K; x++) w[x] = (float)rand() / RAND_MAX - 0.5f;
        for (size_t n = 0; n < N; n++)
            for (size_t k = 0; k < K; k++) wt[k * N + n] = w[n * K + k];
        float *at = malloc(M * K * 4);
        if (!at) return 2;
        for (size_t m = 0; m < M; m++)
            for (size_t k = 0; k < K; k++) at[k * M + m] = a[m * K + k];
        cl_mem A = clCreateBuffer(ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, M * K * 4,
                                  a_feature_major(layout) ? at : a, &err);
        cl_mem W = clCreateBuffer(ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, N * K * 4, w, &err);
        cl_mem Wt = clCreateBuffer(ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, N * K * 4, wt, &err);
        cl_mem C = clCreateBuffer(ctx, CL_MEM_READ_WRITE, M * N * 4, NULL, &err);
        double best = 1e30, t0 = now();
        CLBlastStatusCode s = gemm(layout, M, N, K, A, W, Wt, C, &q);
        clFinish(q);
        double first = now() - t0;
        for (int r = 0; r < runs && s == CLBlastSuccess; r++) {
            t0 = now();
            s = gemm(layout, M, N, K, A, W, Wt, C, &q);
            clFinish(q);
            double t = now() - t0;
            if (t < best) best = t;
        }
        if (s != CLBlastSuccess) {
            printf("%-16s %-5s CLBlast error %d\n", argv[i], layout, (int)s);
            rc = 1;
        } else {
            double maxerr = 0;
            if (check) {
                clEnqueueReadBuffer(q, C, CL_TRUE, 0, M * N * 4, c, 0, NULL, NULL);
                for (size_t m = 0; m < M; m++)
                    for (size_t n = 0; n < N; n++) {
                        double ref = 0;
                        for (size_t k = 0; k < K; k++) ref += (double)a[m * K + k] * w[n * K + k];
                        double e = fabs(ref - c[feature_major(layout) ? n * M + m : m * N + n]);
                        if (!(e <= maxerr)) maxerr = e; /* NaN sticks */
                    }
                if (!(maxerr < 1e-3)) rc = 1;
            }
            printf("%-16s %-5s %8.3f ms  %7.1f GFLOP/s  (first call %.0f ms)", argv[i], layout, best * 1e3,
                   2.0 * M * N * K / best * 1e-9, first * 1e3);
            if (check) printf("  max|err| %.2g", maxerr);
            printf("\n");
        }
        fflush(stdout);
        clReleaseMemObject(A);
        clReleaseMemObject(W);
        clReleaseMemObject(Wt);
        clReleaseMemObject(C);
        free(a);
        free(at);
        free(w);
        free(wt);
        free(c);
    }
    clReleaseCommandQueue(q);
    clReleaseContext(ctx);
    return rc;
}
