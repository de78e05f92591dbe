// The public header must compile as C++ (extern "C", no C-only constructs),
// built with -std=c++11 -Wall -Wextra -pedantic -Werror.
#include "moek/moek.h"

#include <cstdio>

int main() {
  moek_context_desc d = moek_context_desc();
  d.struct_size = sizeof d;
  d.num_threads = 1;
  moek_context* c = nullptr;
  if (moek_context_create(&d, &c) != MOEK_SUCCESS) return 1;
  const char* name = nullptr;
  moek_context_get_kernel_name(c, &name);
  std::printf("moek %s: header compiles as C++, kernel table %s\n", moek_version_string(), name);
  return moek_context_destroy(c) == MOEK_SUCCESS ? 0 : 1;
}
