#include "kernels/cpu/pool.hh"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace cl::kernels {

namespace {

class Pool {
 public:
  // Grows to `workers` helper threads (never shrinks). Called with busy_ held.
  void ensure(int workers) {
    while (static_cast<int>(threads_.size()) < workers) {
      const int id = static_cast<int>(threads_.size());
      threads_.emplace_back([this, id] { loop(id); });
    }
  }

  void run(int threads, size_t tasks, const std::function<void(size_t)>& fn) {
    if (tasks == 0) return;
    const int want = std::max(1, std::min<int>(threads, static_cast<int>(std::min<size_t>(tasks, 64))));
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (want == 1 || !busy.owns_lock()) {
      for (size_t i = 0; i < tasks; ++i) fn(i);
      return;
    }
    ensure(want - 1);
    {
      std::lock_guard<std::mutex> lk(m_);
      fn_ = &fn;
      tasks_ = tasks;
      next_.store(0, std::memory_order_relaxed);
      helpers_ = want - 1;
      pending_ = want - 1;
      error_ = nullptr;
      ++gen_;
    }
    cv_.notify_all();
    work();
    std::unique_lock<std::mutex> lk(m_);
    done_.wait(lk, [&] { return pending_ == 0; });
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void work() {
    try {
      for (size_t i; (i = next_.fetch_add(1, std::memory_order_relaxed)) < tasks_;) (*fn_)(i);
    } catch (...) {
      std::lock_guard<std::mutex> lk(m_);
      if (!error_) error_ = std::current_exception();
      next_.store(tasks_);
    }
  }

  void loop(int id) {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, [&] { return gen_ != seen; });
        seen = gen_;
        if (id >= helpers_) continue;
      }
      work();
      std::lock_guard<std::mutex> lk(m_);
      if (--pending_ == 0) done_.notify_one();
    }
  }

  std::mutex busy_;  // one parallel region at a time
  std::mutex m_;
  std::condition_variable cv_, done_;
  std::vector<std::thread> threads_;
  const std::function<void(size_t)>* fn_ = nullptr;
  std::atomic<size_t> next_{0};
  size_t tasks_ = 0;
  int helpers_ = 0, pending_ = 0;
  uint64_t gen_ = 0;
  std::exception_ptr error_;
};

// Never destroyed: its threads sleep until the process exits (joining them from a static
// destructor inside a Node addon is unsafe).
Pool& pool() {
  static Pool* p = new Pool();
  return *p;
}

}  // namespace

void parallelRun(int threads, size_t tasks, const std::function<void(size_t)>& fn) { pool().run(threads, tasks, fn); }

}  // namespace cl::kernels
