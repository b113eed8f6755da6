/*
 * ptd.h: polytransd's private interfaces between its parts: the server
 * (libuv loop, connections, the method table), the worker (the engine on
 * its own thread) and the method files cmd-*.c.
 *
 * Threads: everything here runs on the loop thread except the worker's
 * own loop (worker.c), which touches a request only through the fields
 * marked "worker" below, and only while the request is queued or running.
 */
#ifndef PTD_H
#define PTD_H

#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "config.h"
#include "listen.h"
#include "pipeline.h"
#include "proto.h"
#include "pt.h"

#ifndef PTD_VERSION
#define PTD_VERSION "0.0.0"
#endif

typedef struct ptd_server ptd_server;
typedef struct ptd_client ptd_client;
typedef struct ptd_request ptd_request;
typedef struct ptd_worker ptd_worker;

/* ---- Requests that go to the worker ------------------------------------ */

enum { PTD_REQ_NEW, PTD_REQ_QUEUED, PTD_REQ_RUNNING, PTD_REQ_DONE };

/* Interactive requests; batch jobs (a later issue) get lower values, so
 * interactive work goes first at every step. */
#define PTD_PRIO_INTERACTIVE 1000

/* A streamed segment or the end of a request, from the worker to the loop. */
typedef struct ptd_event {
	struct ptd_event *next;
	ptd_request *req;
	int done;                    /* 1: the request is finished */
	uint32_t item, index;
	size_t len;
	char text[];                 /* the segment, for a note */
} ptd_event;

struct ptd_request {
	ptd_server *srv;
	ptd_client *client;          /* NULL once the client is gone */
	ptd_request *cnext, *cprev;  /* the client's list of requests */
	ptd_request *qnext;          /* worker queue (worker mutex), then the
					worker's list of begun requests */
	proto_msg *msg;              /* owned; its strings back `texts` */
	uint32_t msgid;
	int method;
	int priority;
	int state;                   /* PTD_REQ_* (worker mutex) */
	int started;                 /* the worker has begun it (worker mutex) */
	volatile int cancel;         /* set by the loop, read by the worker */
	int shutting_down;           /* cancelled because the daemon stops */
	double t_start, t_run;       /* received, first worked on */
	/* worker: the translate request and its outcome */
	const char **texts;
	size_t *lens;
	size_t n_texts, bytes;
	int from, to, beams, max_tokens, stream;
	ptd_tr *tr;
	int fed_all;                 /* every segment has gone to a slot */
	int stepped;                 /* unbatched: stepped in this round */
	int rc;
	pt_err err;
	ptd_event done_ev;           /* posted when finished: no allocation */
	void *job;                   /* a batch job's chunk (job-run.c), else NULL */
};

/* ---- Worker (worker.c) ---------------------------------------------------- */

/* Called on the loop thread for each event, in the order posted. */
typedef void (*ptd_event_fn)(ptd_server *srv, ptd_event *ev);

int ptd_worker_start(uv_loop_t *loop, ptd_pipeline *pl, size_t queue_max,
		     ptd_event_fn fn, ptd_server *srv, ptd_worker **out, pt_err *e);
/* Stops the thread after the current step and joins it; the queue must be
 * empty. The uv_async handle is closed: run the loop once more to free it. */
void ptd_worker_stop(ptd_worker *w);
/* Queues r. PT_EBUSY when queue_max requests wait already: requests of
 * r's priority or higher that the worker has not begun (so batch work
 * waiting never makes an interactive request busy). */
int ptd_worker_submit(ptd_worker *w, ptd_request *r);
/* Takes r out of the queue if it is waiting there (returns 1), else 0
 * (running or finished: set r->cancel instead). */
int ptd_worker_remove(ptd_worker *w, ptd_request *r);
void ptd_worker_set_queue_max(ptd_worker *w, size_t n);
/* Requests waiting (not begun) and in progress (begun, including any
 * set aside for more urgent work); a recent generation speed. */
void ptd_worker_stats(ptd_worker *w, uint32_t *queued, uint32_t *running,
		      double *tokens_per_s);
/* Frees a finished (or removed) request's worker-side parts. */
void ptd_request_free(ptd_request *r);

/* ---- Server (server.c) ------------------------------------------------------ */

struct ptd_client {
	uv_pipe_t pipe;
	ptd_server *srv;
	ptd_client *next, *prev;
	proto_decoder *dec;
	unsigned id;
	pid_t pid;
	ptd_request *reqs;           /* waiting for the worker */
	unsigned n_reqs;
	size_t wpending;             /* bytes queued for writing */
	int reading, closing;
};

typedef struct ptd_counters {
	uint64_t requests, errors, tokens;
} ptd_counters;

