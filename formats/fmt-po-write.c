/*
 * fmt-po-write.c: gettext catalogues, the pieces of entries to translate
 * and the writer: a translation goes into msgstr (msgstr[n] for plurals,
 * as many as the target language has), C-escaped, over several lines
 * when the msgid was or the text holds line breaks; the header gets the
 * target's Language, Plural-Forms and a UTF-8 Content-Type.
 */
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "fmt-po.h"

static int fmt__po_dup(char **dst, const char *s, size_t n)
{
	char *c = malloc(n + 1);
	if (c == NULL)
		return PT_ENOMEM;
	if (n)
		memcpy(c, s, n);
	c[n] = '\0';
	*dst = c;
	return 0;
}

/* Adds a TEXT piece [off, end) whose text is s[0..n) trimmed; the cut
 * white space is kept in the piece. Returns 1 through *made if added. */
static int fmt__po_piece(fmt_doc *d, size_t off, size_t end, const char *s,
			 size_t n, const fmt__po_entry *pe, int *made,
			 pt_err *e)
{
	size_t a = 0, z = n, idx;
	int rc;
	*made = 0;
	while (a < z && fmt__is_space((unsigned char)s[a]))
		a++;
	while (z > a && fmt__is_space((unsigned char)s[z - 1]))
		z--;
	if (a == z)
		return 0;
	if ((rc = fmt__keep_to(d, off, e)) != 0 ||
	    (rc = fmt__add(d, FMT_TEXT, off, end - off, &idx, e)) != 0 ||
	    (rc = fmt__set_text(d, idx, s + a, z - a, e)) != 0)
		return rc;
	fmt__piece *p = &d->p[idx];
	fmt__buf ws = { 0 };
	if (fmt__buf_add(&ws, s, a) != 0 || fmt__buf_add(&ws, s + z, n - z) != 0 ||
	    fmt__buf_finish(&ws, &p->ws, &p->lead) != 0 ||
	    (pe->ctxt && fmt__po_dup(&p->aux, pe->ctxt, pe->ctxt_len) != 0)) {
		fmt__buf_done(&ws);
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	}
	p->lead = a;
	p->trail = n - z;
	p->aux_len = pe->ctxt ? pe->ctxt_len : 0;
	p->multiline = pe->multiline;
	p->nforms = pe->nstr;
	p->crlf = fmt__crlf_at(d, pe->str_a);
	p->flags |= (pe->fuzzy ? FMT_F_FUZZY : 0) |
		    (pe->format ? FMT_F_FORMAT_STRING : 0) |
		    (memchr(s + a, '\n', z - a) ? FMT_F_LINES : 0);
	*made = 1;
	return 0;
}

int fmt__po_text(fmt_doc *d, const fmt__po_entry *pe, pt_err *e)
{
	int made, rc;
	rc = fmt__po_piece(d, pe->str_a, pe->str_end, pe->id, pe->id_len, pe,
			   &made, e);
	if (rc != 0 || !made || pe->plural == NULL)
		return rc;
	rc = fmt__po_piece(d, pe->str_end, pe->str_end, pe->plural,
			   pe->plural_len, pe, &made, e);
	if (rc == 0 && made) {
		d->p[d->n - 1].role = FMT__R_PO_PLURAL_TAIL;
		d->p[d->n - 1].flags |= FMT_F_PLURAL;
	}
	return rc;
}

