/*
 * lang.c: the table of the 18 languages and the lookup of a language by
 * code, alias, BCP-47 tag, POSIX locale name or name.
 */
#include <stdlib.h>
#include <string.h>

#include <unicode/ucasemap.h>
#include <unicode/utypes.h>

#include "langid.h"

typedef struct lang_info {
	const char *code;
	const char *english;
	const char *native;
	const char *scripts;
	/* ISO 639-2/3 codes and retired or macro-language codes, then any
	 * other names accepted, all lowercase, NUL-separated, "" ends. */
	const char *aliases;
} lang_info;

static const lang_info langs[LANGID_COUNT] = {
	{ "zh", "Chinese", "中文", "Hans Hant",
	  "zho\0chi\0cmn\0mandarin\0simplified chinese\0traditional chinese\0"
	  "chinese (simplified)\0chinese (traditional)\0简体中文\0繁體中文\0"
	  "汉语\0漢語\0" },
	{ "en", "English", "English", "Latn", "eng\0" },
	{ "es", "Spanish", "Español", "Latn", "spa\0castellano\0castilian\0" },
	{ "de", "German", "Deutsch", "Latn", "deu\0ger\0" },
	{ "fr", "French", "Français", "Latn", "fra\0fre\0" },
	{ "pt", "Portuguese", "Português", "Latn",
	  "por\0brazilian portuguese\0português do brasil\0" },
	{ "ru", "Russian", "Русский", "Cyrl", "rus\0" },
	{ "it", "Italian", "Italiano", "Latn", "ita\0" },
	{ "ar", "Arabic", "العربية", "Arab", "ara\0arb\0" },
	{ "ja", "Japanese", "日本語", "Jpan", "jpn\0" },
	{ "ko", "Korean", "한국어", "Kore", "kor\0" },
	{ "th", "Thai", "ไทย", "Thai", "tha\0" },
	{ "vi", "Vietnamese", "Tiếng Việt", "Latn", "vie\0" },
	{ "id", "Indonesian", "Bahasa Indonesia", "Latn",
	  "ind\0in\0indonesia\0" },
	{ "pl", "Polish", "Polski", "Latn", "pol\0" },
	{ "tr", "Turkish", "Türkçe", "Latn", "tur\0" },
	{ "nl", "Dutch", "Nederlands", "Latn", "nld\0dut\0flemish\0vlaams\0" },
	{ "he", "Hebrew", "עברית", "Hebr", "heb\0iw\0" },
};

static const char all_codes[] =
	"zh en es de fr pt ru it ar ja ko th vi id pl tr nl he";

const char *langid_lang_code(int lang)
{
	if (lang == LANGID_UND)
		return "und";
	return lang >= 0 && lang < LANGID_COUNT ? langs[lang].code : NULL;
}

const char *langid_lang_english(int lang)
{
	if (lang == LANGID_UND)
		return "Undetermined";
	return lang >= 0 && lang < LANGID_COUNT ? langs[lang].english : NULL;
}

const char *langid_lang_native(int lang)
{
	if (lang == LANGID_UND)
		return "und";
	return lang >= 0 && lang < LANGID_COUNT ? langs[lang].native : NULL;
}

const char *langid_lang_scripts(int lang)
{
	if (lang == LANGID_UND)
		return "Zyyy";
	return lang >= 0 && lang < LANGID_COUNT ? langs[lang].scripts : NULL;
}

const char *langid_lang_codes(void)
{
	return all_codes;
}

/* Index of a code or alias (already folded), or -1. */
static int find_exact(const char *s)
{
	for (int i = 0; i < LANGID_COUNT; i++) {
		if (strcmp(s, langs[i].code) == 0)
			return i;
		for (const char *a = langs[i].aliases; *a; a += strlen(a) + 1)
			if (strcmp(s, a) == 0)
				return i;
	}
	return -1;
}

