/*
 * main.c: polytrans, the command people type. Parses the command line,
 * picks the command, and turns its outcome into the exit status that
 * polytrans(1) documents.
 *
 * Two kinds of command line: options (`polytrans --to de FILE`,
 * `--detect`, `--languages`, `--status`), and subcommands named by the
 * first word, looked up in pc__subcmds (`jobs`, `job`). A file whose
 * name is a subcommand is given as ./NAME.
 */
#include "client.h"
#include "langid.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef PT_VERSION
#define PT_VERSION "unknown"
#endif

volatile sig_atomic_t pc_interrupted;

/* A subcommand: `polytrans NAME ARGS...`. */
typedef struct pc__subcmd {
	const char *name;
	int (*run)(int argc, char **argv);
} pc__subcmd;

static const pc__subcmd pc__subcmds[] = {
	{ "jobs", pc_cmd_jobs },
	{ "job", pc_cmd_job },
	{ NULL, NULL },
};

enum { PC__TRANSLATE, PC__DETECT, PC__LANGUAGES, PC__STATUS };

enum {
	OPT_BEAMS = PC_OPT_OWN, OPT_MAX_TOKENS, OPT_LINES, OPT_LANGUAGES, OPT_STATUS, OPT_JOB,
	OPT_FORMAT, OPT_PRIORITY, OPT_DETACH
};

#define PC__HELP "polytrans"

