/*
 * fileio.h -- whole small files in and out: what the config center reads
 * from a directory to publish and writes back on each node.
 */
#ifndef AMS_CORE_FILEIO_H
#define AMS_CORE_FILEIO_H

#include <stddef.h>

/* The whole file at path into *data (malloc'd, NUL-terminated, owned by
 * the caller) and *len.  Returns 0, or -1 with errno (EFBIG when it holds
 * more than max bytes). */
int fileio_read(const char *path, size_t max, char **data, size_t *len);

/* Write all len bytes of p to fd (retrying short writes and EINTR).
 * Returns 0, or -1 with errno. */
int fileio_write_all(int fd, const char *p, size_t len);

/* Create path (mode 0600; it must not exist) holding len bytes of data.
 * Returns 0, or -1 with errno. */
int fileio_write(const char *path, const char *data, size_t len);

#endif
