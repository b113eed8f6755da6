/* corpus.c: the corpus reader of corpus.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corpus.h"

static int put_utf8(char *o, unsigned long cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Decodes the escapes of line[0..n) into out (never longer than the
 * line); returns the length or -1 for a bad escape. */
static long unescape(const char *line, size_t n, char *out)
{
	size_t i = 0, o = 0;

	while (i < n) {
		char c = line[i++];
		int digits;
		unsigned long cp = 0;

		if (c != '\\') {
			out[o++] = c;
			continue;
		}
		if (i >= n)
			return -1;
		c = line[i++];
		switch (c) {
		case 'n': out[o++] = '\n'; continue;
		case 't': out[o++] = '\t'; continue;
		case 'r': out[o++] = '\r'; continue;
		case '\\': out[o++] = '\\'; continue;
		case 'u': digits = 4; break;
		case 'U': digits = 8; break;
		default: return -1;
		}
		if (n - i < (size_t)digits)
			return -1;
		for (int k = 0; k < digits; k++) {
			char h = line[i++];
			int v = h >= '0' && h <= '9' ? h - '0' :
				h >= 'a' && h <= 'f' ? h - 'a' + 10 :
				h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;

			if (v < 0)
				return -1;
			cp = cp * 16 + (unsigned long)v;
		}
		if (cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000))
			return -1;
		o += (size_t)put_utf8(out + o, cp);
	}
	return (long)o;
}

int corpus_load(const char *path, corpus_item **out)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t got;
	corpus_item *items = NULL;
	int n = 0, lineno = 0;

	if (f == NULL) {
		perror(path);
		return -1;
	}
	while ((got = getline(&line, &cap, f)) >= 0) {
		long len;
		corpus_item *grown;

		lineno++;
		if (got > 0 && line[got - 1] == '\n')
			got--;
		if (got > 0 && line[0] == '#')
			continue;
		grown = realloc(items, (size_t)(n + 1) * sizeof *items);
		if (grown == NULL)
			abort();
		items = grown;
		items[n].s = malloc((size_t)got + 1);
		if (items[n].s == NULL)
			abort();
		len = unescape(line, (size_t)got, items[n].s);
		if (len < 0) {
			fprintf(stderr, "%s:%d: bad escape\n", path, lineno);
			free(items[n].s);
			corpus_free(items, n);
			free(line);
			fclose(f);
			return -1;
		}
		items[n].s[len] = '\0';
		items[n].len = (size_t)len;
		items[n].line = lineno;
		n++;
	}
	free(line);
	fclose(f);
	*out = items;
	return n;
}

void corpus_free(corpus_item *items, int n)
{
	for (int i = 0; i < n; i++)
		free(items[i].s);
	free(items);
}
