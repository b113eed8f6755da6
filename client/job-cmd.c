/*
 * job-cmd.c: `polytrans jobs` and `polytrans job status|wait|cancel|result
 * ID`, the commands that look after batch jobs submitted earlier (with
 * --job, or by any client of the protocol).
 *
 * They take the common options (--socket, --no-start, --timeout, --model,
 * --json, -q, -v) and, for wait and result, -o DIR. A job id may begin
 * with '-' (ids are random letters, digits, '-' and '_'): an argument
 * that looks like a whole id is taken as one, and `--` works as usual.
 */
#include "client.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define PC__HELP "polytrans job"

static const struct option pc__long[] = {
	{ "output", required_argument, NULL, 'o' },
	PC_COMMON_LONG_OPTIONS,
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void pc__help(void)
{
	fputs("Usage: polytrans jobs [--json]\n"
	      "       polytrans job status ID [--json]\n"
	      "       polytrans job wait ID [-o DIR] [--json]\n"
	      "       polytrans job cancel ID\n"
	      "       polytrans job result ID [-o DIR|-] [--json]\n"
	      "Look after batch jobs (submitted with polytrans --to LANG --job FILE...).\n"
	      "\n"
	      "  jobs                 list the jobs: id, state, progress, target, files, created\n"
	      "  job status ID        state, progress, ETA and errors of one job\n"
	      "  job wait ID          follow a job until it ends, then write its outputs\n"
	      "  job cancel ID        stop a job (its finished segments are dropped)\n"
	      "  job result ID        list a finished job's outputs and report;\n"
	      "                       with -o DIR write them there (-o -: to standard output)\n"
	      "  -o, --output DIR     folder for the outputs [wait: NAME.LANG.EXT here]\n"
	      "Common options: --json, --socket PATH, --timeout SECS, --no-start, --model FILE,\n"
	      "  -q (no progress), -v, -h. Exit status: 0 ok, 1 the job failed or an error,\n"
	      "  2 usage error, 3 daemon unreachable, 130 detached by Ctrl-C. See polytrans(1).\n",
	      stdout);
}

/* An argument that is a whole job id even though it starts with '-'. */
static bool pc__id_like(const char *s)
{
	size_t n = strlen(s);
	return s[0] == '-' && s[1] != '-' && n >= 8 && n < PROTO_JOBID_SIZE &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == n;
}

static bool pc__valid_id(const char *s)
{
	size_t n = strlen(s);
	return n >= 1 && n < PROTO_JOBID_SIZE &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == n;
}

/* Parses the options after the command word(s) (args: a copy of argv
 * with room for argc + 1); *id gets the one operand when want_id.
 * Returns -1 to go on, else an exit status. */
static int pc__parse_in(int argc, char **argv, char **args, bool want_id, bool out_ok,
			pc_opts *o, const char **id)
{
	int n = 0;
	memset(o, 0, sizeof *o);
	strcpy(o->from, "auto");
	*id = NULL;
	/* Take a '-'-led id out before getopt sees it as options. */
	for (int i = 0; i < argc; i++) {
		bool value = i > 0 && (strcmp(argv[i - 1], "-o") == 0 ||
				       strcmp(argv[i - 1], "--output") == 0 ||
				       strcmp(argv[i - 1], "--socket") == 0 ||
				       strcmp(argv[i - 1], "--timeout") == 0 ||
				       strcmp(argv[i - 1], "--model") == 0);
		if (i > 0 && want_id && !*id && !value && pc__id_like(argv[i]))
			*id = argv[i];
		else
			args[n++] = argv[i];
	}
	args[n] = NULL;
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(n, args, ":o:vqh", pc__long, NULL)) != -1) {
		int st = pc_common_opt(PC__HELP, c, optarg, o);
		if (st > 0)
			return st;
		if (st == 0)
			continue;
		switch (c) {
		case 'o': o->output = optarg; break;
		case 'h': pc__help(); return PC_EXIT_OK;
		default: return pc_getopt_error(PC__HELP, c, args);
		}
	}
	if (o->output && !out_ok)
		return pc_usage(PC__HELP, "-o goes with job wait and job result");
	if (want_id && !*id) {
		if (optind >= n)
			return pc_usage(PC__HELP, "say which job: its id, as 'polytrans jobs' lists them");
		*id = args[optind++];
	}
	if (optind < n)
		return pc_usage(PC__HELP, "unexpected argument '%s'", args[optind]);
	if (*id && !pc__valid_id(*id))
		return pc_usage(PC__HELP, "'%s' is not a job id (1 to %d letters, digits, '-' or '_')", *id,
				 PROTO_JOBID_SIZE - 1);
	return -1;
}

