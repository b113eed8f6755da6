/* test-config.c: the settings table (daemon/config.c): every key, range
 * and type errors, the file reader's errors with line numbers, and that
 * polytrans.conf(5) and polytransd(8) name every key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static int fails;
#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #c); fails++; } } while (0)

static char tmpdir[512];

static const char *write_file(const char *name, const char *text)
{
	static char path[1024];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	if (f == NULL) {
		perror(path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
	return path;
}

static void test_defaults(void)
{
	ptd_config c;

	ptd_config_init(&c);
	CHECK(c.model == NULL && c.socket_path == NULL && c.prompt_template == NULL);
	CHECK(c.log_level == PT_LOG_INFO);
	CHECK(c.max_clients == 64 && c.max_requests_per_client == 32);
	CHECK(c.max_message_bytes == 16 << 20 && c.max_text_bytes == 16 << 20);
	CHECK(c.max_beams == 4 && c.beams == 1 && c.max_tokens == 256);
	CHECK(c.batch_size == 8 && c.prefix_cache == 4 && c.retry_beams == 4);
	CHECK(c.shutdown_timeout_ms == 5000 && c.idle_exit_s == 0 && c.threads == 0);
	ptd_config_done(&c);
}

/* Every key takes a valid value; numbers are checked against their range. */
static void test_every_key(void)
{
	ptd_config c;
	pt_err e;
	size_t n = 0;

	ptd_config_init(&c);
	for (size_t i = 0; ptd_config_key(i) != NULL; i++, n++) {
		const char *k = ptd_config_key(i);
		int is_str = strcmp(k, "model") == 0 || strcmp(k, "socket") == 0 ||
			     strcmp(k, "state_dir") == 0 || strcmp(k, "prompt_template") == 0;
		if (is_str) {
			CHECK(ptd_config_set(&c, k, "/some/path", &e) == 0);
		} else if (strcmp(k, "log_level") == 0) {
			CHECK(ptd_config_set(&c, k, "DEBUG", &e) == 0 && c.log_level == PT_LOG_DEBUG);
			CHECK(ptd_config_set(&c, k, "loud", &e) == PT_EINVAL);
			CHECK(strstr(e.msg, "log_level") && strstr(e.msg, "loud"));
		} else {
			int64_t lo = 0, hi = 0;
			char v[32];
			CHECK(ptd_config_key_range(i, &lo, &hi) == 0 && lo < hi);
			snprintf(v, sizeof v, "%lld", (long long)lo - 1);
			CHECK(ptd_config_set(&c, k, v, &e) == PT_EINVAL);
			CHECK(strstr(e.msg, k) != NULL && strstr(e.msg, "out of range") != NULL);
			snprintf(v, sizeof v, "%lld", (long long)hi + 1);
			CHECK(ptd_config_set(&c, k, v, &e) == PT_EINVAL);
			CHECK(strstr(e.msg, "out of range") != NULL);
			CHECK(ptd_config_set(&c, k, "12abc", &e) == PT_EINVAL);
			CHECK(strstr(e.msg, "not a whole number") != NULL);
			CHECK(ptd_config_set(&c, k, "", &e) == PT_EINVAL);
			CHECK(ptd_config_set(&c, k, "99999999999999999999999", &e) == PT_EINVAL);
			snprintf(v, sizeof v, "%lld", (long long)lo);
			CHECK(ptd_config_set(&c, k, v, &e) == 0);
			snprintf(v, sizeof v, "%lld", (long long)hi);
			CHECK(ptd_config_set(&c, k, v, &e) == 0);
		}
		CHECK(ptd_config_is_key(k));
	}
	CHECK(n == 20);
	CHECK(c.max_clients == 4096 && c.threads == 256 && c.beams == 16);
	CHECK(ptd_config_key_range(0, &(int64_t){ 0 }, &(int64_t){ 0 }) == -1); /* model: a string */
	CHECK(strcmp(c.model, "/some/path") == 0 && strcmp(c.socket_path, "/some/path") == 0);
	/* Dashes as on the command line. */
	CHECK(ptd_config_set(&c, "max-requests-per-client", "3", &e) == 0);
	CHECK(c.max_requests_per_client == 3);
	CHECK(ptd_config_set(&c, "no_such_key", "1", &e) == PT_EINVAL);
	CHECK(strstr(e.msg, "no_such_key") != NULL);
	CHECK(!ptd_config_is_key("max_clientsx") && !ptd_config_is_key("max_client"));
	/* Exact ranges. */
	CHECK(ptd_config_set(&c, "max_beams", "3", &e) == PT_EINVAL);
	CHECK(strstr(e.msg, "4 to 16") != NULL);
	CHECK(ptd_config_set(&c, "threads", "256", &e) == 0);
	CHECK(ptd_config_set(&c, "threads", "257", &e) == PT_EINVAL);
	ptd_config_done(&c);
	CHECK(c.model == NULL);
}

