/* prompt.c: prompt templates per model kind, stop rules, answer cleanup
 * and checks (spec §4). */
#include "prompt.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { PTD__NL_KEEP, PTD__NL_ONE, PTD__NL_SPACE };

struct ptd_template {
	char *prompt;   /* fields: {text} {from} {to} {from_code} {to_code} */
	char *answer;   /* after the demonstration's answer: {answer} */
	char *stop;     /* NULL: end token only */
	int demo;
	int newlines;   /* what becomes of newlines inside the text */
	int builtin;
};

static const char ptd__instr[] = "Translate this sentence from ";

/* Base models: the paper's one-shot layout; the answer is the first line. */
static const struct ptd_template ptd__base = {
	.prompt = "{text}\nTranslate this sentence from {from} to {to}.\n",
	.answer = "{answer}\n", .stop = "\n", .demo = 1,
	.newlines = PTD__NL_SPACE, .builtin = 1,
};
/* MultiAlpaca: the request followed by two newlines; ends at </s>. Its demo
 * scripts collapse runs of newlines in user input to one. */
static const struct ptd_template ptd__multialpaca = {
	.prompt = "{text}\nTranslate this sentence from {from} to {to}.\n\n",
	.answer = "{answer}\n", .stop = NULL, .demo = 0,
	.newlines = PTD__NL_ONE, .builtin = 1,
};
/* Chat: <|user|> and <|assistant|> are ordinary text, not special tokens. */
static const struct ptd_template ptd__chat = {
	.prompt = "<|user|>\n{text}\nTranslate this sentence from {from} to {to}.\n<|assistant|>\n",
	.answer = "{answer}\n", .stop = "<|user|>", .demo = 0,
	.newlines = PTD__NL_ONE, .builtin = 1,
};

const ptd_template *ptd_template_builtin(engine_prompt_kind kind)
{
	switch (kind) {
	case ENGINE_PROMPT_MULTIALPACA:
		return &ptd__multialpaca;
	case ENGINE_PROMPT_CHAT:
		return &ptd__chat;
	default:
		return &ptd__base;
	}
}

/* One short sentence per language, written by the project, so that any
 * pair has a one-shot demonstration: "The weather is nice today." */
static const struct {
	const char *code, *english, *demo;
} ptd__langs[] = {
	{ "zh", "Chinese", "今天天气很好。" },
	{ "en", "English", "The weather is nice today." },
	{ "es", "Spanish", "Hoy hace buen tiempo." },
	{ "de", "German", "Heute ist schönes Wetter." },
	{ "fr", "French", "Il fait beau aujourd'hui." },
	{ "pt", "Portuguese", "Hoje o tempo está bom." },
	{ "ru", "Russian", "Сегодня хорошая погода." },
	{ "it", "Italian", "Oggi fa bel tempo." },
	{ "ar", "Arabic", "الطقس جميل اليوم." },
	{ "ja", "Japanese", "今日はいい天気です。" },
	{ "ko", "Korean", "오늘은 날씨가 좋습니다." },
	{ "th", "Thai", "วันนี้อากาศดี" },
	{ "vi", "Vietnamese", "Hôm nay thời tiết đẹp." },
	{ "id", "Indonesian", "Cuaca hari ini cerah." },
	{ "pl", "Polish", "Dzisiaj jest ładna pogoda." },
	{ "tr", "Turkish", "Bugün hava güzel." },
	{ "nl", "Dutch", "Het is mooi weer vandaag." },
	{ "he", "Hebrew", "מזג האוויר יפה היום." },
};

#define PTD__NLANGS (sizeof ptd__langs / sizeof ptd__langs[0])

static int ptd__lang(const char *code)
{
	for (size_t i = 0; code != NULL && i < PTD__NLANGS; i++)
		if (strcmp(ptd__langs[i].code, code) == 0)
			return (int)i;
	return -1;
}

const char *ptd_lang_english(const char *code)
{
	int i = ptd__lang(code);
	return i < 0 ? NULL : ptd__langs[i].english;
}

const char *ptd_lang_demo(const char *code)
{
	int i = ptd__lang(code);
	return i < 0 ? NULL : ptd__langs[i].demo;
}

