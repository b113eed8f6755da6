/*
 * job-run.c: batch jobs at run time (job-run.h): the list of jobs,
 * loading and recovery, chunks to the worker, the journal, outputs,
 * failure and retry, cancel, progress notifications.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "job-run.h"
#include "job-run-impl.h"
#include "langid.h"

static void ptd__timer_cb(uv_timer_t *t);

/* ---- Small helpers ---------------------------------------------------------- */

int ptd__job_active(const ptd_job *j)
{
	return j->state == PROTO_JOB_QUEUED || j->state == PROTO_JOB_RUNNING;
}

static unsigned ptd__n_active(ptd_jobs *js)
{
	unsigned n = 0;
	for (ptd_job *j = js->head; j != NULL; j = j->next)
		n += ptd__job_active(j) && j->docs != NULL;
	return n;
}

void ptd__job_unload(ptd_job *j)
{
	/* The chunks point into the documents; a pool thread may be writing
	 * to the journal. The last of them to come back unloads. */
	if (j->in_flight > 0 || j->writing || j->finishing || j->loading)
		return;
	ptd__job_drop_writes(j);
	if (j->docs != NULL)
		for (uint32_t i = 0; i < j->m.n_files; i++)
			ptd_jdoc_done(&j->docs[i]);
	free(j->docs);
	j->docs = NULL;
	ptd_journal_close(j->jr);
	j->jr = NULL;
}

/* Writes the manifest; a failure is logged (the state in memory stands). */
int ptd__job_save(ptd_job *j, pt_err *e)
{
	pt_err e2;
	int rc;

	j->m.state = j->state == PROTO_JOB_RUNNING ? PROTO_JOB_QUEUED : j->state;
	if ((rc = ptd_jstore_manifest_write(j->js->store, &j->m, e ? e : &e2)) != 0)
		pt_log(PT_LOG_WARN, "job %s: %s", j->m.id, (e ? e : &e2)->msg);
	return rc;
}

static void ptd__cancel_chunks(ptd_job *j)
{
	for (unsigned i = 0; i < 2; i++)
		if (j->reqs[i] != NULL && !j->reqs[i]->cancel)
			ptd_request_cancel(j->js->srv, j->reqs[i], j->js->stopping);
}

