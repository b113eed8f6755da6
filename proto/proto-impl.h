/*
 * proto-impl.h: what the files of proto/ share and nobody else sees: the
 * raw-byte scanner, the field tables that describe every message body, and
 * the msgpack-c glue.
 */
#ifndef PROTO_IMPL_H
#define PROTO_IMPL_H

#include <msgpack.h>

#include "proto.h"

/* ---- Scanner (scan.c) ----------------------------------------------- */

#define PROTO_DEPTH_HARD_MAX 32   /* msgpack-c's unpacker stack */

/* Resumable walk over the bytes of one message: checks every length and
 * count against the limits before the bytes arrive, finds the end. */
typedef struct proto_scan {
	size_t pos;                       /* bytes of the message accepted */
	uint32_t depth;                   /* open containers */
	uint64_t left[PROTO_DEPTH_HARD_MAX]; /* items still to read per level */
	uint64_t total;                   /* elements and entries so far */
	uint32_t top_index;               /* next element of the envelope */
	int top_type;                     /* envelope element 0, or -1 */
	bool has_msgid;
	uint32_t msgid;
	int over_code;                    /* a limit broken, message still framed */
	char over_msg[160];
} proto_scan;

enum { PROTO_SCAN_MORE = 0, PROTO_SCAN_DONE = 1, PROTO_SCAN_FATAL = 2 };

void proto__scan_reset(proto_scan *s);
/* Advances over data[s->pos..len). Returns MORE, DONE (the message is
 * data[0..s->pos)) or FATAL (message in *msg). */
int proto__scan(proto_scan *s, const proto_limits *l, const uint8_t *data,
		size_t len, char *msg, size_t msgsz);

/* ---- Field tables (schema.c) ---------------------------------------- */

enum proto_fkind {
	F_STR,     /* proto_str, UTF-8 checked */
	F_BLOB,    /* proto_str from bin or str, sent as bin */
	F_LANG,    /* char[PROTO_LANG_SIZE] */
	F_JOBID,   /* char[PROTO_JOBID_SIZE] */
	F_U32, F_U64, F_I32,
	F_F64,     /* double; with has_off: nil allowed (has == false) */
	F_BOOL,
	F_ENUM,    /* int, names in `names` */
	F_STRS,    /* const proto_str * + uint32_t count */
	F_OBJ,     /* embedded struct of schema `sub` */
	F_OBJS     /* const struct * + uint32_t count */
};

enum {
	FF_REQ = 1,       /* required */
	FF_AUTO = 2,      /* F_LANG: "auto" allowed */
	FF_BASENAME = 4,  /* F_STR: a file base name */
	FF_ABSPATH = 8    /* F_STR: an absolute path */
};

struct proto_schema;

typedef struct proto_field {
	const char *name;
	uint8_t kind, flags;
	uint16_t off;           /* value offset in the struct */
	uint16_t aux_off;       /* count (F_STRS/F_OBJS) or has flag (F_F64) */
	int64_t min, max;       /* integer and float ranges, string byte limit */
	int64_t def;            /* default of optional integers/enums */
	const char *sdef;       /* default of an optional F_LANG */
	const char *const *names;         /* F_ENUM */
	const struct proto_schema *sub;   /* F_OBJ, F_OBJS */
} proto_field;

typedef struct proto_schema {
	const char *name;
	size_t size;
	const proto_field *fields;
	size_t n_fields;
	/* Rules across fields (one of text/texts ...); NULL if none. */
	int (*check)(const void *obj, pt_err *e);
} proto_schema;

/* Sets the defaults of every field. */
void proto__schema_init(const proto_schema *s, void *obj);
/* Decodes map `o` into obj. strict: unknown keys are refused. Allocates
 * arrays from zone z. Fails with PT_EFORMAT / PT_ETOOLARGE / PT_EUTF8 /
 * PT_ENOMEM and a message naming the field. */
int proto__schema_decode(const proto_schema *s, const msgpack_object *o,
			 bool strict, msgpack_zone *z, void *obj, pt_err *e);
/* Packs obj as a map; checks it like the decoder would. */
int proto__schema_encode(const proto_schema *s, const void *obj,
			 msgpack_packer *pk, pt_err *e);

/* ---- Method tables (methods.c) -------------------------------------- */

const proto_schema *proto__req_schema(int method);
const proto_schema *proto__res_schema(int method);
const proto_schema *proto__note_schema(int kind);
void *proto__req_body(proto_request *r);
void *proto__res_body(proto_response *r);
void *proto__note_body(proto_notify *n);
int proto__notify_parse(proto_str name);

/* ---- Buffers (buf.c) ------------------------------------------------ */

/* A packer appending to b; remember b->len to roll back on failure. */
void proto__packer_init(msgpack_packer *pk, proto_buf *b);

struct proto_msg_impl {
	uint8_t *bytes;          /* the message as received */
	msgpack_zone zone;       /* its objects and decoded arrays */
	msgpack_object root;
};

#endif
