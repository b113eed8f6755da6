/*
 * spawn.c: reaching the daemon, and starting it when nothing answers.
 *
 * The daemon is started detached (its own session, stdio to a log file)
 * so it outlives this client and serves the next one. We keep it as our
 * child only to notice when it exits at once (no model, bad config): then
 * the end of its log says why, and that is what the person needs to see.
 */
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* How long a started daemon may take to answer (loading a large model from
 * a cold disk takes a while); --timeout shortens it. */
#define PC__START_WAIT_S 60.0
/* Bytes of the log shown when the daemon fails to start. */
#define PC__LOG_TAIL 2048

int pc_socket_path(const pc_opts *o, char *buf, size_t cap, pt_err *e)
{
	int n;
	if (o->socket) {
		n = snprintf(buf, cap, "%s", o->socket);
	} else {
		char rt[256];
		int rc = pt_runtime_dir(rt, sizeof rt, e);
		if (rc != 0)
			return rc;
		n = snprintf(buf, cap, "%s/polytrans.sock", rt);
	}
	if (n < 0 || (size_t)n >= cap)
		return pt_err_set(e, PT_EINVAL, "socket path too long");
	return 0;
}

/* An absolute version of path (the daemon runs in "/"), into buf. */
static int pc__absolute(const char *path, char *buf, size_t cap, pt_err *e)
{
	char cwd[PATH_MAX];
	int n;
	if (path[0] == '/') {
		n = snprintf(buf, cap, "%s", path);
	} else {
		if (!getcwd(cwd, sizeof cwd))
			return pt_err_set(e, PT_EIO, "getcwd: %s", strerror(errno));
		n = snprintf(buf, cap, "%s/%s", cwd, path);
	}
	if (n < 0 || (size_t)n >= cap)
		return pt_err_set(e, PT_EINVAL, "%s: path too long", path);
	return 0;
}

/*
 * A client run from its build folder (build/client/polytrans, the README's
 * main command) starts the daemon built beside it, build/daemon/polytransd:
 * meson passes both paths (client/meson.build). 0 if found, into buf.
 */
static int pc__build_daemon(const char *self_dir, char *buf, size_t cap)
{
#if defined(PC_BUILD_DIR) && defined(PC_BUILD_DAEMON)
	char build[PATH_MAX];
	int k;
	if (realpath(PC_BUILD_DIR, build) == NULL || strcmp(self_dir, build) != 0)
		return -1;
	k = snprintf(buf, cap, "%s", PC_BUILD_DAEMON);
	return k > 0 && (size_t)k < cap && access(buf, X_OK) == 0 ? 0 : -1;
#else
	(void)self_dir, (void)buf, (void)cap;
	return -1;
#endif
}

/* polytransd next to this executable (or, in a build folder, the one built
 * beside it), else in PATH; $POLYTRANSD first. */
static int pc__find_daemon(char *buf, size_t cap, pt_err *e)
{
	const char *env = getenv("POLYTRANSD");
	if (env && *env) {
		if (access(env, X_OK) != 0)
			return pt_err_set(e, PT_ENOTFOUND, "POLYTRANSD=%s: %s", env, strerror(errno));
		return pc__absolute(env, buf, cap, e);
	}
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			int k = snprintf(buf, cap, "%s/polytransd", self);
			if (k > 0 && (size_t)k < cap && access(buf, X_OK) == 0)
				return 0;
			if (pc__build_daemon(self, buf, cap) == 0)
				return 0;
		}
	}
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t len = strcspn(path, ":");
		int k = snprintf(buf, cap, "%.*s/polytransd", (int)len, path);
		if (len > 0 && k > 0 && (size_t)k < cap && access(buf, X_OK) == 0) {
			char found[PATH_MAX];
			snprintf(found, sizeof found, "%s", buf);
			return pc__absolute(found, buf, cap, e);
		}
		path += len + (path[len] == ':');
	}
	return pt_err_set(e, PT_ENOTFOUND,
			  "polytransd was not found next to polytrans nor in PATH; install it or "
			  "start it yourself");
}

