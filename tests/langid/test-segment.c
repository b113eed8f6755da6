/*
 * test-segment.c: segmentation and reassembly.
 *
 *   test-segment CORPUS_DIR
 *
 * For every file of the corpus (named LANG-*.txt, or anything else for
 * the root rules) and several length limits: the pieces tile the input,
 * concatenate back to it byte for byte, TEXT pieces hold no line end and
 * no blank at either end and fit the limit, every piece is valid UTF-8;
 * replacing every TEXT piece keeps every gap. Then the same invariants on
 * thousands of random strings, and a few exact segmentations.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "langid.h"

static int is_blank_at(const char *s, size_t len, int end)
{
	/* ASCII and the common Unicode blanks used in the corpus. */
	static const char *blanks[] = { " ", "\t", "\xc2\xa0", "\xe3\x80\x80",
		NULL };
	for (int i = 0; blanks[i]; i++) {
		size_t n = strlen(blanks[i]);
		if (len >= n && memcmp(end ? s + len - n : s, blanks[i], n) == 0)
			return 1;
	}
	return 0;
}

/* Checks every invariant for one input; name is for messages. */
static void check_one(const char *name, const char *in, size_t len, int lang,
		      size_t max)
{
	langid_seg_params p = langid_seg_default_params();
	langid_segs *s = NULL;
	pt_err e;
	p.lang = lang;
	p.max_bytes = max;
	int rc = langid_segment(in, len, &p, &s, &e);
	CHECK(rc == 0, "%s: %s", name, e.msg);
	if (rc != 0)
		return;
	size_t n = langid_segs_count(s), off = 0, ntext = 0;
	size_t lim = max == 0 ? 0 : max < 16 ? 16 : max;
	for (size_t i = 0; i < n; i++) {
		size_t l;
		const char *t = langid_segs_text(s, i, &l);
		int k = langid_segs_kind(s, i);
		CHECK(t == in + off || memcmp(t, in + off, l) == 0,
		      "%s: piece %zu is not the input at %zu", name, i, off);
		CHECK(langid_segs_offset(s, i) == off, "%s: offset", name);
		CHECK(l > 0, "%s: empty piece %zu", name, i);
		CHECK(pt_utf8_check(t, l, NULL) == 0,
		      "%s: piece %zu cuts a UTF-8 sequence", name, i);
		if (k == LANGID_PIECE_TEXT) {
			ntext++;
			CHECK(memchr(t, '\n', l) == NULL &&
			      memchr(t, '\r', l) == NULL,
			      "%s: line end in text piece %zu", name, i);
			CHECK(!is_blank_at(t, l, 0) && !is_blank_at(t, l, 1),
			      "%s: blank at an end of text piece %zu '%.*s'",
			      name, i, (int)l, t);
			/* Only a single grapheme longer than the limit may
			 * exceed it; the corpus's longest is under 32. */
			CHECK(lim == 0 || l <= lim || l < 32,
			      "%s: piece %zu has %zu bytes, limit %zu", name,
			      i, l, lim);
		} else {
			CHECK(k == LANGID_PIECE_GAP, "%s: kind %d", name, k);
			CHECK(i == 0 || langid_segs_kind(s, i - 1) !=
			      LANGID_PIECE_GAP, "%s: two gaps in a row", name);
		}
		off += l;
	}
	CHECK(off == len, "%s: pieces cover %zu of %zu bytes", name, off,
	      len);
	char *out = NULL;
	size_t olen = 0;
	CHECK(langid_segs_join(s, &out, &olen, &e) == 0, "%s: join", name);
	CHECK(out && olen == len && memcmp(out, in, len) == 0,
	      "%s: join differs from the input", name);
	free(out);
	/* Translate every TEXT piece to "<i>": the gaps must stay. */
	size_t want_len = 0;
	char *want = malloc(len + n * 24 + 1);
	for (size_t i = 0; i < n; i++) {
		size_t l;
		const char *t = langid_segs_text(s, i, &l);
		if (langid_segs_kind(s, i) == LANGID_PIECE_TEXT) {
			char r[24];
			int rl = snprintf(r, sizeof r, "<%zu>", i);
			CHECK(langid_segs_set(s, i, r, (size_t)rl, &e) == 0,
			      "set");
			memcpy(want + want_len, r, (size_t)rl);
			want_len += (size_t)rl;
		} else {
			memcpy(want + want_len, t, l);
			want_len += l;
		}
	}
	CHECK(langid_segs_join(s, &out, &olen, &e) == 0, "%s: join", name);
	CHECK(olen == want_len && memcmp(out, want, olen) == 0,
	      "%s: translated join lost a gap", name);
	CHECK(langid_segs_set(s, n, "x", 1, &e) == PT_EINVAL, "bad index");
	free(out);
	free(want);
	langid_segs_free(s);
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b = NULL;
	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0) {
		long n = ftell(f);
		rewind(f);
		b = n >= 0 ? malloc((size_t)n + 1) : NULL;
		if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
			free(b);
			b = NULL;
		} else if (b) {
			*len = (size_t)n;
		}
	}
	fclose(f);
	return b;
}

