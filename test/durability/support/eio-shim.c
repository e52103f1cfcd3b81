/*
 * An LD_PRELOAD library that makes writes, syncs and opens of chosen files fail with EIO while
 * a control file exists, so tests can see what the agent does when SQLite returns SQLITE_IOERR
 * (a dying SD card, a yanked USB disk). Built by test/durability/support/eio-injector.ts.
 *
 * Environment (read once, at load):
 *   EDGEHOOK_EIO_CONTROL  path of the switch: faults are injected only while this file exists.
 *                         Its content names the operations that fail, any of "write", "fsync",
 *                         "open" (empty: all three).
 *   EDGEHOOK_EIO_MATCH    comma-separated substrings; only paths containing one of them are
 *                         affected (default ".db", which covers the -wal, -shm and -journal).
 *   EDGEHOOK_EIO_LOG      optional file; one line is appended per injected fault, so a test can
 *                         tell that the fault really happened.
 *
 * write/pwrite/fsync only see a file descriptor, so descriptors returned by open() for a
 * matching path are remembered until close(). Every other file (stdout, sockets, the admin
 * token, Node's own files) is passed straight through.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define MAX_FDS 65536

static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_openat64)(int, const char *, int, ...);
static int (*real_close)(int);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off64_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);

static const char *control_path;
static const char *log_path;
static char match_list[1024] = ".db";
/* Descriptors opened on a matching path; written from libuv's pool threads too, hence atomics. */
static unsigned char tracked[MAX_FDS];

static void init(void) {
  if (real_close) return;
  real_open = dlsym(RTLD_NEXT, "open");
  real_open64 = dlsym(RTLD_NEXT, "open64");
  real_openat = dlsym(RTLD_NEXT, "openat");
  real_openat64 = dlsym(RTLD_NEXT, "openat64");
  real_write = dlsym(RTLD_NEXT, "write");
  real_pwrite = dlsym(RTLD_NEXT, "pwrite");
  real_pwrite64 = dlsym(RTLD_NEXT, "pwrite64");
  real_fsync = dlsym(RTLD_NEXT, "fsync");
  real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
  control_path = getenv("EDGEHOOK_EIO_CONTROL");
  log_path = getenv("EDGEHOOK_EIO_LOG");
  const char *m = getenv("EDGEHOOK_EIO_MATCH");
  if (m && *m) snprintf(match_list, sizeof match_list, "%s", m);
  __atomic_store_n(&real_close, (int (*)(int))dlsym(RTLD_NEXT, "close"), __ATOMIC_RELEASE);
}

__attribute__((constructor)) static void on_load(void) { init(); }

static int path_matches(const char *path) {
  if (!path) return 0;
  const char *p = match_list;
  while (*p) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len > 0 && len < 256) {
      char needle[256];
      memcpy(needle, p, len);
      needle[len] = '\0';
      if (strstr(path, needle)) return 1;
    }
    if (!end) break;
    p = end + 1;
  }
  return 0;
}

/* Is the switch on for `op`? Reads the control file each time: tests flip it while we run. */
static int switched_on(const char *op) {
  if (!control_path) return 0;
  int fd = real_open(control_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[256];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  real_close(fd);
  if (n <= 0) return 1;
  buf[n] = '\0';
  if (strspn(buf, " \t\r\n") == (size_t)n) return 1;
  return strstr(buf, op) != NULL;
}

static void note(const char *op, const char *what) {
  if (!log_path) return;
  int fd = real_open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  char line[512];
  int len = snprintf(line, sizeof line, "%s %s\n", op, what);
  if (len > 0) real_write(fd, line, (size_t)len < sizeof line ? (size_t)len : sizeof line - 1);
  real_close(fd);
}

static int fail_path(const char *op, const char *path) {
  if (!path_matches(path) || !switched_on(op)) return 0;
  note(op, path);
  return 1;
}

static int fail_fd(const char *op, int fd) {
  if (fd < 0 || fd >= MAX_FDS || !__atomic_load_n(&tracked[fd], __ATOMIC_ACQUIRE)) return 0;
  if (!switched_on(op)) return 0;
  char what[32];
  snprintf(what, sizeof what, "fd %d", fd);
  note(op, what);
  return 1;
}

static int opened(int fd, const char *path) {
  if (fd >= 0 && fd < MAX_FDS) __atomic_store_n(&tracked[fd], path_matches(path), __ATOMIC_RELEASE);
  return fd;
}

static mode_t mode_arg(int flags, va_list ap) {
  return (flags & O_CREAT) || (flags & __O_TMPFILE) == __O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...) {
  init();
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  if (fail_path("open", path)) return errno = EIO, -1;
  return opened(real_open(path, flags, mode), path);
}

int open64(const char *path, int flags, ...) {
  init();
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  if (fail_path("open", path)) return errno = EIO, -1;
  return opened(real_open64(path, flags, mode), path);
}

int openat(int dirfd, const char *path, int flags, ...) {
  init();
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  if (fail_path("open", path)) return errno = EIO, -1;
  return opened(real_openat(dirfd, path, flags, mode), path);
}

int openat64(int dirfd, const char *path, int flags, ...) {
  init();
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  if (fail_path("open", path)) return errno = EIO, -1;
  return opened(real_openat64(dirfd, path, flags, mode), path);
}

int close(int fd) {
  init();
  if (fd >= 0 && fd < MAX_FDS) __atomic_store_n(&tracked[fd], 0, __ATOMIC_RELEASE);
  return real_close(fd);
}

ssize_t write(int fd, const void *buf, size_t n) {
  init();
  if (fail_fd("write", fd)) return errno = EIO, -1;
  return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
  init();
  if (fail_fd("write", fd)) return errno = EIO, -1;
  return real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off) {
  init();
  if (fail_fd("write", fd)) return errno = EIO, -1;
  return real_pwrite64(fd, buf, n, off);
}

int fsync(int fd) {
  init();
  if (fail_fd("fsync", fd)) return errno = EIO, -1;
  return real_fsync(fd);
}

int fdatasync(int fd) {
  init();
  if (fail_fd("fsync", fd)) return errno = EIO, -1;
  return real_fdatasync(fd);
}
