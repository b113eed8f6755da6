/* quantize.c: being written. */
