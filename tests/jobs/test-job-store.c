/*
 * test-job-store.c: unit tests of daemon/job-store (issue 5): journal
 * append and replay with torn and corrupt tails, atomic writes, job
 * creation and listing, manifests round-tripping and bad manifests
 * failing with clear errors, a jobs folder refused when unsafe.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "job-store.h"

static int failures;

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: CHECK(%s) failed\n", \
	__FILE__, __LINE__, #c); failures++; } } while (0)
#define CHECK_RC(x) do { pt_err e_ = { 0 }; (void)e_; int rc_ = (x); if (rc_ != 0) { \
	fprintf(stderr, "%s:%d: %s -> %d\n", __FILE__, __LINE__, #x, rc_); failures++; } \
	} while (0)

static char root[512];

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len) {
		perror(path);
		exit(1);
	}
	close(fd);
}

static size_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (size_t)st.st_size : (size_t)-1;
}

/* ---- Journal ---------------------------------------------------------------- */

typedef struct seen {
	unsigned n;
	uint32_t file[64], seg[64], flags[64];
	char text[64][32];
} seen;

static int collect(void *ud, const ptd_jrec *r)
{
	seen *s = ud;
	if (s->n < 64) {
		s->file[s->n] = r->file;
		s->seg[s->n] = r->seg;
		s->flags[s->n] = r->flags;
		snprintf(s->text[s->n], sizeof s->text[0], "%.*s", (int)r->len, r->text);
	}
	s->n++;
	return 0;
}

static void append_n(ptd_journal *j, unsigned from, unsigned to)
{
	for (unsigned i = from; i < to; i++) {
		char t[32];
		ptd_jrec r = { 0 };
		pt_err e;
		snprintf(t, sizeof t, "seg-%u", i);
		r.file = i % 3;
		r.seg = i;
		r.src_crc = ptd_crc32(0, t, strlen(t));
		r.flags = i == 2 ? PTD_JREC_FLAGGED : 0;
		r.text = t;
		r.len = (uint32_t)strlen(t);
		if (ptd_journal_append(j, &r, 1, &e) != 0) {
			fprintf(stderr, "append: %s\n", e.msg);
			failures++;
		}
	}
}

