/* The intrinsics kernels/x86/avx512/simde_compat_avx512.h adds to SIMDe
 * 0.7.4 for the emulated AVX-512 build, each against a scalar loop of its
 * definition (Intel's intrinsics guide) on inputs that reach its edges:
 * masks that are empty, full and ragged, NaN, Inf, subnormals, ties,
 * rounding and out-of-range conversions. */
#define _POSIX_C_SOURCE 200809L
#include <float.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "simd_avx512.h"
#include "test_util.h"

static uint32_t bits_of(float f) {
  uint32_t b;
  memcpy(&b, &f, 4);
  return b;
}

/* the scalar bf16 rule of vcvtneps2bf16: nearest even, quiet NaN, DAZ */
static uint16_t bf16_ref(float f) {
  uint32_t b = bits_of(f);
  if (isnan(f)) return (uint16_t)((b >> 16) | 0x40);
  if (fpclassify(f) == FP_SUBNORMAL) return (uint16_t)((b >> 31) << 15);
  const uint32_t lsb = (b >> 16) & 1;
  return (uint16_t)((b + 0x7fff + lsb) >> 16);
}

static const float specials[] = {0.0f,      -0.0f,      1.0f,        -1.5f,    2.5f,       3.5f,        -2.5f,
                                 1e-40f,    -1e-42f,    FLT_MIN,     FLT_MAX,  -FLT_MAX,   INFINITY,    -INFINITY,
                                 NAN,       1.00390625f, 1.01171875f, 2.1e9f,  -2.2e9f,    3e9f,        0.49999997f,
                                 65504.0f,  1e-8f,      -7.0f,       123.456f, 16777217.0f, -0.75f,     1e30f};
#define NS (sizeof specials / sizeof specials[0])

static void fill16(float v[16], int shift) {
  for (int i = 0; i < 16; i++) v[i] = specials[(size_t)(i + shift) % NS];
}

static void masked(void) {
  const uint32_t masks[] = {0, 1, 0x8000, 0x00ff, 0xffff, 0x5a5a, 0x7fff};
  for (size_t mi = 0; mi < sizeof masks / sizeof masks[0]; mi++) {
    const __mmask16 m = (__mmask16)masks[mi];
    float src[16], dst[16];
    fill16(src, (int)mi);
    __m512 v = _mm512_maskz_loadu_ps(m, src);
    float got[16];
    memcpy(got, &v, 64);
    for (int i = 0; i < 16; i++) {
      const float want = (m >> i) & 1 ? src[i] : 0.0f;
      CHECK(bits_of(got[i]) == bits_of(want) || (isnan(want) && isnan(got[i])), "maskz_loadu_ps mask %x lane %d", m, i);
    }
    float fill[16];
    fill16(fill, (int)mi + 7);
    __m512 fv;
    memcpy(&fv, fill, 64);
    __m512 lv = _mm512_mask_loadu_ps(fv, m, src);
    memcpy(got, &lv, 64);
    for (int i = 0; i < 16; i++) {
      const float want = (m >> i) & 1 ? src[i] : fill[i];
      CHECK(bits_of(got[i]) == bits_of(want) || (isnan(want) && isnan(got[i])), "mask_loadu_ps mask %x lane %d", m, i);
    }
    double ds[8], dd[8];
    for (int i = 0; i < 8; i++) ds[i] = (double)src[i], dd[i] = -5.0;
    const __mmask8 m8 = (__mmask8)(m >> 4);
    __m512d pv = _mm512_maskz_loadu_pd(m8, ds);
    double gd[8];
    memcpy(gd, &pv, 64);
    for (int i = 0; i < 8; i++) {
      const double want = (m8 >> i) & 1 ? ds[i] : 0.0;
      CHECK(gd[i] == want || (isnan(want) && isnan(gd[i])), "maskz_loadu_pd mask %x lane %d", m8, i);
    }
    _mm512_mask_storeu_pd(dd, m8, pv);
    for (int i = 0; i < 8; i++) {
      const double want = (m8 >> i) & 1 ? ds[i] : -5.0;
      CHECK(dd[i] == want || (isnan(want) && isnan(dd[i])), "mask_storeu_pd mask %x lane %d", m8, i);
    }
    for (int i = 0; i < 16; i++) dst[i] = -99.0f;
    _mm512_mask_storeu_ps(dst, m, v);
    for (int i = 0; i < 16; i++) {
      const float want = (m >> i) & 1 ? src[i] : -99.0f;
      CHECK(bits_of(dst[i]) == bits_of(want) || (isnan(want) && isnan(dst[i])), "mask_storeu_ps mask %x lane %d", m, i);
    }
    uint16_t h[32], hd[32];
    for (int i = 0; i < 32; i++) h[i] = (uint16_t)(i * 2654435761u >> 7), hd[i] = 0xdead;
    const __mmask32 m32 = (__mmask32)masks[mi] | ((__mmask32)masks[mi] << 16);
    __m512i w = _mm512_maskz_loadu_epi16(m32, h);
    uint16_t gw[32];
    memcpy(gw, &w, 64);
    for (int i = 0; i < 32; i++) CHECK(gw[i] == ((m32 >> i) & 1 ? h[i] : 0), "maskz_loadu_epi16 lane %d", i);
    __m256i y = _mm256_maskz_loadu_epi16(m, h);
    memcpy(gw, &y, 32);
    for (int i = 0; i < 16; i++) CHECK(gw[i] == ((m >> i) & 1 ? h[i] : 0), "mm256_maskz_loadu_epi16 lane %d", i);
    _mm256_mask_storeu_epi16(hd, m, y);
    for (int i = 0; i < 16; i++) CHECK(hd[i] == ((m >> i) & 1 ? h[i] : 0xdead), "mm256_mask_storeu_epi16 lane %d", i);
  }
}

