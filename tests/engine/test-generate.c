/*
 * test-generate: engine_generate on the tiny fixture model (tiny-f32.gguf
 * from $FIXTURES). Greedy and penalised decoding are checked against the
 * plain decoders of gen-ref.c (engine_eval per token); beam search against
 * a plain Hugging Face-semantics beam search there and against the
 * log-probability of the greedy answer; sampling for reproducibility, top-k
 * and the top-p nucleus; every stop rule (stop strings spanning tokens,
 * token budget, cancel flag, callback, context) and prefix reuse for their
 * exact effect.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine-impl.h"
#include "gen-ref.h"
#include "tcheck.h"

/* The engine's debug messages about the last generation. */
static char log_gen[512], log_beam[512];

static void on_log(int level, const char *msg, void *ud)
{
	(void)level;
	(void)ud;
	if (strncmp(msg, "generate:", 9) == 0)
		snprintf(log_gen, sizeof log_gen, "%s", msg);
	else if (strncmp(msg, "beam search:", 12) == 0)
		snprintf(log_beam, sizeof log_beam, "%s", msg);
}

/* Prompt tokens the last generation took from the cache, or -1. */
static int logged_reuse(void)
{
	const char *p = strstr(log_gen, "tokens (");
	int n = -1;

	if (p == NULL || sscanf(p, "tokens (%d reused", &n) != 1)
		return -1;
	return n;
}

static const char *prompts[] = {
	"Hello world",
	"Beijing is the capital of China.\nTranslate this sentence from English to German.\n",
	"Der schnelle braune Fuchs",
	"东京是日本的首都。",
};
#define N_PROMPTS (int)(sizeof prompts / sizeof prompts[0])

static void test_greedy(void)
{
	engine_gen_params gp = engine_gen_default_params();
	int32_t p[MAXT], ref[MAXT];

	gp.max_tokens = 12;
	gp.stop_at_eos = 0;
	for (int i = 0; i < N_PROMPTS; i++) {
		size_t n = tok(prompts[i], p, MAXT);
		engine_gen_result a = gen(p, n, &gp), b = gen(p, n, &gp);
		int32_t m = ref_greedy(p, n, gp.max_tokens, 1.0f, ref);

		CHECK(same_ids(&a, &b), "greedy differs between two runs (prompt %d)", i);
		CHECK(a.n_ids == 12 && a.stop == ENGINE_STOP_MAX_TOKENS,
		      "prompt %d: %d ids, stop %d", i, a.n_ids, a.stop);
		CHECK(a.n_ids == m && memcmp(a.ids, ref, (size_t)m * 4) == 0,
		      "prompt %d: greedy differs from argmax over engine_eval logits", i);
		CHECK(a.n_prompt == (int32_t)n, "n_prompt %d, want %zu", a.n_prompt, n);
		{
			/* The text is the detokenized ids. */
			char buf[4096];
			size_t len = 0;

			engine_detokenize(model, a.ids, (size_t)a.n_ids, buf, sizeof buf, &len, NULL);
			CHECK(len == a.text_len && memcmp(buf, a.text, len) == 0,
			      "prompt %d: text '%s' is not the ids' text '%s'", i, a.text, buf);
		}
		/* One beam is greedy. */
		gp.n_beams = 1;
		engine_gen_result_done(&b);
		b = gen(p, n, &gp);
		CHECK(same_ids(&a, &b), "n_beams 1 differs from greedy");
		engine_gen_result_done(&a);
		engine_gen_result_done(&b);
	}
}

