/*
 * job-doc.h: a job's document cut into segments (job-doc.c), for the
 * scheduler (job-run.c). Knows formats/ and langid/, not the daemon.
 */
#ifndef PTD_JOB_DOC_H
#define PTD_JOB_DOC_H

#include <stddef.h>
#include <stdint.h>

#include "formats.h"
#include "langid.h"
#include "pt.h"

/* One sentence to translate. */
typedef struct ptd_jseg {
	uint32_t piece;              /* index into ptd_jdoc.pieces */
	const char *src;             /* protected source text (in the segs) */
	size_t len;
	uint32_t crc;                /* CRC-32 of src: ties journal records to it */
	char *tr;                    /* translation once done (protected form) */
	uint32_t tr_len;
	uint8_t done, busy, retry, flagged;
} ptd_jseg;

/* One TEXT piece of the document: its protected text is bytes
 * [off, off + len) of the text langid cut, where langid pieces
 * [lp_begin, lp_end) overlap it; its sentences are segs[seg_begin..]. */
typedef struct ptd_jpiece {
	size_t index;                /* fmt piece index */
	fmt_protected *prot;
	size_t off, len;
	size_t lp_begin, lp_end;
	uint32_t seg_begin, n_segs;
} ptd_jpiece;

typedef struct ptd_jdoc {
	fmt_doc *doc;
	ptd_jpiece *pieces;
	size_t n_pieces;
	langid_segs *lsegs;          /* the protected texts cut, one call */
	ptd_jseg *segs;
	uint32_t n_segs, n_done;
	int from;                    /* langid index, or LANGID_UND */
} ptd_jdoc;

/*
 * Parses data as fmt_format (FMT_FORMAT_*), sets the target language,
 * protects every TEXT piece and cuts it into sentences. *from is the
 * source language (a langid index); LANGID_UND asks for detection over
 * the document's text, and gets the result (LANGID_UND when nothing could
 * be told). Errors name the line (formats) and are PT_EFORMAT, PT_EUTF8,
 * PT_ELANG, PT_ENOMEM, PT_ETOOLARGE.
 */
int ptd_jdoc_load(const char *data, size_t len, int fmt_format, const char *to,
		  const langid_detector *det, int *from, ptd_jdoc *d, pt_err *e);
void ptd_jdoc_done(ptd_jdoc *d);

/* Nonzero if the translation of segment s lost, repeated or changed one of
 * the placeholders its source holds. */
int ptd_jdoc_damaged(const ptd_jdoc *d, const ptd_jseg *s, const char *tr, size_t len);

/* Stores a finished segment's translation (copied). */
int ptd_jdoc_seg_set(ptd_jdoc *d, uint32_t i, const char *tr, size_t len, int flagged);

/* The translated document (every segment must be done). */
int ptd_jdoc_assemble(ptd_jdoc *d, char **out, size_t *len, pt_err *e);

/* FMT_FORMAT_* for a proto_format (not AUTO). */
int ptd_jdoc_fmt(int pformat);

#endif