static const struct option pc__long[] = {
	{ "to", required_argument, NULL, 't' },
	{ "from", required_argument, NULL, 'f' },
	{ "output", required_argument, NULL, 'o' },
	{ "beams", required_argument, NULL, OPT_BEAMS },
	{ "max-tokens", required_argument, NULL, OPT_MAX_TOKENS },
	{ "detect", no_argument, NULL, 'd' },
	{ "lines", no_argument, NULL, OPT_LINES },
	{ "languages", no_argument, NULL, OPT_LANGUAGES },
	{ "status", no_argument, NULL, OPT_STATUS },
	{ "job", no_argument, NULL, OPT_JOB },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "priority", required_argument, NULL, OPT_PRIORITY },
	{ "detach", no_argument, NULL, OPT_DETACH },
	PC_COMMON_LONG_OPTIONS,
	{ "version", no_argument, NULL, 'V' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void pc__help(void)
{
	fputs("Usage: polytrans --to LANG [--from LANG] [OPTION...] [FILE...]\n"
	      "       polytrans --to LANG --job [-o DIR] [--format FMT] FILE...\n"
	      "       polytrans --detect [--lines] [FILE...]\n"
	      "       polytrans --languages | --status\n"
	      "       polytrans jobs | job status|wait|cancel|result ID\n"
	      "Translate text offline between 18 languages with the polytransd daemon.\n"
	      "Reads standard input when no FILE is given (or FILE is -).\n"
	      "\n"
	      "Translation:\n"
	      "  -t, --to LANG        target language (code, tag or name: de, zh-CN, German)\n"
	      "  -f, --from LANG      source language [auto: detected]\n"
	      "  -o, --output FILE    write to FILE, replaced only once complete\n"
	      "      --beams N        beam width 1..16 (1: greedy) [daemon's default]\n"
	      "      --max-tokens N   most tokens per segment 1..65536 [daemon's default]\n"
	      "Batch jobs (see also 'polytrans job --help'):\n"
	      "      --job            translate the documents as a job that survives restarts;\n"
	      "                       -o DIR is then the folder for the outputs\n"
	      "                       [NAME.LANG.EXT in the current folder]\n"
	      "      --format FMT     text, markdown, srt, po or html [by file extension]\n"
	      "      --priority N     -100..100, higher runs first among jobs [0]\n"
	      "      --detach         print the job id and return at once\n"
	      "Other commands:\n"
	      "  -d, --detect         print the language of each input\n"
	      "      --lines          with --detect: one answer per input line\n"
	      "      --languages      list the supported languages\n"
	      "      --status         show the daemon's model, queue and counters\n"
	      "Common options:\n"
	      "      --json           machine-readable output\n"
	      "      --socket PATH    daemon socket [$XDG_RUNTIME_DIR/polytrans.sock]\n"
	      "      --timeout SECS   give up after SECS (connecting and the whole request)\n"
	      "      --no-start       do not start polytransd when none answers\n"
	      "      --model FILE     model for a polytransd started by this command\n"
	      "  -v, --verbose        more detail (detection confidence, daemon start)\n"
	      "  -q, --quiet          no progress line or bar\n"
	      "  -V, --version        print the version\n"
	      "  -h, --help           print this help\n"
	      "\n"
	      "Exit status: 0 ok, 1 translation, job or file error, 2 usage error,\n"
	      "3 daemon unreachable, 130 interrupted (a job is then detached, not cancelled).\n"
	      "See polytrans(1).\n",
	      stdout);
}

static int pc__uint(const char *opt, const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (!*s || *end || errno || s[0] == '-' || v < min || v > max)
		return pc_usage(PC__HELP, "%s: '%s' is not a whole number from %u to %u", opt, s, min, max);
	*out = (uint32_t)v;
	return 0;
}

/* Normalizes a language given by a person ("German", "zh-CN", "iw") to
 * its code, checking it is one of the 18. */
static int pc__lang(const char *opt, const char *s, bool auto_ok, char *out)
{
	int lang;
	pt_err e = { 0 };
	if (auto_ok && strcmp(s, "auto") == 0) {
		strcpy(out, "auto");
		return 0;
	}
	if (langid_lang_find(s, &lang, &e) != 0)
		return pc_usage(PC__HELP, "%s: %s", opt, e.msg);
	snprintf(out, PROTO_LANG_SIZE, "%s", langid_lang_code(lang));
	return 0;
}

/* --format: the names of proto_format and the extensions people know. */
static int pc__format(const char *s, int *out)
{
	static const struct { const char *name; int fmt; } names[] = {
		{ "text", PROTO_FMT_TEXT }, { "txt", PROTO_FMT_TEXT },
		{ "markdown", PROTO_FMT_MARKDOWN }, { "md", PROTO_FMT_MARKDOWN },
		{ "srt", PROTO_FMT_SRT }, { "subrip", PROTO_FMT_SRT },
		{ "po", PROTO_FMT_PO }, { "pot", PROTO_FMT_PO }, { "gettext", PROTO_FMT_PO },
		{ "html", PROTO_FMT_HTML }, { "htm", PROTO_FMT_HTML }, { "xhtml", PROTO_FMT_HTML },
		{ "plain", PROTO_FMT_TEXT }, { "auto", PROTO_FMT_AUTO },
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcasecmp(s, names[i].name) == 0) {
			*out = names[i].fmt;
			return 0;
		}
	return pc_usage(PC__HELP, "--format: '%s' is not one of text, markdown, srt, po, html, auto", s);
}

static void pc__on_sigint(int sig)
{
	(void)sig;
	pc_interrupted = 1;
}

static void pc__signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	/* No SA_RESTART: a blocking read of stdin must return on Ctrl-C. */
	sa.sa_handler = pc__on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	/* A closed socket or pipe is an error return, not a death. */
	signal(SIGPIPE, SIG_IGN);
}

/* Parses the options into *o and *mode; returns -1 to go on, else an exit
 * status (--help, --version, usage errors). */
