/*
 * fmt-po.c: gettext catalogues (.po, .pot), parsing. Comments, flags,
 * msgctxt, msgid and msgid_plural are KEEP. The msgstr block of an entry
 * to translate is a TEXT piece whose text is the msgid (C escapes undone,
 * multi-line strings joined, leading and trailing white space such as a
 * final "\n" left outside); a plural entry adds an empty TEXT piece
 * holding msgid_plural. Writing a translation replaces the msgstr block
 * (fmt-po-write.c); msgids never change.
 *
 * Entries to translate: msgid not empty, not obsolete (#~), and msgstr
 * empty, unless params.po_retranslate. Fuzzy entries are translated and
 * keep their flag unless params.po_skip_fuzzy (see formats.h).
 */
#include <stdlib.h>

#include "formats-impl.h"
#include "fmt-po.h"

typedef struct fmt__entry {
	size_t line;              /* line of the first keyword */
	int has_ctxt, has_id, has_plural, nstr, str_nonempty;
	int fuzzy, format, id_lines;
	int key;                  /* the keyword strings now go to */
	size_t flags_a, flags_end;/* the "#," line, if any */
	size_t str_a, str_end;    /* the msgstr block */
	fmt__buf ctxt, id, plural, str0, scratch;
} fmt__entry;

enum { FMT__K_NONE, FMT__K_CTXT, FMT__K_ID, FMT__K_PLURAL, FMT__K_STR };

static void fmt__entry_reset(fmt__entry *en)
{
	fmt__buf_done(&en->ctxt);
	fmt__buf_done(&en->id);
	fmt__buf_done(&en->plural);
	fmt__buf_done(&en->str0);
	fmt__buf_done(&en->scratch);
	memset(en, 0, sizeof *en);
	en->flags_a = SIZE_MAX;
}

/* The byte a one-letter escape \c stands for, 0 if none. */
static char fmt__po_simple_escape(char c)
{
	switch (c) {
	case 'n': return '\n';
	case 't': return '\t';
	case 'r': return '\r';
	case 'a': return '\a';
	case 'b': return '\b';
	case 'f': return '\f';
	case 'v': return '\v';
	case '"': return '"';
	case '\\': return '\\';
	case '\'': return '\'';
	case '?': return '?';
	default: return 0;
	}
}

/* Decodes the C string starting at s[i] ('"') into b, up to its closing
 * quote; only white space may follow on the line [.., end). */
static int fmt__po_string(const char *s, size_t i, size_t end, fmt__buf *b,
			  size_t line, pt_err *e)
{
	int rc = 0;
	for (i++; i < end && rc == 0; i++) {
		unsigned char c = (unsigned char)s[i], v = 0;
		if (c == '"') {
			for (i++; i < end; i++)
				if (!fmt__is_space((unsigned char)s[i]))
					return pt_err_set(e, PT_EFORMAT, "line %zu: "
							  "text after the closing "
							  "quote", line);
			return 0;
		}
		if (c != '\\') {
			rc = fmt__buf_addc(b, (char)c);
			continue;
		}
		if (++i >= end)
			break;
		c = (unsigned char)s[i];
		char x = fmt__po_simple_escape((char)c);
		if (x != 0) {
			rc = fmt__buf_addc(b, x);
		} else if (c >= '0' && c <= '7') {
			for (int k = 0; k < 3 && i < end && s[i] >= '0' &&
					s[i] <= '7'; k++, i++)
				v = (unsigned char)(v * 8 + (unsigned char)(s[i] - '0'));
			i--;
			rc = fmt__buf_addc(b, (char)v);
		} else if (c == 'x') {
			int k = 0;
			for (i++; i < end && k < 2 && strchr("0123456789abcdef"
				  "ABCDEF", s[i]) && s[i] != '\0'; i++, k++)
				v = (unsigned char)(v * 16 + (s[i] <= '9' ? s[i] - '0'
					: (s[i] | 0x20) - 'a' + 10));
			i--;
			if (k == 0)
				return pt_err_set(e, PT_EFORMAT, "line %zu: \\x "
						  "without hex digits", line);
			rc = fmt__buf_addc(b, (char)v);
		} else {
			return pt_err_set(e, PT_EFORMAT, "line %zu: unknown "
					  "escape \\%c", line, c);
		}
	}
	if (rc != 0)
		return pt_err_set(e, rc, "line %zu: %s", line, pt_strerror(rc));
	return pt_err_set(e, PT_EFORMAT, "line %zu: unterminated string "
			  "(no closing quote on the line)", line);
}

