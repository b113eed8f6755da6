/*
 * server-life.c: the daemon's life around the loop: start (worker,
 * listener, READY=1), signals (SIGTERM/SIGINT stop, SIGHUP reloads the
 * config file), the shutdown sequence, the systemd watchdog and status
 * line, and exit after idle time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "ptd.h"

/* After the last request is answered, clients get this long to read their
 * replies before their connections are cut. */
#define PTD__FORCE_CLOSE_MS 2000

static void ptd__close_handle(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void ptd__force_cb(uv_timer_t *t)
{
	ptd_server *srv = t->data;

	while (srv->clients != NULL)
		ptd_client_close(srv->clients, 0);
	/* Clients already closing gracefully are cut by closing every handle. */
	uv_walk(srv->loop, ptd__close_handle, NULL);
}

void ptd_server_maybe_finish(ptd_server *srv)
{
	if (!srv->stopping || srv->finishing || srv->n_pending > 0)
		return;
	srv->finishing = 1;
	pt_log(PT_LOG_INFO, "all requests answered; exiting");
	uv_timer_stop(&srv->shutdown_timer);
	uv_timer_stop(&srv->house_timer);
	uv_timer_stop(&srv->watchdog_timer);
	uv_close((uv_handle_t *)&srv->shutdown_timer, NULL);
	uv_close((uv_handle_t *)&srv->house_timer, NULL);
	uv_close((uv_handle_t *)&srv->watchdog_timer, NULL);
	uv_close((uv_handle_t *)&srv->sig_term, NULL);
	uv_close((uv_handle_t *)&srv->sig_int, NULL);
	uv_close((uv_handle_t *)&srv->sig_hup, NULL);
	ptd_worker_stop(srv->worker);
	srv->worker = NULL;
	ptd_jobs_free(srv);
	while (srv->clients != NULL)
		ptd_client_close(srv->clients, 1);
	uv_timer_start(&srv->force_timer, ptd__force_cb, PTD__FORCE_CLOSE_MS, 0);
	uv_unref((uv_handle_t *)&srv->force_timer);
}

/* The time given to work in flight is over: cancel all of it. */
static void ptd__shutdown_timeout(uv_timer_t *t)
{
	ptd_server *srv = t->data;

	pt_log(PT_LOG_WARN, "shutdown_timeout_ms (%lld) passed; cancelling %u requests",
	       (long long)srv->cfg.shutdown_timeout_ms, srv->n_pending);
	for (ptd_client *c = srv->clients; c != NULL; c = c->next)
		for (ptd_request *r = c->reqs; r != NULL; r = r->cnext)
			ptd_request_cancel(srv, r, 1);
}

static void ptd__begin_stop(ptd_server *srv, const char *why)
{
	if (srv->stopping)
		return;
	srv->stopping = 1;
	pt_log(PT_LOG_INFO, "%s: stopping; %u requests in flight", why, srv->n_pending);
	ptd_notify("STOPPING=1");
	uv_close((uv_handle_t *)&srv->listen_pipe, NULL);
	ptd_listen_close(&srv->lst); /* removes the socket we made */
	ptd_jobs_stop(srv);
	uv_timer_start(&srv->shutdown_timer, ptd__shutdown_timeout,
		       (uint64_t)srv->cfg.shutdown_timeout_ms, 0);
	ptd_server_maybe_finish(srv);
}

/* ---- SIGHUP ---------------------------------------------------------------------- */

static int ptd__str_changed(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0);
}

