/*
 * detect.c: language detection restricted to the 18 languages.
 *
 * The script of each letter (ICU's uscript_getScript) settles most cases:
 * Hangul is Korean, Thai is Thai, Hebrew Hebrew, Arabic Arabic, Cyrillic
 * Russian, and kana means Japanese. Latin text, and Han text without kana,
 * go to the trained model (model-data.c, made by tools/langid-train):
 * hashed character 1-4-grams and words, one int8 weight per bucket and
 * class, softmax over the classes of that script. In mixed text each
 * script group gets a share of the confidence by its weight of letters.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/uchar.h>
#include <unicode/uscript.h>
#include <unicode/utf8.h>

#include "langid.h"
#include "model.h"

/* Script groups. */
enum { G_LATIN, G_CYRL, G_ARAB, G_HEBR, G_THAI, G_HANGUL, G_HAN, G_KANA,
       G_OTHER, G_COUNT };

struct langid_detector {
	const int8_t *w;
	uint32_t mask;
	float scale;
	int nclass;
	int cls_lang[LANGID_MODEL_MAXCLASSES]; /* class -> table index */
	int cls_group[LANGID_MODEL_MAXCLASSES]; /* G_LATIN or G_HAN */
	int group_lang[G_COUNT]; /* the language of a one-language script */
};

/* What one pass over the text collects. */
typedef struct scan {
	int32_t score[LANGID_MODEL_MAXCLASSES];
	uint32_t letters[G_COUNT];
	uint32_t word[LANGID_MODEL_MAXWORD];
	int wlen;
	uint32_t tokens, code_tokens; /* see code_like */
	int code_marks;
} scan;

int langid_detector_new(langid_detector **out, pt_err *e)
{
	langid_detector *d = calloc(1, sizeof *d);
	if (d == NULL)
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	uint32_t nb = langid_model_nbuckets;
	if (nb == 0 || (nb & (nb - 1)) != 0 || !(langid_model_scale > 0))
		goto bad;
	const char *p = langid_model_classes;
	while (*p) {
		char code[8];
		size_t n = strcspn(p, " ");
		int lang;
		if (n == 0 || n >= sizeof code ||
		    d->nclass == LANGID_MODEL_MAXCLASSES)
			goto bad;
		memcpy(code, p, n);
		code[n] = '\0';
		if (langid_lang_find(code, &lang, NULL) != 0)
			goto bad;
		d->cls_lang[d->nclass] = lang;
		d->cls_group[d->nclass] =
			strcmp(code, "zh") == 0 || strcmp(code, "ja") == 0 ?
			G_HAN : G_LATIN;
		d->nclass++;
		p += n + (p[n] == ' ');
	}
	if (d->nclass < 2)
		goto bad;
	static const struct { int g; const char *code; } single[] = {
		{ G_CYRL, "ru" }, { G_ARAB, "ar" }, { G_HEBR, "he" },
		{ G_THAI, "th" }, { G_HANGUL, "ko" }, { G_KANA, "ja" },
	};
	for (int g = 0; g < G_COUNT; g++)
		d->group_lang[g] = LANGID_UND;
	for (size_t i = 0; i < sizeof single / sizeof single[0]; i++)
		if (langid_lang_find(single[i].code,
				     &d->group_lang[single[i].g], NULL) != 0)
			goto bad;
	d->w = langid_model_weights;
	d->mask = nb - 1;
	d->scale = langid_model_scale;
	*out = d;
	return 0;
bad:
	free(d);
	return pt_err_set(e, PT_EINTERNAL, "the built-in language model is "
			  "damaged (rebuild langid/model-data.c)");
}

void langid_detector_free(langid_detector *d)
{
	free(d);
}

static int group_of(UChar32 c)
{
	UErrorCode st = U_ZERO_ERROR;
	UScriptCode sc = uscript_getScript(c, &st);
	if (U_FAILURE(st))
		return -1;
	switch (sc) {
	case USCRIPT_LATIN: return G_LATIN;
	case USCRIPT_CYRILLIC: return G_CYRL;
	case USCRIPT_ARABIC: return G_ARAB;
	case USCRIPT_HEBREW: return G_HEBR;
	case USCRIPT_THAI: return G_THAI;
	case USCRIPT_HANGUL: return G_HANGUL;
	case USCRIPT_HAN: return G_HAN;
	case USCRIPT_HIRAGANA:
	case USCRIPT_KATAKANA:
	case USCRIPT_KATAKANA_OR_HIRAGANA: return G_KANA;
	case USCRIPT_COMMON:
	case USCRIPT_INHERITED: return -1;
	default: return G_OTHER;
	}
}

static inline uint32_t fnv_step(uint32_t h, uint32_t cp)
{
	return (h ^ cp) * 16777619u;
}

