/* config.c: the settings table and its readers. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum { PTD__STR, PTD__INT, PTD__LEVEL };

typedef struct ptd__key {
	const char *name;
	int type;
	size_t off;
	int64_t def, min, max;
	const char *help;
} ptd__key;

#define PTD__F(f) offsetof(ptd_config, f)

static const ptd__key ptd__keys[] = {
	{ "model", PTD__STR, PTD__F(model), 0, 0, 0,
	  "model file (GGUF); default: the first model in the data folder, then the bundled one" },
	{ "socket", PTD__STR, PTD__F(socket_path), 0, 0, 0,
	  "socket path; default $XDG_RUNTIME_DIR/polytrans.sock (/tmp/polytrans-UID/ without it)" },
	{ "state_dir", PTD__STR, PTD__F(state_dir), 0, 0, 0,
	  "folder of batch jobs (jobs/<id>/); default $XDG_STATE_HOME/polytrans" },
	{ "prompt_template", PTD__STR, PTD__F(prompt_template), 0, 0, 0,
	  "a prompt template file overriding the model's prompt kind" },
	{ "threads", PTD__INT, PTD__F(threads), 0, 0, 256,
	  "engine threads (0 = one per core)" },
	{ "log_level", PTD__LEVEL, PTD__F(log_level), PT_LOG_INFO, PT_LOG_ERROR, PT_LOG_DEBUG,
	  "error, warn, info or debug" },
	{ "max_clients", PTD__INT, PTD__F(max_clients), 64, 1, 4096,
	  "connections served at once" },
	{ "max_requests_per_client", PTD__INT, PTD__F(max_requests_per_client), 32, 1, 4096,
	  "requests in flight per connection" },
	{ "max_message_bytes", PTD__INT, PTD__F(max_message_bytes), 16 << 20, 1024, 1 << 30,
	  "largest msgpack-RPC message accepted" },
	{ "max_text_bytes", PTD__INT, PTD__F(max_text_bytes), 16 << 20, 16, 1 << 30,
	  "largest text of one translate request" },
	{ "queue_size", PTD__INT, PTD__F(queue_size), 256, 1, 1 << 20,
	  "requests waiting for the engine (more: busy)" },
	{ "ctx_tokens", PTD__INT, PTD__F(ctx_tokens), 0, 0, 1 << 20,
	  "context tokens per sequence (0 = the model's)" },
	{ "max_beams", PTD__INT, PTD__F(max_beams), 4, 4, 16,
	  "sequences the engine holds: the widest beam search (needs memory)" },
	{ "batch_size", PTD__INT, PTD__F(batch_size), 8, 1, 64,
	  "segments decoded together, from any requests (1 = one at a time)" },
	{ "prefix_cache", PTD__INT, PTD__F(prefix_cache), 4, 0, 64,
	  "language pairs whose prompt prefix is kept computed (0 = none)" },
	{ "retry_beams", PTD__INT, PTD__F(retry_beams), 4, 0, 16,
	  "beams of the one retry of an answer that fails its checks (0 = no retry)" },
	{ "beams", PTD__INT, PTD__F(beams), 1, 1, 16,
	  "default beam width (1 = greedy)" },
	{ "max_tokens", PTD__INT, PTD__F(max_tokens), 256, 1, 65536,
	  "default budget of answer tokens per segment" },
	{ "shutdown_timeout_ms", PTD__INT, PTD__F(shutdown_timeout_ms), 5000, 0, 600000,
	  "on SIGTERM, time given to work in flight before it is cancelled" },
	{ "idle_exit", PTD__INT, PTD__F(idle_exit_s), 0, 0, 1 << 30,
	  "exit after this many idle seconds (0 = never; socket activation restarts it)" },
};

#define PTD__NKEYS (sizeof ptd__keys / sizeof ptd__keys[0])

static const char *const ptd__levels[] = {
	[PT_LOG_ERROR] = "error", [PT_LOG_WARN] = "warn",
	[PT_LOG_INFO] = "info", [PT_LOG_DEBUG] = "debug",
};

void ptd_config_init(ptd_config *c)
{
	memset(c, 0, sizeof *c);
	for (size_t i = 0; i < PTD__NKEYS; i++)
		if (ptd__keys[i].type != PTD__STR)
			*(int64_t *)((char *)c + ptd__keys[i].off) = ptd__keys[i].def;
}

void ptd_config_done(ptd_config *c)
{
	for (size_t i = 0; i < PTD__NKEYS; i++)
		if (ptd__keys[i].type == PTD__STR) {
			char **p = (char **)((char *)c + ptd__keys[i].off);
			free(*p);
			*p = NULL;
		}
}

static const ptd__key *ptd__find(const char *name)
{
	for (size_t i = 0; i < PTD__NKEYS; i++) {
		const char *a = ptd__keys[i].name, *b = name;
		/* "max-clients" on the command line, "max_clients" in the file. */
		while (*a && (*a == *b || (*a == '_' && *b == '-'))) {
			a++;
			b++;
		}
		if (*a == '\0' && *b == '\0')
			return &ptd__keys[i];
	}
	return NULL;
}

