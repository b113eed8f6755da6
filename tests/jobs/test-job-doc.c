/*
 * test-job-doc.c: a job's documents as segments and back (daemon/job-doc.c):
 * every format reassembles byte for byte when each sentence is "translated"
 * into itself; sentences are what langid cuts, with stable checksums; a
 * translation that drops, repeats or changes a placeholder is damage, one
 * that keeps them is not; translations land in the right places.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job-doc.h"
#include "job-store.h"
#include "proto.h"

static int failures;

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: CHECK(%s) failed\n", \
	__FILE__, __LINE__, #c); failures++; } } while (0)

static const struct {
	int format;
	const char *name, *text;
} docs[] = {
	{ PROTO_FMT_TEXT, "text", "First sentence here. Second one follows!\n\n"
	  "  Indented paragraph with %s and {name}.\r\n\r\nLast line without end" },
	{ PROTO_FMT_MARKDOWN, "markdown", "---\ntitle: x\n---\n# Heading one\n\n"
	  "Some *emphasis* and `code`. See [the docs](http://x.org/a).\n\n"
	  "```\nint main(void);\n```\n\n- item one\n- item two\n" },
	{ PROTO_FMT_SRT, "srt", "1\n00:00:01,000 --> 00:00:02,000\nHello there.\n\n"
	  "2\n00:00:03,000 --> 00:00:04,500\nTwo lines\nof text.\n" },
	{ PROTO_FMT_TEXT, "text-lists", "1. First item. Dr. Smith came.\n2) Second\n"
	  "- third one\n\n   12345\n\n\u2022 bullet point here\n\n---\nEnd.  \n" },
	{ PROTO_FMT_MARKDOWN, "markdown-lists", "Intro line one\ncontinues here.\n\n"
	  "1. one\n2. two **bold**\n   - nested item\n\n> quoted text. More.\n\n"
	  "| a | b |\n|---|---|\n| cell one | cell two |\n" },
	{ PROTO_FMT_HTML, "html", "<!DOCTYPE html>\n<html><head><title>A page</title>"
	  "<style>p{}</style></head><body><p>Text &amp; more. <b>Bold</b> words.</p>"
	  "<img alt=\"A picture\" src=\"x.png\"><pre>keep  this</pre></body></html>\n" },
};

/* The document is cut in one langid call; each piece must get exactly
 * the sentences it would get on its own. */
static void check_pieces(const ptd_jdoc *d, int from, const char *name)
{
	langid_seg_params sp = langid_seg_default_params();

	sp.lang = from;
	for (size_t p = 0; p < d->n_pieces; p++) {
		const ptd_jpiece *pc = &d->pieces[p];
		size_t n, k = 0;
		const char *t = fmt_protected_text(pc->prot, &n);
		langid_segs *ls;
		if (langid_segment(t, n, &sp, &ls, NULL) != 0) {
			failures++;
			continue;
		}
		for (size_t i = 0; i < langid_segs_count(ls); i++) {
			size_t l;
			const char *s = langid_segs_text(ls, i, &l);
			const ptd_jseg *g;
			if (langid_segs_kind(ls, i) != LANGID_PIECE_TEXT)
				continue;
			g = &d->segs[pc->seg_begin + k++];
			if (k > pc->n_segs || g->len != l || memcmp(g->src, s, l) != 0) {
				fprintf(stderr, "%s: piece %zu sentence %zu differs\n", name, p, k);
				failures++;
				break;
			}
		}
		CHECK(k == pc->n_segs);
		langid_segs_free(ls);
	}
}

/* Identity translation: every segment set to its own source. */
static void test_identity(void)
{
	for (size_t k = 0; k < sizeof docs / sizeof docs[0]; k++) {
		const char *t = docs[k].text;
		int from = 1; /* en */
		ptd_jdoc d;
		char *out = NULL;
		size_t len;
		pt_err e;

		if (ptd_jdoc_load(t, strlen(t), ptd_jdoc_fmt(docs[k].format), "de", NULL, &from,
				  &d, &e) != 0) {
			fprintf(stderr, "%s: load: %s\n", docs[k].name, e.msg);
			failures++;
			continue;
		}
		CHECK(d.n_segs > 0);
		CHECK(ptd_jdoc_assemble(&d, &out, &len, &e) != 0); /* nothing done yet */
		check_pieces(&d, from, docs[k].name);
		for (uint32_t i = 0; i < d.n_segs; i++) {
			CHECK(d.segs[i].crc == ptd_crc32(0, d.segs[i].src, d.segs[i].len));
			CHECK(!ptd_jdoc_damaged(&d, &d.segs[i], d.segs[i].src, d.segs[i].len));
			CHECK(ptd_jdoc_seg_set(&d, i, d.segs[i].src, d.segs[i].len, 0) == 0);
		}
		CHECK(d.n_done == d.n_segs);
		if (ptd_jdoc_assemble(&d, &out, &len, &e) != 0) {
			fprintf(stderr, "%s: assemble: %s\n", docs[k].name, e.msg);
			failures++;
		} else if (len != strlen(t) || memcmp(out, t, len) != 0) {
			fprintf(stderr, "%s: identity differs:\n--- in\n%s\n--- out\n%.*s\n",
				docs[k].name, t, (int)len, out);
			failures++;
		}
		free(out);
		ptd_jdoc_done(&d);
	}
}

