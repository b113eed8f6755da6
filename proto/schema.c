/*
 * schema.c: one generic decoder and one generic encoder driven by the
 * field tables of methods.c, so that every method's body is checked the
 * same way in both directions (types, required fields, ranges, enums,
 * UTF-8) and a new field is one table line.
 */
#include "proto-impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define AT(obj, off, type) ((type *)(void *)((char *)(obj) + (off)))
#define CAT(obj, off, type) ((const type *)(const void *)((const char *)(obj) + (off)))

/* Array fields hold a pointer to their first element. */
typedef const void *cptr;
typedef const char *ccptr;

/* Printable, bounded copy of a peer-supplied name for an error message. */
static void safe_name(const char *p, size_t n, char *out, size_t outsz)
{
	size_t i, j = 0;

	for (i = 0; i < n && j + 4 < outsz; i++)
		out[j++] = (p[i] >= 0x20 && p[i] < 0x7f) ? p[i] : '?';
	if (i < n && j + 3 < outsz)
		out[j++] = '.', out[j++] = '.', out[j++] = '.';
	out[j] = '\0';
}

static const char *type_name(const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL: return "nil";
	case MSGPACK_OBJECT_BOOLEAN: return "a boolean";
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "an integer";
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64: return "a float";
	case MSGPACK_OBJECT_STR: return "a string";
	case MSGPACK_OBJECT_BIN: return "binary data";
	case MSGPACK_OBJECT_ARRAY: return "an array";
	case MSGPACK_OBJECT_MAP: return "a map";
	default: return "an extension value";
	}
}

static int want(const msgpack_object *o, const char *what, pt_err *e)
{
	return pt_err_set(e, PT_EFORMAT, "%s expected, got %s", what, type_name(o));
}

/* ---- Value checks, shared by decoding and encoding ------------------ */

static int check_str(const proto_field *f, proto_str s, pt_err *e)
{
	size_t bad;

	if (s.ptr == NULL && s.len > 0)
		return pt_err_set(e, PT_EINVAL, "NULL string of length %zu", s.len);
	if (f->max > 0 && s.len > (uint64_t)f->max)
		return pt_err_set(e, PT_ETOOLARGE, "%zu bytes, over the limit of %lld",
				  s.len, (long long)f->max);
	if (f->kind == F_BLOB)
		return 0;
	if (pt_utf8_check(s.ptr, s.len, &bad) != 0)
		return pt_err_set(e, PT_EUTF8, "not valid UTF-8 (byte %zu)", bad);
	if ((f->flags & FF_BASENAME) &&
	    (s.len == 0 || memchr(s.ptr, '/', s.len) || memchr(s.ptr, '\0', s.len) ||
	     proto_str_eq(s, ".") || proto_str_eq(s, "..")))
		return pt_err_set(e, PT_EFORMAT, "a file name without '/' expected "
				  "(not empty, \".\" or \"..\")");
	if ((f->flags & FF_ABSPATH) &&
	    (s.len == 0 || s.ptr[0] != '/' || memchr(s.ptr, '\0', s.len)))
		return pt_err_set(e, PT_EFORMAT, "an absolute path expected");
	return 0;
}

static bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
static bool is_alnum(char c)
{
	return is_lower(c) || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* 2-3 lowercase letters, then optional "-" subtags of 1-8 letters or
 * digits ("pt-BR", "zh-Hant"), or "auto" where the field allows it. */
static int check_lang(const proto_field *f, const char *p, size_t n, pt_err *e)
{
	size_t i = 0, run;
	char shown[40];

	if ((f->flags & FF_AUTO) && n == 4 && memcmp(p, "auto", 4) == 0)
		return 0;
	while (i < n && is_lower(p[i]))
		i++;
	if (i < 2 || i > 3)
		goto bad;
	while (i < n) {
		if (p[i++] != '-')
			goto bad;
		for (run = 0; i < n && is_alnum(p[i]); i++)
			run++;
		if (run < 1 || run > 8)
			goto bad;
	}
	if (n < PROTO_LANG_SIZE)
		return 0;
bad:
	safe_name(p, n, shown, sizeof shown);
	return pt_err_set(e, PT_EFORMAT, "\"%s\" is not a language code (like "
			  "\"de\" or \"pt-BR\"%s)", shown,
			  (f->flags & FF_AUTO) ? ", or \"auto\"" : "");
}

/* Job ids name folders: a strict charset keeps them from naming paths. */
static int check_jobid(const char *p, size_t n, pt_err *e)
{
	bool ok = n >= 1 && n < PROTO_JOBID_SIZE;

	for (size_t i = 0; ok && i < n; i++)
		ok = is_alnum(p[i]) || p[i] == '-' || p[i] == '_';
	if (ok)
		return 0;
	return pt_err_set(e, PT_EFORMAT, "a job id of 1 to %d letters, digits, "
			  "'-' or '_' expected", PROTO_JOBID_SIZE - 1);
}

static void int_range(const proto_field *f, int64_t *lo, int64_t *hi)
{
	if (f->min != 0 || f->max != 0) {
		*lo = f->min;
		*hi = f->max;
	} else if (f->kind == F_I32) {
		*lo = INT32_MIN;
		*hi = INT32_MAX;
	} else {
		*lo = 0;
		*hi = f->kind == F_U32 ? UINT32_MAX : INT64_MAX;
	}
}

static int check_int(const proto_field *f, int64_t v, pt_err *e)
{
	int64_t lo, hi;

	int_range(f, &lo, &hi);
	if (v < lo || v > hi)
		return pt_err_set(e, PT_EFORMAT, "an integer from %lld to %lld "
				  "expected, got %lld", (long long)lo, (long long)hi,
				  (long long)v);
	return 0;
}

static int check_f64(const proto_field *f, double v, pt_err *e)
{
	if (!isfinite(v))
		return pt_err_set(e, PT_EFORMAT, "a finite number expected");
	if (f->min < f->max && (v < (double)f->min || v > (double)f->max))
		return pt_err_set(e, PT_EFORMAT, "a number from %lld to %lld "
				  "expected, got %g", (long long)f->min,
				  (long long)f->max, v);
	return 0;
}

static int n_names(const proto_field *f)
{
	int n = 0;
	while (f->names[n] != NULL)
		n++;
	return n;
}

/* "one of \"a\", \"b\"" for an enum error. */
static void enum_list(const proto_field *f, char *out, size_t outsz)
{
	size_t j = 0;
	out[0] = '\0';
	for (int i = f->min; f->names[i] != NULL && j < outsz; i++) {
		if (f->max != 0 && i > f->max)
			break;
		j += (size_t)snprintf(out + j, outsz - j, "%s\"%s\"",
				      i > f->min ? ", " : "", f->names[i]);
	}
}

/* ---- Decoding ------------------------------------------------------- */

static int dec_obj(const proto_schema *s, const msgpack_object *o, bool strict,
		   msgpack_zone *z, void *obj, pt_err *e);

static int dec_str(const proto_field *f, const msgpack_object *v, proto_str *out,
		   pt_err *e)
{
	proto_str s;
	int rc;

	if (v->type == MSGPACK_OBJECT_STR) {
		s.ptr = v->via.str.ptr;
		s.len = v->via.str.size;
	} else if (f->kind == F_BLOB && v->type == MSGPACK_OBJECT_BIN) {
		s.ptr = v->via.bin.ptr;
		s.len = v->via.bin.size;
	} else {
		return want(v, f->kind == F_BLOB ? "a string or binary data" : "a string", e);
	}
	if (s.ptr == NULL)
		s.ptr = "";      /* present, empty */
	if ((rc = check_str(f, s, e)) != 0)
		return rc == PT_EINVAL ? PT_EFORMAT : rc;
	*out = s;
	return 0;
}

static int dec_int(const proto_field *f, const msgpack_object *v, void *dst, pt_err *e)
{
	int64_t sv;
	int rc;

	if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && f->kind == F_U64) {
		if (f->max > 0 && v->via.u64 > (uint64_t)f->max)
			return pt_err_set(e, PT_EFORMAT, "an integer up to %lld "
					  "expected, got %llu", (long long)f->max,
					  (unsigned long long)v->via.u64);
		*(uint64_t *)dst = v->via.u64;
		return 0;
	}
	if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		sv = v->via.u64 > INT64_MAX ? INT64_MAX : (int64_t)v->via.u64;
	else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		sv = v->via.i64;
	else
		return want(v, "an integer", e);
	if ((rc = check_int(f, sv, e)) != 0)
		return rc;
	if (f->kind == F_U32)
		*(uint32_t *)dst = (uint32_t)sv;
	else if (f->kind == F_I32)
		*(int32_t *)dst = (int32_t)sv;
	else
		*(uint64_t *)dst = (uint64_t)sv;
	return 0;
}

