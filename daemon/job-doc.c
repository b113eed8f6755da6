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
	for (size_t i = 0; i < d->n_pieces; i++)
		fmt_protected_free(d->pieces[i].prot);
	langid_segs_free(d->lsegs);
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

/* Joins the protected texts, one per line: sentence segmentation never
 * crosses a line end, and one langid_segment call for the whole document
 * costs far less than one per piece. */
static int ptd__join(ptd_jdoc *d, char **out, size_t *len, pt_err *e)
{
	size_t total = 0, off = 0;
	char *b;

	for (size_t i = 0; i < d->n_pieces; i++) {
		size_t n;
		fmt_protected_text(d->pieces[i].prot, &n);
		if (pt_add_size(total, n, &total) != 0 || pt_add_size(total, 1, &total) != 0)
			return pt_err_set(e, PT_ETOOLARGE, "document too large");
	}
	if ((b = malloc(total + 1)) == NULL)
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	for (size_t i = 0; i < d->n_pieces; i++) {
		size_t n;
		const char *t = fmt_protected_text(d->pieces[i].prot, &n);
		memcpy(b + off, t, n);
		d->pieces[i].off = off;
		d->pieces[i].len = n;
		off += n;
		b[off++] = '\n';
	}
	b[off] = '\0';
	*out = b;
	*len = off;
	return 0;
}

/* Cuts the document into sentences and ties each langid piece to the
 * piece it lies in (pieces and langid pieces are both in text order). */
static int ptd__cut(ptd_jdoc *d, int from, pt_err *e)
{
	langid_seg_params sp = langid_seg_default_params();
	size_t len = 0, lp = 0, n_lp, total = 0, k = 0;
	char *text = NULL;
	int rc;

	sp.lang = from;
	if ((rc = ptd__join(d, &text, &len, e)) != 0)
		return rc;
	rc = langid_segment(text, len, &sp, &d->lsegs, e);
	free(text);
	if (rc != 0)
		return rc;
	n_lp = langid_segs_count(d->lsegs);
	for (size_t i = 0; i < n_lp; i++)
		total += langid_segs_kind(d->lsegs, i) == LANGID_PIECE_TEXT;
	if (total > UINT32_MAX / 2)
		return pt_err_set(e, PT_ETOOLARGE, "too many sentences (%zu)", total);
	if (total > 0 && (d->segs = calloc(total, sizeof *d->segs)) == NULL)
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	for (size_t p = 0; p < d->n_pieces; p++) {
		ptd_jpiece *pc = &d->pieces[p];
		size_t end = pc->off + pc->len;
		/* Skip langid pieces that end before this piece starts. */
		while (lp < n_lp && (lp + 1 < n_lp ? langid_segs_offset(d->lsegs, lp + 1) : len)
		       <= pc->off)
			lp++;
		pc->lp_begin = lp;
		pc->seg_begin = (uint32_t)k;
		for (; lp < n_lp && langid_segs_offset(d->lsegs, lp) < end; lp++) {
			ptd_jseg *g;
			if (langid_segs_kind(d->lsegs, lp) != LANGID_PIECE_TEXT)
				continue;
			g = &d->segs[k++];
			g->piece = (uint32_t)p;
			g->src = langid_segs_text(d->lsegs, lp, &g->len);
			if (langid_segs_offset(d->lsegs, lp) + g->len > end)
				return pt_err_set(e, PT_EINTERNAL, "a sentence runs past its piece");
			g->crc = ptd_crc32(0, g->src, g->len);
		}
		pc->lp_end = lp;
		pc->n_segs = (uint32_t)k - pc->seg_begin;
		/* A gap piece may run on into the next piece (the line end and
		 * what follows): look at the last one again there. */
		if (lp > pc->lp_begin && langid_segs_kind(d->lsegs, lp - 1) != LANGID_PIECE_TEXT)
			lp--;
	}
	if (k != total)
		return pt_err_set(e, PT_EINTERNAL, "a sentence lies outside every piece");
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

/* The translation of one piece: its gaps as they were, its sentences
 * translated, placeholders put back. */
static int ptd__piece_out(ptd_jdoc *d, ptd_jpiece *pc, char **out, size_t *out_len,
			  pt_err *e)
{
	size_t cap = 0, n = 0, end = pc->off + pc->len;
	uint32_t k = pc->seg_begin;
	char *b = NULL;
	int rc;

	for (size_t lp = pc->lp_begin; lp < pc->lp_end; lp++) {
		size_t a = langid_segs_offset(d->lsegs, lp), len, from = 0, take;
		const char *t = langid_segs_text(d->lsegs, lp, &len);
		if (langid_segs_kind(d->lsegs, lp) == LANGID_PIECE_TEXT) {
			t = d->segs[k].tr;
			take = d->segs[k++].tr_len;
		} else {
			/* Only the part of a gap inside this piece. */
			from = a < pc->off ? pc->off - a : 0;
			take = (a + len > end ? end - a : len) - from;
		}
		if (n + take + 1 > cap) {
			char *nb;
			if (pt_add_size(n, take, &cap) != 0 || pt_mul_size(cap, 2, &cap) != 0 ||
			    (nb = realloc(b, cap + 1)) == NULL) {
				free(b);
				return pt_err_set(e, PT_ENOMEM, "out of memory");
			}
			b = nb;
		}
		memcpy(b + n, t + from, take);
		n += take;
	}
	rc = fmt_restore(pc->prot, b != NULL ? b : "", n, out, out_len, NULL, e);
	free(b);
	return rc;
}

int ptd_jdoc_assemble(ptd_jdoc *d, char **out, size_t *len, pt_err *e)
{
	int rc;

	for (uint32_t i = 0; i < d->n_segs; i++)
		if (!d->segs[i].done)
			return pt_err_set(e, PT_EINTERNAL, "segment %u is not done", (unsigned)i);
	for (size_t i = 0; i < d->n_pieces; i++) {
		ptd_jpiece *pc = &d->pieces[i];
		char *restored = NULL;
		size_t rl;
		if (pc->n_segs == 0)
			continue; /* nothing to translate: the raw bytes stay */
		rc = ptd__piece_out(d, pc, &restored, &rl, e);
		if (rc == 0)
			rc = fmt_piece_set(d->doc, pc->index, restored, rl, e);
		free(restored);
		if (rc != 0) {
			pt_err_prefix(e, "line %zu", fmt_piece_line(d->doc, pc->index));
			return rc;
		}
	}
	return fmt_doc_serialize(d->doc, out, len, e);
}
