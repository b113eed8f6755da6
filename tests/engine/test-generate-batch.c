/*
 * test-generate-batch: engine_bgen (batched generation) on the tiny
 * fixture models of $FIXTURES, against engine_generate run alone on each
 * prompt: the same ids, text and stop reason whatever the other slots do
 * (slots joining late, leaving early, a cancelled neighbour, a prefix
 * copied into the slot with engine_kv_copy), with stop strings and
 * budgets; plus the argument checks.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "tcheck.h"

#define MAXT 512
#define N_SLOTS 5

static const char *texts[] = {
	"Hello world",
	"Beijing is the capital of China.\nTranslate this sentence from English to German.\n",
	"Der schnelle braune Fuchs",
	"东京是日本的首都。",
	"Translate this sentence from English to German.\nThe weather is nice today.\n",
	"x",
};
#define N_TEXTS (int)(sizeof texts / sizeof texts[0])

typedef struct job {
	int32_t prompt[MAXT];
	size_t n;
	engine_gen_params gp;
	const char *stop;
	engine_gen_result ref;   /* engine_generate alone */
} job;

static job jobs[N_TEXTS];

static size_t tokenize(const engine_model *m, const char *t, int32_t *ids)
{
	size_t n = 0;
	pt_err e;

	if (engine_tokenize(m, t, strlen(t), ENGINE_TOK_ADD_BOS, ids, MAXT, &n, &e) != 0) {
		fprintf(stderr, "tokenize: %s\n", e.msg);
		exit(1);
	}
	return n;
}

/* engine_generate on sequence 0 with nothing cached: the reference. */
static void reference(engine_ctx *c, job *j)
{
	pt_err e;

	engine_kv_truncate(c, 0, 0);
	if (engine_generate(c, j->prompt, j->n, &j->gp, NULL, NULL, &j->ref, &e) != 0) {
		fprintf(stderr, "engine_generate: %s\n", e.msg);
		exit(1);
	}
}

static void same(const job *j, const engine_gen_result *r, const char *what, int k)
{
	CHECK(r->n_ids == j->ref.n_ids && memcmp(r->ids, j->ref.ids,
						  (size_t)r->n_ids * sizeof *r->ids) == 0,
	      "%s: prompt %d: %d ids batched, %d alone (or different ids)", what, k,
	      (int)r->n_ids, (int)j->ref.n_ids);
	CHECK(r->text_len == j->ref.text_len && strcmp(r->text, j->ref.text) == 0,
	      "%s: prompt %d: text '%s' batched, '%s' alone", what, k, r->text, j->ref.text);
	CHECK(r->stop == j->ref.stop, "%s: prompt %d: stop %d batched, %d alone", what, k,
	      (int)r->stop, (int)j->ref.stop);
}

/* Prompts with different budgets; the odd ones stop at a piece of their
 * own reference text, so stop strings fire inside a batch. */
static void setup(engine_ctx *c, const engine_model *m)
{
	for (int k = 0; k < N_TEXTS; k++) {
		job *j = &jobs[k];

		j->n = tokenize(m, texts[k], j->prompt);
		j->gp = engine_gen_default_params();
		j->gp.max_tokens = 6 + 5 * k;
		j->gp.stop_at_eos = k % 3 != 0;
		reference(c, j);
		if (k % 2 == 1 && j->ref.text_len >= 6) {
			static char stops[N_TEXTS][8];
			size_t at = j->ref.text_len / 2;

			while (at > 0 && ((unsigned char)j->ref.text[at] & 0xc0) == 0x80)
				at--;
			/* One whole character of the answer. */
			snprintf(stops[k], sizeof stops[k], "%.*s",
				 pt_utf8_len((unsigned char)j->ref.text[at]), j->ref.text + at);
			j->stop = stops[k];
			j->gp.stop = &j->stop;
			j->gp.n_stop = 1;
			engine_gen_result_done(&j->ref);
			reference(c, j);
			CHECK(j->ref.stop == ENGINE_STOP_STRING || stops[k][0] == '\0',
			      "prompt %d: the stop string '%s' did not stop the reference", k,
			      stops[k]);
		}
	}
}

/*
 * Runs every prompt through the slots, a new one joining whenever a slot
 * is free (after `stagger` steps at the start, so slots join mid-way), and
 * compares each with its reference.
 */
