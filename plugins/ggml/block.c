/* The expert part of llama.cpp's build_moe_ffn (src/llama-graph.cpp of
 * v0.4.0), recognised in a graph. From the input row and the routing,
 * which stay where ggml put them:
 *
 *   up   = MUL_MAT_ID(up_exps, x, ids)   [+ ADD_ID(up_b)]       separate,
 *   gate = MUL_MAT_ID(gate_exps, x, ids) [+ ADD_ID(gate_b)]     or
 *   gu   = MUL_MAT_ID(gate_up_exps, x, ids) [+ ADD_ID(gate_up_b)],
 *          gate = VIEW(gu, rows 0..I), up = VIEW(gu, rows I..2I)  merged
 *   h    = GLU(gate, up)           SwiGLU, GeGLU (tanh, erf), gpt-oss's SwiGLU
 *   d    = MUL_MAT_ID(down_exps, h, ids) [+ ADD_ID(down_b)]
 *   w    = MUL(d, weights)
 *   y    = VIEW(w, j = 0) + VIEW(w, 1) + ... + VIEW(w, k - 1)   (k = 1: CONT)
 *
 * which is y = moek_moe_forward(x, ids, weights) on experts made of the three
 * weight tensors. Two uses: supports_op asks of one node whether it can be
 * such a node (moek_ggml_block_op), and graph_compute finds whole blocks in
 * the split it runs (moek_ggml_find_blocks). A block is taken only when
 * every node of it is in the split, nothing else is in between, and nothing
 * outside it reads its intermediates (the graph's use counts, which a split
 * shares with the whole graph, say so): anything else runs node by node on
 * ggml's CPU backend. */
#include <string.h>

#include "plugin.h"

static int32_t op_i32(const struct ggml_tensor* t, int i) { return ((const int32_t*)t->op_params)[i]; }
static float op_f32(const struct ggml_tensor* t, int i) { return ((const float*)t->op_params)[i]; }

static bool in_our_buffer(const struct ggml_tensor* t) {
  const struct ggml_tensor* base = t->view_src ? t->view_src : t;
  return base->buffer && base->buffer->buft == moek_ggml_buffer_type();
}

/* an expert weight moek can take: its type and shape, in the plugin's buffer */
static bool expert_weight_ok(const struct ggml_tensor* w) {
  int32_t src, packed;
  uint32_t flags;
  if (!w || !in_our_buffer(w) || ggml_n_dims(w) != 3 || w->ne[3] != 1 || !ggml_is_contiguous(w) ||
      !moek_ggml_expert_format(w->type, &src, &packed, &flags))
    return false;
  return !ggml_is_quantized(w->type) || w->ne[0] % ggml_blck_size(w->type) == 0; /* whole blocks along K (32, 256) */
}

/* gate/up's and down's types in one moek experts object: the same, or a
 * GGUF mix of block formats moek keeps exactly (Q4_K_M: Q4_K and Q6_K; a
 * Q8_0 or Q4_0 beside a K-quant). MXFP4 is stored under its own flag, so
 * it mixes with nothing. */
static bool types_mix(enum ggml_type up, enum ggml_type down) {
  if (up == down) return true;
  const enum ggml_type mixable[] = {GGML_TYPE_Q8_0, GGML_TYPE_Q4_0, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K};
  bool u = false, d = false;
  for (size_t i = 0; i < sizeof mixable / sizeof mixable[0]; i++) u |= up == mixable[i], d |= down == mixable[i];
  return u && d;
}

/* MUL_MAT_ID on expert weights moek takes, f32 activations */
static bool expert_mm(const struct ggml_tensor* t) {
  return t && t->op == GGML_OP_MUL_MAT_ID && expert_weight_ok(t->src[0]) &&
         t->src[1]->type == GGML_TYPE_F32 && t->type == GGML_TYPE_F32;
}

/* an expert MUL_MAT_ID, or one with its ADD_ID bias: the MUL_MAT_ID, and the bias in *bias */
static const struct ggml_tensor* expert_mm_biased(const struct ggml_tensor* t, const struct ggml_tensor** bias) {
  if (bias) *bias = NULL;
  if (t && t->op == GGML_OP_ADD_ID && expert_mm(t->src[0]) && t->src[2] == t->src[0]->src[2] &&
      t->src[1]->type == GGML_TYPE_F32 && ggml_is_contiguous_rows(t->src[1]) && t->src[1]->nb[0] == sizeof(float)) {
    if (bias) *bias = t->src[1];
    return t->src[0];
  }
  return expert_mm(t) ? t : NULL;
}

/* gpt-oss's SwiGLU is moek's MOEK_ACT_SWIGLU_OAI with alpha and limit as
 * given and beta 1; GGML_GLU_OP_GEGLU is gelu's tanh form */
