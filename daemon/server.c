/*
 * server.c: the libuv loop of polytransd. It does I/O only: it accepts
 * connections (checking the peer's uid), feeds each one's bytes to its own
 * protocol decoder, hands requests to the method table, writes replies in
 * whatever order they finish, and holds back a client that does not read
 * its replies. Engine work goes to worker.c; signals and timers for
 * shutdown, reload, the systemd watchdog and idle exit live in
 * server-life.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptd.h"

/* Bytes read from a client per read call: bounds what one read adds to
 * the decoder before its events are drained. */
#define PTD__READ_CHUNK 65536
/* A client whose unwritten replies exceed this is not read from until
 * they drain to half of it: a client that sends without reading cannot
 * make the daemon buffer without bound. */
#define PTD__WRITE_HIGH (8u << 20)

typedef struct ptd__wreq {
	uv_write_t req;
	ptd_client *c;
	size_t len;
	uint8_t *data;
} ptd__wreq;

static void ptd__read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void ptd__alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

/* ---- Writing ----------------------------------------------------------------- */

static void ptd__resume(ptd_client *c)
{
	if (!c->reading && !c->closing && c->wpending <= PTD__WRITE_HIGH / 2) {
		c->reading = 1;
		uv_read_start((uv_stream_t *)&c->pipe, ptd__alloc_cb, ptd__read_cb);
	}
}

static void ptd__write_cb(uv_write_t *req, int status)
{
	ptd__wreq *w = (ptd__wreq *)req;
	ptd_client *c = w->c;

	c->wpending -= w->len;
	free(w->data);
	free(w);
	if (status < 0 && status != UV_ECANCELED)
		pt_log(PT_LOG_DEBUG, "client %u: write failed: %s", c->id, uv_strerror(status));
	ptd__resume(c);
}

/* Sends the bytes in b (which is left empty). */
static void ptd__send(ptd_client *c, proto_buf *b)
{
	ptd__wreq *w;
	uv_buf_t ub;
	int rc;

	if (c->closing || b->len == 0) {
		proto_buf_done(b);
		return;
	}
	if ((w = malloc(sizeof *w)) == NULL) {
		pt_log(PT_LOG_ERROR, "client %u: out of memory queueing a reply", c->id);
		proto_buf_done(b);
		return;
	}
	w->c = c;
	w->data = proto_buf_release(b, &w->len);
	ub = uv_buf_init((char *)w->data, (unsigned)w->len);
	c->wpending += w->len;
	rc = uv_write(&w->req, (uv_stream_t *)&c->pipe, &ub, 1, ptd__write_cb);
	if (rc != 0) {
		pt_log(PT_LOG_DEBUG, "client %u: write failed: %s", c->id, uv_strerror(rc));
		c->wpending -= w->len;
		free(w->data);
		free(w);
	}
}

void ptd_reply(ptd_client *c, uint32_t msgid, const proto_response *r)
{
	proto_buf b;
	pt_err e;

	if (c == NULL)
		return;
	proto_buf_init(&b);
	if (r->error.code != PROTO_ERR_NONE)
		c->srv->cnt.errors++;
	if (proto_response_encode(&b, msgid, r, &e) != 0) {
		pt_log(PT_LOG_ERROR, "request %u: cannot encode the reply: %s",
		       (unsigned)msgid, e.msg);
		proto_buf_reset(&b);
		c->srv->cnt.errors++;
		if (proto_error_encode(&b, msgid, PROTO_ERR_INTERNAL, e.msg, NULL) != 0) {
			proto_buf_done(&b);
			return;
		}
	}
	ptd__send(c, &b);
}

