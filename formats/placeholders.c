/*
 * placeholders.c: finding the placeholders of a text (printf and brace
 * directives, tags, entities, URLs, Markdown inline markup), protecting
 * them with numbered tokens ⟦n⟧ for the model, putting them back, and
 * checking that a translation kept every one of them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "formats-impl.h"

static int fmt__alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z');
}

static int fmt__alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int fmt__digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static size_t fmt__token_read(const char *s, size_t n, size_t i,
			      size_t *num);

/* printf-style: %%, %(name)s, %1$-08.3lld, %@. */
static size_t fmt__ph_printf(const char *s, size_t n, size_t i)
{
	size_t j = i + 1;
	if (j >= n)
		return 0;
	if (s[j] == '%')
		return 2;
	if (s[j] == '(') {
		while (j < n && j - i < 64 && s[j] != ')' &&
		       (fmt__alnum((unsigned char)s[j]) || s[j] == '_' ||
			s[j] == '('))
			j++;
		if (j >= n || s[j] != ')')
			return 0;
		j++;
	} else {
		size_t k = j;
		while (k < n && fmt__digit((unsigned char)s[k]))
			k++;
		if (k > j && k < n && s[k] == '$')
			j = k + 1;
	}
	while (j < n && strchr("-+#0'", s[j]) && s[j] != '\0')
		j++;
	if (j < n && s[j] == '*')
		j++;
	else
		while (j < n && fmt__digit((unsigned char)s[j]))
			j++;
	if (j < n && s[j] == '.') {
		j++;
		if (j < n && s[j] == '*')
			j++;
		else
			while (j < n && fmt__digit((unsigned char)s[j]))
				j++;
	}
	while (j < n && j - i < 32 && strchr("hlLqjzt", s[j]) && s[j] != '\0')
		j++;
	if (j < n && s[j] != '\0' && strchr("diouxXeEfFgGaAcCsSpn@", s[j]))
		return j + 1 - i;
	return 0;
}

/* Braces: {{name}}, {\an8}, {name}, {0}, {0:.2f}, {}. */
static size_t fmt__ph_brace(const char *s, size_t n, size_t i)
{
	size_t j = i + 1;
	if (j < n && s[j] == '{') {
		for (j = i + 2; j + 1 < n && j - i < 128; j++) {
			if (s[j] == '}' && s[j + 1] == '}')
				return j + 2 - i;
			if (s[j] == '{' || s[j] == '\n')
				return 0;
		}
		return 0;
	}
	if (j < n && s[j] == '\\') {
		for (; j < n && j - i < 128 && s[j] != '\n'; j++)
			if (s[j] == '}')
				return j + 1 - i;
		return 0;
	}
	for (; j < n && j - i < 64; j++) {
		unsigned char c = (unsigned char)s[j];
		if (c == '}')
			return j + 1 - i;
		if (!fmt__alnum(c) && !strchr("_.:,-!#+<>^=[]", c))
			return 0;
	}
	return 0;
}

/* ${name}, $1, and in PO $name. */
static size_t fmt__ph_dollar(const char *s, size_t n, size_t i, int format)
{
	size_t j = i + 1;
	if (j < n && s[j] == '{') {
		for (j++; j < n && j - i < 128 && s[j] != '\n' && s[j] != '{';
		     j++)
			if (s[j] == '}')
				return j + 1 - i;
		return 0;
	}
	if (j < n && fmt__digit((unsigned char)s[j])) {
		while (j < n && fmt__digit((unsigned char)s[j]))
			j++;
		return j - i;
	}
	if (format == FMT_FORMAT_PO && j < n &&
	    (fmt__alpha((unsigned char)s[j]) || s[j] == '_')) {
		while (j < n && (fmt__alnum((unsigned char)s[j]) || s[j] == '_'))
			j++;
		return j - i;
	}
	return 0;
}

/* Case-insensitive search for needle in s[i..n). */
static size_t fmt__find_ci(const char *s, size_t n, size_t i,
			   const char *needle)
{
	size_t k = strlen(needle);
	for (; i + k <= n; i++)
		if (strncasecmp(s + i, needle, k) == 0)
			return i;
	return SIZE_MAX;
}

/* Tags <b>, </b>, <br/>, <a href="x">, autolinks <https://x>, comments;
 * in HTML a <code>...</code> span whole. */