static bool glu_activation(const struct ggml_tensor* g, int32_t* act, float* alpha, float* limit, float* beta) {
  if (!g || g->op != GGML_OP_GLU || !g->src[1] || op_i32(g, 1) != 0) return false; /* split, not swapped */
  *alpha = *limit = *beta = 0;
  switch ((enum ggml_glu_op)op_i32(g, 0)) {
    case GGML_GLU_OP_SWIGLU: *act = MOEK_ACT_SWIGLU; return true;
    case GGML_GLU_OP_GEGLU: *act = MOEK_ACT_GEGLU_TANH; return true;
    case GGML_GLU_OP_GEGLU_ERF: *act = MOEK_ACT_GEGLU; return true;
    case GGML_GLU_OP_SWIGLU_OAI:
      *act = MOEK_ACT_SWIGLU_OAI, *alpha = op_f32(g, 2), *limit = op_f32(g, 3), *beta = 1;
      return *alpha != 0 && *limit > 0;
    default: return false;
  }
}

/* a half of a merged gate_up product: VIEW of rows [0, I) (gate) or [I, 2I) (up) */
static const struct ggml_tensor* merged_half(const struct ggml_tensor* v, bool upper) {
  if (!v || v->op != GGML_OP_VIEW) return NULL;
  const struct ggml_tensor* gu = v->src[0];
  if (!expert_mm_biased(gu, NULL) || gu->ne[0] % 2 || v->ne[0] != gu->ne[0] / 2 || v->ne[1] != gu->ne[1] ||
      v->ne[2] != gu->ne[2] || v->nb[1] != gu->nb[1] || v->nb[2] != gu->nb[2] ||
      v->view_offs != (upper ? (size_t)v->ne[0] * gu->nb[0] : 0))
    return NULL;
  return gu;
}

/* the GLU node of a block, its gate and up products resolved */
typedef struct glu_parts {
  const struct ggml_tensor *gate_mm, *up_mm, *gate_b, *up_b; /* merged: gate_mm NULL, up_mm the gate_up product */
  const struct ggml_tensor *gate_node, *up_node;             /* what the GLU reads */
  int32_t act;
  float alpha, limit, beta;
} glu_parts;

static bool glu_of_experts(const struct ggml_tensor* g, glu_parts* p) {
  memset(p, 0, sizeof *p);
  if (!glu_activation(g, &p->act, &p->alpha, &p->limit, &p->beta)) return false;
  p->gate_node = g->src[0], p->up_node = g->src[1];
  const struct ggml_tensor *gu0 = merged_half(g->src[0], false), *gu1 = merged_half(g->src[1], true);
  if (gu0 || gu1) {
    if (gu0 != gu1) return false;
    p->up_mm = expert_mm_biased(gu0, &p->up_b);
    return true;
  }
  p->gate_mm = expert_mm_biased(g->src[0], &p->gate_b);
  p->up_mm = expert_mm_biased(g->src[1], &p->up_b);
  return p->gate_mm && p->up_mm && p->gate_mm->src[1] == p->up_mm->src[1] && p->gate_mm->src[2] == p->up_mm->src[2];
}

/* the down product of a block (biased or not): its MUL_MAT_ID reads a GLU of experts */
static bool down_of_experts(const struct ggml_tensor* t, glu_parts* p) {
  const struct ggml_tensor* mm = expert_mm_biased(t, NULL);
  return mm && glu_of_experts(mm->src[1], p) && mm->src[2] == p->up_mm->src[2];
}

/* the routing-weighted expert outputs: MUL(down, weights [1, k, T]) */
static bool weighted_experts(const struct ggml_tensor* t) {
  glu_parts p;
  return t && t->op == GGML_OP_MUL && t->type == GGML_TYPE_F32 && down_of_experts(t->src[0], &p) &&
         t->src[1]->type == GGML_TYPE_F32 && t->src[1]->ne[0] == 1 && t->src[1]->ne[1] == t->ne[1] &&
         t->src[1]->ne[2] == t->ne[2];
}

/* one expert slot's rows of the weighted outputs: VIEW [H, T], row stride nb[2], at j * nb[1] */
static bool slot_view(const struct ggml_tensor* v) {
  return v && v->op == GGML_OP_VIEW && weighted_experts(v->src[0]) && v->ne[0] == v->src[0]->ne[0] &&
         v->ne[1] == v->src[0]->ne[2] && v->nb[1] == v->src[0]->nb[2] && v->view_offs % v->src[0]->nb[1] == 0 &&
         v->view_offs / v->src[0]->nb[1] < (size_t)v->src[0]->ne[1];
}

