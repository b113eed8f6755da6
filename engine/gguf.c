/*
 * gguf.c: opens and validates a GGUF v2/v3 file. Like ggml's GGUF reader,
 * every count, length and offset is compared with the bytes that are left
 * BEFORE it is used, so a header claiming a 2^64-byte string or a 2^62
 * element array is refused instead of overflowing or reading past the end.
 * Values stay in the mapping (or the read buffer); only key and tensor
 * names are copied, so opening a 7 GB file costs a few kilobytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine-impl.h"

#define GGUF_MAX_KV 65536
#define GGUF_MAX_TENSORS 65536
#define GGUF_MAX_KEY 65535
#define GGUF_MAX_NAME 255
#define GGUF_DEFAULT_ALIGN 32
#define MIB (1024.0 * 1024.0)

typedef struct gguf_kv {
	char *key;
	int type;              /* GGUF_T_* */
	int elem_type;         /* arrays: element type */
	uint64_t n;            /* arrays: element count; strings: length */
	const uint8_t *val;    /* scalars and numeric arrays: the packed bytes;
				  strings: the characters */
	size_t *str_off;       /* string arrays: offset of each element's
				  length field in the file */
	size_t raw_off, raw_len; /* the value's whole encoding (after the type) */
} gguf_kv;

struct engine__gguf {
	char *path;
	const uint8_t *base;
	size_t size;
	int mapped;
	uint32_t version;
	uint64_t alignment;
	size_t data_off;
	gguf_kv *kv;
	int n_kv;
	int *kv_sorted;        /* kv indices sorted by key */
	engine__tensor *t;
	int n_t;
	int *t_sorted;         /* tensor indices sorted by name */
};

/* A cursor over the file's bytes; every read checks what is left. */
typedef struct rd {
	const engine__gguf *g;
	size_t off;
	pt_err *e;
} rd;

static const struct { const char *name; int size; } vtypes[GGUF_T_COUNT_] = {
	[GGUF_T_UINT8] = { "u8", 1 },   [GGUF_T_INT8] = { "i8", 1 },
	[GGUF_T_UINT16] = { "u16", 2 }, [GGUF_T_INT16] = { "i16", 2 },
	[GGUF_T_UINT32] = { "u32", 4 }, [GGUF_T_INT32] = { "i32", 4 },
	[GGUF_T_FLOAT32] = { "f32", 4 }, [GGUF_T_BOOL] = { "bool", 1 },
	[GGUF_T_STRING] = { "string", 0 }, [GGUF_T_ARRAY] = { "array", 0 },
	[GGUF_T_UINT64] = { "u64", 8 }, [GGUF_T_INT64] = { "i64", 8 },
	[GGUF_T_FLOAT64] = { "f64", 8 },
};

static const char *vtype_name(int t)
{
	return t >= 0 && t < GGUF_T_COUNT_ ? vtypes[t].name : "unknown";
}

/* "123 bytes" or "912.0 MiB (956301312 bytes)", for error messages. */
static const char *fmt_size(char *buf, size_t cap, uint64_t n)
{
	if (n < 1024 * 1024)
		snprintf(buf, cap, "%" PRIu64 " bytes", n);
	else
		snprintf(buf, cap, "%.1f MiB (%" PRIu64 " bytes)", n / MIB, n);
	return buf;
}

static size_t rd_left(const rd *r)
{
	return r->g->size - r->off;
}

/* Fails unless n more bytes are left; `what` names the thing being read. */
static int rd_need(rd *r, uint64_t n, const char *what)
{
	if (n > rd_left(r))
		return pt_err_set(r->e, PT_EFORMAT,
				  "%s: file ends while reading %s (needs %" PRIu64
				  " bytes at offset %zu, %zu left)",
				  r->g->path, what, n, r->off, rd_left(r));
	return 0;
}

static int rd_u32(rd *r, uint32_t *v, const char *what)
{
	int rc = rd_need(r, 4, what);

	if (rc)
		return rc;
	memcpy(v, r->g->base + r->off, 4);
	r->off += 4;
	return 0;
}

static int rd_u64(rd *r, uint64_t *v, const char *what)
{
	int rc = rd_need(r, 8, what);

	if (rc)
		return rc;
	memcpy(v, r->g->base + r->off, 8);
	r->off += 8;
	return 0;
}

