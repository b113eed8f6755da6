/*
 * fmt-html.c: HTML. A run of text and inline elements (<b>, <a>, <em>,
 * <code>, <br> ...) between block boundaries is one TEXT piece, so a
 * sentence with a link stays one sentence for the model; its tags are
 * placeholders. The values of title, alt, placeholder and aria-label
 * attributes are TEXT pieces of their own. script, style, textarea and pre
 * elements, comments, the doctype, CDATA and processing instructions are
 * KEEP, as are all tags, byte for byte (attribute order and quoting).
 *
 * A piece's text has entities decoded, except &amp; &lt; &gt; which stay
 * as written (they are placeholders: decoding them would make "&lt;b&gt;"
 * a tag), and runs of white space collapsed to one space. A translation
 * is written back with '&' and '<' escaped where they would not read as
 * an entity or a tag, U+00A0 as &nbsp;, and quotes escaped in attributes.
 */
#include <strings.h>

#include "formats-impl.h"

static const struct {
	const char *name;
	uint32_t cp;
} fmt__entities[] = {
	{ "nbsp", 0xA0 }, { "quot", 0x22 }, { "apos", 0x27 },
	{ "copy", 0xA9 }, { "reg", 0xAE }, { "trade", 0x2122 },
	{ "hellip", 0x2026 }, { "mdash", 0x2014 }, { "ndash", 0x2013 },
	{ "lsquo", 0x2018 }, { "rsquo", 0x2019 }, { "ldquo", 0x201C },
	{ "rdquo", 0x201D }, { "laquo", 0xAB }, { "raquo", 0xBB },
	{ "bull", 0x2022 }, { "middot", 0xB7 }, { "deg", 0xB0 },
	{ "times", 0xD7 }, { "divide", 0xF7 }, { "euro", 0x20AC },
	{ "pound", 0xA3 }, { "yen", 0xA5 }, { "cent", 0xA2 },
	{ "sect", 0xA7 }, { "para", 0xB6 }, { "shy", 0xAD },
	{ "thinsp", 0x2009 }, { "ensp", 0x2002 }, { "emsp", 0x2003 },
	{ "zwj", 0x200D }, { "zwnj", 0x200C }, { "iexcl", 0xA1 },
	{ "iquest", 0xBF }, { "aacute", 0xE1 }, { "eacute", 0xE9 },
	{ "iacute", 0xED }, { "oacute", 0xF3 }, { "uacute", 0xFA },
	{ "agrave", 0xE0 }, { "egrave", 0xE8 }, { "ugrave", 0xF9 },
	{ "acirc", 0xE2 }, { "ecirc", 0xEA }, { "ocirc", 0xF4 },
	{ "auml", 0xE4 }, { "ouml", 0xF6 }, { "uuml", 0xFC },
	{ "Auml", 0xC4 }, { "Ouml", 0xD6 }, { "Uuml", 0xDC },
	{ "szlig", 0xDF }, { "ccedil", 0xE7 }, { "ntilde", 0xF1 },
	{ "Eacute", 0xC9 }, { "atilde", 0xE3 }, { "otilde", 0xF5 },
	{ "amp", '&' }, { "lt", '<' }, { "gt", '>' },
};

size_t fmt__utf8_put(uint32_t cp, char *o)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* A reference &name; &#123; &#x1F600; at s[0..n). Returns the bytes it
 * takes (0 if it is not one) and, in *cp, its code point (0 for a
 * well-formed name this table does not know). */
