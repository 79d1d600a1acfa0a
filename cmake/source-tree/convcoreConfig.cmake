# convcore's CMake package as seen from a source checkout (convcore.get_cmake_dir() returns this
# folder when convcore runs from the checkout instead of an installed wheel). It defines the same
# header-only target as the installed package, pointing at cpp/include.
get_filename_component(_convcore_root "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)
file(STRINGS "${_convcore_root}/cpp/include/convcore/convcore.hpp" _convcore_ver
     REGEX "^#define CONVCORE_VERSION \"")
string(REGEX REPLACE ".*\"(.*)\".*" "\\1" convcore_VERSION "${_convcore_ver}")
if(NOT TARGET convcore::convcore)
  add_library(convcore::convcore INTERFACE IMPORTED)
  set_target_properties(convcore::convcore PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${_convcore_root}/cpp/include"
    INTERFACE_COMPILE_FEATURES cxx_std_17)
endif()
set(convcore_FOUND TRUE)
unset(_convcore_root)
unset(_convcore_ver)
