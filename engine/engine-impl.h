/*
 * engine-impl.h: what the files of engine/ share and nothing outside sees.
 * Private functions carry the `engine__` prefix.
 */
#ifndef ENGINE_IMPL_H
#define ENGINE_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"

/* ---- GGML tensor types (ids as in ggml.h; block layouts as llama.cpp) -- */
enum {
	ENGINE_TYPE_F32 = 0,
	ENGINE_TYPE_F16 = 1,
	ENGINE_TYPE_Q4_0 = 2,
	ENGINE_TYPE_Q4_1 = 3,
	ENGINE_TYPE_Q5_0 = 6,
	ENGINE_TYPE_Q5_1 = 7,
	ENGINE_TYPE_Q8_0 = 8,
	ENGINE_TYPE_Q8_1 = 9,
	ENGINE_TYPE_Q2_K = 10,
	ENGINE_TYPE_Q3_K = 11,
	ENGINE_TYPE_Q4_K = 12,
	ENGINE_TYPE_Q5_K = 13,
	ENGINE_TYPE_Q6_K = 14,
	ENGINE_TYPE_Q8_K = 15,
	ENGINE_TYPE_BF16 = 30,
	ENGINE_TYPE_COUNT_ = 40
};

#define ENGINE_QK8_0 32
#define ENGINE_QK4_0 32
typedef uint16_t engine_fp16;
typedef uint16_t engine_bf16;
typedef struct { engine_fp16 d; int8_t qs[ENGINE_QK8_0]; } engine_block_q8_0;      /* 34 bytes */
typedef struct { engine_fp16 d; uint8_t qs[ENGINE_QK4_0 / 2]; } engine_block_q4_0; /* 18 bytes;
	element j < 16 is the low nibble of qs[j], element j + 16 its high nibble;
	value = (nibble - 8) * d */

/* K-quants: super-blocks of 256 elements (llama.cpp's QK_K), layouts as
 * ggml-common.h. Q4_K: 8 sub-blocks of 32; sub-block s has a 6-bit scale
 * sc_s and a 6-bit min m_s packed in scales[12] (s < 4: scales[s] and
 * scales[s + 4] low 6 bits; s >= 4: low 4 bits in scales[s + 4] (scale in
 * the low nibble, min in the high), high 2 bits in the top bits of
 * scales[s - 4] (scale) and scales[s] (min)); element 64 c + l (l < 32) is
 * the low nibble of qs[32 c + l] in sub-block 2 c, element 64 c + 32 + l its
 * high nibble in sub-block 2 c + 1; value = d * sc * q - dmin * m. */
#define ENGINE_QK_K 256
typedef struct {
	engine_fp16 d, dmin;
	uint8_t scales[12];
	uint8_t qs[ENGINE_QK_K / 2];
} engine_block_q4_K; /* 144 bytes */
/* Q6_K: 16 sub-blocks of 16 with int8 scales; 6-bit q in ql (4 low bits)
 * and qh (2 high bits). In half h (128 elements) and for l < 32: element
 * 128 h + l + 32 i (i = 0..3) takes its low bits from ql[64 h + l + 32 (i
 * & 1)] (low nibble for i < 2, high nibble for i >= 2) and its high bits
 * from qh[32 h + l] >> 2 i; value = d * scales[e / 16] * (q - 32) for
 * element e. */
typedef struct {
	uint8_t ql[ENGINE_QK_K / 2];
	uint8_t qh[ENGINE_QK_K / 4];
	int8_t scales[ENGINE_QK_K / 16];
	engine_fp16 d;
} engine_block_q6_K; /* 210 bytes */

typedef struct engine_type_traits {
	const char *name;   /* "f32", "q8_0", ... ; NULL for an unknown id */
	int32_t block;      /* elements per block (1 for float types) */
	int32_t block_bytes;
	bool supported;     /* the engine computes with it */
} engine_type_traits;

/* Traits of a type id; NULL if the id is out of range or unknown. */
const engine_type_traits *engine__type(int type);
/* Bytes of a row of n elements of type, or 0 if n is not a whole number of
 * blocks (or would overflow). */
