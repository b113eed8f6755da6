/* test-pipeline.c: the translate pipeline (daemon/pipeline.c) on the tiny
 * fixture model: exact gaps on odd spacing in several languages, streamed
 * segments, pass-through cases, cancellation, limits and warnings, errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"

static int fails;
#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #c); fails++; } } while (0)

static char model_path[1024];

static ptd_pipeline *open_pipeline(int n_ctx, const char *tpl)
{
	ptd_pipeline_params pp;
	ptd_pipeline *pl = NULL;
	pt_err e;

	ptd_pipeline_default_params(&pp);
	pp.model_path = model_path;
	pp.n_threads = 1;
	pp.n_ctx = n_ctx;
	pp.template_path = tpl;
	if (ptd_pipeline_new(&pp, &pl, &e) != 0) {
		fprintf(stderr, "pipeline: %s\n", e.msg);
		exit(1);
	}
	return pl;
}

static int lang(const char *code)
{
	int l = -2;
	CHECK(langid_lang_find(code, &l, NULL) == 0);
	return l;
}

typedef struct stream {
	char buf[65536];
	size_t len;
	uint32_t next_index;
	int bad_order, stop_after;
} stream;

static int on_segment(void *ud, uint32_t item, uint32_t index, const char *text, size_t len)
{
	stream *s = ud;

	(void)item;
	if (index != s->next_index++)
		s->bad_order = 1;
	if (s->len + len < sizeof s->buf) {
		memcpy(s->buf + s->len, text, len);
		s->len += len;
	}
	return s->stop_after > 0 && s->next_index >= (uint32_t)s->stop_after;
}

/* Runs one text; returns the code and copies the result into out. */
static int translate(ptd_pipeline *pl, const char *text, int from, int to, int beams,
		     int max_tokens, volatile int *cancel, stream *st, char **out,
		     char ***warns, size_t *n_warns)
{
	ptd_tr_params tp = { 0 };
	size_t len = strlen(text), n;
	ptd_tr *tr = NULL;
	pt_err e;
	int rc, done = 0;

	tp.texts = &text;
	tp.lens = &len;
	tp.n_texts = 1;
	tp.from = from;
	tp.to = to;
	tp.beams = beams;
	tp.max_tokens = max_tokens;
	tp.cancel = cancel;
	tp.on_segment = st != NULL ? on_segment : NULL;
	tp.ud = st;
	rc = ptd_tr_new(pl, &tp, &tr, &e);
	while (rc == 0 && !done)
		rc = ptd_tr_step(tr, &done, &e);
	*out = NULL;
	if (rc == 0) {
		const char *r = ptd_tr_result(tr, 0, &n);
		*out = strndup(r != NULL ? r : "", n);
		if (warns != NULL) {
			*n_warns = ptd_tr_n_warnings(tr);
			*warns = calloc(*n_warns + 1, sizeof **warns);
			for (size_t i = 0; i < *n_warns; i++)
				(*warns)[i] = strdup(ptd_tr_warning(tr, i));
		}
		if (ptd_tr_tokens(tr) == 0 && strcmp(text, *out) != 0)
			fails++, fprintf(stderr, "text changed without tokens: %s\n", text);
	}
	ptd_tr_free(tr);
	return rc;
}

static void free_warns(char **w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(w[i]);
	free(w);
}

/* Same line ends, and each line the same leading and trailing blanks. */
static int same_shape(const char *a, const char *b)
{
	while (*a || *b) {
		size_t la = strcspn(a, "\r\n"), lb = strcspn(b, "\r\n");
		size_t ia = strspn(a, " \t"), ib = strspn(b, " \t");
		size_t ta = 0, tb = 0;
		if (ia > la)
			ia = la;
		if (ib > lb)
			ib = lb;
		if (ia != ib || memcmp(a, b, ia) != 0)
			return 0;
		if ((ia == la) != (ib == lb))
			return 0; /* a blank line must stay blank */
		while (ta < la - ia && (a[la - 1 - ta] == ' ' || a[la - 1 - ta] == '\t'))
			ta++;
		while (tb < lb - ib && (b[lb - 1 - tb] == ' ' || b[lb - 1 - tb] == '\t'))
			tb++;
		if (ta != tb || memcmp(a + la - ta, b + lb - tb, ta) != 0)
			return 0;
		a += la;
		b += lb;
		size_t ea = strspn(a, "\r\n") > 0 ? (a[0] == '\r' && a[1] == '\n' ? 2 : 1) : 0;
		size_t eb = strspn(b, "\r\n") > 0 ? (b[0] == '\r' && b[1] == '\n' ? 2 : 1) : 0;
		if (ea != eb || memcmp(a, b, ea) != 0)
			return 0;
		a += ea;
		b += eb;
	}
	return 1;
}