static void *zalloc(msgpack_zone *z, size_t n, size_t size, pt_err *e)
{
	size_t bytes;
	void *p;

	if (pt_mul_size(n, size, &bytes) != 0) {
		pt_err_set(e, PT_ETOOLARGE, "array of %zu elements too large", n);
		return NULL;
	}
	p = msgpack_zone_malloc(z, bytes ? bytes : 1);
	if (p == NULL)
		pt_err_set(e, PT_ENOMEM, "out of memory decoding %zu elements", n);
	else
		memset(p, 0, bytes);
	return p;
}

static int dec_array(const proto_field *f, const msgpack_object *v, bool strict,
		     msgpack_zone *z, void *obj, pt_err *e)
{
	size_t n, size, i;
	char *arr;
	int rc;

	if (v->type != MSGPACK_OBJECT_ARRAY)
		return want(v, "an array", e);
	n = v->via.array.size;
	size = f->kind == F_STRS ? sizeof(proto_str) : f->sub->size;
	if ((arr = zalloc(z, n, size, e)) == NULL)
		return e != NULL ? e->code : PT_ENOMEM;
	for (i = 0; i < n; i++) {
		const msgpack_object *it = &v->via.array.ptr[i];
		if (f->kind == F_STRS)
			rc = dec_str(f, it, (proto_str *)(void *)(arr + i * size), e);
		else
			rc = dec_obj(f->sub, it, strict, z, arr + i * size, e);
		if (rc != 0) {
			pt_err_prefix(e, "[%zu]", i);
			return rc;
		}
	}
	*AT(obj, f->off, void *) = arr;
	*AT(obj, f->aux_off, uint32_t) = (uint32_t)n;
	return 0;
}

static int dec_fixed(const proto_field *f, const msgpack_object *v, void *obj, pt_err *e)
{
	const char *p;
	size_t n;
	int rc;

	if (v->type != MSGPACK_OBJECT_STR)
		return want(v, "a string", e);
	p = v->via.str.ptr;
	n = v->via.str.size;
	rc = f->kind == F_LANG ? check_lang(f, p, n, e) : check_jobid(p, n, e);
	if (rc == 0) {
		memcpy(AT(obj, f->off, char), p, n);
		AT(obj, f->off, char)[n] = '\0';
	}
	return rc;
}

static int dec_enum(const proto_field *f, const msgpack_object *v, void *obj, pt_err *e)
{
	char list[200], shown[40];
	proto_str s;

	if (v->type != MSGPACK_OBJECT_STR)
		return want(v, "a string", e);
	s.ptr = v->via.str.ptr;
	s.len = v->via.str.size;
	for (int i = 0; f->names[i] != NULL; i++) {
		if (proto_str_eq(s, f->names[i]) && i >= f->min &&
		    (f->max == 0 || i <= f->max)) {
			*AT(obj, f->off, int) = i;
			return 0;
		}
	}
	enum_list(f, list, sizeof list);
	safe_name(s.ptr, s.len, shown, sizeof shown);
	return pt_err_set(e, PT_EFORMAT, "\"%s\" is not one of %s", shown, list);
}

