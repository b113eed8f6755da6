/* generate.c: being written. */
