/* moek_kernel.h stands alone: a kernel plugin compiles against it (strict
 * C99, -Werror) without moek.h, and fills a table with the types it gives. */
#include "moek/moek_kernel.h"

static void route(moek_route_params* p) { p->bad_token = -1; }

int main(void) {
  moek_kernel_table t = {.struct_size = sizeof t, .abi_version = MOEK_KERNEL_ABI_VERSION, .name = "standalone",
                         .isa = MOEK_ISA_REF, .route = route};
  moek_route_params p = {.scoring = MOEK_SCORING_SOFTMAX, .flags = MOEK_ROUTER_RENORMALIZE};
  t.route(&p);
  return p.bad_token == -1 && MOEK_DTYPE_BF16 == 2 && MOEK_ACT_SWIGLU == 1 ? 0 : 1;
}
