/*
 * job-journal.c: the append-only journal of finished segments
 * (job-store.h).
 *
 * A record, all integers little-endian:
 *
 *   u32 magic "PTJR"  u32 len  u32 file  u32 seg  u32 src_crc  u32 flags
 *   len bytes of translated text
 *   u32 CRC-32 of everything above
 *
 * A crash can leave the last record short or with garbage (the file grew
 * but the data did not reach the disk). Replay stops at the first record
 * that is short, has a bad magic, an absurd length or a bad CRC; the file
 * is cut back to the last good record, so the next append does not land
 * behind garbage. Records are written with pwrite at the known end and
 * made durable with fdatasync before the append returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "job-store-impl.h"

#define PTD__JR_MAGIC 0x524a5450u     /* "PTJR" */
#define PTD__JR_HEAD 24
#define PTD__JR_TEXT_MAX (16u << 20)  /* one segment's translation */
#define PTD__JOURNAL_MAX ((size_t)1 << 31)

struct ptd_journal {
	int fd;
	uint64_t size;               /* end of the last good record */
	char *path;
};

/* ---- CRC-32 ------------------------------------------------------------------ */

static uint32_t ptd__crc_table[256];
static int ptd__crc_ready;

static void ptd__crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
		ptd__crc_table[i] = c;
	}
	__atomic_store_n(&ptd__crc_ready, 1, __ATOMIC_RELEASE);
}

uint32_t ptd_crc32(uint32_t crc, const void *data, size_t len)
{
	const unsigned char *p = data;

	/* Filling the table twice from two threads writes the same values. */
	if (!__atomic_load_n(&ptd__crc_ready, __ATOMIC_ACQUIRE))
		ptd__crc_init();
	crc = ~crc;
	while (len--)
		crc = ptd__crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static void ptd__put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t ptd__get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* ---- Replay -------------------------------------------------------------------- */

/* Replays buf[0..len); *good gets the end of the last intact record. */
static int ptd__replay(const unsigned char *buf, size_t len, ptd_journal_fn fn, void *ud,
		       size_t *good)
{
	size_t off = 0;

	while (len - off >= PTD__JR_HEAD + 4) {
		const unsigned char *h = buf + off;
		ptd_jrec r;
		uint32_t n = ptd__get32(h + 4);
		int rc;

		if (ptd__get32(h) != PTD__JR_MAGIC || n > PTD__JR_TEXT_MAX ||
		    len - off - PTD__JR_HEAD - 4 < n)
			break;
		if (ptd_crc32(0, h, PTD__JR_HEAD + n) != ptd__get32(h + PTD__JR_HEAD + n))
			break;
		r.len = n;
		r.file = ptd__get32(h + 8);
		r.seg = ptd__get32(h + 12);
		r.src_crc = ptd__get32(h + 16);
		r.flags = ptd__get32(h + 20);
		r.text = (const char *)h + PTD__JR_HEAD;
		if (fn != NULL && (rc = fn(ud, &r)) != 0)
			return rc;
		off += PTD__JR_HEAD + 4 + (size_t)n;
	}
	*good = off;
	return 0;
}

int ptd_journal_open_path(const char *path, ptd_journal_fn fn, void *ud, ptd_journal **out,
			  uint64_t *dropped, pt_err *e)
{
	ptd_journal *j;
	char *buf = NULL;
	size_t len = 0, good = 0;
	int fd, rc;

	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return ptd__jerr(e, errno, "cannot open the journal", path);
	if ((rc = ptd__read_all(fd, PTD__JOURNAL_MAX, &buf, &len, path, e)) != 0 ||
	    (rc = ptd__replay((const unsigned char *)buf, len, fn, ud, &good)) != 0) {
		free(buf);
		close(fd);
		return rc;
	}
	free(buf);
	if (good < len) {
		pt_log(PT_LOG_WARN, "%s: dropped a torn or corrupt tail of %zu bytes after "
		       "%zu good bytes (a crash while writing); those segments are done again",
		       path, len - good, good);
		if (ftruncate(fd, (off_t)good) != 0 || fsync(fd) != 0) {
			rc = ptd__jerr(e, errno, "cannot cut the torn tail", path);
			close(fd);
			return rc;
		}
	}
	if ((j = calloc(1, sizeof *j)) == NULL || (j->path = strdup(path)) == NULL) {
		free(j);
		close(fd);
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	}
	j->fd = fd;
	j->size = good;
	if (dropped != NULL)
		*dropped = len - good;
	*out = j;
	return 0;
}

int ptd_journal_open(ptd_jstore *s, const char *id, ptd_journal_fn fn, void *ud,
		     ptd_journal **out, uint64_t *dropped, pt_err *e)
{
	char path[700];

	if (!ptd__jid_ok(id))
		return pt_err_set(e, PT_EINVAL, "bad job id");
	/* The job folder is checked to be a real folder first; the journal
	 * itself is opened with O_NOFOLLOW. */
	int jd, rc;
	if ((rc = ptd__jdir_open(s, id, &jd, e)) != 0)
		return rc;
	close(jd);
	snprintf(path, sizeof path, "%s/%s/journal", s->path, id);
	return ptd_journal_open_path(path, fn, ud, out, dropped, e);
}

/* ---- Append -------------------------------------------------------------------- */

int ptd_journal_append(ptd_journal *j, const ptd_jrec *r, size_t n, pt_err *e)
{
	size_t total = 0, off = 0;
	unsigned char *buf;
	int err;

	for (size_t i = 0; i < n; i++) {
		if (r[i].len > PTD__JR_TEXT_MAX)
			return pt_err_set(e, PT_ETOOLARGE, "a segment's translation is over %u MiB",
					  PTD__JR_TEXT_MAX >> 20);
		if (pt_add_size(total, PTD__JR_HEAD + 4 + (size_t)r[i].len, &total) != 0)
			return pt_err_set(e, PT_ETOOLARGE, "journal records too large");
	}
	if (total == 0)
		return 0;
	if ((buf = malloc(total)) == NULL)
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		unsigned char *h = buf + off;
		ptd__put32(h, PTD__JR_MAGIC);
		ptd__put32(h + 4, r[i].len);
		ptd__put32(h + 8, r[i].file);
		ptd__put32(h + 12, r[i].seg);
		ptd__put32(h + 16, r[i].src_crc);
		ptd__put32(h + 20, r[i].flags);
		if (r[i].len > 0)
			memcpy(h + PTD__JR_HEAD, r[i].text, r[i].len);
		ptd__put32(h + PTD__JR_HEAD + r[i].len, ptd_crc32(0, h, PTD__JR_HEAD + r[i].len));
		off += PTD__JR_HEAD + 4 + (size_t)r[i].len;
	}
	for (off = 0; off < total;) {
		ssize_t k = pwrite(j->fd, buf + off, total - off, (off_t)(j->size + off));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			err = k < 0 ? errno : EIO;
			goto fail;
		}
		off += (size_t)k;
	}
	if (fdatasync(j->fd) != 0) {
		err = errno;
		goto fail;
	}
	free(buf);
	j->size += total;
	return 0;
fail:
	free(buf);
	/* Best effort: without it, the torn part is dropped at the next open. */
	if (ftruncate(j->fd, (off_t)j->size) != 0)
		pt_log(PT_LOG_DEBUG, "%s: cannot cut a failed append: %s", j->path, strerror(errno));
	return ptd__jerr(e, err, "cannot append to the journal", j->path);
}

void ptd_journal_close(ptd_journal *j)
{
	if (j == NULL)
		return;
	close(j->fd);
	free(j->path);
	free(j);
}
