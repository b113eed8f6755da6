/*
 * job-store.h: the on-disk state of batch jobs (issue 5). Nothing here
 * knows libuv or the engine, so the unit tests drive it directly.
 *
 * Layout, under the jobs folder ($XDG_STATE_HOME/polytrans/jobs, or
 * <state_dir>/jobs), every folder 0700 and every file 0600:
 *
 *   <id>/manifest    what the job is: target, source, format and name of
 *                    each file, output folder, priority, created time,
 *                    state and last error. Text, one "key value" per line;
 *                    replaced atomically (temp file, fsync, rename, fsync
 *                    of the folder), never edited in place.
 *   <id>/in/<n>      the n-th input, copied in at submit: later edits of
 *                    the source do not matter.
 *   <id>/journal     finished segments, append-only. Each record carries
 *                    its length and a CRC-32, and is fsync'ed before the
 *                    segment counts as done, so a record torn by a crash
 *                    is recognised and dropped (and cut off) at the next
 *                    open.
 *   <id>/out/<n>     finished outputs of a job without an output folder.
 *   .new-<id>/       a job being created; renamed to <id> once its inputs
 *                    and manifest are on disk. Left-overs are removed when
 *                    the store is opened.
 *
 * Outputs to a folder are written to a hidden temporary file in that
 * folder, fsync'ed and renamed over the final name only when complete.
 *
 * Thread safety: a store may be used from several threads at once as long
 * as no two of them work on the same job; a journal is used by one thread
 * at a time.
 */
#ifndef PTD_JOB_STORE_H
#define PTD_JOB_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "pt.h"

/* Inputs larger than this are refused at submit (too_large). */
#define PTD_JOB_FILE_MAX ((size_t)256 << 20)

typedef struct ptd_jstore ptd_jstore;
typedef struct ptd_journal ptd_journal;

typedef struct ptd_jfile {
	char *name;                  /* output name: a base name */
	int format;                  /* PROTO_FMT_*, never AUTO once stored */
	char from[PROTO_LANG_SIZE];  /* source language, "auto" until known */
	uint64_t size;               /* bytes of in/<n> */
} ptd_jfile;

typedef struct ptd_jmanifest {
	char id[PROTO_JOBID_SIZE];
	char to[PROTO_LANG_SIZE];
	char from[PROTO_LANG_SIZE];  /* as asked: a code or "auto" */
	int32_t priority;
	uint64_t created;            /* Unix time */
	char *output;                /* absolute folder, NULL: kept in the job */
	int state;                   /* PROTO_JOB_*: queued, done, failed, cancelled */
	char *error;                 /* why it failed, NULL if it did not */
	uint64_t segments;           /* sentences in all, 0 until known */
	ptd_jfile *files;
	uint32_t n_files;
} ptd_jmanifest;

/* One input for ptd_jstore_create: bytes, or a path to copy. */
typedef struct ptd_jinput {
	const char *name;            /* base name (output name) */
	size_t name_len;
	const void *data;            /* content, or NULL and ... */
	size_t len;
	const char *path;            /* ... a NUL-terminated absolute path */
} ptd_jinput;

/* A journal record: segment `seg` of file `file` is finished. */
typedef struct ptd_jrec {
	uint32_t file, seg;
	uint32_t src_crc;            /* CRC-32 of the source segment's bytes */
	uint32_t flags;              /* PTD_JREC_* */
	const char *text;            /* the translation (not NUL-terminated) */
	uint32_t len;
} ptd_jrec;

enum { PTD_JREC_FLAGGED = 1 };  /* lost a placeholder even after a retry */

/* ---- The store ------------------------------------------------------------- */

/* The default jobs folder: <state_dir>/jobs when state_dir is set, else
 * $XDG_STATE_HOME/polytrans/jobs, else ~/.local/state/polytrans/jobs. */
int ptd_jstore_default_path(const char *state_dir, char *buf, size_t cap, pt_err *e);

/*
 * Opens (creating, mode 0700) the jobs folder `dir`, an absolute path. The
 * folders it creates are made one component at a time with mkdirat and
 * opened with O_NOFOLLOW, so a symlink planted in their place is refused;
 * the jobs folder itself must be owned by this user and not writable by
 * others. Removes left-overs of interrupted submissions.
 */
