/*
 * job-store.c: the jobs folder, job folders, inputs and outputs
 * (job-store.h). Everything below the jobs folder is reached with *at()
 * calls from a descriptor opened with O_NOFOLLOW, so a symlink swapped in
 * for a job folder is refused instead of followed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "job-store-impl.h"

#define PTD__DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
/* Job folders are at most this deep (id/in/n): removal stops below. */
#define PTD__RM_DEPTH 4

/* ---- Errors and small helpers ------------------------------------------------- */

static const char *ptd__errno_name(int err)
{
	switch (err) {
	case ENOSPC: return "ENOSPC";
	case EDQUOT: return "EDQUOT";
	case EROFS: return "EROFS";
	case EACCES: return "EACCES";
	case EPERM: return "EPERM";
	case EIO: return "EIO";
	case ENOENT: return "ENOENT";
	case ENOTDIR: return "ENOTDIR";
	case ELOOP: return "ELOOP";
	case EEXIST: return "EEXIST";
	case EISDIR: return "EISDIR";
	case EMFILE: return "EMFILE";
	case ENAMETOOLONG: return "ENAMETOOLONG";
	default: return "errno";
	}
}

int ptd__jerr(pt_err *e, int err, const char *op, const char *what)
{
	int code = PT_EIO;

	if (err == ENOSPC || err == EDQUOT)
		code = PT_ENOSPACE;
	else if (err == EROFS || err == EACCES || err == EPERM)
		code = PT_EPERM;
	else if (err == ENOENT)
		code = PT_ENOTFOUND;
	else if (err == ENOMEM)
		code = PT_ENOMEM;
	return pt_err_set(e, code, "%s: %s: %s (%s %d)", what, op, strerror(err),
			  ptd__errno_name(err), err);
}

int ptd__jid_ok(const char *id)
{
	size_t n = 0;

	for (; id[n] != '\0'; n++) {
		unsigned char ch = (unsigned char)id[n];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
			return 0;
	}
	return n >= 1 && n < PROTO_JOBID_SIZE;
}

int ptd__write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t k = write(fd, p, len);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (k == 0) {
			errno = EIO;
			return -1;
		}
		p += k;
		len -= (size_t)k;
	}
	return 0;
}

