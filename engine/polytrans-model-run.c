/*
 * polytrans-model run: generates a continuation of a prompt with the
 * engine's decoders, streaming the text to stdout as it becomes final.
 * SIGINT sets the engine's cancel flag: the text so far is printed and the
 * tool exits with status 1.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "polytrans-model.h"

#define PM_MAX_STOP 16

static volatile int pm_cancel;

static void pm_on_sigint(int sig)
{
	(void)sig;
	pm_cancel = 1;
}

typedef struct pm_run_opts {
	const char *path, *prompt, *logits_out;
	const char *stop[PM_MAX_STOP];
	int n_stop, ids, no_bos, no_eos, have_seed;
	int64_t threads;
	engine_gen_params gp;
} pm_run_opts;

static const char *pm_stop_name(engine_stop_reason r)
{
	switch (r) {
	case ENGINE_STOP_EOS: return "end of text";
	case ENGINE_STOP_STRING: return "stop string";
	case ENGINE_STOP_MAX_TOKENS: return "token budget";
	case ENGINE_STOP_CANCELLED: return "cancelled";
	case ENGINE_STOP_CONTEXT: return "context full";
	case ENGINE_STOP_CALLBACK: return "callback";
	}
	return "?";
}

static int pm_run_parse(int argc, char **argv, pm_run_opts *o)
{
	enum { O_MAX = 256, O_IDS, O_LOGITS, O_BEAMS, O_TEMP, O_TOPP, O_TOPK, O_SEED,
	       O_REP, O_LEN, O_STOP, O_NOBOS, O_NOEOS, O_THREADS, O_PROMPT };
	static const struct option opts[] = {
		{ "prompt", required_argument, NULL, O_PROMPT },
		{ "max-tokens", required_argument, NULL, O_MAX },
		{ "ids", no_argument, NULL, O_IDS },
		{ "logits-out", required_argument, NULL, O_LOGITS },
		{ "beams", required_argument, NULL, O_BEAMS },
		{ "temperature", required_argument, NULL, O_TEMP },
		{ "top-p", required_argument, NULL, O_TOPP },
		{ "top-k", required_argument, NULL, O_TOPK },
		{ "seed", required_argument, NULL, O_SEED },
		{ "repetition-penalty", required_argument, NULL, O_REP },
		{ "length-penalty", required_argument, NULL, O_LEN },
		{ "stop", required_argument, NULL, O_STOP },
		{ "no-bos", no_argument, NULL, O_NOBOS },
		{ "no-eos", no_argument, NULL, O_NOEOS },
		{ "threads", required_argument, NULL, O_THREADS },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	engine_gen_params *gp = &o->gp;
	int64_t v;
	int c, rc = 0;

	while (rc == 0 && (c = getopt_long(argc, argv, ":vh", opts, NULL)) != -1) {
		switch (c) {
		case O_PROMPT: o->prompt = optarg; break;
		case O_MAX:
			if ((rc = pm_parse_i64("--max-tokens", optarg, 0, 1 << 20, &v)) == 0)
				gp->max_tokens = (int32_t)v;
			break;
		case O_IDS: o->ids = 1; break;
		case O_LOGITS: o->logits_out = optarg; break;
		case O_BEAMS:
			if ((rc = pm_parse_i64("--beams", optarg, 1, 16, &v)) == 0)
				gp->n_beams = (int32_t)v;
			break;
		case O_TEMP: rc = pm_parse_float("--temperature", optarg, 0, 1e6, &gp->temperature); break;
		case O_TOPP: rc = pm_parse_float("--top-p", optarg, 1e-9, 1, &gp->top_p); break;
		case O_TOPK:
			if ((rc = pm_parse_i64("--top-k", optarg, 0, INT32_MAX, &v)) == 0)
				gp->top_k = (int32_t)v;
			break;
		case O_SEED:
			rc = pm_parse_u64("--seed", optarg, &gp->seed);
			o->have_seed = 1;
			break;
		case O_REP:
			rc = pm_parse_float("--repetition-penalty", optarg, 1e-6, 1e6,
					    &gp->repetition_penalty);
			break;
		case O_LEN:
			rc = pm_parse_float("--length-penalty", optarg, -100, 100, &gp->length_penalty);
			break;
		case O_STOP:
			if (o->n_stop == PM_MAX_STOP)
				return pm_usage_error("--stop: at most %d stop strings", PM_MAX_STOP);
			if (optarg[0] == '\0')
				return pm_usage_error("--stop: the stop string is empty");
			o->stop[o->n_stop++] = optarg;
			break;
		case O_NOBOS: o->no_bos = 1; break;
		case O_NOEOS: o->no_eos = 1; break;
		case O_THREADS: rc = pm_parse_i64("--threads", optarg, 1, 1024, &o->threads); break;
		case 'v': pm_verbose++; break;
		case 'h': pm_usage(stdout); return -1;
		default: return pm_bad_option("run", c, argv);
		}
	}
	if (rc != 0)
		return rc;
	if (argc - optind != 1)
		return pm_usage_error("run takes one FILE");
	if (o->prompt == NULL)
		return pm_usage_error("run needs --prompt TEXT");
	if (gp->n_beams > 1 && gp->temperature > 0)
		return pm_usage_error("--beams and --temperature: beam search does not sample");
	o->path = argv[optind];
	gp->stop = o->stop;
	gp->n_stop = o->n_stop;
	gp->stop_at_eos = !o->no_eos;
	gp->cancel = &pm_cancel;
	if (!o->have_seed)
		gp->seed = (uint64_t)time(NULL) * 6364136223846793005ull ^ (uint64_t)getpid();
	return 0;
}

/* Streams text to stdout as the engine makes it final. */
static int pm_on_text(void *ud, const char *text, size_t len)
{
	(void)ud;
	if (fwrite(text, 1, len, stdout) != len)
		return 1;
	fflush(stdout);
	return 0;
}

