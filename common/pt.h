/*
 * pt.h: what every polytrans module shares: one table of error codes, an
 * error-message carrier, and one logging function whose output the program
 * decides (libraries never print).
 */
#ifndef PT_H
#define PT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __GNUC__
#define PT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define PT_PRINTF(a, b)
#endif

/*
 * Error codes: 0 is success, failures are negative. The order of this list
 * is the order of the table in pt.c; names are stable (they appear in logs
 * and, lowercased without the prefix, in protocol errors).
 */
enum {
	PT_OK = 0,
	PT_ENOMEM = -1,        /* out of memory */
	PT_EINVAL = -2,        /* invalid argument */
	PT_EIO = -3,           /* I/O error (errno in the message) */
	PT_EFORMAT = -4,       /* malformed file or message */
	PT_ETOOLARGE = -5,     /* over a size or count limit */
	PT_EUNSUPPORTED = -6,  /* valid but not supported (type, version) */
	PT_ECANCELLED = -7,    /* stopped by a cancel flag */
	PT_ENOTFOUND = -8,     /* no such key, tensor, job, file */
	PT_EUTF8 = -9,         /* invalid UTF-8 */
	PT_ECONTEXT = -10,     /* the model's context window is full */
	PT_EBUSY = -11,        /* a queue or slot is full */
	PT_ELANG = -12,        /* unsupported language */
	PT_EINTERNAL = -13,    /* a bug: an invariant did not hold */
	PT_ETIMEOUT = -14,     /* a deadline passed */
	PT_EPERM = -15,        /* permission denied */
	PT_ENOSPACE = -16,     /* disk full */
	PT_ERR_LAST_ = -17
};

/* Short lowercase name of a code ("format", "too_large"); never NULL. */
const char *pt_errname(int code);
/* One-line English description of a code; never NULL. */
const char *pt_strerror(int code);

/*
 * A failure report: the code and a message a person can act on. Functions
 * that can fail take a `pt_err *` (which may be NULL) and fill it on
 * failure only.
 */
#define PT_ERRMSG_MAX 512
typedef struct pt_err {
	int code;
	char msg[PT_ERRMSG_MAX];
} pt_err;

/* Fills *e (if not NULL) and returns code, so callers can
 * `return pt_err_set(e, PT_EFORMAT, "...", ...);`. */
int pt_err_set(pt_err *e, int code, const char *fmt, ...) PT_PRINTF(3, 4);
/* Prefixes the existing message in *e with "prefix: ". */
void pt_err_prefix(pt_err *e, const char *fmt, ...) PT_PRINTF(2, 3);
/* Clears *e. */
void pt_err_clear(pt_err *e);

/* Logging. Levels follow syslog's order so the journal maps them. */
enum { PT_LOG_ERROR = 3, PT_LOG_WARN = 4, PT_LOG_INFO = 6, PT_LOG_DEBUG = 7 };
typedef void (*pt_log_fn)(int level, const char *msg, void *ud);

/* Sets the process-wide log sink and the most verbose level passed to it.
 * With no sink set, messages are dropped. Not thread-safe against
 * concurrent pt_log calls: set it once at start-up. */
void pt_log_set(pt_log_fn fn, void *ud, int max_level);
/* Nonzero if a message of this level would be delivered (check it before
 * formatting something costly). */
int pt_log_enabled(int level);
void pt_log(int level, const char *fmt, ...) PT_PRINTF(2, 3);

/* Overflow-checked size arithmetic: return 0 on success, -1 on overflow. */
static inline int pt_mul_size(size_t a, size_t b, size_t *out)
{
	return __builtin_mul_overflow(a, b, out) ? -1 : 0;
}
static inline int pt_add_size(size_t a, size_t b, size_t *out)
{
	return __builtin_add_overflow(a, b, out) ? -1 : 0;
}

/*
 * The folder of the user's runtime files: $XDG_RUNTIME_DIR when it is set
 * (an absolute path), else /tmp/polytrans-UID, created mode 0700 if missing
 * and refused unless it is a real folder (not a symlink) owned by this user
 * with no access for others. Fills buf (NUL-terminated).
 */
int pt_runtime_dir(char *buf, size_t cap, pt_err *e);

/* Monotonic time in seconds. */
double pt_now(void);

/*
 * UTF-8 validation (strict: no overlongs, no surrogates, nothing above
 * U+10FFFF). Returns 0 if s[0..len) is valid, else PT_EUTF8 with *bad_off
 * (if not NULL) set to the offset of the first bad byte.
 */
int pt_utf8_check(const char *s, size_t len, size_t *bad_off);
/* Length in bytes of the UTF-8 sequence a lead byte starts (1..4), or 0
 * for a byte that cannot start a sequence. */
int pt_utf8_len(unsigned char lead);

#endif
