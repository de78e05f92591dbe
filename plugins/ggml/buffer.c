/* The plugin's buffer type. Its memory is plain host memory in ggml's own
 * tensor layout (is_host), so ggml's CPU backend reads and writes these
 * tensors as its own: whatever moek does not run stays correct. A buffer
 * is either allocated here or a window of the model file's mapping that
 * llama.cpp hands over (buffer_from_host_ptr); in the second case the pages
 * of a packed expert tensor can be given back to the kernel, and a later
 * read of them (the CPU fallback) faults them in again from the file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

#define MOEK_GGML_ALIGN 64

typedef struct moek_buffer {
  void* base;
  bool owned;       /* allocated here (freed with the buffer); else the caller's memory */
  bool file_pages;  /* the caller's memory is a read-only mapping of a file, every page of it */
} moek_buffer;

/* Is [p, p + n) inside read-only file mappings (/proc/self/maps)? Only
 * such pages may be given back: an anonymous or written page would come
 * back as zeros. */
static bool read_only_file_mapping(const void* p, size_t n) {
  FILE* f = fopen("/proc/self/maps", "r");
  if (!f) return false;
  uintptr_t at = (uintptr_t)p;
  const uintptr_t end = at + n;
  char line[512];
  while (at < end && fgets(line, sizeof line, f)) {
    unsigned long lo, hi, inode;
    char perms[8];
    if (sscanf(line, "%lx-%lx %7s %*s %*s %lu", &lo, &hi, perms, &inode) != 4) continue;
    if (at < lo || at >= hi) continue;
    if (perms[1] != '-' || inode == 0) break;
    at = hi;
  }
  fclose(f);
  return at >= end;
}

static void buffer_free(ggml_backend_buffer_t buffer) {
  moek_buffer* b = buffer->context;
  moek_ggml_experts_forget(b->base, buffer->size); /* packed copies of its tensors go with it */
  if (b->owned) free(b->base);
  free(b);
}

static void* buffer_base(ggml_backend_buffer_t buffer) { return ((moek_buffer*)buffer->context)->base; }

static void buffer_memset(ggml_backend_buffer_t buffer, struct ggml_tensor* t, uint8_t v, size_t off, size_t n) {
  (void)buffer;
  memset((char*)t->data + off, v, n);
}

static void buffer_set(ggml_backend_buffer_t buffer, struct ggml_tensor* t, const void* data, size_t off, size_t n) {
  (void)buffer;
  memcpy((char*)t->data + off, data, n);
}

static void buffer_get(ggml_backend_buffer_t buffer, const struct ggml_tensor* t, void* data, size_t off, size_t n) {
  (void)buffer;
  memcpy(data, (const char*)t->data + off, n);
}

static bool buffer_cpy(ggml_backend_buffer_t buffer, const struct ggml_tensor* src, struct ggml_tensor* dst) {
  (void)buffer;
  if (!ggml_backend_buffer_is_host(src->buffer)) return false;
  memcpy(dst->data, src->data, ggml_nbytes(src));
  return true;
}

static void buffer_clear(ggml_backend_buffer_t buffer, uint8_t v) {
  memset(((moek_buffer*)buffer->context)->base, v, buffer->size);
}

static const struct ggml_backend_buffer_i buffer_iface = {
    .free_buffer = buffer_free,
    .get_base = buffer_base,
    .init_tensor = NULL,
    .memset_tensor = buffer_memset,
    .set_tensor = buffer_set,
    .get_tensor = buffer_get,
    .set_tensor_2d = NULL,
    .get_tensor_2d = NULL,
    .cpy_tensor = buffer_cpy,
    .clear = buffer_clear,
    .reset = NULL,
};

static const char* buft_name(ggml_backend_buffer_type_t buft) {
  (void)buft;
  return MOEK_GGML_NAME;
}

static ggml_backend_buffer_t buft_alloc(ggml_backend_buffer_type_t buft, size_t size) {
  moek_buffer* b = calloc(1, sizeof *b);
  if (!b) return NULL;
  /* a zero-size buffer (llama.cpp's probe of the buffer type) still gets a distinct base */
  const size_t bytes = (size + MOEK_GGML_ALIGN - 1) / MOEK_GGML_ALIGN * MOEK_GGML_ALIGN;
  b->base = aligned_alloc(MOEK_GGML_ALIGN, bytes ? bytes : MOEK_GGML_ALIGN);
  b->owned = true;
  if (!b->base) {
    free(b);
    GGML_LOG_ERROR("%s: cannot allocate %zu bytes\n", __func__, size);
    return NULL;
  }
  ggml_backend_buffer_t buffer = ggml_backend_buffer_init(buft, buffer_iface, b, size);
  if (!buffer) free(b->base), free(b);
  return buffer;
}

static size_t buft_alignment(ggml_backend_buffer_type_t buft) {
  (void)buft;
  return MOEK_GGML_ALIGN;
}

static bool buft_is_host(ggml_backend_buffer_type_t buft) {
  (void)buft;
  return true;
}

ggml_backend_buffer_type_t moek_ggml_buffer_type(void) {
  static struct ggml_backend_buffer_type buft = {
      .iface = {.get_name = buft_name,
                .alloc_buffer = buft_alloc,
                .get_alignment = buft_alignment,
                .get_max_size = NULL,
                .get_alloc_size = NULL,
                .is_host = buft_is_host},
      .device = NULL, /* set by ggml_moek.c before the first use */
      .context = NULL,
  };
  if (!buft.device) buft.device = moek_ggml_device();
  return &buft;
}

ggml_backend_buffer_t moek_ggml_buffer_from_ptr(void* ptr, size_t size) {
  moek_buffer* b = calloc(1, sizeof *b);
  if (!b) return NULL;
  b->base = ptr, b->owned = false, b->file_pages = read_only_file_mapping(ptr, size);
  ggml_backend_buffer_t buffer = ggml_backend_buffer_init(moek_ggml_buffer_type(), buffer_iface, b, size);
  if (!buffer) free(b);
  return buffer;
}

bool moek_ggml_buffer_is_mapped(ggml_backend_buffer_t buffer) {
  return buffer && buffer->iface.free_buffer == buffer_free && ((moek_buffer*)buffer->context)->file_pages;
}