static size_t fmt__ph_tag(const char *s, size_t n, size_t i, int format)
{
	size_t j = i + 1;
	char q = 0;
	if (n - i >= 4 && memcmp(s + i, "<!--", 4) == 0) {
		for (j = i + 4; j + 3 <= n && j - i < FMT__PH_MAX; j++)
			if (memcmp(s + j, "-->", 3) == 0)
				return j + 3 - i;
		return 0;
	}
	if (j < n && s[j] == '/')
		j++;
	if (j >= n || !fmt__alpha((unsigned char)s[j]))
		return 0;
	for (; j < n && j - i < FMT__PH_MAX; j++) {
		if (q) {
			if (s[j] == q)
				q = 0;
		} else if (s[j] == '"' || s[j] == '\'') {
			q = s[j];
		} else if (s[j] == '<' || s[j] == '\n') {
			return 0;
		} else if (s[j] == '>') {
			break;
		}
	}
	if (j >= n || s[j] != '>')
		return 0;
	j++;
	if (format == FMT_FORMAT_HTML && n - i > 5 &&
	    strncasecmp(s + i, "<code", 5) == 0 &&
	    (s[i + 5] == '>' || fmt__is_space((unsigned char)s[i + 5]))) {
		size_t lim = n - i > FMT__PH_MAX ? i + FMT__PH_MAX : n;
		size_t c = fmt__find_ci(s, lim, j, "</code>");
		if (c != SIZE_MAX && c - i < FMT__PH_MAX)
			return c + 7 - i;
	}
	return j - i;
}

static size_t fmt__ph_entity(const char *s, size_t n, size_t i)
{
	uint32_t cp;
	return fmt__html_entity(s + i, n - i, &cp);
}

/* URLs at a word start, up to white space or a quote; trailing
 * punctuation is the sentence's. ASCII only: a non-ASCII letter after a
 * URL (a CJK full stop) ends it. */
static size_t fmt__ph_url(const char *s, size_t n, size_t i)
{
	static const char *const schemes[] = { "https://", "http://",
					       "ftp://", "mailto:" };
	size_t j = 0, k;
	if (i > 0 && fmt__alnum((unsigned char)s[i - 1]))
		return 0;
	for (k = 0; k < 4; k++) {
		size_t l = strlen(schemes[k]);
		if (n - i > l && strncasecmp(s + i, schemes[k], l) == 0) {
			j = i + l;
			break;
		}
	}
	if (j == 0)
		return 0;
	while (j < n && j - i < FMT__PH_MAX) {
		unsigned char c = (unsigned char)s[j];
		if (c <= ' ' || c >= 0x80 || strchr("<>\"'`", c))
			break;
		j++;
	}
	while (j > i && strchr(".,;:!?)]*_", s[j - 1]) && s[j - 1] != '\0')
		j--;
	return j - i;
}

/* End of the bracket group opening at s[i] ('[' or '('), or SIZE_MAX. */
static size_t fmt__md_close(const char *s, size_t n, size_t i, char open,
			    char close)
{
	int depth = 0;
	for (size_t j = i; j < n && j - i < FMT__PH_MAX; j++) {
		if (s[j] == '\\') {
			j++;
		} else if (s[j] == open) {
			if (++depth > FMT__MAX_DEPTH)
				return SIZE_MAX;
		} else if (s[j] == close && --depth == 0) {
			return j;
		}
	}
	return SIZE_MAX;
}

/* Markdown inline markup: code spans, escapes, emphasis runs, link
 * brackets and targets. */
