/*
 * polytrans-model-bench-kern.c: `polytrans-model bench --kernels`: the
 * throughput of every matrix x vector kernel this CPU runs, on one thread,
 * per second of that thread's CPU time. On a shared machine wall-clock
 * figures move with whatever else runs; CPU time moves much less, so this
 * is the figure to compare kernels with while developing them (a kernel
 * that waits for memory still counts the wait). Rows of 2048 elements
 * (PolyLM-1.7B's d), 1 MiB of them (in cache) and 256 MiB (in memory),
 * for 1, 4, 8 and 16 vectors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "kernels.h"
#include "pm-cmds.h"

#define KB_K 2048
#define KB_MAX_X 16

static double kb_cpu(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Rows of random weights: 1 MiB quantized, then copied over the rest (the
 * kernels' speed does not depend on the values). */
static char *kb_weights(int type, size_t rb, int64_t rows)
{
	char *w = aligned_alloc(64, (rb * (size_t)rows + 63) / 64 * 64);
	float *row = malloc(KB_K * sizeof(float));
	if (!w || !row) {
		free(w);
		free(row);
		return NULL;
	}
	int64_t first = (int64_t)(((size_t)1 << 20) / rb);
	uint64_t s = 0x2545f4914f6cdd1dull;
	for (int64_t r = 0; r < rows; r++) {
		if (r >= first) {
			memcpy(w + (size_t)r * rb, w + (size_t)(r % first) * rb, rb);
			continue;
		}
		for (int i = 0; i < KB_K; i++) {
			s ^= s << 13, s ^= s >> 7, s ^= s << 17;
			row[i] = (float)(int64_t)(s >> 40) / 16777216.0f * 0.07f - 0.035f;
		}
		engine__quant_row(type, row, w + (size_t)r * rb, KB_K);
	}
	free(row);
	return w;
}

static void kb_kernel(const engine__kern *kn, const char *w, size_t rb,
		      int64_t rows, const float *x, char *xq, float *y,
		      const char *where, int json, int *first)
{
	static const int nxs[4] = { 1, 4, 8, 16 };
	size_t xs = engine__vec_bytes(kn->vec, KB_K);
	for (int j = 0; j < KB_MAX_X; j++)
		engine__vec_prepare(kn->vec, x + (size_t)j * KB_K, KB_K, xq + (size_t)j * xs);
	for (int c = 0; c < 4; c++) {
		double best = 1e30;
		for (int rep = 0; rep < 3; rep++) {
			double t0 = kb_cpu();
			kn->mv(w, rb, KB_K, xq, xs, nxs[c], y, (size_t)rows, 0, rows);
			double dt = kb_cpu() - t0;
			best = dt < best ? dt : best;
		}
		best = best > 1e-9 ? best : 1e-9;
		double gbps = (double)rb * (double)rows / best / 1e9;
		double gprod = (double)rows * KB_K * nxs[c] / best / 1e9;
		if (json)
			printf("%s\n  {\"kernel\": \"%s\", \"rows_in\": \"%s\", \"n_x\": %d, "
			       "\"weight_gbps_per_cpu_s\": %.2f, \"gproducts_per_cpu_s\": %.2f}",
			       *first ? "" : ",", kn->name, where, nxs[c], gbps, gprod);
		else
			printf("%-24s %-6s n_x %2d  %7.2f GB/s of weights  %7.2f G products/s\n",
			       kn->name, where, nxs[c], gbps, gprod);
		*first = 0;
	}
}

int pm_bench_kernels(const int *types, int n_types, int json)
{
	static const struct { const char *where; size_t bytes; } sizes[2] = {
		{ "cache", (size_t)1 << 20 }, { "memory", (size_t)256 << 20 },
	};
	float *x = malloc((size_t)KB_MAX_X * KB_K * sizeof(float));
	char *xq = aligned_alloc(64, engine__vec_bytes(ENGINE_VEC_F32, KB_K) * KB_MAX_X);
	float *y = NULL;
	int first = 1, rc = 0;
	if (!x || !xq) {
		rc = 1;
		goto out;
	}
	for (int i = 0; i < KB_MAX_X * KB_K; i++)
		x[i] = (float)((i * 7919) % 2001 - 1000) / 500.0f;
	if (json)
		printf("{\"threads\": 1, \"row_elements\": %d, \"kernels\": [", KB_K);
	else
		printf("bench --kernels: one thread, rows of %d, per second of its CPU time\n",
		       KB_K);
	for (int t = 0; t < n_types; t++) {
		size_t rb = engine__row_bytes(types[t], KB_K);
		int nk;
		const engine__kern *const *ks = engine__kern_list(types[t], &nk);
		for (int s = 0; s < 2 && rb; s++) {
			int64_t rows = (int64_t)(sizes[s].bytes / rb);
			char *w = kb_weights(types[t], rb, rows);
			free(y);
			y = malloc((size_t)rows * KB_MAX_X * sizeof(float));
			if (!w || !y) {
				free(w);
				rc = 1;
				goto out;
			}
			for (int i = 0; i < nk; i++)
				if (ks[i]->isa != ENGINE_ISA_SCALAR)
					kb_kernel(ks[i], w, rb, rows, x, xq, y, sizes[s].where,
						  json, &first);
			free(w);
		}
	}
	if (json)
		printf("\n]}\n");
out:
	free(x);
	free(xq);
	free(y);
	if (rc)
		fputs("polytrans-model: bench: out of memory\n", stderr);
	return rc;
}
