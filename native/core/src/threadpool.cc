// Workers sleep on a condition variable between calls; a call publishes one task under a
// generation counter and the caller runs chunk 0 itself.
#include "threadpool.h"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <thread>
#if defined(__linux__)
#include <sched.h>
#endif

namespace ds {
namespace {

long PositiveEnv(const char* name) {
  const char* env = std::getenv(name);
  if (!env || !*env) return 0;
  char* end = nullptr;
  long n = std::strtol(env, &end, 10);
  return (*end == '\0' && n > 0) ? n : 0;
}

// DS_NUM_THREADS wins. Otherwise the cores this process may run on, shared among the ranks
// on this machine (LOCAL_WORLD_SIZE from the launcher, or the in-process world size): a lone
// process uses every core, as PyTorch's GEMM does, and N ranks per machine do not
// oversubscribe it.
int ThreadsFromEnv() {
  if (long n = PositiveEnv("DS_NUM_THREADS")) return static_cast<int>(std::min<long>(n, 1024));
  long cores = 0;
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) cores = CPU_COUNT(&set);
#endif
  if (cores < 1) cores = std::max(1u, std::thread::hardware_concurrency());
  long ranks = PositiveEnv("LOCAL_WORLD_SIZE");
  if (!ranks) ranks = PositiveEnv("DS_INPROC_WORLD_SIZE");
  if (!ranks) ranks = 1;
  return static_cast<int>(std::max(1L, std::min(cores / ranks, 1024L)));
}

}  // namespace

ThreadPool& ThreadPool::Instance() {
  // Deliberately leaked: joining workers from a static destructor at exit can deadlock with
  // threads that are still inside a kernel, and the OS reclaims them anyway.
  static ThreadPool* pool = new ThreadPool(ThreadsFromEnv());
  return *pool;
}

ThreadPool::ThreadPool(int threads) { StartWorkers(threads); }

int ThreadPool::Size() const { return size_.load(std::memory_order_relaxed); }

void ThreadPool::Resize(int threads) {
  threads = std::max(1, threads);
  std::lock_guard<std::mutex> call(call_mutex_);
  if (threads == size_) return;
  StopWorkers();
  StartWorkers(threads);
}

size_t ThreadPool::Chunks(size_t n, size_t grain) const {
  size_t by_size = n / std::max<size_t>(grain, 1);
  return std::max<size_t>(1, std::min<size_t>(static_cast<size_t>(Size()), by_size));
}

void ThreadPool::StartWorkers(int threads) {
  stop_ = false;
  size_ = threads;
  workers_.reserve(threads - 1);
  // Workers start from the current generation so a call published before a new thread
  // first takes the lock is still seen as new work.
  unsigned long long start = generation_;
  for (int i = 1; i < threads; i++) workers_.emplace_back([this, i, start] { WorkerLoop(i, start); });
}

void ThreadPool::StopWorkers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
  size_ = 1;
}

void ThreadPool::ChunkRange(size_t chunk, size_t chunks, size_t n, size_t align, size_t* b, size_t* e) {
  auto boundary = [&](size_t c) {
    if (c >= chunks) return n;
    size_t x = n / chunks * c + std::min(c, n % chunks);
    x -= x % align;
    return x;
  };
  *b = boundary(chunk);
  *e = boundary(chunk + 1);
}

void ThreadPool::Run(size_t chunks, size_t n, size_t align, Task task, void* ctx) {
  std::unique_lock<std::mutex> call(call_mutex_, std::try_to_lock);
  // Busy with another rank's call (or resizing): do the work on this thread rather than
  // queueing behind it; the cores are taken anyway.
  if (!call.owns_lock() || chunks > workers_.size() + 1) {
    task(ctx, 0, n);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    chunks_ = chunks;
    n_ = n;
    align_ = std::max<size_t>(align, 1);
    task_ = task;
    ctx_ = ctx;
    pending_ = chunks - 1;
    generation_++;
  }
  wake_.notify_all();
  size_t b, e;
  ChunkRange(0, chunks, n, align_, &b, &e);
  if (b < e) task(ctx, b, e);
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [this] { return pending_ == 0; });
}

void ThreadPool::WorkerLoop(int index, unsigned long long seen) {
  for (;;) {
    size_t chunk, chunks, n, align;
    Task task;
    void* ctx;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      chunks = chunks_;
      if (static_cast<size_t>(index) >= chunks) continue;
      chunk = static_cast<size_t>(index);
      n = n_;
      align = align_;
      task = task_;
      ctx = ctx_;
    }
    size_t b, e;
    ChunkRange(chunk, chunks, n, align, &b, &e);
    if (b < e) task(ctx, b, e);
    std::lock_guard<std::mutex> lock(mutex_);
    if (--pending_ == 0) done_.notify_one();
  }
}

}  // namespace ds
