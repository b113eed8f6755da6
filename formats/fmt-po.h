/*
 * fmt-po.h: between the PO parser (fmt-po.c) and the PO writer
 * (fmt-po-write.c).
 */
#ifndef FMT_PO_H
#define FMT_PO_H

#include "formats-impl.h"

/* An entry to translate, as the parser saw it. */
typedef struct fmt__po_entry {
	size_t str_a, str_end;      /* the msgstr block */
	const char *id;             /* decoded msgid */
	size_t id_len;
	const char *plural;         /* decoded msgid_plural, NULL if none */
	size_t plural_len;
	const char *ctxt;           /* decoded msgctxt, NULL if none */
	size_t ctxt_len;
	int multiline;              /* msgid written over several lines */
	int nstr;                   /* msgstr lines in the input */
	int fuzzy, format;
} fmt__po_entry;

/* Adds the TEXT piece(s) of an entry to translate. */
int fmt__po_text(fmt_doc *d, const fmt__po_entry *pe, pt_err *e);

/* Adds the header's pieces: its "#," line (flags_a == SIZE_MAX if none)
 * and its msgstr block, whose decoded text is str[0..len). */
int fmt__po_header(fmt_doc *d, size_t flags_a, size_t flags_end,
		   size_t str_a, size_t str_end, int fuzzy, const char *str,
		   size_t len, pt_err *e);

#endif