static void test_beams(void)
{
	engine_gen_params gp = engine_gen_default_params(), bp;
	int32_t p[MAXT];
	int better = 0, stop_won = 0;

	gp.max_tokens = 10;
	gp.stop_at_eos = 0;
	bp = gp;
	bp.n_beams = 4;
	bp.length_penalty = 1.0f;
	for (int i = 0; i < N_PROMPTS; i++) {
		size_t n = tok(prompts[i], p, MAXT);
		engine_gen_result g = gen(p, n, &gp), b = gen(p, n, &bp), b2 = gen(p, n, &bp);
		double lg = logprob(p, n, g.ids, g.n_ids), lb = logprob(p, n, b.ids, b.n_ids);

		/* Without EOS every hypothesis has max_tokens tokens, so with
		 * length penalty 1 beam search maximises the plain sum. */
		CHECK(b.n_ids == gp.max_tokens, "beam answer has %d ids", b.n_ids);
		CHECK(b.stop == ENGINE_STOP_MAX_TOKENS, "beam stop %d", b.stop);
		CHECK(lb >= lg - 1e-3, "prompt %d: beam log-prob %.4f < greedy %.4f", i, lb, lg);
		CHECK(same_ids(&b, &b2), "beam search is not deterministic");
		better += lb > lg + 1e-3;
		printf("prompt %d: greedy log-prob %.4f, 4 beams %.4f\n", i, lg, lb);
		engine_gen_result_done(&g);
		engine_gen_result_done(&b);
		engine_gen_result_done(&b2);
	}
	/* Caches are copied only for beams whose parent's slot is taken:
	 * n - 1 after the first step, at most n - 1 a step after that. */
	{
		size_t n = tok(prompts[3], p, MAXT);
		engine_gen_result r;
		int nb = 0, steps = 0, hyps = 0, copies = -1;

		log_beam[0] = '\0';
		r = gen(p, n, &bp);
		CHECK(sscanf(log_beam, "beam search: %d beams, %d steps, %d finished hypotheses, "
			     "%d cache copies", &nb, &steps, &hyps, &copies) == 4,
		      "no beam search log: '%s'", log_beam);
		CHECK(nb == 4 && steps == bp.max_tokens, "%d beams, %d steps", nb, steps);
		CHECK(copies >= 3 && copies <= 3 * steps, "%d cache copies in %d steps", copies, steps);
		printf("4 beams, %d steps: %d cache copies\n", steps, copies);
		engine_gen_result_done(&r);
	}

	/* Beam search must actually search: on some prompt it beats greedy. */
	CHECK(better > 0, "4 beams never found a likelier answer than greedy");

	/* Against the plain reference: 2 and 4 beams, length penalties, and
	 * a stop string finishing hypotheses the way EOS does. */
	for (int i = 0; i < N_PROMPTS; i++) {
		size_t n = tok(prompts[i], p, MAXT);
		/* stop: 0 none, else the first character of token stop - 1 of
		 * the unstopped answer (some beams run into it). */
		static const struct { int nb; float lp; int stop; } cases[] = {
			{ 4, 1.0f, 0 }, { 2, 1.0f, 0 }, { 4, 2.0f, 3 }, { 4, 0.5f, 3 },
			{ 3, 1.0f, 3 }, { 4, 1.0f, 1 }, { 4, 0.0f, 2 }, { 4, -1.0f, 2 },
			{ 4, 2.0f, 1 }, { 2, 1.5f, 2 }, { 4, 3.0f, 2 },
		};

		for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
			engine_gen_params q = engine_gen_default_params();
			char stop[8] = "";
			const char *stops[1] = { stop };
			engine_gen_result r;
			rhyp want;

			q.max_tokens = 8;
			q.n_beams = cases[k].nb;
			q.length_penalty = cases[k].lp;
			if (cases[k].stop) {
				engine_gen_result u = gen(p, n, &q);
				char t2[512], t3[512];
				size_t l2 = 0, l3 = 0, si = (size_t)cases[k].stop;

				if (u.n_ids >= (int32_t)si) {
					engine_detokenize(model, u.ids, si - 1, t2, sizeof t2, &l2, NULL);
					engine_detokenize(model, u.ids, si, t3, sizeof t3, &l3, NULL);
				}
				if (l3 > l2) {
					size_t cl = (size_t)pt_utf8_len((unsigned char)t3[l2]);

					memcpy(stop, t3 + l2, cl < sizeof stop ? cl : 0);
				}
				engine_gen_result_done(&u);
				if (stop[0] == '\0' || stop[0] == ' ')
					continue;
				q.stop = stops;
				q.n_stop = 1;
			}
			r = gen(p, n, &q);
			want = ref_beam(p, n, q.n_beams, q.max_tokens, q.length_penalty,
					q.n_stop ? stop : NULL);
			CHECK(r.n_ids == want.n && memcmp(r.ids, want.toks, (size_t)want.n * 4) == 0,
			      "prompt %d, %d beams, length penalty %g, stop '%s': %d ids differ from "
			      "the reference's %d", i, q.n_beams, (double)q.length_penalty, stop,
			      r.n_ids, want.n);
			if (q.n_stop)
				CHECK(strstr(r.text, stop) == NULL, "answer '%s' keeps its stop '%s'",
				      r.text, stop);
			stop_won += r.stop == ENGINE_STOP_STRING;
			engine_gen_result_done(&r);
		}
	}

	/* The cases must exercise finished hypotheses winning. */
	CHECK(stop_won >= 3, "a stop-string hypothesis won only %d times", stop_won);
	printf("beam search: a stop-string hypothesis won %d times\n", stop_won);

	/* A context with fewer sequences than beams is refused. */
	{
		engine_ctx *c = ctx_new(2);
		engine_gen_result r;
		pt_err e;
		size_t n = tok(prompts[0], p, MAXT);

		CHECK(engine_generate(c, p, n, &bp, NULL, NULL, &r, &e) == PT_EINVAL,
		      "4 beams in a 2-sequence context accepted");
		engine_ctx_free(c);
	}
}