/* A string: u64 length then the bytes. *s points into the file. */
static int rd_str(rd *r, const uint8_t **s, uint64_t *len, const char *what)
{
	int rc = rd_u64(r, len, what);

	if (rc)
		return rc;
	if (*len > rd_left(r))
		return pt_err_set(r->e, PT_EFORMAT,
				  "%s: %s: string length %" PRIu64
				  " runs past the end of the file (offset %zu, %zu bytes left)",
				  r->g->path, what, *len, r->off, rd_left(r));
	*s = r->g->base + r->off;
	r->off += (size_t)*len;
	return 0;
}

/* A name (key or tensor): non-empty, no NUL, at most max bytes; copied. */
static int rd_name(rd *r, char **out, size_t max, const char *what)
{
	const uint8_t *s = NULL;
	uint64_t len = 0;
	int rc = rd_str(r, &s, &len, what);

	if (rc)
		return rc;
	if (len == 0 || len > max || memchr(s, 0, (size_t)len))
		return pt_err_set(r->e, PT_EFORMAT,
				  "%s: %s is %s (%" PRIu64 " bytes; 1 to %zu without NUL allowed)",
				  r->g->path, what, len == 0 ? "empty" : len > max ? "too long" : "not text",
				  len, max);
	*out = malloc((size_t)len + 1);
	if (!*out)
		return pt_err_set(r->e, PT_ENOMEM, "%s: out of memory", r->g->path);
	memcpy(*out, s, (size_t)len);
	(*out)[len] = '\0';
	return 0;
}

/* ---- Key/value pairs ------------------------------------------------------ */

static int check_bools(rd *r, const gguf_kv *kv, const uint8_t *p, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		if (p[i] > 1)
			return pt_err_set(r->e, PT_EFORMAT,
					  "%s: key %s: bool value %u (must be 0 or 1)",
					  r->g->path, kv->key, p[i]);
	return 0;
}

static int read_array(rd *r, gguf_kv *kv)
{
	uint32_t et;
	int rc;

	if ((rc = rd_u32(r, &et, kv->key)) || (rc = rd_u64(r, &kv->n, kv->key)))
		return rc;
	if (et >= GGUF_T_COUNT_)
		return pt_err_set(r->e, PT_EFORMAT, "%s: key %s: unknown array element type %u",
				  r->g->path, kv->key, et);
	if (et == GGUF_T_ARRAY)
		return pt_err_set(r->e, PT_EUNSUPPORTED,
				  "%s: key %s: arrays of arrays are not supported",
				  r->g->path, kv->key);
	kv->elem_type = (int)et;
	if (et != GGUF_T_STRING) {
		uint64_t sz = (uint64_t)vtypes[et].size;
		if (kv->n > rd_left(r) / sz)
			return pt_err_set(r->e, PT_EFORMAT,
					  "%s: key %s: array of %" PRIu64 " %s runs past the end of "
					  "the file (%zu bytes left)", r->g->path, kv->key, kv->n,
					  vtypes[et].name, rd_left(r));
		kv->val = r->g->base + r->off;
		r->off += (size_t)(kv->n * sz);
		return et == GGUF_T_BOOL ? check_bools(r, kv, kv->val, kv->n) : 0;
	}
	/* Each string takes at least its 8-byte length. */
	if (kv->n > rd_left(r) / 8)
		return pt_err_set(r->e, PT_EFORMAT,
				  "%s: key %s: array of %" PRIu64 " strings runs past the end of "
				  "the file (%zu bytes left)", r->g->path, kv->key, kv->n, rd_left(r));
	kv->str_off = malloc((size_t)(kv->n ? kv->n : 1) * sizeof(size_t));
	if (!kv->str_off)
		return pt_err_set(r->e, PT_ENOMEM, "%s: key %s: out of memory for %" PRIu64
				  " strings", r->g->path, kv->key, kv->n);
	for (uint64_t i = 0; i < kv->n; i++) {
		const uint8_t *s = NULL;
		uint64_t len = 0;
		kv->str_off[i] = r->off;
		if ((rc = rd_str(r, &s, &len, kv->key)))
			return rc;
	}
	return 0;
}

