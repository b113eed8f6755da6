/*
 * client.h: the parts of the polytrans client that its files share. The
 * prefix is pc_ (polytrans client). Nothing here is a library interface:
 * these functions may print, and main.c turns their results into exit
 * statuses (PC_EXIT_*).
 */
#ifndef PC_CLIENT_H
#define PC_CLIENT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "proto.h"
#include "pt.h"

/* Exit statuses, documented in man/polytrans.1. */
enum {
	PC_EXIT_OK = 0,
	PC_EXIT_FAIL = 1,      /* the daemon answered with an error; a file could not be read or written */
	PC_EXIT_USAGE = 2,     /* bad command line */
	PC_EXIT_UNREACH = 3,   /* no daemon answered and none could be started */
	PC_EXIT_INT = 130      /* interrupted by SIGINT */
};

/* Set by the SIGINT handler; every wait checks it. */
extern volatile sig_atomic_t pc_interrupted;

/* ---- Options ---------------------------------------------------------- */

typedef struct pc_opts {
	char to[PROTO_LANG_SIZE];      /* normalized code, "" when not given */
	char from[PROTO_LANG_SIZE];    /* normalized code or "auto" */
	uint32_t beams, max_tokens;    /* 0: the daemon's default */
	const char *output;            /* -o FILE */
	const char *socket;            /* --socket, else the default path */
	const char *model;             /* --model, else $POLYTRANS_MODEL */
	double timeout;                /* seconds, 0: none */
	bool json, verbose, quiet, lines, no_start;
	char *const *inputs;           /* FILE... ("-" is stdin) */
	int n_inputs;
	/* Batch jobs (--job): -o is then a folder. */
	bool job, detach;
	int format;                    /* proto_format; AUTO: by extension */
	int32_t priority;
} pc_opts;

/* getopt values of the options every command takes (opts.c); a
 * command's own long options start at PC_OPT_OWN. */
enum {
	PC_OPT_JSON = 256, PC_OPT_SOCKET, PC_OPT_TIMEOUT, PC_OPT_NO_START, PC_OPT_MODEL,
	PC_OPT_OWN
};
#define PC_COMMON_LONG_OPTIONS \
	{ "json", no_argument, NULL, PC_OPT_JSON }, \
	{ "socket", required_argument, NULL, PC_OPT_SOCKET }, \
	{ "timeout", required_argument, NULL, PC_OPT_TIMEOUT }, \
	{ "no-start", no_argument, NULL, PC_OPT_NO_START }, \
	{ "model", required_argument, NULL, PC_OPT_MODEL }, \
	{ "verbose", no_argument, NULL, 'v' }, \
	{ "quiet", no_argument, NULL, 'q' }

/* Prints "polytrans: MESSAGE" and "Try 'HELP --help'" (HELP: the command,
 * e.g. "polytrans job") to stderr; returns PC_EXIT_USAGE. */
int pc_usage(const char *help, const char *fmt, ...) PT_PRINTF(2, 3);
/* Applies common option c (a getopt value) with its argument to *o:
 * 0 when done, -1 when c is not a common option, else the exit status
 * of a usage error (printed). */
int pc_common_opt(const char *help, int c, const char *arg, pc_opts *o);
/* The usage error for getopt's ':' (missing value) or '?' (unknown
 * option) with opterr = 0; returns PC_EXIT_USAGE. */
int pc_getopt_error(const char *help, int c, char *const *argv);

/* ---- Connection (conn.c) ------------------------------------------------ */

/* Called for each notification while a request is waited for. */
typedef void (*pc_note_fn)(const proto_notify *n, void *ud);

typedef struct pc_conn {
	int fd;
	proto_decoder *dec;
	uint32_t next_id;
	double deadline;               /* pt_now() time, 0: none */
	bool broken;                   /* the stream failed: the daemon is unreachable */
	uint32_t inflight[64];         /* msgids sent and not yet answered */
	unsigned n_inflight;
	pc_note_fn on_note;
	void *note_ud;
} pc_conn;

