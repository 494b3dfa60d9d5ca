// A small persistent thread pool for splitting one kernel call over a few threads.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace ds {

class ThreadPool {
 public:
  // The process-wide pool. Sized from DS_NUM_THREADS, else 1 (one thread per rank: ranks
  // that are processes or threads would otherwise oversubscribe the cores).
  static ThreadPool& Instance();

  // Total threads taking part in a call, the calling thread included (>= 1).
  int Size() const;
  void Resize(int threads);

  // Runs fn(begin, end) over [0, n) split into at most Size() contiguous chunks of at least
  // `grain` items; chunk boundaries are multiples of `align` so threads never share the
  // cache line at a boundary. Small n runs inline on the caller, and so does everything
  // while another thread's call holds the pool. Kernels therefore never let a result depend
  // on where the chunk boundaries fall: that is what makes them independent of the thread count.
  template <class F>
  void For(size_t n, size_t grain, size_t align, F&& fn) {
    size_t chunks = Chunks(n, grain);
    if (chunks <= 1) {
      if (n > 0) fn(size_t{0}, n);
      return;
    }
    auto call = [](void* ctx, size_t b, size_t e) { (*static_cast<std::remove_reference_t<F>*>(ctx))(b, e); };
    Run(chunks, n, align, call, const_cast<void*>(static_cast<const void*>(&fn)));
  }

  // Number of chunks For(n, grain, ...) would use (1 when it runs inline).
  size_t Chunks(size_t n, size_t grain) const;

 private:
  using Task = void (*)(void*, size_t, size_t);
  explicit ThreadPool(int threads);
  void Run(size_t chunks, size_t n, size_t align, Task task, void* ctx);
  void StartWorkers(int count);
  void StopWorkers();
  void WorkerLoop(int index, unsigned long long seen);
  static void ChunkRange(size_t chunk, size_t chunks, size_t n, size_t align, size_t* b, size_t* e);

  // Held for a whole call: ranks running as threads share this pool, and a second caller
  // runs its work inline instead of waiting (see Run).
  std::mutex call_mutex_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::vector<std::thread> workers_;
  std::atomic<int> size_{1};
  bool stop_ = false;
  unsigned long long generation_ = 0;
  size_t pending_ = 0;
  size_t chunks_ = 0, n_ = 0, align_ = 1;
  Task task_ = nullptr;
  void* ctx_ = nullptr;
};

}  // namespace ds