/* Sentences, placeholders and where translations go (plain text). */
static void test_text(void)
{
	const char *t = "One %s here. Two {name} there.\n\nThree.\n";
	int from = 1;
	ptd_jdoc d;
	char *out = NULL;
	size_t len;
	pt_err e;

	CHECK(ptd_jdoc_load(t, strlen(t), FMT_FORMAT_TEXT, "de", NULL, &from, &d, &e) == 0);
	CHECK(d.n_segs == 3);
	if (d.n_segs != 3) {
		ptd_jdoc_done(&d);
		return;
	}
	/* The first sentence holds a token for %s: dropping it is damage,
	 * keeping it (anywhere) is not; an invented token is damage too. */
	{
		const ptd_jseg *s = &d.segs[0];
		char buf[128];
		const char *tok = strstr(s->src, "\xe2\x9f\xa6"); /* U+27E6 */
		CHECK(tok != NULL);
		if (tok != NULL) {
			const char *end = strstr(tok, "\xe2\x9f\xa7");
			int tl = end ? (int)(end - tok) + 3 : 0;
			CHECK(ptd_jdoc_damaged(&d, s, "Eins hier.", 10));
			snprintf(buf, sizeof buf, "Eins %.*s hier.", tl, tok);
			CHECK(!ptd_jdoc_damaged(&d, s, buf, strlen(buf)));
			snprintf(buf, sizeof buf, "Eins %.*s %.*s hier.", tl, tok, tl, tok);
			CHECK(ptd_jdoc_damaged(&d, s, buf, strlen(buf)));
			CHECK(ptd_jdoc_damaged(&d, s, "Eins \xe2\x9f\xa6" "9\xe2\x9f\xa7 hier.", 17));
			snprintf(buf, sizeof buf, "Eins %.*s hier.", tl, tok);
			CHECK(ptd_jdoc_seg_set(&d, 0, buf, strlen(buf), 0) == 0);
		}
	}
	CHECK(ptd_jdoc_seg_set(&d, 1, d.segs[1].src, d.segs[1].len, 1) == 0);
	CHECK(d.segs[1].flagged == 1);
	CHECK(ptd_jdoc_seg_set(&d, 2, "Drei.", 5, 0) == 0);
	CHECK(ptd_jdoc_assemble(&d, &out, &len, &e) == 0);
	if (out != NULL) {
		/* Placeholders restored, gaps kept, order kept. */
		CHECK(strcmp(out, "Eins %s hier. Two {name} there.\n\nDrei.\n") == 0);
		if (strcmp(out, "Eins %s hier. Two {name} there.\n\nDrei.\n") != 0)
			fprintf(stderr, "got: %s\n", out);
	}
	free(out);
	ptd_jdoc_done(&d);
}

/* Bad documents fail with the line. */
static void test_bad(void)
{
	const char *po = "msgid \"a\"\nmsgstr \"\"\n\nmsgid \"open\n";
	int from = 1;
	ptd_jdoc d;
	pt_err e = { 0 };
	int rc = ptd_jdoc_load(po, strlen(po), FMT_FORMAT_PO, "de", NULL, &from, &d, &e);

	CHECK(rc != 0 && strstr(e.msg, "line") != NULL);
	rc = ptd_jdoc_load("\xff\xfe", 2, FMT_FORMAT_TEXT, "de", NULL, &from, &d, &e);
	CHECK(rc == PT_EUTF8);
}

int main(void)
{
	test_identity();
	test_text();
	test_bad();
	if (failures) {
		fprintf(stderr, "%d failures\n", failures);
		return 1;
	}
	printf("job-doc: all checks passed\n");
	return 0;
}
