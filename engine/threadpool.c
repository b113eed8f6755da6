/*
 * threadpool.c: persistent worker threads and a parallel-for.
 *
 * A job is published by bumping a generation counter; workers spin on it
 * for a short while (a forward pass runs hundreds of jobs per token, a few
 * microseconds apart) and then sleep on it with a futex, so an idle
 * context costs no CPU. A futex wake is only issued when someone is known
 * to sleep, which keeps the per-job cost to a few atomic operations.
 *
 * The machines are shared, so a worker may not be running when a job is
 * published. Rather than wait for it, the caller runs its share, then
 * closes the job: a worker that has not joined by then skips it. Jobs
 * therefore hand out their work through atomic counters, so that whoever
 * runs does all of it, and a descheduled worker costs a slower job instead
 * of a stall of a whole scheduler time slice.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kernels.h"

/* Spin iterations before sleeping: about 20-50 microseconds. */
#define POOL_SPIN 20000

typedef struct pool_worker {
	engine__pool *pool;
	int ith;
	pthread_t tid;
} pool_worker;

/* state: bits 63..32 the job's generation, bit 31 closed, bits 30..0
 * the workers inside the job. The low half is also the caller's futex. */
#define ST_CLOSED 0x80000000u
#define ST_ACTIVE 0x7fffffffu

struct engine__pool {
	int n;                       /* threads including the caller */
	pool_worker *w;              /* n - 1 workers */
	engine__pool_fn fn;
	void *arg;
	_Atomic uint64_t state;
	_Atomic uint32_t gen;        /* futex: bumped to publish a job */
	_Atomic int n_sleeping;      /* workers waiting on gen */
	_Atomic int caller_sleeping; /* the caller waits on state */
	_Atomic int stop;
};

static void pool_futex_wait(_Atomic uint32_t *addr, uint32_t val)
{
	syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, NULL,
		NULL, 0);
}

static void pool_futex_wake(_Atomic uint32_t *addr, int n)
{
	syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, n, NULL,
		NULL, 0);
}

static inline void pool_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* Waits until gen differs from seen; returns the new value. */
static uint32_t pool_wait_gen(engine__pool *p, uint32_t seen)
{
	uint32_t g;
	for (int i = 0; i < POOL_SPIN; i++) {
		g = atomic_load_explicit(&p->gen, memory_order_acquire);
		if (g != seen)
			return g;
		pool_relax();
	}
	for (;;) {
		atomic_fetch_add(&p->n_sleeping, 1);
		pool_futex_wait(&p->gen, seen);
		atomic_fetch_sub(&p->n_sleeping, 1);
		g = atomic_load_explicit(&p->gen, memory_order_acquire);
		if (g != seen)
			return g;
	}
}

/* The low 32 bits of state, for the futex (little-endian). */
static _Atomic uint32_t *pool_state_lo(engine__pool *p)
{
	return (_Atomic uint32_t *)(void *)&p->state;
}

/* Enters job g unless it is closed or already replaced. */
static int pool_join(engine__pool *p, uint32_t g)
{
	uint64_t s = atomic_load(&p->state);
	for (;;) {
		if ((uint32_t)(s >> 32) != g || (s & ST_CLOSED))
			return 0;
		if (atomic_compare_exchange_weak(&p->state, &s, s + 1))
			return 1;
	}
}

static void *pool_main(void *arg)
{
	pool_worker *w = arg;
	engine__pool *p = w->pool;
	uint32_t seen = 0;

	for (;;) {
		seen = pool_wait_gen(p, seen);
		if (atomic_load(&p->stop))
			break;
		if (!pool_join(p, seen))
			continue;
		p->fn(p->arg, w->ith, p->n);
		uint64_t s = atomic_fetch_sub(&p->state, 1) - 1;
		if ((s & ST_ACTIVE) == 0 && (s & ST_CLOSED) &&
		    atomic_load(&p->caller_sleeping))
			pool_futex_wake(pool_state_lo(p), 1);
	}
	return NULL;
}

int engine__pool_default_threads(void)
{
	long nc = sysconf(_SC_NPROCESSORS_ONLN);
	return nc > 0 ? (int)(nc > 256 ? 256 : nc) : 1;
}

int engine__pool_new(int n_threads, engine__pool **out, pt_err *e)
{
	if (n_threads <= 0)
		n_threads = engine__pool_default_threads();
	if (n_threads > 256)
		return pt_err_set(e, PT_EINVAL,
				  "thread count %d is over the limit of 256",
				  n_threads);
	engine__pool *p = calloc(1, sizeof(*p));
	if (!p)
		return pt_err_set(e, PT_ENOMEM, "out of memory for a thread pool");
	p->n = n_threads;
	if (n_threads > 1) {
		p->w = calloc((size_t)n_threads - 1, sizeof(*p->w));
		if (!p->w) {
			free(p);
			return pt_err_set(e, PT_ENOMEM,
					  "out of memory for a thread pool");
		}
	}
	for (int i = 0; i < n_threads - 1; i++) {
		p->w[i].pool = p;
		p->w[i].ith = i + 1;
		int rc = pthread_create(&p->w[i].tid, NULL, pool_main, &p->w[i]);
		if (rc != 0) {
			p->n = i + 1; /* join only the started ones */
			engine__pool_free(p);
			return pt_err_set(e, PT_ENOMEM,
					  "cannot start worker thread %d of %d: %s",
					  i + 1, n_threads, strerror(rc));
		}
	}
	*out = p;
	return 0;
}

void engine__pool_free(engine__pool *p)
{
	if (!p)
		return;
	if (p->n > 1) {
		atomic_store(&p->stop, 1);
		atomic_fetch_add(&p->gen, 1);
		pool_futex_wake(&p->gen, INT_MAX);
		for (int i = 0; i < p->n - 1; i++)
			pthread_join(p->w[i].tid, NULL);
	}
	free(p->w);
	free(p);
}

int engine__pool_size(const engine__pool *p)
{
	return p->n;
}

void engine__pool_run(engine__pool *p, engine__pool_fn fn, void *arg)
{
	if (p->n == 1) {
		fn(arg, 0, 1);
		return;
	}
	p->fn = fn;
	p->arg = arg;
	uint32_t g = atomic_load(&p->gen) + 1;
	atomic_store(&p->state, (uint64_t)g << 32);
	atomic_store(&p->gen, g);
	if (atomic_load(&p->n_sleeping) > 0)
		pool_futex_wake(&p->gen, INT_MAX);

	fn(arg, 0, p->n);

	uint64_t s = atomic_fetch_or(&p->state, ST_CLOSED) | ST_CLOSED;
	for (int i = 0; i < POOL_SPIN && (s & ST_ACTIVE); i++) {
		pool_relax();
		s = atomic_load_explicit(&p->state, memory_order_acquire);
	}
	while (s & ST_ACTIVE) {
		atomic_store(&p->caller_sleeping, 1);
		s = atomic_load(&p->state);
		if (s & ST_ACTIVE)
			pool_futex_wait(pool_state_lo(p), (uint32_t)s);
		s = atomic_load(&p->state);
	}
	atomic_store(&p->caller_sleeping, 0);
}