int fmt__po_header(fmt_doc *d, size_t flags_a, size_t flags_end,
		   size_t str_a, size_t str_end, int fuzzy, const char *str,
		   size_t len, pt_err *e)
{
	size_t idx;
	int rc;
	if (fuzzy && flags_a != SIZE_MAX) {
		if ((rc = fmt__keep_to(d, flags_a, e)) != 0 ||
		    (rc = fmt__add(d, FMT_KEEP, flags_a, flags_end - flags_a,
				   &idx, e)) != 0)
			return rc;
		d->p[idx].role = FMT__R_PO_HEADER_FLAGS;
	}
	if ((rc = fmt__keep_to(d, str_a, e)) != 0 ||
	    (rc = fmt__add(d, FMT_KEEP, str_a, str_end - str_a, &idx, e)) != 0)
		return rc;
	fmt__piece *p = &d->p[idx];
	p->role = FMT__R_PO_HEADER;
	p->crlf = fmt__crlf_at(d, str_a);
	if (fmt__po_dup(&p->aux, str ? str : "", len) != 0)
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	p->aux_len = len;
	const char *lang = strstr(p->aux, "Language:");
	if (lang != NULL && (lang == p->aux || lang[-1] == '\n')) {
		size_t k = 0;
		for (lang += 9; *lang == ' '; lang++)
			;
		while (lang[k] && lang[k] != '\n' && lang[k] != ' ' &&
		       k + 1 < sizeof d->po_lang)
			k++;
		memcpy(d->po_lang, lang, k);
		d->po_lang[k] = '\0';
	}
	const char *np = strstr(p->aux, "nplurals=");
	if (np != NULL) {
		int v = atoi(np + 9);
		d->nplurals_header = v >= 1 && v <= 16 ? v : 0;
	}
	return 0;
}

/* ---- Writer ------------------------------------------------------------- */

/* Appends s[0..n) C-escaped, without quotes. */
static int fmt__po_escape(fmt__buf *b, const char *s, size_t n)
{
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char o[8];
		switch (c) {
		case '"': rc = fmt__buf_add(b, "\\\"", 2); break;
		case '\\': rc = fmt__buf_add(b, "\\\\", 2); break;
		case '\n': rc = fmt__buf_add(b, "\\n", 2); break;
		case '\t': rc = fmt__buf_add(b, "\\t", 2); break;
		case '\r': rc = fmt__buf_add(b, "\\r", 2); break;
		default:
			if (c < 0x20 || c == 0x7F) {
				snprintf(o, sizeof o, "\\%03o", c);
				rc = fmt__buf_add(b, o, 4);
			} else {
				rc = fmt__buf_addc(b, (char)c);
			}
		}
	}
	return rc;
}

/* Writes `keyword "value"`, or over several lines (broken after each
 * "\n") when multi is set or the value has a line break before its end.
 * No line end after the last line: the input's follows. */
static int fmt__po_write(fmt__buf *b, const char *kw, const char *v,
			 size_t n, int multi, const char *eol)
{
	const char *nl = memchr(v, '\n', n);
	int rc;
	if ((rc = fmt__buf_add(b, kw, strlen(kw))) != 0 ||
	    (rc = fmt__buf_add(b, " \"", 2)) != 0)
		return rc;
	if (!multi && (nl == NULL || nl == v + n - 1)) {
		if ((rc = fmt__po_escape(b, v, n)) != 0)
			return rc;
		return fmt__buf_addc(b, '"');
	}
	if ((rc = fmt__buf_addc(b, '"')) != 0)
		return rc;
	for (size_t i = 0; i < n && rc == 0;) {
		const char *q = memchr(v + i, '\n', n - i);
		size_t k = q ? (size_t)(q - v) + 1 : n;
		if ((rc = fmt__buf_add(b, eol, strlen(eol))) == 0 &&
		    (rc = fmt__buf_addc(b, '"')) == 0 &&
		    (rc = fmt__po_escape(b, v + i, k - i)) == 0)
			rc = fmt__buf_addc(b, '"');
		i = k;
	}
	return rc;
}

/* The value of one form: the source's cut white space around the
 * translation t (or, untranslated, the source text of piece p). */
static int fmt__po_value(fmt__buf *v, const fmt__piece *p, const char *t,
			 size_t n)
{
	int rc;
	v->len = 0;
	if ((rc = fmt__buf_add(v, p->ws, p->lead)) != 0 ||
	    (rc = fmt__buf_add(v, t, n)) != 0)
		return rc;
	return fmt__buf_add(v, p->ws + p->lead, p->trail);
}

