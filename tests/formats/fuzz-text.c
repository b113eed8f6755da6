/* fuzz-text.c: libFuzzer target of the text parser and writer (see
 * fuzz-common.h). */
#define FUZZ_FORMAT FMT_FORMAT_TEXT
#include "fuzz-common.h"
