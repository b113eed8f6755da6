/*
 * polytrans-model-bench.c: `polytrans-model bench`. Times prefill, decode
 * and batched decode on random weights of a PolyLM shape, for one weight
 * type or several, and measures in the same run what bounds each figure on
 * this machine at this moment: the memory read bandwidth (decode) and the
 * arithmetic peaks (prefill). The machines are shared; a floor taken at
 * another time means little, so every figure is printed beside the
 * fraction of its bound.
 *
 * Figures are medians over --reps runs after one warm-up run. Output:
 * text, or one JSON object (--json); both are described in
 * polytrans-model(1).
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "engine.h"
#include "gemm-bf16.h"
#include "gemm-q8.h"
#include "kernels.h"
#include "pm-cmds.h"

#define BENCH_MAX_REPS 50
#define BENCH_MAX_TYPES 8
#define BENCH_N_BATCH 4
static const int bench_batches[BENCH_N_BATCH] = { 1, 4, 8, 16 };
/* Batched decode: each sequence a short prompt, then this many steps. */
#define BENCH_BATCH_PROMPT 16
#define BENCH_BATCH_STEPS 32
/* Types measured by --type all, in this order, when the engine knows them
 * (f32 is left out: 7 GB at the 1.7B shape, and no one decodes with it). */
static const char *const bench_all_types[] = { "f16", "bf16", "q8_0", "q4_0",
					       "q4_k", "q6_k" };

typedef struct bench_opts {
	const char *shape;
	int types[BENCH_MAX_TYPES];
	int n_types;
	int threads, reps, json, kernels;
} bench_opts;

/* The machine, measured around the runs. */
typedef struct bench_machine {
	double membw_gbps;      /* the larger of the two below: the floor */
	double membw_before, membw_after;
	double peak[ENGINE_PEAK_COUNT_][2]; /* [kind][threads, 1 thread]; 0 = none */
	char peak_note[ENGINE_PEAK_COUNT_][PT_ERRMSG_MAX];
} bench_machine;

typedef struct bench_batch_res {
	int batch;
	double tps;             /* aggregate tokens/s of the batch */
} bench_batch_res;

/* One weight type. */
typedef struct bench_res {
	int type;
	const char *kernel;
	double build_s;
	uint64_t weight_bytes, decode_bytes, kv_bytes;
	int prefill_len[2];
	double prefill_tps[2];
	double prefill_flop[2]; /* per token */
	int prefill_peak;       /* ENGINE_PEAK_* that bounds this type's prefill */
	int decode_prompt, decode_gen;
	double decode_tps;
	double decode_cpu;      /* cores busy during decode (CPU s / wall s) */
	bench_batch_res batch[BENCH_N_BATCH];
	uint64_t peak_rss;
	int rss_per_type;       /* peak_rss is this type's own (else the process's) */
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
		"Usage: polytrans-model bench --shape 1.7b|tiny --type TYPE[,TYPE...]|all "
		"[--threads N] [--reps N] [--json] [--kernels]\n"
		"TYPE: f32 f16 bf16 q8_0 q4_0 (and q4_k q6_k where the engine has them)\n",
		msg);
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

/* Arithmetic of a prefill of n tokens, per token: the four matrices of
 * each layer (2 flops per weight), attention over the positions before
 * each token (q.k and p.v: 4 d per position), and the logits of the last
 * token only (what engine_eval asks for). */
static double bench_prefill_flop(const engine_model_info *in, int n)
{
	double d = in->n_embd, ff = in->n_ff, L = in->n_layer;
	double mats = 2.0 * L * (4.0 * d * d + 2.0 * d * ff);
	double att = L * 4.0 * d * (n + 1) / 2.0;
	return mats + att + 2.0 * d * in->n_vocab / n;
}

/* The arithmetic a type's prefill runs on, as engine__matmul picks it:
 * VPDPBUSD where the int8 GEMM takes the type (gemm-q8.h), VDPBF16PS for
 * bf16 where the bf16 GEMM runs (gemm-bf16.h), else f32 FMA (OpenBLAS
 * SGEMM on widened panels). */
