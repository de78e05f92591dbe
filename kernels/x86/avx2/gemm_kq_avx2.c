/* AVX2 expert GEMMs on the x86 K-quant panels (pack_kq_avx2.c) and int8
 * activation records (MOEK_Q8_ROW_BYTES; Q6_K: _HALVES): Q4_K, Q5_K, Q6_K.
 *
 * A block's dots are the Q4 ones (q_block_avx2.h): vpmaddubsw of the
 * unsigned codes by a row's broadcast activations, pairs added in 16 bits
 * and widened once per block (Q4_K, codes 0..15) or every 4 steps (Q5_K,
 * 0..31, whose fifth bits are spread from the block's bit plane). The
 * codes carry no offset, so nothing comes off the dot.
 *
 * The records hold one activation scale A per super-block (the K-quants'
 * super-block rule, moek_kernel.h), so a super-block stays in int32 up to
 * its last step, as the reference's dot_row_kquant: the widening vpmaddwd
 * multiplies each column's 16-bit pair sums by its sub-block scale byte
 * (in place of 1), adding sc_j S_j into D, and a vpmaddwd of the block's
 * activation sum by the min bytes adds m_j sum_j into M; then per
 * super-block acc = fma(D, d A, acc) and acc = fma(M, -(dmin A), acc), the
 * latter as fnmadd of dmin A, the same rounding: the tables agree bit for
 * bit before the activation.
 *
 * Q6_K: codes 0..63 (the block in the order AVX-512 reads too: step
 * pairs of nibbles, 4-step groups of crumbs), so a 16-bit lane holds 2
 * steps (4 * 63 * 127 < 2^15). Each group of 16 (steps 0-3, 4-7) has its own dot, which
 * starts at the record's offset of that half (-32 times its activation
 * sum): the dot of q - 32; times the group's int8 scale (vpmulld) it adds
 * to the super-block's D, and acc = fma(D, d A, acc) once per super-block.
 * Three rows per tile, as the others: D and the accumulators then live in
 * L1 between blocks (they are touched once per block or super-block), which
 * ran 1.05-1.2x faster at T = 16-512 than two rows kept in registers. */
#include <immintrin.h>
#include <string.h>

#include "epilogue_avx2.h"
#include "gemm_avx2.h"
#include "moek_kq_panel.h"
#include "moek_quant.h"
#include "next_panel.h"
#include "q_block_avx2.h"

#define MRK_MAX 3 /* the K-quant slots' mr (table_avx2.c), below the Q tiles' MOEK_AVX2_Q_MR */
#define MOEK_KQ_XBLOCK 512u /* a block of Q5_K's expanded panel: 8 steps of 64 code bytes */

/* 8 bytes of the header (one sub-block's scales or mins for slots s0..s0+7) as int32 */
static inline __attribute__((always_inline)) __m256i bytes_i32(const uint8_t* p) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)p));
}
/* the same in both 16-bit halves of each lane (vpmaddwd's multiplier) */
static inline __attribute__((always_inline)) __m256i bytes_i16x2(const uint8_t* p) {
  const __m256i v = bytes_i32(p);
  return _mm256_or_si256(v, _mm256_slli_epi32(v, 16));
}

/* acc += D d A per super-block, the reference's fma(D, d * A, acc), for
 * columns 0-7 and 8-15 (D in int32, d the super-block's f16 scales) */
static inline __attribute__((always_inline)) void super_fma(__m256 acc[2], const __m256i D[2], const uint8_t* d16,
                                                            __m256 asv) {
  const __m256 d0 = _mm256_cvtph_ps(_mm_load_si128((const __m128i*)d16));
  const __m256 d1 = _mm256_cvtph_ps(_mm_load_si128((const __m128i*)(d16 + 16)));
  acc[0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(D[0]), _mm256_mul_ps(d0, asv), acc[0]);
  acc[1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(D[1]), _mm256_mul_ps(d1, asv), acc[1]);
}

