/*
 * main.c: polytransd's command line, config file, model discovery and
 * start-up; the serving itself is server.c and server-life.c.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ptd.h"

#ifndef PTD_BUNDLED_MODEL
#define PTD_BUNDLED_MODEL "/usr/local/share/polytrans/models/bundled.gguf"
#endif
/* PTD_BUILD_DIR and PTD_SOURCE_BUNDLED_MODEL come from meson: the folder
 * this daemon is built in and the source tree's tools/bundled/bundled.gguf. */

typedef struct ptd__args {
	char **kv;                   /* key, value pairs for the config */
	int n_kv;
	const char *config;          /* --config */
	int check_only;
} ptd__args;

static void ptd__usage(FILE *f)
{
	fprintf(f,
		"usage: polytransd [--model FILE] [--socket PATH] [--config FILE] [--threads N]\n"
		"                  [--log-level error|warn|info|debug] [--foreground]\n"
		"                  [--check-config] [--KEY VALUE ...]\n"
		"       polytransd --help | --version\n"
		"\n"
		"The polytrans translation daemon: keeps a PolyLM model loaded and serves\n"
		"msgpack-RPC requests on a Unix socket (see polytransd(8)).\n"
		"\n"
		"  --model FILE       the model (GGUF)\n"
		"  --socket PATH      the socket (default $XDG_RUNTIME_DIR/polytrans.sock)\n"
		"  --config FILE      the config file (default $XDG_CONFIG_HOME/polytrans/polytrans.conf)\n"
		"  --threads N        engine threads (0 = one per core)\n"
		"  --log-level L      error, warn, info or debug\n"
		"  --foreground       stay in the foreground (the default; polytransd never forks)\n"
		"  --check-config     check the settings and find the model, then exit\n"
		"  --help, --version\n"
		"\n"
		"Every setting of the config file can be given as --KEY VALUE (or --KEY=VALUE),\n"
		"which wins over the file:\n");
	ptd_config_print_keys(f);
}

static int ptd__push(ptd__args *a, const char *k, const char *v)
{
	char **nkv = realloc(a->kv, (size_t)(a->n_kv + 2) * sizeof *nkv);

	if (nkv == NULL)
		return -1;
	a->kv = nkv;
	a->kv[a->n_kv] = strdup(k);
	a->kv[a->n_kv + 1] = strdup(v);
	a->n_kv += 2;
	if (a->kv[a->n_kv - 2] == NULL || a->kv[a->n_kv - 1] == NULL)
		return -1;
	/* Flags use dashes, the table underscores. */
	for (char *p = a->kv[a->n_kv - 2]; *p; p++)
		if (*p == '-')
			*p = '_';
	return 0;
}

/* Returns -1 to exit 0 (help, version), 0 to go on, 2 for a usage error. */
static int ptd__parse(int argc, char **argv, ptd__args *a)
{
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *val = NULL, *eq;
		char key[64];

		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			ptd__usage(stdout);
			return -1;
		}
		if (strcmp(arg, "--version") == 0 || strcmp(arg, "-V") == 0) {
			printf("polytransd %s\n", PTD_VERSION);
			return -1;
		}
		if (strcmp(arg, "--foreground") == 0 || strcmp(arg, "-f") == 0)
			continue;
		if (strcmp(arg, "--check-config") == 0) {
			a->check_only = 1;
			continue;
		}
		if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
			fprintf(stderr, "polytransd: unexpected argument '%s' (see --help)\n", arg);
			return 2;
		}
		eq = strchr(arg, '=');
		snprintf(key, sizeof key, "%.*s", (int)(eq ? (size_t)(eq - arg - 2) : strlen(arg + 2)),
			 arg + 2);
		if (eq != NULL)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else {
			fprintf(stderr, "polytransd: --%s needs a value\n", key);
			return 2;
		}
		if (strcmp(key, "config") == 0) {
			a->config = val;
			continue;
		}
		if (strcmp(key, "log-level") == 0)
			snprintf(key, sizeof key, "log_level");
		if (!ptd_config_is_key(key)) {
			fprintf(stderr, "polytransd: unknown option --%s (see --help)\n", key);
			return 2;
		}
		if (ptd__push(a, key, val) != 0) {
			fprintf(stderr, "polytransd: out of memory\n");
			return 1;
		}
	}
	return 0;
}

/* ---- Model discovery --------------------------------------------------------- */

