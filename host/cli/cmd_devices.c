/* cmd_devices.c — `clipcl devices`: every OpenCL platform and device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common.h"
#include "tune.h"

static void help(FILE *f)
{
    fprintf(f, "usage: clipcl devices [--json]\n\n"
               "Lists every OpenCL device: index (what -d/--device and $CLIPCL_DEVICE accept), platform,\n"
               "vendor, name, type, compute units, global memory, fp16 support, OpenCL C version.\n"
               "'*' marks the device used when none is chosen. The GEMM line says whether CLBlast runs\n"
               "with parameters tuned for the device (clipcl tune), a built-in row, or its defaults.\n");
}

int cmd_devices(int argc, char **argv)
{
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { help(stdout); return 0; }
        else { help(stderr); return 2; }
    }
    int n = 0;
    clipcl_status st = clipcl_devices(NULL, 0, &n);
    if (st) return cli_lib_fail("devices", "listing OpenCL devices", st);
    clipcl_device_info *d = calloc((size_t)n, sizeof *d);
    if (!d) return cli_fail(2, "devices", "out of memory");
    st = clipcl_devices(d, n, &n);
    if (st) {
        free(d);
        return cli_lib_fail("devices", "listing OpenCL devices", st);
    }
    if (json) fputs("[", stdout);
    for (int i = 0; i < n; i++) {
        const char *type = d[i].is_gpu ? "gpu" : d[i].is_cpu ? "cpu" : "other";
        char tdesc[256];
        int tuned = tune_preview(&d[i], tdesc, sizeof tdesc);
        if (json) {
            printf("%s\n  {\"index\": %d, \"platform\": ", i ? "," : "", d[i].index);
            cli_json_str(stdout, d[i].platform);
            fputs(", \"vendor\": ", stdout);
            cli_json_str(stdout, d[i].vendor);
            fputs(", \"name\": ", stdout);
            cli_json_str(stdout, d[i].name);
            printf(", \"type\": \"%s\", \"compute_units\": %d, \"global_mem\": %llu, \"max_alloc\": %llu, "
                   "\"fp16\": %s, \"vector_width\": %d, \"opencl_c\": ",
                   type, d[i].compute_units, (unsigned long long)d[i].global_mem, (unsigned long long)d[i].max_alloc,
                   d[i].fp16 ? "true" : "false", d[i].vector_width);
            cli_json_str(stdout, d[i].version);
            fputs(", \"driver\": ", stdout);
            cli_json_str(stdout, d[i].driver);
            printf(", \"default\": %s, \"gemm_tuning\": \"%s\", \"gemm_tuning_detail\": ", d[i].is_default ? "true" : "false",
                   tuned == 2 ? "tuned" : tuned == 1 ? "built-in" : "clblast-default");
            cli_json_str(stdout, tdesc);
            fputs("}", stdout);
        } else {
            printf("%c %d  %s\n", d[i].is_default ? '*' : ' ', d[i].index, d[i].name);
            printf("     platform %s | vendor %s | %s | %d compute units | %.1f GiB | fp16 %s | float vectors of %d | %s | "
                   "driver %s\n",
                   d[i].platform, d[i].vendor, type, d[i].compute_units, d[i].global_mem / 1073741824.0,
                   d[i].fp16 ? "yes" : "no", d[i].vector_width, d[i].version, d[i].driver);
            printf("     GEMM parameters: %s\n", tdesc);
        }
    }
    if (json) fputs("\n]\n", stdout);
    free(d);
    return 0;
}
