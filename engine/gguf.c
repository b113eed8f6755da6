/* gguf.c: being written. */