static int pc__parse(int argc, char **argv, bool want_id, bool out_ok, pc_opts *o,
		     const char **id)
{
	char **args = calloc((size_t)argc + 1, sizeof *args);
	if (!args) {
		pc_error("out of memory");
		return PC_EXIT_FAIL;
	}
	/* Everything kept points into argv, not into the copy. */
	int st = pc__parse_in(argc, argv, args, want_id, out_ok, o, id);
	free(args);
	return st;
}

void pc_job_json(FILE *f, const proto_job_info *j)
{
	fputs("{\"job\": ", f);
	pc_json_cstr(f, j->job);
	fputs(", \"state\": ", f);
	pc_json_cstr(f, proto_job_state_name(j->state));
	fputs(", \"to\": ", f);
	pc_json_cstr(f, j->to);
	fprintf(f, ", \"files\": %u, \"done\": %llu, \"total\": %llu, \"percent\": %.1f, "
		"\"eta_s\": ", j->files, (unsigned long long)j->done,
		(unsigned long long)j->total, j->percent);
	if (j->has_eta)
		fprintf(f, "%.0f", j->eta_s);
	else
		fputs("null", f);
	fprintf(f, ", \"created\": %llu, \"errors\": [", (unsigned long long)j->created);
	for (uint32_t i = 0; i < j->n_errors; i++) {
		fputs(i ? ", {\"file\": " : "{\"file\": ", f);
		pc_json_pstr(f, j->errors[i].file);
		fputs(", \"message\": ", f);
		pc_json_pstr(f, j->errors[i].message);
		fputc('}', f);
	}
	fputs("]}", f);
}

void pc_job_print_errors(FILE *f, const proto_job_info *j, const char *prefix)
{
	for (uint32_t i = 0; i < j->n_errors; i++) {
		const proto_job_error *er = &j->errors[i];
		if (er->file.len)
			fprintf(f, "%s%.*s: %.*s\n", prefix, (int)er->file.len, er->file.ptr,
				(int)er->message.len, er->message.ptr);
		else
			fprintf(f, "%s%.*s\n", prefix, (int)er->message.len, er->message.ptr);
	}
}

/* Connects, calls method (with the job id when id), and hands back a
 * success reply; errors are printed and *st gets the exit status. */
static proto_msg *pc__call(const pc_opts *o, pc_conn *c, int method, const char *id, int *st)
{
	proto_request r;
	proto_msg *m = NULL;
	pt_err e = { 0 };
	int rc;

	proto_request_init(&r, method);
	if (id)
		snprintf(r.p.job.job, sizeof r.p.job.job, "%s", id);
	if ((rc = pc_conn_ensure(o, c, &e)) || (rc = pc_conn_call(c, &r, &m, &e))) {
		if (!(rc == PT_ECANCELLED && pc_interrupted))
			pc_error("%s", e.msg);
		*st = c->fd < 0 || c->broken ? PC_EXIT_UNREACH : pc_exit_for(c, rc);
		return NULL;
	}
	if (m->resp.error.code != PROTO_ERR_NONE) {
		pc_reply_error(m, &e);
		if (id)
			pc_error("job %s: %s", id, e.msg);
		else
			pc_error("%s: %s", proto_method_name(method), e.msg);
		proto_msg_free(m);
		*st = PC_EXIT_FAIL;
		return NULL;
	}
	*st = PC_EXIT_OK;
	return m;
}

