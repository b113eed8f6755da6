/*
 * langid.h: the 18 PolyLM languages (table and lookup), language detection
 * restricted to them, and the ICU text handling between a person's text and
 * the model: validation, NFC normalization, and segmentation into pieces
 * that reassemble byte for byte.
 *
 * Languages are named by a small integer, their index in the table
 * (0 .. LANGID_COUNT-1, in the order zh en es de fr pt ru it ar ja ko th vi
 * id pl tr nl he); LANGID_UND (-1) stands for "undetermined".
 *
 * Everything here is thread-safe: the table and the detection model are
 * immutable; functions that need ICU objects open them per call.
 */
#ifndef LANGID_H
#define LANGID_H

#include <stddef.h>
#include <stdint.h>

#include "pt.h"

#define LANGID_COUNT 18
#define LANGID_UND (-1)

/* ---- The language table ------------------------------------------------ */

/* ISO 639-1 code ("zh", "en", ...); "und" for LANGID_UND; NULL for any
 * other value out of range. Static storage. */
const char *langid_lang_code(int lang);
/* English name as the prompt templates use it ("Chinese", "English",
 * "Spanish", ...); "Undetermined" for LANGID_UND; NULL out of range. */
const char *langid_lang_english(int lang);
/* Native name in its own script, UTF-8 ("中文", "Deutsch", "עברית"). */
const char *langid_lang_native(int lang);
/* ISO 15924 script codes the language is written in, space-separated
 * ("Latn", "Cyrl", "Hans Hant", "Jpan", "Kore" ...). */
const char *langid_lang_scripts(int lang);
/* All supported codes, space-separated, in table order. */
const char *langid_lang_codes(void);

/*
 * Finds a language by ISO 639-1 code, ISO 639-2/3 code, alias, BCP-47 tag
 * or POSIX locale name, English name or native name, case-insensitively.
 * Accepted forms include "de", "DE", "deu", "ger", "de-AT", "de_CH.UTF-8",
 * "pt-BR", "pt_PT", "es-419", "en-GB", "iw" (old code of he), "in" (old
 * code of id), "German", "deutsch", "Español".
 *
 * Chinese: zh, zh-CN, zh-SG, zh-Hans, zh-TW, zh-HK, zh-Hant, cmn all map
 * to "zh". PolyLM has a single Chinese, learned mostly from simplified
 * text: traditional-script requests are accepted, but what the model
 * writes is usually simplified. A caller that must refuse traditional
 * output checks the tag itself.
 *
 * Returns 0 and sets *lang, or PT_ELANG with a message that lists the
 * supported codes (or PT_EINVAL for NULL name).
 */
int langid_lang_find(const char *name, int *lang, pt_err *e);

/* ---- Detection ---------------------------------------------------------- */

/* The detector: the trained model compiled into the library, checked once
 * at creation. Immutable afterwards, so one detector may serve any number
 * of threads at once; detection allocates nothing. */
typedef struct langid_detector langid_detector;

/* Creates a detector. Returns 0 or PT_ENOMEM / PT_EINTERNAL (a damaged
 * built-in model). Free with langid_detector_free. */
int langid_detector_new(langid_detector **out, pt_err *e);
/* Frees a detector; NULL is a no-op. */
void langid_detector_free(langid_detector *d);

/* One candidate: a language (or LANGID_UND) and a confidence in [0, 1].
 * Confidences of the candidates returned by one call add up to at most 1. */
typedef struct langid_guess {
	int lang;
	float confidence;
} langid_guess;

/*
 * Detects the language of text[0..len) (UTF-8, need not be
 * NUL-terminated). Fills out[0..*n) with the best candidates, most likely
 * first, at most `max` of them (max >= 1). Text without letters (digits,
 * punctuation, URLs, e-mail addresses, emoji), code ("x = f(y);", text
 * with { } ; or == where half the tokens read as code), a single Latin
 * letter, or text mostly in a script none of the 18 languages uses gives
 * one candidate, LANGID_UND, with confidence 0.
 * Returns 0, PT_EINVAL (bad arguments) or PT_EUTF8 (with the byte offset
 * in the message). Thread-safe; allocates nothing.
 */
int langid_detect(const langid_detector *d, const char *text, size_t len,
		  langid_guess *out, size_t max, size_t *n, pt_err *e);

/* ---- Text handling ------------------------------------------------------ */

/* Returns 0 if s[0..len) is valid UTF-8, else PT_EUTF8 with the offset of
 * the first bad byte in the message ("invalid UTF-8 at byte 17"). */