void ptd_reply_error(ptd_client *c, uint32_t msgid, int code, const char *fmt, ...)
{
	proto_response r;
	char msg[PT_ERRMSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	proto_response_init(&r, PROTO_M_NONE);
	r.error.code = code;
	r.error.message = proto_str_c(msg);
	ptd_reply(c, msgid, &r);
}

void ptd_notify_client(ptd_client *c, const proto_notify *n)
{
	proto_buf b;
	pt_err e;

	if (c == NULL || c->closing)
		return;
	proto_buf_init(&b);
	if (proto_notify_encode(&b, n, &e) != 0) {
		pt_log(PT_LOG_ERROR, "client %u: cannot encode a notification: %s", c->id, e.msg);
		proto_buf_done(&b);
		return;
	}
	ptd__send(c, &b);
}

void ptd_log_request(ptd_client *c, uint32_t msgid, int method, double t_start,
		     const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	if (!pt_log_enabled(PT_LOG_INFO))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	pt_log(PT_LOG_INFO, "%s #%u client %u: %s (%.1f ms)", proto_method_name(method),
	       (unsigned)msgid, c != NULL ? c->id : 0u, msg, (pt_now() - t_start) * 1e3);
}

/* ---- Requests in the worker ------------------------------------------------ */

static void ptd__unlink(ptd_request *r)
{
	ptd_client *c = r->client;

	if (c == NULL)
		return;
	if (r->cprev != NULL)
		r->cprev->cnext = r->cnext;
	else
		c->reqs = r->cnext;
	if (r->cnext != NULL)
		r->cnext->cprev = r->cprev;
	r->cnext = r->cprev = NULL;
	c->n_reqs--;
	r->client = NULL;
}

ptd_request *ptd_client_find(ptd_client *c, uint32_t msgid)
{
	for (ptd_request *r = c->reqs; r != NULL; r = r->cnext)
		if (r->msgid == msgid)
			return r;
	return NULL;
}

void ptd_request_submit(ptd_client *c, ptd_request *r)
{
	ptd_server *srv = c->srv;

	if (ptd_worker_submit(srv->worker, r) != 0) {
		ptd_reply_error(c, r->msgid, PROTO_ERR_BUSY,
				"the engine's queue is full (%lld requests); try again later",
				(long long)srv->cfg.queue_size);
		ptd_log_request(c, r->msgid, r->method, r->t_start, "busy: queue full");
		ptd_request_free(r);
		return;
	}
	r->client = c;
	r->cnext = c->reqs;
	r->cprev = NULL;
	if (c->reqs != NULL)
		c->reqs->cprev = r;
	c->reqs = r;
	c->n_reqs++;
	srv->n_pending++;
}

void ptd_request_cancel(ptd_server *srv, ptd_request *r, int shutting_down)
{
	if (shutting_down)
		r->shutting_down = 1;
	r->cancel = 1;
	/* A waiting request is taken out and answered through the worker's
	 * event list, after any segment it already streamed. */
	ptd_worker_remove(srv->worker, r);
}

/* Loop thread: an event from the worker. */
static void ptd__on_event(ptd_server *srv, ptd_event *ev)
{
	ptd_request *r = ev->req;
	ptd_client *c = r->client;

	if (r->job != NULL) {
		ptd_jobs_event(srv, ev);
		return;
	}
	if (!ev->done) {
		if (c != NULL && !r->cancel) {
			proto_notify n;
			proto_notify_init(&n, PROTO_N_TRANSLATE_SEGMENT);
			n.n.segment.request = r->msgid;
			n.n.segment.item = ev->item;
			n.n.segment.index = ev->index;
			n.n.segment.text.ptr = ev->text;
			n.n.segment.text.len = ev->len;
			ptd_notify_client(c, &n);
		}
		free(ev);
		return;
	}
	srv->n_pending--;
	if (r->tr != NULL)
		srv->cnt.tokens += ptd_tr_tokens(r->tr);
	ptd__unlink(r);
	if (c != NULL)
		ptd_translate_answer(c, r);
	else
		ptd_log_request(NULL, r->msgid, r->method, r->t_start,
				"client gone, request dropped");
	ptd_request_free(r);
	if (srv->stopping)
		ptd_server_maybe_finish(srv);
}

/* ---- Connections -------------------------------------------------------------- */

static void ptd__client_closed(uv_handle_t *h)
{
	ptd_client *c = h->data;

	proto_decoder_free(c->dec);
	free(c);
}

static void ptd__shutdown_cb(uv_shutdown_t *req, int status)
{
	ptd_client *c = req->data;

	(void)status;
	free(req);
	uv_close((uv_handle_t *)&c->pipe, ptd__client_closed);
}

void ptd_client_close(ptd_client *c, int graceful)
{
	ptd_server *srv = c->srv;
	uv_shutdown_t *sd;

	if (c->closing)
		return;
	c->closing = 1;
	uv_read_stop((uv_stream_t *)&c->pipe);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		srv->clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	srv->n_clients--;
	/* A client that leaves cancels what it asked for. */
	while (c->reqs != NULL) {
		ptd_request *r = c->reqs;
		ptd__unlink(r);
		ptd_request_cancel(srv, r, 0);
	}
	pt_log(PT_LOG_DEBUG, "client %u: closed", c->id);
	if (graceful && c->wpending > 0 && (sd = malloc(sizeof *sd)) != NULL) {
		sd->data = c;
		if (uv_shutdown(sd, (uv_stream_t *)&c->pipe, ptd__shutdown_cb) == 0)
			return;
		free(sd);
	}
	uv_close((uv_handle_t *)&c->pipe, ptd__client_closed);
}

static void ptd__dispatch(ptd_client *c, proto_msg *m)
{
	const ptd_cmd_entry *ce;

	if (m->kind != PROTO_REQUEST) {
		pt_log(PT_LOG_DEBUG, "client %u: ignoring a %s sent to the daemon", c->id,
		       m->kind == PROTO_NOTIFY ? "notification" : "response");
		proto_msg_free(m);
		return;
	}
	c->srv->cnt.requests++;
	ce = ptd_cmd_find(m->req.method);
	if (ce == NULL) {
		ptd_reply_error(c, m->msgid, PROTO_ERR_UNKNOWN_METHOD, "no such method");
		proto_msg_free(m);
		return;
	}
	ce->exec(c, m);
}

/* Drains the decoder's events; returns nonzero if the client was closed. */
static int ptd__drain(ptd_client *c)
{
	proto_event ev;
	proto_buf b;

	while (!c->closing) {
		if (proto_decoder_next(c->dec, &ev) != 0) {
			pt_log(PT_LOG_ERROR, "client %u: out of memory decoding", c->id);
			ptd_client_close(c, 0);
			return 1;
		}
		switch (ev.kind) {
		case PROTO_EV_NONE:
			return 0;
		case PROTO_EV_MESSAGE:
			ptd__dispatch(c, ev.msg);
			break;
		case PROTO_EV_DROPPED:
			pt_log(PT_LOG_DEBUG, "client %u: dropped a message: %s", c->id, ev.message);
			break;
		case PROTO_EV_REPLY_ERROR:
		case PROTO_EV_FATAL:
			if (ev.kind == PROTO_EV_REPLY_ERROR || ev.has_msgid) {
				c->srv->cnt.requests++;
				c->srv->cnt.errors++;
				proto_buf_init(&b);
				if (proto_event_reply(&b, &ev, NULL) == 0)
					ptd__send(c, &b);
				else
					proto_buf_done(&b);
			}
			pt_log(ev.kind == PROTO_EV_FATAL ? PT_LOG_WARN : PT_LOG_INFO,
			       "client %u: %s%s", c->id, ev.message,
			       ev.kind == PROTO_EV_FATAL ? "; closing the connection" : "");
			if (ev.kind == PROTO_EV_FATAL) {
				ptd_client_close(c, 1);
				return 1;
			}
			break;
		}
	}
	return 1;
}

static void ptd__alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	ptd_client *c = h->data;
	void *p;
	size_t n;

	(void)suggested;
	if (proto_decoder_reserve(c->dec, PTD__READ_CHUNK, &p, &n) != 0) {
		*buf = uv_buf_init(NULL, 0); /* read_cb gets UV_ENOBUFS */
		return;
	}
	*buf = uv_buf_init(p, (unsigned)(n < PTD__READ_CHUNK ? n : PTD__READ_CHUNK));
}