static size_t fmt__ph_markdown(const char *s, size_t n, size_t i)
{
	unsigned char c = (unsigned char)s[i];
	size_t j;
	if (c == '`') {
		size_t r = 0, k;
		if (i > 0 && s[i - 1] == '`')
			return 0;
		while (i + r < n && s[i + r] == '`')
			r++;
		for (j = i + r; j < n && j - i < FMT__PH_MAX; j = k) {
			k = j + 1;
			if (s[j] != '`')
				continue;
			while (k < n && s[k] == '`')
				k++;
			if (k - j == r)
				return k - i;
		}
		return r;
	}
	if (c == '\\')
		return i + 1 < n && strchr("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
					   s[i + 1]) && s[i + 1] != '\0' ? 2 : 0;
	if (c == '*' || c == '_' || c == '~') {
		size_t r = 0;
		if (i > 0 && (unsigned char)s[i - 1] == c)
			return 0;
		while (i + r < n && (unsigned char)s[i + r] == c)
			r++;
		unsigned char prev = i > 0 ? (unsigned char)s[i - 1] : ' ';
		unsigned char next = i + r < n ? (unsigned char)s[i + r] : ' ';
		int left = !fmt__is_space(next), right = !fmt__is_space(prev);
		if ((!left && !right) || (c == '~' && r < 2) ||
		    (c == '_' && fmt__alnum(prev) && fmt__alnum(next)))
			return 0;
		return r;
	}
	if (c == '!' && i + 1 < n && s[i + 1] == '[')
		return fmt__ph_markdown(s, n, i + 1) ? 2 : 0;
	if (c == '[') {
		if (i + 1 < n && s[i + 1] == '^') {
			j = fmt__md_close(s, n, i, '[', ']');
			return j == SIZE_MAX ? 0 : j + 1 - i;
		}
		j = fmt__md_close(s, n, i, '[', ']');
		return j != SIZE_MAX && j + 1 < n &&
		       (s[j + 1] == '(' || s[j + 1] == '[') ? 1 : 0;
	}
	if (c == ']' && i + 1 < n && (s[i + 1] == '(' || s[i + 1] == '[')) {
		j = s[i + 1] == '(' ? fmt__md_close(s, n, i + 1, '(', ')')
				    : fmt__md_close(s, n, i + 1, '[', ']');
		return j == SIZE_MAX ? 0 : j + 1 - i;
	}
	return 0;
}

/* Length of the placeholder starting at s[i], or 0. */
size_t fmt__ph_at(const char *s, size_t n, size_t i, int format)
{
	size_t l;
	switch (s[i]) {
	case '\xE2':
	case '\xE3': {
		/* Text restore would read as a token is protected itself. */
		size_t num;
		return fmt__token_read(s, n, i, &num);
	}
	case '%':
		return fmt__ph_printf(s, n, i);
	case '{':
		return fmt__ph_brace(s, n, i);
	case '$':
		return fmt__ph_dollar(s, n, i, format);
	case '<':
		if ((l = fmt__ph_tag(s, n, i, format)) != 0)
			return l;
		break;
	case '&':
		return fmt__ph_entity(s, n, i);
	case 'h': case 'H': case 'f': case 'F': case 'm': case 'M':
		if ((l = fmt__ph_url(s, n, i)) != 0)
			return l;
		break;
	default:
		break;
	}
	return format == FMT_FORMAT_MARKDOWN ? fmt__ph_markdown(s, n, i) : 0;
}

/* Finds the next placeholder at or after *pos: returns its start and
 * sets *plen, or returns n when there is none. */
static size_t fmt__ph_next(const char *s, size_t n, size_t pos, int format,
			   size_t *plen)
{
	for (size_t i = pos; i < n; i++) {
		size_t l = fmt__ph_at(s, n, i, format);
		if (l > 0) {
			*plen = l;
			return i;
		}
	}
	*plen = 0;
	return n;
}

int fmt__ph_any(const char *s, size_t n, int format)
{
	size_t l;
	return fmt__ph_next(s, n, 0, format, &l) < n;
}

int fmt__ph_has_words(const char *s, size_t n, int format)
{
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		size_t l = fmt__ph_at(s, n, i, format);
		if (l > 0) {
			i += l;
			continue;
		}
		if (fmt__alpha(c) || c >= 0x80)
			return 1;
		i++;
	}
	return 0;
}

/* ---- Protect and restore ------------------------------------------------ */

struct fmt_protected {
	char *text;
	size_t text_len;
	char *orig;          /* the placeholders' bytes, back to back */
	size_t *off;         /* count+1 offsets into orig */
	long *partner;       /* opening tag of a closing one, else -1 */
	size_t count, cap;
};

void fmt_protected_free(fmt_protected *p)
{
	if (p == NULL)
		return;
	free(p->text);
	free(p->orig);
	free(p->off);
	free(p->partner);
	free(p);
}

const char *fmt_protected_text(const fmt_protected *p, size_t *len)
{
	if (p == NULL)
		return NULL;
	if (len)
		*len = p->text_len;
	return p->text;
}

size_t fmt_protected_count(const fmt_protected *p)
{
	return p ? p->count : 0;
}