/* Unicode case folding of a NUL-terminated UTF-8 string into buf;
 * returns 0, or -1 if it does not fit or ICU fails. */
static int fold(const UCaseMap *cm, const char *s, char *buf, size_t cap)
{
	UErrorCode st = U_ZERO_ERROR;
	int32_t n = ucasemap_utf8FoldCase(cm, buf, (int32_t)cap, s, -1, &st);
	if (U_FAILURE(st) || n < 0 || (size_t)n >= cap)
		return -1;
	buf[n] = '\0';
	return 0;
}

static int find_name(const char *folded)
{
	UErrorCode st = U_ZERO_ERROR;
	UCaseMap *cm = ucasemap_open("", 0, &st);
	char buf[128];
	int found = -1;

	if (U_FAILURE(st))
		return -1;
	for (int i = 0; i < LANGID_COUNT && found < 0; i++) {
		if (fold(cm, langs[i].english, buf, sizeof buf) == 0 &&
		    strcmp(buf, folded) == 0)
			found = i;
		else if (fold(cm, langs[i].native, buf, sizeof buf) == 0 &&
			 strcmp(buf, folded) == 0)
			found = i;
	}
	ucasemap_close(cm);
	return found;
}

/* A BCP-47 tag or POSIX locale: "pt-BR", "zh_Hant_TW", "de_DE.UTF-8@euro",
 * "es-419". The primary subtag decides; later subtags must be 1-8
 * letters or digits. Works on a lowercased ASCII copy. Returns the index
 * or -1. */
static int find_tag(const char *lower)
{
	char buf[64];
	size_t n = strcspn(lower, ".@");
	if (n == 0 || n >= sizeof buf)
		return -1;
	memcpy(buf, lower, n);
	buf[n] = '\0';
	/* A modifier or charset needs a tag before it. */
	for (char *p = buf; *p; p++)
		if (*p == '_')
			*p = '-';
	char *dash = strchr(buf, '-');
	if (dash == NULL)
		return find_exact(buf);
	*dash = '\0';
	for (char *sub = dash + 1;;) {
		size_t len = strcspn(sub, "-");
		if (len == 0 || len > 8)
			return -1;
		for (size_t i = 0; i < len; i++)
			if (!((sub[i] >= 'a' && sub[i] <= 'z') ||
			      (sub[i] >= '0' && sub[i] <= '9')))
				return -1;
		if (sub[len] == '\0')
			break;
		sub += len + 1;
	}
	if (strlen(buf) < 2 || strlen(buf) > 3)
		return -1;
	return find_exact(buf);
}

int langid_lang_find(const char *name, int *lang, pt_err *e)
{
	if (name == NULL || lang == NULL)
		return pt_err_set(e, PT_EINVAL, "language name is NULL");
	size_t len = strlen(name);
	int idx = -1;
	if (len > 0 && len < 64) {
		char lower[64];
		int ascii = 1;
		for (size_t i = 0; i <= len; i++) {
			unsigned char c = (unsigned char)name[i];
			ascii &= c < 0x80;
			lower[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
		}
		if (ascii)
			idx = find_exact(lower);
		if (idx < 0 && ascii)
			idx = find_tag(lower);
		if (idx < 0 && pt_utf8_check(name, len, NULL) == 0) {
			UErrorCode st = U_ZERO_ERROR;
			UCaseMap *cm = ucasemap_open("", 0, &st);
			char folded[192];
			if (U_SUCCESS(st) &&
			    fold(cm, name, folded, sizeof folded) == 0) {
				idx = find_name(folded);
				if (idx < 0)
					idx = find_exact(folded);
			}
			ucasemap_close(cm);
		}
	}
	if (idx < 0) {
		int ok = len < 40 && pt_utf8_check(name, len, NULL) == 0;
		return pt_err_set(e, PT_ELANG,
				  "unsupported language '%s': supported codes "
				  "are %s", ok ? name : "(unprintable)",
				  all_codes);
	}
	*lang = idx;
	return 0;
}
