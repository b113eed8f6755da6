/* samples.h: one encoded message of every kind, for the proto tests. */
#ifndef SAMPLES_H
#define SAMPLES_H

#include "proto.h"

typedef struct sample {
	const char *label;   /* "req translate texts", "res status", ... */
	int kind;            /* proto_kind */
	uint32_t msgid;
	int method;          /* PROTO_M_* (requests, responses) or PROTO_N_* */
	size_t off, len;     /* where it is in the buffer */
} sample;

#define SAMPLES_MAX 64

/* Appends every sample message to b and describes them in out[]. */
int samples_build(proto_buf *b, sample *out, size_t *n, pt_err *e);

#endif
