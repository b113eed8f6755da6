/*
 * worker.c: the engine on its own thread. Requests wait in a bounded queue
 * ordered by priority (first come first served within one priority). The
 * thread keeps the segments of the requests it has begun in the slots of
 * batched decoding (pipeline.h): at every step it advances them all by one
 * token with one engine call, and between steps it commits the segments
 * that finished (streaming them, answering requests that are done), drops
 * cancelled requests and fills the free slots, most urgent work first:
 * the begun requests and the queue's head by priority, so an interactive
 * request takes the next free slot ahead of batch jobs, and requests of one
 * priority share the slots. A request with
 * beam search goes segment by segment through engine_generate, unbatched.
 * Streamed segments and finished requests go back to the loop through one
 * uv_async_t; uv_queue_work is not used because its small pool is shared
 * with file I/O.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ptd.h"

struct ptd_worker {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uv_async_t async;
	ptd_pipeline *pl;
	ptd_event_fn fn;
	ptd_server *srv;
	ptd_request *queue;          /* by priority, then arrival */
	size_t n_waiting;            /* in the queue, not begun */
	size_t n_waiting_urgent;     /* ... of them interactive */
	size_t n_started;            /* begun, not finished */
	size_t queue_max;
	ptd_request *active;         /* worker thread only: begun, by priority
					then arrival (linked by qnext) */
	ptd_event *ev_head, *ev_tail;
	int stop, started;
	double tok_sum, sec_sum;     /* decaying sums for tokens_per_s */
};

static void ptd__post(ptd_worker *w, ptd_event *ev)
{
	ev->next = NULL;
	pthread_mutex_lock(&w->mu);
	if (w->ev_tail != NULL)
		w->ev_tail->next = ev;
	else
		w->ev_head = ev;
	w->ev_tail = ev;
	pthread_mutex_unlock(&w->mu);
	uv_async_send(&w->async);
}

/* Loop thread: hands the events posted so far to the server, in order. */
static void ptd__async_cb(uv_async_t *h)
{
	ptd_worker *w = h->data;
	ptd_event *ev, *next;

	pthread_mutex_lock(&w->mu);
	ev = w->ev_head;
	w->ev_head = w->ev_tail = NULL;
	pthread_mutex_unlock(&w->mu);
	for (; ev != NULL; ev = next) {
		next = ev->next;
		w->fn(w->srv, ev);
	}
}

/* Inserts r after every request of its priority or higher. Worker mutex
 * held. */
static void ptd__enqueue(ptd_worker *w, ptd_request *r)
{
	ptd_request **pp = &w->queue;

	while (*pp != NULL && (*pp)->priority >= r->priority)
		pp = &(*pp)->qnext;
	r->qnext = *pp;
	*pp = r;
	r->state = PTD_REQ_QUEUED;
	w->n_waiting++;
	w->n_waiting_urgent += r->priority >= PTD_PRIO_INTERACTIVE;
}

/* Worker mutex held: r leaves the queue (begun or removed). */
static void ptd__count_out(ptd_worker *w, ptd_request *r)
{
	w->n_waiting--;
	w->n_waiting_urgent -= r->priority >= PTD_PRIO_INTERACTIVE;
}

/* Worker thread: streams one finished segment. */
static int ptd__on_segment(void *ud, uint32_t item, uint32_t index, const char *text,
			   size_t len)
{
	ptd_request *r = ud;
	ptd_worker *w = r->srv->worker;
	ptd_event *ev;
	size_t sz;

	if (pt_add_size(sizeof *ev, len + 1, &sz) != 0 || (ev = malloc(sz)) == NULL) {
		pt_log(PT_LOG_WARN, "request %u: out of memory streaming segment %u",
		       (unsigned)r->msgid, (unsigned)index);
		return 0; /* the final response still carries the text */
	}
	ev->req = r;
	ev->done = 0;
	ev->item = item;
	ev->index = index;
	ev->len = len;
	memcpy(ev->text, text, len);
	ev->text[len] = '\0';
	ptd__post(w, ev);
	return 0;
}

