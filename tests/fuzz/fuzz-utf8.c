/*
 * fuzz-utf8: pt_utf8_check and pt_utf8_len against the reference decoder
 * of fuzz-util.c. For any bytes the two agree on validity and on the
 * offset of the first bad sequence; the bytes before that offset are
 * valid on their own; and pt_utf8_len gives the length of each sequence
 * from its lead byte (checked once for all 256 bytes: the length of the
 * valid sequences a byte starts, 0 if it starts none).
 */
#include <string.h>

#include "fuzz.h"

/* For each byte value: the length of the valid sequences it starts, or 0.
 * Found by trying the lead with every second byte (and continuation
 * bytes after it): independent of how pt.c tabulates it. */
static int lead_len[256];

static void init_lead_len(void)
{
	for (int b = 0; b < 256; b++) {
		lead_len[b] = 0;
		for (int c = 0; c < 256 && lead_len[b] == 0; c++) {
			uint8_t s[4] = { (uint8_t)b, (uint8_t)c, 0x80, 0x80 };
			uint32_t cp;
			int len = fuzz_ref_utf8_decode(s, 4, &cp);

			if (len > 0)
				lead_len[b] = len;
		}
		FUZZ_CHECK(pt_utf8_len((unsigned char)b) == lead_len[b],
			   "pt_utf8_len(0x%02x) = %d, reference %d", b,
			   pt_utf8_len((unsigned char)b), lead_len[b]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	size_t bad_ref = 0, bad = 0;
	int ok_ref, rc;

	if (!ready) {
		init_lead_len();
		ready = 1;
	}
	ok_ref = fuzz_ref_utf8_valid(data, size, &bad_ref);
	rc = pt_utf8_check((const char *)data, size, &bad);
	FUZZ_CHECK(rc == 0 || rc == PT_EUTF8, "returned %d", rc);
	FUZZ_CHECK((rc == 0) == ok_ref, "pt_utf8_check says %s, the reference %s "
		   "(reference offset %zu)", rc == 0 ? "valid" : "invalid",
		   ok_ref ? "valid" : "invalid", bad_ref);
	if (!ok_ref) {
		FUZZ_CHECK(bad == bad_ref, "first bad byte at %zu, reference %zu",
			   bad, bad_ref);
		FUZZ_CHECK(pt_utf8_check((const char *)data, bad, NULL) == 0,
			   "the %zu bytes before the first bad one are not valid", bad);
	}
	/* A NULL bad_off is allowed and changes nothing. */
	FUZZ_CHECK(pt_utf8_check((const char *)data, size, NULL) == rc,
		   "result differs with bad_off NULL");
	/* Each sequence the reference decodes starts with a lead byte whose
	 * pt_utf8_len is the sequence's length. */
	for (size_t i = 0; i < size;) {
		uint32_t cp;
		int len = fuzz_ref_utf8_decode(data + i, size - i, &cp);

		if (len == 0)
			break;
		FUZZ_CHECK(pt_utf8_len(data[i]) == len, "U+%04X at %zu: pt_utf8_len "
			   "%d, length %d", (unsigned)cp, i, pt_utf8_len(data[i]), len);
		i += (size_t)len;
	}
	return 0;
}
