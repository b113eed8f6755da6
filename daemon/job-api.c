/*
 * job-api.c: creating a job from job.submit, progress (job.status maps and
 * job.progress notifications), and the result of job.result
 * (job-run.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "job-run-impl.h"

/* The output name of input i: the name sent, or the path's last part. */
static int ptd__name(const proto_job_submit_req *q, uint32_t i, char **out, pt_err *e)
{
	proto_str s = q->n_files > 0 ? q->files[i].name : q->paths[i];
	const char *base = s.ptr;
	size_t n = s.len;

	if (q->n_files == 0) {
		for (size_t k = 0; k < s.len; k++)
			if (s.ptr[k] == '/') {
				base = s.ptr + k + 1;
				n = s.len - k - 1;
			}
	}
	if (n == 0 || n > PROTO_NAME_MAX || memchr(base, '\0', n) != NULL ||
	    (n == 1 && base[0] == '.') || (n == 2 && base[0] == '.' && base[1] == '.'))
		return pt_err_set(e, PT_EINVAL, "%s[%u]: '%.*s' does not end in a file name",
				  q->n_files ? "files" : "paths", (unsigned)i,
				  (int)(s.len > 200 ? 200 : s.len), s.ptr);
	if ((*out = strndup(base, n)) == NULL)
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	return 0;
}

/* Checks the output folder: absolute, an existing folder. */
static int ptd__output(proto_str o, char **out, pt_err *e)
{
	struct stat st;
	char *p;

	*out = NULL;
	if (o.ptr == NULL)
		return 0;
	if (o.len == 0 || o.ptr[0] != '/' || memchr(o.ptr, '\0', o.len) != NULL)
		return pt_err_set(e, PT_EINVAL, "output: not an absolute folder path");
	if ((p = strndup(o.ptr, o.len)) == NULL)
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
		int err = errno;
		pt_err_set(e, PT_EINVAL, "output: %s: %s", p,
			   stat(p, &st) != 0 ? strerror(err) : "not a folder");
		free(p);
		return PT_EINVAL;
	}
	*out = p;
	return 0;
}

/* Fills the manifest and the inputs from the request. */
static int ptd__prepare(const proto_job_submit_req *q, ptd_jmanifest *m, ptd_jinput *in,
			char **paths, pt_err *e)
{
	uint32_t n = m->n_files;
	int lang, rc;

	if ((rc = langid_lang_find(q->to, &lang, e)) != 0)
		return pt_err_set(e, PT_ELANG, "to: %s", e->msg);
	if (strcmp(q->from, "auto") != 0 && (rc = langid_lang_find(q->from, &lang, e)) != 0)
		return pt_err_set(e, PT_ELANG, "from: %s", e->msg);
	snprintf(m->to, sizeof m->to, "%s", q->to);
	snprintf(m->from, sizeof m->from, "%s", q->from);
	m->priority = q->priority;
	m->created = (uint64_t)time(NULL);
	m->state = PROTO_JOB_QUEUED;
	if ((rc = ptd__output(q->output, &m->output, e)) != 0)
		return rc;
	for (uint32_t i = 0; i < n; i++) {
		ptd_jfile *f = &m->files[i];
		int fmt;
		if ((rc = ptd__name(q, i, &f->name, e)) != 0)
			return rc;
		for (uint32_t k = 0; k < i; k++)
			if (strcmp(m->files[k].name, f->name) == 0)
				return pt_err_set(e, PT_EINVAL, "two files are named %s: their "
						  "outputs would overwrite each other", f->name);
		if (q->format == PROTO_FMT_AUTO) {
			fmt_format_from_path(f->name, &fmt);
			f->format = fmt + 1; /* FMT_FORMAT_TEXT.. -> PROTO_FMT_TEXT.. */
		} else {
			f->format = q->format;
		}
		snprintf(f->from, sizeof f->from, "%s", q->from);
		in[i].name = f->name;
		if (q->n_files > 0) {
			in[i].data = q->files[i].content.ptr ? q->files[i].content.ptr : "";
			in[i].len = q->files[i].content.len;
		} else {
			proto_str p = q->paths[i];
			if (memchr(p.ptr, '\0', p.len) != NULL)
				return pt_err_set(e, PT_EINVAL, "paths[%u]: holds a NUL byte", i);
			if ((paths[i] = strndup(p.ptr, p.len)) == NULL)
				return pt_err_set(e, PT_ENOMEM, "out of memory");
			in[i].path = paths[i];
		}
	}
	return 0;
}