/* Connects to the socket at path. Returns 0, PT_ENOTFOUND when nothing
 * listens there (no socket, or a stale one: a daemon may be started),
 * PT_ETIMEOUT, or PT_EIO/PT_EPERM with a message. */
int pc_conn_open(pc_conn *c, const char *path, double deadline, pt_err *e);
void pc_conn_close(pc_conn *c);

/* Sends a request; *msgid gets its id. At most 64 in flight. */
int pc_conn_send(pc_conn *c, const proto_request *r, uint32_t *msgid, pt_err *e);

/* Waits for the next response (any msgid); notifications go to on_note
 * meanwhile. Returns 0 and a message to free with proto_msg_free,
 * PT_ECANCELLED (SIGINT: `cancel` has been sent for every request in
 * flight), PT_ETIMEOUT (likewise cancelled), or PT_EIO (the connection
 * failed; c->broken is set). */
int pc_conn_recv(pc_conn *c, proto_msg **out, pt_err *e);
/* pc_conn_recv that also returns 0 with *out NULL once pt_now() passes
 * until (0: never), so a caller can redraw between messages. */
int pc_conn_wait(pc_conn *c, double until, proto_msg **out, pt_err *e);

/* Sends r and waits for its response, decoded as the result of r->method.
 * An error reply comes back as a message with resp.error set (return 0);
 * use pc_reply_error to turn it into a message. */
int pc_conn_call(pc_conn *c, const proto_request *r, proto_msg **out, pt_err *e);

/* Fills e from an error reply: "daemon: unsupported_language: ...";
 * returns PT_EINVAL. */
int pc_reply_error(const proto_msg *m, pt_err *e);

/* Asks api_info and checks the answer is a polytrans daemon. */
int pc_conn_hello(pc_conn *c, pt_err *e);

/* ---- Reaching the daemon (spawn.c) ------------------------------------- */

/* The socket path: --socket, else $XDG_RUNTIME_DIR/polytrans.sock. */
int pc_socket_path(const pc_opts *o, char *buf, size_t cap, pt_err *e);

/* Connects to the daemon, starting one unless --no-start (see
 * polytrans(1)). On failure the daemon is unreachable (exit 3). */
int pc_connect(const pc_opts *o, pc_conn *c, pt_err *e);
/* pc_connect unless c is connected already (commands connect only once
 * their input has been read and checked). c starts as PC_CONN_INIT. */
int pc_conn_ensure(const pc_opts *o, pc_conn *c, pt_err *e);
#define PC_CONN_INIT { .fd = -1 }

/* ---- Input and output (io.c) --------------------------------------------- */

/* Reads a whole file ("-": stdin) into *buf (NUL-terminated, free with
 * free()). Returns 0, PT_EIO, PT_ENOMEM, PT_ETOOLARGE or PT_ECANCELLED. */
int pc_read_all(const char *path, char **buf, size_t *len, pt_err *e);

/* Where results go: stdout, or FILE written atomically (a temporary file
 * in the same folder, renamed over FILE by pc_out_commit). */
typedef struct pc_out {
	FILE *f;
	char *path, *tmp;
	bool failed;
} pc_out;

int pc_out_open(pc_out *o, const char *path, pt_err *e);
int pc_out_write(pc_out *o, const void *data, size_t len, pt_err *e);
/* Flushes, fsyncs and renames into place. */
int pc_out_commit(pc_out *o, pt_err *e);
/* Removes the temporary file if not committed; safe to call twice. */
void pc_out_abort(pc_out *o);

/* JSON output: strings escaped per RFC 8259 (input is valid UTF-8). */
void pc_json_str(FILE *f, const char *s, size_t len);
static inline void pc_json_cstr(FILE *f, const char *s)
{
	pc_json_str(f, s, s ? __builtin_strlen(s) : 0);
}
void pc_json_pstr(FILE *f, proto_str s);

