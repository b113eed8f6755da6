/*
 * job-out.c: a finished job's outputs: where they go on this machine, and
 * fetching them with job.result, writing each atomically (a temporary
 * file renamed into place), listing them, and the job's report.
 */
#include "client.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int pc_job_out_path(const char *dir, const char *name, const char *lang, char **out,
		    pt_err *e)
{
	size_t n, nl = strlen(name), ll = strlen(lang);
	char *p;

	if (dir) {
		size_t dl = strlen(dir);
		while (dl > 1 && dir[dl - 1] == '/')
			dl--;
		if (pt_add_size(dl, nl, &n) || pt_add_size(n, 2, &n) || !(p = malloc(n)))
			return pt_err_set(e, PT_ENOMEM, "out of memory");
		snprintf(p, n, "%.*s/%s", (int)dl, dir, name);
		*out = p;
		return 0;
	}
	/* NAME.LANG.EXT: the extension stays last, so the format of the
	 * output is as clear as its input's. A leading dot is no extension. */
	const char *dot = strrchr(name, '.');
	if (dot == name)
		dot = NULL;
	size_t stem = dot ? (size_t)(dot - name) : nl;
	const char *ext = dot ? dot : "";
	/* A translated template is a catalogue: x.pot gives x.LANG.po. */
	if (strcmp(ext, ".pot") == 0)
		ext = ".po";
	if (pt_add_size(nl, ll, &n) || pt_add_size(n, 3, &n) || !(p = malloc(n)))
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	snprintf(p, n, "%.*s.%s%s", (int)stem, name, lang, ext);
	*out = p;
	return 0;
}

int pc_job_out_dir(const char *dir, pt_err *e)
{
	struct stat st;
	if (strcmp(dir, "-") == 0)
		return 0;
	if (stat(dir, &st) != 0) {
		if (errno != ENOENT || mkdir(dir, 0777) != 0)
			return pt_err_set(e, PT_EIO, "-o %s: %s", dir, strerror(errno));
		return 0;
	}
	if (!S_ISDIR(st.st_mode))
		return pt_err_set(e, PT_EINVAL, "-o %s: not a folder (with --job, -o names the "
				  "folder the outputs go to)", dir);
	if (access(dir, W_OK | X_OK) != 0)
		return pt_err_set(e, PT_EPERM, "-o %s: cannot write there: %s", dir,
				  strerror(errno));
	return 0;
}

/* Prints s so that a shell reads it back as one word. */
static void pc__shell_word(FILE *f, const char *s)
{
	if (*s && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		      "0123456789/._-+=:,@%") == strlen(s)) {
		fputs(s, f);
		return;
	}
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", f);
		else
			fputc(*s, f);
	}
	fputc('\'', f);
}

void pc_job_hint(const char *id, const char *dir, const char *why)
{
	char cwd[PATH_MAX];
	char *abs = dir && strcmp(dir, "-") != 0 ? realpath(dir, NULL) : NULL;

	fprintf(stderr, "polytrans: job %s %s; to follow it and write its outputs: "
		"polytrans job wait ", id, why);
	pc__shell_word(stderr, id);
	if (dir) {
		fputs(" -o ", stderr);
		pc__shell_word(stderr, abs ? abs : dir);
	} else if (getcwd(cwd, sizeof cwd)) {
		/* Without -o the outputs go to the folder the command runs in. */
		fputs(" (in ", stderr);
		fputs(cwd, stderr);
		fputc(')', stderr);
	}
	fputc('\n', stderr);
	free(abs);
}

static int pc__write_one(const char *path, proto_str content, pt_err *e)
{
	pc_out out;
	int rc = pc_out_open(&out, path, e);
	if (rc == 0 && (rc = pc_out_write(&out, content.ptr, content.len, e)) == 0)
		rc = pc_out_commit(&out, e);
	if (rc)
		pc_out_abort(&out);
	return rc;
}

static void pc__json_result(const proto_job_result_res *r, char **paths)
{
	fputs("{\"job\": ", stdout);
	pc_json_cstr(stdout, r->job);
	fputs(", \"state\": ", stdout);
	pc_json_cstr(stdout, proto_job_state_name(r->state));
	fputs(", \"outputs\": [", stdout);
	for (uint32_t i = 0; i < r->n_outputs; i++) {
		const proto_job_output *p = &r->outputs[i];
		fputs(i ? ", {\"name\": " : "{\"name\": ", stdout);
		pc_json_pstr(stdout, p->name);
		if (p->path.ptr || paths[i]) {
			fputs(", \"path\": ", stdout);
			if (p->path.ptr)
				pc_json_pstr(stdout, p->path);
			else
				pc_json_cstr(stdout, paths[i]);
		}
		if (p->content.ptr)
			printf(", \"bytes\": %zu", p->content.len);
		fputc('}', stdout);
	}
	printf("], \"report\": {\"segments\": %llu, \"flagged\": %llu, \"messages\": [",
	       (unsigned long long)r->report.segments, (unsigned long long)r->report.flagged);
	for (uint32_t i = 0; i < r->report.n_messages; i++) {
		if (i)
			fputs(", ", stdout);
		pc_json_pstr(stdout, r->report.messages[i]);
	}
	fputs("]}}\n", stdout);
}

