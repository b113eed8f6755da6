/* pm-translate-main.c: `pm-translate ...` runs pm_cmd_translate as
 * `polytrans-model translate ...` would, for the tests, until the
 * polytrans-model executable links daemon/pm-translate.c. */
#include <string.h>

#include "pm-cmds.h"

int main(int argc, char **argv)
{
	/* "pm-translate translate MODEL ..." as polytrans-model gets it. */
	if (argc >= 2 && strcmp(argv[1], "translate") == 0)
		return pm_cmd_translate(argc - 1, argv + 1);
	return pm_cmd_translate(argc, argv);
}
