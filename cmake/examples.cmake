# examples.cmake — the client library's example programs and a relocatable llmux.pc.
# Included at the end of CMakeLists.txt, so every target it refers to exists.

# ---------------------------------------------------------------------------
# Examples: every examples/*.c is one program built into build/examples/<name>.
# They use the public header only and link the shared library, as a user's
# program would (only LLMUX_API symbols are visible there), so an example that
# reaches for an internal cannot build. tests/integration/test_examples.c runs
# each one against the mock, in embedded and in proxy mode, so they never rot.
# ---------------------------------------------------------------------------
file(GLOB LLMUX_EXAMPLES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/examples/*.c)
set(LLMUX_EXAMPLE_TARGETS "")
foreach(src ${LLMUX_EXAMPLES})
    get_filename_component(name ${src} NAME_WE)
    add_executable(example_${name} ${src})
    target_compile_options(example_${name} PRIVATE ${LLMUX_WARNINGS})
    target_link_libraries(example_${name} PRIVATE llmux_shared Threads::Threads)
    set_target_properties(example_${name} PROPERTIES
        OUTPUT_NAME ${name}
        RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/examples)
    list(APPEND LLMUX_EXAMPLE_TARGETS example_${name})
endforeach()

if(TARGET test_examples)
    add_dependencies(test_examples ${LLMUX_EXAMPLE_TARGETS})
    target_compile_definitions(test_examples PRIVATE
        LLMUX_EXAMPLES_DIR="${PROJECT_BINARY_DIR}/examples")
endif()
if(TARGET test_client_install)
    # Installs into a temporary prefix and builds an example with pkg-config.
    add_dependencies(test_client_install llmux llmux_shared llmux_static)
    target_compile_definitions(test_client_install PRIVATE
        LLMUX_BUILD_DIR="${PROJECT_BINARY_DIR}"
        LLMUX_CMAKE_COMMAND="${CMAKE_COMMAND}"
        LLMUX_C_COMPILER="${CMAKE_C_COMPILER}"
        LLMUX_INSTALL_LIBDIR="${CMAKE_INSTALL_LIBDIR}"
        LLMUX_INSTALL_INCLUDEDIR="${CMAKE_INSTALL_INCLUDEDIR}")
    if(LLMUX_SANITIZE)
        target_compile_definitions(test_client_install PRIVATE
            LLMUX_EXTRA_CFLAGS="-fsanitize=address,undefined")
    endif()
    set_tests_properties(test_client_install PROPERTIES TIMEOUT 600)
endif()

# ---------------------------------------------------------------------------
# llmux.pc, relocatable: prefix is found from the .pc file's own place, so
# `cmake --install build --prefix DIR` gives a working pkg-config file in any
# DIR (configure_file above wrote it before this variable existed).
# ---------------------------------------------------------------------------
file(RELATIVE_PATH LLMUX_PC_PREFIX_REL
     "${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig" "${CMAKE_INSTALL_PREFIX}")
string(REGEX REPLACE "/$" "" LLMUX_PC_PREFIX_REL "${LLMUX_PC_PREFIX_REL}")
configure_file(${PROJECT_SOURCE_DIR}/cmake/llmux.pc.in ${PROJECT_BINARY_DIR}/llmux.pc @ONLY)
