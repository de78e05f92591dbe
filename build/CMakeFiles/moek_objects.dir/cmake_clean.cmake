file(REMOVE_RECURSE
  "CMakeFiles/moek_objects.dir/api/src/context.c.o"
  "CMakeFiles/moek_objects.dir/api/src/context.c.o.d"
  "CMakeFiles/moek_objects.dir/api/src/cpu.c.o"
  "CMakeFiles/moek_objects.dir/api/src/cpu.c.o.d"
  "CMakeFiles/moek_objects.dir/api/src/dispatch.c.o"
  "CMakeFiles/moek_objects.dir/api/src/dispatch.c.o.d"
  "CMakeFiles/moek_objects.dir/api/src/error.c.o"
  "CMakeFiles/moek_objects.dir/api/src/error.c.o.d"
  "CMakeFiles/moek_objects.dir/api/src/experts.c.o"
  "CMakeFiles/moek_objects.dir/api/src/experts.c.o.d"
  "CMakeFiles/moek_objects.dir/api/src/forward.c.o"
  "CMakeFiles/moek_objects.dir/api/src/forward.c.o.d"
  "CMakeFiles/moek_objects.dir/api/src/pool.c.o"
  "CMakeFiles/moek_objects.dir/api/src/pool.c.o.d"
  "CMakeFiles/moek_objects.dir/api/src/router.c.o"
  "CMakeFiles/moek_objects.dir/api/src/router.c.o.d"
  "CMakeFiles/moek_objects.dir/api/src/version.c.o"
  "CMakeFiles/moek_objects.dir/api/src/version.c.o.d"
  "CMakeFiles/moek_objects.dir/kernels/ref/gemm_ref.c.o"
  "CMakeFiles/moek_objects.dir/kernels/ref/gemm_ref.c.o.d"
  "CMakeFiles/moek_objects.dir/kernels/ref/pack_ref.c.o"
  "CMakeFiles/moek_objects.dir/kernels/ref/pack_ref.c.o.d"
  "CMakeFiles/moek_objects.dir/kernels/ref/route_ref.c.o"
  "CMakeFiles/moek_objects.dir/kernels/ref/route_ref.c.o.d"
  "CMakeFiles/moek_objects.dir/kernels/ref/table_ref.c.o"
  "CMakeFiles/moek_objects.dir/kernels/ref/table_ref.c.o.d"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/moek_objects.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
