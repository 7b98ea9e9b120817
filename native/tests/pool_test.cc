// The engine's thread pool (common/pool.cc) and parallelFor on it: every task runs exactly once,
// worker indices stay below the thread count, exceptions reach the caller, nested regions run
// inline, and concurrent callers (as the addon's async workers are) all complete.
#include <doctest/doctest.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "common/parallel.hh"
#include "common/pool.hh"

TEST_CASE("every task runs once, on a worker below the thread count") {
  for (const int threads : {1, 2, 3, 8}) {
    for (const size_t tasks : {size_t{1}, size_t{2}, size_t{7}, size_t{1000}}) {
      std::vector<std::atomic<int>> seen(tasks);
      std::atomic<int> badWorker{0};
      cl::parallelFor(threads, tasks, [&](size_t i, int worker) {
        seen[i].fetch_add(1);
        if (worker < 0 || worker >= threads) badWorker.fetch_add(1);
      });
      for (size_t i = 0; i < tasks; ++i) CHECK(seen[i].load() == 1);
      CHECK(badWorker.load() == 0);
    }
  }
}

TEST_CASE("an exception in a task reaches the caller, and the pool keeps working") {
  CHECK_THROWS_AS(cl::parallelRun(3, 100, [](size_t i) {
                    if (i == 42) throw std::runtime_error("task 42");
                  }),
                  std::runtime_error);
  std::atomic<size_t> sum{0};
  cl::parallelRun(3, 100, [&](size_t i) { sum.fetch_add(i); });
  CHECK(sum.load() == 4950);
}

TEST_CASE("a nested region runs inline on the calling worker") {
  std::atomic<int> total{0}, mismatched{0};
  cl::parallelRun(2, 4, [&](size_t) {
    const auto self = std::this_thread::get_id();
    cl::parallelRun(4, 10, [&](size_t) {
      if (std::this_thread::get_id() != self) mismatched.fetch_add(1);
      total.fetch_add(1);
    });
  });
  CHECK(total.load() == 40);
  CHECK(mismatched.load() == 0);
}

TEST_CASE("concurrent callers each complete their own region") {
  std::vector<std::thread> callers;
  std::vector<uint64_t> sums(6, 0);
  for (int c = 0; c < 6; ++c)
    callers.emplace_back([c, &sums] {
      for (int rep = 0; rep < 50; ++rep) {
        std::vector<uint64_t> part(64, 0);
        cl::parallelFor(3, part.size(), [&](size_t i, int) { part[i] = i * (c + 1); });
        uint64_t s = 0;
        for (uint64_t x : part) s += x;
        sums[c] += s;
      }
    });
  for (auto& t : callers) t.join();
  for (int c = 0; c < 6; ++c) CHECK(sums[c] == 50ull * 2016 * (c + 1));
}
