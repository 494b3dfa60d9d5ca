// Workers sleep on a condition variable and take tasks from one FIFO queue.
#include "io_pool.h"

#include <algorithm>
#include <cstdlib>

namespace ds {
namespace {

int ThreadsFromEnv() {
  const char* env = std::getenv("DS_AIO_THREADS");
  if (env && *env) {
    char* end = nullptr;
    long n = std::strtol(env, &end, 10);
    if (*end == '\0' && n > 0) return static_cast<int>(std::min(n, 256L));
  }
  return 4;
}

}  // namespace

IoPool& IoPool::Instance() {
  // Deliberately leaked: joining threads from a static destructor at exit could wait on a
  // device, and the OS reclaims them anyway.
  static IoPool* pool = new IoPool(ThreadsFromEnv());
  return *pool;
}

IoPool::IoPool(int threads) { Start(threads); }

void IoPool::Submit(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(task));
  }
  wake_.notify_one();
}

int IoPool::Size() {
  std::lock_guard<std::mutex> lock(resize_mutex_);
  return static_cast<int>(workers_.size());
}

void IoPool::Resize(int threads) {
  threads = std::max(1, threads);
  std::lock_guard<std::mutex> lock(resize_mutex_);
  if (static_cast<int>(workers_.size()) == threads) return;
  Stop();
  Start(threads);
}

void IoPool::Start(int threads) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = false;
  }
  for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

void IoPool::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
}

void IoPool::WorkerLoop() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

}  // namespace ds
