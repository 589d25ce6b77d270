# `cmake --install`: the library components (static libraries), the public
# headers (include/fetchpool/, the library only), the fetchpool program, and
# an exported CMake package, so that a project can write
#     find_package(fetchpool REQUIRED)
#     target_link_libraries(app PRIVATE fetchpool::fetchpool)
# Tool-only components (test site, benchmark) and the CLI are not installed.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

get_property(fetchpool_library_components GLOBAL PROPERTY FETCHPOOL_LIBRARY_COMPONENTS)

# The one target users link: every library component. (The name `fetchpool`
# is the program's, so the target is fetchpool_library, exported as fetchpool.)
add_library(fetchpool_library INTERFACE)
target_link_libraries(fetchpool_library INTERFACE ${fetchpool_library_components})
set_target_properties(fetchpool_library PROPERTIES EXPORT_NAME fetchpool)
add_library(fetchpool::fetchpool ALIAS fetchpool_library)
# A sanitized build's libraries need the sanitizer's runtime, and the headers
# its larger worker stacks (engine.hpp): users of such an install get both.
if(FETCHPOOL_SANITIZE)
  target_compile_definitions(fetchpool_library INTERFACE FETCHPOOL_SANITIZED=1)
  if(FETCHPOOL_SANITIZE STREQUAL "thread")
    target_link_options(fetchpool_library INTERFACE -fsanitize=thread)
  else()
    target_link_options(fetchpool_library INTERFACE -fsanitize=address,undefined)
  endif()
endif()

install(TARGETS ${fetchpool_library_components} fetchpool_library EXPORT fetchpoolTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/fetchpool DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.hpp")
install(TARGETS fetchpool RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

set(fetchpool_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/fetchpool)
install(EXPORT fetchpoolTargets NAMESPACE fetchpool:: DESTINATION ${fetchpool_cmake_dir})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/fetchpoolConfig.cmake.in
  ${PROJECT_BINARY_DIR}/fetchpoolConfig.cmake INSTALL_DESTINATION ${fetchpool_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/fetchpoolConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/fetchpoolConfig.cmake ${PROJECT_BINARY_DIR}/fetchpoolConfigVersion.cmake
        DESTINATION ${fetchpool_cmake_dir})
