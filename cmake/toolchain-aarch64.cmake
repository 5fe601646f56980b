# Cross-compile qtk for 64-bit ARM Linux with Debian's gcc-aarch64-linux-gnu + libc6-dev-arm64-cross.
# Test programs run through qemu user-mode emulation (package qemu-user), so `ctest` works
# unchanged and the NEON kernels (src/types/*_neon.c) are really executed.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(QTK_AARCH64_PREFIX aarch64-linux-gnu CACHE STRING "cross toolchain triplet")
set(QTK_AARCH64_SYSROOT /usr/${QTK_AARCH64_PREFIX} CACHE PATH "target libraries (qemu -L)")
set(CMAKE_C_COMPILER ${QTK_AARCH64_PREFIX}-gcc)
set(CMAKE_AR ${QTK_AARCH64_PREFIX}-ar CACHE FILEPATH "archiver")
set(CMAKE_RANLIB ${QTK_AARCH64_PREFIX}-ranlib CACHE FILEPATH "ranlib")

set(CMAKE_FIND_ROOT_PATH ${QTK_AARCH64_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

find_program(QTK_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static NO_CMAKE_FIND_ROOT_PATH)
if(QTK_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${QTK_QEMU_AARCH64} -L ${QTK_AARCH64_SYSROOT})
endif()
