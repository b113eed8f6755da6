/* cmd-job.c: job.submit, job.status, job.list, job.cancel, job.result.
 * Batch jobs come with a later version; until then every job method gets
 * an error that says so (and api_info does not list them). */
#include "ptd.h"

static void ptd__job_exec(ptd_client *c, proto_msg *m)
{
	double t0 = pt_now();

	ptd_reply_error(c, m->msgid, PROTO_ERR_UNKNOWN_METHOD,
			"%s: batch jobs are not available in this version of polytransd (%s); "
			"translate the text with the translate method",
			proto_method_name(m->req.method), PTD_VERSION);
	ptd_log_request(c, m->msgid, m->req.method, t0, "not available");
	proto_msg_free(m);
}

const ptd_cmd_entry ptd_cmd_job_entry = { PROTO_M_NONE, ptd__job_exec };
