/*
 * job-follow.c: following a job until it ends (after --job, and for
 * `polytrans job wait ID`).
 *
 * The job is asked for with job.status and subscribe, so the daemon sends
 * job.progress as it advances; a job.status every PC__POLL_S seconds
 * keeps the picture true even if notifications are lost (a daemon may
 * drop them for a slow reader, or restart). On a terminal the bar is
 * redrawn in place; elsewhere a plain line is written at most every
 * PC__PLAIN_S seconds and at every change of state, so a log stays short.
 *
 * Jobs outlive the daemon, so a connection that breaks (the daemon
 * crashed, was killed or restarted) is not the end: the client connects
 * again, starting a daemon as any command would (unless --no-start), and
 * follows the job from where the new daemon resumed it, for up to
 * PC__RECONNECT_S seconds without an answer.
 *
 * Ctrl-C only stops this client: the `cancel` that conn.c sends on SIGINT
 * concerns the job.status request in flight, never the job, which goes
 * on in the daemon; the message says how to come back to it.
 */
#include "client.h"

#include <string.h>
#include <unistd.h>

#define PC__TICK_S 1.0
#define PC__POLL_S 10.0
#define PC__PLAIN_S 5.0
#define PC__REDRAW_S 0.1
#define PC__RECONNECT_S 60.0

enum { PC__SHOW_NONE, PC__SHOW_BAR, PC__SHOW_PLAIN };

typedef struct pc__fol {
	const pc_opts *o;
	pc_conn *c;
	const char *id;
	proto_job_info info;           /* last known; errors not kept */
	int show;
	double drawn_at;
	int printed_state;             /* -1: nothing printed yet */
	uint64_t printed_done;
	bool bar_up;                   /* a bar is on the screen */
	uint32_t poll_id;              /* msgid of the job.status in flight, 0: none */
	double polled_at;
} pc__fol;

static bool pc__ended(int state)
{
	return state == PROTO_JOB_DONE || state == PROTO_JOB_FAILED ||
	       state == PROTO_JOB_CANCELLED;
}

static void pc__take(pc__fol *f, const proto_job_info *in)
{
	f->info = *in;
	f->info.errors = NULL;
	f->info.n_errors = 0;
}

static void pc__draw(pc__fol *f, bool force)
{
	char line[512];
	double now = pt_now();

	if (f->show == PC__SHOW_BAR) {
		if (!force && now - f->drawn_at < PC__REDRAW_S)
			return;
		pc_progress_bar(&f->info, pc_term_width(2), line, sizeof line);
		fprintf(stderr, "\r%s\033[K", line);
		fflush(stderr);
		f->bar_up = true;
	} else if (f->show == PC__SHOW_PLAIN) {
		bool changed = f->info.state != f->printed_state;
		if (!changed && (f->info.done == f->printed_done || now - f->drawn_at < PC__PLAIN_S))
			return;
		pc_progress_plain(f->id, &f->info, line, sizeof line);
		fprintf(stderr, "%s\n", line);
		fflush(stderr);
		f->printed_state = f->info.state;
		f->printed_done = f->info.done;
	}
	f->drawn_at = now;
}

/* Ends the bar's line: kept when the job ended (the person sees it
 * reach the end), wiped otherwise. */
static void pc__bar_close(pc__fol *f, bool keep)
{
	if (!f->bar_up)
		return;
	fputs(keep ? "\n" : "\r\033[K", stderr);
	fflush(stderr);
	f->bar_up = false;
}

static void pc__on_note(const proto_notify *n, void *ud)
{
	pc__fol *f = ud;
	if (n->kind != PROTO_N_JOB_PROGRESS || strcmp(n->n.progress.job, f->id) != 0)
		return;
	pc__take(f, &n->n.progress);
	pc__draw(f, pc__ended(f->info.state));
}

/* job.status (subscribe: follow it from now on); *out keeps the reply
 * when wanted (its errors), else the state is taken and it is freed. */
static int pc__status(pc__fol *f, bool subscribe, proto_msg **out, pt_err *e)
{
	proto_request r;
	proto_msg *m;
	proto_request_init(&r, PROTO_M_JOB_STATUS);
	snprintf(r.p.job.job, sizeof r.p.job.job, "%s", f->id);
	r.p.job.subscribe = subscribe;
	int rc = pc_conn_call(f->c, &r, &m, e);
	if (rc)
		return rc;
	if (m->resp.error.code != PROTO_ERR_NONE) {
		pc_reply_error(m, e);
		pt_err_prefix(e, "job %s", f->id);
		proto_msg_free(m);
		return PT_EINVAL;
	}
	pc__take(f, &m->resp.r.job_status);
	if (out)
		*out = m;
	else
		proto_msg_free(m);
	return 0;
}

/* The answer to a poll: a job.status reply, or one given up on. */
static int pc__poll_reply(pc__fol *f, proto_msg *m, pt_err *e)
{
	int rc = 0;
	if (m->msgid != f->poll_id) {
		proto_msg_free(m);
		return 0;
	}
	f->poll_id = 0;
	if (m->resp.error.code != PROTO_ERR_NONE) {
		pc_reply_error(m, e);
		pt_err_prefix(e, "job %s", f->id);
		rc = PT_EINVAL;
	} else if ((rc = proto_response_decode(m, PROTO_M_JOB_STATUS, e)) == 0) {
		pc__take(f, &m->resp.r.job_status);
	}
	proto_msg_free(m);
	return rc;
}

