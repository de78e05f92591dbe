/* libFuzzer harness for libggml-moek's recogniser (plugins/ggml/block.c),
 * the code that decides, from a graph it did not build, what moek runs:
 * supports_op's per-node test and graph_compute's whole-block search.
 * The input bytes build a graph out of the ops an expert block is made of
 * (expert MUL_MAT_IDs on weights in the plugin's buffer type, ADD_ID
 * biases, GLUs of every kind, merged gate_up views, the weighting MUL, slot
 * views, ADD chains, CONT) and a few that it is not (SCALE, plain ADD,
 * weights in a CPU buffer), wired at random but always valid for ggml.
 *
 * Checks: no crash, leak or UB (ASan, UBSan); every block found is whole
 * and consistent: its nodes are marked, its last node is y, its first is
 * not after its last, y is an f32 [H, T] node, every node inside the span
 * belongs to it, and supports_op accepts each of them. */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_reader.h"
#include "plugin.h"

#define MAX_NODES 48

static void fail(const char* what) {
  fprintf(stderr, "fuzz_ggml_block: %s\n", what);
  abort();
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  reader r = {data, size};
  const int64_t H = 32 * (1 + take(&r, 2)), I = 32 * (1 + take(&r, 2)), E = 2 + take(&r, 6);
  const int64_t k = 1 + take(&r, (uint32_t)(E < 4 ? E : 4)), T = 1 + take(&r, 5);
  static const enum ggml_type types[] = {GGML_TYPE_F32, GGML_TYPE_BF16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0,
                                         GGML_TYPE_MXFP4, GGML_TYPE_Q5_0};
  const enum ggml_type wt = types[take(&r, 6)];
  struct ggml_init_params ip = {ggml_tensor_overhead() * 256 + ggml_graph_overhead(), NULL, true};
  struct ggml_context* ctx = ggml_init(ip);
  /* weights: in the plugin's buffer type (a zero-size buffer: nothing reads them here), or a CPU one */
  ggml_backend_buffer_t ours = ggml_backend_buft_alloc_buffer(moek_ggml_buffer_type(), 0);
  ggml_backend_buffer_t cpu = ggml_backend_buft_alloc_buffer(ggml_backend_cpu_buffer_type(), 0);
  struct ggml_tensor* w[4];
  w[0] = ggml_new_tensor_3d(ctx, wt, H, I, E);     /* gate or up */
  w[1] = ggml_new_tensor_3d(ctx, wt, H, I, E);     /* up */
  w[2] = ggml_new_tensor_3d(ctx, wt, H, 2 * I, E); /* merged gate_up */
  w[3] = ggml_new_tensor_3d(ctx, wt, I, H, E);     /* down */
  for (int i = 0; i < 4; i++) w[i]->buffer = take(&r, 8) ? ours : cpu;
  struct ggml_tensor* b_i = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, I, E);
  struct ggml_tensor* b_2i = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, 2 * I, E);
  struct ggml_tensor* b_h = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, H, E);
  struct ggml_tensor* x = ggml_reshape_3d(ctx, ggml_new_tensor_2d(ctx, GGML_TYPE_F32, H, T), H, 1, T);
  struct ggml_tensor* ids = ggml_new_tensor_2d(ctx, GGML_TYPE_I32, k, T);
  struct ggml_tensor* weights = ggml_new_tensor_3d(ctx, GGML_TYPE_F32, 1, k, T);
  /* pools by shape: [I, k, T] (gate, up, h), [2I, k, T] (gate_up), [H, k, T] (down, weighted), [H, T] (slots, sums) */
  struct ggml_tensor *pi[MAX_NODES], *p2i[MAX_NODES], *ph[MAX_NODES], *pt[MAX_NODES];
  int ni = 0, n2i = 0, nh = 0, nt = 0;
  struct ggml_cgraph* g = ggml_new_graph(ctx);
  const int steps = 4 + (int)take(&r, 24);
  for (int s = 0; s < steps; s++) {
    struct ggml_tensor* t = NULL;
    switch (take(&r, 12)) {
      case 0: t = pi[ni++] = ggml_mul_mat_id(ctx, w[take(&r, 2)], x, ids); break;
      case 1: t = p2i[n2i++] = ggml_mul_mat_id(ctx, w[2], x, ids); break;
      case 2: /* down, over an [I, k, T] input */
        if (ni) t = ph[nh++] = ggml_mul_mat_id(ctx, w[3], pi[take(&r, (uint32_t)ni)], ids);
        break;
      case 3: /* ADD_ID on any product */
        if (ni && take(&r, 3) == 0) t = pi[ni] = ggml_add_id(ctx, pi[take(&r, (uint32_t)ni)], b_i, ids), ni++;
        else if (n2i && take(&r, 2)) t = p2i[n2i] = ggml_add_id(ctx, p2i[take(&r, (uint32_t)n2i)], b_2i, ids), n2i++;
        else if (nh) t = ph[nh] = ggml_add_id(ctx, ph[take(&r, (uint32_t)nh)], b_h, ids), nh++;
        break;
      case 4: /* GLU of two [I, k, T] */
        if (ni) {
          static const enum ggml_glu_op ops[] = {GGML_GLU_OP_SWIGLU, GGML_GLU_OP_GEGLU, GGML_GLU_OP_GEGLU_ERF,
                                                 GGML_GLU_OP_SWIGLU_OAI, GGML_GLU_OP_REGLU};
          struct ggml_tensor *a = pi[take(&r, (uint32_t)ni)], *b = pi[take(&r, (uint32_t)ni)];
          if (!ggml_is_contiguous_1(a) || !ggml_is_contiguous_1(b)) break;
          const enum ggml_glu_op op = ops[take(&r, 5)];
          t = op == GGML_GLU_OP_SWIGLU_OAI ? ggml_swiglu_oai(ctx, a, b, 1.702f, 7.0f) : ggml_glu_split(ctx, a, b, op);
          pi[ni++] = t;
        }
        break;
      case 5: /* a half of a merged product */
        if (n2i) {
          struct ggml_tensor* gu = p2i[take(&r, (uint32_t)n2i)];
          const size_t off = take(&r, 3) == 0 ? 0 : (size_t)I * gu->nb[0];
          t = pi[ni++] = ggml_view_3d(ctx, gu, I, gu->ne[1], gu->ne[2], gu->nb[1], gu->nb[2], off);
        }
        break;
      case 6: /* the weighting */
        if (nh) t = ph[nh] = ggml_mul(ctx, ph[take(&r, (uint32_t)nh)], weights), nh++;
        break;
      case 7: /* a slot view */
        if (nh) {
          struct ggml_tensor* src = ph[take(&r, (uint32_t)nh)];
          t = pt[nt++] = ggml_view_2d(ctx, src, H, T, src->nb[2], take(&r, (uint32_t)k) * src->nb[1]);
        }
        break;
      case 8: /* an ADD of two [H, T] */
        if (nt) t = pt[nt] = ggml_add(ctx, pt[take(&r, (uint32_t)nt)], pt[take(&r, (uint32_t)nt)]), nt++;
        break;
      case 9:
        if (nt) t = pt[nt] = ggml_cont(ctx, pt[take(&r, (uint32_t)nt)]), nt++;
        break;
      case 10: /* ops no block has */
        if (ni) t = pi[ni] = ggml_scale(ctx, pi[take(&r, (uint32_t)ni)], 2.0f), ni++;
        break;
      default:
        if (nh) t = ph[nh] = ggml_mul(ctx, ph[take(&r, (uint32_t)nh)], ph[take(&r, (uint32_t)nh)]), nh++;
        break;
    }
    if (t) {
      if (take(&r, 16) == 0) ggml_set_output(t);
      ggml_build_forward_expand(g, t);
    }
    if (ni >= MAX_NODES - 1 || n2i >= MAX_NODES - 1 || nh >= MAX_NODES - 1 || nt >= MAX_NODES - 1) break;
  }
  const int n = ggml_graph_n_nodes(g);
  for (int i = 0; i < n; i++) (void)moek_ggml_block_op(ggml_graph_node(g, i));
  /* the whole graph, and a split of it (a view, as the scheduler makes them) */
  for (int pass = 0; pass < 2; pass++) {
    const int i0 = pass ? (int)take(&r, (uint32_t)n + 1) : 0;
    const int i1 = pass ? i0 + (int)take(&r, (uint32_t)(n - i0) + 1) : n;
    struct ggml_cgraph view = ggml_graph_view(g, i0, i1);
    int* member = calloc((size_t)(i1 - i0) + 1, sizeof(int));
    moek_ggml_block* blocks = calloc((size_t)(i1 - i0) + 1, sizeof(moek_ggml_block));
    const int nb = moek_ggml_find_blocks(&view, blocks, i1 - i0, member);
    if (getenv("FUZZ_SAY_BLOCKS")) fprintf(stderr, "pass %d: %d nodes, %d blocks\n", pass, i1 - i0, nb);
    for (int b = 0; b < nb; b++) {
      const moek_ggml_block* blk = &blocks[b];
      if (blk->first > blk->last || blk->last >= view.n_nodes) fail("a block's span");
      if (view.nodes[blk->last] != blk->y || blk->y->type != GGML_TYPE_F32 || blk->y->ne[0] != H ||
          blk->y->ne[1] != T)
        fail("a block's y");
      for (int i = blk->first; i <= blk->last; i++) {
        if (member[i] != b + 1) fail("a node inside a block's span that is not its own");
        if (!moek_ggml_block_op(view.nodes[i])) fail("a block node supports_op refuses");
      }
      if (!blk->up || !blk->down || !blk->x || !blk->ids || !blk->weights) fail("a block without its tensors");
    }
    free(member), free(blocks);
  }
  ggml_backend_buffer_free(ours), ggml_backend_buffer_free(cpu);
  ggml_free(ctx);
  return 0;
}
