/* Expert parallelism over MPI with moek's C API alone: what
 * moek.distributed does on torch.distributed (docs/distributed.md), for
 * engines that do not use PyTorch. Nothing in moek is tied to torch: a
 * shard (moek_experts_desc.first_expert / model_experts) and two
 * MPI_Alltoallv are the whole mechanism.
 *
 * Each rank of MPI_COMM_WORLD builds the same synthetic layer (seeded
 * weights, E experts of H x I, top-k softmax routing) and packs only its
 * own contiguous range of the experts. Per forward, on every rank, for its
 * own tokens: moek_route; one row per (token, slot) to the expert's owner
 * (MPI_Alltoall of the counts, MPI_Alltoallv of the rows and the expert
 * ids); moek_moe_forward of the shard on the rows received (one expert per
 * row, unit weight); MPI_Alltoallv of the outputs back; y = the sum over the
 * token's slots, in slot order, of weight x output.
 *
 * --check compares y with one process's moek_moe_forward of all the
 * experts on the same tokens. The weights are Q8, whose per-row results do
 * not depend on which rows share a tile, so the expert outputs o_j are the
 * same on both sides and only the weighted sum's rounding differs: |y_ep -
 * y_one| <= 2 k u sum_j |w_j| |o_j| (u = 2^-24), with o_j read back one slot
 * at a time. Exit status 0 when every rank is within it.
 *
 *   mpirun -np N moek_mpi_moe [--check] [--experts E] [--tokens T]
 * (T: rank 0 runs T tokens, rank 3 none, the others T / 2 + r: uneven) */
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moek/moek.h"

enum { H = 128, I = 64, K_TOP = 2 };

static int rank, world;

#define MOEK_OK(call)                                                                                      \
  do {                                                                                                     \
    const moek_status st_ = (call);                                                                        \
    if (st_ != MOEK_SUCCESS) {                                                                             \
      fprintf(stderr, "moek_mpi_moe: rank %d: %s: %s\n", rank, moek_status_string(st_), moek_last_error()); \
      MPI_Abort(MPI_COMM_WORLD, 2);                                                                        \
    }                                                                                                      \
  } while (0)

static void* must_alloc(size_t bytes) {
  void* p = malloc(bytes ? bytes : 1);
  if (!p) {
    fprintf(stderr, "moek_mpi_moe: rank %d: out of memory (%zu bytes)\n", rank, bytes);
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  return p;
}

/* the same values on every rank: a seeded uniform in [-s, s) */
static uint64_t rng;
static float uniform(float s) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return s * ((float)(rng >> 40) * (2.0f / 16777216.0f) - 1.0f);
}

typedef struct layer {
  int E;
  float *wg, *wu, *wd, *wr; /* [E][I][H], [E][I][H], [E][H][I], [E][H] */
} layer;

static layer synth_layer(int E) {
  layer L = {E, must_alloc(sizeof(float) * E * I * H), must_alloc(sizeof(float) * E * I * H),
             must_alloc(sizeof(float) * E * H * I), must_alloc(sizeof(float) * E * H)};
  rng = 88172645463325252ull;
  for (size_t i = 0; i < (size_t)E * I * H; i++) L.wg[i] = uniform(0.1f), L.wu[i] = uniform(0.1f), L.wd[i] = uniform(0.1f);
  for (size_t i = 0; i < (size_t)E * H; i++) L.wr[i] = uniform(0.2f);
  return L;
}

/* experts [first, first + n) of the layer as a moek shard (all of them: first 0, n = E) */
static moek_experts* make_experts(moek_context* ctx, const layer* L, int first, int n) {
  const void** p = must_alloc(sizeof(void*) * 3 * (size_t)n);
  for (int e = 0; e < n; e++) {
    p[e] = L->wg + (size_t)(first + e) * I * H;
    p[n + e] = L->wu + (size_t)(first + e) * I * H;
    p[2 * n + e] = L->wd + (size_t)(first + e) * H * I;
  }
  const moek_experts_desc d = {.struct_size = sizeof d, .num_experts = n, .hidden = H, .inter = I,
                               .activation = MOEK_ACT_SWIGLU, .src_dtype = MOEK_DTYPE_F32,
                               .weight_dtype = MOEK_DTYPE_Q8, .w_gate = p, .w_up = p + n, .w_down = p + 2 * n,
                               .first_expert = first, .model_experts = L->E};
  moek_experts* x = NULL;
  MOEK_OK(moek_experts_create(ctx, &d, &x));
  free(p);
  return x;
}

