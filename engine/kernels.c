/*
 * kernels.c: scalar reference kernels, activation formats and run-time
 * dispatch. The scalar versions are the definition every vectorised kernel
 * (kernels-avx2.c, kernels-avx512.c) is tested against; they are written
 * for clarity, not speed.
 */
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "kernels.h"

/* ---- Activation formats ------------------------------------------------ */

size_t engine__vec_bytes(int vec, int64_t k)
{
	size_t n;
	if (k <= 0)
		return 0;
	switch (vec) {
	case ENGINE_VEC_F32:
		n = (size_t)k * sizeof(float);
		break;
	case ENGINE_VEC_BF16:
		/* padded to 32 elements so kernels read whole vectors */
		n = ((size_t)k + 31) / 32 * 32 * sizeof(uint16_t);
		break;
	case ENGINE_VEC_Q8:
		if (k % 32)
			return 0;
		n = (size_t)k + (size_t)k / 32 * 2 * sizeof(float);
		break;
	case ENGINE_VEC_Q8T:
		if (k % 32)
			return 0;
		n = (size_t)k / 512 * ENGINE_Q8T_SUPER_BYTES + (size_t)(k % 512) / 32 * 40;
		break;
	case ENGINE_VEC_Q8H:
		if (k % 32)
			return 0;
		n = (size_t)k / 128 * ENGINE_Q8H_GROUP_BYTES + (size_t)(k % 128) / 32 * 64;
		break;
	default:
		return 0;
	}
	return (n + 63) / 64 * 64;
}

static void vec_quant_q8(const float *x, int64_t k, void *out)
{
	int8_t *qs = out;
	float *dv = (float *)((char *)out + k), *ds = dv + k / 32;
	for (int64_t b = 0; b < k / 32; b++) {
		const float *xb = x + b * 32;
		float amax = 0.0f;
		for (int i = 0; i < 32; i++)
			amax = fmaxf(amax, fabsf(xb[i]));
		float d = amax / 127.0f;
		float id = d != 0.0f ? 1.0f / d : 0.0f;
		int32_t sum = 0;
		for (int i = 0; i < 32; i++) {
			int q = (int)lrintf(xb[i] * id);
			qs[b * 32 + i] = (int8_t)q;
			sum += q;
		}
		dv[b] = d;
		ds[b] = d * (float)sum;
	}
}

/* One block of 32 quantized as vec_quant_q8 does; returns its d. */
static float vec_quant_block(const float *xb, int8_t *q)
{
	float amax = 0.0f;
	for (int i = 0; i < 32; i++)
		amax = fmaxf(amax, fabsf(xb[i]));
	float d = amax / 127.0f;
	float id = d != 0.0f ? 1.0f / d : 0.0f;
	for (int i = 0; i < 32; i++)
		q[i] = (int8_t)lrintf(xb[i] * id);
	return d;
}

static void vec_quant_q8h(const float *x, int64_t k, void *out)
{
	int64_t nb = k / 32;
	memset(out, 0, engine__vec_bytes(ENGINE_VEC_Q8H, k));
	for (int64_t b = 0; b < nb; b++) {
		char *g = (char *)out + (size_t)(b / 4) * ENGINE_Q8H_GROUP_BYTES;
		int nt = nb - b / 4 * 4 >= 4 ? 4 : (int)(nb - b / 4 * 4); /* blocks in the group */
		int8_t *lo = (int8_t *)g, *hi = lo + 16 * nt, q[32];
		float *d = (float *)(g + 32 * nt);
		int32_t *nx8 = (int32_t *)(g + 48 * nt);
		int s = (int)(b % 4);
		float db = vec_quant_block(x + b * 32, q);
		memcpy(lo + 16 * s, q, 16);
		memcpy(hi + 16 * s, q + 16, 16);
		for (int l = 0; l < 4; l++) {
			int32_t sum = 0;
			for (int i = 0; i < 4; i++)
				sum += q[4 * l + i] + q[16 + 4 * l + i];
			d[4 * s + l] = db;
			nx8[4 * s + l] = -8 * sum;
		}
	}
}

