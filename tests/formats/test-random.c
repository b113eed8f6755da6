/*
 * test-random.c: a property test of every parser. Thousands of inputs
 * per format, random bytes drawn from the format's syntax characters and
 * UTF-8 in several scripts, and corpus files with random mutations
 * (bytes flipped, inserted, deleted, slices repeated): each must either
 * fail with a clear error or round-trip byte for byte; a fake translation
 * of what parses must serialize and, for SubRip and PO, parse again.
 * Meant to run under the sanitizers too.
 *
 * Usage: test-formats-random [-n N] [-s SEED] CORPUS_FILE...
 */
#include "check.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static size_t rnd_below(size_t n)
{
	return n ? (size_t)(rnd() % n) : 0;
}

static const char *const pieces[] = {
	"<", ">", "</", "<b>", "</b>", "<p>", "<code>", "</code>", "<pre>",
	"</pre>", "<script>", "</script>", "<!--", "-->", "<!DOCTYPE html>",
	"&amp;", "&lt;", "&eacute;", "&#", "&#x26;", ";", "\"", "'", "=",
	" title=\"", " alt=", "\n", "\r\n", "\r", " ", "  ", "\t", "#", "## ",
	"*", "**", "_", "`", "```", "~~~", "    ", "> ", "- ", "1. ", "|",
	"|---|", "[", "](", ")", "![", "]:", "[^1]", "---\n", "+++\n", "\\",
	"msgid ", "msgstr ", "msgstr[0] ", "msgid_plural ", "msgctxt ", "#, ",
	"fuzzy", "c-format", "#~ ", "\"\"", "\\n", "\\\"", "\\t", "\\377",
	"1\n", "00:00:01,000 --> 00:00:02,000\n", "-->", "{\\an8}", "%s",
	"%1$d", "{name}", "${x}", "$1", "\xE2\x9F\xA6" "1\xE2\x9F\xA7",
	"word", "Text", "Hello world.", "\xC3\xA9", "\xE4\xB8\xAD\xE6\x96\x87",
	"\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D", "\xF0\x9F\x98\x80",
	"\xD0\x9F\xD1\x80\xD0\xB8", "\xE0\xB8\xAA", "\xEF\xBB\xBF",
};

/* A random document made of syntax pieces and, rarely, raw bytes. */
static size_t make_random(char *buf, size_t cap)
{
	size_t n = 0, want = rnd_below(cap / 8);
	int raw = rnd_below(4) == 0;
	while (n < want) {
		if (raw && rnd_below(20) == 0) {
			buf[n++] = (char)rnd();
			continue;
		}
		const char *p = pieces[rnd_below(sizeof pieces / sizeof *pieces)];
		size_t l = strlen(p);
		if (n + l > cap)
			break;
		memcpy(buf + n, p, l);
		n += l;
	}
	return n;
}

/* A corpus file with a few random edits. */
static size_t make_mutant(char *buf, size_t cap, const char *src,
			  size_t len)
{
	size_t n = len < cap ? len : cap;
	memcpy(buf, src, n);
	for (size_t k = rnd_below(6) + 1; k > 0; k--) {
		size_t at = rnd_below(n + 1);
		switch (rnd_below(5)) {
		case 0:
			if (n)
				buf[rnd_below(n)] ^= (char)(1u << rnd_below(8));
			break;
		case 1:
			if (n < cap) {
				memmove(buf + at + 1, buf + at, n - at);
				buf[at] = (char)rnd();
				n++;
			}
			break;
		case 2:
			if (at < n) {
				size_t l = rnd_below(n - at) % 16 + 1;
				memmove(buf + at, buf + at + l, n - at - l);
				n -= l;
			}
			break;
		case 3: {
			size_t l = n ? rnd_below(n - at + 1) % 64 : 0;
			if (n + l <= cap && at + l <= n) {
				memmove(buf + at + l, buf + at, n - at);
				n += l;
			}
			break;
		}
		default: {
			const char *p = pieces[rnd_below(sizeof pieces /
							 sizeof *pieces)];
			size_t l = strlen(p);
			if (n + l <= cap) {
				memmove(buf + at + l, buf + at, n - at);
				memcpy(buf + at, p, l);
				n += l;
			}
		}
		}
	}
	return n;
}

