/*
 * fmt-markdown.c: Markdown (CommonMark block structure, GFM tables), line
 * by line. TEXT pieces are paragraphs, headings, list items, table cells
 * and footnote texts; KEEP pieces are front matter (YAML --- or TOML +++),
 * fenced and indented code, HTML blocks, reference definitions, thematic
 * breaks, and the markers in front of text (#, >, -, 1., |). Inline code,
 * link targets, autolinks, inline HTML and emphasis stay inside a TEXT
 * piece, where fmt_protect turns them into placeholders.
 *
 * A paragraph over several lines is one piece: its raw bytes include the
 * continuation prefixes ("> ", indentation); its text joins soft breaks
 * with a space and gives a hard break (two trailing spaces or a
 * backslash) as '\n'. A translation is written on one line, each '\n'
 * becoming the source's hard-break marker, a line end and the prefix of
 * the paragraph's second line.
 */
#include <stdlib.h>
#include <strings.h>

#include "formats-impl.h"

typedef struct fmt__md {
	fmt_doc *d;
	const char *s;
	size_t n;
	/* The open paragraph: start of its first content, end of its last,
	 * container depth, and where its second line begins. */
	size_t para, para_end, para_lines, para_quotes;
	size_t cont_a, cont_c;
	int in_table;
	size_t list_indent;
	char fence;            /* '`' or '~' inside a fenced block, else 0 */
	size_t fence_len;
	int html;              /* inside an HTML block: its end kind */
	int heading_next;      /* set by a setext underline */
} fmt__md;

typedef struct fmt__mdline {
	size_t a, c, end, next; /* start, content start, content end, next */
	size_t quotes;          /* '>' markers */
	int list;               /* a list marker on this line */
	size_t indent;          /* columns of white space before content */
} fmt__mdline;

enum { FMT__HTML_BLANK = 1, FMT__HTML_COMMENT, FMT__HTML_PI,
       FMT__HTML_DECL, FMT__HTML_CDATA, FMT__HTML_RAW, FMT__HTML_OTHER };

static int fmt__md_space(char c)
{
	return c == ' ' || c == '\t';
}

/* A thematic break: three or more of one of - * _ with spaces. */
static int fmt__md_thematic(const char *s, size_t c, size_t end)
{
	size_t k = 0;
	char m = c < end ? s[c] : 0;
	if (m != '-' && m != '*' && m != '_')
		return 0;
	for (; c < end; c++) {
		if (s[c] == m)
			k++;
		else if (!fmt__md_space(s[c]))
			return 0;
	}
	return k >= 3;
}

/* Length of a list marker ("- ", "12. ", "3) ") at s[c], 0 if none. */
static size_t fmt__md_marker(const char *s, size_t c, size_t end)
{
	size_t j = c;
	if (j < end && (s[j] == '-' || s[j] == '*' || s[j] == '+')) {
		j++;
	} else {
		while (j < end && j - c < 9 && s[j] >= '0' && s[j] <= '9')
			j++;
		if (j == c || j >= end || (s[j] != '.' && s[j] != ')'))
			return 0;
		j++;
	}
	if (j < end && !fmt__md_space(s[j]))
		return 0;
	return j - c;
}

/* Splits a line into its container prefix and content. A list marker
 * may follow up to `allow` spaces (3, more inside a list item, where a
 * nested list is indented to the item's content), a '>' up to 3. */
static fmt__mdline fmt__md_line(const char *s, size_t n, size_t a,
				size_t allow)
{
	fmt__mdline l;
	memset(&l, 0, sizeof l);
	l.a = a;
	l.end = a;
	while (l.end < n && s[l.end] != '\n')
		l.end++;
	l.next = l.end < n ? l.end + 1 : l.end;
	if (l.end > a && s[l.end - 1] == '\r')
		l.end--;
	size_t p = a;
	for (int depth = 0; depth < FMT__MAX_DEPTH; depth++) {
		size_t q = p, m;
		while (q < l.end && q - p < allow && s[q] == ' ')
			q++;
		if (q < l.end && s[q] == '>' && q - p <= 3) {
			q++;
			if (q < l.end && fmt__md_space(s[q]))
				q++;
			l.quotes++;
			p = q;
			continue;
		}
		if (fmt__md_thematic(s, q, l.end) ||
		    (m = fmt__md_marker(s, q, l.end)) == 0)
			break;
		q += m;
		while (q < l.end && fmt__md_space(s[q]))
			q++;
		if (l.end - q >= 4 && s[q] == '[' && s[q + 2] == ']' &&
		    strchr(" xX", s[q + 1]) && s[q + 1] != '\0' &&
		    fmt__md_space(s[q + 3]))
			q += 4;
		l.list = 1;
		p = q;
	}
	l.c = p;
	while (l.c < l.end && fmt__md_space(s[l.c])) {
		l.indent += s[l.c] == '\t' ? 4 : 1;
		l.c++;
	}
	return l;
}

