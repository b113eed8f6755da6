/*
 * test-pieces.c: what each parser makes of the structures of its format
 * (what is KEEP, what is TEXT, with which text and flags), how
 * translations are written back (escapes, line ends, prefixes), format
 * lookup, and the API's handling of bad arguments.
 */
#include "check.h"

static fmt_doc *parse(const char *s, int format)
{
	fmt_params pp = fmt_default_params();
	fmt_doc *d = NULL;
	pt_err e;
	pp.format = format;
	CHECK(fmt_parse(s, strlen(s), &pp, &d, &e) == 0, "parse: %s", e.msg);
	return d;
}

/* Index of the TEXT piece whose text is exactly t, or -1. */
static long text_is(const fmt_doc *d, const char *t)
{
	for (size_t i = 0; d && i < fmt_doc_count(d); i++)
		if (fmt_piece_kind(d, i) == FMT_TEXT &&
		    strcmp(fmt_piece_text(d, i, NULL), t) == 0)
			return (long)i;
	return -1;
}

/* Whether some TEXT piece's text contains s. */
static int text_has(const fmt_doc *d, const char *s)
{
	for (size_t i = 0; d && i < fmt_doc_count(d); i++)
		if (fmt_piece_kind(d, i) == FMT_TEXT &&
		    strstr(fmt_piece_text(d, i, NULL), s))
			return 1;
	return 0;
}

static char *write_with(fmt_doc *d, long i, const char *tr)
{
	char *out = NULL;
	size_t n;
	pt_err e;
	if (d == NULL || i < 0)
		return NULL;
	CHECK(fmt_piece_set(d, (size_t)i, tr, strlen(tr), &e) == 0, "%s", e.msg);
	CHECK(fmt_doc_serialize(d, &out, &n, &e) == 0, "%s", e.msg);
	return out;
}

static void test_markdown(void)
{
	fmt_doc *d = parse("---\ntitle: Front\n---\n# Head *one* #\n\n"
			   "Para with `code` and [a link](http://x.org/p).\n"
			   "Second line.\n\n```sh\necho code\n```\n\n"
			   "    indented code\n\n<div>\nhtml block\n</div>\n\n"
			   "[ref]: http://x.org \"Title\"\n\n| A | B |\n|---|---|\n"
			   "| c | d |\n\n> quote\n> more\n", FMT_FORMAT_MARKDOWN);
	long h = text_is(d, "Head *one*");
	CHECK(h >= 0 && (fmt_piece_flags(d, (size_t)h) & FMT_F_HEADING) &&
	      (fmt_piece_flags(d, (size_t)h) & FMT_F_MARKUP),
	      "heading text or flags");
	CHECK(text_is(d, "Para with `code` and [a link](http://x.org/p). "
		      "Second line.") >= 0, "paragraph lines not joined");
	CHECK(!text_has(d, "Front") && !text_has(d, "echo") &&
	      !text_has(d, "indented") && !text_has(d, "html block") &&
	      !text_has(d, "Title"), "code, front matter, HTML or a "
	      "reference definition became text");
	long c = text_is(d, "c");
	CHECK(c >= 0 && (fmt_piece_flags(d, (size_t)c) & FMT_F_TABLE),
	      "table cell");
	char *out = write_with(d, c, "x | y\n`a|b`");
	CHECK(out && strstr(out, "| x \\| y `a|b` | d |"), "pipe in a cell: %s",
	      out ? out : "");
	free(out);
	long q = text_is(d, "quote more");
	out = write_with(d, q, "zitat\nmehr");
	CHECK(out && strstr(out, "\n> zitat\n> mehr\n"), "quote continuation: "
	      "[%s]", out ? out : "");
	free(out);
	fmt_doc_free(d);
	d = parse("Line one  \nline two\\\nthree\n", FMT_FORMAT_MARKDOWN);
	long p = text_is(d, "Line one\nline two\nthree");
	CHECK(p >= 0 && (fmt_piece_flags(d, (size_t)p) & FMT_F_LINES),
	      "hard breaks");
	out = write_with(d, p, "eins\nzwei");
	CHECK(out && strcmp(out, "eins  \nzwei\n") == 0, "hard break written "
	      "back: [%s]", out ? out : "");
	free(out);
	fmt_doc_free(d);
	d = parse("- item\r\n  cont\r\n", FMT_FORMAT_MARKDOWN);
	out = write_with(d, text_is(d, "item cont"), "a\nb");
	CHECK(out && strcmp(out, "- a\r\n  b\r\n") == 0, "CRLF list item: [%s]",
	      out ? out : "");
	free(out);
	fmt_doc_free(d);
}

