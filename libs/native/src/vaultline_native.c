/*
 * @vaultline/native: the few Linux system calls a bit-exact restore needs and Node does not expose —
 * nanosecond utimensat/futimens (on symlinks too), extended attributes (names and values as raw
 * bytes), mknod/mkfifo, lseek with SEEK_DATA/SEEK_HOLE, and a folder listed with every entry's
 * lstat in one call (what an incremental backup spends its time on).
 *
 * Only node_api.h (N-API 8, ABI-stable): one build serves every Node release that has N-API 8.
 * Linux and glibc only. Built by scripts/build-native.js into dist/native/vaultline_native.node;
 * loaded and typed by index.ts next to this file.
 *
 * Every function is synchronous and runs once per restored file, so the common path allocates
 * nothing: paths and attribute names are copied into stack buffers, attribute lists and values
 * are read into scratch buffers kept per Node environment (main thread and each worker thread
 * have their own). Errors are thrown shaped like Node's system errors (code, errno < 0,
 * syscall, path; message "CODE: description, syscall 'path'").
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8

#include <node_api.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

/* Bumped when the exported functions change; index.ts refuses a binary of another version. */
#define VAULTLINE_NATIVE_VERSION 4

/* Linux limits: XATTR_NAME_MAX (255 bytes) and XATTR_SIZE_MAX (64 KiB) from <linux/limits.h>. */
#define NAME_MAX_BYTES 255
#define VALUE_MAX_BYTES 65536
#define LIST_INITIAL 1024
#define VALUE_INITIAL 1024
#define RANGE_RETRIES 16

/* Direct I/O: offsets, lengths and memory aligned to this (covers 512- and 4096-byte devices). */
#define DIRECT_ALIGN 4096
#define DIRECT_BOUNCE (1024 * 1024)

typedef struct {
  char *list;
  size_t list_cap;
  char *value;
  size_t value_cap;
  /* Aligned bounce buffer for pwriteDirect, made on first use (one per thread's environment). */
  char *bounce;
} scratch_t;

/* ── errors ─────────────────────────────────────────────────────────────────────────────────── */

/* The names Node (libuv) uses for these errno values; ENOTSUP rather than glibc's EOPNOTSUPP. */
static const char *errno_name(int e) {
  switch (e) {
#define N(x) \
  case x:    \
    return #x;
    N(EPERM) N(ENOENT) N(ESRCH) N(EINTR) N(EIO) N(ENXIO) N(E2BIG) N(ENOEXEC) N(EBADF) N(ECHILD)
    N(EAGAIN) N(ENOMEM) N(EACCES) N(EFAULT) N(ENOTBLK) N(EBUSY) N(EEXIST) N(EXDEV) N(ENODEV)
    N(ENOTDIR) N(EISDIR) N(EINVAL) N(ENFILE) N(EMFILE) N(ENOTTY) N(ETXTBSY) N(EFBIG) N(ENOSPC)
    N(ESPIPE) N(EROFS) N(EMLINK) N(EPIPE) N(EDOM) N(ERANGE) N(EDEADLK) N(ENAMETOOLONG) N(ENOLCK)
    N(ENOSYS) N(ENOTEMPTY) N(ELOOP) N(ENOMSG) N(EIDRM) N(ENOSTR) N(ENODATA) N(ETIME) N(ENOSR)
    N(EREMOTE) N(ENOLINK) N(EPROTO) N(EBADMSG) N(EOVERFLOW) N(EILSEQ) N(EUSERS) N(ENOTSOCK)
    N(EMSGSIZE) N(EPROTOTYPE) N(ENOPROTOOPT) N(EPROTONOSUPPORT) N(ESOCKTNOSUPPORT) N(ENOTSUP)
    N(EAFNOSUPPORT) N(EADDRINUSE) N(EADDRNOTAVAIL) N(ENETDOWN) N(ENETUNREACH) N(ECONNABORTED)
    N(ECONNRESET) N(ENOBUFS) N(EISCONN) N(ENOTCONN) N(ESHUTDOWN) N(ETIMEDOUT) N(ECONNREFUSED)
    N(EHOSTDOWN) N(EHOSTUNREACH) N(EALREADY) N(EINPROGRESS) N(ESTALE) N(EUCLEAN) N(EREMOTEIO)
    N(EDQUOT) N(ENOMEDIUM) N(EMEDIUMTYPE) N(ECANCELED) N(ENOKEY) N(EKEYEXPIRED) N(EKEYREVOKED)
    N(EKEYREJECTED) N(EOWNERDEAD) N(ENOTRECOVERABLE) N(ERFKILL) N(EHWPOISON)
#undef N
    default:
      return "UNKNOWN";
  }
}

