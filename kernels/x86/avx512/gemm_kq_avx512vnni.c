/* AVX512_VNNI expert GEMMs on the x86 K-quant panels (pack_kq_avx2.c) and
 * int8 activation records (MOEK_Q8_ROW_BYTES; Q6_K: _HALVES): Q4_K, Q5_K,
 * Q6_K.
 *
 * A step of 4 k of a 16-column panel is one zmm of codes, slots 0-7 in its
 * low half and 8-15 in its high half, as for Q4 (gemm_q_avx512vnni.c). The
 * panel is AVX-512's order of pack_kq_avx2.c: two steps share 64 bytes,
 * one in the low nibbles and one in the high ones, so a step's low 4 bits
 * are one mask (odd steps: a shift and a mask) with no lane crossing. Q5_K's
 * fifth bits come as the step's 64-bit mask, one bit per byte of that zmm:
 * one masked add of 16. The codes (0..15, 0..31) are unsigned, so vpdpbusd
 * takes them as they are and nothing comes off the dot.
 *
 * The records hold one activation scale A per super-block (the K-quants'
 * super-block rule, moek_kernel.h), so a super-block's arithmetic stays in
 * int32 up to its last step, as the reference's dot_row_kquant: per block
 * of 32 k the exact dot S_j (vpdpbusd) times the sub-block's scale byte
 * (vpmulld) adds to D, and the min byte times the block's activation sum
 * (vpmaddwd) to M; then acc = fma(D, d A, acc) and acc = fma(M, -(dmin A), acc),
 * written as fnmadd of dmin A, the same rounding: the tables agree bit for
 * bit before the activation. Rows and chains as in the Q kernels: up to 6
 * rows; below 4, two int32 chains per row.
 *
 * Q6_K: codes 0..63, from AVX-512's own order of the block (step pairs of
 * nibbles, 4-step groups of crumbs: pack_kq_avx2.c): 2 to 4 vector ops a
 * step. Each row keeps one chain per group of 16 (steps 0-3 and 4-7),
 * which starts at the record's offset of that half (-32 times its
 * activation sum), so it ends as the exact dot of q - 32 with nothing
 * taken off per row; each group's dot times its int8 scale adds to D in
 * int32, and acc = fma(D, d A, acc) once per super-block.
 *
 * Q4_K's decode runs of 1-2 rows take the streams tiles
 * (kqkernel_streams): the same steps on 4 panels at once. */
#include <string.h>

#include "avx512.h"
#include "simd_avx512.h"
/* after simd_avx512.h: in the emulated build the ymm epilogue stays native */
#include "epilogue_avx2.h"
#include "moek_kq_panel.h"
#include "moek_quant.h"
#include "next_panel.h"
#include "q_step_avx512.h"

#define MRK_MAX 6 /* 6 accumulators + 6 int32 chains (12 below 4 rows) + the step's operands fit 32 zmm */
/* ahead in the panel stream: decode tiles (1-2 rows) look further (far), as
 * the Q kernels do, but for the amx table's (near, _pf2k: docs/performance.md) */
#define PREFETCH_BYTES(mr, far) ((mr) <= 2 && (far) ? 8192 : 2048)

/* the low 4 bits of step st's codes: its half of its pair's bytes */
static inline __attribute__((always_inline)) __m512i step_nibbles(const uint8_t* blk, int st) {
  const __m512i pair = _mm512_loadu_si512((const void*)(blk + 64 * (st / 2)));
  return _mm512_and_si512(st % 2 ? _mm512_srli_epi16(pair, 4) : pair, _mm512_set1_epi8(0x0f));
}

/* step st of a block: 16 lanes of 4 codes (Q5_K: with their fifth bits) */
static inline __attribute__((always_inline)) __m512i step_codes(const uint8_t* blk, int st, int q5) {
  __m512i z = step_nibbles(blk, st);
  if (q5) {
    uint64_t bits;
    memcpy(&bits, blk + 256 + st * 8, 8);
    z = _mm512_mask_add_epi8(z, (__mmask64)bits, z, _mm512_set1_epi8(16));
  }
  return z;
}

/* Q6_K's step st: codes 0..63 from AVX-512's block (pack_kq_avx2.c), the
 * step's nibble of its pair's bytes and its crumb of its group's bytes.
 * The crumb of step s of the group goes to bits 4-5 by a 16-bit shift (left
 * 4, 2, none, right 2): what crosses into the neighbouring byte lands
 * outside bits 4-5, which one ternary or-under-mask keeps. */
