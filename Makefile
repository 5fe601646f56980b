# Thin wrapper over CMake: `make` builds Release into build/, `make test` runs ctest.
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE ?= cmake
CMAKE_FLAGS ?=
PREFIX ?= /usr/local

.PHONY: all build test clean asan tsan fuzz ci demo mutate install install-test

all: build

$(BUILD)/CMakeCache.txt:
	$(CMAKE) -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: $(BUILD)/CMakeCache.txt
	$(CMAKE) --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Installs libqtk.a, libqtk.so (.dll), qtk.h, qtk.pc, the CMake package (find_package(qtk))
# and the qtk program under PREFIX (docs/api.md); DESTDIR is honoured.
install: build
	$(CMAKE) --install $(BUILD) --prefix $(PREFIX)

# Installs into a scratch prefix and builds and runs programs against it (scripts/install_test.sh).
install-test: build
	bash scripts/install_test.sh $(BUILD)

# Builds the tool, then quantizes a model with several presets and prints one
# table (scripts/demo.sh). Model: MODEL=path (MODEL=synth: the synthetic one),
# else ../shared/fixtures/tiny-llama-f16.gguf if present, else `qtk synth`.
demo: $(BUILD)/CMakeCache.txt
	$(CMAKE) --build $(BUILD) -j $(JOBS) --target qtk_cli
	QTK="$(BUILD)/bin/qtk" OUT="$(BUILD)/demo" MODEL="$(MODEL)" IMATRIX="$(IMATRIX)" TEXT="$(TEXT)" \
	  PRESETS="$(PRESETS)" THREADS="$(THREADS)" CHUNKS="$(CHUNKS)" CTX="$(CTX)" SHAPE="$(SHAPE)" sh scripts/demo.sh

# Same tests under AddressSanitizer + UndefinedBehaviorSanitizer.
asan:
	$(MAKE) test BUILD=build-asan CMAKE_FLAGS="-DCMAKE_BUILD_TYPE=RelWithDebInfo -DQTK_SANITIZE=ON $(CMAKE_FLAGS)"

# The thread pool and the engine under ThreadSanitizer (build-tsan/): the tests that run work on
# several threads (test_dot is single-threaded, so TSan has nothing to check there).
TSAN_TESTS ?= test_threadpool|test_forward$$|test_attention|test_matmul
tsan:
	$(CMAKE) -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQTK_SANITIZE_THREAD=ON $(CMAKE_FLAGS)
	$(CMAKE) --build build-tsan -j $(JOBS) --target qtk_cli test_threadpool test_forward test_attention test_matmul
	cd build-tsan && QTK_TEST_QUICK=1 TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -j $(JOBS) -R '$(TSAN_TESTS)'

# libFuzzer targets (clang).
fuzz:
	$(CMAKE) -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DQTK_FUZZ=ON -DQTK_BUILD_TESTS=OFF -DQTK_BUILD_SHARED=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo
	$(CMAKE) --build build-fuzz -j $(JOBS)

# Mutation check: applies deliberate faults one at a time to a scratch copy of the tree and
# fails if the tests meant to catch one still pass (scripts/mutate.sh).
mutate:
	JOBS=$(JOBS) sh scripts/mutate.sh

# The whole CI pipeline (installs its packages with apt-get; see .ci/run).
ci:
	bash .ci/run

clean:
	rm -rf build build-asan build-tsan build-fuzz build-mingw build-arm64 build-mutate build-ci-logs
