/*
 * test-text.c: UTF-8 validation and normalization (NFC, control
 * characters).
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "langid.h"

static void norm(const char *in, size_t len, const char *want)
{
	char *out = NULL;
	size_t olen = 0;
	pt_err e;
	int rc = langid_text_normalize(in, len, &out, &olen, &e);
	CHECK(rc == 0, "normalize: %s", e.msg);
	if (rc != 0)
		return;
	CHECK(olen == strlen(want) && strcmp(out, want) == 0,
	      "got '%s' want '%s'", out, want);
	free(out);
}

int main(void)
{
	pt_err e;
	/* Validation names the byte offset of the first bad byte. */
	CHECK(langid_text_check("abc", 3, &e) == 0, "valid");
	CHECK(langid_text_check("", 0, &e) == 0, "empty");
	struct { const char *s; size_t len, off; } bad[] = {
		{ "abc\xff", 4, 3 },
		{ "\xc3", 1, 0 },
		{ "ok\xc0\xaf", 4, 2 },              /* overlong '/' */
		{ "12345\xed\xa0\x80", 8, 5 },        /* surrogate */
		{ "\xf4\x90\x80\x80", 4, 0 },         /* above U+10FFFF */
		{ "é\xe2\x82", 4, 2 },                /* truncated € */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char want[32];
		snprintf(want, sizeof want, "byte %zu ", bad[i].off);
		int rc = langid_text_check(bad[i].s, bad[i].len, &e);
		CHECK(rc == PT_EUTF8 && strstr(e.msg, want) != NULL,
		      "case %zu: rc %d msg '%s', want '%s'", i, rc, e.msg,
		      want);
		char *out = (char *)"untouched";
		size_t olen = 99;
		rc = langid_text_normalize(bad[i].s, bad[i].len, &out, &olen,
					   &e);
		CHECK(rc == PT_EUTF8 && olen == 99 &&
		      strcmp(out, "untouched") == 0, "normalize case %zu", i);
	}
	/* NFC: composed forms, Hangul jamo, and already-NFC text. */
	norm("e\xcc\x81t\xc3\xa9", 6, "\xc3\xa9t\xc3\xa9");
	norm("\xe1\x84\x92\xe1\x85\xa1\xe1\x86\xab", 9, "한");
	norm("Ångström", strlen("Ångström"), "Ångström");
	/* Controls go, newline and tab stay; so does a NUL inside. */
	norm("a\x01" "b\x7f" "c\r\nd\te\xc2\x85" "f\xe2\x80\xa8g", 17,
	     "abc\nd\tefg");
	norm("x\0y", 3, "xy");
	norm("", 0, "");
	norm("🙂 emoji stays", strlen("🙂 emoji stays"), "🙂 emoji stays");
	char *out;
	size_t olen;
	CHECK(langid_text_normalize(NULL, 3, &out, &olen, &e) == PT_EINVAL,
	      "NULL text");
	CHECK(langid_text_normalize("x", 1, NULL, &olen, &e) == PT_EINVAL,
	      "NULL out");
	if (check_failures) {
		fprintf(stderr, "test-text: %d failures\n", check_failures);
		return 1;
	}
	printf("test-text: ok\n");
	return 0;
}
