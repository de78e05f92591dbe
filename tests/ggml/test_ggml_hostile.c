/* Loading libggml-moek where it cannot work: ggml must refuse it with a log
 * line that says why, register nothing, and llama.cpp must go on, on its
 * CPU path. Two plugins: one built for another ggml (the plugin checks
 * ggml_version() before it hands ggml anything), one whose libmoek is gone
 * (the dynamic loader refuses it). This program links no libmoek (nor the
 * test harness, which would bring it): a libmoek already in the process
 * would stand in for the missing one.
 *
 * usage: test_ggml_hostile PLUGIN_OTHER_GGML PLUGIN_NO_LIBMOEK MODEL */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml-backend.h"
#include "llama.h"

static int failed, passed;
#define EXPECT(cond, ...)                                     \
  do {                                                        \
    if (cond) {                                               \
      passed++;                                               \
    } else {                                                  \
      failed++;                                               \
      printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);  \
      printf(__VA_ARGS__);                                    \
      printf("\n");                                           \
    }                                                         \
  } while (0)

static char log_text[1 << 16];
static size_t log_len;

static void on_log(enum ggml_log_level level, const char* text, void* user) {
  (void)level, (void)user;
  const size_t n = strlen(text);
  if (log_len + n + 1 < sizeof log_text) memcpy(log_text + log_len, text, n + 1), log_len += n;
  if (getenv("MOEK_TEST_VERBOSE")) fputs(text, stderr);
}

static int line_len(const char* l) {
  const char* end = strchr(l, '\n');
  return end ? (int)(end - l) + 1 : (int)strlen(l);
}

static const char* line_with(size_t from, const char* what) {
  const char* at = strstr(log_text + from, what);
  if (!at) return NULL;
  while (at > log_text + from && at[-1] != '\n') at--;
  return at;
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s PLUGIN_OTHER_GGML PLUGIN_NO_LIBMOEK MODEL\n", argv[0]);
    return 2;
  }
  EXPECT(dlopen("libmoek.so.0", RTLD_NOW | RTLD_NOLOAD) == NULL, "libmoek is in the process already");
  llama_log_set(on_log, NULL);
  llama_backend_init();
  const char* why;
  size_t at = log_len;
  EXPECT(ggml_backend_load(argv[1]) == NULL, "a plugin built for another ggml was loaded");
  EXPECT((why = line_with(at, "is built for ggml 0.0.0")) != NULL, "no log line says it is for another ggml");
  if (why) printf("another ggml:    %.*s", line_len(why), why);
  at = log_len;
  EXPECT(ggml_backend_load(argv[2]) == NULL, "a plugin without its libmoek was loaded");
  EXPECT((why = line_with(at, "libmoek")) != NULL, "no log line names the missing libmoek");
  if (why) printf("missing libmoek: %.*s", line_len(why), why);
  EXPECT(ggml_backend_dev_by_name("MOEK") == NULL, "a refused plugin left a device behind");

  /* llama.cpp goes on without it */
  struct llama_model* model = llama_model_load_from_file(argv[3], llama_model_default_params());
  EXPECT(model != NULL, "%s does not load", argv[3]);
  if (model) {
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 64, cp.n_threads = cp.n_threads_batch = 2;
    struct llama_context* ctx = llama_init_from_model(model, cp);
    EXPECT(ctx != NULL, "no context");
    if (ctx) {
      llama_token tokens[4] = {1, 2, 3, 4};
      EXPECT(llama_decode(ctx, llama_batch_get_one(tokens, 4)) == 0, "decode failed");
      const float* logits = llama_get_logits_ith(ctx, -1);
      EXPECT(logits && logits[0] == logits[0], "no logits");
      llama_free(ctx);
    }
    llama_model_free(model);
  }
  llama_backend_free();
  printf("test_ggml_hostile: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
