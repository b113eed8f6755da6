/*
 * formats-bench.c: parse, protect + restore and serialize speed on
 * corpus files repeated to about 4 MiB each. A benchmark, not a test: it
 * prints MB/s and asserts nothing about time.
 *
 * Usage: formats-bench FILE...
 */
#include <time.h>

#include "check.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void bench(const char *path)
{
	size_t len, big_len = 0, reps, out_len, np = 0;
	char *data = test_read_file(path, &len), *out = NULL;
	fmt_params pp = fmt_default_params();
	fmt_doc *d = NULL;
	pt_err e;
	if (data == NULL || len == 0) {
		free(data);
		return;
	}
	fmt_format_from_path(path, &pp.format);
	reps = (4u << 20) / len + 1;
	char *big = malloc(len * reps + 1);
	if (big == NULL)
		return;
	/* PO: one header; repeated entries would be duplicates, which the
	 * parser accepts (msgfmt would not). */
	for (size_t r = 0; r < reps; r++, big_len += len)
		memcpy(big + big_len, data, len);
	double t0 = now();
	if (fmt_parse(big, big_len, &pp, &d, &e) != 0) {
		printf("%-14s %s\n", path, e.msg);
		free(big);
		free(data);
		return;
	}
	double t1 = now();
	for (size_t i = 0; i < fmt_doc_count(d); i++) {
		size_t n;
		fmt_protected *p;
		if (fmt_piece_kind(d, i) != FMT_TEXT)
			continue;
		const char *t = fmt_piece_text(d, i, &n);
		if (fmt_protect(t, n, pp.format, &p, NULL) == 0) {
			size_t pl, rl;
			char *r;
			const char *ptx = fmt_protected_text(p, &pl);
			if (fmt_restore(p, ptx, pl, &r, &rl, NULL, NULL) == 0) {
				fmt_piece_set(d, i, r, rl, NULL);
				free(r);
			}
			np++;
			fmt_protected_free(p);
		}
	}
	double t2 = now();
	fmt_doc_serialize(d, &out, &out_len, &e);
	double t3 = now();
	double mb = (double)big_len / 1e6;
	const char *base = strrchr(path, '/');
	printf("%-14s %5.1f MB %7zu texts  parse %6.1f MB/s  protect+restore "
	       "%6.1f MB/s  serialize %6.1f MB/s\n", base ? base + 1 : path, mb,
	       np, mb / (t1 - t0), mb / (t2 - t1), mb / (t3 - t2));
	free(out);
	fmt_doc_free(d);
	free(big);
	free(data);
}

int main(int argc, char **argv)
{
	(void)check_failures;
	for (int i = 1; i < argc; i++)
		bench(argv[i]);
	return 0;
}
