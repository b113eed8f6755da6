/*
 * job-doc.c: a job's document as segments, and back (job-run-impl.h).
 *
 * document --fmt_parse--> TEXT pieces --fmt_protect--> text with tokens
 *          --langid_segment--> sentences (the segments)
 * and back: translations --langid_segs_set/join--> piece --fmt_restore-->
 * fmt_piece_set --fmt_doc_serialize--> output.
 */
#include <stdlib.h>
#include <string.h>

#include "job-doc.h"
#include "job-store.h"
#include "proto.h"

/* Detection reads at most this much of a document. */
#define PTD__DETECT_BYTES 65536

int ptd_jdoc_fmt(int pformat)
{
	switch (pformat) {
	case PROTO_FMT_MARKDOWN: return FMT_FORMAT_MARKDOWN;
	case PROTO_FMT_SRT: return FMT_FORMAT_SRT;
	case PROTO_FMT_PO: return FMT_FORMAT_PO;
	case PROTO_FMT_HTML: return FMT_FORMAT_HTML;
	default: return FMT_FORMAT_TEXT;
	}
}

void ptd_jdoc_done(ptd_jdoc *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n_pieces; i++) {
		fmt_protected_free(d->pieces[i].prot);
		langid_segs_free(d->pieces[i].segs);
	}
	for (uint32_t i = 0; i < d->n_segs; i++)
		free(d->segs[i].tr);
	free(d->pieces);
	free(d->segs);
	fmt_doc_free(d->doc);
	memset(d, 0, sizeof *d);
}

/* Detects the document's language from the first PTD__DETECT_BYTES of its
 * protected texts. */
static int ptd__detect(ptd_jdoc *d, const langid_detector *det, int *from, pt_err *e)
{
	char *buf = malloc(PTD__DETECT_BYTES);
	size_t n = 0;
	langid_guess g;
	size_t ng = 0;
	int rc;

	if (buf == NULL)
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	for (size_t i = 0; i < d->n_pieces && n < PTD__DETECT_BYTES - 1; i++) {
		size_t k;
		const char *t = fmt_protected_text(d->pieces[i].prot, &k);
		if (k > PTD__DETECT_BYTES - 1 - n) {
			k = PTD__DETECT_BYTES - 1 - n;
			while (k > 0 && ((unsigned char)t[k] & 0xc0) == 0x80)
				k--;
		}
		memcpy(buf + n, t, k);
		n += k;
		buf[n++] = '\n';
	}
	rc = n > 0 ? langid_detect(det, buf, n, &g, 1, &ng, e) : 0;
	free(buf);
	if (rc != 0)
		return rc;
	*from = ng > 0 ? g.lang : LANGID_UND;
	return 0;
}

/* Counts the sentences of every piece, then lists them. */
static int ptd__cut(ptd_jdoc *d, int from, pt_err *e)
{
	langid_seg_params sp = langid_seg_default_params();
	size_t total = 0, k = 0;
	int rc;

	sp.lang = from;
	for (size_t i = 0; i < d->n_pieces; i++) {
		size_t len;
		const char *t = fmt_protected_text(d->pieces[i].prot, &len);
		if ((rc = langid_segment(t, len, &sp, &d->pieces[i].segs, e)) != 0) {
			pt_err_prefix(e, "line %zu", fmt_piece_line(d->doc, d->pieces[i].index));
			return rc;
		}
		for (size_t s = 0; s < langid_segs_count(d->pieces[i].segs); s++)
			total += langid_segs_kind(d->pieces[i].segs, s) == LANGID_PIECE_TEXT;
	}
	if (total > UINT32_MAX / 2)
		return pt_err_set(e, PT_ETOOLARGE, "too many sentences (%zu)", total);
	if (total > 0 && (d->segs = calloc(total, sizeof *d->segs)) == NULL)
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	for (size_t i = 0; i < d->n_pieces; i++) {
		langid_segs *ls = d->pieces[i].segs;
		for (size_t s = 0; s < langid_segs_count(ls); s++) {
			ptd_jseg *g;
			if (langid_segs_kind(ls, s) != LANGID_PIECE_TEXT)
				continue;
			g = &d->segs[k++];
			g->piece = (uint32_t)i;
			g->sub = (uint32_t)s;
			g->src = langid_segs_text(ls, s, &g->len);
			g->crc = ptd_crc32(0, g->src, g->len);
		}
	}
	d->n_segs = (uint32_t)total;
	return 0;
}

