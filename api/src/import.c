/* Imported (already quantized) expert weights: the blob layouts of
 * moek_dtype GGML_Q8_0, GGML_Q4_0, MXFP4 and FP8_E4M3 decoded, one matrix at
 * a time, into what every kernel table packs: int8 codes with one f32 scale
 * per 32 (src_dtype Q8/Q4 of moek_pack_params), or f32 values (FP8). The
 * codes and scales are the blob's own, so the three block formats are
 * stored without a rounding. docs/quantization.md has the layouts. */
#include <math.h>
#include <string.h>

#include "error.h"
#include "import.h"
#include "moek_kquant.h"
#include "moek_quant.h"

bool moek_import_dtype(int32_t d) {
  return d == MOEK_DTYPE_GGML_Q8_0 || d == MOEK_DTYPE_GGML_Q4_0 || d == MOEK_DTYPE_MXFP4 || d == MOEK_DTYPE_FP8_E4M3 ||
         moek_kquant_dtype(d);
}

/* OCP e4m3 ("fn": no infinities; S.1111.111 is NaN). */
static float fp8_e4m3_to_f32(uint8_t b) {
  const int e = (b >> 3) & 0xf, m = b & 7;
  if (e == 15 && m == 7) return NAN;
  const float v = e ? ldexpf((float)(8 + m), e - 10) : ldexpf((float)m, -9);
  return (b & 0x80) ? -v : v;
}

size_t moek_import_buffer_bytes(int32_t src_dtype, size_t rows, size_t cols) {
  if (src_dtype == MOEK_DTYPE_FP8_E4M3) return rows * cols * 4;
  return rows * cols + rows * (cols / 32) * 4; /* codes, then scales */
}

int32_t moek_import_packs_as(int32_t src_dtype, int32_t weight_dtype) {
  if (src_dtype == MOEK_DTYPE_FP8_E4M3) return MOEK_DTYPE_F32;
  if (src_dtype == MOEK_DTYPE_MXFP4) return weight_dtype == MOEK_DTYPE_Q4 ? MOEK_DTYPE_Q4 : MOEK_DTYPE_Q8;
  return src_dtype == MOEK_DTYPE_GGML_Q4_0 ? MOEK_DTYPE_Q4 : MOEK_DTYPE_Q8;
}

bool moek_import_decode(int32_t src_dtype, int32_t weight_dtype, const void* blob, const void* scales, size_t block,
                        size_t rows, size_t cols, size_t row_step, void* buf, const float** out_scales,
                        size_t* bad_row, size_t* bad_col) {
  /* MXFP4 into Q4 (MOEK_EXPERTS_QUANT_E2M1): the nibbles as they are; into Q8: doubled values */
  const bool nibbles = weight_dtype == MOEK_DTYPE_Q4;
  const uint8_t* in = blob;
  const size_t nb = cols / 32;
  int8_t* codes = buf;
  float* sc = (float*)((char*)buf + rows * cols);
  *out_scales = src_dtype == MOEK_DTYPE_FP8_E4M3 ? NULL : sc;
  for (size_t r = 0; r < rows; r++) {
    if (src_dtype == MOEK_DTYPE_FP8_E4M3) {
      const size_t tiles = (cols + block - 1) / block;
      float* out = (float*)buf + r * cols;
      for (size_t c = 0; c < cols; c++) {
        const float s = ((const float*)scales)[(r / block) * tiles + c / block];
        const float v = fp8_e4m3_to_f32(in[r * cols + c]) * s;
        if (!isfinite(v)) {
          *bad_row = r, *bad_col = c;
          return false;
        }
        out[c] = v;
      }
      continue;
    }
    for (size_t b = 0; b < nb; b++) {
      int8_t* q = codes + r * cols + b * 32;
      const size_t at = r * row_step * nb + b; /* the block in the source: every row_step-th row */
      float s;
      if (src_dtype == MOEK_DTYPE_MXFP4) {
        const uint8_t e = ((const uint8_t*)scales)[at];
        s = e == 255 ? NAN : ldexpf(1.0f, (int)e - 128); /* the codes are doubled */
        const uint8_t* p = in + at * 16;
        for (int i = 0; i < 16; i++)
          q[2 * i] = nibbles ? (int8_t)(p[i] & 15) : moek_e2m1_x2[p[i] & 15],
                q[2 * i + 1] = nibbles ? (int8_t)(p[i] >> 4) : moek_e2m1_x2[p[i] >> 4];
      } else {
        const size_t bytes = src_dtype == MOEK_DTYPE_GGML_Q8_0 ? 34 : 18;
        const uint8_t* p = in + at * bytes;
        s = moek_f16_to_f32((uint16_t)(p[0] | p[1] << 8));
        if (src_dtype == MOEK_DTYPE_GGML_Q8_0)
          memcpy(q, p + 2, 32);
        else
          for (int i = 0; i < 16; i++) q[i] = (int8_t)(p[2 + i] & 15), q[i + 16] = (int8_t)(p[2 + i] >> 4);
      }
      if (!isfinite(s)) {
        *bad_row = r, *bad_col = b * 32;
        return false;
      }
      sc[r * nb + b] = s;
    }
  }
  return true;
}
