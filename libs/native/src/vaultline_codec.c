/*
 * Blob codec: compress (zstd) and seal (AES-256-GCM) one blob into a caller's buffer, and the
 * reverse. Node's zlib and crypto create a compression context and a cipher per call, which
 * costs more than the work itself for the small chunks of service data (a 12 KiB file: ~90 µs
 * through zlib + crypto, ~40 µs here). This reuses one zstd context and one cipher context per
 * thread (per Node environment) and writes straight into the pack buffer, so a blob costs no
 * allocation at all.
 *
 * It links against the OpenSSL that Node exports to addons; zstd's functions are looked up in the
 * running Node (which bundles and exports them since 22.15) with dlsym, so a Node without them
 * only disables this codec (the engine falls back to zlib) instead of failing to load.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <dlfcn.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NONCE_LEN 12
#define TAG_LEN 16
#define ID_LEN 32
#define KEY_LEN 32
#define SAMPLE (64 * 1024)
#define MIN_RAW 128

typedef struct ZSTD_CCtx_s ZSTD_CCtx;
typedef struct ZSTD_DCtx_s ZSTD_DCtx;
static ZSTD_CCtx *(*zstd_createCCtx)(void);
static size_t (*zstd_freeCCtx)(ZSTD_CCtx *);
static ZSTD_DCtx *(*zstd_createDCtx)(void);
static size_t (*zstd_freeDCtx)(ZSTD_DCtx *);
static size_t (*zstd_compressCCtx)(ZSTD_CCtx *, void *, size_t, const void *, size_t, int);
static size_t (*zstd_decompressDCtx)(ZSTD_DCtx *, void *, size_t, const void *, size_t);
static size_t (*zstd_compressBound)(size_t);
static unsigned (*zstd_isError)(size_t);
static int zstd_state; /* 0 unknown, 1 available, -1 missing */

static int zstd_load(void) {
  if (zstd_state != 0) return zstd_state > 0;
  void *h = RTLD_DEFAULT;
  *(void **)&zstd_createCCtx = dlsym(h, "ZSTD_createCCtx");
  *(void **)&zstd_freeCCtx = dlsym(h, "ZSTD_freeCCtx");
  *(void **)&zstd_createDCtx = dlsym(h, "ZSTD_createDCtx");
  *(void **)&zstd_freeDCtx = dlsym(h, "ZSTD_freeDCtx");
  *(void **)&zstd_compressCCtx = dlsym(h, "ZSTD_compressCCtx");
  *(void **)&zstd_decompressDCtx = dlsym(h, "ZSTD_decompressDCtx");
  *(void **)&zstd_compressBound = dlsym(h, "ZSTD_compressBound");
  *(void **)&zstd_isError = dlsym(h, "ZSTD_isError");
  int ok = zstd_createCCtx && zstd_freeCCtx && zstd_createDCtx && zstd_freeDCtx && zstd_compressCCtx &&
           zstd_decompressDCtx && zstd_compressBound && zstd_isError;
  zstd_state = ok ? 1 : -1;
  return ok;
}

/* Per Node environment (the main thread and each worker thread have their own). */
typedef struct {
  ZSTD_CCtx *cctx;
  ZSTD_DCtx *dctx;
  EVP_CIPHER_CTX *enc;
  EVP_CIPHER_CTX *dec;
  unsigned char *scratch;
  size_t scratch_cap;
} codec_state;

static void state_free(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  codec_state *s = data;
  if (s->cctx) zstd_freeCCtx(s->cctx);
  if (s->dctx) zstd_freeDCtx(s->dctx);
  if (s->enc) EVP_CIPHER_CTX_free(s->enc);
  if (s->dec) EVP_CIPHER_CTX_free(s->dec);
  free(s->scratch);
  free(s);
}

static codec_state *state_of(napi_env env) {
  codec_state *s = NULL;
  napi_get_instance_data(env, (void **)&s);
  return s;
}

static unsigned char *scratch(codec_state *s, size_t n) {
  if (s->scratch_cap < n) {
    size_t cap = n < 65536 ? 65536 : n;
    unsigned char *p = realloc(s->scratch, cap);
    if (!p) return NULL;
    s->scratch = p;
    s->scratch_cap = cap;
  }
  return s->scratch;
}

static napi_value fail(napi_env env, const char *code, const char *msg) {
  napi_throw_error(env, code, msg);
  return NULL;
}

/* Bytes of a Buffer or any TypedArray view. */
static int bytes_of(napi_env env, napi_value v, unsigned char **data, size_t *len) {
  bool is;
  if (napi_is_buffer(env, v, &is) == napi_ok && is)
    return napi_get_buffer_info(env, v, (void **)data, len) == napi_ok;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  napi_typedarray_type type;
  size_t count, offset;
  napi_value ab;
  void *base;
  if (napi_get_typedarray_info(env, v, &type, &count, &base, &ab, &offset) != napi_ok) return 0;
  if (type != napi_uint8_array && type != napi_int8_array && type != napi_uint8_clamped_array) return 0;
  *data = base;
  *len = count;
  return 1;
}