int ptd_jdoc_load(const char *data, size_t len, int fmt_format, const char *to,
		  const langid_detector *det, int *from, ptd_jdoc *d, pt_err *e)
{
	fmt_params fp = fmt_default_params();
	size_t n_text, k = 0;
	int rc;

	memset(d, 0, sizeof *d);
	fp.format = fmt_format;
	if ((rc = fmt_parse(data, len, &fp, &d->doc, e)) != 0)
		return rc;
	if ((rc = fmt_doc_set_target(d->doc, to, e)) != 0)
		goto fail;
	n_text = fmt_doc_text_count(d->doc);
	if (n_text > 0 && (d->pieces = calloc(n_text, sizeof *d->pieces)) == NULL) {
		rc = pt_err_set(e, PT_ENOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < fmt_doc_count(d->doc) && k < n_text; i++) {
		size_t tl;
		const char *t;
		if (fmt_piece_kind(d->doc, i) != FMT_TEXT)
			continue;
		t = fmt_piece_text(d->doc, i, &tl);
		d->pieces[k].index = i;
		if ((rc = fmt_protect(t, tl, fmt_format, &d->pieces[k].prot, e)) != 0) {
			pt_err_prefix(e, "line %zu", fmt_piece_line(d->doc, i));
			d->n_pieces = k;
			goto fail;
		}
		k++;
	}
	d->n_pieces = k;
	if (*from == LANGID_UND && det != NULL && (rc = ptd__detect(d, det, from, e)) != 0)
		goto fail;
	d->from = *from;
	if ((rc = ptd__cut(d, *from, e)) != 0)
		goto fail;
	return 0;
fail:
	ptd_jdoc_done(d);
	return rc;
}

/* Damage counts of restoring text into the piece's placeholders. */
static int ptd__restore_report(const fmt_protected *p, const char *t, size_t n,
			       fmt_report *r)
{
	char *out = NULL;
	size_t ol;

	memset(r, 0, sizeof *r);
	if (fmt_restore(p, t, n, &out, &ol, r, NULL) != 0)
		return -1;
	free(out);
	return 0;
}

int ptd_jdoc_damaged(const ptd_jdoc *d, const ptd_jseg *s, const char *tr, size_t len)
{
	const fmt_protected *p = d->pieces[s->piece].prot;
	fmt_report a, b;

	if (fmt_protected_count(p) == 0)
		return 0;
	/* A sentence holds only some of its piece's placeholders: the others
	 * count as lost in both, so only a difference is damage. */
	if (ptd__restore_report(p, s->src, s->len, &a) != 0 ||
	    ptd__restore_report(p, tr, len, &b) != 0)
		return 1;
	return b.lost > a.lost || b.duplicated > a.duplicated || b.altered > a.altered;
}

int ptd_jdoc_seg_set(ptd_jdoc *d, uint32_t i, const char *tr, size_t len, int flagged)
{
	ptd_jseg *s = &d->segs[i];
	char *t = malloc(len + 1);

	if (t == NULL || len > UINT32_MAX) {
		free(t);
		return PT_ENOMEM;
	}
	memcpy(t, tr, len);
	t[len] = '\0';
	free(s->tr);
	s->tr = t;
	s->tr_len = (uint32_t)len;
	s->flagged = flagged != 0;
	if (!s->done)
		d->n_done++;
	s->done = 1;
	return 0;
}

int ptd_jdoc_assemble(ptd_jdoc *d, char **out, size_t *len, pt_err *e)
{
	int rc;

	for (uint32_t i = 0; i < d->n_segs; i++) {
		ptd_jseg *s = &d->segs[i];
		if (!s->done)
			return pt_err_set(e, PT_EINTERNAL, "segment %u is not done", (unsigned)i);
		if ((rc = langid_segs_set(d->pieces[s->piece].segs, s->sub, s->tr, s->tr_len, e)) != 0)
			return rc;
	}
	for (size_t i = 0; i < d->n_pieces; i++) {
		ptd_jpiece *p = &d->pieces[i];
		char *joined = NULL, *restored = NULL;
		size_t jl, rl;
		if ((rc = langid_segs_join(p->segs, &joined, &jl, e)) != 0)
			return rc;
		rc = fmt_restore(p->prot, joined, jl, &restored, &rl, NULL, e);
		free(joined);
		if (rc == 0)
			rc = fmt_piece_set(d->doc, p->index, restored, rl, e);
		free(restored);
		if (rc != 0) {
			pt_err_prefix(e, "line %zu", fmt_piece_line(d->doc, p->index));
			return rc;
		}
	}
	return fmt_doc_serialize(d->doc, out, len, e);
}
