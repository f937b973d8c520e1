/*
 * ctl.c -- control channel messages.
 */
#include "ctl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int ctl_pair(int fds[2])
{
    return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds);
}

int ctl_send(int fd, const cJSON *msg)
{
    char *text = cJSON_PrintUnformatted(msg);
    ssize_t n;
    size_t len;

    if (text == NULL)
        return -1;
    len = strlen(text);
    if (len > CTL_MSG_MAX) {
        free(text);
        errno = EMSGSIZE;
        return -1;
    }
    do
        n = send(fd, text, len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    free(text);
    return n == (ssize_t)len ? 0 : -1;
}

int ctl_recv(int fd, cJSON **msg)
{
    char *buf = malloc(CTL_MSG_MAX + 1);
    ssize_t n;

    *msg = NULL;
    if (buf == NULL)
        return -1;
    do
        n = recv(fd, buf, CTL_MSG_MAX, MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
        free(buf);
        return n == 0 ? 0 : -1;
    }
    *msg = cJSON_ParseWithLength(buf, (size_t)n);
    free(buf);
    if (*msg == NULL || !cJSON_IsObject(*msg)) {
        cJSON_Delete(*msg);
        *msg = NULL;
        errno = EBADMSG;
        return -1;
    }
    return 1;
}

const char *ctl_type(const cJSON *msg)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(msg, "type");
    return cJSON_IsString(t) ? t->valuestring : "";
}