static void ptd__read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	ptd_client *c = s->data;

	(void)buf;
	if (nread < 0) {
		if (nread != UV_EOF)
			pt_log(PT_LOG_DEBUG, "client %u: read: %s", c->id, uv_strerror((int)nread));
		ptd_client_close(c, nread == UV_EOF);
		return;
	}
	proto_decoder_commit(c->dec, (size_t)nread);
	if (nread == 0 || ptd__drain(c))
		return;
	if (c->wpending > PTD__WRITE_HIGH && c->reading) {
		pt_log(PT_LOG_DEBUG, "client %u: %zu bytes of replies unread; pausing its input",
		       c->id, c->wpending);
		c->reading = 0;
		uv_read_stop(s);
	}
}

static void ptd__refuse(uv_handle_t *h)
{
	free(h);
}

/* Out of memory for a client: accept it anyway, to take it off the
 * backlog, and close it. */
static void ptd__accept_oom(ptd_server *srv, uv_stream_t *ls)
{
	uv_pipe_t *p = malloc(sizeof *p);

	pt_log(PT_LOG_ERROR, "out of memory accepting a client");
	if (p == NULL || uv_pipe_init(srv->loop, p, 0) != 0) {
		free(p);
		return;
	}
	if (uv_accept(ls, (uv_stream_t *)p) != 0)
		pt_log(PT_LOG_ERROR, "accept failed");
	uv_close((uv_handle_t *)p, ptd__refuse);
}