size_t engine__row_bytes(int type, int64_t n);

/* Nonzero if the CPU and OS support F16C (types.c; asked of CPUID once). */
int engine__cpu_f16c(void);

float engine__fp16_to_f32(engine_fp16 h);
engine_fp16 engine__f32_to_fp16(float f);
static inline float engine__bf16_to_f32(engine_bf16 h)
{
	union { uint32_t u; float f; } v = { .u = (uint32_t)h << 16 };
	return v.f;
}
engine_bf16 engine__f32_to_bf16(float f); /* round to nearest even */

/* Converts a row of n elements of any supported type to f32. */
void engine__dequant_row(int type, const void *src, float *dst, int64_t n);
/* Converts n floats to a row of type (F32, F16, BF16, Q8_0, Q4_0, Q4_K,
 * Q6_K). */
void engine__quant_row(int type, const float *src, void *dst, int64_t n);

/* K-quant rows (quant-k.c); n is a multiple of ENGINE_QK_K. The
 * quantizers search each sub-block's scale (and Q4_K's min) for the least
 * weighted squared error, as llama.cpp's reference quantizers do. */
void engine__dequant_q4_K(const engine_block_q4_K *b, float *y, int64_t n);
void engine__dequant_q6_K(const engine_block_q6_K *b, float *y, int64_t n);
void engine__quant_q4_K(const float *x, engine_block_q4_K *b, int64_t n);
void engine__quant_q6_K(const float *x, engine_block_q6_K *b, int64_t n);
/* Q4_K sub-block s's 6-bit scale and min from the packed scales[12]. */
static inline void engine__q4_K_scale_min(const uint8_t *sc, int s, int *d,
					  int *m)
{
	if (s < 4) {
		*d = sc[s] & 63;
		*m = sc[s + 4] & 63;
	} else {
		*d = (sc[s + 4] & 0x0f) | ((sc[s - 4] >> 6) << 4);
		*m = (sc[s + 4] >> 4) | ((sc[s] >> 6) << 4);
	}
}

/* ---- GGUF file --------------------------------------------------------- */

enum {
	GGUF_T_UINT8 = 0, GGUF_T_INT8 = 1, GGUF_T_UINT16 = 2, GGUF_T_INT16 = 3,
	GGUF_T_UINT32 = 4, GGUF_T_INT32 = 5, GGUF_T_FLOAT32 = 6, GGUF_T_BOOL = 7,
	GGUF_T_STRING = 8, GGUF_T_ARRAY = 9, GGUF_T_UINT64 = 10, GGUF_T_INT64 = 11,
	GGUF_T_FLOAT64 = 12, GGUF_T_COUNT_
};

typedef struct engine__tensor {
	char *name;           /* NUL-terminated copy */
	int type;
	int n_dims;
	int64_t ne[4];        /* ne[0] innermost; unused dims are 1 */
	uint64_t offset;      /* absolute offset in the file */
	size_t nbytes;
	const void *data;     /* into the mapping (or the read buffer) */
} engine__tensor;

typedef struct engine__gguf engine__gguf;

/* Opens and validates a GGUF v2/v3 file (header, every key/value, every
 * tensor's name, dims, type, offset and size against the file). */
int engine__gguf_open(const char *path, int use_mmap, engine__gguf **out,
		      pt_err *e);
void engine__gguf_close(engine__gguf *g);
uint64_t engine__gguf_file_size(const engine__gguf *g);

/* Key lookups. Each returns PT_ENOTFOUND if the key is absent and
 * PT_EFORMAT (message names the key and both types) if it has another
 * type. Integer getters accept any integer type whose value fits. */
int engine__gguf_get_u32(const engine__gguf *g, const char *key, uint32_t *v, pt_err *e);
int engine__gguf_get_i32(const engine__gguf *g, const char *key, int32_t *v, pt_err *e);
int engine__gguf_get_f32(const engine__gguf *g, const char *key, float *v, pt_err *e);
int engine__gguf_get_bool(const engine__gguf *g, const char *key, bool *v, pt_err *e);
/* The string is NOT NUL-terminated in the file: *s points into the
 * mapping with length *len. */