/* ---- Commands ----------------------------------------------------------- */

/* Each returns a PC_EXIT_* status and prints its own errors. */
int pc_cmd_translate(const pc_opts *o, pc_conn *c);
int pc_cmd_detect(const pc_opts *o, pc_conn *c);
int pc_cmd_languages(const pc_opts *o, pc_conn *c);
int pc_cmd_status(const pc_opts *o, pc_conn *c);
/* After this client started the daemon itself (info.c): when that daemon
 * serves the small bundled model, one line on stderr says so, once per
 * daemon, unless --quiet. A failure here is silent: the request that
 * follows reports it. */
void pc_bundled_notice(const pc_opts *o, pc_conn *c);

/* ---- Batch jobs ------------------------------------------------------------ */

/* `polytrans --to LANG --job FILE...` (job-submit.c). */
int pc_cmd_job_submit(const pc_opts *o, pc_conn *c);
/* `polytrans jobs ...` and `polytrans job VERB ...` (job-cmd.c): argv[0]
 * is "jobs" or "job". */
int pc_cmd_jobs(int argc, char **argv);
int pc_cmd_job(int argc, char **argv);

/* Where output `name` of a job to `lang` is written (job-out.c): DIR/NAME
 * with a folder, else NAME.LANG.EXT in the current folder ("x.pot" gives
 * "x.LANG.po"). *out is malloc'd. */
int pc_job_out_path(const char *dir, const char *name, const char *lang, char **out,
		    pt_err *e);
/* Makes sure dir is a folder we can write, creating it (one level) if
 * missing. */
int pc_job_out_dir(const char *dir, pt_err *e);

/* Says on stderr that job id goes on without us (why: "runs in the
 * daemon", "detached") and the command that waits for it and writes its
 * outputs where this one would have. */
void pc_job_hint(const char *id, const char *dir, const char *why);

/* Follows job id until it ends, with a progress bar or lines on stderr,
 * then writes its outputs (into dir, see pc_job_out_path) and reports
 * (job-follow.c). The connection must be open. SIGINT detaches: the job
 * goes on, and the message says how to reattach. Returns PC_EXIT_*. */
int pc_job_follow(const pc_opts *o, pc_conn *c, const char *id, const char *dir);
/* job.result of a finished job: writes the outputs that come as content
 * (write: into dir as pc_job_out_path says for lang; dir "-": all to
 * stdout) or lists them; prints the paths and the report. */
int pc_job_outputs(const pc_opts *o, pc_conn *c, const char *id, const char *dir,
		   const char *lang, bool write);

/* The job map as JSON (no newline), and its errors as "PREFIXfile: message"
 * lines (job-cmd.c). */
void pc_job_json(FILE *f, const proto_job_info *j);
void pc_job_print_errors(FILE *f, const proto_job_info *j, const char *prefix);

/* Progress text (progress.c). */
void pc_fmt_duration(double s, char *buf, size_t cap);      /* 45s, 1m20s, 2h05m, 3d04h */
void pc_fmt_time(uint64_t unix_s, char *buf, size_t cap);   /* 2026-11-27 08:20 local */
/* "job ID: 40% (120/300 segments), ETA 1m20s" */
void pc_progress_plain(const char *id, const proto_job_info *j, char *buf, size_t cap);
/* "[########------------]  40% 120/300 segments  ETA 1m20s", fitting width. */
void pc_progress_bar(const proto_job_info *j, int width, char *buf, size_t cap);
int pc_term_width(int fd);

/* Prints "polytrans: MESSAGE" on stderr. */
void pc_error(const char *fmt, ...) PT_PRINTF(1, 2);
void pc_warn(const char *fmt, ...) PT_PRINTF(1, 2);

/* The exit status for a failure code of a command that has a connection:
 * PT_ECANCELLED after SIGINT -> 130, a broken connection -> 3, else 1. */
int pc_exit_for(const pc_conn *c, int rc);

#endif
