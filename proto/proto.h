/*
 * proto.h: the polytrans wire protocol, msgpack-RPC over a byte stream.
 *
 *   request      [0, msgid, method, params]   params: [ {named arguments} ]
 *   response     [1, msgid, error, result]    error: nil or {code, message}
 *   notification [2, method, params]          params: [ {named fields} ]
 *
 * Messages follow each other with no length prefix. This module turns bytes
 * into typed messages and typed messages into bytes; it does no I/O, so a
 * libuv program uses it like this:
 *
 *   read_cb:  proto_decoder_feed(dec, buf, nread);
 *             while (proto_decoder_next(dec, &ev) == 0 && ev.kind) {
 *                 MESSAGE     -> handle ev.msg, later proto_msg_free(ev.msg)
 *                 REPLY_ERROR -> proto_event_reply(&out, &ev), uv_write it
 *                 DROPPED     -> log ev.message
 *                 FATAL       -> reply if ev.has_msgid, then close
 *             }
 *   replies:  proto_buf b; proto_buf_init(&b);
 *             proto_response_encode(&b, msgid, &resp, &err);
 *             uv_buf_t ub = uv_buf_init((char *)b.data, b.len); uv_write(...)
 *             free the data (proto_buf_release) in the write callback.
 *
 * Limits (message size, string length, element counts, nesting) are
 * checked on the raw bytes before anything is allocated for a message;
 * only a complete, bounded message is turned into objects.
 *
 * Strings in decoded messages are proto_str views into the message's own
 * copy of its bytes: not NUL-terminated, valid until proto_msg_free. Every
 * str field has been checked to be valid UTF-8.
 *
 * Thread safety: a decoder or a buffer is used by one thread at a time;
 * a decoded message may be handed to another thread and read there.
 * man/polytrans-protocol.7 is the reference for every method and field.
 */
#ifndef PROTO_H
#define PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pt.h"

#define PROTO_VERSION 1          /* api_info.protocol */
#define PROTO_LANG_SIZE 16       /* language code, NUL included */
#define PROTO_JOBID_SIZE 65      /* job id: 1..64 of [A-Za-z0-9_-], NUL included */
#define PROTO_NAME_MAX 255       /* bytes of a file name in job.submit */
#define PROTO_BEAMS_MAX 16
#define PROTO_MAX_TOKENS_MAX 65536
#define PROTO_TOP_MAX 18
#define PROTO_PRIORITY_MIN (-100)
#define PROTO_PRIORITY_MAX 100

/* ---- Byte buffers --------------------------------------------------- */

/* A growable output buffer. Encoders append to it. */
typedef struct proto_buf {
	uint8_t *data;
	size_t len, cap;
} proto_buf;

void proto_buf_init(proto_buf *b);
/* Frees the bytes; the buffer can be reused after proto_buf_init. */
void proto_buf_done(proto_buf *b);
/* Forgets the contents, keeps the memory. */
void proto_buf_reset(proto_buf *b);
/* Hands the bytes (malloc'd, free with free()) to the caller, e.g. to
 * free in a uv_write callback, and leaves the buffer empty. *len gets the
 * length; returns NULL for an empty buffer. */
uint8_t *proto_buf_release(proto_buf *b, size_t *len);

/* A string or byte view: not NUL-terminated. ptr == NULL means absent. */
typedef struct proto_str {
	const char *ptr;
	size_t len;
} proto_str;

/* A view of a NUL-terminated C string (NULL gives an absent string). */
proto_str proto_str_c(const char *s);
/* Nonzero if s holds exactly the C string c. */
int proto_str_eq(proto_str s, const char *c);

/* ---- Error codes ---------------------------------------------------- */