/* ---- Paragraphs --------------------------------------------------------- */

/* Builds the text of the paragraph piece idx (see the file comment). */
static int fmt__md_para_text(fmt__md *m, size_t idx, pt_err *e)
{
	fmt__piece *p = &m->d->p[idx];
	size_t i = p->off, end = p->off + p->len;
	fmt__buf b = { 0 };
	int rc = 0;
	while (rc == 0 && i < end) {
		fmt__mdline l = fmt__md_line(m->s, end, i, 3);
		size_t ce = l.end, c = i == p->off ? i : l.c;
		int hard = 0;
		if (l.next >= end) {
			rc = fmt__buf_add(&b, m->s + c, end - c);
			break;
		}
		if (ce - c >= 2 && m->s[ce - 1] == ' ' && m->s[ce - 2] == ' ') {
			hard = 1;
			if (p->brk[0] == '\0')
				memcpy(p->brk, "  ", 3);
		} else if (ce > c && m->s[ce - 1] == '\\') {
			hard = 1;
			ce--;
			if (p->brk[0] == '\0')
				memcpy(p->brk, "\\", 2);
		}
		while (ce > c && fmt__md_space(m->s[ce - 1]))
			ce--;
		if ((rc = fmt__buf_add(&b, m->s + c, ce - c)) == 0)
			rc = fmt__buf_addc(&b, hard ? '\n' : ' ');
		if (hard)
			p->flags |= FMT_F_LINES;
		i = l.next;
	}
	if (rc != 0) {
		fmt__buf_done(&b);
		return pt_err_set(e, rc, "Markdown paragraph: %s",
				  pt_strerror(rc));
	}
	rc = fmt__set_text(m->d, idx, b.p ? b.p : "", b.len, e);
	fmt__buf_done(&b);
	return rc;
}

/* Closes the open paragraph as a TEXT piece. */
static int fmt__md_flush(fmt__md *m, pt_err *e)
{
	fmt_doc *d = m->d;
	size_t a = m->para, before = d->n;
	int rc;
	if (a == SIZE_MAX)
		return 0;
	m->para = SIZE_MAX;
	if ((rc = fmt__text_trimmed(d, a, m->para_end - a, e)) != 0)
		return rc;
	for (size_t k = before; k < d->n; k++) {
		fmt__piece *p = &d->p[k];
		if (p->kind != FMT_TEXT)
			continue;
		if (m->heading_next)
			p->flags |= FMT_F_HEADING;
		p->crlf = fmt__crlf_at(d, p->off);
		if (m->para_lines > 1) {
			size_t pl = m->cont_c - m->cont_a;
			if ((p->aux = malloc(pl + 1)) == NULL)
				return pt_err_set(e, PT_ENOMEM, "out of memory");
			memcpy(p->aux, m->s + m->cont_a, pl);
			p->aux[pl] = '\0';
			p->aux_len = pl;
			if ((rc = fmt__md_para_text(m, k, e)) != 0)
				return rc;
		}
	}
	return 0;
}

/* ---- Block kinds -------------------------------------------------------- */

/* CommonMark's block-level tag names (HTML blocks of kind 6). */
static const char *const fmt__md_blocks[] = {
	"address", "article", "aside", "base", "basefont", "blockquote",
	"body", "caption", "center", "col", "colgroup", "dd", "details",
	"dialog", "dir", "div", "dl", "dt", "fieldset", "figcaption", "figure",
	"footer", "form", "frame", "frameset", "h1", "h2", "h3", "h4", "h5",
	"h6", "head", "header", "hr", "html", "iframe", "legend", "li", "link",
	"main", "menu", "menuitem", "nav", "noframes", "ol", "optgroup",
	"option", "p", "param", "search", "section", "summary", "table",
	"tbody", "td", "tfoot", "th", "thead", "title", "tr", "track", "ul",
	NULL
};

