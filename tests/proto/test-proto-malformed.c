/*
 * test-proto-malformed: hostile and broken input gives the right event
 * (error reply to the msgid, dropped, or fatal) with the right code, the
 * limits hold before anything is allocated, and a connection survives
 * everything that can be framed.
 */
#include <malloc.h>
#include <msgpack.h>

#include "tp.h"

static msgpack_sbuffer sb;
static msgpack_packer pk;

static void begin(void)
{
	msgpack_sbuffer_clear(&sb);
}

static void str(const char *s)
{
	msgpack_pack_str_with_body(&pk, s, strlen(s));
}

/* [0, id, method, [ {...  (the caller packs the map) */
static void req_head(uint32_t id, const char *method, uint32_t n_args)
{
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint8(&pk, 0);
	msgpack_pack_uint32(&pk, id);
	str(method);
	msgpack_pack_array(&pk, 1);
	msgpack_pack_map(&pk, n_args);
}

static proto_decoder *dec(size_t max_message, size_t max_str, uint32_t max_depth)
{
	proto_limits l;
	proto_decoder *d;

	proto_limits_default(&l);
	if (max_message)
		l.max_message = max_message;
	if (max_str)
		l.max_str = max_str;
	if (max_depth)
		l.max_depth = max_depth;
	REQUIRE(proto_decoder_new(&l, &d, NULL) == 0);
	return d;
}

/* Checks the first event of data against what is expected. */
static void expect_at(int line, proto_decoder *d, const void *data, size_t len,
		      int kind, int code, int msgid, const char *substr)
{
	proto_event ev = tp_one_event(d, data, len);
	int ok;

	if (ev.kind == PROTO_EV_MESSAGE) {   /* a message carries its own msgid */
		ev.has_msgid = ev.msg->kind != PROTO_NOTIFY;
		ev.msgid = ev.msg->msgid;
	}
	ok = ev.kind == kind && (kind == PROTO_EV_MESSAGE || ev.code == code) &&
		 (msgid < 0 ? !ev.has_msgid : (ev.has_msgid && ev.msgid == (uint32_t)msgid)) &&
		 (substr == NULL || strstr(ev.message, substr) != NULL);
	if (!ok) {
		fprintf(stderr, "line %d: got event %d code %s msgid %d:%u \"%s\"; "
			"wanted %d %s %d \"%s\"\n", line, ev.kind, proto_errcode_name(ev.code),
			ev.has_msgid, ev.msgid, ev.message, kind, proto_errcode_name(code),
			msgid, substr ? substr : "");
		tp_fails++;
	}
	if (ev.kind == PROTO_EV_MESSAGE)
		proto_msg_free(ev.msg);
}
#define EXPECT(...) expect_at(__LINE__, __VA_ARGS__)

/* A valid request: after an error the same decoder must still serve. */
static void expect_still_works(int line, proto_decoder *d)
{
	begin();
	req_head(99, "status", 0);
	expect_at(line, d, sb.data, sb.size, PROTO_EV_MESSAGE, 0, 99, NULL);
}

static void expect_dead(proto_decoder *d)
{
	proto_event ev;
	CHECK(proto_decoder_feed(d, "\x90", 1) == PT_EINVAL);
	REQUIRE(proto_decoder_next(d, &ev) == 0);
	CHECK(ev.kind == PROTO_EV_FATAL);
}

static void test_garbage(void)
{
	proto_decoder *d = dec(0, 0, 0);
	EXPECT(d, "GET / HTTP/1.1\r\n", 16, PROTO_EV_FATAL, PROTO_ERR_BAD_REQUEST, -1,
	       "must start with an array");
	expect_dead(d);
	proto_decoder_free(d);
	d = dec(0, 0, 0);
	EXPECT(d, "\x94\x00\x01\xc1", 4, PROTO_EV_FATAL, PROTO_ERR_BAD_REQUEST, 1, "0xc1");
	proto_decoder_free(d);
	d = dec(0, 0, 0);   /* an array, but not an envelope */
	EXPECT(d, "\x92\x01\x02", 3, PROTO_EV_FATAL, PROTO_ERR_BAD_REQUEST, -1, "3 or 4");
	proto_decoder_free(d);
	d = dec(0, 0, 0);
	EXPECT(d, "\x94\x07\x01", 3, PROTO_EV_FATAL, PROTO_ERR_BAD_REQUEST, -1, "0, 1 or 2");
	proto_decoder_free(d);
}

