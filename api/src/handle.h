/* Every object handed out (context, experts, router) starts with a tag that
 * says what it is, so that a handle of the wrong kind, or one already
 * destroyed, reaching a call through an FFI (ctypes, a void* in a binding)
 * is refused with a status naming it instead of being read as another
 * object. Destroy clears the tag before freeing: a destroyed handle is
 * recognised as long as its memory has not been reused, which is the best
 * C can do (the caller's use-after-free stays undefined). */
#ifndef MOEK_HANDLE_H
#define MOEK_HANDLE_H

#include <stdint.h>

#include "moek/moek.h"

typedef enum moek_handle_tag {
  MOEK_TAG_NONE = 0, /* what destroy leaves */
  MOEK_TAG_CONTEXT = 0x43656f6d, /* "moeC" in memory */
  MOEK_TAG_EXPERTS = 0x45656f6d, /* "moeE" */
  MOEK_TAG_ROUTER = 0x52656f6d   /* "moeR" */
} moek_handle_tag;

/* MOEK_SUCCESS when h is a live object of kind `want`; else
 * MOEK_ERROR_INVALID_ARGUMENT: "fn: arg is NULL", "... is a moek_router,
 * not a moek_experts", or "... is not a live moek_experts (destroyed, or no
 * moek handle)". h points at the object's first field, its tag. */
moek_status moek_check_handle(const char* fn, const char* arg, const void* h, moek_handle_tag want);

#endif /* MOEK_HANDLE_H */