int langid_text_check(const char *s, size_t len, pt_err *e);

/*
 * Prepares text for the model: validates UTF-8, normalizes to NFC and
 * removes control characters (C0, DEL, C1, and U+2028/U+2029 become
 * nothing) except newline and tab. *out is a new NUL-terminated string
 * (caller frees with free()), *out_len its length. Returns 0, PT_EUTF8,
 * PT_ENOMEM, PT_ETOOLARGE or PT_EINTERNAL (an ICU failure).
 */
int langid_text_normalize(const char *s, size_t len, char **out,
			  size_t *out_len, pt_err *e);

/* Nonzero if s[0..len) (valid UTF-8) holds at least one letter that
 * calls for translation, i.e. detection would not say LANGID_UND. */
int langid_text_has_words(const langid_detector *d, const char *s,
			  size_t len);

/*
 * Segmentation. The input is cut into a list of pieces, each either TEXT
 * (one sentence, or part of an over-long one: something to translate) or
 * a GAP (everything else: spaces, tabs, indentation, line ends CR LF or
 * CRLF, blank lines, list markers such as "- ", "* ", "• ", "1. ", "2) "
 * or "# " at the start of a line, and text-less runs such as "---" or
 * "12345"). Concatenating all pieces gives back the input byte for byte.
 *
 * A TEXT piece never holds a line end and never starts or ends with white
 * space: a sentence's own leading and trailing blanks are gaps beside it,
 * so they stay in place whatever the translation looks like.
 *
 * Usage: segment, then for each TEXT piece normalize it, translate it and
 * store the result with langid_segs_set; langid_segs_join rebuilds the
 * document, pieces not set keeping their original bytes.
 */
typedef struct langid_segs langid_segs;

enum { LANGID_PIECE_GAP = 0, LANGID_PIECE_TEXT = 1 };

typedef struct langid_seg_params {
	/* Source language (a table index) whose ICU sentence rules and
	 * abbreviation list ("Dr.", "z. B.") apply; LANGID_UND for the root
	 * rules. */
	int lang;
	/* Longest TEXT piece in bytes; longer sentences are split at clause
	 * boundaries (after , ; : and their CJK forms), else at a space, else
	 * at a character (grapheme) boundary. 0 means no limit. Values under
	 * 16 are raised to 16 so that a grapheme always fits. */
	size_t max_bytes;
} langid_seg_params;

/* Defaults: lang LANGID_UND, max_bytes 0. */
langid_seg_params langid_seg_default_params(void);

/*
 * Segments text[0..len) (UTF-8, need not be NUL-terminated). Returns 0
 * and a new list in *out, or PT_EUTF8 (offset in the message), PT_EINVAL,
 * PT_ENOMEM, PT_ETOOLARGE, PT_EINTERNAL (ICU). The list keeps its own
 * copy of the text. Free with langid_segs_free.
 */
int langid_segment(const char *text, size_t len,
		   const langid_seg_params *params, langid_segs **out,
		   pt_err *e);
void langid_segs_free(langid_segs *s);

/* Number of pieces (0 for empty input). */
size_t langid_segs_count(const langid_segs *s);
/* LANGID_PIECE_TEXT or LANGID_PIECE_GAP; -1 for i out of range. */
int langid_segs_kind(const langid_segs *s, size_t i);
/* The original bytes of piece i (not NUL-terminated) and their length;
 * NULL out of range. Valid until the list is freed. */
const char *langid_segs_text(const langid_segs *s, size_t i, size_t *len);
/* Byte offset of piece i in the input. */
size_t langid_segs_offset(const langid_segs *s, size_t i);

/* Paragraph number of piece i, counting from 0: blank lines separate
 * paragraphs (a gap holding blank lines belongs to the paragraph before
 * it). Lets a caller send a paragraph's sentences together. */
size_t langid_segs_paragraph(const langid_segs *s, size_t i);

/* Replaces the text of piece i by repl[0..len) (copied) for the next
 * join. Returns 0, PT_EINVAL (i out of range), PT_ENOMEM. */
int langid_segs_set(langid_segs *s, size_t i, const char *repl, size_t len,
		    pt_err *e);
/* Concatenates all pieces (replacements where set) into a new
 * NUL-terminated string (free with free()). Returns 0, PT_ENOMEM,
 * PT_ETOOLARGE. */
int langid_segs_join(const langid_segs *s, char **out, size_t *out_len,
		     pt_err *e);

#endif
