#!/usr/bin/env bash
# Install test (CI stage `install`, docs/api.md): installs the build in BUILD into a scratch prefix
# (cmake --install) and checks what a program outside the tree gets there:
#   - the files: qtk.h, libqtk.a, the shared library (SONAME libqtk.so.MAJOR.MINOR / libqtk.dll +
#     import library), qtk.pc, the CMake package, the qtk program;
#   - the shared library exports exactly the functions qtk.h declares (all marked QTK_API);
#   - docs/api.md's example (tests/install/example.c, C11) and a C++11 program
#     (tests/install/example.cpp) build with pkg-config and with find_package(qtk), each against
#     the static and the shared library (checked: the program needs the qtk DLL/.so, or not);
#   - every program runs; the example quantizes the fixture model with a preset and its imatrix
#     and must report the bpw `qtk inspect` reports for its output.
# Usage: scripts/install_test.sh BUILD [--mingw]   (--mingw: BUILD is a mingw-w64 cross build; the
# programs run under $WINE, default /usr/lib/wine/wine64, with the caller's WINEPREFIX).
# Environment: QTK_SHARED_DIR (default ../shared): fixtures/tiny-llama-f16.gguf + imatrix.dat; without
# them the example is built but not run. QTK_INSTALL_PRESET (default Q4_0).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(cd "${1:?usage: install_test.sh BUILD [--mingw]}" && pwd)
MINGW=0
[ "${2:-}" = --mingw ] && MINGW=1
SHARED=${QTK_SHARED_DIR:-$ROOT/../shared}
PRESET=${QTK_INSTALL_PRESET:-Q4_0}
T=$BUILD/install-test
P=$T/prefix
W=$T/work
fail() { echo "install test FAILED: $*" >&2; exit 1; }
rm -rf "$T"
mkdir -p "$W"
cmake --install "$BUILD" --prefix "$P" >"$T/install.log" 2>&1 || { cat "$T/install.log"; fail "cmake --install"; }

ver=$(sed -n 's/^#define QTK_VERSION_STRING "\(.*\)"$/\1/p' "$ROOT/include/qtk_types.h")
soname=libqtk.so.$(echo "$ver" | cut -d. -f1-2)
if [ $MINGW = 1 ]; then
    CC=x86_64-w64-mingw32-gcc CXX=x86_64-w64-mingw32-g++ OBJDUMP=x86_64-w64-mingw32-objdump
    WINE=${WINE:-/usr/lib/wine/wine64}
    EXE=.exe
    libs_expected="lib/libqtk.a lib/libqtk.dll.a bin/libqtk.dll bin/qtk.exe"
    # The programs find libqtk.dll in PREFIX/bin; the mingw runtime DLLs (libstdc++, winpthread) in
    # the cross toolchain's directories (the qtk DLL itself is checked to need none of them).
    gccdir=$(dirname "$($CXX -print-libgcc-file-name)")
    export WINEPATH="$P/bin;$gccdir;/usr/x86_64-w64-mingw32/lib"
    run() { "$WINE" "$@" | tr -d '\r'; }  # pipefail keeps the program's status
    # Wine's services start now, stdio on /dev/null: started by a program's first run they would
    # inherit (and hold open) the pipe $(run ...) reads, and the test would wait forever.
    "$WINE" wineboot --init >/dev/null 2>&1 </dev/null || fail "wineboot failed (WINEPREFIX=${WINEPREFIX:-default})"
    # DLLs an executable or DLL imports.
    needs() { $OBJDUMP -p "$1" | sed -n 's/^\s*DLL Name: //p'; }
    exports() { $OBJDUMP -p "$1" | sed -n '/^\[Ordinal\/Name Pointer\] Table/,/^$/p' | sed -n 's/^\s*\[ *[0-9]*\] //p'; }
    shlib=$P/bin/libqtk.dll qtkbin=$P/bin/qtk.exe
else
    CC=${CC:-cc} CXX=${CXX:-c++}
    EXE=
    libs_expected="lib/libqtk.a lib/libqtk.so lib/$soname lib/libqtk.so.$ver bin/qtk"
    run() { "$@"; }
    needs() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
    exports() { nm -D --defined-only "$1" | awk '{print $3}'; }
    shlib=$P/lib/libqtk.so qtkbin=$P/bin/qtk
fi

