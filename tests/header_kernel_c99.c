/* moek_kernel.h stands alone: a kernel plugin compiles against it (strict
 * C99, -Werror) without moek.h, and fills a table with the types it gives. */
#include "moek/moek_kernel.h"

static void route(moek_route_params* p) { p->bad_token = -1; }

int main(void) {
  moek_kernel_table t = {sizeof t, MOEK_KERNEL_ABI_VERSION, "standalone", MOEK_ISA_REF, 0, 0,
                         {route, "route"}, {NULL, NULL}, {NULL, NULL}, {{0}}};
  moek_route_params p;
  p.scoring = MOEK_SCORING_SOFTMAX, p.flags = MOEK_ROUTER_RENORMALIZE;
  t.route.route(&p);
  return p.bad_token == -1 && t.gemm[MOEK_WFORMAT_BF16].gateup == NULL && MOEK_DTYPE_BF16 == 2 &&
                 MOEK_ACT_SWIGLU == 1
             ? 0
             : 1;
}
