/* The tile loops (tiles.c): packing a matrix panel by panel, and running
 * a column range of gate/up or down as the slot's tiles. */
#ifndef MOEK_TILES_H
#define MOEK_TILES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moek/moek.h"

#define MOEK_MAX_MR 64 /* the most rows a slot's tile kernel may take */

/* The A rows of a run: row r at base + index[r] * stride (index NULL: r). */
typedef struct moek_rows {
  const char* base;
  size_t stride; /* bytes */
  const int32_t* index;
} moek_rows;

/* Scratch for expanded panels (moek_gemm_slot.expand_panel): count
 * buffers of `bytes` each (64-byte multiples), one per task that runs
 * expanded, claimed and given back by the tile loops. */
typedef struct moek_expand_scratch {
  char* base;
  size_t bytes;
  uint32_t count;            /* 0: none; at most 64 */
  atomic_uint_fast64_t busy; /* bit i: buffer i is a task's */
} moek_expand_scratch;

size_t moek_panels(const moek_gemm_slot* s, size_t rows, bool gated);
/* bytes of p's matrix packed by slot s (p->src_gate set: gate and up) */
size_t moek_packed_bytes(const moek_gemm_slot* s, const moek_pack_params* p);
void moek_pack_matrix(const moek_gemm_slot* s, const moek_pack_params* p, void* dst);
/* Columns [n_begin, n_end) (n_begin a multiple of the panel width) of m
 * rows, as tiles: t is the template (everything but mr, n0, nc, a, w; h and
 * out at row 0). A run of decode's size on a slot with streams tiles
 * (moek_gemm_slot.streams) takes them. One call is one task of the slot's:
 * its end_task runs after the last tile. */
void moek_run_gateup(const moek_gemm_slot* s, const moek_rows* rows, size_t m, const void* w, size_t panel_bytes,
                     size_t n_begin, size_t n_end, moek_gateup_tile t);
void moek_run_down(const moek_gemm_slot* s, const moek_rows* rows, size_t m, const void* w, size_t panel_bytes,
                   size_t n_begin, size_t n_end, moek_down_tile t);
/* The same, expanding each panel (of format wformat) into a buffer of xs
 * first when the slot expands and m reaches its expand_rows; otherwise, or
 * with xs NULL or every buffer taken, as above; and the streams tiles only
 * with `streams` (MOEK_STREAMS=0 turns them off): the same bits either way. */
void moek_run_gateup_expanding(const moek_gemm_slot* s, int32_t wformat, moek_expand_scratch* xs, bool streams,
                               const moek_rows* rows, size_t m, const void* w, size_t panel_bytes, size_t n_begin,
                               size_t n_end, moek_gateup_tile t);
void moek_run_down_expanding(const moek_gemm_slot* s, int32_t wformat, moek_expand_scratch* xs, bool streams,
                             const moek_rows* rows, size_t m, const void* w, size_t panel_bytes, size_t n_begin,
                             size_t n_end, moek_down_tile t);
/* Bytes of one expand buffer for slot s's matrix of format wformat over
 * K = k (0: the slot does not expand). */
size_t moek_expanded_bytes(const moek_gemm_slot* s, int32_t wformat, size_t k, int32_t group, bool gated);

#endif /* MOEK_TILES_H */