/* Block j of a super-block (header hdr, codes at w; b its index in the
 * records q) into the super-block's D and M (dsum, msum). prefetch: ahead
 * in the panel stream as a one-panel tile reads (the streams tiles read
 * without). */
static inline __attribute__((always_inline)) void kq_block(const int mr, const int q5, const int xp,
                                                           const int prefetch, const uint8_t* hdr, const uint8_t* w,
                                                           const int8_t* const* q, size_t nb, size_t b, int j,
                                                           __m256i dsum[][2], __m256i msum[][2]) {
  const moek_nib_kind kind = xp ? MOEK_NIB_X5 : q5 ? MOEK_NIB_Q5 : MOEK_NIB_Q4; /* xp: Q5_K's only */
  const size_t mo = 36 * nb;
  const uint8_t* sc = hdr + MOEK_KQ_SCALES + 16 * j;
  const uint8_t* mn = hdr + MOEK_KQ_MINS + 16 * j;
  const __m256i scm[2] = {bytes_i16x2(sc), bytes_i16x2(sc + 8)};
  moek_q_block_nibbles_mul(mr, kind, prefetch, w, q, b, scm, dsum);
  if (prefetch && q5 && !xp) _mm_prefetch((const char*)w + 256 + MOEK_AVX2_Q_PREFETCH, _MM_HINT_T0); /* the bit plane's line */
  const __m256i mn0 = bytes_i32(mn), mn1 = bytes_i32(mn + 8);
#pragma GCC unroll 4
  for (int r = 0; r < mr; r++) {
    /* the sum's low 16 bits (|sum| < 2^15) times the min byte; its high half meets 0 */
    const __m256i sum = moek_bcast4_ymm(q[r] + mo + 4 * b);
    msum[r][0] = _mm256_add_epi32(msum[r][0], _mm256_madd_epi16(sum, mn0));
    msum[r][1] = _mm256_add_epi32(msum[r][1], _mm256_madd_epi16(sum, mn1));
  }
}

/* The super-block's D and M into acc: fma(D, d A), fnmadd(M, dmin A) (b0: its first block) */
static inline __attribute__((always_inline)) void kq_super_end(const int mr, const uint8_t* hdr,
                                                               const int8_t* const* q, size_t nb, size_t b0,
                                                               __m256i dsum[][2], __m256i msum[][2], __m256 acc[][2]) {
  const __m256 m0 = _mm256_cvtph_ps(_mm_load_si128((const __m128i*)(hdr + 32)));
  const __m256 m1 = _mm256_cvtph_ps(_mm_load_si128((const __m128i*)(hdr + 48)));
#pragma GCC unroll 4
  for (int r = 0; r < mr; r++) {
    float as;
    memcpy(&as, q[r] + 32 * nb + 4 * b0, 4);
    const __m256 asv = _mm256_set1_ps(as);
    super_fma(acc[r], dsum[r], hdr, asv);
    acc[r][0] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum[r][0]), _mm256_mul_ps(m0, asv), acc[r][0]);
    acc[r][1] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum[r][1]), _mm256_mul_ps(m1, asv), acc[r][1]);
  }
}

/* mr rows x one panel over all of K (sbs super-blocks): c[r][0] columns
 * 0-7, c[r][1] 8-15. Row r's record is one base register, rows[r]; the
 * empty asm per block keeps GCC from hoisting its derived addresses. */