static int dec_value(const proto_field *f, const msgpack_object *v, bool strict,
		     msgpack_zone *z, void *obj, pt_err *e)
{
	switch (f->kind) {
	case F_STR:
	case F_BLOB:
		return dec_str(f, v, AT(obj, f->off, proto_str), e);
	case F_LANG:
	case F_JOBID:
		return dec_fixed(f, v, obj, e);
	case F_U32:
	case F_U64:
	case F_I32:
		return dec_int(f, v, AT(obj, f->off, void), e);
	case F_F64:
		if (v->type == MSGPACK_OBJECT_FLOAT32 || v->type == MSGPACK_OBJECT_FLOAT64)
			*AT(obj, f->off, double) = v->via.f64;
		else if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			*AT(obj, f->off, double) = (double)v->via.u64;
		else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
			*AT(obj, f->off, double) = (double)v->via.i64;
		else
			return want(v, "a number", e);
		if (f->aux_off)
			*AT(obj, f->aux_off, bool) = true;
		return check_f64(f, *AT(obj, f->off, double), e);
	case F_BOOL:
		if (v->type != MSGPACK_OBJECT_BOOLEAN)
			return want(v, "true or false", e);
		*AT(obj, f->off, bool) = v->via.boolean;
		return 0;
	case F_ENUM:
		return dec_enum(f, v, obj, e);
	case F_STRS:
	case F_OBJS:
		return dec_array(f, v, strict, z, obj, e);
	case F_OBJ:
		return dec_obj(f->sub, v, strict, z, AT(obj, f->off, void), e);
	}
	return pt_err_set(e, PT_EINTERNAL, "unknown field kind %d", f->kind);
}

/* One key/value pair of a map: finds the field, refuses unknown keys when
 * strict, and duplicates always (which value would count is unclear). */
static int dec_pair(const proto_schema *s, const msgpack_object_kv *kv, bool strict,
		    msgpack_zone *z, void *obj, uint64_t *seen, pt_err *e)
{
	char shown[48];
	size_t j;
	int rc;

	if (kv->key.type != MSGPACK_OBJECT_STR)
		return pt_err_set(e, PT_EFORMAT, "map keys must be strings, got %s",
				  type_name(&kv->key));
	for (j = 0; j < s->n_fields; j++)
		if (kv->key.via.str.size == strlen(s->fields[j].name) &&
		    memcmp(kv->key.via.str.ptr, s->fields[j].name,
			   kv->key.via.str.size) == 0)
			break;
	if (j == s->n_fields) {
		if (!strict)
			return 0;
		safe_name(kv->key.via.str.ptr, kv->key.via.str.size, shown, sizeof shown);
		return pt_err_set(e, PT_EFORMAT, "unknown field \"%s\"", shown);
	}
	if (*seen & ((uint64_t)1 << j))
		return pt_err_set(e, PT_EFORMAT, "field \"%s\" given twice",
				  s->fields[j].name);
	*seen |= (uint64_t)1 << j;
	/* nil stands for "absent" (many clients send None for defaults). */
	if (kv->val.type == MSGPACK_OBJECT_NIL) {
		bool nullable = s->fields[j].kind == F_F64 && s->fields[j].aux_off;
		if ((s->fields[j].flags & FF_REQ) && !nullable)
			rc = pt_err_set(e, PT_EFORMAT, "must not be nil");
		else
			rc = 0;
	} else {
		rc = dec_value(&s->fields[j], &kv->val, strict, z, obj, e);
	}
	if (rc != 0)
		pt_err_prefix(e, "%s", s->fields[j].name);
	return rc;
}

static int dec_obj(const proto_schema *s, const msgpack_object *o, bool strict,
		   msgpack_zone *z, void *obj, pt_err *e)
{
	uint64_t seen = 0;
	int rc;

	proto__schema_init(s, obj);
	if (o->type != MSGPACK_OBJECT_MAP)
		return want(o, "a map of named fields", e);
	for (uint32_t i = 0; i < o->via.map.size; i++)
		if ((rc = dec_pair(s, &o->via.map.ptr[i], strict, z, obj, &seen, e)) != 0)
			return rc;
	for (size_t j = 0; j < s->n_fields; j++)
		if ((s->fields[j].flags & FF_REQ) && !(seen & ((uint64_t)1 << j)))
			return pt_err_set(e, PT_EFORMAT, "missing field \"%s\"",
					  s->fields[j].name);
	return s->check != NULL ? s->check(obj, e) : 0;
}