/* Appends `len` bytes to out[*at..cap) as text: valid UTF-8 as is, any other byte as \xNN. */
static void append_escaped(char *out, size_t cap, size_t *at, const unsigned char *s, size_t len) {
  size_t i = 0;
  while (i < len && *at + 5 < cap) {
    unsigned char c = s[i];
    size_t n = 0;
    if (c < 0x80) {
      n = 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
      n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 3;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 4;
    }
    int ok = n > 0 && i + n <= len;
    for (size_t k = 1; ok && k < n; k++) ok = (s[i + k] & 0xc0) == 0x80;
    if (ok && n == 3) {
      unsigned char d = s[i + 1];
      ok = !(c == 0xe0 && d < 0xa0) && !(c == 0xed && d >= 0xa0); /* overlong, surrogates */
    }
    if (ok && n == 4) {
      unsigned char d = s[i + 1];
      ok = !(c == 0xf0 && d < 0x90) && !(c == 0xf4 && d >= 0x90); /* overlong, > U+10FFFF */
    }
    if (ok && c >= 0x20 && c != 0x7f) {
      if (*at + n >= cap) break;
      memcpy(out + *at, s + i, n);
      *at += n;
      i += n;
    } else {
      *at += (size_t)snprintf(out + *at, cap - *at, "\\x%02x", c);
      i += 1;
    }
  }
  out[*at] = '\0';
}

/* Throws a Node-style system error for errno `e` from `syscall` on `path` (may be NULL for fds). */
static void throw_errno(napi_env env, int e, const char *syscall, const char *path, size_t path_len) {
  const char *code = errno_name(e);
  char desc_buf[256];
  const char *desc = strerror_r(e, desc_buf, sizeof desc_buf);
  /* Node's descriptions are lower case ("no such file or directory"); keep acronyms ("I/O"). */
  char desc_lower[256];
  snprintf(desc_lower, sizeof desc_lower, "%s", desc);
  if (desc_lower[0] >= 'A' && desc_lower[0] <= 'Z' && desc_lower[1] >= 'a' && desc_lower[1] <= 'z') {
    desc_lower[0] = (char)(desc_lower[0] - 'A' + 'a');
  }

  size_t cap = 512 + (path ? path_len * 4 : 0);
  char *msg = malloc(cap);
  if (msg == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory while reporting an error");
    return;
  }
  size_t at = (size_t)snprintf(msg, cap, "%s: %s, %s", code, desc_lower, syscall);
  size_t path_at = 0;
  if (path != NULL) {
    at += (size_t)snprintf(msg + at, cap - at, " '");
    path_at = at;
    append_escaped(msg, cap - 2, &at, (const unsigned char *)path, path_len);
    at += (size_t)snprintf(msg + at, cap - at, "'");
  }

  napi_value code_v, msg_v, err, errno_v, syscall_v;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_v) != napi_ok ||
      napi_create_string_utf8(env, msg, at, &msg_v) != napi_ok ||
      napi_create_error(env, code_v, msg_v, &err) != napi_ok ||
      napi_create_int32(env, -e, &errno_v) != napi_ok ||
      napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscall_v) != napi_ok ||
      napi_set_named_property(env, err, "errno", errno_v) != napi_ok ||
      napi_set_named_property(env, err, "syscall", syscall_v) != napi_ok) {
    free(msg);
    return;
  }
  if (path != NULL) {
    napi_value path_v;
    /* The escaped form, without the closing quote. */
    if (napi_create_string_utf8(env, msg + path_at, at - path_at - 1, &path_v) == napi_ok) {
      napi_set_named_property(env, err, "path", path_v);
    }
  }
  free(msg);
  napi_throw(env, err);
}

static void throw_type(napi_env env, const char *message) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
}

static void throw_range(napi_env env, const char *message) {
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", message);
}

/* ── arguments ──────────────────────────────────────────────────────────────────────────────── */

/*
 * Copies a string (as UTF-8) or a Buffer (raw bytes) into out[0..cap) with a NUL terminator.
 * Returns the length, or -1 with an exception pending. Longer than cap - 1 bytes: system error
 * `too_long` of `syscall`, as the kernel would refuse it, naming the argument itself when it is
 * the path (`is_path`), else the path `report` (NULL: none, for an fd).
 */
