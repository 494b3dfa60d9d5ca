// The fd -> O_DIRECT twin table (see file_table.h).
#include "file_table.h"

#include <unistd.h>

#include <mutex>
#include <unordered_map>

namespace ds {
namespace {

std::mutex g_mutex;

std::unordered_map<int, std::shared_ptr<DirectTwin>>& Table() {
  // Leaked for the same reason as the pool: requests may still hold twins at exit.
  static auto* table = new std::unordered_map<int, std::shared_ptr<DirectTwin>>();
  return *table;
}

}  // namespace

DirectTwin::~DirectTwin() {
  if (fd >= 0) ::close(fd);
}

void RegisterTwin(int fd, std::shared_ptr<DirectTwin> direct) {
  std::lock_guard<std::mutex> lock(g_mutex);
  Table()[fd] = std::move(direct);
}

std::shared_ptr<DirectTwin> FindTwin(int fd) {
  std::lock_guard<std::mutex> lock(g_mutex);
  auto it = Table().find(fd);
  return it == Table().end() ? nullptr : it->second;
}

void ForgetTwin(int fd) {
  std::lock_guard<std::mutex> lock(g_mutex);
  Table().erase(fd);
}

}  // namespace ds
