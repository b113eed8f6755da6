/*
 * peaks.c: the machine's arithmetic peaks, measured (not taken from a data
 * sheet), so that the bench can say how much of the arithmetic a prefill
 * uses on this machine at this moment.
 *
 * Each peak is a register-only loop of one instruction on 16 independent
 * accumulators: enough to cover the latency of 2 pipes x 4-5 cycles, and
 * with no load or store inside, so the figure is the instruction's
 * throughput and nothing else. The loops run on the engine's thread pool,
 * shared out in small chunks through an atomic counter, and the rate is
 * the work done over the wall time of the whole job: a thread that the
 * shared machine holds back lowers the figure, as it would lower the
 * engine's.
 */
#include <immintrin.h>
#include <stdatomic.h>

#include "kernels.h"

#define PK_TGT_FMA512 __attribute__((target("avx512f")))
#define PK_TGT_FMA256 __attribute__((target("avx2,fma")))
#define PK_TGT_BF16 __attribute__((target("avx512f,avx512bw,avx512bf16")))
#define PK_TGT_VNNI __attribute__((target("avx512f,avx512bw,avx512vnni")))

/* Instruction steps per chunk (x 16 instructions): about 0.1-0.5 ms on
 * the machines in question, small enough to balance two threads. */
#define PK_CHUNK_STEPS 16384

/* One chunk of a loop; returns something that depends on every
 * accumulator, so that none of the work can be dropped. */
typedef float (*pk_loop_fn)(float seed, int64_t steps);

/* Sixteen independent chains of OP, reduced at the end. Each starts from
 * a different value (INIT(i)): chains that start equal would be computed
 * once by the compiler. */
#define PK_LOOP16(VT, INIT, OP, REDUCE)                                     \
	VT a0 = INIT(0), a1 = INIT(1), a2 = INIT(2), a3 = INIT(3);           \
	VT a4 = INIT(4), a5 = INIT(5), a6 = INIT(6), a7 = INIT(7);           \
	VT a8 = INIT(8), a9 = INIT(9), a10 = INIT(10), a11 = INIT(11);       \
	VT a12 = INIT(12), a13 = INIT(13), a14 = INIT(14), a15 = INIT(15);   \
	for (int64_t i = 0; i < steps; i++) {                                \
		a0 = OP(a0); a1 = OP(a1); a2 = OP(a2); a3 = OP(a3);          \
		a4 = OP(a4); a5 = OP(a5); a6 = OP(a6); a7 = OP(a7);          \
		a8 = OP(a8); a9 = OP(a9); a10 = OP(a10); a11 = OP(a11);      \
		a12 = OP(a12); a13 = OP(a13); a14 = OP(a14); a15 = OP(a15);  \
	}                                                                    \
	a0 = REDUCE(a0, a1); a2 = REDUCE(a2, a3); a4 = REDUCE(a4, a5);       \
	a6 = REDUCE(a6, a7); a8 = REDUCE(a8, a9); a10 = REDUCE(a10, a11);    \
	a12 = REDUCE(a12, a13); a14 = REDUCE(a14, a15);                      \
	a0 = REDUCE(REDUCE(a0, a2), REDUCE(a4, a6));                         \
	a8 = REDUCE(REDUCE(a8, a10), REDUCE(a12, a14));                      \
	a0 = REDUCE(a0, a8);

/* fp32 FMA: a = a * m + c, 16 lanes, 2 flops each. m is just below 1 so
 * the values stay finite however long the loop runs. */
static PK_TGT_FMA512 float pk_fma512(float seed, int64_t steps)
{
	__m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(seed * 1e-3f);
#define OP(a) _mm512_fmadd_ps(a, m, c)
#define INIT(i) _mm512_set1_ps(seed + (float)(i))
	PK_LOOP16(__m512, INIT, OP, _mm512_add_ps)
#undef OP
#undef INIT
	return _mm512_reduce_add_ps(a0);
}

static PK_TGT_FMA256 float pk_fma256(float seed, int64_t steps)
{
	__m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(seed * 1e-3f);
#define OP(a) _mm256_fmadd_ps(a, m, c)
#define INIT(i) _mm256_set1_ps(seed + (float)(i))
	PK_LOOP16(__m256, INIT, OP, _mm256_add_ps)
#undef OP
#undef INIT
	float out[8];
	_mm256_storeu_ps(out, a0);
	return out[0] + out[7];
}

/* bf16 dot: VDPBF16PS, 16 lanes x 2 products, 4 flops per lane. */
static PK_TGT_BF16 float pk_bf16(float seed, int64_t steps)
{
	__m512bh x = _mm512_cvtne2ps_pbh(_mm512_set1_ps(seed * 1e-3f),
					 _mm512_set1_ps(1e-3f));
	__m512bh y = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f),
					 _mm512_set1_ps(seed * 1e-3f));
#define OP(a) _mm512_dpbf16_ps(a, x, y)
#define INIT(i) _mm512_set1_ps(seed + (float)(i))
	PK_LOOP16(__m512, INIT, OP, _mm512_add_ps)