static inline __attribute__((always_inline)) void kqkernel(const int mr, const int q5, const int xp, size_t sbs,
                                                           const int8_t* const* rows, size_t nb, const uint8_t* w,
                                                           const char* next, const char* next_end,
                                                           __m256 c[MRK_MAX][2]) {
  const size_t bbytes = xp ? MOEK_KQ_XBLOCK : moek_kq_block_bytes(q5 ? MOEK_WFORMAT_Q5_K : MOEK_WFORMAT_Q4_K);
  const int8_t* q[MRK_MAX];
  __m256 acc[MRK_MAX][2];
#pragma GCC unroll 4
  for (int r = 0; r < mr; r++) q[r] = rows[r], acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  moek_next_pace pace = moek_next_pace_of(next, next_end, nb); /* next_panel.h: a step per block */
  size_t b = 0;
  for (size_t s = 0; s < sbs; s++) {
    const uint8_t* hdr = w;
#pragma GCC unroll 5
    for (int l = 0; l < 5; l++) _mm_prefetch((const char*)w + 64 * l + MOEK_AVX2_Q_PREFETCH, _MM_HINT_T0);
    w += MOEK_KQ_HEADER;
    __m256i dsum[MRK_MAX][2], msum[MRK_MAX][2]; /* D and M of the super-block */
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++)
      dsum[r][0] = dsum[r][1] = msum[r][0] = msum[r][1] = _mm256_setzero_si256();
    const size_t b0 = b;
    for (int j = 0; j < 8; j++, b++, w += bbytes) {
#pragma GCC unroll 4
      for (int r = 0; r < mr; r++) __asm__("" : "+r"(q[r])); /* see above */
      kq_block(mr, q5, xp, 1, hdr, w, q, nb, b, j, dsum, msum);
      moek_next_step(&pace);
    }
    kq_super_end(mr, hdr, q, nb, b0, dsum, msum, acc);
  }
#pragma GCC unroll 4
  for (int r = 0; r < mr; r++) c[r][0] = acc[r][0], c[r][1] = acc[r][1];
}

/* 32 of Q6_K's codes of step st (0..63): half h (columns 0-7, 8-15) of the
 * step's pair of nibble bytes and of its group of crumbs (pack_kq_avx2.c).
 * The crumb of step s of the group goes to bits 4-5 by a 16-bit shift (left
 * 4, 2, none, right 2); what crosses into the neighbouring byte lands
 * outside the mask. */
static inline __attribute__((always_inline)) __m256i half_codes6(const uint8_t* blk, int st, int h) {
  const __m256i pair = _mm256_load_si256((const __m256i*)(blk + 64 * (st / 2) + 32 * h));
  const __m256i nib = _mm256_and_si256(st % 2 ? _mm256_srli_epi16(pair, 4) : pair, _mm256_set1_epi8(0x0f));
  const __m256i crumbs = _mm256_load_si256((const __m256i*)(blk + 256 + 64 * (st / 4) + 32 * h));
  const int s = st % 4;
  const __m256i hi = s == 0   ? _mm256_slli_epi16(crumbs, 4)
                     : s == 1 ? _mm256_slli_epi16(crumbs, 2)
                     : s == 2 ? crumbs
                              : _mm256_srli_epi16(crumbs, 2);
  return _mm256_or_si256(nib, _mm256_and_si256(hi, _mm256_set1_epi8(0x30)));
}

/* Q6_K's step st for columns 0-7 (lo) and 8-15 (hi) */
static inline __attribute__((always_inline)) void step_codes6(const uint8_t* blk, int st, __m256i* lo, __m256i* hi) {
  *lo = half_codes6(blk, st, 0);
  *hi = half_codes6(blk, st, 1);
}

/* 8 signed scale bytes (half of one Q6_K group's 16) as int32 */
static inline __attribute__((always_inline)) __m256i sbytes_i32(const uint8_t* p) {
  return _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)p));
}

#define MR6_MAX 3 /* see above */

