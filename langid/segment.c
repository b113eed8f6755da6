/*
 * segment.c: cuts a document into TEXT pieces (sentences, or parts of
 * over-long ones) and GAP pieces (everything around them), so that the
 * caller translates the former and the document comes back with every
 * space, indent, list marker and line end where it was.
 *
 * Lines first (ICU's sentence rules break after every line end anyway,
 * and a line end must never reach a base-model prompt), then the line's
 * indentation, list marker and trailing blanks as gaps, then ICU sentence
 * breaks (with the locale's abbreviation suppressions, "@ss=standard")
 * inside what is left, then the over-long sentences split at clause
 * boundaries. Offsets are UTF-8 byte offsets throughout: the break
 * iterators run over a UTF-8 UText, whose native indexes are bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/ubrk.h>
#include <unicode/uchar.h>
#include <unicode/utext.h>
#include <unicode/utf8.h>

#include "langid.h"
#include "segment-impl.h"

langid_seg_params langid_seg_default_params(void)
{
	langid_seg_params p = { LANGID_UND, 0 };
	return p;
}

/* Appends piece [off, off+len) of kind k, merging neighbouring gaps. */
int seg_push(langid_segs *s, size_t off, size_t len, int k)
{
	if (len == 0)
		return 0;
	if (s->n > 0 && k == LANGID_PIECE_GAP &&
	    s->p[s->n - 1].kind == LANGID_PIECE_GAP &&
	    s->p[s->n - 1].off + s->p[s->n - 1].len == off) {
		s->p[s->n - 1].len += len;
		return 0;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16, bytes;
		if (pt_mul_size(cap, sizeof *s->p, &bytes) != 0)
			return PT_ETOOLARGE;
		seg_piece *np = realloc(s->p, bytes);
		if (np == NULL)
			return PT_ENOMEM;
		s->p = np;
		s->cap = cap;
	}
	seg_piece *p = &s->p[s->n++];
	memset(p, 0, sizeof *p);
	p->off = off;
	p->len = len;
	p->kind = k;
	p->para = s->para;
	return 0;
}

/* Code point at t[*i] (valid UTF-8), advancing *i. */
static UChar32 next_cp(const char *t, size_t *i)
{
	UChar32 c;
	int32_t k = 0;
	U8_NEXT_UNSAFE(t + *i, k, c);
	*i += (size_t)k;
	return c;
}

/* Start of the code point that ends at t[end]. */
static size_t prev_start(const char *t, size_t end)
{
	size_t i = end - 1;
	while (i > 0 && ((unsigned char)t[i] & 0xC0) == 0x80)
		i--;
	return i;
}

int seg_is_space(UChar32 c)
{
	return c == ' ' || c == '\t' || u_isUWhiteSpace(c) || c == 0xFEFF;
}

static size_t skip_spaces(const char *t, size_t i, size_t end)
{
	while (i < end) {
		size_t j = i;
		if (!seg_is_space(next_cp(t, &j)))
			break;
		i = j;
	}
	return i;
}

/* Length of a list marker with the blanks after it at t[i..end), or 0.
 * Markers: bullets (- * + • · ‣ ◦ ▪ – —, and the CJK ・ ● ■ that need no
 * blank after them), "12." "3)" (up to 9 digits), "#" to "######" and
 * ">" quotes. */
static size_t list_marker(const char *t, size_t i, size_t end)
{
	static const UChar32 bullets[] = { '-', '*', '+', 0x2022, 0x00B7,
		0x2023, 0x25E6, 0x25AA, 0x2013, 0x2014, 0 };
	static const UChar32 cjk_bullets[] = { 0x30FB, 0x25CF, 0x25A0, 0 };
	size_t j = i;
	if (i >= end)
		return 0;
	if (t[i] >= '0' && t[i] <= '9') {
		while (j < end && j - i < 9 && t[j] >= '0' && t[j] <= '9')
			j++;
		if (j >= end || (t[j] != '.' && t[j] != ')'))
			return 0;
		j++;
	} else if (t[i] == '#' || t[i] == '>') {
		while (j < end && j - i < 6 && t[j] == t[i])
			j++;
	} else {
		UChar32 c = next_cp(t, &j);
		int ok = 0;
		for (int k = 0; cjk_bullets[k]; k++)
			if (c == cjk_bullets[k])
				return skip_spaces(t, j, end) - i;
		for (int k = 0; bullets[k]; k++)
			ok |= c == bullets[k];
		if (!ok)
			return 0;
	}
	size_t k = skip_spaces(t, j, end);
	return k > j ? k - i : 0;
}

