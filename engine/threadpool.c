/* threadpool.c: being written. */
