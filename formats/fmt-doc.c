/*
 * fmt-doc.c: the document: format names, the piece list every parser
 * fills, access and translation of pieces, serialization, and the plural
 * table of the 18 languages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "formats-impl.h"
#include "langid.h"

/* ---- Buffer ------------------------------------------------------------- */

static int fmt__buf_reserve(fmt__buf *b, size_t extra)
{
	size_t need, cap;
	if (pt_add_size(b->len, extra, &need) != 0 ||
	    pt_add_size(need, 1, &need) != 0)
		return PT_ETOOLARGE;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need) {
		if (pt_mul_size(cap, 2, &cap) != 0)
			return PT_ETOOLARGE;
	}
	char *np = realloc(b->p, cap);
	if (np == NULL)
		return PT_ENOMEM;
	b->p = np;
	b->cap = cap;
	return 0;
}

int fmt__buf_add(fmt__buf *b, const char *s, size_t n)
{
	int rc = fmt__buf_reserve(b, n);
	if (rc != 0)
		return rc;
	if (n > 0)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	return 0;
}

int fmt__buf_addc(fmt__buf *b, char c)
{
	return fmt__buf_add(b, &c, 1);
}

int fmt__buf_finish(fmt__buf *b, char **out, size_t *out_len)
{
	int rc = fmt__buf_reserve(b, 0);
	if (rc != 0)
		return rc;
	b->p[b->len] = '\0';
	*out = b->p;
	*out_len = b->len;
	b->p = NULL;
	b->len = b->cap = 0;
	return 0;
}

void fmt__buf_done(fmt__buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* ---- Format names ------------------------------------------------------- */

static const char *const fmt__names[FMT_FORMAT_COUNT] = {
	"text", "markdown", "srt", "po", "html"
};

static const struct {
	const char *alias;
	int format;
} fmt__aliases[] = {
	{ "text", FMT_FORMAT_TEXT }, { "txt", FMT_FORMAT_TEXT },
	{ "plain", FMT_FORMAT_TEXT }, { "markdown", FMT_FORMAT_MARKDOWN },
	{ "md", FMT_FORMAT_MARKDOWN }, { "srt", FMT_FORMAT_SRT },
	{ "subrip", FMT_FORMAT_SRT }, { "po", FMT_FORMAT_PO },
	{ "pot", FMT_FORMAT_PO }, { "gettext", FMT_FORMAT_PO },
	{ "html", FMT_FORMAT_HTML }, { "htm", FMT_FORMAT_HTML },
	{ "xhtml", FMT_FORMAT_HTML },
};

const char *fmt_format_name(int format)
{
	return format >= 0 && format < FMT_FORMAT_COUNT ? fmt__names[format]
							: NULL;
}

const char *fmt_format_names(void)
{
	return "text markdown srt po html";
}

int fmt_format_find(const char *name, int *format, pt_err *e)
{
	if (name == NULL || format == NULL)
		return pt_err_set(e, PT_EINVAL, "fmt_format_find: no name");
	for (size_t i = 0; i < sizeof fmt__aliases / sizeof fmt__aliases[0];
	     i++) {
		if (strcasecmp(name, fmt__aliases[i].alias) == 0) {
			*format = fmt__aliases[i].format;
			return 0;
		}
	}
	return pt_err_set(e, PT_ENOTFOUND, "unknown document format '%.64s' "
			  "(known: %s)", name, fmt_format_names());
}

int fmt_format_from_path(const char *path, int *format)
{
	const char *dot = path ? strrchr(path, '.') : NULL;
	const char *slash = path ? strrchr(path, '/') : NULL;
	if (format != NULL)
		*format = FMT_FORMAT_TEXT;
	if (dot == NULL || (slash != NULL && dot < slash) || format == NULL)
		return PT_ENOTFOUND;
	dot++;
	if (strcasecmp(dot, "markdown") == 0 || strcasecmp(dot, "md") == 0)
		*format = FMT_FORMAT_MARKDOWN;
	else if (strcasecmp(dot, "srt") == 0)
		*format = FMT_FORMAT_SRT;
	else if (strcasecmp(dot, "po") == 0 || strcasecmp(dot, "pot") == 0)
		*format = FMT_FORMAT_PO;
	else if (strcasecmp(dot, "html") == 0 || strcasecmp(dot, "htm") == 0 ||
		 strcasecmp(dot, "xhtml") == 0)
		*format = FMT_FORMAT_HTML;
	else if (strcasecmp(dot, "txt") == 0 || strcasecmp(dot, "text") == 0)
		*format = FMT_FORMAT_TEXT;
	else
		return PT_ENOTFOUND;
	return 0;
}

/* ---- Pieces ------------------------------------------------------------- */

int fmt__is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
	       c == '\f' || c == '\v';
}

