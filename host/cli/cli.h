/* cli.h — the clipcl command's shared pieces. Each sub-command lives in cmd_<name>.c and
 * has the signature below: argv[0] is the command name; it returns the process exit code:
 * 0 success, 1 a failed check or no result, 2 bad usage or input (errors on stderr). */
#ifndef CLIPCL_CLI_H
#define CLIPCL_CLI_H

#include <stdio.h>

#include "clipcl.h"

typedef int (*cli_cmd_fn)(int argc, char **argv);

int cmd_classify(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_devices(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_preprocess(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_index(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_tune(int argc, char **argv);

/* Prints "clipcl <cmd>: <message>\n" to stderr and returns 2 (or the given code). */
int cli_fail(int code, const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Reports a library failure: "clipcl <cmd>: <what>: <clipcl_errmsg()>"; returns 2. */
int cli_lib_fail(const char *cmd, const char *what, clipcl_status st);

#endif