static void test_journal(void)
{
	char path[600];
	ptd_journal *j = NULL;
	uint64_t dropped = 99;
	seen s = { 0 };
	pt_err e;
	size_t full, one;

	snprintf(path, sizeof path, "%s/journal-a", root);
	CHECK(ptd_journal_open_path(path, collect, &s, &j, &dropped, &e) == 0);
	CHECK(s.n == 0 && dropped == 0);
	append_n(j, 0, 10);
	ptd_journal_close(j);
	full = file_size(path);
	one = full / 10;
	CHECK(full == 10 * (28 + 5)); /* "seg-N" for N < 10 */

	/* Replay gives every record in order, fields intact. */
	memset(&s, 0, sizeof s);
	CHECK(ptd_journal_open_path(path, collect, &s, &j, &dropped, &e) == 0);
	CHECK(s.n == 10 && dropped == 0);
	CHECK(s.seg[7] == 7 && s.file[7] == 1 && strcmp(s.text[7], "seg-7") == 0);
	CHECK(s.flags[2] == PTD_JREC_FLAGGED && s.flags[3] == 0);
	ptd_journal_close(j);

	/* Torn tails at every cut of the last record: dropped, file cut back,
	 * and new records land after the last good one. */
	for (size_t cut = 1; cut < one; cut++) {
		if (truncate(path, (off_t)(full - cut)) != 0) {
			perror("truncate");
			exit(1);
		}
		memset(&s, 0, sizeof s);
		CHECK(ptd_journal_open_path(path, collect, &s, &j, &dropped, &e) == 0);
		CHECK(s.n == 9);
		CHECK(dropped == one - cut);
		CHECK(file_size(path) == full - one);
		append_n(j, 9, 10);
		ptd_journal_close(j);
		CHECK(file_size(path) == full);
	}

	/* A flipped byte inside the 5th record: records 0..3 survive. */
	{
		int fd = open(path, O_RDWR);
		char b;
		CHECK(pread(fd, &b, 1, (off_t)(4 * one + 26)) == 1);
		b ^= 0x40;
		CHECK(pwrite(fd, &b, 1, (off_t)(4 * one + 26)) == 1);
		close(fd);
		memset(&s, 0, sizeof s);
		CHECK(ptd_journal_open_path(path, collect, &s, &j, &dropped, &e) == 0);
		CHECK(s.n == 4 && dropped == 6 * one);
		ptd_journal_close(j);
	}

	/* Garbage with an absurd length after good records. */
	{
		unsigned char junk[40];
		memset(junk, 0xff, sizeof junk);
		memcpy(junk, "PTJR", 4);
		int fd = open(path, O_WRONLY | O_APPEND);
		CHECK(write(fd, junk, sizeof junk) == (ssize_t)sizeof junk);
		close(fd);
		memset(&s, 0, sizeof s);
		CHECK(ptd_journal_open_path(path, collect, &s, &j, &dropped, &e) == 0);
		CHECK(s.n == 4 && dropped == sizeof junk);
		ptd_journal_close(j);
	}

	/* Several records in one append, and an empty translation. */
	{
		ptd_jrec r[3] = { { 0, 100, 1, 0, "a", 1 }, { 1, 101, 2, 0, "", 0 },
				  { 2, 102, 3, 0, "ccc", 3 } };
		snprintf(path, sizeof path, "%s/journal-b", root);
		CHECK(ptd_journal_open_path(path, NULL, NULL, &j, NULL, &e) == 0);
		CHECK(ptd_journal_append(j, r, 3, &e) == 0);
		ptd_journal_close(j);
		memset(&s, 0, sizeof s);
		CHECK(ptd_journal_open_path(path, collect, &s, &j, NULL, &e) == 0);
		CHECK(s.n == 3 && s.seg[1] == 101 && s.text[1][0] == '\0' &&
		      strcmp(s.text[2], "ccc") == 0);
		ptd_journal_close(j);
	}

	/* Known CRC-32 value ("123456789" -> cbf43926). */
	CHECK(ptd_crc32(0, "123456789", 9) == 0xcbf43926u);
	CHECK(ptd_crc32(ptd_crc32(0, "1234", 4), "56789", 5) == 0xcbf43926u);
}

/* ---- Manifests ------------------------------------------------------------- */

static void fill_manifest(ptd_jmanifest *m, ptd_jfile *files, char *names[2])
{
	memset(m, 0, sizeof *m);
	snprintf(m->to, sizeof m->to, "de");
	snprintf(m->from, sizeof m->from, "auto");
	m->priority = -7;
	m->created = 1790000000;
	m->state = PROTO_JOB_QUEUED;
	m->output = strdup("/tmp/out dir/with%percent\nand newline");
	m->files = files;
	m->n_files = 2;
	files[0].name = names[0];
	files[0].format = PROTO_FMT_MARKDOWN;
	snprintf(files[0].from, sizeof files[0].from, "en");
	files[1].name = names[1];
	files[1].format = PROTO_FMT_PO;
	snprintf(files[1].from, sizeof files[1].from, "auto");
}

static void expect_bad(const char *text, const char *needle)
{
	ptd_jmanifest m;
	pt_err e = { 0 };
	int rc = ptd_jmanifest_parse(text, strlen(text), &m, &e);
	if (rc != PT_EFORMAT || strstr(e.msg, needle) == NULL) {
		fprintf(stderr, "bad manifest: rc %d, message '%s', wanted '%s'\n", rc, e.msg,
			needle);
		failures++;
	}
}