static int ptd__parse_level(const char *v, int64_t *out)
{
	for (size_t i = 0; i < sizeof ptd__levels / sizeof ptd__levels[0]; i++)
		if (ptd__levels[i] && strcasecmp(v, ptd__levels[i]) == 0) {
			*out = (int64_t)i;
			return 0;
		}
	return -1;
}

int ptd_config_set(ptd_config *c, const char *key, const char *value, pt_err *e)
{
	const ptd__key *k = ptd__find(key);
	int64_t n;
	char *end;

	if (k == NULL)
		return pt_err_set(e, PT_EINVAL, "unknown setting '%s'", key);
	if (k->type == PTD__STR) {
		char **p = (char **)((char *)c + k->off);
		char *dup = strdup(value);
		if (dup == NULL)
			return pt_err_set(e, PT_ENOMEM, "out of memory");
		free(*p);
		*p = dup;
		return 0;
	}
	if (k->type == PTD__LEVEL) {
		if (ptd__parse_level(value, &n) != 0)
			return pt_err_set(e, PT_EINVAL,
					  "%s: '%s' is not a log level (error, warn, info, debug)",
					  k->name, value);
	} else {
		errno = 0;
		n = strtoll(value, &end, 10);
		if (errno != 0 || end == value || *end != '\0')
			return pt_err_set(e, PT_EINVAL, "%s: '%s' is not a whole number",
					  k->name, value);
		if (n < k->min || n > k->max)
			return pt_err_set(e, PT_EINVAL,
					  "%s: %" PRId64 " is out of range (%" PRId64 " to %" PRId64 ")",
					  k->name, n, k->min, k->max);
	}
	*(int64_t *)((char *)c + k->off) = n;
	return 0;
}

static char *ptd__trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

int ptd_config_load_file(ptd_config *c, const char *path, int optional, pt_err *e)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	int lineno = 0, rc = 0;

	if (f == NULL) {
		if (optional && errno == ENOENT)
			return 0;
		return pt_err_set(e, PT_EIO, "%s: %s", path, strerror(errno));
	}
	while (fgets(line, sizeof line, f) != NULL) {
		char *s, *eq, *key, *val;
		size_t n = strlen(line);

		lineno++;
		if (n == sizeof line - 1 && line[n - 1] != '\n') {
			rc = pt_err_set(e, PT_EFORMAT, "%s:%d: line too long", path, lineno);
			break;
		}
		s = ptd__trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		eq = strchr(s, '=');
		if (eq == NULL) {
			rc = pt_err_set(e, PT_EFORMAT, "%s:%d: expected 'key = value'",
					path, lineno);
			break;
		}
		*eq = '\0';
		key = ptd__trim(s);
		val = ptd__trim(eq + 1);
		/* Values may be quoted to keep leading or trailing spaces. */
		n = strlen(val);
		if (n >= 2 && val[0] == '"' && val[n - 1] == '"') {
			val[n - 1] = '\0';
			val++;
		}
		rc = ptd_config_set(c, key, val, e);
		if (rc != 0) {
			pt_err_prefix(e, "%s:%d", path, lineno);
			break;
		}
	}
	if (rc == 0 && ferror(f))
		rc = pt_err_set(e, PT_EIO, "%s: read error", path);
	fclose(f);
	return rc;
}

int ptd_config_default_path(char *buf, size_t cap)
{
	const char *x = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	int n;

	if (x != NULL && x[0] == '/')
		n = snprintf(buf, cap, "%s/polytrans/polytrans.conf", x);
	else if (home != NULL)
		n = snprintf(buf, cap, "%s/.config/polytrans/polytrans.conf", home);
	else
		return PT_ENOTFOUND;
	return n < 0 || (size_t)n >= cap ? PT_ETOOLARGE : 0;
}

void ptd_config_print_keys(FILE *f)
{
	for (size_t i = 0; i < PTD__NKEYS; i++) {
		const ptd__key *k = &ptd__keys[i];
		if (k->type == PTD__STR)
			fprintf(f, "  %-24s %s\n", k->name, k->help);
		else if (k->type == PTD__LEVEL)
			fprintf(f, "  %-24s %s (default %s)\n", k->name, k->help,
				ptd__levels[k->def]);
		else
			fprintf(f, "  %-24s %s (default %" PRId64 ")\n", k->name, k->help, k->def);
	}
}

int ptd_config_set_all(ptd_config *c, char *const *kv, int n, pt_err *e)
{
	for (int i = 0; i + 1 < n; i += 2) {
		int rc = ptd_config_set(c, kv[i], kv[i + 1], e);
		if (rc != 0)
			return rc;
	}
	return 0;
}

const char *ptd_config_key(size_t i)
{
	return i < PTD__NKEYS ? ptd__keys[i].name : NULL;
}

int ptd_config_is_key(const char *name)
{
	return ptd__find(name) != NULL;
}

int ptd_config_key_range(size_t i, int64_t *min, int64_t *max)
{
	if (i >= PTD__NKEYS || ptd__keys[i].type != PTD__INT)
		return -1;
	*min = ptd__keys[i].min;
	*max = ptd__keys[i].max;
	return 0;
}
