/*
 * scan.c: a validating walk over the raw bytes of one msgpack-RPC message.
 *
 * msgpack-c allocates room for a declared array or map as soon as it reads
 * the count, so a peer declaring 4 billion elements in 5 bytes would make
 * it allocate ~100 GB. The scanner therefore goes first: it reads only the
 * headers, checks every declared length and count against the limits and
 * against the bytes the message may still have, and finds where the
 * message ends. Only a complete message that passed is unpacked.
 *
 * The walk is resumable: it never accepts a header before the header and
 * its payload (for str/bin/ext) are all there, and it keeps the count of
 * items still to read at each open level, so feeding a message in N pieces
 * costs O(size + N) rather than O(size * N).
 */
#include "proto-impl.h"

#include <stdio.h>
#include <string.h>

void proto__scan_reset(proto_scan *s)
{
	memset(s, 0, sizeof *s);
	s->top_type = -1;
}

/* What one header says. */
typedef struct hdr {
	size_t hs;       /* header bytes */
	uint64_t plen;   /* payload bytes after the header (str, bin, ext) */
	uint64_t count;  /* array elements or map entries */
	bool is_map, is_array, is_str_like;
	bool is_uint;    /* a non-negative integer, value in uval */
	uint64_t uval;
} hdr;

static uint64_t be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Size of the header that byte b starts, before its length bytes are
 * read; 0 for the one byte msgpack never uses (0xc1). */
static size_t hdr_size(uint8_t b)
{
	static const uint8_t sz[32] = {
		/* c0 */ 1, 0, 1, 1, 2, 3, 5, 3, 4, 6, 5, 9, 2, 3, 5, 9,
		/* d0 */ 2, 3, 5, 9, 2, 2, 2, 2, 2, 2, 3, 5, 3, 5, 3, 5,
	};
	if (b < 0xc0 || b >= 0xe0)
		return 1;
	return sz[b - 0xc0];
}

/* Parses the header at p, whose hs bytes are all available. */
static void hdr_parse(const uint8_t *p, hdr *h)
{
	uint8_t b = p[0];

	if (b <= 0x7f) {
		h->is_uint = true;
		h->uval = b;
	} else if (b <= 0x8f) {
		h->is_map = true;
		h->count = b & 0x0f;
	} else if (b <= 0x9f) {
		h->is_array = true;
		h->count = b & 0x0f;
	} else if (b <= 0xbf) {
		h->is_str_like = true;
		h->plen = b & 0x1f;
	} else if (b >= 0xcc && b <= 0xcf) {
		h->is_uint = true;
		h->uval = be(p + 1, h->hs - 1);
	} else if ((b >= 0xc4 && b <= 0xc6) || (b >= 0xd9 && b <= 0xdb)) {
		h->is_str_like = true;
		h->plen = be(p + 1, h->hs - 1);
	} else if (b >= 0xc7 && b <= 0xc9) {      /* ext 8/16/32: len, type */
		h->is_str_like = true;
		h->plen = be(p + 1, h->hs - 2);
	} else if (b >= 0xd4 && b <= 0xd8) {      /* fixext 1..16: type, data */
		h->is_str_like = true;
		h->plen = (uint64_t)1 << (b - 0xd4);
	} else if (b == 0xdc || b == 0xdd) {
		h->is_array = true;
		h->count = be(p + 1, h->hs - 1);
	} else if (b == 0xde || b == 0xdf) {
		h->is_map = true;
		h->count = be(p + 1, h->hs - 1);
	}
	/* nil, bool, float, signed ints: header only. */
}

static int fatal(proto_scan *s, int code, char *msg, size_t msgsz,
		 const char *fmt, ...) PT_PRINTF(5, 6);
static int fatal(proto_scan *s, int code, char *msg, size_t msgsz,
		 const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, msgsz, fmt, ap);
	va_end(ap);
	s->over_code = code;
	return PROTO_SCAN_FATAL;
}

/* Notes a broken limit that still lets the message be framed: it is
 * skipped and answered with an error, the connection stays up. */
static void over(proto_scan *s, const char *fmt, ...) PT_PRINTF(2, 3);
static void over(proto_scan *s, const char *fmt, ...)
{
	va_list ap;
	if (s->over_code != 0)
		return;
	s->over_code = PROTO_ERR_TOO_LARGE;
	va_start(ap, fmt);
	vsnprintf(s->over_msg, sizeof s->over_msg, fmt, ap);
	va_end(ap);
}

