#!/usr/bin/env bash
# The sanitizer build: compiles the native addon with AddressSanitizer and UndefinedBehaviorSanitizer
# into build-asan/ (the normal build/ is left alone) and runs the native-facing test suites against
# it, so that any out-of-bounds access, use-after-free or undefined behaviour in the engine fails.
#
#   scripts/sanitize.sh                 build (incremental) and run the default suites
#   scripts/sanitize.sh test/x.test.ts  build and run the given suites instead
#   SANITIZE_SKIP_BUILD=1 scripts/sanitize.sh ...   reuse build-asan/ as it is
#
# Node itself is not built with ASan, so the runtime is preloaded (LD_PRELOAD) and leak detection
# is off (Node's own allocations at exit are not ours); every other finding halts with exit != 0.
set -euo pipefail
cd "$(dirname "$0")/.."

suites=("$@")
filter=()
if [ "${#suites[@]}" -eq 0 ]; then
  # Brown-sized timing comparisons say nothing more under the sanitizers and take minutes there.
  filter=(--testNamePattern '^(?!.*Brown-sized)')
  # The suites that drive every native entry point (n-gram, stats, theory, transformer, the
  # detach/overwrite cases); chosen to stay within a few minutes on 2 cores.
  suites=(test/ngram.model.test.ts test/ngram.estimators.test.ts test/metrics/native.test.ts test/theory.test.ts
    test/transformer.engine.test.ts test/robustness/detach.test.ts test/robustness/models.test.ts)
fi

flags="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all -g"
if [ -z "${SANITIZE_SKIP_BUILD:-}" ]; then
  env=()
  prefix="$(dirname "$(dirname "$(command -v node)")")"
  [ -f "$prefix/include/node/node_api.h" ] && env=(npm_config_nodedir="$prefix")
  # cmake-js sets CMAKE_CXX_FLAGS itself, so the sanitizer flags go in the Release flags (which
  # also drop -DNDEBUG: assertions count as findings too).
  env "${env[@]}" node_modules/.bin/cmake-js compile --out build-asan \
    --CDCMAKE_CXX_FLAGS_RELEASE="-O1 $flags" --CDCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" --CDCOLLAPSE_NO_CUDA=ON >build-asan.log 2>&1 ||
    { tail -50 build-asan.log; echo "sanitize: the ASan/UBSan build failed (log: build-asan.log)"; exit 1; }
fi
addon="$PWD/build-asan/Release/collapse_native.node"
test -f "$addon" || { echo "sanitize: $addon is missing"; exit 1; }
# An uninstrumented addon would pass silently: require ASan's checks in the binary.
[ "$(nm -D "$addon" | grep -c __asan_report)" -gt 0 ] || { echo "sanitize: $addon is not instrumented (no __asan_report symbols)"; exit 1; }

libasan="$(${CXX:-g++} -print-file-name=libasan.so)"
libubsan="$(${CXX:-g++} -print-file-name=libubsan.so)"
[ -f "$libasan" ] || { echo "sanitize: libasan.so not found (install the compiler's sanitizer runtime, e.g. libasan8)"; exit 1; }

export COLLAPSE_NATIVE_PATH="$addon"
[ -f "$libubsan" ] || libubsan=""
export LD_PRELOAD="$libasan${libubsan:+:$libubsan}"
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:exitcode=86:detect_odr_violation=0:allocator_may_return_null=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=87"
echo "sanitize: running ${suites[*]} against $addon"
# One worker: the suites spawn children of their own, and ASan multiplies memory.
node --experimental-vm-modules node_modules/jest/bin/jest.js --runInBand "${filter[@]}" "${suites[@]}"
echo "sanitize: no finding"
