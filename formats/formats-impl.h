/*
 * formats-impl.h: what the format parsers share: the document and piece
 * structures, a growable byte buffer, and the per-format hooks.
 */
#ifndef FORMATS_IMPL_H
#define FORMATS_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "formats.h"

/* Deepest nesting any parser follows (Markdown containers, HTML inline
 * elements); deeper structure is treated as text or kept as is. */
#define FMT__MAX_DEPTH 64

/* Longest placeholder recognised (a tag, a code span, a link target);
 * anything longer is text. */
#define FMT__PH_MAX 2048

/* A growable byte buffer; every size is overflow-checked. */
typedef struct fmt__buf {
	char *p;
	size_t len, cap;
} fmt__buf;

int fmt__buf_add(fmt__buf *b, const char *s, size_t n);
int fmt__buf_addc(fmt__buf *b, char c);
/* Terminates with NUL (not counted) and hands the bytes over. */
int fmt__buf_finish(fmt__buf *b, char **out, size_t *out_len);
void fmt__buf_done(fmt__buf *b);

/* Roles of pieces the serializer treats specially. */
enum {
	FMT__R_NONE = 0,
	FMT__R_PO_HEADER,      /* KEEP: the header's msgstr block */
	FMT__R_PO_HEADER_FLAGS,/* KEEP: the header's "#, fuzzy" line */
	FMT__R_PO_NO_HEADER,   /* KEEP, empty: where a header is inserted */
	FMT__R_PO_PLURAL_TAIL  /* TEXT, empty raw: msgid_plural's text */
};

typedef struct fmt__piece {
	int kind;
	int role;
	unsigned flags;
	size_t off, len;      /* raw bytes: src[off .. off+len) */
	size_t line;
	char *text;           /* decoded text (NULL: the raw bytes) */
	size_t text_len;
	char *tr;             /* translation, NULL if none */
	size_t tr_len;
	/* Format data: Markdown continuation prefix and hard-break marker,
	 * PO leading/trailing white space, msgctxt, line-end style. */
	char *aux;            /* Markdown: prefix for new lines; PO: ctxt */
	size_t aux_len;
	char *ws;             /* PO: the msgid's leading white space, then
			       * its trailing white space */
	size_t lead, trail;   /* PO: their lengths */
	int crlf;             /* the piece's lines end in CRLF */
	int multiline;        /* PO: msgid was written over several lines */
	int nforms;           /* PO: msgstr[] count in the input */
	char brk[4];          /* Markdown hard-break marker ("  " or "\\") */
} fmt__piece;

struct fmt_doc {
	int format;
	fmt_params params;
	char *src;
	size_t len;
	fmt__piece *p;
	size_t n, cap;
	size_t ntext;
	/* Line counting for pieces added in order. */
	size_t line_off, line_no;
	/* Target language code ("" for none). */
	char target[16];
	int nplurals_header;  /* PO: from the input header, 0 if none */
	int po_header;        /* PO: the input has a header entry */
	char po_lang[32];     /* PO: the header's Language value, or "" */
};

/* Appends a piece covering src[off .. off+len); pieces must tile the
 * input in order. Returns its index through *idx (may be NULL). */
int fmt__add(fmt_doc *d, int kind, size_t off, size_t len, size_t *idx,
	     pt_err *e);
/* Adds KEEP up to off (if anything is left before it). */
int fmt__keep_to(fmt_doc *d, size_t off, pt_err *e);
/* End offset of the last piece. */
size_t fmt__end(const fmt_doc *d);
/* Sets the decoded text of piece i (copied). */
int fmt__set_text(fmt_doc *d, size_t i, const char *s, size_t n,
		  pt_err *e);
/* Adds a TEXT piece for src[off..off+len) trimmed of white space at both
 * ends (the white space as KEEP); a run with no letters or digits... of
 * only white space is KEEP. */
int fmt__text_trimmed(fmt_doc *d, size_t off, size_t len, pt_err *e);

int fmt__is_space(unsigned char c);
/* Whether the first line end at or after off is CRLF. */
int fmt__crlf_at(const fmt_doc *d, size_t off);

/* Parsers: fill d's pieces from d->src. */
int fmt__parse_text(fmt_doc *d, pt_err *e);
int fmt__parse_markdown(fmt_doc *d, pt_err *e);
int fmt__parse_srt(fmt_doc *d, pt_err *e);
int fmt__parse_po(fmt_doc *d, pt_err *e);
int fmt__parse_html(fmt_doc *d, pt_err *e);

/* Writers of one translated TEXT piece (or a PO special role). */
int fmt__emit_markdown(const fmt_doc *d, const fmt__piece *p, fmt__buf *b);
int fmt__emit_srt(const fmt_doc *d, const fmt__piece *p, fmt__buf *b);
int fmt__emit_po(const fmt_doc *d, size_t i, fmt__buf *b);
int fmt__emit_html(const fmt_doc *d, const fmt__piece *p, fmt__buf *b);

/* Nonzero if s[0..n) holds a placeholder of format (placeholders.c). */
int fmt__ph_any(const char *s, size_t n, int format);
/* Nonzero if s[0..n) has a letter (any non-ASCII character counts)
 * outside placeholders: something to translate. */
int fmt__ph_has_words(const char *s, size_t n, int format);
/* Length of the placeholder that starts at s[i] (i < n), or 0. */
size_t fmt__ph_at(const char *s, size_t n, size_t i, int format);

/* HTML entity decoding for one reference at s[0..n) starting with '&':
 * returns the bytes consumed (0 if not an entity) and the code point. */
size_t fmt__html_entity(const char *s, size_t n, uint32_t *cp);
/* Writes code point cp as UTF-8 into out (4 bytes room); returns bytes. */
size_t fmt__utf8_put(uint32_t cp, char *out);

#endif
