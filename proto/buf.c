/* buf.c: the growable output buffer, string views and error code names. */
#include "proto-impl.h"

#include <stdlib.h>
#include <string.h>

void proto_buf_init(proto_buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
}

void proto_buf_done(proto_buf *b)
{
	free(b->data);
	proto_buf_init(b);
}

void proto_buf_reset(proto_buf *b)
{
	b->len = 0;
}

uint8_t *proto_buf_release(proto_buf *b, size_t *len)
{
	uint8_t *p = b->data;

	*len = b->len;
	if (b->len == 0) {
		free(p);
		p = NULL;
	}
	proto_buf_init(b);
	return p;
}

/* Grows to hold n more bytes: doubling, so appends are amortized O(1). */
static int buf_reserve(proto_buf *b, size_t n)
{
	size_t need, cap;
	uint8_t *p;

	if (pt_add_size(b->len, n, &need) != 0)
		return -1;
	if (need <= b->cap)
		return 0;
	cap = b->cap < 256 ? 256 : b->cap;
	while (cap < need)
		if (pt_mul_size(cap, 2, &cap) != 0)
			return -1;
	p = realloc(b->data, cap);
	if (p == NULL)
		return -1;
	b->data = p;
	b->cap = cap;
	return 0;
}

/* msgpack_packer_write: returns -1 when memory runs out, which makes
 * every msgpack_pack_* call after it fail as well. */
static int buf_write(void *data, const char *src, size_t len)
{
	proto_buf *b = data;

	if (len == 0)
		return 0;
	if (buf_reserve(b, len) != 0)
		return -1;
	memcpy(b->data + b->len, src, len);
	b->len += len;
	return 0;
}

void proto__packer_init(msgpack_packer *pk, proto_buf *b)
{
	msgpack_packer_init(pk, b, buf_write);
}

proto_str proto_str_c(const char *s)
{
	proto_str v = { s, s != NULL ? strlen(s) : 0 };
	return v;
}

int proto_str_eq(proto_str s, const char *c)
{
	size_t n = strlen(c);
	return s.ptr != NULL && s.len == n && memcmp(s.ptr, c, n) == 0;
}

static const char *const errcode_names[PROTO_ERR_COUNT_] = {
	[PROTO_ERR_NONE] = "ok",
	[PROTO_ERR_BAD_REQUEST] = "bad_request",
	[PROTO_ERR_UNKNOWN_METHOD] = "unknown_method",
	[PROTO_ERR_UNSUPPORTED_LANGUAGE] = "unsupported_language",
	[PROTO_ERR_TOO_LARGE] = "too_large",
	[PROTO_ERR_BUSY] = "busy",
	[PROTO_ERR_CANCELLED] = "cancelled",
	[PROTO_ERR_NOT_FOUND] = "not_found",
	[PROTO_ERR_TIMEOUT] = "timeout",
	[PROTO_ERR_SHUTTING_DOWN] = "shutting_down",
	[PROTO_ERR_INTERNAL] = "internal",
	[PROTO_ERR_OTHER] = "internal",
};

const char *proto_errcode_name(int code)
{
	if (code < 0 || code >= PROTO_ERR_COUNT_)
		return "internal";
	return errcode_names[code];
}

int proto_errcode_parse(proto_str name)
{
	for (int i = PROTO_ERR_BAD_REQUEST; i < PROTO_ERR_OTHER; i++)
		if (proto_str_eq(name, errcode_names[i]))
			return i;
	return PROTO_ERR_OTHER;
}

int proto_errcode_from_pt(int pt_code)
{
	switch (pt_code) {
	case PT_OK: return PROTO_ERR_NONE;
	case PT_EINVAL: case PT_EFORMAT: case PT_EUTF8: case PT_EUNSUPPORTED:
	case PT_EPERM:
		return PROTO_ERR_BAD_REQUEST;
	case PT_ETOOLARGE: case PT_ECONTEXT: return PROTO_ERR_TOO_LARGE;
	case PT_ELANG: return PROTO_ERR_UNSUPPORTED_LANGUAGE;
	case PT_EBUSY: return PROTO_ERR_BUSY;
	case PT_ECANCELLED: return PROTO_ERR_CANCELLED;
	case PT_ENOTFOUND: return PROTO_ERR_NOT_FOUND;
	case PT_ETIMEOUT: return PROTO_ERR_TIMEOUT;
	default: return PROTO_ERR_INTERNAL;
	}
}
