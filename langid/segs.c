/*
 * segs.c: the piece list that langid_segment returns: access,
 * replacement of translated pieces, and reassembly.
 */
#include <stdlib.h>
#include <string.h>

#include "segment-impl.h"

void langid_segs_free(langid_segs *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->p[i].repl);
	free(s->p);
	free(s->text);
	free(s);
}

size_t langid_segs_count(const langid_segs *s)
{
	return s ? s->n : 0;
}

int langid_segs_kind(const langid_segs *s, size_t i)
{
	return s && i < s->n ? s->p[i].kind : -1;
}

const char *langid_segs_text(const langid_segs *s, size_t i, size_t *len)
{
	if (s == NULL || i >= s->n)
		return NULL;
	if (len)
		*len = s->p[i].len;
	return s->text + s->p[i].off;
}

size_t langid_segs_offset(const langid_segs *s, size_t i)
{
	return s && i < s->n ? s->p[i].off : 0;
}

size_t langid_segs_paragraph(const langid_segs *s, size_t i)
{
	return s && i < s->n ? s->p[i].para : 0;
}

int langid_segs_set(langid_segs *s, size_t i, const char *repl, size_t len,
		    pt_err *e)
{
	if (s == NULL || i >= s->n || (repl == NULL && len > 0))
		return pt_err_set(e, PT_EINVAL, "langid_segs_set: no piece "
				  "%zu", i);
	if (len == SIZE_MAX)
		return pt_err_set(e, PT_ETOOLARGE, "replacement too large");
	char *copy = malloc(len + 1);
	if (copy == NULL)
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	if (len > 0)
		memcpy(copy, repl, len);
	copy[len] = '\0';
	free(s->p[i].repl);
	s->p[i].repl = copy;
	s->p[i].repl_len = len;
	return 0;
}

int langid_segs_join(const langid_segs *s, char **out, size_t *out_len,
		     pt_err *e)
{
	size_t total = 0;
	if (s == NULL || out == NULL || out_len == NULL)
		return pt_err_set(e, PT_EINVAL, "langid_segs_join: bad "
				  "arguments");
	for (size_t i = 0; i < s->n; i++) {
		size_t l = s->p[i].repl ? s->p[i].repl_len : s->p[i].len;
		if (pt_add_size(total, l, &total) != 0)
			return pt_err_set(e, PT_ETOOLARGE, "joined text too "
					  "large");
	}
	if (total == SIZE_MAX)
		return pt_err_set(e, PT_ETOOLARGE, "joined text too large");
	char *b = malloc(total + 1);
	if (b == NULL)
		return pt_err_set(e, PT_ENOMEM, "out of memory (%zu bytes)",
				  total + 1);
	size_t k = 0;
	for (size_t i = 0; i < s->n; i++) {
		const seg_piece *p = &s->p[i];
		const char *src = p->repl ? p->repl : s->text + p->off;
		size_t l = p->repl ? p->repl_len : p->len;
		if (l > 0)
			memcpy(b + k, src, l);
		k += l;
	}
	b[k] = '\0';
	*out = b;
	*out_len = k;
	return 0;
}
