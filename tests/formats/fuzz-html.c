/* fuzz-html.c: libFuzzer target of the html parser and writer (see
 * fuzz-common.h). */
#define FUZZ_FORMAT FMT_FORMAT_HTML
#include "fuzz-common.h"