static int ptd__is_file(const char *p)
{
	struct stat st;

	return p != NULL && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The first *.gguf of dir in name order, or NULL. */
static char *ptd__first_gguf(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char *best = NULL, path[4096];
	size_t n;

	if (d == NULL)
		return NULL;
	while ((de = readdir(d)) != NULL) {
		n = strlen(de->d_name);
		if (n <= 5 || strcmp(de->d_name + n - 5, ".gguf") != 0 || de->d_name[0] == '.')
			continue;
		if (best == NULL || strcmp(de->d_name, best) < 0) {
			char *nb = strdup(de->d_name);
			if (nb == NULL)
				break;
			free(best);
			best = nb;
		}
	}
	closedir(d);
	if (best == NULL)
		return NULL;
	n = (size_t)snprintf(path, sizeof path, "%s/%s", dir, best);
	free(best);
	return n < sizeof path && ptd__is_file(path) ? strdup(path) : NULL;
}

static void ptd__data_dir(char *buf, size_t cap)
{
	const char *x = getenv("XDG_DATA_HOME"), *home = getenv("HOME");

	if (x != NULL && x[0] == '/')
		snprintf(buf, cap, "%s/polytrans/models", x);
	else
		snprintf(buf, cap, "%s/.local/share/polytrans/models", home ? home : "");
}

/*
 * The source tree's bundled model, for a daemon that runs from its build
 * folder: build/client/polytrans starts build/daemon/polytransd (the
 * README's main command), and the model is committed in the source tree,
 * not installed. An installed daemon never looks there. NULL otherwise.
 */
static const char *ptd__source_bundled(void)
{
#if defined(PTD_BUILD_DIR) && defined(PTD_SOURCE_BUNDLED_MODEL)
	char self[PATH_MAX], build[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	char *slash;

	if (n <= 0)
		return NULL;
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) == NULL)
		return NULL;
	*slash = '\0';
	if (realpath(PTD_BUILD_DIR, build) == NULL || strcmp(self, build) != 0)
		return NULL;
	return PTD_SOURCE_BUNDLED_MODEL;
#else
	return NULL;
#endif
}

/* A model named by the person (--model, config `model`, POLYTRANS_MODEL)
 * must exist: falling back to another one would hide the mistake. */
static char *ptd__named_model(const char *path, const char *what, pt_err *e)
{
	errno = 0;
	if (ptd__is_file(path))
		return strdup(path);
	pt_err_set(e, PT_ENOTFOUND, "model %s%s: %s", what, path,
		   errno ? strerror(errno) : "not a regular file");
	return NULL;
}

/* --model / config `model`, POLYTRANS_MODEL, the data folder, then the
 * bundled model: POLYTRANS_MODEL_PATH, the installed one, and for a daemon
 * run from its build folder the source tree's (polytransd(8), MODEL). */
static char *ptd__find_model(const ptd_config *cfg, pt_err *e)
{
	char dir[4096];
	const char *env = getenv("POLYTRANS_MODEL_PATH");
	const char *named = getenv("POLYTRANS_MODEL"), *src;
	char *p;

	if (cfg->model != NULL)
		return ptd__named_model(cfg->model, "", e);
	if (named != NULL && named[0] != '\0')
		return ptd__named_model(named, "POLYTRANS_MODEL=", e);
	ptd__data_dir(dir, sizeof dir);
	if ((p = ptd__first_gguf(dir)) != NULL)
		return p;
	if (env != NULL && env[0] != '\0' && ptd__is_file(env))
		return strdup(env);
	if (ptd__is_file(PTD_BUNDLED_MODEL))
		return strdup(PTD_BUNDLED_MODEL);
	if ((src = ptd__source_bundled()) != NULL && ptd__is_file(src))
		return strdup(src);
	/* Short enough for a pt_err message with ordinary paths. */
	pt_err_set(e, PT_ENOTFOUND,
		   "no model found (no --model, no 'model =' in the config, no *.gguf in %s, "
		   "no bundled model at %s%s%s).\n"
		   "Download a PolyLM checkpoint from Hugging Face (e.g. DAMO-NLP-MT/polylm-1.7b)\n"
		   "and convert it into that folder (mkdir -p it first):\n"
		   "    polylm-convert polylm-1.7b %s/polylm-1.7b-q8_0.gguf --outtype q8_0\n"
		   "then start polytransd again, or pass --model FILE",
		   dir, PTD_BUNDLED_MODEL, env ? " or POLYTRANS_MODEL_PATH=" : "", env ? env : "",
		   dir);
	return NULL;
}

/* ---- Start-up ---------------------------------------------------------------------- */

static int ptd__load_config(ptd_server *srv, const ptd__args *a, char *path_buf, size_t cap,
			    pt_err *e)
{
	int rc = 0;

	ptd_config_init(&srv->cfg);
	if (a->config != NULL) {
		srv->config_path = a->config;
		rc = ptd_config_load_file(&srv->cfg, a->config, 0, e);
	} else if (ptd_config_default_path(path_buf, cap) == 0) {
		srv->config_path = path_buf;
		rc = ptd_config_load_file(&srv->cfg, path_buf, 1, e);
	}
	if (rc == 0)
		rc = ptd_config_set_all(&srv->cfg, a->kv, a->n_kv, e);
	return rc;
}