static void pc__list_row(const proto_job_info *j)
{
	char prog[64], when[32];
	unsigned pct = j->percent >= 0 && j->percent <= 100 ? (unsigned)j->percent : 0;
	if (pct == 100 && j->state != PROTO_JOB_DONE && j->done < j->total)
		pct = 99;
	snprintf(prog, sizeof prog, "%3u%% %llu/%llu", pct, (unsigned long long)j->done,
		 (unsigned long long)j->total);
	pc_fmt_time(j->created, when, sizeof when);
	printf("%-22s  %-9s  %-17s  %-5s  %5u  %s\n", j->job, proto_job_state_name(j->state),
	       prog, j->to, j->files, when);
}

static int pc__jobs(const pc_opts *o, pc_conn *c)
{
	int st;
	proto_msg *m = pc__call(o, c, PROTO_M_JOB_LIST, NULL, &st);
	if (!m)
		return st;
	const proto_job_list_res *l = &m->resp.r.job_list;
	if (o->json) {
		fputs("{\"jobs\": [", stdout);
		for (uint32_t i = 0; i < l->n_jobs; i++) {
			if (i)
				fputs(", ", stdout);
			pc_job_json(stdout, &l->jobs[i]);
		}
		fputs("]}\n", stdout);
	} else if (l->n_jobs == 0) {
		if (!o->quiet)
			fputs("polytrans: no jobs\n", stderr);
	} else {
		printf("%-22s  %-9s  %-17s  %-5s  %5s  %s\n", "ID", "STATE", "PROGRESS", "TO",
		       "FILES", "CREATED");
		for (uint32_t i = 0; i < l->n_jobs; i++)
			pc__list_row(&l->jobs[i]);
	}
	proto_msg_free(m);
	return PC_EXIT_OK;
}

static int pc__status(const pc_opts *o, pc_conn *c, const char *id)
{
	int st;
	char line[256], when[32];
	proto_msg *m = pc__call(o, c, PROTO_M_JOB_STATUS, id, &st);
	if (!m)
		return st;
	const proto_job_info *j = &m->resp.r.job_status;
	if (o->json) {
		pc_job_json(stdout, j);
		fputc('\n', stdout);
	} else {
		pc_progress_plain(j->job, j, line, sizeof line);
		pc_fmt_time(j->created, when, sizeof when);
		printf("job       %s\nstate     %s\nprogress  %s\nto        %s\nfiles     %u\n"
		       "created   %s\n", j->job, proto_job_state_name(j->state),
		       line + strlen(j->job) + 6, j->to, j->files, when);
		pc_job_print_errors(stdout, j, "error     ");
	}
	proto_msg_free(m);
	return PC_EXIT_OK;
}

static int pc__cancel(const pc_opts *o, pc_conn *c, const char *id)
{
	int st;
	proto_msg *m = pc__call(o, c, PROTO_M_JOB_CANCEL, id, &st);
	if (!m)
		return st;
	bool done = m->resp.r.cancel.cancelled;
	proto_msg_free(m);
	if (done) {
		if (!o->quiet)
			fprintf(stderr, "polytrans: job %s cancelled\n", id);
		return PC_EXIT_OK;
	}
	/* Say how it ended, so "nothing to cancel" is not a mystery. */
	if ((m = pc__call(o, c, PROTO_M_JOB_STATUS, id, &st)) == NULL)
		return PC_EXIT_FAIL;
	pc_error("job %s had already ended (%s): nothing to cancel", id,
		 proto_job_state_name(m->resp.r.job_status.state));
	proto_msg_free(m);
	return PC_EXIT_FAIL;
}

