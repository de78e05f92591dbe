/* SVE tile kernels for f32 and f16 weights, vector-length agnostic, on the
 * neon table's 16-column panels (pack_neon.c: per k the 16 values in column
 * order), so experts packed for either table are the same bytes.
 *
 * A panel row of 16 columns is 16 / VL vectors: 2 at 256 bits, 1 at 512
 * (and at 1024 or 2048 bits one vector predicated to 16 lanes). The tile
 * is MR x 16 (MR <= 4): 2 MR accumulators at 256 bits, MR at 512. A rows
 * are read 4 k at a time (ld1rqw: the same 4 values in every 128-bit
 * segment) and each k multiplies the panel's vectors by one of them (fmla
 * by element), as the neon kernel does. f16 weights load zero-extended
 * into 32-bit lanes (ld1h) and fcvt widens their low halves.
 *
 * Where it differs from the neon kernel: per k, 16 / VL weight loads and
 * MR * 16 / VL fmla instead of 4 and 4 MR; at 128 bits it would execute the
 * neon kernel's counts. So the table requires vectors of 256 bits or more
 * (MOEK_CPU_ARM_SVE_256), and a thread that the kernel gave shorter vectors
 * than the probe saw (prctl PR_SVE_SET_VL) runs the neon kernel on the same
 * panels. bf16 weights stay with neon_bf16 (bfmmla) and neon: a table
 * ranks above them for every slot it fills, and fmla on widened bf16 is not
 * faster than bfmmla where both exist. */
#include <arm_neon.h>
#include <arm_sve.h>

#include "../neon/epilogue_neon.h"
#include "../neon/gemm_neon.h"

#define PREFETCH_BYTES 1024

/* vector j (of nv) of the 16 weights of k, as f32; fmt: 0 f32, 2 f16 */
static inline __attribute__((always_inline)) svfloat32_t load_w(svbool_t pg, const void* w, size_t k, int fmt,
                                                                int j, int lanes) {
  if (fmt == 0) return svld1_f32(pg, (const float*)w + k * 16 + (size_t)j * lanes);
  const svuint32_t h = svld1uh_u32(pg, (const uint16_t*)w + k * 16 + (size_t)j * lanes);
  return svcvt_f32_f16_x(pg, svreinterpret_f16_u32(h));
}

/* c[r][j] += b[j] * a_r[lane]: sizeless vectors cannot be arrays, so the
 * 8 accumulators are named c<r><j> and the rows and vectors past mr and nv
 * are dead code the compiler drops. */
#define MOEK_SVE_ROW(r, L)                                                      \
  if (mr > r) {                                                                 \
    c##r##0 = svmla_lane_f32(c##r##0, b0, a##r, L);                             \
    if (nv > 1) c##r##1 = svmla_lane_f32(c##r##1, b1, a##r, L);                 \
  }
#define MOEK_SVE_K(kk, L)                                                                  \
  do {                                                                                     \
    const svfloat32_t b0 = load_w(pg, w, kk, fmt, 0, lanes);                               \
    const svfloat32_t b1 = nv > 1 ? load_w(pg, w, kk, fmt, 1, lanes) : svdup_n_f32(0.0f);  \
    MOEK_SVE_ROW(0, L) MOEK_SVE_ROW(1, L) MOEK_SVE_ROW(2, L) MOEK_SVE_ROW(3, L)            \
  } while (0)