const char *fmt_protected_original(const fmt_protected *p, size_t i,
				   size_t *len)
{
	if (p == NULL || i >= p->count)
		return NULL;
	if (len)
		*len = p->off[i + 1] - p->off[i];
	return p->orig + p->off[i];
}

/* Name of a tag placeholder ("b" for <b ...> and </b>), in *name; returns
 * 1 for an opening tag, 2 for a closing one, 0 otherwise. */
static int fmt__tag_name(const char *s, size_t n, const char **name,
			 size_t *nlen)
{
	size_t j = 1;
	int kind = 1;
	if (n < 3 || s[0] != '<' || s[n - 1] != '>' || s[n - 2] == '/')
		return 0;
	if (s[1] == '/') {
		kind = 2;
		j = 2;
	}
	*name = s + j;
	while (j < n && (fmt__alnum((unsigned char)s[j]) || s[j] == '-'))
		j++;
	*nlen = (size_t)(s + j - *name);
	return *nlen > 0 ? kind : 0;
}

/* Pairs closing tags with the last unpaired opening tag of their name. */
static void fmt__pair_tags(fmt_protected *p)
{
	for (size_t i = 0; i < p->count; i++) {
		const char *nm, *om;
		size_t nl, ol;
		p->partner[i] = -1;
		if (fmt__tag_name(p->orig + p->off[i], p->off[i + 1] - p->off[i],
				  &nm, &nl) != 2)
			continue;
		for (size_t k = i; k-- > 0;) {
			if (fmt__tag_name(p->orig + p->off[k],
					  p->off[k + 1] - p->off[k], &om,
					  &ol) == 1 && ol == nl &&
			    strncasecmp(om, nm, nl) == 0) {
				int taken = 0;
				for (size_t m = k + 1; m < i; m++)
					taken |= p->partner[m] == (long)k;
				if (!taken) {
					p->partner[i] = (long)k;
					break;
				}
			}
		}
	}
}

int fmt_protect(const char *text, size_t len, int format,
		fmt_protected **out, pt_err *e)
{
	fmt__buf t = { 0 }, o = { 0 };
	size_t i = 0, pl, nph = 0, bytes;
	int rc = 0;
	if (out == NULL || (text == NULL && len > 0) || format < 0 ||
	    format >= FMT_FORMAT_COUNT)
		return pt_err_set(e, PT_EINVAL, "fmt_protect: bad arguments");
	if (pt_utf8_check(text, len, NULL) != 0)
		return pt_err_set(e, PT_EUTF8, "fmt_protect: invalid UTF-8");
	for (size_t k = fmt__ph_next(text, len, 0, format, &pl); k < len;
	     k = fmt__ph_next(text, len, k + pl, format, &pl))
		nph++;
	fmt_protected *p = calloc(1, sizeof *p);
	if (p == NULL || pt_add_size(nph, 1, &bytes) != 0 ||
	    pt_mul_size(bytes, sizeof(size_t), &bytes) != 0) {
		free(p);
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	}
	p->off = malloc(bytes);
	p->partner = malloc(bytes);
	if (p->off == NULL || p->partner == NULL)
		rc = PT_ENOMEM;
	else
		p->off[0] = 0;
	while (rc == 0 && i <= len) {
		size_t k = fmt__ph_next(text, len, i, format, &pl);
		char tok[32];
		rc = fmt__buf_add(&t, text + i, k - i);
		if (rc != 0 || k >= len)
			break;
		int tl = snprintf(tok, sizeof tok, "\xE2\x9F\xA6%zu\xE2\x9F\xA7",
				  p->count + 1);
		if ((rc = fmt__buf_add(&t, tok, (size_t)tl)) == 0)
			rc = fmt__buf_add(&o, text + k, pl);
		p->count++;
		p->off[p->count] = o.len;
		i = k + pl;
	}
	if (rc == 0 && (rc = fmt__buf_finish(&t, &p->text, &p->text_len)) == 0) {
		size_t ol;
		rc = fmt__buf_finish(&o, &p->orig, &ol);
	}
	if (rc != 0) {
		fmt__buf_done(&t);
		fmt__buf_done(&o);
		fmt_protected_free(p);
		return pt_err_set(e, rc, "fmt_protect: %s", pt_strerror(rc));
	}
	fmt__pair_tags(p);
	*out = p;
	return 0;
}

