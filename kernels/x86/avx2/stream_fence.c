/* The end_task of every x86 slot whose down tiles may stream their out
 * rows (moek_down_tile.out_stream): non-temporal stores are weakly
 * ordered, so the thread that combines the rows could otherwise read
 * them before they reach memory. One sfence per task, not per tile: a
 * tile writes a few lines, a task hundreds of tiles' worth. */
#include <immintrin.h>

#include "gemm_avx2.h"

void moek_stream_fence__x86(void) { _mm_sfence(); }