static void test_sampling(void)
{
	engine_gen_params gp = engine_gen_default_params();
	int32_t p[MAXT];
	size_t n = tok(prompts[1], p, MAXT);
	engine_gen_result g, a, b;
	int differ = 0;

	gp.max_tokens = 16;
	gp.stop_at_eos = 0;
	g = gen(p, n, &gp);
	gp.temperature = 1.5f;
	gp.seed = 1;
	a = gen(p, n, &gp);
	b = gen(p, n, &gp);
	CHECK(same_ids(&a, &b), "the same seed gave two samples");
	for (uint64_t s = 2; s < 6; s++) {
		engine_gen_result c;

		gp.seed = s;
		c = gen(p, n, &gp);
		differ += !same_ids(&a, &c);
		engine_gen_result_done(&c);
	}
	CHECK(differ >= 3, "only %d of 4 other seeds gave a different sample", differ);
	CHECK(!same_ids(&a, &g), "sampling at T=1.5 gave the greedy answer");
	engine_gen_result_done(&b);

	/* A nucleus too small for a second token, or top-k 1, is greedy. */
	gp.top_p = 1e-6f;
	b = gen(p, n, &gp);
	CHECK(same_ids(&b, &g), "top_p 1e-6 is not greedy");
	engine_gen_result_done(&b);
	gp.top_p = 1.0f;
	gp.top_k = 1;
	b = gen(p, n, &gp);
	CHECK(same_ids(&b, &g), "top_k 1 is not greedy");
	engine_gen_result_done(&b);

	/* top-k 5: reproducible, and every token among the 5 likeliest. */
	gp.top_k = 5;
	gp.top_p = 0.9f;
	gp.seed = 7;
	b = gen(p, n, &gp);
	{
		engine_gen_result c = gen(p, n, &gp);
		CHECK(same_ids(&b, &c), "top-k/top-p sample not reproducible");
		engine_gen_result_done(&c);
	}
	{
		engine_ctx *c = ctx_new(1);
		float *lg = malloc((size_t)n_vocab * sizeof *lg);
		pt_err e;

		engine_eval(c, 0, p, n, lg, &e);
		for (int32_t i = 0; i < b.n_ids; i++) {
			int above = 0;

			for (int32_t t = 0; t < n_vocab; t++)
				above += lg[t] > lg[b.ids[i]];
			CHECK(above < 5, "token %d of the top-k 5 sample ranks %d", i, above + 1);
			engine_eval(c, 0, &b.ids[i], 1, lg, &e);
		}
		free(lg);
		engine_ctx_free(c);
	}
	engine_gen_result_done(&a);
	engine_gen_result_done(&b);
	engine_gen_result_done(&g);

	/* top-p alone: every sampled token lies in the nucleus, the smallest
	 * set of likeliest tokens (at the temperature) reaching top_p. */
	gp.top_k = 0;
	gp.top_p = 0.6f;
	for (uint64_t seed = 1; seed <= 3; seed++) {
		engine_ctx *c = ctx_new(1);
		float *lg = malloc((size_t)n_vocab * sizeof *lg);
		double *pr = malloc((size_t)n_vocab * sizeof *pr);
		pt_err e;

		gp.seed = seed;
		b = gen(p, n, &gp);
		engine_eval(c, 0, p, n, lg, &e);
		for (int32_t i = 0; i < b.n_ids; i++) {
			double mx = lg[0], z = 0, above = 0;

			for (int32_t t = 1; t < n_vocab; t++)
				mx = lg[t] > mx ? lg[t] : mx;
			for (int32_t t = 0; t < n_vocab; t++)
				z += pr[t] = exp((lg[t] - mx) / gp.temperature);
			/* Mass strictly above the token: below top_p if it is in
			 * the nucleus. */
			for (int32_t t = 0; t < n_vocab; t++)
				if (pr[t] > pr[b.ids[i]])
					above += pr[t] / z;
			CHECK(above < gp.top_p, "seed %d token %d: %.3f of the mass lies above it",
			      (int)seed, i, above);
			engine_eval(c, 0, &b.ids[i], 1, lg, &e);
		}
		engine_gen_result_done(&b);
		free(lg);
		free(pr);
		engine_ctx_free(c);
	}
}

