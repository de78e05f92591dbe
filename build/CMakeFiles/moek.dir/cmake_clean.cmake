file(REMOVE_RECURSE
  "libmoek.pdb"
  "libmoek.so"
  "libmoek.so.0"
  "libmoek.so.0.1.0"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/moek.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