static int has_letter(const char *t, size_t a, size_t b)
{
	while (a < b)
		if (U_GET_GC_MASK(next_cp(t, &a)) & U_GC_L_MASK)
			return 1;
	return 0;
}

/* Pushes t[a..b) as blanks, TEXT (split when over-long), blanks. */
static int push_sentence(seg_ctx *c, size_t a, size_t b)
{
	const char *t = c->segs->text;
	size_t x = skip_spaces(t, a, b), y = b;
	int rc;

	while (y > x) {
		size_t j = prev_start(t, y), k = j;
		if (!seg_is_space(next_cp(t, &k)))
			break;
		y = j;
	}
	if ((rc = seg_push(c->segs, a, x - a, LANGID_PIECE_GAP)) != 0)
		return rc;
	if (y > x) {
		if (!has_letter(t, x, y))
			rc = seg_push(c->segs, x, y - x, LANGID_PIECE_GAP);
		else if (c->max_bytes > 0 && y - x > c->max_bytes)
			rc = seg_split_long(c, x, y);
		else
			rc = seg_push(c->segs, x, y - x, LANGID_PIECE_TEXT);
		if (rc != 0)
			return rc;
	}
	return seg_push(c->segs, y, b - y, LANGID_PIECE_GAP);
}

/* ICU's rules end a sentence after "?" in "x.org/?a=1" and after the
 * opening quote in "です。「引用」": an ASCII terminator ends a sentence
 * only before a blank, and opening brackets and quotes belong to the
 * sentence after them. Returns the adjusted boundary (prev: no break). */
static size_t adjust_break(const char *t, size_t prev, size_t cur,
			   size_t end)
{
	size_t at = cur;
	while (at > prev) {
		size_t j = prev_start(t, at), k = j;
		UChar32 c = next_cp(t, &k);
		if (!(U_GET_GC_MASK(c) & (U_GC_PS_MASK | U_GC_PI_MASK)))
			break;
		at = j;
	}
	if (at < end && at > prev) {
		size_t k = at;
		UChar32 next = next_cp(t, &k);
		char last = t[at - 1];
		if ((last == '.' || last == '?' || last == '!') &&
		    !seg_is_space(next))
			return prev;
	}
	return at;
}

/* The sentences of t[a..b) (one line without its end). */
static int push_sentences(seg_ctx *c, size_t a, size_t b)
{
	UErrorCode st = U_ZERO_ERROR;
	const char *t = c->segs->text;
	int rc = 0;

	c->ut = utext_openUTF8(c->ut, t + a, (int64_t)(b - a), &st);
	ubrk_setUText(c->sent, c->ut, &st);
	if (U_FAILURE(st))
		return PT_EINTERNAL;
	size_t prev = a + (size_t)ubrk_first(c->sent);
	for (int32_t cur = ubrk_next(c->sent); cur != UBRK_DONE && rc == 0;
	     cur = ubrk_next(c->sent)) {
		size_t at = adjust_break(t, prev, a + (size_t)cur, b);
		if (at > prev) {
			rc = push_sentence(c, prev, at);
			prev = at;
		}
	}
	if (rc == 0 && prev < b)
		rc = push_sentence(c, prev, b);
	return rc;
}

