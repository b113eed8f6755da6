/*
 * polytrans-model: the engine's command-line tool, for people who manage
 * models. One function per subcommand, registered in a table; every
 * subcommand parses its own options with getopt_long.
 *
 * Exit status: 0 success, 1 failure (one line "polytrans-model: MESSAGE"
 * on stderr), 2 usage error. man/polytrans-model.1 is the reference.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pm-cmds.h"
#include "polytrans-model.h"

int pm_verbose;

static const char pm_usage_text[] =
	"Usage: polytrans-model [-v] COMMAND [OPTIONS] ARGS\n"
	"\n"
	"Commands:\n"
	"  info FILE [--tensors]          architecture, sizes, weight types, tokenizer,\n"
	"                                 prompt kind; --tensors lists every tensor\n"
	"  tokenize FILE [TEXT] [--no-bos] [--no-special] [--lines]\n"
	"                                 token ids of TEXT (or of stdin) on one line;\n"
	"                                 --lines: one output line per input line;\n"
	"                                 --no-special: <s>, </s>, <unk> in the text\n"
	"                                 stay text, as SentencePiece itself does\n"
	"  detokenize FILE ID...          the text of the ids\n"
	"  run FILE --prompt TEXT [OPTIONS]\n"
	"                                 prints the continuation of the prompt\n"
	"      --max-tokens N             most tokens to generate (default 256)\n"
	"      --ids                      print the generated ids instead of text\n"
	"      --logits-out PATH          write the float32 little-endian logits of the\n"
	"                                 last prompt position (n_vocab floats)\n"
	"      --beams N                  beam search with N beams (default 1)\n"
	"      --temperature T            sample at temperature T (default 0: greedy)\n"
	"      --top-p P                  nucleus sampling (default 1)\n"
	"      --top-k K                  sample among the K likeliest tokens (0: off)\n"
	"      --seed S                   seed of the sampler (default: random)\n"
	"      --repetition-penalty R     penalise tokens already seen (default 1: off)\n"
	"      --length-penalty L         beam search length penalty (default 1)\n"
	"      --stop STR                 stop before STR (may be repeated)\n"
	"      --no-eos                   do not stop at the end-of-text token\n"
	"      --no-bos                   do not prepend <s> to the prompt\n"
	"      --threads N                worker threads (default: all cores)\n"
	"  translate FILE --to LANG [--from LANG] [--beams N] [--max-tokens N]\n"
	"        [--ctx N] [--template FILE] [TEXT]\n"
	"                                 translate TEXT (or stdin) with the whole\n"
	"                                 pipeline of the daemon, without the daemon\n"
	"  quantize IN OUT TYPE [--threads N]\n"
	"                                 convert the weight matrices to TYPE\n"
	"                                 (f32 f16 bf16 q8_0 q4_0 q4_k q6_k)\n"
	"  bench --shape 1.7b|tiny --type TYPE[,TYPE...]|all [--threads N]\n"
	"        [--reps N] [--json] [--kernels]\n"
	"                                 speed of prefill, decode and batched decode\n"
	"                                 on random weights, against the bandwidth and\n"
	"                                 the arithmetic peaks measured in the same run;\n"
	"                                 --kernels: each matrix x vector kernel instead\n"
	"\n"
	"Options for every command:\n"
	"  -v, --verbose                  print the engine's messages (twice: debug)\n"
	"  -h, --help                     print this help and exit\n"
	"\n"
	"Exit status: 0 success, 1 failure, 2 usage error.\n";

void pm_usage(FILE *f)
{
	fputs(pm_usage_text, f);
}

int pm_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("polytrans-model: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return PM_EXIT_FAIL;
}

int pm_usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("polytrans-model: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'polytrans-model --help' for the usage.\n", stderr);
	return PM_EXIT_USAGE;
}

int pm_bad_option(const char *cmd, int c, char **argv)
{
	const char *word = optind > 0 ? argv[optind - 1] : "?";

	if (c == ':')
		return pm_usage_error("%s: option '%s' needs a value", cmd, word);
	return pm_usage_error("%s: unknown option '%s'", cmd, word);
}

int pm_fail_err(const pt_err *e, int code)
{
	if (e != NULL && e->msg[0] != '\0')
		return pm_fail("%s", e->msg);
	return pm_fail("%s", pt_strerror(code));
}

int pm_parse_i64(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi)
		return pm_usage_error("%s: '%s' is not a whole number from %" PRId64 " to %" PRId64,
				      opt, s, lo, hi);
	*out = v;
	return 0;
}

int pm_parse_u64(const char *opt, const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (*s == '\0' || *s == '-' || *end != '\0' || errno != 0)
		return pm_usage_error("%s: '%s' is not a whole number from 0 to %" PRIu64,
				      opt, s, UINT64_MAX);
	*out = v;
	return 0;
}

int pm_parse_float(const char *opt, const char *s, double lo, double hi, float *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || !isfinite(v) || v < lo || v > hi)
		return pm_usage_error("%s: '%s' is not a number from %g to %g", opt, s, lo, hi);
	*out = (float)v;
	return 0;
}

int pm_load(const char *path, engine_model **out)
{
	engine_model_params mp = engine_model_default_params();
	pt_err e;
	int rc;

	pt_err_clear(&e);
	rc = engine_model_load(path, &mp, out, &e);
	if (rc != 0)
		return pm_fail_err(&e, rc);
	return 0;
}

int pm_read_stdin(char **out, size_t *len)
{
	size_t cap = 65536, n = 0, got;
	char *buf = malloc(cap), *nb;

	if (buf == NULL)
		return pm_fail("reading stdin: out of memory");
	while ((got = fread(buf + n, 1, cap - n - 1, stdin)) > 0) {
		n += got;
		if (cap - n - 1 == 0) {
			if (cap > SIZE_MAX / 2 || (nb = realloc(buf, cap * 2)) == NULL) {
				free(buf);
				return pm_fail("reading stdin: out of memory after %zu bytes", n);
			}
			buf = nb;
			cap *= 2;
		}
	}
	if (ferror(stdin)) {
		free(buf);
		return pm_fail("reading stdin: %s", strerror(errno));
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

int pm_check_utf8(const char *what, const char *text, size_t len)
{
	size_t off = 0;

	if (pt_utf8_check(text, len, &off) != 0)
		return pm_fail("%s is not valid UTF-8 (bad byte 0x%02x at byte offset %zu)",
			       what, (unsigned)(unsigned char)text[off], off);
	return 0;
}

int pm_tokenize(const engine_model *m, const char *text, size_t len,
		unsigned flags, int32_t **ids, size_t *cap, size_t *n)
{
	pt_err e;
	int rc;

	for (int tries = 0; tries < 3; tries++) {
		pt_err_clear(&e);
		rc = engine_tokenize(m, text, len, flags, *ids, *cap, n, &e);
		if (rc != PT_ETOOLARGE || *n <= *cap)
			break;
		/* The text needs more ids than fit: grow to what it said. */
		int32_t *nb = (*n > SIZE_MAX / sizeof **ids) ? NULL :
			      realloc(*ids, *n * sizeof **ids);
		if (nb == NULL)
			return pm_fail("tokenizing: out of memory for %zu ids", *n);
		*ids = nb;
		*cap = *n;
	}
	if (rc != 0)
		return pm_fail_err(&e, rc);
	return 0;
}