static void test_manifest(void)
{
	char *names[2] = { "readme.md", "de\tfr %.po" };
	ptd_jfile files[2] = { { 0 } };
	ptd_jmanifest m, back;
	char *text;
	size_t len;
	pt_err e;

	fill_manifest(&m, files, names);
	snprintf(m.id, sizeof m.id, "abc_DEF-123");
	m.error = strdup("out/readme.md: write: No space left on device (ENOSPC 28)");
	m.segments = 300;
	CHECK(ptd_jmanifest_format(&m, &text, &len, &e) == 0);
	CHECK(strchr(strstr(text, "output "), '\n') < strstr(text, "error ")); /* escaped \n */
	CHECK(ptd_jmanifest_parse(text, len, &back, &e) == 0);
	CHECK(strcmp(back.id, "abc_DEF-123") == 0 && strcmp(back.to, "de") == 0);
	CHECK(back.priority == -7 && back.created == 1790000000);
	CHECK(strcmp(back.output, m.output) == 0 && strcmp(back.error, m.error) == 0);
	CHECK(back.n_files == 2 && back.files[1].format == PROTO_FMT_PO);
	CHECK(strcmp(back.files[1].name, "de\tfr %.po") == 0);
	CHECK(strcmp(back.files[0].from, "en") == 0);
	CHECK(back.segments == 300);
	ptd_jmanifest_done(&back);

	/* Every truncation of a good manifest is refused. */
	for (size_t cut = 0; cut < len; cut++) {
		pt_err e2 = { 0 };
		int rc = ptd_jmanifest_parse(text, cut, &back, &e2);
		CHECK(rc == PT_EFORMAT && e2.msg[0] != '\0');
		if (rc == 0)
			ptd_jmanifest_done(&back);
	}
	free(text);
	free(m.output);
	free(m.error);

	expect_bad("", "not a polytrans job manifest");
	expect_bad("polytrans-job 2\n", "not a polytrans job manifest");
	expect_bad("polytrans-job 1\nid a\nid b\n", "line 3: 'id' given twice");
	expect_bad("polytrans-job 1\nid a/b\n", "line 2: bad value");
	expect_bad("polytrans-job 1\ncolour blue\n", "line 2: unknown key 'colour'");
	expect_bad("polytrans-job 1\nid a\nto de\nfrom en\npriority 101\n", "line 5: bad value");
	expect_bad("polytrans-job 1\nid a\nto de\nfrom en\npriority 1\ncreated 5\n"
		   "state lost\n", "line 7: bad value");
	expect_bad("polytrans-job 1\nid a\nto de\nfrom en\npriority 1\ncreated 5\n"
		   "state done\nfiles 2\nfile text en 3 a.txt\nend\n", "line 10: 'end' before");
	expect_bad("polytrans-job 1\nid a\nto de\nfrom en\npriority 1\ncreated 5\n"
		   "state done\nfiles 1\nfile text en 3 ..\nend\n", "not a file name");
	expect_bad("polytrans-job 1\nid a\nto de\nfrom en\npriority 1\ncreated 5\n"
		   "state done\nfiles 1\nfile docx en 3 a\nend\n", "unknown format 'docx'");
	expect_bad("polytrans-job 1\nid a\nto de\nfrom en\npriority 1\ncreated 5\n"
		   "state done\nfiles 1\nfile text en 3 a%0\nend\n", "escape is cut short");
	expect_bad("polytrans-job 1\nid a\nto de\nfrom en\npriority 1\ncreated 5\n"
		   "state done\noutput rel/dir\n", "not an absolute path");
	expect_bad("polytrans-job 1\nid a\nto de\nfrom en\npriority 1\nstate done\n"
		   "files 1\nfile text en 3 a\nend\n", "'created' is missing");
	expect_bad("polytrans-job 1\nid a\nto de\nfrom en\npriority 1\ncreated 5\n"
		   "state done\nsegments many\n", "line 8: bad value 'many'");
	expect_bad("polytrans-job 1\nid a\nto de\nfrom en\npriority 1\ncreated 5\n"
		   "state done\nfiles 1\nfile text en 3 a\nend\nend\n", "text after 'end'");
}

/* ---- The store ----------------------------------------------------------------- */

