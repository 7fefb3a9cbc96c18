/* test_pull.c — `clipcl pull` against tests/support/hf_server.py, a stand-in for the
 * Hugging Face Hub on 127.0.0.1 (python3 standard library only), plus the SHA-256 that
 * verifies downloads, checked on the FIPS 180-4 vectors.
 *
 * Every case starts its own server (killed in teardown, and by PR_SET_PDEATHSIG / its own
 * watchdog if this process dies first) and runs the built CLI with HF_ENDPOINT pointing at
 * it and XDG_CACHE_HOME in a fresh temporary folder. No other network is used. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Only the SHA-256 half of hub.c: the rest needs libcurl, which tests do not link. */
#define HUB_SHA256_ONLY 1
#include "../host/cli/hub.c"

#define SERVER_PY TEST_DATA_DIR "/../support/hf_server.py"
#define REPO "acme/tiny"
#define CLI_DEADLINE_S 90

/* ---- SHA-256 ------------------------------------------------------------------------- */

static void hex_of(const uint8_t d[32], char hex[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

static void sha_str(const char *msg, char hex[65])
{
    hub_sha256 s;
    uint8_t d[32];
    hub_sha256_init(&s);
    hub_sha256_update(&s, msg, strlen(msg));
    hub_sha256_final(&s, d);
    hex_of(d, hex);
}

START_TEST(sha256_fips_vectors)
{
    char hex[65];
    sha_str("", hex);
    ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha_str("abc", hex);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* 56 bytes: the length no longer fits the first block, padding spills into a second */
    sha_str("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", hex);
    ck_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    sha_str("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrl"
            "mnopqrsmnopqrstnopqrstu",
            hex);
    ck_assert_str_eq(hex, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}
END_TEST

/* One million 'a' fed in uneven pieces, so every buffering path of update() runs. */
START_TEST(sha256_million_a_in_pieces)
{
    static char a[1000000];
    memset(a, 'a', sizeof a);
    static const size_t pieces[] = {1, 63, 64, 65, 7, 128, 0, 3, 4096, 55, 56, 57};
    hub_sha256 s;
    uint8_t d[32];
    char hex[65];
    hub_sha256_init(&s);
    size_t off = 0;
    for (int i = 0; off < sizeof a; i++) {
        size_t n = pieces[i % 12];
        if (n > sizeof a - off)
            n = sizeof a - off;
        hub_sha256_update(&s, a + off, n);
        off += n;
    }
    hub_sha256_final(&s, d);
    hex_of(d, hex);
    ck_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

    char path[] = "/tmp/clipcl_sha_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, a, sizeof a), (ssize_t)sizeof a);
    close(fd);
    char fhex[65];
    ck_assert_int_eq(hub_sha256_file(path, fhex), 0);
    unlink(path);
    ck_assert_str_eq(fhex, hex);
    ck_assert_int_eq(hub_sha256_file("/nonexistent/clipcl/file", fhex), -1);
}
END_TEST

/* ---- fixture: a temp folder and a fake Hub -------------------------------------------- */

static const char *const repo_files[3] = {"config.json", "preprocessor_config.json",
                                           "model.safetensors"};
static const char *const repo_sources[3] = {TEST_DATA_DIR "/tiny-quickgelu/config.json",
                                            TEST_DATA_DIR "/pull/preprocessor_config.json",
                                            TEST_DATA_DIR "/tiny-quickgelu/model.safetensors"};

static char g_root[128]; /* made and removed by the parent process, whatever the cases do */
static char g_tmp[256];  /* one case's folder inside it */
static char g_log[512];
static char g_repo[300];  /* the served repository: links to the tiny model, no 7 MB copy */
static char g_repo_arg[320];
static pid_t g_server = -1;
static int g_port;

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

static void root_setup(void)
{
    snprintf(g_root, sizeof g_root, "/tmp/clipcl_pull_XXXXXX");
    if (!mkdtemp(g_root))
        g_root[0] = 0;
}

static void root_teardown(void)
{
    if (g_root[0])
        nftw(g_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
    ck_assert_msg(g_root[0], "cannot create a temporary folder in /tmp");
    snprintf(g_tmp, sizeof g_tmp, "%s/case_XXXXXX", g_root);
    ck_assert_ptr_nonnull(mkdtemp(g_tmp));
    snprintf(g_log, sizeof g_log, "%s/requests.jsonl", g_tmp);
    g_server = -1;
    snprintf(g_repo, sizeof g_repo, "%s/repo", g_tmp);
    snprintf(g_repo_arg, sizeof g_repo_arg, REPO "=%s", g_repo);
    ck_assert_int_eq(mkdir(g_repo, 0755), 0);
    for (int i = 0; i < 3; i++) {
        char link[400];
        snprintf(link, sizeof link, "%s/%s", g_repo, repo_files[i]);
        ck_assert_int_eq(symlink(repo_sources[i], link), 0);
    }
}

/* Not reached when a case fails in fork mode (Check _exits): then PR_SET_PDEATHSIG stops the
 * server and root_teardown removes the folder. */
static void teardown(void)
{
    if (g_server > 0) {
        kill(g_server, SIGKILL);
        waitpid(g_server, NULL, 0);
        g_server = -1;
    }
}

/* Starts hf_server.py with --log plus the given arguments (NULL-terminated); returns the port. */
static int start_server(const char *const *extra)
{
    const char *argv[40];
    int n = 0;
    argv[n++] = "python3";
    argv[n++] = SERVER_PY;
    argv[n++] = "--log";
    argv[n++] = g_log;
    argv[n++] = "--lifetime";
    argv[n++] = "100";
    for (int i = 0; extra && extra[i] && n < 38; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;

    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execvp("python3", (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    g_server = pid;
    char line[32] = "";
    size_t got = 0;
    struct pollfd p = {.fd = fds[0], .events = POLLIN};
    while (got < sizeof line - 1 && !strchr(line, '\n')) {
        if (poll(&p, 1, 15000) <= 0)
            break;
        ssize_t r = read(fds[0], line + got, sizeof line - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        line[got] = 0;
    }
    close(fds[0]);
    g_port = atoi(line);
    ck_assert_msg(g_port > 0, "hf_server.py did not start (python3 missing?): '%s'", line);
    return g_port;
}

typedef struct {
    int code;      /* exit status, or -1 when killed */
    char out[8192];
    char err[8192];
} cli_result;

static void slurp(const char *path, char *buf, size_t cap)
{
    buf[0] = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = 0;
    fclose(f);
}

/* Runs CLIPCL_EXE pull with args, HF_ENDPOINT = the server (or endpoint when given),
 * XDG_CACHE_HOME = <tmp>/cache, plus env entries "K=V" (set) or "K" (unset). */
static void run_pull(cli_result *r, const char *endpoint, const char *const *env,
                     const char *const *args)
{
    char ep[128], cache[300], outp[300], errp[300];
    if (endpoint)
        snprintf(ep, sizeof ep, "%s", endpoint);
    else
        snprintf(ep, sizeof ep, "http://127.0.0.1:%d", g_port);
    snprintf(cache, sizeof cache, "%s/cache", g_tmp);
    snprintf(outp, sizeof outp, "%s/stdout.txt", g_tmp);
    snprintf(errp, sizeof errp, "%s/stderr.txt", g_tmp);
    ck_assert_msg(access(CLIPCL_EXE, X_OK) == 0, "the CLI %s is not built", CLIPCL_EXE);
    const char *argv[24];
    int n = 0;
    argv[n++] = CLIPCL_EXE;
    argv[n++] = "pull";
    for (int i = 0; args && args[i] && n < 23; i++)
        argv[n++] = args[i];
    argv[n] = NULL;

    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0)
            _exit(126);
        dup2(o, STDOUT_FILENO);
        dup2(e, STDERR_FILENO);
        setenv("HF_ENDPOINT", ep, 1);
        setenv("XDG_CACHE_HOME", cache, 1);
        unsetenv("HF_TOKEN");
        unsetenv("HF_HUB_OFFLINE");
        /* a proxy from the environment must not swallow 127.0.0.1 */
        setenv("NO_PROXY", "127.0.0.1", 1);
        setenv("no_proxy", "127.0.0.1", 1);
        for (int i = 0; env && env[i]; i++) {
            if (strchr(env[i], '='))
                putenv((char *)env[i]);
            else
                unsetenv(env[i]);
        }
        execv(CLIPCL_EXE, (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    struct timespec t0, now, nap = {0, 20 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec > CLI_DEADLINE_S) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            ck_abort_msg("clipcl pull did not finish within %d s", CLI_DEADLINE_S);
        }
        nanosleep(&nap, NULL);
    }
    r->code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    slurp(outp, r->out, sizeof r->out);
    slurp(errp, r->err, sizeof r->err);
}

static const char *cache_repo(char *buf, size_t cap, const char *leaf)
{
    snprintf(buf, cap, "%s/cache/clipcl/acme--tiny%s%s", g_tmp, leaf ? "/" : "", leaf ? leaf : "");
    return buf;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static long fsize(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static int same_bytes(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb)
            same = 0;
        if (ca == EOF || cb == EOF)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

static int count_lines_with(const char *path, const char *a, const char *b)
{
    char line[2048];
    int n = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, a) && (!b || strstr(line, b)))
            n++;
    fclose(f);
    return n;
}

static void assert_repo_identical(const char *dir)
{
    for (int i = 0; i < 3; i++) {
        char got[600];
        snprintf(got, sizeof got, "%s/%s", dir, repo_files[i]);
        ck_assert_msg(same_bytes(got, repo_sources[i]), "%s differs from %s", got, repo_sources[i]);
        snprintf(got, sizeof got, "%s/%s.part", dir, repo_files[i]);
        ck_assert_msg(!exists(got), "%s left behind", got);
    }
}

/* ---- cases ------------------------------------------------------------------------------ */

START_TEST(full_fetch_into_cache)
{
    const char *const srv[] = {"--repo", g_repo_arg, "--token", "hf_test", NULL};
    const char *const env[] = {"HF_TOKEN=hf_test", NULL};
    const char *const args[] = {REPO, NULL};
    cli_result r;
    char dir[400], want_out[420];
    start_server(srv);
    run_pull(&r, NULL, env, args);
    ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
    snprintf(want_out, sizeof want_out, "%s\n", cache_repo(dir, sizeof dir, NULL));
    ck_assert_str_eq(r.out, want_out);
    assert_repo_identical(dir);
    /* the token goes to the Hub, never to the CDN the large file is redirected to */
    ck_assert_int_eq(count_lines_with(g_log, "\"listener\": \"hub\"", "\"auth\": false"), 0);
    ck_assert_int_eq(count_lines_with(g_log, "\"listener\": \"cdn\"", "\"auth\": true"), 0);
    ck_assert_int_eq(count_lines_with(g_log, "\"listener\": \"cdn\"", "\"GET\""), 1);

    /* a second pull finds the verified file in place and does not fetch it again */
    run_pull(&r, NULL, env, args);
    ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
    ck_assert_str_eq(r.out, want_out);
    ck_assert_int_eq(count_lines_with(g_log, "\"listener\": \"cdn\"", "\"GET\""), 1);

    /* a wrong token is refused by the Hub, and said so */
    const char *const bad[] = {"HF_TOKEN=hf_wrong", NULL};
    run_pull(&r, NULL, bad, args);
    ck_assert_int_eq(r.code, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "HF_TOKEN"));
}
END_TEST

START_TEST(output_dir_and_renamed_repo)
{
    const char *const srv[] = {"--repo", g_repo_arg, "--rename", "old/tiny=" REPO, NULL};
    char out[400], want[420];
    snprintf(out, sizeof out, "%s/some/new/folder", g_tmp);
    const char *const args[] = {"old/tiny", "-o", out, "--quiet", NULL};
    cli_result r;
    start_server(srv);
    run_pull(&r, NULL, NULL, args);
    ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
    snprintf(want, sizeof want, "%s\n", out);
    ck_assert_str_eq(r.out, want);
    assert_repo_identical(out);
    char cache[400];
    ck_assert(!exists(cache_repo(cache, sizeof cache, NULL)));
}
END_TEST

START_TEST(cut_transfer_resumes_in_the_same_run)
{
    const char *const srv[] = {"--repo", g_repo_arg, "--cut", "model.safetensors:3000000:1",
                               NULL};
    const char *const args[] = {REPO, NULL};
    cli_result r;
    char dir[400];
    start_server(srv);
    run_pull(&r, NULL, NULL, args);
    ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
    assert_repo_identical(cache_repo(dir, sizeof dir, NULL));
    ck_assert_int_eq(count_lines_with(g_log, "\"listener\": \"cdn\"", "\"range\": null"), 1);
    ck_assert_int_eq(count_lines_with(g_log, "\"listener\": \"cdn\"", "\"range\": \"bytes=3000000-\""), 1);
}
END_TEST

START_TEST(cut_transfer_resumes_in_the_next_run)
{
    /* more cuts than one run retries: the first run gives up and keeps the partial file */
    const char *const srv[] = {"--repo", g_repo_arg, "--cut", "model.safetensors:2000000:3",
                               NULL};
    const char *const args[] = {REPO, "-q", NULL};
    cli_result r;
    char dir[400], part[512], final[512];
    start_server(srv);
    run_pull(&r, NULL, NULL, args);
    ck_assert_int_eq(r.code, 1);
    ck_assert_str_eq(r.out, "");
    ck_assert_ptr_nonnull(strstr(r.err, "run the command again to resume"));
    cache_repo(dir, sizeof dir, NULL);
    snprintf(part, sizeof part, "%s/model.safetensors.part", dir);
    snprintf(final, sizeof final, "%s/model.safetensors", dir);
    ck_assert(!exists(final));
    ck_assert_int_eq(fsize(part), 6000000);

    run_pull(&r, NULL, NULL, args);
    ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
    assert_repo_identical(dir);
    ck_assert_int_eq(count_lines_with(g_log, "\"listener\": \"cdn\"", "\"range\": \"bytes=6000000-\""), 1);
}
END_TEST

START_TEST(server_ignoring_range_restarts)
{
    const char *const srv[] = {"--repo", g_repo_arg, "--cut", "model.safetensors:2500000:1",
                               "--ignore-range", NULL};
    const char *const args[] = {REPO, NULL};
    cli_result r;
    char dir[400];
    start_server(srv);
    run_pull(&r, NULL, NULL, args);
    ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
    assert_repo_identical(cache_repo(dir, sizeof dir, NULL));
    ck_assert_int_eq(count_lines_with(g_log, "\"listener\": \"cdn\"", "\"range\": \"bytes=2500000-\""), 1);
}
END_TEST

START_TEST(stale_partial_of_another_version_is_discarded)
{
    char dir[400], p[512];
    cache_repo(dir, sizeof dir, NULL);
    char mk[460];
    snprintf(mk, sizeof mk, "%s/cache", g_tmp);
    ck_assert_int_eq(mkdir(mk, 0755), 0);
    snprintf(mk, sizeof mk, "%s/cache/clipcl", g_tmp);
    ck_assert_int_eq(mkdir(mk, 0755), 0);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    snprintf(p, sizeof p, "%s/model.safetensors.part", dir);
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 100000; i++)
        fputc(i & 0xff, f);
    fclose(f);
    snprintf(p, sizeof p, "%s/model.safetensors.part.etag", dir);
    f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    fputs("0000000000000000000000000000000000000000000000000000000000000000\n", f);
    fclose(f);

    const char *const args[] = {REPO, NULL};
    cli_result r;
    const char *const tiny_repo[] = {"--repo", g_repo_arg, NULL};
    start_server(tiny_repo);
    run_pull(&r, NULL, NULL, args);
    ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
    assert_repo_identical(dir);
    ck_assert(!exists(p));
    ck_assert_int_eq(count_lines_with(g_log, "\"listener\": \"cdn\"", "\"range\": null"), 1);
    ck_assert_int_eq(count_lines_with(g_log, "\"range\": \"bytes=", NULL), 0);
}
END_TEST

START_TEST(corrupted_file_is_rejected)
{
    const char *const srv[] = {"--repo", g_repo_arg, "--corrupt", "model.safetensors", NULL};
    const char *const args[] = {REPO, NULL};
    cli_result r;
    char dir[400], p[512];
    start_server(srv);
    run_pull(&r, NULL, NULL, args);
    ck_assert_int_ne(r.code, 0);
    ck_assert_str_eq(r.out, "");
    ck_assert_msg(strstr(r.err, "checksum mismatch for model.safetensors"), "stderr: %s", r.err);
    cache_repo(dir, sizeof dir, NULL);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    ck_assert(!exists(p));
    snprintf(p, sizeof p, "%s/model.safetensors.part", dir);
    ck_assert(!exists(p));
}
END_TEST

START_TEST(unknown_repo_and_revision)
{
    cli_result r;
    const char *const tiny_repo[] = {"--repo", g_repo_arg, NULL};
    start_server(tiny_repo);
    const char *const a1[] = {"acme/nothing-here", NULL};
    run_pull(&r, NULL, NULL, a1);
    ck_assert_int_eq(r.code, 2);
    ck_assert_str_eq(r.out, "");
    ck_assert_msg(strstr(r.err, "repository not found: acme/nothing-here"), "stderr: %s", r.err);
    ck_assert_msg(strchr(r.err, '\n') == r.err + strlen(r.err) - 1, "not one line: %s", r.err);

    const char *const a2[] = {REPO, "--revision", "v9.9", NULL};
    run_pull(&r, NULL, NULL, a2);
    ck_assert_int_eq(r.code, 2);
    ck_assert_msg(strstr(r.err, "revision not found"), "stderr: %s", r.err);

    const char *const a3[] = {"not a repo", NULL};
    run_pull(&r, NULL, NULL, a3);
    ck_assert_int_eq(r.code, 2);
    ck_assert_msg(strstr(r.err, "not a Hub repository id"), "stderr: %s", r.err);
}
END_TEST

/* Builds a repository folder under the temp dir with the given files (small contents). */
static void make_repo(const char *name, const char *const *files, char *dir, size_t cap)
{
    snprintf(dir, cap, "%s/%s", g_tmp, name);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    for (int i = 0; files[i]; i++) {
        char p[600];
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        FILE *f = fopen(p, "wb");
        ck_assert_ptr_nonnull(f);
        for (int k = 0; k < 70000 + 1000 * i; k++)
            fputc((k * 31 + i) & 0xff, f);
        fclose(f);
    }
}

START_TEST(optional_and_alternative_files)
{
    char plain[400], oc[400], broken[400];
    const char *const f_plain[] = {"config.json", "model.safetensors", NULL};
    const char *const f_oc[] = {"open_clip_config.json", "open_clip_model.safetensors", NULL};
    const char *const f_broken[] = {"config.json", "pytorch_model.bin", NULL};
    make_repo("plain", f_plain, plain, sizeof plain);
    make_repo("oc", f_oc, oc, sizeof oc);
    make_repo("broken", f_broken, broken, sizeof broken);
    char s1[420], s2[420], s3[420];
    snprintf(s1, sizeof s1, "acme/plain=%s", plain);
    snprintf(s2, sizeof s2, "acme/oc=%s", oc);
    snprintf(s3, sizeof s3, "acme/broken=%s", broken);
    const char *const srv[] = {"--repo", s1, "--repo", s2, "--repo", s3, NULL};
    start_server(srv);
    cli_result r;
    char p[600], q[600];

    /* no preprocessor_config.json: a warning, and the rest is fetched */
    const char *const a1[] = {"acme/plain", NULL};
    run_pull(&r, NULL, NULL, a1);
    ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
    ck_assert_ptr_nonnull(strstr(r.err, "no preprocessor_config.json"));
    snprintf(p, sizeof p, "%s/cache/clipcl/acme--plain/model.safetensors", g_tmp);
    snprintf(q, sizeof q, "%s/model.safetensors", plain);
    ck_assert(same_bytes(p, q));

    /* an open_clip repository: its own file names */
    const char *const a2[] = {"acme/oc", NULL};
    run_pull(&r, NULL, NULL, a2);
    ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
    snprintf(p, sizeof p, "%s/cache/clipcl/acme--oc/open_clip_model.safetensors", g_tmp);
    snprintf(q, sizeof q, "%s/open_clip_model.safetensors", oc);
    ck_assert(same_bytes(p, q));

    /* required weights missing */
    const char *const a3[] = {"acme/broken", NULL};
    run_pull(&r, NULL, NULL, a3);
    ck_assert_int_eq(r.code, 2);
    ck_assert_msg(strstr(r.err, "no model.safetensors"), "stderr: %s", r.err);
    ck_assert_str_eq(r.out, "");
}
END_TEST

START_TEST(unreachable_endpoint_says_offline)
{
    /* a port that was free a moment ago: nothing listens there */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(s, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s);
    char ep[64];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", ntohs(a.sin_port));

    const char *const args[] = {REPO, NULL};
    cli_result r;
    run_pull(&r, ep, NULL, args);
    ck_assert_int_eq(r.code, 1);
    ck_assert_str_eq(r.out, "");
    ck_assert_msg(strstr(r.err, "download failed") && strstr(r.err, "-m DIR"), "stderr: %s", r.err);
    ck_assert_msg(strchr(r.err, '\n') == r.err + strlen(r.err) - 1, "not one line: %s", r.err);

    const char *const env[] = {"HF_HUB_OFFLINE=1", NULL};
    run_pull(&r, ep, env, args);
    ck_assert_int_eq(r.code, 1);
    ck_assert_msg(strstr(r.err, "HF_HUB_OFFLINE") && strstr(r.err, "-m DIR"), "stderr: %s", r.err);
}
END_TEST

START_TEST(usage_errors)
{
    cli_result r;
    const char *const a1[] = {"--help", NULL};
    run_pull(&r, "http://127.0.0.1:9", NULL, a1);
    ck_assert_int_eq(r.code, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "usage: clipcl pull"));
    const char *const a2[] = {"--bogus", NULL};
    run_pull(&r, "http://127.0.0.1:9", NULL, a2);
    ck_assert_int_eq(r.code, 2);
    const char *const a3[] = {"a/b", "c/d", NULL};
    run_pull(&r, "http://127.0.0.1:9", NULL, a3);
    ck_assert_int_eq(r.code, 2);
    const char *const a4[] = {REPO, "--revision", NULL};
    run_pull(&r, "http://127.0.0.1:9", NULL, a4);
    ck_assert_int_eq(r.code, 2);
}
END_TEST

static Suite *pull_suite(void)
{
    Suite *s = suite_create("pull");
    TCase *sha = tcase_create("sha256");
    tcase_add_test(sha, sha256_fips_vectors);
    tcase_add_test(sha, sha256_million_a_in_pieces);
    suite_add_tcase(s, sha);

    TCase *tc = tcase_create("hub");
    tcase_add_unchecked_fixture(tc, root_setup, root_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, full_fetch_into_cache);
    tcase_add_test(tc, output_dir_and_renamed_repo);
    tcase_add_test(tc, cut_transfer_resumes_in_the_same_run);
    tcase_add_test(tc, cut_transfer_resumes_in_the_next_run);
    tcase_add_test(tc, server_ignoring_range_restarts);
    tcase_add_test(tc, stale_partial_of_another_version_is_discarded);
    tcase_add_test(tc, corrupted_file_is_rejected);
    tcase_add_test(tc, unknown_repo_and_revision);
    tcase_add_test(tc, optional_and_alternative_files);
    tcase_add_test(tc, unreachable_endpoint_says_offline);
    tcase_add_test(tc, usage_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(pull_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