static void conversions(void) {
  for (int shift = 0; shift < (int)NS; shift += 3) {
    float f[16];
    fill16(f, shift);
    __m512 v;
    memcpy(&v, f, 64);
    int32_t q[16];
    __m512i r = _mm512_cvtps_epi32(v);
    memcpy(q, &r, 64);
    for (int i = 0; i < 16; i++) {
      const int32_t want = isnan(f[i]) || f[i] >= 2147483648.0f || f[i] < -2147483648.0f ? INT32_MIN
                                                                                         : (int32_t)nearbyintf(f[i]);
      CHECK(q[i] == want, "cvtps_epi32(%g) = %d, not %d", (double)f[i], q[i], want);
    }
    int32_t iv[16];
    for (int i = 0; i < 16; i++) iv[i] = (int32_t)((uint32_t)(i + shift) * 2654435761u);
    memcpy(&r, iv, 64);
    float g[16];
    __m512 c = _mm512_cvtepi32_ps(r);
    memcpy(g, &c, 64);
    for (int i = 0; i < 16; i++) CHECK(g[i] == (float)iv[i], "cvtepi32_ps(%d)", iv[i]);
    /* the repaired alias of vpmaddwd: pairs of int16 products added */
    int16_t ha[32], hb[32];
    memcpy(ha, iv, 64);
    for (int i = 0; i < 32; i++) hb[i] = (int16_t)(i * 2049 - 30000 + shift);
    __m512i va, vb;
    memcpy(&va, ha, 64), memcpy(&vb, hb, 64);
    const __m512i md = _mm512_madd_epi16(va, vb);
    int32_t mo[16];
    memcpy(mo, &md, 64);
    for (int i = 0; i < 16; i++) {
      const int32_t want = (int32_t)((uint32_t)(ha[2 * i] * hb[2 * i]) + (uint32_t)(ha[2 * i + 1] * hb[2 * i + 1]));
      CHECK(mo[i] == want, "madd_epi16 lane %d = %d, not %d", i, mo[i], want);
    }
    for (unsigned sh = 0; sh < 40; sh += 7) {
      __m512i sr = _mm512_srai_epi32(r, sh);
      int32_t o[16];
      memcpy(o, &sr, 64);
      for (int i = 0; i < 16; i++) {
        const int32_t want = sh > 31 ? (iv[i] < 0 ? -1 : 0) : (int32_t)(iv[i] >> sh);
        CHECK(o[i] == want, "srai_epi32(%d, %u) = %d, not %d", iv[i], sh, o[i], want);
      }
    }
    int8_t b8[16];
    __m128i n8 = _mm512_cvtepi32_epi8(r);
    memcpy(b8, &n8, 16);
    for (int i = 0; i < 16; i++) CHECK(b8[i] == (int8_t)(iv[i] & 0xff), "cvtepi32_epi8 lane %d", i);
    int16_t b16[16];
    __m256i n16 = _mm512_cvtepi32_epi16(r);
    memcpy(b16, &n16, 32);
    for (int i = 0; i < 16; i++) CHECK(b16[i] == (int16_t)(iv[i] & 0xffff), "cvtepi32_epi16 lane %d", i);
    uint8_t u8[16];
    for (int i = 0; i < 16; i++) u8[i] = (uint8_t)(i * 37 + shift * 11);
    __m128i x8;
    memcpy(&x8, u8, 16);
    __m512i w8 = _mm512_cvtepu8_epi32(x8);
    memcpy(iv, &w8, 64);
    for (int i = 0; i < 16; i++) CHECK(iv[i] == u8[i], "cvtepu8_epi32 lane %d", i);
    __m512i s8 = _mm512_cvtepi8_epi32(x8);
    memcpy(iv, &s8, 64);
    for (int i = 0; i < 16; i++) CHECK(iv[i] == (int8_t)u8[i], "cvtepi8_epi32 lane %d", i);
    uint16_t u16[16];
    for (int i = 0; i < 16; i++) u16[i] = (uint16_t)(i * 4099 + shift * 77 + 0x8000 * (i & 1));
    __m256i x16;
    memcpy(&x16, u16, 32);
    __m512i w16 = _mm512_cvtepu16_epi32(x16);
    memcpy(iv, &w16, 64);
    for (int i = 0; i < 16; i++) CHECK(iv[i] == u16[i], "cvtepu16_epi32 lane %d", i);
    __m512i s16 = _mm512_cvtepi16_epi32(x16);
    memcpy(iv, &s16, 64);
    for (int i = 0; i < 16; i++) CHECK(iv[i] == (int16_t)u16[i], "cvtepi16_epi32 lane %d", i);
    /* halves: every exponent class; the f16c instruction is the scalar definition */
    __m512 hf = _mm512_cvtph_ps(x16);
    memcpy(g, &hf, 64);
    for (int i = 0; i < 16; i++) {
      const float want = _cvtsh_ss(u16[i]);
      CHECK(bits_of(g[i]) == bits_of(want) || (isnan(want) && isnan(g[i])), "cvtph_ps(0x%04x) = %g, not %g", u16[i],
            (double)g[i], (double)want);
    }
    double d[8];
    __m512d pd = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
    memcpy(d, &pd, 64);
    for (int i = 0; i < 8; i++) CHECK(d[i] == (double)f[i] || (isnan(f[i]) && isnan(d[i])), "cvtps_pd lane %d", i);
    /* bf16: both halves of cvtne2ps_pbh and cvtneps_pbh */
    float f2[16];
    fill16(f2, shift + 5);
    __m512 v2;
    memcpy(&v2, f2, 64);
    uint16_t bh[32];
    __m512bh p2 = _mm512_cvtne2ps_pbh(v2, v);
    memcpy(bh, &p2, 64);
    for (int i = 0; i < 16; i++) {
      CHECK(bh[i] == bf16_ref(f[i]), "cvtne2ps_pbh low lane %d of %g: 0x%04x, not 0x%04x", i, (double)f[i], bh[i],
            bf16_ref(f[i]));
      CHECK(bh[16 + i] == bf16_ref(f2[i]), "cvtne2ps_pbh high lane %d of %g", i, (double)f2[i]);
    }
    __m256bh p1 = _mm512_cvtneps_pbh(v);
    memcpy(bh, &p1, 32);
    for (int i = 0; i < 16; i++) CHECK(bh[i] == bf16_ref(f[i]), "cvtneps_pbh lane %d of %g", i, (double)f[i]);
  }
}

