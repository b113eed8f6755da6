/*
 * text.c: UTF-8 validation and the normalization of text before it goes
 * to the model (control characters out, NFC).
 */
#include <stdlib.h>
#include <string.h>

#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utf8.h>

#include "langid.h"

/* ICU counts in int32_t UTF-16 units; a UTF-8 byte never becomes more
 * than one unit, and NFC at most triples a string. */
#define TEXT_MAX ((size_t)INT32_MAX / 4)

int langid_text_check(const char *s, size_t len, pt_err *e)
{
	size_t bad;
	if (s == NULL && len > 0)
		return pt_err_set(e, PT_EINVAL, "text is NULL");
	if (pt_utf8_check(s, len, &bad) != 0)
		return pt_err_set(e, PT_EUTF8, "invalid UTF-8 at byte %zu "
				  "(of %zu)", bad, len);
	return 0;
}

static int is_dropped_control(UChar32 c)
{
	if (c == '\n' || c == '\t')
		return 0;
	return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 ||
	       c == 0x2029;
}

/* UTF-8 to UTF-16 without the dropped control characters; *n units. */
static int to_utf16(const char *s, size_t len, UChar **out, int32_t *n,
		    pt_err *e)
{
	UChar *u = malloc((len + 1) * sizeof *u);
	int32_t k = 0;
	if (u == NULL)
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	for (int32_t i = 0; i < (int32_t)len;) {
		UChar32 c;
		U8_NEXT_UNSAFE(s, i, c);
		if (!is_dropped_control(c))
			U16_APPEND_UNSAFE(u, k, c);
	}
	*out = u;
	*n = k;
	return 0;
}

int langid_text_normalize(const char *s, size_t len, char **out,
			  size_t *out_len, pt_err *e)
{
	UErrorCode st = U_ZERO_ERROR;
	UChar *u = NULL, *nf = NULL;
	int32_t n = 0, cap, m, blen;
	char *b = NULL;
	int rc;

	if (out == NULL || out_len == NULL)
		return pt_err_set(e, PT_EINVAL, "langid_text_normalize: "
				  "NULL output");
	if ((rc = langid_text_check(s, len, e)) != 0)
		return rc;
	if (len > TEXT_MAX)
		return pt_err_set(e, PT_ETOOLARGE, "text of %zu bytes is over "
				  "the normalization limit of %zu", len,
				  TEXT_MAX);
	const UNormalizer2 *nfc = unorm2_getNFCInstance(&st);
	if (U_FAILURE(st))
		return pt_err_set(e, PT_EINTERNAL, "ICU NFC data: %s",
				  u_errorName(st));
	if ((rc = to_utf16(s, len, &u, &n, e)) != 0)
		return rc;
	cap = n * 3 + 1;
	nf = malloc((size_t)cap * sizeof *nf);
	if (nf == NULL) {
		rc = pt_err_set(e, PT_ENOMEM, "out of memory");
		goto done;
	}
	m = unorm2_normalize(nfc, u, n, nf, cap, &st);
	if (U_FAILURE(st)) {
		rc = pt_err_set(e, PT_EINTERNAL, "ICU NFC: %s",
				u_errorName(st));
		goto done;
	}
	/* A UTF-16 unit becomes at most 3 UTF-8 bytes. */
	b = malloc((size_t)m * 3 + 1);
	if (b == NULL) {
		rc = pt_err_set(e, PT_ENOMEM, "out of memory");
		goto done;
	}
	u_strToUTF8(b, m * 3 + 1, &blen, nf, m, &st);
	if (U_FAILURE(st)) {
		rc = pt_err_set(e, PT_EINTERNAL, "ICU UTF-8: %s",
				u_errorName(st));
		goto done;
	}
	b[blen] = '\0';
	*out = b;
	*out_len = (size_t)blen;
	b = NULL;
	rc = 0;
done:
	free(b);
	free(nf);
	free(u);
	return rc;
}
