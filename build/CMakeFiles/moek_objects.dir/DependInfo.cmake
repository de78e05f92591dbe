
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/api/src/context.c" "CMakeFiles/moek_objects.dir/api/src/context.c.o" "gcc" "CMakeFiles/moek_objects.dir/api/src/context.c.o.d"
  "/work/main/api/src/cpu.c" "CMakeFiles/moek_objects.dir/api/src/cpu.c.o" "gcc" "CMakeFiles/moek_objects.dir/api/src/cpu.c.o.d"
  "/work/main/api/src/dispatch.c" "CMakeFiles/moek_objects.dir/api/src/dispatch.c.o" "gcc" "CMakeFiles/moek_objects.dir/api/src/dispatch.c.o.d"
  "/work/main/api/src/error.c" "CMakeFiles/moek_objects.dir/api/src/error.c.o" "gcc" "CMakeFiles/moek_objects.dir/api/src/error.c.o.d"
  "/work/main/api/src/experts.c" "CMakeFiles/moek_objects.dir/api/src/experts.c.o" "gcc" "CMakeFiles/moek_objects.dir/api/src/experts.c.o.d"
  "/work/main/api/src/forward.c" "CMakeFiles/moek_objects.dir/api/src/forward.c.o" "gcc" "CMakeFiles/moek_objects.dir/api/src/forward.c.o.d"
  "/work/main/api/src/pool.c" "CMakeFiles/moek_objects.dir/api/src/pool.c.o" "gcc" "CMakeFiles/moek_objects.dir/api/src/pool.c.o.d"
  "/work/main/api/src/router.c" "CMakeFiles/moek_objects.dir/api/src/router.c.o" "gcc" "CMakeFiles/moek_objects.dir/api/src/router.c.o.d"
  "/work/main/api/src/version.c" "CMakeFiles/moek_objects.dir/api/src/version.c.o" "gcc" "CMakeFiles/moek_objects.dir/api/src/version.c.o.d"
  "/work/main/kernels/ref/gemm_ref.c" "CMakeFiles/moek_objects.dir/kernels/ref/gemm_ref.c.o" "gcc" "CMakeFiles/moek_objects.dir/kernels/ref/gemm_ref.c.o.d"
  "/work/main/kernels/ref/pack_ref.c" "CMakeFiles/moek_objects.dir/kernels/ref/pack_ref.c.o" "gcc" "CMakeFiles/moek_objects.dir/kernels/ref/pack_ref.c.o.d"
  "/work/main/kernels/ref/route_ref.c" "CMakeFiles/moek_objects.dir/kernels/ref/route_ref.c.o" "gcc" "CMakeFiles/moek_objects.dir/kernels/ref/route_ref.c.o.d"
  "/work/main/kernels/ref/table_ref.c" "CMakeFiles/moek_objects.dir/kernels/ref/table_ref.c.o" "gcc" "CMakeFiles/moek_objects.dir/kernels/ref/table_ref.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
