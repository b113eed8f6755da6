/*
 * job-store-impl.h: helpers shared by job-store.c, job-manifest.c and
 * job-journal.c. Not for other parts of the daemon.
 */
#ifndef PTD_JOB_STORE_IMPL_H
#define PTD_JOB_STORE_IMPL_H

#include <stddef.h>

#include "job-store.h"

struct ptd_jstore {
	char *path;                  /* the jobs folder */
	int fd;                      /* open on it (O_DIRECTORY) */
};

/* Fills e from errno for an operation on `what` (a path): the code is
 * PT_ENOSPACE for ENOSPC/EDQUOT, PT_EPERM for EROFS/EACCES/EPERM, else
 * PT_EIO; the message names the errno ("ENOSPC") so people and tests can
 * tell a full disk from a read-only one. Returns the code. */
int ptd__jerr(pt_err *e, int err, const char *op, const char *what);

/* Nonzero if id is 1..64 of [A-Za-z0-9_-]. */
int ptd__jid_ok(const char *id);

/* Opens job folder `id` under the store (O_DIRECTORY, no symlink). */
int ptd__jdir_open(ptd_jstore *s, const char *id, int *fd, pt_err *e);

/* Writes data to dirfd/name through a temporary file in the same folder,
 * fsync, rename and fsync of the folder. `what` names the target in
 * errors. */
int ptd__write_atomic_at(int dirfd, const char *name, const void *data, size_t len,
			 int mode, const char *what, pt_err *e);

/* Writes all of data at the current offset, retrying short writes. */
int ptd__write_all(int fd, const void *data, size_t len);

/* Reads all of fd (at most max bytes, else PT_ETOOLARGE) into a new
 * NUL-terminated buffer. */
int ptd__read_all(int fd, size_t max, char **buf, size_t *len, const char *what,
		  pt_err *e);

#endif