/* The error codes of error replies; on the wire as their names. */
typedef enum proto_errcode {
	PROTO_ERR_NONE = 0,
	PROTO_ERR_BAD_REQUEST,          /* "bad_request" */
	PROTO_ERR_UNKNOWN_METHOD,       /* "unknown_method" */
	PROTO_ERR_UNSUPPORTED_LANGUAGE, /* "unsupported_language" */
	PROTO_ERR_TOO_LARGE,            /* "too_large" */
	PROTO_ERR_BUSY,                 /* "busy" */
	PROTO_ERR_CANCELLED,            /* "cancelled" */
	PROTO_ERR_NOT_FOUND,            /* "not_found" */
	PROTO_ERR_TIMEOUT,              /* "timeout" */
	PROTO_ERR_SHUTTING_DOWN,        /* "shutting_down" */
	PROTO_ERR_INTERNAL,             /* "internal" */
	PROTO_ERR_OTHER,                /* a code this version does not know */
	PROTO_ERR_COUNT_
} proto_errcode;

/* Wire name of a code ("bad_request"); "internal" for out-of-range. */
const char *proto_errcode_name(int code);
/* Code of a wire name; PROTO_ERR_OTHER if unknown. */
int proto_errcode_parse(proto_str name);
/* The protocol code for a PT_E* failure (PT_ELANG -> unsupported_language,
 * PT_ETOOLARGE -> too_large, ..., anything else -> internal). */
int proto_errcode_from_pt(int pt_code);

/* ---- Limits --------------------------------------------------------- */

typedef struct proto_limits {
	size_t max_message;   /* bytes of one message (default 16 MiB) */
	size_t max_str;       /* bytes of one str/bin/ext (default 16 MiB) */
	uint32_t max_items;   /* elements of one array, entries of one map (65536) */
	uint32_t max_total;   /* elements and entries in one message (1 Mi) */
	uint32_t max_depth;   /* nested arrays/maps, the envelope counted (16, at most 32) */
} proto_limits;

void proto_limits_default(proto_limits *l);

/* ---- Enumerations --------------------------------------------------- */

typedef enum proto_method {
	PROTO_M_NONE = 0,
	PROTO_M_TRANSLATE, PROTO_M_DETECT, PROTO_M_LANGUAGES, PROTO_M_STATUS,
	PROTO_M_API_INFO, PROTO_M_CANCEL,
	PROTO_M_JOB_SUBMIT, PROTO_M_JOB_STATUS, PROTO_M_JOB_LIST,
	PROTO_M_JOB_CANCEL, PROTO_M_JOB_RESULT,
	PROTO_M_COUNT_
} proto_method;

typedef enum proto_notify_kind {
	PROTO_N_NONE = 0,
	PROTO_N_TRANSLATE_SEGMENT,  /* "translate.segment" */
	PROTO_N_JOB_PROGRESS,       /* "job.progress" */
	PROTO_N_COUNT_
} proto_notify_kind;

/* Wire names ("job.submit"); NULL for out-of-range values. */
const char *proto_method_name(int method);
const char *proto_notify_name(int kind);
/* Method of a wire name, or PROTO_M_NONE. */
int proto_method_parse(proto_str name);

typedef enum proto_format {
	PROTO_FMT_AUTO = 0, PROTO_FMT_TEXT, PROTO_FMT_MARKDOWN, PROTO_FMT_SRT,
	PROTO_FMT_PO, PROTO_FMT_HTML
} proto_format;

typedef enum proto_job_state {
	PROTO_JOB_QUEUED = 0, PROTO_JOB_RUNNING, PROTO_JOB_DONE,
	PROTO_JOB_FAILED, PROTO_JOB_CANCELLED
} proto_job_state;

const char *proto_format_name(int fmt);     /* "auto", "text", ... */
const char *proto_job_state_name(int st);   /* "queued", ... */

/* ---- Method parameters (requests) ----------------------------------- */

/* Language codes are NUL-terminated: 2-3 lowercase letters, optional
 * subtags ("zh", "pt-BR", "zh-Hant"), or "auto" where allowed. Whether a
 * language is supported is for the daemon to say, not for this module. */

typedef struct proto_translate_req {
	proto_str text;                /* one text, or ... */
	const proto_str *texts;        /* ... a list (non-NULL when present) */
	uint32_t n_texts;
	char to[PROTO_LANG_SIZE];      /* required */
	char from[PROTO_LANG_SIZE];    /* default "auto" */
	uint32_t beams;                /* 0: daemon default; else 1..16 */
	uint32_t max_tokens;           /* 0: daemon default; else 1..65536 */
	bool stream;                   /* send translate.segment notifications */
	int format;                    /* PROTO_FMT_TEXT only (AUTO = text) */
} proto_translate_req;

