/* cmd-cancel.c: cancels a request of the same connection. The cancelled
 * request is answered with `cancelled` when the worker lets go of it:
 * at once if it was waiting, after the current decode step if running. */
#include "ptd.h"

static void ptd__cancel_exec(ptd_client *c, proto_msg *m)
{
	uint32_t id = m->req.p.cancel.request;
	ptd_request *r = ptd_client_find(c, id);
	proto_response res;
	double t0 = pt_now();

	if (r != NULL && !r->cancel)
		ptd_request_cancel(c->srv, r, 0);
	proto_response_init(&res, PROTO_M_CANCEL);
	res.r.cancel.cancelled = r != NULL;
	ptd_reply(c, m->msgid, &res);
	ptd_log_request(c, m->msgid, PROTO_M_CANCEL, t0, "request %u: %s", (unsigned)id,
			r != NULL ? "cancelled" : "not in flight");
	proto_msg_free(m);
}

const ptd_cmd_entry ptd_cmd_cancel_entry = { PROTO_M_CANCEL, ptd__cancel_exec };