/* The HTML block a line starting at s[c] opens, or 0. */
static int fmt__md_html_start(const char *s, size_t c, size_t end)
{
	static const char *const raw[] = { "script", "pre", "style",
					   "textarea", NULL };
	size_t j;
	if (c >= end || s[c] != '<')
		return 0;
	if (end - c >= 4 && memcmp(s + c, "<!--", 4) == 0)
		return FMT__HTML_COMMENT;
	if (end - c >= 9 && memcmp(s + c, "<![CDATA[", 9) == 0)
		return FMT__HTML_CDATA;
	if (end - c >= 2 && s[c + 1] == '?')
		return FMT__HTML_PI;
	if (end - c >= 3 && s[c + 1] == '!' &&
	    ((s[c + 2] | 0x20) >= 'a' && (s[c + 2] | 0x20) <= 'z'))
		return FMT__HTML_DECL;
	j = c + 1 + (c + 1 < end && s[c + 1] == '/');
	size_t ns = j;
	while (j < end && (((s[j] | 0x20) >= 'a' && (s[j] | 0x20) <= 'z') ||
			   (s[j] >= '0' && s[j] <= '9')))
		j++;
	if (j == ns || (j < end && !fmt__md_space(s[j]) && s[j] != '>' &&
			s[j] != '/'))
		return 0;
	for (const char *const *r = raw; *r; r++)
		if (strlen(*r) == j - ns && strncasecmp(*r, s + ns, j - ns) == 0)
			return ns == c + 1 ? FMT__HTML_RAW : 0;
	for (const char *const *r = fmt__md_blocks; *r; r++)
		if (strlen(*r) == j - ns && strncasecmp(*r, s + ns, j - ns) == 0)
			return FMT__HTML_BLANK;
	/* Kind 7: any other complete tag alone on its line. */
	size_t l = fmt__ph_at(s, end, c, FMT_FORMAT_HTML);
	if (l > 0 && s[c + 1] != '!') {
		for (j = c + l; j < end && fmt__md_space(s[j]); j++)
			;
		if (j == end)
			return FMT__HTML_OTHER;
	}
	return 0;
}

static int fmt__md_contains(const char *s, size_t a, size_t end,
			    const char *needle)
{
	size_t k = strlen(needle);
	for (; a + k <= end; a++)
		if (strncasecmp(s + a, needle, k) == 0)
			return 1;
	return 0;
}

/* Whether the HTML block of kind `kind` ends on the line s[a..end). */
static int fmt__md_html_end(const char *s, size_t a, size_t end, int kind)
{
	switch (kind) {
	case FMT__HTML_COMMENT:
		return fmt__md_contains(s, a, end, "-->");
	case FMT__HTML_PI:
		return fmt__md_contains(s, a, end, "?>");
	case FMT__HTML_DECL:
		return fmt__md_contains(s, a, end, ">");
	case FMT__HTML_CDATA:
		return fmt__md_contains(s, a, end, "]]>");
	case FMT__HTML_RAW:
		return fmt__md_contains(s, a, end, "</script>") ||
		       fmt__md_contains(s, a, end, "</pre>") ||
		       fmt__md_contains(s, a, end, "</style>") ||
		       fmt__md_contains(s, a, end, "</textarea>");
	default:
		return 0;
	}
}

/* A GFM table delimiter row: | --- | :-: |. */
static int fmt__md_delim_row(const char *s, size_t c, size_t end)
{
	int dash = 0, pipe = 0;
	for (; c < end; c++) {
		if (s[c] == '-')
			dash = 1;
		else if (s[c] == '|')
			pipe = 1;
		else if (s[c] != ':' && !fmt__md_space(s[c]))
			return 0;
	}
	return dash && pipe;
}