typedef struct proto_detect_req {
	proto_str text;                /* required */
	uint32_t top;                  /* candidates wanted, 1..18, default 3 */
} proto_detect_req;

typedef struct proto_cancel_req {
	uint32_t request;              /* msgid of a request on this connection */
} proto_cancel_req;

typedef struct proto_file {
	proto_str name;                /* base name: no '/', not "." or "..", <= 255 bytes */
	proto_str content;             /* bytes (bin or str on the wire; sent as bin) */
} proto_file;

typedef struct proto_job_submit_req {
	const proto_file *files;       /* inline files, or ... */
	uint32_t n_files;
	const proto_str *paths;        /* ... absolute paths the daemon reads */
	uint32_t n_paths;
	char to[PROTO_LANG_SIZE];      /* required */
	char from[PROTO_LANG_SIZE];    /* default "auto" */
	int format;                    /* proto_format, default AUTO (by extension) */
	proto_str output;              /* absolute folder for outputs, optional */
	int32_t priority;              /* -100..100, default 0, higher first */
	bool subscribe;                /* send job.progress to this connection */
} proto_job_submit_req;

typedef struct proto_job_req {         /* job.status, job.cancel, job.result */
	char job[PROTO_JOBID_SIZE];    /* required */
	bool subscribe;                /* job.status only: follow job.progress */
} proto_job_req;

typedef struct proto_request {
	int method;                    /* proto_method */
	union {
		proto_translate_req translate;
		proto_detect_req detect;
		proto_cancel_req cancel;
		proto_job_submit_req job_submit;
		proto_job_req job;     /* job.status, job.cancel, job.result */
	} p;                           /* languages, status, api_info, job.list: none */
} proto_request;

/* ---- Results (responses) -------------------------------------------- */

typedef struct proto_translate_res {
	proto_str text;                /* for a `text` request, or ... */
	const proto_str *texts;        /* ... for a `texts` request */
	uint32_t n_texts;
	char from[PROTO_LANG_SIZE];    /* the source language (detected if auto) */
	char to[PROTO_LANG_SIZE];
	const proto_str *warnings;     /* optional */
	uint32_t n_warnings;
	uint64_t tokens;               /* tokens generated */
	uint64_t ms;                   /* wall time of the request */
} proto_translate_res;

typedef struct proto_candidate {
	char language[PROTO_LANG_SIZE];
	double confidence;             /* 0..1 */
} proto_candidate;

typedef struct proto_detect_res {
	char language[PROTO_LANG_SIZE]; /* "und" when nothing is likely */
	double confidence;
	const proto_candidate *candidates;
	uint32_t n_candidates;
} proto_detect_res;

typedef struct proto_language {
	char code[PROTO_LANG_SIZE];
	proto_str name;                /* English name */
	proto_str native;              /* name in the language itself */
	proto_str script;              /* ISO 15924 ("Latn", "Hans") */
} proto_language;

typedef struct proto_languages_res {
	const proto_language *languages;
	uint32_t n_languages;
} proto_languages_res;

typedef struct proto_model_info {
	proto_str path, name;
	proto_str kind;                /* "base", "multialpaca", "chat" */
	bool bundled;
	proto_str type;                /* weight type: "q8_0", "bf16", ... */
	uint64_t params;
	uint32_t context;              /* n_ctx, optional (0: unknown) */
} proto_model_info;

typedef struct proto_counters {
	uint64_t requests, errors, tokens;
} proto_counters;

typedef struct proto_status_res {
	proto_str version;
	proto_model_info model;
	double uptime_s;
	uint32_t queue, in_flight, clients;
	proto_counters counters;
	double tokens_per_s;
	uint64_t rss_bytes;
	uint32_t jobs;                 /* unfinished jobs, optional */
} proto_status_res;

typedef struct proto_api_info_res {
	uint32_t protocol;             /* PROTO_VERSION */
	proto_str version;             /* polytrans version */
	const proto_str *methods;
	uint32_t n_methods;
} proto_api_info_res;