static int pc__parse(int argc, char **argv, pc_opts *o, int *mode)
{
	int c, n_modes = 0, rc;
	bool has_format = false, has_priority = false;
	const char *to = NULL, *from = NULL;
	memset(o, 0, sizeof *o);
	strcpy(o->from, "auto");
	*mode = PC__TRANSLATE;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":t:f:o:dvqVh", pc__long, NULL)) != -1) {
		if ((rc = pc_common_opt(PC__HELP, c, optarg, o)) > 0)
			return rc;
		if (rc == 0)
			continue;
		switch (c) {
		case 't': to = optarg; break;
		case 'f': from = optarg; break;
		case 'o': o->output = optarg; break;
		case OPT_BEAMS:
			if ((rc = pc__uint("--beams", optarg, 1, PROTO_BEAMS_MAX, &o->beams)))
				return rc;
			break;
		case OPT_MAX_TOKENS:
			if ((rc = pc__uint("--max-tokens", optarg, 1, PROTO_MAX_TOKENS_MAX,
					   &o->max_tokens)))
				return rc;
			break;
		case 'd': *mode = PC__DETECT; n_modes++; break;
		case OPT_LINES: o->lines = true; break;
		case OPT_LANGUAGES: *mode = PC__LANGUAGES; n_modes++; break;
		case OPT_STATUS: *mode = PC__STATUS; n_modes++; break;
		case OPT_JOB: o->job = true; break;
		case OPT_DETACH: o->detach = true; break;
		case OPT_FORMAT:
			if ((rc = pc__format(optarg, &o->format)))
				return rc;
			has_format = true;
			break;
		case OPT_PRIORITY: {
			char *end;
			errno = 0;
			long v = strtol(optarg, &end, 10);
			if (!*optarg || *end || errno || v < PROTO_PRIORITY_MIN || v > PROTO_PRIORITY_MAX)
				return pc_usage(PC__HELP, "--priority: '%s' is not a whole number from %d to %d",
						 optarg, PROTO_PRIORITY_MIN, PROTO_PRIORITY_MAX);
			o->priority = (int32_t)v;
			has_priority = true;
			break;
		}
		case 'V': printf("polytrans %s\n", PT_VERSION); return PC_EXIT_OK;
		case 'h': pc__help(); return PC_EXIT_OK;
		default:
			return pc_getopt_error(PC__HELP, c, argv);
		}
	}
	o->inputs = argv + optind;
	o->n_inputs = argc - optind;

	if (n_modes > 1)
		return pc_usage(PC__HELP, "--detect, --languages and --status go alone");
	if (o->lines && *mode != PC__DETECT)
		return pc_usage(PC__HELP, "--lines goes with --detect");
	if (*mode != PC__TRANSLATE && (to || from || o->output || o->beams || o->max_tokens))
		return pc_usage(PC__HELP, "--to, --from, -o, --beams and --max-tokens are for translating");
	if ((*mode == PC__LANGUAGES || *mode == PC__STATUS) && o->n_inputs)
		return pc_usage(PC__HELP, "--languages and --status take no files");
	if (*mode == PC__TRANSLATE && !to)
		return pc_usage(PC__HELP, "say which language to translate to: --to LANG");
	if (!o->job && (has_format || has_priority || o->detach))
		return pc_usage(PC__HELP, "--format, --priority and --detach go with --job");
	if (o->job && (*mode != PC__TRANSLATE || o->beams || o->max_tokens))
		return pc_usage(PC__HELP, "--job translates documents: not with --detect, --languages, "
				 "--status, --beams or --max-tokens");
	if (o->job && o->n_inputs == 0)
		return pc_usage(PC__HELP, "--job needs the files to translate");
	if (o->job && o->output && strcmp(o->output, "-") == 0)
		return pc_usage(PC__HELP, "with --job, -o names a folder ('polytrans job result ID -o -' "
				 "prints a finished job's outputs)");
	if (to && (rc = pc__lang("--to", to, false, o->to)))
		return rc;
	if (from && (rc = pc__lang("--from", from, true, o->from)))
		return rc;
	if (o->output && o->n_inputs && !o->job)
		for (int i = 0; i < o->n_inputs; i++)
			if (strcmp(o->inputs[i], o->output) == 0)
				return pc_usage(PC__HELP, "-o %s would replace an input", o->output);
	return -1;
}

int main(int argc, char **argv)
{
	pc_opts o;
	pc_conn c = PC_CONN_INIT;
	int mode, st;

	pc__signals();
	if (argc > 1)
		for (const pc__subcmd *s = pc__subcmds; s->name; s++)
			if (strcmp(argv[1], s->name) == 0)
				return s->run(argc - 1, argv + 1);

	if ((st = pc__parse(argc, argv, &o, &mode)) >= 0)
		return st;
	switch (mode) {
	case PC__DETECT: st = pc_cmd_detect(&o, &c); break;
	case PC__LANGUAGES: st = pc_cmd_languages(&o, &c); break;
	case PC__STATUS: st = pc_cmd_status(&o, &c); break;
	default: st = o.job ? pc_cmd_job_submit(&o, &c) : pc_cmd_translate(&o, &c); break;
	}
	pc_conn_close(&c);
	if (pc_interrupted)
		return PC_EXIT_INT;
	return st;
}
