/*
 * formats.h: document formats for batch jobs. A document (plain text,
 * Markdown, SubRip, gettext PO/POT, HTML) is parsed into an ordered list
 * of pieces, each either FMT_KEEP (bytes copied to the output untouched:
 * markup, code, timings, msgids, ...) or FMT_TEXT (one unit to translate:
 * a paragraph, a heading, a subtitle's text, a msgid, an HTML text run or
 * a title/alt attribute value). Concatenating the original bytes of all
 * pieces gives back the input byte for byte.
 *
 * A TEXT piece has two faces: its raw bytes (what the input holds) and
 * its text (what a translator sees): escapes undone (HTML entities other
 * than &amp; &lt; &gt;, PO C escapes and multi-line strings), Markdown
 * continuation prefixes removed and soft line breaks turned into spaces,
 * leading and trailing white space left outside. The caller translates
 * the text, hands the result back with fmt_piece_set, and
 * fmt_doc_serialize writes the document, redoing the escapes; a text set
 * back unchanged keeps its original bytes (entities and all).
 *
 * Usage for a job:
 *     fmt_parse(data, len, &params, &doc, &e);
 *     fmt_doc_set_target(doc, "de", &e);          // PO header, plurals
 *     for each i with fmt_piece_kind(doc, i) == FMT_TEXT:
 *         text = fmt_piece_text(doc, i, &n);
 *         fmt_protect(text, n, fmt_doc_format(doc), &prot, &e);
 *         ... cut fmt_protected_text(prot) into sentences with
 *             langid_segment, translate them, join ...
 *         fmt_restore(prot, tr, tr_len, &out, &out_len, &report, &e);
 *         fmt_check_placeholders(text, n, out, out_len, format,
 *                                &report, &e);
 *         if report shows a loss: retry, else flag the piece;
 *         fmt_piece_set(doc, i, out, out_len, &e);
 *     fmt_doc_serialize(doc, &result, &result_len, &e);
 *
 * Piece indices depend only on the input bytes and the parse parameters,
 * so a journal of finished pieces can name them by index.
 *
 * Inputs must be valid UTF-8 (an optional BOM is kept). Parsers never
 * read outside the buffer, bound their nesting, and report what they
 * cannot parse with a line number ("line 12: unterminated string").
 * A fmt_doc is not thread-safe: one thread at a time may call
 * fmt_piece_set; reading functions may run concurrently with each other.
 */
#ifndef FORMATS_H
#define FORMATS_H

#include <stddef.h>
#include <stdint.h>

#include "pt.h"

/* ---- Formats ------------------------------------------------------------ */

enum {
	FMT_FORMAT_TEXT = 0,    /* plain text: paragraphs between blank lines */
	FMT_FORMAT_MARKDOWN,    /* CommonMark-style Markdown (with tables) */
	FMT_FORMAT_SRT,         /* SubRip subtitles */
	FMT_FORMAT_PO,          /* gettext .po and .pot catalogues */
	FMT_FORMAT_HTML,        /* HTML and XHTML pages */
	FMT_FORMAT_COUNT
};

/* Canonical name of a format ("text", "markdown", "srt", "po", "html");
 * NULL out of range. Static storage. */
const char *fmt_format_name(int format);
/* All canonical names, space-separated. */
const char *fmt_format_names(void);

/*
 * Finds a format by name, case-insensitively: the canonical names and
 * "txt", "plain", "md", "subrip", "pot", "gettext", "htm", "xhtml".
 * Returns 0 and sets *format, or PT_ENOTFOUND with a message listing the
 * names (PT_EINVAL for NULL).
 */
int fmt_format_find(const char *name, int *format, pt_err *e);

/*
 * The format a file name's extension implies (.txt .md .markdown .srt .po
 * .pot .html .htm .xhtml, any case). Returns 0 and sets *format, or
 * PT_ENOTFOUND (and *format = FMT_FORMAT_TEXT) for other names, which a
 * caller may treat as plain text.
 */
int fmt_format_from_path(const char *path, int *format);

/* ---- Parsing ------------------------------------------------------------ */

enum { FMT_KEEP = 0, FMT_TEXT = 1 };

