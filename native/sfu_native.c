/*
 * The SFU's native helper (issue 12, forwarding cost): SRTP/SRTCP protection of outgoing packets
 * with per-session OpenSSL contexts, and a batch send of many datagrams in one call (sendmmsg).
 *
 * Why: node:crypto costs ~10 µs per 1,100-byte packet, nearly all of it building a Cipher and an
 * Hmac object per call; dgram.send costs a SendWrap, a callback and a trip through libuv per
 * datagram. Here the keys are expanded once per session, a packet costs one AES pass and one
 * HMAC-SHA1 (or one GCM pass), and a fan-out is one call.
 *
 * The JavaScript side (src/webrtc/sfu/srtp/native.ts, srtp.ts) keeps the rollover counters and
 * the SRTCP index: these functions are pure transforms of the bytes they are given, checked
 * byte for byte against the JavaScript implementation (test/unit/sfu/srtp-native.test.ts).
 *
 * Hostile input: every argument is type- and range-checked and a bad one throws a RangeError or
 * TypeError with a code (ERR_SFU_NATIVE_*); nothing here aborts the process. No global mutable
 * state: the module is context-aware (it is loaded in the SFU's worker threads too).
 *
 * Built against Node's headers, which include OpenSSL's; links nothing: Node exports OpenSSL's
 * symbols (Linux). SHA1_* are deprecated in OpenSSL 3 but exported; they let the HMAC keep its
 * precomputed inner and outer states as plain structs (a struct copy per packet).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sendmmsg */
#endif
#define NAPI_VERSION 8
#include <node_api.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#ifdef __linux__
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#endif

#define PROFILE_CM 0x0001
#define PROFILE_GCM 0x0007
#define CM_TAG 10
#define GCM_TAG 16

typedef struct {
  SHA_CTX inner;
  SHA_CTX outer;
} hmac_sha1;

typedef struct {
  EVP_CIPHER_CTX *cipher; /* AES-128-CTR or AES-128-GCM, key set */
  unsigned char salt[14];
  size_t salt_len;
  hmac_sha1 mac; /* CM profile only */
} direction;

typedef struct {
  int gcm;
  direction rtp;
  direction rtcp;
} session;

static const napi_type_tag SESSION_TAG = {0x5377697463686264ULL, 0x5346555352545031ULL};

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) return throw_error(env, "ERR_SFU_NATIVE_NAPI", #call " failed"); \
  } while (0)

static napi_value throw_error(napi_env env, const char *code, const char *msg) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, code, msg);
  return NULL;
}

static napi_value throw_range(napi_env env, const char *code, const char *msg) {
  napi_throw_range_error(env, code, msg);
  return NULL;
}

static napi_value throw_type(napi_env env, const char *code, const char *msg) {
  napi_throw_type_error(env, code, msg);
  return NULL;
}

static void hmac_init(hmac_sha1 *h, const unsigned char *key, size_t len) {
  unsigned char pad[64];
  /* Keys here are 20 bytes (RFC 3711 §4.3); a longer one would be hashed first (RFC 2104). */
  memset(pad, 0x36, sizeof pad);
  for (size_t i = 0; i < len && i < 64; i++) pad[i] ^= key[i];
  SHA1_Init(&h->inner);
  SHA1_Update(&h->inner, pad, 64);
  memset(pad, 0x5c, sizeof pad);
  for (size_t i = 0; i < len && i < 64; i++) pad[i] ^= key[i];
  SHA1_Init(&h->outer);
  SHA1_Update(&h->outer, pad, 64);
}

/* HMAC-SHA1 of data[0..len) truncated to `tag_len` bytes into `tag` (which may overlap data's end). */
static void hmac_tag(const hmac_sha1 *h, const unsigned char *data, size_t len, unsigned char *tag, size_t tag_len) {
  SHA_CTX c = h->inner;
  unsigned char md[SHA_DIGEST_LENGTH];
  SHA1_Update(&c, data, len);
  SHA1_Final(md, &c);
  c = h->outer;
  SHA1_Update(&c, md, sizeof md);
  SHA1_Final(md, &c);
  memcpy(tag, md, tag_len);
}

static void session_free(session *s) {
  if (!s) return;
  if (s->rtp.cipher) EVP_CIPHER_CTX_free(s->rtp.cipher);
  if (s->rtcp.cipher) EVP_CIPHER_CTX_free(s->rtcp.cipher);
  OPENSSL_cleanse(s, sizeof *s);
  free(s);
}