/* y [T x H] of this rank's tokens x, the experts spread as bounds says. */
static void ep_forward(moek_context* ctx, const moek_router* router, const moek_experts* shard, const int* bounds,
                       int T, const float* x, float* y, int32_t* ids, float* w) {
  moek_route_args ra = {.struct_size = sizeof ra, .num_tokens = T, .x = x, .x_dtype = MOEK_DTYPE_F32,
                        .expert_ids = ids, .expert_weights = w};
  MOEK_OK(moek_route(ctx, router, &ra));
  const int n = T * K_TOP;
  /* each assignment's owner, then the assignments grouped by owner in (token, slot) order */
  int* send_counts = calloc((size_t)world, sizeof(int));
  int* recv_counts = must_alloc(sizeof(int) * (size_t)world);
  int* order = must_alloc(sizeof(int) * (size_t)(n ? n : 1));
  int* owner = must_alloc(sizeof(int) * (size_t)(n ? n : 1));
  if (!send_counts) MPI_Abort(MPI_COMM_WORLD, 2);
  for (int i = 0; i < n; i++) {
    owner[i] = -1;
    for (int r = 0; ids[i] != MOEK_EXPERT_DROPPED && r < world; r++)
      if (ids[i] >= bounds[r] && ids[i] < bounds[r + 1]) owner[i] = r;
    if (owner[i] >= 0) send_counts[owner[i]]++;
  }
  int* sdispl = must_alloc(sizeof(int) * (size_t)world);
  int* rdispl = must_alloc(sizeof(int) * (size_t)world);
  MPI_Alltoall(send_counts, 1, MPI_INT, recv_counts, 1, MPI_INT, MPI_COMM_WORLD);
  int sent = 0, got = 0;
  for (int r = 0; r < world; r++) sdispl[r] = sent, sent += send_counts[r], rdispl[r] = got, got += recv_counts[r];
  int* fill = must_alloc(sizeof(int) * (size_t)world);
  memcpy(fill, sdispl, sizeof(int) * (size_t)world);
  for (int i = 0; i < n; i++)
    if (owner[i] >= 0) order[fill[owner[i]]++] = i;
  float* send_rows = must_alloc(sizeof(float) * H * (size_t)sent);
  int32_t* send_ids = must_alloc(sizeof(int32_t) * (size_t)(sent ? sent : 1));
  for (int s = 0; s < sent; s++) {
    memcpy(send_rows + (size_t)s * H, x + (size_t)(order[s] / K_TOP) * H, sizeof(float) * H);
    send_ids[s] = ids[order[s]];
  }
  float* rows = must_alloc(sizeof(float) * H * (size_t)got);
  int32_t* row_ids = must_alloc(sizeof(int32_t) * (size_t)(got ? got : 1));
  /* rows in units of H floats: one derived type */
  MPI_Datatype row;
  MPI_Type_contiguous(H, MPI_FLOAT, &row);
  MPI_Type_commit(&row);
  MPI_Alltoallv(send_rows, send_counts, sdispl, row, rows, recv_counts, rdispl, row, MPI_COMM_WORLD);
  MPI_Alltoallv(send_ids, send_counts, sdispl, MPI_INT32_T, row_ids, recv_counts, rdispl, MPI_INT32_T, MPI_COMM_WORLD);
  float* out = must_alloc(sizeof(float) * H * (size_t)got);
  const moek_forward_args fa = {.struct_size = sizeof fa, .num_tokens = got, .top_k = 1, .x_dtype = MOEK_DTYPE_F32,
                                .y_dtype = MOEK_DTYPE_F32, .x = rows, .expert_ids = row_ids, .y = out};
  MOEK_OK(moek_moe_forward(ctx, shard, &fa));
  float* back = send_rows; /* the outputs come back where the rows went out */
  MPI_Alltoallv(out, recv_counts, rdispl, row, back, send_counts, sdispl, row, MPI_COMM_WORLD);
  MPI_Type_free(&row);
  /* slot s of token t is back row where[t * k + s]; a dropped slot (or one nowhere) adds 0 */
  int* where = owner; /* reused: assignment i -> its row in back, or -1 */
  for (int i = 0; i < n; i++) where[i] = -1;
  for (int s = 0; s < sent; s++) where[order[s]] = s;
  for (int t = 0; t < T; t++) {
    float* yt = y + (size_t)t * H;
    memset(yt, 0, sizeof(float) * H);
    for (int j = 0; j < K_TOP; j++) { /* slot order, as moek's combine */
      const int s = where[t * K_TOP + j];
      if (s < 0) continue;
      for (int c = 0; c < H; c++) yt[c] += w[t * K_TOP + j] * back[(size_t)s * H + c];
    }
  }
  free(send_counts), free(recv_counts), free(order), free(owner), free(sdispl), free(rdispl), free(fill);
  free(send_rows), free(send_ids), free(rows), free(row_ids), free(out);
}

