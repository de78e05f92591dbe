#include "moek/moek.h"

#define MOEK_STR2(x) #x
#define MOEK_STR(x) MOEK_STR2(x)

uint32_t moek_version(void) { return MOEK_VERSION; }

const char* moek_version_string(void) {
  return MOEK_STR(MOEK_VERSION_MAJOR) "." MOEK_STR(MOEK_VERSION_MINOR) "." MOEK_STR(MOEK_VERSION_PATCH);
}