static void session_finalize(napi_env env, void *data, void *hint) {
  session_free((session *)data);
}

/* Reads a Buffer argument; NULL (and a TypeError thrown) when it is not one. */
static int get_buffer(napi_env env, napi_value v, unsigned char **data, size_t *len, const char *what) {
  bool is = false;
  if (napi_is_buffer(env, v, &is) != napi_ok || !is) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a Buffer", what);
    throw_type(env, "ERR_SFU_NATIVE_ARG", msg);
    return 0;
  }
  void *p = NULL;
  if (napi_get_buffer_info(env, v, &p, len) != napi_ok) {
    throw_error(env, "ERR_SFU_NATIVE_NAPI", "napi_get_buffer_info failed");
    return 0;
  }
  *data = (unsigned char *)p;
  return 1;
}

/* Reads an integer argument in [lo, hi]; 0 (and an error thrown) otherwise. */
static int get_int(napi_env env, napi_value v, int64_t lo, int64_t hi, int64_t *out, const char *what) {
  napi_valuetype t;
  char msg[128];
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) {
    snprintf(msg, sizeof msg, "%s must be a number", what);
    throw_type(env, "ERR_SFU_NATIVE_ARG", msg);
    return 0;
  }
  double d;
  napi_get_value_double(env, v, &d);
  if (!(d >= (double)lo && d <= (double)hi) || d != (double)(int64_t)d) {
    snprintf(msg, sizeof msg, "%s must be an integer in [%lld, %lld]", what, (long long)lo, (long long)hi);
    throw_range(env, "ERR_SFU_NATIVE_RANGE", msg);
    return 0;
  }
  *out = (int64_t)d;
  return 1;
}

static session *get_session(napi_env env, napi_value v) {
  napi_valuetype t;
  bool tagged = false;
  void *p = NULL;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_check_object_type_tag(env, v, &SESSION_TAG, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env, v, &p) != napi_ok || !p) {
    throw_type(env, "ERR_SFU_NATIVE_ARG", "session must be a value returned by createSession()");
    return NULL;
  }
  return (session *)p;
}

static int cipher_init(direction *d, int gcm, const unsigned char *key) {
  d->cipher = EVP_CIPHER_CTX_new();
  if (!d->cipher) return 0;
  if (EVP_EncryptInit_ex(d->cipher, gcm ? EVP_aes_128_gcm() : EVP_aes_128_ctr(), NULL, key, NULL) != 1) return 0;
  if (gcm && EVP_CIPHER_CTX_ctrl(d->cipher, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) != 1) return 0;
  return 1;
}

/*
 * createSession(profile, rtpKey, rtpSalt, rtpAuth, rtcpKey, rtcpSalt, rtcpAuth): the session keys
 * (already derived, RFC 3711 §4.3) of one direction of a transport. Auth keys are 20 bytes for the
 * CM profile and empty for GCM; salts 14 (CM) or 12 (GCM) bytes.
 */
static napi_value create_session(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 7) return throw_type(env, "ERR_SFU_NATIVE_ARG", "createSession needs 7 arguments");
  int64_t profile;
  if (!get_int(env, argv[0], 0, 0xffff, &profile, "profile")) return NULL;
  if (profile != PROFILE_CM && profile != PROFILE_GCM) return throw_range(env, "ERR_SFU_NATIVE_PROFILE", "unsupported SRTP profile");
  int gcm = profile == PROFILE_GCM;
  unsigned char *b[6];
  size_t l[6];
  static const char *names[6] = {"rtpKey", "rtpSalt", "rtpAuth", "rtcpKey", "rtcpSalt", "rtcpAuth"};
  for (int i = 0; i < 6; i++)
    if (!get_buffer(env, argv[i + 1], &b[i], &l[i], names[i])) return NULL;
  size_t salt = gcm ? 12 : 14, auth = gcm ? 0 : 20;
  if (l[0] != 16 || l[3] != 16 || l[1] != salt || l[4] != salt || l[2] != auth || l[5] != auth)
    return throw_range(env, "ERR_SFU_NATIVE_KEYS", "key, salt or auth key of the wrong length for the profile");
  session *s = (session *)calloc(1, sizeof *s);
  if (!s) return throw_error(env, "ERR_SFU_NATIVE_MEMORY", "out of memory");
  s->gcm = gcm;
  if (!cipher_init(&s->rtp, gcm, b[0]) || !cipher_init(&s->rtcp, gcm, b[3])) {
    session_free(s);
    return throw_error(env, "ERR_SFU_NATIVE_OPENSSL", "cipher setup failed");
  }
  memcpy(s->rtp.salt, b[1], salt);
  memcpy(s->rtcp.salt, b[4], salt);
  s->rtp.salt_len = s->rtcp.salt_len = salt;
  if (!gcm) {
    hmac_init(&s->rtp.mac, b[2], 20);
    hmac_init(&s->rtcp.mac, b[5], 20);
  }
  napi_value ext;
  if (napi_create_external(env, s, session_finalize, NULL, &ext) != napi_ok) {
    session_free(s);
    return throw_error(env, "ERR_SFU_NATIVE_NAPI", "napi_create_external failed");
  }
  CHECK(napi_type_tag_object(env, ext, &SESSION_TAG));
  return ext;
}

