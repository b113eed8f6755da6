/*
 * encode.c: the envelopes of requests, responses and notifications around
 * the bodies schema.c packs. Each encoder appends one whole message or, on
 * failure, nothing: the buffer is rolled back, so a half message never
 * reaches a socket.
 */
#include "proto-impl.h"

#include <string.h>

static int oom(pt_err *e)
{
	return pt_err_set(e, PT_ENOMEM, "out of memory encoding a message");
}

static int pack_name(msgpack_packer *pk, const char *name)
{
	return msgpack_pack_str_with_body(pk, name, strlen(name));
}

/* Body as params: [ {args} ], as design.md and neovim expect. */
static int finish(proto_buf *b, size_t mark, int rc)
{
	if (rc != 0)
		b->len = mark;
	return rc;
}

int proto_request_encode(proto_buf *b, uint32_t msgid, const proto_request *r, pt_err *e)
{
	const proto_schema *s = proto__req_schema(r->method);
	size_t mark = b->len;
	msgpack_packer pk;
	int rc;

	if (s == NULL)
		return pt_err_set(e, PT_EINVAL, "unknown method %d", r->method);
	proto__packer_init(&pk, b);
	if (msgpack_pack_array(&pk, 4) || msgpack_pack_uint8(&pk, 0) ||
	    msgpack_pack_uint32(&pk, msgid) || pack_name(&pk, proto_method_name(r->method)) ||
	    msgpack_pack_array(&pk, 1))
		return finish(b, mark, oom(e));
	rc = proto__schema_encode(s, &r->p, &pk, e);
	if (rc != 0)
		pt_err_prefix(e, "%s", proto_method_name(r->method));
	return finish(b, mark, rc);
}

int proto_error_encode(proto_buf *b, uint32_t msgid, int code, const char *message,
		       pt_err *e)
{
	size_t mark = b->len;
	msgpack_packer pk;
	proto_str msg = proto_str_c(message != NULL ? message : "");

	if (code <= PROTO_ERR_NONE || code >= PROTO_ERR_COUNT_)
		return pt_err_set(e, PT_EINVAL, "error code %d out of range", code);
	/* A message built from peer input may hold broken UTF-8; replace it
	 * rather than fail to answer. */
	if (pt_utf8_check(msg.ptr, msg.len, NULL) != 0)
		msg = proto_str_c("(message not valid UTF-8)");
	proto__packer_init(&pk, b);
	if (msgpack_pack_array(&pk, 4) || msgpack_pack_uint8(&pk, 1) ||
	    msgpack_pack_uint32(&pk, msgid) || msgpack_pack_map(&pk, 2) ||
	    pack_name(&pk, "code") || pack_name(&pk, proto_errcode_name(code)) ||
	    pack_name(&pk, "message") ||
	    msgpack_pack_str_with_body(&pk, msg.ptr, msg.len) || msgpack_pack_nil(&pk))
		return finish(b, mark, oom(e));
	return 0;
}

int proto_response_encode(proto_buf *b, uint32_t msgid, const proto_response *r,
			  pt_err *e)
{
	const proto_schema *s = proto__res_schema(r->method);
	size_t mark = b->len;
	msgpack_packer pk;
	char msg[PT_ERRMSG_MAX];
	int rc;

	if (r->error.code != PROTO_ERR_NONE) {
		size_t n = r->error.message.len < sizeof msg - 1 ? r->error.message.len
								 : sizeof msg - 1;
		if (r->error.message.ptr != NULL)
			memcpy(msg, r->error.message.ptr, n);
		else
			n = 0;
		msg[n] = '\0';
		return proto_error_encode(b, msgid, r->error.code, msg, e);
	}
	if (s == NULL)
		return pt_err_set(e, PT_EINVAL, "unknown method %d", r->method);
	proto__packer_init(&pk, b);
	if (msgpack_pack_array(&pk, 4) || msgpack_pack_uint8(&pk, 1) ||
	    msgpack_pack_uint32(&pk, msgid) || msgpack_pack_nil(&pk))
		return finish(b, mark, oom(e));
	rc = proto__schema_encode(s, &r->r, &pk, e);
	if (rc != 0)
		pt_err_prefix(e, "%s result", proto_method_name(r->method));
	return finish(b, mark, rc);
}

int proto_notify_encode(proto_buf *b, const proto_notify *n, pt_err *e)
{
	const proto_schema *s = proto__note_schema(n->kind);
	size_t mark = b->len;
	msgpack_packer pk;
	int rc;

	if (s == NULL)
		return pt_err_set(e, PT_EINVAL, "unknown notification %d", n->kind);
	proto__packer_init(&pk, b);
	if (msgpack_pack_array(&pk, 3) || msgpack_pack_uint8(&pk, 2) ||
	    pack_name(&pk, proto_notify_name(n->kind)) || msgpack_pack_array(&pk, 1))
		return finish(b, mark, oom(e));
	rc = proto__schema_encode(s, &n->n, &pk, e);
	if (rc != 0)
		pt_err_prefix(e, "%s", proto_notify_name(n->kind));
	return finish(b, mark, rc);
}

int proto_event_reply(proto_buf *b, const proto_event *ev, pt_err *e)
{
	if (!ev->has_msgid || ev->code == PROTO_ERR_NONE)
		return pt_err_set(e, PT_EINVAL, "this event has no request to answer");
	return proto_error_encode(b, ev->msgid, ev->code, ev->message, e);
}
