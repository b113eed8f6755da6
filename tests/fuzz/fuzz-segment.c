/*
 * fuzz-segment: langid's segmentation and reassembly on arbitrary bytes.
 * For valid UTF-8 the pieces cover the input in order, byte for byte, and
 * joining them gives it back; a TEXT piece holds no line end, does not
 * start or end with white space and keeps to max_bytes unless one
 * grapheme is longer; replacing every TEXT piece and joining gives the
 * gaps back around the replacements. Invalid UTF-8 fails with PT_EUTF8
 * naming the first bad byte, in langid_segment and langid_text_check
 * alike. Detection and normalization run on the same text: the guesses
 * are ordered and their confidences add up to at most 1, the normalized
 * text is valid UTF-8 without control characters other than tab and
 * newline.
 *
 * Input: byte 0 chooses the language (byte % 19 - 1: LANGID_UND or a
 * table index), byte 1 max_bytes (0: no limit), the rest is the text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "langid.h"

static langid_detector *det;

/* White space at a piece's edge: what the gaps take (ASCII blanks and
 * line ends, and the Unicode spaces a sentence may be surrounded by). */
static int is_blank_cp(uint32_t cp)
{
	return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == 0x0b ||
	       cp == 0x0c || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
	       (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
	       cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

static uint32_t first_cp(const char *s, size_t n)
{
	uint32_t cp = 0;

	fuzz_ref_utf8_decode((const uint8_t *)s, n, &cp);
	return cp;
}

static uint32_t last_cp(const char *s, size_t n)
{
	size_t i = n;

	while (i > 0 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
		i--;
	return i > 0 ? first_cp(s + i - 1, n - i + 1) : 0;
}

static void check_text_piece(const char *p, size_t n, size_t max, size_t i)
{
	FUZZ_CHECK(n > 0, "TEXT piece %zu is empty", i);
	FUZZ_CHECK(memchr(p, '\n', n) == NULL && memchr(p, '\r', n) == NULL,
		   "TEXT piece %zu holds a line end", i);
	FUZZ_CHECK(!is_blank_cp(first_cp(p, n)) && !is_blank_cp(last_cp(p, n)),
		   "TEXT piece %zu \"%.*s\" starts or ends with white space", i,
		   (int)(n < 60 ? n : 60), p);
	/* A piece over the limit must be one grapheme; we cannot tell
	 * graphemes here, so only a piece of several spaces-separated words
	 * is surely wrong. */
	if (max > 0 && n > max)
		FUZZ_CHECK(memchr(p, ' ', n) == NULL,
			   "TEXT piece %zu has %zu bytes (limit %zu) and a space", i, n,
			   max);
}

static void check_segments(const char *text, size_t len, const langid_seg_params *sp)
{
	langid_segs *s;
	size_t n, off = 0, out_len, max = sp->max_bytes;
	char *out;
	pt_err e;
	int rc;

	rc = langid_segment(text, len, sp, &s, &e);
	FUZZ_CHECK(rc == 0 || rc == PT_ENOMEM, "segment: %s", e.msg);
	if (rc != 0)
		return;
	if (max > 0 && max < 16)
		max = 16;
	n = langid_segs_count(s);
	FUZZ_CHECK((n == 0) == (len == 0), "%zu pieces for %zu bytes", n, len);
	for (size_t i = 0; i < n; i++) {
		size_t pl;
		const char *p = langid_segs_text(s, i, &pl);
		int kind = langid_segs_kind(s, i);

		FUZZ_CHECK(p != NULL && pl > 0, "piece %zu is empty", i);
		FUZZ_CHECK(langid_segs_offset(s, i) == off, "piece %zu at %zu, expected %zu",
			   i, langid_segs_offset(s, i), off);
		FUZZ_CHECK(off + pl <= len && memcmp(p, text + off, pl) == 0,
			   "piece %zu differs from the input at %zu", i, off);
		FUZZ_CHECK(kind == LANGID_PIECE_TEXT || kind == LANGID_PIECE_GAP,
			   "piece %zu has kind %d", i, kind);
		if (kind == LANGID_PIECE_TEXT)
			check_text_piece(p, pl, max, i);
		off += pl;
	}
	FUZZ_CHECK(off == len, "pieces cover %zu of %zu bytes", off, len);
	FUZZ_CHECK(langid_segs_kind(s, n) == -1 && langid_segs_text(s, n, &out_len) == NULL,
		   "piece %zu (past the end) answered", n);
	rc = langid_segs_join(s, &out, &out_len, &e);
	FUZZ_CHECK(rc == 0 || rc == PT_ENOMEM, "join: %s", e.msg);
	if (rc == 0) {
		FUZZ_CHECK(out_len == len && memcmp(out, text, len) == 0 && out[len] == '\0',
			   "join gave %zu bytes back of %zu", out_len, len);
		free(out);
	}
	/* Every TEXT piece replaced by "<i>": the gaps stay where they were. */
	{
		size_t want_len = 0, w = 0;
		char rep[32], *want;

		for (size_t i = 0; i < n; i++) {
			size_t pl;

			langid_segs_text(s, i, &pl);
			want_len += langid_segs_kind(s, i) == LANGID_PIECE_TEXT ? 24 : pl;
		}
		want = malloc(want_len + 1);
		FUZZ_CHECK(want != NULL, "out of memory");
		for (size_t i = 0; i < n; i++) {
			size_t pl;
			const char *p = langid_segs_text(s, i, &pl);

			if (langid_segs_kind(s, i) != LANGID_PIECE_TEXT) {
				memcpy(want + w, p, pl);
				w += pl;
				continue;
			}
			snprintf(rep, sizeof rep, "<%020zu>\xc3\xa9", i);  /* 24 bytes */
			FUZZ_CHECK(langid_segs_set(s, i, rep, 24, &e) == 0, "set: %s", e.msg);
			memcpy(want + w, rep, 24);
			w += 24;
		}
		FUZZ_CHECK(langid_segs_set(s, n, "x", 1, &e) == PT_EINVAL,
			   "set of piece %zu (past the end) accepted", n);
		if (langid_segs_join(s, &out, &out_len, &e) == 0) {
			FUZZ_CHECK(out_len == w && memcmp(out, want, w) == 0,
				   "join after set: %zu bytes, expected %zu", out_len, w);
			free(out);
		}
		free(want);
	}
	langid_segs_free(s);
}

static void check_detect_normalize(const char *text, size_t len)
{
	langid_guess g[4];
	size_t n = 0, out_len = 0;
	float sum = 0;
	char *out;
	pt_err e;
	int rc;

	rc = langid_detect(det, text, len, g, 4, &n, &e);
	FUZZ_CHECK(rc == 0, "detect: %s", e.msg);
	FUZZ_CHECK(n >= 1 && n <= 4, "%zu guesses", n);
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK(g[i].lang >= LANGID_UND && g[i].lang < LANGID_COUNT,
			   "guess %zu: language %d", i, g[i].lang);
		FUZZ_CHECK(g[i].confidence >= 0 && g[i].confidence <= 1,
			   "guess %zu: confidence %g", i, (double)g[i].confidence);
		FUZZ_CHECK(i == 0 || g[i].confidence <= g[i - 1].confidence,
			   "guesses out of order at %zu", i);
		sum += g[i].confidence;
	}
	FUZZ_CHECK(sum <= 1.0001f, "confidences add up to %g", (double)sum);
	(void)langid_text_has_words(det, text, len);
	rc = langid_text_normalize(text, len, &out, &out_len, &e);
	FUZZ_CHECK(rc == 0 || rc == PT_ENOMEM || rc == PT_ETOOLARGE, "normalize: %s",
		   e.msg);
	if (rc != 0)
		return;
	FUZZ_CHECK(out[out_len] == '\0' && fuzz_ref_utf8_valid((const uint8_t *)out,
							       out_len, NULL),
		   "normalized text is not valid UTF-8");
	for (size_t i = 0; i < out_len; i++) {
		unsigned char c = (unsigned char)out[i];

		FUZZ_CHECK(c >= 0x20 || c == '\t' || c == '\n', "control 0x%02x at %zu "
			   "after normalization", c, i);
		FUZZ_CHECK(c != 0x7f, "DEL at %zu after normalization", i);
	}
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	langid_seg_params sp = langid_seg_default_params();
	const char *text = (const char *)data + 2;
	size_t len, bad = 0;
	langid_segs *s;
	pt_err e;
	int rc;

	if (det == NULL) {
		rc = langid_detector_new(&det, &e);
		FUZZ_CHECK(rc == 0, "detector: %s", e.msg);
	}
	if (size < 2)
		return 0;
	len = size - 2;
	sp.lang = data[0] % (LANGID_COUNT + 1) - 1;
	sp.max_bytes = data[1];
	if (!fuzz_ref_utf8_valid((const uint8_t *)text, len, &bad)) {
		rc = langid_segment(text, len, &sp, &s, &e);
		FUZZ_CHECK(rc == PT_EUTF8, "invalid UTF-8 (byte %zu) gave %d", bad, rc);
		FUZZ_CHECK(fuzz_msg_number(e.msg, "byte ") == (long long)bad,
			   "segment: message \"%s\" does not name byte %zu", e.msg, bad);
		rc = langid_text_check(text, len, &e);
		FUZZ_CHECK(rc == PT_EUTF8 && fuzz_msg_number(e.msg, "byte ") == (long long)bad,
			   "text_check: rc %d, message \"%s\", first bad byte %zu", rc,
			   e.msg, bad);
		return 0;
	}
	FUZZ_CHECK(langid_text_check(text, len, &e) == 0, "text_check refused valid "
		   "text: %s", e.msg);
	check_segments(text, len, &sp);
	check_detect_normalize(text, len);
	return 0;
}