/* A submission in progress: the request (its bytes back the inputs) and
 * the inputs, until the job is created and parsed on a pool thread. */
typedef struct ptd__submit {
	ptd_job_waiter w;
	proto_msg *msg;
	ptd_jinput *in;
	char **paths;
	uint32_t n;
	int created;
} ptd__submit;

static void ptd__submit_free(ptd__submit *x)
{
	if (x == NULL)
		return;
	if (x->paths != NULL)
		for (uint32_t i = 0; i < x->n; i++)
			free(x->paths[i]);
	free(x->paths);
	free(x->in);
	proto_msg_free(x->msg);
	free(x);
}

/* Pool thread: copies the inputs in (paths are read here). */
static int ptd__submit_create(ptd_job *j, void *ud, pt_err *e)
{
	ptd__submit *x = ud;
	int rc = ptd_jstore_create(j->js->store, &j->m, x->in, x->n, e);

	x->created = rc == 0;
	return rc;
}

/* The new job is created and its documents parsed: it joins the list, or
 * is removed with nothing left behind. */
static void ptd__submit_loaded(ptd_job *j, int rc, const pt_err *e, void *ud)
{
	ptd__submit *x = ud;
	ptd_jobs *js = j->js;
	pt_err e2;

	if (rc != 0) {
		if (x->created && ptd_jstore_remove(js->store, j->m.id, &e2) != 0)
			pt_log(PT_LOG_WARN, "job %s: %s", j->m.id, e2.msg);
		ptd_cmd_job_submitted(js->srv, &x->w, NULL, rc, e);
		ptd_jmanifest_done(&j->m);
		free(j);
		ptd__submit_free(x);
		return;
	}
	j->m.segments = j->total;
	ptd__job_save(j, NULL);
	ptd__job_append(js, j);
	pt_log(PT_LOG_INFO, "job %s: %u files, %llu segments, to %s%s%s", j->m.id,
	       (unsigned)j->m.n_files, (unsigned long long)j->total, j->m.to,
	       j->m.output ? ", into " : "", j->m.output ? j->m.output : "");
	ptd_cmd_job_submitted(js->srv, &x->w, j, 0, NULL);
	ptd__submit_free(x);
	ptd__job_pump(j);
}

int ptd_jobs_submit(ptd_server *srv, proto_msg *m, const ptd_job_waiter *wt, pt_err *e)
{
	const proto_job_submit_req *q = &m->req.p.job_submit;
	ptd_jobs *js = srv->jobs;
	uint32_t n = q->n_files > 0 ? q->n_files : q->n_paths;
	ptd__submit *x = NULL;
	ptd_job *j = NULL;
	int rc;

	if (js == NULL || js->store == NULL)
		return pt_err_set(e, PT_EIO, "batch jobs are unavailable: %s",
				  ptd_jobs_unavailable(srv));
	if (n == 0)
		return pt_err_set(e, PT_EINVAL, "a job needs files or paths");
	if ((j = calloc(1, sizeof *j)) == NULL || (x = calloc(1, sizeof *x)) == NULL ||
	    (x->in = calloc(n, sizeof *x->in)) == NULL ||
	    (x->paths = calloc(n, sizeof *x->paths)) == NULL ||
	    (j->m.files = calloc(n, sizeof *j->m.files)) == NULL) {
		rc = pt_err_set(e, PT_ENOMEM, "out of memory");
		goto fail;
	}
	x->w = *wt;
	x->n = n;
	j->m.n_files = n;
	j->js = js;
	j->err_file = -1;
	if ((rc = ptd__prepare(q, &j->m, x->in, x->paths, e)) != 0)
		goto fail;
	if (j->m.id[0] == '\0' && (rc = ptd_jstore_new_id(j->m.id, e)) != 0)
		goto fail;
	x->msg = m; /* from here on, freed with x */
	/* Copying the inputs in and parsing them happen on a pool thread;
	 * the answer comes once every document parsed, so a bad one is
	 * refused at once. The job is not listed until then. */
	j->state = PROTO_JOB_QUEUED;
	ptd__job_load(j, ptd__submit_create, ptd__submit_loaded, x);
	return 0;
fail:
	ptd__submit_free(x);
	if (j != NULL) {
		ptd_jmanifest_done(&j->m);
		free(j);
	}
	return rc;
}