/* ---- A growable string ------------------------------------------------ */

typedef struct ptd__str {
	char *p;
	size_t len, cap;
	int oom;
} ptd__str;

static void ptd__put(ptd__str *s, const char *p, size_t n)
{
	if (s->oom)
		return;
	if (s->cap - s->len <= n) {
		size_t cap = s->cap ? s->cap : 256;
		char *np;
		while (cap - s->len <= n) {
			if (cap > ((size_t)-1) / 2) {
				s->oom = 1;
				return;
			}
			cap *= 2;
		}
		np = realloc(s->p, cap);
		if (np == NULL) {
			s->oom = 1;
			return;
		}
		s->p = np;
		s->cap = cap;
	}
	memcpy(s->p + s->len, p, n);
	s->len += n;
	s->p[s->len] = '\0';
}

/* Puts text with the template's newline rule applied. */
static void ptd__put_text(ptd__str *s, const ptd_template *t, const char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t j = i;
		while (j < n && p[j] != '\n' && p[j] != '\r')
			j++;
		ptd__put(s, p + i, j - i);
		if (j == n)
			break;
		i = j;
		while (i < n && (p[i] == '\n' || p[i] == '\r'))
			i++;
		if (t->newlines == PTD__NL_KEEP)
			ptd__put(s, p + j, i - j);
		else
			ptd__put(s, t->newlines == PTD__NL_ONE ? "\n" : " ", 1);
	}
}

/* Expands a format with its fields. */
static void ptd__fill(ptd__str *s, const ptd_template *t, const char *fmt, const char *from,
		      const char *to, const char *text, size_t len)
{
	while (*fmt) {
		const char *b = strchr(fmt, '{'), *e;
		if (b == NULL || (e = strchr(b, '}')) == NULL) {
			ptd__put(s, fmt, strlen(fmt));
			return;
		}
		ptd__put(s, fmt, (size_t)(b - fmt));
		size_t k = (size_t)(e - b - 1);
		if ((k == 4 && memcmp(b + 1, "text", 4) == 0) ||
		    (k == 6 && memcmp(b + 1, "answer", 6) == 0))
			ptd__put_text(s, t, text, len);
		else if (k == 4 && memcmp(b + 1, "from", 4) == 0)
			ptd__put(s, ptd_lang_english(from), strlen(ptd_lang_english(from)));
		else if (k == 2 && memcmp(b + 1, "to", 2) == 0)
			ptd__put(s, ptd_lang_english(to), strlen(ptd_lang_english(to)));
		else if (k == 9 && memcmp(b + 1, "from_code", 9) == 0)
			ptd__put(s, from, strlen(from));
		else if (k == 7 && memcmp(b + 1, "to_code", 7) == 0)
			ptd__put(s, to, strlen(to));
		else
			ptd__put(s, b, (size_t)(e - b + 1)); /* not a field: kept */
		fmt = e + 1;
	}
}

int ptd_prompt_build(const ptd_template *t, const char *from, const char *to,
		     const char *text, size_t len, char **out, size_t *fixed_len, pt_err *e)
{
	ptd__str s = { 0 };

	if (ptd_lang_english(from) == NULL || ptd_lang_english(to) == NULL)
		return pt_err_set(e, PT_ELANG, "no prompt for the pair %s -> %s",
				  from ? from : "?", to ? to : "?");
	if (t->demo) {
		const char *ds = ptd_lang_demo(from), *dt = ptd_lang_demo(to);
		ptd__fill(&s, t, t->prompt, from, to, ds, strlen(ds));
		ptd__fill(&s, t, t->answer, from, to, dt, strlen(dt));
	}
	if (fixed_len != NULL)
		*fixed_len = s.len;
	ptd__fill(&s, t, t->prompt, from, to, text, len);
	if (s.oom || s.p == NULL) {
		free(s.p);
		return pt_err_set(e, PT_ENOMEM, "out of memory building a prompt");
	}
	*out = s.p;
	return 0;
}

const char *ptd_prompt_stop(const ptd_template *t)
{
	return t->stop != NULL && t->stop[0] != '\0' ? t->stop : NULL;
}

/* ---- Template files ----------------------------------------------------- */