static int int_of(napi_env env, napi_value v, int64_t *out) {
  return napi_get_value_int64(env, v, out) == napi_ok;
}

/*
 * Small blobs (most files of service data) are where compression costs the most per byte. Below
 * SMALL_BLOB the level is capped at 1: on the benchmarks' small files levels 1 and 3 gave the same
 * ratio at twice the speed. And a byte histogram of up to 4 KiB spots random data (media,
 * encrypted or compressed files) for ~2 µs, where trying zstd would cost tens of µs to gain nothing.
 */
#define SMALL_BLOB (128 * 1024)
#define SMALL_LEVEL 1

static int looks_random(const unsigned char *p, size_t n) {
  unsigned counts[256] = {0};
  size_t step = n > 4096 ? n / 4096 : 1, m = 0;
  for (size_t i = 0; i < n && m < 4096; i += step, m++) counts[p[i]]++;
  if (m < 1024) return 0;
  /* Collision probability: 1/256 for uniform bytes, far above it for text and structured data. */
  unsigned long long sq = 0;
  for (int i = 0; i < 256; i++) sq += (unsigned long long)counts[i] * counts[i];
  return sq * 256 < (unsigned long long)m * m * 1.15 + (unsigned long long)m * 256;
}

/* aad = type (1 B) ‖ id (32 B), as blob.ts's blobAad. */
static void make_aad(unsigned char aad[1 + ID_LEN], int type, const unsigned char *id) {
  aad[0] = (unsigned char)type;
  memcpy(aad + 1, id, ID_LEN);
}

/*
 * sealBlob(key, type, id, plain, level, out, outOffset) → bytes written at out[outOffset]:
 * nonce ‖ AES-GCM(flag ‖ payload, aad) ‖ tag, flag 0 raw / 1 zstd, exactly as blob.ts.
 * `out` needs room for plain.length + 29 bytes.
 */
static napi_value seal_blob(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != 7) return fail(env, "ERR_INVALID_ARG", "sealBlob takes 7 arguments");
  unsigned char *key, *id, *plain, *out;
  size_t key_len, id_len, plain_len, out_len;
  int64_t type, level, off;
  if (!bytes_of(env, argv[0], &key, &key_len) || key_len != KEY_LEN || !int_of(env, argv[1], &type) ||
      !bytes_of(env, argv[2], &id, &id_len) || id_len != ID_LEN || !bytes_of(env, argv[3], &plain, &plain_len) ||
      !int_of(env, argv[4], &level) || !bytes_of(env, argv[5], &out, &out_len) || !int_of(env, argv[6], &off))
    return fail(env, "ERR_INVALID_ARG", "sealBlob: bad arguments");
  if (off < 0 || (size_t)off > out_len || out_len - (size_t)off < plain_len + 1 + NONCE_LEN + TAG_LEN)
    return fail(env, "ERR_OUT_OF_RANGE", "sealBlob: output buffer too small");
  codec_state *s = state_of(env);

  /* Compress when it pays: a level-1 probe of 64 KiB decides for large chunks; 5 % saving at least. */
  const unsigned char *payload = plain;
  size_t payload_len = plain_len;
  unsigned char flag = 0;
  if (level > 0 && plain_len >= MIN_RAW) {
    int worth = 1;
    if (plain_len < SMALL_BLOB) {
      worth = !looks_random(plain, plain_len);
      if (level > SMALL_LEVEL) level = SMALL_LEVEL;
    } else if (plain_len > 2 * SAMPLE) {
      unsigned char *probe = scratch(s, zstd_compressBound(SAMPLE));
      if (!probe) return fail(env, "ENOMEM", "sealBlob: out of memory");
      size_t n = zstd_compressCCtx(s->cctx, probe, s->scratch_cap, plain + plain_len / 2, SAMPLE, 1);
      if (zstd_isError(n)) return fail(env, "ERR_ZSTD", "zstd compression failed");
      worth = (double)n <= (double)SAMPLE * 0.95;
    }
    if (worth) {
      size_t bound = zstd_compressBound(plain_len);
      unsigned char *z = scratch(s, bound);
      if (!z) return fail(env, "ENOMEM", "sealBlob: out of memory");
      size_t n = zstd_compressCCtx(s->cctx, z, s->scratch_cap, plain, plain_len, (int)level);
      if (zstd_isError(n)) return fail(env, "ERR_ZSTD", "zstd compression failed");
      if ((double)n <= (double)plain_len * 0.95) {
        payload = z;
        payload_len = n;
        flag = 1;
      }
    }
  }

  unsigned char *dst = out + off;
  unsigned char aad[1 + ID_LEN];
  make_aad(aad, (int)type, id);
  int len = 0, total = 0;
  if (RAND_bytes(dst, NONCE_LEN) != 1 || EVP_EncryptInit_ex(s->enc, NULL, NULL, key, dst) != 1 ||
      EVP_EncryptUpdate(s->enc, NULL, &len, aad, sizeof aad) != 1 ||
      EVP_EncryptUpdate(s->enc, dst + NONCE_LEN, &len, &flag, 1) != 1)
    return fail(env, "ERR_CRYPTO", "AES-GCM seal failed");
  total = NONCE_LEN + len;
  if (payload_len > 0) {
    if (EVP_EncryptUpdate(s->enc, dst + total, &len, payload, (int)payload_len) != 1)
      return fail(env, "ERR_CRYPTO", "AES-GCM seal failed");
    total += len;
  }
  if (EVP_EncryptFinal_ex(s->enc, dst + total, &len) != 1) return fail(env, "ERR_CRYPTO", "AES-GCM seal failed");
  total += len;
  if (EVP_CIPHER_CTX_ctrl(s->enc, EVP_CTRL_GCM_GET_TAG, TAG_LEN, dst + total) != 1)
    return fail(env, "ERR_CRYPTO", "AES-GCM seal failed");
  total += TAG_LEN;
  napi_value result;
  napi_create_int64(env, total, &result);
  return result;
}

