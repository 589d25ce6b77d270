# One static library per component, with the components it may use spelled
# out (abseil's absl_cc_library). An include of a component that is not in
# DEPS compiles but fails to link, so the dependency direction in
# ARCHITECTURE.md is enforced by the build, not by review alone.
set(FETCHPOOL_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast)
if(FETCHPOOL_WERROR)
  list(APPEND FETCHPOOL_WARNINGS -Werror)
endif()

#
# TOOL marks a part of the fetchpool program (test site, benchmark) whose
# header lives under src/ rather than include/: its users get src/ on their
# include path, library components do not.
function(fetchpool_component)
  cmake_parse_arguments(C "TOOL" "NAME" "SRCS;DEPS" ${ARGN})
  add_library(fetchpool_${C_NAME} STATIC ${C_SRCS})
  add_library(fetchpool::${C_NAME} ALIAS fetchpool_${C_NAME})
  if(C_TOOL)
    target_include_directories(fetchpool_${C_NAME} PUBLIC ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/src)
  else()
    target_include_directories(fetchpool_${C_NAME}
      PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
      PRIVATE ${PROJECT_SOURCE_DIR}/src)
    # Part of the installed library: exported as fetchpool::NAME, and linked
    # by the one target users name, fetchpool::fetchpool (cmake/FetchpoolInstall.cmake).
    set_target_properties(fetchpool_${C_NAME} PROPERTIES EXPORT_NAME ${C_NAME})
    set_property(GLOBAL APPEND PROPERTY FETCHPOOL_LIBRARY_COMPONENTS fetchpool_${C_NAME})
  endif()
  target_compile_options(fetchpool_${C_NAME} PRIVATE ${FETCHPOOL_WARNINGS})
  target_link_libraries(fetchpool_${C_NAME} PUBLIC ${C_DEPS})
endfunction()

# A Catch2 test program; every TEST_CASE becomes its own ctest entry.
function(fetchpool_test)
  cmake_parse_arguments(T "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${T_NAME} ${T_SRCS})
  target_include_directories(${T_NAME} PRIVATE ${PROJECT_SOURCE_DIR}/tests ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(${T_NAME} PRIVATE ${FETCHPOOL_WARNINGS})
  target_link_libraries(${T_NAME} PRIVATE ${T_DEPS} Catch2::Catch2WithMain)
  catch_discover_tests(${T_NAME}
    TEST_PREFIX "${T_NAME}: "
    EXTRA_ARGS --warn NoTests
    PROPERTIES TIMEOUT 300
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
endfunction()