/* ---- info -------------------------------------------------------------- */

static const char *pm_prompt_kind(engine_prompt_kind k)
{
	switch (k) {
	case ENGINE_PROMPT_BASE: return "base";
	case ENGINE_PROMPT_MULTIALPACA: return "multialpaca";
	case ENGINE_PROMPT_CHAT: return "chat";
	}
	return "unknown";
}

static void pm_print_id(const char *label, int32_t id, const engine_model *m)
{
	if (id < 0) {
		printf("  %-24s none\n", label);
		return;
	}
	printf("  %-24s %d %s\n", label, (int)id,
	       engine_token_piece(m, id) ? engine_token_piece(m, id) : "?");
}

/* "f32 15 (0.1 MiB), q8_0 14 (3.1 MiB)": tensors and bytes per type. */
static void pm_info_types(const engine_model *m, int n)
{
	struct { const char *type; int n; uint64_t bytes; } t[16];
	int nt = 0;

	for (int i = 0; i < n; i++) {
		engine_tensor_info ti;
		int k = 0;

		if (engine_model_tensor(m, i, &ti) != 0)
			continue;
		while (k < nt && strcmp(t[k].type, ti.type) != 0)
			k++;
		if (k == nt) {
			if (nt == 16)
				continue;
			t[nt].type = ti.type;
			t[nt].n = 0;
			t[nt++].bytes = 0;
		}
		t[k].n++;
		t[k].bytes += ti.nbytes;
	}
	printf("tensor types:           ");
	for (int k = 0; k < nt; k++)
		printf("%s %s %d (%.1f MiB)", k ? "," : "", t[k].type, t[k].n,
		       (double)t[k].bytes / (1024.0 * 1024.0));
	putchar('\n');
}