static void test_msgid(void)
{
	proto_decoder *d = dec(0, 0, 0);
	begin();
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint8(&pk, 0);
	str("seven");
	str("status");
	msgpack_pack_array(&pk, 0);
	EXPECT(d, sb.data, sb.size, PROTO_EV_FATAL, PROTO_ERR_BAD_REQUEST, -1, "msgid");
	proto_decoder_free(d);
	d = dec(0, 0, 0);
	begin();
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint8(&pk, 0);
	msgpack_pack_int64(&pk, -1);
	str("status");
	msgpack_pack_array(&pk, 0);
	EXPECT(d, sb.data, sb.size, PROTO_EV_FATAL, PROTO_ERR_BAD_REQUEST, -1, "msgid");
	proto_decoder_free(d);
	d = dec(0, 0, 0);
	begin();
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint8(&pk, 0);
	msgpack_pack_uint64(&pk, (uint64_t)1 << 32);
	str("status");
	msgpack_pack_array(&pk, 0);
	EXPECT(d, sb.data, sb.size, PROTO_EV_FATAL, PROTO_ERR_BAD_REQUEST, -1, "msgid");
	proto_decoder_free(d);
}

static void test_envelope_errors(void)
{
	proto_decoder *d = dec(0, 0, 0);

	begin();
	req_head(5, "frobnicate", 0);
	EXPECT(d, sb.data, sb.size, PROTO_EV_REPLY_ERROR, PROTO_ERR_UNKNOWN_METHOD, 5,
	       "frobnicate");
	begin();                             /* method not a string */
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint8(&pk, 0);
	msgpack_pack_uint8(&pk, 6);
	msgpack_pack_uint8(&pk, 1);
	msgpack_pack_array(&pk, 0);
	EXPECT(d, sb.data, sb.size, PROTO_EV_REPLY_ERROR, PROTO_ERR_BAD_REQUEST, 6, "method");
	begin();                             /* params a string */
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint8(&pk, 0);
	msgpack_pack_uint8(&pk, 7);
	str("status");
	str("x");
	EXPECT(d, sb.data, sb.size, PROTO_EV_REPLY_ERROR, PROTO_ERR_BAD_REQUEST, 7, "params");
	begin();                             /* params [1, 2] */
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint8(&pk, 0);
	msgpack_pack_uint8(&pk, 8);
	str("status");
	msgpack_pack_array(&pk, 2);
	msgpack_pack_uint8(&pk, 1);
	msgpack_pack_uint8(&pk, 2);
	EXPECT(d, sb.data, sb.size, PROTO_EV_REPLY_ERROR, PROTO_ERR_BAD_REQUEST, 8, "params");
	begin();                             /* a request of 3 elements */
	msgpack_pack_array(&pk, 3);
	msgpack_pack_uint8(&pk, 0);
	msgpack_pack_uint8(&pk, 9);
	str("status");
	EXPECT(d, sb.data, sb.size, PROTO_EV_REPLY_ERROR, PROTO_ERR_BAD_REQUEST, 9, "got 3 elements");
	begin();                             /* params as a bare map work */
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint8(&pk, 0);
	msgpack_pack_uint8(&pk, 10);
	str("detect");
	msgpack_pack_map(&pk, 1);
	str("text");
	str("hallo");
	EXPECT(d, sb.data, sb.size, PROTO_EV_MESSAGE, 0, 10, NULL);
	begin();                             /* a notification nobody knows */
	msgpack_pack_array(&pk, 3);
	msgpack_pack_uint8(&pk, 2);
	str("nvim_buf_lines_event");
	msgpack_pack_array(&pk, 0);
	EXPECT(d, sb.data, sb.size, PROTO_EV_DROPPED, PROTO_ERR_UNKNOWN_METHOD, -1, NULL);
	expect_still_works(__LINE__, d);
	proto_decoder_free(d);
}

