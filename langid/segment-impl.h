/*
 * segment-impl.h: what segment.c, split.c and segs.c share. Private to
 * langid/.
 */
#ifndef LANGID_SEGMENT_IMPL_H
#define LANGID_SEGMENT_IMPL_H

#include <stddef.h>

#include <unicode/ubrk.h>
#include <unicode/utext.h>

#include "langid.h"

typedef struct seg_piece {
	size_t off, len;     /* the original bytes: text[off .. off+len) */
	int kind;            /* LANGID_PIECE_TEXT or LANGID_PIECE_GAP */
	size_t para;         /* paragraph number, from 0 */
	char *repl;          /* replacement set by langid_segs_set, or NULL */
	size_t repl_len;
} seg_piece;

struct langid_segs {
	char *text;          /* copy of the input, NUL-terminated */
	size_t len;
	seg_piece *p;
	size_t n, cap;
	size_t para;         /* paragraph of the pieces being pushed */
};

/* State of one langid_segment call. */
typedef struct seg_ctx {
	langid_segs *segs;
	size_t max_bytes;
	UBreakIterator *sent;   /* sentences, for the source locale */
	UBreakIterator *chars;  /* graphemes, opened when a split needs it */
	UBreakIterator *words;  /* words (dictionaries for Thai, CJK), too */
	char locale[8];
	UText *ut, *ut2;
} seg_ctx;

/* A break iterator of kind for locale, cloned from one kept per (kind,
 * locale) so that the rules load once per process; the caller closes it
 * with ubrk_close. NULL with *st set on failure. Thread-safe. */
UBreakIterator *seg_brk_open(UBreakIteratorType kind, const char *locale,
			     UErrorCode *st);
/* Appends a piece (gaps merge with a gap just before); 0 or PT_E*. */
int seg_push(langid_segs *s, size_t off, size_t len, int kind);
/* Nonzero for white space (Unicode White_Space, tab, BOM). */
int seg_is_space(UChar32 c);
/* Pushes the over-long sentence text[a..b) (no blanks at either end) as
 * TEXT pieces of at most max_bytes each, with the blanks between them
 * as gaps. */
int seg_split_long(seg_ctx *c, size_t a, size_t b);

#endif
