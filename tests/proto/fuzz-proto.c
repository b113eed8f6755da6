/*
 * fuzz-proto: libFuzzer target for the streaming decoder.
 *
 * The first input byte chooses how the rest is cut into feeds (so splits
 * are fuzzed too); every event is then checked for what must always hold:
 * a message re-encodes and decodes back to the same bytes, an error event
 * can be answered, a fatal event ends the stream, and nothing crashes,
 * leaks or reads out of bounds (the sanitizers watch that).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(c) do { if (!(c)) __builtin_trap(); } while (0)

/* Re-encoding a decoded message and decoding that gives the same bytes. */
static void check_stable(proto_msg *m, const proto_limits *l)
{
	proto_buf b1, b2;
	proto_decoder *d;
	proto_event ev;
	int rc = 0;

	proto_buf_init(&b1);
	proto_buf_init(&b2);
	if (m->kind == PROTO_REQUEST) {
		rc = proto_request_encode(&b1, m->msgid, &m->req, NULL);
	} else if (m->kind == PROTO_NOTIFY) {
		rc = proto_notify_encode(&b1, &m->note, NULL);
	} else {
		for (int meth = PROTO_M_NONE + 1; meth < PROTO_M_COUNT_; meth++)
			if (m->resp.error.code != PROTO_ERR_NONE ||
			    proto_response_decode(m, meth, NULL) == 0)
				break;
		if (m->resp.error.code == PROTO_ERR_NONE && m->resp.method == PROTO_M_NONE)
			goto out;   /* no method's result: nothing to re-encode */
		rc = proto_response_encode(&b1, m->msgid, &m->resp, NULL);
	}
	FUZZ_ASSERT(rc == 0 || rc == PT_ENOMEM);
	if (rc != 0)
		goto out;
	FUZZ_ASSERT(proto_decoder_new(l, &d, NULL) == 0);
	FUZZ_ASSERT(proto_decoder_feed(d, b1.data, b1.len) == 0);
	FUZZ_ASSERT(proto_decoder_next(d, &ev) == 0);
	FUZZ_ASSERT(ev.kind == PROTO_EV_MESSAGE);
	if (m->kind == PROTO_RESPONSE && m->resp.error.code == PROTO_ERR_NONE) {
		FUZZ_ASSERT(proto_response_decode(ev.msg, m->resp.method, NULL) == 0);
		rc = proto_response_encode(&b2, ev.msg->msgid, &ev.msg->resp, NULL);
	} else if (m->kind == PROTO_RESPONSE) {
		rc = proto_response_encode(&b2, ev.msg->msgid, &ev.msg->resp, NULL);
	} else if (m->kind == PROTO_REQUEST) {
		rc = proto_request_encode(&b2, ev.msg->msgid, &ev.msg->req, NULL);
	} else {
		rc = proto_notify_encode(&b2, &ev.msg->note, NULL);
	}
	FUZZ_ASSERT(rc == 0 && b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0);
	proto_msg_free(ev.msg);
	proto_decoder_free(d);
out:
	proto_buf_done(&b1);
	proto_buf_done(&b2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	proto_limits l;
	proto_decoder *d;
	proto_event ev;
	size_t pos = 1, step;
	bool dead = false;

	if (size < 1)
		return 0;
	proto_limits_default(&l);
	l.max_message = 1 << 16;
	l.max_str = 1 << 12;
	l.max_items = 256;
	l.max_total = 4096;
	step = data[0] == 0 ? size : data[0];
	if (proto_decoder_new(&l, &d, NULL) != 0)
		return 0;
	while (pos < size && !dead) {
		size_t n = size - pos < step ? size - pos : step;
		FUZZ_ASSERT(proto_decoder_feed(d, data + pos, n) == 0);
		pos += n;
		for (;;) {
			FUZZ_ASSERT(proto_decoder_next(d, &ev) == 0);
			if (ev.kind == PROTO_EV_NONE)
				break;
			if (ev.kind == PROTO_EV_MESSAGE) {
				FUZZ_ASSERT(ev.msg->size <= l.max_message);
				check_stable(ev.msg, &l);
				proto_msg_free(ev.msg);
			} else if (ev.kind == PROTO_EV_REPLY_ERROR) {
				proto_buf b;
				proto_buf_init(&b);
				FUZZ_ASSERT(proto_event_reply(&b, &ev, NULL) == 0);
				proto_buf_done(&b);
			} else if (ev.kind == PROTO_EV_FATAL) {
				dead = true;
				break;
			}
		}
	}
	/* Nothing waits longer than one message's worth of bytes. */
	FUZZ_ASSERT(dead || proto_decoder_pending(d) <= l.max_message);
	proto_decoder_free(d);
	return 0;
}
