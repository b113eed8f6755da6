/* fuzz-markdown.c: libFuzzer target of the markdown parser and writer (see
 * fuzz-common.h). */
#define FUZZ_FORMAT FMT_FORMAT_MARKDOWN
#include "fuzz-common.h"