static void test_html(void)
{
	fmt_doc *d = parse("<html><head><title>T &amp; U</title><style>p{}"
			   "</style></head><body><script>var x='<p>no</p>';"
			   "</script><!-- note --><p class=a>Caf&eacute; "
			   "<b>bold</b>\n   text&nbsp;here</p><pre>keep  this"
			   "</pre><textarea>raw</textarea><img alt=\"A &quot;cat"
			   "&quot;\" src=x.png><input placeholder='Name' "
			   "aria-label=Search><code>x</code></body></html>",
			   FMT_FORMAT_HTML);
	long t = text_is(d, "T &amp; U");
	CHECK(t >= 0 && (fmt_piece_flags(d, (size_t)t) & FMT_F_HEADING),
	      "title");
	CHECK(text_is(d, "Caf\xC3\xA9 <b>bold</b> text\xC2\xA0here") >= 0,
	      "inline run: entities decoded, tags kept, spaces collapsed");
	CHECK(!text_has(d, "no") && !text_has(d, "keep") &&
	      !text_has(d, "raw") && !text_has(d, "note") && !text_has(d, "p{}"),
	      "script, pre, textarea, comment or style became text");
	long a = text_is(d, "A \"cat\"");
	CHECK(a >= 0 && (fmt_piece_flags(d, (size_t)a) & FMT_F_ATTRIBUTE),
	      "alt attribute");
	CHECK(text_is(d, "Name") >= 0 && text_is(d, "Search") >= 0,
	      "placeholder / aria-label");
	CHECK(!text_has(d, "x.png") && text_is(d, "x") < 0,
	      "src or a lone code element became text");
	char *out = write_with(d, a, "Ein \"Kater\" & <Hund>");
	CHECK(out && strstr(out, "alt=\"Ein &quot;Kater&quot; &amp; &lt;Hund>\""),
	      "attribute escaping: %s", out ? out : "");
	free(out);
	out = write_with(d, text_is(d, "Search"), "\n Suche jetzt \n");
	CHECK(out && strstr(out, "aria-label=Suche&#32;jetzt>"),
	      "unquoted attribute: %s", out ? out : "");
	free(out);
	out = write_with(d, text_is(d, "Caf\xC3\xA9 <b>bold</b> text\xC2\xA0here"),
			 "Caf\xC3\xA9 <b>fett</b> 1 < 2 & AT&amp;T\xC2\xA0ok");
	CHECK(out && strstr(out, "<p class=a>Caf\xC3\xA9 <b>fett</b> 1 &lt; 2 "
			    "&amp; AT&amp;T&nbsp;ok</p>"), "text escaping: %s",
	      out ? out : "");
	free(out);
	fmt_doc_free(d);
}

