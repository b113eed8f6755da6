/*
 * test-detect.c: detection edge cases: text without letters, scripts
 * that settle the language, mixed text, confidences, bad input,
 * concurrent use of one detector.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "langid.h"

static langid_detector *det;

static int top(const char *s, float *conf)
{
	langid_guess g[4];
	size_t n = 0;
	pt_err e;
	int rc = langid_detect(det, s, strlen(s), g, 4, &n, &e);
	CHECK(rc == 0 && n >= 1, "'%s': %s", s, e.msg);
	if (rc != 0 || n == 0)
		return -99;
	float sum = 0;
	for (size_t i = 0; i < n; i++) {
		CHECK(g[i].confidence >= 0 && g[i].confidence <= 1,
		      "'%s': confidence %f", s, g[i].confidence);
		CHECK(i == 0 || g[i].confidence <= g[i - 1].confidence,
		      "'%s': not sorted", s);
		sum += g[i].confidence;
	}
	CHECK(sum <= 1.0001f, "'%s': confidences add up to %f", s, sum);
	if (conf)
		*conf = g[0].confidence;
	return g[0].lang;
}

static void expect(const char *s, const char *code)
{
	float c;
	int l = top(s, &c);
	CHECK(l != -99 && strcmp(langid_lang_code(l), code) == 0,
	      "'%s': got %s (%.2f), want %s", s, langid_lang_code(l), c,
	      code);
}

static void *worker(void *arg)
{
	int *bad = arg;
	for (int i = 0; i < 2000; i++) {
		langid_guess g;
		size_t n;
		const char *s = i % 2 ? "Guten Morgen, wie geht es dir?" :
			"Bonjour, comment allez-vous ?";
		if (langid_detect(det, s, strlen(s), &g, 1, &n, NULL) != 0 ||
		    strcmp(langid_lang_code(g.lang), i % 2 ? "de" : "fr"))
			(*bad)++;
	}
	return NULL;
}

/* Every LL-*.txt file of the segmentation corpus is in language LL. */
static int corpus(const char *dir)
{
	DIR *dd = opendir(dir);
	struct dirent *de;
	int files = 0;
	if (dd == NULL)
		return 0;
	while ((de = readdir(dd)) != NULL) {
		char path[4096], buf[8192];
		if (de->d_name[2] != '-' || !strstr(de->d_name, ".txt"))
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		FILE *f = fopen(path, "rb");
		if (f == NULL)
			continue;
		size_t len = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[len] = '\0';
		char code[3] = { de->d_name[0], de->d_name[1], 0 };
		expect(buf, code);
		files++;
	}
	closedir(dd);
	return files;
}

/* Random bytes never crash detection; invalid UTF-8 is refused. */
static void random_bytes(void)
{
	unsigned seed = 99;
	char buf[128];
	for (int it = 0; it < 3000; it++) {
		seed = seed * 1103515245u + 12345u;
		size_t len = (seed >> 16) % sizeof buf;
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			buf[i] = (char)(seed >> 16);
		}
		langid_guess g[3];
		size_t n = 0;
		int valid = pt_utf8_check(buf, len, NULL) == 0;
		int rc = langid_detect(det, buf, len, g, 3, &n, NULL);
		CHECK(valid ? rc == 0 && n >= 1 : rc == PT_EUTF8,
		      "random bytes: rc %d", rc);
	}
}