static void reductions(void) {
  for (int shift = 0; shift < (int)NS; shift++) {
    float f[16];
    fill16(f, shift);
    for (int i = 0; i < 16; i++)
      if (isnan(f[i]) || isinf(f[i])) f[i] = (float)i; /* max and add of finite lanes */
    __m512 v;
    memcpy(&v, f, 64);
    float m = f[0];
    for (int i = 1; i < 16; i++) m = f[i] > m ? f[i] : m;
    CHECK(_mm512_reduce_max_ps(v) == m, "reduce_max_ps shift %d", shift);
    float t[16];
    memcpy(t, f, 64);
    for (int w = 8; w >= 1; w /= 2) /* Intel's order: halves, pairwise */
      for (int i = 0; i < w; i++) t[i] += t[i + w];
    const float got = _mm512_reduce_add_ps(v);
    CHECK(bits_of(got) == bits_of(t[0]) || (isnan(got) && isnan(t[0])), "reduce_add_ps shift %d: %g, not %g", shift,
          (double)got, (double)t[0]);
    int32_t iv[16];
    int64_t s = 0;
    for (int i = 0; i < 16; i++) iv[i] = (int32_t)((uint32_t)(i + shift) * 2654435761u) >> 8, s += iv[i];
    __m512i r;
    memcpy(&r, iv, 64);
    CHECK(_mm512_reduce_add_epi32(r) == (int32_t)s, "reduce_add_epi32 shift %d", shift);
  }
}