static inline __attribute__((always_inline)) void kq6kernel(const int mr, size_t sbs, const int8_t* const* rows,
                                                            size_t nb, const uint8_t* w, const char* next,
                                                            const char* next_end, __m256 c[MRK_MAX][2]) {
  const size_t bbytes = moek_kq_block_bytes(MOEK_WFORMAT_Q6_K), so = 32 * nb;
  const size_t ho = MOEK_Q8_ROW_BYTES(32 * nb);
  const __m256i ones = _mm256_set1_epi16(1);
  const int8_t* q[MR6_MAX];
  __m256 acc[MR6_MAX][2];
#pragma GCC unroll 4
  for (int r = 0; r < mr; r++) q[r] = rows[r], acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  moek_next_pace pace = moek_next_pace_of(next, next_end, nb); /* next_panel.h: a step per block */
  size_t b = 0;
  for (size_t s = 0; s < sbs; s++) {
    const uint8_t* hdr = w;
#pragma GCC unroll 5
    for (int l = 0; l < 5; l++) _mm_prefetch((const char*)w + 64 * l + MOEK_AVX2_Q_PREFETCH, _MM_HINT_T0);
    w += MOEK_KQ_HEADER;
    __m256i dsum[MR6_MAX][2]; /* D of the super-block */
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++) dsum[r][0] = dsum[r][1] = _mm256_setzero_si256();
    const size_t b0 = b;
    for (int j = 0; j < 8; j++, b++, w += bbytes) {
      const uint8_t* sc = hdr + MOEK_KQ_SCALES + 32 * j; /* group 2j, then 2j + 1 */
#pragma GCC unroll 4
      for (int r = 0; r < mr; r++) __asm__("" : "+r"(q[r])); /* see kqkernel */
#pragma GCC unroll 2
      for (int g = 0; g < 2; g++) {
        __m256i dot[MR6_MAX][2]; /* from the half's offset: the dot of q - 32 */
#pragma GCC unroll 4
        for (int r = 0; r < mr; r++) {
          int32_t off;
          memcpy(&off, q[r] + ho + 8 * b + 4 * g, 4);
          dot[r][0] = dot[r][1] = _mm256_set1_epi32(off);
        }
#pragma GCC unroll 2
        for (int p = 0; p < 2; p++) {
          __m256i s16[MR6_MAX][2];
#pragma GCC unroll 4
          for (int r = 0; r < mr; r++) s16[r][0] = s16[r][1] = _mm256_setzero_si256();
#pragma GCC unroll 2
          for (int st = 4 * g + 2 * p; st < 4 * g + 2 * p + 2; st++) {
            if (st % 2 == 0) _mm_prefetch((const char*)w + st * 32 + MOEK_AVX2_Q_PREFETCH, _MM_HINT_T0);
            if (st % 4 == 1) _mm_prefetch((const char*)w + 256 + st * 16 + MOEK_AVX2_Q_PREFETCH, _MM_HINT_T0);
            __m256i lo, hi;
            step_codes6(w, st, &lo, &hi);
#pragma GCC unroll 4
            for (int r = 0; r < mr; r++) {
              const __m256i av = moek_bcast4_ymm(q[r] + b * 32 + st * 4);
              s16[r][0] = _mm256_add_epi16(s16[r][0], _mm256_maddubs_epi16(lo, av));
              s16[r][1] = _mm256_add_epi16(s16[r][1], _mm256_maddubs_epi16(hi, av));
              __asm__("" : "+x"(s16[r][0]), "+x"(s16[r][1])); /* one chain (q_block_avx2.h) */
            }
          }
#pragma GCC unroll 4
          for (int r = 0; r < mr; r++) {
            dot[r][0] = _mm256_add_epi32(dot[r][0], _mm256_madd_epi16(s16[r][0], ones));
            dot[r][1] = _mm256_add_epi32(dot[r][1], _mm256_madd_epi16(s16[r][1], ones));
          }
        }
        const __m256i sc0 = sbytes_i32(sc + 16 * g), sc1 = sbytes_i32(sc + 16 * g + 8);
#pragma GCC unroll 4
        for (int r = 0; r < mr; r++) {
          dsum[r][0] = _mm256_add_epi32(dsum[r][0], _mm256_mullo_epi32(dot[r][0], sc0));
          dsum[r][1] = _mm256_add_epi32(dsum[r][1], _mm256_mullo_epi32(dot[r][1], sc1));
        }
      }
      moek_next_step(&pace);
    }
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++) {
      float as;
      memcpy(&as, q[r] + so + 4 * b0, 4);
      super_fma(acc[r], dsum[r], hdr, _mm256_set1_ps(as));
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < mr; r++) c[r][0] = acc[r][0], c[r][1] = acc[r][1];
}