typedef struct proto_cancelled_res {   /* cancel, job.cancel */
	bool cancelled;
} proto_cancelled_res;

typedef struct proto_job_submit_res {
	char job[PROTO_JOBID_SIZE];
} proto_job_submit_res;

typedef struct proto_job_error {
	proto_str file, message;
} proto_job_error;

/* job.status result, an element of job.list, and job.progress. */
typedef struct proto_job_info {
	char job[PROTO_JOBID_SIZE];
	int state;                     /* proto_job_state */
	char to[PROTO_LANG_SIZE];
	uint32_t files;
	uint64_t done, total;          /* segments */
	double percent;                /* 0..100 */
	bool has_eta;                  /* eta_s is nil when unknown */
	double eta_s;
	uint64_t created;              /* Unix time, seconds */
	const proto_job_error *errors; /* optional */
	uint32_t n_errors;
} proto_job_info;

typedef struct proto_job_list_res {
	const proto_job_info *jobs;
	uint32_t n_jobs;
} proto_job_list_res;

typedef struct proto_job_output {
	proto_str name;
	proto_str path;                /* where it was written, or ... */
	proto_str content;             /* ... the bytes (no output folder) */
} proto_job_output;

typedef struct proto_job_report {
	uint64_t segments, flagged;    /* flagged: placeholders lost after retry */
	const proto_str *messages;
	uint32_t n_messages;
} proto_job_report;

typedef struct proto_job_result_res {
	char job[PROTO_JOBID_SIZE];
	int state;
	const proto_job_output *outputs;
	uint32_t n_outputs;
	proto_job_report report;
} proto_job_result_res;

typedef struct proto_error {
	int code;                      /* PROTO_ERR_*, NONE for success */
	proto_str name;                /* decoded: the wire code (for ERR_OTHER) */
	proto_str message;
} proto_error;

typedef struct proto_response {
	proto_error error;             /* code != NONE: an error reply, no result */
	int method;                    /* which result the union holds */
	union {
		proto_translate_res translate;
		proto_detect_res detect;
		proto_languages_res languages;
		proto_status_res status;
		proto_api_info_res api_info;
		proto_cancelled_res cancel;      /* cancel, job.cancel */
		proto_job_submit_res job_submit;
		proto_job_info job_status;
		proto_job_list_res job_list;
		proto_job_result_res job_result;
	} r;
} proto_response;

/* ---- Notifications -------------------------------------------------- */

typedef struct proto_segment_note {
	uint32_t request;              /* msgid of the translate request */
	uint32_t item;                 /* index into texts (0 for text) */
	uint32_t index;                /* segment number within the item, from 0 */
	proto_str text;                /* translated segment with its original spacing */
} proto_segment_note;

typedef struct proto_notify {
	int kind;                      /* proto_notify_kind */
	union {
		proto_segment_note segment;
		proto_job_info progress;
	} n;
} proto_notify;

/* ---- Messages ------------------------------------------------------- */

typedef enum proto_kind {
	PROTO_REQUEST = 0, PROTO_RESPONSE = 1, PROTO_NOTIFY = 2
} proto_kind;

struct proto_msg_impl;

/* A decoded message. Requests and notifications are decoded and validated
 * completely; a response carries its error, and its result is decoded by
 * proto_response_decode once the caller knows which method it answers. */
typedef struct proto_msg {
	int kind;                      /* proto_kind */
	uint32_t msgid;                /* request, response */
	proto_request req;             /* kind == PROTO_REQUEST */
	proto_response resp;           /* kind == PROTO_RESPONSE */
	proto_notify note;             /* kind == PROTO_NOTIFY */
	size_t size;                   /* bytes on the wire */
	struct proto_msg_impl *impl;
} proto_msg;

void proto_msg_free(proto_msg *m);

/*
 * Decodes the result of a success response as the result of `method`
 * (PROTO_M_*), into m->resp.r, and sets m->resp.method. Unknown fields are
 * ignored, so newer daemons can add fields; missing required fields and
 * wrong types fail with PT_EFORMAT and a message naming the field. For an
 * error response, returns PT_EINVAL. Allocations live in the message.
 */