static int corpus(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int files = 0;
	static const size_t limits[] = { 0, 16, 40, 120 };
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		char path[4096], code[3] = { 0 };
		size_t len;
		int lang = LANGID_UND;
		if (strstr(de->d_name, ".txt") == NULL)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		char *in = read_file(path, &len);
		CHECK(in != NULL, "cannot read %s", path);
		if (in == NULL)
			continue;
		if (de->d_name[2] == '-') {
			memcpy(code, de->d_name, 2);
			langid_lang_find(code, &lang, NULL);
		}
		for (size_t k = 0; k < 4; k++)
			check_one(de->d_name, in, len, lang, limits[k]);
		free(in);
		files++;
	}
	closedir(d);
	return files;
}

/* Random strings over a mix of scripts, blanks, line ends, markers. */
static void random_inputs(int count)
{
	static const char *atoms[] = { "a", "Z", "é", "ß", " ", "  ", "\t",
		"\n", "\r", "\r\n", ".", "!", "?", ",", ";", ":", "- ", "1. ",
		"7", "中", "。", "，", "、", "日本", "ไทย", "สวัสดี", "🙂",
		"👩‍💻", "🇩🇪", "\xcc\x81", "\xe3\x80\x80", "\xc2\xa0", "مرحبا",
		"שלום", "Привет", "Dr.", "e.g.", "word", "https://x.org/a",
		"«", "»", "\"", "(", ")", "* ", "# ", "> ", "\xef\xbb\xbf",
		"\x01", "z. B.", "한국어" };
	size_t na = sizeof atoms / sizeof atoms[0];
	static const size_t limits[] = { 0, 16, 23, 50 };
	unsigned seed = 12345;
	char buf[2048];
	for (int it = 0; it < count; it++) {
		size_t len = 0;
		seed = seed * 1103515245u + 12345u;
		int natoms = (int)((seed >> 16) % 60);
		for (int k = 0; k < natoms; k++) {
			seed = seed * 1103515245u + 12345u;
			const char *a = atoms[(seed >> 16) % na];
			size_t l = strlen(a);
			memcpy(buf + len, a, l);
			len += l;
		}
		char name[32];
		snprintf(name, sizeof name, "random #%d", it);
		check_one(name, buf, len, (int)(seed % 19) - 1,
			  limits[(seed >> 8) % 4]);
	}
}

/* Random bytes: invalid UTF-8 is refused with its offset, valid input
 * keeps every invariant; nothing crashes. */
static void random_bytes(int count)
{
	unsigned seed = 777;
	unsigned char buf[256];
	for (int it = 0; it < count; it++) {
		seed = seed * 1103515245u + 12345u;
		size_t len = (seed >> 16) % sizeof buf;
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			unsigned v = seed >> 16;
			/* Mostly ASCII, some lead and continuation bytes. */
			buf[i] = (unsigned char)(v % 4 ? 0x20 + v % 0x60 :
						 0x80 + v % 0x80);
		}
		size_t bad;
		langid_segs *s = NULL;
		pt_err e;
		int valid = pt_utf8_check((char *)buf, len, &bad) == 0;
		int rc = langid_segment((char *)buf, len, NULL, &s, &e);
		if (valid) {
			CHECK(rc == 0, "valid random bytes refused: %s", e.msg);
			check_one("random bytes", (char *)buf, len, LANGID_UND,
				  (seed >> 4) % 40);
		} else {
			char want[32];
			snprintf(want, sizeof want, "byte %zu", bad);
			CHECK(rc == PT_EUTF8 && strstr(e.msg, want),
			      "invalid input: rc %d '%s'", rc, e.msg);
		}
		langid_segs_free(s);
	}
}

/* The pieces of text as "T:..|G:..|" for exact comparisons. */
static void expect_pieces(const char *in, int lang, size_t max,
			  const char *want)
{
	langid_seg_params p = langid_seg_default_params();
	langid_segs *s = NULL;
	char got[1024] = "";
	size_t g = 0;
	p.lang = lang;
	p.max_bytes = max;
	if (langid_segment(in, strlen(in), &p, &s, NULL) != 0) {
		CHECK(0, "segment '%s'", in);
		return;
	}
	for (size_t i = 0; i < langid_segs_count(s) && g < 900; i++) {
		size_t l;
		const char *t = langid_segs_text(s, i, &l);
		g += (size_t)snprintf(got + g, sizeof got - g, "%c:%.*s|",
				      langid_segs_kind(s, i) ? 'T' : 'G',
				      (int)l, t);
	}
	CHECK(strcmp(got, want) == 0, "\n got  %s\n want %s", got, want);
	langid_segs_free(s);
}

