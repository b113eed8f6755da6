/*
 * test-lang.c: the language table and langid_lang_find.
 */
#include <string.h>

#include "check.h"
#include "langid.h"

static void expect(const char *name, const char *code)
{
	pt_err e;
	int l = -99;
	int rc = langid_lang_find(name, &l, &e);
	CHECK(rc == 0, "'%s' not found: %s", name, e.msg);
	if (rc == 0)
		CHECK(strcmp(langid_lang_code(l), code) == 0,
		      "'%s' gave %s, want %s", name, langid_lang_code(l),
		      code);
}

static void reject(const char *name)
{
	pt_err e;
	int l = 7;
	int rc = langid_lang_find(name, &l, &e);
	CHECK(rc == PT_ELANG, "'%s' accepted as %d", name, l);
	CHECK(l == 7, "'%s': output touched on failure", name);
	if (rc == PT_ELANG)
		CHECK(strstr(e.msg, "zh en es de fr pt ru it ar ja ko th vi "
			      "id pl tr nl he") != NULL,
		      "message lacks the code list: %s", e.msg);
}

static void table(void)
{
	static const char *codes[LANGID_COUNT] = { "zh", "en", "es", "de",
		"fr", "pt", "ru", "it", "ar", "ja", "ko", "th", "vi", "id",
		"pl", "tr", "nl", "he" };
	for (int i = 0; i < LANGID_COUNT; i++) {
		CHECK(strcmp(langid_lang_code(i), codes[i]) == 0, "%d", i);
		CHECK(langid_lang_english(i) && langid_lang_native(i) &&
		      langid_lang_scripts(i), "%d", i);
		/* Every code, English and native name finds itself. */
		expect(codes[i], codes[i]);
		expect(langid_lang_english(i), codes[i]);
		expect(langid_lang_native(i), codes[i]);
	}
	CHECK(strcmp(langid_lang_code(LANGID_UND), "und") == 0, "und");
	CHECK(langid_lang_code(LANGID_COUNT) == NULL, "out of range");
	CHECK(langid_lang_code(-2) == NULL, "out of range");
	CHECK(strcmp(langid_lang_english(0), "Chinese") == 0, "zh name");
	CHECK(strcmp(langid_lang_english(2), "Spanish") == 0, "es name");
	CHECK(strcmp(langid_lang_scripts(6), "Cyrl") == 0, "ru script");
}

int main(void)
{
	table();
	/* Aliases, tags, locale names, any case. */
	const char *pairs[][2] = {
		{ "zh-CN", "zh" }, { "zh_CN", "zh" }, { "zh-Hans", "zh" },
		{ "ZH-hant-TW", "zh" }, { "zh-TW", "zh" }, { "zh_HK", "zh" },
		{ "cmn", "zh" }, { "pt-BR", "pt" }, { "pt_PT", "pt" },
		{ "iw", "he" }, { "IW", "he" }, { "in", "id" },
		{ "ja-JP", "ja" }, { "en-US", "en" }, { "en_GB", "en" },
		{ "es-419", "es" }, { "de_DE.UTF-8", "de" },
		{ "fr_FR@euro", "fr" }, { "deu", "de" }, { "ger", "de" },
		{ "nld", "nl" }, { "Dutch", "nl" }, { "GERMAN", "de" },
		{ "deutsch", "de" }, { "español", "es" }, { "ESPAÑOL", "es" },
		{ "français", "fr" }, { "TÜRKÇE", "tr" }, { "русский", "ru" },
		{ "РУССКИЙ", "ru" }, { "日本語", "ja" }, { "한국어", "ko" },
		{ "עברית", "he" }, { "العربية", "ar" }, { "ไทย", "th" },
		{ "tiếng việt", "vi" }, { "Bahasa Indonesia", "id" },
		{ "ko-KR", "ko" }, { "th_TH", "th" }, { "ar-EG", "ar" },
		{ "Mandarin", "zh" }, { "simplified chinese", "zh" },
	};
	for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
		expect(pairs[i][0], pairs[i][1]);
	const char *bad[] = { "", "xx", "klingon", "uk", "fa", "hi",
		"en-", "-en", "en--US", "en-US-toolongsubtag", "e", "zz-CN",
		"English!", "Chinese ", "\xff\xfe", "sv_SE", "el",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaa" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		reject(bad[i]);
	pt_err e;
	int l;
	CHECK(langid_lang_find(NULL, &l, &e) == PT_EINVAL, "NULL name");
	CHECK(strlen(langid_lang_codes()) == 18 * 3 - 1, "code list");
	if (check_failures) {
		fprintf(stderr, "test-lang: %d failures\n", check_failures);
		return 1;
	}
	printf("test-lang: ok\n");
	return 0;
}