int proto_response_decode(proto_msg *m, int method, pt_err *e);

/* ---- Streaming decoder ---------------------------------------------- */

typedef enum proto_event_kind {
	PROTO_EV_NONE = 0,      /* no complete message yet: feed more bytes */
	PROTO_EV_MESSAGE,       /* ev.msg: a valid message, now owned by the caller */
	PROTO_EV_REPLY_ERROR,   /* an invalid request: send an error reply to ev.msgid */
	PROTO_EV_DROPPED,       /* a complete message that cannot be answered
				   (an invalid notification or response): log it */
	PROTO_EV_FATAL          /* the stream cannot be parsed further: close the
				   connection (after replying if ev.has_msgid) */
} proto_event_kind;

typedef struct proto_event {
	int kind;                      /* proto_event_kind */
	proto_msg *msg;                /* PROTO_EV_MESSAGE */
	bool has_msgid;                /* REPLY_ERROR: always; FATAL: if it was read */
	uint32_t msgid;
	int code;                      /* PROTO_ERR_* for errors */
	char message[PT_ERRMSG_MAX];   /* for a person: what was wrong, where */
} proto_event;

typedef struct proto_decoder proto_decoder;

/* Creates a decoder with limits *l (NULL: defaults). Limits out of range
 * are clamped (max_depth to 3..32). Returns PT_ENOMEM on failure. */
int proto_decoder_new(const proto_limits *l, proto_decoder **out, pt_err *e);
void proto_decoder_free(proto_decoder *d);

/*
 * Appends bytes received (any split: one byte at a time works). The
 * decoder keeps only the bytes not yet returned as messages; the caller
 * bounds memory by feeding reads of bounded size and draining events with
 * proto_decoder_next after each feed. Returns PT_ENOMEM, or PT_EINVAL
 * after a fatal event (the stream is dead).
 */
int proto_decoder_feed(proto_decoder *d, const void *data, size_t len);

/*
 * Zero-copy variant for uv_alloc_cb / uv_read_cb: get space for up to
 * `want` bytes at the end of the buffer (*buf, *len >= 1 on success), read
 * into it, then commit what was read.
 */
int proto_decoder_reserve(proto_decoder *d, size_t want, void **buf, size_t *len);
void proto_decoder_commit(proto_decoder *d, size_t n);

/*
 * Pops the next event. Returns 0 with ev->kind == PROTO_EV_NONE when more
 * bytes are needed, 0 with another kind otherwise, or PT_ENOMEM (treat as
 * fatal). After PROTO_EV_FATAL every later call returns FATAL again.
 */
int proto_decoder_next(proto_decoder *d, proto_event *ev);

/* Bytes buffered and not yet returned as a message. */
size_t proto_decoder_pending(const proto_decoder *d);

/* ---- Encoding ------------------------------------------------------- */

/*
 * Encoders append one complete message to b. They check what they write
 * (required fields present, ranges, enums, UTF-8 of strings) and fail with
 * PT_EINVAL and a message naming the field, or PT_ENOMEM; on failure b is
 * left as it was.
 */
int proto_request_encode(proto_buf *b, uint32_t msgid, const proto_request *r, pt_err *e);
/* r->error.code != NONE: an error reply (message optional); else the
 * result r->r of method r->method. */
int proto_response_encode(proto_buf *b, uint32_t msgid, const proto_response *r, pt_err *e);
int proto_error_encode(proto_buf *b, uint32_t msgid, int code, const char *message, pt_err *e);
int proto_notify_encode(proto_buf *b, const proto_notify *n, pt_err *e);
/* The error reply for a REPLY_ERROR (or FATAL with has_msgid) event. */
int proto_event_reply(proto_buf *b, const proto_event *ev, pt_err *e);

/* Fills a request/response/notification with the defaults of its method
 * (from "auto", top 3, ...), everything else zero. */
void proto_request_init(proto_request *r, int method);
void proto_response_init(proto_response *r, int method);
void proto_notify_init(proto_notify *n, int kind);

#endif
