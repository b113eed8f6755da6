/*
 * cmd-job.c: job.submit, job.status, job.list, job.cancel, job.result
 * (man/polytrans-protocol.7). The jobs themselves live in job-run.c; these
 * answer at once, on the loop thread.
 */
#include <stdlib.h>
#include <string.h>

#include "job-run.h"

/* The protocol code for a failed submission. */
static int ptd__submit_code(int rc)
{
	switch (rc) {
	case PT_ELANG: return PROTO_ERR_UNSUPPORTED_LANGUAGE;
	case PT_ETOOLARGE: return PROTO_ERR_TOO_LARGE;
	case PT_EINVAL: case PT_EFORMAT: case PT_EUTF8: case PT_ENOTFOUND: case PT_EPERM:
		return PROTO_ERR_BAD_REQUEST;
	default: return PROTO_ERR_INTERNAL;
	}
}

static ptd_client *ptd__client_by_id(ptd_server *srv, unsigned id)
{
	for (ptd_client *c = srv->clients; c != NULL; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

void ptd_cmd_job_submitted(ptd_server *srv, const ptd_job_waiter *w, ptd_job *j, int rc,
			   const pt_err *e)
{
	ptd_client *c = ptd__client_by_id(srv, w->client); /* NULL: gone meanwhile */
	proto_response res;

	if (j == NULL) {
		ptd_reply_error(c, w->msgid, ptd__submit_code(rc), "%s", e->msg);
		ptd_log_request(c, w->msgid, PROTO_M_JOB_SUBMIT, w->t0, "refused: %s", e->msg);
		return;
	}
	if (w->subscribe && c != NULL)
		ptd_job_subscribe(j, c);
	proto_response_init(&res, PROTO_M_JOB_SUBMIT);
	memcpy(res.r.job_submit.job, ptd_job_id(j), PROTO_JOBID_SIZE);
	ptd_reply(c, w->msgid, &res);
	ptd_log_request(c, w->msgid, PROTO_M_JOB_SUBMIT, w->t0, "job %s", ptd_job_id(j));
}

static void ptd__submit_exec(ptd_client *c, proto_msg *m)
{
	ptd_job_waiter w = { c->id, m->msgid, m->req.p.job_submit.subscribe, pt_now() };
	pt_err e;
	int rc;

	if (c->srv->stopping) {
		ptd_reply_error(c, m->msgid, PROTO_ERR_SHUTTING_DOWN,
				"polytransd is stopping and takes no new work");
		ptd_log_request(c, m->msgid, PROTO_M_JOB_SUBMIT, w.t0, "refused: stopping");
	} else if ((rc = ptd_jobs_submit(c->srv, m, &w, &e)) != 0) {
		ptd_reply_error(c, m->msgid, ptd__submit_code(rc), "%s", e.msg);
		ptd_log_request(c, m->msgid, PROTO_M_JOB_SUBMIT, w.t0, "refused: %s", e.msg);
	} else {
		/* m is the job's now; ptd_cmd_job_submitted answers. */
		return;
	}
	proto_msg_free(m);
}

/* Finds the job a request names, or answers not_found. */
static ptd_job *ptd__find(ptd_client *c, proto_msg *m)
{
	const char *id = m->req.p.job.job;
	const char *why = ptd_jobs_unavailable(c->srv);
	ptd_job *j = ptd_jobs_find(c->srv, id);

	if (j == NULL) {
		if (why != NULL)
			ptd_reply_error(c, m->msgid, PROTO_ERR_NOT_FOUND, "no job %s: batch jobs "
					"are unavailable: %s", id, why);
		else
			ptd_reply_error(c, m->msgid, PROTO_ERR_NOT_FOUND, "no job %s", id);
		ptd_log_request(c, m->msgid, m->req.method, pt_now(), "no job %s", id);
		proto_msg_free(m);
	}
	return j;
}

static void ptd__status_exec(ptd_client *c, proto_msg *m)
{
	proto_job_error err;
	proto_response res;
	double t0 = pt_now();
	ptd_job *j = ptd__find(c, m);

	if (j == NULL)
		return;
	/* Asking about a job that failed on a full or read-only disk tries
	 * it again: the answer already tells whether that worked. */
	ptd_job_retry(c->srv, j);
	if (m->req.p.job.subscribe)
		ptd_job_subscribe(j, c);
	proto_response_init(&res, PROTO_M_JOB_STATUS);
	ptd_job_info(j, &res.r.job_status, &err);
	ptd_reply(c, m->msgid, &res);
	ptd_log_request(c, m->msgid, PROTO_M_JOB_STATUS, t0, "job %s: %s", ptd_job_id(j),
			proto_job_state_name(res.r.job_status.state));
	proto_msg_free(m);
}

static void ptd__list_exec(ptd_client *c, proto_msg *m)
{
	proto_response res;
	proto_job_info *v = NULL;
	proto_job_error *errs = NULL;
	double t0 = pt_now();
	size_t n = 0;

	while (ptd_jobs_nth(c->srv, n) != NULL)
		n++;
	if (n > 0 && ((v = calloc(n, sizeof *v)) == NULL ||
		      (errs = calloc(n, sizeof *errs)) == NULL)) {
		free(v);
		ptd_reply_error(c, m->msgid, PROTO_ERR_INTERNAL, "out of memory");
		proto_msg_free(m);
		return;
	}
	for (size_t i = 0; i < n; i++)
		ptd_job_info(ptd_jobs_nth(c->srv, i), &v[i], &errs[i]);
	proto_response_init(&res, PROTO_M_JOB_LIST);
	res.r.job_list.jobs = v;
	res.r.job_list.n_jobs = (uint32_t)n;
	ptd_reply(c, m->msgid, &res);
	ptd_log_request(c, m->msgid, PROTO_M_JOB_LIST, t0, "%zu jobs", n);
	free(v);
	free(errs);
	proto_msg_free(m);
}

static void ptd__cancel_exec(ptd_client *c, proto_msg *m)
{
	proto_response res;
	double t0 = pt_now();
	ptd_job *j = ptd__find(c, m);

	if (j == NULL)
		return;
	proto_response_init(&res, PROTO_M_JOB_CANCEL);
	res.r.cancel.cancelled = ptd_job_cancel(c->srv, j) != 0;
	ptd_reply(c, m->msgid, &res);
	ptd_log_request(c, m->msgid, PROTO_M_JOB_CANCEL, t0, "job %s: %s", ptd_job_id(j),
			res.r.cancel.cancelled ? "cancelled" : "had already ended");
	proto_msg_free(m);
}

static void ptd__result_exec(ptd_client *c, proto_msg *m)
{
	proto_response res;
	double t0 = pt_now();
	ptd_job *j = ptd__find(c, m);
	pt_err e;

	if (j == NULL)
		return;
	ptd_job_retry(c->srv, j);
	proto_response_init(&res, PROTO_M_JOB_RESULT);
	if (ptd_job_result(c->srv, j, &res.r.job_result, &e) != 0) {
		ptd_reply_error(c, m->msgid, PROTO_ERR_INTERNAL, "job %s: %s", ptd_job_id(j),
				e.msg);
	} else {
		ptd_reply(c, m->msgid, &res);
		ptd_job_result_done(&res.r.job_result);
	}
	ptd_log_request(c, m->msgid, PROTO_M_JOB_RESULT, t0, "job %s", ptd_job_id(j));
	proto_msg_free(m);
}

const ptd_cmd_entry ptd_cmd_job_submit_entry = { PROTO_M_JOB_SUBMIT, ptd__submit_exec };
const ptd_cmd_entry ptd_cmd_job_status_entry = { PROTO_M_JOB_STATUS, ptd__status_exec };
const ptd_cmd_entry ptd_cmd_job_list_entry = { PROTO_M_JOB_LIST, ptd__list_exec };
const ptd_cmd_entry ptd_cmd_job_cancel_entry = { PROTO_M_JOB_CANCEL, ptd__cancel_exec };
const ptd_cmd_entry ptd_cmd_job_result_entry = { PROTO_M_JOB_RESULT, ptd__result_exec };