/* Said once at start: the bundled model is small and translates short,
 * everyday text only; a person should know, and know how to do better. */
static void ptd__bundled_notice(void)
{
	char dir[4096];

	ptd__data_dir(dir, sizeof dir);
	pt_log(PT_LOG_WARN, "this is polytrans's small bundled model: a few million parameters, "
	       "for short interface and everyday text; for real translation quality install "
	       "PolyLM-1.7B or 13B: convert its Hugging Face checkpoint with polylm-convert "
	       "and put the .gguf in %s/ (see polytransd(8), MODEL)", dir);
}

static int ptd__open(ptd_server *srv, pt_err *e)
{
	ptd_pipeline_params pp;
	char sock[108];
	double t0;
	int rc;

	if (srv->cfg.socket_path != NULL)
		snprintf(sock, sizeof sock, "%s", srv->cfg.socket_path);
	else if ((rc = ptd_socket_default_path(sock, sizeof sock, e)) != 0) {
		if (getenv("LISTEN_FDS") == NULL)
			return rc;
		sock[0] = '\0'; /* systemd passes the socket */
	}
	if ((rc = ptd_listen_open(&srv->lst, sock, e)) != 0)
		return rc;
	ptd_pipeline_default_params(&pp);
	pp.model_path = srv->model_path;
	pp.template_path = srv->cfg.prompt_template;
	pp.n_threads = (int)srv->cfg.threads;
	pp.n_ctx = (int)srv->cfg.ctx_tokens;
	pp.n_seq = (int)srv->cfg.max_beams;
	pp.batch_slots = (int)srv->cfg.batch_size;
	pp.prefix_cache = (int)srv->cfg.prefix_cache;
	pp.retry_beams = (int)srv->cfg.retry_beams;
	pp.max_tokens = (int)srv->cfg.max_tokens;
	pp.beams = (int)srv->cfg.beams;
	t0 = pt_now();
	ptd_notify("STATUS=loading the model");
	if ((rc = ptd_pipeline_new(&pp, &srv->pl, e)) != 0) {
		ptd_listen_close(&srv->lst);
		return rc;
	}
	{
		engine_model_info info;
		engine_model_get_info(ptd_pipeline_model(srv->pl), &info);
		pt_log(PT_LOG_INFO, "model %s: %s, %s, %llu parameters, prompt kind %s, "
		       "context %d tokens; loaded in %.2f s", srv->model_path,
		       info.name && info.name[0] ? info.name : "(unnamed)", info.weight_type,
		       (unsigned long long)info.n_params, ptd_pipeline_kind(srv->pl),
		       ptd_pipeline_n_ctx(srv->pl), pt_now() - t0);
		if (info.bundled)
			ptd__bundled_notice();
	}
	return 0;
}

int main(int argc, char **argv)
{
	static ptd_server srv;
	ptd__args a = { 0 };
	char cfg_path[4096];
	uv_loop_t loop;
	pt_err e = { 0 };
	int rc;

	signal(SIGPIPE, SIG_IGN);
	/* Past a file size limit (ulimit -f, LimitFSIZE=) a write must fail
	 * with EFBIG, which fails that job, rather than kill the daemon. */
	signal(SIGXFSZ, SIG_IGN);
	ptd_log_init(PT_LOG_INFO);
	rc = ptd__parse(argc, argv, &a);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	srv.overrides = a.kv;
	srv.n_overrides = a.n_kv;
	if (ptd__load_config(&srv, &a, cfg_path, sizeof cfg_path, &e) != 0) {
		fprintf(stderr, "polytransd: %s\n", e.msg);
		return 1;
	}
	ptd_log_init((int)srv.cfg.log_level);
	if ((srv.model_path = ptd__find_model(&srv.cfg, &e)) == NULL) {
		fprintf(stderr, "polytransd: %s\n", e.msg);
		return 1;
	}
	if (a.check_only) {
		printf("config: %s\nmodel: %s\nsettings: ok\n",
		       srv.config_path ? srv.config_path : "(none)", srv.model_path);
		return 0;
	}
	if (ptd__open(&srv, &e) != 0) {
		fprintf(stderr, "polytransd: %s\n", e.msg);
		return 1;
	}
	uv_loop_init(&loop);
	srv.loop = &loop;
	rc = ptd_server_run(&srv, &e);
	if (rc != 0 && e.msg[0] != '\0')
		fprintf(stderr, "polytransd: %s\n", e.msg);
	ptd_listen_close(&srv.lst);
	uv_loop_close(&loop);
	ptd_pipeline_free(srv.pl);
	ptd_config_done(&srv.cfg);
	free(srv.model_path);
	for (int i = 0; i < a.n_kv; i++)
		free(a.kv[i]);
	free(a.kv);
	return rc;
}