/* Outputs and report for a person: "output PATH" lines on stdout,
 * the report on stderr. */
static void pc__print_result(const pc_opts *o, const proto_job_result_res *r, char **paths,
			     bool to_stdout)
{
	for (uint32_t i = 0; i < r->n_outputs && !to_stdout; i++) {
		const proto_job_output *p = &r->outputs[i];
		if (p->path.ptr)
			printf("output %.*s\n", (int)p->path.len, p->path.ptr);
		else if (paths[i])
			printf("output %s\n", paths[i]);
		else
			printf("kept %.*s (%zu bytes; -o DIR writes it)\n", (int)p->name.len,
			       p->name.ptr, p->content.len);
	}
	for (uint32_t i = 0; i < r->report.n_messages; i++)
		pc_warn("job %s: %.*s", r->job, (int)r->report.messages[i].len,
			r->report.messages[i].ptr);
	if (r->report.flagged > r->report.n_messages)
		pc_warn("job %s: %llu more segments flagged", r->job,
			(unsigned long long)(r->report.flagged - r->report.n_messages));
	if (r->report.flagged || o->verbose)
		fprintf(stderr, "polytrans: job %s: %llu segments, %llu flagged (a placeholder "
			"or markup lost even after a retry: check them)\n", r->job,
			(unsigned long long)r->report.segments,
			(unsigned long long)r->report.flagged);
}

/* Writes every output that came as content; paths[i] gets where. */
static int pc__write_all(const proto_job_result_res *r, const char *dir, const char *lang,
			 char **paths, pt_err *e)
{
	for (uint32_t i = 0; i < r->n_outputs; i++) {
		const proto_job_output *p = &r->outputs[i];
		char name[PROTO_NAME_MAX + 1];
		int rc;
		if (!p->content.ptr)
			continue;
		if (dir && strcmp(dir, "-") == 0) {
			if (fwrite(p->content.ptr, 1, p->content.len, stdout) != p->content.len ||
			    fflush(stdout) != 0)
				return pt_err_set(e, PT_EIO, "standard output: %s", strerror(errno));
			continue;
		}
		/* The name was checked by proto: a base name of at most 255 bytes. */
		snprintf(name, sizeof name, "%.*s", (int)p->name.len, p->name.ptr);
		if ((rc = pc_job_out_path(dir, name, lang, &paths[i], e)) ||
		    (rc = pc__write_one(paths[i], p->content, e))) {
			free(paths[i]);
			paths[i] = NULL;
			return rc;
		}
	}
	return 0;
}

int pc_job_outputs(const pc_opts *o, pc_conn *c, const char *id, const char *dir,
		   const char *lang, bool write)
{
	proto_request r;
	proto_msg *m = NULL;
	pt_err e = { 0 };
	char **paths = NULL;
	int rc, st = PC_EXIT_OK;

	proto_request_init(&r, PROTO_M_JOB_RESULT);
	snprintf(r.p.job.job, sizeof r.p.job.job, "%s", id);
	if ((rc = pc_conn_call(c, &r, &m, &e))) {
		if (!(rc == PT_ECANCELLED && pc_interrupted))
			pc_error("%s", e.msg);
		return pc_exit_for(c, rc);
	}
	if (m->resp.error.code != PROTO_ERR_NONE) {
		pc_reply_error(m, &e);
		pc_error("job %s: %s", id, e.msg);
		proto_msg_free(m);
		return PC_EXIT_FAIL;
	}
	const proto_job_result_res *res = &m->resp.r.job_result;
	if (res->state != PROTO_JOB_DONE) {
		if (res->state <= PROTO_JOB_RUNNING)
			pc_error("job %s is %s: its outputs are not ready ('polytrans job wait "
				 "%s' waits for them)", id, proto_job_state_name(res->state), id);
		else
			pc_error("job %s %s: it has no outputs", id,
				 proto_job_state_name(res->state));
		proto_msg_free(m);
		return PC_EXIT_FAIL;
	}
	if (res->n_outputs && !(paths = calloc(res->n_outputs, sizeof *paths))) {
		proto_msg_free(m);
		pc_error("out of memory");
		return PC_EXIT_FAIL;
	}
	if (write && (rc = pc__write_all(res, dir, lang, paths, &e))) {
		pc_error("%s", e.msg);
		pc_error("the outputs stay in job %s: 'polytrans job result %s -o DIR' writes "
			 "them", id, id);
		st = PC_EXIT_FAIL;
	}
	bool to_stdout = write && dir && strcmp(dir, "-") == 0;
	if (o->json && !to_stdout)
		pc__json_result(res, paths);
	else if (!o->json)
		pc__print_result(o, res, paths, to_stdout);
	fflush(stdout);
	for (uint32_t i = 0; i < res->n_outputs; i++)
		free(paths ? paths[i] : NULL);
	free(paths);
	proto_msg_free(m);
	return st;
}
