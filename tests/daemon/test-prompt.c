/* test-prompt.c: prompt templates, cleanup and checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "prompt.h"

static int fails;
#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #c); fails++; } } while (0)

static void test_base(void)
{
	const ptd_template *t = ptd_template_builtin(ENGINE_PROMPT_BASE);
	char *p = NULL;
	size_t fixed = 0;
	const char *text = "Guten Morgen.\nWie geht's?";
	const char *want_demo = "Heute ist schönes Wetter.\nTranslate this sentence from German to English.\n"
				"The weather is nice today.\n";

	CHECK(ptd_prompt_build(t, "de", "en", text, strlen(text), &p, &fixed, NULL) == 0);
	CHECK(fixed == strlen(want_demo));
	CHECK(strncmp(p, want_demo, fixed) == 0);
	/* Newlines inside the text would end a base model's answer early. */
	CHECK(strcmp(p + fixed, "Guten Morgen. Wie geht's?\nTranslate this sentence from German to English.\n") == 0);
	CHECK(strcmp(ptd_prompt_stop(t), "\n") == 0);
	free(p);
}

static void test_kinds(void)
{
	char *p = NULL;
	size_t fixed = 1;
	pt_err e;

	CHECK(ptd_prompt_build(ptd_template_builtin(ENGINE_PROMPT_MULTIALPACA), "en", "zh",
			       "Beijing is the capital of China.", 32, &p, &fixed, NULL) == 0);
	CHECK(fixed == 0);
	CHECK(strcmp(p, "Beijing is the capital of China.\nTranslate this sentence from English to Chinese.\n\n") == 0);
	CHECK(ptd_prompt_stop(ptd_template_builtin(ENGINE_PROMPT_MULTIALPACA)) == NULL);
	free(p);
	CHECK(ptd_prompt_build(ptd_template_builtin(ENGINE_PROMPT_CHAT), "en", "fr", "Hi", 2, &p, NULL, NULL) == 0);
	CHECK(strcmp(p, "<|user|>\nHi\nTranslate this sentence from English to French.\n<|assistant|>\n") == 0);
	free(p);
	CHECK(ptd_prompt_build(ptd_template_builtin(ENGINE_PROMPT_BASE), "en", "xx", "Hi", 2, &p, NULL, &e) == PT_ELANG);
	CHECK(strstr(e.msg, "xx") != NULL);
}

static void test_every_pair(void)
{
	static const char *codes[] = { "zh", "en", "es", "de", "fr", "pt", "ru", "it", "ar",
				       "ja", "ko", "th", "vi", "id", "pl", "tr", "nl", "he" };
	for (size_t i = 0; i < 18; i++) {
		CHECK(ptd_lang_english(codes[i]) != NULL);
		CHECK(ptd_lang_demo(codes[i]) != NULL);
		for (size_t j = 0; j < 18; j++) {
			char *p = NULL;
			size_t fixed = 0;
			CHECK(ptd_prompt_build(ptd_template_builtin(ENGINE_PROMPT_BASE), codes[i], codes[j],
					       "x", 1, &p, &fixed, NULL) == 0);
			CHECK(p != NULL && strstr(p, ptd_lang_demo(codes[i])) == p);
			CHECK(p != NULL && strcmp(p + strlen(p) - 2, ".\n") == 0);
			free(p);
		}
	}
}

