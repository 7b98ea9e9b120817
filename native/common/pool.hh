// The engine's one thread pool: persistent workers shared by the transformer's kernels and the
// n-gram, statistics and theory code (through cl::parallelFor, common/parallel.hh). Spawning
// threads per call costs tens of microseconds, and a training step calls a few hundred kernels,
// so every parallel region runs on these long-lived workers instead.
//
// Determinism contract: run(threads, tasks, fn) calls fn(task) once for every task in [0, tasks),
// on whichever thread; callers make every task write its own outputs, so the result never depends
// on the thread count or on which thread ran which task.
#pragma once
#include <cstddef>
#include <functional>

namespace cl {

// Runs fn(0..tasks-1) on up to `threads` threads (the caller is one of them) and returns when all
// are done. Concurrent callers each get helpers of their own (up to 8 regions at once, beyond
// which a region runs inline); a region nested in one this thread is running runs inline. An exception thrown by fn is rethrown here after every
// task has stopped.
void parallelRun(int threads, size_t tasks, const std::function<void(size_t)>& fn);
// The same with the index of the thread running each task, in [0, threads used): per-worker
// scratch space. Which worker runs which task varies from run to run.
void parallelRunWorkers(int threads, size_t tasks, const std::function<void(size_t, int)>& fn);

// Threads the hardware offers (at least 1).
int hardwareThreads();

namespace kernels {
using cl::parallelRun;
}

}  // namespace cl
