/* forward.c: being written. */
