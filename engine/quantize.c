/*
 * quantize.c: rewrites a model file with its 2-D weight matrices in another
 * type. Every key is copied as it is (general.file_type and
 * general.quantization_version updated); norms, biases and position
 * embeddings are copied byte for byte. Each converted row goes through f32,
 * so any supported type converts to any other. The work is done a slice of
 * rows at a time, never the whole model in memory, and the result is
 * written to a temporary file that is synced and renamed, so OUT is either
 * the old file or the complete new one.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine-impl.h"

#define SLICE_BYTES (8u << 20) /* output bytes converted per round */
#define MAX_THREADS 64
#define WBUF_BYTES (1u << 20)

/* general.file_type values (llama.cpp's LLAMA_FTYPE_*). */
static uint32_t file_type_of(int type)
{
	switch (type) {
	case ENGINE_TYPE_F16: return 1;
	case ENGINE_TYPE_Q4_0: return 2;
	case ENGINE_TYPE_Q8_0: return 7;
	case ENGINE_TYPE_Q4_K: return 14; /* Q4_K_S: every matrix Q4_K */
	case ENGINE_TYPE_Q6_K: return 18;
	case ENGINE_TYPE_BF16: return 32;
	default: return 0;
	}
}

static bool is_quantized(int type)
{
	return type == ENGINE_TYPE_Q8_0 || type == ENGINE_TYPE_Q4_0 ||
	       type == ENGINE_TYPE_Q4_K || type == ENGINE_TYPE_Q6_K;
}

/* The matrices that are converted: token_embd, output and the four per
 * layer; everything else keeps its type. */
static bool converts(const engine__tensor *t)
{
	static const char *const suffix[] = { ".attn_qkv.weight", ".attn_output.weight",
					      ".ffn_up.weight", ".ffn_down.weight" };
	size_t n = strlen(t->name);

	if (t->n_dims != 2 || t->ne[2] != 1 || t->ne[3] != 1)
		return false;
	if (!strcmp(t->name, "token_embd.weight") || !strcmp(t->name, "output.weight"))
		return true;
	if (strncmp(t->name, "blk.", 4) != 0)
		return false;
	for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
		size_t k = strlen(suffix[i]);
		if (n > k && !strcmp(t->name + n - k, suffix[i]))
			return true;
	}
	return false;
}

/* ---- Buffered writing ------------------------------------------------------ */

typedef struct wbuf {
	int fd;
	const char *path;
	uint8_t *buf;
	size_t len;
	uint64_t pos;   /* bytes written so far, buffered ones included */
	pt_err *e;
} wbuf;

