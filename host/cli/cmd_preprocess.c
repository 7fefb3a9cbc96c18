/* cmd_preprocess.c — `clipcl preprocess`: write the S×S RGB crop OpenAI's preprocessing
 * feeds a CLIP model (before the /255 and mean/std step) as a PNG, to inspect it or to
 * compare it with Python's output. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#endif
#if defined(__has_include)
#if __has_include(<stb_image_write.h>)
#include <stb_image_write.h>
#else
#include <stb/stb_image_write.h>
#endif
#else
#include <stb/stb_image_write.h>
#endif
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#define CMD "preprocess"

static void help(FILE *f)
{
    fprintf(f,
            "usage: clipcl preprocess IMAGE -o OUT.png [--size S]\n\n"
            "Decodes IMAGE (PNG, JPEG, BMP, GIF, TGA, PSD, PNM), applies OpenAI's CLIP\n"
            "preprocessing (bicubic resize of the shorter side to S as Pillow does it, centre\n"
            "crop, RGB) and writes the S×S 8-bit RGB crop to OUT.png. S defaults to 224.\n"
            "Exit status: 0 written, 2 bad usage or an unreadable image.\n");
}

int cmd_preprocess(int argc, char **argv)
{
    const char *out_path = NULL;
    int size = 224;
    static const struct option opts[] = {{"output", required_argument, 0, 'o'},
                                         {"size", required_argument, 0, 's'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:s:h", opts, NULL)) != -1) {
        char *end;
        long v;
        switch (c) {
        case 'o': out_path = optarg; break;
        case 's':
            errno = 0;
            v = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || v < 1 || v > 8192)
                return cli_fail(2, CMD, "--size '%s' must be an integer in 1..8192", optarg);
            size = (int)v;
            break;
        case 'h': help(stdout); return 0;
        default: help(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        help(stderr);
        return 2;
    }
    if (!out_path)
        return cli_fail(2, CMD, "missing -o OUT.png");
    const char *in_path = argv[optind];

    clipcl_image *img = NULL;
    clipcl_status st = clipcl_image_load(in_path, &img);
    if (st != CLIPCL_OK)
        return cli_lib_fail(CMD, "loading the image", st);
    uint8_t *rgb = malloc((size_t)size * size * 3);
    if (!rgb) {
        clipcl_image_free(img);
        return cli_fail(2, CMD, "out of memory for a %d×%d crop", size, size);
    }
    int rc = 0, w, h;
    clipcl_image_size(img, &w, &h);
    st = clipcl_image_crop_rgb8(img, size, rgb);
    if (st != CLIPCL_OK) {
        rc = cli_lib_fail(CMD, "preprocessing", st);
    } else {
        errno = 0;
        if (!stbi_write_png(out_path, size, size, 3, rgb, size * 3))
            rc = cli_fail(2, CMD, "cannot write %s%s%s", out_path, errno ? ": " : "",
                          errno ? strerror(errno) : "");
        else
            printf("%s: %d×%d RGB crop of %s (%d×%d)\n", out_path, size, size, in_path, w, h);
    }
    free(rgb);
    clipcl_image_free(img);
    return rc;
}