/* the ADD chain over the slots (each ADD's second source a slot view) */
static bool slot_sum(const struct ggml_tensor* t, int depth) {
  if (slot_view(t)) return true;
  return depth < 64 && t->op == GGML_OP_ADD && slot_view(t->src[1]) && slot_sum(t->src[0], depth + 1);
}

bool moek_ggml_block_op(const struct ggml_tensor* op) {
  glu_parts p;
  switch (op->op) {
    case GGML_OP_MUL_MAT_ID: return expert_mm(op);
    case GGML_OP_ADD_ID: return expert_mm_biased(op, NULL) != NULL;
    case GGML_OP_VIEW: return slot_view(op) || merged_half(op, false) || merged_half(op, true);
    case GGML_OP_GLU: return glu_of_experts(op, &p);
    case GGML_OP_MUL: return weighted_experts(op);
    case GGML_OP_ADD: return op->type == GGML_TYPE_F32 && slot_sum(op, 0);
    case GGML_OP_CONT: return slot_view(op->src[0]);
    default: return false;
  }
}

/* ------------------------------------------------------------ whole blocks */

/* t's node index before node end, -1 if it is not there */
static int index_before(const struct ggml_cgraph* g, const struct ggml_tensor* t, int end) {
  for (int i = 0; i < end; i++)
    if (g->nodes[i] == t) return i;
  return -1;
}

/* The block whose down product (its last MUL_MAT_ID, or the ADD_ID on it)
 * is node d, into *b with its nodes' indices in idx[] (n of them); false
 * if the nodes around it are not a whole block. */
