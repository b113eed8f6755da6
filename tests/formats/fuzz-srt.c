/* fuzz-srt.c: libFuzzer target of the srt parser and writer (see
 * fuzz-common.h). */
#define FUZZ_FORMAT FMT_FORMAT_SRT
#include "fuzz-common.h"