static int bench_prefill_peak(int type, const bench_machine *mc)
{
	int kind = ENGINE_PEAK_FMA32;
	if (type == ENGINE_TYPE_BF16 && engine__gemm_bf16_usable())
		kind = ENGINE_PEAK_BF16DOT;
	else if (engine__gq8_best(type))
		kind = ENGINE_PEAK_INT8DOT;
	return mc->peak[kind][0] > 0 ? kind : ENGINE_PEAK_FMA32;
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

/* Peak RSS per type: Linux resets the high-water mark when "5" is written
 * to clear_refs. Returns 1 if it did (the next reading is this type's
 * own), 0 if the kernel refused (the reading is the process's). */
static int bench_rss_reset(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");
	if (!f)
		return 0;
	int ok = fputs("5", f) >= 0;
	return fclose(f) == 0 && ok;
}

static uint64_t bench_rss_peak(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long kb = 0;
	if (f) {
		while (fgets(line, sizeof line, f))
			if (sscanf(line, "VmHWM: %llu kB", &kb) == 1)
				break;
		fclose(f);
	}
	if (kb == 0) {
		struct rusage ru;
		if (getrusage(RUSAGE_SELF, &ru) == 0)
			kb = (unsigned long long)ru.ru_maxrss;
	}
	return (uint64_t)kb * 1024u;
}

static uint64_t bench_rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int32_t argmax(const float *x, int32_t n)
{
	int32_t best = 0;
	for (int32_t i = 1; i < n; i++)
		if (x[i] > x[best])
			best = i;
	return best;
}

/* KV cache bytes of a context, as forward.c allocates it (f32 keys and
 * values for every layer, sequence and position). */
static uint64_t bench_kv_bytes(const engine_model_info *in,
			       const engine_ctx_params *cp)
{
	return 2u * sizeof(float) * (uint64_t)in->n_layer * (uint64_t)cp->n_seq *
	       (uint64_t)cp->n_ctx * (uint64_t)in->n_embd;
}

/* Buffers of one run: logits for up to 16 tokens and random token ids. */
typedef struct bench_bufs {
	float *logits;
	int32_t *toks;
	int n_toks;
} bench_bufs;

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

/* nb sequences, each after its own short prompt, advance together through
 * engine_decode, one token each per step (greedy); returns the aggregate
 * tokens/s of the steps. */
static int bench_batch(engine_ctx *c, const bench_bufs *bb, int nb,
		       int32_t n_vocab, double *tps, pt_err *e)
{
	int32_t tok[16], pos[16], seq[16];
	int8_t want[16];
	int rc;
	for (int s = 0; s < nb; s++) {
		engine_kv_truncate(c, s, 0);
		if ((rc = engine_eval(c, s, bb->toks + s * BENCH_BATCH_PROMPT,
				      BENCH_BATCH_PROMPT, bb->logits, e)))
			return rc;
		tok[s] = argmax(bb->logits, n_vocab);
		pos[s] = BENCH_BATCH_PROMPT;
		seq[s] = s;
		want[s] = 1;
	}
	double t0 = pt_now();
	for (int i = 0; i < BENCH_BATCH_STEPS; i++) {
		engine_batch b = { nb, tok, pos, seq, want };
		if ((rc = engine_decode(c, &b, bb->logits, e)))
			return rc;
		for (int s = 0; s < nb; s++) {
			tok[s] = argmax(bb->logits + (size_t)s * (size_t)n_vocab, n_vocab);
			pos[s]++;
		}
	}
	*tps = (double)nb * BENCH_BATCH_STEPS / (pt_now() - t0);
	return 0;
}

/* Prefill 128 and 512, and decode of one sequence after a 128-token
 * prompt, in a context of one sequence. */
static int bench_single(engine_model *m, const bench_opts *o,
			const bench_bufs *bb, bench_res *r, pt_err *e)
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
	uint64_t kv = bench_kv_bytes(&in, &cp);
	r->kv_bytes = kv > r->kv_bytes ? kv : r->kv_bytes;

	engine_ctx *c;
	int rc = engine_ctx_new(m, &cp, &c, e);
	if (rc)
		return rc;
	double v[BENCH_MAX_REPS + 1], cs[BENCH_MAX_REPS + 1], warm;
	for (int p = 0; p < 2; p++) {
		r->prefill_flop[p] = bench_prefill_flop(&in, r->prefill_len[p]);
		if ((rc = bench_prefill(c, bb->toks, r->prefill_len[p], bb->logits, &warm, e)))
			goto out;
		for (int i = 0; i < o->reps; i++)
			if ((rc = bench_prefill(c, bb->toks, r->prefill_len[p], bb->logits,
						&v[i], e)))
				goto out;
		r->prefill_tps[p] = median(v, o->reps);
	}
	for (int i = 0; i < o->reps; i++)
		if ((rc = bench_decode(c, bb->toks, r->decode_prompt, r->decode_gen,
				       bb->logits, in.n_vocab, &v[i], &cs[i], e)))
			goto out;
	r->decode_tps = median(v, o->reps);
	r->decode_cpu = median(cs, o->reps);
out:
	engine_ctx_free(c);
	return rc;
}