/* What a translator should know about a TEXT piece (fmt_piece_flags). */
enum {
	FMT_F_MARKUP = 1u << 0,    /* holds inline markup or placeholders:
				    * use fmt_protect before translating */
	FMT_F_ATTRIBUTE = 1u << 1, /* an HTML attribute value (alt, title) */
	FMT_F_HEADING = 1u << 2,   /* a heading or a page title */
	FMT_F_LINES = 1u << 3,     /* its '\n' are meaningful line breaks
				    * (subtitle lines, hard breaks, PO
				    * strings); keep about as many */
	FMT_F_PLURAL = 1u << 4,    /* PO msgid_plural (the plural form) */
	FMT_F_FUZZY = 1u << 5,     /* PO entry marked fuzzy */
	FMT_F_FORMAT_STRING = 1u << 6, /* PO entry flagged *-format: its
					* directives must survive */
	FMT_F_TABLE = 1u << 7,     /* a Markdown table cell */
	FMT_F_CODE_INSIDE = 1u << 8 /* holds inline code (HTML <code>,
				     * Markdown `...`), a placeholder */
};

typedef struct fmt_params {
	int format;             /* FMT_FORMAT_* */
	/* PO: also translate entries that already have a msgstr (their
	 * translation is replaced). Default 0: left alone. */
	int po_retranslate;
	/* PO: fuzzy entries. Their msgstr is an unreviewed guess (msgfmt
	 * ignores it), so by default (0) they are translated like empty
	 * ones and keep their fuzzy flag, so a person still reviews the
	 * machine translation. 1 leaves fuzzy entries alone. */
	int po_skip_fuzzy;
	/* Largest input accepted, bytes; 0 means 256 MiB. */
	size_t max_bytes;
} fmt_params;

/* Defaults: plain text, the PO choices above, 256 MiB. */
fmt_params fmt_default_params(void);

typedef struct fmt_doc fmt_doc;

/*
 * Parses data[0..len) (need not be NUL-terminated; the document keeps its
 * own copy). Returns 0 and a new document in *out, or PT_EINVAL,
 * PT_EUTF8 (line and byte in the message), PT_EFORMAT (what could not be
 * parsed, with its line: a PO string left open, an unknown PO keyword,
 * subtitle text without a timing line), PT_ETOOLARGE, PT_ENOMEM. Plain
 * text, Markdown and HTML accept any valid UTF-8. Free with fmt_doc_free.
 */
int fmt_parse(const char *data, size_t len, const fmt_params *params,
	      fmt_doc **out, pt_err *e);
/* Frees a document; NULL is a no-op. */
void fmt_doc_free(fmt_doc *d);

int fmt_doc_format(const fmt_doc *d);
/* Number of pieces, and of TEXT pieces among them (for progress). */
size_t fmt_doc_count(const fmt_doc *d);
size_t fmt_doc_text_count(const fmt_doc *d);

/* FMT_KEEP or FMT_TEXT; -1 for i out of range. */
int fmt_piece_kind(const fmt_doc *d, size_t i);
/* The original bytes of piece i (not NUL-terminated; may be empty: a PO
 * plural form lives in its singular's msgstr block) and their length.
 * NULL out of range. Valid until the document is freed. */
const char *fmt_piece_raw(const fmt_doc *d, size_t i, size_t *len);
/* The text to translate of a TEXT piece (UTF-8, NUL-terminated); for a
 * KEEP piece its raw bytes (not terminated). NULL out of range. */
const char *fmt_piece_text(const fmt_doc *d, size_t i, size_t *len);
/* FMT_F_* flags of piece i (0 for KEEP pieces and out of range). */
unsigned fmt_piece_flags(const fmt_doc *d, size_t i);
/* 1-based line of the first byte of piece i in the input; 0 out of
 * range. */
size_t fmt_piece_line(const fmt_doc *d, size_t i);
/* Context a translator may use: the PO msgctxt, else NULL. */
const char *fmt_piece_context(const fmt_doc *d, size_t i);

/*
 * Sets the translation of TEXT piece i to tr[0..len) (UTF-8, copied), in
 * the same form fmt_piece_text gives: no escapes, '\n' for line breaks.
 * White space at its ends is dropped (the source's stays around it).
 * Setting it again replaces it. Returns 0, PT_EINVAL (out of range, a
 * KEEP piece), PT_EUTF8, PT_ENOMEM.
 */
int fmt_piece_set(fmt_doc *d, size_t i, const char *tr, size_t len,
		  pt_err *e);
/* Removes the translation of piece i (its raw bytes are written again). */
void fmt_piece_unset(fmt_doc *d, size_t i);

/*
 * Names the target language (any form langid_lang_find accepts, "de",
 * "pt-BR"). Used by PO: the header gets "Language:", the target's
 * "Plural-Forms:" and "Content-Type: text/plain; charset=UTF-8" (a header
 * is added if the file has none, and its fuzzy flag is dropped), and
 * plural entries get the target's number of msgstr[n]. Without a target
 * the header is kept and plurals follow its Plural-Forms (else 2).
 * Returns 0 or PT_ELANG (an unknown language, or a PO catalogue whose
 * Language header names another language: its translations are in that
 * one).
 */