/* The job fails: kept with its input and journal, retried later. */
void ptd__job_fail(ptd_job *j, int code, int file, const char *fmt, ...)
{
	char msg[PT_ERRMSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	pt_log(PT_LOG_ERROR, "job %s failed: %s", j->m.id, msg);
	j->state = PROTO_JOB_FAILED;
	j->err_code = code;
	j->err_file = file;
	j->t_failed = pt_now();
	free(j->m.error);
	j->m.error = strdup(msg);
	ptd__job_save(j, NULL);
	ptd__cancel_chunks(j);
	ptd__job_unload(j);
	ptd__job_notify(j);
}

/* ---- Loading ------------------------------------------------------------------- */

/* ---- Loading, on a libuv pool thread ----------------------------------------------- */

/* Parsing, cutting and replaying the journal of a big job takes seconds:
 * it runs on a pool thread. Meanwhile the loop leaves the job's documents,
 * journal and manifest alone (j->loading), and the results are taken over
 * when the load comes back. */
typedef struct ptd__jload {
	uv_work_t req;
	ptd_job *j;
	ptd_jdoc *docs;
	ptd_journal *jr;
	uint64_t total, done, flagged, dropped, stale;
	int rc;
	pt_err err;
	ptd__job_loaded_fn fn;
	ptd__job_pre_fn pre;
	void *ud;
} ptd__jload;

static int ptd__replay_rec(void *ud, const ptd_jrec *r)
{
	ptd__jload *w = ud;
	ptd_jdoc *d;

	/* A record that does not match the segment it names (another
	 * segmentation, say after an ICU upgrade) is not used: the segment
	 * is translated again. */
	if (r->file >= w->j->m.n_files || r->seg >= (d = &w->docs[r->file])->n_segs ||
	    d->segs[r->seg].crc != r->src_crc || d->segs[r->seg].len == 0) {
		w->stale++;
		return 0;
	}
	return ptd_jdoc_seg_set(d, r->seg, r->text, r->len, r->flags & PTD_JREC_FLAGGED);
}

/* Parses one input. A file's source language is fixed at its first load. */
static int ptd__load_file(ptd__jload *w, uint32_t i, int *changed, pt_err *e)
{
	ptd_job *j = w->j;
	ptd_jfile *f = &j->m.files[i];
	int from = LANGID_UND, rc;
	char *buf;
	size_t len;

	if ((rc = ptd_jstore_input_read(j->js->store, j->m.id, i, &buf, &len, e)) != 0)
		return rc;
	if (strcmp(f->from, "auto") != 0 && strcmp(f->from, "und") != 0 &&
	    (rc = langid_lang_find(f->from, &from, e)) != 0) {
		free(buf);
		return rc;
	}
	/* The detector is immutable: safe to use from this thread. */
	rc = ptd_jdoc_load(buf, len, ptd_jdoc_fmt(f->format), j->m.to,
			   strcmp(f->from, "auto") == 0 ? ptd_pipeline_detector(j->js->srv->pl)
			   : NULL, &from, &w->docs[i], e);
	free(buf);
	if (rc != 0) {
		pt_err_prefix(e, "%s", f->name);
		return rc;
	}
	if (strcmp(f->from, "auto") == 0) {
		snprintf(f->from, sizeof f->from, "%s", langid_lang_code(from));
		*changed = 1;
	}
	return 0;
}

/* Pool thread: the documents and the journal. */
static void ptd__load_work(uv_work_t *req)
{
	ptd__jload *w = req->data;
	ptd_job *j = w->j;
	int changed = 0, rc = 0;

	if (w->pre != NULL && (w->rc = w->pre(j, w->ud, &w->err)) != 0)
		return;
	if ((w->docs = calloc(j->m.n_files, sizeof *w->docs)) == NULL) {
		w->rc = pt_err_set(&w->err, PT_ENOMEM, "out of memory");
		return;
	}
	for (uint32_t i = 0; i < j->m.n_files && rc == 0; i++)
		rc = ptd__load_file(w, i, &changed, &w->err);
	if (rc == 0 && changed)
		rc = ptd_jstore_manifest_write(j->js->store, &j->m, &w->err);
	if (rc == 0)
		rc = ptd_journal_open(j->js->store, j->m.id, ptd__replay_rec, w, &w->jr,
				      &w->dropped, &w->err);
	for (uint32_t i = 0; i < j->m.n_files && rc == 0; i++) {
		ptd_jdoc *d = &w->docs[i];
		w->total += d->n_segs;
		w->done += d->n_done;
		for (uint32_t s = 0; s < d->n_segs; s++)
			w->flagged += d->segs[s].flagged;
	}
	w->rc = rc;
}

/* Loop thread: the load is back; the job takes its results. */
static void ptd__load_done(uv_work_t *req, int status)
{
	ptd__jload *w = req->data;
	ptd_job *j = w->j;
	ptd_jobs *js = j->js;
	ptd_server *srv = js->srv;

	srv->n_pending--;
	j->loading = 0;
	if (status != 0 && w->rc == 0)
		w->rc = pt_err_set(&w->err, PT_EIO, "loading: %s", uv_strerror(status));
	if (w->rc == 0) {
		j->docs = w->docs;
		j->jr = w->jr;
		j->total = w->total;
		j->done = w->done;
		j->flagged = w->flagged;
		j->cur_file = j->cur_seg = 0;
		j->n_retry = 0;
		j->t_run = pt_now();
		j->done_run = 0;
		if (w->stale > 0)
			pt_log(PT_LOG_WARN, "job %s: %llu journal records do not match their "
			       "segments; those are translated again", j->m.id,
			       (unsigned long long)w->stale);
		if (j->done > 0 || w->dropped > 0)
			pt_log(PT_LOG_INFO, "job %s: resumed, %llu of %llu segments already done%s",
			       j->m.id, (unsigned long long)j->done, (unsigned long long)j->total,
			       w->dropped ? " (a torn journal record was dropped)" : "");
	} else {
		if (w->docs != NULL)
			for (uint32_t i = 0; i < j->m.n_files; i++)
				ptd_jdoc_done(&w->docs[i]);
		free(w->docs);
		ptd_journal_close(w->jr);
	}
	w->fn(j, w->rc, &w->err, w->ud);
	free(w);
	if (srv->stopping)
		ptd_server_maybe_finish(srv);
	else if (srv->jobs != NULL)
		ptd__jobs_pump_all(srv->jobs);
}

int ptd__job_load(ptd_job *j, ptd__job_pre_fn pre, ptd__job_loaded_fn fn, void *ud)
{
	ptd__jload *w;
	pt_err e;
	int rc;

	if (j->docs != NULL) {
		fn(j, 0, NULL, ud); /* still loaded */
		return 0;
	}
	if ((w = calloc(1, sizeof *w)) == NULL) {
		rc = pt_err_set(&e, PT_ENOMEM, "out of memory");
		fn(j, rc, &e, ud);
		return rc;
	}
	w->j = j;
	w->pre = pre;
	w->fn = fn;
	w->ud = ud;
	w->req.data = w;
	if ((rc = uv_queue_work(j->js->srv->loop, &w->req, ptd__load_work, ptd__load_done)) != 0) {
		free(w);
		rc = pt_err_set(&e, PT_EIO, "loading: %s", uv_strerror(rc));
		fn(j, rc, &e, ud);
		return rc;
	}
	j->loading = 1;
	j->js->srv->n_pending++; /* a stopping daemon waits for it */
	return 0;
}

/* ---- Chunks ---------------------------------------------------------------------- */

/* Picks the segments of the next chunk: retries first (one at a time,
 * with more beams), else the next segments of one file. */
static int ptd__pick(ptd_job *j, ptd__chunk *ch)
{
	memset(ch, 0, sizeof *ch);
	ch->job = j;
	if (j->n_retry > 0)
		for (uint32_t f = 0; f < j->m.n_files; f++)
			for (uint32_t s = 0; s < j->docs[f].n_segs; s++)
				if (j->docs[f].segs[s].retry && !j->docs[f].segs[s].busy) {
					ch->file = f;
					ch->seg[ch->n++] = s;
					ch->retry = 1;
					return 1;
				}
	for (; j->cur_file < j->m.n_files; j->cur_file++, j->cur_seg = 0) {
		ptd_jdoc *d = &j->docs[j->cur_file];
		/* Without a known source language, the worker detects it per
		 * request: one sentence per request keeps that independent of
		 * how the job was cut into chunks. */
		uint32_t max = d->from == LANGID_UND ? 1 : PTD__CHUNK_MAX;
		for (; j->cur_seg < d->n_segs && ch->n < max; j->cur_seg++) {
			ptd_jseg *g = &d->segs[j->cur_seg];
			if (g->done || g->busy || g->retry)
				continue;
			ch->file = j->cur_file;
			ch->seg[ch->n++] = j->cur_seg;
		}
		if (ch->n > 0)
			return 1;
	}
	return 0;
}

/* Hands a chunk to the worker. Returns 0, or PT_EBUSY (queue full). */
static int ptd__submit(ptd_job *j, ptd__chunk *src)
{
	ptd_server *srv = j->js->srv;
	ptd_jdoc *d = &j->docs[src->file];
	ptd__chunk *ch = malloc(sizeof *ch);
	ptd_request *r = calloc(1, sizeof *r);
	int rc;

	if (ch == NULL || r == NULL || (r->texts = calloc(src->n, sizeof *r->texts)) == NULL ||
	    (r->lens = calloc(src->n, sizeof *r->lens)) == NULL) {
		free(ch);
		ptd_request_free(r);
		return PT_ENOMEM;
	}
	*ch = *src;
	for (uint32_t i = 0; i < ch->n; i++) {
		r->texts[i] = d->segs[ch->seg[i]].src;
		r->lens[i] = d->segs[ch->seg[i]].len;
		r->bytes += r->lens[i];
	}
	r->n_texts = ch->n;
	r->srv = srv;
	r->method = PROTO_M_JOB_SUBMIT;
	r->priority = j->m.priority; /* -100..100, below PTD_PRIO_INTERACTIVE */
	r->t_start = pt_now();
	r->from = d->from;
	langid_lang_find(j->m.to, &r->to, NULL);
	r->beams = ch->retry ? PTD__RETRY_BEAMS : 0;
	r->job = ch;
	if ((rc = ptd_worker_submit(srv->worker, r)) != 0) {
		r->job = NULL;
		ptd_request_free(r);
		free(ch);
		return rc;
	}
	for (uint32_t i = 0; i < ch->n; i++)
		d->segs[ch->seg[i]].busy = 1;
	j->reqs[j->reqs[0] == NULL ? 0 : 1] = r;
	j->in_flight++;
	srv->n_pending++;
	if (j->state == PROTO_JOB_QUEUED) {
		j->state = PROTO_JOB_RUNNING;
		ptd__job_notify(j);
	}
	return 0;
}

/* Keeps the job's chunks flowing; finishes it when every segment is done. */
void ptd__job_pump(ptd_job *j)
{
	ptd_jobs *js = j->js;
	unsigned limit = ptd__n_active(js) > 1 ? 1 : 2;
	ptd__chunk ch;

	if (j->loading)
		return;

	while (ptd__job_active(j) && j->docs != NULL && !js->stopping && j->in_flight < limit &&
	       ptd__pick(j, &ch)) {
		int rc = ptd__submit(j, &ch);
		if (rc == PT_EBUSY) {
			/* Rewind: the picked segments were not marked busy. */
			if (!ch.retry && (ch.file < j->cur_file ||
					  (ch.file == j->cur_file && ch.seg[0] < j->cur_seg))) {
				j->cur_file = ch.file;
				j->cur_seg = ch.seg[0];
			}
			/* The queue is full of other work: try again soon. */
			js->busy_wait = 1;
			uv_timer_start(&js->timer, ptd__timer_cb, PTD__BUSY_RETRY_MS,
				       PTD__TIMER_MS);
			return;
		}
		if (rc != 0) {
			ptd__job_fail(j, rc, -1, "%s", pt_strerror(rc));
			return;
		}
	}
	if (ptd__job_active(j) && j->docs != NULL && j->in_flight == 0 && !j->writing &&
	    !j->finishing && j->wq_head == NULL && j->done == j->total && j->n_retry == 0)
		ptd__job_finish(j);
}

void ptd_jobs_event(ptd_server *srv, ptd_event *ev)
{
	ptd_request *r = ev->req;
	ptd__chunk *ch = r->job;
	ptd_job *j = ch->job;

	if (!ev->done) {
		free(ev); /* chunks do not stream; nothing to forward */
		return;
	}
	srv->n_pending--;
	if (r->tr != NULL)
		srv->cnt.tokens += ptd_tr_tokens(r->tr);
	j->in_flight--;
	for (unsigned i = 0; i < 2; i++)
		if (j->reqs[i] == r)
			j->reqs[i] = NULL;
	if (j->docs != NULL)
		for (uint32_t i = 0; i < ch->n; i++)
			j->docs[ch->file].segs[ch->seg[i]].busy = 0;
	if (ptd__job_active(j) && j->docs != NULL) {
		if (r->rc == 0)
			ptd__job_chunk_done(j, ch, r);
		else if (r->rc == PT_ECANCELLED) {
			/* The daemon is stopping: the job resumes at the next start. */
			j->cur_file = j->cur_seg = 0;
		} else
			ptd__job_fail(j, r->rc, -1, "%s", r->err.msg);
	} else if (!ptd__job_active(j)) {
		ptd__job_unload(j); /* cancelled or failed while the chunk ran */
	}
	free(ch);
	r->job = NULL;
	ptd_request_free(r);
	if (srv->stopping)
		ptd_server_maybe_finish(srv);
	else
		ptd__jobs_pump_all(srv->jobs);
}

/* ---- The list of jobs ------------------------------------------------------------ */

void ptd__jobs_pump_all(ptd_jobs *js)
{
	for (ptd_job *j = js->head; j != NULL && !js->busy_wait; j = j->next)
		if (ptd__job_active(j))
			ptd__job_pump(j);
}

void ptd__job_append(ptd_jobs *js, ptd_job *j)
{
	j->js = js;
	if (js->tail != NULL)
		js->tail->next = j;
	else
		js->head = j;
	js->tail = j;
	js->n_jobs++;
}

/* A (re)started job is loaded: run it, or settle what happened meanwhile. */
static void ptd__started(ptd_job *j, int rc, const pt_err *e, void *ud)
{
	(void)ud;
	if (!ptd__job_active(j)) {
		ptd__job_save(j, NULL); /* cancelled while it loaded */
		ptd__job_unload(j);
	} else if (rc != 0) {
		ptd__job_fail(j, rc, -1, "%s", e->msg);
	} else {
		ptd__job_pump(j);
	}
}

/* Makes an active job run: load (in the background), then pump. */
static void ptd__start_job(ptd_job *j)
{
	j->state = PROTO_JOB_QUEUED;
	ptd__job_load(j, NULL, ptd__started, NULL);
}

void ptd_job_retry(ptd_server *srv, ptd_job *j)
{
	double now = pt_now();

	if (j->state != PROTO_JOB_FAILED || srv->jobs->stopping ||
	    now - j->t_failed < PTD__RETRY_MIN_S)
		return;
	pt_log(PT_LOG_INFO, "job %s: trying again after: %s", j->m.id,
	       j->m.error ? j->m.error : "an error");
	ptd__start_job(j);
}

static void ptd__timer_cb(uv_timer_t *t)
{
	ptd_jobs *js = t->data;
	double now = pt_now();

	js->busy_wait = 0;
	for (ptd_job *j = js->head; j != NULL; j = j->next)
		if (j->state == PROTO_JOB_FAILED && now - j->t_failed >= PTD__FAILED_RETRY_S &&
		    j->err_code != PT_EFORMAT && j->err_code != PT_EUTF8 && j->err_code != PT_ELANG)
			ptd_job_retry(js->srv, j);
	ptd__jobs_pump_all(js);
}

/* Reads one job folder at start. Unfinished and failed jobs resume;
 * finished ones stay listed until they expire. */
static void ptd__recover(ptd_jobs *js, const char *id, time_t now)
{
	ptd_job *j = calloc(1, sizeof *j);
	struct stat st;
	char path[700];
	pt_err e;

	if (j == NULL)
		return;
	if (ptd_jstore_manifest_read(js->store, id, &j->m, &e) != 0) {
		pt_log(PT_LOG_ERROR, "job %s: %s; the job is left as it is on the disk", id, e.msg);
		free(j);
		return;
	}
	j->state = j->m.state;
	snprintf(path, sizeof path, "%s/%s/manifest", ptd_jstore_path(js->store), id);
	if ((j->state == PROTO_JOB_DONE || j->state == PROTO_JOB_CANCELLED) &&
	    stat(path, &st) == 0 && now - st.st_mtime > PTD__KEEP_S) {
		pt_log(PT_LOG_INFO, "job %s: %s more than %d days ago; removed", id,
		       proto_job_state_name(j->state), PTD__KEEP_S / 86400);
		if (ptd_jstore_remove(js->store, id, &e) != 0)
			pt_log(PT_LOG_WARN, "job %s: %s", id, e.msg);
		ptd_jmanifest_done(&j->m);
		free(j);
		return;
	}
	ptd__job_append(js, j);
	/* A finished job's counts come from its manifest, without loading
	 * its documents. */
	j->total = j->m.segments;
	j->done = j->state == PROTO_JOB_DONE ? j->m.segments : 0;
	if (j->state == PROTO_JOB_QUEUED || j->state == PROTO_JOB_RUNNING ||
	    j->state == PROTO_JOB_FAILED)
		ptd__start_job(j);
}

/* Orders the jobs read at start by submission time (ids are random), as
 * job.list shows them: an insertion sort of the list. */
static void ptd__sort(ptd_jobs *js)
{
	ptd_job *sorted = NULL, *j, *next, **pp;

	for (j = js->head; j != NULL; j = next) {
		next = j->next;
		for (pp = &sorted; *pp != NULL && (*pp)->m.created <= j->m.created;
		     pp = &(*pp)->next)
			;
		j->next = *pp;
		*pp = j;
	}
	js->head = sorted;
	for (js->tail = sorted; js->tail != NULL && js->tail->next != NULL;
	     js->tail = js->tail->next)
		;
}

int ptd_jobs_start(ptd_server *srv, pt_err *e)
{
	ptd_jobs *js = calloc(1, sizeof *js);
	char dir[4096], **ids = NULL;
	size_t n = 0;
	int rc;

	if (js == NULL)
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	js->srv = srv;
	srv->jobs = js;
	uv_timer_init(srv->loop, &js->timer);
	js->timer.data = js;
	uv_timer_start(&js->timer, ptd__timer_cb, PTD__TIMER_MS, PTD__TIMER_MS);
	uv_unref((uv_handle_t *)&js->timer);
	if ((rc = ptd_jstore_default_path(srv->cfg.state_dir, dir, sizeof dir, e)) != 0 ||
	    (rc = ptd_jstore_open(dir, &js->store, e)) != 0 ||
	    (rc = ptd_jstore_list(js->store, &ids, &n, e)) != 0) {
		snprintf(js->unavailable, sizeof js->unavailable, "%s", e->msg);
		return rc;
	}
	for (size_t i = 0; i < n; i++)
		ptd__recover(js, ids[i], time(NULL));
	ptd_jstore_list_free(ids, n);
	ptd__sort(js);
	pt_log(PT_LOG_INFO, "jobs: %s, %zu jobs, %u unfinished", dir, js->n_jobs,
	       ptd_jobs_unfinished(srv));
	return 0;
}

void ptd_jobs_stop(ptd_server *srv)
{
	ptd_jobs *js = srv->jobs;

	if (js == NULL || js->stopping)
		return;
	js->stopping = 1;
	uv_timer_stop(&js->timer);
	for (ptd_job *j = js->head; j != NULL; j = j->next)
		ptd__cancel_chunks(j);
}

static void ptd__timer_closed(uv_handle_t *h)
{
	free(h->data);
}

void ptd_jobs_free(ptd_server *srv)
{
	ptd_jobs *js = srv->jobs;
	ptd_job *j, *next;

	if (js == NULL)
		return;
	srv->jobs = NULL;
	for (j = js->head; j != NULL; j = next) {
		next = j->next;
		/* The worker has stopped and no journal write is left (the
		 * server waited for them): nothing points into the job. */
		j->in_flight = 0;
		j->writing = j->finishing = j->loading = 0;
		ptd__job_unload(j);
		ptd_jmanifest_done(&j->m);
		free(j);
	}
	ptd_jstore_free(js->store);
	uv_close((uv_handle_t *)&js->timer, ptd__timer_closed);
}

uint32_t ptd_jobs_unfinished(ptd_server *srv)
{
	uint32_t n = 0;

	if (srv->jobs == NULL)
		return 0;
	for (ptd_job *j = srv->jobs->head; j != NULL; j = j->next)
		n += ptd__job_active(j);
	return n;
}

int ptd_job_cancel(ptd_server *srv, ptd_job *j)
{
	if (j->state == PROTO_JOB_DONE || j->state == PROTO_JOB_CANCELLED)
		return 0;
	j->state = PROTO_JOB_CANCELLED;
	if (!j->loading) {
		/* (A job being loaded saves its state when the load is back.) */
		free(j->m.error);
		j->m.error = NULL;
		ptd__job_save(j, NULL);
	}
	ptd__cancel_chunks(j);
	ptd__job_unload(j);
	pt_log(PT_LOG_INFO, "job %s: cancelled at %llu of %llu segments", j->m.id,
	       (unsigned long long)j->done, (unsigned long long)j->total);
	ptd__job_notify(j);
	ptd__jobs_pump_all(srv->jobs);
	return 1;
}

