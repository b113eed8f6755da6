/*
 * conn.c: one connection to polytransd. Plain blocking sockets: every read
 * and write waits in poll() first, so a deadline and Ctrl-C are noticed
 * within a bounded time, and sends never stall while the daemon is
 * writing to us (what arrives meanwhile is buffered in the decoder).
 */
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* poll() in slices of this many milliseconds, so that a SIGINT arriving
 * just before poll() is still seen soon. */
#define PC__SLICE_MS 250
#define PC__READ_CHUNK 65536

static int pc__timeout_ms(const pc_conn *c)
{
	if (c->deadline <= 0)
		return PC__SLICE_MS;
	double left = c->deadline - pt_now();
	if (left <= 0)
		return 0;
	return left * 1000 < PC__SLICE_MS ? (int)(left * 1000) + 1 : PC__SLICE_MS;
}

static bool pc__expired(const pc_conn *c)
{
	return c->deadline > 0 && pt_now() >= c->deadline;
}

int pc_conn_open(pc_conn *c, const char *path, double deadline, pt_err *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	proto_limits lim;

	memset(c, 0, sizeof *c);
	c->fd = -1;
	c->deadline = deadline;
	c->next_id = 1;
	if (strlen(path) >= sizeof sa.sun_path)
		return pt_err_set(e, PT_EINVAL, "%s: socket path too long (at most %zu bytes)",
				  path, sizeof sa.sun_path - 1);
	memcpy(sa.sun_path, path, strlen(path) + 1);

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return pt_err_set(e, PT_EIO, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int err = errno;
		if (err == EAGAIN || err == EINPROGRESS) {
			/* The listen backlog is full: wait for room. */
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			int n;
			do {
				n = poll(&p, 1, pc__timeout_ms(c));
			} while ((n == 0 || (n < 0 && errno == EINTR)) && !pc__expired(c) &&
				 !pc_interrupted);
			socklen_t sl = sizeof err;
			if (n > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) == 0 && err == 0)
				goto connected;
			if (n <= 0) {
				close(fd);
				if (pc_interrupted)
					return pt_err_set(e, PT_ECANCELLED, "interrupted");
				return pt_err_set(e, PT_ETIMEOUT, "%s: timed out connecting", path);
			}
		}
		close(fd);
		if (err == ENOENT || err == ECONNREFUSED)
			return pt_err_set(e, PT_ENOTFOUND, "%s: no daemon is listening (%s)",
					  path, strerror(err));
		return pt_err_set(e, err == EACCES || err == EPERM ? PT_EPERM : PT_EIO,
				  "%s: cannot connect: %s", path, strerror(err));
	}
connected:
	/* Back to a blocking socket: reads and writes use MSG_DONTWAIT after
	 * poll() says they can proceed. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	proto_limits_default(&lim);
	/* Replies to large texts are large: accept what a translation of the
	 * biggest request we send can be. */
	lim.max_message = (size_t)512 << 20;
	lim.max_str = (size_t)512 << 20;
	int rc = proto_decoder_new(&lim, &c->dec, e);
	if (rc) {
		close(fd);
		return rc;
	}
	c->fd = fd;
	return 0;
}

void pc_conn_close(pc_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	proto_decoder_free(c->dec);
	c->dec = NULL;
}

static int pc__broken(pc_conn *c, pt_err *e, const char *what)
{
	c->broken = true;
	return pt_err_set(e, PT_EIO, "connection to polytransd %s", what);
}

/* Reads what is available into the decoder. */
static int pc__read_some(pc_conn *c, pt_err *e)
{
	void *buf;
	size_t cap;
	if (proto_decoder_reserve(c->dec, PC__READ_CHUNK, &buf, &cap))
		return pt_err_set(e, PT_ENOMEM, "out of memory reading a reply");
	ssize_t n = recv(c->fd, buf, cap, MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		char what[128];
		snprintf(what, sizeof what, "failed: %s", strerror(errno));
		return pc__broken(c, e, what);
	}
	if (n == 0)
		return pc__broken(c, e, "closed by the daemon");
	proto_decoder_commit(c->dec, (size_t)n);
	return 0;
}

