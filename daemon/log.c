/* log.c: polytransd's log sink: stderr, one line per message, in a form
 * the journal understands when it is the reader. */
#include <stdio.h>
#include <stdlib.h>

#include "ptd.h"

const char *ptd_level_name(int level)
{
	switch (level) {
	case PT_LOG_ERROR: return "error";
	case PT_LOG_WARN: return "warning";
	case PT_LOG_INFO: return "info";
	default: return "debug";
	}
}

/* systemd's stderr-to-journal stream reads a "<N>" prefix as the syslog
 * priority; on a terminal a readable level name is better. Each message
 * goes out in one fprintf, which stdio writes in one piece, so lines from
 * the loop and the worker thread do not interleave. */
static void ptd__log_journal(int level, const char *msg, void *ud)
{
	(void)ud;
	fprintf(stderr, "<%d>%s\n", level, msg);
}

static void ptd__log_plain(int level, const char *msg, void *ud)
{
	(void)ud;
	fprintf(stderr, "polytransd: %s: %s\n", ptd_level_name(level), msg);
}

void ptd_log_init(int level)
{
	const char *js = getenv("JOURNAL_STREAM");

	pt_log_set(js != NULL && js[0] != '\0' ? ptd__log_journal : ptd__log_plain, NULL, level);
}
