/* The kernel plugin loader: dlopen, the plugin's one entry point, and its
 * tables into the registry (dispatch.c) through the same checks as
 * moek_register_kernel_table, all of a plugin's tables or none. Plugins are
 * never unloaded: experts objects keep pointers to their slots. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "error.h"

#define MOEK_MAX_PLUGINS 16
#define MOEK_PLUGIN_MAX_TABLES 8

static char* loaded[MOEK_MAX_PLUGINS]; /* paths, as given */
static size_t n_loaded;
static pthread_mutex_t plugin_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct staging {
  const moek_kernel_table* tables[MOEK_PLUGIN_MAX_TABLES];
  size_t n;
  moek_status refused; /* the first refusal, kept for the message */
} staging;

static int32_t stage_table(const moek_plugin_host* host, const moek_kernel_table* t) {
  staging* s = host->host_data;
  moek_kernel_table check;
  moek_status st = moek_check_table("moek_plugin_load", t, &check);
  if (!st && s->n == MOEK_PLUGIN_MAX_TABLES)
    st = moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "moek_plugin_load: a plugin registers at most %d tables",
                   MOEK_PLUGIN_MAX_TABLES);
  if (st) {
    if (!s->refused) s->refused = st;
    return st;
  }
  s->tables[s->n++] = t;
  return MOEK_SUCCESS;
}

static moek_status load_locked(const char* fn, const char* path) {
  for (size_t i = 0; i < n_loaded; i++)
    if (strcmp(loaded[i], path) == 0) return MOEK_SUCCESS;
  if (n_loaded == MOEK_MAX_PLUGINS)
    return moek_fail(MOEK_ERROR_OUT_OF_MEMORY, "%s: at most %d plugins can be loaded", fn, MOEK_MAX_PLUGINS);
  const size_t len = strlen(path) + 1;
  char* copy = malloc(len);
  if (!copy) return moek_fail(MOEK_ERROR_OUT_OF_MEMORY, "%s: out of memory", fn);
  memcpy(copy, path, len);
  void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* why = dlerror();
    free(copy);
    return moek_fail(MOEK_ERROR_UNSUPPORTED, "%s: cannot load '%.200s': %.200s", fn, path, why ? why : "dlopen failed");
  }
  moek_plugin_entry_fn entry;
  void* sym = dlsym(lib, MOEK_PLUGIN_ENTRY_POINT);
  memcpy(&entry, &sym, sizeof entry); /* object to function pointer, as POSIX allows */
  if (!entry) {
    dlclose(lib);
    free(copy);
    return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: '%.200s' has no entry point %s", fn, path,
                     MOEK_PLUGIN_ENTRY_POINT);
  }
  staging s = {.n = 0};
  const moek_plugin_host host = {.struct_size = sizeof host, .abi_version = MOEK_KERNEL_ABI_VERSION,
                                 .register_table = stage_table, .host_data = &s};
  const int32_t rc = entry(&host);
  moek_status st = s.refused; /* the message of the refusal stands */
  if (!st && rc != MOEK_SUCCESS)
    st = moek_fail(MOEK_ERROR_UNSUPPORTED, "%s: '%.200s': %s returned %d (%s)", fn, path, MOEK_PLUGIN_ENTRY_POINT, rc,
                   moek_status_string((moek_status)rc));
  if (!st && s.n == 0)
    st = moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: '%.200s' registered no table", fn, path);
  if (!st) st = moek_register_tables(fn, s.tables, s.n);
  if (st) {
    dlclose(lib);
    free(copy);
    return st;
  }
  loaded[n_loaded++] = copy; /* lib stays open for the life of the process */
  return MOEK_SUCCESS;
}

moek_status moek_plugin_load(const char* path) {
  static const char fn[] = "moek_plugin_load";
  if (!path || !path[0]) return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: path is NULL or empty", fn);
  pthread_mutex_lock(&plugin_lock);
  const moek_status st = load_locked(fn, path);
  pthread_mutex_unlock(&plugin_lock);
  return st;
}

moek_status moek_load_env_plugins(const char* fn) {
  const char* env = getenv("MOEK_PLUGINS");
  if (!env || !*env) return MOEK_SUCCESS;
  char path[4096];
  for (const char* p = env; *p;) {
    const char* end = strchr(p, ':');
    const size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n >= sizeof path) return moek_fail(MOEK_ERROR_INVALID_ARGUMENT, "%s: a path in MOEK_PLUGINS is too long", fn);
    if (n) {
      memcpy(path, p, n);
      path[n] = '\0';
      pthread_mutex_lock(&plugin_lock);
      const moek_status st = load_locked(fn, path);
      pthread_mutex_unlock(&plugin_lock);
      if (st) return st; /* the message names the path and the reason */
    }
    p += n + (end ? 1 : 0);
  }
  return MOEK_SUCCESS;
}
