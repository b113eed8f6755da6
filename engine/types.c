/* types.c: being written. */