static int read_value(rd *r, gguf_kv *kv)
{
	uint32_t type;
	uint64_t len = 0;
	int rc;

	if ((rc = rd_u32(r, &type, kv->key)))
		return rc;
	if (type >= GGUF_T_COUNT_)
		return pt_err_set(r->e, PT_EFORMAT, "%s: key %s: unknown value type %u",
				  r->g->path, kv->key, type);
	kv->type = (int)type;
	kv->raw_off = r->off;
	if (type == GGUF_T_STRING) {
		rc = rd_str(r, &kv->val, &len, kv->key);
		kv->n = len;
	} else if (type == GGUF_T_ARRAY) {
		rc = read_array(r, kv);
	} else {
		rc = rd_need(r, (uint64_t)vtypes[type].size, kv->key);
		if (rc == 0) {
			kv->val = r->g->base + r->off;
			r->off += (size_t)vtypes[type].size;
			if (type == GGUF_T_BOOL)
				rc = check_bools(r, kv, kv->val, 1);
		}
	}
	kv->raw_len = r->off - kv->raw_off;
	return rc;
}

static const gguf_kv *find_kv(const engine__gguf *g, const char *key)
{
	int lo = 0, hi = g->n_kv - 1;

	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		const gguf_kv *kv = &g->kv[g->kv_sorted[mid]];
		int c = strcmp(key, kv->key);
		if (c == 0)
			return kv;
		if (c < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return NULL;
}

static int cmp_kv(const void *a, const void *b, void *g)
{
	const gguf_kv *kv = ((const engine__gguf *)g)->kv;

	return strcmp(kv[*(const int *)a].key, kv[*(const int *)b].key);
}

static int cmp_tname(const void *a, const void *b, void *g)
{
	const engine__tensor *t = ((const engine__gguf *)g)->t;

	return strcmp(t[*(const int *)a].name, t[*(const int *)b].name);
}

static int cmp_toff(const void *a, const void *b, void *g)
{
	const engine__tensor *t = ((const engine__gguf *)g)->t;
	uint64_t x = t[*(const int *)a].offset, y = t[*(const int *)b].offset;

	return x < y ? -1 : x > y;
}

/* The indices 0..n-1 sorted by cmp (NULL when out of memory). */
static int *sorted_index(engine__gguf *g, int n, int (*cmp)(const void *, const void *, void *))
{
	int *idx = malloc((size_t)(n ? n : 1) * sizeof(int));

	if (!idx)
		return NULL;
	for (int i = 0; i < n; i++)
		idx[i] = i;
	qsort_r(idx, (size_t)n, sizeof(int), cmp, g);
	return idx;
}

static int get_int(const engine__gguf *g, const char *key, const char *want, uint64_t *mag,
		   int *neg, pt_err *e);

static int read_alignment(engine__gguf *g, pt_err *e)
{
	uint64_t a = 0;
	int neg = 0, rc;

	g->alignment = GGUF_DEFAULT_ALIGN;
	if (!find_kv(g, "general.alignment"))
		return 0;
	if ((rc = get_int(g, "general.alignment", "an unsigned integer", &a, &neg, e)))
		return rc;
	if (neg || a == 0 || (a & (a - 1)) || a > (1u << 30))
		return pt_err_set(e, PT_EFORMAT, "%s: key general.alignment is %s%" PRIu64
				  " (must be a power of two up to 2^30)", g->path, neg ? "-" : "", a);
	g->alignment = a;
	return 0;
}

static int read_kvs(engine__gguf *g, rd *r, uint64_t n_kv, pt_err *e)
{
	int rc;

	/* Smallest pair: 8-byte key length, 1-byte key, 4-byte type, 1 byte. */
	if (n_kv > rd_left(r) / 14)
		return pt_err_set(e, PT_EFORMAT, "%s: header claims %" PRIu64
				  " keys, more than the %zu bytes left can hold",
				  g->path, n_kv, rd_left(r));
	if (n_kv > GGUF_MAX_KV)
		return pt_err_set(e, PT_ETOOLARGE, "%s: %" PRIu64 " keys (the limit is %d)",
				  g->path, n_kv, GGUF_MAX_KV);
	g->kv = calloc((size_t)(n_kv ? n_kv : 1), sizeof(gguf_kv));
	if (!g->kv)
		return pt_err_set(e, PT_ENOMEM, "%s: out of memory", g->path);
	for (uint64_t i = 0; i < n_kv; i++) {
		char what[64];
		snprintf(what, sizeof what, "the name of key %" PRIu64, i);
		if ((rc = rd_name(r, &g->kv[i].key, GGUF_MAX_KEY, what)))
			return rc;
		g->n_kv = (int)i + 1;
		if ((rc = read_value(r, &g->kv[i])))
			return rc;
	}
	g->kv_sorted = sorted_index(g, g->n_kv, cmp_kv);
	if (!g->kv_sorted)
		return pt_err_set(e, PT_ENOMEM, "%s: out of memory", g->path);
	for (int i = 1; i < g->n_kv; i++)
		if (strcmp(g->kv[g->kv_sorted[i - 1]].key, g->kv[g->kv_sorted[i]].key) == 0)
			return pt_err_set(e, PT_EFORMAT, "%s: key %s appears twice", g->path,
					  g->kv[g->kv_sorted[i]].key);
	return read_alignment(g, e);
}

/* ---- Tensors ---------------------------------------------------------------- */

static int read_tensor_info(engine__gguf *g, rd *r, engine__tensor *t, pt_err *e)
{
	uint32_t n_dims, type;
	uint64_t rows = 1;
	int rc;

	if ((rc = rd_u32(r, &n_dims, t->name)))
		return rc;
	if (n_dims < 1 || n_dims > 4)
		return pt_err_set(e, PT_EFORMAT, "%s: tensor %s: n_dims %u (must be 1 to 4)",
				  g->path, t->name, n_dims);
	t->n_dims = (int)n_dims;
	for (int d = 0; d < 4; d++)
		t->ne[d] = 1;
	for (uint32_t d = 0; d < n_dims; d++) {
		uint64_t ne;
		if ((rc = rd_u64(r, &ne, t->name)))
			return rc;
		if (ne < 1 || ne > INT64_MAX)
			return pt_err_set(e, PT_EFORMAT, "%s: tensor %s: dimension %u is %" PRId64
					  " (must be at least 1)", g->path, t->name, d, (int64_t)ne);
		t->ne[d] = (int64_t)ne;
	}
	if ((rc = rd_u32(r, &type, t->name)) || (rc = rd_u64(r, &t->offset, t->name)))
		return rc;
	const engine_type_traits *tt = engine__type((int)type);
	if (!tt || type > INT32_MAX)
		return pt_err_set(e, PT_EUNSUPPORTED, "%s: tensor %s: unknown type id %u",
				  g->path, t->name, type);
	t->type = (int)type;
	int64_t nel = t->ne[0];
	for (int d = 1; d < 4; d++) {
		if (__builtin_mul_overflow(rows, (uint64_t)t->ne[d], &rows) ||
		    __builtin_mul_overflow(nel, t->ne[d], &nel))
			return pt_err_set(e, PT_EFORMAT, "%s: tensor %s: dimensions %" PRId64 " x %"
					  PRId64 " x %" PRId64 " x %" PRId64 " overflow", g->path,
					  t->name, t->ne[0], t->ne[1], t->ne[2], t->ne[3]);
	}
	size_t row = engine__row_bytes(t->type, t->ne[0]);
	if (row == 0)
		return pt_err_set(e, PT_EFORMAT, "%s: tensor %s: a row of %" PRId64
				  " elements is not a whole number of %s blocks of %d",
				  g->path, t->name, t->ne[0], tt->name, tt->block);
	if (rows > SIZE_MAX || pt_mul_size(row, (size_t)rows, &t->nbytes))
		return pt_err_set(e, PT_EFORMAT, "%s: tensor %s: size overflows", g->path, t->name);
	if (t->offset % g->alignment)
		return pt_err_set(e, PT_EFORMAT, "%s: tensor %s: offset %" PRIu64
				  " is not a multiple of the alignment %" PRIu64,
				  g->path, t->name, t->offset, g->alignment);
	return 0;
}

/* Checks tensor t (offset still relative) lies inside the file. */
static int check_extent(const engine__gguf *g, const engine__tensor *t, size_t avail, pt_err *e)
{
	char a[64], b[64];
	uint64_t end;

	if (t->offset > avail)
		return pt_err_set(e, PT_EFORMAT, "%s: tensor %s: data starts at %s, past the end "
				  "of the file (%s)", g->path, t->name,
				  fmt_size(a, sizeof a, (uint64_t)g->data_off + t->offset),
				  fmt_size(b, sizeof b, g->size));
	/* offset <= avail here, so avail - offset cannot wrap; the end shown
	 * saturates for absurd sizes. */
	if (t->nbytes > avail - t->offset) {
		if (__builtin_add_overflow((uint64_t)g->data_off + t->offset, (uint64_t)t->nbytes,
					   &end))
			end = UINT64_MAX;
		return pt_err_set(e, PT_EFORMAT, "%s: tensor %s: data ends at %s, file is %s",
				  g->path, t->name, fmt_size(a, sizeof a, end),
				  fmt_size(b, sizeof b, g->size));
	}
	return 0;
}

/* Places the data section and checks, in file order (so a truncated file
 * names the first tensor cut), that each tensor lies inside the file and
 * overlaps no other. */
static int place_tensors(engine__gguf *g, rd *r, pt_err *e)
{
	char a[64];
	size_t data_off = r->off, avail;
	size_t pad = (size_t)(g->alignment - data_off % g->alignment) % g->alignment;
	int rc = 0, *by_off;

	if (pt_add_size(data_off, pad, &data_off) || (g->n_t > 0 && data_off > g->size))
		return pt_err_set(e, PT_EFORMAT, "%s: file ends before its data section "
				  "(which starts at byte %zu, file is %s)", g->path, data_off,
				  fmt_size(a, sizeof a, g->size));
	g->data_off = data_off;
	avail = g->size - (data_off < g->size ? data_off : g->size);
	if (!(by_off = sorted_index(g, g->n_t, cmp_toff)))
		return pt_err_set(e, PT_ENOMEM, "%s: out of memory", g->path);
	for (int i = 0; i < g->n_t && rc == 0; i++) {
		const engine__tensor *p = i ? &g->t[by_off[i - 1]] : NULL, *t = &g->t[by_off[i]];
		rc = check_extent(g, t, avail, e);
		if (rc == 0 && p && p->offset + p->nbytes > t->offset)
			rc = pt_err_set(e, PT_EFORMAT, "%s: tensor %s (bytes %" PRIu64 " to %" PRIu64
					") overlaps tensor %s (from byte %" PRIu64 ")", g->path,
					p->name, (uint64_t)data_off + p->offset,
					(uint64_t)(data_off + p->offset + p->nbytes), t->name,
					(uint64_t)data_off + t->offset);
	}
	free(by_off);
	for (int i = 0; i < g->n_t && rc == 0; i++) {
		g->t[i].offset += data_off;
		g->t[i].data = g->base + g->t[i].offset;
	}
	return rc;
}

static int read_tensors(engine__gguf *g, rd *r, uint64_t n_t, pt_err *e)
{
	int rc;

	/* Smallest info: 8 + 1 name, 4 n_dims, 8 ne, 4 type, 8 offset. */
	if (n_t > rd_left(r) / 33)
		return pt_err_set(e, PT_EFORMAT, "%s: header claims %" PRIu64
				  " tensors, more than the %zu bytes left can hold",
				  g->path, n_t, rd_left(r));
	if (n_t > GGUF_MAX_TENSORS)
		return pt_err_set(e, PT_ETOOLARGE, "%s: %" PRIu64 " tensors (the limit is %d)",
				  g->path, n_t, GGUF_MAX_TENSORS);
	g->t = calloc((size_t)(n_t ? n_t : 1), sizeof(engine__tensor));
	if (!g->t)
		return pt_err_set(e, PT_ENOMEM, "%s: out of memory", g->path);
	for (uint64_t i = 0; i < n_t; i++) {
		char what[64];
		snprintf(what, sizeof what, "the name of tensor %" PRIu64, i);
		if ((rc = rd_name(r, &g->t[i].name, GGUF_MAX_NAME, what)))
			return rc;
		g->n_t = (int)i + 1;
		if ((rc = read_tensor_info(g, r, &g->t[i], e)))
			return rc;
	}
	g->t_sorted = sorted_index(g, g->n_t, cmp_tname);
	if (!g->t_sorted)
		return pt_err_set(e, PT_ENOMEM, "%s: out of memory", g->path);
	for (int i = 1; i < g->n_t; i++)
		if (strcmp(g->t[g->t_sorted[i - 1]].name, g->t[g->t_sorted[i]].name) == 0)
			return pt_err_set(e, PT_EFORMAT, "%s: tensor %s appears twice", g->path,
					  g->t[g->t_sorted[i]].name);
	return place_tensors(g, r, e);
}

static int parse(engine__gguf *g, pt_err *e)
{
	rd r = { g, 0, e };
	uint64_t n_t, n_kv;
	int rc;

	if (g->size < 4 || memcmp(g->base, "GGUF", 4) != 0)
		return pt_err_set(e, PT_EFORMAT, "%s: not a GGUF file (%s)", g->path,
				  g->size < 4 ? "shorter than the 4-byte magic" :
				  "the first 4 bytes are not \"GGUF\"");
	r.off = 4;
	if ((rc = rd_u32(&r, &g->version, "the version")))
		return rc;
	if (g->version != 2 && g->version != 3)
		return pt_err_set(e, PT_EUNSUPPORTED, "%s: GGUF version %u is not supported "
				  "(2 and 3 are%s)", g->path, g->version,
				  g->version > 0xffff ? "; a big-endian file?" : "");
	if ((rc = rd_u64(&r, &n_t, "the tensor count")) ||
	    (rc = rd_u64(&r, &n_kv, "the key count")))
		return rc;
	if ((rc = read_kvs(g, &r, n_kv, e)))
		return rc;
	return read_tensors(g, &r, n_t, e);
}

/* ---- Opening ---------------------------------------------------------------- */

static int read_all(int fd, uint8_t *buf, size_t size, const char *path, pt_err *e)
{
	size_t done = 0;

	while (done < size) {
		size_t chunk = size - done > (1u << 30) ? (1u << 30) : size - done;
		ssize_t n = pread(fd, buf + done, chunk, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return pt_err_set(e, PT_EIO, "%s: read failed at byte %zu: %s", path, done,
					  n < 0 ? strerror(errno) : "file shrank while reading");
		done += (size_t)n;
	}
	return 0;
}

static int load_bytes(engine__gguf *g, int fd, int use_mmap, pt_err *e)
{
	if (use_mmap) {
		void *p = mmap(NULL, g->size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED)
			return pt_err_set(e, errno == ENOMEM ? PT_ENOMEM : PT_EIO,
					  "%s: mmap of %zu bytes failed: %s", g->path, g->size,
					  strerror(errno));
		(void)madvise(p, g->size, MADV_WILLNEED);
		g->base = p;
		g->mapped = 1;
		return 0;
	}
	/* A 64-byte aligned buffer keeps each tensor as aligned as its
	 * offset in the file (a multiple of general.alignment). */
	size_t cap;
	if (pt_add_size(g->size, 63, &cap))
		return pt_err_set(e, PT_ENOMEM, "%s: file too large", g->path);
	uint8_t *buf = aligned_alloc(64, cap & ~(size_t)63);
	if (!buf)
		return pt_err_set(e, PT_ENOMEM, "%s: out of memory reading %zu bytes",
				  g->path, g->size);
	g->base = buf;
	return read_all(fd, buf, g->size, g->path, e);
}

int engine__gguf_open(const char *path, int use_mmap, engine__gguf **out, pt_err *e)
{
	struct stat st;
	engine__gguf *g;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pt_err_set(e, errno == ENOENT ? PT_ENOTFOUND :
				  errno == EACCES ? PT_EPERM : PT_EIO,
				  "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = pt_err_set(e, PT_EIO, "%s: not a regular file", path);
		close(fd);
		return rc;
	}
	g = calloc(1, sizeof *g);
	if (!g || !(g->path = strdup(path))) {
		free(g);
		close(fd);
		return pt_err_set(e, PT_ENOMEM, "%s: out of memory", path);
	}
	g->size = (size_t)st.st_size;
	if (g->size < 24)
		rc = pt_err_set(e, PT_EFORMAT, "%s: not a GGUF file (%zu bytes, shorter than "
				"the 24-byte header)", path, g->size);
	else
		rc = load_bytes(g, fd, use_mmap, e);
	close(fd);
	if (rc == 0)
		rc = parse(g, e);
	if (rc) {
		engine__gguf_close(g);
		return rc;
	}
	*out = g;
	return 0;
}

void engine__gguf_close(engine__gguf *g)
{
	if (!g)
		return;
	if (g->mapped)
		munmap((void *)g->base, g->size);
	else
		free((void *)g->base);
	for (int i = 0; i < g->n_kv; i++) {
		free(g->kv[i].key);
		free(g->kv[i].str_off);
	}
	for (int i = 0; i < g->n_t; i++)
		free(g->t[i].name);
	free(g->kv);
	free(g->kv_sorted);
	free(g->t);
	free(g->t_sorted);
	free(g->path);
	free(g);
}

uint64_t engine__gguf_file_size(const engine__gguf *g)
{
	return g->size;
}

uint64_t engine__gguf_alignment(const engine__gguf *g)
{
	return g->alignment;
}

size_t engine__gguf_data_offset(const engine__gguf *g)
{
	return g->data_off;
}

int engine__gguf_n_tensors(const engine__gguf *g)
{
	return g->n_t;
}

const engine__tensor *engine__gguf_tensor(const engine__gguf *g, int i)
{
	return i >= 0 && i < g->n_t ? &g->t[i] : NULL;
}

const engine__tensor *engine__gguf_find(const engine__gguf *g, const char *name)
{
	int lo = 0, hi = g->n_t - 1;

	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		const engine__tensor *t = &g->t[g->t_sorted[mid]];
		int c = strcmp(name, t->name);
		if (c == 0)
			return t;
		if (c < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return NULL;
}

int engine__gguf_n_kv(const engine__gguf *g)
{
	return g->n_kv;
}

const char *engine__gguf_kv_key(const engine__gguf *g, int i, int *type)
{
	if (i < 0 || i >= g->n_kv)
		return NULL;
	if (type)
		*type = g->kv[i].type;
	return g->kv[i].key;
}

void engine__gguf_kv_raw(const engine__gguf *g, int i, const void **p, size_t *len)
{
	*p = g->base + g->kv[i].raw_off;
	*len = g->kv[i].raw_len;
}

/* ---- Typed getters ------------------------------------------------------------ */

static int get_kv(const engine__gguf *g, const char *key, int type, const gguf_kv **out,
		  pt_err *e)
{
	const gguf_kv *kv = find_kv(g, key);

	if (!kv)
		return pt_err_set(e, PT_ENOTFOUND, "%s: key %s is missing", g->path, key);
	if (type >= 0 && kv->type != type)
		return pt_err_set(e, PT_EFORMAT, "%s: key %s has type %s, expected %s",
				  g->path, key, vtype_name(kv->type), vtype_name(type));
	*out = kv;
	return 0;
}

/* Reads an integer key of any integer type; *neg set for negative values. */
static int get_int(const engine__gguf *g, const char *key, const char *want, uint64_t *mag,
		   int *neg, pt_err *e)
{
	const gguf_kv *kv = NULL;
	int rc = get_kv(g, key, -1, &kv, e);
	const uint8_t *p;
	int64_t s = 0;
	uint64_t u = 0;

	if (rc)
		return rc;
	p = kv->val;
	switch (kv->type) {
	case GGUF_T_UINT8: u = p[0]; break;
	case GGUF_T_INT8: s = (int8_t)p[0]; break;
	case GGUF_T_UINT16: { uint16_t v; memcpy(&v, p, 2); u = v; break; }
	case GGUF_T_INT16: { int16_t v; memcpy(&v, p, 2); s = v; break; }
	case GGUF_T_UINT32: { uint32_t v; memcpy(&v, p, 4); u = v; break; }
	case GGUF_T_INT32: { int32_t v; memcpy(&v, p, 4); s = v; break; }
	case GGUF_T_UINT64: memcpy(&u, p, 8); break;
	case GGUF_T_INT64: memcpy(&s, p, 8); break;
	default:
		return pt_err_set(e, PT_EFORMAT, "%s: key %s has type %s, expected %s",
				  g->path, key, vtype_name(kv->type), want);
	}
	*neg = s < 0;
	*mag = s < 0 ? (uint64_t)0 - (uint64_t)s : (s > 0 ? (uint64_t)s : u);
	return 0;
}

int engine__gguf_get_u32(const engine__gguf *g, const char *key, uint32_t *v, pt_err *e)
{
	uint64_t mag = 0;
	int neg = 0, rc = get_int(g, key, "u32", &mag, &neg, e);

	if (rc)
		return rc;
	if (neg || mag > UINT32_MAX)
		return pt_err_set(e, PT_EFORMAT, "%s: key %s is %s%" PRIu64 ", outside u32",
				  g->path, key, neg ? "-" : "", mag);
	*v = (uint32_t)mag;
	return 0;
}

int engine__gguf_get_i32(const engine__gguf *g, const char *key, int32_t *v, pt_err *e)
{
	uint64_t mag = 0;
	int neg = 0, rc = get_int(g, key, "i32", &mag, &neg, e);

	if (rc)
		return rc;
	if (mag > (neg ? (uint64_t)INT32_MAX + 1 : (uint64_t)INT32_MAX))
		return pt_err_set(e, PT_EFORMAT, "%s: key %s is %s%" PRIu64 ", outside i32",
				  g->path, key, neg ? "-" : "", mag);
	*v = neg ? (int32_t)(-(int64_t)mag) : (int32_t)mag;
	return 0;
}

int engine__gguf_get_f32(const engine__gguf *g, const char *key, float *v, pt_err *e)
{
	const gguf_kv *kv = NULL;
	int rc = get_kv(g, key, -1, &kv, e);

	if (rc)
		return rc;
	if (kv->type == GGUF_T_FLOAT32) {
		memcpy(v, kv->val, 4);
	} else if (kv->type == GGUF_T_FLOAT64) {
		double d;
		memcpy(&d, kv->val, 8);
		*v = (float)d;
	} else {
		return pt_err_set(e, PT_EFORMAT, "%s: key %s has type %s, expected f32",
				  g->path, key, vtype_name(kv->type));
	}
	return 0;
}

int engine__gguf_get_bool(const engine__gguf *g, const char *key, bool *v, pt_err *e)
{
	const gguf_kv *kv = NULL;
	int rc = get_kv(g, key, GGUF_T_BOOL, &kv, e);

	if (rc == 0)
		*v = kv->val[0] != 0;
	return rc;
}

int engine__gguf_get_str(const engine__gguf *g, const char *key, const char **s, size_t *len,
			 pt_err *e)
{
	const gguf_kv *kv = NULL;
	int rc = get_kv(g, key, GGUF_T_STRING, &kv, e);

	if (rc == 0) {
		*s = (const char *)kv->val;
		*len = (size_t)kv->n;
	}
	return rc;
}

int engine__gguf_get_arr(const engine__gguf *g, const char *key, int *elem_type, uint64_t *n,
			 const void **data, pt_err *e)
{
	const gguf_kv *kv = NULL;
	int rc = get_kv(g, key, GGUF_T_ARRAY, &kv, e);

	if (rc == 0) {
		*elem_type = kv->elem_type;
		*n = kv->n;
		*data = kv->elem_type == GGUF_T_STRING ? NULL : kv->val;
	}
	return rc;
}

int engine__gguf_get_arr_str(const engine__gguf *g, const char *key, uint64_t i, const char **s,
			     size_t *len, pt_err *e)
{
	const gguf_kv *kv = NULL;
	uint64_t l;
	int rc = get_kv(g, key, GGUF_T_ARRAY, &kv, e);

	if (rc)
		return rc;
	if (kv->elem_type != GGUF_T_STRING)
		return pt_err_set(e, PT_EFORMAT, "%s: key %s is an array of %s, expected strings",
				  g->path, key, vtype_name(kv->elem_type));
	if (i >= kv->n)
		return pt_err_set(e, PT_EINVAL, "%s: key %s: index %" PRIu64 " past its %" PRIu64
				  " strings", g->path, key, i, kv->n);
	memcpy(&l, g->base + kv->str_off[i], 8);
	*s = (const char *)g->base + kv->str_off[i] + 8;
	*len = (size_t)l;
	return 0;
}
