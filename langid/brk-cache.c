/*
 * brk-cache.c: ICU break iterators opened once per kind and locale.
 *
 * Opening a sentence or word break iterator loads and compiles the
 * locale's rules and suppression lists: about half a millisecond, which
 * every segment call (one per translate request, one per document) paid.
 * A clone of an opened iterator costs a few microseconds, so the first
 * iterator of each (kind, locale) is kept as a template and callers get
 * clones. ubrk_clone is safe on a template other threads also clone,
 * since a template is never given text nor moved.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "segment-impl.h"

#define BRK_CACHE_MAX 64 /* 3 kinds x 19 locales fits */

typedef struct brk_entry {
	UBreakIteratorType kind;
	char locale[32];
	UBreakIterator *tmpl;
} brk_entry;

static pthread_mutex_t brk_lock = PTHREAD_MUTEX_INITIALIZER;
static brk_entry brk_cache[BRK_CACHE_MAX];
static int brk_n;

/* The template for (kind, locale), opened on first use; *cached is 0
 * when the cache is full and the iterator returned is a fresh one. */
static UBreakIterator *brk_template(UBreakIteratorType kind,
				    const char *locale, int *cached,
				    UErrorCode *st)
{
	*cached = 1;
	for (int i = 0; i < brk_n; i++)
		if (brk_cache[i].kind == kind &&
		    strcmp(brk_cache[i].locale, locale) == 0)
			return brk_cache[i].tmpl;
	UBreakIterator *b = ubrk_open(kind, locale, NULL, 0, st);
	if (U_FAILURE(*st))
		return NULL;
	/* A full cache (more locales than expected) is no error: the
	 * iterator is then the caller's own rather than a template. */
	if (brk_n == BRK_CACHE_MAX ||
	    strlen(locale) >= sizeof brk_cache[0].locale) {
		*cached = 0;
		return b;
	}
	brk_entry *en = &brk_cache[brk_n++];
	en->kind = kind;
	snprintf(en->locale, sizeof en->locale, "%s", locale);
	en->tmpl = b;
	return b;
}

UBreakIterator *seg_brk_open(UBreakIteratorType kind, const char *locale,
			     UErrorCode *st)
{
	int cached;
	pthread_mutex_lock(&brk_lock);
	UBreakIterator *t = brk_template(kind, locale, &cached, st);
	UBreakIterator *out = t != NULL && cached ? ubrk_clone(t, st) : t;
	pthread_mutex_unlock(&brk_lock);
	return U_FAILURE(*st) ? NULL : out;
}