int proto__schema_decode(const proto_schema *s, const msgpack_object *o, bool strict,
			 msgpack_zone *z, void *obj, pt_err *e)
{
	return dec_obj(s, o, strict, z, obj, e);
}

void proto__schema_init(const proto_schema *s, void *obj)
{
	memset(obj, 0, s->size);
	for (size_t j = 0; j < s->n_fields; j++) {
		const proto_field *f = &s->fields[j];
		switch (f->kind) {
		case F_LANG:
			if (f->sdef != NULL)
				snprintf(AT(obj, f->off, char), PROTO_LANG_SIZE, "%s", f->sdef);
			break;
		case F_U32: *AT(obj, f->off, uint32_t) = (uint32_t)f->def; break;
		case F_U64: *AT(obj, f->off, uint64_t) = (uint64_t)f->def; break;
		case F_I32: *AT(obj, f->off, int32_t) = (int32_t)f->def; break;
		case F_ENUM: *AT(obj, f->off, int) = (int)f->def; break;
		case F_OBJ: proto__schema_init(f->sub, AT(obj, f->off, void)); break;
		default: break;
		}
	}
}

/* ---- Encoding ------------------------------------------------------- */

/* Whether an optional field differs from "absent" and must be sent. */
static bool present(const proto_field *f, const void *obj)
{
	if (f->flags & FF_REQ)
		return true;
	switch (f->kind) {
	case F_STR: case F_BLOB: return CAT(obj, f->off, proto_str)->ptr != NULL;
	case F_LANG: case F_JOBID: return *CAT(obj, f->off, char) != '\0';
	case F_U32: return *CAT(obj, f->off, uint32_t) != (uint32_t)f->def;
	case F_U64: return *CAT(obj, f->off, uint64_t) != (uint64_t)f->def;
	case F_I32: return *CAT(obj, f->off, int32_t) != (int32_t)f->def;
	case F_ENUM: return *CAT(obj, f->off, int) != (int)f->def;
	case F_BOOL: return *CAT(obj, f->off, bool);
	case F_F64:
		return f->aux_off ? *CAT(obj, f->aux_off, bool)
				  : *CAT(obj, f->off, double) != 0.0;
	case F_STRS: case F_OBJS:
		return *CAT(obj, f->off, cptr) != NULL ||
		       *CAT(obj, f->aux_off, uint32_t) > 0;
	default: return true;
	}
}

static int enc_obj(const proto_schema *s, const void *obj, msgpack_packer *pk, pt_err *e);

static int enc_str(const proto_field *f, proto_str s, msgpack_packer *pk, pt_err *e)
{
	int rc;

	if (s.ptr == NULL && (f->flags & FF_REQ) && f->kind != F_STRS)
		return pt_err_set(e, PT_EINVAL, "missing (NULL)");
	if ((rc = check_str(f, s, e)) != 0)
		return rc;
	if (f->kind == F_BLOB)
		rc = msgpack_pack_bin_with_body(pk, s.ptr, s.len);
	else
		rc = msgpack_pack_str_with_body(pk, s.ptr, s.len);
	return rc != 0 ? pt_err_set(e, PT_ENOMEM, "out of memory") : 0;
}

static int enc_array(const proto_field *f, const void *obj, msgpack_packer *pk, pt_err *e)
{
	const char *arr = *CAT(obj, f->off, ccptr);
	uint32_t n = *CAT(obj, f->aux_off, uint32_t);
	size_t size = f->kind == F_STRS ? sizeof(proto_str) : f->sub->size;
	int rc;

	if (arr == NULL && n > 0)
		return pt_err_set(e, PT_EINVAL, "NULL array of %u elements", n);
	if (msgpack_pack_array(pk, n) != 0)
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	for (uint32_t i = 0; i < n; i++) {
		const void *it = arr + (size_t)i * size;
		if (f->kind == F_STRS)
			rc = enc_str(f, *(const proto_str *)it, pk, e);
		else
			rc = enc_obj(f->sub, it, pk, e);
		if (rc != 0) {
			pt_err_prefix(e, "[%u]", i);
			return rc;
		}
	}
	return 0;
}