/* ---- Progress ------------------------------------------------------------------ */

void ptd_job_info(ptd_job *j, proto_job_info *o, proto_job_error *err_slot)
{
	memset(o, 0, sizeof *o);
	snprintf(o->job, sizeof o->job, "%s", j->m.id);
	o->state = j->state;
	snprintf(o->to, sizeof o->to, "%s", j->m.to);
	o->files = j->m.n_files;
	o->done = j->done;
	o->total = j->total;
	o->percent = j->total > 0 ? 100.0 * (double)j->done / (double)j->total
		     : (j->state == PROTO_JOB_DONE ? 100.0 : 0.0);
	if (o->percent > 100.0)
		o->percent = 100.0;
	o->created = j->m.created;
	if (j->state == PROTO_JOB_RUNNING && j->done_run > 0 && j->total >= j->done) {
		double el = pt_now() - j->t_run;
		o->has_eta = 1;
		o->eta_s = el / (double)j->done_run * (double)(j->total - j->done);
	} else if (j->state == PROTO_JOB_DONE) {
		o->has_eta = 1;
		o->eta_s = 0;
	}
	if (j->m.error != NULL && j->state == PROTO_JOB_FAILED && err_slot != NULL) {
		err_slot->file = proto_str_c(j->err_file >= 0 && (uint32_t)j->err_file < j->m.n_files
					     ? j->m.files[j->err_file].name : "");
		err_slot->message = proto_str_c(j->m.error);
		o->errors = err_slot;
		o->n_errors = 1;
	}
}

