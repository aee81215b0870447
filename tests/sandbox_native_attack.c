/* A hostile shared object for tests/test_solve_sandbox.py. Its constructor runs as soon as the library is
 * loaded (by `import` or dlopen), so none of it passes through Python's audit hook. It reads the attack to try
 * from its stdin ("NAME ARGUMENT") and reports on stdout what the kernel let it do. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

static void say(const char *format, ...) {
    char line[600];
    va_list args;
    va_start(args, format);
    int length = vsnprintf(line, sizeof line, format, args);
    va_end(args);
    if (write(1, line, (size_t)length) < 0) _exit(99);
}

/* Runs in a thread of its own: threads are allowed, and a thread must not be a way around the fork ban. */
static void *fork_from_a_thread(void *unused) {
    (void)unused;
    pid_t pid = fork();
    if (pid == 0) { setsid(); signal(SIGHUP, SIG_IGN); sleep(60); _exit(0); }
    say("threadfork %d errno %d\n", pid, pid < 0 ? errno : 0);
    return NULL;
}

__attribute__((constructor)) static void attack(void) {
    char name[64] = {0}, argument[500] = {0};
    if (scanf("%63s %499s", name, argument) < 1) { say("native: no plan on stdin\n"); _exit(2); }
    say("native code runs: %s\n", name);
    if (!strcmp(name, "survivor")) {            /* a child in its own session, meant to outlive the run */
        pid_t pid = fork();
        if (pid == 0) { setsid(); signal(SIGHUP, SIG_IGN); sleep(60); _exit(0); }
        say("fork %d errno %d\n", pid, pid < 0 ? errno : 0);
    } else if (!strcmp(name, "threadfork")) {    /* a thread starts, then tries to start a process */
        pthread_t thread;
        int made = pthread_create(&thread, NULL, fork_from_a_thread, NULL);
        say("thread %d\n", made);
        if (made == 0) pthread_join(thread, NULL);
    } else if (!strcmp(name, "forkbomb")) {      /* as many processes as the kernel gives */
        int made = 0, first_errno = 0;
        for (int i = 0; i < 500; i++) {
            pid_t pid = fork();
            if (pid == 0) { sleep(60); _exit(0); }
            if (pid > 0) made++; else if (!first_errno) first_errno = errno;
        }
        say("forked %d errno %d\n", made, first_errno);
    } else if (!strcmp(name, "exec")) {          /* a fresh interpreter has no audit hook */
        char *args[] = {argument, "-c", "print('escaped: an interpreter without the guard')", NULL};
        execv(argument, args);
        say("exec failed errno %d\n", errno);
    } else if (!strcmp(name, "udp")) {
        int s = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argument))};
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ssize_t sent = sendto(s, "escaped", 7, 0, (struct sockaddr *)&to, sizeof to);
        say("udp socket %d sent %zd errno %d\n", s, sent, sent < 0 ? errno : 0);
    } else if (!strcmp(name, "tcp")) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argument))};
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int connected = connect(s, (struct sockaddr *)&to, sizeof to);
        say("tcp connect %d errno %d\n", connected, connected < 0 ? errno : 0);
    } else if (!strcmp(name, "unix")) {
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un to = {.sun_family = AF_UNIX};
        strncpy(to.sun_path, argument, sizeof to.sun_path - 1);
        int connected = connect(s, (struct sockaddr *)&to, sizeof to);
        if (connected == 0) say("escaped: connected\n");
        say("unix connect %d errno %d\n", connected, connected < 0 ? errno : 0);
    } else if (!strcmp(name, "diskfill")) {      /* many 4 MB files (under the per-file limit), up to ARGUMENT MB */
        static char block[1 << 20];
        memset(block, 'x', sizeof block);
        long long total = 0;
        int failed = 0, files = atoi(argument) / 4;
        for (int i = 0; i < files && !failed; i++) {
            char path[32];
            snprintf(path, sizeof path, "fill%d", i);
            int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            if (fd < 0) { failed = errno; break; }
            for (int j = 0; j < 4; j++) {
                ssize_t n = write(fd, block, sizeof block);
                if (n > 0) total += n;
                if (n != (ssize_t)sizeof block) { failed = n < 0 ? errno : 28; break; }
            }
            close(fd);
        }
        say("wrote %lld errno %d\n", total, failed);
    } else if (!strcmp(name, "read")) {
        int fd = open(argument, O_RDONLY);
        char buffer[64] = {0};
        if (fd >= 0 && read(fd, buffer, sizeof buffer - 1) > 0) say("escaped: read %s\n", buffer);
        say("read fd %d errno %d\n", fd, fd < 0 ? errno : 0);
    } else if (!strcmp(name, "write")) {
        int fd = open(argument, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        if (fd >= 0 && write(fd, "escaped", 7) == 7) say("escaped: wrote %s\n", argument);
        say("write fd %d errno %d\n", fd, fd < 0 ? errno : 0);
    } else if (!strcmp(name, "iouring")) {       /* io_uring reaches sockets without the socket syscall */
        char params[120] = {0};                   /* struct io_uring_params, zeroed */
        long ring = syscall(425 /* io_uring_setup, the same on every architecture */, 4, params);
        say("io_uring_setup %ld errno %d\n", ring, ring < 0 ? errno : 0);
    } else if (!strcmp(name, "kill")) {          /* signal a process outside (its pid given) */
        int killed = kill(atoi(argument), SIGTERM);
        say("kill %d errno %d\n", killed, killed < 0 ? errno : 0);
    }
    _exit(0);
}