static void pm_info_print(const engine_model *m, const engine_model_info *in)
{
	double mib = 1024.0 * 1024.0;

	printf("file:                    %s (%.1f MiB)\n", in->path, (double)in->file_bytes / mib);
	printf("architecture:            %s\n", in->arch);
	printf("name:                    %s\n", in->name[0] ? in->name : "(none)");
	printf("weight type:             %s\n", in->weight_type);
	printf("parameters:              %" PRIu64 " (%.2f M)\n", in->n_params,
	       (double)in->n_params / 1e6);
	printf("tensor data:             %.1f MiB in %d tensors\n",
	       (double)in->weight_bytes / mib, (int)in->n_tensors);
	pm_info_types(m, in->n_tensors);
	printf("context length:          %d\n", (int)in->n_ctx);
	printf("embedding size:          %d\n", (int)in->n_embd);
	printf("attention heads:         %d (head size %d)\n", (int)in->n_head,
	       in->n_head > 0 ? (int)(in->n_embd / in->n_head) : 0);
	printf("layers:                  %d\n", (int)in->n_layer);
	printf("feed-forward size:       %d\n", (int)in->n_ff);
	printf("layer norm epsilon:      %g\n", (double)in->norm_eps);
	printf("output matrix:           %s\n", in->has_output ? "output.weight" :
	       "tied to token_embd.weight");
	printf("prompt kind:             %s\n", pm_prompt_kind(in->prompt_kind));
	printf("bundled model:           %s\n", in->bundled ? "yes" : "no");
	printf("tokenizer:               %s (SentencePiece BPE), %d tokens\n",
	       in->tokenizer, (int)in->n_vocab);
	pm_print_id("bos:", in->bos_id, m);
	pm_print_id("eos:", in->eos_id, m);
	pm_print_id("unk:", in->unk_id, m);
	pm_print_id("pad:", in->pad_id, m);
	printf("  %-24s %s\n", "add bos:", in->add_bos ? "yes" : "no");
	printf("  %-24s %s\n", "add space prefix:", in->add_space_prefix ? "yes" : "no");
	printf("  %-24s %s\n", "remove extra spaces:", in->remove_extra_whitespaces ? "yes" : "no");
	printf("  %-24s %s\n", "normalization charsmap:", in->has_charsmap ? "yes" : "no");
}

static int pm_info_tensors(const engine_model *m, int n)
{
	pt_err e;

	printf("\n%-32s %-6s %-24s %12s %12s\n", "tensor", "type", "shape (ne)", "offset", "bytes");
	for (int i = 0; i < n; i++) {
		engine_tensor_info ti;
		char shape[96];
		size_t o = 0;
		int rc = engine_model_tensor(m, i, &ti);

		if (rc != 0) {
			pt_err_set(&e, rc, "tensor %d of %d: %s", i, n, pt_strerror(rc));
			return pm_fail_err(&e, rc);
		}
		shape[0] = '\0';
		for (int d = 0; d < ti.n_dims && d < 4 && o < sizeof shape; d++)
			o += (size_t)snprintf(shape + o, sizeof shape - o, "%s%" PRId64,
					      d ? " x " : "", ti.ne[d]);
		printf("%-32s %-6s %-24s %12" PRIu64 " %12" PRIu64 "\n", ti.name, ti.type,
		       shape, ti.offset, ti.nbytes);
	}
	return 0;
}

static int pm_cmd_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tensors", no_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	engine_model_info in;
	engine_model *m;
	int tensors = 0, c, rc;

	while ((c = getopt_long(argc, argv, ":vh", opts, NULL)) != -1) {
		switch (c) {
		case 't': tensors = 1; break;
		case 'v': pm_verbose++; break;
		case 'h': pm_usage(stdout); return PM_EXIT_OK;
		default: return pm_bad_option("info", c, argv);
		}
	}
	if (argc - optind != 1)
		return pm_usage_error("info takes one FILE");
	if ((rc = pm_load(argv[optind], &m)) != 0)
		return rc;
	engine_model_get_info(m, &in);
	pm_info_print(m, &in);
	rc = tensors ? pm_info_tensors(m, in.n_tensors) : 0;
	engine_model_free(m);
	if (fflush(stdout) != 0 && rc == 0)
		rc = pm_fail("writing the output: %s", strerror(errno));
	return rc;
}