/* Aggregate decode at each batch size, in a context of 16 short
 * sequences (its cache is smaller than the single sequence's). */
static int bench_batches_run(engine_model *m, const bench_opts *o,
			     const bench_bufs *bb, bench_res *r, pt_err *e)
{
	engine_model_info in;
	engine_model_get_info(m, &in);
	engine_ctx_params cp = engine_ctx_default_params();
	cp.n_threads = o->threads;
	cp.n_seq = 16;
	cp.n_ctx = BENCH_BATCH_PROMPT + BENCH_BATCH_STEPS;
	cp.n_batch = 16;
	if (cp.n_ctx > in.n_ctx)
		return pt_err_set(e, PT_EINVAL, "the model's context is too short for the bench");
	uint64_t kv = bench_kv_bytes(&in, &cp);
	r->kv_bytes = kv > r->kv_bytes ? kv : r->kv_bytes;
	engine_ctx *c;
	int rc = engine_ctx_new(m, &cp, &c, e);
	if (rc)
		return rc;
	double v[BENCH_MAX_REPS + 1], warm;
	if ((rc = bench_batch(c, bb, 1, in.n_vocab, &warm, e)))
		goto out;
	for (int b = 0; b < BENCH_N_BATCH; b++) {
		r->batch[b].batch = bench_batches[b];
		for (int i = 0; i < o->reps; i++)
			if ((rc = bench_batch(c, bb, bench_batches[b], in.n_vocab, &v[i], e)))
				goto out;
		r->batch[b].tps = median(v, o->reps);
	}
out:
	engine_ctx_free(c);
	return rc;
}

/* Everything for one weight type: build, time, measure memory. */
static int bench_type(const engine_shape *sh, const bench_opts *o,
		      const bench_machine *mc, int type, bench_res *r, pt_err *e)
{
	memset(r, 0, sizeof(*r));
	r->type = type;
	const engine__kern *k = engine__kern_best(type);
	r->kernel = k ? k->name : "none";
	r->prefill_peak = bench_prefill_peak(type, mc);
	r->rss_per_type = bench_rss_reset();

	engine_model *m;
	double t0 = pt_now();
	int rc = engine_model_new_random(sh, type, 1234, &m, e);
	if (rc)
		return rc;
	r->build_s = pt_now() - t0;
	bench_bytes(m, r);
	bench_bufs bb = { .n_toks = 640 };
	bb.logits = malloc((size_t)16 * (size_t)sh->n_vocab * sizeof(float));
	bb.toks = malloc((size_t)bb.n_toks * sizeof(int32_t));
	if (!bb.logits || !bb.toks) {
		rc = pt_err_set(e, PT_ENOMEM, "out of memory");
		goto out;
	}
	uint64_t s = 88172645463325252ull;
	for (int i = 0; i < bb.n_toks; i++)
		bb.toks[i] = (int32_t)(bench_rnd(&s) % (uint64_t)sh->n_vocab);
	if ((rc = bench_single(m, o, &bb, r, e)) ||
	    (rc = bench_batches_run(m, o, &bb, r, e)))
		goto out;
	r->peak_rss = bench_rss_peak();
out:
	free(bb.logits);
	free(bb.toks);
	engine_model_free(m);
	if (rc)
		pt_err_prefix(e, "%s", engine_type_name(type));
	return rc;
}

static void bench_peaks(const bench_opts *o, bench_machine *mc)
{
	for (int kd = 0; kd < ENGINE_PEAK_COUNT_; kd++) {
		pt_err e = { 0 };
		if (engine_peak_measure(kd, o->threads, 0.6, &mc->peak[kd][0], &e) ||
		    engine_peak_measure(kd, 1, 0.6, &mc->peak[kd][1], &e)) {
			mc->peak[kd][0] = mc->peak[kd][1] = 0.0;
			snprintf(mc->peak_note[kd], sizeof mc->peak_note[kd], "%s", e.msg);
		}
	}
}

/* ---- Output ---------------------------------------------------------------- */