/* Reads a token a model wrote at s[i]: ⟦n⟧ or 〚n〛, spaces allowed
 * inside, ASCII or full-width digits. Returns its length (0 if none) and
 * the number in *num. */
static size_t fmt__token_read(const char *s, size_t n, size_t i, size_t *num)
{
	size_t j = i, digits = 0;
	int close_kind;
	*num = 0;
	if (n - i >= 3 && memcmp(s + i, "\xE2\x9F\xA6", 3) == 0)
		close_kind = 0;
	else if (n - i >= 3 && memcmp(s + i, "\xE3\x80\x9A", 3) == 0)
		close_kind = 1;
	else
		return 0;
	j += 3;
	while (j < n && s[j] == ' ')
		j++;
	for (; j < n && digits < 9; digits++) {
		if (fmt__digit((unsigned char)s[j])) {
			*num = *num * 10 + (size_t)(s[j] - '0');
			j++;
		} else if (n - j >= 3 && memcmp(s + j, "\xEF\xBC", 2) == 0 &&
			   (unsigned char)s[j + 2] >= 0x90 &&
			   (unsigned char)s[j + 2] <= 0x99) {
			*num = *num * 10 + (size_t)((unsigned char)s[j + 2] - 0x90);
			j += 3;
		} else {
			break;
		}
	}
	while (j < n && s[j] == ' ')
		j++;
	if (digits == 0 || n - j < 3)
		return 0;
	if (memcmp(s + j, close_kind ? "\xE3\x80\x9B" : "\xE2\x9F\xA7", 3) != 0)
		return 0;
	return j + 3 - i;
}

/* Describes the first problem: "<what> <placeholder><after>". */
static void fmt__report_first(fmt_report *r, const char *what, const char *s,
			      size_t n, const char *after)
{
	if (r->first[0] == '\0')
		snprintf(r->first, sizeof r->first, "%s %.*s%s", what,
			 (int)(n > 64 ? 64 : n), s, after);
}

int fmt_report_ok(const fmt_report *r)
{
	return r && r->lost == 0 && r->duplicated == 0 && r->altered == 0;
}

/* Counts the damage once every token of the translation was read: seen[k]
 * how often ⟦k+1⟧ came back, pos[k] where it first did. */
static void fmt__restore_report(const fmt_protected *p, const size_t *seen,
				const size_t *pos, fmt_report *r)
{
	for (size_t k = 0; k < p->count; k++) {
		const char *o = p->orig + p->off[k];
		size_t ol = p->off[k + 1] - p->off[k];
		if (seen[k] == 0) {
			r->lost++;
			fmt__report_first(r, "placeholder", o, ol, " lost");
		} else if (seen[k] > 1) {
			r->duplicated++;
			fmt__report_first(r, "placeholder", o, ol, " repeated");
		}
		long m = p->partner[k];
		if (m >= 0 && seen[k] && seen[m] && pos[k] < pos[m]) {
			r->altered++;
			fmt__report_first(r, "closing tag", o, ol,
					  " moved before its opening tag");
		}
	}
}

int fmt_restore(const fmt_protected *p, const char *tr, size_t len,
		char **out, size_t *out_len, fmt_report *report, pt_err *e)
{
	fmt__buf b = { 0 };
	fmt_report r;
	size_t *seen, *pos, bytes;
	int rc = 0;
	if (p == NULL || out == NULL || out_len == NULL ||
	    (tr == NULL && len > 0))
		return pt_err_set(e, PT_EINVAL, "fmt_restore: bad arguments");
	memset(&r, 0, sizeof r);
	if (pt_add_size(p->count, 1, &bytes) != 0 ||
	    pt_mul_size(bytes, sizeof(size_t), &bytes) != 0)
		return pt_err_set(e, PT_ETOOLARGE, "too many placeholders");
	seen = calloc(1, bytes);
	pos = calloc(1, bytes);
	if (seen == NULL || pos == NULL)
		rc = PT_ENOMEM;
	for (size_t i = 0; rc == 0 && i < len;) {
		size_t num, tl = fmt__token_read(tr, len, i, &num);
		if (tl == 0) {
			rc = fmt__buf_addc(&b, tr[i++]);
			continue;
		}
		if (num >= 1 && num <= p->count) {
			if (seen[num - 1]++ == 0)
				pos[num - 1] = b.len;
			rc = fmt__buf_add(&b, p->orig + p->off[num - 1],
					  p->off[num] - p->off[num - 1]);
		} else {
			r.altered++;
			fmt__report_first(&r, "unknown token", tr + i, tl, "");
			rc = fmt__buf_add(&b, tr + i, tl);
		}
		i += tl;
	}
	if (rc == 0)
		fmt__restore_report(p, seen, pos, &r);
	free(seen);
	free(pos);
	if (rc == 0)
		rc = fmt__buf_finish(&b, out, out_len);
	if (rc != 0) {
		fmt__buf_done(&b);
		return pt_err_set(e, rc, "fmt_restore: %s", pt_strerror(rc));
	}
	if (report)
		*report = r;
	return 0;
}

