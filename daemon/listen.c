/* listen.c: socket path checks, locking, activation, peer checks, notify. */
#include "listen.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define PTD__SD_LISTEN_FDS_START 3

int ptd_socket_default_path(char *buf, size_t cap, pt_err *e)
{
	char dir[256];
	int n, rc = pt_runtime_dir(dir, sizeof dir, e);

	if (rc != 0)
		return rc;
	n = snprintf(buf, cap, "%s/polytrans.sock", dir);
	if (n < 0 || (size_t)n >= cap)
		return pt_err_set(e, PT_ETOOLARGE, "%s/polytrans.sock: path too long", dir);
	return 0;
}

static int ptd__fill_addr(struct sockaddr_un *a, const char *path, pt_err *e)
{
	size_t n = strlen(path);

	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	if (n == 0 || n >= sizeof a->sun_path)
		return pt_err_set(e, PT_ETOOLARGE,
				  "%s: a socket path must be 1 to %zu bytes, this one is %zu",
				  path, sizeof a->sun_path - 1, n);
	memcpy(a->sun_path, path, n);
	return 0;
}

/* The socket's folder must be ours and closed to others, else another user
 * could replace the socket under us. */
static int ptd__check_dir(const char *path, pt_err *e)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct stat st;
	char *slash;

	snprintf(dir, sizeof dir, "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (stat(dir, &st) != 0)
		return pt_err_set(e, PT_EIO, "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return pt_err_set(e, PT_EINVAL, "%s: not a folder", dir);
	if (st.st_uid != geteuid())
		return pt_err_set(e, PT_EPERM,
				  "%s: the socket's folder belongs to uid %u, not to us (uid %u)",
				  dir, (unsigned)st.st_uid, (unsigned)geteuid());
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
		return pt_err_set(e, PT_EPERM,
				  "%s: the socket's folder is writable by others (mode %03o)",
				  dir, (unsigned)(st.st_mode & 0777));
	return 0;
}

/* Is a daemon answering on path? 1 yes, 0 no (stale or absent). */
static int ptd__answers(const struct sockaddr_un *a)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int ok;

	if (fd < 0)
		return 0;
	ok = connect(fd, (const struct sockaddr *)a, sizeof *a) == 0;
	close(fd);
	return ok;
}

static int ptd__from_systemd(ptd_listener *l, pt_err *e)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	int type = 0, acc = 0, fd = PTD__SD_LISTEN_FDS_START;
	socklen_t len = sizeof type;

	if (pid == NULL || fds == NULL || strtol(pid, NULL, 10) != (long)getpid())
		return 0;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (strtol(fds, NULL, 10) != 1)
		return pt_err_set(e, PT_EINVAL,
				  "systemd passed %s sockets; polytransd takes exactly one", fds);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM)
		return pt_err_set(e, PT_EINVAL, "the socket systemd passed is not a stream socket");
	len = sizeof acc;
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) != 0 || !acc)
		return pt_err_set(e, PT_EINVAL, "the socket systemd passed is not listening");
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	l->fd = fd;
	l->activated = 1;
	return 1;
}

static int ptd__lock(ptd_listener *l, pt_err *e)
{
	char lock[sizeof l->path + 8];

	snprintf(lock, sizeof lock, "%s.lock", l->path);
	l->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (l->lock_fd < 0)
		return pt_err_set(e, PT_EIO, "%s: %s", lock, strerror(errno));
	if (flock(l->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		close(l->lock_fd);
		l->lock_fd = -1;
		return pt_err_set(e, PT_EBUSY,
				  "polytransd is already running on %s", l->path);
	}
	return 0;
}

int ptd_listen_open(ptd_listener *l, const char *path, pt_err *e)
{
	struct sockaddr_un a;
	struct stat st;
	mode_t old;
	int rc, fd;

	memset(l, 0, sizeof *l);
	l->fd = l->lock_fd = -1;
	rc = ptd__from_systemd(l, e);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	if ((rc = ptd__fill_addr(&a, path, e)) != 0 || (rc = ptd__check_dir(path, e)) != 0)
		return rc;
	snprintf(l->path, sizeof l->path, "%s", path);
	if ((rc = ptd__lock(l, e)) != 0)
		return rc;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			rc = pt_err_set(e, PT_EPERM,
					"%s exists and is not a socket; not replacing it", path);
			goto fail;
		}
		if (ptd__answers(&a)) {
			rc = pt_err_set(e, PT_EBUSY, "polytransd is already running on %s", path);
			goto fail;
		}
		unlink(path); /* stale: nothing answers on it */
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = pt_err_set(e, PT_EIO, "socket: %s", strerror(errno));
		goto fail;
	}
	old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&a, sizeof a);
	umask(old);
	if (rc != 0 || chmod(path, 0600) != 0 || listen(fd, 128) != 0) {
		rc = pt_err_set(e, PT_EIO, "%s: %s", path, strerror(errno));
		close(fd);
		goto fail;
	}
	l->fd = fd;
	return 0;
fail:
	close(l->lock_fd);
	l->lock_fd = -1;
	return rc;
}

void ptd_listen_close(ptd_listener *l)
{
	char lock[sizeof l->path + 8];

	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	if (l->lock_fd >= 0) {
		/* Still holding the lock: the path is ours to remove. */
		unlink(l->path);
		snprintf(lock, sizeof lock, "%s.lock", l->path);
		unlink(lock);
		close(l->lock_fd);
		l->lock_fd = -1;
	}
}

int ptd_peer_check(int fd, pid_t *pid, uid_t *uid, pt_err *e)
{
	struct ucred cred;
	socklen_t len = sizeof cred;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return pt_err_set(e, PT_EIO, "SO_PEERCRED: %s", strerror(errno));
	*pid = cred.pid;
	*uid = cred.uid;
	if (cred.uid != geteuid())
		return pt_err_set(e, PT_EPERM, "peer pid %ld runs as uid %u, not %u",
				  (long)cred.pid, (unsigned)cred.uid, (unsigned)geteuid());
	return 0;
}

int ptd_notify(const char *state)
{
	const char *p = getenv("NOTIFY_SOCKET");
	struct sockaddr_un a;
	socklen_t alen;
	size_t n;
	int fd, rc;

	if (p == NULL || (p[0] != '/' && p[0] != '@'))
		return 0;
	n = strlen(p);
	if (n >= sizeof a.sun_path)
		return PT_ETOOLARGE;
	memset(&a, 0, sizeof a);
	a.sun_family = AF_UNIX;
	memcpy(a.sun_path, p, n);
	if (p[0] == '@')
		a.sun_path[0] = '\0'; /* abstract namespace */
	alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return PT_EIO;
	rc = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&a, alen) < 0
		     ? PT_EIO : 0;
	close(fd);
	return rc;
}

unsigned long long ptd_watchdog_usec(void)
{
	const char *us = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");

	if (us == NULL)
		return 0;
	if (pid != NULL && strtol(pid, NULL, 10) != (long)getpid())
		return 0;
	return strtoull(us, NULL, 10);
}
