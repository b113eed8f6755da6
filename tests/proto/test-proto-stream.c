/*
 * test-proto-stream: a stream of every sample message, fed split at every
 * byte, one byte at a time and in pseudo-random pieces, decodes to the same
 * events; the zero-copy reserve/commit path too; a message in progress at
 * the end of the stream stays pending.
 */
#include "samples.h"
#include "tp.h"

typedef struct seen {
	int kind;
	int method;
	uint32_t msgid;
	size_t size;
} seen;

/* Pops every event available into out[*n]. */
static void drain(proto_decoder *d, seen *out, size_t *n, size_t max)
{
	proto_event ev;

	for (;;) {
		REQUIRE(proto_decoder_next(d, &ev) == 0);
		if (ev.kind == PROTO_EV_NONE)
			return;
		if (ev.kind != PROTO_EV_MESSAGE) {
			fprintf(stderr, "unexpected event %d: %s\n", ev.kind, ev.message);
			tp_fails++;
			REQUIRE(ev.kind != PROTO_EV_FATAL);
			continue;
		}
		REQUIRE(*n < max);
		out[*n].kind = ev.msg->kind;
		out[*n].method = ev.msg->kind == PROTO_REQUEST ? ev.msg->req.method :
				 ev.msg->kind == PROTO_NOTIFY ? ev.msg->note.kind : 0;
		out[*n].msgid = ev.msg->msgid;
		out[*n].size = ev.msg->size;
		(*n)++;
		proto_msg_free(ev.msg);
	}
}

static int same(const seen *a, size_t na, const sample *s, size_t ns)
{
	if (na != ns)
		return 0;
	for (size_t i = 0; i < na; i++) {
		int m = s[i].kind == PROTO_RESPONSE ? 0 : s[i].method;
		if (a[i].kind != s[i].kind || a[i].method != m || a[i].size != s[i].len ||
		    (s[i].kind != PROTO_NOTIFY && a[i].msgid != s[i].msgid))
			return 0;
	}
	return 1;
}

/* Feeds data in the pieces given by cuts (ascending offsets). */
static int feed_pieces(const proto_buf *b, const size_t *cuts, size_t ncuts,
		       const sample *s, size_t ns)
{
	seen got[SAMPLES_MAX];
	size_t n = 0, prev = 0;
	proto_decoder *d;
	int ok;

	REQUIRE(proto_decoder_new(NULL, &d, NULL) == 0);
	for (size_t i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : b->len;
		REQUIRE(proto_decoder_feed(d, b->data + prev, end - prev) == 0);
		drain(d, got, &n, SAMPLES_MAX);
		prev = end;
	}
	ok = same(got, n, s, ns) && proto_decoder_pending(d) == 0;
	proto_decoder_free(d);
	return ok;
}

static void test_every_split(const proto_buf *b, const sample *s, size_t ns)
{
	size_t bad = 0;

	for (size_t cut = 0; cut <= b->len; cut++)
		bad += !feed_pieces(b, &cut, 1, s, ns);
	CHECK(bad == 0);
	/* Two cuts: every first cut with a second one 1, 7 and 100 bytes on. */
	for (size_t c1 = 0; c1 < b->len; c1++) {
		static const size_t gaps[] = { 1, 7, 100 };
		for (size_t g = 0; g < 3; g++) {
			size_t cuts[2] = { c1, c1 + gaps[g] < b->len ? c1 + gaps[g] : b->len };
			bad += !feed_pieces(b, cuts, 2, s, ns);
		}
	}
	CHECK(bad == 0);
	printf("every split of %zu bytes: %zu failures\n", b->len, bad);
}

static void test_byte_at_a_time(const proto_buf *b, const sample *s, size_t ns)
{
	size_t *cuts = malloc(b->len * sizeof *cuts);

	REQUIRE(cuts != NULL);
	for (size_t i = 0; i < b->len; i++)
		cuts[i] = i + 1;
	CHECK(feed_pieces(b, cuts, b->len - 1, s, ns));
	free(cuts);
}

static void test_random_pieces(const proto_buf *b, const sample *s, size_t ns)
{
	uint32_t x = 12345;
	size_t cuts[256];

	for (int round = 0; round < 200; round++) {
		size_t n = 0, pos = 0;
		while (n < 256) {
			x = x * 1103515245u + 12345u;
			pos += 1 + (x >> 16) % 97;
			if (pos >= b->len)
				break;
			cuts[n++] = pos;
		}
		CHECK(feed_pieces(b, cuts, n, s, ns));
	}
}

/* The libuv path: reserve space, "read" into it, commit. */
static void test_reserve_commit(const proto_buf *b, const sample *s, size_t ns)
{
	seen got[SAMPLES_MAX];
	size_t n = 0, pos = 0;
	proto_decoder *d;

	REQUIRE(proto_decoder_new(NULL, &d, NULL) == 0);
	while (pos < b->len) {
		void *dst;
		size_t room, take;
		REQUIRE(proto_decoder_reserve(d, 64, &dst, &room) == 0);
		CHECK(room >= 64);
		take = b->len - pos < 13 ? b->len - pos : 13;
		memcpy(dst, b->data + pos, take);
		proto_decoder_commit(d, take);
		pos += take;
		drain(d, got, &n, SAMPLES_MAX);
	}
	CHECK(same(got, n, s, ns));
	proto_decoder_free(d);
}

/* A stream cut inside a message: nothing comes out, the bytes wait. */
static void test_truncated(const proto_buf *b, const sample *s, size_t ns)
{
	proto_decoder *d;
	proto_event ev;

	for (size_t i = 0; i < ns; i++) {
		for (size_t keep = 0; keep < s[i].len; keep++) {
			REQUIRE(proto_decoder_new(NULL, &d, NULL) == 0);
			ev = tp_one_event(d, b->data + s[i].off, keep);
			CHECK(ev.kind == PROTO_EV_NONE);
			CHECK(proto_decoder_pending(d) == keep);
			/* The rest arrives later: the message completes. */
			ev = tp_one_event(d, b->data + s[i].off + keep, s[i].len - keep);
			CHECK(ev.kind == PROTO_EV_MESSAGE);
			if (ev.kind == PROTO_EV_MESSAGE)
				proto_msg_free(ev.msg);
			proto_decoder_free(d);
		}
	}
}

int main(void)
{
	sample s[SAMPLES_MAX];
	size_t n;
	proto_buf b;
	pt_err e;

	proto_buf_init(&b);
	if (samples_build(&b, s, &n, &e) != 0) {
		fprintf(stderr, "samples: %s\n", e.msg);
		return 1;
	}
	test_every_split(&b, s, n);
	test_byte_at_a_time(&b, s, n);
	test_random_pieces(&b, s, n);
	test_reserve_commit(&b, s, n);
	test_truncated(&b, s, n);
	proto_buf_done(&b);
	return tp_finish("test-proto-stream");
}
