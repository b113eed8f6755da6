/*
 * job-write.c: what a job writes while it runs, off the loop thread: a
 * chunk's journal records (appended and fdatasync'ed on a libuv pool
 * thread, one append at a time per job, in order; the segments count as
 * done only once it returned) and, at the end, the outputs (assembled and
 * written atomically on a pool thread). uv_queue_work is meant for such
 * short file work; the engine has its own thread.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job-run-impl.h"

/* ---- The journal, on a libuv pool thread ---------------------------------------- */

/* Records of one chunk on their way to the journal: appended and fsync'ed
 * off the loop thread (a few ms, more on a busy disk), one append at a
 * time per job, in order. The segments stay busy until then. */
typedef struct ptd__jwrite {
	uv_work_t req;
	ptd_job *j;
	struct ptd__jwrite *next;
	uint32_t file, n;
	ptd_jrec rec[PTD__CHUNK_MAX];
	char *texts;                 /* the records' texts, back to back */
	int rc;
	pt_err err;
} ptd__jwrite;

void ptd__job_drop_writes(ptd_job *j)
{
	ptd__jwrite *w, *next;

	for (w = j->wq_head; w != NULL; w = next) {
		next = w->next;
		if (j->docs != NULL)
			for (uint32_t i = 0; i < w->n; i++)
				j->docs[w->file].segs[w->rec[i].seg].busy = 0;
		free(w->texts);
		free(w);
	}
	j->wq_head = j->wq_tail = NULL;
}

static void ptd__write_work(uv_work_t *req)
{
	ptd__jwrite *w = req->data;

	w->rc = ptd_journal_append(w->j->jr, w->rec, w->n, &w->err);
}

static void ptd__write_next(ptd_job *j);

/* Loop thread: the records are on the disk (or not). */
static void ptd__write_done(uv_work_t *req, int status)
{
	ptd__jwrite *w = req->data;
	ptd_job *j = w->j;
	ptd_server *srv = j->js->srv;
	ptd_jdoc *d = &j->docs[w->file];

	srv->n_pending--;
	j->writing = 0;
	for (uint32_t i = 0; i < w->n; i++)
		d->segs[w->rec[i].seg].busy = 0;
	if (status != 0 && w->rc == 0)
		w->rc = pt_err_set(&w->err, PT_EIO, "journal write: %s", uv_strerror(status));
	if (ptd__job_active(j) && w->rc != 0) {
		ptd__job_drop_writes(j);
		ptd__job_fail(j, w->rc, -1, "%s", w->err.msg);
	} else if (ptd__job_active(j)) {
		/* A segment counts only now that its record is on the disk. */
		for (uint32_t i = 0; i < w->n; i++) {
			const ptd_jrec *r = &w->rec[i];
			if (ptd_jdoc_seg_set(d, r->seg, r->text, r->len, r->flags & PTD_JREC_FLAGGED)
			    != 0) {
				ptd__job_fail(j, PT_ENOMEM, -1, "out of memory");
				break;
			}
			j->done++;
			j->done_run++;
			j->flagged += (r->flags & PTD_JREC_FLAGGED) != 0;
		}
		ptd__job_notify(j);
	}
	free(w->texts);
	free(w);
	if (ptd__job_active(j) || j->js->stopping)
		ptd__write_next(j);
	if (!ptd__job_active(j))
		ptd__job_unload(j);
	if (srv->stopping)
		ptd_server_maybe_finish(srv);
	else
		ptd__jobs_pump_all(j->js);
}

static void ptd__write_next(ptd_job *j)
{
	ptd__jwrite *w = j->wq_head;
	ptd_server *srv = j->js->srv;
	int rc;

	if (j->writing || w == NULL)
		return;
	j->wq_head = w->next;
	if (j->wq_head == NULL)
		j->wq_tail = NULL;
	w->req.data = w;
	if ((rc = uv_queue_work(srv->loop, &w->req, ptd__write_work, ptd__write_done)) != 0) {
		w->next = j->wq_head; /* put back: dropped by the failure */
		j->wq_head = w;
		if (j->wq_tail == NULL)
			j->wq_tail = w;
		ptd__job_drop_writes(j);
		ptd__job_fail(j, PT_EIO, -1, "journal write: %s", uv_strerror(rc));
		return;
	}
	j->writing = 1;
	srv->n_pending++; /* a stopping daemon waits for it */
}

/* A chunk came back translated: check it, and send what passed to the
 * journal. A segment that lost a placeholder is tried again first. */