/* ---- Begun requests (worker thread) ---------------------------------------- */

/* Ends r: its segments leave the slots, the loop gets its done event. */
static void ptd__finish(ptd_worker *w, ptd_request *r)
{
	ptd_request **pp = &w->active;

	if (r->tr != NULL)
		ptd_tr_abort(r->tr);
	while (*pp != NULL && *pp != r)
		pp = &(*pp)->qnext;
	if (*pp == r)
		*pp = r->qnext;
	r->qnext = NULL;
	pthread_mutex_lock(&w->mu);
	w->n_started--;
	r->state = PTD_REQ_DONE;
	pthread_mutex_unlock(&w->mu);
	r->done_ev.req = r;
	r->done_ev.done = 1;
	ptd__post(w, &r->done_ev);
}

/* Creates r's pipeline request and adds r to the begun requests, after
 * those of its priority or higher. */
static void ptd__begin(ptd_worker *w, ptd_request *r)
{
	ptd_tr_params tp = { 0 };
	ptd_request **pp = &w->active;

	while (*pp != NULL && (*pp)->priority >= r->priority)
		pp = &(*pp)->qnext;
	r->qnext = *pp;
	*pp = r;
	tp.texts = r->texts;
	tp.lens = r->lens;
	tp.n_texts = r->n_texts;
	tp.from = r->from;
	tp.to = r->to;
	tp.beams = r->beams;
	tp.max_tokens = r->max_tokens;
	tp.cancel = &r->cancel;
	tp.on_segment = r->stream ? ptd__on_segment : NULL;
	tp.ud = r;
	r->t_run = pt_now();
	r->rc = ptd_tr_new(w->pl, &tp, &r->tr, &r->err);
	if (r->rc != 0)
		ptd__finish(w, r);
}

/* Takes the queue's head if it is more urgent than `than` (a begun
 * request that has work, or NULL) or as urgent while `than` already holds
 * slots (it then gets a share), marking it begun. */
static ptd_request *ptd__pop(ptd_worker *w, const ptd_request *than, int than_running)
{
	ptd_request *r;

	pthread_mutex_lock(&w->mu);
	r = w->queue;
	if (r != NULL && (than == NULL || r->priority > than->priority ||
			  (r->priority == than->priority && than_running > 0))) {
		w->queue = r->qnext;
		ptd__count_out(w, r);
		r->started = 1;
		r->state = PTD_REQ_RUNNING;
		w->n_started++;
	} else {
		r = NULL;
	}
	pthread_mutex_unlock(&w->mu);
	return r;
}

/*
 * The begun request that should use the engine next: of the most urgent
 * ones that can (a batched one with segments left to start while a slot is
 * free, an unbatched one not yet stepped in this round), the one holding
 * the fewest slots, then the oldest: requests of one priority share the
 * slots, so a short request is not stuck behind a long document.
 */
static ptd_request *ptd__candidate(ptd_worker *w, int free_slots, int *running)
{
	ptd_request *best = NULL;
	int best_run = 0;

	for (ptd_request *r = w->active; r != NULL; r = r->qnext) {
		int run;

		if (best != NULL && r->priority < best->priority)
			break;
		if (ptd_tr_batched(r->tr) ? free_slots == 0 || r->fed_all : r->stepped)
			continue;
		run = ptd_tr_running(r->tr);
		if (best == NULL || run < best_run) {
			best = r;
			best_run = run;
		}
	}
	*running = best_run;
	return best;
}