/* mr rows (the table: 1) x MOEK_AVX2_STREAMS panels of Q4_K over all of K, a
 * block of each panel in turn, read without prefetches
 * (moek_gemm_slot.streams; gemm_q_avx2.c's qkernel_streams): c[p][r] the
 * bits kqkernel gives for panel p. The super-blocks' D and M of the four
 * panels outnumber the registers and live in L1 between their blocks.
 * Q5_K and Q6_K have none: their heavier decode (the fifth bits; the
 * crumbs) ran as fast or slower in four streams (docs/performance.md,
 * "Decode in four streams"). */
static inline __attribute__((always_inline)) void kqkernel_streams(const int mr, size_t sbs, const int8_t* const* rows,
                                                                   size_t nb, const uint8_t* const* panels,
                                                                   __m256 c[MOEK_AVX2_STREAMS][MOEK_AVX2_STREAMS_ROWS][2]) {
  const size_t bbytes = moek_kq_block_bytes(MOEK_WFORMAT_Q4_K), sbytes = MOEK_KQ_HEADER + 8 * bbytes;
  const int8_t* q[MRK_MAX];
  __m256 acc[MOEK_AVX2_STREAMS][MRK_MAX][2];
#pragma GCC unroll 2
  for (int r = 0; r < mr; r++) q[r] = rows[r];
#pragma GCC unroll 4
  for (int p = 0; p < MOEK_AVX2_STREAMS; p++)
#pragma GCC unroll 2
    for (int r = 0; r < mr; r++) acc[p][r][0] = acc[p][r][1] = _mm256_setzero_ps();
  for (size_t s = 0; s < sbs; s++) {
    __m256i dsum[MOEK_AVX2_STREAMS][MRK_MAX][2], msum[MOEK_AVX2_STREAMS][MRK_MAX][2];
#pragma GCC unroll 4
    for (int p = 0; p < MOEK_AVX2_STREAMS; p++)
#pragma GCC unroll 2
      for (int r = 0; r < mr; r++)
        dsum[p][r][0] = dsum[p][r][1] = msum[p][r][0] = msum[p][r][1] = _mm256_setzero_si256();
    for (int j = 0; j < 8; j++) {
#pragma GCC unroll 2
      for (int r = 0; r < mr; r++) __asm__("" : "+r"(q[r])); /* see kqkernel */
#pragma GCC unroll 4
      for (int p = 0; p < MOEK_AVX2_STREAMS; p++) {
        const uint8_t* hdr = panels[p] + s * sbytes;
        kq_block(mr, 0, 0, 0, hdr, hdr + MOEK_KQ_HEADER + (size_t)j * bbytes, q, nb, 8 * s + (size_t)j, j, dsum[p],
                 msum[p]);
      }
    }
#pragma GCC unroll 4
    for (int p = 0; p < MOEK_AVX2_STREAMS; p++)
      kq_super_end(mr, panels[p] + s * sbytes, q, nb, 8 * s, dsum[p], msum[p], acc[p]);
  }
#pragma GCC unroll 4
  for (int p = 0; p < MOEK_AVX2_STREAMS; p++)
#pragma GCC unroll 2
    for (int r = 0; r < mr; r++) c[p][r][0] = acc[p][r][0], c[p][r][1] = acc[p][r][1];
}

typedef void (*kqukernel_fn)(size_t sbs, const int8_t* const* rows, size_t nb, const uint8_t* w, const char* next,
                             const char* next_end, __m256 c[MRK_MAX][2]);