static const struct { const char *lang, *text; } corpus[] = {
	{ "de", "Guten Morgen.  Wie geht es dir?\n\n  - Das Wetter ist schön.\n\t12345\n" },
	{ "fr", "Bonjour tout le monde.\r\nJe suis content.  \r\n\r\n" },
	{ "zh", "今天天气很好。我们去公园吧。\n\n    第二段。" },
	{ "ru", "  Привет, мир!\n1. Первый пункт.\n2. Второй пункт.\n" },
	{ "ja", "こんにちは。元気ですか？\n" },
	{ "ar", "مرحبا بالعالم.\n\nكيف حالك؟ " },
	{ "es", "* Hola.\n* Adiós.\n\n\n   Fin." },
	{ "ko", "안녕하세요. 반갑습니다.\r\n" },
	{ "he", "שלום עולם.\n" },
	{ "th", "สวัสดีครับ\n" },
};

static void test_corpus(ptd_pipeline *pl)
{
	for (size_t i = 0; i < sizeof corpus / sizeof corpus[0]; i++) {
		stream st = { .len = 0 };
		char *out = NULL, *out2 = NULL;
		int rc = translate(pl, corpus[i].text, lang(corpus[i].lang), lang("en"), 0, 0, NULL,
				   &st, &out, NULL, NULL);
		CHECK(rc == 0);
		if (rc != 0)
			continue;
		if (!same_shape(corpus[i].text, out)) {
			fprintf(stderr, "%s: spacing changed:\n[%s]\n[%s]\n", corpus[i].lang,
				corpus[i].text, out);
			fails++;
		}
		/* The tiny model's random weights never echo the source. */
		CHECK(strcmp(out, corpus[i].text) != 0);
		CHECK(!st.bad_order && st.len == strlen(out) && memcmp(st.buf, out, st.len) == 0);
		/* Greedy decoding is deterministic, with the cache warm or not. */
		CHECK(translate(pl, corpus[i].text, lang(corpus[i].lang), lang("en"), 0, 0, NULL,
				NULL, &out2, NULL, NULL) == 0);
		CHECK(out2 != NULL && strcmp(out, out2) == 0);
		free(out);
		free(out2);
	}
	/* Auto detection goes through the same path. */
	char *out = NULL;
	CHECK(translate(pl, corpus[0].text, LANGID_UND, lang("fr"), 0, 0, NULL, NULL, &out,
			NULL, NULL) == 0);
	CHECK(out != NULL && same_shape(corpus[0].text, out));
	free(out);
}

static void test_unchanged(ptd_pipeline *pl)
{
	static const char *const texts[] = {
		"", "   \n\n\t", "12345 678\n", "--- *** ---\n", "https://example.com/x?y=1\n",
	};
	char *out;

	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		CHECK(translate(pl, texts[i], lang("de"), lang("en"), 0, 0, NULL, NULL, &out,
				NULL, NULL) == 0);
		CHECK(out != NULL && strcmp(out, texts[i]) == 0);
		free(out);
	}
	/* Same source and target: nothing to do. */
	CHECK(translate(pl, corpus[0].text, lang("de"), lang("de"), 0, 0, NULL, NULL, &out,
			NULL, NULL) == 0);
	CHECK(out != NULL && strcmp(out, corpus[0].text) == 0);
	free(out);
}

static void test_cancel(ptd_pipeline *pl)
{
	volatile int cancel = 1;
	stream st = { .stop_after = 1 };
	char *out;

	CHECK(translate(pl, corpus[0].text, lang("de"), lang("en"), 0, 0, &cancel, NULL, &out,
			NULL, NULL) == PT_ECANCELLED);
	CHECK(out == NULL);
	/* The streaming callback can stop a request too. */
	CHECK(translate(pl, corpus[0].text, lang("de"), lang("en"), 0, 0, NULL, &st, &out, NULL,
			NULL) == PT_ECANCELLED);
	CHECK(st.next_index == 1);
}