size_t fmt__html_entity(const char *s, size_t n, uint32_t *cp)
{
	size_t j = 1;
	*cp = 0;
	if (n < 3 || s[0] != '&')
		return 0;
	if (s[1] == '#') {
		int hex = n > 2 && (s[2] == 'x' || s[2] == 'X');
		uint32_t v = 0;
		size_t d = 0;
		for (j = hex ? 3 : 2; j < n && d < 8; j++, d++) {
			unsigned char c = (unsigned char)s[j];
			int x = c >= '0' && c <= '9' ? c - '0'
				: hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
				: hex && c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
			if (x < 0)
				break;
			v = v * (hex ? 16 : 10) + (uint32_t)x;
		}
		if (d == 0 || j >= n || s[j] != ';')
			return 0;
		if (v > 0 && v <= 0x10FFFF && !(v >= 0xD800 && v <= 0xDFFF))
			*cp = v;
		return j + 1;
	}
	while (j < n && j < 33 &&
	       ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z') ||
		(j > 1 && s[j] >= '0' && s[j] <= '9')))
		j++;
	if (j == 1 || j >= n || s[j] != ';')
		return 0;
	for (size_t k = 0; k < sizeof fmt__entities / sizeof fmt__entities[0];
	     k++) {
		if (strlen(fmt__entities[k].name) == j - 1 &&
		    memcmp(fmt__entities[k].name, s + 1, j - 1) == 0) {
			*cp = fmt__entities[k].cp;
			break;
		}
	}
	return j + 1;
}

static int fmt__name_is(const char *s, size_t n, const char *const *set)
{
	for (; *set; set++)
		if (strlen(*set) == n && strncasecmp(*set, s, n) == 0)
			return 1;
	return 0;
}

static const char *const fmt__inline[] = {
	"a", "abbr", "b", "bdi", "bdo", "big", "br", "cite", "code", "data",
	"del", "dfn", "em", "font", "i", "ins", "kbd", "mark", "q", "s", "samp",
	"small", "span", "strike", "strong", "sub", "sup", "time", "tt", "u",
	"var", "wbr", NULL
};
static const char *const fmt__raw[] = {
	"script", "style", "textarea", "pre", "xmp", "svg", "math", NULL
};
static const char *const fmt__attrs[] = {
	"title", "alt", "placeholder", "aria-label", NULL
};
static const char *const fmt__heads[] = {
	"h1", "h2", "h3", "h4", "h5", "h6", "title", NULL
};

/* Nonzero if s[0..n) contains needle, ignoring ASCII case. */
static int fmt__find_tag_ci(const char *s, size_t n, const char *needle)
{
	size_t k = strlen(needle);
	for (size_t i = 0; i + k <= n; i++)
		if (strncasecmp(s + i, needle, k) == 0)
			return 1;
	return 0;
}

/* ---- Text of a piece ---------------------------------------------------- */

/* Builds the text of a run s[a..b): entities decoded (but &amp; &lt;
 * &gt;), white space runs as one space, tags and <code> spans as they
 * are. */
static int fmt__html_text(fmt_doc *d, size_t idx, int attr, pt_err *e)
{
	const fmt__piece *p = &d->p[idx];
	const char *s = d->src + p->off;
	size_t n = p->len, i = 0;
	fmt__buf b = { 0 };
	int rc = 0;
	while (rc == 0 && i < n) {
		unsigned char c = (unsigned char)s[i];
		size_t l;
		uint32_t cp;
		char u[4];
		if (fmt__is_space(c)) {
			size_t j = i;
			while (j < n && fmt__is_space((unsigned char)s[j]))
				j++;
			rc = fmt__buf_addc(&b, ' ');
			i = j;
		} else if (c == '&' && (l = fmt__html_entity(s + i, n - i, &cp)) &&
			   cp != 0 && cp != '&' && cp != '<' && cp != '>') {
			rc = fmt__buf_add(&b, u, fmt__utf8_put(cp, u));
			i += l;
		} else if (!attr && c == '<' &&
			   (l = fmt__ph_at(s, n, i, FMT_FORMAT_HTML)) > 0) {
			rc = fmt__buf_add(&b, s + i, l);
			i += l;
		} else {
			rc = fmt__buf_addc(&b, (char)c);
			i++;
		}
	}
	if (rc == 0)
		rc = fmt__set_text(d, idx, b.p ? b.p : "", b.len, e);
	else
		rc = pt_err_set(e, rc, "HTML text: %s", pt_strerror(rc));
	fmt__buf_done(&b);
	return rc;
}