/* Records the flags of a "#," comment line. */
static void fmt__po_flags(fmt__entry *en, const char *s, size_t a, size_t end)
{
	for (size_t i = a + 2; i < end;) {
		while (i < end && (fmt__is_space((unsigned char)s[i]) ||
				   s[i] == ','))
			i++;
		size_t w = i;
		while (i < end && !fmt__is_space((unsigned char)s[i]) &&
		       s[i] != ',')
			i++;
		if (i - w == 5 && memcmp(s + w, "fuzzy", 5) == 0)
			en->fuzzy = 1;
		else if (i - w > 7 && memcmp(s + i - 7, "-format", 7) == 0 &&
			 !(i - w > 3 && memcmp(s + w, "no-", 3) == 0))
			en->format = 1;
	}
}

/* The TEXT pieces (or header roles) of a finished entry. */
static int fmt__po_finish(fmt_doc *d, fmt__entry *en, size_t line, pt_err *e)
{
	int rc = 0;
	if (!en->has_id) {
		if (en->nstr || en->has_ctxt)
			rc = pt_err_set(e, PT_EFORMAT, "line %zu: entry without "
					"msgid", en->line ? en->line : line);
	} else if (!en->nstr) {
		rc = pt_err_set(e, PT_EFORMAT, "line %zu: msgid without msgstr",
				en->line);
	} else if (pt_utf8_check(en->id.p, en->id.len, NULL) != 0 ||
		   pt_utf8_check(en->plural.p, en->plural.len, NULL) != 0 ||
		   pt_utf8_check(en->str0.p, en->str0.len, NULL) != 0) {
		rc = pt_err_set(e, PT_EUTF8, "line %zu: an escape makes "
				"invalid UTF-8", en->line);
	} else if (en->id.len == 0 && !en->has_ctxt && !d->po_header) {
		d->po_header = 1;
		rc = fmt__po_header(d, en->flags_a, en->flags_end, en->str_a,
				    en->str_end, en->fuzzy ? 1 : 0, en->str0.p,
				    en->str0.len, e);
	} else if (en->id.len > 0 &&
		   !(en->fuzzy && d->params.po_skip_fuzzy) &&
		   (!en->str_nonempty || d->params.po_retranslate ||
		    en->fuzzy)) {
		fmt__po_entry pe = {
			en->str_a, en->str_end, en->id.p, en->id.len,
			en->has_plural ? en->plural.p : NULL, en->plural.len,
			en->has_ctxt ? en->ctxt.p : NULL, en->ctxt.len,
			en->id_lines > 1, en->nstr, en->fuzzy, en->format
		};
		rc = fmt__po_text(d, &pe, e);
	}
	fmt__entry_reset(en);
	return rc;
}

/* Decodes a string of the current keyword at s[j..end) and notes it. */
static int fmt__po_append(fmt__entry *en, const char *s, size_t j,
			  size_t end, size_t line, pt_err *e)
{
	fmt__buf *b = en->key == FMT__K_CTXT ? &en->ctxt
		    : en->key == FMT__K_ID ? &en->id
		    : en->key == FMT__K_PLURAL ? &en->plural
		    : en->nstr > 1 ? &en->scratch : &en->str0;
	/* Of the msgstr[n] after the first only the emptiness counts. */
	int rc = fmt__po_string(s, j, end, b, line, e);
	if (rc != 0)
		return rc;
	if (en->key == FMT__K_STR) {
		en->str_end = end;
		en->str_nonempty |= b->len > 0;
		en->scratch.len = 0;
	}
	return 0;
}