/* Writes n floats little-endian, whatever the host's byte order. */
static int pm_write_logits(const char *path, const float *x, int32_t n)
{
	FILE *f = fopen(path, "wb");
	int rc = 0;

	if (f == NULL)
		return pm_fail("%s: %s", path, strerror(errno));
	for (int32_t i = 0; i < n && rc == 0; i++) {
		uint32_t u;
		unsigned char b[4];

		memcpy(&u, &x[i], 4);
		b[0] = (unsigned char)u;
		b[1] = (unsigned char)(u >> 8);
		b[2] = (unsigned char)(u >> 16);
		b[3] = (unsigned char)(u >> 24);
		if (fwrite(b, 1, 4, f) != 4)
			rc = pm_fail("%s: %s", path, strerror(errno));
	}
	if (fclose(f) != 0 && rc == 0)
		rc = pm_fail("%s: %s", path, strerror(errno));
	return rc;
}

/* Evaluates the prompt alone for --logits-out; engine_generate then reuses
 * the cached prompt. */
static int pm_run_logits(engine_ctx *ctx, const pm_run_opts *o, const int32_t *ids,
			 size_t n, int32_t n_ctx, int32_t n_vocab)
{
	float *logits;
	pt_err e;
	int rc;

	if (n > (size_t)n_ctx)
		return pm_fail("prompt is %zu tokens, the model's context is %d", n, (int)n_ctx);
	if (n == 0)
		return pm_fail("the prompt has no tokens (try without --no-bos)");
	if ((logits = malloc((size_t)n_vocab * sizeof *logits)) == NULL)
		return pm_fail("out of memory for %d logits", (int)n_vocab);
	pt_err_clear(&e);
	rc = engine_eval(ctx, 0, ids, n, logits, &e);
	if (rc != 0)
		rc = pm_fail_err(&e, rc);
	else
		rc = pm_write_logits(o->logits_out, logits, n_vocab);
	free(logits);
	return rc;
}

static void pm_run_report(const engine_gen_result *r, const pm_run_opts *o)
{
	if (pm_verbose < 1)
		return;
	fprintf(stderr, "polytrans-model: prompt %d tokens in %.3f s (%.1f tokens/s); "
		"generated %d tokens in %.3f s (%.1f tokens/s); stopped by %s; seed %llu\n",
		(int)r->n_prompt, r->prompt_s, r->prompt_s > 0 ? r->n_prompt / r->prompt_s : 0.0,
		(int)r->n_ids, r->gen_s, r->gen_s > 0 ? r->n_ids / r->gen_s : 0.0,
		pm_stop_name(r->stop), (unsigned long long)o->gp.seed);
}

static int pm_run_generate(engine_ctx *ctx, const pm_run_opts *o, const int32_t *ids,
			   size_t n)
{
	engine_gen_result r;
	pt_err e;
	int rc;

	pt_err_clear(&e);
	rc = engine_generate(ctx, ids, n, &o->gp, o->ids ? NULL : pm_on_text, NULL, &r, &e);
	if (rc != 0)
		return pm_fail_err(&e, rc);
	if (o->ids) {
		for (int32_t i = 0; i < r.n_ids; i++)
			printf(i ? " %d" : "%d", (int)r.ids[i]);
	}
	putchar('\n');
	pm_run_report(&r, o);
	if (r.stop == ENGINE_STOP_CANCELLED)
		rc = pm_fail("interrupted after %d tokens", (int)r.n_ids);
	else if (r.stop == ENGINE_STOP_CALLBACK)
		rc = pm_fail("writing the output: %s", strerror(errno));
	engine_gen_result_done(&r);
	return rc;
}

int pm_cmd_run(int argc, char **argv)
{
	pm_run_opts o;
	engine_model_info in;
	engine_ctx_params cp = engine_ctx_default_params();
	engine_model *m = NULL;
	engine_ctx *ctx = NULL;
	int32_t *ids = NULL;
	size_t cap = 0, n = 0;
	pt_err e;
	int rc;

	memset(&o, 0, sizeof o);
	o.gp = engine_gen_default_params();
	rc = pm_run_parse(argc, argv, &o);
	if (rc != 0)
		return rc < 0 ? PM_EXIT_OK : rc;
	rc = pm_check_utf8("--prompt", o.prompt, strlen(o.prompt));
	if (rc == 0)
		rc = pm_load(o.path, &m);
	if (rc != 0)
		return rc;
	engine_model_get_info(m, &in);
	rc = pm_tokenize(m, o.prompt, strlen(o.prompt),
			 in.add_bos && !o.no_bos ? ENGINE_TOK_ADD_BOS : 0, &ids, &cap, &n);
	cp.n_seq = o.gp.n_beams;
	cp.n_threads = (int)o.threads;
	pt_err_clear(&e);
	if (rc == 0 && (rc = engine_ctx_new(m, &cp, &ctx, &e)) != 0)
		rc = pm_fail_err(&e, rc);
	if (rc == 0)
		signal(SIGINT, pm_on_sigint);
	if (rc == 0 && o.logits_out != NULL)
		rc = pm_run_logits(ctx, &o, ids, n, in.n_ctx, in.n_vocab);
	if (rc == 0 && !(o.logits_out != NULL && o.gp.max_tokens == 0))
		rc = pm_run_generate(ctx, &o, ids, n);
	if (fflush(stdout) != 0 && rc == 0)
		rc = pm_fail("writing the output: %s", strerror(errno));
	engine_ctx_free(ctx);
	engine_model_free(m);
	free(ids);
	return rc;
}
