/* hub.c — `clipcl pull` and the -m model lookup: download a Hugging Face repository's model
 * files with libcurl into the cache (layout in hub.h), resuming cut transfers and verifying
 * each file against the size and sha256 the Hub publishes, the way huggingface_hub's
 * get_hf_file_metadata + http_get do it:
 *   HEAD {endpoint}/{repo}/resolve/{revision}/{file}, redirects not followed except to the
 *   same origin (renamed repositories); a redirect to another host (the CDN) carries the
 *   metadata itself: X-Linked-Size, X-Linked-Etag (the LFS sha256, quoted), X-Repo-Commit.
 *   Small (non-LFS) files answer 200 with ETag (the git blob id) and Content-Length.
 * Then GET the final location into FILE.part (Range: bytes=N- to resume), check, rename.
 *
 * The SHA-256 part comes first and needs nothing but libc: tests/test_pull.c compiles it
 * alone (HUB_SHA256_ONLY) to check it against the FIPS 180-4 vectors. */
#include "hub.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- SHA-256 (FIPS 180-4) ------------------------------------------------------------ */

static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

static uint32_t rotr32(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void sha256_block(uint32_t h[8], const uint8_t *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = rotr32(w[i - 15], 7) ^ rotr32(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = rotr32(w[i - 2], 17) ^ rotr32(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = hh + (rotr32(e, 6) ^ rotr32(e, 11) ^ rotr32(e, 25)) + ((e & f) ^ (~e & g)) +
                      sha256_k[i] + w[i];
        uint32_t t2 = (rotr32(a, 2) ^ rotr32(a, 13) ^ rotr32(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        hh = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += hh;
}

void hub_sha256_init(hub_sha256 *s)
{
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, h0, sizeof h0);
    s->nbytes = 0;
    s->nbuf = 0;
}

void hub_sha256_update(hub_sha256 *s, const void *data, size_t n)
{
    const uint8_t *p = data;
    s->nbytes += n;
    if (s->nbuf) {
        size_t take = 64 - s->nbuf < n ? 64 - s->nbuf : n;
        memcpy(s->buf + s->nbuf, p, take);
        s->nbuf += take;
        p += take;
        n -= take;
        if (s->nbuf < 64)
            return;
        sha256_block(s->h, s->buf);
        s->nbuf = 0;
    }
    for (; n >= 64; p += 64, n -= 64)
        sha256_block(s->h, p);
    memcpy(s->buf, p, n);
    s->nbuf = n;
}

void hub_sha256_final(hub_sha256 *s, uint8_t digest[32])
{
    uint64_t bits = s->nbytes * 8;
    s->buf[s->nbuf++] = 0x80;
    if (s->nbuf > 56) {
        memset(s->buf + s->nbuf, 0, 64 - s->nbuf);
        sha256_block(s->h, s->buf);
        s->nbuf = 0;
    }
    memset(s->buf + s->nbuf, 0, 56 - s->nbuf);
    for (int i = 0; i < 8; i++)
        s->buf[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    sha256_block(s->h, s->buf);
    for (int i = 0; i < 8; i++) {
        digest[4 * i] = (uint8_t)(s->h[i] >> 24);
        digest[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
        digest[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
        digest[4 * i + 3] = (uint8_t)s->h[i];
    }
}

/* Hashes the first len bytes of fd (all of it when len < 0) into a fresh state; returns the
 * number of bytes hashed, or -1 on a read error. */
static int64_t sha256_fd(int fd, int64_t len, hub_sha256 *s)
{
    enum { CHUNK = 1 << 20 };
    uint8_t *buf = malloc(CHUNK);
    int64_t done = 0;
    hub_sha256_init(s);
    if (!buf)
        return -1;
    while (len < 0 || done < len) {
        size_t want = len < 0 || len - done > CHUNK ? CHUNK : (size_t)(len - done);
        ssize_t r = pread(fd, buf, want, (off_t)done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 || (r == 0 && len >= 0)) {
            done = -1;
            break;
        }
        if (r == 0)
            break;
        hub_sha256_update(s, buf, (size_t)r);
        done += r;
    }
    free(buf);
    return done;
}

static void sha256_hex(hub_sha256 *s, char hex[65])
{
    uint8_t d[32];
    hub_sha256_final(s, d);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

int hub_sha256_file(const char *path, char hex[65])
{
    hub_sha256 s;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int64_t n = sha256_fd(fd, -1, &s);
    close(fd);
    if (n < 0)
        return -1;
    sha256_hex(&s, hex);
    return 0;
}

#ifndef HUB_SHA256_ONLY
/* ---- everything below talks to the network ------------------------------------------ */

#include <ctype.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include <curl/curl.h>

#include "clipcl.h"

#define URL_MAX 4096
#define PATH_MAX_HUB 4096
#define MAX_ATTEMPTS 3    /* per file and per run; a later run resumes from FILE.part */
#define MAX_HUB_HOPS 10   /* same-origin redirects followed while reading metadata */

static int env_true(const char *name)
{
    const char *v = getenv(name);
    return v && (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
                 !strcasecmp(v, "on"));
}

static int hub_msg(int code, const char *who, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int hub_msg(int code, const char *who, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", who);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

/* ---- names and paths ------------------------------------------------------------------ */

static int is_word(int c) { return isalnum(c) || c == '_'; }

/* One segment of a repo id: [\w.-]{1,96}, starting and ending with a word character. */
static int valid_segment(const char *s, size_t n)
{
    if (n < 1 || n > 96 || !is_word((unsigned char)s[0]) || !is_word((unsigned char)s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_word((unsigned char)s[i]) && s[i] != '-' && s[i] != '.')
            return 0;
    return 1;
}

int hub_valid_repo_id(const char *s)
{
    if (!s || strstr(s, "--") || strstr(s, ".."))
        return 0;
    size_t n = strlen(s);
    if (n >= 4 && !strcmp(s + n - 4, ".git"))
        return 0;
    /* The Hub still knows a few legacy ids without owner, none of them CLIP models; asking
     * for owner/name keeps a mistyped folder name from being taken for a repository. */
    const char *slash = strchr(s, '/');
    if (!slash || strchr(slash + 1, '/'))
        return 0;
    return valid_segment(s, (size_t)(slash - s)) && valid_segment(slash + 1, strlen(slash + 1));
}

static int valid_revision(const char *r)
{
    size_t n = strlen(r);
    if (n == 0 || n > 255)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)r[i] < 0x20 || r[i] == 0x7f)
            return 0;
    return 1;
}

int hub_cache_root(char *out, size_t cap)
{
    const char *xdg = getenv("XDG_CACHE_HOME");
    int n;
    /* The XDG spec says a relative value is invalid and must be ignored. */
    if (xdg && xdg[0] == '/') {
        n = snprintf(out, cap, "%s/clipcl", xdg);
    } else {
        const char *home = getenv("HOME");
        if (!home || !*home) {
            struct passwd *pw = getpwuid(getuid());
            home = pw ? pw->pw_dir : NULL;
        }
        if (!home || !*home)
            return -1;
        n = snprintf(out, cap, "%s/.cache/clipcl", home);
    }
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

int hub_cache_dir(const char *repo, const char *revision, char *out, size_t cap)
{
    char root[PATH_MAX_HUB], name[512];
    if (!hub_valid_repo_id(repo) || hub_cache_root(root, sizeof root))
        return -1;
    size_t k = 0;
    for (const char *p = repo; *p && k + 3 < sizeof name; p++) {
        if (*p == '/') {
            name[k++] = '-';
            name[k++] = '-';
        } else {
            name[k++] = *p;
        }
    }
    name[k] = 0;
    int n;
    if (!revision || !strcmp(revision, HUB_DEFAULT_REVISION)) {
        n = snprintf(out, cap, "%s/%s", root, name);
    } else {
        if (!valid_revision(revision))
            return -1;
        char rev[3 * 256];
        size_t j = 0;
        for (const char *p = revision; *p; p++) {
            if (*p == '/' || *p == '%') {
                j += (size_t)snprintf(rev + j, sizeof rev - j, "%%%02X", (unsigned char)*p);
            } else {
                rev[j++] = *p;
            }
        }
        rev[j] = 0;
        n = snprintf(out, cap, "%s/%s@%s", root, name, rev);
    }
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

static int mkdir_p(const char *path)
{
    char tmp[PATH_MAX_HUB];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof tmp)
        return -1;
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0755) && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0755) && errno != EEXIST)
        return -1;
    struct stat st;
    return stat(tmp, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

static int is_file(const char *dir, const char *name)
{
    char p[PATH_MAX_HUB];
    struct stat st;
    if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, name) >= sizeof p)
        return 0;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) ? (int64_t)st.st_size : -1;
}

/* ---- a download session --------------------------------------------------------------- */

typedef struct {
    const char *who;
    const char *repo;
    const char *revision;
    char endpoint[1024];
    char dir[PATH_MAX_HUB];
    char auth[2048];     /* "Authorization: Bearer …" or "" */
    char commit[64];     /* X-Repo-Commit of the first file, to notice a branch moving */
    int progress;
    CURL *curl;
    char errbuf[CURL_ERROR_SIZE];
} session;

/* Headers of one response; reset at each status line so only the last response counts. */
typedef struct {
    char linked_etag[160];
    char etag[160];
    char commit[64];
    char error_code[64];
    char error_message[256];
    char content_range[128];
    int64_t linked_size;
    int64_t content_length;
} resp_headers;

static void copy_trimmed(char *dst, size_t cap, const char *v, size_t n)
{
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    while (n && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = 0;
}

static int64_t parse_size(const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 0)
        return -1;
    return (int64_t)v;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    resp_headers *h = ud;
    size_t n = size * nmemb;
    if (n >= 5 && !strncmp(data, "HTTP/", 5)) {
        memset(h, 0, sizeof *h);
        h->linked_size = h->content_length = -1;
        return n;
    }
    const char *colon = memchr(data, ':', n);
    if (!colon)
        return n;
    size_t klen = (size_t)(colon - data);
    const char *v = colon + 1;
    size_t vlen = n - klen - 1;
    char tmp[64];
#define HDR(name) (klen == sizeof(name) - 1 && !strncasecmp(data, name, klen))
    if (HDR("X-Linked-Etag")) {
        copy_trimmed(h->linked_etag, sizeof h->linked_etag, v, vlen);
    } else if (HDR("ETag")) {
        copy_trimmed(h->etag, sizeof h->etag, v, vlen);
    } else if (HDR("X-Repo-Commit")) {
        copy_trimmed(h->commit, sizeof h->commit, v, vlen);
    } else if (HDR("X-Error-Code")) {
        copy_trimmed(h->error_code, sizeof h->error_code, v, vlen);
    } else if (HDR("X-Error-Message")) {
        copy_trimmed(h->error_message, sizeof h->error_message, v, vlen);
    } else if (HDR("Content-Range")) {
        copy_trimmed(h->content_range, sizeof h->content_range, v, vlen);
    } else if (HDR("X-Linked-Size")) {
        copy_trimmed(tmp, sizeof tmp, v, vlen);
        h->linked_size = parse_size(tmp);
    } else if (HDR("Content-Length")) {
        copy_trimmed(tmp, sizeof tmp, v, vlen);
        h->content_length = parse_size(tmp);
    }
#undef HDR
    return n;
}

/* huggingface_hub's _normalize_etag: drop a weak marker W/ and the quotes. */
static void normalize_etag(char *dst, size_t cap, const char *etag)
{
    if (!strncmp(etag, "W/", 2))
        etag += 2;
    size_t n = strlen(etag);
    while (n && *etag == '"') {
        etag++;
        n--;
    }
    while (n && etag[n - 1] == '"')
        n--;
    copy_trimmed(dst, cap, etag, n);
}

static int is_sha256_hex(const char *s)
{
    if (strlen(s) != 64)
        return 0;
    for (int i = 0; i < 64; i++)
        if (!isxdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

/* scheme://host:port of url (default port filled in), for the same-origin checks. */
static int url_origin(const char *url, char *out, size_t cap)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    int rc = -1;
    if (!u || curl_url_set(u, CURLUPART_URL, url, 0) ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT))
        goto done;
    for (char *p = host; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if ((size_t)snprintf(out, cap, "%s://%s:%s", scheme, host, port) < cap)
        rc = 0;
done:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

static int same_origin(const char *a, const char *b)
{
    char oa[1200], ob[1200];
    return !url_origin(a, oa, sizeof oa) && !url_origin(b, ob, sizeof ob) && !strcmp(oa, ob);
}

static struct curl_slist *request_headers(const session *s, const char *url)
{
    struct curl_slist *h = NULL;
    /* the Hub's token must never reach the CDN that the Hub redirects to */
    if (s->auth[0] && same_origin(url, s->endpoint))
        h = curl_slist_append(h, s->auth);
    /* compressed transfers would make Content-Length differ from the file's size */
    h = curl_slist_append(h, "Accept-Encoding: identity");
    return h;
}

static void base_options(session *s, const char *url)
{
    CURL *c = s->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "clipcl/" CLIPCL_VERSION);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, s->errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 20L);
    /* a stalled connection (under 1 byte/s for a minute) counts as cut, and is resumed */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    s->errbuf[0] = 0;
}

static const char *curl_msg(const session *s, CURLcode rc)
{
    return s->errbuf[0] ? s->errbuf : curl_easy_strerror(rc);
}

/* What the Hub says about one file. */
typedef struct {
    long status;           /* final HTTP status of the metadata request, 0 if none */
    CURLcode curl_rc;
    resp_headers h;
    char url[URL_MAX];     /* where to GET the bytes */
    char sha256[65];       /* "" when the Hub gave no sha256 (non-LFS file) */
    char etag[160];
    int64_t size;          /* -1 when unknown */
} file_meta;

static int get_metadata(session *s, const char *url, file_meta *m)
{
    char cur[URL_MAX];
    memset(m, 0, sizeof *m);
    m->size = -1;
    snprintf(cur, sizeof cur, "%s", url);
    for (int hop = 0; hop < MAX_HUB_HOPS; hop++) {
        base_options(s, cur);
        struct curl_slist *hdrs = request_headers(s, cur);
        curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(s->curl, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(s->curl, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(s->curl, CURLOPT_TIMEOUT, 60L);
        curl_easy_setopt(s->curl, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(s->curl, CURLOPT_HEADERDATA, &m->h);
        memset(&m->h, 0, sizeof m->h);
        m->h.linked_size = m->h.content_length = -1;
        m->curl_rc = curl_easy_perform(s->curl);
        curl_slist_free_all(hdrs);
        if (m->curl_rc != CURLE_OK)
            return -1;
        curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &m->status);
        int redirect = m->status >= 300 && m->status < 400;
        if (redirect) {
            char *loc = NULL;
            curl_easy_getinfo(s->curl, CURLINFO_REDIRECT_URL, &loc);
            if (!loc || strlen(loc) >= sizeof cur)
                return -1;
            if (same_origin(cur, loc)) {
                snprintf(cur, sizeof cur, "%s", loc);
                continue;
            }
            snprintf(m->url, sizeof m->url, "%s", loc);
        } else if (m->status >= 200 && m->status < 300) {
            snprintf(m->url, sizeof m->url, "%s", cur);
        } else {
            return 0; /* an HTTP error: the caller reads status and X-Error-Code */
        }
        normalize_etag(m->etag, sizeof m->etag, m->h.linked_etag[0] ? m->h.linked_etag : m->h.etag);
        if (is_sha256_hex(m->etag)) {
            for (int i = 0; i < 65; i++)
                m->sha256[i] = (char)tolower((unsigned char)m->etag[i]);
        }
        m->size = m->h.linked_size >= 0 ? m->h.linked_size : redirect ? -1 : m->h.content_length;
        return 0;
    }
    m->status = 310; /* too many redirects */
    return 0;
}

/* ---- progress ------------------------------------------------------------------------- */

typedef struct {
    session *s;
    const char *name;
    int64_t offset;   /* bytes present before this transfer */
    int64_t total;    /* expected size or -1 */
    double t0, last;
    int shown;
} progress;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void human(char *out, size_t cap, double b)
{
    if (b < 1e3)
        snprintf(out, cap, "%.0f B", b);
    else if (b < 1e6)
        snprintf(out, cap, "%.1f kB", b / 1e3);
    else if (b < 1e9)
        snprintf(out, cap, "%.1f MB", b / 1e6);
    else
        snprintf(out, cap, "%.2f GB", b / 1e9);
}

static void draw_progress(progress *p, int64_t now_bytes, int final)
{
    double t = now_s();
    if (!final && t - p->last < 0.1)
        return;
    p->last = t;
    p->shown = 1;
    double el = t - p->t0;
    double rate = el > 0 ? (double)(now_bytes - p->offset) / el : 0;
    char have[32], tot[32], rt[32];
    human(have, sizeof have, (double)now_bytes);
    human(rt, sizeof rt, rate);
    if (p->total > 0) {
        int pct = (int)(100.0 * (double)now_bytes / (double)p->total);
        if (pct > 100)
            pct = 100;
        char bar[26];
        int fill = pct / 4;
        for (int i = 0; i < 25; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[25] = 0;
        human(tot, sizeof tot, (double)p->total);
        fprintf(stderr, "\r%-26s [%s] %3d%%  %s / %s  %s/s\033[K", p->name, bar, pct, have, tot, rt);
    } else {
        fprintf(stderr, "\r%-26s %s  %s/s\033[K", p->name, have, rt);
    }
    if (final)
        fputc('\n', stderr);
    fflush(stderr);
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    progress *p = ud;
    draw_progress(p, p->offset + (int64_t)dlnow, 0);
    return 0;
}

/* ---- one GET into FILE.part ----------------------------------------------------------- */

/* The sha256 of FILE.part's first n bytes, kept up to date as bytes arrive so that a 600 MB
 * file needs no second reading pass. */
typedef struct {
    hub_sha256 st;
    int64_t n;
} running_hash;

typedef struct {
    session *s;
    int fd;
    int64_t offset;       /* where the body starts in the file */
    int64_t written;      /* body bytes written by this transfer */
    int asked_range;
    int started;          /* first body byte seen: status checked */
    int refused;          /* body refused: unexpected status or bad Content-Range */
    int write_errno;
    resp_headers h;
    progress *prog;
    running_hash *hash;   /* NULL when the Hub gave no sha256 */
} transfer;

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    transfer *t = ud;
    size_t n = size * nmemb;
    if (!t->started) {
        long status = 0;
        t->started = 1;
        curl_easy_getinfo(t->s->curl, CURLINFO_RESPONSE_CODE, &status);
        if (status == 206 && t->asked_range) {
            long long start = -1;
            if (sscanf(t->h.content_range, "bytes %lld-", &start) != 1 || start != t->offset) {
                t->refused = 1;
                return 0;
            }
        } else if (status == 200) {
            /* a server that ignores Range sends the whole file: start over */
            if (t->offset > 0) {
                if (ftruncate(t->fd, 0) || lseek(t->fd, 0, SEEK_SET) < 0) {
                    t->write_errno = errno;
                    return 0;
                }
                t->offset = 0;
                if (t->prog)
                    t->prog->offset = 0;
                if (t->hash) {
                    hub_sha256_init(&t->hash->st);
                    t->hash->n = 0;
                }
            }
        } else {
            t->refused = 1;
            return 0;
        }
    }
    for (size_t done = 0; done < n;) {
        ssize_t w = write(t->fd, data + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            t->write_errno = w < 0 ? errno : EIO;
            return 0;
        }
        done += (size_t)w;
    }
    if (t->hash) {
        hub_sha256_update(&t->hash->st, data, n);
        t->hash->n += (int64_t)n;
    }
    t->written += (int64_t)n;
    return n;
}

enum { GET_DONE, GET_RETRY, GET_RESTART, GET_FAIL };

/* One attempt; on GET_FAIL the message is printed and *code set. */
static int get_once(session *s, const file_meta *m, const char *name, int fd, int64_t offset,
                    running_hash *hash, int *code)
{
    transfer t = {.s = s, .fd = fd, .offset = offset, .asked_range = offset > 0, .hash = hash};
    progress prog = {.s = s, .name = name, .offset = offset, .total = m->size};
    char range[48];
    if (lseek(fd, offset, SEEK_SET) < 0) {
        *code = hub_msg(1, s->who, "cannot seek in %s.part: %s", name, strerror(errno));
        return GET_FAIL;
    }
    base_options(s, m->url);
    struct curl_slist *hdrs = request_headers(s, m->url);
    curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(s->curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(s->curl, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(s->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(s->curl, CURLOPT_HEADERDATA, &t.h);
    curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(s->curl, CURLOPT_BUFFERSIZE, 256L * 1024);
    if (offset > 0) {
        /* CURLOPT_RANGE, not RESUME_FROM: curl would fail on a 200 instead of letting us
         * restart from zero */
        snprintf(range, sizeof range, "%" PRId64 "-", offset);
        curl_easy_setopt(s->curl, CURLOPT_RANGE, range);
    }
    if (s->progress) {
        prog.t0 = prog.last = now_s();
        prog.last -= 1;
        t.prog = &prog;
        curl_easy_setopt(s->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(s->curl, CURLOPT_XFERINFODATA, &prog);
        curl_easy_setopt(s->curl, CURLOPT_NOPROGRESS, 0L);
    }
    CURLcode rc = curl_easy_perform(s->curl);
    curl_slist_free_all(hdrs);
    long status = 0;
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
    if (prog.shown)
        draw_progress(&prog, t.offset + t.written, 1);

    if (t.write_errno) {
        *code = hub_msg(1, s->who, "cannot write %s/%s.part: %s", s->dir, name,
                        strerror(t.write_errno));
        return GET_FAIL;
    }
    if (status == 416 || (status == 206 && t.refused))
        return GET_RESTART; /* our partial file does not fit what the server has */
    if (rc == CURLE_OK && !t.refused && (status == 200 || (status == 206 && t.asked_range)))
        return GET_DONE;
    if (status == 404 || status == 401 || status == 403 || status == 410) {
        *code = hub_msg(1, s->who, "download of %s failed: HTTP %ld from %s", name, status, m->url);
        return GET_FAIL;
    }
    if (status >= 500 || status == 429 || status == 408) {
        fprintf(stderr, "%s: %s: server answered HTTP %ld\n", s->who, name, status);
        return GET_RETRY;
    }
    if (rc == CURLE_OK || t.refused) {
        *code = hub_msg(1, s->who, "download of %s failed: unexpected HTTP %ld from %s", name,
                        status, m->url);
        return GET_FAIL;
    }
    fprintf(stderr, "%s: %s: transfer interrupted after %" PRId64 " bytes (%s)\n", s->who, name,
            t.offset + t.written, curl_msg(s, rc));
    return GET_RETRY;
}

/* ---- one file ------------------------------------------------------------------------- */

enum { FILE_OK = 0, FILE_MISSING = -1 };

static int path_in(char *out, size_t cap, const char *dir, const char *name, const char *suffix)
{
    return (size_t)snprintf(out, cap, "%s/%s%s", dir, name, suffix) < cap ? 0 : -1;
}

static int network_failure(session *s, CURLcode rc)
{
    return hub_msg(1, s->who,
                   "download failed: cannot reach %s (%s); check the network connection, or pass "
                   "-m DIR with a local model folder",
                   s->endpoint, curl_msg(s, rc));
}

/* Classifies an HTTP error on a metadata request; FILE_MISSING when only this file is
 * missing, else an exit code after printing the problem. */
static int http_problem(session *s, const char *name, const char *url, const file_meta *m)
{
    const char *ec = m->h.error_code;
    /* the Hub answers 401 for missing, private and gated repositories alike when no token
     * is sent, as huggingface_hub notes */
    int bad_token = s->auth[0] && !strcmp(m->h.error_message, "Invalid credentials in Authorization header");
    if (!strcmp(ec, "RepoNotFound") || (m->status == 401 && !bad_token))
        return hub_msg(2, s->who,
                       "repository not found: %s at %s (check the name; for a private or gated "
                       "repository set HF_TOKEN)",
                       s->repo, s->endpoint);
    if (m->status == 401)
        return hub_msg(2, s->who, "the Hub rejected HF_TOKEN (invalid credentials) for %s", s->repo);
    if (!strcmp(ec, "RevisionNotFound"))
        return hub_msg(2, s->who, "revision not found: %s has no revision '%s'", s->repo,
                       s->revision);
    if (!strcmp(ec, "GatedRepo") || m->status == 403)
        return hub_msg(2, s->who,
                       "access to %s denied (HTTP %ld): it may be gated; accept its terms on the "
                       "Hub and set HF_TOKEN",
                       s->repo, m->status);
    if (!strcmp(ec, "EntryNotFound") || m->status == 404)
        return FILE_MISSING;
    if (m->status == 310)
        return hub_msg(1, s->who, "too many redirects for %s", url);
    return hub_msg(1, s->who, "download of %s failed: HTTP %ld from %s", name, m->status, url);
}

static int read_small(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = 0;
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = 0;
    return 0;
}

static int write_small(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static int fetch_file(session *s, const char *name)
{
    char url[URL_MAX], final[PATH_MAX_HUB], part[PATH_MAX_HUB], side[PATH_MAX_HUB];
    char *rev = curl_easy_escape(s->curl, s->revision, 0);
    int n = rev ? snprintf(url, sizeof url, "%s/%s/resolve/%s/%s", s->endpoint, s->repo, rev, name)
                : -1;
    curl_free(rev);
    if (n < 0 || (size_t)n >= sizeof url)
        return hub_msg(2, s->who, "URL too long for %s", name);
    if (path_in(final, sizeof final, s->dir, name, "") ||
        path_in(part, sizeof part, s->dir, name, ".part") ||
        path_in(side, sizeof side, s->dir, name, ".part.etag"))
        return hub_msg(2, s->who, "path too long: %s/%s", s->dir, name);

    static file_meta m; /* 4 kB of URL: keep it off the stack */
    if (get_metadata(s, url, &m) < 0) {
        if (m.curl_rc != CURLE_OK)
            return network_failure(s, m.curl_rc);
        return hub_msg(1, s->who, "bad redirect for %s", url);
    }
    if (m.status < 200 || m.status >= 400)
        return http_problem(s, name, url, &m);
    if (m.h.commit[0]) {
        if (!s->commit[0])
            snprintf(s->commit, sizeof s->commit, "%s", m.h.commit);
        else if (strcmp(s->commit, m.h.commit))
            return hub_msg(1, s->who,
                           "revision '%s' of %s moved during the download (commit %s, then %s); "
                           "run the command again",
                           s->revision, s->repo, s->commit, m.h.commit);
    }

    char hex[65];
    int64_t have = file_size(final);
    if (m.sha256[0] && have >= 0 && (m.size < 0 || have == m.size) &&
        !hub_sha256_file(final, hex) && !strcmp(hex, m.sha256))
        return FILE_OK; /* already here and verified */

    int rc = 1;
    int fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return hub_msg(1, s->who, "cannot create %s: %s", part, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        rc = hub_msg(1, s->who, "%s is being downloaded by another clipcl process", part);
        goto done;
    }

    /* Resume only a partial file that belongs to the same checksum: without a sha256 (small
     * non-LFS files) nothing could tell stale bytes from new ones, so they restart. */
    char old[160] = "";
    int64_t offset = file_size(part);
    if (!m.sha256[0] || read_small(side, old, sizeof old) || strcmp(old, m.sha256) ||
        (m.size >= 0 && offset > m.size))
        offset = 0;
    if (offset == 0) {
        if (ftruncate(fd, 0)) {
            rc = hub_msg(1, s->who, "cannot truncate %s: %s", part, strerror(errno));
            goto done;
        }
        if (m.sha256[0] ? write_small(side, m.sha256) : (unlink(side) && errno != ENOENT)) {
            rc = hub_msg(1, s->who, "cannot write %s: %s", side, strerror(errno));
            goto done;
        }
    }

    running_hash hash = {.n = -1};
    int attempts = 0, backoff = 0;
    while (!(m.size >= 0 && offset == m.size)) {
        if (attempts++ == MAX_ATTEMPTS) {
            rc = hub_msg(1, s->who,
                         "download of %s failed after %d attempts (%" PRId64 " bytes kept in "
                         "%s); run the command again to resume",
                         name, MAX_ATTEMPTS, file_size(part), part);
            goto done;
        }
        if (backoff)
            sleep((unsigned)backoff);
        backoff = 0;
        if (m.sha256[0] && hash.n != offset) {
            hash.n = sha256_fd(fd, offset, &hash.st);
            if (hash.n != offset) {
                rc = hub_msg(1, s->who, "cannot read %s: %s", part, strerror(errno));
                goto done;
            }
        }
        int r = get_once(s, &m, name, fd, offset, m.sha256[0] ? &hash : NULL, &rc);
        if (r == GET_DONE)
            break;
        if (r == GET_FAIL)
            goto done;
        if (r == GET_RESTART) {
            if (ftruncate(fd, 0)) {
                rc = hub_msg(1, s->who, "cannot truncate %s: %s", part, strerror(errno));
                goto done;
            }
            offset = 0;
            continue;
        }
        backoff = attempts; /* GET_RETRY: a short pause, then resume */
        int64_t now = file_size(part);
        offset = m.sha256[0] && now > 0 ? now : 0;
        if (offset == 0 && ftruncate(fd, 0)) {
            rc = hub_msg(1, s->who, "cannot truncate %s: %s", part, strerror(errno));
            goto done;
        }
    }

    if (fsync(fd)) {
        rc = hub_msg(1, s->who, "cannot write %s: %s", part, strerror(errno));
        goto done;
    }
    int64_t got = file_size(part);
    if (m.size >= 0 && got != m.size) {
        unlink(part);
        unlink(side);
        rc = hub_msg(1, s->who,
                     "size mismatch for %s: the Hub says %" PRId64 " bytes, received %" PRId64
                     "; the damaged download was deleted, run the command again",
                     name, m.size, got);
        goto done;
    }
    if (m.sha256[0]) {
        if (hash.n != got && sha256_fd(fd, got, &hash.st) != got) {
            rc = hub_msg(1, s->who, "cannot read %s: %s", part, strerror(errno));
            goto done;
        }
        sha256_hex(&hash.st, hex);
        if (strcmp(hex, m.sha256)) {
            unlink(part);
            unlink(side);
            rc = hub_msg(1, s->who,
                         "checksum mismatch for %s: expected sha256 %s, got %s; the damaged "
                         "download was deleted, run the command again",
                         name, m.sha256, hex);
            goto done;
        }
    }
    if (rename(part, final)) {
        rc = hub_msg(1, s->who, "cannot move %s into place: %s", part, strerror(errno));
        goto done;
    }
    unlink(side);
    rc = FILE_OK;
done:
    close(fd);
    return rc;
}

/* ---- the repository ------------------------------------------------------------------- */

int hub_pull(const char *who, const char *repo, const char *revision, const char *out_dir,
             int quiet, char *final_dir, size_t cap)
{
    static session s;
    int rc = 1;
    memset(&s, 0, sizeof s);
    s.who = who;
    s.repo = repo ? repo : HUB_DEFAULT_REPO;
    s.revision = revision ? revision : HUB_DEFAULT_REVISION;
    if (!hub_valid_repo_id(s.repo))
        return hub_msg(2, who, "'%s' is not a Hub repository id (expected owner/name)", s.repo);
    if (!valid_revision(s.revision))
        return hub_msg(2, who, "bad revision '%s'", s.revision);

    const char *ep = getenv("HF_ENDPOINT");
    if (!ep || !*ep)
        ep = HUB_DEFAULT_ENDPOINT;
    if (strncmp(ep, "http://", 7) && strncmp(ep, "https://", 8))
        return hub_msg(2, who, "HF_ENDPOINT must be an http:// or https:// URL, not '%s'", ep);
    if ((size_t)snprintf(s.endpoint, sizeof s.endpoint, "%s", ep) >= sizeof s.endpoint)
        return hub_msg(2, who, "HF_ENDPOINT is too long");
    for (size_t n = strlen(s.endpoint); n && s.endpoint[n - 1] == '/';)
        s.endpoint[--n] = 0;

    if (env_true("HF_HUB_OFFLINE"))
        return hub_msg(1, who,
                       "download failed: HF_HUB_OFFLINE is set, so %s cannot be downloaded; pass "
                       "-m DIR with a local model folder",
                       s.repo);

    int n = out_dir ? snprintf(s.dir, sizeof s.dir, "%s", out_dir)
                    : (hub_cache_dir(s.repo, s.revision, s.dir, sizeof s.dir) ? -1 : 1);
    if (n < 0 || (size_t)n >= sizeof s.dir)
        return hub_msg(2, who, "cannot determine the cache folder (set XDG_CACHE_HOME or HOME, or pass -o DIR)");
    if (mkdir_p(s.dir))
        return hub_msg(2, who, "cannot create the folder %s: %s", s.dir, strerror(errno));
    if (strlen(s.dir) >= cap)
        return hub_msg(2, who, "path too long: %s", s.dir);

    const char *tok = getenv("HF_TOKEN");
    if (tok && *tok) {
        if (strpbrk(tok, "\r\n") ||
            (size_t)snprintf(s.auth, sizeof s.auth, "Authorization: Bearer %s", tok) >= sizeof s.auth)
            return hub_msg(2, who, "HF_TOKEN is malformed");
    }
    s.progress = !quiet && isatty(STDERR_FILENO);

    if (curl_global_init(CURL_GLOBAL_DEFAULT))
        return hub_msg(1, who, "cannot initialise libcurl");
    s.curl = curl_easy_init();
    if (!s.curl) {
        rc = hub_msg(1, who, "cannot initialise libcurl");
        goto done;
    }

    rc = fetch_file(&s, "config.json");
    if (rc == FILE_OK) {
        rc = fetch_file(&s, "preprocessor_config.json");
        if (rc == FILE_MISSING) {
            if (!quiet)
                fprintf(stderr,
                        "%s: note: %s has no preprocessor_config.json; OpenAI's preprocessing "
                        "defaults will be used\n",
                        who, s.repo);
            rc = FILE_OK;
        }
        if (rc == FILE_OK) {
            rc = fetch_file(&s, "model.safetensors");
            if (rc == FILE_MISSING)
                rc = hub_msg(2, who,
                             "file not found: %s (revision %s) has no model.safetensors (only "
                             "safetensors weights are supported)",
                             s.repo, s.revision);
        }
    } else if (rc == FILE_MISSING) {
        /* open_clip repositories publish their own config and weight names */
        rc = fetch_file(&s, "open_clip_config.json");
        if (rc == FILE_OK) {
            rc = fetch_file(&s, "open_clip_model.safetensors");
            if (rc == FILE_MISSING)
                rc = hub_msg(2, who,
                             "file not found: %s (revision %s) has no open_clip_model.safetensors",
                             s.repo, s.revision);
        } else if (rc == FILE_MISSING) {
            rc = hub_msg(2, who,
                         "repository or file not found: %s (revision %s) at %s has no config.json "
                         "(nor open_clip_config.json)",
                         s.repo, s.revision, s.endpoint);
        }
    }
    if (rc == FILE_OK)
        snprintf(final_dir, cap, "%s", s.dir);
    else if (!out_dir)
        rmdir(s.dir); /* only succeeds when nothing was kept, e.g. for an unknown revision */
done:
    if (s.curl)
        curl_easy_cleanup(s.curl);
    curl_global_cleanup();
    return rc;
}

/* ---- -m lookup ------------------------------------------------------------------------ */

static int has_model(const char *dir)
{
    return (is_file(dir, "config.json") && is_file(dir, "model.safetensors")) ||
           (is_file(dir, "open_clip_config.json") && is_file(dir, "open_clip_model.safetensors"));
}

int hub_resolve_model(const char *model_arg, int allow_download, char *out_dir, size_t cap)
{
    const char *who = "clipcl";
    struct stat st;
    if (model_arg && stat(model_arg, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return hub_msg(2, who, "%s is a file; -m takes a model folder or a Hub repository id",
                           model_arg);
        if (!is_file(model_arg, "config.json") && !is_file(model_arg, "open_clip_config.json"))
            return hub_msg(2, who, "%s has no config.json or open_clip_config.json", model_arg);
        if (strlen(model_arg) >= cap)
            return hub_msg(2, who, "path too long: %s", model_arg);
        snprintf(out_dir, cap, "%s", model_arg);
        return 0;
    }

    char repo[256], dir[PATH_MAX_HUB];
    const char *rev = NULL;
    if ((size_t)snprintf(repo, sizeof repo, "%s", model_arg ? model_arg : HUB_DEFAULT_REPO) >=
        sizeof repo)
        return hub_msg(2, who, "no such model folder: %s", model_arg);
    char *at = strchr(repo, '@');
    if (at) {
        *at = 0;
        rev = at + 1;
    }
    if (!hub_valid_repo_id(repo) || (rev && !valid_revision(rev)))
        return hub_msg(2, who, "no such model folder, and not a Hub repository id: %s", model_arg);
    if (hub_cache_dir(repo, rev, dir, sizeof dir))
        return hub_msg(2, who, "cannot determine the cache folder (set XDG_CACHE_HOME or HOME)");
    if (!has_model(dir)) {
        if (!allow_download || env_true("HF_HUB_OFFLINE"))
            return hub_msg(2, who,
                           "%s is neither a model folder nor in the cache (%s): run `clipcl "
                           "pull %s%s%s` or pass -m with a local model folder",
                           model_arg ? model_arg : HUB_DEFAULT_REPO, dir, repo,
                           rev ? " --revision " : "", rev ? rev : "");
        fprintf(stderr, "%s: %s is not in the cache yet; downloading it into %s\n", who, repo, dir);
        if (hub_pull(who, repo, rev, NULL, 0, dir, sizeof dir))
            return 2;
    }
    if (strlen(dir) >= cap)
        return hub_msg(2, who, "path too long: %s", dir);
    snprintf(out_dir, cap, "%s", dir);
    return 0;
}

#endif /* HUB_SHA256_ONLY */