/* ---- Parser ------------------------------------------------------------- */

typedef struct fmt__html {
	fmt_doc *d;
	size_t unit;      /* start of the open text run, SIZE_MAX if none */
	int heading;      /* the last block tag opened a heading/title */
} fmt__html;

/* Ends the open text run at `end`: a TEXT piece if it holds text outside
 * tags, else KEEP. */
static int fmt__html_flush(fmt__html *h, size_t end, pt_err *e)
{
	fmt_doc *d = h->d;
	size_t a = h->unit, b = end, i;
	int rc, text = 0;
	h->unit = SIZE_MAX;
	if (a == SIZE_MAX)
		return 0;
	while (a < b && fmt__is_space((unsigned char)d->src[a]))
		a++;
	while (b > a && fmt__is_space((unsigned char)d->src[b - 1]))
		b--;
	for (i = a; i < b && !text;) {
		size_t l = d->src[i] == '<' ? fmt__ph_at(d->src, b, i,
							 FMT_FORMAT_HTML) : 0;
		if (l > 0)
			i += l;
		else
			text = !fmt__is_space((unsigned char)d->src[i++]);
	}
	if (!text)
		return fmt__keep_to(d, end, e);
	size_t idx;
	if ((rc = fmt__keep_to(d, a, e)) != 0 ||
	    (rc = fmt__add(d, FMT_TEXT, a, b - a, &idx, e)) != 0 ||
	    (rc = fmt__html_text(d, idx, 0, e)) != 0)
		return rc;
	if (h->heading)
		d->p[idx].flags |= FMT_F_HEADING;
	if (fmt__find_tag_ci(d->src + a, b - a, "<code"))
		d->p[idx].flags |= FMT_F_CODE_INSIDE;
	return fmt__keep_to(d, end, e);
}

/* End of a tag starting at s[i] ('<'): the offset after its '>', quotes
 * respected, or n. */
static size_t fmt__tag_end(const char *s, size_t n, size_t i)
{
	char q = 0;
	for (i++; i < n; i++) {
		if (q) {
			if (s[i] == q)
				q = 0;
		} else if (s[i] == '"' || s[i] == '\'') {
			q = s[i];
		} else if (s[i] == '>') {
			return i + 1;
		}
	}
	return n;
}

/* Adds a TEXT piece for a translatable attribute value s[a..b), quote q. */
static int fmt__html_attr(fmt__html *h, size_t a, size_t b, char q,
			  pt_err *e)
{
	fmt_doc *d = h->d;
	size_t before = d->n;
	int rc = fmt__text_trimmed(d, a, b - a, e);
	for (size_t k = before; rc == 0 && k < d->n; k++) {
		if (d->p[k].kind != FMT_TEXT)
			continue;
		d->p[k].flags |= FMT_F_ATTRIBUTE;
		d->p[k].brk[0] = q;
		rc = fmt__html_text(d, k, 1, e);
	}
	return rc;
}

/* Walks the attributes of the start tag s[i..end) (after its name at
 * `at`); with `emit`, makes TEXT pieces of the translatable values.
 * Returns (without emit) whether any translatable value is present. */
static int fmt__html_attrs(fmt__html *h, size_t at, size_t end, int emit,
			   pt_err *e)
{
	const char *s = h->d->src;
	int found = 0, rc;
	for (size_t j = at, guard = 0; j < end && guard < 4096; guard++) {
		while (j < end && (fmt__is_space((unsigned char)s[j]) ||
				   s[j] == '/'))
			j++;
		size_t ns = j;
		while (j < end && !fmt__is_space((unsigned char)s[j]) &&
		       s[j] != '=' && s[j] != '>' && s[j] != '/')
			j++;
		size_t ne = j;
		while (j < end && fmt__is_space((unsigned char)s[j]))
			j++;
		if (ne == ns || j >= end || s[j] != '=') {
			if (ne == ns)
				j++;
			continue;
		}
		j++;
		while (j < end && fmt__is_space((unsigned char)s[j]))
			j++;
		char q = j < end && (s[j] == '"' || s[j] == '\'') ? s[j] : 0;
		size_t vs = q ? j + 1 : j, ve = vs;
		while (ve < end && (q ? s[ve] != q :
				    !fmt__is_space((unsigned char)s[ve]) &&
				    s[ve] != '>'))
			ve++;
		j = q && ve < end ? ve + 1 : ve;
		if (!fmt__name_is(s + ns, ne - ns, fmt__attrs) || ve == vs)
			continue;
		found = 1;
		if (emit && (rc = fmt__html_attr(h, vs, ve, q, e)) != 0)
			return rc;
	}
	return found;
}