#define MOEK_KQUK(MR, fmt, call)                                                                                   \
  static void moek_##fmt##_gemm_ukernel_##MR##x16__avx2(size_t sbs, const int8_t* const* rows, size_t nb,        \
                                                        const uint8_t* w, const char* next, const char* next_end, \
                                                        __m256 c[MRK_MAX][2]) {                                   \
    call;                                                                                                         \
  }
#define MOEK_KQUK3(fmt, call1, call2, call3) MOEK_KQUK(1, fmt, call1) MOEK_KQUK(2, fmt, call2) MOEK_KQUK(3, fmt, call3)
#define MOEK_KQ_ARGS sbs, rows, nb, w, next, next_end, c
MOEK_KQUK3(q4_k, kqkernel(1, 0, 0, MOEK_KQ_ARGS), kqkernel(2, 0, 0, MOEK_KQ_ARGS), kqkernel(3, 0, 0, MOEK_KQ_ARGS))
MOEK_KQUK3(q5_k, kqkernel(1, 1, 0, MOEK_KQ_ARGS), kqkernel(2, 1, 0, MOEK_KQ_ARGS), kqkernel(3, 1, 0, MOEK_KQ_ARGS))
MOEK_KQUK3(q6_k, kq6kernel(1, MOEK_KQ_ARGS), kq6kernel(2, MOEK_KQ_ARGS), kq6kernel(3, MOEK_KQ_ARGS))
MOEK_KQUK3(q5_k_x, kqkernel(1, 1, 1, MOEK_KQ_ARGS), kqkernel(2, 1, 1, MOEK_KQ_ARGS), kqkernel(3, 1, 1, MOEK_KQ_ARGS))

static inline __attribute__((always_inline)) void kq_dots(const kqukernel_fn uk[MRK_MAX], size_t mr, size_t k,
                                                          const void* const* rows, const void* w, const void* next,
                                                          size_t next_bytes, __m256 c[MRK_MAX][2]) {
  uk[mr - 1](k / MOEK_QK_K, (const int8_t* const*)rows, moek_record_blocks(k), w, next,
             moek_tile_next_end(next, next_bytes), c);
}

/* the ukernels of one set (q4_k, q5_k, q6_k, q5_k_x) by rows, and its tiles as fmt's tile */
#define MOEK_KQ_UKERNELS(uk)                                                                                  \
  static const kqukernel_fn uk##_uk[MRK_MAX] = {moek_##uk##_gemm_ukernel_1x16__avx2,                          \
                                                moek_##uk##_gemm_ukernel_2x16__avx2,                          \
                                                moek_##uk##_gemm_ukernel_3x16__avx2};
#define MOEK_KQ_TILES(fmt, uk, tile)                                                                          \
  MOEK_KQ_UKERNELS(uk)                                                                                        \
  void moek_##fmt##_gemm_gateup_##tile##__avx2(const moek_gateup_tile* t) {                                    \
    __m256 c[MRK_MAX][2];                                                                                      \
    kq_dots(uk##_uk, t->mr, t->k, t->a, t->w, t->next, t->next_bytes, c);                                     \
    gateup_store_rows(t, (const __m256(*)[2])c);                                                              \
  }                                                                                                            \
  void moek_##fmt##_gemm_down_##tile##__avx2(const moek_down_tile* t) {                                        \
    __m256 c[MRK_MAX][2];                                                                                      \
    kq_dots(uk##_uk, t->mr, t->k, t->a, t->w, t->next, t->next_bytes, c);                                     \
    down_store_rows(t, (const __m256(*)[2])c);                                                                \
  }
/* Q4_K's streams tiles (moek_gemm_slot.streams; epilogue_avx2.h's
 * streams wrappers): its 1-row loop and its dots */