static inline __attribute__((always_inline)) __m512i step_codes6(const uint8_t* blk, int st) {
  const __m512i nib = step_nibbles(blk, st);
  const __m512i crumbs = _mm512_loadu_si512((const void*)(blk + 256 + 64 * (st / 4)));
  const int s = st % 4;
  const __m512i hi = s == 0   ? _mm512_slli_epi16(crumbs, 4)
                     : s == 1 ? _mm512_slli_epi16(crumbs, 2)
                     : s == 2 ? crumbs
                              : _mm512_srli_epi16(crumbs, 2);
  return _mm512_ternarylogic_epi32(nib, hi, _mm512_set1_epi8(0x30), 0xf8); /* nib | (hi & 0x30) */
}

/* 16 bytes of the header (one sub-block's scales or mins) as int32 */
static inline __attribute__((always_inline)) __m512i bytes_i32(const uint8_t* p) {
  return _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i*)p));
}

/* mr rows x one panel over all of K (sbs super-blocks). Row r's record is
 * one base register, rows[r], as in the Q kernels (moek_q_tile_walk): the
 * empty asm per block keeps GCC from hoisting its derived addresses. */
static inline __attribute__((always_inline)) void kqkernel(const int mr, const int far, const int q5, size_t sbs,
                                                           const int8_t* const* rows, size_t nb, const uint8_t* w,
                                                           const char* next, const char* next_end, __m512 c[MRK_MAX]) {
  const size_t bbytes = moek_kq_block_bytes(q5 ? MOEK_WFORMAT_Q5_K : MOEK_WFORMAT_Q4_K);
  const size_t so = 32 * nb, mo = 36 * nb;
  const int split = mr <= 3;
  const int8_t* q[MRK_MAX];
  __m512 acc[MRK_MAX];
#pragma GCC unroll 6
  for (int r = 0; r < mr; r++) q[r] = rows[r], acc[r] = _mm512_setzero_ps();
  moek_next_pace pace = moek_next_pace_of(next, next_end, nb); /* next_panel.h: a step per block */
  size_t b = 0;
  for (size_t s = 0; s < sbs; s++) {
    const uint8_t* hdr = w;
#pragma GCC unroll 5
    for (int l = 0; l < 5; l++) _mm_prefetch((const char*)w + 64 * l + PREFETCH_BYTES(mr, far), _MM_HINT_T0);
    w += MOEK_KQ_HEADER;
    __m512i dsum[MRK_MAX], msum[MRK_MAX]; /* D and M of the super-block */
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++) dsum[r] = msum[r] = _mm512_setzero_si512();
    const size_t b0 = b;
    for (int j = 0; j < 8; j++, b++, w += bbytes) {
      __m512i d0[MRK_MAX], d1[MRK_MAX];
#pragma GCC unroll 6
      for (int r = 0; r < mr; r++) {
        __asm__("" : "+r"(q[r])); /* see above */
        d0[r] = d1[r] = _mm512_setzero_si512();
      }
#pragma GCC unroll 8
      for (int st = 0; st < 8; st++) {
        if (st % 2 == 0) _mm_prefetch((const char*)w + st * 32 + PREFETCH_BYTES(mr, far), _MM_HINT_T0);
        const __m512i wv = step_codes(w, st, q5);
#pragma GCC unroll 6
        for (int r = 0; r < mr; r++) {
          if (split && st % 2)
            d1[r] = moek_dpbusd_bcast4(d1[r], wv, q[r] + b * 32 + st * 4);
          else
            d0[r] = moek_dpbusd_bcast4(d0[r], wv, q[r] + b * 32 + st * 4);
        }
      }
      if (q5) _mm_prefetch((const char*)w + 256 + PREFETCH_BYTES(mr, far), _MM_HINT_T0); /* the bit plane's line */
      moek_next_step(&pace);
      const __m512i sc = bytes_i32(hdr + MOEK_KQ_SCALES + 16 * j), mn = bytes_i32(hdr + MOEK_KQ_MINS + 16 * j);
#pragma GCC unroll 6
      for (int r = 0; r < mr; r++) {
        const __m512i dot = split ? _mm512_add_epi32(d0[r], d1[r]) : d0[r];
        dsum[r] = _mm512_add_epi32(dsum[r], _mm512_mullo_epi32(dot, sc));
        /* the sum's low 16 bits (|sum| < 2^15) times the min byte; its high half meets 0 */
        msum[r] = _mm512_add_epi32(msum[r], _mm512_madd_epi16(moek_bcast4_zmm(q[r] + mo + 4 * b), mn));
      }
    }
    const __m512 d = _mm512_cvtph_ps(_mm256_load_si256((const __m256i*)hdr));
    const __m512 dmin = _mm512_cvtph_ps(_mm256_load_si256((const __m256i*)(hdr + 32)));
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++) {
      float as;
      memcpy(&as, q[r] + so + 4 * b0, 4);
      const __m512 asv = _mm512_set1_ps(as);
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dsum[r]), _mm512_mul_ps(d, asv), acc[r]);
      acc[r] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum[r]), _mm512_mul_ps(dmin, asv), acc[r]);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < mr; r++) c[r] = acc[r];
}