static bool match_block(const struct ggml_cgraph* g, int d, moek_ggml_block* b, int* idx, int* n, int cap) {
  const struct ggml_tensor* down = g->nodes[d];
  glu_parts p;
  if (!down_of_experts(down, &p)) return false;
  if (down->op == GGML_OP_MUL_MAT_ID && d + 1 < g->n_nodes && g->nodes[d + 1]->op == GGML_OP_ADD_ID &&
      g->nodes[d + 1]->src[0] == down)
    return false; /* the ADD_ID after it is the block's down node */
  const struct ggml_tensor* down_b = NULL;
  const struct ggml_tensor* down_mm = expert_mm_biased(down, &down_b);
  const struct ggml_tensor* glu = down_mm->src[1];
  const struct ggml_tensor* x = p.up_mm->src[1];
  const struct ggml_tensor* ids = p.up_mm->src[2];
  const int64_t H = x->ne[0], T = ids->ne[1], k = ids->ne[0];
  if (x->type != GGML_TYPE_F32 || x->nb[0] != sizeof(float) || x->ne[1] != 1 || x->ne[2] != T || x->ne[3] != 1 ||
      ids->type != GGML_TYPE_I32 || ids->nb[0] != sizeof(int32_t) || ids->ne[2] != 1 || ids->ne[3] != 1 || k < 1 ||
      down_mm->src[0]->ne[1] != H || down->ne[0] != H || down->ne[1] != k || down->ne[2] != T)
    return false;
  const struct ggml_tensor* inter[8];
  int ni = 0;
  inter[ni++] = p.up_mm;
  if (p.gate_mm) { /* separate: each product, and its bias if any */
    inter[ni++] = p.gate_mm;
    if (p.up_node != p.up_mm) inter[ni++] = p.up_node;
    if (p.gate_node != p.gate_mm) inter[ni++] = p.gate_node;
  } else { /* merged: the product, its bias if any, its two views */
    if (p.gate_node->src[0] != p.up_mm) inter[ni++] = p.gate_node->src[0];
    inter[ni++] = p.gate_node;
    inter[ni++] = p.up_node;
  }
  inter[ni++] = glu;
  if (down_b) inter[ni++] = down_mm;
  *n = 0;
  for (int i = 0; i < ni; i++) {
    const int at = index_before(g, inter[i], d);
    if (at < 0) return false;
    idx[(*n)++] = at;
  }
  idx[(*n)++] = d;
  /* after it: the weighting, the k slot views, the ADDs (or the CONT) */
  int at = d + 1;
  if (at >= g->n_nodes || !weighted_experts(g->nodes[at]) || g->nodes[at]->src[0] != down) return false;
  const struct ggml_tensor* w = g->nodes[at];
  idx[(*n)++] = at++;
  const struct ggml_tensor* sum = NULL;
  bool seen[64] = {false};
  if (k > 64 || *n + 2 * k + 1 > cap) return false;
  for (int64_t j = 0; j < k; j++, at++) {
    if (at >= g->n_nodes || !slot_view(g->nodes[at]) || g->nodes[at]->src[0] != w) return false;
    const size_t slot = g->nodes[at]->view_offs / w->nb[1];
    if (seen[slot]) return false;
    seen[slot] = true;
    idx[(*n)++] = at;
  }
  const struct ggml_tensor* first_view = g->nodes[at - k];
  if (k == 1) {
    if (at >= g->n_nodes || g->nodes[at]->op != GGML_OP_CONT || g->nodes[at]->src[0] != first_view) return false;
    sum = g->nodes[at];
    idx[(*n)++] = at++;
  } else {
    sum = first_view;
    for (int64_t j = 1; j < k; j++, at++) {
      const struct ggml_tensor* a = at < g->n_nodes ? g->nodes[at] : NULL;
      if (!a || a->op != GGML_OP_ADD || a->src[0] != sum || a->src[1] != g->nodes[d + 2 + j]) return false;
      sum = a;
      idx[(*n)++] = at;
    }
    if (g->nodes[d + 2]->view_offs != 0) return false; /* the chain starts at slot 0, as build_moe_ffn's does */
  }
  if (sum->type != GGML_TYPE_F32 || sum->ne[0] != H || sum->ne[1] != T || !ggml_is_contiguous(sum)) return false;
  /* nothing between its first and last node but its own, no intermediate read elsewhere or kept */
  int first = d;
  for (int i = 0; i < *n; i++)
    if (idx[i] < first) first = idx[i];
  for (int i = first; i < at; i++) {
    bool mine = false;
    for (int m = 0; m < *n && !mine; m++) mine = idx[m] == i;
    if (!mine) return false;
  }
  /* no intermediate is kept for the caller, and every use of one, in the
   * whole graph (the split is a view of it, with its use counts), is a use
   * by the block itself */
  if (!g->use_counts || !g->visited_hash_set.used) return false;
  for (int m = 0; m < *n; m++) {
    const struct ggml_tensor* t = g->nodes[idx[m]];
    if (t == sum) continue;
    if (t->flags & GGML_TENSOR_FLAG_OUTPUT) return false;
    int32_t uses = 0;
    for (int o = 0; o < *n; o++)
      for (int s = 0; s < GGML_MAX_SRC; s++) uses += g->nodes[idx[o]]->src[s] == t;
    if (ggml_node_get_use_count(g, idx[m]) != uses) return false;
  }
  memset(b, 0, sizeof *b);
  b->x = (struct ggml_tensor*)x, b->ids = (struct ggml_tensor*)ids, b->weights = w->src[1];
  b->gate = p.gate_mm ? p.gate_mm->src[0] : NULL;
  b->up = p.up_mm->src[0], b->down = down_mm->src[0];
  b->gate_b = (struct ggml_tensor*)p.gate_b, b->up_b = (struct ggml_tensor*)p.up_b, b->down_b = (struct ggml_tensor*)down_b;
  b->activation = p.act, b->act_alpha = p.alpha, b->act_limit = p.limit, b->act_beta = p.beta;
  b->y = (struct ggml_tensor*)sum, b->first = first, b->last = at - 1;
  /* shapes the three products agree on */
  const int64_t I = b->down->ne[0], E = b->down->ne[2];
  const int64_t rows = b->gate ? I : 2 * I;
  if (b->up->ne[0] != H || b->up->ne[1] != rows || b->up->ne[2] != E ||
      (b->gate && (b->gate->ne[0] != H || b->gate->ne[1] != I || b->gate->ne[2] != E || b->gate->type != b->up->type)) ||
      b->down->ne[1] != H || !types_mix(b->up->type, b->down->type))
    return false;
  if ((b->gate_b && (b->gate_b->ne[0] != I || b->gate_b->ne[1] != E)) ||
      (b->up_b && (b->up_b->ne[0] != rows || b->up_b->ne[1] != E)) ||
      (b->down_b && (b->down_b->ne[0] != H || b->down_b->ne[1] != E)))
    return false;
  return true;
}

int moek_ggml_find_blocks(const struct ggml_cgraph* graph, moek_ggml_block* blocks, int max_blocks, int* member) {
  memset(member, 0, sizeof(int) * (size_t)graph->n_nodes);
  int nb = 0, idx[160], n;
  for (int d = 0; d < graph->n_nodes && nb < max_blocks; d++) {
    const enum ggml_op op = graph->nodes[d]->op;
    if ((op != GGML_OP_MUL_MAT_ID && op != GGML_OP_ADD_ID) || member[d]) continue;
    if (!match_block(graph, d, &blocks[nb], idx, &n, (int)(sizeof idx / sizeof idx[0]))) continue;
    bool taken = false;
    for (int i = 0; i < n && !taken; i++) taken = member[idx[i]] != 0;
    if (taken) continue;
    nb++;
    for (int i = 0; i < n; i++) member[idx[i]] = nb;
  }
  return nb;
}