static void test_pairs(void)
{
	ptd_config c;
	pt_err e;
	char *kv[] = { "threads", "2", "socket", "/run/x.sock", "beams", "0" };

	ptd_config_init(&c);
	CHECK(ptd_config_set_all(&c, kv, 4, &e) == 0);
	CHECK(c.threads == 2 && strcmp(c.socket_path, "/run/x.sock") == 0);
	CHECK(ptd_config_set_all(&c, kv, 6, &e) == PT_EINVAL);
	CHECK(strstr(e.msg, "beams") != NULL);
	ptd_config_done(&c);
}

static void test_file(void)
{
	ptd_config c;
	pt_err e;
	const char *p;
	char longline[5000];

	ptd_config_init(&c);
	p = write_file("ok.conf", "# comment\n\n  threads = 3  \nmodel = \" /x y.gguf \"\n"
			"log_level=warn\nmax-clients = 7\n");
	CHECK(ptd_config_load_file(&c, p, 0, &e) == 0);
	CHECK(c.threads == 3 && c.log_level == PT_LOG_WARN && c.max_clients == 7);
	CHECK(c.model != NULL && strcmp(c.model, " /x y.gguf ") == 0);

	p = write_file("bad1.conf", "threads = 2\n\nthreads 4\n");
	CHECK(ptd_config_load_file(&c, p, 0, &e) == PT_EFORMAT);
	CHECK(strstr(e.msg, "bad1.conf:3:") != NULL && strstr(e.msg, "key = value") != NULL);

	p = write_file("bad2.conf", "# x\nqueue_size = 0\n");
	CHECK(ptd_config_load_file(&c, p, 0, &e) == PT_EINVAL);
	CHECK(strstr(e.msg, "bad2.conf:2") != NULL && strstr(e.msg, "queue_size") != NULL &&
	      strstr(e.msg, "out of range") != NULL);

	p = write_file("bad3.conf", "colour = blue\n");
	CHECK(ptd_config_load_file(&c, p, 0, &e) == PT_EINVAL);
	CHECK(strstr(e.msg, "bad3.conf:1") != NULL && strstr(e.msg, "colour") != NULL);

	memset(longline, 'x', sizeof longline - 2);
	longline[sizeof longline - 2] = '\n';
	longline[sizeof longline - 1] = '\0';
	p = write_file("bad4.conf", longline);
	CHECK(ptd_config_load_file(&c, p, 0, &e) == PT_EFORMAT);
	CHECK(strstr(e.msg, "bad4.conf:1: line too long") != NULL);

	snprintf(longline, sizeof longline, "%s/missing.conf", tmpdir);
	CHECK(ptd_config_load_file(&c, longline, 1, &e) == 0);
	CHECK(ptd_config_load_file(&c, longline, 0, &e) == PT_EIO);
	CHECK(strstr(e.msg, "missing.conf") != NULL);
	/* A folder is not a config file. */
	CHECK(ptd_config_load_file(&c, tmpdir, 0, &e) != 0);
	ptd_config_done(&c);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* The man pages: polytrans.conf(5) documents every key (as ".B key" on
 * its own line), polytransd(8) every flag of its synopsis. */
static void test_man(void)
{
	static const char *const flags[] = { "model", "socket", "config", "threads",
		"log\\-level", "foreground", "check\\-config", "help", "version", "KEY", NULL };
	const char *dir = getenv("MAN_DIR");
	char path[1024], needle[128];
	char *conf, *d8;

	if (dir == NULL) {
		fprintf(stderr, "MAN_DIR not set: man page check skipped\n");
		return;
	}
	snprintf(path, sizeof path, "%s/polytrans.conf.5", dir);
	conf = slurp(path);
	snprintf(path, sizeof path, "%s/polytransd.8", dir);
	d8 = slurp(path);
	CHECK(conf != NULL && d8 != NULL);
	for (size_t i = 0; conf != NULL && ptd_config_key(i) != NULL; i++) {
		snprintf(needle, sizeof needle, "\n.B %s\n", ptd_config_key(i));
		if (strstr(conf, needle) == NULL) {
			fprintf(stderr, "polytrans.conf.5 does not document '%s'\n", ptd_config_key(i));
			fails++;
		}
	}
	for (int i = 0; d8 != NULL && flags[i] != NULL; i++) {
		snprintf(needle, sizeof needle, "\\-\\-%s", flags[i]);
		if (strstr(d8, needle) == NULL) {
			fprintf(stderr, "polytransd.8 does not name %s\n", needle);
			fails++;
		}
	}
	free(conf);
	free(d8);
}

int main(void)
{
	const char *t = getenv("TEST_TMPDIR");

	snprintf(tmpdir, sizeof tmpdir, "%s", t != NULL ? t : "/tmp");
	test_defaults();
	test_every_key();
	test_pairs();
	test_file();
	test_man();
	if (fails) {
		fprintf(stderr, "%d checks failed\n", fails);
		return 1;
	}
	printf("ok\n");
	return 0;
}
