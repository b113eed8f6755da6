/*
 * job-submit.c: `polytrans --to LANG --job FILE... [-o DIR]`.
 *
 * The files' contents go to the daemon inside job.submit, not their
 * paths: a daemon run by systemd is sandboxed (PrivateTmp, ProtectHome=
 * read-only) and may not see the files or be able to write next to them.
 * For the same reason no output folder is sent: the outputs stay in the
 * job (under the daemon's state folder, safe across crashes) and this
 * client writes them when the job is done, or later `polytrans job wait
 * ID` or `job result ID -o DIR` does. Only files too large for one
 * message are sent as paths (see PC__INLINE_MAX).
 *
 * Everything that can be checked here is checked before the daemon is
 * asked: a job that would fail on its last file hours later, or overwrite
 * one of its own inputs, is refused at once.
 */
#include "client.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The daemon refuses messages over max_message_bytes (16 MiB by default)
 * by closing the connection; above this many bytes of content the files
 * are sent as paths for the daemon to read instead. */
#define PC__INLINE_MAX ((size_t)15 << 20)

typedef struct pc__in {
	const char *path;
	const char *base;              /* last part of path */
	char *data;
	size_t len;
	char *out;                     /* where its output will be written */
	char *abs;                     /* absolute path, when sent as a path */
} pc__in;

