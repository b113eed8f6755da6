/*
 * config.h: polytransd's settings. One declarative table (config.c) lists
 * every key with its type, default and limits; the same table reads the
 * config file, the command-line flags and prints `--help-config`.
 */
#ifndef PTD_CONFIG_H
#define PTD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pt.h"

typedef struct ptd_config {
	char *model;            /* model file; NULL: look in the data folder */
	char *socket_path;      /* NULL: $XDG_RUNTIME_DIR/polytrans.sock */
	char *state_dir;        /* NULL: $XDG_STATE_HOME/polytrans */
	char *prompt_template;  /* a template file overriding the model's kind */
	int64_t threads;        /* engine threads; 0 = cores */
	int64_t log_level;      /* PT_LOG_* */
	int64_t max_clients;
	int64_t max_requests_per_client; /* requests in flight per connection */
	int64_t max_message_bytes;       /* one msgpack-RPC message */
	int64_t max_text_bytes;          /* text of one translate request */
	int64_t queue_size;              /* requests waiting for the engine */
	int64_t ctx_tokens;              /* context per sequence; 0 = model's */
	int64_t max_beams;               /* sequences in the engine context */
	int64_t batch_size;              /* segments decoded together */
	int64_t prefix_cache;            /* language pairs with a cached prefix */
	int64_t retry_beams;             /* beams of the retry of a bad answer */
	int64_t beams;                   /* default beam width */
	int64_t max_tokens;              /* default answer budget per segment */
	int64_t shutdown_timeout_ms;     /* SIGTERM: time to finish work */
	int64_t idle_exit_s;             /* exit after this long idle; 0 = never */
} ptd_config;

/* Sets every field to its default (strings NULL). */
void ptd_config_init(ptd_config *c);
/* Frees the strings. */
void ptd_config_done(ptd_config *c);

/* Sets one key from its text form ("threads", "4"). Unknown keys, bad
 * numbers and out-of-range values fail with a message naming the key,
 * the value and the allowed range. */
int ptd_config_set(ptd_config *c, const char *key, const char *value, pt_err *e);

/* Reads a `key = value` file ('#' comments, blank lines). A missing file is
 * not an error when optional is nonzero. Errors name the file and line. */
int ptd_config_load_file(ptd_config *c, const char *path, int optional, pt_err *e);

/* The default config file path ($XDG_CONFIG_HOME or ~/.config) into buf. */
int ptd_config_default_path(char *buf, size_t cap);

/* Sets n/2 keys from pairs kv[0] = kv[1], kv[2] = kv[3], ... (the flags
 * of the command line, applied again after a reload). */
int ptd_config_set_all(ptd_config *c, char *const *kv, int n, pt_err *e);

/* The name of key i in table order, NULL past the last (for tests and
 * documentation). */
const char *ptd_config_key(size_t i);
/* The range of numeric key i; -1 for a string or level key. */
int ptd_config_key_range(size_t i, int64_t *min, int64_t *max);
/* Nonzero if name (with '-' or '_') is a key. */
int ptd_config_is_key(const char *name);

/* Prints every key with its default and description (for --help). */
void ptd_config_print_keys(FILE *f);

#endif