static inline void add_bucket(const langid_detector *d, scan *s, uint32_t h)
{
	const int8_t *row = d->w + (size_t)((h ^ (h >> 15)) & d->mask) *
			    (size_t)d->nclass;
	for (int c = 0; c < d->nclass; c++)
		s->score[c] += row[c];
}

/* Adds the features of the word in s->word (see tools/langid-train). */
static void word_features(const langid_detector *d, scan *s)
{
	uint32_t p[LANGID_MODEL_MAXWORD + 2];
	int plen = s->wlen + 2;

	p[0] = p[plen - 1] = ' ';
	memcpy(p + 1, s->word, (size_t)s->wlen * sizeof *p);
	for (int n = 1; n <= 4; n++)
		for (int i = 0; i + n <= plen; i++) {
			if (n == 1 && p[i] == ' ')
				continue;
			uint32_t h = 2166136261u ^ (uint32_t)n;
			for (int k = 0; k < n; k++)
				h = fnv_step(h, p[i + k]);
			add_bucket(d, s, h);
		}
	if (s->wlen <= LANGID_MODEL_MAXWORDFEAT) {
		uint32_t h = 2166136261u ^ LANGID_MODEL_WORD_SEED;
		for (int k = 0; k < s->wlen; k++)
			h = fnv_step(h, s->word[k]);
		add_bucket(d, s, h);
	}
	s->wlen = 0;
}

static int has(const char *t, size_t n, const char *needle)
{
	size_t m = strlen(needle);
	for (size_t i = 0; i + m <= n; i++)
		if (memcmp(t + i, needle, m) == 0)
			return 1;
	return 0;
}

/* URLs and e-mail addresses carry no language. */
static int skip_token(const char *t, size_t n)
{
	if (has(t, n, "://") || (n >= 4 && memcmp(t, "www.", 4) == 0))
		return 1;
	const char *at = memchr(t, '@', n);
	return at != NULL && memchr(at + 1, '.', n - (size_t)(at + 1 - t));
}

static void scan_token(const langid_detector *d, scan *s, const char *t,
		       int32_t n)
{
	for (int32_t i = 0; i < n;) {
		UChar32 c;
		U8_NEXT_UNSAFE(t, i, c);
		if (!(U_GET_GC_MASK(c) & (U_GC_L_MASK | U_GC_M_MASK))) {
			if (s->wlen > 0)
				word_features(d, s);
			continue;
		}
		if (U_GET_GC_MASK(c) & U_GC_L_MASK) {
			int g = group_of(c);
			if (g >= 0)
				s->letters[g]++;
		}
		if (s->wlen < LANGID_MODEL_MAXWORD)
			s->word[s->wlen++] = (uint32_t)(c == 0x130 ? 'i' :
							u_tolower(c));
	}
	if (s->wlen > 0)
		word_features(d, s);
}

/* Splits at white space and scans each token. Text is valid UTF-8. */
/* A token that reads as code: brackets, "=", ";", "->", "::", or an
 * underscore between letters (snake_case). */
static int code_like(const char *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = t[i];
		if (strchr("(){}[];=<>", c) != NULL && c != '\0')
			return 1;
		if (i + 1 < n && ((c == ':' && t[i + 1] == ':') ||
				  (c == '-' && t[i + 1] == '>')))
			return 1;
		if (c == '_' && i > 0 && i + 1 < n)
			return 1;
	}
	return 0;
}

/* Marks that prose hardly has and code is full of. */
static int code_marks(const char *t, size_t n)
{
	int m = 0;
	for (size_t i = 0; i < n; i++)
		m += t[i] == '{' || t[i] == '}' || t[i] == ';' ||
		     (t[i] == '=' && (n == 1 || (i + 1 < n && t[i + 1] == '=')));
	return m;
}

/* Scans one token and keeps the counts that tell code from prose. A long
 * prose token counts as several (Thai and CJK text has few blanks). */
static void scan_code_token(const langid_detector *d, scan *s,
			    const char *tok, size_t n)
{
	uint32_t before = 0, after = 0;
	for (int g = 0; g < G_COUNT; g++)
		before += s->letters[g];
	scan_token(d, s, tok, (int32_t)n);
	for (int g = 0; g < G_COUNT; g++)
		after += s->letters[g];
	if (code_like(tok, n)) {
		s->tokens++;
		s->code_tokens++;
	} else {
		s->tokens += 1 + (after - before) / 10;
	}
	s->code_marks += code_marks(tok, n);
}

static void scan_text(const langid_detector *d, scan *s, const char *t,
		      size_t len)
{
	size_t i = 0, start = 0;
	int in_tok = 0;
	while (i <= len) {
		UChar32 c = ' ';
		size_t at = i;
		if (i < len)
			U8_NEXT_UNSAFE(t, i, c);
		else
			i++;
		int space = u_isUWhiteSpace(c);
		if (space && in_tok) {
			const char *tok = t + start;
			size_t n = at - start;
			if (!skip_token(tok, n))
				scan_code_token(d, s, tok, n);
			in_tok = 0;
		} else if (!space && !in_tok) {
			start = at;
			in_tok = 1;
		}
	}
}