/* The id a command names: the id itself, or a unique start of one (ids
 * are long and random; the first few characters are enough to type).
 * Returns -1 to go on, else an exit status. */
static int pc__resolve(const pc_opts *o, pc_conn *c, const char *id,
		       char full[PROTO_JOBID_SIZE])
{
	int st;
	uint32_t n = 0;
	size_t len = strlen(id);
	proto_msg *m = pc__call(o, c, PROTO_M_JOB_LIST, NULL, &st);

	snprintf(full, PROTO_JOBID_SIZE, "%s", id);
	if (!m)
		return st;
	const proto_job_list_res *l = &m->resp.r.job_list;
	for (uint32_t i = 0; i < l->n_jobs; i++) {
		if (strcmp(l->jobs[i].job, id) == 0) {
			n = 1;
			break;
		}
		if (strncmp(l->jobs[i].job, id, len) == 0 && n++ == 0)
			snprintf(full, PROTO_JOBID_SIZE, "%s", l->jobs[i].job);
	}
	proto_msg_free(m);
	if (n > 1) {
		pc_error("'%s' is the start of %u jobs' ids: give more of it", id, (unsigned)n);
		return PC_EXIT_FAIL;
	}
	return -1;     /* none: the daemon will say there is no such job */
}

static int pc__job_verb(const char *verb, int argc, char **argv)
{
	pc_opts o;
	pc_conn c = PC_CONN_INIT;
	pt_err e = { 0 };
	const char *id;
	char full[PROTO_JOBID_SIZE];
	int st;
	bool is_wait = strcmp(verb, "wait") == 0, is_result = strcmp(verb, "result") == 0;

	if (strcmp(verb, "status") && strcmp(verb, "cancel") && !is_wait && !is_result)
		return pc_usage(PC__HELP, "unknown job command '%s' (status, wait, cancel, result)", verb);
	if ((st = pc__parse(argc, argv, true, is_wait || is_result, &o, &id)) >= 0)
		return st;
	if (o.output && (is_wait || strcmp(o.output, "-") != 0) &&
	    pc_job_out_dir(o.output, &e) != 0) {
		pc_error("%s", e.msg);
		return PC_EXIT_FAIL;
	}
	if (is_wait && o.output && strcmp(o.output, "-") == 0)
		return pc_usage(PC__HELP, "job wait -o takes a folder; 'job result ID -o -' prints outputs");
	if ((st = pc__resolve(&o, &c, id, full)) >= 0)
		;
	else if (is_wait)
		st = pc_job_follow(&o, &c, full, o.output);
	else if (is_result)
		st = pc_job_outputs(&o, &c, full, o.output, "", o.output != NULL);
	else if (strcmp(verb, "status") == 0)
		st = pc__status(&o, &c, full);
	else
		st = pc__cancel(&o, &c, full);
	pc_conn_close(&c);
	if (pc_interrupted && st != PC_EXIT_OK)
		return PC_EXIT_INT;
	return st;
}

int pc_cmd_jobs(int argc, char **argv)
{
	pc_opts o;
	pc_conn c = PC_CONN_INIT;
	const char *id;
	int st = pc__parse(argc, argv, false, false, &o, &id);
	if (st >= 0)
		return st;
	st = pc__jobs(&o, &c);
	pc_conn_close(&c);
	return pc_interrupted && st != PC_EXIT_OK ? PC_EXIT_INT : st;
}

int pc_cmd_job(int argc, char **argv)
{
	if (argc < 2)
		return pc_usage(PC__HELP, "say what to do: job status|wait|cancel|result ID");
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		pc__help();
		return PC_EXIT_OK;
	}
	if (strcmp(argv[1], "list") == 0) {
		argv[1] = argv[0];
		return pc_cmd_jobs(argc - 1, argv + 1);
	}
	return pc__job_verb(argv[1], argc - 1, argv + 1);
}
