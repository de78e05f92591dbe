/* The tag check every public call makes on the handles it is given. */
#include "handle.h"

#include "error.h"

static const char* kind_name(uint32_t tag) {
  switch (tag) {
    case MOEK_TAG_CONTEXT: return "moek_context";
    case MOEK_TAG_EXPERTS: return "moek_experts";
    case MOEK_TAG_ROUTER: return "moek_router";
    default: return NULL;
  }
}

moek_status moek_check_handle(const char* fn, const char* arg, const void* h, moek_handle_tag want) {
  if (!h) return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: %s is NULL", fn, arg);
  const uint32_t tag = *(const volatile uint32_t*)h; /* a freed object's: read before anything else of it */
  if (tag == (uint32_t)want) return MOEK_SUCCESS;
  const char* is = kind_name(tag);
  if (is)
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: %s is a %s, not a %s", fn, arg, is, kind_name(want));
  return moek_fail(MOEK_ERROR_INVALID_ARGUMENT,
                   "%s: %s is not a live %s (it was destroyed, or it is no moek handle)", fn, arg, kind_name(want));
}