static inline void put32(unsigned char *p, uint32_t v) {
  p[0] = v >> 24;
  p[1] = v >> 16;
  p[2] = v >> 8;
  p[3] = v;
}

/* AES-CTR (no final block) or GCM over in[0..len) into out (may be equal). 1 on success. */
static int ctr(EVP_CIPHER_CTX *c, const unsigned char *iv, const unsigned char *in, unsigned char *out, size_t len) {
  int n = 0;
  if (EVP_EncryptInit_ex(c, NULL, NULL, NULL, iv) != 1) return 0;
  return len == 0 || EVP_EncryptUpdate(c, out, &n, in, (int)len) == 1;
}

static int gcm_seal(EVP_CIPHER_CTX *c, const unsigned char *iv, const unsigned char *aad, size_t aad_len, const unsigned char *aad2, size_t aad2_len,
                    unsigned char *data, size_t len, unsigned char *tag) {
  int n = 0;
  if (EVP_EncryptInit_ex(c, NULL, NULL, NULL, iv) != 1) return 0;
  if (EVP_EncryptUpdate(c, NULL, &n, aad, (int)aad_len) != 1) return 0;
  if (aad2_len && EVP_EncryptUpdate(c, NULL, &n, aad2, (int)aad2_len) != 1) return 0;
  if (len && EVP_EncryptUpdate(c, data, &n, data, (int)len) != 1) return 0;
  if (EVP_EncryptFinal_ex(c, data + len, &n) != 1) return 0;
  return EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, GCM_TAG, tag) == 1;
}

/*
 * protectRtp(session, buf, offset, length, roc) → SRTP length. Encrypts the RTP packet
 * buf[offset..offset+length) in place and appends its tag (10 bytes CM, 16 GCM), so buf needs that
 * much room after it. The IV is RFC 3711 §4.1.1 (CM) or RFC 7714 §8.1 (GCM) from the packet's SSRC
 * and sequence number and the given rollover counter.
 */
static napi_value protect_rtp(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) return throw_type(env, "ERR_SFU_NATIVE_ARG", "protectRtp needs 5 arguments");
  session *s = get_session(env, argv[0]);
  if (!s) return NULL;
  unsigned char *buf;
  size_t cap;
  int64_t off, len, roc;
  if (!get_buffer(env, argv[1], &buf, &cap, "buf") || !get_int(env, argv[2], 0, (int64_t)cap, &off, "offset") ||
      !get_int(env, argv[3], 0, 65535, &len, "length") || !get_int(env, argv[4], 0, 0xffffffffLL, &roc, "roc"))
    return NULL;
  size_t tag = s->gcm ? GCM_TAG : CM_TAG;
  /* The CM tag is computed over packet || ROC: 4 bytes where the tag goes, so room for max(4, tag). */
  if ((size_t)off + (size_t)len + tag > cap) return throw_range(env, "ERR_SFU_NATIVE_ROOM", "buf has no room for the SRTP tag");
  unsigned char *p = buf + off;
  if (len < 12) return throw_range(env, "ERR_SFU_NATIVE_SHORT", "RTP packet shorter than its 12-byte header");
  size_t h = 12 + (size_t)(p[0] & 0x0f) * 4;
  if (p[0] & 0x10) {
    if ((size_t)len < h + 4) return throw_range(env, "ERR_SFU_NATIVE_SHORT", "RTP extension header cut off");
    h += 4 + (size_t)((p[h + 2] << 8) | p[h + 3]) * 4;
  }
  if (h > (size_t)len) return throw_range(env, "ERR_SFU_NATIVE_SHORT", "RTP header longer than the packet");
  uint32_t ssrc = ((uint32_t)p[8] << 24) | ((uint32_t)p[9] << 16) | ((uint32_t)p[10] << 8) | p[11];
  unsigned char iv[16];
  memset(iv, 0, sizeof iv);
  if (s->gcm) {
    /* 00 00 || SSRC || ROC || SEQ, XOR the 12-byte salt. */
    put32(iv + 2, ssrc);
    put32(iv + 6, (uint32_t)roc);
    iv[10] = p[2];
    iv[11] = p[3];
  } else {
    /* (salt · 2^16) XOR (SSRC · 2^64) XOR (index · 2^16) */
    put32(iv + 4, ssrc);
    put32(iv + 8, (uint32_t)roc);
    iv[12] = p[2];
    iv[13] = p[3];
  }
  for (size_t i = 0; i < s->rtp.salt_len; i++) iv[i] ^= s->rtp.salt[i];
  if (s->gcm) {
    if (!gcm_seal(s->rtp.cipher, iv, p, h, NULL, 0, p + h, (size_t)len - h, p + len)) return throw_error(env, "ERR_SFU_NATIVE_OPENSSL", "AES-GCM failed");
  } else {
    if (!ctr(s->rtp.cipher, iv, p + h, p + h, (size_t)len - h)) return throw_error(env, "ERR_SFU_NATIVE_OPENSSL", "AES-CTR failed");
    put32(p + len, (uint32_t)roc);
    hmac_tag(&s->rtp.mac, p, (size_t)len + 4, p + len, CM_TAG);
  }
  napi_value r;
  CHECK(napi_create_uint32(env, (uint32_t)(len + tag), &r));
  return r;
}

