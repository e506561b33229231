# SPDX-License-Identifier: Apache-2.0
# Toolchain for the devices' Cortex-M4 port (DESIGN.md 7 and 9): Debian's
# gcc-arm-none-eabi with newlib-nano (libnewlib-arm-none-eabi), thumb, hard
# float on the single-precision FPU, size-optimised with section GC.
# Used by the cortex-m4 preset (CMakePresets.json); builds the firmware only.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)

set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_ASM_COMPILER arm-none-eabi-gcc)
set(CMAKE_AR arm-none-eabi-ar)
set(CMAKE_RANLIB arm-none-eabi-ranlib)
set(CMAKE_OBJCOPY arm-none-eabi-objcopy CACHE FILEPATH "objcopy of the cross toolchain")
set(CMAKE_SIZE arm-none-eabi-size CACHE FILEPATH "size of the cross toolchain")
set(CMAKE_NM arm-none-eabi-nm CACHE FILEPATH "nm of the cross toolchain")

# No host-style executables while probing the compiler (no startup code yet).
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

set(RELAIS_CM4_CPU_FLAGS "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16")
set(CMAKE_C_FLAGS_INIT "${RELAIS_CM4_CPU_FLAGS} -Os -ffunction-sections -fdata-sections")
set(CMAKE_ASM_FLAGS_INIT "${RELAIS_CM4_CPU_FLAGS}")
set(CMAKE_EXE_LINKER_FLAGS_INIT "--specs=nano.specs --specs=nosys.specs -Wl,--gc-sections")

set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Firmware only: the top CMakeLists.txt already skips edge/, tools/ and
# tests/ (host programs, their libraries and tests) when RELAIS_BUILD_EDGE is
# off, and firmware/CMakeLists.txt adds port/cortex-m4 when RELAIS_FW_PORT
# says so (the posix port is skipped when cross-compiling).
set(RELAIS_BUILD_EDGE OFF CACHE BOOL "Build relaisd, relaisctl and the host tools" FORCE)
set(RELAIS_FW_PORT "cortex-m4" CACHE STRING "The firmware port the cross build links" FORCE)
