/*
 * decoder.c: the streaming decoder. Bytes go into one buffer; the scanner
 * (scan.c) finds where each message ends and checks the limits; a complete
 * message is copied out, unpacked by msgpack-c into a zone of its own and
 * checked against its method's table. Whatever is wrong becomes an event
 * that says how the connection should react.
 */
#include "proto-impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct proto_decoder {
	proto_limits lim;
	uint8_t *buf;
	size_t start, len, cap;   /* unreturned bytes are buf[start..len) */
	proto_scan scan;          /* progress over the message at `start` */
	bool dead;
	proto_event fatal;        /* repeated once the stream is dead */
};

void proto_limits_default(proto_limits *l)
{
	l->max_message = (size_t)16 << 20;
	l->max_str = (size_t)16 << 20;
	l->max_items = 65536;
	l->max_total = 1u << 20;
	l->max_depth = 16;
}

int proto_decoder_new(const proto_limits *l, proto_decoder **out, pt_err *e)
{
	proto_decoder *d = calloc(1, sizeof *d);

	if (d == NULL)
		return pt_err_set(e, PT_ENOMEM, "out of memory for a decoder");
	if (l != NULL)
		d->lim = *l;
	else
		proto_limits_default(&d->lim);
	/* The envelope, params and a map of arguments need 3 levels; msgpack-c
	 * cannot unpack more than 32. */
	if (d->lim.max_depth < 3)
		d->lim.max_depth = 3;
	if (d->lim.max_depth > PROTO_DEPTH_HARD_MAX)
		d->lim.max_depth = PROTO_DEPTH_HARD_MAX;
	if (d->lim.max_message < 16)
		d->lim.max_message = 16;
	if (d->lim.max_items < 1)
		d->lim.max_items = 1;
	proto__scan_reset(&d->scan);
	*out = d;
	return 0;
}

void proto_decoder_free(proto_decoder *d)
{
	if (d == NULL)
		return;
	free(d->buf);
	free(d);
}

size_t proto_decoder_pending(const proto_decoder *d)
{
	return d->len - d->start;
}

int proto_decoder_reserve(proto_decoder *d, size_t want, void **buf, size_t *len)
{
	size_t need, cap;
	uint8_t *p;

	if (d->dead)
		return PT_EINVAL;
	if (want == 0)
		want = 1;
	/* Move the unreturned bytes to the front before growing. */
	if (d->start > 0) {
		memmove(d->buf, d->buf + d->start, d->len - d->start);
		d->len -= d->start;
		d->start = 0;
	}
	if (pt_add_size(d->len, want, &need) != 0)
		return PT_ENOMEM;
	if (need > d->cap) {
		cap = d->cap < 4096 ? 4096 : d->cap;
		while (cap < need)
			if (pt_mul_size(cap, 2, &cap) != 0)
				return PT_ENOMEM;
		if ((p = realloc(d->buf, cap)) == NULL)
			return PT_ENOMEM;
		d->buf = p;
		d->cap = cap;
	}
	*buf = d->buf + d->len;
	*len = d->cap - d->len;
	return 0;
}

void proto_decoder_commit(proto_decoder *d, size_t n)
{
	if (n <= d->cap - d->len)
		d->len += n;
}

int proto_decoder_feed(proto_decoder *d, const void *data, size_t len)
{
	void *dst;
	size_t room;
	int rc;

	if (len == 0)
		return d->dead ? PT_EINVAL : 0;
	if ((rc = proto_decoder_reserve(d, len, &dst, &room)) != 0)
		return rc;
	memcpy(dst, data, len);
	proto_decoder_commit(d, len);
	return 0;
}

static void ev_error(proto_event *ev, int kind, int code, bool has_msgid,
		     uint32_t msgid, const char *msg)
{
	memset(ev, 0, sizeof *ev);
	ev->kind = kind;
	ev->code = code;
	ev->has_msgid = has_msgid;
	ev->msgid = msgid;
	snprintf(ev->message, sizeof ev->message, "%s", msg);
}

