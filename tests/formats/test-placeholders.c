/*
 * test-placeholders.c: fmt_protect finds each kind of placeholder and
 * fmt_restore puts it back exactly (also from the token forms a model
 * tends to write); restore and fmt_check_placeholders catch each kind of
 * damage: a placeholder lost, repeated, altered, a closing tag moved
 * before its opening tag. Text that only looks like markup is left alone.
 */
#include "check.h"

#define TOK(n) "\xE2\x9F\xA6" #n "\xE2\x9F\xA7"

/* Protects s, checks the placeholders found, restores the protected
 * text unchanged and compares. */
static void round_trip(const char *s, int format, size_t count,
		       const char *first)
{
	fmt_protected *p = NULL;
	fmt_report r;
	char *out = NULL;
	size_t n, ol = 0, fl;
	pt_err e;
	CHECK(fmt_protect(s, strlen(s), format, &p, &e) == 0, "%s", e.msg);
	if (p == NULL)
		return;
	const char *t = fmt_protected_text(p, &n);
	CHECK(fmt_protected_count(p) == count, "[%s] (%s): %zu placeholders, "
	      "expected %zu; protected: [%s]", s, fmt_format_name(format),
	      fmt_protected_count(p), count, t);
	if (first && count > 0) {
		const char *f = fmt_protected_original(p, 0, &fl);
		CHECK(f && fl == strlen(first) && memcmp(f, first, fl) == 0,
		      "[%s]: first placeholder [%.*s], expected [%s]", s,
		      (int)fl, f ? f : "", first);
	}
	CHECK(fmt_restore(p, t, n, &out, &ol, &r, &e) == 0, "%s", e.msg);
	CHECK(out && ol == strlen(s) && memcmp(out, s, ol) == 0 &&
	      fmt_report_ok(&r), "[%s]: restored as [%s]", s, out ? out : "");
	free(out);
	fmt_protected_free(p);
}

static void test_kinds(void)
{
	const int T = FMT_FORMAT_TEXT, M = FMT_FORMAT_MARKDOWN,
		  H = FMT_FORMAT_HTML, S = FMT_FORMAT_SRT, P = FMT_FORMAT_PO;
	round_trip("Copy %s to %d", P, 2, "%s");
	round_trip("Value %1$d of %2$-8.3lf", P, 2, "%1$d");
	round_trip("100%% sure", P, 1, "%%");
	round_trip("Hello %(name)s!", P, 1, "%(name)s");
	round_trip("Hello {name}, {0} and {0:.2f} and {}", T, 4, "{name}");
	round_trip("Jinja {{ user.name }} here", T, 1, "{{ user.name }}");
	round_trip("Path ${HOME}/x and $1 and $PATH", P, 3, "${HOME}");
	round_trip("Path $PATH in text", T, 0, NULL);
	round_trip("Tom &amp; Jerry &#169; &#x263A;", H, 3, "&amp;");
	round_trip("A <b>bold</b> and <a href=\"x>y\">link</a><br/>", H, 5,
		   "<b>");
	round_trip("Use <code>a && b</code> here", H, 1,
		   "<code>a && b</code>");
	round_trip("See https://example.com/a?b=1. Then", T, 1,
		   "https://example.com/a?b=1");
	round_trip("Mail mailto:me@example.com now", T, 1, NULL);
	round_trip("{\\an8}Top line <i>italic</i>", S, 3, "{\\an8}");
	round_trip("Some **bold**, *it*, _em_, ~~del~~", M, 8, "**");
	round_trip("Run `ls -l` or ``a ` b``", M, 2, "`ls -l`");
	round_trip("A [link](http://x.org/(a)) and ![img](p.png \"t\")", M, 4,
		   "[");
	round_trip("Ref [text][id] and note[^1]", M, 3, "[");
	round_trip("Escaped \\* star and <https://auto.link>", M, 2, "\\*");
	round_trip("Literal " TOK(3) " token", T, 1, TOK(3));
	round_trip("Variant \xE2\x9F\xA6 2 \xE2\x9F\xA7 and \xE3\x80\x9A"
		   "\xEF\xBC\x91\xE3\x80\x9B", T, 2, "\xE2\x9F\xA6 2 "
		   "\xE2\x9F\xA7");
	/* Look-alikes that are text. */
	round_trip("50% off, a < b > c, [sic], snake_case, 2 * 3", M, 0, NULL);
	round_trip("Bold **in plain text** stays", T, 0, NULL);
	round_trip("AT&T and &nosemicolon", H, 0, NULL);
	round_trip("", T, 0, NULL);
	round_trip("日本語の%sテキスト{名前}", P, 1, "%s");
}