static int fmt__po_plurals(const fmt_doc *d, const fmt__piece *one,
			   const fmt__piece *other, fmt__buf *b,
			   const char *eol)
{
	int n = d->target[0] ? fmt_plural_forms(d->target, NULL)
	      : d->nplurals_header ? d->nplurals_header
	      : one->nforms > 1 ? one->nforms : 2;
	int single = strcmp(d->target, "ar") == 0 ? 1 : 0;
	const fmt__piece *src1 = one->tr ? one : other;
	const fmt__piece *srcn = other->tr ? other : one;
	/* Russian's first form also serves 21, 31 ...: the singular text
	 * fits it only if it carries the plural's directives ("%d"). */
	if (strcmp(d->target, "ru") == 0 &&
	    fmt_check_placeholders(srcn->tr, srcn->tr_len, src1->tr,
				   src1->tr_len, FMT_FORMAT_PO, NULL, NULL) != 0)
		src1 = srcn;
	fmt__buf v = { 0 };
	int rc = 0;
	for (int k = 0; k < n && rc == 0; k++) {
		char kw[32];
		int sing = n > 1 && k == single;
		const fmt__piece *w = sing ? one : other;
		const fmt__piece *t = sing ? src1 : srcn;
		snprintf(kw, sizeof kw, "msgstr[%d]", k);
		if (k > 0)
			rc = fmt__buf_add(b, eol, strlen(eol));
		if (rc == 0)
			rc = fmt__po_value(&v, w, t->tr, t->tr_len);
		if (rc == 0)
			rc = fmt__po_write(b, kw, v.p ? v.p : "", v.len,
					   one->multiline, eol);
	}
	fmt__buf_done(&v);
	return rc;
}

/* Whether header line l[0..n) is the field `key` ("Language"). */
static int fmt__po_field(const char *l, size_t n, const char *key)
{
	size_t k = strlen(key);
	return n > k && strncasecmp(l, key, k) == 0 && l[k] == ':';
}

/* The header's new text: its fields with Language, Plural-Forms and
 * Content-Type set for the target (added when missing). */
static int fmt__po_header_text(const fmt_doc *d, const char *h, size_t n,
			       fmt__buf *v)
{
	const char *expr = NULL;
	char lang[64], cty[] = "Content-Type: text/plain; charset=UTF-8\n";
	char plur[256];
	int have_lang = 0, have_plur = 0, have_cty = 0, rc = 0;
	fmt_plural_forms(d->target, &expr);
	snprintf(lang, sizeof lang, "Language: %s\n", d->target);
	snprintf(plur, sizeof plur, "Plural-Forms: %s\n",
		 expr ? expr : "nplurals=2; plural=(n != 1);");
	for (size_t i = 0; i < n && rc == 0;) {
		const char *q = memchr(h + i, '\n', n - i);
		size_t k = q ? (size_t)(q - h) : n;
		const char *l = h + i;
		size_t ln = k - i;
		if (fmt__po_field(l, ln, "Language") && !have_lang++)
			rc = fmt__buf_add(v, lang, strlen(lang));
		else if (fmt__po_field(l, ln, "Plural-Forms") && !have_plur++)
			rc = fmt__buf_add(v, plur, strlen(plur));
		else if (fmt__po_field(l, ln, "Content-Type") && !have_cty++)
			rc = fmt__buf_add(v, cty, strlen(cty));
		else if (ln > 0 && !fmt__po_field(l, ln, "Language") &&
			 !fmt__po_field(l, ln, "Plural-Forms") &&
			 !fmt__po_field(l, ln, "Content-Type") &&
			 (rc = fmt__buf_add(v, l, ln)) == 0)
			rc = fmt__buf_addc(v, '\n');
		i = k + 1;
	}
	if (rc == 0 && !have_cty)
		rc = fmt__buf_add(v, cty, strlen(cty));
	if (rc == 0 && !have_lang)
		rc = fmt__buf_add(v, lang, strlen(lang));
	if (rc == 0 && !have_plur)
		rc = fmt__buf_add(v, plur, strlen(plur));
	return rc;
}

