/*
 * listen.h: the daemon's listening socket and its neighbours: the socket's
 * path and folder checks, a lock against a second daemon, systemd socket
 * activation, peer credentials, and sd_notify.
 */
#ifndef PTD_LISTEN_H
#define PTD_LISTEN_H

#include <stddef.h>
#include <sys/types.h>

#include "pt.h"

/* The default socket path: polytrans.sock in pt_runtime_dir's folder
 * ($XDG_RUNTIME_DIR, else /tmp/polytrans-UID). */
int ptd_socket_default_path(char *buf, size_t cap, pt_err *e);

typedef struct ptd_listener {
	int fd;          /* listening socket */
	int lock_fd;     /* flock held on PATH.lock, -1 if activated */
	int activated;   /* came from systemd (LISTEN_FDS) */
	char path[108];  /* sun_path size */
} ptd_listener;

/*
 * Returns a listening socket: the one systemd passed (LISTEN_PID/LISTEN_FDS)
 * if any, else a new one at path. For a new one: the folder must belong to
 * this user and not be writable by others; a lock file PATH.lock held with
 * flock refuses a second daemon ("polytransd is already running ..."); an
 * existing path is replaced only if it is a socket nothing answers on
 * (never a file or symlink); the socket is created under umask 0177.
 */
int ptd_listen_open(ptd_listener *l, const char *path, pt_err *e);
/* Closes the socket; removes the path and the lock file if we made them. */
void ptd_listen_close(ptd_listener *l);

/* Checks a connected peer: its uid must be ours. Fills *pid and *uid. */
int ptd_peer_check(int fd, pid_t *pid, uid_t *uid, pt_err *e);

/* sd_notify: sends state ("READY=1", "STATUS=...") to $NOTIFY_SOCKET if set.
 * Returns 0 also when there is no notify socket. */
int ptd_notify(const char *state);
/* The watchdog interval from WATCHDOG_USEC/WATCHDOG_PID, in microseconds,
 * or 0 if the watchdog is off for this process. */
unsigned long long ptd_watchdog_usec(void);

#endif
