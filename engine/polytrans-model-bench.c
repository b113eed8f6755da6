/*
 * polytrans-model-bench.c: `polytrans-model bench`. Times prefill and
 * decode on random weights of a PolyLM shape, and measures in the same run
 * the memory read bandwidth, so each speed can be read as a fraction of
 * the floor that bounds it on this machine at this moment (the machines
 * are shared; a floor taken at another time means little).
 *
 * Figures are medians over --reps runs after one warm-up run. The output
 * is a list of measurements (text, or --json), made to take more rows:
 * decode at several batch sizes and arithmetic peaks come with issue 8.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "engine.h"
#include "kernels.h"
#include "pm-cmds.h"

#define BENCH_MAX_REPS 50

typedef struct bench_opts {
	const char *shape, *type;
	int threads, reps, json;
} bench_opts;

typedef struct bench_res {
	double membw_gbps;      /* the larger of the two below: the floor */
	double membw_before, membw_after;
	double build_s;
	uint64_t weight_bytes, decode_bytes;
	int prefill_len[2];
	double prefill_tps[2];
	int decode_prompt, decode_gen;
	double decode_tps;
	double decode_cpu;      /* cores busy during decode (CPU s / wall s) */
	uint64_t peak_rss;
	const char *kernel;
} bench_res;

static int bench_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("polytrans-model: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return 1;
}

static int bench_usage(const char *msg)
{
	fprintf(stderr, "polytrans-model: bench: %s\n"
		"Usage: polytrans-model bench --shape 1.7b|tiny --type f32|bf16|f16|q8_0|q4_0 "
		"[--threads N] [--reps N] [--json]\n", msg);
	return 2;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(double), cmp_double);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Weight bytes one decoded token reads: every tensor except the two
 * embedding tables, of which it reads one row each. */
static void bench_bytes(const engine_model *m, bench_res *r)
{
	engine_model_info in;
	engine_model_get_info(m, &in);
	r->weight_bytes = in.weight_bytes;
	r->decode_bytes = 0;
	for (int i = 0; i < in.n_tensors; i++) {
		engine_tensor_info ti;
		if (engine_model_tensor(m, i, &ti))
			continue;
		if (strcmp(ti.name, "token_embd.weight") == 0 ||
		    strcmp(ti.name, "position_embd.weight") == 0)
			r->decode_bytes += ti.nbytes / (uint64_t)ti.ne[1];
		else
			r->decode_bytes += ti.nbytes;
	}
}

/* Process CPU seconds (user + system), to tell how much of the cores a
 * run really had on a shared machine. */
