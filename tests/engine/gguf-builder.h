/*
 * gguf-builder.h: a small GGUF writer for tests, independent of the
 * engine's reader. A file is described as lists of keys and tensors whose
 * fields may hold anything (wrong counts, odd types, bad offsets), then
 * serialized to bytes; tiny PolyLM-shaped models with random weights come
 * ready made.
 */
#ifndef GGUF_BUILDER_H
#define GGUF_BUILDER_H

#include <stddef.h>
#include <stdint.h>

#define TB_MAX_KV 64
#define TB_MAX_T 128

typedef struct tb_kv {
	char key[96];
	uint32_t type;   /* GGUF value type */
	uint8_t *val;    /* encoded value (after the type field), malloc */
	size_t len;
} tb_kv;

typedef struct tb_tensor {
	char name[96];
	uint32_t n_dims;        /* written as is (may be 0 or 5) */
	uint64_t ne[8];
	uint32_t type;
	uint8_t *data;          /* malloc; nbytes of it */
	size_t nbytes;
	int64_t offset;         /* -1: placed by the writer */
} tb_tensor;

typedef struct tb_file {
	char magic[4];
	uint32_t version;
	uint64_t align;         /* used for placement; key written separately */
	tb_kv kv[TB_MAX_KV];
	int n_kv;
	tb_tensor t[TB_MAX_T];
	int n_t;
} tb_file;

typedef struct tb_model {
	int d, n_head, n_layer, ff, n_ctx;
	int with_output;       /* write output.weight */
	unsigned seed;
} tb_model;

void tb_init(tb_file *f);
void tb_free(tb_file *f);

void tb_kv_raw(tb_file *f, const char *key, uint32_t type, const void *val, size_t len);
void tb_kv_u32(tb_file *f, const char *key, uint32_t v);
void tb_kv_f32(tb_file *f, const char *key, float v);
void tb_kv_bool(tb_file *f, const char *key, int v);
void tb_kv_str(tb_file *f, const char *key, const char *s);
void tb_kv_arr(tb_file *f, const char *key, uint32_t elem_type, const void *data,
	       uint64_t n, size_t elem_size);
void tb_kv_arr_str(tb_file *f, const char *key, const char *const *s, uint64_t n);
tb_kv *tb_kv_find(tb_file *f, const char *key);
void tb_kv_remove(tb_file *f, const char *key);

/* Adds a tensor of type F32 with random values in [-1, 1). */
tb_tensor *tb_tensor_f32(tb_file *f, const char *name, int n_dims, int64_t ne0,
			 int64_t ne1, unsigned *seed);
/* Adds a tensor with raw bytes (copied). */
tb_tensor *tb_tensor_raw(tb_file *f, const char *name, uint32_t n_dims, const uint64_t *ne,
			 uint32_t type, const void *data, size_t nbytes);
tb_tensor *tb_tensor_find(tb_file *f, const char *name);
void tb_tensor_remove(tb_file *f, const char *name);

/* Serializes; *len receives the size. Returns malloc'd bytes. */
uint8_t *tb_build(const tb_file *f, size_t *len);
/* Writes bytes to path; 0 on success. */
int tb_write(const char *path, const void *buf, size_t len);
/* Builds and writes; 0 on success. */
int tb_save(const tb_file *f, const char *path);

/* A complete tiny PolyLM-shaped model (gpt2 keys, SentencePiece-style
 * vocabulary of <unk> <s> </s>, 256 byte pieces and a few words; F32
 * weights). n_vocab is tb_vocab_size(). */
void tb_tiny_model(tb_file *f, const tb_model *p);
int tb_vocab_size(void);

#endif
