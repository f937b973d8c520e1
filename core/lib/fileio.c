/*
 * fileio.c -- whole-file reads and writes (see fileio.h).
 */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fileio_read(const char *path, size_t max, char **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;
    size_t cap = 4096, n = 0;
    char *buf = NULL;
    struct stat st;

    *data = NULL;
    *len = 0;
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        errno = EISDIR;
        return -1;
    }
    for (;;) {
        ssize_t r;
        if (n + 1 >= cap || buf == NULL) {
            char *grown;
            cap = buf == NULL ? cap : cap * 2;
            if ((grown = realloc(buf, cap)) == NULL) {
                err = ENOMEM;
                break;
            }
            buf = grown;
        }
        r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            err = errno;
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > max) {
            err = EFBIG;
            break;
        }
    }
    close(fd);
    if (err != 0) {
        free(buf);
        errno = err;
        return -1;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

int fileio_write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int fileio_write(const char *path, const char *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600), err;

    if (fd < 0)
        return -1;
    if (fileio_write_all(fd, data, len) < 0) {
        err = errno;
        close(fd);
        goto fail;
    }
    if (close(fd) < 0) {
        err = errno;
        goto fail;
    }
    return 0;
fail:
    unlink(path);
    errno = err;
    return -1;
}
