/*
 * job-run-impl.h: a job's documents cut into segments (job-doc.c), shared
 * with the scheduler (job-run.c).
 */
#ifndef PTD_JOB_RUN_IMPL_H
#define PTD_JOB_RUN_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "formats.h"
#include "job-run.h"
#include "langid.h"
#include "pt.h"

/* One sentence to translate. */
typedef struct ptd_jseg {
	uint32_t piece;              /* index into ptd_jdoc.pieces */
	uint32_t sub;                /* langid piece within that piece */
	const char *src;             /* protected source text (in the segs) */
	size_t len;
	uint32_t crc;                /* CRC-32 of src: ties journal records to it */
	char *tr;                    /* translation once done (protected form) */
	uint32_t tr_len;
	uint8_t done, busy, retry, flagged;
} ptd_jseg;

/* One TEXT piece of the document. */
typedef struct ptd_jpiece {
	size_t index;                /* fmt piece index */
	fmt_protected *prot;
	langid_segs *segs;
} ptd_jpiece;

typedef struct ptd_jdoc {
	fmt_doc *doc;
	ptd_jpiece *pieces;
	size_t n_pieces;
	ptd_jseg *segs;
	uint32_t n_segs, n_done;
	int from;                    /* langid index, or LANGID_UND */
} ptd_jdoc;

/*
 * Parses data as fmt_format (FMT_FORMAT_*), sets the target language,
 * protects every TEXT piece and cuts it into sentences. *from is the
 * source language (a langid index); LANGID_UND asks for detection over
 * the document's text, and gets the result (LANGID_UND when nothing could
 * be told). Errors name the line (formats) and are PT_EFORMAT, PT_EUTF8,
 * PT_ELANG, PT_ENOMEM, PT_ETOOLARGE.
 */
int ptd_jdoc_load(const char *data, size_t len, int fmt_format, const char *to,
		  const langid_detector *det, int *from, ptd_jdoc *d, pt_err *e);
void ptd_jdoc_done(ptd_jdoc *d);

/* Nonzero if the translation of segment s lost, repeated or changed one of
 * the placeholders its source holds. */
int ptd_jdoc_damaged(const ptd_jdoc *d, const ptd_jseg *s, const char *tr, size_t len);

/* Stores a finished segment's translation (copied). */
int ptd_jdoc_seg_set(ptd_jdoc *d, uint32_t i, const char *tr, size_t len, int flagged);

/* The translated document (every segment must be done). */
int ptd_jdoc_assemble(ptd_jdoc *d, char **out, size_t *len, pt_err *e);

/* FMT_FORMAT_* for a proto_format (not AUTO). */
int ptd_jdoc_fmt(int pformat);

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
};

/* Shared between job-run.c and job-api.c. */
int ptd__job_active(const ptd_job *j);
int ptd__job_load(ptd_job *j, pt_err *e);
void ptd__job_pump(ptd_job *j);
void ptd__job_append(ptd_jobs *js, ptd_job *j);
int ptd__job_save(ptd_job *j, pt_err *e);
void ptd__job_notify(ptd_job *j);

#endif
