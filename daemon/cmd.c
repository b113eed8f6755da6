/* cmd.c: the method table (one file per method, cmd-*.c). */
#include "ptd.h"

const ptd_cmd_entry *const ptd_cmd_table[] = {
	&ptd_cmd_translate_entry,
	&ptd_cmd_detect_entry,
	&ptd_cmd_languages_entry,
	&ptd_cmd_status_entry,
	&ptd_cmd_api_info_entry,
	&ptd_cmd_cancel_entry,
	NULL,
};

const ptd_cmd_entry *ptd_cmd_find(int method)
{
	for (int i = 0; ptd_cmd_table[i] != NULL; i++)
		if (ptd_cmd_table[i]->method == method)
			return ptd_cmd_table[i];
	switch (method) {
	case PROTO_M_JOB_SUBMIT:
	case PROTO_M_JOB_STATUS:
	case PROTO_M_JOB_LIST:
	case PROTO_M_JOB_CANCEL:
	case PROTO_M_JOB_RESULT:
		return &ptd_cmd_job_entry;
	}
	return NULL;
}