static int n_distinct(const int32_t *x, int32_t n)
{
	int d = 0;

	for (int32_t i = 0; i < n; i++) {
		int seen = 0;

		for (int32_t j = 0; j < i && !seen; j++)
			seen = x[j] == x[i];
		d += !seen;
	}
	return d;
}

static void test_repetition_penalty(void)
{
	engine_gen_params gp = engine_gen_default_params();
	int32_t p[MAXT], ref[MAXT];

	gp.max_tokens = 16;
	gp.stop_at_eos = 0;
	for (int i = 0; i < N_PROMPTS; i++) {
		size_t n = tok(prompts[i], p, MAXT);
		engine_gen_result g, r;
		int32_t m;

		gp.repetition_penalty = 1.0f;
		g = gen(p, n, &gp);
		gp.repetition_penalty = 1.8f;
		r = gen(p, n, &gp);
		m = ref_greedy(p, n, gp.max_tokens, 1.8f, ref);
		CHECK(r.n_ids == m && memcmp(r.ids, ref, (size_t)m * 4) == 0,
		      "prompt %d: penalised greedy differs from the reference (HF semantics)", i);
		CHECK(n_distinct(r.ids, r.n_ids) >= n_distinct(g.ids, g.n_ids),
		      "prompt %d: the penalty made the answer less varied (%d < %d tokens)", i,
		      n_distinct(r.ids, r.n_ids), n_distinct(g.ids, g.n_ids));
		if (n_distinct(g.ids, g.n_ids) < g.n_ids)
			CHECK(!same_ids(&g, &r), "prompt %d: penalty changed nothing in a "
			      "repetitive answer", i);
		engine_gen_result_done(&g);
		engine_gen_result_done(&r);
	}
}

