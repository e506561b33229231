# SPDX-License-Identifier: Apache-2.0
# relais_sanitizers: ASan+UBSan for the dev preset, and libFuzzer coverage when RELAIS_FUZZ is on.
add_library(relais_sanitizers INTERFACE)
if(RELAIS_SANITIZE)
  target_compile_options(relais_sanitizers INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_link_options(relais_sanitizers INTERFACE -fsanitize=address,undefined)
endif()
if(RELAIS_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "RELAIS_FUZZ needs clang (libFuzzer)")
  endif()
  target_compile_options(relais_sanitizers INTERFACE -fsanitize=fuzzer-no-link)
endif()
