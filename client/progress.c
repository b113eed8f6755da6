/*
 * progress.c: how a batch job's progress reads: the bar redrawn in place
 * on a terminal, the plain line written to a log or a pipe, durations and
 * times. Pure formatting into caller buffers, so each form can be checked
 * as text.
 */
#include "client.h"

#include <math.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

/* Narrowest and widest bar, in cells: narrower says nothing, wider only
 * makes the eye travel. */
#define PC__BAR_MIN 10
#define PC__BAR_MAX 40

void pc_fmt_duration(double s, char *buf, size_t cap)
{
	if (!isfinite(s) || s < 0)
		s = 0;
	if (s > 99.0 * 86400)
		s = 99.0 * 86400;
	unsigned long t = (unsigned long)(s + 0.5);
	if (t < 60)
		snprintf(buf, cap, "%lus", t);
	else if (t < 3600)
		snprintf(buf, cap, "%lum%02lus", t / 60, t % 60);
	else if (t < 86400)
		snprintf(buf, cap, "%luh%02lum", t / 3600, t / 60 % 60);
	else
		snprintf(buf, cap, "%lud%02luh", t / 86400, t / 3600 % 24);
}

void pc_fmt_time(uint64_t unix_s, char *buf, size_t cap)
{
	time_t t = (time_t)unix_s;
	struct tm tm;
	if (unix_s == 0 || (uint64_t)t != unix_s || !localtime_r(&t, &tm) ||
	    strftime(buf, cap, "%Y-%m-%d %H:%M", &tm) == 0)
		snprintf(buf, cap, "-");
}

/* The percent shown: the daemon's, floored, so 99.9 never reads 100
 * before the job is done. */
static unsigned pc__percent(const proto_job_info *j)
{
	double p = j->percent;
	if (!isfinite(p) || p < 0)
		p = 0;
	if (p > 100)
		p = 100;
	unsigned u = (unsigned)p;
	if (u == 100 && j->state != PROTO_JOB_DONE && j->done < j->total)
		u = 99;
	return u;
}

/* "ETA 1m20s", "ETA ?" while unknown, the state when not running. */
static void pc__eta(const proto_job_info *j, char *buf, size_t cap)
{
	char d[32];
	if (j->state != PROTO_JOB_RUNNING) {
		snprintf(buf, cap, "%s", proto_job_state_name(j->state));
		return;
	}
	if (!j->has_eta) {
		snprintf(buf, cap, "ETA ?");
		return;
	}
	pc_fmt_duration(j->eta_s, d, sizeof d);
	snprintf(buf, cap, "ETA %s", d);
}

void pc_progress_plain(const char *id, const proto_job_info *j, char *buf, size_t cap)
{
	char eta[48];
	pc__eta(j, eta, sizeof eta);
	snprintf(buf, cap, "job %s: %u%% (%llu/%llu segments), %s", id, pc__percent(j),
		 (unsigned long long)j->done, (unsigned long long)j->total, eta);
}

void pc_progress_bar(const proto_job_info *j, int width, char *buf, size_t cap)
{
	char eta[48], tail[128];
	unsigned pct = pc__percent(j);
	pc__eta(j, eta, sizeof eta);
	int tl = snprintf(tail, sizeof tail, " %3u%% %llu/%llu segments  %s", pct,
			  (unsigned long long)j->done, (unsigned long long)j->total, eta);
	if (tl < 0)
		tl = 0;
	/* One column is left free: a line as wide as the terminal wraps on
	 * some terminals, and then '\r' no longer redraws it. */
	int cells = width - 1 - tl - 2;
	if (cells > PC__BAR_MAX)
		cells = PC__BAR_MAX;
	if (cells < PC__BAR_MIN || cap < (size_t)PC__BAR_MAX + sizeof tail + 4) {
		snprintf(buf, cap, "%s", tail + 1);
		return;
	}
	int full = (int)((unsigned long)pct * (unsigned)cells / 100);
	size_t k = 0;
	buf[k++] = '[';
	for (int i = 0; i < cells; i++)
		buf[k++] = i < full ? '#' : '-';
	buf[k++] = ']';
	snprintf(buf + k, cap - k, "%s", tail);
}

int pc_term_width(int fd)
{
	struct winsize ws;
	if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 80;
}