/* ---- tokenize / detokenize ----------------------------------------------- */

static int pm_print_ids(const int32_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf(i ? " %d" : "%d", (int)ids[i]);
	putchar('\n');
	return 0;
}

static int pm_tokenize_all(const engine_model *m, const char *text, size_t len,
			   unsigned flags, int lines)
{
	int32_t *ids = NULL;
	size_t cap = 0, n = 0, at = 0;
	int rc = 0;

	if (!lines) {
		rc = pm_tokenize(m, text, len, flags, &ids, &cap, &n);
		if (rc == 0)
			pm_print_ids(ids, n);
		free(ids);
		return rc;
	}
	/* A trailing newline ends the last line; it does not start another. */
	while (rc == 0 && at < len) {
		const char *nl = memchr(text + at, '\n', len - at);
		size_t end = nl ? (size_t)(nl - text) : len;

		rc = pm_tokenize(m, text + at, end - at, flags, &ids, &cap, &n);
		if (rc == 0)
			pm_print_ids(ids, n);
		at = end + 1;
	}
	free(ids);
	return rc;
}

static int pm_cmd_tokenize(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "no-bos", no_argument, NULL, 'b' },
		{ "lines", no_argument, NULL, 'l' },
		{ "no-special", no_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	engine_model_info in;
	engine_model *m;
	char *text = NULL;
	size_t len;
	int no_bos = 0, lines = 0, c, rc;
	unsigned flags = 0;

	while ((c = getopt_long(argc, argv, ":vh", opts, NULL)) != -1) {
		switch (c) {
		case 'b': no_bos = 1; break;
		case 'l': lines = 1; break;
		case 's': flags |= ENGINE_TOK_NO_SPECIAL; break;
		case 'v': pm_verbose++; break;
		case 'h': pm_usage(stdout); return PM_EXIT_OK;
		default: return pm_bad_option("tokenize", c, argv);
		}
	}
	if (argc - optind < 1 || argc - optind > 2)
		return pm_usage_error("tokenize takes FILE and an optional TEXT");
	if (argc - optind == 2) {
		len = strlen(argv[optind + 1]);
		if ((text = malloc(len + 1)) == NULL)
			return pm_fail("out of memory");
		memcpy(text, argv[optind + 1], len + 1);
	} else if ((rc = pm_read_stdin(&text, &len)) != 0) {
		return rc;
	}
	rc = pm_check_utf8(argc - optind == 2 ? "TEXT" : "the input", text, len);
	if (rc == 0)
		rc = pm_load(argv[optind], &m);
	if (rc == 0) {
		engine_model_get_info(m, &in);
		if (in.add_bos && !no_bos)
			flags |= ENGINE_TOK_ADD_BOS;
		rc = pm_tokenize_all(m, text, len, flags, lines);
		engine_model_free(m);
	}
	free(text);
	if (fflush(stdout) != 0 && rc == 0)
		rc = pm_fail("writing the output: %s", strerror(errno));
	return rc;
}

static int pm_cmd_detokenize(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	engine_model *m;
	int32_t *ids;
	size_t n, len = 0;
	char *out = NULL;
	int c, rc;
	pt_err e;

	while ((c = getopt_long(argc, argv, ":vh", opts, NULL)) != -1) {
		switch (c) {
		case 'v': pm_verbose++; break;
		case 'h': pm_usage(stdout); return PM_EXIT_OK;
		default: return pm_bad_option("detokenize", c, argv);
		}
	}
	if (argc - optind < 1)
		return pm_usage_error("detokenize takes FILE and ids");
	n = (size_t)(argc - optind - 1);
	if ((ids = calloc(n + 1, sizeof *ids)) == NULL)
		return pm_fail("out of memory");
	for (size_t i = 0; i < n; i++) {
		int64_t v;

		if ((rc = pm_parse_i64("ID", argv[optind + 1 + i], 0, INT32_MAX, &v)) != 0) {
			free(ids);
			return rc;
		}
		ids[i] = (int32_t)v;
	}
	if ((rc = pm_load(argv[optind], &m)) != 0) {
		free(ids);
		return rc;
	}
	for (size_t i = 0; i < n && rc == 0; i++)
		if (ids[i] >= engine_n_vocab(m))
			rc = pm_fail("id %d is outside the vocabulary of %s (0..%d)",
				     (int)ids[i], argv[optind], (int)engine_n_vocab(m) - 1);
	/* Size the text with a first call, then write it. */
	pt_err_clear(&e);
	if (rc == 0 && (c = engine_detokenize(m, ids, n, NULL, 0, &len, &e)) != 0)
		rc = pm_fail_err(&e, c);
	if (rc == 0 && (out = malloc(len + 1)) == NULL)
		rc = pm_fail("out of memory for %zu bytes of text", len);
	if (rc == 0 && (c = engine_detokenize(m, ids, n, out, len + 1, &len, &e)) != 0)
		rc = pm_fail_err(&e, c);
	if (rc == 0) {
		fwrite(out, 1, len, stdout);
		putchar('\n');
	}
	free(out);
	free(ids);
	engine_model_free(m);
	if (fflush(stdout) != 0 && rc == 0)
		rc = pm_fail("writing the output: %s", strerror(errno));
	return rc;
}