/* Collects the streamed text; optionally cancels or stops. */
typedef struct stream {
	char buf[8192];
	size_t len;
	int calls;
	int cancel_at;          /* set *flag at this call (1-based), 0 never */
	volatile int *flag;
	int stop_at;            /* return nonzero at this call */
} stream;

static int on_text(void *ud, const char *t, size_t n)
{
	stream *s = ud;

	if (s->len + n < sizeof s->buf) {
		memcpy(s->buf + s->len, t, n);
		s->len += n;
	}
	s->calls++;
	if (s->cancel_at && s->calls == s->cancel_at)
		*s->flag = 1;
	return s->stop_at && s->calls == s->stop_at;
}

static engine_gen_result gen_cb(const int32_t *p, size_t n, const engine_gen_params *gp,
				stream *s)
{
	engine_ctx *c = ctx_new(gp->n_beams);
	engine_gen_result r;
	pt_err e;

	if (engine_generate(c, p, n, gp, on_text, s, &r, &e) != 0) {
		fprintf(stderr, "engine_generate: %s\n", e.msg);
		exit(1);
	}
	engine_ctx_free(c);
	return r;
}

/* Offset of the start of the UTF-8 character that ends at text[end). */
static size_t char_start(const char *t, size_t end)
{
	size_t i = end - 1;

	while (i > 0 && ((unsigned char)t[i] & 0xc0) == 0x80)
		i--;
	return i;
}

static void test_stop_strings(void)
{
	engine_gen_params gp = engine_gen_default_params();
	int32_t p[MAXT];
	int tried = 0;

	gp.max_tokens = 16;
	gp.stop_at_eos = 0;
	for (int i = 0; i < N_PROMPTS; i++) {
		size_t n = tok(prompts[i], p, MAXT), a, b, l2, l3;
		engine_gen_result g = gen(p, n, &gp), r;
		char t2[4096], t3[4096], stop[64];
		const char *stops[1] = { stop };
		const char *hit;
		stream s = { .len = 0 };

		/* A stop string across the boundary of answer tokens 2 and 3:
		 * the last character of the first two and the first of the
		 * third. */
		engine_detokenize(model, g.ids, 2, t2, sizeof t2, &l2, NULL);
		engine_detokenize(model, g.ids, 3, t3, sizeof t3, &l3, NULL);
		if (l2 == 0 || l3 <= l2 || memcmp(t2, t3, l2) != 0) {
			engine_gen_result_done(&g);
			continue;
		}
		a = char_start(t3, l2);
		b = l2 + (size_t)pt_utf8_len((unsigned char)t3[l2]);
		if (b - a >= sizeof stop || b > l3) {
			engine_gen_result_done(&g);
			continue;
		}
		tried++;
		memcpy(stop, t3 + a, b - a);
		stop[b - a] = '\0';
		gp.stop = stops;
		gp.n_stop = 1;
		r = gen_cb(p, n, &gp, &s);
		gp.stop = NULL;
		gp.n_stop = 0;
		hit = memmem(g.text, g.text_len, stop, b - a);
		CHECK(r.stop == ENGINE_STOP_STRING, "prompt %d: stop %d for stop string '%s'",
		      i, r.stop, stop);
		CHECK(hit != NULL && r.text_len == (size_t)(hit - g.text) &&
		      memcmp(r.text, g.text, r.text_len) == 0,
		      "prompt %d: text '%s' not cut before '%s' (full '%s')", i, r.text, stop, g.text);
		CHECK(r.n_ids <= g.n_ids && memcmp(r.ids, g.ids, (size_t)r.n_ids * 4) == 0,
		      "prompt %d: ids are not a prefix of the unstopped ones", i);
		CHECK(s.len == r.text_len && memcmp(s.buf, r.text, s.len) == 0,
		      "prompt %d: streamed '%.*s' is not the answer '%s'", i, (int)s.len, s.buf,
		      r.text);
		engine_gen_result_done(&g);
		engine_gen_result_done(&r);
	}
	CHECK(tried > 0, "no prompt gave an answer to build a stop string from");

	/* Beam search honours stop strings too. */
	{
		size_t n = tok(prompts[0], p, MAXT);
		engine_gen_result g, r;

		gp.n_beams = 4;
		g = gen(p, n, &gp);
		if (g.text_len >= 2) {
			char stop[8] = { 0 };
			const char *stops[1] = { stop };
			/* The answer's last character. */
			size_t at = char_start(g.text, g.text_len);
			const char *hit;

			memcpy(stop, g.text + at, g.text_len - at);
			gp.stop = stops;
			gp.n_stop = 1;
			r = gen(p, n, &gp);
			hit = strstr(r.text, stop);
			CHECK(hit == NULL, "beam answer '%s' contains its stop string '%s'",
			      r.text, stop);
			CHECK(r.stop == ENGINE_STOP_STRING || r.stop == ENGINE_STOP_MAX_TOKENS,
			      "beam stop %d", r.stop);
			gp.stop = NULL;
			gp.n_stop = 0;
			engine_gen_result_done(&r);
		}
		gp.n_beams = 1;
		engine_gen_result_done(&g);
	}
}

