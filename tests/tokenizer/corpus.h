/*
 * corpus.h: reads tests/tokenizer/corpus.txt for the C tests. One item per
 * line; lines starting with '#' are comments; escapes \n \t \r \\ \uXXXX
 * and \UXXXXXXXX are decoded (test_parity.py decodes them the same way).
 */
#ifndef TOK_TEST_CORPUS_H
#define TOK_TEST_CORPUS_H

#include <stddef.h>

typedef struct corpus_item {
	char *s;
	size_t len;
	int line;
} corpus_item;

/* Returns the number of items (>= 0) and *out (free with corpus_free), or
 * -1 with a message on stderr. */
int corpus_load(const char *path, corpus_item **out);
void corpus_free(corpus_item *items, int n);

#endif