int main(int argc, char **argv)
{
	pt_err e;
	if (langid_detector_new(&det, &e) != 0) {
		fprintf(stderr, "detector: %s\n", e.msg);
		return 1;
	}
	langid_guess g[4];
	size_t n = 0;
	/* Nothing to go on: und with confidence 0. */
	const char *und[] = { "", "12345", "https://example.org/x",
		"{ a = 1; }", "🙂🙂", "   \n\t", "3.14 + 2,71 = 5,85 %",
		"user@example.com", "www.example.org", "---", "x",
		"Ελληνικά κείμενα", "हिन्दी पाठ",
		"int main(void) { return 0; }", "x = foo(bar);",
		"if (a == b) return;", "for (i = 0; i < n; i++) sum += v[i];",
		"std::vector<int> items_list;" };
	for (size_t i = 0; i < sizeof und / sizeof und[0]; i++) {
		float c = 1;
		int l = top(und[i], &c);
		CHECK(l == LANGID_UND && c == 0, "'%s': got %s %.2f", und[i],
		      langid_lang_code(l), c);
	}
	CHECK(langid_detect(det, NULL, 0, g, 4, &n, &e) == 0 && n == 1 &&
	      g[0].lang == LANGID_UND, "NULL empty text");
	/* Scripts that decide alone. */
	expect("Привет, как дела?", "ru");
	expect("مرحبا بالعالم", "ar");
	expect("שלום עולם", "he");
	expect("สวัสดีครับ", "th");
	expect("안녕하세요", "ko");
	expect("ファイルを開く", "ja");
	expect("これは日本語です", "ja");
	expect("这是一个中文句子", "zh");
	expect("打开文件时出错", "zh");
	/* Latin languages through the model. */
	expect("The file could not be opened.", "en");
	expect("No se pudo abrir el archivo.", "es");
	expect("Die Datei konnte nicht geöffnet werden.", "de");
	expect("Le fichier n'a pas pu être ouvert.", "fr");
	expect("Não foi possível abrir o arquivo.", "pt");
	expect("Impossibile aprire il file.", "it");
	expect("Berkas tidak dapat dibuka.", "id");
	expect("Không thể mở tập tin.", "vi");
	expect("Nie można otworzyć pliku.", "pl");
	expect("Dosya açılamadı.", "tr");
	expect("Het bestand kon niet worden geopend.", "nl");
	/* Letters win over a URL, numbers and emoji around them. */
	expect("Siehe https://example.org/de für 12 Details 🙂", "de");
	/* Brackets and an "=" in prose are not code. */
	expect("Save the file (Ctrl+S) before closing the window.", "en");
	expect("Die Formel a = b gilt für alle Werte (siehe oben).", "de");
	expect("; จะละเลยการทับค่าสำหรับคีย์นี้", "th");
	/* Product names and code inside another script do not take over. */
	expect("NetworkManager 未在运行", "zh");
	expect("עצם StarImpress 5.0", "he");
	expect("Дэвид Мэдор (David Madore)", "ru");
	/* Mixed scripts: the larger share leads, the other follows. */
	const char *mix = "PDF ファイルを保存できませんでした";
	CHECK(langid_detect(det, mix, strlen(mix), g, 4, &n, &e) == 0 &&
	      n >= 2 && g[0].lang == 9, "mixed ja/Latin");
	/* Long text gives a confident answer. */
	float c = 0;
	int l = top("Dies ist ein längerer deutscher Text, der aus mehreren "
		    "Sätzen besteht. Er sollte ohne Zweifel erkannt werden, "
		    "weil er viele typische Wörter enthält.", &c);
	CHECK(l == 3 && c > 0.9f, "long German: %d %.2f", l, c);
	/* max limits the candidates. */
	CHECK(langid_detect(det, "hello world", 11, g, 1, &n, &e) == 0 &&
	      n == 1, "max 1");
	/* Bad input. */
	CHECK(langid_detect(det, "ab\xff", 3, g, 4, &n, &e) == PT_EUTF8 &&
	      strstr(e.msg, "byte 2"), "bad UTF-8: %s", e.msg);
	CHECK(langid_detect(det, "x", 1, g, 0, &n, &e) == PT_EINVAL, "max 0");
	CHECK(langid_detect(NULL, "x", 1, g, 1, &n, &e) == PT_EINVAL, "NULL");
	CHECK(langid_text_has_words(det, "Hallo Welt", 10), "has words");
	CHECK(!langid_text_has_words(det, "42 🙂", 7), "no words");
	/* One detector, four threads. */
	pthread_t th[4];
	int bad[4] = { 0 };
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, worker, &bad[i]);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK(bad[i] == 0, "thread %d: %d wrong", i, bad[i]);
	}
	random_bytes();
	if (argc > 1)
		CHECK(corpus(argv[1]) >= 18, "corpus %s", argv[1]);
	langid_detector_free(det);
	langid_detector_free(NULL);
	if (check_failures) {
		fprintf(stderr, "test-detect: %d failures\n", check_failures);
		return 1;
	}
	printf("test-detect: ok\n");
	return 0;
}
