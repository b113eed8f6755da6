/*
 * job-run-impl.h: the job structures shared by job-run.c, job-write.c and
 * job-api.c.
 */
#ifndef PTD_JOB_RUN_IMPL_H
#define PTD_JOB_RUN_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "job-doc.h"
#include "job-run.h"

/* ---- Jobs (job-run.c, job-api.c) ------------------------------------------------ */

/* Sentences per chunk: small enough that jobs take turns often, large
 * enough that the journal's fsync is paid rarely. */
#define PTD__CHUNK_MAX 8
/* Beams of the retry of a segment that lost a placeholder. */
#define PTD__RETRY_BEAMS 4
/* Subscribed connections per job. */
#define PTD__SUBS_MAX 16
/* The timer: a full worker queue is tried again after this long ... */
#define PTD__BUSY_RETRY_MS 200
/* ... and failed jobs every this long. */
#define PTD__FAILED_RETRY_S 120.0
/* The period of the jobs' timer. */
#define PTD__TIMER_MS 5000
/* A failed job is not retried more often than this on request. */
#define PTD__RETRY_MIN_S 2.0
/* Finished and cancelled jobs are removed this long after they ended. */
#define PTD__KEEP_S (7 * 24 * 3600)

struct ptd_jobs {
	ptd_server *srv;
	ptd_jstore *store;
	char unavailable[PT_ERRMSG_MAX];
	ptd_job *head, *tail;
	size_t n_jobs;
	uv_timer_t timer;
	int stopping, busy_wait;
};

struct ptd_job {
	ptd_job *next;
	ptd_jobs *js;
	ptd_jmanifest m;
	int state;                   /* PROTO_JOB_* at run time */
	int err_code;                /* PT_E* of a failure */
	int err_file;                /* the file it concerns, or -1 */
	double t_failed;
	ptd_jdoc *docs;              /* m.n_files, while loaded */
	ptd_journal *jr;
	uint64_t done, total, flagged;
	uint32_t cur_file, cur_seg;  /* where the next chunk starts */
	unsigned n_retry;            /* segments waiting for a retry */
	ptd_request *reqs[2];        /* chunks in the worker */
	unsigned in_flight;
	double t_run;                /* for the ETA: since when, and ... */
	uint64_t done_run;           /* ... segments done since then */
	unsigned subs[PTD__SUBS_MAX];
	unsigned n_subs;
	struct ptd__jwrite *wq_head, *wq_tail; /* journal appends waiting */
	int writing;                 /* one is on a libuv pool thread */
	int finishing;               /* the outputs are being written (pool) */
	int loading;                 /* documents and journal being read (pool) */
};

typedef struct ptd__chunk {
	ptd_job *job;
	uint32_t file, n;
	int retry;
	uint32_t seg[PTD__CHUNK_MAX];
} ptd__chunk;

/* Shared between job-run.c, job-write.c and job-api.c. */
int ptd__job_active(const ptd_job *j);
/* Loads the documents and replays the journal on a pool thread (after
 * pre, if not NULL, there too: the creation of a new job), then calls fn
 * on the loop thread (e NULL on success). */
typedef int (*ptd__job_pre_fn)(ptd_job *j, void *ud, pt_err *e);
typedef void (*ptd__job_loaded_fn)(ptd_job *j, int rc, const pt_err *e, void *ud);
int ptd__job_load(ptd_job *j, ptd__job_pre_fn pre, ptd__job_loaded_fn fn, void *ud);
void ptd__job_pump(ptd_job *j);
void ptd__job_append(ptd_jobs *js, ptd_job *j);
int ptd__job_save(ptd_job *j, pt_err *e);
void ptd__job_notify(ptd_job *j);
/* The job fails (kept, retried later); file: the file concerned or -1. */
void ptd__job_fail(ptd_job *j, int code, int file, const char *fmt, ...) PT_PRINTF(4, 5);
/* Frees the documents and closes the journal, unless a chunk, a journal
 * write or the outputs still use them (the last of those unloads). */
void ptd__job_unload(ptd_job *j);
void ptd__jobs_pump_all(ptd_jobs *js);
/* job-write.c */
void ptd__job_chunk_done(ptd_job *j, ptd__chunk *ch, ptd_request *r);
void ptd__job_drop_writes(ptd_job *j);
void ptd__job_finish(ptd_job *j);

#endif