void proto_msg_free(proto_msg *m)
{
	if (m == NULL)
		return;
	msgpack_zone_destroy(&m->impl->zone);
	free(m->impl->bytes);
	free(m);
}

/* params is [ {args} ], [] or, for hand-written clients, {args}. */
static const msgpack_object *params_map(const msgpack_object *p)
{
	static const msgpack_object empty = { .type = MSGPACK_OBJECT_MAP };

	if (p->type == MSGPACK_OBJECT_MAP)
		return p;
	if (p->type != MSGPACK_OBJECT_ARRAY || p->via.array.size > 1)
		return NULL;
	if (p->via.array.size == 0)
		return &empty;
	return p->via.array.ptr[0].type == MSGPACK_OBJECT_MAP ? &p->via.array.ptr[0] : NULL;
}

static int code_of(int pt_code)
{
	return pt_code == PT_ETOOLARGE ? PROTO_ERR_TOO_LARGE :
	       pt_code == PT_ENOMEM ? PROTO_ERR_INTERNAL : PROTO_ERR_BAD_REQUEST;
}

/* [0, msgid, method, params]. A failure is answered to msgid. */
static int dec_request(proto_msg *m, const msgpack_object *a, proto_event *ev)
{
	const msgpack_object *params;
	char buf[PT_ERRMSG_MAX];
	proto_str name;
	pt_err e;
	int rc;

	if (a[2].type != MSGPACK_OBJECT_STR) {
		snprintf(buf, sizeof buf, "the method name must be a string");
		goto bad;
	}
	name.ptr = a[2].via.str.ptr;
	name.len = a[2].via.str.size;
	m->req.method = proto_method_parse(name);
	if (m->req.method == PROTO_M_NONE) {
		char shown[48];
		size_t i, n = name.len < 40 ? name.len : 40;
		for (i = 0; i < n; i++)
			shown[i] = (name.ptr[i] >= 0x20 && name.ptr[i] < 0x7f) ? name.ptr[i] : '?';
		shown[i] = '\0';
		snprintf(buf, sizeof buf, "unknown method \"%s\" (api_info lists them)", shown);
		ev_error(ev, PROTO_EV_REPLY_ERROR, PROTO_ERR_UNKNOWN_METHOD, true, m->msgid, buf);
		return -1;
	}
	if ((params = params_map(&a[3])) == NULL) {
		snprintf(buf, sizeof buf, "%s: params must be an array holding one map "
			 "of named arguments", proto_method_name(m->req.method));
		goto bad;
	}
	pt_err_clear(&e);
	rc = proto__schema_decode(proto__req_schema(m->req.method), params, true,
				  &m->impl->zone, proto__req_body(&m->req), &e);
	if (rc != 0) {
		pt_err_prefix(&e, "%s", proto_method_name(m->req.method));
		ev_error(ev, PROTO_EV_REPLY_ERROR, code_of(rc), true, m->msgid, e.msg);
		return -1;
	}
	return 0;
bad:
	ev_error(ev, PROTO_EV_REPLY_ERROR, PROTO_ERR_BAD_REQUEST, true, m->msgid, buf);
	return -1;
}

/* [1, msgid, error, result]: the result waits for proto_response_decode. */
static int dec_response(proto_msg *m, const msgpack_object *a, proto_event *ev)
{
	const msgpack_object *err = &a[2];

	if (err->type == MSGPACK_OBJECT_NIL)
		return 0;
	m->resp.error.code = PROTO_ERR_OTHER;
	if (err->type == MSGPACK_OBJECT_MAP) {
		for (uint32_t i = 0; i < err->via.map.size; i++) {
			const msgpack_object_kv *kv = &err->via.map.ptr[i];
			proto_str v;
			if (kv->key.type != MSGPACK_OBJECT_STR || kv->val.type != MSGPACK_OBJECT_STR)
				continue;
			v.ptr = kv->val.via.str.ptr;
			v.len = kv->val.via.str.size;
			if (kv->key.via.str.size == 4 && memcmp(kv->key.via.str.ptr, "code", 4) == 0)
				m->resp.error.name = v;
			else if (kv->key.via.str.size == 7 &&
				 memcmp(kv->key.via.str.ptr, "message", 7) == 0)
				m->resp.error.message = v;
		}
	} else if (err->type == MSGPACK_OBJECT_STR) {
		/* Other msgpack-RPC servers send a bare string. */
		m->resp.error.message.ptr = err->via.str.ptr;
		m->resp.error.message.len = err->via.str.size;
	}
	if (m->resp.error.name.ptr != NULL)
		m->resp.error.code = proto_errcode_parse(m->resp.error.name);
	if (pt_utf8_check(m->resp.error.message.ptr, m->resp.error.message.len, NULL) != 0)
		m->resp.error.message = proto_str_c("(error message not valid UTF-8)");
	(void)ev;
	return 0;
}