/* Writes all of data, reading meanwhile so that neither side stalls. */
static int pc__write_all(pc_conn *c, const uint8_t *data, size_t len, pt_err *e)
{
	while (len > 0) {
		struct pollfd p = { .fd = c->fd, .events = POLLOUT | POLLIN };
		int n = poll(&p, 1, pc__timeout_ms(c));
		if (pc_interrupted)
			return pt_err_set(e, PT_ECANCELLED, "interrupted");
		if (n < 0 && errno != EINTR)
			return pt_err_set(e, PT_EIO, "poll: %s", strerror(errno));
		if (n <= 0) {
			if (pc__expired(c))
				return pt_err_set(e, PT_ETIMEOUT, "timed out sending a request");
			continue;
		}
		if (p.revents & POLLIN) {
			int rc = pc__read_some(c, e);
			if (rc)
				return rc;
		}
		if (p.revents & (POLLOUT | POLLERR | POLLHUP)) {
			ssize_t w = send(c->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w < 0 && errno != EAGAIN && errno != EINTR) {
				char what[128];
				snprintf(what, sizeof what, "failed: %s", strerror(errno));
				return pc__broken(c, e, what);
			}
			if (w > 0) {
				data += w;
				len -= (size_t)w;
			}
		}
	}
	return 0;
}

static int pc__send_encoded(pc_conn *c, proto_buf *b, pt_err *e)
{
	int rc = pc__write_all(c, b->data, b->len, e);
	proto_buf_done(b);
	return rc;
}

int pc_conn_send(pc_conn *c, const proto_request *r, uint32_t *msgid, pt_err *e)
{
	proto_buf b;
	if (c->n_inflight >= sizeof c->inflight / sizeof c->inflight[0])
		return pt_err_set(e, PT_EBUSY, "too many requests in flight");
	uint32_t id = c->next_id++;
	proto_buf_init(&b);
	int rc = proto_request_encode(&b, id, r, e);
	if (rc) {
		proto_buf_done(&b);
		return rc;
	}
	c->inflight[c->n_inflight++] = id;
	rc = pc__send_encoded(c, &b, e);
	if (rc)
		return rc;
	if (msgid)
		*msgid = id;
	return 0;
}

/* Ctrl-C or the deadline: ask the daemon to stop the work it does for us
 * (it would notice the closed connection too, but this is immediate). */
static void pc__cancel_all(pc_conn *c)
{
	for (unsigned i = 0; i < c->n_inflight && !c->broken; i++) {
		proto_request r;
		proto_buf b;
		proto_request_init(&r, PROTO_M_CANCEL);
		r.p.cancel.request = c->inflight[i];
		proto_buf_init(&b);
		if (proto_request_encode(&b, c->next_id++, &r, NULL) == 0) {
			double saved = c->deadline;
			sig_atomic_t intr = pc_interrupted;
			/* A short grace so the cancel is sent even after the
			 * deadline or a SIGINT. */
			c->deadline = pt_now() + 1.0;
			pc_interrupted = 0;
			pc__send_encoded(c, &b, NULL);
			pc_interrupted = intr;
			c->deadline = saved;
		} else {
			proto_buf_done(&b);
		}
	}
	c->n_inflight = 0;
}

static void pc__answered(pc_conn *c, uint32_t id)
{
	for (unsigned i = 0; i < c->n_inflight; i++)
		if (c->inflight[i] == id) {
			c->inflight[i] = c->inflight[--c->n_inflight];
			return;
		}
}

/* Takes the decoder's next event; *out set for a response. */
static int pc__next_event(pc_conn *c, proto_msg **out, pt_err *e)
{
	proto_event ev;
	for (;;) {
		if (proto_decoder_next(c->dec, &ev))
			return pt_err_set(e, PT_ENOMEM, "out of memory decoding a reply");
		switch (ev.kind) {
		case PROTO_EV_NONE:
			return 0;
		case PROTO_EV_MESSAGE:
			if (ev.msg->kind == PROTO_NOTIFY) {
				if (c->on_note)
					c->on_note(&ev.msg->note, c->note_ud);
				proto_msg_free(ev.msg);
				continue;
			}
			if (ev.msg->kind != PROTO_RESPONSE) {
				proto_msg_free(ev.msg);  /* a daemon does not ask us things */
				continue;
			}
			pc__answered(c, ev.msg->msgid);
			*out = ev.msg;
			return 0;
		case PROTO_EV_DROPPED:
		case PROTO_EV_REPLY_ERROR:
			continue;  /* a malformed reply or note: nothing to answer */
		default: {
			char what[PT_ERRMSG_MAX];
			snprintf(what, sizeof what, "carries bad data: %.400s", ev.message);
			return pc__broken(c, e, what);
		}
		}
	}
}