/* One segment of an unbatched request (beam search). */
static void ptd__step_unbatched(ptd_worker *w, ptd_request *r)
{
	uint64_t tok0 = ptd_tr_tokens(r->tr);
	double s0 = ptd_tr_gen_s(r->tr);
	int done = 0;

	r->stepped = 1;
	r->rc = ptd_tr_step(r->tr, &done, &r->err);
	if (ptd_tr_gen_s(r->tr) > s0) {
		pthread_mutex_lock(&w->mu);
		/* Decaying sums: the speed of roughly the last 20 segments. */
		w->tok_sum = w->tok_sum * 0.95 + (double)(ptd_tr_tokens(r->tr) - tok0);
		w->sec_sum = w->sec_sum * 0.95 + (ptd_tr_gen_s(r->tr) - s0);
		pthread_mutex_unlock(&w->mu);
	}
	if (r->rc != 0 || done)
		ptd__finish(w, r);
}

/* Fills the free slots (and steps unbatched requests), most urgent work
 * first. */
static void ptd__schedule(ptd_worker *w)
{
	for (ptd_request *r = w->active; r != NULL; r = r->qnext)
		r->stepped = 0;
	for (;;) {
		int free_slots = ptd_pipeline_free_slots(w->pl), running, rc;
		ptd_request *r = ptd__candidate(w, free_slots, &running), *head = NULL;

		if (free_slots > 0 || (ptd_pipeline_n_slots(w->pl) == 0 && w->active == NULL))
			head = ptd__pop(w, r, running);
		if (head != NULL) {
			ptd__begin(w, head);
			continue;
		}
		if (r == NULL)
			return;
		if (!ptd_tr_batched(r->tr)) {
			ptd__step_unbatched(w, r);
			continue;
		}
		rc = ptd_tr_feed(r->tr, &r->err);
		if (rc == 0) {
			r->fed_all = 1;
		} else if (rc < 0) {
			r->rc = rc;
			ptd__finish(w, r);
		}
	}
}

/* Answers cancelled requests and commits what the slots finished. */
static void ptd__reap(ptd_worker *w)
{
	ptd_request *r = w->active, *next;

	for (; r != NULL; r = next) {
		int done = 0;

		next = r->qnext;
		if (r->cancel) {
			r->rc = pt_err_set(&r->err, PT_ECANCELLED, "cancelled");
			ptd__finish(w, r);
			continue;
		}
		if (!ptd_tr_batched(r->tr))
			continue;
		r->rc = ptd_tr_commit(r->tr, &done, &r->err);
		if (r->rc == 0 && !done && r->fed_all && ptd_tr_running(r->tr) == 0)
			r->rc = pt_err_set(&r->err, PT_EINTERNAL,
					   "request %u: every segment answered but not done",
					   (unsigned)r->msgid);
		if (r->rc != 0 || done)
			ptd__finish(w, r);
	}
}

/* One batched step over the slots. */
static void ptd__decode(ptd_worker *w)
{
	double t0 = pt_now();
	pt_err err;
	int n;

	if (ptd_pipeline_busy_slots(w->pl) == 0)
		return;
	n = ptd_pipeline_step(w->pl, &err);
	if (n < 0) {
		/* The segments in the slots carry the failure to their requests. */
		pt_log(PT_LOG_ERROR, "batched decoding: %s", err.msg);
		return;
	}
	pthread_mutex_lock(&w->mu);
	/* Decaying sums: the speed over roughly the last 200 steps. */
	w->tok_sum = w->tok_sum * 0.995 + (double)n;
	w->sec_sum = w->sec_sum * 0.995 + (pt_now() - t0);
	pthread_mutex_unlock(&w->mu);
}

static void *ptd__thread(void *arg)
{
	ptd_worker *w = arg;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->stop && w->queue == NULL && w->active == NULL)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->stop)
			break;
		pthread_mutex_unlock(&w->mu);
		ptd__reap(w);
		ptd__schedule(w);
		ptd__decode(w);
		ptd__reap(w);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	/* Stopping with work begun (the server normally waits for it): it
	 * ends cancelled, and the events still reach the loop. */
	while (w->active != NULL) {
		ptd_request *r = w->active;

		r->rc = pt_err_set(&r->err, PT_ECANCELLED, "cancelled");
		ptd__finish(w, r);
	}
	return NULL;
}