/* [2, method, params]: nobody can be answered, failures are dropped. */
static int dec_notify(proto_msg *m, const msgpack_object *a, proto_event *ev)
{
	const msgpack_object *params;
	proto_str name = { NULL, 0 };
	pt_err e;
	int rc;

	if (a[1].type == MSGPACK_OBJECT_STR) {
		name.ptr = a[1].via.str.ptr;
		name.len = a[1].via.str.size;
	}
	m->note.kind = proto__notify_parse(name);
	if (m->note.kind == PROTO_N_NONE) {
		ev_error(ev, PROTO_EV_DROPPED, PROTO_ERR_UNKNOWN_METHOD, false, 0,
			 "notification with an unknown method name ignored");
		return -1;
	}
	if ((params = params_map(&a[2])) == NULL) {
		ev_error(ev, PROTO_EV_DROPPED, PROTO_ERR_BAD_REQUEST, false, 0,
			 "notification params are not an array holding one map");
		return -1;
	}
	pt_err_clear(&e);
	rc = proto__schema_decode(proto__note_schema(m->note.kind), params, false,
				  &m->impl->zone, proto__note_body(&m->note), &e);
	if (rc != 0) {
		pt_err_prefix(&e, "%s", proto_notify_name(m->note.kind));
		ev_error(ev, PROTO_EV_DROPPED, code_of(rc), false, 0, e.msg);
		return -1;
	}
	return 0;
}