int ptd__read_all(int fd, size_t max, char **buf, size_t *len, const char *what, pt_err *e)
{
	size_t n = 0, cap = 0;
	char *b = NULL;

	for (;;) {
		ssize_t k;
		if (cap - n < 2) {
			size_t nc = cap ? cap * 2 : 65536;
			char *nb;
			if (nc > max + 2)
				nc = max + 2;
			if (nc <= cap) {
				free(b);
				return pt_err_set(e, PT_ETOOLARGE, "%s: over %zu bytes", what, max);
			}
			if ((nb = realloc(b, nc)) == NULL) {
				free(b);
				return pt_err_set(e, PT_ENOMEM, "%s: out of memory", what);
			}
			b = nb;
			cap = nc;
		}
		k = read(fd, b + n, cap - n - 1);
		if (k < 0) {
			int err = errno;
			if (err == EINTR)
				continue;
			free(b);
			return ptd__jerr(e, err, "read", what);
		}
		if (k == 0)
			break;
		n += (size_t)k;
		if (n > max) {
			free(b);
			return pt_err_set(e, PT_ETOOLARGE, "%s: over %zu bytes", what, max);
		}
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}

static int ptd__fsync_fd(int fd, const char *what, pt_err *e)
{
	if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
		return ptd__jerr(e, errno, "fsync", what);
	return 0;
}

int ptd__write_atomic_at(int dirfd, const char *name, const void *data, size_t len, int mode,
			 const char *what, pt_err *e)
{
	char tmp[64];
	uint64_t rnd = 0;
	int fd, err;

	if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		rnd = (uint64_t)getpid() * 2654435761u ^ (uint64_t)(pt_now() * 1e9);
	snprintf(tmp, sizeof tmp, ".polytrans-%016llx.tmp", (unsigned long long)rnd);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return ptd__jerr(e, errno, "cannot create a temporary file", what);
	/* openat applies the umask; an explicit mode (0600 for job files)
	 * must hold whatever it is. */
	if ((mode & 0077) == 0)
		(void)fchmod(fd, (mode_t)mode);
	if (ptd__write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		err = errno;
		close(fd);
		unlinkat(dirfd, tmp, 0);
		return ptd__jerr(e, err, "write", what);
	}
	if (close(fd) != 0) {
		err = errno;
		unlinkat(dirfd, tmp, 0);
		return ptd__jerr(e, err, "close", what);
	}
	if (renameat(dirfd, tmp, dirfd, name) != 0) {
		err = errno;
		unlinkat(dirfd, tmp, 0);
		return ptd__jerr(e, err, "rename", what);
	}
	return ptd__fsync_fd(dirfd, what, e);
}

int ptd_file_write_atomic(const char *dir, const char *name, const void *data, size_t len,
			  int mode, pt_err *e)
{
	char what[4200];
	int dfd, rc;

	snprintf(what, sizeof what, "%s/%s", dir, name);
	if (strchr(name, '/') != NULL || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
	    name[0] == '\0')
		return pt_err_set(e, PT_EINVAL, "%s: not a plain file name", what);
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return ptd__jerr(e, errno, "cannot open the output folder", dir);
	rc = ptd__write_atomic_at(dfd, name, data, len, mode, what, e);
	close(dfd);
	return rc;
}

/* ---- Removal ---------------------------------------------------------------- */

static int ptd__rm_at(int dirfd, const char *name, int depth)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	int fd, rc = 0;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dirfd, name, 0);
	if (depth >= PTD__RM_DEPTH) {
		errno = ENOTEMPTY;
		return -1;
	}
	/* Without a descriptor to list it (EMFILE), an empty folder, such as
	 * a submission refused for that very reason, can still go. */
	if ((fd = openat(dirfd, name, PTD__DIR_FLAGS)) < 0)
		return unlinkat(dirfd, name, AT_REMOVEDIR);
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (ptd__rm_at(fd, de->d_name, depth + 1) != 0)
			rc = -1;
	}
	closedir(d);
	if (rc == 0)
		rc = unlinkat(dirfd, name, AT_REMOVEDIR);
	return rc;
}

int ptd_jstore_remove(ptd_jstore *s, const char *id, pt_err *e)
{
	char what[600];

	if (!ptd__jid_ok(id))
		return pt_err_set(e, PT_EINVAL, "bad job id");
	snprintf(what, sizeof what, "%s/%s", s->path, id);
	if (ptd__rm_at(s->fd, id, 0) != 0)
		return ptd__jerr(e, errno, "cannot remove", what);
	return ptd__fsync_fd(s->fd, s->path, e);
}

/* ---- Opening the store ------------------------------------------------------- */

int ptd_jstore_default_path(const char *state_dir, char *buf, size_t cap, pt_err *e)
{
	const char *x = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	int n;

	if (state_dir != NULL && state_dir[0] != '\0')
		n = snprintf(buf, cap, "%s/jobs", state_dir);
	else if (x != NULL && x[0] == '/')
		n = snprintf(buf, cap, "%s/polytrans/jobs", x);
	else if (home != NULL && home[0] == '/')
		n = snprintf(buf, cap, "%s/.local/state/polytrans/jobs", home);
	else
		return pt_err_set(e, PT_EINVAL, "no folder for jobs: set XDG_STATE_HOME or HOME, "
				  "or state_dir in the config");
	if (n < 0 || (size_t)n >= cap)
		return pt_err_set(e, PT_ETOOLARGE, "the jobs folder path is too long");
	return 0;
}

/* Walks an absolute path from /, creating the missing components with
 * mode 0700; components created here are opened without following
 * symlinks. Returns an O_DIRECTORY descriptor of the last one. */