static int fmt__md_has_pipe(const char *s, size_t c, size_t end)
{
	for (; c < end; c++)
		if (s[c] == '|' && (c == 0 || s[c - 1] != '\\'))
			return 1;
	return 0;
}

/* ---- Lines -------------------------------------------------------------- */

/* A table row: each cell between unescaped pipes (outside code spans) is
 * a TEXT piece. */
static int fmt__md_table_row(fmt__md *m, const fmt__mdline *l, pt_err *e)
{
	size_t cell = l->c, before = m->d->n;
	int rc = 0, code = 0;
	for (size_t i = l->c; rc == 0 && i <= l->end; i++) {
		if (i < l->end && m->s[i] == '`')
			code = !code;
		if (i < l->end && (m->s[i] != '|' || code ||
				   (i > 0 && m->s[i - 1] == '\\')))
			continue;
		rc = fmt__text_trimmed(m->d, cell, i - cell, e);
		cell = i + 1;
	}
	for (size_t k = before; k < m->d->n; k++)
		if (m->d->p[k].kind == FMT_TEXT)
			m->d->p[k].flags |= FMT_F_TABLE;
	return rc;
}

/* An ATX heading: "## Title ##". */
static int fmt__md_heading(fmt__md *m, const fmt__mdline *l, pt_err *e)
{
	size_t c = l->c, end = l->end, before = m->d->n;
	int rc;
	while (c < end && m->s[c] == '#')
		c++;
	size_t t = end;
	while (t > c && fmt__md_space(m->s[t - 1]))
		t--;
	size_t h = t;
	while (h > c && m->s[h - 1] == '#')
		h--;
	if (h == c || fmt__md_space(m->s[h - 1]))
		t = h;
	if ((rc = fmt__keep_to(m->d, c, e)) != 0 ||
	    (rc = fmt__text_trimmed(m->d, c, t - c, e)) != 0)
		return rc;
	for (size_t k = before; k < m->d->n; k++)
		if (m->d->p[k].kind == FMT_TEXT)
			m->d->p[k].flags |= FMT_F_HEADING;
	return 0;
}

/* Whether a line starts a block that ends an open paragraph (or, for
 * kinds that need it, is not a paragraph line at all). */
static int fmt__md_is_atx(const char *s, size_t c, size_t end)
{
	size_t h = 0;
	while (c + h < end && s[c + h] == '#' && h < 7)
		h++;
	return h >= 1 && h <= 6 && (c + h == end || fmt__md_space(s[c + h]));
}

static int fmt__md_is_fence(const fmt__md *m, const fmt__mdline *l,
			    size_t *len)
{
	const char *s = m->s;
	size_t k = 0;
	char f = l->c < l->end ? s[l->c] : 0;
	if (l->indent >= 4 || (f != '`' && f != '~'))
		return 0;
	while (l->c + k < l->end && s[l->c + k] == f)
		k++;
	if (k < 3)
		return 0;
	if (f == '`')
		for (size_t i = l->c + k; i < l->end; i++)
			if (s[i] == '`')
				return 0;
	*len = k;
	return 1;
}

/* Lines inside a fenced code block or an HTML block: all KEEP. Returns 1
 * if the line was one of those. */
static int fmt__md_inside(fmt__md *m, const fmt__mdline *l)
{
	if (m->fence) {
		size_t k = 0, i = l->c;
		while (i + k < l->end && m->s[i + k] == m->fence)
			k++;
		i += k;
		while (i < l->end && fmt__md_space(m->s[i]))
			i++;
		if (k >= m->fence_len && i == l->end && l->indent < 4)
			m->fence = 0;
		return 1;
	}
	if (m->html) {
		if (m->html == FMT__HTML_BLANK ? l->c == l->end
		    : fmt__md_html_end(m->s, l->a, l->end, m->html))
			m->html = 0;
		return 1;
	}
	return 0;
}

/* A setext underline or thematic break made of one repeated character. */
static int fmt__md_thematic_or_setext(const char *s, size_t c, size_t end)
{
	char m = s[c];
	while (c < end && s[c] == m)
		c++;
	while (c < end && fmt__md_space(s[c]))
		c++;
	return c == end;
}