int fmt_doc_set_target(fmt_doc *d, const char *lang, pt_err *e);

/* Number of plural forms and the Plural-Forms value gettext uses for a
 * language code; 0 and NULL for an unknown code. */
int fmt_plural_forms(const char *lang, const char **expr);

/*
 * Writes the document: KEEP pieces and untranslated TEXT pieces as their
 * raw bytes, translated ones in the format's syntax (PO: into msgstr with
 * C escapes, the msgid kept). With nothing set and no target, the output
 * equals the input byte for byte. *out is NUL-terminated (free with
 * free()). Returns 0, PT_ENOMEM, PT_ETOOLARGE.
 */
int fmt_doc_serialize(const fmt_doc *d, char **out, size_t *out_len,
		      pt_err *e);

/* ---- Placeholders ------------------------------------------------------- */

/*
 * Inside a text, placeholders are what a translation must carry over
 * unchanged: printf directives (%s %d %1$d %.2f %%), Python %(name)s,
 * braces {name} {0} {0:.2f} {{name}}, ${x} and $1, URLs, HTML/XML tags
 * (<b> </b> <br/> <a href="...">) and entities (&amp; &#169;), and per
 * format: Markdown code spans, emphasis markers (** __ * _ ~~), link
 * brackets and targets ("[", "](url)"), backslash escapes; SubRip {\an8}
 * overrides; HTML <code>...</code> spans whole.
 *
 * fmt_protect replaces each by a numbered token ⟦1⟧ ⟦2⟧ ...: brackets no
 * text uses (U+27E6 U+27E7), so a token never merges with a word and is
 * never taken for markup of the document, around ASCII digits, which
 * models copy reliably. fmt_restore accepts the forms a model tends to
 * write instead (spaces inside, full-width digits).
 */
typedef struct fmt_protected fmt_protected;

/* Result of a check: counts per kind of damage and the first problem in
 * words ("placeholder %1$s lost"). */
typedef struct fmt_report {
	size_t lost;        /* in the source, missing in the translation */
	size_t duplicated;  /* more often in the translation than in the
			     * source */
	size_t altered;     /* in the translation, not in the source (a
			     * changed placeholder, an unknown token), or a
			     * closing tag before its opening one */
	char first[192];
} fmt_report;

/* Nonzero if the report found no damage. */
int fmt_report_ok(const fmt_report *r);

/*
 * Protects text[0..len) (UTF-8) for format (FMT_FORMAT_*): *out holds the
 * text with tokens and the table to undo them. A literal ⟦n⟧ in the input
 * is itself protected. Returns 0, PT_EINVAL, PT_EUTF8, PT_ENOMEM,
 * PT_ETOOLARGE. Free with fmt_protected_free.
 */
int fmt_protect(const char *text, size_t len, int format,
		fmt_protected **out, pt_err *e);
void fmt_protected_free(fmt_protected *p);
/* The protected text (NUL-terminated) and its length. */
const char *fmt_protected_text(const fmt_protected *p, size_t *len);
/* Number of placeholders replaced, and the original bytes of the i-th
 * (0-based; token ⟦i+1⟧). */
size_t fmt_protected_count(const fmt_protected *p);
const char *fmt_protected_original(const fmt_protected *p, size_t i,
				   size_t *len);

/*
 * Puts the placeholders back into a translation tr[0..len) of the
 * protected text: every token (or a variant a model wrote) becomes its
 * original bytes. *out is NUL-terminated (free with free()). Damage
 * (a token missing, repeated, unknown, a closing tag put before its
 * opening tag) is counted in *report (may be NULL); it is not an error:
 * the result is still written, so the caller can retry or flag it.
 * Returns 0, PT_EINVAL, PT_ENOMEM, PT_ETOOLARGE.
 */
int fmt_restore(const fmt_protected *p, const char *tr, size_t len,
		char **out, size_t *out_len, fmt_report *report, pt_err *e);

/*
 * Compares the placeholders of a source text and of its translation (both
 * unprotected), as multisets, for format. Fills *report and returns 0 if
 * every placeholder survived exactly once, else PT_EFORMAT (with the first
 * problem in e's message too). Case and spacing inside a placeholder
 * count: %S for %s is an alteration.
 */
int fmt_check_placeholders(const char *src, size_t src_len, const char *tr,
			   size_t tr_len, int format, fmt_report *report,
			   pt_err *e);

#endif