int engine__gguf_get_str(const engine__gguf *g, const char *key, const char **s, size_t *len, pt_err *e);
/* Arrays: element type and count; for numeric arrays *data points at the
 * packed little-endian elements, which may be unaligned (read them with
 * memcpy). For string arrays *data is NULL: use get_arr_str (O(1)). */
int engine__gguf_get_arr(const engine__gguf *g, const char *key, int *elem_type,
			 uint64_t *n, const void **data, pt_err *e);
int engine__gguf_get_arr_str(const engine__gguf *g, const char *key, uint64_t i,
			     const char **s, size_t *len, pt_err *e);

int engine__gguf_n_tensors(const engine__gguf *g);
const engine__tensor *engine__gguf_tensor(const engine__gguf *g, int i);
const engine__tensor *engine__gguf_find(const engine__gguf *g, const char *name);
int engine__gguf_n_kv(const engine__gguf *g);
/* Key name (NUL-terminated copy) and value type of the i-th key. */
const char *engine__gguf_kv_key(const engine__gguf *g, int i, int *type);
/* The i-th key's value exactly as encoded in the file (after its type
 * field), for copying it to another file; i must be in range. */
void engine__gguf_kv_raw(const engine__gguf *g, int i, const void **p, size_t *len);
/* general.alignment (32 if absent) and where the data section starts. */
uint64_t engine__gguf_alignment(const engine__gguf *g);
size_t engine__gguf_data_offset(const engine__gguf *g);

/* ---- Tokenizer --------------------------------------------------------- */

typedef struct engine__tokenizer engine__tokenizer;
int engine__tok_load(const engine__gguf *g, engine__tokenizer **out, pt_err *e);
void engine__tok_free(engine__tokenizer *t);

/* ---- Model ------------------------------------------------------------- */

typedef struct engine__layer {
	const engine__tensor *attn_norm, *attn_norm_b;   /* [d] */
	const engine__tensor *attn_qkv, *attn_qkv_b;     /* [d -> 3d], [3d] */
	const engine__tensor *attn_out, *attn_out_b;     /* [d -> d], [d] */
	const engine__tensor *ffn_norm, *ffn_norm_b;     /* [d] */
	const engine__tensor *ffn_up, *ffn_up_b;         /* [d -> ff], [ff] */
	const engine__tensor *ffn_down, *ffn_down_b;     /* [ff -> d], [d] */
} engine__layer;

struct engine_model {
	char *path;
	engine__gguf *gguf;
	engine__tokenizer *tok;
	engine_model_info info;
	char *name;                       /* general.name copy */

	const engine__tensor *tok_embd;   /* [n_vocab rows of d] */
	const engine__tensor *pos_embd;   /* [n_ctx rows of d] */
	const engine__tensor *out_norm, *out_norm_b;
	const engine__tensor *output;     /* output.weight, or tok_embd if tied */
	engine__layer *layers;            /* n_layer */

	/* A model built in memory (the bench's random weights) has no file:
	 * gguf is NULL and engine_model_free frees these (and each
	 * owned_tensors[i].name, as well as path, name and layers). */
	engine__tensor *owned_tensors;
	int32_t n_owned_tensors;
	void *owned_data;
};

/* ---- Context facts generate.c needs (implemented next to engine_ctx) ---- */

/* Positions per sequence and sequences held, as the context was created. */
int32_t engine__ctx_n_ctx(const engine_ctx *c);
int32_t engine__ctx_n_seq(const engine_ctx *c);
/* The tokens whose keys and values seq's cache holds (engine_kv_len(c, seq)
 * of them): engine_decode records each token it caches, engine_kv_copy
 * copies the record with the cache, engine_kv_truncate shortens it. Lets
 * engine_generate reuse a cached prompt prefix. */
const int32_t *engine__ctx_tokens(const engine_ctx *c, int32_t seq);

#endif