static void pc__sleep(double s)
{
	double until = pt_now() + s;
	while (!pc_interrupted && pt_now() < until)
		usleep(50000);
}

/* The connection broke: connect again (a daemon is started if none
 * runs) and subscribe anew. Returns 0 when following can go on. */
static int pc__reconnect(pc__fol *f, pt_err *e)
{
	double until = pt_now() + PC__RECONNECT_S;
	pc__bar_close(f, false);
	if (!f->o->quiet)
		fprintf(stderr, "polytrans: job %s: %s; connecting again\n", f->id, e->msg);
	int rc = PT_EIO;
	while (rc != 0 && !pc_interrupted && pt_now() < until) {
		pc_conn_close(f->c);
		f->c->broken = false;
		pc__sleep(0.5);
		if (pc_interrupted)
			return pt_err_set(e, PT_ECANCELLED, "interrupted");
		rc = pc_connect(f->o, f->c, e);
		if (rc == 0) {
			/* pc_conn_open starts the connection afresh. */
			f->c->on_note = pc__on_note;
			f->c->note_ud = f;
			f->poll_id = 0;
			rc = pc__status(f, true, NULL, e);
		}
		if (rc && !f->c->broken && f->c->fd >= 0)
			return rc;     /* an answer, but an error one (no such job) */
		if (f->o->no_start)
			break;
	}
	if (rc)
		f->c->broken = true;
	return rc;
}

/* Waits until the job ends, drawing as it goes. */
static int pc__loop(pc__fol *f, pt_err *e)
{
	int rc = pc__status(f, true, NULL, e);
	f->polled_at = pt_now();
	for (;;) {
		if (rc && f->c->broken && !pc_interrupted)
			rc = pc__reconnect(f, e);
		if (rc || pc__ended(f->info.state))
			break;
		proto_msg *m;
		pc__draw(f, false);
		double now = pt_now();
		if (f->poll_id == 0 && now - f->polled_at >= PC__POLL_S) {
			proto_request r;
			proto_request_init(&r, PROTO_M_JOB_STATUS);
			snprintf(r.p.job.job, sizeof r.p.job.job, "%s", f->id);
			if ((rc = pc_conn_send(f->c, &r, &f->poll_id, e)))
				continue;
			f->polled_at = now;
		}
		if ((rc = pc_conn_wait(f->c, now + PC__TICK_S, &m, e)) == 0 && m)
			rc = pc__poll_reply(f, m, e);
	}
	return rc;
}

/* A failed or cancelled job: why, from a fresh job.status. */
static int pc__ended_badly(pc__fol *f)
{
	proto_msg *m = NULL;
	pt_err e = { 0 };
	if (pc__status(f, false, &m, &e) != 0) {
		pc_error("job %s %s", f->id, proto_job_state_name(f->info.state));
		return PC_EXIT_FAIL;
	}
	const proto_job_info *j = &m->resp.r.job_status;
	if (f->o->json) {
		pc_job_json(stdout, j);
		fputc('\n', stdout);
	}
	if (j->state == PROTO_JOB_CANCELLED) {
		pc_error("job %s was cancelled", f->id);
	} else if (j->state == PROTO_JOB_FAILED) {
		pc_error("job %s failed", f->id);
		pc_job_print_errors(stderr, j, "  ");
		pc_error("its input and the segments already done are kept: a disk error is "
			 "retried by the daemon, 'polytrans job wait %s' waits again", f->id);
	} else {
		/* It came back to life (the daemon retried it): say how to wait. */
		pc_job_hint(f->id, NULL, proto_job_state_name(j->state));
	}
	proto_msg_free(m);
	return PC_EXIT_FAIL;
}

int pc_job_follow(const pc_opts *o, pc_conn *c, const char *id, const char *dir)
{
	pc__fol f = { .o = o, .c = c, .id = id, .printed_state = -1 };
	pt_err e = { 0 };

	if (!o->quiet)
		f.show = isatty(2) ? PC__SHOW_BAR : PC__SHOW_PLAIN;
	c->on_note = pc__on_note;
	c->note_ud = &f;
	int rc = pc__loop(&f, &e);
	c->on_note = NULL;
	if (rc) {
		pc__bar_close(&f, false);
		if (rc == PT_ECANCELLED && pc_interrupted) {
			if (o->json) {
				fputs("{\"job\": ", stdout);
				pc_json_cstr(stdout, id);
				fputs(", \"detached\": true}\n", stdout);
				fflush(stdout);
			}
			pc_job_hint(id, dir, "goes on in the daemon (detached)");
			return PC_EXIT_INT;
		}
		pc_error("%s", e.msg);
		if (rc == PT_ETIMEOUT)
			pc_job_hint(id, dir, "is not finished");
		return pc_exit_for(c, rc);
	}
	pc__draw(&f, true);
	pc__bar_close(&f, true);
	if (f.info.state != PROTO_JOB_DONE)
		return pc__ended_badly(&f);
	return pc_job_outputs(o, c, id, dir, f.info.to, true);
}
