/* main.c — `clipcl <command>`: dispatch to the sub-commands. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    cli_cmd_fn fn;
    const char *help;
} commands[] = {
    /* one line per command, in the order `clipcl --help` lists them */
    {"classify", cmd_classify, "zero-shot classification of images against labels"},
    {"verify", cmd_verify, "compare a model's outputs on this device with a reference dump"},
    {"pull", cmd_pull, "download a model from the Hugging Face Hub into the cache"},
    {"preprocess", cmd_preprocess, "write an image's OpenAI-preprocessed RGB crop as a PNG"},
    {"tokenize", cmd_tokenize, "print CLIP token ids of texts (arguments or JSON lines)"},
    {"devices", cmd_devices, "list OpenCL platforms and devices"},
    {"bench", cmd_bench, "measure throughput, latency, memory and per-op time per device"},
    {"embed", cmd_embed, "write image or text embeddings as a .npy matrix with row sources"},
    {"index", cmd_index, "embed a folder of images into a searchable index (incremental)"},
    {"search", cmd_search, "search an index by text or by image (exact cosine, top K)"},
    {"tune", cmd_tune, "tune CLBlast GEMM parameters for a device at a model's shapes"},
    {"probe", cmd_probe, "train linear probes on labelled folders (few-shot too); predict with them"},
    {"eval", cmd_eval, "accuracy, per-class accuracy and confusion of zero-shot or a probe on labelled folders"},
    {NULL, NULL, NULL},
};

int cli_fail(int code, const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "clipcl %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

int cli_lib_fail(const char *cmd, const char *what, clipcl_status st)
{
    const char *msg = clipcl_errmsg();
    return cli_fail(2, cmd, "%s: %s", what, msg && *msg ? msg : clipcl_status_str(st));
}

static void usage(FILE *f)
{
    fprintf(f, "usage: clipcl <command> [options]   (clipcl <command> --help for details)\n\n"
               "commands:\n");
    for (int i = 0; commands[i].name; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\nclipcl %s — CLIP on any OpenCL device\n", CLIPCL_VERSION);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("clipcl %s\n", CLIPCL_VERSION);
        return 0;
    }
    for (int i = 0; commands[i].name; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "clipcl: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