static void ptd__reload(ptd_server *srv)
{
	ptd_config nc, *oc = &srv->cfg;
	pt_err e;
	int rc;

	ptd_config_init(&nc);
	rc = srv->config_path != NULL ? ptd_config_load_file(&nc, srv->config_path, 1, &e) : 0;
	if (rc == 0)
		rc = ptd_config_set_all(&nc, srv->overrides, srv->n_overrides, &e);
	if (rc != 0) {
		pt_log(PT_LOG_ERROR, "reload: %s; keeping the settings in use", e.msg);
		ptd_config_done(&nc);
		return;
	}
	/* These are fixed once the model is loaded and the socket open. */
	if (ptd__str_changed(nc.model, oc->model) || ptd__str_changed(nc.socket_path, oc->socket_path) ||
	    ptd__str_changed(nc.prompt_template, oc->prompt_template) ||
	    ptd__str_changed(nc.state_dir, oc->state_dir) || nc.threads != oc->threads ||
	    nc.ctx_tokens != oc->ctx_tokens || nc.max_beams != oc->max_beams ||
	    nc.batch_size != oc->batch_size || nc.prefix_cache != oc->prefix_cache ||
	    nc.retry_beams != oc->retry_beams)
		pt_log(PT_LOG_WARN, "reload: model, socket, prompt_template, state_dir, threads, "
		       "ctx_tokens, max_beams, batch_size, prefix_cache and retry_beams take "
		       "effect only after a restart of polytransd");
	oc->log_level = nc.log_level;
	oc->max_clients = nc.max_clients;
	oc->max_requests_per_client = nc.max_requests_per_client;
	oc->max_message_bytes = nc.max_message_bytes;
	oc->max_text_bytes = nc.max_text_bytes;
	oc->queue_size = nc.queue_size;
	oc->beams = nc.beams;
	oc->max_tokens = nc.max_tokens;
	oc->shutdown_timeout_ms = nc.shutdown_timeout_ms;
	oc->idle_exit_s = nc.idle_exit_s;
	ptd_config_done(&nc);
	ptd_log_init((int)oc->log_level);
	ptd_worker_set_queue_max(srv->worker, (size_t)oc->queue_size);
	pt_log(PT_LOG_INFO, "reloaded %s: log_level %s, max_clients %lld, queue_size %lld",
	       srv->config_path ? srv->config_path : "(no config file)",
	       ptd_level_name((int)oc->log_level), (long long)oc->max_clients,
	       (long long)oc->queue_size);
}