static void test_srt(void)
{
	const char *doc = "1\r\n00:00:01,000 --> 00:00:02,000\r\n<i>Hi</i>\r\n"
			  "there\r\n\r\n2\r\n00:00:03,000 --> 00:00:04,000\r\n"
			  "Bye\r\n";
	fmt_doc *d = parse(doc, FMT_FORMAT_SRT);
	long c = text_is(d, "<i>Hi</i>\nthere");
	CHECK(c >= 0 && (fmt_piece_flags(d, (size_t)c) &
			 (FMT_F_LINES | FMT_F_MARKUP)) == (FMT_F_LINES |
							   FMT_F_MARKUP),
	      "cue text and flags");
	CHECK(!text_has(d, "-->") && text_is(d, "1") < 0, "timing or number "
	      "became text");
	char *out = write_with(d, c, "\n<i>Hallo</i>\n\n\ndu\n");
	CHECK(out && strstr(out, "00:00:02,000\r\n<i>Hallo</i>\r\ndu\r\n\r\n2\r\n"),
	      "CRLF and blank lines: [%s]", out ? out : "");
	free(out);
	fmt_doc_free(d);
	static const struct {
		const char *doc, *msg;
	} bad[] = {
		{ "1\nnot a timing\nx\n", "line 2: expected a timing" },
		{ "\n\ngarbage\n", "line 3: expected a subtitle number" },
		{ "1\n00:00:01,000 --> 00:00:02,000\nA\n\n7\n",
		  "line 5: the last subtitle has no timing" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		fmt_params pp = fmt_default_params();
		pt_err e = { 0 };
		pp.format = FMT_FORMAT_SRT;
		CHECK(fmt_parse(bad[i].doc, strlen(bad[i].doc), &pp, &d, &e) ==
		      PT_EFORMAT && strstr(e.msg, bad[i].msg),
		      "srt error %zu: '%s'", i, e.msg);
	}
}

static void test_text(void)
{
	fmt_doc *d = parse("  Para one\n  still one.  \n\n\nTwo 12:30\n\n1234\n",
			   FMT_FORMAT_TEXT);
	CHECK(fmt_doc_text_count(d) == 2, "%zu texts", fmt_doc_text_count(d));
	CHECK(text_is(d, "Para one\n  still one.") >= 0 &&
	      text_is(d, "Two 12:30") >= 0, "paragraph texts");
	fmt_doc_free(d);
}

static void test_api(void)
{
	int f = -1;
	pt_err e;
	fmt_doc *d = NULL;
	CHECK(fmt_format_find("MD", &f, NULL) == 0 && f == FMT_FORMAT_MARKDOWN,
	      "md");
	CHECK(fmt_format_find("pot", &f, NULL) == 0 && f == FMT_FORMAT_PO, "pot");
	CHECK(fmt_format_find("docx", &f, &e) == PT_ENOTFOUND &&
	      strstr(e.msg, "markdown"), "unknown format message: %s", e.msg);
	CHECK(fmt_format_from_path("a/b.HTM", &f) == 0 && f == FMT_FORMAT_HTML,
	      "htm");
	CHECK(fmt_format_from_path("x.tar", &f) == PT_ENOTFOUND &&
	      f == FMT_FORMAT_TEXT, "unknown extension");
	CHECK(fmt_format_from_path("dir.md/file", &f) == PT_ENOTFOUND,
	      "a dot in a folder name");
	fmt_params pp = fmt_default_params();
	CHECK(fmt_parse("ok\nok\n\xC3(", 8, &pp, &d, &e) == PT_EUTF8 &&
	      strstr(e.msg, "line 3"), "invalid UTF-8: %s", e.msg);
	pp.max_bytes = 4;
	CHECK(fmt_parse("12345", 5, &pp, &d, &e) == PT_ETOOLARGE, "limit");
	pp.format = 99;
	CHECK(fmt_parse("x", 1, &pp, &d, &e) == PT_EINVAL, "bad format");
	d = parse("Hello", FMT_FORMAT_HTML);
	CHECK(fmt_piece_kind(d, 5) == -1 && fmt_piece_raw(d, 5, NULL) == NULL &&
	      fmt_piece_text(d, 5, NULL) == NULL, "out of range");
	CHECK(fmt_piece_set(d, 0, "\xFF", 1, &e) == PT_EUTF8, "bad UTF-8 set");
	fmt_doc_free(d);
	d = parse("<p>x y</p>", FMT_FORMAT_HTML);
	CHECK(fmt_piece_set(d, 0, "a", 1, &e) == PT_EINVAL, "set on KEEP");
	CHECK(fmt_doc_set_target(d, "klingon", &e) == PT_ELANG, "bad language");
	fmt_doc_free(d);
	fmt_doc_free(NULL);
	fmt_protected_free(NULL);
}

int main(void)
{
	test_markdown();
	test_html();
	test_srt();
	test_text();
	test_api();
	if (check_failures) {
		fprintf(stderr, "%d check(s) failed\n", check_failures);
		return 1;
	}
	printf("piece checks pass\n");
	return 0;
}
