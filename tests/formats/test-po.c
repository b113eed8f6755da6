/*
 * test-po.c: gettext specifics. The header is updated for the target
 * (Language, Plural-Forms, UTF-8, fuzzy dropped; added when missing);
 * plural entries get the target's number of forms with the singular in
 * the right one (Arabic: msgstr[1]); already translated and fuzzy entries
 * follow the options; escapes and multi-line strings are redone; errors
 * name their line. With --msgfmt DIR, every output is also checked with
 * `msgfmt --check` (exit 77 when gettext is not installed).
 */
#include <stdarg.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static const char *corpus;
static int use_msgfmt;

static fmt_doc *parse_po(const char *data, size_t len, int retranslate,
			 int skip_fuzzy, pt_err *e)
{
	fmt_params pp = fmt_default_params();
	fmt_doc *d = NULL;
	pp.format = FMT_FORMAT_PO;
	pp.po_retranslate = retranslate;
	pp.po_skip_fuzzy = skip_fuzzy;
	if (fmt_parse(data, len, &pp, &d, e) != 0)
		return NULL;
	return d;
}

static fmt_doc *parse_file(const char *name, int retranslate, int skip)
{
	char path[1024];
	size_t len;
	pt_err e;
	snprintf(path, sizeof path, "%s/%s", corpus, name);
	char *data = test_read_file(path, &len);
	CHECK(data != NULL, "cannot read %s", path);
	if (data == NULL)
		return NULL;
	fmt_doc *d = parse_po(data, len, retranslate, skip, &e);
	CHECK(d != NULL, "%s: %s", name, e.msg);
	free(data);
	return d;
}

/* Fake-translates every text piece and serializes. */
static char *translate(fmt_doc *d, const char *target, size_t *len)
{
	char *out = NULL;
	pt_err e;
	if (target)
		CHECK(fmt_doc_set_target(d, target, &e) == 0, "%s", e.msg);
	for (size_t i = 0; i < fmt_doc_count(d); i++) {
		size_t n, tl = 0;
		int ok;
		if (fmt_piece_kind(d, i) != FMT_TEXT)
			continue;
		const char *t = fmt_piece_text(d, i, &n);
		char *tr = test_fake_translate(t, n, FMT_FORMAT_PO, &tl, &ok);
		CHECK(tr && ok, "piece %zu: placeholders damaged", i);
		if (tr)
			CHECK(fmt_piece_set(d, i, tr, tl, &e) == 0, "%s", e.msg);
		free(tr);
	}
	CHECK(fmt_doc_serialize(d, &out, len, &e) == 0, "%s", e.msg);
	return out;
}

/* Runs msgfmt --check on the output, when asked to. */
static void msgfmt_check(const char *what, const char *out, size_t len)
{
	char path[] = "/tmp/test-formats-po-XXXXXX";
	char cmd[512];
	if (!use_msgfmt || out == NULL)
		return;
	int fd = mkstemp(path);
	CHECK(fd >= 0, "mkstemp failed");
	if (fd < 0)
		return;
	CHECK(write(fd, out, len) == (ssize_t)len, "short write");
	close(fd);
	snprintf(cmd, sizeof cmd, "msgfmt --check -o /dev/null %s 2>&1 | "
		 "grep -v 'warning: header field' >&2; "
		 "msgfmt --check -o /dev/null %s 2>/dev/null", path, path);
	int st = system(cmd);
	CHECK(st == 0, "%s: msgfmt --check fails on the output", what);
	unlink(path);
}

static int has(const char *out, const char *s)
{
	return out != NULL && strstr(out, s) != NULL;
}