struct ptd_server {
	uv_loop_t *loop;
	ptd_config cfg;
	const char *config_path;     /* the file SIGHUP reads again */
	char **overrides;            /* key, value pairs from the command line */
	int n_overrides;
	ptd_listener lst;
	uv_pipe_t listen_pipe;
	ptd_pipeline *pl;
	ptd_worker *worker;
	char *model_path;
	ptd_client *clients;
	unsigned n_clients, next_client_id;
	unsigned n_pending;          /* requests given to the worker, unanswered */
	ptd_counters cnt;
	double t_start, idle_since;
	int stopping, finishing, exit_code;
	uv_signal_t sig_term, sig_int, sig_hup;
	uv_timer_t shutdown_timer, house_timer, watchdog_timer, force_timer;
	uint64_t watchdog_ms;
	char last_status[128];
	struct ptd_jobs *jobs;       /* batch jobs (job-run.c) */
};

/* Runs the daemon (server-life.c): srv's config, pipeline and listener
 * are ready; serves until a signal (or idle_exit) stops it, then answers
 * or cancels what is in flight. Returns the exit status. */
int ptd_server_run(ptd_server *srv, pt_err *e);
/* Starts listening on srv->lst (server.c). */
int ptd_server_listen(ptd_server *srv, pt_err *e);
/* The worker's event callback (server.c). */
void ptd_server_event(ptd_server *srv, ptd_event *ev);
/* While stopping: ends the loop once nothing is in flight. */
void ptd_server_maybe_finish(ptd_server *srv);
/* Closes a connection, cancelling its requests; graceful: after the
 * replies already queued are written. */
void ptd_client_close(ptd_client *c, int graceful);

/* Sends a response, an error reply or a notification to a client. Encoding
 * failures become an `internal` error reply. */
void ptd_reply(ptd_client *c, uint32_t msgid, const proto_response *r);
void ptd_reply_error(ptd_client *c, uint32_t msgid, int code, const char *fmt, ...)
	PT_PRINTF(4, 5);
void ptd_notify_client(ptd_client *c, const proto_notify *n);
/* Finds a request of c waiting for the worker by msgid. */
ptd_request *ptd_client_find(ptd_client *c, uint32_t msgid);
/* Cancels a request in the worker (queued ones are answered at once). */
void ptd_request_cancel(ptd_server *srv, ptd_request *r, int shutting_down);
/* Hands r to the worker and links it to its client; answers busy itself. */
void ptd_request_submit(ptd_client *c, ptd_request *r);

/* The log line of a finished request (info level). */
void ptd_log_request(ptd_client *c, uint32_t msgid, int method, double t_start,
		     const char *fmt, ...) PT_PRINTF(5, 6);

/* ---- Methods (cmd-*.c) -------------------------------------------------------- */

/* A method: exec takes ownership of m and answers it now or later. */
typedef struct ptd_cmd_entry {
	int method;                  /* PROTO_M_* */
	void (*exec)(ptd_client *c, proto_msg *m);
} ptd_cmd_entry;

extern const ptd_cmd_entry ptd_cmd_translate_entry;
extern const ptd_cmd_entry ptd_cmd_detect_entry;
extern const ptd_cmd_entry ptd_cmd_languages_entry;
extern const ptd_cmd_entry ptd_cmd_status_entry;
extern const ptd_cmd_entry ptd_cmd_api_info_entry;
extern const ptd_cmd_entry ptd_cmd_cancel_entry;
extern const ptd_cmd_entry ptd_cmd_job_submit_entry;
extern const ptd_cmd_entry ptd_cmd_job_status_entry;
extern const ptd_cmd_entry ptd_cmd_job_list_entry;
extern const ptd_cmd_entry ptd_cmd_job_cancel_entry;
extern const ptd_cmd_entry ptd_cmd_job_result_entry;

/* The table, NULL-terminated, and the methods api_info lists. */
extern const ptd_cmd_entry *const ptd_cmd_table[];
const ptd_cmd_entry *ptd_cmd_find(int method);

/* Answers a finished translate request (cmd-translate.c). */
void ptd_translate_answer(ptd_client *c, ptd_request *r);

/* ---- Batch jobs (job-run.c, job-run.h) ------------------------------------------ */

/* Opens the jobs folder and resumes unfinished jobs; on failure the job
 * methods answer with the reason and translation goes on. */
int ptd_jobs_start(ptd_server *srv, pt_err *e);
/* Stopping: cancels the jobs' chunks in the worker (they resume at the
 * next start). */
void ptd_jobs_stop(ptd_server *srv);
/* After the worker has stopped. */
void ptd_jobs_free(ptd_server *srv);
/* A worker event of a request with r->job set. */
void ptd_jobs_event(ptd_server *srv, ptd_event *ev);
/* Jobs queued or running (status). */
uint32_t ptd_jobs_unfinished(ptd_server *srv);

/* ---- Logging (log.c) ----------------------------------------------------------- */

/* Logs to stderr: "<N>message" when the journal reads it (JOURNAL_STREAM),
 * else "polytransd: level: message". */
void ptd_log_init(int level);
const char *ptd_level_name(int level);

#endif