/* The header's "#," line without "fuzzy" (nothing if no flag is left). */
static int fmt__po_unfuzzy(const char *s, size_t n, fmt__buf *b)
{
	fmt__buf f = { 0 };
	size_t end = n;
	int rc = 0;
	while (end > 0 && (s[end - 1] == '\n' || s[end - 1] == '\r'))
		end--;
	for (size_t i = 2; i < end && rc == 0;) {
		while (i < end && (s[i] == ' ' || s[i] == '\t' || s[i] == ','))
			i++;
		size_t w = i;
		while (i < end && s[i] != ' ' && s[i] != '\t' && s[i] != ',')
			i++;
		if (i == w || (i - w == 5 && memcmp(s + w, "fuzzy", 5) == 0))
			continue;
		rc = fmt__buf_add(&f, f.len ? ", " : "#, ", 2 + (f.len == 0));
		if (rc == 0)
			rc = fmt__buf_add(&f, s + w, i - w);
	}
	if (rc == 0 && f.len > 0 && (rc = fmt__buf_add(b, f.p, f.len)) == 0)
		rc = fmt__buf_add(b, s + end, n - end);
	fmt__buf_done(&f);
	return rc;
}

static int fmt__po_emit_header(const fmt_doc *d, const fmt__piece *p,
			       fmt__buf *b, const char *eol, int fresh)
{
	fmt__buf v = { 0 };
	int rc = fmt__po_header_text(d, p->aux ? p->aux : "", p->aux_len, &v);
	if (rc == 0 && fresh) {
		static const char te[] = "MIME-Version: 1.0\n"
					 "Content-Transfer-Encoding: 8bit\n";
		if ((rc = fmt__buf_add(&v, te, sizeof te - 1)) == 0 &&
		    (rc = fmt__buf_add(b, "msgid \"\"", 8)) == 0)
			rc = fmt__buf_add(b, eol, strlen(eol));
	}
	if (rc == 0)
		rc = fmt__po_write(b, "msgstr", v.p ? v.p : "", v.len, 1, eol);
	if (rc == 0 && fresh && (rc = fmt__buf_add(b, eol, strlen(eol))) == 0)
		rc = fmt__buf_add(b, eol, strlen(eol));
	fmt__buf_done(&v);
	return rc;
}

int fmt__emit_po(const fmt_doc *d, size_t i, fmt__buf *b)
{
	const fmt__piece *p = &d->p[i];
	const char *raw = d->src + p->off;
	const char *eol = p->crlf ? "\r\n" : "\n";
	int target = d->target[0] != '\0';
	fmt__buf v = { 0 };
	int rc;
	switch (p->role) {
	case FMT__R_PO_NO_HEADER:
		return target ? fmt__po_emit_header(d, p, b,
			fmt__crlf_at(d, 0) ? "\r\n" : "\n", 1) : 0;
	case FMT__R_PO_HEADER_FLAGS:
		return target ? fmt__po_unfuzzy(raw, p->len, b)
			      : fmt__buf_add(b, raw, p->len);
	case FMT__R_PO_HEADER:
		return target ? fmt__po_emit_header(d, p, b, eol, 0)
			      : fmt__buf_add(b, raw, p->len);
	case FMT__R_PO_PLURAL_TAIL:
		return 0;  /* written with its singular */
	default:
		break;
	}
	const fmt__piece *other = i + 1 < d->n &&
		d->p[i + 1].role == FMT__R_PO_PLURAL_TAIL ? &d->p[i + 1] : NULL;
	if (p->kind != FMT_TEXT || (p->tr == NULL &&
				    (other == NULL || other->tr == NULL)))
		return fmt__buf_add(b, raw, p->len);
	if (other != NULL)
		return fmt__po_plurals(d, p, other, b, eol);
	rc = fmt__po_value(&v, p, p->tr, p->tr_len);
	if (rc == 0)
		rc = fmt__po_write(b, "msgstr", v.p ? v.p : "", v.len,
				   p->multiline, eol);
	fmt__buf_done(&v);
	return rc;
}