static ssize_t get_bytes(napi_env env, napi_value v, const char *what, char *out, size_t cap, int too_long,
                         const char *syscall, bool is_path, const char *report, size_t report_len) {
  napi_valuetype type;
  if (napi_typeof(env, v, &type) != napi_ok) return -1;
  size_t len = 0;
  if (type == napi_string) {
    /* Copies at most cap - 1 bytes and never part of a character, so a result within 4 bytes of
     * that may have been cut: only then is the full length asked for. */
    if (napi_get_value_string_utf8(env, v, out, cap, &len) != napi_ok) return -1;
    if (len + 4 >= cap) {
      size_t full = 0;
      if (napi_get_value_string_utf8(env, v, NULL, 0, &full) != napi_ok) return -1;
      if (full >= cap) {
        throw_errno(env, too_long, syscall, is_path ? out : report, is_path ? len : report_len);
        return -1;
      }
    }
  } else {
    bool is_buffer = false;
    if (napi_is_buffer(env, v, &is_buffer) != napi_ok) return -1;
    if (!is_buffer) {
      char message[128];
      snprintf(message, sizeof message, "The \"%s\" argument must be of type string or an instance of Buffer",
               what);
      throw_type(env, message);
      return -1;
    }
    void *data = NULL;
    if (napi_get_buffer_info(env, v, &data, &len) != napi_ok) return -1;
    if (len >= cap) {
      throw_errno(env, too_long, syscall, is_path ? data : report, is_path ? cap - 1 : report_len);
      return -1;
    }
    if (len > 0) memcpy(out, data, len);
    out[len] = '\0';
  }
  if (memchr(out, '\0', len) != NULL) {
    char message[128];
    snprintf(message, sizeof message,
             "The argument '%s' must be a string or Buffer without null bytes", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", message);
    return -1;
  }
  return (ssize_t)len;
}

/* A path argument into a PATH_MAX + 1 buffer (ENAMETOOLONG beyond, as the kernel says). */
static ssize_t get_path(napi_env env, napi_value v, char *out, const char *syscall) {
  return get_bytes(env, v, "path", out, PATH_MAX + 1, ENAMETOOLONG, syscall, true, NULL, 0);
}

static int get_fd(napi_env env, napi_value v, int *fd) {
  napi_valuetype type;
  if (napi_typeof(env, v, &type) != napi_ok) return -1;
  if (type != napi_number) {
    throw_type(env, "The \"fd\" argument must be of type number");
    return -1;
  }
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return -1;
  if (!(d >= 0 && d <= INT32_MAX) || d != (double)(int32_t)d) {
    throw_range(env, "The value of \"fd\" is out of range. It must be an integer >= 0 && <= 2147483647");
    return -1;
  }
  *fd = (int)d;
  return 0;
}

/* A bigint count of nanoseconds since the epoch (negative before 1970) as a timespec. */
static int get_time_ns(napi_env env, napi_value v, const char *what, struct timespec *ts) {
  napi_valuetype type;
  if (napi_typeof(env, v, &type) != napi_ok) return -1;
  if (type != napi_bigint) {
    char message[96];
    snprintf(message, sizeof message, "The \"%s\" argument must be of type bigint", what);
    throw_type(env, message);
    return -1;
  }
  int64_t ns;
  bool lossless;
  if (napi_get_value_bigint_int64(env, v, &ns, &lossless) != napi_ok) return -1;
  if (!lossless) {
    char message[96];
    snprintf(message, sizeof message, "The value of \"%s\" is out of range of a signed 64-bit count", what);
    throw_range(env, message);
    return -1;
  }
  /* Floor division: tv_nsec is always in [0, 1e9), also for times before 1970. */
  int64_t sec = ns / 1000000000;
  int64_t rem = ns % 1000000000;
  if (rem < 0) {
    rem += 1000000000;
    sec -= 1;
  }
  ts->tv_sec = (time_t)sec;
  ts->tv_nsec = (long)rem;
  return 0;
}

static int get_uint32(napi_env env, napi_value v, const char *what, uint32_t *out) {
  napi_valuetype type;
  if (napi_typeof(env, v, &type) != napi_ok) return -1;
  double d;
  if (type != napi_number) {
    char message[96];
    snprintf(message, sizeof message, "The \"%s\" argument must be of type number", what);
    throw_type(env, message);
    return -1;
  }
  if (napi_get_value_double(env, v, &d) != napi_ok) return -1;
  if (!(d >= 0 && d <= UINT32_MAX) || d != (double)(uint32_t)d) {
    char message[96];
    snprintf(message, sizeof message, "The value of \"%s\" is out of range of an unsigned 32-bit integer",
             what);
    throw_range(env, message);
    return -1;
  }
  *out = (uint32_t)d;
  return 0;
}

/* An offset or a device number: a non-negative safe integer (number) or, if allowed, a bigint. */
static int get_uint64(napi_env env, napi_value v, const char *what, bool bigint_ok, uint64_t *out) {
  napi_valuetype type;
  if (napi_typeof(env, v, &type) != napi_ok) return -1;
  char message[112];
  if (type == napi_bigint && bigint_ok) {
    bool lossless;
    if (napi_get_value_bigint_uint64(env, v, out, &lossless) != napi_ok) return -1;
    if (lossless) return 0;
  } else if (type == napi_number) {
    double d;
    if (napi_get_value_double(env, v, &d) != napi_ok) return -1;
    if (d >= 0 && d <= 9007199254740991.0 && d == (double)(uint64_t)d) {
      *out = (uint64_t)d;
      return 0;
    }
  } else {
    snprintf(message, sizeof message, "The \"%s\" argument must be of type number%s", what,
             bigint_ok ? " or bigint" : "");
    throw_type(env, message);
    return -1;
  }
  snprintf(message, sizeof message, "The value of \"%s\" is out of range. It must be a non-negative integer",
           what);
  throw_range(env, message);
  return -1;
}

static int get_buffer(napi_env env, napi_value v, const char *what, void **data, size_t *len) {
  bool is_buffer = false;
  if (napi_is_buffer(env, v, &is_buffer) != napi_ok) return -1;
  if (!is_buffer) {
    char message[96];
    snprintf(message, sizeof message, "The \"%s\" argument must be an instance of Buffer", what);
    throw_type(env, message);
    return -1;
  }
  return napi_get_buffer_info(env, v, data, len) == napi_ok ? 0 : -1;
}

/* Reads exactly `n` arguments; more are ignored, fewer are an error. */
static int get_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv, void **data) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, data) != napi_ok) return -1;
  if (argc < n) {
    char message[64];
    snprintf(message, sizeof message, "Expected %zu arguments, got %zu", n, argc);
    napi_throw_type_error(env, "ERR_MISSING_ARGS", message);
    return -1;
  }
  return 0;
}

