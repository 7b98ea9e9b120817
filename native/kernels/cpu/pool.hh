// A persistent thread pool for the transformer's kernels. Spawning threads per kernel call (as
// cl::parallelFor does) costs tens of microseconds, and a training step calls a few hundred
// kernels, so the kernels share these long-lived workers instead.
//
// Determinism contract: run(threads, tasks, fn) calls fn(task) once for every task in [0, tasks),
// on whichever thread; callers make every task write its own outputs, so the result never depends
// on the thread count or on which thread ran which task.
#pragma once
#include <cstddef>
#include <functional>

namespace cl::kernels {

// Runs fn(0..tasks-1) on up to `threads` threads (the caller is one of them) and returns when all
// are done. If another caller is using the pool, the tasks run inline on the calling thread.
// An exception thrown by fn is rethrown here after every task has stopped.
void parallelRun(int threads, size_t tasks, const std::function<void(size_t)>& fn);

}  // namespace cl::kernels