int ptd_worker_start(uv_loop_t *loop, ptd_pipeline *pl, size_t queue_max, ptd_event_fn fn,
		     ptd_server *srv, ptd_worker **out, pt_err *e)
{
	ptd_worker *w = calloc(1, sizeof *w);
	int rc;

	if (w == NULL)
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	w->pl = pl;
	w->fn = fn;
	w->srv = srv;
	w->queue_max = queue_max;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if ((rc = uv_async_init(loop, &w->async, ptd__async_cb)) != 0) {
		free(w);
		return pt_err_set(e, PT_EIO, "uv_async_init: %s", uv_strerror(rc));
	}
	w->async.data = w;
	if ((rc = pthread_create(&w->thread, NULL, ptd__thread, w)) != 0) {
		uv_close((uv_handle_t *)&w->async, NULL);
		return pt_err_set(e, PT_EIO, "cannot start the engine thread: %s", strerror(rc));
	}
	w->started = 1;
	*out = w;
	return 0;
}

static void ptd__async_closed(uv_handle_t *h)
{
	ptd_worker *w = h->data;

	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
}

void ptd_worker_stop(ptd_worker *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	if (w->started)
		pthread_join(w->thread, NULL);
	if (ptd_pipeline_n_slots(w->pl) > 0) {
		uint64_t hits, toks;

		ptd_pipeline_prefix_stats(w->pl, &hits, &toks);
		pt_log(PT_LOG_INFO, "batched decoding: %d slots; %llu segments started on a cached "
		       "prompt prefix, %llu prompt tokens not computed again",
		       ptd_pipeline_n_slots(w->pl), (unsigned long long)hits,
		       (unsigned long long)toks);
	}
	/* Events posted before the thread ended are still delivered. */
	ptd__async_cb(&w->async);
	uv_close((uv_handle_t *)&w->async, ptd__async_closed);
}

int ptd_worker_submit(ptd_worker *w, ptd_request *r)
{
	pthread_mutex_lock(&w->mu);
	if ((r->priority >= PTD_PRIO_INTERACTIVE ? w->n_waiting_urgent : w->n_waiting) >=
	    w->queue_max) {
		pthread_mutex_unlock(&w->mu);
		return PT_EBUSY;
	}
	ptd__enqueue(w, r);
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

int ptd_worker_remove(ptd_worker *w, ptd_request *r)
{
	int found = 0;

	/* The request's end goes through the event list like any other, so
	 * that segments it streamed before are delivered first. */

	pthread_mutex_lock(&w->mu);
	if (r->state == PTD_REQ_QUEUED) {
		for (ptd_request **pp = &w->queue; *pp != NULL; pp = &(*pp)->qnext)
			if (*pp == r) {
				*pp = r->qnext;
				ptd__count_out(w, r);
				r->state = PTD_REQ_DONE;
				found = 1;
				break;
			}
	}
	pthread_mutex_unlock(&w->mu);
	if (found) {
		r->rc = PT_ECANCELLED;
		pt_err_set(&r->err, PT_ECANCELLED, "cancelled");
		r->done_ev.req = r;
		r->done_ev.done = 1;
		ptd__post(w, &r->done_ev);
	}
	return found;
}

void ptd_worker_set_queue_max(ptd_worker *w, size_t n)
{
	pthread_mutex_lock(&w->mu);
	w->queue_max = n;
	pthread_mutex_unlock(&w->mu);
}

void ptd_worker_stats(ptd_worker *w, uint32_t *queued, uint32_t *running, double *tps)
{
	pthread_mutex_lock(&w->mu);
	*queued = (uint32_t)w->n_waiting;
	*running = (uint32_t)w->n_started;
	*tps = w->sec_sum > 0 ? w->tok_sum / w->sec_sum : 0;
	pthread_mutex_unlock(&w->mu);
}

void ptd_request_free(ptd_request *r)
{
	if (r == NULL)
		return;
	ptd_tr_free(r->tr);
	proto_msg_free(r->msg);
	free(r->texts);
	free(r->lens);
	free(r);
}