static int fmt__md_delim_row_at(const fmt__md *m, size_t off)
{
	fmt__mdline l = fmt__md_line(m->s, m->n, off, 3);
	return fmt__md_delim_row(m->s, l.c, l.end);
}

/* Opens a paragraph whose content starts at c on line l. */
static int fmt__md_para_start(fmt__md *m, const fmt__mdline *l, size_t c,
			      pt_err *e)
{
	int rc;
	if ((rc = fmt__md_flush(m, e)) != 0 ||
	    (rc = fmt__keep_to(m->d, c, e)) != 0)
		return rc;
	m->para = c;
	m->para_end = l->end;
	m->para_lines = 1;
	m->para_quotes = l->quotes;
	return 0;
}

/* A paragraph line: continues the open paragraph (same or lazy quote
 * depth, no list marker) or starts one. */
static int fmt__md_para_line(fmt__md *m, const fmt__mdline *l, pt_err *e)
{
	if (m->para != SIZE_MAX && !l->list && l->quotes <= m->para_quotes) {
		if (m->para_lines == 1) {
			m->cont_a = l->a;
			m->cont_c = l->c;
		}
		m->para_lines++;
		m->para_end = l->end;
		return 0;
	}
	return fmt__md_para_start(m, l, l->c, e);
}

/* Whether the line is a reference definition "[label]: ..." (or a
 * footnote "[^1]: ..."). */
static int fmt__md_refdef(const fmt__md *m, const fmt__mdline *l)
{
	for (size_t i = l->c + 1; i + 1 < l->end; i++) {
		if (m->s[i] == '\\') {
			i++;
			continue;
		}
		if (m->s[i] == '[')
			return 0;
		if (m->s[i] == ']')
			return m->s[i + 1] == ':';
	}
	return 0;
}

/* A footnote's text is translated; a reference definition is kept. */
static int fmt__md_footnote(fmt__md *m, const fmt__mdline *l, pt_err *e)
{
	size_t c = l->c;
	if (l->end - c < 2 || m->s[c + 1] != '^')
		return 0;
	while (c < l->end && m->s[c] != ']')
		c++;
	c += 2;
	while (c < l->end && fmt__md_space(m->s[c]))
		c++;
	if (c >= l->end)
		return 0;
	return fmt__md_para_start(m, l, c, e);
}

/* One line outside code and HTML blocks. */
static int fmt__md_block(fmt__md *m, const fmt__mdline *l, pt_err *e)
{
	const char *s = m->s;
	size_t fl, kind;
	int rc, in_para = m->para != SIZE_MAX;
	if (l->c == l->end) {
		m->in_table = 0;
		return fmt__md_flush(m, e);
	}
	if (!l->list && l->indent == 0 && l->quotes == 0 && !in_para)
		m->list_indent = 0;
	if (l->list)
		m->list_indent = l->c - l->a;
	if (!in_para && !l->list && l->indent >= 4 &&
	    (l->c - l->a) >= m->list_indent + 4)
		return 0;                        /* indented code */
	if (fmt__md_is_fence(m, l, &fl)) {
		m->fence = s[l->c];
		m->fence_len = fl;
		return fmt__md_flush(m, e);
	}
	kind = (size_t)fmt__md_html_start(s, l->c, l->end);
	/* Kind 7 cannot interrupt a paragraph; the others can. */
	if (kind != 0 && !(in_para && kind == FMT__HTML_OTHER)) {
		if ((rc = fmt__md_flush(m, e)) != 0)
			return rc;
		if (kind == FMT__HTML_OTHER)
			kind = FMT__HTML_BLANK;
		if (kind == FMT__HTML_BLANK ||
		    !fmt__md_html_end(s, l->c, l->end, (int)kind))
			m->html = (int)kind;
		return 0;
	}
	if (fmt__md_thematic(s, l->c, l->end) ||
	    (in_para && !l->list && l->quotes == m->para_quotes &&
	     (s[l->c] == '=' || s[l->c] == '-') &&
	     fmt__md_thematic_or_setext(s, l->c, l->end))) {
		if (in_para && s[l->c] != '*' && s[l->c] != '_')
			m->heading_next = 1;
		rc = fmt__md_flush(m, e);
		m->heading_next = 0;
		return rc;
	}
	if (fmt__md_is_atx(s, l->c, l->end)) {
		if ((rc = fmt__md_flush(m, e)) != 0)
			return rc;
		return fmt__md_heading(m, l, e);
	}
	if (m->in_table || (fmt__md_has_pipe(s, l->c, l->end) && l->next < m->n &&
			    fmt__md_delim_row_at(m, l->next))) {
		if ((rc = fmt__md_flush(m, e)) != 0)
			return rc;
		m->in_table = fmt__md_has_pipe(s, l->c, l->end);
		if (!m->in_table)
			return fmt__md_para_line(m, l, e);
		if (fmt__md_delim_row(s, l->c, l->end))
			return 0;
		if ((rc = fmt__keep_to(m->d, l->c, e)) != 0)
			return rc;
		return fmt__md_table_row(m, l, e);
	}
	if (!in_para && s[l->c] == '[' && fmt__md_refdef(m, l))
		return fmt__md_footnote(m, l, e);
	return fmt__md_para_line(m, l, e);
}