/* ── timestamps ─────────────────────────────────────────────────────────────────────────────── */

static napi_value lutimes_ns(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  char path[PATH_MAX + 1];
  struct timespec times[2];
  if (get_args(env, info, 3, argv, NULL) != 0) return NULL;
  ssize_t path_len = get_path(env, argv[0], path, "utimensat");
  if (path_len < 0) return NULL;
  if (get_time_ns(env, argv[1], "atimeNs", &times[0]) != 0) return NULL;
  if (get_time_ns(env, argv[2], "mtimeNs", &times[1]) != 0) return NULL;
  if (utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW) != 0) {
    throw_errno(env, errno, "utimensat", path, (size_t)path_len);
  }
  return NULL;
}

static napi_value futimes_ns(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int fd;
  struct timespec times[2];
  if (get_args(env, info, 3, argv, NULL) != 0) return NULL;
  if (get_fd(env, argv[0], &fd) != 0) return NULL;
  if (get_time_ns(env, argv[1], "atimeNs", &times[0]) != 0) return NULL;
  if (get_time_ns(env, argv[2], "mtimeNs", &times[1]) != 0) return NULL;
  if (futimens(fd, times) != 0) throw_errno(env, errno, "futimens", NULL, 0);
  return NULL;
}

/* ── extended attributes ────────────────────────────────────────────────────────────────────── */

/* Makes buf hold at least `need` bytes (kept for later calls); 0, or -1 with an exception. */
static int grow(napi_env env, char **buf, size_t *cap, size_t need, const char *syscall) {
  if (need <= *cap) return 0;
  size_t next = *cap ? *cap : 1024;
  while (next < need) next *= 2;
  char *p = realloc(*buf, next);
  if (p == NULL) {
    throw_errno(env, ENOMEM, syscall, NULL, 0);
    return -1;
  }
  *buf = p;
  *cap = next;
  return 0;
}

/* One target of an xattr read: a path (not following symlinks) or an open fd. */
typedef struct {
  const char *path;
  size_t path_len;
  int fd;
} target_t;

static ssize_t do_list(const target_t *t, char *buf, size_t size) {
  return t->path ? llistxattr(t->path, buf, size) : flistxattr(t->fd, buf, size);
}

static ssize_t do_get(const target_t *t, const char *name, void *buf, size_t size) {
  return t->path ? lgetxattr(t->path, name, buf, size) : fgetxattr(t->fd, name, buf, size);
}

static napi_value make_buffer(napi_env env, const void *data, size_t len) {
  napi_value out;
  void *copy;
  static const char empty = 0;
  if (napi_create_buffer_copy(env, len, len ? data : &empty, &copy, &out) != napi_ok) return NULL;
  return out;
}

static napi_value get_all(napi_env env, scratch_t *s, const target_t *t) {
  const char *list_call = t->path ? "llistxattr" : "flistxattr";
  const char *get_call = t->path ? "lgetxattr" : "fgetxattr";
  napi_value result;

  /* The list, read straight into the scratch buffer; ERANGE (it grew) → ask its size, retry. */
  ssize_t list_len = -1;
  for (int attempt = 0; attempt < RANGE_RETRIES; attempt++) {
    list_len = do_list(t, s->list, s->list_cap);
    if (list_len >= 0) break;
    int e = errno;
    if (e == ENOTSUP) return napi_create_array_with_length(env, 0, &result) == napi_ok ? result : NULL;
    if (e != ERANGE) {
      throw_errno(env, e, list_call, t->path, t->path_len);
      return NULL;
    }
    ssize_t need = do_list(t, NULL, 0);
    if (need < 0) {
      throw_errno(env, errno, list_call, t->path, t->path_len);
      return NULL;
    }
    if (grow(env, &s->list, &s->list_cap, (size_t)need + 256, list_call) != 0) return NULL;
  }
  if (list_len < 0) {
    throw_errno(env, ERANGE, list_call, t->path, t->path_len);
    return NULL;
  }

  size_t count = 0;
  for (ssize_t i = 0; i < list_len; i++) count += s->list[i] == '\0';
  if (napi_create_array_with_length(env, count, &result) != napi_ok) return NULL;

  uint32_t index = 0;
  for (size_t at = 0; at < (size_t)list_len;) {
    const char *name = s->list + at;
    size_t name_len = strnlen(name, (size_t)list_len - at);
    at += name_len + 1;
    if (name_len == 0) continue;

    ssize_t value_len = -1;
    int skip = 0;
    for (int attempt = 0; attempt < RANGE_RETRIES; attempt++) {
      value_len = do_get(t, name, s->value, s->value_cap);
      if (value_len >= 0) break;
      int e = errno;
      if (e == ENODATA || e == ENOTSUP) { /* removed since the listing, or not readable here */
        skip = 1;
        break;
      }
      if (e != ERANGE) {
        throw_errno(env, e, get_call, t->path, t->path_len);
        return NULL;
      }
      ssize_t need = do_get(t, name, NULL, 0);
      if (need < 0) {
        if (errno == ENODATA) {
          skip = 1;
          break;
        }
        throw_errno(env, errno, get_call, t->path, t->path_len);
        return NULL;
      }
      if (grow(env, &s->value, &s->value_cap, (size_t)need, get_call) != 0) return NULL;
    }
    if (skip) continue;
    if (value_len < 0) {
      throw_errno(env, ERANGE, get_call, t->path, t->path_len);
      return NULL;
    }

    napi_value entry, name_v, value_v;
    if (napi_create_object(env, &entry) != napi_ok) return NULL;
    if ((name_v = make_buffer(env, name, name_len)) == NULL) return NULL;
    if ((value_v = make_buffer(env, s->value, (size_t)value_len)) == NULL) return NULL;
    if (napi_set_named_property(env, entry, "name", name_v) != napi_ok ||
        napi_set_named_property(env, entry, "value", value_v) != napi_ok ||
        napi_set_element(env, result, index++, entry) != napi_ok) {
      return NULL;
    }
  }
  return result;
}

