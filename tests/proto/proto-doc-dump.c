/*
 * proto-doc-dump: prints every method, notification, field and error code
 * from proto/'s own tables, one per line, so doc-check.py can hold
 * man/polytrans-protocol.7 to them:
 *   method NAME / request FIELD / result FIELD / notification NAME /
 *   field FIELD / error CODE / enum VALUE
 */
#include <stdio.h>

#include "proto-impl.h"

static void dump(const char *what, const proto_schema *s, int depth)
{
	for (size_t i = 0; i < s->n_fields; i++) {
		const proto_field *f = &s->fields[i];
		printf("%s %s\n", what, f->name);
		if (f->kind == F_ENUM)
			for (int j = (int)f->min; f->names[j] != NULL &&
			     (f->max == 0 || j <= f->max); j++)
				printf("enum %s\n", f->names[j]);
		if ((f->kind == F_OBJ || f->kind == F_OBJS) && depth < 4)
			dump(what, f->sub, depth + 1);
	}
}

int main(void)
{
	for (int m = PROTO_M_NONE + 1; m < PROTO_M_COUNT_; m++) {
		printf("method %s\n", proto_method_name(m));
		dump("request", proto__req_schema(m), 0);
		dump("result", proto__res_schema(m), 0);
	}
	for (int k = PROTO_N_NONE + 1; k < PROTO_N_COUNT_; k++) {
		printf("notification %s\n", proto_notify_name(k));
		dump("field", proto__note_schema(k), 0);
	}
	for (int c = PROTO_ERR_BAD_REQUEST; c < PROTO_ERR_OTHER; c++)
		printf("error %s\n", proto_errcode_name(c));
	return 0;
}
