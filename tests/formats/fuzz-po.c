/* fuzz-po.c: libFuzzer target of the po parser and writer (see
 * fuzz-common.h). */
#define FUZZ_FORMAT FMT_FORMAT_PO
#include "fuzz-common.h"