/*
 * protectRtcp(session, buf, offset, length, index) → SRTCP length. Encrypts the (compound) RTCP
 * packet buf[offset..offset+length) in place (all but the first 8 bytes) with SRTCP index `index`
 * and the E bit set, and appends the E|index word and the tag (RFC 3711 §3.4; RFC 7714 §9: the tag
 * before the E|index word, which is authenticated as AAD). buf needs 14 (CM) or 20 (GCM) bytes of room.
 */
static napi_value protect_rtcp(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) return throw_type(env, "ERR_SFU_NATIVE_ARG", "protectRtcp needs 5 arguments");
  session *s = get_session(env, argv[0]);
  if (!s) return NULL;
  unsigned char *buf;
  size_t cap;
  int64_t off, len, index;
  if (!get_buffer(env, argv[1], &buf, &cap, "buf") || !get_int(env, argv[2], 0, (int64_t)cap, &off, "offset") ||
      !get_int(env, argv[3], 0, 65535, &len, "length") || !get_int(env, argv[4], 0, 0x7fffffff, &index, "index"))
    return NULL;
  size_t extra = 4 + (s->gcm ? GCM_TAG : CM_TAG);
  if ((size_t)off + (size_t)len + extra > cap) return throw_range(env, "ERR_SFU_NATIVE_ROOM", "buf has no room for the SRTCP trailer");
  if (len < 8) return throw_range(env, "ERR_SFU_NATIVE_SHORT", "RTCP packet shorter than 8 bytes");
  unsigned char *p = buf + off;
  uint32_t ssrc = ((uint32_t)p[4] << 24) | ((uint32_t)p[5] << 16) | ((uint32_t)p[6] << 8) | p[7];
  unsigned char iv[16], e[4];
  memset(iv, 0, sizeof iv);
  put32(e, 0x80000000u | (uint32_t)index);
  if (s->gcm) {
    put32(iv + 2, ssrc);
    put32(iv + 8, (uint32_t)index);
  } else {
    put32(iv + 4, ssrc);
    put32(iv + 10, (uint32_t)index);
  }
  for (size_t i = 0; i < s->rtcp.salt_len; i++) iv[i] ^= s->rtcp.salt[i];
  if (s->gcm) {
    if (!gcm_seal(s->rtcp.cipher, iv, p, 8, e, 4, p + 8, (size_t)len - 8, p + len)) return throw_error(env, "ERR_SFU_NATIVE_OPENSSL", "AES-GCM failed");
    memcpy(p + len + GCM_TAG, e, 4);
  } else {
    if (!ctr(s->rtcp.cipher, iv, p + 8, p + 8, (size_t)len - 8)) return throw_error(env, "ERR_SFU_NATIVE_OPENSSL", "AES-CTR failed");
    memcpy(p + len, e, 4);
    hmac_tag(&s->rtcp.mac, p, (size_t)len + 4, p + len + 4, CM_TAG);
  }
  napi_value r;
  CHECK(napi_create_uint32(env, (uint32_t)(len + extra), &r));
  return r;
}

