/*
 * pm-translate.c: `polytrans-model translate FILE --to LANG [--from LANG]
 * [TEXT]`, the whole translate pipeline (pipeline.c) without the daemon:
 * for trying a model or a prompt template, and for tests.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"
#include "pm-cmds.h"

/* stdin is read up to this size, the daemon's default max_text_bytes. */
#define PM_TR_MAX_INPUT (16u << 20)

typedef struct pm_tr_opts {
	const char *model, *to, *from, *text, *tpl;
	int beams, max_tokens, threads, ctx;
} pm_tr_opts;

static int pm_tr_usage(const char *why)
{
	fprintf(stderr, "polytrans-model: translate: %s\n"
		"usage: polytrans-model translate MODEL.gguf --to LANG [--from LANG|auto]\n"
		"         [--beams N] [--max-tokens N] [--threads N] [--ctx N]\n"
		"         [--template FILE] [TEXT]\n"
		"Translates TEXT (or stdin) and writes the translation to stdout;\n"
		"warnings go to stderr.\n", why);
	return 2;
}

static int pm_tr_num(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

static int pm_tr_parse(int argc, char **argv, pm_tr_opts *o)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "from", required_argument, NULL, 'f' },
		{ "beams", required_argument, NULL, 'b' },
		{ "max-tokens", required_argument, NULL, 'm' },
		{ "threads", required_argument, NULL, 'j' },
		{ "ctx", required_argument, NULL, 'c' },
		{ "template", required_argument, NULL, 'T' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof *o);
	o->from = "auto";
	optind = 1;
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 't': o->to = optarg; break;
		case 'f': o->from = optarg; break;
		case 'T': o->tpl = optarg; break;
		case 'v': break;
		case 'b':
			if (pm_tr_num(optarg, 1, 16, &o->beams) != 0)
				return pm_tr_usage("--beams takes a number from 1 to 16");
			break;
		case 'm':
			if (pm_tr_num(optarg, 1, 65536, &o->max_tokens) != 0)
				return pm_tr_usage("--max-tokens takes a number from 1 to 65536");
			break;
		case 'j':
			if (pm_tr_num(optarg, 0, 256, &o->threads) != 0)
				return pm_tr_usage("--threads takes a number from 0 to 256");
			break;
		case 'c':
			if (pm_tr_num(optarg, 0, 1 << 20, &o->ctx) != 0)
				return pm_tr_usage("--ctx takes a number of tokens");
			break;
		case 'h':
			return pm_tr_usage("help");
		default:
			return pm_tr_usage("bad option");
		}
	}
	if (optind >= argc)
		return pm_tr_usage("no model file");
	o->model = argv[optind++];
	if (optind < argc)
		o->text = argv[optind++];
	if (optind < argc)
		return pm_tr_usage("one TEXT at most (quote it)");
	if (o->to == NULL)
		return pm_tr_usage("--to LANG is required");
	return 0;
}

static char *pm_tr_read_stdin(size_t *len)
{
	size_t cap = 65536, n = 0, r;
	char *buf = malloc(cap), *nb;

	while (buf != NULL && (r = fread(buf + n, 1, cap - n, stdin)) > 0) {
		n += r;
		if (n == cap) {
			if (cap >= PM_TR_MAX_INPUT) {
				fprintf(stderr, "polytrans-model: translate: stdin is over %u bytes\n",
					PM_TR_MAX_INPUT);
				free(buf);
				return NULL;
			}
			nb = realloc(buf, cap * 2);
			if (nb == NULL)
				free(buf);
			buf = nb;
			cap *= 2;
		}
	}
	if (buf == NULL)
		fprintf(stderr, "polytrans-model: translate: out of memory reading stdin\n");
	*len = n;
	return buf;
}

static int pm_tr_run(const pm_tr_opts *o, const char *text, size_t len)
{
	ptd_pipeline_params pp;
	ptd_pipeline *pl = NULL;
	ptd_tr_params tp = { 0 };
	ptd_tr *tr = NULL;
	pt_err e = { 0 };
	int rc, done = 0, from = LANGID_UND, to;
	const char *out;
	size_t out_len;

	if ((rc = langid_lang_find(o->to, &to, &e)) != 0 ||
	    (strcmp(o->from, "auto") != 0 && (rc = langid_lang_find(o->from, &from, &e)) != 0)) {
		fprintf(stderr, "polytrans-model: translate: %s\n", e.msg);
		return 2;
	}
	ptd_pipeline_default_params(&pp);
	pp.model_path = o->model;
	pp.template_path = o->tpl;
	pp.n_threads = o->threads;
	pp.n_ctx = o->ctx;
	if (o->beams > pp.n_seq)
		pp.n_seq = o->beams;
	tp.texts = &text;
	tp.lens = &len;
	tp.n_texts = 1;
	tp.from = from;
	tp.to = to;
	tp.beams = o->beams;
	tp.max_tokens = o->max_tokens;
	rc = ptd_pipeline_new(&pp, &pl, &e);
	if (rc == 0)
		rc = ptd_tr_new(pl, &tp, &tr, &e);
	while (rc == 0 && !done)
		rc = ptd_tr_step(tr, &done, &e);
	if (rc == 0) {
		out = ptd_tr_result(tr, 0, &out_len);
		if (out_len > 0 && fwrite(out, 1, out_len, stdout) != out_len)
			rc = pt_err_set(&e, PT_EIO, "writing the translation failed");
		for (size_t i = 0; i < ptd_tr_n_warnings(tr); i++)
			fprintf(stderr, "polytrans-model: warning: %s\n", ptd_tr_warning(tr, i));
	}
	if (rc != 0)
		fprintf(stderr, "polytrans-model: translate: %s\n", e.msg);
	ptd_tr_free(tr);
	ptd_pipeline_free(pl);
	return rc == 0 ? 0 : 1;
}

int pm_cmd_translate(int argc, char **argv)
{
	pm_tr_opts o;
	char *buf = NULL;
	size_t len;
	int rc = pm_tr_parse(argc, argv, &o);

	if (rc != 0)
		return rc;
	if (o.text == NULL) {
		if ((buf = pm_tr_read_stdin(&len)) == NULL)
			return 1;
		rc = pm_tr_run(&o, buf, len);
		free(buf);
		return rc;
	}
	return pm_tr_run(&o, o.text, strlen(o.text));
}