#define MOEK_SVE_STORE(r)                                                                         \
  if (mr > r) {                                                                                   \
    svst1_f32(pg, out + r * 16, c##r##0);                                                         \
    if (nv > 1) svst1_f32(pg, out + r * 16 + lanes, c##r##1);                                     \
  }

/* mr rows x one panel over all of K into out[r * 16 + n]; nv (1 or 2)
 * vectors of 16 / nv lanes per panel row */
static inline __attribute__((always_inline)) void ukernel(const int mr, const int nv, const int fmt, size_t K,
                                                          const float* const* a, const void* w, float* out) {
  const int lanes = 16 / nv;
  const svbool_t pg = svwhilelt_b32(0, lanes);
  const svbool_t all = svptrue_b32();
  const size_t kbytes = fmt ? 32 : 64;
  svfloat32_t c00 = svdup_n_f32(0.0f), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  const float* r0 = a[0];
  const float* r1 = mr > 1 ? a[1] : r0;
  const float* r2 = mr > 2 ? a[2] : r0;
  const float* r3 = mr > 3 ? a[3] : r0;
  size_t k = 0;
  for (; k + 4 <= K; k += 4) {
    __builtin_prefetch((const char*)w + k * kbytes + PREFETCH_BYTES);
    __builtin_prefetch((const char*)w + k * kbytes + PREFETCH_BYTES + 64);
    const svfloat32_t a0 = svld1rq_f32(all, r0 + k);
    const svfloat32_t a1 = mr > 1 ? svld1rq_f32(all, r1 + k) : a0;
    const svfloat32_t a2 = mr > 2 ? svld1rq_f32(all, r2 + k) : a0;
    const svfloat32_t a3 = mr > 3 ? svld1rq_f32(all, r3 + k) : a0;
    MOEK_SVE_K(k, 0);
    MOEK_SVE_K(k + 1, 1);
    MOEK_SVE_K(k + 2, 2);
    MOEK_SVE_K(k + 3, 3);
  }
  for (; k < K; k++) {
    const svfloat32_t a0 = svdup_n_f32(r0[k]), a1 = svdup_n_f32(r1[k]), a2 = svdup_n_f32(r2[k]),
                      a3 = svdup_n_f32(r3[k]);
    MOEK_SVE_K(k, 0);
  }
  MOEK_SVE_STORE(0) MOEK_SVE_STORE(1) MOEK_SVE_STORE(2) MOEK_SVE_STORE(3)
}

typedef void (*ukernel_fn)(size_t K, const float* const* a, const void* w, float* out);

#define MOEK_UK(MR, NV, FMT, NAME) \
  static void NAME(size_t K, const float* const* a, const void* w, float* out) { ukernel(MR, NV, FMT, K, a, w, out); }
#define MOEK_UK_NV(MR, FMT, name)                                 \
  MOEK_UK(MR, 2, FMT, moek_##name##_gemm_ukernel_##MR##x16__sve256) \
  MOEK_UK(MR, 1, FMT, moek_##name##_gemm_ukernel_##MR##x16__sve512)
#define MOEK_UK_FMT(FMT, name) MOEK_UK_NV(1, FMT, name) MOEK_UK_NV(2, FMT, name) MOEK_UK_NV(3, FMT, name) MOEK_UK_NV(4, FMT, name)
MOEK_UK_FMT(0, f32)
MOEK_UK_FMT(2, f16)

#define MOEK_UK_ROW(name, vl) \
  {moek_##name##_gemm_ukernel_1x16__##vl, moek_##name##_gemm_ukernel_2x16__##vl, moek_##name##_gemm_ukernel_3x16__##vl, moek_##name##_gemm_ukernel_4x16__##vl}
/* [f32, f16][vector length: 256, 512 and more][mr - 1] */
static const ukernel_fn ukernels[2][2][4] = {
    {MOEK_UK_ROW(f32, sve256), MOEK_UK_ROW(f32, sve512)},
    {MOEK_UK_ROW(f16, sve256), MOEK_UK_ROW(f16, sve512)},
};

/* mr rows x one panel into c (as the neon epilogue reads a tile), or 0
 * where this thread's vectors are shorter than 256 bits: then the caller
 * runs the neon kernel on the same panel. */
static inline __attribute__((always_inline)) int dots(const int fmt, size_t mr, size_t k, const void* const* a,
                                                      const void* w, float32x4_t c[4][4]) {
  const uint64_t vw = svcntw(); /* read per call: the kernel may give each thread its own length */
  if (vw < 8) return 0;
  float out[4 * 16];
  ukernels[fmt != 0][vw > 8][mr - 1](k, (const float* const*)a, w, out);
  for (size_t r = 0; r < mr; r++)
    for (size_t q = 0; q < 4; q++) c[r][q] = vld1q_f32(out + r * 16 + 4 * q);
  return 1;
}

static inline __attribute__((always_inline)) void gateup_tile(const int fmt, const moek_gateup_tile* t) {
  float32x4_t c[4][4];
  if (dots(fmt, t->mr, t->k, t->a, t->w, c))
    moek_neon_gateup_tile_out(t, c);
  else
    (fmt ? moek_f16_gemm_gateup_4x16__neon : moek_f32_gemm_gateup_4x16__neon)(t);
}

static inline __attribute__((always_inline)) void down_tile(const int fmt, const moek_down_tile* t) {
  float32x4_t c[4][4];
  if (dots(fmt, t->mr, t->k, t->a, t->w, c))
    moek_neon_down_tile_out(t, c);
  else
    (fmt ? moek_f16_gemm_down_4x16__neon : moek_f32_gemm_down_4x16__neon)(t);
}

void moek_f32_gemm_gateup_4x16__sve(const moek_gateup_tile* t) { gateup_tile(0, t); }
void moek_f16_gemm_gateup_4x16__sve(const moek_gateup_tile* t) { gateup_tile(2, t); }
void moek_f32_gemm_down_4x16__sve(const moek_down_tile* t) { down_tile(0, t); }
void moek_f16_gemm_down_4x16__sve(const moek_down_tile* t) { down_tile(2, t); }