/* Handles a keyword line "msgid "..."" at s[c..end). */
static int fmt__po_keyword(fmt_doc *d, fmt__entry *en, size_t a, size_t c,
			   size_t end, size_t line, pt_err *e)
{
	static const char *const words[] = { "msgctxt", "msgid_plural",
					     "msgid", "msgstr" };
	static const int keys[] = { FMT__K_CTXT, FMT__K_PLURAL, FMT__K_ID,
				    FMT__K_STR };
	const char *s = d->src;
	int key = FMT__K_NONE, rc;
	size_t j = c;
	for (size_t k = 0; k < 4; k++) {
		size_t l = strlen(words[k]);
		if (end - c >= l && memcmp(s + c, words[k], l) == 0) {
			key = keys[k];
			j = c + l;
			break;
		}
	}
	if (key == FMT__K_STR && j < end && s[j] == '[') {
		while (j < end && s[j] != ']')
			j++;
		j++;
	}
	if (key == FMT__K_NONE || (j < end && !fmt__is_space((unsigned char)s[j])))
		return pt_err_set(e, PT_EFORMAT, "line %zu: unknown keyword "
				  "(expected msgctxt, msgid, msgid_plural or "
				  "msgstr)", line);
	/* A msgctxt or msgid after a msgstr starts the next entry. */
	if ((key == FMT__K_CTXT || key == FMT__K_ID) && en->nstr &&
	    (rc = fmt__po_finish(d, en, line, e)) != 0)
		return rc;
	if ((key == FMT__K_ID && en->has_id) ||
	    (key == FMT__K_CTXT && (en->has_ctxt || en->has_id)) ||
	    (key == FMT__K_PLURAL && (!en->has_id || en->has_plural ||
				      en->nstr)) ||
	    (key == FMT__K_STR && !en->has_id))
		return pt_err_set(e, PT_EFORMAT, "line %zu: %.*s out of place",
				  line, (int)(j - c), s + c);
	while (j < end && fmt__is_space((unsigned char)s[j]))
		j++;
	if (j >= end || s[j] != '"')
		return pt_err_set(e, PT_EFORMAT, "line %zu: keyword without a "
				  "quoted string", line);
	if (!en->line)
		en->line = line;
	en->key = key;
	if (key == FMT__K_CTXT)
		en->has_ctxt = 1;
	else if (key == FMT__K_ID)
		en->has_id = en->id_lines = 1;
	else if (key == FMT__K_PLURAL)
		en->has_plural = 1;
	else if (en->nstr++ == 0)
		en->str_a = a;
	return fmt__po_append(en, s, j, end, line, e);
}

/* A line that starts with a quote continues the current keyword. */
static int fmt__po_continue(fmt__entry *en, const char *s, size_t c,
			    size_t end, size_t line, pt_err *e)
{
	if (en->key == FMT__K_NONE)
		return pt_err_set(e, PT_EFORMAT, "line %zu: string without a "
				  "keyword before it", line);
	if (en->key == FMT__K_ID)
		en->id_lines++;
	return fmt__po_append(en, s, c, end, line, e);
}

/* A comment line; "#," lines carry the flags. */
static int fmt__po_comment(fmt_doc *d, fmt__entry *en, size_t a, size_t c,
			   size_t end, size_t next, size_t line, pt_err *e)
{
	int rc;
	/* A comment after a msgstr belongs to the next entry. */
	if (en->nstr && (rc = fmt__po_finish(d, en, line, e)) != 0)
		return rc;
	en->key = FMT__K_NONE;
	if (end - c >= 2 && d->src[c + 1] == ',') {
		fmt__po_flags(en, d->src, c, end);
		en->flags_a = a;
		en->flags_end = next;
	}
	return 0;
}

int fmt__parse_po(fmt_doc *d, pt_err *e)
{
	const char *s = d->src;
	size_t i = 0, line = 1;
	fmt__entry en;
	int rc = 0;
	memset(&en, 0, sizeof en);
	fmt__entry_reset(&en);
	if (d->len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0 &&
	    (rc = fmt__add(d, FMT_KEEP, 0, 3, NULL, e)) != 0)
		return rc;
	/* Where a header goes if the file has none. */
	if ((rc = fmt__add(d, FMT_KEEP, fmt__end(d), 0, NULL, e)) != 0)
		return rc;
	d->p[d->n - 1].role = FMT__R_PO_NO_HEADER;
	for (i = fmt__end(d); rc == 0 && i < d->len; line++) {
		size_t a = i, end = i, next, c;
		while (end < d->len && s[end] != '\n')
			end++;
		next = end < d->len ? end + 1 : end;
		if (end > a && s[end - 1] == '\r')
			end--;
		for (c = a; c < end && fmt__is_space((unsigned char)s[c]); c++)
			;
		if (c == end)
			rc = fmt__po_finish(d, &en, line, e);
		else if (s[c] == '#')
			rc = fmt__po_comment(d, &en, a, c, end, next, line, e);
		else if (s[c] == '"')
			rc = fmt__po_continue(&en, s, c, end, line, e);
		else
			rc = fmt__po_keyword(d, &en, a, c, end, line, e);
		i = next;
	}
	if (rc == 0)
		rc = fmt__po_finish(d, &en, line, e);
	fmt__entry_reset(&en);
	if (rc == 0 && d->po_header)
		d->p[0 + (d->p[0].role != FMT__R_PO_NO_HEADER)].role = FMT__R_NONE;
	return rc;
}
