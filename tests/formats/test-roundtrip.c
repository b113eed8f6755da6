/*
 * test-roundtrip.c: every corpus file, in every format, round-trips byte
 * for byte: parse + serialize with nothing set, and with every text set
 * back to itself. Then a fake translation (placeholders protected,
 * letters upper-cased, « » around) is written and parsed again: the KEEP
 * pieces must be the same bytes and each text must read back as its
 * translation, so only text changed and the structure stayed.
 *
 * Usage: test-formats-roundtrip [--dump] FILE...
 */
#include "check.h"

static int dump;

static void dump_doc(const char *path, const fmt_doc *d)
{
	printf("== %s: %zu pieces, %zu text\n", path, fmt_doc_count(d),
	       fmt_doc_text_count(d));
	for (size_t i = 0; i < fmt_doc_count(d); i++) {
		size_t n;
		const char *t = fmt_piece_kind(d, i) == FMT_TEXT
				? fmt_piece_text(d, i, &n) : fmt_piece_raw(d, i, &n);
		printf("%4zu %s l%-3zu f%03x [", i,
		       fmt_piece_kind(d, i) == FMT_TEXT ? "TEXT" : "keep",
		       fmt_piece_line(d, i), fmt_piece_flags(d, i));
		for (size_t k = 0; k < n; k++)
			fputs(t[k] == '\n' ? "\\n" : t[k] == '\r' ? "\\r"
			      : (char[]){ t[k], 0 }, stdout);
		printf("]\n");
	}
}

/* Nothing set, then every text set to itself: the input comes back. */
static void check_identity(const char *path, const char *data, size_t len,
			   fmt_doc *d)
{
	char *out = NULL;
	size_t out_len = 0, total = 0;
	pt_err e;
	for (size_t i = 0; i < fmt_doc_count(d); i++) {
		size_t n;
		const char *raw = fmt_piece_raw(d, i, &n);
		CHECK(total + n <= len && memcmp(raw, data + total, n) == 0,
		      "%s: piece %zu is not the input at byte %zu", path, i,
		      total);
		total += n;
	}
	CHECK(total == len, "%s: pieces cover %zu of %zu bytes", path, total,
	      len);
	CHECK(fmt_doc_serialize(d, &out, &out_len, &e) == 0, "%s: %s", path,
	      e.msg);
	CHECK(out && out_len == len && memcmp(out, data, len) == 0,
	      "%s: output differs from the input (%zu vs %zu bytes)", path,
	      out_len, len);
	free(out);
	if (fmt_doc_format(d) == FMT_FORMAT_PO)
		return; /* a msgid set as its own translation fills msgstr */
	for (size_t i = 0; i < fmt_doc_count(d); i++) {
		size_t n;
		const char *t = fmt_piece_text(d, i, &n);
		if (fmt_piece_kind(d, i) == FMT_TEXT)
			CHECK(fmt_piece_set(d, i, t, n, &e) == 0, "%s", e.msg);
	}
	out = NULL;
	CHECK(fmt_doc_serialize(d, &out, &out_len, &e) == 0, "%s", e.msg);
	CHECK(out && out_len == len && memcmp(out, data, len) == 0,
	      "%s: identity translation changed the output", path);
	free(out);
}

/* Fake-translates every text; returns the serialized output. */
static char *translate_all(const char *path, fmt_doc *d, char ***trs,
			   size_t **tr_lens, size_t *out_len)
{
	size_t n = fmt_doc_count(d);
	char *out = NULL;
	pt_err e;
	*trs = calloc(n + 1, sizeof **trs);
	*tr_lens = calloc(n + 1, sizeof **tr_lens);
	for (size_t i = 0; i < n; i++) {
		size_t tl;
		int ok;
		if (fmt_piece_kind(d, i) != FMT_TEXT)
			continue;
		const char *t = fmt_piece_text(d, i, &tl);
		char *tr = test_fake_translate(t, tl, fmt_doc_format(d),
					       &(*tr_lens)[i], &ok);
		CHECK(tr != NULL && ok, "%s: piece %zu: placeholders damaged",
		      path, i);
		if (tr == NULL)
			continue;
		fmt_report r;
		CHECK(fmt_check_placeholders(t, tl, tr, (*tr_lens)[i],
					     fmt_doc_format(d), &r, &e) == 0,
		      "%s: piece %zu: %s", path, i, e.msg);
		CHECK(fmt_piece_set(d, i, tr, (*tr_lens)[i], &e) == 0, "%s",
		      e.msg);
		(*trs)[i] = tr;
	}
	CHECK(fmt_doc_serialize(d, &out, out_len, &e) == 0, "%s: %s", path,
	      e.msg);
	return out;
}

