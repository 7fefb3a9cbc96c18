/* hub.h — fetch CLIP models from the Hugging Face Hub (libcurl) and find them in the local
 * cache. Used by the CLI only: the library never touches the network.
 *
 * Cache layout (documented for users in `clipcl pull --help`):
 *   $XDG_CACHE_HOME/clipcl/<owner>--<name>              revision "main"
 *   $XDG_CACHE_HOME/clipcl/<owner>--<name>@<revision>   any other revision ('/' written %2F)
 * with ~/.cache in place of $XDG_CACHE_HOME when that is unset or not absolute. Each folder
 * holds the repository's files under their own names (config.json, preprocessor_config.json,
 * model.safetensors, or open_clip_config.json + open_clip_model.safetensors), so it is a
 * plain model folder that `-m DIR` accepts too. A file appears under its final name only
 * after its size and sha256 were verified; partial downloads are FILE.part (+ FILE.part.etag,
 * the checksum the partial data belongs to) and are resumed by the next pull.
 *
 * Environment, as in huggingface_hub: HF_ENDPOINT (default https://huggingface.co),
 * HF_TOKEN (sent as "Authorization: Bearer" to the Hub only, never to the CDN it redirects
 * to), HF_HUB_OFFLINE=1 (never touch the network). */
#ifndef CLIPCL_HUB_H
#define CLIPCL_HUB_H

#include <stddef.h>
#include <stdint.h>

#define HUB_DEFAULT_REPO "openai/clip-vit-base-patch32"
#define HUB_DEFAULT_REVISION "main"
#define HUB_DEFAULT_ENDPOINT "https://huggingface.co"

/* Finds the model folder for a -m argument and writes its path to out_dir.
 * model_arg: a folder (used as-is when it holds config.json or open_clip_config.json), or a
 * Hub repository "owner/name" (optionally "owner/name@revision") looked up in the cache and,
 * when allow_download is set and it is missing there, pulled first (progress on stderr).
 * NULL means HUB_DEFAULT_REPO. Returns 0, or prints one line on stderr and returns 2. */
int hub_resolve_model(const char *model_arg, int allow_download, char *out_dir, size_t cap);

/* Downloads a repository's model files into out_dir (NULL: the cache folder above) and
 * writes the folder's path to final_dir. who prefixes the messages ("clipcl pull").
 * Returns 0; 1 when the download failed (network, checksum); 2 for a bad or unknown
 * repository, revision or folder. Errors are printed as one line on stderr. */
int hub_pull(const char *who, const char *repo, const char *revision, const char *out_dir,
             int quiet, char *final_dir, size_t cap);

/* Whether s is a Hub repository id "owner/name" (each part as huggingface_hub's
 * validate_repo_id wants it: [A-Za-z0-9_.-], 1-96 characters, starting and ending with a
 * letter, digit or '_', no "--" or ".."; not ending in ".git"). */
int hub_valid_repo_id(const char *s);

/* The clipcl cache folder, $XDG_CACHE_HOME/clipcl (or ~/.cache/clipcl); 0, or -1 when no
 * home is known or the path does not fit. It may not exist yet. Model folders in it always
 * contain "--" (repository ids cannot), so other caches can live beside them in names
 * without "--" (e.g. classes/). */
int hub_cache_root(char *out, size_t cap);

/* The cache folder of repo at revision (NULL = main), per the layout above; 0 or -1 when the
 * path does not fit or no cache root is known. */
int hub_cache_dir(const char *repo, const char *revision, char *out, size_t cap);

/* SHA-256 (FIPS 180-4), used to verify downloads against the Hub's published checksum. */
typedef struct {
    uint32_t h[8];
    uint64_t nbytes;
    uint8_t buf[64];
    size_t nbuf;
} hub_sha256;

void hub_sha256_init(hub_sha256 *s);
void hub_sha256_update(hub_sha256 *s, const void *data, size_t n);
void hub_sha256_final(hub_sha256 *s, uint8_t digest[32]);
/* Hex digest (64 lowercase digits + NUL) of a whole file; 0, or -1 when it cannot be read. */
int hub_sha256_file(const char *path, char hex[65]);

#endif