static void run_batched(engine_ctx *c, const int32_t *seqs, int n_slots, int stagger,
			const char *what)
{
	engine_bgen *b = NULL;
	int owner[N_SLOTS], next = 0, done = 0, steps = 0, max_run = 0;
	pt_err e;

	if (engine_bgen_new(c, seqs, n_slots, &b, &e) != 0) {
		CHECK(0, "%s: engine_bgen_new: %s", what, e.msg);
		return;
	}
	for (int i = 0; i < n_slots; i++)
		owner[i] = -1;
	while (done < N_TEXTS) {
		for (int i = 0; i < n_slots && next < N_TEXTS; i++) {
			if (owner[i] >= 0 || (steps < stagger * i))
				continue;
			CHECK(engine_bgen_start(b, i, jobs[next].prompt, jobs[next].n, &jobs[next].gp,
						NULL, NULL, &e) == 0, "%s: start: %s", what, e.msg);
			owner[i] = next++;
		}
		if (engine_bgen_n_running(b) > max_run)
			max_run = engine_bgen_n_running(b);
		CHECK(engine_bgen_step(b, &e) == 0, "%s: step: %s", what, e.msg);
		steps++;
		for (int i = 0; i < n_slots; i++) {
			engine_gen_result r;

			if (owner[i] < 0 || engine_bgen_state(b, i) != ENGINE_BGEN_DONE)
				continue;
			CHECK(engine_bgen_take(b, i, &r, &e) == 0, "%s: take: %s", what, e.msg);
			same(&jobs[owner[i]], &r, what, owner[i]);
			engine_gen_result_done(&r);
			owner[i] = -1;
			done++;
		}
		if (steps > 10000)
			break;
	}
	CHECK(done == N_TEXTS, "%s: %d of %d prompts finished", what, done, N_TEXTS);
	CHECK(n_slots == 1 || max_run > 1, "%s: never more than %d slot running", what, max_run);
	engine_bgen_free(b);
}

/* A cancelled slot stops at the next step with ENGINE_STOP_CANCELLED and
 * its neighbours finish exactly as alone; a slot taken while running is
 * reported cancelled. */
static void test_cancel(engine_ctx *c, const int32_t *seqs)
{
	engine_bgen *b = NULL;
	volatile int flag = 0;
	engine_gen_params gp;
	engine_gen_result r;
	int k = N_TEXTS - 1;
	pt_err e;

	if (engine_bgen_new(c, seqs, 3, &b, &e) != 0) {
		CHECK(0, "cancel: engine_bgen_new: %s", e.msg);
		return;
	}
	gp = jobs[1].gp;
	gp.max_tokens = 200;
	gp.stop_at_eos = 0;
	gp.n_stop = 0;
	gp.cancel = &flag;
	CHECK(engine_bgen_start(b, 0, jobs[1].prompt, jobs[1].n, &gp, NULL, NULL, &e) == 0,
	      "cancel: start: %s", e.msg);
	CHECK(engine_bgen_start(b, 1, jobs[k].prompt, jobs[k].n, &jobs[k].gp, NULL, NULL, &e) == 0,
	      "cancel: start: %s", e.msg);
	CHECK(engine_bgen_start(b, 2, jobs[0].prompt, jobs[0].n, &gp, NULL, NULL, &e) == 0,
	      "cancel: start: %s", e.msg);
	for (int s = 0; s < 3; s++)
		engine_bgen_step(b, &e);
	flag = 1;
	CHECK(engine_bgen_step(b, &e) == 0, "cancel: step: %s", e.msg);
	while (engine_bgen_state(b, 1) == ENGINE_BGEN_RUNNING)
		CHECK(engine_bgen_step(b, &e) == 0, "cancel: step: %s", e.msg);
	CHECK(engine_bgen_state(b, 0) == ENGINE_BGEN_DONE, "cancelled slot still running");
	CHECK(engine_bgen_take(b, 0, &r, &e) == 0 && r.stop == ENGINE_STOP_CANCELLED,
	      "cancelled slot: stop %d", (int)r.stop);
	engine_gen_result_done(&r);
	CHECK(engine_bgen_take(b, 1, &r, &e) == 0, "take: %s", e.msg);
	same(&jobs[k], &r, "beside a cancelled slot", k);
	engine_gen_result_done(&r);
	CHECK(engine_bgen_take(b, 2, &r, &e) == 0 && r.stop == ENGINE_STOP_CANCELLED,
	      "slot taken while running: stop %d", (int)r.stop);
	engine_gen_result_done(&r);
	CHECK(engine_bgen_state(b, 2) == ENGINE_BGEN_IDLE, "taken slot not idle");
	CHECK(engine_bgen_take(b, 2, &r, &e) == PT_EINVAL, "take of an idle slot accepted");
	engine_bgen_free(b);
}

/* A prefix computed in another sequence and copied in is reused and
 * changes nothing in the answer. */
