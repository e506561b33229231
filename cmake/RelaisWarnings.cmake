# SPDX-License-Identifier: Apache-2.0
# relais_warnings: the warning set every relais target builds with (STYLE.md "Build").
add_library(relais_warnings INTERFACE)
target_compile_options(relais_warnings INTERFACE
  -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
  -Wconversion -Wno-sign-conversion -Wundef -Wcast-qual -Wpointer-arith
  -Wvla -Wnull-dereference -Wimplicit-fallthrough)
if(RELAIS_WERROR)
  target_compile_options(relais_warnings INTERFACE -Werror)
endif()

# relais_defaults(target): warnings and sanitizers for one of the project's own targets.
function(relais_defaults tgt)
  target_link_libraries(${tgt} PRIVATE relais_warnings relais_sanitizers)
endfunction()