static void test_template(const char *target, const char *code,
			  int nplurals)
{
	fmt_doc *d = parse_file("template.pot", 0, 0);
	size_t len;
	char buf[256];
	if (d == NULL)
		return;
	char *out = translate(d, target, &len);
	snprintf(buf, sizeof buf, "\"Language: %s\\n\"", code);
	CHECK(has(out, buf), "%s: no Language header", target);
	snprintf(buf, sizeof buf, "\"Plural-Forms: nplurals=%d;", nplurals);
	CHECK(has(out, buf), "%s: no Plural-Forms for %d forms", target,
	      nplurals);
	CHECK(has(out, "charset=UTF-8") && !has(out, "CHARSET"),
	      "%s: charset not set", target);
	CHECK(!has(out, "#, fuzzy\nmsgid \"\""), "%s: header still fuzzy",
	      target);
	snprintf(buf, sizeof buf, "msgstr[%d]", nplurals - 1);
	CHECK(has(out, buf), "%s: no %s", target, buf);
	snprintf(buf, sizeof buf, "msgstr[%d]", nplurals);
	CHECK(!has(out, buf), "%s: too many plural forms", target);
	CHECK(has(out, "msgid \"Copying %s to %s\\n\"\nmsgstr \"\xC2\xAB"
		  "COPYING %s TO %s\xC2\xBB\\n\""),
	      "%s: c-format entry wrong or its final \\n lost", target);
	CHECK(has(out, "msgstr \"\"\n\"\xC2\xAB" "A LONG MESSAGE THAT IS "
		  "WRITTEN OVER SEVERAL LINES.\\n\"\n\"SECOND LINE WITH A "
		  "\\\"QUOTE\\\" AND A TAB\\tHERE.\xC2\xBB\\n\""),
	      "%s: multi-line msgstr or its escapes wrong", target);
	CHECK(has(out, "msgid \"   \"\nmsgstr \"\""), "%s: blank msgid "
	      "was translated", target);
	CHECK(has(out, "#~ msgid \"Obsolete entry\"\n#~ msgstr \"Veraltet\""),
	      "%s: obsolete entry changed", target);
	if (strcmp(target, "ar") == 0)
		CHECK(has(out, "msgstr[0] \"\xC2\xAB%d FILES\xC2\xBB\"\n"
			  "msgstr[1] \"\xC2\xAB" "ONE FILE\xC2\xBB\""),
		      "ar: the singular belongs in msgstr[1]");
	if (nplurals == 1)
		CHECK(has(out, "msgstr[0] \"\xC2\xAB%d FILES\xC2\xBB\"\n\n"),
		      "%s: one form should be the plural text", target);
	if (strcmp(target, "ru") == 0)
		CHECK(has(out, "msgstr[0] \"\xC2\xAB%d FILES\xC2\xBB\"\n"
			  "msgstr[1] \"\xC2\xAB%d FILES"),
		      "ru: msgstr[0] also serves 21: it needs the %%d text");
	else if (nplurals >= 2 && strcmp(target, "ar") != 0)
		CHECK(has(out, "msgstr[0] \"\xC2\xAB" "ONE FILE\xC2\xBB\"\n"
			  "msgstr[1] \"\xC2\xAB%d FILES\xC2\xBB\""),
		      "%s: singular/plural forms wrong", target);
	msgfmt_check(target, out, len);
	free(out);
	fmt_doc_free(d);
}

static void test_context_and_flags(void)
{
	fmt_doc *d = parse_file("template.pot", 0, 0);
	int seen_ctxt = 0, seen_plural = 0, seen_format = 0;
	if (d == NULL)
		return;
	for (size_t i = 0; i < fmt_doc_count(d); i++) {
		const char *t = fmt_piece_text(d, i, NULL);
		const char *c = fmt_piece_context(d, i);
		unsigned f = fmt_piece_flags(d, i);
		if (fmt_piece_kind(d, i) != FMT_TEXT)
			continue;
		if (strcmp(t, "Open") == 0)
			seen_ctxt = c != NULL && strcmp(c, "menu") == 0;
		if (strcmp(t, "%d files") == 0)
			seen_plural = (f & FMT_F_PLURAL) != 0;
		if (strcmp(t, "Copying %s to %s") == 0)
			seen_format = (f & FMT_F_FORMAT_STRING) &&
				      (f & FMT_F_MARKUP);
	}
	CHECK(seen_ctxt, "msgctxt not given as context");
	CHECK(seen_plural, "msgid_plural not flagged");
	CHECK(seen_format, "c-format entry not flagged");
	fmt_doc_free(d);
}

/* Translated entries stay unless asked; fuzzy ones per option. */
static void test_options(void)
{
	const char *expect[3][6] = {
		{ "No", "Cancel", "Folder", "Folders", NULL },
		{ "Yes", "No", "Cancel", "File", "Files", "Folder" },
		{ "Cancel", "Folder", "Folders", NULL },
	};
	size_t counts[3] = { 4, 7, 3 };
	for (int k = 0; k < 3; k++) {
		fmt_doc *d = parse_file("translated.po", k == 1, k == 2);
		size_t j = 0;
		if (d == NULL)
			continue;
		CHECK(fmt_doc_text_count(d) == counts[k], "option set %d: %zu "
		      "texts, expected %zu", k, fmt_doc_text_count(d), counts[k]);
		for (size_t i = 0; i < fmt_doc_count(d) && j < 6; i++) {
			if (fmt_piece_kind(d, i) != FMT_TEXT || !expect[k][j])
				continue;
			CHECK(strcmp(fmt_piece_text(d, i, NULL), expect[k][j]) == 0,
			      "option set %d: text %zu is '%s', expected '%s'", k,
			      j, fmt_piece_text(d, i, NULL), expect[k][j]);
			j++;
		}
		size_t len;
		pt_err e;
		CHECK(fmt_doc_set_target(d, "ar", &e) == PT_ELANG,
		      "a German catalogue accepted an Arabic target");
		char *out = translate(d, "de-AT", &len);
		CHECK(has(out, "msgid \"Yes\"\nmsgstr \"") &&
		      has(out, "#, fuzzy\nmsgid \"No\""),
		      "option set %d: entries or fuzzy flag lost", k);
		if (k == 0)
			CHECK(has(out, "msgstr \"Ja\"") &&
			      has(out, "msgstr[1] \"Dateien\""),
			      "translated entries were changed");
		msgfmt_check("translated.po", out, len);
		free(out);
		fmt_doc_free(d);
	}
}