size_t fmt__end(const fmt_doc *d)
{
	return d->n ? d->p[d->n - 1].off + d->p[d->n - 1].len : 0;
}

int fmt__add(fmt_doc *d, int kind, size_t off, size_t len, size_t *idx,
	     pt_err *e)
{
	if (off != fmt__end(d) || off > d->len || len > d->len - off)
		return pt_err_set(e, PT_EINTERNAL, "formats: piece at byte "
				  "%zu does not follow the previous one", off);
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap : 64, bytes;
		if (pt_mul_size(cap, 2, &cap) != 0 ||
		    pt_mul_size(cap, sizeof *d->p, &bytes) != 0)
			return pt_err_set(e, PT_ETOOLARGE, "too many pieces");
		fmt__piece *np = realloc(d->p, bytes);
		if (np == NULL)
			return pt_err_set(e, PT_ENOMEM, "out of memory");
		d->p = np;
		d->cap = cap;
	}
	/* Lines are counted once, as pieces advance through the input. */
	for (; d->line_off < off; d->line_off++)
		if (d->src[d->line_off] == '\n')
			d->line_no++;
	fmt__piece *p = &d->p[d->n];
	memset(p, 0, sizeof *p);
	p->kind = kind;
	p->off = off;
	p->len = len;
	p->line = d->line_no;
	if (kind == FMT_TEXT)
		d->ntext++;
	if (idx)
		*idx = d->n;
	d->n++;
	return 0;
}

int fmt__keep_to(fmt_doc *d, size_t off, pt_err *e)
{
	size_t end = fmt__end(d);
	if (off <= end)
		return 0;
	return fmt__add(d, FMT_KEEP, end, off - end, NULL, e);
}

int fmt__set_text(fmt_doc *d, size_t i, const char *s, size_t n, pt_err *e)
{
	if (n == SIZE_MAX)
		return pt_err_set(e, PT_ETOOLARGE, "text too large");
	char *c = malloc(n + 1);
	if (c == NULL)
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	if (n)
		memcpy(c, s, n);
	c[n] = '\0';
	free(d->p[i].text);
	d->p[i].text = c;
	d->p[i].text_len = n;
	return 0;
}

int fmt__crlf_at(const fmt_doc *d, size_t off)
{
	const char *nl = memchr(d->src + off, '\n', d->len - off);
	return nl != NULL && nl > d->src && nl[-1] == '\r';
}

int fmt__text_trimmed(fmt_doc *d, size_t off, size_t len, pt_err *e)
{
	size_t a = off, b = off + len;
	int rc;
	while (a < b && fmt__is_space((unsigned char)d->src[a]))
		a++;
	while (b > a && fmt__is_space((unsigned char)d->src[b - 1]))
		b--;
	if (a == b)
		return fmt__keep_to(d, off + len, e);
	if ((rc = fmt__keep_to(d, a, e)) != 0 ||
	    (rc = fmt__add(d, FMT_TEXT, a, b - a, NULL, e)) != 0)
		return rc;
	return fmt__keep_to(d, off + len, e);
}

/* ---- Parse and access --------------------------------------------------- */

fmt_params fmt_default_params(void)
{
	fmt_params p = { FMT_FORMAT_TEXT, 0, 0, 0 };
	return p;
}