static void test_stream_and_stops(void)
{
	engine_gen_params gp = engine_gen_default_params();
	int32_t p[MAXT];
	size_t n = tok(prompts[0], p, MAXT);
	volatile int flag = 0;
	engine_gen_result r;
	stream s = { .len = 0 };

	/* max_tokens */
	gp.stop_at_eos = 0;
	gp.max_tokens = 5;
	r = gen_cb(p, n, &gp, &s);
	CHECK(r.n_ids == 5 && r.stop == ENGINE_STOP_MAX_TOKENS, "%d ids, stop %d", r.n_ids, r.stop);
	CHECK(s.len == r.text_len && memcmp(s.buf, r.text, s.len) == 0,
	      "streamed text differs from the answer");
	engine_gen_result_done(&r);

	gp.max_tokens = 0;
	r = gen(p, n, &gp);
	CHECK(r.n_ids == 0 && r.text_len == 0 && r.stop == ENGINE_STOP_MAX_TOKENS,
	      "max_tokens 0: %d ids", r.n_ids);
	engine_gen_result_done(&r);

	/* A cancel flag set by the first callback stops after that token. */
	gp.max_tokens = 20;
	gp.cancel = &flag;
	memset(&s, 0, sizeof s);
	s.cancel_at = 1;
	s.flag = &flag;
	r = gen_cb(p, n, &gp, &s);
	CHECK(r.stop == ENGINE_STOP_CANCELLED, "stop %d, want cancelled", r.stop);
	CHECK(s.calls == 1, "callback called %d times after cancelling", s.calls);
	CHECK(r.n_ids >= 1 && r.n_ids <= 2, "%d ids after a cancel at the first text", r.n_ids);
	CHECK(r.text_len >= s.len && memcmp(r.text, s.buf, s.len) == 0,
	      "partial text lost on cancel");
	engine_gen_result_done(&r);

	/* A flag already set: nothing is generated, but it is no error. */
	r = gen(p, n, &gp);
	CHECK(r.stop == ENGINE_STOP_CANCELLED && r.n_ids == 0, "pre-set cancel: %d ids", r.n_ids);
	engine_gen_result_done(&r);
	gp.cancel = NULL;
	flag = 0;

	/* The callback asks to stop. */
	memset(&s, 0, sizeof s);
	s.stop_at = 2;
	r = gen_cb(p, n, &gp, &s);
	CHECK(r.stop == ENGINE_STOP_CALLBACK && s.calls == 2, "stop %d after %d calls",
	      r.stop, s.calls);
	CHECK(r.n_ids < 20, "%d ids after the callback said stop", r.n_ids);
	engine_gen_result_done(&r);
}

