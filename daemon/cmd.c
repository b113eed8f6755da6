/* cmd.c: the method table (one file per method, cmd-*.c). */
#include "ptd.h"

const ptd_cmd_entry *const ptd_cmd_table[] = {
	&ptd_cmd_translate_entry,
	&ptd_cmd_detect_entry,
	&ptd_cmd_languages_entry,
	&ptd_cmd_status_entry,
	&ptd_cmd_api_info_entry,
	&ptd_cmd_cancel_entry,
	&ptd_cmd_job_submit_entry,
	&ptd_cmd_job_status_entry,
	&ptd_cmd_job_list_entry,
	&ptd_cmd_job_cancel_entry,
	&ptd_cmd_job_result_entry,
	NULL,
};

const ptd_cmd_entry *ptd_cmd_find(int method)
{
	for (int i = 0; ptd_cmd_table[i] != NULL; i++)
		if (ptd_cmd_table[i]->method == method)
			return ptd_cmd_table[i];
	return NULL;
}
