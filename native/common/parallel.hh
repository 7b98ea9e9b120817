// A minimal parallel-for: `chunks` independent work items shared by up to `threads` threads.
// Results must be written per chunk and combined in chunk order by the caller, so the output is
// the same for any thread count. Exceptions thrown by a worker are captured and rethrown after
// the join (never std::terminate).
#pragma once
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace cl {

inline int hardwareThreads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

template <class Fn>
void parallelFor(int threads, size_t chunks, Fn&& fn) {
  if (chunks == 0) return;
  int t = std::max(1, std::min<int>(threads, static_cast<int>(std::min<size_t>(chunks, 256))));
  if (t == 1) {
    for (size_t i = 0; i < chunks; ++i) fn(i, 0);
    return;
  }
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex errorMutex;
  auto body = [&](int worker) {
    try {
      for (size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < chunks;) fn(i, worker);
    } catch (...) {
      std::lock_guard<std::mutex> lock(errorMutex);
      if (!error) error = std::current_exception();
      next.store(chunks);
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(t - 1);
  for (int w = 1; w < t; ++w) pool.emplace_back(body, w);
  body(0);
  for (auto& th : pool) th.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace cl
