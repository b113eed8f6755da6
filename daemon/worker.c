/*
 * worker.c: the engine on its own thread. Requests wait in a bounded queue
 * ordered by priority (first come first served within one priority); the
 * thread works on the queue's head one segment at a time and puts it back
 * at the head of its class, so more urgent work that arrived meanwhile goes
 * first at every step, while a request with nothing more urgent around runs
 * its segments back to back (the engine then reuses the cached prompt
 * prefix). Streamed segments and finished requests go back to the loop
 * through one uv_async_t; uv_queue_work is not used because its small pool
 * is shared with file I/O.
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
	ptd_request *running;
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

/* Inserts r after every request of its priority or higher (front: before
 * the requests of its own priority). Worker mutex held. */
static void ptd__enqueue(ptd_worker *w, ptd_request *r, int front)
{
	ptd_request **pp = &w->queue;

	while (*pp != NULL && ((*pp)->priority > r->priority ||
			       (!front && (*pp)->priority == r->priority)))
		pp = &(*pp)->qnext;
	r->qnext = *pp;
	*pp = r;
	r->state = PTD_REQ_QUEUED;
	if (!r->started) {
		w->n_waiting++;
		w->n_waiting_urgent += r->priority >= PTD_PRIO_INTERACTIVE;
	}
}

/* Worker mutex held: r leaves the queue (begun, finished or removed). */
static void ptd__count_out(ptd_worker *w, ptd_request *r)
{
	if (!r->started) {
		w->n_waiting--;
		w->n_waiting_urgent -= r->priority >= PTD_PRIO_INTERACTIVE;
	}
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

/* Worker thread: one step of r. Returns 1 when r is finished. */
static int ptd__step(ptd_worker *w, ptd_request *r)
{
	int done = 0;

	if (r->tr == NULL) {
		ptd_tr_params tp = { 0 };
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
		return r->rc != 0;
	}
	r->rc = ptd_tr_step(r->tr, &done, &r->err);
	return r->rc != 0 || done;
}

static void *ptd__thread(void *arg)
{
	ptd_worker *w = arg;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		ptd_request *r;
		uint64_t tok0;
		double s0;
		int fin;

		while (!w->stop && w->queue == NULL)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->stop)
			break;
		r = w->queue;
		w->queue = r->qnext;
		ptd__count_out(w, r);
		if (!r->started) {
			r->started = 1;
			w->n_started++;
		}
		r->state = PTD_REQ_RUNNING;
		w->running = r;
		pthread_mutex_unlock(&w->mu);

		tok0 = r->tr != NULL ? ptd_tr_tokens(r->tr) : 0;
		s0 = r->tr != NULL ? ptd_tr_gen_s(r->tr) : 0;
		fin = ptd__step(w, r);

		pthread_mutex_lock(&w->mu);
		if (r->tr != NULL && ptd_tr_gen_s(r->tr) > s0) {
			/* Decaying sums: the speed of roughly the last 20 segments. */
			w->tok_sum = w->tok_sum * 0.95 + (double)(ptd_tr_tokens(r->tr) - tok0);
			w->sec_sum = w->sec_sum * 0.95 + (ptd_tr_gen_s(r->tr) - s0);
		}
		w->running = NULL;
		if (fin) {
			w->n_started--;
			r->state = PTD_REQ_DONE;
			r->done_ev.req = r;
			r->done_ev.done = 1;
			pthread_mutex_unlock(&w->mu);
			ptd__post(w, &r->done_ev);
			pthread_mutex_lock(&w->mu);
		} else {
			ptd__enqueue(w, r, 1);
		}
	}
	pthread_mutex_unlock(&w->mu);
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
	ptd__enqueue(w, r, 0);
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
				if (r->started)
					w->n_started--;
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