/* mr (1-2) rows x MOEK_AVX512_STREAMS Q4_K panels over all of K: kqkernel's
 * loop on each panel in turn, a block of each at a time (the avx2 Q4_K
 * streams tiles gained only so, not super-block by super-block), read
 * without software prefetches (moek_gemm_slot.streams); c[p] the bits
 * kqkernel gives for panel p (its int32 sums exact, its f32 steps the same
 * per super-block). Q5_K and Q6_K have none, as on avx2. */
static inline __attribute__((always_inline)) void kqkernel_streams(const int mr, size_t sbs, const int8_t* const* rows,
                                                                   size_t nb, const uint8_t* const* panels,
                                                                   __m512 c[MOEK_AVX512_STREAMS][MOEK_AVX512_STREAMS_ROWS]) {
  const size_t bbytes = moek_kq_block_bytes(MOEK_WFORMAT_Q4_K);
  const size_t so = 32 * nb, mo = 36 * nb;
  const int8_t* q[2];
  const uint8_t* w[MOEK_AVX512_STREAMS];
  __m512 acc[MOEK_AVX512_STREAMS][2];
#pragma GCC unroll 2
  for (int r = 0; r < mr; r++) q[r] = rows[r];
#pragma GCC unroll 4
  for (int p = 0; p < MOEK_AVX512_STREAMS; p++) {
    w[p] = panels[p];
#pragma GCC unroll 2
    for (int r = 0; r < mr; r++) acc[p][r] = _mm512_setzero_ps();
  }
  size_t b = 0;
  for (size_t s = 0; s < sbs; s++) {
    const uint8_t* hdr[MOEK_AVX512_STREAMS];
    __m512i dsum[MOEK_AVX512_STREAMS][2], msum[MOEK_AVX512_STREAMS][2]; /* D and M of the super-block */
#pragma GCC unroll 4
    for (int p = 0; p < MOEK_AVX512_STREAMS; p++) {
      hdr[p] = w[p];
      w[p] += MOEK_KQ_HEADER;
#pragma GCC unroll 2
      for (int r = 0; r < mr; r++) dsum[p][r] = msum[p][r] = _mm512_setzero_si512();
    }
    const size_t b0 = b;
    for (int j = 0; j < 8; j++, b++) {
#pragma GCC unroll 4
      for (int p = 0; p < MOEK_AVX512_STREAMS; p++) {
        __m512i d0[2], d1[2];
#pragma GCC unroll 2
        for (int r = 0; r < mr; r++) d0[r] = d1[r] = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int st = 0; st < 8; st++) {
          const __m512i wv = step_codes(w[p], st, 0);
#pragma GCC unroll 2
          for (int r = 0; r < mr; r++) {
            if (st % 2)
              d1[r] = moek_dpbusd_bcast4(d1[r], wv, q[r] + b * 32 + st * 4);
            else
              d0[r] = moek_dpbusd_bcast4(d0[r], wv, q[r] + b * 32 + st * 4);
          }
        }
        const __m512i sc = bytes_i32(hdr[p] + MOEK_KQ_SCALES + 16 * j), mn = bytes_i32(hdr[p] + MOEK_KQ_MINS + 16 * j);
#pragma GCC unroll 2
        for (int r = 0; r < mr; r++) {
          dsum[p][r] = _mm512_add_epi32(dsum[p][r], _mm512_mullo_epi32(_mm512_add_epi32(d0[r], d1[r]), sc));
          msum[p][r] = _mm512_add_epi32(msum[p][r], _mm512_madd_epi16(moek_bcast4_zmm(q[r] + mo + 4 * b), mn));
        }
        w[p] += bbytes;
      }
    }
#pragma GCC unroll 4
    for (int p = 0; p < MOEK_AVX512_STREAMS; p++) {
      const __m512 d = _mm512_cvtph_ps(_mm256_load_si256((const __m256i*)hdr[p]));
      const __m512 dmin = _mm512_cvtph_ps(_mm256_load_si256((const __m256i*)(hdr[p] + 32)));
#pragma GCC unroll 2
      for (int r = 0; r < mr; r++) {
        float as;
        memcpy(&as, q[r] + so + 4 * b0, 4);
        const __m512 asv = _mm512_set1_ps(as);
        acc[p][r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dsum[p][r]), _mm512_mul_ps(d, asv), acc[p][r]);
        acc[p][r] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum[p][r]), _mm512_mul_ps(dmin, asv), acc[p][r]);
      }
    }
  }
