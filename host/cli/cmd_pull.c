/* cmd_pull.c — `clipcl pull`: download a model repository from the Hugging Face Hub. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "hub.h"

static void pull_usage(FILE *f)
{
    fprintf(f,
            "usage: clipcl pull [REPO] [--revision R] [-o DIR] [--quiet]\n"
            "\n"
            "Downloads config.json, preprocessor_config.json and model.safetensors of a Hugging\n"
            "Face model repository (open_clip repositories: open_clip_config.json and\n"
            "open_clip_model.safetensors) and prints the folder they are in. Files are checked\n"
            "against the size and sha256 the Hub publishes; a cut download is resumed by running\n"
            "the command again.\n"
            "\n"
            "  REPO               owner/name on the Hub (default %s)\n"
            "  -r, --revision R   branch, tag or commit (default %s)\n"
            "  -o, --output DIR   download into DIR instead of the cache\n"
            "  -q, --quiet        no progress bar\n"
            "\n"
            "Cache: $XDG_CACHE_HOME/clipcl/<owner>--<name> (~/.cache when XDG_CACHE_HOME is\n"
            "unset), <owner>--<name>@<revision> for revisions other than main. Other commands\n"
            "accept -m owner/name and find the model there.\n"
            "Environment: HF_ENDPOINT (default %s), HF_TOKEN (private or gated\n"
            "repositories), HF_HUB_OFFLINE=1 (no network).\n",
            HUB_DEFAULT_REPO, HUB_DEFAULT_REVISION, HUB_DEFAULT_ENDPOINT);
}

int cmd_pull(int argc, char **argv)
{
    const char *repo = NULL, *revision = NULL, *out = NULL;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            pull_usage(stdout);
            return 0;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (!strcmp(a, "-r") || !strcmp(a, "--revision") || !strcmp(a, "-o") ||
                   !strcmp(a, "--output")) {
            if (i + 1 >= argc)
                return cli_fail(2, "pull", "%s needs a value", a);
            if (!strcmp(a, "-o") || !strcmp(a, "--output"))
                out = argv[++i];
            else
                revision = argv[++i];
        } else if (!strncmp(a, "--revision=", 11)) {
            revision = a + 11;
        } else if (!strncmp(a, "--output=", 9)) {
            out = a + 9;
        } else if (a[0] == '-' && a[1]) {
            return cli_fail(2, "pull", "unknown option '%s' (see clipcl pull --help)", a);
        } else if (repo) {
            return cli_fail(2, "pull", "only one repository at a time ('%s' and '%s')", repo, a);
        } else {
            repo = a;
        }
    }
    if (out && !*out)
        return cli_fail(2, "pull", "-o needs a folder");
    if (repo && !hub_valid_repo_id(repo))
        return cli_fail(2, "pull", "'%s' is not a Hub repository id (expected owner/name)", repo);

    char dir[4096];
    int rc = hub_pull("clipcl pull", repo, revision, out, quiet, dir, sizeof dir);
    if (rc)
        return rc;
    printf("%s\n", dir);
    return 0;
}