/* ---- Check -------------------------------------------------------------- */

typedef struct fmt__span {
	const char *s;
	size_t n;
} fmt__span;

static int fmt__span_cmp(const void *a, const void *b)
{
	const fmt__span *x = a, *y = b;
	size_t m = x->n < y->n ? x->n : y->n;
	int c = memcmp(x->s, y->s, m);
	return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* Collects the placeholders of s[0..n), sorted. */
static int fmt__collect(const char *s, size_t n, int format, fmt__span **out,
			size_t *count)
{
	size_t pl, c = 0, bytes;
	for (size_t k = fmt__ph_next(s, n, 0, format, &pl); k < n;
	     k = fmt__ph_next(s, n, k + pl, format, &pl))
		c++;
	if (pt_mul_size(c + 1, sizeof(fmt__span), &bytes) != 0)
		return PT_ETOOLARGE;
	fmt__span *v = malloc(bytes);
	if (v == NULL)
		return PT_ENOMEM;
	c = 0;
	for (size_t k = fmt__ph_next(s, n, 0, format, &pl); k < n;
	     k = fmt__ph_next(s, n, k + pl, format, &pl)) {
		v[c].s = s + k;
		v[c++].n = pl;
	}
	qsort(v, c, sizeof *v, fmt__span_cmp);
	*out = v;
	*count = c;
	return 0;
}

/* Walks the two sorted lists side by side, counting the differences. */
static void fmt__compare(const fmt__span *a, size_t na, const fmt__span *b,
			 size_t nb, fmt_report *r)
{
	size_t i = 0, j = 0;
	while (i < na || j < nb) {
		int c = i >= na ? 1 : j >= nb ? -1 : fmt__span_cmp(&a[i], &b[j]);
		if (c == 0) {
			i++;
			j++;
		} else if (c < 0) {
			r->lost++;
			fmt__report_first(r, "placeholder", a[i].s, a[i].n,
					  " lost");
			i++;
		} else {
			int dup = (j > 0 && fmt__span_cmp(&b[j - 1], &b[j]) == 0);
			if (dup) {
				r->duplicated++;
				fmt__report_first(r, "placeholder", b[j].s,
						  b[j].n, " repeated");
			} else {
				r->altered++;
				fmt__report_first(r, "placeholder", b[j].s,
						  b[j].n, " not in the source");
			}
			j++;
		}
	}
}

int fmt_check_placeholders(const char *src, size_t src_len, const char *tr,
			   size_t tr_len, int format, fmt_report *report,
			   pt_err *e)
{
	fmt__span *a = NULL, *b = NULL;
	size_t na, nb;
	fmt_report r;
	int rc;
	if ((src == NULL && src_len) || (tr == NULL && tr_len) || format < 0 ||
	    format >= FMT_FORMAT_COUNT)
		return pt_err_set(e, PT_EINVAL, "fmt_check_placeholders: bad "
				  "arguments");
	memset(&r, 0, sizeof r);
	if ((rc = fmt__collect(src, src_len, format, &a, &na)) != 0 ||
	    (rc = fmt__collect(tr, tr_len, format, &b, &nb)) != 0) {
		free(a);
		return pt_err_set(e, rc, "fmt_check_placeholders: %s",
				  pt_strerror(rc));
	}
	fmt__compare(a, na, b, nb, &r);
	free(a);
	free(b);
	if (report)
		*report = r;
	if (!fmt_report_ok(&r))
		return pt_err_set(e, PT_EFORMAT, "%s", r.first);
	return 0;
}
