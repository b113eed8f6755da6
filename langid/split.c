/*
 * split.c: cuts a sentence longer than the caller's byte limit into
 * pieces that fit, so that prompt and answer stay inside the model's
 * context. Cuts go, in order of preference, after a clause mark (, ; :
 * and the CJK 、，；：) in the last two thirds of the window, at the last
 * space, after any clause mark, at a word boundary (ICU's word break
 * iterator, whose dictionaries find words in Thai and CJK text) and last
 * at a grapheme boundary: never inside a UTF-8 sequence or a grapheme.
 */
#include <string.h>

#include <unicode/uchar.h>
#include <unicode/utf8.h>

#include "segment-impl.h"

static int is_clause_mark(UChar32 c, int *needs_space)
{
	switch (c) {
	case ',': case ';': case ':':
		*needs_space = 1;
		return 1;
	case 0x3001: case 0xFF0C: case 0xFF1B: case 0xFF1A: case 0x060C:
	case 0x061B:
		*needs_space = c == 0x060C || c == 0x061B;
		return 1;
	default:
		return 0;
	}
}

/* Grapheme boundary test for an offset inside the sentence [a, ..). */
static int at_grapheme(seg_ctx *c, size_t a, size_t pos)
{
	return ubrk_isBoundary(c->chars, (int32_t)(pos - a)) != 0;
}

/* Where to cut the text starting at x so that the first part ends at or
 * before lim; a is the sentence start (for the grapheme iterator). */
static size_t best_cut(seg_ctx *c, size_t a, size_t x, size_t lim,
		       size_t end)
{
	const char *t = c->segs->text;
	size_t clause = 0, late_clause = 0, space = 0;
	size_t third = x + (lim - x) / 3;

	for (size_t i = x; i < lim;) {
		size_t at = i;
		int32_t k = 0;
		UChar32 ch;
		int needs_space = 0;
		U8_NEXT_UNSAFE(t + i, k, ch);
		i += (size_t)k;
		if (seg_is_space(ch) && at > x && at_grapheme(c, a, at))
			space = at;
		if (is_clause_mark(ch, &needs_space) && i <= lim && i < end) {
			size_t j = i;
			int32_t k2 = 0;
			UChar32 next;
			U8_NEXT_UNSAFE(t + j, k2, next);
			if ((!needs_space || seg_is_space(next)) &&
			    at_grapheme(c, a, i)) {
				clause = i;
				if (i >= third)
					late_clause = i;
			}
		}
	}
	if (late_clause)
		return late_clause;
	if (space)
		return space;
	if (clause)
		return clause;
	int32_t w = ubrk_preceding(c->words, (int32_t)(lim - a) + 1);
	if (w != UBRK_DONE && a + (size_t)w > x && at_grapheme(c, a, a + w))
		return a + (size_t)w;
	int32_t g = ubrk_preceding(c->chars, (int32_t)(lim - a) + 1);
	if (g == UBRK_DONE || a + (size_t)g <= x)
		g = ubrk_following(c->chars, (int32_t)(x - a));
	return g == UBRK_DONE ? end : a + (size_t)g;
}

/* Pushes text[x..y) as TEXT with its trailing blanks as a gap. */
static int push_trimmed(seg_ctx *c, size_t x, size_t y)
{
	const char *t = c->segs->text;
	size_t z = y;
	int rc;
	while (z > x) {
		size_t j = z - 1;
		while (j > x && ((unsigned char)t[j] & 0xC0) == 0x80)
			j--;
		int32_t k = 0;
		UChar32 ch;
		U8_NEXT_UNSAFE(t + j, k, ch);
		if (!seg_is_space(ch))
			break;
		z = j;
	}
	if ((rc = seg_push(c->segs, x, z - x, LANGID_PIECE_TEXT)) != 0)
		return rc;
	return seg_push(c->segs, z, y - z, LANGID_PIECE_GAP);
}

int seg_split_long(seg_ctx *c, size_t a, size_t b)
{
	UErrorCode st = U_ZERO_ERROR;
	const char *t = c->segs->text;
	size_t x = a;
	int rc;

	if (c->chars == NULL)
		c->chars = seg_brk_open(UBRK_CHARACTER, "", &st);
	if (c->words == NULL && U_SUCCESS(st))
		c->words = seg_brk_open(UBRK_WORD, c->locale, &st);
	c->ut2 = utext_openUTF8(c->ut2, t + a, (int64_t)(b - a), &st);
	if (U_SUCCESS(st))
		ubrk_setUText(c->chars, c->ut2, &st);
	if (U_SUCCESS(st))
		ubrk_setUText(c->words, c->ut2, &st);
	if (U_FAILURE(st))
		return PT_EINTERNAL;
	while (b - x > c->max_bytes) {
		size_t cut = best_cut(c, a, x, x + c->max_bytes, b);
		if (cut <= x || cut > b)
			return PT_EINTERNAL;
		if ((rc = push_trimmed(c, x, cut)) != 0)
			return rc;
		size_t y = cut;
		while (y < b) {
			size_t j = y;
			int32_t k = 0;
			UChar32 ch;
			U8_NEXT_UNSAFE(t + j, k, ch);
			if (!seg_is_space(ch))
				break;
			y = j + (size_t)k;
		}
		if ((rc = seg_push(c->segs, cut, y - cut,
				   LANGID_PIECE_GAP)) != 0)
			return rc;
		x = y;
	}
	return x < b ? seg_push(c->segs, x, b - x, LANGID_PIECE_TEXT) : 0;
}