#define MOEK_Q4_K_SUK(MR)                                                                                      \
  static void moek_q4_k_gemm_ukernel_##MR##x16s4__avx2(size_t sbs, const int8_t* const* rows, size_t nb,      \
                                                        const uint8_t* const* panels,                          \
                                                        __m256 c[MOEK_AVX2_STREAMS][MOEK_AVX2_STREAMS_ROWS][2]) { \
    kqkernel_streams(MR, sbs, rows, nb, panels, c);                                                            \
  }
MOEK_Q4_K_SUK(1) /* one row: the slot's streams_rows (table_avx2.c, MOEK_AVX2_Q_STREAMS_ROWS) */
static void q4_k_streams_dots(size_t mr, size_t k, int32_t group, const void* const* rows, const void* const* w,
                              __m256 c[MOEK_AVX2_STREAMS][MOEK_AVX2_STREAMS_ROWS][2]) {
  (void)mr, (void)group; /* 1; the super-block is the group */
  moek_q4_k_gemm_ukernel_1x16s4__avx2(k / MOEK_QK_K, (const int8_t* const*)rows, moek_record_blocks(k),
                                      (const uint8_t* const*)w, c);
}
void moek_q4_k_gemm_gateup_1x16s4__avx2(const moek_gateup_tile* t) { gateup_streams_tile(q4_k_streams_dots, t); }
void moek_q4_k_gemm_down_1x16s4__avx2(const moek_down_tile* t) { down_streams_tile(q4_k_streams_dots, t); }

MOEK_KQ_TILES(q4_k, q4_k, 3x16)
MOEK_KQ_TILES(q5_k, q5_k, 3x16)
MOEK_KQ_TILES(q6_k, q6_k, 3x16)
MOEK_KQ_TILES(q5_k, q5_k_x, expanded_3x16)

/* Q5_K's expanded panels (moek_gemm_slot.expand_panel): per super-block
 * the packed header as it is, then per block 8 steps of 64 code bytes
 * (0..31; columns 0-7, then 8-15, as a step's two ymm): what the packed
 * tile decodes per step, 9 operations for its fifth bits and nibbles. The
 * expanded tile loads them and runs the same operations after, so its
 * results are the same bits, with the panel decoded once per task instead
 * of once per row group. The copy is 1.5x the packed panel and leaves L1
 * (2048 x 16 codes: 35 KB), so it only pays from about 8 rows; Q4_K's
 * decode (3 operations a step) and Q6_K's (8.5) never repaid that in
 * moek-bench (docs/performance.md), so they have no expanded slot. */
size_t moek_avx2_q5_k_expanded_bytes_of(int32_t wformat, size_t k, int32_t group, int32_t gated) {
  (void)wformat, (void)group, (void)gated;
  return k / MOEK_QK_K * (MOEK_KQ_HEADER + 8 * MOEK_KQ_XBLOCK);
}

void moek_avx2_q5_k_expand_panel(int32_t wformat, size_t k, int32_t group, int32_t gated, const void* panel,
                                 void* dst) {
  (void)wformat, (void)group, (void)gated;
  const size_t pbytes = moek_kq_block_bytes(MOEK_WFORMAT_Q5_K);
  const uint8_t* w = panel;
  uint8_t* x = dst;
  for (size_t s = 0; s < k / MOEK_QK_K; s++) {
    memcpy(x, w, MOEK_KQ_HEADER);
    w += MOEK_KQ_HEADER, x += MOEK_KQ_HEADER;
    for (int j = 0; j < 8; j++, w += pbytes, x += MOEK_KQ_XBLOCK)
      for (int st = 0; st < 8; st++) {
        __m256i lo, hi;
        moek_nib_step(MOEK_NIB_Q5, w, st, &lo, &hi);
        _mm256_store_si256((__m256i*)(x + 64 * st), lo);
        _mm256_store_si256((__m256i*)(x + 64 * st + 32), hi);
      }
  }
}