static const char *pc__base(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* Checks what can be checked without reading: readable regular files,
 * distinct names, outputs that replace no input. */
static int pc__check(const pc_opts *o, pc__in *in, int n, pt_err *e)
{
	struct stat st, so;
	for (int i = 0; i < n; i++) {
		in[i].path = o->inputs[i];
		in[i].base = pc__base(in[i].path);
		if (strcmp(in[i].path, "-") == 0)
			return pt_err_set(e, PT_EINVAL, "--job takes files, not standard input "
					  "(a job's outputs are named after its files)");
		if (stat(in[i].path, &st) != 0 || access(in[i].path, R_OK) != 0)
			return pt_err_set(e, PT_EIO, "%s: %s", in[i].path, strerror(errno));
		if (S_ISDIR(st.st_mode))
			return pt_err_set(e, PT_EINVAL, "%s: is a folder; give its files "
					  "(%s/*.md ...)", in[i].path, in[i].path);
		if (!S_ISREG(st.st_mode))
			return pt_err_set(e, PT_EINVAL, "%s: not a regular file", in[i].path);
		if (!*in[i].base || strlen(in[i].base) > PROTO_NAME_MAX)
			return pt_err_set(e, PT_EINVAL, "%s: the file name must be 1 to %d bytes",
					  in[i].path, PROTO_NAME_MAX);
		for (int k = 0; k < i; k++)
			if (strcmp(in[k].base, in[i].base) == 0)
				return pt_err_set(e, PT_EINVAL, "%s and %s have the same name, so "
						  "their outputs would collide: submit them "
						  "as separate jobs", in[k].path, in[i].path);
		int rc = pc_job_out_path(o->output, in[i].base, o->to, &in[i].out, e);
		if (rc)
			return rc;
	}
	/* An output that is an input (the same name in -o ., or a.de.md
	 * given as input next to a.md) would be replaced by a translation. */
	for (int i = 0; i < n; i++) {
		if (stat(in[i].out, &so) != 0)
			continue;
		for (int k = 0; k < n; k++)
			if (stat(in[k].path, &st) == 0 && st.st_dev == so.st_dev &&
			    st.st_ino == so.st_ino)
				return pt_err_set(e, PT_EINVAL, "the output %s would replace the "
						  "input %s: choose another -o DIR", in[i].out,
						  in[k].path);
	}
	return 0;
}

static int pc__read(pc__in *in, int n, size_t *total, pt_err *e)
{
	size_t bad;
	*total = 0;
	for (int i = 0; i < n; i++) {
		int rc = pc_read_all(in[i].path, &in[i].data, &in[i].len, e);
		if (rc)
			return rc;
		/* Every format is text: a document in another encoding is
		 * better refused here than failed by the daemon. */
		if (pt_utf8_check(in[i].data, in[i].len, &bad))
			return pt_err_set(e, PT_EUTF8, "%s: invalid UTF-8 at byte %zu (convert it "
					  "first, e.g. with iconv)", in[i].path, bad);
		if (pt_add_size(*total, in[i].len, total))
			return pt_err_set(e, PT_ETOOLARGE, "the files are too large together");
	}
	return 0;
}

/* Absolute paths, for files sent as paths. */
static int pc__absolutes(pc__in *in, int n, pt_err *e)
{
	for (int i = 0; i < n; i++) {
		in[i].abs = realpath(in[i].path, NULL);
		if (!in[i].abs)
			return pt_err_set(e, PT_EIO, "%s: %s", in[i].path, strerror(errno));
	}
	return 0;
}

/* Sends job.submit; *id gets the job id. */
static int pc__submit(const pc_opts *o, pc_conn *c, pc__in *in, int n, bool by_path,
		      char id[PROTO_JOBID_SIZE], pt_err *e)
{
	proto_request r;
	proto_msg *m = NULL;
	proto_file *files = NULL;
	proto_str *paths = NULL;
	int rc;

	proto_request_init(&r, PROTO_M_JOB_SUBMIT);
	proto_job_submit_req *q = &r.p.job_submit;
	if (by_path) {
		if (!(paths = calloc((size_t)n, sizeof *paths)))
			return pt_err_set(e, PT_ENOMEM, "out of memory");
		for (int i = 0; i < n; i++)
			paths[i] = proto_str_c(in[i].abs);
		q->paths = paths;
		q->n_paths = (uint32_t)n;
	} else {
		if (!(files = calloc((size_t)n, sizeof *files)))
			return pt_err_set(e, PT_ENOMEM, "out of memory");
		for (int i = 0; i < n; i++) {
			files[i].name = proto_str_c(in[i].base);
			files[i].content = (proto_str){ in[i].data, in[i].len };
		}
		q->files = files;
		q->n_files = (uint32_t)n;
	}
	memcpy(q->to, o->to, sizeof q->to);
	memcpy(q->from, o->from, sizeof q->from);
	q->format = o->format;
	q->priority = o->priority;
	rc = pc_conn_call(c, &r, &m, e);
	free(files);
	free(paths);
	if (rc) {
		if (rc == PT_ECANCELLED && pc_interrupted)
			pc_error("interrupted before the daemon answered: the job may have been "
				 "created; see 'polytrans jobs'");
		return rc;
	}
	if (m->resp.error.code != PROTO_ERR_NONE) {
		pc_reply_error(m, e);
		pt_err_prefix(e, "job.submit");
		proto_msg_free(m);
		return PT_EINVAL;
	}
	memcpy(id, m->resp.r.job_submit.job, PROTO_JOBID_SIZE);
	proto_msg_free(m);
	return 0;
}

static void pc__detached(const pc_opts *o, const char *id)
{
	if (o->json) {
		fputs("{\"job\": ", stdout);
		pc_json_cstr(stdout, id);
		fputs(", \"state\": \"queued\", \"detached\": true}\n", stdout);
	} else if (!o->quiet) {
		pc_job_hint(id, o->output, "runs in the daemon");
	}
	fflush(stdout);
}

static void pc__ins_free(pc__in *in, int n)
{
	for (int i = 0; in && i < n; i++) {
		free(in[i].data);
		free(in[i].out);
		free(in[i].abs);
	}
	free(in);
}

int pc_cmd_job_submit(const pc_opts *o, pc_conn *c)
{
	int n = o->n_inputs, rc, st = PC_EXIT_FAIL;
	pt_err e = { 0 };
	char id[PROTO_JOBID_SIZE];
	size_t total = 0;
	pc__in *in = calloc((size_t)n, sizeof *in);

	if (!in) {
		pc_error("out of memory");
		return PC_EXIT_FAIL;
	}
	if ((o->output && (rc = pc_job_out_dir(o->output, &e))) ||
	    (rc = pc__check(o, in, n, &e)) || (rc = pc__read(in, n, &total, &e)))
		goto fail;
	bool by_path = total > PC__INLINE_MAX;
	if (by_path && (rc = pc__absolutes(in, n, &e)))
		goto fail;
	if ((rc = pc_conn_ensure(o, c, &e)) || (rc = pc__submit(o, c, in, n, by_path, id, &e)))
		goto fail;
	/* The contents are with the daemon now. */
	for (int i = 0; i < n; i++) {
		free(in[i].data);
		in[i].data = NULL;
	}
	if (!o->json)
		printf("job %s\n", id);
	fflush(stdout);
	if (o->detach) {
		pc__detached(o, id);
		st = PC_EXIT_OK;
	} else {
		st = pc_job_follow(o, c, id, o->output);
	}
	pc__ins_free(in, n);
	return st;
fail:
	pc__ins_free(in, n);
	if (!(rc == PT_ECANCELLED && pc_interrupted))
		pc_error("%s", e.msg);
	/* Before any daemon is asked, PT_EINVAL is a command line that
	 * cannot work (a folder, two inputs of one name, -o over an input). */
	if (c->fd < 0 && !c->broken)
		return rc == PT_EINVAL ? PC_EXIT_USAGE : PC_EXIT_FAIL;
	return pc_exit_for(c, rc);
}
