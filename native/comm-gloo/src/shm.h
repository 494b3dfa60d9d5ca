// Collectives among the processes of one host through one shared-memory segment.
//
// When every member of a group runs on the same host (same boot, same network and pid
// namespaces), the group maps one segment that rank 0 creates (an anonymous memfd the others
// open through /proc/<pid>/fd, so nothing is left behind in /dev/shm and Docker's small /dev/shm
// does not apply). Each rank owns one slot of it; a collective moves its data through the slots
// in rounds of at most a slot, and the ranks meet between the phases of a round through per-rank
// step counters (a short spin, then a futex on the segment). TCP through Gloo stays for
// point-to-point transfers and for groups that span hosts.
//
// The call check costs nothing here: each rank writes its call descriptor beside its step
// counter, and every rank compares them all at the first meeting of a collective. While a rank
// waits it also watches the ranks it waits for: one whose process has exited, or whose group
// has failed (it timed out, say), ends the wait at once with that diagnosis.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "desc.h"

namespace gloo {
namespace rendezvous {
class Store;
}
}  // namespace gloo

namespace dsgloo {

/** Bytes of each rank's slot (DS_GLOO_SHM_BYTES, default 1 MiB); 0 turns the shared-memory path off. */
size_t shmSlotBytes();

class ShmSegment {
 public:
  struct alignas(64) Header {
    uint32_t magic;
    uint32_t size;
    uint64_t slotBytes;
    uint64_t totalBytes;
    alignas(64) std::atomic<uint32_t> epoch;  // bumped (and futex-woken) when a step is published to a waiter
    std::atomic<uint32_t> waiters;
  };
  struct alignas(64) RankState {
    std::atomic<uint64_t> step;
    alignas(64) Desc desc;
    int32_t pid;
    std::atomic<uint32_t> failed;  // set once this rank's group failed; `why` says how
    char why[376];
  };

  struct Wait {
    enum Kind { OK, TIMEOUT, EXITED, ABANDONED } kind = OK;
    std::vector<int> ranks;  // the ranks waited for (TIMEOUT), or the one that exited / gave up
  };

  /**
   * Maps the group's segment if every member runs on this host; null otherwise, with the reason
   * in `why`. Collective over `store` (every member must call it); all members decide alike.
   */
  static std::unique_ptr<ShmSegment> attach(int rank, int size, gloo::rendezvous::Store& store, std::chrono::milliseconds timeout,
                                            std::string* why);
  ~ShmSegment();

  int rank() const { return rank_; }
  int size() const { return size_; }
  size_t slotBytes() const { return slotBytes_; }
  char* slot(int r) const { return base_ + slotsOff_ + size_t(r) * slotBytes_; }
  RankState& state(int r) const { return reinterpret_cast<RankState*>(base_ + statesOff_)[r]; }
  /** Bytes rank `from` sends to (`recv`: expects from) rank `to` in the current all-to-all. */
  int64_t& count(bool recv, int from, int to) const {
    return reinterpret_cast<int64_t*>(base_ + countsOff_)[(recv ? size_ * size_ : 0) + from * size_ + to];
  }

  /** Publishes this rank's next step. */
  void arrive();
  /** The last step this rank published. */
  uint64_t step() const { return step_; }
  /** Waits until every rank has published `target`, or one cannot any more, or the deadline. */
  Wait waitAll(uint64_t target, std::chrono::steady_clock::time_point deadline);
  /** Tells the other ranks this rank's group failed, so their waits on it end at once. */
  void abandon(const std::string& why);

 private:
  ShmSegment() = default;
  bool reached(uint64_t target) const;

  int rank_ = 0;
  int size_ = 0;
  size_t slotBytes_ = 0;
  size_t totalBytes_ = 0;
  size_t statesOff_ = 0;
  size_t countsOff_ = 0;
  size_t slotsOff_ = 0;
  char* base_ = nullptr;
  Header* hdr_ = nullptr;
  uint64_t step_ = 0;
  std::chrono::nanoseconds spin_{0};
};

}  // namespace dsgloo