static void ptd__signal_cb(uv_signal_t *h, int signum)
{
	ptd_server *srv = h->data;

	if (signum == SIGHUP)
		ptd__reload(srv);
	else
		ptd__begin_stop(srv, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

/* ---- Timers ------------------------------------------------------------------------ */

static void ptd__watchdog_cb(uv_timer_t *t)
{
	(void)t;
	ptd_notify("WATCHDOG=1");
}

/* Once a second: the systemd status line, and exit after idle time. */
static void ptd__house_cb(uv_timer_t *t)
{
	ptd_server *srv = t->data;
	uint32_t queued, running;
	double tps, now = pt_now();
	char st[sizeof srv->last_status];

	ptd_worker_stats(srv->worker, &queued, &running, &tps);
	snprintf(st, sizeof st, "STATUS=serving: %u clients, %u queued, %u running",
		 srv->n_clients, queued, running);
	if (strcmp(st, srv->last_status) != 0) {
		ptd_notify(st);
		memcpy(srv->last_status, st, sizeof st);
	}
	if (srv->n_clients > 0 || srv->n_pending > 0)
		srv->idle_since = now;
	else if (srv->cfg.idle_exit_s > 0 && now - srv->idle_since >= (double)srv->cfg.idle_exit_s)
		ptd__begin_stop(srv, "idle_exit");
}

static int ptd__setup_handles(ptd_server *srv, pt_err *e)
{
	unsigned long long wd = ptd_watchdog_usec();
	int rc = 0;

	uv_timer_init(srv->loop, &srv->shutdown_timer);
	uv_timer_init(srv->loop, &srv->house_timer);
	uv_timer_init(srv->loop, &srv->watchdog_timer);
	uv_timer_init(srv->loop, &srv->force_timer);
	srv->shutdown_timer.data = srv->house_timer.data = srv->watchdog_timer.data = srv;
	srv->force_timer.data = srv;
	uv_signal_init(srv->loop, &srv->sig_term);
	uv_signal_init(srv->loop, &srv->sig_int);
	uv_signal_init(srv->loop, &srv->sig_hup);
	srv->sig_term.data = srv->sig_int.data = srv->sig_hup.data = srv;
	if ((rc = uv_signal_start(&srv->sig_term, ptd__signal_cb, SIGTERM)) != 0 ||
	    (rc = uv_signal_start(&srv->sig_int, ptd__signal_cb, SIGINT)) != 0 ||
	    (rc = uv_signal_start(&srv->sig_hup, ptd__signal_cb, SIGHUP)) != 0)
		return pt_err_set(e, PT_EIO, "signals: %s", uv_strerror(rc));
	uv_timer_start(&srv->house_timer, ptd__house_cb, 1000, 1000);
	if (wd > 0) {
		/* Half the interval, as sd_watchdog_enabled(3) advises. */
		srv->watchdog_ms = wd / 2000 > 0 ? wd / 2000 : 1;
		uv_timer_start(&srv->watchdog_timer, ptd__watchdog_cb, srv->watchdog_ms,
			       srv->watchdog_ms);
		pt_log(PT_LOG_DEBUG, "watchdog: WATCHDOG=1 every %llu ms",
		       (unsigned long long)srv->watchdog_ms);
	}
	return 0;
}

/* Descriptors besides the clients' (loop, signals, threads, model, jobs
 * and their journals). */
#define PTD__FD_RESERVE 64

/* Each client takes a descriptor. Daemons often start with a soft limit of
 * 1024 and a much higher hard one: the soft one is raised when max_clients
 * needs it. Past the limit libuv refuses connections without a word, so a
 * limit too low for max_clients is said at start. */
static void ptd__fd_limit(ptd_server *srv)
{
	rlim_t need = (rlim_t)srv->cfg.max_clients + PTD__FD_RESERVE;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur >= need)
		return;
	if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need) {
		struct rlimit nl = { need, rl.rlim_max };
		if (setrlimit(RLIMIT_NOFILE, &nl) == 0) {
			pt_log(PT_LOG_DEBUG, "file descriptor limit raised from %llu to %llu",
			       (unsigned long long)rl.rlim_cur, (unsigned long long)need);
			return;
		}
	}
	pt_log(PT_LOG_WARN, "max_clients %lld needs about %llu file descriptors, the limit is "
	       "%llu: clients past it will be refused (raise ulimit -n or LimitNOFILE=)",
	       (long long)srv->cfg.max_clients, (unsigned long long)need,
	       (unsigned long long)rl.rlim_cur);
}

int ptd_server_run(ptd_server *srv, pt_err *e)
{
	int rc;

	srv->t_start = srv->idle_since = pt_now();
	rc = ptd_worker_start(srv->loop, srv->pl, (size_t)srv->cfg.queue_size, ptd_server_event,
			      srv, &srv->worker, e);
	if (rc == 0)
		rc = ptd__setup_handles(srv, e);
	if (rc == 0) {
		ptd__fd_limit(srv);
		rc = ptd_server_listen(srv, e);
	}
	if (rc != 0) {
		if (srv->worker != NULL)
			ptd_worker_stop(srv->worker);
		srv->worker = NULL;
		uv_walk(srv->loop, ptd__close_handle, NULL);
		uv_run(srv->loop, UV_RUN_DEFAULT);
		return 1;
	}
	if (ptd_jobs_start(srv, e) != 0)
		pt_log(PT_LOG_ERROR, "batch jobs are unavailable: %s", e->msg);
	pt_log(PT_LOG_INFO, "serving on %s (pid %ld)",
	       srv->lst.activated ? "the socket systemd passed" : srv->lst.path, (long)getpid());
	ptd_notify("READY=1\nSTATUS=serving: 0 clients, 0 queued, 0 running");
	uv_run(srv->loop, UV_RUN_DEFAULT);
	/* Whatever is left (the unref'd force timer) is closed here. */
	uv_walk(srv->loop, ptd__close_handle, NULL);
	uv_run(srv->loop, UV_RUN_DEFAULT);
	return srv->exit_code;
}