void fmt_doc_free(fmt_doc *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n; i++) {
		free(d->p[i].text);
		free(d->p[i].tr);
		free(d->p[i].aux);
		free(d->p[i].ws);
	}
	free(d->p);
	free(d->src);
	free(d);
}

static int fmt__check_utf8(const char *s, size_t len, pt_err *e)
{
	size_t bad = 0, line = 1;
	if (pt_utf8_check(s, len, &bad) == 0)
		return 0;
	for (size_t i = 0; i < bad; i++)
		line += s[i] == '\n';
	return pt_err_set(e, PT_EUTF8, "line %zu: invalid UTF-8 at byte %zu "
			  "(convert the document to UTF-8)", line, bad);
}

/* Gives every TEXT piece its own text (a copy of the raw bytes unless
 * the parser decoded it), flags the ones holding placeholders and turns
 * the ones without words into KEEP. */
static int fmt__finish_texts(fmt_doc *d, pt_err *e)
{
	for (size_t i = 0; i < d->n; i++) {
		fmt__piece *p = &d->p[i];
		int rc;
		if (p->kind != FMT_TEXT)
			continue;
		if (p->text == NULL &&
		    (rc = fmt__set_text(d, i, d->src + p->off, p->len, e)) != 0)
			return rc;
		/* Nothing to translate ("12:30", a code span alone in a
		 * table cell): keep it. A PO entry stays, so its msgstr is
		 * filled and the catalogue complete. */
		if (d->format != FMT_FORMAT_PO &&
		    !fmt__ph_has_words(p->text, p->text_len, d->format)) {
			p->kind = FMT_KEEP;
			d->ntext--;
			free(p->text);
			p->text = NULL;
			continue;
		}
		if (fmt__ph_any(p->text, p->text_len, d->format))
			p->flags |= FMT_F_MARKUP;
		if (d->format == FMT_FORMAT_MARKDOWN &&
		    memchr(p->text, '`', p->text_len))
			p->flags |= FMT_F_CODE_INSIDE;
	}
	return 0;
}

int fmt_parse(const char *data, size_t len, const fmt_params *params,
	      fmt_doc **out, pt_err *e)
{
	fmt_params pp = params ? *params : fmt_default_params();
	size_t max = pp.max_bytes ? pp.max_bytes : (size_t)256 << 20;
	int rc;
	if (out == NULL || (data == NULL && len > 0) || pp.format < 0 ||
	    pp.format >= FMT_FORMAT_COUNT)
		return pt_err_set(e, PT_EINVAL, "fmt_parse: bad arguments");
	if (len > max)
		return pt_err_set(e, PT_ETOOLARGE, "document of %zu bytes is "
				  "over the limit of %zu", len, max);
	if ((rc = fmt__check_utf8(data, len, e)) != 0)
		return rc;
	fmt_doc *d = calloc(1, sizeof *d);
	if (d == NULL || (d->src = malloc(len + 1)) == NULL) {
		free(d);
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	}
	if (len)
		memcpy(d->src, data, len);
	d->src[len] = '\0';
	d->len = len;
	d->format = pp.format;
	d->params = pp;
	d->line_no = 1;
	static int (*const parsers[FMT_FORMAT_COUNT])(fmt_doc *, pt_err *) = {
		fmt__parse_text, fmt__parse_markdown, fmt__parse_srt,
		fmt__parse_po, fmt__parse_html
	};
	rc = parsers[pp.format](d, e);
	if (rc == 0)
		rc = fmt__keep_to(d, len, e);
	if (rc == 0)
		rc = fmt__finish_texts(d, e);
	if (rc == 0 && fmt__end(d) != len)
		rc = pt_err_set(e, PT_EINTERNAL, "formats: pieces do not "
				"cover the document");
	if (rc != 0) {
		fmt_doc_free(d);
		return rc;
	}
	*out = d;
	return 0;
}

int fmt_doc_format(const fmt_doc *d)
{
	return d ? d->format : -1;
}

size_t fmt_doc_count(const fmt_doc *d)
{
	return d ? d->n : 0;
}

size_t fmt_doc_text_count(const fmt_doc *d)
{
	return d ? d->ntext : 0;
}

