/*
 * opts.c: what every polytrans command line shares: the common options
 * (--json, --socket, --timeout, --no-start, --model, -v, -q), getopt's
 * error cases and the usage-error message with its exit status, so that
 * `polytrans ...` and `polytrans job ...` parse and complain alike.
 */
#include "client.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <getopt.h>

int pc_usage(const char *help, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("polytrans: ", stderr);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\nTry '%s --help' for more information.\n", help);
	va_end(ap);
	return PC_EXIT_USAGE;
}

/* --timeout: positive seconds, at most about 31 years. */
static int pc__timeout(const char *help, const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (!*s || *end || errno || !isfinite(v) || v <= 0 || v > 1e9)
		return pc_usage(help, "--timeout: '%s' is not a positive number of seconds", s);
	*out = v;
	return 0;
}

int pc_common_opt(const char *help, int c, const char *arg, pc_opts *o)
{
	switch (c) {
	case PC_OPT_JSON: o->json = true; return 0;
	case PC_OPT_SOCKET: o->socket = arg; return 0;
	case PC_OPT_TIMEOUT: return pc__timeout(help, arg, &o->timeout);
	case PC_OPT_NO_START: o->no_start = true; return 0;
	case PC_OPT_MODEL: o->model = arg; return 0;
	case 'v': o->verbose = true; return 0;
	case 'q': o->quiet = true; return 0;
	default: return -1;
	}
}

int pc_getopt_error(const char *help, int c, char *const *argv)
{
	if (c == ':')
		return pc_usage(help, "option '%s' needs a value", argv[optind - 1]);
	if (optopt)
		return pc_usage(help, "unknown option '-%c'", optopt);
	return pc_usage(help, "unknown option '%s'", argv[optind - 1]);
}