/* Letters weigh by how much language one carries: a CJK character about
 * as much as a short word. */
static const float group_weight[G_COUNT] = {
	[G_LATIN] = 1, [G_CYRL] = 1, [G_ARAB] = 1, [G_HEBR] = 1, [G_THAI] = 1,
	[G_HANGUL] = 3, [G_HAN] = 3, [G_KANA] = 2, [G_OTHER] = 1,
};

/* Softmax over the model classes of one group, times share, into p. */
static void model_probs(const langid_detector *d, const scan *s, int group,
			float share, float *p)
{
	float mx = -1e30f, sum = 0;
	float z[LANGID_MODEL_MAXCLASSES];
	for (int c = 0; c < d->nclass; c++)
		if (d->cls_group[c] == group) {
			z[c] = (float)s->score[c] * d->scale;
			mx = z[c] > mx ? z[c] : mx;
		}
	for (int c = 0; c < d->nclass; c++)
		if (d->cls_group[c] == group) {
			z[c] = expf(z[c] - mx);
			sum += z[c];
		}
	for (int c = 0; c < d->nclass; c++)
		if (d->cls_group[c] == group)
			p[d->cls_lang[c]] += share * z[c] / sum;
}

/* Per-language probabilities from a scan; returns the total letter
 * weight (0: nothing to go on). */
static float decide(const langid_detector *d, const scan *s, float *p)
{
	float wt[G_COUNT], total = 0, own = 0;
	for (int g = 0; g < G_COUNT; g++) {
		wt[g] = group_weight[g] * (float)s->letters[g];
		if (g != G_LATIN && g != G_OTHER)
			own += wt[g];
	}
	/* Latin words inside text of another of the 18 scripts are mostly
	 * names, products and code ("NetworkManager 未在运行", "עצם
	 * StarImpress 5.0"); the reverse hardly happens. */
	if (own >= 2)
		wt[G_LATIN] *= 0.2f;
	for (int g = 0; g < G_COUNT; g++)
		total += wt[g];
	/* A lone Latin letter ("{ a = 1; }", "x") is no evidence, and
	 * neither is code: "int main(void) { return 0; }", "x = f(y);". */
	if (total < 2 || wt[G_OTHER] >= total - wt[G_OTHER])
		return 0;
	if (s->code_marks > 0 && s->code_tokens * 2 >= s->tokens)
		return 0;
	static const int single[] = { G_CYRL, G_ARAB, G_HEBR, G_THAI,
				      G_HANGUL };
	for (size_t i = 0; i < sizeof single / sizeof single[0]; i++)
		p[d->group_lang[single[i]]] += wt[single[i]] / total;
	if (wt[G_LATIN] > 0)
		model_probs(d, s, G_LATIN, wt[G_LATIN] / total, p);
	float cjk = wt[G_HAN] + wt[G_KANA];
	if (s->letters[G_KANA] > 0)
		p[d->group_lang[G_KANA]] += cjk / total; /* only Japanese */
	else if (cjk > 0)
		model_probs(d, s, G_HAN, cjk / total, p);
	return total;
}

int langid_detect(const langid_detector *d, const char *text, size_t len,
		  langid_guess *out, size_t max, size_t *n, pt_err *e)
{
	size_t bad;
	if (d == NULL || (text == NULL && len > 0) || out == NULL ||
	    max == 0 || n == NULL)
		return pt_err_set(e, PT_EINVAL, "langid_detect: bad arguments");
	if (len > INT32_MAX)
		return pt_err_set(e, PT_ETOOLARGE, "text of %zu bytes is over "
				  "the 2 GiB detection limit", len);
	if (pt_utf8_check(text, len, &bad) != 0)
		return pt_err_set(e, PT_EUTF8, "invalid UTF-8 at byte %zu",
				  bad);
	scan s;
	float p[LANGID_COUNT] = { 0 };
	memset(&s, 0, sizeof s);
	scan_text(d, &s, text, len);
	if (decide(d, &s, p) == 0) {
		out[0].lang = LANGID_UND;
		out[0].confidence = 0;
		*n = 1;
		return 0;
	}
	size_t k = 0;
	for (; k < max; k++) {
		int best = -1;
		for (int l = 0; l < LANGID_COUNT; l++)
			if (p[l] > 0 && (best < 0 || p[l] > p[best]))
				best = l;
		if (best < 0)
			break;
		out[k].lang = best;
		out[k].confidence = p[best] > 1 ? 1 : p[best];
		p[best] = 0;
	}
	*n = k;
	return 0;
}

int langid_text_has_words(const langid_detector *d, const char *s,
			  size_t len)
{
	langid_guess g;
	size_t n = 0;
	if (langid_detect(d, s, len, &g, 1, &n, NULL) != 0)
		return 0;
	return n > 0 && g.lang != LANGID_UND;
}