/* $XDG_STATE_HOME/polytrans/polytransd.log, its folder created. */
static int pc__log_path(char *buf, size_t cap)
{
	const char *st = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	char dir[PATH_MAX];
	int n;
	if (st && *st)
		n = snprintf(dir, sizeof dir, "%s/polytrans", st);
	else if (home && *home)
		n = snprintf(dir, sizeof dir, "%s/.local/state/polytrans", home);
	else
		return -1;
	if (n < 0 || (size_t)n >= sizeof dir)
		return -1;
	/* mkdir -p, private: the log may hold file names and texts. */
	for (char *p = dir + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(dir, 0700);
			*p = '/';
		}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -1;
	n = snprintf(buf, cap, "%s/polytransd.log", dir);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static void pc__child(const char *exe, char *const argv[], int logfd)
{
	int nul = open("/dev/null", O_RDWR);
	setsid();
	/* Ignored signals stay ignored across exec: give the daemon the
	 * defaults it expects. */
	signal(SIGPIPE, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	if (nul >= 0)
		dup2(nul, 0);
	dup2(logfd >= 0 ? logfd : nul, 1);
	dup2(logfd >= 0 ? logfd : nul, 2);
	/* Descriptors the client inherited without close-on-exec (a test
	 * harness's pipes) must not be held open by a long-lived daemon. */
	if (close_range(3, ~0U, 0) != 0)
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
	if (chdir("/") != 0)
		_exit(127);
	execv(exe, argv);
	dprintf(2, "polytrans: cannot run %s: %s\n", exe, strerror(errno));
	_exit(127);
}

/* Nonzero if some daemon holds the lock next to the socket, i.e. one is
 * starting or running even if it does not answer yet. */
static int pc__lock_held(const char *sock)
{
	char lock[PATH_MAX];
	if (snprintf(lock, sizeof lock, "%s.lock", sock) >= (int)sizeof lock)
		return 0;
	int fd = open(lock, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	int held = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return held;
}

/* What the daemon wrote to its log since `from`, the last PC__LOG_TAIL
 * bytes of it, into msg. */
static void pc__log_tail(const char *log, off_t from, char *msg, size_t cap)
{
	msg[0] = '\0';
	int fd = log[0] ? open(log, O_RDONLY | O_CLOEXEC) : -1;
	if (fd < 0)
		return;
	off_t end = lseek(fd, 0, SEEK_END);
	if (end - from > PC__LOG_TAIL)
		from = end - PC__LOG_TAIL;
	if (end > from && cap > 1) {
		size_t want = (size_t)(end - from) < cap - 1 ? (size_t)(end - from) : cap - 1;
		ssize_t n = pread(fd, msg, want, from);
		msg[n > 0 ? n : 0] = '\0';
		while (n > 0 && msg[n - 1] == '\n')
			msg[--n] = '\0';
	}
	close(fd);
}

static void pc__sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Waits until the daemon answers api_info, or it exits, or the wait ends. */
static int pc__wait_ready(const char *sock, pid_t pid, const char *log,
			  off_t log_from, double until, pc_conn *c, pt_err *e)
{
	int status, exited = 0, ms = 20;
	for (;;) {
		int rc = pc_conn_open(c, sock, until, e);
		if (rc == 0) {
			rc = pc_conn_hello(c, e);
			if (rc == 0)
				return 0;
			pc_conn_close(c);
		}
		if (pc_interrupted)
			return pt_err_set(e, PT_ECANCELLED, "interrupted");
		if (!exited && waitpid(pid, &status, WNOHANG) == pid)
			exited = 1;
		/* Our daemon gone and no other starting: it failed. */
		if (exited && !pc__lock_held(sock)) {
			char tail[PC__LOG_TAIL + 1];
			pc__log_tail(log, log_from, tail, sizeof tail);
			/* The log can say more than an error message holds:
			 * show it whole, then fail with a short headline. */
			if (WIFEXITED(status))
				pc_error("polytransd exited at once (status %d)%s%s%s", WEXITSTATUS(status),
					 log[0] ? "; its log (" : "", log, log[0] ? ") says:" : "");
			else
				pc_error("polytransd was killed by signal %d%s%s%s", WTERMSIG(status),
					 log[0] ? "; its log (" : "", log, log[0] ? ") says:" : "");
			if (tail[0])
				fprintf(stderr, "%s\n", tail);
			pt_err_set(e, PT_EIO, "no daemon could be started on %s", sock);
			return PT_EIO;
		}
		if (pt_now() >= until)
			return pt_err_set(e, PT_ETIMEOUT,
					  "polytransd did not answer on %s within %.0f s (log: %s)",
					  sock, PC__START_WAIT_S, log[0] ? log : "none");
		pc__sleep_ms(ms);
		if (ms < 200)
			ms *= 2;
	}
}

static int pc__start(const pc_opts *o, const char *sock, double deadline, pc_conn *c,
		     pt_err *e)
{
	char exe[PATH_MAX], abs_sock[PATH_MAX], model[PATH_MAX], log[PATH_MAX] = "";
	const char *m = o->model ? o->model : getenv("POLYTRANS_MODEL");
	char *argv[8];
	int argc = 0, rc;

	if ((rc = pc__find_daemon(exe, sizeof exe, e)) ||
	    (rc = pc__absolute(sock, abs_sock, sizeof abs_sock, e)))
		return rc;
	argv[argc++] = exe;
	argv[argc++] = "--socket";
	argv[argc++] = abs_sock;
	if (m && *m) {
		if ((rc = pc__absolute(m, model, sizeof model, e)))
			return rc;
		argv[argc++] = "--model";
		argv[argc++] = model;
	}
	argv[argc] = NULL;

	int logfd = -1;
	off_t log_from = 0;
	if (pc__log_path(log, sizeof log) == 0)
		logfd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (logfd >= 0)
		log_from = lseek(logfd, 0, SEEK_END);
	else
		log[0] = '\0';
	if (o->verbose)
		pc_warn("no daemon on %s: starting %s (log: %s)", sock, exe, log[0] ? log : "none");

	pid_t pid = fork();
	if (pid < 0) {
		if (logfd >= 0)
			close(logfd);
		return pt_err_set(e, PT_EIO, "fork: %s", strerror(errno));
	}
	if (pid == 0)
		pc__child(exe, argv, logfd);
	if (logfd >= 0)
		close(logfd);

	double until = pt_now() + PC__START_WAIT_S;
	if (deadline > 0 && deadline < until)
		until = deadline;
	rc = pc__wait_ready(abs_sock, pid, log, log_from, until, c, e);
	if (rc == 0) {
		c->deadline = deadline;
		pc_bundled_notice(o, c);
	}
	return rc;
}

int pc_connect(const pc_opts *o, pc_conn *c, pt_err *e)
{
	char sock[PATH_MAX];
	double deadline = o->timeout > 0 ? pt_now() + o->timeout : 0;
	int rc = pc_socket_path(o, sock, sizeof sock, e);
	if (rc)
		return rc;
	rc = pc_conn_open(c, sock, deadline, e);
	if (rc == 0) {
		rc = pc_conn_hello(c, e);
		if (rc == 0)
			return 0;
		pc_conn_close(c);
		return rc;
	}
	if (rc != PT_ENOTFOUND)
		return rc;
	if (o->no_start) {
		pt_err_prefix(e, "polytransd is not running (--no-start given)");
		return rc;
	}
	/* A daemon may be starting (it holds the lock but does not listen
	 * yet): then wait for it rather than start a second one. */
	if (pc__lock_held(sock)) {
		double until = pt_now() + PC__START_WAIT_S;
		if (deadline > 0 && deadline < until)
			until = deadline;
		while (pt_now() < until && !pc_interrupted) {
			pc__sleep_ms(100);
			if (pc_conn_open(c, sock, until, NULL) == 0) {
				if (pc_conn_hello(c, NULL) == 0) {
					c->deadline = deadline;
					return 0;
				}
				pc_conn_close(c);
			}
		}
	}
	return pc__start(o, sock, deadline, c, e);
}

int pc_conn_ensure(const pc_opts *o, pc_conn *c, pt_err *e)
{
	if (c->fd >= 0)
		return 0;
	int rc = pc_connect(o, c, e);
	if (rc) {
		c->fd = -1;
		c->broken = true;
	}
	return rc;
}
