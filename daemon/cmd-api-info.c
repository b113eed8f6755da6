/* cmd-api-info.c: the protocol version and the methods this daemon answers. */
#include "ptd.h"

static void ptd__api_info_exec(ptd_client *c, proto_msg *m)
{
	proto_str names[PROTO_M_COUNT_];
	proto_response r;
	uint32_t n = 0;

	for (int i = 0; ptd_cmd_table[i] != NULL && n < PROTO_M_COUNT_; i++)
		names[n++] = proto_str_c(proto_method_name(ptd_cmd_table[i]->method));
	proto_response_init(&r, PROTO_M_API_INFO);
	r.r.api_info.protocol = PROTO_VERSION;
	r.r.api_info.version = proto_str_c(PTD_VERSION);
	r.r.api_info.methods = names;
	r.r.api_info.n_methods = n;
	ptd_reply(c, m->msgid, &r);
	ptd_log_request(c, m->msgid, PROTO_M_API_INFO, pt_now(), "ok");
	proto_msg_free(m);
}

const ptd_cmd_entry ptd_cmd_api_info_entry = { PROTO_M_API_INFO, ptd__api_info_exec };