/* The checks before a connection is served: the peer's uid, the number
 * of clients; then its decoder. Returns 0 to serve it. */
static int ptd__admit(ptd_server *srv, ptd_client *c)
{
	proto_limits lim;
	uv_os_fd_t fd;
	uid_t uid;
	pt_err e;
	int rc;

	if ((rc = uv_fileno((uv_handle_t *)&c->pipe, &fd)) != 0) {
		pt_log(PT_LOG_WARN, "refused a connection: %s", uv_strerror(rc));
		return -1;
	}
	if (ptd_peer_check(fd, &c->pid, &uid, &e) != 0) {
		pt_log(PT_LOG_WARN, "refused a connection: %s", e.msg);
		return -1;
	}
	if (srv->n_clients >= (unsigned)srv->cfg.max_clients) {
		pt_log(PT_LOG_WARN, "refused a connection from pid %ld: %u clients already "
		       "(max_clients)", (long)c->pid, srv->n_clients);
		return -1;
	}
	proto_limits_default(&lim);
	lim.max_message = (size_t)srv->cfg.max_message_bytes;
	if (lim.max_str > lim.max_message)
		lim.max_str = lim.max_message;
	if (proto_decoder_new(&lim, &c->dec, &e) != 0) {
		pt_log(PT_LOG_ERROR, "client: %s", e.msg);
		return -1;
	}
	return 0;
}

static void ptd__on_connection(uv_stream_t *ls, int status)
{
	ptd_server *srv = ls->data;
	ptd_client *c;

	if (status < 0) {
		pt_log(PT_LOG_WARN, "accept: %s", uv_strerror(status));
		return;
	}
	if ((c = calloc(1, sizeof *c)) == NULL) {
		ptd__accept_oom(srv, ls);
		return;
	}
	uv_pipe_init(srv->loop, &c->pipe, 0);
	c->pipe.data = c;
	c->srv = srv;
	c->id = ++srv->next_client_id;
	c->closing = 1; /* not in the list yet: a refusal just closes it */
	if (uv_accept(ls, (uv_stream_t *)&c->pipe) != 0 || ptd__admit(srv, c) != 0) {
		uv_close((uv_handle_t *)&c->pipe, ptd__client_closed);
		return;
	}
	c->closing = 0;
	c->next = srv->clients;
	if (srv->clients != NULL)
		srv->clients->prev = c;
	srv->clients = c;
	srv->n_clients++;
	pt_log(PT_LOG_DEBUG, "client %u: connected (pid %ld)", c->id, (long)c->pid);
	ptd__resume(c);
}

int ptd_server_listen(ptd_server *srv, pt_err *e)
{
	int rc;

	uv_pipe_init(srv->loop, &srv->listen_pipe, 0);
	srv->listen_pipe.data = srv;
	if ((rc = uv_pipe_open(&srv->listen_pipe, srv->lst.fd)) != 0 ||
	    (rc = uv_listen((uv_stream_t *)&srv->listen_pipe, 128, ptd__on_connection)) != 0)
		return pt_err_set(e, PT_EIO, "listening on %s: %s",
				  srv->lst.path[0] ? srv->lst.path : "the systemd socket",
				  uv_strerror(rc));
	srv->lst.fd = -1; /* the pipe handle owns it now */
	return 0;
}

void ptd_server_event(ptd_server *srv, ptd_event *ev)
{
	ptd__on_event(srv, ev);
}