static const char *const bench_peak_keys[ENGINE_PEAK_COUNT_] = {
	"fp32_fma", "bf16_dot", "int8_dot"
};

static double bench_floor(const bench_machine *mc, const bench_res *r)
{
	return mc->membw_gbps * 1e9 / (double)r->decode_bytes;
}

/* Peak RSS against weights + KV cache + 10%. */
static double bench_rss_bound(const bench_res *r)
{
	return 1.1 * (double)(r->weight_bytes + r->kv_bytes);
}

static void bench_json_type(const bench_opts *o, const bench_machine *mc,
			    const bench_res *r)
{
	double fl = bench_floor(mc, r);
	printf("  {\"type\": \"%s\", \"kernel\": \"%s\", \"build_s\": %.2f,\n"
	       "   \"weight_bytes\": %llu, \"decode_bytes_per_token\": %llu, \"kv_cache_bytes\": %llu,\n"
	       "   \"prefill\": [", engine_type_name(r->type), r->kernel, r->build_s,
	       (unsigned long long)r->weight_bytes, (unsigned long long)r->decode_bytes,
	       (unsigned long long)r->kv_bytes);
	for (int p = 0; p < 2; p++) {
		double gf = r->prefill_tps[p] * r->prefill_flop[p] / 1e9;
		printf("%s{\"tokens\": %d, \"tokens_per_s\": %.2f, \"flop_per_token\": %.0f, "
		       "\"gflop_per_s\": %.1f, \"peak\": \"%s\", \"fraction_of_peak\": %.3f, "
		       "\"fraction_of_peaks\": {", p ? ",\n               " : "",
		       r->prefill_len[p], r->prefill_tps[p], r->prefill_flop[p], gf,
		       bench_peak_keys[r->prefill_peak],
		       mc->peak[r->prefill_peak][0] > 0 ? gf / mc->peak[r->prefill_peak][0] : 0.0);
		int first = 1;
		for (int kd = 0; kd < ENGINE_PEAK_COUNT_; kd++)
			if (mc->peak[kd][0] > 0) {
				printf("%s\"%s\": %.3f", first ? "" : ", ", bench_peak_keys[kd],
				       gf / mc->peak[kd][0]);
				first = 0;
			}
		printf("}}");
	}
	printf("],\n   \"decode\": [{\"batch\": 1, \"prompt\": %d, \"tokens\": %d, "
	       "\"tokens_per_s\": %.3f, \"cpu_cores_used\": %.2f, \"read_gbps\": %.2f, "
	       "\"floor_tokens_per_s\": %.3f, \"fraction_of_floor\": %.3f}",
	       r->decode_prompt, r->decode_gen, r->decode_tps, r->decode_cpu,
	       r->decode_tps * (double)r->decode_bytes / 1e9, fl, r->decode_tps / fl);
	for (int b = 0; b < BENCH_N_BATCH; b++)
		printf(",\n              {\"batch\": %d, \"prompt\": %d, \"tokens\": %d, "
		       "\"tokens_per_s\": %.3f, \"floor_tokens_per_s\": %.3f, "
		       "\"fraction_of_floor\": %.3f, \"speedup_over_batch_1\": %.2f}",
		       r->batch[b].batch, BENCH_BATCH_PROMPT, BENCH_BATCH_STEPS,
		       r->batch[b].tps, fl * r->batch[b].batch,
		       r->batch[b].tps / (fl * r->batch[b].batch),
		       r->batch[0].tps > 0 ? r->batch[b].tps / r->batch[0].tps : 0.0);
	printf("],\n   \"peak_rss_bytes\": %llu, \"peak_rss_scope\": \"%s\", "
	       "\"peak_rss_bound_bytes\": %.0f, \"peak_rss_within_bound\": %s}",
	       (unsigned long long)r->peak_rss, r->rss_per_type ? "type" : "process",
	       bench_rss_bound(r), r->peak_rss <= bench_rss_bound(r) ? "true" : "false");
	(void)o;
}

