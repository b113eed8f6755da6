/*
 * proto-xcheck: the C side of the cross-check with Python's msgpack
 * (xcheck.py), so an independent implementation judges our bytes.
 *
 *   proto-xcheck encode                 every sample message, to stdout
 *   proto-xcheck decode [ID=METHOD...]  reads a stream on stdin; prints one
 *       line per event: "MESSAGE <hex of the message re-encoded from the
 *       typed structs>", "REPLY_ERROR <msgid> <code> <text>",
 *       "DROPPED <code> <text>", "FATAL <msgid|-> <code> <text>"; responses
 *       to ID are decoded as results of METHOD.
 */
#include <unistd.h>

#include "samples.h"
#include "tp.h"

#define MAX_MAP 256

static int cmd_encode(void)
{
	sample s[SAMPLES_MAX];
	size_t n;
	proto_buf b;
	pt_err e;

	proto_buf_init(&b);
	if (samples_build(&b, s, &n, &e) != 0) {
		fprintf(stderr, "proto-xcheck: %s\n", e.msg);
		return 1;
	}
	fwrite(b.data, 1, b.len, stdout);
	proto_buf_done(&b);
	return 0;
}

static void print_hex(const proto_buf *b)
{
	for (size_t i = 0; i < b->len; i++)
		printf("%02x", b->data[i]);
}

static int method_for(uint32_t id, int argc, char **argv)
{
	for (int i = 2; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		if (eq != NULL && strtoul(argv[i], NULL, 10) == id)
			return proto_method_parse(proto_str_c(eq + 1));
	}
	return PROTO_M_NONE;
}

static void print_message(proto_msg *m, int argc, char **argv)
{
	proto_buf b;
	pt_err e;
	int rc;

	proto_buf_init(&b);
	pt_err_clear(&e);
	if (m->kind == PROTO_REQUEST) {
		rc = proto_request_encode(&b, m->msgid, &m->req, &e);
	} else if (m->kind == PROTO_NOTIFY) {
		rc = proto_notify_encode(&b, &m->note, &e);
	} else {
		rc = 0;
		m->resp.method = method_for(m->msgid, argc, argv);
		if (m->resp.error.code == PROTO_ERR_NONE)
			rc = proto_response_decode(m, m->resp.method, &e);
		if (rc == 0)
			rc = proto_response_encode(&b, m->msgid, &m->resp, &e);
	}
	if (rc != 0) {
		printf("RESULT_ERROR %u %s\n", m->msgid, e.msg);
	} else {
		printf("MESSAGE ");
		print_hex(&b);
		printf("\n");
	}
	proto_buf_done(&b);
}

static int cmd_decode(int argc, char **argv)
{
	proto_decoder *d;
	proto_event ev;
	char buf[4096];
	ssize_t r;

	REQUIRE(proto_decoder_new(NULL, &d, NULL) == 0);
	while ((r = read(0, buf, sizeof buf)) > 0) {
		REQUIRE(proto_decoder_feed(d, buf, (size_t)r) == 0);
		for (;;) {
			REQUIRE(proto_decoder_next(d, &ev) == 0);
			if (ev.kind == PROTO_EV_NONE)
				break;
			if (ev.kind == PROTO_EV_MESSAGE) {
				print_message(ev.msg, argc, argv);
				proto_msg_free(ev.msg);
			} else if (ev.kind == PROTO_EV_REPLY_ERROR) {
				printf("REPLY_ERROR %u %s %s\n", ev.msgid,
				       proto_errcode_name(ev.code), ev.message);
			} else if (ev.kind == PROTO_EV_DROPPED) {
				printf("DROPPED %s %s\n", proto_errcode_name(ev.code), ev.message);
			} else {
				if (ev.has_msgid)
					printf("FATAL %u", ev.msgid);
				else
					printf("FATAL -");
				printf(" %s %s\n", proto_errcode_name(ev.code), ev.message);
				proto_decoder_free(d);
				return 0;
			}
		}
	}
	printf("END %zu\n", proto_decoder_pending(d));
	proto_decoder_free(d);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "encode") == 0)
		return cmd_encode();
	if (argc >= 2 && strcmp(argv[1], "decode") == 0)
		return cmd_decode(argc, argv);
	fprintf(stderr, "usage: proto-xcheck encode | decode [ID=METHOD...]\n");
	return 2;
}
