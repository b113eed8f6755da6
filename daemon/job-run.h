/*
 * job-run.h: batch jobs at run time (issue 5): turning a job's documents
 * into segments, feeding them to the engine worker at batch priority,
 * journaling what comes back, writing the outputs, and recovering every
 * unfinished job when the daemon starts.
 *
 * A job's documents are parsed with formats/ into KEEP and TEXT pieces;
 * every TEXT piece gets its placeholders protected and is cut into
 * sentences with langid_segment. One sentence is one segment: the unit of
 * progress, of the journal and of the worker. The source language of each
 * file is fixed when the job is first loaded (detected once for "auto" and
 * kept in the manifest), and segmentation depends only on the input bytes
 * and that language, so a job resumed from its journal produces the same
 * output, byte for byte, as one that never stopped.
 *
 * Segments go to the worker in chunks of a few sentences of one file, as
 * ordinary requests at the job's priority (-100..100), below interactive
 * requests (PTD_PRIO_INTERACTIVE): the worker takes the most urgent
 * request at every step, so a translate request waits at most for the
 * segment in progress. A job keeps at most one chunk in the worker while
 * other jobs are running (two when alone, so the engine does not wait for
 * the journal), so jobs of the same priority take turns, chunk by chunk.
 *
 * Three kinds of work run on libuv pool threads (uv_queue_work: file I/O
 * and parsing, never engine work): loading a job (reading its inputs,
 * parsing and cutting them, replaying the journal), a chunk's journal
 * append (one at a time per job; its segments count as done only when the
 * append and its fdatasync have returned), and writing the outputs. While
 * one runs, the loop leaves the parts it uses alone (j->loading, writing,
 * finishing). Everything else runs on the loop thread.
 *
 * Policies: a job that fails on the disk (full, read-only, I/O error)
 * keeps its input and journal and is tried again when job.status or
 * job.result asks about it (at most every 2 s), every 2 minutes, and at
 * the next start; a cancelled job stops at once and keeps its folder;
 * done and cancelled jobs are removed 7 days after they ended, when the
 * daemon starts.
 */
#ifndef PTD_JOB_RUN_H
#define PTD_JOB_RUN_H

#include "job-store.h"
#include "ptd.h"

typedef struct ptd_job ptd_job;
typedef struct ptd_jobs ptd_jobs;

/* ptd_jobs_start, _stop, _free, _event and _unfinished are declared in
 * ptd.h, for the server. */

/* ---- For cmd-job.c ------------------------------------------------------- */

/* Why the jobs folder could not be opened, or NULL when it is usable. */
const char *ptd_jobs_unavailable(ptd_server *srv);

/* Who waits for the answer to a job.submit. */
typedef struct ptd_job_waiter {
	unsigned client;             /* connection id (the connection may go) */
	uint32_t msgid;
	int subscribe;
	double t0;
} ptd_job_waiter;

/* Creates a job from a job.submit request m: checks it now (errors
 * returned at once, m left to the caller: PT_EINVAL, PT_ELANG, PT_ENOMEM),
 * then takes m over, copies the inputs in and parses every document on a
 * pool thread; ptd_cmd_job_submitted gets the outcome (an unreadable path,
 * a full disk or a bad document refuses the job and leaves nothing
 * behind). */
int ptd_jobs_submit(ptd_server *srv, proto_msg *m, const ptd_job_waiter *w, pt_err *e);
/* cmd-job.c: answers a job.submit: j is the new job, or NULL with rc and e
 * saying why it was refused. */
void ptd_cmd_job_submitted(ptd_server *srv, const ptd_job_waiter *w, ptd_job *j, int rc,
			   const pt_err *e);
ptd_job *ptd_jobs_find(ptd_server *srv, const char *id);
const char *ptd_job_id(const ptd_job *j);
/* The jobs in submission order, for job.list: i from 0 until NULL. */
ptd_job *ptd_jobs_nth(ptd_server *srv, size_t i);

/* Fills the job map of job.status/job.list/job.progress. The error list
 * points into the job: valid until the job changes (encode at once). */
void ptd_job_info(ptd_job *j, proto_job_info *out, proto_job_error *err_slot);
/* Sends job.progress for this job to the connection from now on. */
void ptd_job_subscribe(ptd_job *j, ptd_client *c);
/* Cancels a job that is queued, running or failed. Returns 1 if it was
 * cancelled now, 0 if it had already ended. */
int ptd_job_cancel(ptd_server *srv, ptd_job *j);
/* A failed job whose error came from the disk (full, read-only) is tried
 * again: its outputs written or its translation resumed. Called when
 * someone asks about it, at start and every few minutes. */
void ptd_job_retry(ptd_server *srv, ptd_job *j);

/* job.result: state, outputs and report. The result holds allocations
 * released by ptd_job_result_done (after the reply is encoded). */
int ptd_job_result(ptd_server *srv, ptd_job *j, proto_job_result_res *res, pt_err *e);
void ptd_job_result_done(proto_job_result_res *res);

#endif
