/*
 * pm-cmds.h: subcommands of polytrans-model that live in their own files.
 * Each takes the subcommand's arguments (argv[0] is the subcommand's name)
 * and returns the process exit status: 0 success, 1 failure (after one
 * line "polytrans-model: MESSAGE" on stderr), 2 usage error.
 */
#ifndef PM_CMDS_H
#define PM_CMDS_H

/* polytrans-model bench --shape 1.7b|tiny --type TYPE[,TYPE...]|all
 * [--threads N] [--reps N] [--json] (polytrans-model-bench.c) */
int pm_cmd_bench(int argc, char **argv);
/* bench --kernels: every matrix x vector kernel of the types, one thread,
 * per CPU second, printed as text or JSON (polytrans-model-bench-kern.c).
 * Returns the exit status. */
int pm_bench_kernels(const int *types, int n_types, int json);

/* polytrans-model translate MODEL --to LANG [--from LANG] [TEXT]: the
 * daemon's translate pipeline without the daemon (daemon/pm-translate.c,
 * in the ptdpipe library). */
int pm_cmd_translate(int argc, char **argv);

#endif