/*
 * openBlob(key, type, id, sealed, rawLength, out, outOffset) → rawLength: authenticates, decrypts
 * and decompresses into out[outOffset, outOffset + rawLength). Throws CORRUPT_AUTH when the tag
 * fails (nothing in out may be used then) and CORRUPT_DATA when the payload is not rawLength bytes.
 * The caller still checks the keyed hash of the plaintext against the id.
 */
static napi_value open_blob(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != 7) return fail(env, "ERR_INVALID_ARG", "openBlob takes 7 arguments");
  unsigned char *key, *id, *sealed, *out;
  size_t key_len, id_len, sealed_len, out_len;
  int64_t type, raw, off;
  if (!bytes_of(env, argv[0], &key, &key_len) || key_len != KEY_LEN || !int_of(env, argv[1], &type) ||
      !bytes_of(env, argv[2], &id, &id_len) || id_len != ID_LEN || !bytes_of(env, argv[3], &sealed, &sealed_len) ||
      !int_of(env, argv[4], &raw) || !bytes_of(env, argv[5], &out, &out_len) || !int_of(env, argv[6], &off))
    return fail(env, "ERR_INVALID_ARG", "openBlob: bad arguments");
  if (raw < 0 || off < 0 || (size_t)off > out_len || out_len - (size_t)off < (size_t)raw)
    return fail(env, "ERR_OUT_OF_RANGE", "openBlob: output buffer too small");
  if (sealed_len < NONCE_LEN + 1 + TAG_LEN) return fail(env, "CORRUPT_AUTH", "sealed blob is truncated");
  codec_state *s = state_of(env);
  unsigned char aad[1 + ID_LEN];
  make_aad(aad, (int)type, id);
  const unsigned char *ct = sealed + NONCE_LEN;
  size_t ct_len = sealed_len - NONCE_LEN - TAG_LEN;
  unsigned char flag;
  int len = 0;
  if (EVP_DecryptInit_ex(s->dec, NULL, NULL, key, sealed) != 1 ||
      EVP_DecryptUpdate(s->dec, NULL, &len, aad, sizeof aad) != 1 ||
      EVP_DecryptUpdate(s->dec, &flag, &len, ct, 1) != 1)
    return fail(env, "CORRUPT_AUTH", "blob failed authentication");
  size_t body_len = ct_len - 1;
  unsigned char *dst = out + off;
  unsigned char *body;
  if (flag == 0) {
    if (body_len != (size_t)raw) return fail(env, "CORRUPT_DATA", "blob has the wrong length");
    body = dst;
  } else {
    body = scratch(s, body_len ? body_len : 1);
    if (!body) return fail(env, "ENOMEM", "openBlob: out of memory");
  }
  if (body_len > 0 && EVP_DecryptUpdate(s->dec, body, &len, ct + 1, (int)body_len) != 1)
    return fail(env, "CORRUPT_AUTH", "blob failed authentication");
  if (EVP_CIPHER_CTX_ctrl(s->dec, EVP_CTRL_GCM_SET_TAG, TAG_LEN, (void *)(sealed + sealed_len - TAG_LEN)) != 1 ||
      EVP_DecryptFinal_ex(s->dec, body + body_len, &len) != 1)
    return fail(env, "CORRUPT_AUTH", "blob failed authentication");
  if (flag == 1) {
    size_t n = zstd_decompressDCtx(s->dctx, dst, (size_t)raw, body, body_len);
    if (zstd_isError(n) || n != (size_t)raw) return fail(env, "CORRUPT_DATA", "compressed blob does not decompress");
  } else if (flag != 0) {
    return fail(env, "CORRUPT_DATA", "unknown compression flag");
  }
  napi_value result;
  napi_create_int64(env, raw, &result);
  return result;
}

