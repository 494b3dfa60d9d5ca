// Files opened through open(): each buffered descriptor may have an O_DIRECT twin on the same
// file. Requests whose buffer, offset and length are aligned go through the twin (no page
// cache, DMA straight into the caller's buffer); the rest, and every request once the
// filesystem has refused direct I/O, go through the buffered descriptor.
#pragma once

#include <atomic>
#include <memory>

namespace ds {

// Bytes that O_DIRECT requires buffers, offsets and lengths to be multiples of. 4096 covers
// every logical block size in use (512 and 4096).
constexpr size_t kDirectAlignment = 4096;

struct DirectTwin {
  explicit DirectTwin(int fd) : fd(fd) {}
  ~DirectTwin();
  DirectTwin(const DirectTwin&) = delete;
  DirectTwin& operator=(const DirectTwin&) = delete;

  const int fd;
  // Cleared when a direct transfer fails with EINVAL (the filesystem accepted O_DIRECT at
  // open but not for I/O): later requests use the buffered descriptor.
  std::atomic<bool> usable{true};
};

// Registers `direct` as the twin of `fd` (replacing any stale entry for a reused number).
void RegisterTwin(int fd, std::shared_ptr<DirectTwin> direct);
// The twin of `fd`, or null when it has none (buffered only, or not opened by open()).
std::shared_ptr<DirectTwin> FindTwin(int fd);
// Drops the twin; its descriptor closes once no request uses it any more.
void ForgetTwin(int fd);

}  // namespace ds