static int has_warning(char **w, size_t n, const char *what)
{
	for (size_t i = 0; i < n; i++)
		if (strstr(w[i], what) != NULL)
			return 1;
	return 0;
}

static void test_warnings(ptd_pipeline *pl)
{
	char *out, **w = NULL;
	size_t n = 0;

	CHECK(translate(pl, "Das ist ein Satz.", lang("de"), lang("en"), 1, 1, NULL, NULL, &out,
			&w, &n) == 0);
	CHECK(has_warning(w, n, "answer cut at max_tokens"));
	free(out);
	free_warns(w, n);
	CHECK(translate(pl, "Das ist ein Satz.", lang("de"), lang("en"), 9, 4, NULL, NULL, &out,
			&w, &n) == 0);
	CHECK(has_warning(w, n, "beams: 9 asked"));
	free(out);
	free_warns(w, n);
}

/* A context too small for any prompt: text left as it is, with warnings. */
static void test_small_context(void)
{
	ptd_pipeline *pl = open_pipeline(24, NULL);
	char *out, **w = NULL;
	size_t n = 0;

	CHECK(ptd_pipeline_n_ctx(pl) == 24);
	CHECK(translate(pl, corpus[0].text, lang("de"), lang("en"), 0, 0, NULL, NULL, &out, &w,
			&n) == 0);
	CHECK(out != NULL && strcmp(out, corpus[0].text) == 0);
	CHECK(has_warning(w, n, "too long for the model's context"));
	free(out);
	free_warns(w, n);
	ptd_pipeline_free(pl);
}

static void test_errors(ptd_pipeline *pl)
{
	const char *texts[] = { "Gut.", "bad \xff byte" };
	size_t lens[] = { 4, 10 };
	ptd_tr_params tp = { 0 };
	ptd_tr *tr = NULL;
	pt_err e;

	tp.texts = texts;
	tp.lens = lens;
	tp.n_texts = 2;
	tp.from = LANGID_UND;
	tp.to = lang("en");
	CHECK(ptd_tr_new(pl, &tp, &tr, &e) == PT_EUTF8 && tr == NULL);
	CHECK(strstr(e.msg, "texts[1]") != NULL && strstr(e.msg, "4") != NULL);
	tp.n_texts = 1;
	tp.to = 18;
	CHECK(ptd_tr_new(pl, &tp, &tr, &e) == PT_EINVAL);
}

static void test_template_file(void)
{
	char path[1024];
	const char *dir = getenv("TEST_TMPDIR");
	FILE *f;
	ptd_pipeline *pl;
	char *out;

	snprintf(path, sizeof path, "%s/test.tpl", dir != NULL ? dir : "/tmp");
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f == NULL)
		return;
	fputs("prompt = {from_code}: {text}\\n{to_code}:\nstop = \\n\n", f);
	fclose(f);
	pl = open_pipeline(0, path);
	CHECK(strcmp(ptd_pipeline_kind(pl), "file") == 0);
	CHECK(translate(pl, corpus[1].text, lang("fr"), lang("de"), 0, 0, NULL, NULL, &out, NULL,
			NULL) == 0);
	CHECK(out != NULL && same_shape(corpus[1].text, out));
	free(out);
	ptd_pipeline_free(pl);
}

int main(void)
{
	const char *fx = getenv("FIXTURES");
	ptd_pipeline *pl;

	if (fx == NULL) {
		printf("SKIP: FIXTURES is not set\n");
		return 77;
	}
	snprintf(model_path, sizeof model_path, "%s/tiny-f32.gguf", fx);
	pl = open_pipeline(0, NULL);
	CHECK(strcmp(ptd_pipeline_kind(pl), "base") == 0 && ptd_pipeline_max_beams(pl) == 4);
	test_corpus(pl);
	test_unchanged(pl);
	test_cancel(pl);
	test_warnings(pl);
	test_errors(pl);
	ptd_pipeline_free(pl);
	test_small_context();
	test_template_file();
	if (fails) {
		fprintf(stderr, "%d checks failed\n", fails);
		return 1;
	}
	printf("ok\n");
	return 0;
}
