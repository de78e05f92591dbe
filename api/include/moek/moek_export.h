/* Symbol export for libmoek: only what is marked MOEK_API leaves the shared
 * library (it is built with -fvisibility=hidden). */
#ifndef MOEK_MOEK_EXPORT_H
#define MOEK_MOEK_EXPORT_H

#if defined(_WIN32)
#  if defined(MOEK_BUILDING_SHARED)
#    define MOEK_API __declspec(dllexport)
#  else
#    define MOEK_API
#  endif
#elif defined(__GNUC__) || defined(__clang__)
#  define MOEK_API __attribute__((visibility("default")))
#else
#  define MOEK_API
#endif

#endif /* MOEK_MOEK_EXPORT_H */
