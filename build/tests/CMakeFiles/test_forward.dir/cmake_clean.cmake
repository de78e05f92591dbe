file(REMOVE_RECURSE
  "CMakeFiles/test_forward.dir/test_forward.c.o"
  "CMakeFiles/test_forward.dir/test_forward.c.o.d"
  "test_forward"
  "test_forward.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_forward.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