static int ptd__mkpath(const char *path, int *out, pt_err *e)
{
	char *copy = strdup(path), *save = NULL, *comp;
	int fd = open("/", PTD__DIR_FLAGS), nfd;

	if (copy == NULL || fd < 0) {
		free(copy);
		if (fd >= 0)
			close(fd);
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	}
	for (comp = strtok_r(copy, "/", &save); comp != NULL; comp = strtok_r(NULL, "/", &save)) {
		int created = 0;
		if (strcmp(comp, "..") == 0) {
			close(fd);
			free(copy);
			return pt_err_set(e, PT_EINVAL, "%s: '..' is not allowed in the jobs folder",
					  path);
		}
		if (mkdirat(fd, comp, 0700) == 0)
			created = 1;
		else if (errno != EEXIST) {
			int err = errno;
			close(fd);
			free(copy);
			return ptd__jerr(e, err, "cannot create", path);
		}
		/* Folders that were there may be symlinks the user made; the
		 * ones created here must not have been swapped for one. */
		nfd = openat(fd, comp, created ? PTD__DIR_FLAGS
				      : (O_RDONLY | O_DIRECTORY | O_CLOEXEC));
		if (nfd < 0) {
			int err = errno;
			close(fd);
			free(copy);
			return ptd__jerr(e, err, err == ELOOP ? "a symlink was put in place of a "
					 "folder being created" : "cannot open", path);
		}
		close(fd);
		fd = nfd;
	}
	free(copy);
	*out = fd;
	return 0;
}

/* Removes left-overs of submissions interrupted by a crash. */
static void ptd__sweep(ptd_jstore *s)
{
	int fd = dup(s->fd);
	DIR *d;
	struct dirent *de;

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, ".new-", 5) != 0 &&
		    strncmp(de->d_name, ".polytrans-", 11) != 0)
			continue;
		if (ptd__rm_at(s->fd, de->d_name, 0) != 0)
			pt_log(PT_LOG_WARN, "%s/%s: cannot remove a left-over: %s", s->path,
			       de->d_name, strerror(errno));
		else
			pt_log(PT_LOG_INFO, "%s/%s: removed an interrupted submission", s->path,
			       de->d_name);
	}
	closedir(d);
}

int ptd_jstore_open(const char *dir, ptd_jstore **out, pt_err *e)
{
	ptd_jstore *s;
	struct stat st;
	int fd = -1, rc;

	if (dir == NULL || dir[0] != '/')
		return pt_err_set(e, PT_EINVAL, "the jobs folder must be an absolute path");
	if ((rc = ptd__mkpath(dir, &fd, e)) != 0)
		return rc;
	if (fstat(fd, &st) != 0) {
		rc = ptd__jerr(e, errno, "stat", dir);
		close(fd);
		return rc;
	}
	if (st.st_uid != geteuid()) {
		close(fd);
		return pt_err_set(e, PT_EPERM, "%s: owned by uid %ld, not by this user (uid %ld); "
				  "refusing to keep jobs there", dir, (long)st.st_uid,
				  (long)geteuid());
	}
	if ((st.st_mode & 022) != 0) {
		close(fd);
		return pt_err_set(e, PT_EPERM, "%s: writable by others (mode %03o); run "
				  "chmod 700 on it", dir, (unsigned)(st.st_mode & 0777));
	}
	if ((s = calloc(1, sizeof *s)) == NULL || (s->path = strdup(dir)) == NULL) {
		free(s);
		close(fd);
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	}
	s->fd = fd;
	ptd__sweep(s);
	*out = s;
	return 0;
}

void ptd_jstore_free(ptd_jstore *s)
{
	if (s == NULL)
		return;
	close(s->fd);
	free(s->path);
	free(s);
}

const char *ptd_jstore_path(const ptd_jstore *s)
{
	return s->path;
}

int ptd_jstore_new_id(char id[PROTO_JOBID_SIZE], pt_err *e)
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char r[22];
	size_t got = 0;

	while (got < sizeof r) {
		ssize_t k = getrandom(r + got, sizeof r - got, 0);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return ptd__jerr(e, errno, "getrandom", "job id");
		}
		got += (size_t)k;
	}
	/* 22 characters of 6 bits: 132 random bits. */
	for (size_t i = 0; i < sizeof r; i++)
		id[i] = abc[r[i] & 63];
	id[sizeof r] = '\0';
	return 0;
}

int ptd__jdir_open(ptd_jstore *s, const char *id, int *fd, pt_err *e)
{
	char what[600];

	if (!ptd__jid_ok(id))
		return pt_err_set(e, PT_EINVAL, "bad job id");
	if ((*fd = openat(s->fd, id, PTD__DIR_FLAGS)) < 0) {
		snprintf(what, sizeof what, "%s/%s", s->path, id);
		return ptd__jerr(e, errno, "cannot open the job folder", what);
	}
	return 0;
}