static napi_value lgetxattrs(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  scratch_t *s;
  char path[PATH_MAX + 1];
  if (get_args(env, info, 1, argv, (void **)&s) != 0) return NULL;
  ssize_t path_len = get_path(env, argv[0], path, "llistxattr");
  if (path_len < 0) return NULL;
  target_t t = {path, (size_t)path_len, -1};
  return get_all(env, s, &t);
}

static napi_value fgetxattrs(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  scratch_t *s;
  int fd;
  if (get_args(env, info, 1, argv, (void **)&s) != 0) return NULL;
  if (get_fd(env, argv[0], &fd) != 0) return NULL;
  target_t t = {NULL, 0, fd};
  return get_all(env, s, &t);
}

static napi_value lsetxattr_fn(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  char path[PATH_MAX + 1];
  char name[NAME_MAX_BYTES + 1];
  void *value;
  size_t value_len;
  if (get_args(env, info, 3, argv, NULL) != 0) return NULL;
  ssize_t path_len = get_path(env, argv[0], path, "lsetxattr");
  if (path_len < 0) return NULL;
  if (get_bytes(env, argv[1], "name", name, sizeof name, ERANGE, "lsetxattr", false, path,
                (size_t)path_len) < 0) {
    return NULL;
  }
  if (get_buffer(env, argv[2], "value", &value, &value_len) != 0) return NULL;
  static const char empty = 0;
  if (lsetxattr(path, name, value_len ? value : &empty, value_len, 0) != 0) {
    throw_errno(env, errno, "lsetxattr", path, (size_t)path_len);
  }
  return NULL;
}

static napi_value fsetxattr_fn(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  char name[NAME_MAX_BYTES + 1];
  void *value;
  size_t value_len;
  int fd;
  if (get_args(env, info, 3, argv, NULL) != 0) return NULL;
  if (get_fd(env, argv[0], &fd) != 0) return NULL;
  if (get_bytes(env, argv[1], "name", name, sizeof name, ERANGE, "fsetxattr", false, NULL, 0) < 0) {
    return NULL;
  }
  if (get_buffer(env, argv[2], "value", &value, &value_len) != 0) return NULL;
  static const char empty = 0;
  if (fsetxattr(fd, name, value_len ? value : &empty, value_len, 0) != 0) {
    throw_errno(env, errno, "fsetxattr", NULL, 0);
  }
  return NULL;
}

/* ── special files ──────────────────────────────────────────────────────────────────────────── */

static napi_value mknod_fn(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  char path[PATH_MAX + 1];
  uint32_t mode;
  uint64_t dev;
  if (get_args(env, info, 3, argv, NULL) != 0) return NULL;
  ssize_t path_len = get_path(env, argv[0], path, "mknod");
  if (path_len < 0) return NULL;
  if (get_uint32(env, argv[1], "mode", &mode) != 0) return NULL;
  if (get_uint64(env, argv[2], "dev", true, &dev) != 0) return NULL;
  if (mknod(path, (mode_t)mode, (dev_t)dev) != 0) throw_errno(env, errno, "mknod", path, (size_t)path_len);
  return NULL;
}

static napi_value mkfifo_fn(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char path[PATH_MAX + 1];
  uint32_t mode;
  if (get_args(env, info, 2, argv, NULL) != 0) return NULL;
  ssize_t path_len = get_path(env, argv[0], path, "mkfifo");
  if (path_len < 0) return NULL;
  if (get_uint32(env, argv[1], "mode", &mode) != 0) return NULL;
  if (mkfifo(path, (mode_t)mode) != 0) throw_errno(env, errno, "mkfifo", path, (size_t)path_len);
  return NULL;
}