static void test_context(void)
{
	engine_gen_params gp = engine_gen_default_params();
	int32_t p[512];
	char want[128];
	engine_ctx *c = ctx_new(1);
	engine_gen_result r;
	pt_err e;
	size_t n = (size_t)n_ctx_model + 10;

	for (size_t i = 0; i < n; i++)
		p[i] = (int32_t)(5 + i % 50);
	memset(&e, 0, sizeof e);
	CHECK(engine_generate(c, p, n, &gp, NULL, NULL, &r, &e) == PT_ECONTEXT,
	      "an overlong prompt is accepted");
	snprintf(want, sizeof want, "prompt is %zu tokens, the model's context is %d", n,
		 (int)n_ctx_model);
	CHECK(strstr(e.msg, want) != NULL, "message '%s' lacks '%s'", e.msg, want);

	/* Generation that reaches the end of the context stops there. */
	n = (size_t)n_ctx_model - 6;
	gp.max_tokens = 50;
	gp.stop_at_eos = 0;
	CHECK(engine_generate(c, p, n, &gp, NULL, NULL, &r, &e) == 0, "%s", e.msg);
	CHECK(r.stop == ENGINE_STOP_CONTEXT && r.n_ids == 6, "stop %d with %d ids", r.stop,
	      r.n_ids);
	engine_gen_result_done(&r);
	gp.n_beams = 1;

	/* Bad parameters are refused with PT_EINVAL. */
	gp.top_p = 0;
	CHECK(engine_generate(c, p, 4, &gp, NULL, NULL, &r, &e) == PT_EINVAL, "top_p 0");
	gp.top_p = 1;
	gp.temperature = -1;
	CHECK(engine_generate(c, p, 4, &gp, NULL, NULL, &r, &e) == PT_EINVAL, "temperature -1");
	gp.temperature = 0;
	CHECK(engine_generate(c, p, 0, &gp, NULL, NULL, &r, &e) == PT_EINVAL, "empty prompt");
	p[1] = n_vocab;
	CHECK(engine_generate(c, p, 4, &gp, NULL, NULL, &r, &e) == PT_EINVAL, "bad id");
	engine_ctx_free(c);
}

