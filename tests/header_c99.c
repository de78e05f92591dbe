/* The public header must compile as strict C99 with every warning an error
 * (built with -std=c99 -Wall -Wextra -pedantic -Werror). */
#include "moek/moek.h"

#include <stdio.h>

int main(void) {
  moek_context_desc d = {sizeof(moek_context_desc), 0, 1, 0, NULL, NULL, NULL, 0, 0};
  moek_context* c = NULL;
  if (moek_context_create(&d, &c) != MOEK_SUCCESS) return 1;
  printf("moek %s: header compiles as C99\n", moek_version_string());
  return moek_context_destroy(c) == MOEK_SUCCESS ? 0 : 1;
}
