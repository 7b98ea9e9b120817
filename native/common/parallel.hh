// parallelFor: `chunks` independent work items shared by up to `threads` threads of the engine's
// one pool (common/pool.hh). Results must be written per chunk and combined in chunk order by the
// caller, so the output is the same for any thread count. fn(chunk, worker) gets the index of the
// thread running it, in [0, threads), for per-worker scratch. Exceptions thrown by a worker are
// rethrown after every chunk has stopped (never std::terminate).
#pragma once
#include <cstddef>
#include <utility>

#include "common/pool.hh"

namespace cl {

template <class Fn>
void parallelFor(int threads, size_t chunks, Fn&& fn) {
  if (chunks == 0) return;
  if (threads <= 1 || chunks == 1) {
    for (size_t i = 0; i < chunks; ++i) fn(i, 0);
    return;
  }
  parallelRunWorkers(threads, chunks, [&fn](size_t i, int worker) { fn(i, worker); });
}

}  // namespace cl