static void test_prefix_reuse(void)
{
	engine_gen_params gp = engine_gen_default_params();
	int32_t a[MAXT], b[MAXT], d[MAXT];
	size_t na = tok(prompts[1], a, MAXT), nb, nd;
	engine_ctx *c = ctx_new(1);
	engine_gen_result r1, r2, fresh;
	pt_err e;

	gp.max_tokens = 8;
	gp.stop_at_eos = 0;
	CHECK(engine_generate(c, a, na, &gp, NULL, NULL, &r1, &e) == 0, "%s", e.msg);
	/* Prompt b = a + answer + more: its first na + 7 tokens are cached. */
	memcpy(b, a, na * 4);
	memcpy(b + na, r1.ids, (size_t)r1.n_ids * 4);
	nb = na + (size_t)r1.n_ids;
	b[nb++] = 5;
	b[nb++] = 6;
	CHECK(engine_generate(c, b, nb, &gp, NULL, NULL, &r2, &e) == 0, "%s", e.msg);
	CHECK(logged_reuse() == (int)(na + 7), "%d tokens reused, want %d (log '%s')",
	      logged_reuse(), (int)(na + 7), log_gen);
	fresh = gen(b, nb, &gp);
	CHECK(logged_reuse() == 0, "a fresh context reused %d tokens", logged_reuse());
	CHECK(same_ids(&r2, &fresh), "reused prefix gives other ids than a fresh run");
	engine_gen_result_done(&r2);
	engine_gen_result_done(&fresh);

	/* Prompts diverging near the end and in the middle: only the common
	 * part may be kept. The cache's token record must then be exactly
	 * the prompt and the answer (but its last token). */
	for (int k = 0; k < 2; k++) {
		const int32_t *rec;

		memcpy(d, a, na * 4);
		nd = na;
		d[k == 0 ? nd - 2 : nd / 2] = 7;
		CHECK(engine_generate(c, d, nd, &gp, NULL, NULL, &r2, &e) == 0, "%s", e.msg);
		CHECK(logged_reuse() == (int)(k == 0 ? nd - 2 : nd / 2),
		      "diverging prompt: %d tokens reused, want %d", logged_reuse(),
		      (int)(k == 0 ? nd - 2 : nd / 2));
		fresh = gen(d, nd, &gp);
		CHECK(same_ids(&r2, &fresh), "partly reused prefix differs from a fresh run");
		rec = engine__ctx_tokens(c, 0);
		CHECK(engine_kv_len(c, 0) == (int32_t)nd + r2.n_ids - 1 &&
		      memcmp(rec, d, nd * 4) == 0 &&
		      memcmp(rec + nd, r2.ids, (size_t)(r2.n_ids - 1) * 4) == 0,
		      "the cache holds %d tokens that are not prompt + answer",
		      engine_kv_len(c, 0));
		engine_gen_result_done(&r2);
		engine_gen_result_done(&fresh);
	}

	/* The very same prompt again, and then with beams in another context
	 * sequence layout: identical to a fresh run. */
	CHECK(engine_generate(c, a, na, &gp, NULL, NULL, &r2, &e) == 0, "%s", e.msg);
	CHECK(logged_reuse() == (int)na / 2, "back to the first prompt: %d reused, want %d",
	      logged_reuse(), (int)na / 2);
	CHECK(same_ids(&r1, &r2), "repeating a prompt changed the answer");
	engine_gen_result_done(&r2);
	CHECK(engine_generate(c, a, na, &gp, NULL, NULL, &r2, &e) == 0, "%s", e.msg);
	CHECK(logged_reuse() == (int)na - 1, "same prompt: %d reused, want %d (all but the "
	      "last, whose logits are needed)", logged_reuse(), (int)na - 1);
	CHECK(same_ids(&r1, &r2), "repeating a prompt changed the answer");
	engine_gen_result_done(&r2);
	engine_gen_result_done(&r1);
	engine_ctx_free(c);

	c = ctx_new(4);
	gp.n_beams = 4;
	CHECK(engine_generate(c, a, na, &gp, NULL, NULL, &r1, &e) == 0, "%s", e.msg);
	CHECK(engine_generate(c, a, na, &gp, NULL, NULL, &r2, &e) == 0, "%s", e.msg);
	CHECK(same_ids(&r1, &r2), "beam search after beam search in one context differs");
	engine_gen_result_done(&r1);
	engine_gen_result_done(&r2);
	engine_ctx_free(c);
}

int main(void)
{
	const char *dir = getenv("FIXTURES");
	char path[4096];
	engine_model_info in;
	engine_model_params mp = engine_model_default_params();
	pt_err e;

	if (dir == NULL || *dir == '\0') {
		printf("skipped: FIXTURES is not set (run through meson test)\n");
		return 77;
	}
	snprintf(path, sizeof path, "%s/tiny-f32.gguf", dir);
	if (engine_model_load(path, &mp, &model, &e) != 0) {
		fprintf(stderr, "%s: %s\n", path, e.msg);
		return 1;
	}
	pt_log_set(on_log, NULL, PT_LOG_DEBUG);
	engine_model_get_info(model, &in);
	n_vocab = in.n_vocab;
	n_ctx_model = in.n_ctx;
	test_greedy();
	test_beams();
	test_sampling();
	test_repetition_penalty();
	test_stop_strings();
	test_stream_and_stops();
	test_context();
	test_prefix_reuse();
	engine_model_free(model);
	return tcheck_done();
}