/* ---- quantize ------------------------------------------------------------ */

static int pm_cmd_quantize(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "threads", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int64_t threads = 0;
	int c, rc, type;
	pt_err e;

	while ((c = getopt_long(argc, argv, ":vh", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			if ((rc = pm_parse_i64("--threads", optarg, 1, 1024, &threads)) != 0)
				return rc;
			break;
		case 'v': pm_verbose++; break;
		case 'h': pm_usage(stdout); return PM_EXIT_OK;
		default: return pm_bad_option("quantize", c, argv);
		}
	}
	if (argc - optind != 3)
		return pm_usage_error("quantize takes IN OUT TYPE");
	type = engine_type_from_name(argv[optind + 2]);
	if (type < 0)
		return pm_usage_error("quantize: unknown type '%s' (f32, f16, bf16, q8_0, q4_0, q4_k, q6_k)",
				      argv[optind + 2]);
	pt_err_clear(&e);
	rc = engine_quantize(argv[optind], argv[optind + 1], type, (int)threads, &e);
	if (rc != 0)
		return pm_fail_err(&e, rc);
	return PM_EXIT_OK;
}

/* ---- main -------------------------------------------------------------- */

static void pm_log(int level, const char *msg, void *ud)
{
	const char *tag = level <= PT_LOG_ERROR ? "error: " :
			  level == PT_LOG_WARN ? "warning: " : "";

	(void)ud;
	fprintf(stderr, "polytrans-model: %s%s\n", tag, msg);
}

static const struct pm_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
} pm_cmds[] = {
	{ "info", pm_cmd_info },
	{ "tokenize", pm_cmd_tokenize },
	{ "detokenize", pm_cmd_detokenize },
	{ "run", pm_cmd_run },
	{ "quantize", pm_cmd_quantize },
	{ "bench", pm_cmd_bench },
	{ "translate", pm_cmd_translate },
};

/* Scans the subcommand's arguments for -v so the log level is known before
 * the engine says anything (each subcommand also accepts -v itself). */
static int pm_count_verbose(int argc, char **argv)
{
	int v = 0;

	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--verbose") == 0)
			v++;
		else if (argv[i][0] == '-' && argv[i][1] != '-' &&
			 strspn(argv[i] + 1, "v") == strlen(argv[i] + 1))
			v += (int)strlen(argv[i] + 1);
	}
	return v;
}

int main(int argc, char **argv)
{
	int i = 1, v;

	/* Options before the command: -v, -h, --help. */
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			pm_usage(stdout);
			return PM_EXIT_OK;
		} else if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0) {
			pm_verbose++;
		} else if (strcmp(argv[i], "-vv") == 0) {
			pm_verbose += 2;
		} else {
			return pm_usage_error("unknown option '%s'", argv[i]);
		}
	}
	if (i >= argc) {
		pm_usage(stderr);
		return PM_EXIT_USAGE;
	}
	v = pm_verbose + pm_count_verbose(argc - i, argv + i);
	pt_log_set(pm_log, NULL, v >= 2 ? PT_LOG_DEBUG : v == 1 ? PT_LOG_INFO : PT_LOG_WARN);
	for (size_t k = 0; k < sizeof pm_cmds / sizeof pm_cmds[0]; k++) {
		if (strcmp(argv[i], pm_cmds[k].name) == 0) {
			/* The subcommand sees itself as argv[0]; getopt starts
			 * afresh. */
			optind = 1;
			opterr = 0;
			return pm_cmds[k].fn(argc - i, argv + i);
		}
	}
	return pm_usage_error("unknown command '%s'", argv[i]);
}