static void test_store(void)
{
	char jobs[600], src[600], p[800], *buf, **ids;
	char *names[2] = { "a.md", "b.po" };
	ptd_jfile files[2] = { { 0 } };
	ptd_jinput in[2] = { { 0 } };
	ptd_jmanifest m, back;
	ptd_jstore *s = NULL;
	size_t len, n;
	struct stat st;
	pt_err e;

	snprintf(jobs, sizeof jobs, "%s/state/polytrans/jobs", root);
	CHECK(ptd_jstore_open("relative/jobs", &s, &e) == PT_EINVAL);
	CHECK(ptd_jstore_open(jobs, &s, &e) == 0);
	CHECK(stat(jobs, &st) == 0 && (st.st_mode & 0777) == 0700);

	/* A job from content and from a path; later edits do not matter. */
	snprintf(src, sizeof src, "%s/source.po", root);
	write_file(src, "msgid \"x\"\n", 10);
	fill_manifest(&m, files, names);
	in[0].name = "a.md";
	in[0].data = "# Title\n";
	in[0].len = 8;
	in[1].name = "b.po";
	in[1].path = src;
	CHECK(ptd_jstore_create(s, &m, in, 2, &e) == 0);
	CHECK(strlen(m.id) == 22);
	write_file(src, "changed", 7);
	CHECK(ptd_jstore_input_read(s, m.id, 1, &buf, &len, &e) == 0);
	CHECK(len == 10 && memcmp(buf, "msgid \"x\"\n", 10) == 0);
	free(buf);
	CHECK(files[0].size == 8 && files[1].size == 10);
	snprintf(p, sizeof p, "%s/%s/in/0", jobs, m.id);
	CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600);
	snprintf(p, sizeof p, "%s/%s", jobs, m.id);
	CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0700);

	/* Manifest on disk, then rewritten with a new state. */
	CHECK(ptd_jstore_manifest_read(s, m.id, &back, &e) == 0);
	CHECK(back.state == PROTO_JOB_QUEUED && back.files[1].size == 10);
	back.state = PROTO_JOB_DONE;
	CHECK(ptd_jstore_manifest_write(s, &back, &e) == 0);
	ptd_jmanifest_done(&back);
	CHECK(ptd_jstore_manifest_read(s, m.id, &back, &e) == 0);
	CHECK(back.state == PROTO_JOB_DONE);
	ptd_jmanifest_done(&back);
	CHECK(ptd_jstore_manifest_read(s, "no-such-job", &back, &e) == PT_ENOTFOUND);
	CHECK(ptd_jstore_manifest_read(s, "../etc", &back, &e) == PT_EINVAL);

	/* A damaged manifest names the file and line. */
	{
		char mp[800];
		snprintf(mp, sizeof mp, "%s/%s/manifest", jobs, m.id);
		write_file(mp, "polytrans-job 1\nid x\nwhat\n", 26);
		CHECK(ptd_jstore_manifest_read(s, m.id, &back, &e) == PT_EFORMAT);
		CHECK(strstr(e.msg, "manifest") != NULL && strstr(e.msg, "line 3") != NULL);
	}

	/* A path that is not a regular file is refused, and nothing is left. */
	{
		char *names1[2] = { "dir", "x" };
		ptd_jfile f1[2] = { { 0 } };
		ptd_jmanifest m1;
		ptd_jinput i1[1] = { { "dir", 3, NULL, 0, "/" } };
		fill_manifest(&m1, f1, names1);
		m1.n_files = 1;
		CHECK(ptd_jstore_create(s, &m1, i1, 1, &e) == PT_EINVAL);
		CHECK(strstr(e.msg, "not a regular file") != NULL);
		i1[0].path = "/nonexistent/file.txt";
		m1.id[0] = '\0';
		CHECK(ptd_jstore_create(s, &m1, i1, 1, &e) == PT_ENOTFOUND);
		CHECK(strstr(e.msg, "ENOENT") != NULL);
		free(m1.output);
	}

	/* Outputs kept in the job. */
	CHECK(ptd_jstore_output_put(s, m.id, 1, "out!", 4, &e) == 0);
	CHECK(ptd_jstore_output_get(s, m.id, 1, &buf, &len, &e) == 0);
	CHECK(len == 4 && memcmp(buf, "out!", 4) == 0);
	free(buf);

	/* A left-over of an interrupted submission is swept at open. */
	snprintf(p, sizeof p, "%s/.new-interrupted", jobs);
	CHECK(mkdir(p, 0700) == 0);
	snprintf(p, sizeof p, "%s/.new-interrupted/in", jobs);
	CHECK(mkdir(p, 0700) == 0);
	ptd_jstore_free(s);
	CHECK(ptd_jstore_open(jobs, &s, &e) == 0);
	snprintf(p, sizeof p, "%s/.new-interrupted", jobs);
	CHECK(access(p, F_OK) != 0);
	CHECK(ptd_jstore_list(s, &ids, &n, &e) == 0);
	CHECK(n == 1 && strcmp(ids[0], m.id) == 0);
	ptd_jstore_list_free(ids, n);

	CHECK(ptd_jstore_remove(s, m.id, &e) == 0);
	CHECK(ptd_jstore_list(s, &ids, &n, &e) == 0 && n == 0);
	ptd_jstore_list_free(ids, n);
	ptd_jstore_free(s);
	free(m.output);

	/* A jobs folder writable by others is refused. */
	CHECK(chmod(jobs, 0777) == 0);
	CHECK(ptd_jstore_open(jobs, &s, &e) == PT_EPERM && strstr(e.msg, "chmod 700"));
	CHECK(chmod(jobs, 0700) == 0);

	/* A jobs folder owned by another user is refused (needs root to set
	 * up: chown). */
	if (geteuid() == 0) {
		CHECK(chown(jobs, 65534, 65534) == 0);
		CHECK(ptd_jstore_open(jobs, &s, &e) == PT_EPERM && strstr(e.msg, "owned by uid"));
		CHECK(chown(jobs, 0, 0) == 0);
	}
}

