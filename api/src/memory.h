/* Memory for packed weights (context.c), and the alignment of every
 * buffer the forward carves. */
#ifndef MOEK_MEMORY_H
#define MOEK_MEMORY_H

#include <stddef.h>

/* Memory for packed weights: from a page up, fresh pages mapped for it
 * (never touched, so a NUMA binding before the first write places every
 * page; the heap may hand back pages already touched elsewhere); from 2 MiB
 * up, 2 MiB aligned and advised as transparent huge pages (fewer page faults
 * while packing, fewer TLB misses while streaming gigabytes of weights).
 * Free with moek_free_weights(p, bytes), the same bytes. (ASan builds: the
 * heap, where overreads are caught.) */
void* moek_alloc_weights(size_t bytes);
void moek_free_weights(void* p, size_t bytes);

#define MOEK_ALIGN 64u
static inline size_t moek_align_up(size_t v) { return (v + MOEK_ALIGN - 1) & ~(size_t)(MOEK_ALIGN - 1); }

#endif /* MOEK_MEMORY_H */