void ptd__job_chunk_done(ptd_job *j, ptd__chunk *ch, ptd_request *r)
{
	ptd_jdoc *d = &j->docs[ch->file];
	const char *tr[PTD__CHUNK_MAX];
	size_t len[PTD__CHUNK_MAX], total = 0, off = 0;
	int bad[PTD__CHUNK_MAX];
	ptd__jwrite *w;

	for (uint32_t i = 0; i < ch->n; i++) {
		ptd_jseg *g = &d->segs[ch->seg[i]];
		tr[i] = ptd_tr_result(r->tr, i, &len[i]);
		if (tr[i] == NULL)
			tr[i] = "", len[i] = 0;
		bad[i] = ptd_jdoc_damaged(d, g, tr[i], len[i]);
		if (bad[i] && !ch->retry) {
			g->retry = 1;
			j->n_retry++;
			g->busy = 0;
			continue;
		}
		if (bad[i]) {
			/* Still damaged after the retry: the sentence stays as it
			 * was, so the document's markup and placeholders hold. */
			tr[i] = g->src;
			len[i] = g->len;
		}
		if (g->retry) {
			g->retry = 0;
			j->n_retry--;
		}
		total += len[i];
	}
	if ((w = calloc(1, sizeof *w)) == NULL || (w->texts = malloc(total + 1)) == NULL) {
		free(w);
		ptd__job_fail(j, PT_ENOMEM, -1, "out of memory");
		return;
	}
	w->j = j;
	w->file = ch->file;
	for (uint32_t i = 0; i < ch->n; i++) {
		ptd_jseg *g = &d->segs[ch->seg[i]];
		ptd_jrec *rec = &w->rec[w->n];
		if (bad[i] && g->retry)
			continue; /* waiting for its retry */
		memcpy(w->texts + off, tr[i], len[i]);
		rec->file = ch->file;
		rec->seg = ch->seg[i];
		rec->src_crc = g->crc;
		rec->flags = bad[i] ? PTD_JREC_FLAGGED : 0;
		rec->text = w->texts + off;
		rec->len = (uint32_t)len[i];
		off += len[i];
		w->n++;
		g->busy = 1; /* until its record is written */
	}
	if (w->n == 0) {
		free(w->texts);
		free(w);
		return;
	}
	if (j->wq_tail != NULL)
		j->wq_tail->next = w;
	else
		j->wq_head = w;
	j->wq_tail = w;
	ptd__write_next(j);
}

/* ---- Finishing -------------------------------------------------------------------- */

/* Every output written, on a libuv pool thread: assembling a document and
 * writing it (fsync included) can take long for a big one. Nothing else
 * touches the job's documents meanwhile (no chunk, no journal write). */
typedef struct ptd__jfinish {
	uv_work_t req;
	ptd_job *j;
	int rc, file;
	pt_err err;
} ptd__jfinish;

static void ptd__finish_work(uv_work_t *req)
{
	ptd__jfinish *w = req->data;
	ptd_job *j = w->j;

	for (uint32_t i = 0; i < j->m.n_files && w->rc == 0; i++) {
		const char *name = j->m.files[i].name;
		char *out = NULL;
		size_t len;
		w->rc = ptd_jdoc_assemble(&j->docs[i], &out, &len, &w->err);
		if (w->rc == 0)
			w->rc = j->m.output != NULL
				? ptd_file_write_atomic(j->m.output, name, out, len, 0666, &w->err)
				: ptd_jstore_output_put(j->js->store, j->m.id, i, out, len, &w->err);
		free(out);
		if (w->rc != 0) {
			w->file = (int)i;
			pt_err_prefix(&w->err, "%s", name);
		}
	}
}

static void ptd__finish_done(uv_work_t *req, int status)
{
	ptd__jfinish *w = req->data;
	ptd_job *j = w->j;
	ptd_server *srv = j->js->srv;

	srv->n_pending--;
	j->finishing = 0;
	if (status != 0 && w->rc == 0)
		w->rc = pt_err_set(&w->err, PT_EIO, "writing the outputs: %s", uv_strerror(status));
	if (!ptd__job_active(j)) {
		ptd__job_unload(j); /* cancelled meanwhile */
	} else if (w->rc != 0) {
		ptd__job_fail(j, w->rc, w->file, "%s", w->err.msg);
	} else {
		j->state = PROTO_JOB_DONE;
		j->err_code = 0;
		j->m.segments = j->total;
		free(j->m.error);
		j->m.error = NULL;
		ptd__job_save(j, NULL);
		pt_log(PT_LOG_INFO, "job %s: done, %u files, %llu segments (%llu flagged)",
		       j->m.id, (unsigned)j->m.n_files, (unsigned long long)j->total,
		       (unsigned long long)j->flagged);
		ptd__job_unload(j);
		ptd__job_notify(j);
	}
	free(w);
	if (srv->stopping)
		ptd_server_maybe_finish(srv);
	else
		ptd__jobs_pump_all(j->js);
}

void ptd__job_finish(ptd_job *j)
{
	ptd__jfinish *w;
	int rc;

	if (j->finishing)
		return;
	if ((w = calloc(1, sizeof *w)) == NULL) {
		ptd__job_fail(j, PT_ENOMEM, -1, "out of memory");
		return;
	}
	w->j = j;
	w->file = -1;
	w->req.data = w;
	if ((rc = uv_queue_work(j->js->srv->loop, &w->req, ptd__finish_work,
				ptd__finish_done)) != 0) {
		free(w);
		ptd__job_fail(j, PT_EIO, -1, "writing the outputs: %s", uv_strerror(rc));
		return;
	}
	j->finishing = 1;
	j->state = PROTO_JOB_RUNNING;
	j->js->srv->n_pending++; /* a stopping daemon waits for it */
}