/*
 * gearCut(gear, data, start, end, min, avg, max, maskS, maskL) → length of the next chunk: the
 * FastCDC loop of chunker.ts (normalized chunking, 32-bit gear hash), bit for bit, in C.
 * `gear` is the 256-entry Int32Array as bytes (host order).
 */
static napi_value gear_cut(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  unsigned char *gear_bytes, *data;
  size_t gear_len, data_len;
  int64_t a[7];
  if (argc != 9 || !bytes_of(env, argv[0], &gear_bytes, &gear_len) || gear_len != 256 * 4 ||
      !bytes_of(env, argv[1], &data, &data_len))
    return fail(env, "ERR_INVALID_ARG", "gearCut: bad arguments");
  for (int i = 0; i < 7; i++)
    if (!int_of(env, argv[2 + i], &a[i])) return fail(env, "ERR_INVALID_ARG", "gearCut: bad arguments");
  int64_t start = a[0], end = a[1], min = a[2], avg = a[3], max = a[4];
  uint32_t mask_s = (uint32_t)a[5], mask_l = (uint32_t)a[6];
  if (start < 0 || end < start || (size_t)end > data_len) return fail(env, "ERR_OUT_OF_RANGE", "gearCut: bad range");
  uint32_t gear[256];
  memcpy(gear, gear_bytes, sizeof gear);
  int64_t len = end - start, cut;
  if (len <= min) {
    cut = len;
  } else {
    int64_t stop = start + (len < max ? len : max);
    int64_t normal = start + (len < avg ? len : avg);
    uint32_t h = 0;
    int64_t i = start + min;
    cut = -1;
    for (; i < normal; i++) {
      h = (h << 1) + gear[data[i]];
      if ((h & mask_s) == 0) { cut = i - start + 1; break; }
    }
    if (cut < 0)
      for (; i < stop; i++) {
        h = (h << 1) + gear[data[i]];
        if ((h & mask_l) == 0) { cut = i - start + 1; break; }
      }
    if (cut < 0) cut = stop - start;
  }
  napi_value result;
  napi_create_int64(env, cut, &result);
  return result;
}

/*
 * glibc raises its mmap threshold to the size of every large block freed (up to 32 MiB), after
 * which the engine's multi-megabyte buffers — 9 MiB step arenas, 16 MiB read windows — come from
 * the per-thread heaps and fragment them by hundreds of MiB. A fixed threshold of 4 MiB keeps
 * those in their own mappings, returned to the system when freed; the engine recycles them, so
 * they are mapped rarely. Smaller blocks (512 KiB arenas, chunks) stay on the heaps.
 */
static void tune_allocator(void) {
  static int done;
  if (done) return;
  done = 1;
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
}

NAPI_MODULE_INIT(/* env, exports */) {
  tune_allocator();
  if (!zstd_load()) {
    napi_value no;
    napi_get_boolean(env, false, &no);
    napi_set_named_property(env, exports, "available", no);
    return exports;
  }
  codec_state *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->cctx = zstd_createCCtx();
  s->dctx = zstd_createDCtx();
  s->enc = EVP_CIPHER_CTX_new();
  s->dec = EVP_CIPHER_CTX_new();
  if (!s->cctx || !s->dctx || !s->enc || !s->dec ||
      EVP_EncryptInit_ex(s->enc, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
      EVP_DecryptInit_ex(s->dec, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1) {
    state_free(env, s, NULL);
    napi_throw_error(env, "ENOMEM", "cannot create codec contexts");
    return NULL;
  }
  napi_set_instance_data(env, s, state_free, NULL);
  napi_value fn, yes;
  napi_create_function(env, "sealBlob", NAPI_AUTO_LENGTH, seal_blob, NULL, &fn);
  napi_set_named_property(env, exports, "sealBlob", fn);
  napi_create_function(env, "openBlob", NAPI_AUTO_LENGTH, open_blob, NULL, &fn);
  napi_set_named_property(env, exports, "openBlob", fn);
  napi_create_function(env, "gearCut", NAPI_AUTO_LENGTH, gear_cut, NULL, &fn);
  napi_set_named_property(env, exports, "gearCut", fn);
  napi_get_boolean(env, true, &yes);
  napi_set_named_property(env, exports, "available", yes);
  return exports;
}