/* --check: this rank's y against one process's forward of every expert; returns the worst err / bound */
static double check(moek_context* ctx, const layer* L, int T, const float* x, const float* y, const int32_t* ids,
                    const float* w) {
  moek_experts* all = make_experts(ctx, L, 0, L->E);
  float* y1 = must_alloc(sizeof(float) * H * (size_t)T);
  float* oj = must_alloc(sizeof(float) * H * (size_t)T);
  double* S = calloc((size_t)T * H + 1, sizeof(double));
  int32_t* col = must_alloc(sizeof(int32_t) * (size_t)(T ? T : 1));
  if (!S) MPI_Abort(MPI_COMM_WORLD, 2);
  moek_forward_args fa = {.struct_size = sizeof fa, .num_tokens = T, .top_k = K_TOP, .x_dtype = MOEK_DTYPE_F32,
                          .y_dtype = MOEK_DTYPE_F32, .x = x, .expert_ids = ids, .expert_weights = w, .y = y1};
  MOEK_OK(moek_moe_forward(ctx, all, &fa));
  for (int j = 0; j < K_TOP; j++) { /* o_j, one slot at a time: S = sum_j |w_j| |o_j| */
    for (int t = 0; t < T; t++) col[t] = ids[t * K_TOP + j];
    moek_forward_args fj = {.struct_size = sizeof fj, .num_tokens = T, .top_k = 1, .x_dtype = MOEK_DTYPE_F32,
                            .y_dtype = MOEK_DTYPE_F32, .x = x, .expert_ids = col, .y = oj};
    MOEK_OK(moek_moe_forward(ctx, all, &fj));
    for (int t = 0; t < T; t++)
      for (int c = 0; c < H; c++) S[(size_t)t * H + c] += fabs((double)w[t * K_TOP + j] * oj[(size_t)t * H + c]);
  }
  double worst = 0.0;
  for (size_t i = 0; i < (size_t)T * H; i++) {
    const double bound = 2.0 * K_TOP * ldexp(1.0, -24) * S[i] + 1e-30;
    const double r = fabs((double)y[i] - y1[i]) / bound;
    worst = r > worst || isnan(r) ? r : worst;
  }
  moek_experts_destroy(all);
  free(y1), free(oj), free(S), free(col);
  return worst;
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  int do_check = 0, E = 8, T0 = 64;
  for (int a = 1; a < argc; a++) {
    if (!strcmp(argv[a], "--check")) do_check = 1;
    else if (!strcmp(argv[a], "--experts") && a + 1 < argc) E = atoi(argv[++a]);
    else if (!strcmp(argv[a], "--tokens") && a + 1 < argc) T0 = atoi(argv[++a]);
    else {
      if (rank == 0) fprintf(stderr, "usage: mpirun -np N %s [--check] [--experts E] [--tokens T]\n", argv[0]);
      MPI_Finalize();
      return 2;
    }
  }
  if (E < world || E < K_TOP || T0 < 0) {
    if (rank == 0)
      fprintf(stderr, "moek_mpi_moe: rank %d: %d ranks, %d experts (top-%d) and %d tokens: every rank must own an "
                      "expert, E >= k, T >= 0\n", rank, world, E, K_TOP, T0);
    MPI_Finalize();
    return 2;
  }
  /* rank r owns experts [bounds[r], bounds[r + 1]): contiguous, the first E % world one more */
  int* bounds = must_alloc(sizeof(int) * (size_t)(world + 1));
  bounds[0] = 0;
  for (int r = 0; r < world; r++) bounds[r + 1] = bounds[r] + E / world + (r < E % world);
  moek_context_desc cd = {.struct_size = sizeof cd, .num_threads = 1}; /* the ranks share the cores */
  moek_context* ctx = NULL;
  MOEK_OK(moek_context_create(&cd, &ctx));
  const layer L = synth_layer(E);
  moek_experts* shard = make_experts(ctx, &L, bounds[rank], bounds[rank + 1] - bounds[rank]);
  const moek_router_desc rd = {.struct_size = sizeof rd, .num_experts = E, .top_k = K_TOP,
                               .scoring = MOEK_SCORING_SOFTMAX, .flags = MOEK_ROUTER_RENORMALIZE, .w_router = L.wr,
                               .hidden = H, .router_src_dtype = MOEK_DTYPE_F32};
  moek_router* router = NULL;
  MOEK_OK(moek_router_create(ctx, &rd, &router));

  /* uneven tokens per rank: T0 on rank 0, none on rank 3, T0 / 2 + r on the others */
  const int T = rank == 0 ? T0 : rank == 3 || T0 == 0 ? 0 : T0 / 2 + rank;
  float* x = must_alloc(sizeof(float) * H * (size_t)(T ? T : 1));
  float* y = must_alloc(sizeof(float) * H * (size_t)(T ? T : 1));
  int32_t* ids = must_alloc(sizeof(int32_t) * K_TOP * (size_t)(T ? T : 1));
  float* w = must_alloc(sizeof(float) * K_TOP * (size_t)(T ? T : 1));
  rng = 1234567ull + 7919ull * (uint64_t)rank;
  for (size_t i = 0; i < (size_t)T * H; i++) x[i] = uniform(1.0f);
  const double t0 = MPI_Wtime();
  ep_forward(ctx, router, shard, bounds, T, x, y, ids, w);
  const double dt = MPI_Wtime() - t0;
  double worst = do_check ? check(ctx, &L, T, x, y, ids, w) : 0.0, all_worst = 0.0;
  MPI_Reduce(&worst, &all_worst, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
  printf("moek_mpi_moe: rank %d of %d: experts [%d, %d), %d tokens, %.3f ms%s\n", rank, world, bounds[rank],
         bounds[rank + 1], T, dt * 1e3, do_check ? (worst <= 1.0 ? ", within the bound" : ", BEYOND the bound") : "");
  int ok = 1;
  if (rank == 0 && do_check) {
    ok = all_worst <= 1.0;
    printf("moek_mpi_moe: %d ranks: worst err/bound %.3g over all ranks: %s\n", world, all_worst, ok ? "ok" : "FAILED");
  }
  MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
  moek_router_destroy(router);
  moek_experts_destroy(shard);
  moek_context_destroy(ctx);
  free(L.wg), free(L.wu), free(L.wd), free(L.wr), free(bounds), free(x), free(y), free(ids), free(w);
  MPI_Finalize();
  return ok ? 0 : 1;
}