/* Checks the envelope of an unpacked message and decodes its body. */
static int dec_envelope(proto_msg *m, proto_event *ev)
{
	const msgpack_object *root = &m->impl->root;
	const msgpack_object *a = root->via.array.ptr;
	uint32_t n = root->via.array.size;
	static const char *const shapes[] = {
		"[0, msgid, method, params]", "[1, msgid, error, result]",
		"[2, method, params]"
	};
	char buf[160];

	/* The scanner saw an array of 3 or 4 starting with 0, 1 or 2. */
	m->kind = (int)a[0].via.u64;
	if (m->kind != PROTO_NOTIFY) {
		if (a[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER || a[1].via.u64 > UINT32_MAX) {
			snprintf(buf, sizeof buf, "the msgid of %s must be an integer "
				 "from 0 to 4294967295", shapes[m->kind]);
			ev_error(ev, PROTO_EV_FATAL, PROTO_ERR_BAD_REQUEST, false, 0, buf);
			return -1;
		}
		m->msgid = (uint32_t)a[1].via.u64;
	}
	if (n != (m->kind == PROTO_NOTIFY ? 3u : 4u)) {
		snprintf(buf, sizeof buf, "a message of type %d is %s, got %u elements",
			 m->kind, shapes[m->kind], n);
		ev_error(ev, m->kind == PROTO_REQUEST ? PROTO_EV_REPLY_ERROR : PROTO_EV_DROPPED,
			 PROTO_ERR_BAD_REQUEST, m->kind == PROTO_REQUEST, m->msgid, buf);
		return -1;
	}
	if (m->kind == PROTO_REQUEST)
		return dec_request(m, a, ev);
	if (m->kind == PROTO_RESPONSE)
		return dec_response(m, a, ev);
	return dec_notify(m, a, ev);
}

/* Turns the complete message data[0..size) into an event. */
static int dec_message(proto_decoder *d, const uint8_t *data, size_t size,
		       proto_event *ev)
{
	proto_msg *m;
	size_t off = 0;
	size_t chunk = 8192;   /* the zone grows as objects need */
	int rc;

	m = calloc(1, sizeof *m + sizeof *m->impl);
	if (m == NULL)
		return PT_ENOMEM;
	m->impl = (struct proto_msg_impl *)(void *)(m + 1);
	m->size = size;
	if ((m->impl->bytes = malloc(size)) == NULL) {
		free(m);
		return PT_ENOMEM;
	}
	memcpy(m->impl->bytes, data, size);
	if (!msgpack_zone_init(&m->impl->zone, chunk)) {
		free(m->impl->bytes);
		free(m);
		return PT_ENOMEM;
	}
	rc = msgpack_unpack((const char *)m->impl->bytes, size, &off, &m->impl->zone,
			    &m->impl->root);
	if (rc != MSGPACK_UNPACK_SUCCESS || off != size) {
		/* The scanner framed it, so only memory can be missing here. */
		proto_msg_free(m);
		ev_error(ev, PROTO_EV_FATAL, PROTO_ERR_INTERNAL, d->scan.has_msgid,
			 d->scan.msgid, "cannot unpack a framed message (out of memory?)");
		return 0;
	}
	if (dec_envelope(m, ev) != 0) {
		proto_msg_free(m);
		return 0;
	}
	memset(ev, 0, sizeof *ev);
	ev->kind = PROTO_EV_MESSAGE;
	ev->msg = m;
	return 0;
}

int proto_decoder_next(proto_decoder *d, proto_event *ev)
{
	char msg[PT_ERRMSG_MAX];
	size_t size;
	int r, rc;

	if (d->dead) {
		*ev = d->fatal;
		return 0;
	}
	memset(ev, 0, sizeof *ev);
	r = proto__scan(&d->scan, &d->lim, d->buf + d->start, d->len - d->start,
			msg, sizeof msg);
	if (r == PROTO_SCAN_MORE) {
		if (d->start == d->len)
			d->start = d->len = 0;
		return 0;
	}
	if (r == PROTO_SCAN_FATAL) {
		ev_error(ev, PROTO_EV_FATAL, d->scan.over_code, d->scan.has_msgid,
			 d->scan.msgid, msg);
		d->dead = true;
		d->fatal = *ev;
		return 0;
	}
	size = d->scan.pos;
	if (d->scan.over_code != 0) {
		/* Framed but over a limit: skipped without unpacking it. */
		ev_error(ev, d->scan.has_msgid ? PROTO_EV_REPLY_ERROR : PROTO_EV_DROPPED,
			 d->scan.over_code, d->scan.has_msgid, d->scan.msgid,
			 d->scan.over_msg);
		rc = 0;
	} else {
		rc = dec_message(d, d->buf + d->start, size, ev);
	}
	if (rc != 0)
		return rc;
	if (ev->kind == PROTO_EV_FATAL) {
		d->dead = true;
		d->fatal = *ev;
	}
	d->start += size;
	proto__scan_reset(&d->scan);
	return 0;
}

int proto_response_decode(proto_msg *m, int method, pt_err *e)
{
	const proto_schema *s = proto__res_schema(method);
	int rc;

	if (m->kind != PROTO_RESPONSE)
		return pt_err_set(e, PT_EINVAL, "not a response");
	if (m->resp.error.code != PROTO_ERR_NONE)
		return pt_err_set(e, PT_EINVAL, "an error response has no result");
	if (s == NULL)
		return pt_err_set(e, PT_EINVAL, "unknown method %d", method);
	rc = proto__schema_decode(s, &m->impl->root.via.array.ptr[3], false,
				  &m->impl->zone, proto__res_body(&m->resp), e);
	if (rc != 0) {
		pt_err_prefix(e, "%s result", proto_method_name(method));
		if (e != NULL && rc != PT_ENOMEM)
			e->code = PT_EFORMAT;
		return rc == PT_ENOMEM ? rc : PT_EFORMAT;
	}
	m->resp.method = method;
	return 0;
}
