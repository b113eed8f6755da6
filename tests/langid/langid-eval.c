/*
 * langid-eval: detection accuracy on the evaluation set.
 *
 *   langid-eval [--check | --errors] SHORT.tsv LONG.tsv
 *
 * Each line of a set is "code<TAB>text". Prints the accuracy per language
 * on short and long items and the most frequent confusions. With
 * --check, exits 1 unless the targets of issue 3 hold: >= 97% correct on
 * short items, >= 99.5% on long ones, no language under 90% on short
 * items, and at least 200 short and 100 long items for every language.
 * With --errors, also prints every item detected wrongly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "langid.h"

typedef struct result {
	int n[LANGID_COUNT], ok[LANGID_COUNT];
	int conf[LANGID_COUNT][LANGID_COUNT + 1]; /* last column: und */
	int total, correct;
} result;

static int show_errors;

static int run(const langid_detector *d, const char *path, result *r)
{
	FILE *f = fopen(path, "r");
	char line[8192];
	if (f == NULL) {
		fprintf(stderr, "langid-eval: cannot open %s\n", path);
		return -1;
	}
	memset(r, 0, sizeof *r);
	while (fgets(line, sizeof line, f)) {
		size_t len = strcspn(line, "\n");
		line[len] = '\0';
		char *tab = strchr(line, '\t');
		int want;
		if (tab == NULL)
			continue;
		*tab = '\0';
		if (langid_lang_find(line, &want, NULL) != 0) {
			fprintf(stderr, "langid-eval: %s: bad code '%s'\n",
				path, line);
			fclose(f);
			return -1;
		}
		langid_guess g;
		size_t n;
		pt_err e;
		const char *text = tab + 1;
		if (langid_detect(d, text, strlen(text), &g, 1, &n, &e) != 0) {
			fprintf(stderr, "langid-eval: %s\n", e.msg);
			fclose(f);
			return -1;
		}
		r->n[want]++;
		r->total++;
		if (g.lang == want) {
			r->ok[want]++;
			r->correct++;
		}
		r->conf[want][g.lang < 0 ? LANGID_COUNT : g.lang]++;
		if (show_errors && g.lang != want)
			printf("%s -> %s (%.2f): %s\n", langid_lang_code(want),
			       langid_lang_code(g.lang), g.confidence, text);
	}
	fclose(f);
	return 0;
}

static double pct(int a, int b)
{
	return b ? 100.0 * a / b : 0;
}

static void confusions(const char *name, const result *r)
{
	printf("%s confusions (true -> detected: count):", name);
	int shown = 0;
	for (int round = 0; round < 12; round++) {
		int bi = -1, bj = -1, best = 0;
		for (int i = 0; i < LANGID_COUNT; i++)
			for (int j = 0; j <= LANGID_COUNT; j++)
				if (j != i && r->conf[i][j] > best) {
					best = r->conf[i][j];
					bi = i;
					bj = j;
				}
		if (bi < 0)
			break;
		printf(" %s->%s:%d", langid_lang_code(bi),
		       bj == LANGID_COUNT ? "und" : langid_lang_code(bj),
		       best);
		((result *)r)->conf[bi][bj] = -best; /* shown; restored below */
		shown++;
	}
	for (int i = 0; i < LANGID_COUNT; i++)
		for (int j = 0; j <= LANGID_COUNT; j++)
			if (r->conf[i][j] < 0)
				((result *)r)->conf[i][j] = -r->conf[i][j];
	printf("%s\n", shown ? "" : " none");
}

int main(int argc, char **argv)
{
	int check = argc > 1 && strcmp(argv[1], "--check") == 0;
	show_errors = argc > 1 && strcmp(argv[1], "--errors") == 0;
	int opt = check || show_errors;
	if (argc != 3 + opt) {
		fprintf(stderr, "usage: langid-eval [--check | --errors] "
			"SHORT.tsv LONG.tsv\n");
		return 2;
	}
	langid_detector *d;
	pt_err e;
	if (langid_detector_new(&d, &e) != 0) {
		fprintf(stderr, "langid-eval: %s\n", e.msg);
		return 1;
	}
	result s, l;
	if (run(d, argv[1 + opt], &s) != 0 || run(d, argv[2 + opt], &l))
		return 1;
	int fail = 0;
	printf("lang    short (n)      long (n)\n");
	for (int i = 0; i < LANGID_COUNT; i++) {
		printf("%-4s  %6.1f%% (%3d)  %6.1f%% (%3d)\n",
		       langid_lang_code(i), pct(s.ok[i], s.n[i]), s.n[i],
		       pct(l.ok[i], l.n[i]), l.n[i]);
		if (s.n[i] < 200 || l.n[i] < 100) {
			printf("  %s: the set needs 200 short and 100 long "
			       "items\n", langid_lang_code(i));
			fail = 1;
		}
		if (pct(s.ok[i], s.n[i]) < 90) {
			printf("  %s: short accuracy under 90%%\n",
			       langid_lang_code(i));
			fail = 1;
		}
	}
	printf("all   %6.2f%% (%d)  %6.2f%% (%d)\n",
	       pct(s.correct, s.total), s.total, pct(l.correct, l.total),
	       l.total);
	confusions("short", &s);
	confusions("long", &l);
	if (pct(s.correct, s.total) < 97) {
		printf("short accuracy under the 97%% target\n");
		fail = 1;
	}
	if (pct(l.correct, l.total) < 99.5) {
		printf("long accuracy under the 99.5%% target\n");
		fail = 1;
	}
	langid_detector_free(d);
	if (check && fail) {
		printf("langid-eval: targets not met\n");
		return 1;
	}
	return 0;
}