/* ── sparse files ───────────────────────────────────────────────────────────────────────────── */

static napi_value seek(napi_env env, napi_callback_info info, int whence) {
  napi_value argv[2], out;
  int fd;
  uint64_t offset;
  if (get_args(env, info, 2, argv, NULL) != 0) return NULL;
  if (get_fd(env, argv[0], &fd) != 0) return NULL;
  if (get_uint64(env, argv[1], "offset", false, &offset) != 0) return NULL;
  off_t at = lseek(fd, (off_t)offset, whence);
  if (at < 0) {
    if (errno != ENXIO) {
      throw_errno(env, errno, "lseek", NULL, 0);
      return NULL;
    }
    at = -1;
  }
  return napi_create_int64(env, (int64_t)at, &out) == napi_ok ? out : NULL;
}

static napi_value seek_data(napi_env env, napi_callback_info info) { return seek(env, info, SEEK_DATA); }

static napi_value seek_hole(napi_env env, napi_callback_info info) { return seek(env, info, SEEK_HOLE); }

/* ── direct writes ──────────────────────────────────────────────────────────────────────────── */

/*
 * pwriteDirect(fd, data, position): writes all of `data` at `position` on an fd opened with
 * O_DIRECT, through an aligned bounce buffer (a Buffer's memory has no alignment we can ask for).
 * Restore writes the block-aligned middle of large chunks this way: on virtual machines, filling
 * fresh page-cache pages was most of a large restore's time (a buffered copy of 4.6 GiB took
 * 19–30 s of kernel time here, the same with O_DIRECT 3 s). Length and position must be multiples
 * of 4096. Errors throw with the errno's code (EINVAL: the file system does not take direct I/O).
 */
static napi_value pwrite_direct(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  scratch_t *s;
  int fd;
  void *data;
  size_t len;
  uint64_t position;
  if (get_args(env, info, 3, argv, (void **)&s) != 0) return NULL;
  if (get_fd(env, argv[0], &fd) != 0) return NULL;
  if (get_buffer(env, argv[1], "data", &data, &len) != 0) return NULL;
  if (get_uint64(env, argv[2], "position", false, &position) != 0) return NULL;
  if (len % DIRECT_ALIGN != 0 || position % DIRECT_ALIGN != 0) {
    throw_range(env, "pwriteDirect needs a length and a position that are multiples of 4096");
    return NULL;
  }
  if (s->bounce == NULL) {
    void *p = NULL;
    int err = posix_memalign(&p, DIRECT_ALIGN, DIRECT_BOUNCE);
    if (err != 0) {
      throw_errno(env, err, "posix_memalign", NULL, 0);
      return NULL;
    }
    s->bounce = p;
  }
  size_t done = 0;
  while (done < len) {
    size_t piece = len - done < DIRECT_BOUNCE ? len - done : DIRECT_BOUNCE;
    memcpy(s->bounce, (const char *)data + done, piece);
    size_t written = 0;
    while (written < piece) {
      ssize_t n = pwrite(fd, s->bounce + written, piece - written, (off_t)(position + done + written));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        throw_errno(env, n < 0 ? errno : EIO, "pwrite", NULL, 0);
        return NULL;
      }
      written += (size_t)n;
      /* A short direct write leaves an unaligned remainder; finish it through the same path only
       * if it is still aligned, else fail (the caller falls back to a buffered write). */
      if (written < piece && written % DIRECT_ALIGN != 0) {
        throw_errno(env, EINVAL, "pwrite", NULL, 0);
        return NULL;
      }
    }
    done += piece;
  }
  return NULL;
}

