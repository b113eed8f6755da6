/* cmd-languages.c: the 18 languages the model serves. */
#include <string.h>

#include "langid.h"
#include "ptd.h"

static void ptd__languages_exec(ptd_client *c, proto_msg *m)
{
	proto_language langs[LANGID_COUNT];
	proto_response r;

	for (int i = 0; i < LANGID_COUNT; i++) {
		const char *scripts = langid_lang_scripts(i);
		snprintf(langs[i].code, sizeof langs[i].code, "%s", langid_lang_code(i));
		langs[i].name = proto_str_c(langid_lang_english(i));
		langs[i].native = proto_str_c(langid_lang_native(i));
		/* The main script: the first of the list ("Hans Hant" -> "Hans"). */
		langs[i].script.ptr = scripts;
		langs[i].script.len = strcspn(scripts, " ");
	}
	proto_response_init(&r, PROTO_M_LANGUAGES);
	r.r.languages.languages = langs;
	r.r.languages.n_languages = LANGID_COUNT;
	ptd_reply(c, m->msgid, &r);
	ptd_log_request(c, m->msgid, PROTO_M_LANGUAGES, pt_now(), "ok");
	proto_msg_free(m);
}

const ptd_cmd_entry ptd_cmd_languages_entry = { PROTO_M_LANGUAGES, ptd__languages_exec };
