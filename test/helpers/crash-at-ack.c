/*
 * An LD_PRELOAD library that kills its process (SIGKILL) right after the process has written an
 * MQTT PUBACK to a socket, once, while a control file exists. It puts a crash at the one moment
 * a kill from outside can almost never hit: the ack has left (the broker will not send the
 * message again), and whatever the agent does next — say, a state write it put off until after
 * the ack — never happens. Built by test/helpers/crash-at-ack.ts.
 *
 * Environment (read once, at load):
 *   EDGEHOOK_CRASH_CONTROL  path of the switch: armed while this file exists. The library
 *                           removes it before killing, so the next run of the process is not
 *                           armed.
 *
 * A PUBACK is 4 bytes, 0x40 0x02 and the packet id (MQTT 3.1.1 §3.4). The agent's other socket
 * writes (PUBLISH, PINGREQ, HTTP requests with JSON bodies) do not hold the byte 0x02, so a
 * write that holds 0x40 0x02 is taken to carry a PUBACK.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_send)(int, const void *, size_t, int);
static ssize_t (*real_sendmsg)(int, const struct msghdr *, int);
static const char *control_path;

__attribute__((constructor)) static void init(void) {
  real_write = dlsym(RTLD_NEXT, "write");
  real_writev = dlsym(RTLD_NEXT, "writev");
  real_send = dlsym(RTLD_NEXT, "send");
  real_sendmsg = dlsym(RTLD_NEXT, "sendmsg");
  control_path = getenv("EDGEHOOK_CRASH_CONTROL");
}

/*
 * The bytes 0x40 0x02 anywhere in what is written: mqtt.js may hand a packet's header and body to
 * the socket as separate chunks, which libuv writes with one writev.
 */
static int scan(const unsigned char *b, size_t len, int *after_40) {
  for (size_t i = 0; i < len; i++) {
    if (*after_40 && b[i] == 0x02) return 1;
    *after_40 = b[i] == 0x40;
  }
  return 0;
}

static int is_puback(const void *buf, size_t len) {
  int after_40 = 0;
  return scan(buf, len, &after_40);
}

static int any_puback(const struct iovec *iov, int n) {
  int after_40 = 0;
  for (int i = 0; i < n; i++)
    if (scan(iov[i].iov_base, iov[i].iov_len, &after_40)) return 1;
  return 0;
}

static int is_socket(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* Called after a write that carried a PUBACK has returned. */
static void maybe_crash(int fd, ssize_t written) {
  if (written <= 0 || !control_path || !is_socket(fd)) return;
  if (unlink(control_path) != 0) return; /* not armed (or already fired) */
  kill(getpid(), SIGKILL);
}

ssize_t write(int fd, const void *buf, size_t len) {
  ssize_t r = real_write(fd, buf, len);
  if (is_puback(buf, len)) maybe_crash(fd, r);
  return r;
}

ssize_t writev(int fd, const struct iovec *iov, int n) {
  ssize_t r = real_writev(fd, iov, n);
  if (any_puback(iov, n)) maybe_crash(fd, r);
  return r;
}

ssize_t send(int fd, const void *buf, size_t len, int flags) {
  ssize_t r = real_send(fd, buf, len, flags);
  if (is_puback(buf, len)) maybe_crash(fd, r);
  return r;
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags) {
  ssize_t r = real_sendmsg(fd, msg, flags);
  if (any_puback(msg->msg_iov, (int)msg->msg_iovlen)) maybe_crash(fd, r);
  return r;
}