/* One line t[a..b) without its line end. */
static int push_line(seg_ctx *c, size_t a, size_t b)
{
	const char *t = c->segs->text;
	size_t i = skip_spaces(t, a, b);
	int rc;

	for (int k = 0; k < 3 && i < b; k++) {
		size_t m = list_marker(t, i, b);
		if (m == 0)
			break;
		/* "- " alone, or "1." before a letter-less rest, is text
		 * like any other; a marker needs something after it. */
		if (!has_letter(t, i + m, b))
			break;
		i += m;
	}
	if ((rc = seg_push(c->segs, a, i - a, LANGID_PIECE_GAP)) != 0)
		return rc;
	return i < b ? push_sentences(c, i, b) : 0;
}

static int open_iterators(seg_ctx *c, int lang, pt_err *e)
{
	UErrorCode st = U_ZERO_ERROR;
	char loc[32] = "@ss=standard";
	const char *code = langid_lang_code(lang);
	if (lang != LANGID_UND && code != NULL)
		snprintf(loc, sizeof loc, "%s@ss=standard", code);
	c->sent = seg_brk_open(UBRK_SENTENCE, loc, &st);
	snprintf(c->locale, sizeof c->locale, "%s",
		 lang != LANGID_UND && code != NULL ? code : "");
	if (U_FAILURE(st))
		return pt_err_set(e, PT_EINTERNAL, "ICU sentence break "
				  "iterator for '%s': %s", loc,
				  u_errorName(st));
	return 0;
}

static void close_ctx(seg_ctx *c)
{
	if (c->sent)
		ubrk_close(c->sent);
	if (c->chars)
		ubrk_close(c->chars);
	if (c->words)
		ubrk_close(c->words);
	if (c->ut)
		utext_close(c->ut);
	if (c->ut2)
		utext_close(c->ut2);
}

static int segment_all(seg_ctx *c)
{
	const char *t = c->segs->text;
	size_t len = c->segs->len, a = 0;
	int rc = 0;

	int blank_run = 0;
	while (a < len && rc == 0) {
		size_t b = a;
		while (b < len && t[b] != '\n' && t[b] != '\r')
			b++;
		size_t e = b;
		if (e < len)
			e += (t[e] == '\r' && e + 1 < len && t[e + 1] == '\n') ?
			     2 : 1;
		/* Blank lines end a paragraph: the next line with text
		 * starts a new one. */
		if (skip_spaces(t, a, b) == b) {
			blank_run = 1;
		} else if (blank_run) {
			blank_run = 0;
			if (c->segs->n > 0)
				c->segs->para++;
		}
		rc = push_line(c, a, b);
		if (rc == 0)
			rc = seg_push(c->segs, b, e - b, LANGID_PIECE_GAP);
		a = e;
	}
	return rc;
}

int langid_segment(const char *text, size_t len,
		   const langid_seg_params *params, langid_segs **out,
		   pt_err *e)
{
	langid_seg_params dp = langid_seg_default_params();
	seg_ctx c;
	int rc;

	if (out == NULL)
		return pt_err_set(e, PT_EINVAL, "langid_segment: NULL output");
	if ((rc = langid_text_check(text, len, e)) != 0)
		return rc;
	if (params == NULL)
		params = &dp;
	if (len > (size_t)INT32_MAX)
		return pt_err_set(e, PT_ETOOLARGE, "text of %zu bytes is over "
				  "the 2 GiB segmentation limit", len);
	memset(&c, 0, sizeof c);
	c.max_bytes = params->max_bytes;
	if (c.max_bytes > 0 && c.max_bytes < 16)
		c.max_bytes = 16;
	c.segs = calloc(1, sizeof *c.segs);
	if (c.segs == NULL || (c.segs->text = malloc(len + 1)) == NULL) {
		free(c.segs);
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	}
	if (len > 0)
		memcpy(c.segs->text, text, len);
	c.segs->text[len] = '\0';
	c.segs->len = len;
	rc = open_iterators(&c, params->lang, e);
	if (rc == 0) {
		rc = segment_all(&c);
		if (rc != 0)
			pt_err_set(e, rc, "segmentation failed: %s",
				   pt_strerror(rc));
	}
	close_ctx(&c);
	if (rc != 0) {
		langid_segs_free(c.segs);
		return rc;
	}
	*out = c.segs;
	return 0;
}