/* Skips a raw element's content: to the end of its closing tag. */
static size_t fmt__raw_end(const char *s, size_t n, size_t from,
			   const char *name, size_t nl)
{
	for (size_t i = from; i + 2 + nl <= n; i++) {
		if (s[i] == '<' && s[i + 1] == '/' &&
		    strncasecmp(s + i + 2, name, nl) == 0 &&
		    (i + 2 + nl == n || s[i + 2 + nl] == '>' ||
		     fmt__is_space((unsigned char)s[i + 2 + nl])))
			return fmt__tag_end(s, n, i);
	}
	return n;
}

/* Handles the start tag at s[i]; returns the offset after what it took. */
static int fmt__html_start(fmt__html *h, size_t i, size_t *next, pt_err *e)
{
	fmt_doc *d = h->d;
	const char *s = d->src;
	size_t n = d->len, ns = i + 1, ne = ns, end;
	int rc;
	while (ne < n && !fmt__is_space((unsigned char)s[ne]) && s[ne] != '>' &&
	       s[ne] != '/')
		ne++;
	end = fmt__tag_end(s, n, i);
	int inl = fmt__name_is(s + ns, ne - ns, fmt__inline);
	int attrs = fmt__html_attrs(h, ne, end, 0, e);
	int code = ne - ns == 4 && strncasecmp(s + ns, "code", 4) == 0;
	size_t ce = code ? fmt__raw_end(s, n, end, "code", 4) : end;
	int closed = ce < n || (n > 7 && strncasecmp(s + n - 7, "</code>", 7)
				== 0);
	/* A code element goes whole into the run, where it is one
	 * placeholder; one too long for that is kept apart, one never
	 * closed is just a tag. */
	if (inl && !attrs && end < n && (!code || !closed ||
					  ce - i <= FMT__PH_MAX)) {
		if (h->unit == SIZE_MAX)
			h->unit = i;
		*next = code && closed ? ce : end;
		return 0;
	}
	if (code && closed && (rc = fmt__html_flush(h, i, e)) == 0) {
		*next = ce;
		return fmt__keep_to(d, ce, e);
	}
	if ((rc = fmt__html_flush(h, i, e)) != 0)
		return rc;
	if (!inl)
		h->heading = fmt__name_is(s + ns, ne - ns, fmt__heads);
	if (attrs && (rc = fmt__html_attrs(h, ne, end, 1, e)) < 0)
		return rc;
	if (fmt__name_is(s + ns, ne - ns, fmt__raw) && end < n &&
	    s[end - 2] != '/')
		end = fmt__raw_end(s, n, end, s + ns, ne - ns);
	*next = end;
	return fmt__keep_to(d, end, e);
}

/* The end of a markup construct that is not a start tag at s[i], or 0 if
 * '<' starts text there. Sets *inl for an inline end tag. */