/* ---- Listing ------------------------------------------------------------------ */

static int ptd__cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void ptd_jstore_list_free(char **ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

int ptd_jstore_list(ptd_jstore *s, char ***ids, size_t *n, pt_err *e)
{
	int fd = openat(s->fd, ".", PTD__DIR_FLAGS);
	char **v = NULL;
	size_t k = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		int err = errno;
		if (fd >= 0)
			close(fd);
		return ptd__jerr(e, err, "cannot list", s->path);
	}
	while ((de = readdir(d)) != NULL) {
		if (!ptd__jid_ok(de->d_name))
			continue; /* ".", "..", ".new-*" and strangers */
		if (k == cap) {
			size_t nc = cap ? cap * 2 : 16;
			char **nv = realloc(v, nc * sizeof *v);
			if (nv == NULL)
				goto nomem;
			v = nv;
			cap = nc;
		}
		if ((v[k] = strdup(de->d_name)) == NULL)
			goto nomem;
		k++;
	}
	closedir(d);
	if (k > 1)
		qsort(v, k, sizeof *v, ptd__cmp_str);
	*ids = v;
	*n = k;
	return 0;
nomem:
	closedir(d);
	ptd_jstore_list_free(v, k);
	return pt_err_set(e, PT_ENOMEM, "out of memory");
}

/* ---- Creating a job ----------------------------------------------------------- */

/* Copies the regular file at path into dirfd/name; returns its size. */
static int ptd__copy_in(const char *path, int dirfd, const char *name, uint64_t *size,
			pt_err *e)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd, rc;

	if (path[0] != '/')
		return pt_err_set(e, PT_EINVAL, "%s: not an absolute path", path);
	/* O_NONBLOCK: opening a FIFO must not hang the daemon; it is then
	 * refused as not a regular file. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)) < 0)
		return ptd__jerr(e, errno, "cannot open", path);
	if (fstat(fd, &st) != 0) {
		rc = ptd__jerr(e, errno, "stat", path);
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return pt_err_set(e, PT_EINVAL, "%s: not a regular file", path);
	}
	if ((uint64_t)st.st_size > PTD_JOB_FILE_MAX) {
		close(fd);
		return pt_err_set(e, PT_ETOOLARGE, "%s: %lld bytes, over the limit of %zu MiB "
				  "per file", path, (long long)st.st_size, PTD_JOB_FILE_MAX >> 20);
	}
	rc = ptd__read_all(fd, PTD_JOB_FILE_MAX, &buf, &len, path, e);
	close(fd);
	if (rc != 0)
		return rc;
	rc = ptd__write_atomic_at(dirfd, name, buf, len, 0600, path, e);
	free(buf);
	if (rc == 0)
		*size = len;
	return rc;
}

static int ptd__create_in(ptd_jstore *s, int jd, ptd_jmanifest *m, const ptd_jinput *in,
			  size_t n, const char *what, pt_err *e)
{
	char name[32];
	int ind, rc = 0;

	if (mkdirat(jd, "in", 0700) != 0 || mkdirat(jd, "out", 0700) != 0)
		return ptd__jerr(e, errno, "mkdir", what);
	if ((ind = openat(jd, "in", PTD__DIR_FLAGS)) < 0)
		return ptd__jerr(e, errno, "open", what);
	for (size_t i = 0; i < n && rc == 0; i++) {
		snprintf(name, sizeof name, "%zu", i);
		if (in[i].data == NULL && in[i].path != NULL) {
			rc = ptd__copy_in(in[i].path, ind, name, &m->files[i].size, e);
		} else if (in[i].len > PTD_JOB_FILE_MAX) {
			rc = pt_err_set(e, PT_ETOOLARGE, "%s: over the limit of %zu MiB per file",
					m->files[i].name, PTD_JOB_FILE_MAX >> 20);
		} else {
			rc = ptd__write_atomic_at(ind, name, in[i].data ? in[i].data : "",
						  in[i].len, 0600, what, e);
			m->files[i].size = in[i].len;
		}
	}
	close(ind);
	(void)s;
	return rc;
}

int ptd_jstore_create(ptd_jstore *s, ptd_jmanifest *m, const ptd_jinput *in, size_t n,
		      pt_err *e)
{
	char tmp[PROTO_JOBID_SIZE + 8], what[700];
	int jd = -1, fd, rc;

	if (n == 0 || n != m->n_files)
		return pt_err_set(e, PT_EINVAL, "a job needs one manifest entry per input");
	if (m->id[0] == '\0' && (rc = ptd_jstore_new_id(m->id, e)) != 0)
		return rc;
	if (!ptd__jid_ok(m->id))
		return pt_err_set(e, PT_EINVAL, "bad job id");
	snprintf(tmp, sizeof tmp, ".new-%s", m->id);
	snprintf(what, sizeof what, "%s/%s", s->path, tmp);
	if (mkdirat(s->fd, tmp, 0700) != 0)
		return ptd__jerr(e, errno, "cannot create the job folder", what);
	if ((jd = openat(s->fd, tmp, PTD__DIR_FLAGS)) < 0) {
		rc = ptd__jerr(e, errno, "cannot open the job folder", what);
		goto fail;
	}
	if ((rc = ptd__create_in(s, jd, m, in, n, what, e)) != 0)
		goto fail;
	fd = openat(jd, "journal", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || fsync(fd) != 0) {
		rc = ptd__jerr(e, errno, "cannot create the journal", what);
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	close(fd);
	{
		char *text;
		size_t len;
		if ((rc = ptd_jmanifest_format(m, &text, &len, e)) != 0)
			goto fail;
		rc = ptd__write_atomic_at(jd, "manifest", text, len, 0600, what, e);
		free(text);
		if (rc != 0)
			goto fail;
	}
	/* The job exists from this rename on, with everything it needs. */
	if (renameat(s->fd, tmp, s->fd, m->id) != 0) {
		rc = ptd__jerr(e, errno, "rename", what);
		goto fail;
	}
	close(jd);
	return ptd__fsync_fd(s->fd, s->path, e);
