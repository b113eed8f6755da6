/*
 * langid-bench: how long detecting 1,000 short strings takes.
 *
 *   langid-bench SHORT.tsv
 *
 * Takes the first 1,000 texts of the set (cycling if it has fewer),
 * detects them all ten times over and prints the best of the ten runs
 * (milliseconds per 1,000 strings) and the average per string.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "langid.h"

#define N 1000

int main(int argc, char **argv)
{
	static char *texts[N];
	int n = 0;
	char line[8192];
	if (argc != 2) {
		fprintf(stderr, "usage: langid-bench SHORT.tsv\n");
		return 2;
	}
	FILE *f = fopen(argv[1], "r");
	if (f == NULL) {
		fprintf(stderr, "langid-bench: cannot open %s\n", argv[1]);
		return 1;
	}
	while (n < N && fgets(line, sizeof line, f)) {
		char *tab = strchr(line, '\t');
		if (tab == NULL)
			continue;
		tab[strcspn(tab, "\n")] = '\0';
		texts[n++] = strdup(tab + 1);
	}
	fclose(f);
	if (n == 0) {
		fprintf(stderr, "langid-bench: %s has no items\n", argv[1]);
		return 1;
	}
	langid_detector *d;
	pt_err e;
	if (langid_detector_new(&d, &e) != 0) {
		fprintf(stderr, "langid-bench: %s\n", e.msg);
		return 1;
	}
	double best = 1e9;
	size_t bytes = 0;
	unsigned sink = 0;
	for (int run = 0; run < 10; run++) {
		double t0 = pt_now();
		for (int i = 0; i < N; i++) {
			const char *s = texts[i % n];
			langid_guess g[3];
			size_t k;
			size_t len = strlen(s);
			if (run == 0)
				bytes += len;
			if (langid_detect(d, s, len, g, 3, &k, NULL) == 0)
				sink += (unsigned)g[0].lang;
		}
		double t = pt_now() - t0;
		best = t < best ? t : best;
	}
	printf("langid-bench: 1000 short strings (%zu bytes) detected in "
	       "%.2f ms (best of 10), %.1f us per string [%u]\n", bytes,
	       best * 1e3, best * 1e6 / N, sink % 7);
	langid_detector_free(d);
	for (int i = 0; i < n; i++)
		free(texts[i]);
	return 0;
}