static void vec_quant_q8t(const float *x, int64_t k, void *out)
{
	int64_t ns = k / 512, nt = k % 512 / 32;
	int8_t q[32];
	for (int64_t sg = 0; sg < ns; sg++) {
		char *o = (char *)out + (size_t)sg * ENGINE_Q8T_SUPER_BYTES;
		float *d = (float *)(o + 512);
		int32_t *nx8 = (int32_t *)(o + 576);
		for (int p = 0; p < 16; p++) {
			int64_t b = 16 * sg + 4 * (p % 4) + p / 4;
			d[p] = vec_quant_block(x + 32 * b, q);
			int32_t sum = 0;
			for (int i = 0; i < 32; i++)
				sum += q[i];
			nx8[p] = -8 * sum;
			for (int s = 0; s < 8; s++)
				memcpy(o + 64 * s + 4 * p, q + (s < 4 ? 4 * s : 16 + 4 * (s - 4)), 4);
		}
	}
	if (nt)
		vec_quant_q8(x + 512 * ns, 32 * nt,
			     (char *)out + (size_t)ns * ENGINE_Q8T_SUPER_BYTES);
}

void engine__vec_prepare(int vec, const float *x, int64_t k, void *out)
{
	switch (vec) {
	case ENGINE_VEC_F32:
		memcpy(out, x, (size_t)k * sizeof(float));
		break;
	case ENGINE_VEC_BF16: {
		uint16_t *o = out;
		int64_t kp = (k + 31) / 32 * 32;
		for (int64_t i = 0; i < k; i++)
			o[i] = engine__kf32_to_bf16(x[i]);
		for (int64_t i = k; i < kp; i++)
			o[i] = 0;
		break;
	}
	case ENGINE_VEC_Q8:
		vec_quant_q8(x, k, out);
		break;
	case ENGINE_VEC_Q8H:
		vec_quant_q8h(x, k, out);
		break;
	case ENGINE_VEC_Q8T:
		vec_quant_q8t(x, k, out);
		break;
	}
}

/* ---- Scalar matrix x vector references --------------------------------- */

static float ref_row_f32(const void *w, int64_t k, const void *x)
{
	const float *a = w, *b = x;
	float s = 0.0f;
	for (int64_t i = 0; i < k; i++)
		s += a[i] * b[i];
	return s;
}

static float ref_row_f16(const void *w, int64_t k, const void *x)
{
	const engine_fp16 *a = w;
	const float *b = x;
	float s = 0.0f;
	for (int64_t i = 0; i < k; i++)
		s += engine__fp16_to_f32(a[i]) * b[i];
	return s;
}

static float ref_row_bf16(const void *w, int64_t k, const void *x)
{
	const engine_bf16 *a = w;
	const float *b = x;
	float s = 0.0f;
	for (int64_t i = 0; i < k; i++)
		s += engine__bf16_to_f32(a[i]) * b[i];
	return s;
}

static float ref_row_q8_0(const void *w, int64_t k, const void *x)
{
	const engine_block_q8_0 *a = w;
	const int8_t *qs = engine__q8_qs(x);
	const float *d = engine__q8_d(x, k);
	float s = 0.0f;
	for (int64_t j = 0; j < k / 32; j++) {
		int32_t acc = 0;
		for (int i = 0; i < 32; i++)
			acc += (int32_t)a[j].qs[i] * qs[j * 32 + i];
		s += (float)acc * engine__fp16_to_f32(a[j].d) * d[j];
	}
	return s;
}

static float ref_row_q4_0(const void *w, int64_t k, const void *x)
{
	const engine_block_q4_0 *a = w;
	const int8_t *qs = engine__q8_qs(x);
	const float *d = engine__q8_d(x, k);
	float s = 0.0f;
	for (int64_t j = 0; j < k / 32; j++) {
		int32_t acc = 0;
		for (int i = 0; i < 16; i++) {
			acc += ((a[j].qs[i] & 0x0f) - 8) * qs[j * 32 + i];
			acc += ((a[j].qs[i] >> 4) - 8) * qs[j * 32 + i + 16];
		}
		s += (float)acc * engine__fp16_to_f32(a[j].d) * d[j];
	}
	return s;
}

typedef float (*ref_row_fn)(const void *w, int64_t k, const void *x);

static void ref_mv(ref_row_fn row, const void *w, size_t w_stride, int64_t k,
		   const void *x, size_t x_stride, int n_x, float *y,
		   size_t y_stride, int64_t r0, int64_t r1)
{
	for (int64_t r = r0; r < r1; r++) {
		const char *wr = (const char *)w + (size_t)r * w_stride;
		for (int j = 0; j < n_x; j++)
			y[(size_t)j * y_stride + (size_t)r] =
				row(wr, k, (const char *)x + (size_t)j * x_stride);
	}
}