static void exact(void)
{
	expect_pieces("- item one\n- item two\n", LANGID_UND, 0,
		      "G:- |T:item one|G:\n- |T:item two|G:\n|");
	expect_pieces("  Hello there.  How are you?\r\n\r\n\tBye.", 1, 0,
		      "G:  |T:Hello there.|G:  |T:How are you?|G:\r\n\r\n\t|"
		      "T:Bye.|");
	/* The English abbreviation list keeps "Mr." inside the sentence. */
	expect_pieces("Mr. Smith is here. He waits.", 1, 0,
		      "T:Mr. Smith is here.|G: |T:He waits.|");
	expect_pieces("Herr Dr. Meier kommt. Ja.", 3, 0,
		      "T:Herr Dr. Meier kommt.|G: |T:Ja.|");
	/* The root rules have no such list. */
	expect_pieces("Mr. Smith is here.", LANGID_UND, 0,
		      "T:Mr.|G: |T:Smith is here.|");
	expect_pieces("你好。世界！", 0, 0, "T:你好。|T:世界！|");
	/* An opening quote starts the next sentence; an ASCII "?" inside
	 * a URL ends none. */
	expect_pieces("です。「引用」です。", 9, 0,
		      "T:です。|T:「引用」です。|");
	expect_pieces("See https://x.org/?a=1 now. Yes.", 1, 0,
		      "T:See https://x.org/?a=1 now.|G: |T:Yes.|");
	/* Japanese bullets need no blank after them. */
	expect_pieces("・項目\n", 9, 0, "G:・|T:項目|G:\n|");
	/* Thai without blanks is cut between words. */
	expect_pieces("ภาษาไทยเขียนติดกันยาวมาก", 11, 24,
		      "T:ภาษาไทย|T:เขียน|T:ติดกัน|T:ยาวมาก|");
	expect_pieces("12. Mai\n12345\n---", 3, 0,
		      "G:12. |T:Mai|G:\n12345\n---|");
	expect_pieces("one two, three four, five six", 1, 16,
		      "T:one two,|G: |T:three four,|G: |T:five six|");
	expect_pieces("aaaa bbbb cccc dddd eeee", 1, 16,
		      "T:aaaa bbbb cccc|G: |T:dddd eeee|");
	/* No blank, no clause mark: cut at a grapheme boundary (the
	 * flag is 8 bytes and must not be cut). */
	expect_pieces("abcdefghijklm🇩🇪xyz", LANGID_UND, 16,
		      "T:abcdefghijklm|T:🇩🇪xyz|");
}

static void paragraphs(void)
{
	const char *in = "One. Two.\n\n\nThree.\r\n  \r\n- Four\n";
	langid_segs *s = NULL;
	CHECK(langid_segment(in, strlen(in), NULL, &s, NULL) == 0, "seg");
	const char *want[] = { "One.", "Two.", "Three.", "Four" };
	size_t k = 0;
	for (size_t i = 0; s && i < langid_segs_count(s); i++) {
		size_t l;
		const char *t = langid_segs_text(s, i, &l);
		if (langid_segs_kind(s, i) != LANGID_PIECE_TEXT)
			continue;
		CHECK(k < 4 && l == strlen(want[k]) &&
		      memcmp(t, want[k], l) == 0, "piece %zu", i);
		size_t para = langid_segs_paragraph(s, i);
		CHECK(para == (k < 2 ? 0 : k - 1), "'%s' in paragraph %zu",
		      want[k < 4 ? k : 3], para);
		k++;
	}
	CHECK(k == 4, "%zu text pieces", k);
	langid_segs_free(s);
}

static void errors(void)
{
	langid_segs *s = NULL;
	pt_err e;
	int rc = langid_segment("ok \xc3\x28 x", 7, NULL, &s, &e);
	CHECK(rc == PT_EUTF8 && strstr(e.msg, "byte 3"), "bad UTF-8: %s",
	      e.msg);
	CHECK(s == NULL, "output set on failure");
	CHECK(langid_segment("x", 1, NULL, NULL, &e) == PT_EINVAL, "NULL");
	CHECK(langid_segs_count(NULL) == 0 && langid_segs_kind(NULL, 0) < 0,
	      "NULL list");
	langid_segs_free(NULL);
	CHECK(langid_segment(NULL, 0, NULL, &s, &e) == 0 &&
	      langid_segs_count(s) == 0, "empty input");
	langid_segs_free(s);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test-segment CORPUS_DIR\n");
		return 2;
	}
	int files = corpus(argv[1]);
	CHECK(files >= 20, "corpus %s: %d files", argv[1], files);
	random_inputs(5000);
	random_bytes(3000);
	exact();
	paragraphs();
	errors();
	if (check_failures) {
		fprintf(stderr, "test-segment: %d failures\n", check_failures);
		return 1;
	}
	printf("test-segment: ok (%d corpus files, 5000 random inputs)\n",
	       files);
	return 0;
}