#pragma GCC unroll 4
  for (int p = 0; p < MOEK_AVX512_STREAMS; p++)
#pragma GCC unroll 2
    for (int r = 0; r < mr; r++) c[p][r] = acc[p][r];
}

/* 16 signed scale bytes (one Q6_K group's) as int32 */
static inline __attribute__((always_inline)) __m512i sbytes_i32(const uint8_t* p) {
  return _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i*)p));
}

static inline __attribute__((always_inline)) void kq6kernel(const int mr, const int far, size_t sbs,
                                                            const int8_t* const* rows,
                                                            size_t nb, const uint8_t* w, const char* next,
                                                            const char* next_end, __m512 c[MRK_MAX]) {
  const size_t bbytes = moek_kq_block_bytes(MOEK_WFORMAT_Q6_K), so = 32 * nb;
  const size_t ho = MOEK_Q8_ROW_BYTES(32 * nb);
  const int8_t* q[MRK_MAX];
  __m512 acc[MRK_MAX];
#pragma GCC unroll 6
  for (int r = 0; r < mr; r++) q[r] = rows[r], acc[r] = _mm512_setzero_ps();
  moek_next_pace pace = moek_next_pace_of(next, next_end, nb); /* next_panel.h: a step per block */
  size_t b = 0;
  for (size_t s = 0; s < sbs; s++) {
    const uint8_t* hdr = w;
#pragma GCC unroll 5
    for (int l = 0; l < 5; l++) _mm_prefetch((const char*)w + 64 * l + PREFETCH_BYTES(mr, far), _MM_HINT_T0);
    w += MOEK_KQ_HEADER;
    __m512i dsum[MRK_MAX]; /* D of the super-block */
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++) dsum[r] = _mm512_setzero_si512();
    const size_t b0 = b;
    for (int j = 0; j < 8; j++, b++, w += bbytes) {
      __m512i lo[MRK_MAX], hi[MRK_MAX]; /* from the halves' offsets: the dots of q - 32 */
#pragma GCC unroll 6
      for (int r = 0; r < mr; r++) {
        __asm__("" : "+r"(q[r])); /* see kqkernel */
        int32_t off[2];
        memcpy(off, q[r] + ho + 8 * b, 8);
        lo[r] = _mm512_set1_epi32(off[0]), hi[r] = _mm512_set1_epi32(off[1]);
      }
#pragma GCC unroll 8
      for (int st = 0; st < 8; st++) {
        if (st % 2 == 0) _mm_prefetch((const char*)w + st * 32 + PREFETCH_BYTES(mr, far), _MM_HINT_T0);
        if (st % 4 == 1) _mm_prefetch((const char*)w + 256 + st * 16 + PREFETCH_BYTES(mr, far), _MM_HINT_T0);
        const __m512i wv = step_codes6(w, st);
#pragma GCC unroll 6
        for (int r = 0; r < mr; r++) {
          if (st < 4)
            lo[r] = moek_dpbusd_bcast4(lo[r], wv, q[r] + b * 32 + st * 4);
          else
            hi[r] = moek_dpbusd_bcast4(hi[r], wv, q[r] + b * 32 + st * 4);
        }
      }
      moek_next_step(&pace);
      const __m512i sc_lo = sbytes_i32(hdr + MOEK_KQ_SCALES + 32 * j);
      const __m512i sc_hi = sbytes_i32(hdr + MOEK_KQ_SCALES + 32 * j + 16);
#pragma GCC unroll 6
      for (int r = 0; r < mr; r++)
        dsum[r] = _mm512_add_epi32(dsum[r], _mm512_add_epi32(_mm512_mullo_epi32(lo[r], sc_lo),
                                                             _mm512_mullo_epi32(hi[r], sc_hi)));
    }
    const __m512 d = _mm512_cvtph_ps(_mm256_load_si256((const __m256i*)hdr));
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++) {
      float as;
      memcpy(&as, q[r] + so + 4 * b0, 4);
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dsum[r]), _mm512_mul_ps(d, _mm512_set1_ps(as)), acc[r]);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < mr; r++) c[r] = acc[r];
}