fail:
	if (jd >= 0)
		close(jd);
	ptd__rm_at(s->fd, tmp, 0);
	return rc;
}

/* ---- Inputs and outputs kept in the job ---------------------------------------- */

static int ptd__job_file_read(ptd_jstore *s, const char *id, const char *sub, uint32_t n,
			      char **buf, size_t *len, pt_err *e)
{
	char name[64], what[700];
	int jd, fd, rc;

	if ((rc = ptd__jdir_open(s, id, &jd, e)) != 0)
		return rc;
	snprintf(name, sizeof name, "%s/%u", sub, (unsigned)n);
	snprintf(what, sizeof what, "%s/%s/%s", s->path, id, name);
	fd = openat(jd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	close(jd);
	if (fd < 0)
		return ptd__jerr(e, errno, "cannot open", what);
	rc = ptd__read_all(fd, PTD_JOB_FILE_MAX * 4, buf, len, what, e);
	close(fd);
	return rc;
}

int ptd_jstore_input_read(ptd_jstore *s, const char *id, uint32_t n, char **buf, size_t *len,
			  pt_err *e)
{
	return ptd__job_file_read(s, id, "in", n, buf, len, e);
}

int ptd_jstore_output_get(ptd_jstore *s, const char *id, uint32_t n, char **buf, size_t *len,
			  pt_err *e)
{
	return ptd__job_file_read(s, id, "out", n, buf, len, e);
}

int ptd_jstore_output_put(ptd_jstore *s, const char *id, uint32_t n, const void *data,
			  size_t len, pt_err *e)
{
	char name[32], what[700];
	int jd, od, rc;

	if ((rc = ptd__jdir_open(s, id, &jd, e)) != 0)
		return rc;
	snprintf(what, sizeof what, "%s/%s/out/%u", s->path, id, (unsigned)n);
	od = openat(jd, "out", PTD__DIR_FLAGS);
	if (od < 0 && errno == ENOENT && mkdirat(jd, "out", 0700) == 0)
		od = openat(jd, "out", PTD__DIR_FLAGS);
	close(jd);
	if (od < 0)
		return ptd__jerr(e, errno, "cannot open", what);
	snprintf(name, sizeof name, "%u", (unsigned)n);
	rc = ptd__write_atomic_at(od, name, data, len, 0600, what, e);
	close(od);
	return rc;
}
