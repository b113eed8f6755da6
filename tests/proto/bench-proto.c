/*
 * bench-proto: prints how fast proto/ encodes and decodes: small requests
 * (the daemon's steady load), and one 8 MiB text fed in 64 KiB reads (the
 * resumable scanner keeps that linear). Prints figures, asserts nothing.
 */
#include "tp.h"

#define N_SMALL 200000
#define CHUNK 65536

static void decode_all(const proto_buf *b, size_t *n_msgs)
{
	proto_decoder *d;
	proto_event ev;

	REQUIRE(proto_decoder_new(NULL, &d, NULL) == 0);
	for (size_t pos = 0; pos < b->len; pos += CHUNK) {
		size_t n = b->len - pos < CHUNK ? b->len - pos : CHUNK;
		REQUIRE(proto_decoder_feed(d, b->data + pos, n) == 0);
		for (;;) {
			REQUIRE(proto_decoder_next(d, &ev) == 0);
			if (ev.kind == PROTO_EV_NONE)
				break;
			REQUIRE(ev.kind == PROTO_EV_MESSAGE);
			proto_msg_free(ev.msg);
			(*n_msgs)++;
		}
	}
	proto_decoder_free(d);
}

int main(void)
{
	proto_request r;
	proto_buf b;
	size_t n = 0, big = (size_t)8 << 20;
	char *text = malloc(big);
	double t0, t1, t2;

	REQUIRE(text != NULL);
	proto_buf_init(&b);
	proto_request_init(&r, PROTO_M_TRANSLATE);
	r.p.translate.text = proto_str_c("The quick brown fox jumps over the lazy dog, twice.");
	strcpy(r.p.translate.to, "de");
	t0 = pt_now();
	for (uint32_t i = 0; i < N_SMALL; i++)
		REQUIRE(proto_request_encode(&b, i, &r, NULL) == 0);
	t1 = pt_now();
	decode_all(&b, &n);
	t2 = pt_now();
	REQUIRE(n == N_SMALL);
	printf("small translate requests (%zu bytes each): encode %.0f/s, decode %.0f/s "
	       "(%.1f MB/s)\n", b.len / N_SMALL, N_SMALL / (t1 - t0), N_SMALL / (t2 - t1),
	       b.len / (t2 - t1) / 1e6);
	memset(text, 'a', big);
	proto_buf_reset(&b);
	r.p.translate.text.ptr = text;
	r.p.translate.text.len = big - 100;
	REQUIRE(proto_request_encode(&b, 1, &r, NULL) == 0);
	n = 0;
	t0 = pt_now();
	decode_all(&b, &n);
	t1 = pt_now();
	REQUIRE(n == 1);
	printf("one 8 MiB text in 64 KiB reads: decode %.1f ms (%.0f MB/s)\n",
	       (t1 - t0) * 1e3, b.len / (t1 - t0) / 1e6);
	proto_buf_done(&b);
	free(text);
	return 0;
}