typedef void (*kqukernel_fn)(size_t sbs, const int8_t* const* rows, size_t nb, const uint8_t* w, const char* next,
                             const char* next_end, __m512 c[MRK_MAX]);

/* ukernel MR of a format; PF is empty for the far decode prefetch, _pf2k for the near one */
#define MOEK_KQUK(MR, FAR, PF, Q5, fmt)                                                                             \
  static void moek_##fmt##_gemm_ukernel_##MR##x16##PF##__avx512vnni(size_t sbs, const int8_t* const* rows, size_t nb, \
                                                                     const uint8_t* w, const char* next,             \
                                                                     const char* next_end, __m512 c[MRK_MAX]) {      \
    kqkernel(MR, FAR, Q5, sbs, rows, nb, w, next, next_end, c);                                                       \
  }
#define MOEK_KQUK_ALL(Q5, fmt)                                                                                     \
  MOEK_KQUK(1, 1, , Q5, fmt) MOEK_KQUK(2, 1, , Q5, fmt) MOEK_KQUK(1, 0, _pf2k, Q5, fmt) MOEK_KQUK(2, 0, _pf2k, Q5, fmt) \
  MOEK_KQUK(3, 1, , Q5, fmt) MOEK_KQUK(4, 1, , Q5, fmt) MOEK_KQUK(5, 1, , Q5, fmt) MOEK_KQUK(6, 1, , Q5, fmt)
MOEK_KQUK_ALL(0, q4_k)
MOEK_KQUK_ALL(1, q5_k)
#define MOEK_KQ6UK(MR, FAR, PF)                                                                                   \
  static void moek_q6_k_gemm_ukernel_##MR##x16##PF##__avx512vnni(size_t sbs, const int8_t* const* rows, size_t nb, \
                                                                 const uint8_t* w, const char* next,             \
                                                                 const char* next_end, __m512 c[MRK_MAX]) {      \
    kq6kernel(MR, FAR, sbs, rows, nb, w, next, next_end, c);                                                       \
  }
MOEK_KQ6UK(1, 1, )
MOEK_KQ6UK(2, 1, )
MOEK_KQ6UK(1, 0, _pf2k)
MOEK_KQ6UK(2, 0, _pf2k)
MOEK_KQ6UK(3, 1, )
MOEK_KQ6UK(4, 1, )
MOEK_KQ6UK(5, 1, )
MOEK_KQ6UK(6, 1, )

static inline __attribute__((always_inline)) void kq_dots(const kqukernel_fn uk[MRK_MAX], size_t mr, size_t k,
                                                          const void* const* rows, const void* w, const void* next,
                                                          size_t next_bytes, __m512 c[MRK_MAX]) {
  uk[mr - 1](k / MOEK_QK_K, (const int8_t* const*)rows, moek_record_blocks(k), w, next,
             moek_tile_next_end(next, next_bytes), c);
}

static inline __attribute__((always_inline)) void kq_gateup_tile(const kqukernel_fn uk[MRK_MAX],
                                                                 const moek_gateup_tile* t) {
  __m512 c[MRK_MAX];
  kq_dots(uk, t->mr, t->k, t->a, t->w, t->next, t->next_bytes, c);
  moek_zmm_gateup_store(t, c);
}