/* Front matter: a YAML (---) or TOML (+++) block at the very start. */
static size_t fmt__md_front_matter(const char *s, size_t n, size_t i)
{
	fmt__mdline l = fmt__md_line(s, n, i, 3);
	size_t len = l.end - l.a;
	if (len != 3 || (memcmp(s + i, "---", 3) != 0 &&
			 memcmp(s + i, "+++", 3) != 0))
		return i;
	char c = s[i];
	for (size_t j = l.next; j < n;) {
		fmt__mdline k = fmt__md_line(s, n, j, 3);
		if (k.end - k.a == 3 &&
		    (memcmp(s + j, c == '-' ? "---" : "+++", 3) == 0 ||
		     (c == '-' && memcmp(s + j, "...", 3) == 0)))
			return k.next;
		j = k.next;
	}
	return i;
}

int fmt__parse_markdown(fmt_doc *d, pt_err *e)
{
	fmt__md m;
	size_t i = 0;
	int rc;
	memset(&m, 0, sizeof m);
	m.d = d;
	m.s = d->src;
	m.n = d->len;
	m.para = SIZE_MAX;
	if (m.n >= 3 && memcmp(m.s, "\xEF\xBB\xBF", 3) == 0)
		i = 3;
	i = fmt__md_front_matter(m.s, m.n, i);
	while (i < m.n) {
		fmt__mdline l = fmt__md_line(m.s, m.n, i, m.list_indent ?
					     m.list_indent + 3 : 3);
		if (!fmt__md_inside(&m, &l) && (rc = fmt__md_block(&m, &l, e)) != 0)
			return rc;
		i = l.next;
	}
	return fmt__md_flush(&m, e);
}

int fmt__emit_markdown(const fmt_doc *d, const fmt__piece *p, fmt__buf *b)
{
	const char *t = p->tr;
	size_t a = 0, z = p->tr_len;
	int rc = 0;
	(void)d;
	/* White space at the ends would change the block structure. */
	while (a < z && fmt__is_space((unsigned char)t[a]))
		a++;
	while (z > a && fmt__is_space((unsigned char)t[z - 1]))
		z--;
	int code = 0;
	for (size_t i = a; rc == 0 && i < z; i++) {
		if (t[i] == '\r')
			continue;
		if (t[i] == '`')
			code = !code;
		/* A pipe of the text would split a table cell. */
		if (t[i] == '|' && (p->flags & FMT_F_TABLE) && !code &&
		    (i == a || t[i - 1] != '\\')) {
			rc = fmt__buf_add(b, "\\|", 2);
			continue;
		}
		if (t[i] != '\n' || (p->flags & FMT_F_TABLE)) {
			rc = fmt__buf_addc(b, t[i] == '\n' ? ' ' : t[i]);
			continue;
		}
		if (p->aux == NULL) {
			rc = fmt__buf_addc(b, ' ');
			continue;
		}
		if ((rc = fmt__buf_add(b, p->brk, strlen(p->brk))) == 0 &&
		    (rc = fmt__buf_add(b, p->crlf ? "\r\n" : "\n",
				       p->crlf ? 2 : 1)) == 0)
			rc = fmt__buf_add(b, p->aux, p->aux_len);
	}
	return rc;
}