# ---- 1. files -------------------------------------------------------------------------------
# docs/api.md shows the example this test builds: the ```c block must be tests/install/example.c.
sed -n '/^```c$/,/^```$/p' "$ROOT/docs/api.md" | sed '1d;$d' | cmp -s - "$ROOT/tests/install/example.c" ||
    fail "docs/api.md's example differs from tests/install/example.c"
for f in include/qtk.h include/qtk_types.h lib/pkgconfig/qtk.pc lib/cmake/qtk/qtkConfig.cmake lib/cmake/qtk/qtkConfigVersion.cmake \
         lib/cmake/qtk/qtkTargets.cmake $libs_expected; do
    [ -e "$P/$f" ] || fail "$f is not installed in $P"
done
if [ $MINGW = 0 ]; then
    so=$(readelf -d "$P/lib/libqtk.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
    [ "$so" = "$soname" ] || fail "SONAME of libqtk.so is '$so', expected $soname (docs/api.md)"
else
    bad=$(needs "$shlib" | grep -viE '^(kernel32|msvcrt|ucrtbase|advapi32|user32|api-ms-win-.*)\.dll$' || true)
    [ -z "$bad" ] || fail "libqtk.dll needs DLLs a Windows box lacks: $bad"
fi
echo "-- installed into $P: $(cd "$P" && find . -type f | wc -l) files; version $ver"

# ---- 2. exported symbols = functions qtk.h declares --------------------------------------------
# Declared: every qtk_*( in the headers that is not a type name (typedef'd return types like qtk_status).
hdrs=("$P/include/qtk.h" "$P/include/qtk_types.h")
types=$(sed -n -e 's/^} *\(qtk_[a-z0-9_]*\);.*/\1/p' -e 's/^typedef .*[ *]\(qtk_[a-z0-9_]*\);.*/\1/p' "${hdrs[@]}" | sort -u)
cat "${hdrs[@]}" | grep -oE '\bqtk_[a-z0-9_]+ *\(' | sed 's/ *($//' | sort -u | grep -vxF "$types" >"$T/declared.txt" || true
exports "$shlib" | grep '^qtk_' | sort -u >"$T/exported.txt"
unexported=$(comm -23 "$T/declared.txt" "$T/exported.txt")
extra=$(comm -13 "$T/declared.txt" "$T/exported.txt")
[ -z "$unexported" ] || fail "declared in qtk.h but not exported (missing QTK_API or not defined): $(echo $unexported)"
[ -z "$extra" ] || fail "exported but not declared in qtk.h / qtk_types.h: $(echo $extra)"
echo "-- $(wc -l <"$T/exported.txt") functions exported, exactly those qtk.h and qtk_types.h declare"

# ---- 3. build: pkg-config and CMake, static and shared, C and C++ -------------------------------
export PKG_CONFIG_LIBDIR=$P/lib/pkgconfig PKG_CONFIG_PATH=
pkg-config --exists qtk || fail "pkg-config does not find qtk in $P/lib/pkgconfig"
[ "$(pkg-config --modversion qtk)" = "$ver" ] || fail "qtk.pc version $(pkg-config --modversion qtk), qtk.h $ver"
cflags=$(pkg-config --cflags qtk)
libs=$(pkg-config --libs qtk)
slibs=$(pkg-config --static --libs qtk)
slibs=${slibs/-lqtk/-Wl,-Bstatic -lqtk -Wl,-Bdynamic}
xflags=
[ $MINGW = 1 ] && xflags="-static-libgcc -static-libstdc++"
strict="-Wall -Wextra -Werror -pedantic"
cd "$W"
# shellcheck disable=SC2086
{
    $CC -std=c11 $strict $cflags "$ROOT/tests/install/example.c" -o pc_c_shared$EXE $libs $xflags
    $CC -std=c11 $strict $cflags "$ROOT/tests/install/example.c" -o pc_c_static$EXE $slibs $xflags
    $CXX -std=c++11 $strict $cflags "$ROOT/tests/install/example.cpp" -o pc_cxx_shared$EXE $libs $xflags
    $CXX -std=c++11 $strict $cflags "$ROOT/tests/install/example.cpp" -o pc_cxx_static$EXE $slibs $xflags
} >"$T/pkg-config-build.log" 2>&1 || { cat "$T/pkg-config-build.log"; fail "building with pkg-config"; }
tc=()
[ $MINGW = 1 ] && tc=(-DCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/toolchain-mingw64.cmake")
{
    cmake -S "$ROOT/tests/install" -B "$W/cmake" "${tc[@]}" -DCMAKE_BUILD_TYPE=Release -Dqtk_DIR="$P/lib/cmake/qtk" \
        -DCMAKE_C_FLAGS="$strict" -DCMAKE_CXX_FLAGS="$strict" &&
    cmake --build "$W/cmake" -j "${JOBS:-2}"
} >"$T/cmake-build.log" 2>&1 || { cat "$T/cmake-build.log"; fail "building with find_package(qtk)"; }
for x in c_shared c_static cxx_shared cxx_static; do cp "$W/cmake/cm_$x$EXE" "$W/"; done
shname=$(basename "$shlib")
[ $MINGW = 0 ] && shname=$soname
for v in pc cm; do
    for x in c cxx; do
        needs "$v"_"$x"_shared$EXE | grep -qxF "$shname" || fail "${v}_${x}_shared does not use $shname"
        ! needs "$v"_"$x"_static$EXE | grep -qi 'qtk' || fail "${v}_${x}_static needs the shared library"
    done
done
echo "-- built with pkg-config and find_package(qtk): C and C++, static and shared"
# The experimental gate: without QTK_EXPERIMENTAL_API none of these is declared (a program cannot
# depend on them by accident); with it every one is.
n_exp=0
for e in 'sizeof(qtk_type_traits)' 'sizeof(qtk_cpu_features)' 'QTK_ISA_COUNT' '&qtk_type_get' '&qtk_type_at' \
         '&qtk_vec_dot_best' '&qtk_set_max_isa' '&qtk_parallel_for' '&qtk_gguf_open_memory' '&qtk_set_error'; do
    printf '#include <qtk.h>\nint main(void) { return %s == 0; }\n' "$e" >gate.c
    # shellcheck disable=SC2086
    if $CC -std=c11 $cflags -c gate.c -o gate.o >/dev/null 2>&1; then
        fail "qtk.h declares $e without QTK_EXPERIMENTAL_API"
    fi
    # shellcheck disable=SC2086
    $CC -std=c11 -DQTK_EXPERIMENTAL_API $cflags -c gate.c -o gate.o >/dev/null 2>&1 ||
        fail "qtk.h with QTK_EXPERIMENTAL_API: $e does not compile"
    n_exp=$((n_exp + 1))
done
echo "-- experimental API ($n_exp names checked) only with QTK_EXPERIMENTAL_API"

# ---- 4. run -------------------------------------------------------------------------------------
export LD_LIBRARY_PATH=$P/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
model=$SHARED/fixtures/tiny-llama-f16.gguf imatrix=$SHARED/fixtures/imatrix.dat
for v in pc cm; do
    for l in static shared; do
        out=$(run ./"$v"_cxx_"$l"$EXE 2>&1) || fail "${v}_cxx_$l: $out"
        echo "$out" | grep -qxF "C++: qtk $ver ok" || fail "${v}_cxx_$l printed: $out"
        # The model run once per build system and once per library kind (pc static, cm shared);
        # the other two only start (usage message), to keep the stage short.
        if [ -f "$model" ] && [ -f "$imatrix" ] && [ "$v$l" = pcstatic -o "$v$l" = cmshared ]; then
            rm -f "$W/out.gguf"
            out=$(run ./"$v"_c_"$l"$EXE "$model" "$imatrix" "$W/out.gguf" "$PRESET" 2>&1) || fail "${v}_c_$l: $out"
            echo "-- ${v}_c_$l: $out"
            want=$(run "$qtkbin" inspect "$W/out.gguf" | sed -n 's/^total: .*, \([0-9.]*\) bpw.*/\1/p' | tr -d '\r')
            [ -n "$want" ] && echo "$out" | grep -q "^qtk $ver: $PRESET, [1-9][0-9]* of [0-9]* tensors quantized, $want bpw" ||
                fail "${v}_c_$l: expected '... $want bpw' (qtk inspect), got: $out"
        else
            out=$(run ./"$v"_c_"$l"$EXE 2>&1) && fail "${v}_c_$l without arguments exited 0"
            echo "$out" | grep -q '^usage:' || fail "${v}_c_$l printed: $out"
        fi
    done
done
[ -f "$model" ] || echo "-- $model absent: the example was built, not run on a model"
echo "install test passed ($([ $MINGW = 1 ] && echo mingw-w64 under wine || echo native))"