/* ---- Atomic writes --------------------------------------------------------- */

static void test_atomic(void)
{
	char dir[600], p[700];
	struct stat st;
	pt_err e;

	snprintf(dir, sizeof dir, "%s/outdir", root);
	CHECK(mkdir(dir, 0755) == 0);
	snprintf(p, sizeof p, "%s/doc.txt", dir);
	write_file(p, "old", 3);
	CHECK(ptd_file_write_atomic(dir, "doc.txt", "new content", 11, 0644, &e) == 0);
	CHECK(file_size(p) == 11);
	CHECK(ptd_file_write_atomic(dir, "../x", "x", 1, 0644, &e) == PT_EINVAL);

	/* A read-only folder: the old file stays, the error says why. */
	if (geteuid() != 0) {
		CHECK(chmod(dir, 0555) == 0);
		CHECK(ptd_file_write_atomic(dir, "doc.txt", "newer", 5, 0644, &e) == PT_EPERM);
		CHECK(strstr(e.msg, "EACCES") != NULL);
		CHECK(file_size(p) == 11);
		CHECK(chmod(dir, 0755) == 0);
	}
	CHECK(ptd_file_write_atomic("/nonexistent-dir", "a", "x", 1, 0644, &e) == PT_ENOTFOUND);
	CHECK(strstr(e.msg, "/nonexistent-dir") != NULL);
	/* No temporary file is left behind. */
	{
		char q[800];
		snprintf(q, sizeof q, "ls -A '%s' | grep -c polytrans > /dev/null", dir);
		CHECK(system(q) != 0);
	}
	CHECK(stat(p, &st) == 0 && S_ISREG(st.st_mode));
}

int main(void)
{
	const char *t = getenv("TMPDIR");
	char cmd[700];

	snprintf(root, sizeof root, "%s/test-job-store-XXXXXX", t ? t : "/tmp");
	if (mkdtemp(root) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_journal();
	test_manifest();
	test_store();
	test_atomic();
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", root);
	if (failures) {
		fprintf(stderr, "%d failures\n", failures);
		return 1;
	}
	printf("job-store: all checks passed\n");
	return 0;
}