static void free_aligned(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

/*
 * alignedBuffer(size): an ArrayBuffer of `size` bytes (a multiple of 4096) at a 4096-aligned
 * address, for writes through an O_DIRECT fd with Node's own (asynchronous) fs calls. Freed by
 * the collector.
 */
static napi_value aligned_buffer(napi_env env, napi_callback_info info) {
  napi_value argv[1], out;
  uint64_t size;
  if (get_args(env, info, 1, argv, NULL) != 0) return NULL;
  if (get_uint64(env, argv[0], "size", false, &size) != 0) return NULL;
  if (size == 0 || size % DIRECT_ALIGN != 0 || size > (uint64_t)1 << 30) {
    throw_range(env, "alignedBuffer needs a size that is a positive multiple of 4096, at most 1 GiB");
    return NULL;
  }
  void *p = NULL;
  int err = posix_memalign(&p, DIRECT_ALIGN, (size_t)size);
  if (err != 0) {
    throw_errno(env, err, "posix_memalign", NULL, 0);
    return NULL;
  }
  if (napi_create_external_arraybuffer(env, p, (size_t)size, free_aligned, NULL, &out) != napi_ok) {
    free(p);
    return NULL;
  }
  return out;
}

/* ── directory listing ──────────────────────────────────────────────────────────────────────── */

/* The lstat fields a listing returns per entry, in this order (SCAN_FIELD_NAMES in index.ts). */
#define SCAN_FIELDS 11

typedef struct {
  size_t off;
  size_t len;
} name_ref_t;

static int compare_names(const void *a, const void *b, void *base) {
  const name_ref_t *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp((const char *)base + x->off, (const char *)base + y->off, n);
  if (c != 0) return c;
  return x->len < y->len ? -1 : x->len > y->len;
}

static napi_value array_buffer_copy(napi_env env, const void *data, size_t len) {
  napi_value out;
  void *dst;
  if (napi_create_arraybuffer(env, len, &dst, &out) != napi_ok) return NULL;
  if (len > 0) memcpy(dst, data, len);
  return out;
}

/*
 * scanDir(path, xattrs): one folder's entries in byte order of their names, each with its lstat
 * (fstatat on the open folder, no path resolution from the root per entry) and, when `xattrs`,
 * whether llistxattr finds any attribute. The point is the cost: one call instead of three per
 * entry, and no BigIntStats object per entry (docs/benchmarks.md).
 *
 * Returns [names, ends, stats, flags], four ArrayBuffers: the names' bytes one after another
 * (name i ends at ends[i], Uint32), SCAN_FIELDS int64 per entry (zeros where the lstat failed),
 * and an int32 per entry: 0 lstat ok and no xattrs (or not asked), 1 lstat ok and xattrs present
 * or their listing failed (the caller reads them, and reports the failure, as it always does),
 * -errno when the lstat failed (the caller repeats it for the error it reports). A folder that
 * cannot be opened or read throws as Node's readdir does (syscall "scandir").
 */
static napi_value scan_dir(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char path[PATH_MAX + 1];
  if (get_args(env, info, 2, argv, NULL) != 0) return NULL;
  ssize_t path_len = get_path(env, argv[0], path, "scandir");
  if (path_len < 0) return NULL;
  bool want_xattrs = false;
  if (napi_get_value_bool(env, argv[1], &want_xattrs) != napi_ok) {
    throw_type(env, "The \"xattrs\" argument must be of type boolean");
    return NULL;
  }

  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    throw_errno(env, errno, "scandir", path, (size_t)path_len);
    return NULL;
  }
  DIR *dir = fdopendir(fd);
  if (dir == NULL) {
    int e = errno;
    close(fd);
    throw_errno(env, e, "scandir", path, (size_t)path_len);
    return NULL;
  }

  char *names = NULL;
  size_t names_len = 0, names_cap = 0;
  name_ref_t *refs = NULL;
  size_t count = 0, refs_cap = 0;
  int64_t *stats = NULL;
  uint32_t *ends = NULL;
  int32_t *flags = NULL;
  napi_value result = NULL;
  int fail = 0;

  for (;;) {
    errno = 0;
    struct dirent *d = readdir(dir);
    if (d == NULL) {
      fail = errno;
      break;
    }
    const char *n = d->d_name;
    if (n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0'))) continue;
    size_t len = strlen(n);
    if (names_len + len > names_cap) {
      size_t next = names_cap ? names_cap * 2 : 4096;
      while (next < names_len + len) next *= 2;
      char *p = realloc(names, next);
      if (p == NULL) {
        fail = ENOMEM;
        break;
      }
      names = p;
      names_cap = next;
    }
    if (count == refs_cap) {
      size_t next = refs_cap ? refs_cap * 2 : 64;
      name_ref_t *p = realloc(refs, next * sizeof *refs);
      if (p == NULL) {
        fail = ENOMEM;
        break;
      }
      refs = p;
      refs_cap = next;
    }
    memcpy(names + names_len, n, len);
    refs[count].off = names_len;
    refs[count].len = len;
    names_len += len;
    count++;
  }
  if (fail != 0) {
    throw_errno(env, fail, "scandir", path, (size_t)path_len);
    goto done;
  }
  if (count > 0) qsort_r(refs, count, sizeof *refs, compare_names, names);

  char *sorted = malloc(names_len ? names_len : 1);
  ends = malloc((count ? count : 1) * sizeof *ends);
  stats = calloc(count ? count * SCAN_FIELDS : 1, sizeof *stats);
  flags = malloc((count ? count : 1) * sizeof *flags);
  if (sorted == NULL || ends == NULL || stats == NULL || flags == NULL) {
    free(sorted);
    throw_errno(env, ENOMEM, "scandir", path, (size_t)path_len);
    goto done;
  }
  /* The entry's full path for llistxattr (there is no llistxattr relative to a folder fd). */
  char full[PATH_MAX + 1];
  memcpy(full, path, (size_t)path_len);
  full[path_len] = '/';
  size_t at = 0;
  for (size_t i = 0; i < count; i++) {
    char name[NAME_MAX_BYTES + 1];
    size_t len = refs[i].len < NAME_MAX_BYTES ? refs[i].len : NAME_MAX_BYTES;
    memcpy(sorted + at, names + refs[i].off, refs[i].len);
    at += refs[i].len;
    ends[i] = (uint32_t)at;
    memcpy(name, names + refs[i].off, len);
    name[len] = '\0';
    /* An entry whose full path is too long for the kernel is unreadable by path (as Node's lstat
     * finds), so it is reported as such rather than half-read through the folder's fd. */
    if ((size_t)path_len + 1 + refs[i].len >= PATH_MAX) {
      flags[i] = -ENAMETOOLONG;
      continue;
    }
    struct stat st;
    if (fstatat(dirfd(dir), name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      flags[i] = -errno;
      continue;
    }
    int64_t *f = stats + i * SCAN_FIELDS;
    f[0] = (int64_t)st.st_mode;
    f[1] = (int64_t)st.st_uid;
    f[2] = (int64_t)st.st_gid;
    f[3] = (int64_t)st.st_size;
    f[4] = (int64_t)st.st_blocks;
    f[5] = (int64_t)st.st_nlink;
    f[6] = (int64_t)st.st_dev;
    f[7] = (int64_t)st.st_ino;
    f[8] = (int64_t)st.st_rdev;
    f[9] = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    f[10] = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
    flags[i] = 0;
    if (want_xattrs) {
      memcpy(full + path_len + 1, names + refs[i].off, refs[i].len);
      full[path_len + 1 + refs[i].len] = '\0';
      ssize_t listed = llistxattr(full, NULL, 0);
      /* No xattr support here means none, as lgetxattrs says. */
      if (listed > 0 || (listed < 0 && errno != ENOTSUP)) flags[i] = 1;
    }
  }

  napi_value parts[4];
  parts[0] = array_buffer_copy(env, sorted, names_len);
  free(sorted);
  if (parts[0] == NULL) goto done;
  if ((parts[1] = array_buffer_copy(env, ends, count * sizeof *ends)) == NULL) goto done;
  if ((parts[2] = array_buffer_copy(env, stats, count * SCAN_FIELDS * sizeof *stats)) == NULL) goto done;
  if ((parts[3] = array_buffer_copy(env, flags, count * sizeof *flags)) == NULL) goto done;
  napi_value arr;
  if (napi_create_array_with_length(env, 4, &arr) != napi_ok) goto done;
  for (uint32_t k = 0; k < 4; k++) {
    if (napi_set_element(env, arr, k, parts[k]) != napi_ok) goto done;
  }
  result = arr;

done:
  closedir(dir);
  free(names);
  free(refs);
  free(stats);
  free(ends);
  free(flags);
  return result;
}

/* ── module ─────────────────────────────────────────────────────────────────────────────────── */

static void free_scratch(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  scratch_t *s = data;
  free(s->list);
  free(s->value);
  free(s->bounce);
  free(s);
}

NAPI_MODULE_INIT() {
  scratch_t *s = calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  s->list = malloc(LIST_INITIAL);
  s->value = malloc(VALUE_INITIAL);
  if (s->list == NULL || s->value == NULL) {
    free_scratch(env, s, NULL);
    return NULL;
  }
  s->list_cap = LIST_INITIAL;
  s->value_cap = VALUE_INITIAL;
  if (napi_set_instance_data(env, s, free_scratch, NULL) != napi_ok) {
    free_scratch(env, s, NULL);
    return NULL;
  }

  napi_property_descriptor props[] = {
      {"lutimesNs", NULL, lutimes_ns, NULL, NULL, NULL, napi_enumerable, s},
      {"futimesNs", NULL, futimes_ns, NULL, NULL, NULL, napi_enumerable, s},
      {"lgetxattrs", NULL, lgetxattrs, NULL, NULL, NULL, napi_enumerable, s},
      {"fgetxattrs", NULL, fgetxattrs, NULL, NULL, NULL, napi_enumerable, s},
      {"lsetxattr", NULL, lsetxattr_fn, NULL, NULL, NULL, napi_enumerable, s},
      {"fsetxattr", NULL, fsetxattr_fn, NULL, NULL, NULL, napi_enumerable, s},
      {"mknod", NULL, mknod_fn, NULL, NULL, NULL, napi_enumerable, s},
      {"mkfifo", NULL, mkfifo_fn, NULL, NULL, NULL, napi_enumerable, s},
      {"seekData", NULL, seek_data, NULL, NULL, NULL, napi_enumerable, s},
      {"seekHole", NULL, seek_hole, NULL, NULL, NULL, napi_enumerable, s},
      {"scanDir", NULL, scan_dir, NULL, NULL, NULL, napi_enumerable, s},
      {"pwriteDirect", NULL, pwrite_direct, NULL, NULL, NULL, napi_enumerable, s},
      {"alignedBuffer", NULL, aligned_buffer, NULL, NULL, NULL, napi_enumerable, s},
  };
  napi_value version;
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok ||
      napi_create_int32(env, VAULTLINE_NATIVE_VERSION, &version) != napi_ok ||
      napi_set_named_property(env, exports, "version", version) != napi_ok) {
    return NULL;
  }
  return exports;
}
