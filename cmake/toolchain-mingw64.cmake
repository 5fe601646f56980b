# Cross-compile qtk for 64-bit Windows with Debian's mingw-w64 (gcc-mingw-w64-x86-64).
# Test programs run through wine (CMAKE_CROSSCOMPILING_EMULATOR), so `ctest` works unchanged.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(QTK_MINGW_PREFIX x86_64-w64-mingw32 CACHE STRING "mingw-w64 target triplet")
set(CMAKE_C_COMPILER ${QTK_MINGW_PREFIX}-gcc)
set(CMAKE_CXX_COMPILER ${QTK_MINGW_PREFIX}-g++)  # for C++ programs using qtk (scripts/install_test.sh)
set(CMAKE_RC_COMPILER ${QTK_MINGW_PREFIX}-windres)
set(CMAKE_AR ${QTK_MINGW_PREFIX}-ar CACHE FILEPATH "archiver")
set(CMAKE_RANLIB ${QTK_MINGW_PREFIX}-ranlib CACHE FILEPATH "ranlib")

set(CMAKE_FIND_ROOT_PATH /usr/${QTK_MINGW_PREFIX})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Every executable (tests too, not only the CLI) links libgcc and libwinpthread statically,
# so wine -- or a bare Windows box -- needs no mingw DLLs on its search path.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")

# Debian's wine64 package puts the loader in /usr/lib/wine, not on PATH.
# Paths like /work/shared/... work unchanged under wine: a leading '/' resolves against the
# current drive, and the build tree (ctest's working directory) is on Z:, which maps to '/'.
find_program(QTK_WINE NAMES wine64 wine PATHS /usr/lib/wine /usr/lib64/wine NO_CMAKE_FIND_ROOT_PATH)
if(QTK_WINE)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${QTK_WINE})
endif()