static inline __attribute__((always_inline)) void kq_down_tile(const kqukernel_fn uk[MRK_MAX], const moek_down_tile* t) {
  __m512 c[MRK_MAX];
  kq_dots(uk, t->mr, t->k, t->a, t->w, t->next, t->next_bytes, c);
  moek_zmm_down_store(t, c);
}

/* the avx512_vnni slots' tiles, and the amx table's (the same but for the
 * decode prefetch: _pf2k) */
#define MOEK_KQ_TILES(fmt)                                                                                        \
  static const kqukernel_fn fmt##_uk[MRK_MAX] = {                                                                 \
      moek_##fmt##_gemm_ukernel_1x16__avx512vnni, moek_##fmt##_gemm_ukernel_2x16__avx512vnni,                     \
      moek_##fmt##_gemm_ukernel_3x16__avx512vnni, moek_##fmt##_gemm_ukernel_4x16__avx512vnni,                     \
      moek_##fmt##_gemm_ukernel_5x16__avx512vnni, moek_##fmt##_gemm_ukernel_6x16__avx512vnni};                    \
  static const kqukernel_fn fmt##_uk_pf2k[MRK_MAX] = {                                                            \
      moek_##fmt##_gemm_ukernel_1x16_pf2k__avx512vnni, moek_##fmt##_gemm_ukernel_2x16_pf2k__avx512vnni,           \
      moek_##fmt##_gemm_ukernel_3x16__avx512vnni,      moek_##fmt##_gemm_ukernel_4x16__avx512vnni,                \
      moek_##fmt##_gemm_ukernel_5x16__avx512vnni,      moek_##fmt##_gemm_ukernel_6x16__avx512vnni};               \
  void moek_##fmt##_gemm_gateup_6x16__avx512vnni(const moek_gateup_tile* t) { kq_gateup_tile(fmt##_uk, t); }     \
  void moek_##fmt##_gemm_down_6x16__avx512vnni(const moek_down_tile* t) { kq_down_tile(fmt##_uk, t); }           \
  void moek_##fmt##_gemm_gateup_6x16_pf2k__avx512vnni(const moek_gateup_tile* t) { kq_gateup_tile(fmt##_uk_pf2k, t); } \
  void moek_##fmt##_gemm_down_6x16_pf2k__avx512vnni(const moek_down_tile* t) { kq_down_tile(fmt##_uk_pf2k, t); }
MOEK_KQ_TILES(q4_k)
MOEK_KQ_TILES(q5_k)
MOEK_KQ_TILES(q6_k)

/* Q4_K's streams tiles (moek_gemm_slot.streams): the 1- and 2-row loops,
 * and the dots q_step_avx512.h's streams wrappers take (the super-block is
 * the group) */
static void moek_q4_k_gemm_ukernel_1x16s4__avx512vnni(size_t sbs, const int8_t* const* rows, size_t nb,
                                                      const uint8_t* const* w,
                                                      __m512 c[MOEK_AVX512_STREAMS][MOEK_AVX512_STREAMS_ROWS]) {
  kqkernel_streams(1, sbs, rows, nb, w, c);
}
static void moek_q4_k_gemm_ukernel_2x16s4__avx512vnni(size_t sbs, const int8_t* const* rows, size_t nb,
                                                      const uint8_t* const* w,
                                                      __m512 c[MOEK_AVX512_STREAMS][MOEK_AVX512_STREAMS_ROWS]) {
  kqkernel_streams(2, sbs, rows, nb, w, c);
}
static void q4_k_streams_dots(size_t mr, size_t k, int32_t group, const void* const* rows, const uint8_t* const* w,
                              __m512 c[MOEK_AVX512_STREAMS][MOEK_AVX512_STREAMS_ROWS]) {
  (void)group;
  (mr == 1 ? moek_q4_k_gemm_ukernel_1x16s4__avx512vnni : moek_q4_k_gemm_ukernel_2x16s4__avx512vnni)(
      k / MOEK_QK_K, (const int8_t* const*)rows, moek_record_blocks(k), w, c);
}
void moek_q4_k_gemm_gateup_2x16s4__avx512vnni(const moek_gateup_tile* t) {
  moek_zmm_q_gateup_streams(q4_k_streams_dots, t);
}
void moek_q4_k_gemm_down_2x16s4__avx512vnni(const moek_down_tile* t) { moek_zmm_q_down_streams(q4_k_streams_dots, t); }