static void bench_print_json(const bench_opts *o, const bench_machine *mc,
			     const bench_res *r)
{
	printf("{\"shape\": \"%s\", \"threads\": %d, \"reps\": %d,\n"
	       " \"membw_gbps\": %.2f, \"membw_before_gbps\": %.2f, \"membw_after_gbps\": %.2f,\n"
	       " \"peaks\": {", o->shape, o->threads, o->reps, mc->membw_gbps,
	       mc->membw_before, mc->membw_after);
	for (int kd = 0; kd < ENGINE_PEAK_COUNT_; kd++) {
		printf("%s\"%s\": ", kd ? ",\n           " : "", bench_peak_keys[kd]);
		if (mc->peak[kd][0] > 0)
			printf("{\"name\": \"%s\", \"unit\": \"%s\", \"threads\": %d, "
			       "\"per_s\": %.1f, \"one_thread_per_s\": %.1f}",
			       engine_peak_name(kd), kd == ENGINE_PEAK_INT8DOT ? "GOP" : "GFLOP",
			       o->threads, mc->peak[kd][0], mc->peak[kd][1]);
		else
			printf("{\"name\": \"%s\", \"skipped\": \"%s\"}", engine_peak_name(kd),
			       mc->peak_note[kd]);
	}
	printf("},\n \"types\": [\n");
	for (int i = 0; i < o->n_types; i++) {
		bench_json_type(o, mc, &r[i]);
		printf("%s\n", i + 1 < o->n_types ? "," : "");
	}
	printf(" ]}\n");
}

static void bench_text_type(const bench_machine *mc, const bench_res *r)
{
	double fl = bench_floor(mc, r);
	int pk = r->prefill_peak;
	printf("\ntype %s (kernel %s): weights %.3f GB, decode reads %.3f GB per token\n",
	       engine_type_name(r->type), r->kernel, r->weight_bytes / 1e9,
	       r->decode_bytes / 1e9);
	for (int p = 0; p < 2; p++) {
		double gf = r->prefill_tps[p] * r->prefill_flop[p] / 1e9;
		printf("  prefill %4d tokens  %9.2f tokens/s  %5.1f %% of the %s peak "
		       "(%.2f GFLOP/token, %.0f GFLOP/s)\n", r->prefill_len[p],
		       r->prefill_tps[p], mc->peak[pk][0] > 0 ? 100.0 * gf / mc->peak[pk][0] : 0.0,
		       engine_peak_name(pk), r->prefill_flop[p] / 1e9, gf);
	}
	printf("  decode               %9.3f tokens/s  %5.1f %% of the floor %.3f "
	       "(%d after a %d-token prompt; %.2f cores busy)\n", r->decode_tps,
	       100.0 * r->decode_tps / fl, fl, r->decode_gen, r->decode_prompt,
	       r->decode_cpu);
	for (int b = 0; b < BENCH_N_BATCH; b++)
		printf("  decode batch %-2d      %9.3f tokens/s  %5.1f %% of %d x floor, "
		       "%.2f x batch 1\n", r->batch[b].batch, r->batch[b].tps,
		       100.0 * r->batch[b].tps / (fl * r->batch[b].batch), r->batch[b].batch,
		       r->batch[0].tps > 0 ? r->batch[b].tps / r->batch[0].tps : 0.0);
	printf("  peak RSS             %9.3f GB        bound %.3f GB (weights + KV cache "
	       "%.3f GB + 10%%): %s%s\n", r->peak_rss / 1e9, bench_rss_bound(r) / 1e9,
	       r->kv_bytes / 1e9, r->peak_rss <= bench_rss_bound(r) ? "within" : "OVER",
	       r->rss_per_type ? "" : " (process peak: this kernel cannot reset it)");
}

static void bench_print_text(const bench_opts *o, const bench_machine *mc,
			     const bench_res *r)
{
	printf("bench: shape %s, %d threads, median of %d runs (batches: %d-token "
	       "prompts, %d steps)\n", o->shape, o->threads, o->reps,
	       BENCH_BATCH_PROMPT, BENCH_BATCH_STEPS);
	printf("memory read bandwidth  %9.2f GB/s (%.2f before, %.2f after the runs)\n",
	       mc->membw_gbps, mc->membw_before, mc->membw_after);
	for (int kd = 0; kd < ENGINE_PEAK_COUNT_; kd++) {
		if (mc->peak[kd][0] > 0)
			printf("peak %-21s %7.1f %s/s with %d threads, %.1f with 1\n",
			       engine_peak_name(kd), mc->peak[kd][0],
			       kd == ENGINE_PEAK_INT8DOT ? "GOP" : "GFLOP", o->threads,
			       mc->peak[kd][1]);
		else
			printf("peak %-21s skipped: %s\n", engine_peak_name(kd), mc->peak_note[kd]);
	}
	for (int i = 0; i < o->n_types; i++)
		bench_text_type(mc, &r[i]);
	printf("\n%-6s %9s %9s %9s %8s %6s %8s %8s %8s %8s %6s\n", "type", "pf128/s",
	       "pf512/s", "decode/s", "floor/s", "%", "b1/s", "b4/s", "b8/s", "b16/s",
	       "b8/b1");
	for (int i = 0; i < o->n_types; i++) {
		const bench_res *x = &r[i];
		double fl = bench_floor(mc, x);
		printf("%-6s %9.1f %9.1f %9.2f %8.2f %6.1f %8.2f %8.2f %8.2f %8.2f %6.2f\n",
		       engine_type_name(x->type), x->prefill_tps[0], x->prefill_tps[1],
		       x->decode_tps, fl, 100.0 * x->decode_tps / fl, x->batch[0].tps,
		       x->batch[1].tps, x->batch[2].tps, x->batch[3].tps,
		       x->batch[0].tps > 0 ? x->batch[2].tps / x->batch[0].tps : 0.0);
	}
}