int fmt_piece_kind(const fmt_doc *d, size_t i)
{
	return d && i < d->n ? d->p[i].kind : -1;
}

const char *fmt_piece_raw(const fmt_doc *d, size_t i, size_t *len)
{
	if (d == NULL || i >= d->n)
		return NULL;
	if (len)
		*len = d->p[i].len;
	return d->src + d->p[i].off;
}

const char *fmt_piece_text(const fmt_doc *d, size_t i, size_t *len)
{
	if (d == NULL || i >= d->n)
		return NULL;
	const fmt__piece *p = &d->p[i];
	if (p->kind == FMT_TEXT && p->text != NULL) {
		if (len)
			*len = p->text_len;
		return p->text;
	}
	/* Raw text of a piece is NUL-terminated only at the document's
	 * end, so TEXT pieces always get their own copy at parse time;
	 * KEEP pieces are read through fmt_piece_raw. */
	if (len)
		*len = p->len;
	return p->kind == FMT_TEXT ? "" : d->src + p->off;
}

unsigned fmt_piece_flags(const fmt_doc *d, size_t i)
{
	return d && i < d->n && d->p[i].kind == FMT_TEXT ? d->p[i].flags : 0;
}

size_t fmt_piece_line(const fmt_doc *d, size_t i)
{
	return d && i < d->n ? d->p[i].line : 0;
}

const char *fmt_piece_context(const fmt_doc *d, size_t i)
{
	if (d == NULL || i >= d->n || d->format != FMT_FORMAT_PO)
		return NULL;
	return d->p[i].aux;
}

int fmt_piece_set(fmt_doc *d, size_t i, const char *tr, size_t len,
		  pt_err *e)
{
	if (d == NULL || i >= d->n || d->p[i].kind != FMT_TEXT ||
	    (tr == NULL && len > 0))
		return pt_err_set(e, PT_EINVAL, "fmt_piece_set: piece %zu is "
				  "not a text piece", i);
	if (pt_utf8_check(tr, len, NULL) != 0)
		return pt_err_set(e, PT_EUTF8, "translation of piece %zu is "
				  "not valid UTF-8", i);
	/* The source's white space at the ends stays outside the text, so
	 * a translation's own (a model's final newline) is dropped. */
	while (len > 0 && fmt__is_space((unsigned char)tr[0])) {
		tr++;
		len--;
	}
	while (len > 0 && fmt__is_space((unsigned char)tr[len - 1]))
		len--;
	if (len == SIZE_MAX)
		return pt_err_set(e, PT_ETOOLARGE, "translation too large");
	char *c = malloc(len + 1);
	if (c == NULL)
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	if (len)
		memcpy(c, tr, len);
	c[len] = '\0';
	free(d->p[i].tr);
	d->p[i].tr = c;
	d->p[i].tr_len = len;
	return 0;
}

void fmt_piece_unset(fmt_doc *d, size_t i)
{
	if (d == NULL || i >= d->n)
		return;
	free(d->p[i].tr);
	d->p[i].tr = NULL;
	d->p[i].tr_len = 0;
}

/* ---- Plural forms and target -------------------------------------------- */

/* gettext's Plural-Forms for the 18 languages (as msginit writes them,
 * CLDR one/few/many where gettext has them). */
static const struct {
	const char *code;
	int n;
	const char *expr;
} fmt__plurals[] = {
	{ "zh", 1, "nplurals=1; plural=0;" },
	{ "en", 2, "nplurals=2; plural=(n != 1);" },
	{ "es", 2, "nplurals=2; plural=(n != 1);" },
	{ "de", 2, "nplurals=2; plural=(n != 1);" },
	{ "fr", 2, "nplurals=2; plural=(n > 1);" },
	{ "pt", 2, "nplurals=2; plural=(n != 1);" },
	{ "ru", 3, "nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : "
		   "n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);" },
	{ "it", 2, "nplurals=2; plural=(n != 1);" },
	{ "ar", 6, "nplurals=6; plural=(n==0 ? 0 : n==1 ? 1 : n==2 ? 2 : "
		   "n%100>=3 && n%100<=10 ? 3 : n%100>=11 ? 4 : 5);" },
	{ "ja", 1, "nplurals=1; plural=0;" },
	{ "ko", 1, "nplurals=1; plural=0;" },
	{ "th", 1, "nplurals=1; plural=0;" },
	{ "vi", 1, "nplurals=1; plural=0;" },
	{ "id", 1, "nplurals=1; plural=0;" },
	{ "pl", 3, "nplurals=3; plural=(n==1 ? 0 : n%10>=2 && n%10<=4 && "
		   "(n%100<10 || n%100>=20) ? 1 : 2);" },
	{ "tr", 2, "nplurals=2; plural=(n != 1);" },
	{ "nl", 2, "nplurals=2; plural=(n != 1);" },
	{ "he", 2, "nplurals=2; plural=(n != 1);" },
};