int ptd_jstore_open(const char *dir, ptd_jstore **out, pt_err *e);
void ptd_jstore_free(ptd_jstore *s);
const char *ptd_jstore_path(const ptd_jstore *s);

/* A new unguessable id: 22 characters of [A-Za-z0-9_-] (128 random bits). */
int ptd_jstore_new_id(char id[PROTO_JOBID_SIZE], pt_err *e);

/*
 * Creates job m->id (fills m->id when empty): copies the inputs in (a path
 * must name a regular file, at most PTD_JOB_FILE_MAX bytes), writes the
 * manifest (m->files must have one entry per input; their sizes are filled
 * in), and only then makes the job visible under its id. On failure
 * nothing is left behind.
 */
int ptd_jstore_create(ptd_jstore *s, ptd_jmanifest *m, const ptd_jinput *in, size_t n,
		      pt_err *e);

/* The ids of every job folder (sorted), newly allocated. */
int ptd_jstore_list(ptd_jstore *s, char ***ids, size_t *n, pt_err *e);
void ptd_jstore_list_free(char **ids, size_t n);

/* Replaces a job's manifest atomically. */
int ptd_jstore_manifest_write(ptd_jstore *s, const ptd_jmanifest *m, pt_err *e);
/* Reads and checks a job's manifest; errors name the job and line. */
int ptd_jstore_manifest_read(ptd_jstore *s, const char *id, ptd_jmanifest *m, pt_err *e);
/* The manifest as text (newly allocated) and back; exposed for the tests. */
int ptd_jmanifest_format(const ptd_jmanifest *m, char **out, size_t *len, pt_err *e);
int ptd_jmanifest_parse(const char *buf, size_t len, ptd_jmanifest *m, pt_err *e);
void ptd_jmanifest_done(ptd_jmanifest *m);

/* Reads input n of a job into a new buffer (NUL added, not counted). */
int ptd_jstore_input_read(ptd_jstore *s, const char *id, uint32_t n, char **buf,
			  size_t *len, pt_err *e);

/* Output n kept inside the job (no output folder): write atomically, read. */
int ptd_jstore_output_put(ptd_jstore *s, const char *id, uint32_t n, const void *data,
			  size_t len, pt_err *e);
int ptd_jstore_output_get(ptd_jstore *s, const char *id, uint32_t n, char **buf,
			  size_t *len, pt_err *e);

/* Removes a job folder and everything in it. */
int ptd_jstore_remove(ptd_jstore *s, const char *id, pt_err *e);

/*
 * Writes data to dir/name atomically: a temporary file in dir, fsync,
 * rename, fsync of dir. The file gets mode 0666 & ~umask. Errors carry the
 * errno name (ENOSPC, EROFS, EACCES) and the path, and map ENOSPC to
 * PT_ENOSPACE and EROFS/EACCES/EPERM to PT_EPERM.
 */
int ptd_file_write_atomic(const char *dir, const char *name, const void *data, size_t len,
			  int mode, pt_err *e);

/* ---- The journal -------------------------------------------------------- */

/* Called for each intact record at open; text is valid during the call.
 * A nonzero return stops the replay and fails the open with that code. */
typedef int (*ptd_journal_fn)(void *ud, const ptd_jrec *r);

/*
 * Opens (creating) a job's journal and replays its records in order. A
 * torn or corrupt tail (short header, short payload, bad CRC, absurd
 * length) ends the replay; it is cut off so that new records follow the
 * last intact one, and *dropped (if not NULL) gets its size in bytes.
 */
int ptd_journal_open(ptd_jstore *s, const char *id, ptd_journal_fn fn, void *ud,
		     ptd_journal **out, uint64_t *dropped, pt_err *e);
/* Same, on any path (for the tests). */
int ptd_journal_open_path(const char *path, ptd_journal_fn fn, void *ud,
			  ptd_journal **out, uint64_t *dropped, pt_err *e);
/*
 * Appends n records with one write and makes them durable (fdatasync)
 * before returning 0. On failure (ENOSPC, EIO) the journal is cut back to
 * its previous length where possible; the records do not count.
 */
int ptd_journal_append(ptd_journal *j, const ptd_jrec *r, size_t n, pt_err *e);
void ptd_journal_close(ptd_journal *j);

/* CRC-32 (IEEE 802.3, as zlib's crc32), continuing from crc (start at 0). */
uint32_t ptd_crc32(uint32_t crc, const void *data, size_t len);

#endif