void ptd_template_free(ptd_template *t)
{
	if (t == NULL || t->builtin)
		return;
	free(t->prompt);
	free(t->answer);
	free(t->stop);
	free(t);
}

/* Decodes \n \t \\ \r in place. */
static void ptd__unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (*s == '\\' && s[1] != '\0') {
			s++;
			*w++ = *s == 'n' ? '\n' : *s == 't' ? '\t' : *s == 'r' ? '\r' : *s;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

static int ptd__yes(const char *v, int *out)
{
	if (strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0)
		*out = 1;
	else if (strcasecmp(v, "no") == 0 || strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

static int ptd__tpl_set(ptd_template *t, const char *key, char *val)
{
	char **slot = NULL;

	if (strcmp(key, "prompt") == 0)
		slot = &t->prompt;
	else if (strcmp(key, "answer") == 0)
		slot = &t->answer;
	else if (strcmp(key, "stop") == 0)
		slot = &t->stop;
	else if (strcmp(key, "demo") == 0)
		return ptd__yes(val, &t->demo);
	else if (strcmp(key, "collapse_newlines") == 0) {
		int y;
		if (ptd__yes(val, &y) != 0)
			return -1;
		t->newlines = y ? PTD__NL_ONE : PTD__NL_KEEP;
		return 0;
	} else
		return -2;
	ptd__unescape(val);
	free(*slot);
	*slot = strdup(val);
	return *slot == NULL ? -3 : 0;
}

int ptd_template_load(const char *path, ptd_template **out, pt_err *e)
{
	ptd_template *t;
	char line[8192];
	int lineno = 0, rc = 0;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return pt_err_set(e, PT_EIO, "%s: %s", path, strerror(errno));
	t = calloc(1, sizeof *t);
	if (t == NULL) {
		fclose(f);
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	}
	t->newlines = PTD__NL_KEEP;
	while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
		char *k = line, *v, *eq, *end;
		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		while (isspace((unsigned char)*k))
			k++;
		if (*k == '\0' || *k == '#')
			continue;
		eq = strchr(k, '=');
		if (eq == NULL) {
			rc = pt_err_set(e, PT_EFORMAT, "%s:%d: expected 'key = value'", path, lineno);
			break;
		}
		for (end = eq; end > k && isspace((unsigned char)end[-1]); end--)
			;
		*end = '\0';
		v = eq + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		switch (ptd__tpl_set(t, k, v)) {
		case 0:
			break;
		case -1:
			rc = pt_err_set(e, PT_EFORMAT, "%s:%d: %s takes yes or no", path, lineno, k);
			break;
		case -2:
			rc = pt_err_set(e, PT_EFORMAT,
					"%s:%d: unknown key '%s' (prompt, answer, demo, stop, collapse_newlines)",
					path, lineno, k);
			break;
		default:
			rc = pt_err_set(e, PT_ENOMEM, "out of memory");
		}
	}
	fclose(f);
	if (rc == 0 && (t->prompt == NULL || strstr(t->prompt, "{text}") == NULL))
		rc = pt_err_set(e, PT_EFORMAT, "%s: needs a 'prompt' with {text} in it", path);
	if (rc == 0 && t->answer == NULL && (t->answer = strdup("{answer}\n")) == NULL)
		rc = pt_err_set(e, PT_ENOMEM, "out of memory");
	if (rc == 0 && t->demo && strstr(t->answer, "{answer}") == NULL)
		rc = pt_err_set(e, PT_EFORMAT, "%s: 'answer' needs {answer} when demo = yes", path);
	if (rc != 0) {
		ptd_template_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

/* ---- Cleanup and checks -------------------------------------------------- */

static int ptd__isspace(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

size_t ptd_answer_clean(const ptd_template *t, const char *from, const char *to, char *ans,
			size_t len)
{
	size_t b = 0, e = len;
	static const char asst[] = "<|assistant|>";

	(void)t;
	(void)from;
	(void)to;
	/* A model can produce control bytes through byte-fallback pieces; none
	 * belongs in a translation but tab and line ends. */
	for (size_t i = 0, w = 0;; i++) {
		if (i == len) {
			len = w;
			break;
		}
		unsigned char c = (unsigned char)ans[i];
		if ((c >= 0x20 && c != 0x7f) || c == '\t' || c == '\n' || c == '\r')
			ans[w++] = ans[i];
	}
	/* Drop lines that echo the instruction or a role marker. */
	for (size_t i = 0; i < len;) {
		size_t j = i;
		while (j < len && ans[j] != '\n')
			j++;
		size_t k = i;
		while (k < j && ptd__isspace((unsigned char)ans[k]))
			k++;
		int echo = (j - k >= sizeof ptd__instr - 1 &&
			    memcmp(ans + k, ptd__instr, sizeof ptd__instr - 1) == 0) ||
			   (j - k >= sizeof asst - 1 && memcmp(ans + k, asst, sizeof asst - 1) == 0);
		if (echo) {
			size_t cut = j < len ? j + 1 : j;
			memmove(ans + i, ans + cut, len - cut);
			len -= cut - i;
			continue;
		}
		i = j < len ? j + 1 : j;
	}
	e = len;
	while (b < e && ptd__isspace((unsigned char)ans[b]))
		b++;
	while (e > b && ptd__isspace((unsigned char)ans[e - 1]))
		e--;
	memmove(ans, ans + b, e - b);
	ans[e - b] = '\0';
	return e - b;
}

const char *ptd_check_name(int check)
{
	switch (check) {
	case PTD_CHECK_OK: return "ok";
	case PTD_CHECK_EMPTY: return "empty answer";
	case PTD_CHECK_TOO_LONG: return "answer far longer than the source";
	case PTD_CHECK_LOOP: return "answer repeats itself";
	case PTD_CHECK_WRONG_LANGUAGE: return "answer is not in the target language";
	}
	return "unknown";
}

/* Length in "units": a Han, Kana or Hangul character carries about as much
 * as three Latin letters, so scripts compare fairly. */
static size_t ptd__units(const char *s, size_t n)
{
	size_t u = 0;

	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		int l = pt_utf8_len(c);
		unsigned cp = c;
		if (l <= 0 || (size_t)l > n - i)
			l = 1;
		if (l == 3)
			cp = ((c & 0x0fu) << 12) | (((unsigned char)s[i + 1] & 0x3fu) << 6) |
			     ((unsigned char)s[i + 2] & 0x3fu);
		if ((cp >= 0x2e80 && cp <= 0x9fff) || (cp >= 0xac00 && cp <= 0xd7af) ||
		    (cp >= 0xf900 && cp <= 0xfaff))
			u += 3;
		else if ((c & 0xc0) != 0x80)
			u += 1;
		i += (size_t)l;
	}
	return u;
}

/* The longest stretch, in bytes, made of one short pattern repeated back to
 * back ("la la la la ", "のののの"). */
static size_t ptd__longest_repeat(const char *s, size_t n, size_t *period)
{
	size_t best = 0;

	*period = 0;
	for (size_t p = 1; p <= 64 && p < n; p++) {
		size_t run = 0;
		for (size_t i = p; i < n; i++) {
			run = s[i] == s[i - p] ? run + 1 : 0;
			if (run + p > best) {
				best = run + p;
				*period = p;
			}
		}
	}
	return best;
}

static int ptd__loops(const char *s, size_t n)
{
	size_t p, r = ptd__longest_repeat(s, n, &p);
	/* Four or more repeats of a pattern, and at least 24 bytes of them. */
	return p > 0 && r >= 4 * p && r >= 24;
}

int ptd_answer_check(const char *src, size_t src_len, const char *ans, size_t ans_len,
		     const char *to, const char *detected, float confidence)
{
	size_t su = ptd__units(src, src_len), au = ptd__units(ans, ans_len);

	if (ans_len == 0)
		return PTD_CHECK_EMPTY;
	if (au > 4 * su + 30)
		return PTD_CHECK_TOO_LONG;
	if (ptd__loops(ans, ans_len) && !ptd__loops(src, src_len))
		return PTD_CHECK_LOOP;
	if (detected != NULL && to != NULL && strcmp(detected, "und") != 0 &&
	    strcmp(detected, to) != 0 && confidence >= 0.8f && au >= 12)
		return PTD_CHECK_WRONG_LANGUAGE;
	return PTD_CHECK_OK;
}