/* The first byte of a message must open the envelope array. */
static int check_envelope(proto_scan *s, const hdr *h, uint8_t b, char *msg,
			  size_t msgsz)
{
	if (!h->is_array)
		return fatal(s, PROTO_ERR_BAD_REQUEST, msg, msgsz,
			     "not a msgpack-RPC message: it must start with an "
			     "array, got byte 0x%02x", b);
	if (h->count != 3 && h->count != 4)
		return fatal(s, PROTO_ERR_BAD_REQUEST, msg, msgsz,
			     "not a msgpack-RPC message: an array of 3 or 4 "
			     "elements expected, got %llu",
			     (unsigned long long)h->count);
	return 0;
}

/* Remembers the envelope's type and msgid as they pass, so that errors
 * found later in the message can still be answered. */
static int note_envelope_item(proto_scan *s, const hdr *h, char *msg, size_t msgsz)
{
	uint32_t idx = s->top_index++;

	if (idx == 0) {
		if (!h->is_uint || h->uval > 2)
			return fatal(s, PROTO_ERR_BAD_REQUEST, msg, msgsz,
				     "not a msgpack-RPC message: the type "
				     "(first element) must be 0, 1 or 2");
		s->top_type = (int)h->uval;
	} else if (idx == 1 && s->top_type == PROTO_REQUEST && h->is_uint &&
		   h->uval <= UINT32_MAX) {
		s->has_msgid = true;
		s->msgid = (uint32_t)h->uval;
	}
	return 0;
}

/* Checks one complete header against the limits and the message size. */
static int check_limits(proto_scan *s, const proto_limits *l, const hdr *h,
			char *msg, size_t msgsz)
{
	uint64_t end = (uint64_t)s->pos + h->hs;
	uint64_t items = h->is_map ? 2 * h->count : h->count;

	/* Each element takes at least one byte: a count that cannot fit is
	 * refused here, before any byte of it is waited for. */
	if (end + h->plen + items > l->max_message)
		return fatal(s, PROTO_ERR_TOO_LARGE, msg, msgsz,
			     "message over the size limit of %zu bytes "
			     "(a %s at byte %zu declares %llu %s)",
			     l->max_message,
			     h->is_str_like ? "string" : h->is_map ? "map" : "array",
			     s->pos, (unsigned long long)(h->is_str_like ? h->plen : h->count),
			     h->is_str_like ? "bytes" : "elements");
	if (h->is_str_like && h->plen > l->max_str)
		over(s, "a string of %llu bytes at byte %zu is over the limit "
		     "of %zu", (unsigned long long)h->plen, s->pos, l->max_str);
	if ((h->is_map || h->is_array) && h->count > 0) {
		if (h->count > l->max_items)
			over(s, "a%s of %llu elements at byte %zu is over the "
			     "limit of %u", h->is_map ? " map" : "n array",
			     (unsigned long long)h->count, s->pos, l->max_items);
		s->total += h->count;
		if (s->total > l->max_total)
			over(s, "more than %u elements in one message", l->max_total);
		if (s->depth >= l->max_depth)
			return fatal(s, PROTO_ERR_TOO_LARGE, msg, msgsz,
				     "nesting deeper than %u levels at byte %zu",
				     l->max_depth, s->pos);
	}
	return 0;
}

int proto__scan(proto_scan *s, const proto_limits *l, const uint8_t *data,
		size_t len, char *msg, size_t msgsz)
{
	for (;;) {
		hdr h;
		int rc;

		if (s->pos > 0 && s->depth == 0)
			return PROTO_SCAN_DONE;
		if (s->pos >= len)
			return PROTO_SCAN_MORE;
		memset(&h, 0, sizeof h);
		h.hs = hdr_size(data[s->pos]);
		if (h.hs == 0)
			return fatal(s, PROTO_ERR_BAD_REQUEST, msg, msgsz,
				     "invalid msgpack byte 0xc1 at byte %zu", s->pos);
		if (len - s->pos < h.hs)
			return PROTO_SCAN_MORE;
		hdr_parse(data + s->pos, &h);
		if (s->pos == 0 && (rc = check_envelope(s, &h, data[0], msg, msgsz)))
			return rc;
		if ((rc = check_limits(s, l, &h, msg, msgsz)))
			return rc;
		/* Wait for the payload; the limits above bound it. */
		if (len - s->pos - h.hs < h.plen)
			return PROTO_SCAN_MORE;
		/* Only now, so that a header seen again after MORE counts once. */
		if (s->depth == 1 && (rc = note_envelope_item(s, &h, msg, msgsz)))
			return rc;
		s->pos += h.hs + (size_t)h.plen;
		if (s->depth > 0)
			s->left[s->depth - 1]--;
		if ((h.is_map || h.is_array) && h.count > 0)
			s->left[s->depth++] = h.is_map ? 2 * h.count : h.count;
		while (s->depth > 0 && s->left[s->depth - 1] == 0)
			s->depth--;
	}
}