int fmt_plural_forms(const char *lang, const char **expr)
{
	for (size_t i = 0; lang && i < sizeof fmt__plurals /
					 sizeof fmt__plurals[0]; i++) {
		if (strcmp(lang, fmt__plurals[i].code) == 0) {
			if (expr)
				*expr = fmt__plurals[i].expr;
			return fmt__plurals[i].n;
		}
	}
	if (expr)
		*expr = NULL;
	return 0;
}

int fmt_doc_set_target(fmt_doc *d, const char *lang, pt_err *e)
{
	int l, other, rc;
	if (d == NULL || lang == NULL)
		return pt_err_set(e, PT_EINVAL, "fmt_doc_set_target: no "
				  "language");
	if ((rc = langid_lang_find(lang, &l, e)) != 0)
		return rc;
	/* A catalogue already for another language holds translations in
	 * that language (and its number of plural forms): writing the
	 * target's header over them would make it lie. */
	if (d->po_lang[0] != '\0' &&
	    langid_lang_find(d->po_lang, &other, NULL) == 0 && other != l)
		return pt_err_set(e, PT_ELANG, "the catalogue is for '%s' (its "
				  "Language header), not '%s': translate the "
				  ".pot template or a catalogue for '%s'",
				  d->po_lang, langid_lang_code(l),
				  langid_lang_code(l));
	snprintf(d->target, sizeof d->target, "%s", langid_lang_code(l));
	return 0;
}

/* ---- Serialization ------------------------------------------------------ */

int fmt_doc_serialize(const fmt_doc *d, char **out, size_t *out_len,
		      pt_err *e)
{
	fmt__buf b = { 0 };
	int rc = 0;
	if (d == NULL || out == NULL || out_len == NULL)
		return pt_err_set(e, PT_EINVAL, "fmt_doc_serialize: bad "
				  "arguments");
	for (size_t i = 0; i < d->n && rc == 0; i++) {
		const fmt__piece *p = &d->p[i];
		if (d->format == FMT_FORMAT_PO &&
		    (p->role != FMT__R_NONE || p->tr != NULL)) {
			rc = fmt__emit_po(d, i, &b);
			continue;
		}
		/* A text that comes back unchanged keeps its bytes, with
		 * its entities, escapes and line wrapping. */
		if (p->tr == NULL || (p->tr_len == p->text_len &&
				      memcmp(p->tr, p->text, p->tr_len) == 0)) {
			rc = fmt__buf_add(&b, d->src + p->off, p->len);
			continue;
		}
		switch (d->format) {
		case FMT_FORMAT_MARKDOWN:
			rc = fmt__emit_markdown(d, p, &b);
			break;
		case FMT_FORMAT_SRT:
			rc = fmt__emit_srt(d, p, &b);
			break;
		case FMT_FORMAT_HTML:
			rc = fmt__emit_html(d, p, &b);
			break;
		default:
			rc = fmt__buf_add(&b, p->tr, p->tr_len);
			break;
		}
	}
	if (rc == 0)
		rc = fmt__buf_finish(&b, out, out_len);
	if (rc != 0) {
		fmt__buf_done(&b);
		return pt_err_set(e, rc, "serializing the document: %s",
				  pt_strerror(rc));
	}
	return 0;
}