/* Restores tr against the protection of src and returns the report. */
static fmt_report restore(const char *src, int format, const char *tr,
			  char **out)
{
	fmt_protected *p = NULL;
	fmt_report r;
	size_t ol;
	memset(&r, 0, sizeof r);
	*out = NULL;
	CHECK(fmt_protect(src, strlen(src), format, &p, NULL) == 0, "protect");
	if (p == NULL)
		return r;
	CHECK(fmt_restore(p, tr, strlen(tr), out, &ol, &r, NULL) == 0,
	      "restore");
	fmt_protected_free(p);
	return r;
}

static void test_restore_damage(void)
{
	const int H = FMT_FORMAT_HTML, P = FMT_FORMAT_PO;
	char *out;
	fmt_report r;
	/* Variants a model writes are accepted. */
	r = restore("Copy %s to %d", P, "Kopiere " TOK(1) " nach \xE2\x9F\xA6 2 "
		    "\xE2\x9F\xA7", &out);
	CHECK(fmt_report_ok(&r) && out && strcmp(out, "Kopiere %s nach %d") == 0,
	      "spaces inside a token: [%s] %s", out, r.first);
	free(out);
	r = restore("Copy %s to %d", P, "\xE3\x80\x9A\xEF\xBC\x92\xE3\x80\x9B "
		    "\xE2\x9F\xA6\xEF\xBC\x91\xE2\x9F\xA7", &out);
	CHECK(fmt_report_ok(&r) && out && strcmp(out, "%d %s") == 0,
	      "full-width digits, 〚〛 brackets: [%s] %s", out, r.first);
	free(out);
	/* Lost. */
	r = restore("Copy %s to %d", P, "Kopiere " TOK(1), &out);
	CHECK(r.lost == 1 && strstr(r.first, "%d") && strstr(r.first, "lost"),
	      "lost: %zu [%s]", r.lost, r.first);
	free(out);
	/* Repeated. */
	r = restore("Copy %s", P, TOK(1) " " TOK(1), &out);
	CHECK(r.duplicated == 1 && out && strcmp(out, "%s %s") == 0,
	      "duplicated: %zu [%s]", r.duplicated, out);
	free(out);
	/* Unknown token. */
	r = restore("Copy %s", P, TOK(1) " " TOK(7), &out);
	CHECK(r.altered == 1 && strstr(r.first, "unknown token"),
	      "unknown: %zu [%s]", r.altered, r.first);
	free(out);
	/* Closing tag first. */
	r = restore("a <b>bold</b> word", H, "a " TOK(2) "fett" TOK(1) " Wort",
		    &out);
	CHECK(r.altered == 1 && strstr(r.first, "</b>"),
	      "tag order: %zu [%s]", r.altered, r.first);
	free(out);
	r = restore("a <b>bold</b> word", H, TOK(1) "fett" TOK(2) " ein Wort",
		    &out);
	CHECK(fmt_report_ok(&r), "moved pair is fine: %s", r.first);
	free(out);
}

static void check_case(const char *src, const char *tr, int format,
		       size_t lost, size_t dup, size_t alt)
{
	fmt_report r;
	pt_err e = { 0 };
	int rc = fmt_check_placeholders(src, strlen(src), tr, strlen(tr),
					format, &r, &e);
	CHECK(r.lost == lost && r.duplicated == dup && r.altered == alt &&
	      (rc == 0) == (lost + dup + alt == 0),
	      "[%s] -> [%s]: lost %zu dup %zu altered %zu (rc %d, %s); "
	      "expected %zu %zu %zu", src, tr, r.lost, r.duplicated, r.altered,
	      rc, e.msg, lost, dup, alt);
}

static void test_check(void)
{
	const int T = FMT_FORMAT_TEXT, M = FMT_FORMAT_MARKDOWN,
		  H = FMT_FORMAT_HTML, P = FMT_FORMAT_PO;
	check_case("%s and %d", "%d und %s", P, 0, 0, 0);
	check_case("%s file", "%S Datei", P, 1, 0, 1);
	check_case("Hi {name}", "Hallo {nmae}", T, 1, 0, 1);
	check_case("%1$s %2$s", "%1$s %1$s", P, 1, 1, 0);
	check_case("<b>x</b>", "<b>x", H, 1, 0, 0);
	check_case("Dir ${x}", "Ordner", T, 1, 0, 0);
	check_case("Ex $1", "Bsp $2", T, 1, 0, 1);
	check_case("Tom &amp; Jerry", "Tom & Jerry", H, 1, 0, 0);
	check_case("**bold**", "**fett*", M, 1, 0, 1);
	check_case("run `ls`", "starte `dir`", M, 1, 0, 1);
	check_case("[a](http://x)", "[b](http://y)", M, 1, 0, 1);
	check_case("see http://x.org/a", "siehe http://x.org/a.", T, 0, 0, 0);
	check_case("plain", "schlicht", T, 0, 0, 0);
	check_case("", "", T, 0, 0, 0);
}

int main(void)
{
	test_kinds();
	test_restore_damage();
	test_check();
	if (check_failures) {
		fprintf(stderr, "%d check(s) failed\n", check_failures);
		return 1;
	}
	printf("placeholder checks pass\n");
	return 0;
}
