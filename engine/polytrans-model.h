/*
 * polytrans-model.h: what the files of the polytrans-model tool share
 * (polytrans-model.c: main, info, tokenize, detokenize, quantize;
 * polytrans-model-run.c: run). The bench subcommand has its own header,
 * pm-cmds.h.
 */
#ifndef POLYTRANS_MODEL_H
#define POLYTRANS_MODEL_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "engine.h"

/* Exit statuses of the tool. */
enum { PM_EXIT_OK = 0, PM_EXIT_FAIL = 1, PM_EXIT_USAGE = 2 };

/* Prints "polytrans-model: MESSAGE" on stderr; returns PM_EXIT_FAIL. */
int pm_fail(const char *fmt, ...) PT_PRINTF(1, 2);
/* Prints the message and a pointer to --help on stderr; returns
 * PM_EXIT_USAGE. */
int pm_usage_error(const char *fmt, ...) PT_PRINTF(1, 2);
/* The usage error for getopt's answer c ('?' or ':') to argv[optind - 1]. */
int pm_bad_option(const char *cmd, int c, char **argv);
/* Prints the failure in *e (or the code's description); returns
 * PM_EXIT_FAIL. */
int pm_fail_err(const pt_err *e, int code);
/* Prints the full usage text to f. */
void pm_usage(FILE *f);

/* Strict number parsing for option values: the whole string, in range.
 * On a bad value prints a usage error naming the option and returns
 * PM_EXIT_USAGE; 0 on success. */
int pm_parse_i64(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out);
int pm_parse_u64(const char *opt, const char *s, uint64_t *out);
int pm_parse_float(const char *opt, const char *s, double lo, double hi, float *out);

/* Loads a model, printing the failure; returns 0 or PM_EXIT_FAIL. */
int pm_load(const char *path, engine_model **out);

/* Reads all of stdin into a NUL-terminated malloc'd buffer. */
int pm_read_stdin(char **out, size_t *len);
/* Tokenizes text[0..len) into *ids (grown as needed, *cap its size);
 * prints the failure. */
int pm_tokenize(const engine_model *m, const char *text, size_t len,
		unsigned flags, int32_t **ids, size_t *cap, size_t *n);
/* Checks text is UTF-8; prints "WHAT is not valid UTF-8 (byte offset N)". */
int pm_check_utf8(const char *what, const char *text, size_t len);

/* Verbosity set by -v (0 default). */
extern int pm_verbose;

int pm_cmd_run(int argc, char **argv);

#endif