static int enc_value(const proto_field *f, const void *obj, msgpack_packer *pk, pt_err *e)
{
	const char *c;
	int rc = 0;

	switch (f->kind) {
	case F_STR: case F_BLOB:
		return enc_str(f, *CAT(obj, f->off, proto_str), pk, e);
	case F_LANG: case F_JOBID:
		c = CAT(obj, f->off, char);
		rc = f->kind == F_LANG ? check_lang(f, c, strnlen(c, PROTO_LANG_SIZE), e)
				       : check_jobid(c, strnlen(c, PROTO_JOBID_SIZE), e);
		if (rc == 0)
			rc = msgpack_pack_str_with_body(pk, c, strlen(c)) ? PT_ENOMEM : 0;
		break;
	case F_U32:
		if ((rc = check_int(f, *CAT(obj, f->off, uint32_t), e)) == 0)
			rc = msgpack_pack_uint32(pk, *CAT(obj, f->off, uint32_t)) ? PT_ENOMEM : 0;
		break;
	case F_I32:
		if ((rc = check_int(f, *CAT(obj, f->off, int32_t), e)) == 0)
			rc = msgpack_pack_int32(pk, *CAT(obj, f->off, int32_t)) ? PT_ENOMEM : 0;
		break;
	case F_U64:
		rc = msgpack_pack_uint64(pk, *CAT(obj, f->off, uint64_t)) ? PT_ENOMEM : 0;
		break;
	case F_F64:
		if (f->aux_off && !*CAT(obj, f->aux_off, bool))
			rc = msgpack_pack_nil(pk) ? PT_ENOMEM : 0;
		else if ((rc = check_f64(f, *CAT(obj, f->off, double), e)) == 0)
			rc = msgpack_pack_double(pk, *CAT(obj, f->off, double)) ? PT_ENOMEM : 0;
		break;
	case F_BOOL:
		rc = (*CAT(obj, f->off, bool) ? msgpack_pack_true(pk)
					       : msgpack_pack_false(pk)) ? PT_ENOMEM : 0;
		break;
	case F_ENUM: {
		int v = *CAT(obj, f->off, int);
		if (v < 0 || v >= n_names(f) || v < f->min || (f->max && v > f->max))
			return pt_err_set(e, PT_EINVAL, "enum value %d out of range", v);
		c = f->names[v];
		rc = msgpack_pack_str_with_body(pk, c, strlen(c)) ? PT_ENOMEM : 0;
		break;
	}
	case F_STRS: case F_OBJS:
		return enc_array(f, obj, pk, e);
	case F_OBJ:
		return enc_obj(f->sub, CAT(obj, f->off, void), pk, e);
	}
	if (rc == PT_ENOMEM)
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	return rc;
}

static int enc_obj(const proto_schema *s, const void *obj, msgpack_packer *pk, pt_err *e)
{
	uint32_t n = 0;
	int rc;

	if (s->check != NULL && (rc = s->check(obj, e)) != 0)
		return rc;
	for (size_t j = 0; j < s->n_fields; j++)
		n += present(&s->fields[j], obj);
	if (msgpack_pack_map(pk, n) != 0)
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	for (size_t j = 0; j < s->n_fields; j++) {
		const proto_field *f = &s->fields[j];
		if (!present(f, obj))
			continue;
		if (msgpack_pack_str_with_body(pk, f->name, strlen(f->name)) != 0)
			return pt_err_set(e, PT_ENOMEM, "out of memory");
		if ((rc = enc_value(f, obj, pk, e)) != 0) {
			pt_err_prefix(e, "%s", f->name);
			return rc;
		}
	}
	return 0;
}

int proto__schema_encode(const proto_schema *s, const void *obj, msgpack_packer *pk,
			 pt_err *e)
{
	int rc = enc_obj(s, obj, pk, e);

	/* What the caller got wrong is an invalid argument, whatever the
	 * check that found it calls it when it comes off the wire. */
	if (rc != 0 && rc != PT_ENOMEM) {
		if (e != NULL)
			e->code = PT_EINVAL;
		rc = PT_EINVAL;
	}
	return rc;
}