static size_t n_ok, n_err;

static void check_one(const char *buf, size_t len, int format)
{
	fmt_params pp = fmt_default_params();
	fmt_doc *d = NULL;
	char *out = NULL;
	size_t out_len;
	pt_err e = { 0 };
	pp.format = format;
	int rc = fmt_parse(buf, len, &pp, &d, &e);
	if (rc != 0) {
		CHECK((rc == PT_EUTF8 || rc == PT_EFORMAT) && e.msg[0] &&
		      strncmp(e.msg, "line ", 5) == 0,
		      "%s: unexpected error %d '%s'", fmt_format_name(format), rc,
		      e.msg);
		n_err++;
		return;
	}
	n_ok++;
	CHECK(fmt_doc_serialize(d, &out, &out_len, &e) == 0 &&
	      out_len == len && memcmp(out, buf, len) == 0,
	      "%s: %zu-byte input does not round-trip",
	      fmt_format_name(format), len);
	free(out);
	if (format == FMT_FORMAT_PO && rnd_below(2))
		fmt_doc_set_target(d, "ru", NULL);
	for (size_t i = 0; i < fmt_doc_count(d); i++) {
		size_t tl, rl = 0;
		int ok;
		if (fmt_piece_kind(d, i) != FMT_TEXT)
			continue;
		const char *t = fmt_piece_text(d, i, &tl);
		char *tr = test_fake_translate(t, tl, format, &rl, &ok);
		CHECK(tr != NULL && ok, "%s: protect/restore failed on [%.*s]",
		      fmt_format_name(format), (int)tl, t);
		if (tr)
			fmt_piece_set(d, i, tr, rl, NULL);
		free(tr);
	}
	out = NULL;
	CHECK(fmt_doc_serialize(d, &out, &out_len, &e) == 0, "%s",
	      e.msg);
	if (out && (format == FMT_FORMAT_PO || format == FMT_FORMAT_SRT)) {
		fmt_doc *d2 = NULL;
		CHECK(fmt_parse(out, out_len, &pp, &d2, &e) == 0,
		      "%s: translated output does not parse: %s\n%s",
		      fmt_format_name(format), e.msg, out);
		fmt_doc_free(d2);
	}
	free(out);
	fmt_doc_free(d);
}

int main(int argc, char **argv)
{
	size_t iters = 2000, nfiles = 0;
	static char buf[1 << 16];
	char *files[64];
	size_t lens[64];
	int fmts[64];
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
			iters = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc)
			rng_state = strtoull(argv[++i], NULL, 10) * 0x9E3779B97F4A7C15u | 1;
		else if (nfiles < 64 &&
			 (files[nfiles] = test_read_file(argv[i],
							 &lens[nfiles])) != NULL)
			fmt_format_from_path(argv[i], &fmts[nfiles++]);
	}
	for (int f = 0; f < FMT_FORMAT_COUNT; f++) {
		for (size_t it = 0; it < iters; it++)
			check_one(buf, make_random(buf, sizeof buf), f);
		for (size_t k = 0; k < nfiles; k++) {
			if (fmts[k] != f)
				continue;
			for (size_t it = 0; it < iters / 4; it++)
				check_one(buf, make_mutant(buf, sizeof buf,
							   files[k], lens[k]), f);
		}
	}
	for (size_t k = 0; k < nfiles; k++)
		free(files[k]);
	printf("%zu inputs parsed and round-tripped, %zu refused with an "
	       "error\n", n_ok, n_err);
	if (check_failures) {
		fprintf(stderr, "%d check(s) failed\n", check_failures);
		return 1;
	}
	return 0;
}
