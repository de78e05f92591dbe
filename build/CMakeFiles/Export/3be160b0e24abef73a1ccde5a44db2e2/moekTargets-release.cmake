#----------------------------------------------------------------
# Generated CMake target import file for configuration "Release".
#----------------------------------------------------------------

# Commands may need to know the format version.
set(CMAKE_IMPORT_FILE_VERSION 1)

# Import target "moek::moek" for configuration "Release"
set_property(TARGET moek::moek APPEND PROPERTY IMPORTED_CONFIGURATIONS RELEASE)
set_target_properties(moek::moek PROPERTIES
  IMPORTED_LOCATION_RELEASE "${_IMPORT_PREFIX}/lib/libmoek.so.0.1.0"
  IMPORTED_SONAME_RELEASE "libmoek.so.0"
  )

list(APPEND _cmake_import_check_targets moek::moek )
list(APPEND _cmake_import_check_files_for_moek::moek "${_IMPORT_PREFIX}/lib/libmoek.so.0.1.0" )

# Import target "moek::moek_static" for configuration "Release"
set_property(TARGET moek::moek_static APPEND PROPERTY IMPORTED_CONFIGURATIONS RELEASE)
set_target_properties(moek::moek_static PROPERTIES
  IMPORTED_LINK_INTERFACE_LANGUAGES_RELEASE "C"
  IMPORTED_LOCATION_RELEASE "${_IMPORT_PREFIX}/lib/libmoek.a"
  )

list(APPEND _cmake_import_check_targets moek::moek_static )
list(APPEND _cmake_import_check_files_for_moek::moek_static "${_IMPORT_PREFIX}/lib/libmoek.a" )

# Commands beyond this point should not need to know the version.
set(CMAKE_IMPORT_FILE_VERSION)