/* an aligned load (kind 0: _mm512_load_ps, 1: _mm512_load_si512) or a
 * non-temporal store (2: _mm512_stream_ps) of a misaligned address stops
 * the process, as the instruction's fault would; an aligned one does not */
static int dies(const void* p, int kind) {
  fflush(stdout);
  const pid_t pid = fork();
  if (pid == 0) {
    freopen("/dev/null", "w", stderr);
    volatile float sink;
    if (kind == 2) {
      _mm512_stream_ps((void*)p, _mm512_set1_ps(1.0f));
      sink = 0;
    } else if (kind == 1) {
      __m512i v = _mm512_load_si512(p);
      int32_t x[16];
      memcpy(x, &v, 64);
      sink = (float)x[0];
    } else {
      __m512 v = _mm512_load_ps(p);
      float x[16];
      memcpy(x, &v, 64);
      sink = x[0];
    }
    (void)sink;
    _exit(0);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
}

static void alignment(void) {
  static _Alignas(64) float buf[48];
  for (int kind = 0; kind < 3; kind++) {
    CHECK(!dies(buf, kind), "aligned access %d stopped", kind);
    CHECK(dies(buf + 4, kind), "misaligned access %d (16 bytes off) went through", kind);
    CHECK(dies((const char*)buf + 1, kind), "misaligned access %d (1 byte off) went through", kind);
  }
  /* the stream stores all 16 lanes */
  float v[16];
  for (int i = 0; i < 16; i++) v[i] = (float)i - 7.5f;
  __m512 x;
  memcpy(&x, v, 64);
  memset(buf, 0, sizeof buf);
  _mm512_stream_ps(buf + 16, x);
  CHECK(memcmp(buf + 16, v, 64) == 0 && buf[15] == 0 && buf[32] == 0, "stream_ps stored other lanes");
}

int main(void) {
  alignment();
  masked();
  conversions();
  reductions();
  return test_summary("test_simde_compat");
}