#undef OP
#undef INIT
	return _mm512_reduce_add_ps(a0);
}

/* int8 dot: VPDPBUSD, 16 lanes x 4 products, 8 ops per lane. The int32
 * sums wrap harmlessly. */
static PK_TGT_VNNI float pk_vnni(float seed, int64_t steps)
{
	__m512i u = _mm512_set1_epi8((char)(int)seed), s = _mm512_set1_epi8(3);
#define OP(a) _mm512_dpbusd_epi32(a, u, s)
#define INIT(i) _mm512_set1_epi32((int)seed + (i))
	PK_LOOP16(__m512i, INIT, OP, _mm512_add_epi32)
#undef OP
#undef INIT
	return (float)_mm512_reduce_add_epi32(a0);
}

typedef struct pk_job {
	pk_loop_fn fn;
	int64_t n_chunks;
	_Atomic int64_t next;
	_Atomic int sink;
} pk_job;

static void pk_run(void *arg, int ith, int nth)
{
	pk_job *j = arg;
	float s = 0.0f;
	while (atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed) <
	       j->n_chunks)
		s += j->fn(1.0f + (float)ith, PK_CHUNK_STEPS);
	atomic_fetch_add(&j->sink, s != s); /* NaN never; keeps s alive */
}

const char *engine_peak_name(int kind)
{
	switch (kind) {
	case ENGINE_PEAK_FMA32: return "fp32 FMA";
	case ENGINE_PEAK_BF16DOT: return "bf16 dot (VDPBF16PS)";
	case ENGINE_PEAK_INT8DOT: return "int8 dot (VPDPBUSD)";
	}
	return "?";
}

/* The loop for a kind on this CPU and the operations of one step (16
 * instructions); NULL with a reason if the CPU lacks the instruction. */
static pk_loop_fn pk_pick(int kind, double *ops_per_step, const char **why)
{
	int isa = engine__isa_best();
	__builtin_cpu_init();
	switch (kind) {
	case ENGINE_PEAK_FMA32:
		if (isa >= ENGINE_ISA_AVX512) {
			*ops_per_step = 16.0 * 16 * 2;
			return pk_fma512;
		}
		if (isa >= ENGINE_ISA_AVX2) {
			*ops_per_step = 16.0 * 8 * 2;
			return pk_fma256;
		}
		*why = "this CPU has no FMA instructions (AVX2 + FMA)";
		return NULL;
	case ENGINE_PEAK_BF16DOT:
#if defined(__GNUC__) && __GNUC__ >= 11
		if (isa >= ENGINE_ISA_AVX512 && __builtin_cpu_supports("avx512bf16")) {
			*ops_per_step = 16.0 * 16 * 4;
			return pk_bf16;
		}
#endif
		*why = "this CPU has no VDPBF16PS (AVX512_BF16)";
		return NULL;
	case ENGINE_PEAK_INT8DOT:
		if (isa >= ENGINE_ISA_AVX512 && __builtin_cpu_supports("avx512vnni")) {
			*ops_per_step = 16.0 * 16 * 8;
			return pk_vnni;
		}
		*why = "this CPU has no VPDPBUSD (AVX512_VNNI)";
		return NULL;
	}
	*why = "unknown peak";
	return NULL;
}

int engine_peak_measure(int kind, int n_threads, double seconds, double *gops,
			pt_err *e)
{
	double ops_step = 0.0;
	const char *why = "";
	pk_loop_fn fn = pk_pick(kind, &ops_step, &why);
	if (!fn)
		return pt_err_set(e, kind >= 0 && kind < ENGINE_PEAK_COUNT_ ?
				  PT_EUNSUPPORTED : PT_EINVAL, "%s", why);
	if (!(seconds > 0.0) || seconds > 60.0)
		return pt_err_set(e, PT_EINVAL, "peak measurement of %g s", seconds);
	engine__pool *pool;
	int rc = engine__pool_new(n_threads, &pool, e);
	if (rc)
		return rc;
	/* Calibrate on a short job (it also wakes the clock up), then take
	 * the best of three jobs of the requested length. */
	pk_job j = { .fn = fn, .n_chunks = 8 * (int64_t)engine__pool_size(pool) };
	atomic_init(&j.next, 0);
	atomic_init(&j.sink, 0);
	double t0 = pt_now();
	engine__pool_run(pool, pk_run, &j);
	double dt = pt_now() - t0, best = 0.0;
	int64_t n = dt > 0 ? (int64_t)((double)j.n_chunks * seconds / 3 / dt) : 1000;
	j.n_chunks = n < j.n_chunks ? j.n_chunks : n > 100000000 ? 100000000 : n;
	for (int i = 0; i < 3; i++) {
		atomic_store(&j.next, 0);
		t0 = pt_now();
		engine__pool_run(pool, pk_run, &j);
		dt = pt_now() - t0;
		double r = dt > 0 ? (double)j.n_chunks * PK_CHUNK_STEPS * ops_step / dt : 0;
		if (r > best)
			best = r;
	}
	engine__pool_free(pool);
	*gops = best / 1e9;
	return 0;
}
