/* cmd-status.c: the model, the queue, the counters and memory. */
#include <stdio.h>
#include <unistd.h>

#include "ptd.h"

/* Resident memory from /proc/self/statm (its second field, in pages). */
static uint64_t ptd__rss(void)
{
	unsigned long long size = 0, res = 0;
	long page = sysconf(_SC_PAGESIZE);
	FILE *f = fopen("/proc/self/statm", "r");

	if (f == NULL)
		return 0;
	if (fscanf(f, "%llu %llu", &size, &res) != 2)
		res = 0;
	fclose(f);
	return (uint64_t)res * (uint64_t)(page > 0 ? page : 4096);
}

static void ptd__status_exec(ptd_client *c, proto_msg *m)
{
	ptd_server *srv = c->srv;
	engine_model_info info;
	proto_response r;
	proto_status_res *s;
	uint32_t queued, running;
	double tps;

	engine_model_get_info(ptd_pipeline_model(srv->pl), &info);
	ptd_worker_stats(srv->worker, &queued, &running, &tps);
	proto_response_init(&r, PROTO_M_STATUS);
	s = &r.r.status;
	s->version = proto_str_c(PTD_VERSION);
	s->model.path = proto_str_c(srv->model_path);
	s->model.name = proto_str_c(info.name != NULL ? info.name : "");
	s->model.kind = proto_str_c(ptd_pipeline_kind(srv->pl));
	s->model.bundled = info.bundled != 0;
	s->model.type = proto_str_c(info.weight_type != NULL ? info.weight_type : "");
	s->model.params = info.n_params;
	s->model.context = (uint32_t)ptd_pipeline_n_ctx(srv->pl);
	s->uptime_s = pt_now() - srv->t_start;
	s->queue = queued;
	s->in_flight = running;
	s->clients = srv->n_clients;
	s->counters.requests = srv->cnt.requests;
	s->counters.errors = srv->cnt.errors;
	s->counters.tokens = srv->cnt.tokens;
	s->tokens_per_s = tps;
	s->rss_bytes = ptd__rss();
	s->jobs = ptd_jobs_unfinished(srv);
	ptd_reply(c, m->msgid, &r);
	ptd_log_request(c, m->msgid, PROTO_M_STATUS, pt_now(), "ok");
	proto_msg_free(m);
}

const ptd_cmd_entry ptd_cmd_status_entry = { PROTO_M_STATUS, ptd__status_exec };