#define REF_MV(T)                                                            \
	static void ref_mv_##T(const void *w, size_t ws, int64_t k,          \
			       const void *x, size_t xs, int n_x, float *y,  \
			       size_t ys, int64_t r0, int64_t r1)            \
	{                                                                    \
		ref_mv(ref_row_##T, w, ws, k, x, xs, n_x, y, ys, r0, r1);    \
	}
REF_MV(f32)
REF_MV(f16)
REF_MV(bf16)
REF_MV(q8_0)
REF_MV(q4_0)

const engine__kern engine__kern_scalar[] = {
	{ ENGINE_TYPE_F32, ENGINE_ISA_SCALAR, ENGINE_VEC_F32, 0, "f32/scalar", ref_mv_f32 },
	{ ENGINE_TYPE_F16, ENGINE_ISA_SCALAR, ENGINE_VEC_F32, 0, "f16/scalar", ref_mv_f16 },
	{ ENGINE_TYPE_BF16, ENGINE_ISA_SCALAR, ENGINE_VEC_F32, 0, "bf16/scalar", ref_mv_bf16 },
	{ ENGINE_TYPE_Q8_0, ENGINE_ISA_SCALAR, ENGINE_VEC_Q8, 0, "q8_0/scalar", ref_mv_q8_0 },
	{ ENGINE_TYPE_Q4_0, ENGINE_ISA_SCALAR, ENGINE_VEC_Q8, 0, "q4_0/scalar", ref_mv_q4_0 },
};
const int engine__n_kern_scalar =
	(int)(sizeof(engine__kern_scalar) / sizeof(engine__kern_scalar[0]));

/* ---- Scalar element-wise references ------------------------------------ */

static void ref_layernorm(float *y, const float *x, const float *w,
			  const float *b, int64_t n, float eps)
{
	double mean = 0.0, var = 0.0;
	for (int64_t i = 0; i < n; i++)
		mean += x[i];
	mean /= (double)n;
	for (int64_t i = 0; i < n; i++)
		var += ((double)x[i] - mean) * ((double)x[i] - mean);
	var /= (double)n;
	float inv = (float)(1.0 / sqrt(var + eps));
	float m = (float)mean;
	for (int64_t i = 0; i < n; i++)
		y[i] = (x[i] - m) * inv * w[i] + b[i];
}

static void ref_gelu(float *x, int64_t n)
{
	for (int64_t i = 0; i < n; i++) {
		float v = x[i];
		x[i] = 0.5f * v *
		       (1.0f + tanhf(0.7978845608f * (v + 0.044715f * v * v * v)));
	}
}

static void ref_softmax(float *x, int64_t n)
{
	float mx = -INFINITY, sum = 0.0f;
	for (int64_t i = 0; i < n; i++)
		mx = fmaxf(mx, x[i]);
	for (int64_t i = 0; i < n; i++) {
		x[i] = expf(x[i] - mx);
		sum += x[i];
	}
	float inv = 1.0f / sum;
	for (int64_t i = 0; i < n; i++)
		x[i] *= inv;
}

static float ref_dot(const float *a, const float *b, int64_t n)
{
	float s = 0.0f;
	for (int64_t i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}

static void ref_axpy(float *y, float a, const float *x, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		y[i] += a * x[i];
}

static void ref_add(float *x, const float *b, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		x[i] += b[i];
}

static void ref_bf16_to_f32(float *y, const uint16_t *x, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		y[i] = engine__bf16_to_f32(x[i]);
}

static void ref_f16_to_f32(float *y, const uint16_t *x, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		y[i] = engine__fp16_to_f32(x[i]);
}

static const engine__ops ops_scalar = {
	ref_layernorm, ref_gelu, ref_softmax, ref_dot, ref_axpy, ref_add,
	ref_bf16_to_f32, ref_f16_to_f32,
};

/* ---- Dispatch ------------------------------------------------------------ */

static struct {
	pthread_once_t once;
	int isa;
	unsigned feat;
	const engine__kern *list[ENGINE_TYPE_COUNT_][8];
	int n[ENGINE_TYPE_COUNT_];
	const engine__kern *best[ENGINE_TYPE_COUNT_];
} disp = { .once = PTHREAD_ONCE_INIT };

static void disp_add(const engine__kern *k)
{
	if ((k->needs & disp.feat) != k->needs)
		return;
	if (disp.n[k->type] < 8)
		disp.list[k->type][disp.n[k->type]++] = k;
}

/*
 * The kernel used for a type is the last one added for it (the highest
 * ISA), except that for BF16 on AVX-512 the variant that widens bf16
 * weights to f32 and uses FMA is preferred to VDPBF16PS. Measured on the
 * development machine (Zen 4, cache-resident rows, CPU time): VDPBF16PS
 * reads about 100 GB/s of weights per core and widening about 55, while
 * memory gives a core 20-30 GB/s; so for decode both run at memory speed,
 * and widening keeps the activations in f32 (VDPBF16PS rounds them to
 * bf16, a relative error up to 2^-9 per product).
 */
static void disp_init(void)
{
	__builtin_cpu_init();
	disp.isa = ENGINE_ISA_SCALAR;
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
	    engine__cpu_f16c())
		disp.isa = ENGINE_ISA_AVX2;
	if (disp.isa == ENGINE_ISA_AVX2 &&
	    __builtin_cpu_supports("avx512f") &&
	    __builtin_cpu_supports("avx512bw") &&
	    __builtin_cpu_supports("avx512dq") &&
	    __builtin_cpu_supports("avx512vl"))
		disp.isa = ENGINE_ISA_AVX512;
	if (disp.isa == ENGINE_ISA_AVX512) {
		if (__builtin_cpu_supports("avx512vnni"))
			disp.feat |= ENGINE_CPU_VNNI;
		if (__builtin_cpu_supports("avx512vbmi"))
			disp.feat |= ENGINE_CPU_VBMI;
#if defined(__GNUC__) && __GNUC__ >= 11
		if (__builtin_cpu_supports("avx512bf16"))
			disp.feat |= ENGINE_CPU_BF16;
#endif
	}
	for (int i = 0; i < engine__n_kern_scalar; i++)
		disp_add(&engine__kern_scalar[i]);
	for (int i = 0; i < engine__n_kern_k_scalar; i++)
		disp_add(&engine__kern_k_scalar[i]);
	if (disp.isa >= ENGINE_ISA_AVX2) {
		for (int i = 0; i < engine__n_kern_avx2; i++)
			disp_add(&engine__kern_avx2[i]);
		for (int i = 0; i < engine__n_kern_k_avx2; i++)
			disp_add(&engine__kern_k_avx2[i]);
	}
	if (disp.isa >= ENGINE_ISA_AVX512) {
		for (int i = 0; i < engine__n_kern_avx512; i++)
			disp_add(&engine__kern_avx512[i]);
		for (int i = 0; i < engine__n_kern_k_avx512; i++)
			disp_add(&engine__kern_k_avx512[i]);
		for (int i = 0; i < engine__n_kern_q4t_avx512; i++)
			disp_add(&engine__kern_q4t_avx512[i]);
	}
	for (int t = 0; t < ENGINE_TYPE_COUNT_; t++) {
		if (disp.n[t] == 0)
			continue;
		disp.best[t] = disp.list[t][disp.n[t] - 1];
		if (t != ENGINE_TYPE_BF16)
			continue;
		for (int i = 0; i < disp.n[t]; i++)
			if (disp.list[t][i]->isa == disp.isa &&
			    disp.list[t][i]->vec == ENGINE_VEC_F32)
				disp.best[t] = disp.list[t][i];
	}
}

int engine__isa_best(void)
{
	pthread_once(&disp.once, disp_init);
	return disp.isa;
}

const engine__kern *const *engine__kern_list(int type, int *n)
{
	pthread_once(&disp.once, disp_init);
	if (type < 0 || type >= ENGINE_TYPE_COUNT_) {
		*n = 0;
		return NULL;
	}
	*n = disp.n[type];
	return disp.list[type];
}

const engine__kern *engine__kern_best(int type)
{
	pthread_once(&disp.once, disp_init);
	if (type < 0 || type >= ENGINE_TYPE_COUNT_)
		return NULL;
	return disp.best[type];
}

const engine__ops *engine__ops_for(int isa)
{
	int best = engine__isa_best();
	if (isa > best)
		return NULL;
	switch (isa) {
	case ENGINE_ISA_SCALAR:
		return &ops_scalar;
	case ENGINE_ISA_AVX2:
		return &engine__ops_avx2;
	case ENGINE_ISA_AVX512:
		return &engine__ops_avx512;
	}
	return NULL;
}

const engine__ops *engine__ops_best(void)
{
	return engine__ops_for(engine__isa_best());
}