static double bench_cpu(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0.0;
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

static uint64_t bench_rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Prefill of n tokens from an empty cache; returns tokens/s. */
static int bench_prefill(engine_ctx *c, const int32_t *toks, int n,
			 float *logits, double *tps, pt_err *e)
{
	engine_kv_truncate(c, 0, 0);
	double t0 = pt_now();
	int rc = engine_eval(c, 0, toks, (size_t)n, logits, e);
	*tps = n / (pt_now() - t0);
	return rc;
}

static int32_t argmax(const float *x, int32_t n)
{
	int32_t best = 0;
	for (int32_t i = 1; i < n; i++)
		if (x[i] > x[best])
			best = i;
	return best;
}

/* Greedy decode of gen tokens after a prompt of np tokens. */
static int bench_decode(engine_ctx *c, const int32_t *toks, int np, int gen,
			float *logits, int32_t n_vocab, double *tps,
			double *cpu_share, pt_err *e)
{
	engine_kv_truncate(c, 0, 0);
	int rc = engine_eval(c, 0, toks, (size_t)np, logits, e);
	if (rc)
		return rc;
	int32_t tok = argmax(logits, n_vocab), pos = np, seq = 0;
	int8_t want = 1;
	double t0 = pt_now(), c0 = bench_cpu();
	for (int i = 0; i < gen; i++, pos++) {
		engine_batch b = { 1, &tok, &pos, &seq, &want };
		if ((rc = engine_decode(c, &b, logits, e)))
			return rc;
		tok = argmax(logits, n_vocab);
	}
	double wall = pt_now() - t0;
	*tps = gen / wall;
	*cpu_share = (bench_cpu() - c0) / wall;
	return 0;
}

static int bench_speed(engine_model *m, const bench_opts *o, bench_res *r,
		       pt_err *e)
{
	engine_model_info in;
	engine_model_get_info(m, &in);
	engine_ctx_params cp = engine_ctx_default_params();
	cp.n_threads = o->threads;
	cp.n_ctx = in.n_ctx < 640 ? in.n_ctx : 640;
	r->prefill_len[0] = cp.n_ctx / 2 < 128 ? cp.n_ctx / 2 : 128;
	r->prefill_len[1] = cp.n_ctx < 512 ? cp.n_ctx : 512;
	r->decode_prompt = r->prefill_len[0];
	r->decode_gen = cp.n_ctx - r->decode_prompt < 128 ? cp.n_ctx - r->decode_prompt : 128;
	cp.n_batch = r->prefill_len[1];

	engine_ctx *c;
	int rc = engine_ctx_new(m, &cp, &c, e);
	if (rc)
		return rc;
	float *logits = malloc((size_t)in.n_vocab * sizeof(float));
	int32_t *toks = malloc((size_t)cp.n_ctx * sizeof(int32_t));
	if (!logits || !toks) {
		rc = pt_err_set(e, PT_ENOMEM, "out of memory");
		goto out;
	}
	uint64_t s = 88172645463325252ull;
	for (int i = 0; i < cp.n_ctx; i++)
		toks[i] = (int32_t)(bench_rnd(&s) % (uint64_t)in.n_vocab);

	double v[BENCH_MAX_REPS + 1], cs[BENCH_MAX_REPS + 1], warm;
	for (int p = 0; p < 2; p++) {
		if ((rc = bench_prefill(c, toks, r->prefill_len[p], logits, &warm, e)))
			goto out;
		for (int i = 0; i < o->reps; i++)
			if ((rc = bench_prefill(c, toks, r->prefill_len[p], logits, &v[i], e)))
				goto out;
		r->prefill_tps[p] = median(v, o->reps);
	}
	for (int i = 0; i < o->reps; i++)
		if ((rc = bench_decode(c, toks, r->decode_prompt, r->decode_gen,
				       logits, in.n_vocab, &v[i], &cs[i], e)))
			goto out;
	r->decode_tps = median(v, o->reps);
	r->decode_cpu = median(cs, o->reps);
out:
	free(logits);
	free(toks);
	engine_ctx_free(c);
	return rc;
}

static void bench_print(const bench_opts *o, const bench_res *r)
{
	double floor_tps = r->membw_gbps * 1e9 / (double)r->decode_bytes;
	if (o->json) {
		printf("{\"shape\": \"%s\", \"type\": \"%s\", \"threads\": %d, \"reps\": %d,\n"
		       " \"kernel\": \"%s\", \"membw_gbps\": %.2f, \"membw_before_gbps\": %.2f, \"membw_after_gbps\": %.2f,\n"
		       " \"weight_bytes\": %llu, \"decode_bytes_per_token\": %llu,\n"
		       " \"prefill\": [{\"tokens\": %d, \"tokens_per_s\": %.2f}, "
		       "{\"tokens\": %d, \"tokens_per_s\": %.2f}],\n"
		       " \"decode\": [{\"batch\": 1, \"prompt\": %d, \"tokens\": %d, "
		       "\"tokens_per_s\": %.3f, \"cpu_cores_used\": %.2f, \"read_gbps\": %.2f, \"floor_tokens_per_s\": %.3f, \"fraction_of_floor\": %.3f}],\n"
		       " \"peaks\": {}, \"peak_rss_bytes\": %llu, \"build_s\": %.2f}\n",
		       o->shape, o->type, o->threads, o->reps, r->kernel, r->membw_gbps,
		       r->membw_before, r->membw_after,
		       (unsigned long long)r->weight_bytes,
		       (unsigned long long)r->decode_bytes, r->prefill_len[0],
		       r->prefill_tps[0], r->prefill_len[1], r->prefill_tps[1],
		       r->decode_prompt, r->decode_gen, r->decode_tps, r->decode_cpu,
		       r->decode_tps * (double)r->decode_bytes / 1e9, floor_tps,
		       r->decode_tps / floor_tps, (unsigned long long)r->peak_rss,
		       r->build_s);
		return;
	}
	printf("bench: shape %s, type %s, %d threads, kernel %s, median of %d runs\n",
	       o->shape, o->type, o->threads, r->kernel, o->reps);
	printf("memory read bandwidth   %8.2f GB/s (%.2f before, %.2f after the runs)\n",
	       r->membw_gbps, r->membw_before, r->membw_after);
	printf("weights                 %8.3f GB (decode reads %.3f GB per token)\n",
	       r->weight_bytes / 1e9, r->decode_bytes / 1e9);
	for (int p = 0; p < 2; p++)
		printf("prefill %4d tokens     %8.2f tokens/s\n", r->prefill_len[p],
		       r->prefill_tps[p]);
	printf("decode batch 1          %8.3f tokens/s (%d after a %d-token prompt; reads %.2f GB/s)\n",
	       r->decode_tps, r->decode_gen, r->decode_prompt,
	       r->decode_tps * (double)r->decode_bytes / 1e9);
	printf("decode CPU use          %8.2f cores (of %d threads: less means the machine is shared)\n",
	       r->decode_cpu, o->threads);
	printf("decode floor            %8.3f tokens/s (bandwidth / bytes per token)\n",
	       floor_tps);
	printf("decode / floor          %8.1f %%\n", 100.0 * r->decode_tps / floor_tps);
	printf("peak RSS                %8.3f GB\n", r->peak_rss / 1e9);
}

static int bench_parse(int argc, char **argv, bench_opts *o)
{
	static const struct option opts[] = {
		{ "shape", required_argument, NULL, 's' },
		{ "type", required_argument, NULL, 't' },
		{ "threads", required_argument, NULL, 'j' },
		{ "reps", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'J' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	char *end;
	*o = (bench_opts){ .shape = "1.7b", .type = "bf16", .threads = 0, .reps = 3 };
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 's': o->shape = optarg; break;
		case 't': o->type = optarg; break;
		case 'J': o->json = 1; break;
		case 'v': break;
		case 'j':
			o->threads = (int)strtol(optarg, &end, 10);
			if (*end || o->threads < 1 || o->threads > 256)
				return bench_usage("--threads takes a number from 1 to 256");
			break;
		case 'r':
			o->reps = (int)strtol(optarg, &end, 10);
			if (*end || o->reps < 1 || o->reps > BENCH_MAX_REPS)
				return bench_usage("--reps takes a number from 1 to 50");
			break;
		case 'h':
			bench_usage("help");
			return 2;
		default:
			return bench_usage("bad option");
		}
	}
	if (optind != argc)
		return bench_usage("takes no operands");
	return 0;
}

int pm_cmd_bench(int argc, char **argv)
{
	bench_opts o;
	bench_res r = { 0 };
	engine_shape sh;
	pt_err e = { 0 };
	int rc = bench_parse(argc, argv, &o), type;
	if (rc)
		return rc;
	if (engine_shape_by_name(o.shape, &sh, &e))
		return bench_usage(e.msg);
	if ((type = engine_type_from_name(o.type)) < 0)
		return bench_usage("--type is one of f32, f16, bf16, q8_0, q4_0");
	if (o.threads == 0)
		o.threads = engine__pool_default_threads();
	const engine__kern *k = engine__kern_best(type);
	r.kernel = k ? k->name : "none";

	/* Bandwidth before the weights take the memory, and again after they
	 * are freed: on a shared machine the two differ, and the floor uses
	 * the larger (the stricter bar). */
	if (engine_membw_measure(o.threads, (size_t)1 << 30, 5, &r.membw_before, &e))
		return bench_fail("bench: %s", e.msg);
	engine_model *m;
	double t0 = pt_now();
	if (engine_model_new_random(&sh, type, 1234, &m, &e))
		return bench_fail("bench: %s", e.msg);
	r.build_s = pt_now() - t0;
	bench_bytes(m, &r);
	rc = bench_speed(m, &o, &r, &e);
	engine_model_free(m);
	if (rc)
		return bench_fail("bench: %s", e.msg);
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		r.peak_rss = (uint64_t)ru.ru_maxrss * 1024u;
	if (engine_membw_measure(o.threads, (size_t)1 << 30, 5, &r.membw_after, &e))
		return bench_fail("bench: %s", e.msg);
	r.membw_gbps = r.membw_before > r.membw_after ? r.membw_before : r.membw_after;
	bench_print(&o, &r);
	return fflush(stdout) == 0 ? 0 : bench_fail("bench: writing the output failed");
}