static int w_flush(wbuf *w)
{
	size_t done = 0;

	while (done < w->len) {
		ssize_t n = write(w->fd, w->buf + done, w->len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return pt_err_set(w->e, errno == ENOSPC || errno == EDQUOT ? PT_ENOSPACE : PT_EIO,
					  "%s: write failed: %s", w->path, strerror(errno));
		done += (size_t)n;
	}
	w->len = 0;
	return 0;
}

static int w_bytes(wbuf *w, const void *p, size_t n)
{
	const uint8_t *s = p;
	int rc;

	while (n > 0) {
		size_t k = WBUF_BYTES - w->len < n ? WBUF_BYTES - w->len : n;
		memcpy(w->buf + w->len, s, k);
		w->len += k;
		w->pos += k;
		s += k;
		n -= k;
		if (w->len == WBUF_BYTES && (rc = w_flush(w)))
			return rc;
	}
	return 0;
}

static int w_u32(wbuf *w, uint32_t v) { return w_bytes(w, &v, 4); }
static int w_u64(wbuf *w, uint64_t v) { return w_bytes(w, &v, 8); }

static int w_str(wbuf *w, const char *s)
{
	size_t n = strlen(s);
	int rc = w_u64(w, n);

	return rc ? rc : w_bytes(w, s, n);
}

static int w_zeros(wbuf *w, uint64_t n)
{
	static const uint8_t zero[256];
	int rc = 0;

	while (rc == 0 && n > 0) {
		size_t k = n > sizeof zero ? sizeof zero : (size_t)n;
		rc = w_bytes(w, zero, k);
		n -= k;
	}
	return rc;
}

static int w_pad(wbuf *w, uint64_t align)
{
	return w_zeros(w, (align - w->pos % align) % align);
}

/* ---- Plan -------------------------------------------------------------------- */

typedef struct plan {
	const engine__gguf *g;
	int type;               /* target type */
	int n_t;
	int *out_type;          /* per tensor */
	size_t *out_bytes;
	uint64_t *out_off;      /* relative to the data section */
	int64_t max_row;        /* longest converted row (scratch size) */
	size_t max_out_row;
} plan;

static int make_plan(plan *p, const char *in_path, pt_err *e)
{
	uint64_t off = 0, align = engine__gguf_alignment(p->g);

	p->n_t = engine__gguf_n_tensors(p->g);
	p->out_type = calloc((size_t)p->n_t + 1, sizeof *p->out_type);
	p->out_bytes = calloc((size_t)p->n_t + 1, sizeof *p->out_bytes);
	p->out_off = calloc((size_t)p->n_t + 1, sizeof *p->out_off);
	if (!p->out_type || !p->out_bytes || !p->out_off)
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	int n_fallback = 0;
	const char *first_fallback = NULL;

	for (int i = 0; i < p->n_t; i++) {
		const engine__tensor *t = engine__gguf_tensor(p->g, i);
		int ot = converts(t) ? p->type : t->type;
		size_t row = engine__row_bytes(ot, t->ne[0]);
		/* K-quants need rows of whole super-blocks of 256 (PolyLM's 2048
		 * and 8192 are; small test models may not be): such a matrix is
		 * written as Q8_0, as llama.cpp's quantizer falls back too. */
		if (row == 0 && ot != t->type && engine__type(ot)->block == 256) {
			pt_log(PT_LOG_INFO, "%s: tensor %s: rows of %" PRId64 " elements are "
			       "not a multiple of 256; written as q8_0", in_path, t->name,
			       t->ne[0]);
			if (n_fallback++ == 0)
				first_fallback = t->name;
			ot = ENGINE_TYPE_Q8_0;
			row = engine__row_bytes(ot, t->ne[0]);
		}
		if (ot != t->type && !engine__type(t->type)->supported)
			return pt_err_set(e, PT_EUNSUPPORTED, "%s: tensor %s has type %s, which "
					  "cannot be converted", in_path, t->name,
					  engine_type_name(t->type));
		if (row == 0)
			return pt_err_set(e, PT_EINVAL, "%s: tensor %s cannot be converted to %s: "
					  "its rows have %" PRId64 " elements, not a multiple of %d",
					  in_path, t->name, engine_type_name(ot), t->ne[0],
					  engine__type(ot)->block);
		p->out_type[i] = ot;
		if (pt_mul_size(row, (size_t)(t->ne[1] * t->ne[2] * t->ne[3]), &p->out_bytes[i]))
			return pt_err_set(e, PT_ETOOLARGE, "%s: tensor %s is too large", in_path,
					  t->name);
		p->out_off[i] = off;
		if (__builtin_add_overflow(off, p->out_bytes[i], &off) ||
		    __builtin_add_overflow(off, (align - off % align) % align, &off))
			return pt_err_set(e, PT_ETOOLARGE, "%s: the output would be too large",
					  in_path);
		if (ot != t->type && t->ne[0] > p->max_row)
			p->max_row = t->ne[0];
		if (ot != t->type && row > p->max_out_row)
			p->max_out_row = row;
	}
	if (n_fallback)
		pt_log(PT_LOG_WARN, "%s: %d of the matrices (%s%s) have rows that are not a "
		       "multiple of 256 and were written as q8_0 instead of %s", in_path,
		       n_fallback, first_fallback, n_fallback > 1 ? ", ..." : "",
		       engine_type_name(p->type));
	return 0;
}

static void plan_done(plan *p)
{
	free(p->out_type);
	free(p->out_bytes);
	free(p->out_off);
}

/* ---- Header ------------------------------------------------------------------- */

static int write_header(wbuf *w, const plan *p)
{
	const engine__gguf *g = p->g;
	const bool quant = is_quantized(p->type);
	bool have_ft = false, have_qv = false;
	uint64_t n_kv = 0;
	int rc, type;

	for (int i = 0; i < engine__gguf_n_kv(g); i++) {
		const char *k = engine__gguf_kv_key(g, i, &type);
		have_ft |= !strcmp(k, "general.file_type");
		have_qv |= !strcmp(k, "general.quantization_version");
	}
	n_kv = (uint64_t)engine__gguf_n_kv(g) + !have_ft + (quant && !have_qv) -
	       (!quant && have_qv);
	if ((rc = w_bytes(w, "GGUF", 4)) || (rc = w_u32(w, 3)) ||
	    (rc = w_u64(w, (uint64_t)p->n_t)) || (rc = w_u64(w, n_kv)))
		return rc;
	for (int i = 0; i < engine__gguf_n_kv(g) && rc == 0; i++) {
		const char *k = engine__gguf_kv_key(g, i, &type);
		const void *raw;
		size_t len;
		if (!strcmp(k, "general.file_type") || !strcmp(k, "general.quantization_version"))
			continue;
		engine__gguf_kv_raw(g, i, &raw, &len);
		if (!(rc = w_str(w, k)) && !(rc = w_u32(w, (uint32_t)type)))
			rc = w_bytes(w, raw, len);
	}
	if (rc || (rc = w_str(w, "general.file_type")) || (rc = w_u32(w, GGUF_T_UINT32)) ||
	    (rc = w_u32(w, file_type_of(p->type))))
		return rc;
	if (quant && ((rc = w_str(w, "general.quantization_version")) ||
		      (rc = w_u32(w, GGUF_T_UINT32)) || (rc = w_u32(w, 2))))
		return rc;
	for (int i = 0; i < p->n_t && rc == 0; i++) {
		const engine__tensor *t = engine__gguf_tensor(g, i);
		if ((rc = w_str(w, t->name)) || (rc = w_u32(w, (uint32_t)t->n_dims)))
			return rc;
		for (int d = 0; d < t->n_dims && rc == 0; d++)
			rc = w_u64(w, (uint64_t)t->ne[d]);
		if (rc == 0 && (rc = w_u32(w, (uint32_t)p->out_type[i])) == 0)
			rc = w_u64(w, p->out_off[i]);
	}
	return rc ? rc : w_pad(w, engine__gguf_alignment(g));
}

/* ---- Data --------------------------------------------------------------------- */

typedef struct job {
	const engine__tensor *t;
	int out_type;
	int64_t row0, n_rows;   /* rows of this job */
	uint8_t *out;           /* where row row0 of the slice goes */
	size_t out_row;
	float *scratch;
	pthread_t th;
	bool started;
} job;

static void *convert_rows(void *arg)
{
	job *j = arg;
	const engine__tensor *t = j->t;
	size_t in_row = engine__row_bytes(t->type, t->ne[0]);

	for (int64_t r = 0; r < j->n_rows; r++) {
		const uint8_t *src = (const uint8_t *)t->data + (size_t)(j->row0 + r) * in_row;
		engine__dequant_row(t->type, src, j->scratch, t->ne[0]);
		engine__quant_row(j->out_type, j->scratch, j->out + (size_t)r * j->out_row, t->ne[0]);
	}
	return NULL;
}

/* Converts rows [row0, row0 + n) into out, split over up to n_th threads
 * (the calling one included). A thread that cannot be started is not an
 * error: its share is done here. */
static void convert_slice(job *jobs, int n_th, const engine__tensor *t, int out_type,
			  int64_t row0, int64_t n, uint8_t *out, size_t out_row)
{
	int64_t per = (n + n_th - 1) / n_th;
	int n_jobs = 0;

	for (int k = 0; k < n_th && k * per < n; k++, n_jobs++) {
		job *j = &jobs[k];
		j->t = t;
		j->out_type = out_type;
		j->row0 = row0 + k * per;
		j->n_rows = n - k * per < per ? n - k * per : per;
		j->out = out + (size_t)(k * per) * out_row;
		j->out_row = out_row;
	}
	for (int k = 1; k < n_jobs; k++)
		jobs[k].started = pthread_create(&jobs[k].th, NULL, convert_rows, &jobs[k]) == 0;
	convert_rows(&jobs[0]);
	for (int k = 1; k < n_jobs; k++) {
		if (jobs[k].started)
			pthread_join(jobs[k].th, NULL);
		else
			convert_rows(&jobs[k]);
	}
}

static int write_data(wbuf *w, const plan *p, job *jobs, int n_th, uint8_t *slice)
{
	const uint64_t base = w->pos;
	int rc = 0;

	for (int i = 0; i < p->n_t && rc == 0; i++) {
		const engine__tensor *t = engine__gguf_tensor(p->g, i);
		if ((rc = w_zeros(w, p->out_off[i] - (w->pos - base))))
			break;
		if (p->out_type[i] == t->type) {
			rc = w_bytes(w, t->data, t->nbytes);
			continue;
		}
		size_t out_row = engine__row_bytes(p->out_type[i], t->ne[0]);
		int64_t rows = t->ne[1], per = (int64_t)(SLICE_BYTES / out_row);
		if (per < 1)
			per = 1;
		for (int64_t r = 0; r < rows && rc == 0; r += per) {
			int64_t n = rows - r < per ? rows - r : per;
			convert_slice(jobs, n_th, t, p->out_type[i], r, n, slice, out_row);
			rc = w_bytes(w, slice, (size_t)n * out_row);
		}
	}
	return rc;
}

/* ---- Driver ------------------------------------------------------------------- */

/* Syncs the folder holding path, so the rename itself is durable. */
static void sync_dir(const char *path)
{
	char *copy = strdup(path);
	int fd;

	if (!copy)
		return;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	free(copy);
}

typedef struct work {
	plan p;
	job jobs[MAX_THREADS];
	int n_th;
	uint8_t *slice;
	wbuf w;
	char *tmp;
} work;

static int alloc_work(work *k, int n_threads, pt_err *e)
{
	size_t slice = SLICE_BYTES > k->p.max_out_row ? SLICE_BYTES : k->p.max_out_row;
	size_t scratch;

	if (n_threads <= 0)
		n_threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
	k->n_th = n_threads < 1 ? 1 : n_threads > MAX_THREADS ? MAX_THREADS : n_threads;
	k->slice = malloc(slice);
	k->w.buf = malloc(WBUF_BYTES);
	if (!k->slice || !k->w.buf ||
	    pt_mul_size((size_t)(k->p.max_row ? k->p.max_row : 1), sizeof(float), &scratch))
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	for (int i = 0; i < k->n_th; i++)
		if (!(k->jobs[i].scratch = malloc(scratch)))
			return pt_err_set(e, PT_ENOMEM, "out of memory");
	return 0;
}

static void free_work(work *k)
{
	plan_done(&k->p);
	for (int i = 0; i < MAX_THREADS; i++)
		free(k->jobs[i].scratch);
	free(k->slice);
	free(k->w.buf);
	free(k->tmp);
}

static int write_out(work *k, const char *out_path, pt_err *e)
{
	int rc;

	if (asprintf(&k->tmp, "%s.tmp-XXXXXX", out_path) < 0) {
		k->tmp = NULL;
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	}
	k->w.fd = mkstemp(k->tmp);
	if (k->w.fd < 0)
		return pt_err_set(e, errno == EACCES ? PT_EPERM : errno == ENOSPC ? PT_ENOSPACE :
				  PT_EIO, "%s: cannot create: %s", k->tmp, strerror(errno));
	k->w.path = k->tmp;
	k->w.e = e;
	(void)fchmod(k->w.fd, 0644);
	rc = write_header(&k->w, &k->p);
	if (rc == 0)
		rc = write_data(&k->w, &k->p, k->jobs, k->n_th, k->slice);
	if (rc == 0)
		rc = w_flush(&k->w);
	if (rc == 0 && fsync(k->w.fd) != 0)
		rc = pt_err_set(e, errno == ENOSPC ? PT_ENOSPACE : PT_EIO, "%s: fsync failed: %s",
				k->tmp, strerror(errno));
	if (close(k->w.fd) != 0 && rc == 0)
		rc = pt_err_set(e, PT_EIO, "%s: close failed: %s", k->tmp, strerror(errno));
	if (rc == 0 && rename(k->tmp, out_path) != 0)
		rc = pt_err_set(e, PT_EIO, "%s: cannot rename to %s: %s", k->tmp, out_path,
				strerror(errno));
	if (rc)
		unlink(k->tmp);
	else
		sync_dir(out_path);
	return rc;
}

int engine_quantize(const char *in_path, const char *out_path, int type, int n_threads,
		    pt_err *e)
{
	engine__gguf *g = NULL;
	work *k;
	int rc;

	if (!in_path || !out_path)
		return pt_err_set(e, PT_EINVAL, "engine_quantize: no input or output path");
	if (type < 0 || engine_type_from_name(engine_type_name(type)) != type)
		return pt_err_set(e, PT_EINVAL, "cannot convert to type %s (f32, f16, bf16, q8_0, "
				  "q4_0, q4_k and q6_k are possible)", engine_type_name(type));
	if ((rc = engine__gguf_open(in_path, 1, &g, e)))
		return rc;
	k = calloc(1, sizeof *k);
	if (!k) {
		engine__gguf_close(g);
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	}
	k->p.g = g;
	k->p.type = type;
	rc = make_plan(&k->p, in_path, e);
	if (rc == 0)
		rc = alloc_work(k, n_threads, e);
	if (rc == 0)
		rc = write_out(k, out_path, e);
	free_work(k);
	free(k);
	engine__gguf_close(g);
	return rc;
}
