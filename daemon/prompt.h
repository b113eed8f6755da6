/*
 * prompt.h: the prompt-template layer. Turns a segment and a language pair
 * into the prompt text for the kind of model loaded (spec §4), says where
 * the answer stops, and cleans and checks the answer.
 *
 * Languages are named by their ISO 639-1 code; the English names the
 * templates use and the demonstration sentences are tables here.
 */
#ifndef PTD_PROMPT_H
#define PTD_PROMPT_H

#include <stddef.h>

#include "engine.h"
#include "pt.h"

typedef struct ptd_template ptd_template;

/* The built-in template of a prompt kind. */
const ptd_template *ptd_template_builtin(engine_prompt_kind kind);

/*
 * Reads a template file: `key = value` lines where value may use the
 * escapes \n \t \\ and the fields {text}, {from}, {to} (English names) and
 * {from_code}, {to_code}. Keys: `prompt` (required: the text of one
 * request, {text} included), `answer` (what follows the demonstration's
 * answer; default "{answer}\n"), `demo` (yes/no: prepend the one-shot
 * demonstration), `stop` (the stop string; empty = end token only),
 * `collapse_newlines` (yes/no: runs of newlines in the text become one).
 * *out is freed with ptd_template_free.
 */
int ptd_template_load(const char *path, ptd_template **out, pt_err *e);
void ptd_template_free(ptd_template *t);

/* English name of a language code as prompts use it ("German"), or NULL. */
const char *ptd_lang_english(const char *code);
/* The demonstration sentence of a language, or NULL. */
const char *ptd_lang_demo(const char *code);

/*
 * Builds the prompt for translating text[0..len) from `from` to `to`
 * (codes). The prompt is written to a malloc'd NUL-terminated string in
 * *out; *fixed_len receives the length of the part that does not depend
 * on the text (the demonstration), which callers may cache.
 */
int ptd_prompt_build(const ptd_template *t, const char *from, const char *to,
		     const char *text, size_t len, char **out, size_t *fixed_len,
		     pt_err *e);

/* The stop string of a template ("\n" for the base kind), or NULL when the
 * answer ends only at the end token. */
const char *ptd_prompt_stop(const ptd_template *t);

/*
 * Cleans a raw answer in place: trims surrounding whitespace, drops a line
 * that echoes the instruction ("Translate this sentence from ...") and a
 * leading "<|assistant|>" echo. Returns the new length.
 */
size_t ptd_answer_clean(const ptd_template *t, const char *from, const char *to,
			char *ans, size_t len);

/* Why an answer was judged bad. */
enum {
	PTD_CHECK_OK = 0,
	PTD_CHECK_EMPTY = 1,
	PTD_CHECK_TOO_LONG = 2,
	PTD_CHECK_LOOP = 3,
	PTD_CHECK_WRONG_LANGUAGE = 4,
};
const char *ptd_check_name(int check);

/*
 * Checks a cleaned answer against its source: not empty, not far longer
 * than the source (in characters, allowing for scripts), not a repetition
 * loop. The language check is the caller's (it needs detection): pass the
 * detected code and confidence of the answer, or NULL to skip it.
 */
int ptd_answer_check(const char *src, size_t src_len, const char *ans, size_t ans_len,
		     const char *to, const char *detected, float confidence);

#endif
