#include "common/pool.hh"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace cl {

namespace {

// One crew: helper threads that run one parallel region at a time with the calling thread.
class Crew {
 public:
  // Grows to `workers` helper threads (never shrinks). Called with busy_ held.
  void ensure(int workers) {
    while (static_cast<int>(threads_.size()) < workers) {
      const int id = static_cast<int>(threads_.size());
      threads_.emplace_back([this, id] { loop(id); });
    }
  }

  // Runs the region on this crew and returns true, or returns false at once when the crew is
  // already running another region.
  bool tryRun(int want, size_t tasks, const std::function<void(size_t, int)>& fn) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    ensure(want - 1);
    {
      std::lock_guard<std::mutex> lk(m_);
      fn_ = &fn;
      tasks_ = tasks;
      next_.store(0, std::memory_order_relaxed);
      helpers_ = want - 1;
      pending_.store(want - 1, std::memory_order_relaxed);
      error_ = nullptr;
      gen_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    tlsInRegion = true;
    work(0);
    tlsInRegion = false;
    spinWhile([&] { return pending_.load(std::memory_order_acquire) != 0; });
    std::unique_lock<std::mutex> lk(m_);
    done_.wait(lk, [&] { return pending_.load(std::memory_order_acquire) == 0; });
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
    return true;
  }

  // Set while this thread runs tasks of a region (of any crew): a region nested in it runs inline.
  static thread_local bool tlsInRegion;

 private:
  void work(int worker) {
    try {
      for (size_t i; (i = next_.fetch_add(1, std::memory_order_relaxed)) < tasks_;) (*fn_)(i, worker);
    } catch (...) {
      std::lock_guard<std::mutex> lk(m_);
      if (!error_) error_ = std::current_exception();
      next_.store(tasks_);
    }
  }

  // Waiting spins a little before it sleeps: a training step or a decoding step dispatches
  // hundreds of short parallel regions, and a futex sleep + wake-up per region costs more than
  // the smaller ones take (the region's data is read under m_ after the wait either way).
  template <class Cond>
  static void spinWhile(Cond cond) {
    for (int i = 0; i < kSpins && cond(); ++i) cpuRelax();
  }
  static void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    std::this_thread::yield();
#endif
  }

  void loop(int id) {
    uint64_t seen = 0;
    for (;;) {
      spinWhile([&] { return gen_.load(std::memory_order_acquire) == seen; });
      {
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, [&] { return gen_.load(std::memory_order_relaxed) != seen; });
        seen = gen_.load(std::memory_order_relaxed);
        if (id >= helpers_) continue;
      }
      tlsInRegion = true;
      work(id + 1);
      tlsInRegion = false;
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lk(m_);
        done_.notify_one();
      }
    }
  }

  static constexpr int kSpins = 4000;  // ~50 µs of pause instructions
  std::mutex busy_;  // one parallel region at a time
  std::mutex m_;
  std::condition_variable cv_, done_;
  std::vector<std::thread> threads_;
  const std::function<void(size_t, int)>* fn_ = nullptr;
  std::atomic<size_t> next_{0};
  size_t tasks_ = 0;
  int helpers_ = 0;
  std::atomic<int> pending_{0};
  std::atomic<uint64_t> gen_{0};
  std::exception_ptr error_;
};

thread_local bool Crew::tlsInRegion = false;

void inlineRun(size_t tasks, const std::function<void(size_t, int)>& fn) {
  for (size_t i = 0; i < tasks; ++i) fn(i, 0);
}

// The pool: crews created on demand and kept. A region takes the first idle crew, so concurrent
// jobs (the addon's async workers: the n-gram paradigms run side by side) each get helpers, as
// they did when every call spawned its own threads; past kMaxCrews concurrent regions, a region
// runs inline. Crews and their threads are never destroyed: they sleep until the process exits
// (joining them from a static destructor inside a Node addon is unsafe).
constexpr int kMaxCrews = 8;
std::atomic<Crew*> gCrews[kMaxCrews];
std::mutex gCrewsMutex;

Crew* crew(int i) {
  Crew* c = gCrews[i].load(std::memory_order_acquire);
  if (c) return c;
  std::lock_guard<std::mutex> lk(gCrewsMutex);
  c = gCrews[i].load(std::memory_order_relaxed);
  if (!c) {
    c = new Crew();
    gCrews[i].store(c, std::memory_order_release);
  }
  return c;
}

void run(int threads, size_t tasks, const std::function<void(size_t, int)>& fn) {
  if (tasks == 0) return;
  const int want = std::max(1, std::min<int>(threads, static_cast<int>(std::min<size_t>(tasks, 64))));
  // Inline: one thread wanted, or a region nested in one this thread is running.
  if (want == 1 || Crew::tlsInRegion) return inlineRun(tasks, fn);
  for (int i = 0; i < kMaxCrews; ++i)
    if (crew(i)->tryRun(want, tasks, fn)) return;
  inlineRun(tasks, fn);
}

}  // namespace

void parallelRun(int threads, size_t tasks, const std::function<void(size_t)>& fn) {
  run(threads, tasks, [&fn](size_t i, int) { fn(i); });
}
void parallelRunWorkers(int threads, size_t tasks, const std::function<void(size_t, int)>& fn) { run(threads, tasks, fn); }

int hardwareThreads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

}  // namespace cl