static void test_prefix_copy(engine_ctx *c, const int32_t *seqs, int32_t cache_seq)
{
	engine_bgen *b = NULL;
	engine_gen_result r;
	job *j = &jobs[4];
	int32_t np = (int32_t)j->n - 3;
	pt_err e;

	engine_kv_truncate(c, cache_seq, 0);
	CHECK(engine_eval(c, cache_seq, j->prompt, (size_t)np, NULL, &e) == 0, "eval: %s", e.msg);
	if (engine_bgen_new(c, seqs, 2, &b, &e) != 0) {
		CHECK(0, "prefix: engine_bgen_new: %s", e.msg);
		return;
	}
	engine_kv_copy(c, cache_seq, seqs[1], np);
	CHECK(engine_kv_len(c, seqs[1]) == np, "copied %d tokens, slot holds %d", (int)np,
	      (int)engine_kv_len(c, seqs[1]));
	CHECK(engine_bgen_start(b, 1, j->prompt, j->n, &j->gp, NULL, NULL, &e) == 0, "start: %s",
	      e.msg);
	while (engine_bgen_state(b, 1) == ENGINE_BGEN_RUNNING)
		CHECK(engine_bgen_step(b, &e) == 0, "step: %s", e.msg);
	CHECK(engine_bgen_take(b, 1, &r, &e) == 0, "take: %s", e.msg);
	same(j, &r, "with a copied prefix", 4);
	engine_gen_result_done(&r);
	engine_bgen_free(b);
}

static void test_args(engine_ctx *c, const int32_t *seqs)
{
	engine_bgen *b = NULL;
	engine_gen_params gp = engine_gen_default_params();
	int32_t dup[2] = { seqs[0], seqs[0] }, bad[1] = { 999 };
	pt_err e;

	CHECK(engine_bgen_new(c, dup, 2, &b, &e) == PT_EINVAL, "two slots on one sequence");
	CHECK(engine_bgen_new(c, bad, 1, &b, &e) == PT_EINVAL, "a sequence out of range");
	CHECK(engine_bgen_new(c, seqs, 0, &b, &e) == PT_EINVAL, "no slots");
	if (engine_bgen_new(c, seqs, 1, &b, &e) != 0) {
		CHECK(0, "engine_bgen_new: %s", e.msg);
		return;
	}
	gp.n_beams = 2;
	CHECK(engine_bgen_start(b, 0, jobs[0].prompt, jobs[0].n, &gp, NULL, NULL, &e) == PT_EINVAL,
	      "beams accepted");
	gp.n_beams = 1;
	CHECK(engine_bgen_start(b, 1, jobs[0].prompt, jobs[0].n, &gp, NULL, NULL, &e) == PT_EINVAL,
	      "slot out of range accepted");
	CHECK(engine_bgen_start(b, 0, jobs[0].prompt, 0, &gp, NULL, NULL, &e) == PT_EINVAL,
	      "empty prompt accepted");
	CHECK(engine_bgen_state(b, 0) == ENGINE_BGEN_IDLE, "failed start left the slot busy");
	CHECK(engine_bgen_step(b, &e) == 0, "a step with nothing running");
	engine_bgen_free(b);
}

static void run_model(const char *dir, const char *name)
{
	engine_model_params mp = engine_model_default_params();
	engine_ctx_params cp = engine_ctx_default_params();
	engine_model *m = NULL;
	engine_ctx *c = NULL;
	int32_t seqs[N_SLOTS] = { 3, 1, 5, 2, 4 };
	char path[4096], what[128];
	pt_err e;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (engine_model_load(path, &mp, &m, &e) != 0) {
		CHECK(0, "%s: %s", path, e.msg);
		return;
	}
	cp.n_seq = 7;
	cp.n_ctx = 0;
	cp.n_threads = 2;
	if (engine_ctx_new(m, &cp, &c, &e) != 0) {
		CHECK(0, "%s: %s", name, e.msg);
		engine_model_free(m);
		return;
	}
	setup(c, m);
	snprintf(what, sizeof what, "%s, %d slots", name, N_SLOTS);
	run_batched(c, seqs, N_SLOTS, 0, what);
	snprintf(what, sizeof what, "%s, %d slots joining late", name, N_SLOTS);
	run_batched(c, seqs, N_SLOTS, 2, what);
	snprintf(what, sizeof what, "%s, 2 slots", name);
	run_batched(c, seqs, 2, 1, what);
	snprintf(what, sizeof what, "%s, 1 slot", name);
	run_batched(c, seqs, 1, 0, what);
	test_cancel(c, seqs);
	test_prefix_copy(c, seqs, 6);
	test_args(c, seqs);
	for (int k = 0; k < N_TEXTS; k++)
		engine_gen_result_done(&jobs[k].ref);
	engine_ctx_free(c);
	engine_model_free(m);
}

int main(void)
{
	const char *dir = getenv("FIXTURES");

	if (dir == NULL || *dir == '\0') {
		printf("skipped: FIXTURES is not set (run through meson test)\n");
		return 77;
	}
	run_model(dir, "tiny-f32.gguf");
	run_model(dir, "tiny-q8_0.gguf");
	run_model(dir, "tiny-bf16.gguf");
	return tcheck_done();
}