static int bench_types_parse(const char *list, bench_opts *o)
{
	char buf[256], *save = NULL;
	o->n_types = 0;
	if (strcmp(list, "all") == 0) {
		for (size_t i = 0; i < sizeof bench_all_types / sizeof bench_all_types[0]; i++) {
			int t = engine_type_from_name(bench_all_types[i]);
			if (t >= 0 && engine__kern_best(t))
				o->types[o->n_types++] = t;
		}
		return 0;
	}
	if (strlen(list) >= sizeof buf)
		return bench_usage("--type: the list is too long");
	strcpy(buf, list);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		int ty = engine_type_from_name(t);
		if (ty < 0 || !engine__kern_best(ty)) {
			char msg[320];
			snprintf(msg, sizeof msg, "--type: unknown weight type \"%s\"", t);
			return bench_usage(msg);
		}
		if (o->n_types == BENCH_MAX_TYPES)
			return bench_usage("--type: too many types");
		o->types[o->n_types++] = ty;
	}
	return o->n_types ? 0 : bench_usage("--type: no type given");
}

static int bench_parse(int argc, char **argv, bench_opts *o)
{
	static const struct option opts[] = {
		{ "shape", required_argument, NULL, 's' },
		{ "type", required_argument, NULL, 't' },
		{ "threads", required_argument, NULL, 'j' },
		{ "reps", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'J' },
		{ "kernels", no_argument, NULL, 'K' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc;
	char *end;
	const char *types = "bf16";
	*o = (bench_opts){ .shape = "1.7b", .threads = 0, .reps = 3 };
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 's': o->shape = optarg; break;
		case 't': types = optarg; break;
		case 'J': o->json = 1; break;
		case 'K': o->kernels = 1; break;
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
	if ((rc = bench_types_parse(types, o)))
		return rc;
	return 0;
}

int pm_cmd_bench(int argc, char **argv)
{
	bench_opts o;
	bench_machine mc = { 0 };
	bench_res r[BENCH_MAX_TYPES];
	engine_shape sh;
	pt_err e = { 0 };
	int rc = bench_parse(argc, argv, &o);
	if (rc)
		return rc;
	if (engine_shape_by_name(o.shape, &sh, &e))
		return bench_usage(e.msg);
	if (o.kernels)
		return pm_bench_kernels(o.types, o.n_types, o.json);
	if (o.threads == 0)
		o.threads = engine__pool_default_threads();

	/* Bandwidth and peaks before the weights take the memory, bandwidth
	 * again after they are freed: on a shared machine the two differ, and
	 * the floor uses the larger (the stricter bar). */
	if (engine_membw_measure(o.threads, (size_t)1 << 30, 5, &mc.membw_before, &e))
		return bench_fail("bench: %s", e.msg);
	bench_peaks(&o, &mc);
	for (int i = 0; i < o.n_types; i++)
		if (bench_type(&sh, &o, &mc, o.types[i], &r[i], &e))
			return bench_fail("bench: %s", e.msg);
	if (engine_membw_measure(o.threads, (size_t)1 << 30, 5, &mc.membw_after, &e))
		return bench_fail("bench: %s", e.msg);
	mc.membw_gbps = mc.membw_before > mc.membw_after ? mc.membw_before : mc.membw_after;
	if (o.json)
		bench_print_json(&o, &mc, r);
	else
		bench_print_text(&o, &mc, r);
	return fflush(stdout) == 0 ? 0 : bench_fail("bench: writing the output failed");
}