int pc_conn_recv(pc_conn *c, proto_msg **out, pt_err *e)
{
	return pc_conn_wait(c, 0, out, e);
}

int pc_conn_wait(pc_conn *c, double until, proto_msg **out, pt_err *e)
{
	*out = NULL;
	for (;;) {
		int rc = pc__next_event(c, out, e);
		if (rc || *out)
			return rc;
		if (until > 0 && pt_now() >= until && !pc_interrupted)
			return 0;
		if (pc_interrupted) {
			pc__cancel_all(c);
			return pt_err_set(e, PT_ECANCELLED, "interrupted");
		}
		if (pc__expired(c)) {
			pc__cancel_all(c);
			return pt_err_set(e, PT_ETIMEOUT,
					  "timed out waiting for polytransd (--timeout)");
		}
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		int ms = pc__timeout_ms(c);
		if (until > 0) {
			double left = (until - pt_now()) * 1000;
			if (left < ms)
				ms = left > 0 ? (int)left + 1 : 0;
		}
		int n = poll(&p, 1, ms);
		if (n < 0 && errno != EINTR)
			return pt_err_set(e, PT_EIO, "poll: %s", strerror(errno));
		if (n > 0) {
			rc = pc__read_some(c, e);
			if (rc)
				return rc;
		}
	}
}

int pc_conn_call(pc_conn *c, const proto_request *r, proto_msg **out, pt_err *e)
{
	uint32_t id;
	proto_msg *m = NULL;
	int rc = pc_conn_send(c, r, &id, e);
	while (rc == 0) {
		rc = pc_conn_recv(c, &m, e);
		if (rc)
			break;
		if (m->msgid == id)
			break;
		proto_msg_free(m);  /* an answer to a request given up on */
		m = NULL;
	}
	if (rc)
		return rc;
	if (m->resp.error.code == PROTO_ERR_NONE) {
		rc = proto_response_decode(m, r->method, e);
		if (rc) {
			proto_msg_free(m);
			pt_err_prefix(e, "bad reply from polytransd to %s",
				      proto_method_name(r->method));
			return rc;
		}
	}
	*out = m;
	return 0;
}

int pc_reply_error(const proto_msg *m, pt_err *e)
{
	const proto_error *er = &m->resp.error;
	proto_str name = er->name;
	const char *cname = proto_errcode_name(er->code);
	if (name.ptr == NULL)
		name = proto_str_c(cname);
	if (er->message.ptr && er->message.len)
		return pt_err_set(e, PT_EINVAL, "%.*s: %.*s", (int)name.len, name.ptr,
				  (int)(er->message.len > 400 ? 400 : er->message.len),
				  er->message.ptr);
	return pt_err_set(e, PT_EINVAL, "%.*s", (int)name.len, name.ptr);
}

int pc_conn_hello(pc_conn *c, pt_err *e)
{
	proto_request r;
	proto_msg *m;
	proto_request_init(&r, PROTO_M_API_INFO);
	int rc = pc_conn_call(c, &r, &m, e);
	if (rc)
		return rc;
	if (m->resp.error.code != PROTO_ERR_NONE) {
		pc_reply_error(m, e);
		proto_msg_free(m);
		pt_err_prefix(e, "api_info");
		return PT_EIO;
	}
	if (m->resp.r.api_info.protocol != PROTO_VERSION)
		pc_warn("polytransd speaks protocol %u, this client %d: some things may not work",
			m->resp.r.api_info.protocol, PROTO_VERSION);
	proto_msg_free(m);
	return 0;
}

int pc_exit_for(const pc_conn *c, int rc)
{
	if (rc == PT_ECANCELLED && pc_interrupted)
		return PC_EXIT_INT;
	if (c && c->broken)
		return PC_EXIT_UNREACH;
	return PC_EXIT_FAIL;
}