/* The translated output parses to the same structure with the new texts. */
static void check_structure(const char *path, const fmt_doc *d,
			    const char *out, size_t out_len, char **trs,
			    size_t *tr_lens)
{
	fmt_params pp = fmt_default_params();
	fmt_doc *d2 = NULL;
	pt_err e;
	pp.format = fmt_doc_format(d);
	CHECK(fmt_parse(out, out_len, &pp, &d2, &e) == 0,
	      "%s: translated output does not parse: %s", path, e.msg);
	if (d2 == NULL)
		return;
	CHECK(fmt_doc_count(d2) == fmt_doc_count(d),
	      "%s: %zu pieces after translation, %zu before", path,
	      fmt_doc_count(d2), fmt_doc_count(d));
	for (size_t i = 0; i < fmt_doc_count(d) && i < fmt_doc_count(d2); i++) {
		size_t a, b;
		int k = fmt_piece_kind(d, i);
		CHECK(fmt_piece_kind(d2, i) == k, "%s: piece %zu changed kind",
		      path, i);
		if (k == FMT_KEEP) {
			const char *x = fmt_piece_raw(d, i, &a);
			const char *y = fmt_piece_raw(d2, i, &b);
			CHECK(a == b && memcmp(x, y, a) == 0, "%s: KEEP piece %zu "
			      "changed: [%.*s] -> [%.*s]", path, i, (int)a, x,
			      (int)b, y);
		} else if (trs[i] != NULL) {
			const char *y = fmt_piece_text(d2, i, &b);
			CHECK(b == tr_lens[i] && memcmp(y, trs[i], b) == 0,
			      "%s: text %zu reads back as [%.*s], written [%s]",
			      path, i, (int)b, y, trs[i]);
		}
	}
	fmt_doc_free(d2);
}

static void test_file(const char *path)
{
	size_t len, out_len = 0;
	char *data = test_read_file(path, &len), *out;
	fmt_params pp = fmt_default_params();
	fmt_doc *d = NULL;
	char **trs = NULL;
	size_t *tr_lens = NULL;
	pt_err e;
	CHECK(data != NULL, "cannot read %s", path);
	if (data == NULL)
		return;
	fmt_format_from_path(path, &pp.format);
	CHECK(fmt_parse(data, len, &pp, &d, &e) == 0, "%s: %s", path, e.msg);
	if (d == NULL) {
		free(data);
		return;
	}
	if (dump)
		dump_doc(path, d);
	CHECK(len == 0 || fmt_doc_text_count(d) > 0 ||
	      strstr(path, "blank") != NULL, "%s: no text found", path);
	check_identity(path, data, len, d);
	out = translate_all(path, d, &trs, &tr_lens, &out_len);
	if (dump && out)
		printf("-- translated:\n%s\n--\n", out);
	if (out && pp.format != FMT_FORMAT_PO)
		check_structure(path, d, out, out_len, trs, tr_lens);
	for (size_t i = 0; i < fmt_doc_count(d); i++)
		free(trs[i]);
	free(trs);
	free(tr_lens);
	free(out);
	fmt_doc_free(d);
	free(data);
}

int main(int argc, char **argv)
{
	int files = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dump") == 0) {
			dump = 1;
			continue;
		}
		test_file(argv[i]);
		files++;
	}
	if (files == 0) {
		fprintf(stderr, "usage: %s [--dump] FILE...\n", argv[0]);
		return 2;
	}
	if (check_failures) {
		fprintf(stderr, "%d check(s) failed\n", check_failures);
		return 1;
	}
	printf("%d files round-trip\n", files);
	return 0;
}
