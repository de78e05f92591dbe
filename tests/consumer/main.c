/* A program outside the moek tree, built against an installed moek. */
#include <moek/moek.h>
#include <stdio.h>

int main(void) {
  moek_context* c = NULL;
  if (moek_context_create(NULL, &c) != MOEK_SUCCESS) {
    fprintf(stderr, "%s\n", moek_last_error());
    return 1;
  }
  const char* k = NULL;
  moek_context_get_kernel_name(c, &k);
  printf("consumer: moek %s, kernel table %s\n", moek_version_string(), k);
  moek_context_destroy(c);
  return 0;
}
