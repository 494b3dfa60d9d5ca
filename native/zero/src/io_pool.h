// The threads that run blocking file I/O (pread / pwrite) off the JavaScript thread. One pool
// per process, shared by every rank that runs as a thread; tasks run in submission order.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ds {

class IoPool {
 public:
  // The process-wide pool, started on first use with DS_AIO_THREADS threads (default 4: the
  // threads mostly wait on the device, so more of them than cores keeps its queue full).
  static IoPool& Instance();

  void Submit(std::function<void()> task);
  int Size();
  // Waits for the running tasks of the old threads to finish; queued tasks carry over.
  void Resize(int threads);

 private:
  explicit IoPool(int threads);
  void Start(int threads);
  void Stop();
  void WorkerLoop();

  std::mutex resize_mutex_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;
  std::vector<std::thread> workers_;
  bool stop_ = false;
};

}  // namespace ds
