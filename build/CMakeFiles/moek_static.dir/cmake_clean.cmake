file(REMOVE_RECURSE
  "libmoek.a"
  "libmoek.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/moek_static.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