static void test_fields(void)
{
	proto_decoder *d = dec(0, 0, 0);

	begin();
	req_head(1, "translate", 2);
	str("text");
	str("hi");
	str("to");
	msgpack_pack_uint8(&pk, 5);
	EXPECT(d, sb.data, sb.size, PROTO_EV_REPLY_ERROR, PROTO_ERR_BAD_REQUEST, 1,
	       "translate: to: a string expected, got an integer");
	begin();
	req_head(2, "translate", 3);
	str("text");
	str("hi");
	str("to");
	str("de");
	str("beam");
	msgpack_pack_uint8(&pk, 4);
	EXPECT(d, sb.data, sb.size, PROTO_EV_REPLY_ERROR, PROTO_ERR_BAD_REQUEST, 2,
	       "unknown field \"beam\"");
	begin();
	req_head(3, "translate", 3);
	str("text");
	str("hi");
	str("to");
	str("de");
	str("beams");
	msgpack_pack_uint8(&pk, 40);
	EXPECT(d, sb.data, sb.size, PROTO_EV_REPLY_ERROR, PROTO_ERR_BAD_REQUEST, 3,
	       "beams: an integer from 1 to 16 expected, got 40");
	begin();
	req_head(4, "translate", 1);
	str("text");
	str("hi");
	EXPECT(d, sb.data, sb.size, PROTO_EV_REPLY_ERROR, PROTO_ERR_BAD_REQUEST, 4,
	       "missing field \"to\"");
	begin();
	req_head(5, "translate", 2);
	str("text");
	msgpack_pack_str_with_body(&pk, "a\xff", 2);
	str("to");
	str("de");
	EXPECT(d, sb.data, sb.size, PROTO_EV_REPLY_ERROR, PROTO_ERR_BAD_REQUEST, 5, "UTF-8");
	begin();
	req_head(6, "job.status", 1);
	str("job");
	str("../../etc");
	EXPECT(d, sb.data, sb.size, PROTO_EV_REPLY_ERROR, PROTO_ERR_BAD_REQUEST, 6, "job id");
	begin();
	req_head(7, "detect", 2);
	str("text");
	str("x");
	str("text");
	str("y");
	EXPECT(d, sb.data, sb.size, PROTO_EV_REPLY_ERROR, PROTO_ERR_BAD_REQUEST, 7, "twice");
	expect_still_works(__LINE__, d);
	proto_decoder_free(d);
}

static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

/* [0, 42, "translate", [{"texts": <array32 of 4294967295>}]] and nothing
 * more: the decoder must refuse it at once, without allocating for it. */