static size_t fmt__html_other(const char *s, size_t n, size_t i, int *inl)
{
	static const struct {
		const char *open, *close;
	} spans[] = { { "<!--", "-->" }, { "<![CDATA[", "]]>" } };
	*inl = 0;
	for (size_t k = 0; k < 2; k++) {
		size_t ol = strlen(spans[k].open), cl = strlen(spans[k].close);
		if (n - i < ol || memcmp(s + i, spans[k].open, ol) != 0)
			continue;
		for (size_t j = i + ol; j + cl <= n; j++)
			if (memcmp(s + j, spans[k].close, cl) == 0)
				return j + cl;
		return n;
	}
	if (i + 1 < n && (s[i + 1] == '!' || s[i + 1] == '?'))
		return fmt__tag_end(s, n, i);
	if (i + 2 < n && s[i + 1] == '/' &&
	    ((s[i + 2] | 0x20) >= 'a' && (s[i + 2] | 0x20) <= 'z')) {
		size_t ne = i + 2;
		while (ne < n && !fmt__is_space((unsigned char)s[ne]) &&
		       s[ne] != '>')
			ne++;
		*inl = fmt__name_is(s + i + 2, ne - i - 2, fmt__inline);
		return fmt__tag_end(s, n, i);
	}
	return 0;
}

int fmt__parse_html(fmt_doc *d, pt_err *e)
{
	fmt__html h = { d, SIZE_MAX, 0 };
	const char *s = d->src;
	size_t n = d->len, i = 0;
	int rc, inl;
	while (i < n) {
		if (s[i] != '<') {
			if (h.unit == SIZE_MAX && !fmt__is_space((unsigned char)s[i]))
				h.unit = i;
			i++;
			continue;
		}
		size_t next = i + 1;
		if (i + 1 < n && ((s[i + 1] | 0x20) >= 'a' &&
				  (s[i + 1] | 0x20) <= 'z')) {
			if ((rc = fmt__html_start(&h, i, &next, e)) != 0)
				return rc;
		} else if ((next = fmt__html_other(s, n, i, &inl)) != 0) {
			/* An inline end tag inside a run stays in it. */
			if (!(inl && h.unit != SIZE_MAX && next < n) &&
			    ((rc = fmt__html_flush(&h, i, e)) != 0 ||
			     (rc = fmt__keep_to(d, next, e)) != 0))
				return rc;
		} else {
			if (h.unit == SIZE_MAX)
				h.unit = i;
			next = i + 1;
		}
		i = next;
	}
	return fmt__html_flush(&h, n, e);
}

/* ---- Writer ------------------------------------------------------------- */

int fmt__emit_html(const fmt_doc *d, const fmt__piece *p, fmt__buf *b)
{
	const char *t = p->tr;
	size_t n = p->tr_len, i = 0, l;
	int attr = (p->flags & FMT_F_ATTRIBUTE) != 0, rc = 0;
	char q = p->brk[0];
	uint32_t cp;
	(void)d;
	while (rc == 0 && i < n) {
		unsigned char c = (unsigned char)t[i];
		if (!attr && c == '<' &&
		    (l = fmt__ph_at(t, n, i, FMT_FORMAT_HTML)) > 0) {
			rc = fmt__buf_add(b, t + i, l);
			i += l;
			continue;
		}
		if (c == '&' && (l = fmt__html_entity(t + i, n - i, &cp)) > 0) {
			rc = fmt__buf_add(b, t + i, l);
			i += l;
			continue;
		}
		if (c == 0xC2 && i + 1 < n && (unsigned char)t[i + 1] == 0xA0) {
			rc = fmt__buf_add(b, "&nbsp;", 6);
			i += 2;
			continue;
		}
		if (c == '&')
			rc = fmt__buf_add(b, "&amp;", 5);
		else if (c == '<')
			rc = fmt__buf_add(b, "&lt;", 4);
		else if (attr && c == '"' && q != '\'')
			rc = fmt__buf_add(b, "&quot;", 6);
		else if (attr && c == '\'' && q != '"')
			rc = fmt__buf_add(b, "&#39;", 5);
		else if (attr && !q && (fmt__is_space(c) || c == '>' || c == '`' ||
					c == '='))
			rc = fmt__buf_add(b, c == '>' ? "&gt;" : c == '=' ? "&#61;"
					  : c == '`' ? "&#96;" : "&#32;",
					  c == '>' ? 4 : 5);
		else
			rc = fmt__buf_addc(b, (char)c);
		i++;
	}
	return rc;
}