#define ENTRY 5 /* fd, IPv4 address (host order), port, offset, length */
#define BATCH 64

/*
 * sendBatch(desc: Int32Array, arena: Buffer, count) → entries done. Entry i of `desc` is
 * [fd, IPv4 address as a 32-bit integer, port, offset, length]: the datagram arena[offset..+length)
 * to address:port from socket fd (length 0: skip the entry). Consecutive entries of one fd go out in one sendmmsg. Sends
 * stop at the first entry the socket cannot take now (EAGAIN, ENOBUFS): the return value is its
 * index (count when all went out), so the caller sends the rest another way. An entry that failed
 * otherwise gets its length replaced by -errno and the sends go on.
 */
static napi_value send_batch(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) return throw_type(env, "ERR_SFU_NATIVE_ARG", "sendBatch needs 3 arguments");
  bool is = false;
  napi_typedarray_type tt;
  size_t n;
  void *data;
  napi_value ab;
  size_t byte_off;
  if (napi_is_typedarray(env, argv[0], &is) != napi_ok || !is) return throw_type(env, "ERR_SFU_NATIVE_ARG", "desc must be an Int32Array");
  CHECK(napi_get_typedarray_info(env, argv[0], &tt, &n, &data, &ab, &byte_off));
  if (tt != napi_int32_array) return throw_type(env, "ERR_SFU_NATIVE_ARG", "desc must be an Int32Array");
  int32_t *desc = (int32_t *)data;
  unsigned char *arena;
  size_t cap;
  int64_t count;
  if (!get_buffer(env, argv[1], &arena, &cap, "arena") || !get_int(env, argv[2], 0, (int64_t)(n / ENTRY), &count, "count")) return NULL;
  for (int64_t i = 0; i < count; i++) {
    int32_t *e = desc + i * ENTRY;
    if (e[0] < 0 || e[2] <= 0 || e[2] > 65535 || e[3] < 0 || e[4] < 0 || e[4] > 65535 || (size_t)e[3] + (size_t)e[4] > cap)
      return throw_range(env, "ERR_SFU_NATIVE_RANGE", "sendBatch entry out of range (fd, port, offset or length)");
  }
  int64_t done = 0;
#ifdef __linux__
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  struct sockaddr_in addr[BATCH];
  while (done < count) {
    if (desc[done * ENTRY + 4] == 0) { /* skipped by the caller */
      done++;
      continue;
    }
    int fd = desc[done * ENTRY];
    int k = 0;
    while (done + k < count && k < BATCH && desc[(done + k) * ENTRY] == fd && desc[(done + k) * ENTRY + 4] > 0) {
      int32_t *e = desc + (done + k) * ENTRY;
      memset(&addr[k], 0, sizeof addr[k]);
      addr[k].sin_family = AF_INET;
      addr[k].sin_addr.s_addr = htonl((uint32_t)e[1]);
      addr[k].sin_port = htons((uint16_t)e[2]);
      iov[k].iov_base = arena + e[3];
      iov[k].iov_len = (size_t)e[4];
      memset(&msgs[k], 0, sizeof msgs[k]);
      msgs[k].msg_hdr.msg_name = &addr[k];
      msgs[k].msg_hdr.msg_namelen = sizeof addr[k];
      msgs[k].msg_hdr.msg_iov = &iov[k];
      msgs[k].msg_hdr.msg_iovlen = 1;
      k++;
    }
    int at = 0;
    while (at < k) {
      int r = sendmmsg(fd, msgs + at, (unsigned)(k - at), MSG_DONTWAIT);
      if (r > 0) {
        at += r;
        continue;
      }
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
        napi_value out;
        CHECK(napi_create_int64(env, done + at, &out));
        return out;
      }
      /* This datagram failed (r < 0): note it and go on with the next. */
      desc[(done + at) * ENTRY + 4] = -(r < 0 ? errno : EIO);
      at++;
    }
    done += k;
  }
#else
  (void)arena;
  return throw_error(env, "ERR_SFU_NATIVE_PLATFORM", "sendBatch needs Linux (sendmmsg)");
#endif
  napi_value out;
  CHECK(napi_create_int64(env, done, &out));
  return out;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"createSession", NULL, create_session, NULL, NULL, NULL, napi_enumerable, NULL},
      {"protectRtp", NULL, protect_rtp, NULL, NULL, NULL, napi_enumerable, NULL},
      {"protectRtcp", NULL, protect_rtcp, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendBatch", NULL, send_batch, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}