static void test_huge_array(void)
{
	static const uint8_t msg[] = {
		0x94, 0x00, 0x2a, 0xa9, 't', 'r', 'a', 'n', 's', 'l', 'a', 't', 'e',
		0x91, 0x81, 0xa5, 't', 'e', 'x', 't', 's', 0xdd, 0xff, 0xff, 0xff, 0xff,
	};
	static const uint8_t map[] = { 0x94, 0x00, 0x2b, 0xa6, 's', 't', 'a', 't', 'u', 's',
				       0xdf, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t str32[] = { 0x94, 0x00, 0x2c, 0xdb, 0xff, 0xff, 0xff, 0xff };
	proto_decoder *d = dec(0, 0, 0);
	size_t before, after;

	before = heap_in_use();
	EXPECT(d, msg, sizeof msg, PROTO_EV_FATAL, PROTO_ERR_TOO_LARGE, 42,
	       "declares 4294967295 elements");
	after = heap_in_use();
	printf("4-billion-element array: heap grew by %zu bytes\n",
	       after > before ? after - before : 0);
	CHECK(after < before + 65536);
	proto_decoder_free(d);
	d = dec(0, 0, 0);
	EXPECT(d, map, sizeof map, PROTO_EV_FATAL, PROTO_ERR_TOO_LARGE, 43, "map");
	proto_decoder_free(d);
	d = dec(0, 0, 0);
	EXPECT(d, str32, sizeof str32, PROTO_EV_FATAL, PROTO_ERR_TOO_LARGE, 44, "string");
	proto_decoder_free(d);
}

/* 10,000 nested arrays inside params: refused at the limit, as soon as
 * the level past it arrives, with the msgid for a last error reply. */
static void test_deep_nesting(void)
{
	static const uint8_t head[] = { 0x94, 0x00, 0x05, 0xa6, 's', 't', 'a', 't', 'u', 's' };
	uint8_t *p = malloc(sizeof head + 10000);
	proto_decoder *d = dec(0, 0, 0);

	REQUIRE(p != NULL);
	memcpy(p, head, sizeof head);
	memset(p + sizeof head, 0x91, 10000);
	EXPECT(d, p, sizeof head + 10000, PROTO_EV_FATAL, PROTO_ERR_TOO_LARGE, 5, "nesting");
	proto_decoder_free(d);
	/* At the hard maximum (32) msgpack-c still unpacks it: the message is
	 * framed and answered (unknown field), not a crash or internal error. */
	d = dec(0, 0, 64);
	begin();
	req_head(6, "status", 1);
	str("x");
	for (int i = 0; i < 32 - 3; i++)
		msgpack_pack_array(&pk, 1);
	msgpack_pack_nil(&pk);
	EXPECT(d, sb.data, sb.size, PROTO_EV_REPLY_ERROR, PROTO_ERR_BAD_REQUEST, 6,
	       "unknown field \"x\"");
	expect_still_works(__LINE__, d);
	proto_decoder_free(d);
	free(p);
}

static void test_sizes(void)
{
	char *big = malloc(5000);
	proto_decoder *d = dec(4096, 1024, 0);

	REQUIRE(big != NULL);
	memset(big, 'a', 5000);
	/* A string over max_str in a message under max_message: answered, and
	 * the connection goes on. */
	begin();
	req_head(11, "detect", 1);
	str("text");
	msgpack_pack_str_with_body(&pk, big, 2000);
	EXPECT(d, sb.data, sb.size, PROTO_EV_REPLY_ERROR, PROTO_ERR_TOO_LARGE, 11,
	       "string of 2000 bytes");
	expect_still_works(__LINE__, d);
	/* A message over max_message, declared up front: fatal at once. */
	begin();
	req_head(12, "detect", 1);
	str("text");
	msgpack_pack_str_with_body(&pk, big, 5000);
	EXPECT(d, sb.data, 30, PROTO_EV_FATAL, PROTO_ERR_TOO_LARGE, 12, "size limit");
	proto_decoder_free(d);
	/* Many small strings that only add up past the limit. */
	d = dec(4096, 1024, 0);
	begin();
	req_head(13, "translate", 2);
	str("to");
	str("de");
	str("texts");
	msgpack_pack_array(&pk, 1000);
	for (int i = 0; i < 1000; i++)
		msgpack_pack_str_with_body(&pk, big, 9);
	EXPECT(d, sb.data, sb.size, PROTO_EV_FATAL, PROTO_ERR_TOO_LARGE, 13, "size limit");
	CHECK(proto_decoder_pending(d) == sb.size);
	proto_decoder_free(d);
	/* More elements than max_items (65536): answered, connection kept. */
	d = dec(0, 0, 0);
	begin();
	req_head(14, "translate", 2);
	str("to");
	str("de");
	str("texts");
	msgpack_pack_array(&pk, 70000);
	for (int i = 0; i < 70000; i++)
		msgpack_pack_str_with_body(&pk, "", 0);
	EXPECT(d, sb.data, sb.size, PROTO_EV_REPLY_ERROR, PROTO_ERR_TOO_LARGE, 14,
	       "70000 elements");
	expect_still_works(__LINE__, d);
	proto_decoder_free(d);
	free(big);
}

/* What an error event turns into on the wire. */
static void test_reply(void)
{
	proto_decoder *d = dec(0, 0, 0), *d2 = dec(0, 0, 0);
	proto_event ev, ev2;
	proto_buf b;

	begin();
	req_head(77, "nope", 0);
	ev = tp_one_event(d, sb.data, sb.size);
	proto_buf_init(&b);
	CHECK(proto_event_reply(&b, &ev, NULL) == 0);
	ev2 = tp_one_event(d2, b.data, b.len);
	CHECK(ev2.kind == PROTO_EV_MESSAGE);
	if (ev2.kind == PROTO_EV_MESSAGE) {
		CHECK(ev2.msg->kind == PROTO_RESPONSE && ev2.msg->msgid == 77);
		CHECK(ev2.msg->resp.error.code == PROTO_ERR_UNKNOWN_METHOD);
		CHECK(tp_str_is(ev2.msg->resp.error.message, ev.message));
		CHECK(proto_response_decode(ev2.msg, PROTO_M_STATUS, NULL) == PT_EINVAL);
		proto_msg_free(ev2.msg);
	}
	proto_buf_done(&b);
	proto_decoder_free(d);
	proto_decoder_free(d2);
}

/* A result of the wrong shape is refused by proto_response_decode. */
static void test_bad_result(void)
{
	proto_decoder *d = dec(0, 0, 0);
	proto_event ev;
	pt_err e;

	begin();
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint8(&pk, 1);
	msgpack_pack_uint8(&pk, 3);
	msgpack_pack_nil(&pk);
	msgpack_pack_map(&pk, 2);
	str("cancelled");
	msgpack_pack_uint8(&pk, 1);
	str("newer_field");
	msgpack_pack_true(&pk);
	ev = tp_one_event(d, sb.data, sb.size);
	REQUIRE(ev.kind == PROTO_EV_MESSAGE);
	pt_err_clear(&e);
	CHECK(proto_response_decode(ev.msg, PROTO_M_CANCEL, &e) == PT_EFORMAT);
	CHECK(strstr(e.msg, "cancelled: true or false expected") != NULL);
	proto_msg_free(ev.msg);
	proto_decoder_free(d);
}

int main(void)
{
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	test_garbage();
	test_msgid();
	test_envelope_errors();
	test_fields();
	test_huge_array();
	test_deep_nesting();
	test_sizes();
	test_reply();
	test_bad_result();
	msgpack_sbuffer_destroy(&sb);
	return tp_finish("test-proto-malformed");
}