static void test_no_header_and_crlf(void)
{
	size_t len;
	fmt_doc *d = parse_file("noheader.po", 0, 0);
	char *out = d ? translate(d, "pl", &len) : NULL;
	CHECK(has(out, "msgid \"\"\nmsgstr \"\"\n\"MIME-Version: 1.0\\n\"") ||
	      has(out, "msgid \"\"\nmsgstr \"\"\n\"Content-Type"),
	      "no header inserted: %s", out ? out : "");
	CHECK(has(out, "nplurals=3"), "pl plural forms missing");
	msgfmt_check("noheader.po", out, len);
	free(out);
	fmt_doc_free(d);
	/* Without a target, nothing but the msgstr changes. */
	d = parse_file("noheader.po", 0, 0);
	out = d ? translate(d, NULL, &len) : NULL;
	CHECK(out && strcmp(out, "msgid \"Just one\"\nmsgstr \"\xC2\xAB"
			    "JUST ONE\xC2\xBB\"\n") == 0, "got [%s]", out);
	free(out);
	fmt_doc_free(d);
	d = parse_file("crlf.pot", 0, 0);
	out = d ? translate(d, "fr", &len) : NULL;
	for (size_t i = 0; out && i < len; i++)
		if (out[i] == '\n' && (i == 0 || out[i - 1] != '\r')) {
			CHECK(0, "crlf.pot: bare LF at byte %zu", i);
			break;
		}
	CHECK(has(out, "nplurals=2; plural=(n > 1);"), "fr plural rule");
	msgfmt_check("crlf.pot", out, len);
	free(out);
	fmt_doc_free(d);
}

static void test_errors(void)
{
	static const struct {
		const char *doc, *msg;
	} bad[] = {
		{ "msgid \"abc\nmsgstr \"\"\n", "line 1: unterminated" },
		{ "msgid \"a\"\nmsgstr \"\"\nbogus \"x\"\n", "line 3: unknown" },
		{ "msgid \"a\"\n\nmsgid \"b\"\nmsgstr \"\"\n", "line 1: msgid "
		  "without msgstr" },
		{ "\"floating\"\n", "line 1: string without" },
		{ "msgid \"a\\q\"\nmsgstr \"\"\n", "line 1: unknown escape" },
		{ "msgstr \"x\"\n", "line 1: msgstr out of place" },
		{ "msgid \"a\" junk\nmsgstr \"\"\n", "line 1: text after" },
		{ "msgid \"a\"\nmsgstr \"\"\n\nmsgid \"\\377\"\nmsgstr \"\"\n",
		  "line 4: an escape makes invalid UTF-8" },
		{ "msgid\nmsgstr \"\"\n", "line 1: keyword without" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		pt_err e = { 0 };
		fmt_doc *d = parse_po(bad[i].doc, strlen(bad[i].doc), 0, 0, &e);
		CHECK(d == NULL && (e.code == PT_EFORMAT || e.code == PT_EUTF8) &&
		      strstr(e.msg, bad[i].msg) != NULL,
		      "case %zu: got '%s', expected '%s'", i, e.msg, bad[i].msg);
		fmt_doc_free(d);
	}
}

static void test_plural_table(void)
{
	const char *codes[] = { "zh", "en", "es", "de", "fr", "pt", "ru", "it",
				"ar", "ja", "ko", "th", "vi", "id", "pl", "tr",
				"nl", "he" };
	for (size_t i = 0; i < 18; i++) {
		const char *expr = NULL;
		int n = fmt_plural_forms(codes[i], &expr);
		char want[32];
		snprintf(want, sizeof want, "nplurals=%d;", n);
		CHECK(n >= 1 && n <= 6 && expr && strncmp(expr, want,
							  strlen(want)) == 0,
		      "%s: %d forms, '%s'", codes[i], n, expr ? expr : "");
	}
	CHECK(fmt_plural_forms("xx", NULL) == 0, "unknown code has forms");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s [--msgfmt] CORPUS_DIR\n", argv[0]);
		return 2;
	}
	if (strcmp(argv[1], "--msgfmt") == 0 && argc > 2) {
		if (system("msgfmt --version >/dev/null 2>&1") != 0) {
			printf("msgfmt not found (install gettext): skipped\n");
			return 77;
		}
		use_msgfmt = 1;
		corpus = argv[2];
	} else {
		corpus = argv[1];
	}
	test_template("de", "de", 2);
	test_template("ru", "ru", 3);
	test_template("ar", "ar", 6);
	test_template("ja", "ja", 1);
	test_template("zh-TW", "zh", 1);
	test_context_and_flags();
	test_options();
	test_no_header_and_crlf();
	test_errors();
	test_plural_table();
	if (check_failures) {
		fprintf(stderr, "%d check(s) failed\n", check_failures);
		return 1;
	}
	printf("PO checks pass%s\n", use_msgfmt ? " (with msgfmt --check)" : "");
	return 0;
}