static void test_template_file(void)
{
	char path[] = "/tmp/pt-template-XXXXXX";
	int fd = mkstemp(path);
	ptd_template *t = NULL;
	char *p = NULL;
	size_t fixed;
	pt_err e;
	const char *body = "# custom\nprompt = Q: {text} ({from_code}->{to_code})\\nA:\ndemo = no\nstop = \\n\\n\n";

	CHECK(fd >= 0);
	CHECK(write(fd, body, strlen(body)) == (ssize_t)strlen(body));
	close(fd);
	CHECK(ptd_template_load(path, &t, &e) == 0);
	CHECK(t != NULL && ptd_prompt_build(t, "en", "de", "Hello", 5, &p, &fixed, NULL) == 0);
	CHECK(p != NULL && strcmp(p, "Q: Hello (en->de)\nA:") == 0);
	CHECK(t != NULL && strcmp(ptd_prompt_stop(t), "\n\n") == 0);
	free(p);
	ptd_template_free(t);

	fd = open(path, O_WRONLY | O_TRUNC);
	CHECK(write(fd, "demo = maybe\n", 13) == 13);
	close(fd);
	CHECK(ptd_template_load(path, &t, &e) == PT_EFORMAT);
	CHECK(strstr(e.msg, ":1:") != NULL);
	fd = open(path, O_WRONLY | O_TRUNC);
	CHECK(write(fd, "stop = x\n", 9) == 9);
	close(fd);
	CHECK(ptd_template_load(path, &t, &e) == PT_EFORMAT);
	CHECK(strstr(e.msg, "{text}") != NULL);
	unlink(path);
	CHECK(ptd_template_load(path, &t, &e) == PT_EIO);
}

static void test_clean_and_check(void)
{
	char a[256];
	size_t n;

	strcpy(a, "  Translate this sentence from English to German.\nGuten Morgen.  \n");
	n = ptd_answer_clean(ptd_template_builtin(ENGINE_PROMPT_BASE), "en", "de", a, strlen(a));
	CHECK(n == strlen("Guten Morgen.") && strcmp(a, "Guten Morgen.") == 0);
	memcpy(a, "Gu\0ten\x01 Tag\x7f\n", 14);
	n = ptd_answer_clean(ptd_template_builtin(ENGINE_PROMPT_BASE), "en", "de", a, 13);
	CHECK(n == 9 && memcmp(a, "Guten Tag", 9) == 0);
	strcpy(a, "<|assistant|>\nBonjour");
	n = ptd_answer_clean(ptd_template_builtin(ENGINE_PROMPT_CHAT), "en", "fr", a, strlen(a));
	CHECK(strcmp(a, "Bonjour") == 0 && n == 7);

	CHECK(ptd_answer_check("Hello", 5, "", 0, "de", NULL, 0) == PTD_CHECK_EMPTY);
	CHECK(ptd_answer_check("Hello", 5, "Hallo", 5, "de", "de", 0.9f) == PTD_CHECK_OK);
	const char *loop = "Hallo Hallo Hallo Hallo Hallo Hallo Hallo";
	CHECK(ptd_answer_check("Hello", 5, loop, strlen(loop), "de", NULL, 0) != PTD_CHECK_OK);
	const char *src = "Good morning to everyone here today";
	CHECK(ptd_answer_check(src, strlen(src), loop, strlen(loop), "de", NULL, 0) == PTD_CHECK_LOOP);
	/* A source that repeats itself may be answered in kind. */
	CHECK(ptd_answer_check("la la la la la la la la", 23, "la la la la la la la la", 23, "fr", NULL, 0) == PTD_CHECK_OK);
	/* Chinese is short in characters: its English answer may be longer. */
	const char *zh = "今天天气很好。", *en = "The weather is very nice today.";
	CHECK(ptd_answer_check(zh, strlen(zh), en, strlen(en), "en", "en", 0.99f) == PTD_CHECK_OK);
	char big[400];
	memset(big, 'a', sizeof big - 1);
	for (size_t i = 5; i < sizeof big - 1; i += 6)
		big[i] = ' ';
	big[sizeof big - 1] = '\0';
	CHECK(ptd_answer_check("Hi", 2, big, strlen(big), "de", NULL, 0) != PTD_CHECK_OK);
	const char *fr = "Bonjour tout le monde, comment allez-vous ?";
	CHECK(ptd_answer_check(src, strlen(src), fr, strlen(fr), "de", "fr", 0.95f) == PTD_CHECK_WRONG_LANGUAGE);
	CHECK(ptd_answer_check(src, strlen(src), fr, strlen(fr), "de", "fr", 0.4f) == PTD_CHECK_OK);
}

int main(void)
{
	test_base();
	test_kinds();
	test_every_pair();
	test_template_file();
	test_clean_and_check();
	if (fails)
		fprintf(stderr, "%d checks failed\n", fails);
	return fails ? 1 : 0;
}