static ptd_client *ptd__client_by_id(ptd_server *srv, unsigned id)
{
	for (ptd_client *c = srv->clients; c != NULL; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

/* Sends job.progress to the connections that asked, forgetting the ones
 * that are gone (by id: a closed connection's memory may be reused). */
void ptd__job_notify(ptd_job *j)
{
	proto_job_error err;
	proto_notify n;
	unsigned k = 0;

	proto_notify_init(&n, PROTO_N_JOB_PROGRESS);
	ptd_job_info(j, &n.n.progress, &err);
	for (unsigned i = 0; i < j->n_subs; i++) {
		ptd_client *c = ptd__client_by_id(j->js->srv, j->subs[i]);
		if (c == NULL)
			continue;
		ptd_notify_client(c, &n);
		j->subs[k++] = j->subs[i];
	}
	j->n_subs = k;
}

void ptd_job_subscribe(ptd_job *j, ptd_client *c)
{
	for (unsigned i = 0; i < j->n_subs; i++)
		if (j->subs[i] == c->id)
			return;
	if (j->n_subs == PTD__SUBS_MAX) {
		memmove(j->subs, j->subs + 1, (PTD__SUBS_MAX - 1) * sizeof j->subs[0]);
		j->n_subs--;
	}
	j->subs[j->n_subs++] = c->id;
}

/* ---- Lookups -------------------------------------------------------------------- */

const char *ptd_jobs_unavailable(ptd_server *srv)
{
	if (srv->jobs == NULL)
		return "batch jobs are not running";
	return srv->jobs->store == NULL ? srv->jobs->unavailable : NULL;
}

ptd_job *ptd_jobs_find(ptd_server *srv, const char *id)
{
	if (srv->jobs == NULL)
		return NULL;
	for (ptd_job *j = srv->jobs->head; j != NULL; j = j->next)
		if (strcmp(j->m.id, id) == 0)
			return j;
	return NULL;
}

ptd_job *ptd_jobs_nth(ptd_server *srv, size_t i)
{
	ptd_job *j = srv->jobs != NULL ? srv->jobs->head : NULL;

	while (j != NULL && i-- > 0)
		j = j->next;
	return j;
}

const char *ptd_job_id(const ptd_job *j)
{
	return j->m.id;
}

/* ---- job.result ----------------------------------------------------------------- */

#define PTD__REPORT_MAX 100

typedef struct ptd__flag_ctx {
	ptd_job *j;
	uint64_t flagged;
	proto_str *msgs;
	uint32_t n;
} ptd__flag_ctx;

static void ptd__flag_msg(ptd__flag_ctx *x, uint32_t file, uint32_t seg)
{
	char buf[400];
	char *s;

	x->flagged++;
	if (x->n >= PTD__REPORT_MAX)
		return;
	snprintf(buf, sizeof buf, "%s: segment %u lost or changed a placeholder or markup, "
		 "even after a retry; left untranslated", x->j->m.files[file].name, (unsigned)seg + 1);
	if ((s = strdup(buf)) != NULL)
		x->msgs[x->n++] = proto_str_c(s);
}

static int ptd__flag_rec(void *ud, const ptd_jrec *r)
{
	ptd__flag_ctx *x = ud;

	if ((r->flags & PTD_JREC_FLAGGED) && r->file < x->j->m.n_files)
		ptd__flag_msg(x, r->file, r->seg);
	return 0;
}

/* The report: flagged segments, from the documents or the journal. */
static int ptd__report(ptd_job *j, proto_job_report *rep, pt_err *e)
{
	ptd__flag_ctx x = { j, 0, NULL, 0 };
	ptd_journal *jr;

	if ((x.msgs = calloc(PTD__REPORT_MAX, sizeof *x.msgs)) == NULL)
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	if (j->docs != NULL) {
		for (uint32_t f = 0; f < j->m.n_files; f++)
			for (uint32_t s = 0; s < j->docs[f].n_segs; s++)
				if (j->docs[f].segs[s].flagged)
					ptd__flag_msg(&x, f, s);
	} else if (!j->loading && /* else a pool thread has the journal */
		   ptd_journal_open(j->js->store, j->m.id, ptd__flag_rec, &x, &jr, NULL,
				    NULL) == 0) {
		ptd_journal_close(jr);
	}
	rep->segments = j->total;
	rep->flagged = x.flagged;
	rep->messages = x.msgs;
	rep->n_messages = x.n;
	return 0;
}

int ptd_job_result(ptd_server *srv, ptd_job *j, proto_job_result_res *res, pt_err *e)
{
	proto_job_output *outs = NULL;
	int rc;

	(void)srv;
	memset(res, 0, sizeof *res);
	snprintf(res->job, sizeof res->job, "%s", j->m.id);
	res->state = j->state;
	if ((rc = ptd__report(j, &res->report, e)) != 0)
		return rc;
	if (j->state != PROTO_JOB_DONE)
		return 0;
	if ((outs = calloc(j->m.n_files, sizeof *outs)) == NULL) {
		ptd_job_result_done(res);
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	}
	res->outputs = outs;
	for (uint32_t i = 0; i < j->m.n_files; i++) {
		const char *name = j->m.files[i].name;
		outs[i].name = proto_str_c(name);
		res->n_outputs = i + 1;
		if (j->m.output != NULL) {
			size_t n = strlen(j->m.output) + strlen(name) + 2;
			char *p = malloc(n);
			if (p == NULL) {
				ptd_job_result_done(res);
				return pt_err_set(e, PT_ENOMEM, "out of memory");
			}
			snprintf(p, n, "%s/%s", j->m.output, name);
			outs[i].path = proto_str_c(p);
		} else {
			char *buf;
			size_t len;
			if ((rc = ptd_jstore_output_get(j->js->store, j->m.id, i, &buf, &len, e)) != 0) {
				ptd_job_result_done(res);
				return rc;
			}
			outs[i].content.ptr = buf;
			outs[i].content.len = len;
		}
	}
	return 0;
}

void ptd_job_result_done(proto_job_result_res *res)
{
	for (uint32_t i = 0; i < res->n_outputs; i++) {
		free((char *)res->outputs[i].path.ptr);
		free((char *)res->outputs[i].content.ptr);
	}
	free((proto_job_output *)res->outputs);
	for (uint32_t i = 0; i < res->report.n_messages; i++)
		free((char *)res->report.messages[i].ptr);
	free((proto_str *)res->report.messages);
	memset(res, 0, sizeof *res);
}
