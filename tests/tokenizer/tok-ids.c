/*
 * tok-ids: the parity test's window on engine_tokenize. Reads items from
 * stdin, one per line as hex-encoded UTF-8 (so an item may hold newlines
 * or any byte), and prints one line per item: the ids separated by spaces,
 * or "ERR <code name> <message>" if tokenizing failed.
 *
 *   tok-ids MODEL.gguf [--special] [--bos] < items.hex
 *
 * By default literal "<s>" etc. are text (ENGINE_TOK_NO_SPECIAL), as the
 * SentencePiece library treats them.
 *
 *   tok-ids MODEL.gguf --decode < id-lines
 *
 * reads lines of space-separated ids and prints engine_detokenize's text
 * of each, hex-encoded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

static int decode_lines(const engine_model *m)
{
	char *line = NULL, *text = NULL;
	size_t cap = 0, text_cap = 0;
	int32_t *ids = NULL;
	ssize_t got;
	pt_err e;

	while ((got = getline(&line, &cap, stdin)) >= 0) {
		size_t n = 0, len = 0;
		char *p = line, *end;

		ids = realloc(ids, ((size_t)got / 2 + 1) * sizeof *ids);
		if (ids == NULL)
			return 1;
		for (long v = strtol(p, &end, 10); end != p; v = strtol(p, &end, 10)) {
			ids[n++] = (int32_t)v;
			p = end;
		}
		if (engine_detokenize(m, ids, n, text, text_cap, &len, &e) != 0) {
			printf("ERR %s\n", e.msg);
			continue;
		}
		if (len + 1 > text_cap) {
			text_cap = len + 1;
			if ((text = realloc(text, text_cap)) == NULL ||
			    engine_detokenize(m, ids, n, text, text_cap, &len, &e) != 0)
				return 1;
		}
		for (size_t i = 0; i < len; i++)
			printf("%02x", (unsigned char)text[i]);
		putchar('\n');
	}
	free(line);
	free(text);
	free(ids);
	return 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int main(int argc, char **argv)
{
	engine_model_params mp = engine_model_default_params();
	engine_model *m = NULL;
	unsigned flags = ENGINE_TOK_NO_SPECIAL;
	int decode = 0;
	char *line = NULL, *text = NULL;
	size_t line_cap = 0, ids_cap = 0;
	int32_t *ids = NULL;
	ssize_t got;
	pt_err e;

	if (argc < 2) {
		fprintf(stderr, "usage: tok-ids MODEL.gguf [--special] [--bos] < hex-lines\n");
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--special") == 0)
			flags &= ~ENGINE_TOK_NO_SPECIAL;
		else if (strcmp(argv[i], "--bos") == 0)
			flags |= ENGINE_TOK_ADD_BOS;
		else if (strcmp(argv[i], "--decode") == 0)
			decode = 1;
		else {
			fprintf(stderr, "tok-ids: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (engine_model_load(argv[1], &mp, &m, &e) != 0) {
		fprintf(stderr, "tok-ids: %s\n", e.msg);
		return 1;
	}
	if (decode) {
		int rc = decode_lines(m);

		engine_model_free(m);
		return rc;
	}
	while ((got = getline(&line, &line_cap, stdin)) >= 0) {
		size_t n = 0, need = 0;
		int rc;

		while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
			got--;
		text = realloc(text, (size_t)got / 2 + 1);
		if (text == NULL || got % 2 != 0) {
			fprintf(stderr, "tok-ids: bad input line\n");
			return 1;
		}
		for (ssize_t i = 0; i < got; i += 2) {
			int a = hexval(line[i]), b = hexval(line[i + 1]);

			if (a < 0 || b < 0) {
				fprintf(stderr, "tok-ids: bad hex in input\n");
				return 1;
			}
			text[n++] = (char)(a * 16 + b);
		}
		rc = engine_tokenize(m, text, n, flags, ids, ids_cap, &need, &e);
		if (rc == PT_ETOOLARGE) {
			ids_cap = need + 16;
			ids = realloc(ids, ids_cap * sizeof *ids);
			if (ids == NULL)
				return 1;
			rc = engine_tokenize(m, text, n, flags, ids, ids_cap, &need, &e);
		}
		if (rc != 0) {
			printf("ERR %s %s\n", pt_errname(rc), e.msg);
			continue;
		}
		for (size_t i = 0; i < need; i++)
			printf(i ? " %d" : "%d", ids[i]);
		putchar('\n');
	}
	free(line);
	free(text);
	free(ids);
	engine_model_free(m);
	return 0;
}
