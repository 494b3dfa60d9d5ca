#include "shm.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <immintrin.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <gloo/rendezvous/store.h>

#include "reduce.h"

namespace dsgloo {

namespace {

constexpr uint32_t kSegMagic = 0x4d485344;  // "DSHM"
constexpr size_t kPage = 4096;

size_t alignUp(size_t x, size_t a) { return (x + a - 1) / a * a; }

std::string readLine(const char* path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

std::string nsInode(const char* path) {
  struct stat st;
  return stat(path, &st) == 0 ? std::to_string(st.st_ino) : std::string("?");
}

// Processes that agree on this can map each other's memfd and see each other's pids.
std::string hostKey() {
  const std::string boot = readLine("/proc/sys/kernel/random/boot_id");
  if (boot.empty()) return "";
  return boot + "/net:" + nsInode("/proc/self/ns/net") + "/pid:" + nsInode("/proc/self/ns/pid");
}

std::vector<char> bytes(const std::string& s) { return std::vector<char>(s.begin(), s.end()); }
std::string text(const std::vector<char>& v) { return std::string(v.begin(), v.end()); }

int futexWait(std::atomic<uint32_t>* addr, uint32_t expected, std::chrono::nanoseconds timeout) {
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1000000000);
  ts.tv_nsec = static_cast<long>(timeout.count() % 1000000000);
  // Not FUTEX_PRIVATE: the word lives in memory shared between processes.
  return static_cast<int>(syscall(SYS_futex, reinterpret_cast<uint32_t*>(addr), FUTEX_WAIT, expected, &ts, nullptr, 0));
}

void futexWakeAll(std::atomic<uint32_t>* addr) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(addr), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

// Gone, or a zombie its parent has not reaped yet.
bool processGone(int pid) {
  if (pid <= 0) return false;
  if (kill(pid, 0) == -1 && errno == ESRCH) return true;
  const std::string stat = readLine(("/proc/" + std::to_string(pid) + "/stat").c_str());
  const auto close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) return false;
  const char state = stat[close + 2];
  return state == 'Z' || state == 'X';
}

}  // namespace

size_t shmSlotBytes() {
  static const size_t bytes = [] {
    const char* v = std::getenv("DS_GLOO_SHM_BYTES");
    if (!v || !*v) return size_t(1) << 20;
    const size_t b = static_cast<size_t>(std::strtoull(v, nullptr, 10));
    return b == 0 ? 0 : std::max<size_t>(alignUp(b, 64), 4096);
  }();
  return bytes;
}

std::unique_ptr<ShmSegment> ShmSegment::attach(int rank, int size, gloo::rendezvous::Store& store, std::chrono::milliseconds timeout,
                                               std::string* why) {
  const size_t slotBytes = shmSlotBytes();
  const std::string key = slotBytes == 0 ? "off" : hostKey();
  const std::string mine = key + "|" + std::to_string(slotBytes);
  store.set("shm/host/" + std::to_string(rank), bytes(mine));
  std::vector<std::string> keys;
  for (int r = 0; r < size; r++) keys.push_back("shm/host/" + std::to_string(r));
  store.wait(keys, timeout);
  for (int r = 0; r < size; r++) {
    if (text(store.get(keys[r])) != mine) {
      *why = slotBytes == 0 ? "turned off (DS_GLOO_SHM_BYTES=0)" : "the members are not all on one host (or disagree on DS_GLOO_SHM_BYTES)";
      return nullptr;
    }
  }
  if (slotBytes == 0) {
    *why = "turned off (DS_GLOO_SHM_BYTES=0)";
    return nullptr;
  }
  if (key.empty()) {
    *why = "this system has no boot id";
    return nullptr;
  }

  std::unique_ptr<ShmSegment> s(new ShmSegment());
  s->rank_ = rank;
  s->size_ = size;
  s->slotBytes_ = slotBytes;
  s->statesOff_ = alignUp(sizeof(Header), 64);
  s->countsOff_ = alignUp(s->statesOff_ + size_t(size) * sizeof(RankState), 64);
  s->slotsOff_ = alignUp(s->countsOff_ + 2 * size_t(size) * size * sizeof(int64_t), kPage);
  s->totalBytes_ = s->slotsOff_ + size_t(size) * slotBytes;
  // Spinning pays while every rank has a core to itself; oversubscribed, it takes the core a peer needs.
  const long cores = sysconf(_SC_NPROCESSORS_ONLN);
  s->spin_ = size <= cores ? std::chrono::microseconds(50) : std::chrono::microseconds(2);

  int fd = -1;
  std::string failure;
  if (rank == 0) {
    fd = static_cast<int>(syscall(SYS_memfd_create, "ds-gloo-group", MFD_CLOEXEC));
    if (fd < 0) {
      failure = std::string("memfd_create: ") + std::strerror(errno);
    } else if (ftruncate(fd, static_cast<off_t>(s->totalBytes_)) != 0) {
      failure = std::string("ftruncate: ") + std::strerror(errno);
    }
    store.set("shm/segment", bytes(failure.empty() ? std::to_string(getpid()) + " " + std::to_string(fd) : "error " + failure));
  } else {
    store.wait({"shm/segment"}, timeout);
    const std::string where = text(store.get("shm/segment"));
    if (where.rfind("error", 0) == 0) {
      failure = "rank 0 could not create it: " + where.substr(6);
    } else {
      std::istringstream in(where);
      int pid = 0, theirFd = -1;
      in >> pid >> theirFd;
      const std::string path = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(theirFd);
      fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
      if (fd < 0) failure = "open " + path + ": " + std::strerror(errno);
    }
  }
  if (failure.empty()) {
    void* p = mmap(nullptr, s->totalBytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      failure = std::string("mmap: ") + std::strerror(errno);
    } else {
      s->base_ = static_cast<char*>(p);
      s->hdr_ = reinterpret_cast<Header*>(p);
      if (rank == 0) {
        // A fresh memfd reads as zeros: every counter and flag starts at 0.
        s->hdr_->magic = kSegMagic;
        s->hdr_->size = static_cast<uint32_t>(size);
        s->hdr_->slotBytes = slotBytes;
        s->hdr_->totalBytes = s->totalBytes_;
      }
      s->state(rank).pid = getpid();
    }
  }
  if (fd >= 0 && rank != 0) close(fd);

  // Rank 0 wrote the header before publishing where the segment is; the others check it.
  if (failure.empty() && rank != 0 &&
      (s->hdr_->magic != kSegMagic || s->hdr_->size != uint32_t(size) || s->hdr_->totalBytes != s->totalBytes_)) {
    failure = "the segment's header does not match this group";
  }
  store.set("shm/ok/" + std::to_string(rank), bytes(failure.empty() ? "ok" : failure));
  std::vector<std::string> oks;
  for (int r = 0; r < size; r++) oks.push_back("shm/ok/" + std::to_string(r));
  store.wait(oks, timeout);
  if (fd >= 0 && rank == 0) close(fd);  // everyone has mapped it (or given up): the mappings keep it alive
  for (int r = 0; r < size; r++) {
    const std::string ok = text(store.get(oks[r]));
    if (ok != "ok") {
      *why = "rank " + std::to_string(r) + " could not map the group's segment: " + ok;
      return nullptr;  // the destructor unmaps
    }
  }
  return s;
}

ShmSegment::~ShmSegment() {
  if (base_) munmap(base_, totalBytes_);
}

bool ShmSegment::reached(uint64_t target) const {
  for (int r = 0; r < size_; r++) {
    if (state(r).step.load(std::memory_order_seq_cst) < target) return false;
  }
  return true;
}

void ShmSegment::arrive() {
  state(rank_).step.store(++step_, std::memory_order_seq_cst);
  // Pairs with waitAll's (waiters++, read epoch, check steps): either the waiter sees this step,
  // or this sees the waiter and moves the epoch it sleeps on.
  if (hdr_->waiters.load(std::memory_order_seq_cst) != 0) {
    hdr_->epoch.fetch_add(1, std::memory_order_seq_cst);
    futexWakeAll(&hdr_->epoch);
  }
}

ShmSegment::Wait ShmSegment::waitAll(uint64_t target, std::chrono::steady_clock::time_point deadline) {
  using Clock = std::chrono::steady_clock;
  const auto spinUntil = Clock::now() + spin_;
  for (int i = 0;; i++) {
    if (reached(target)) return {};
    if ((i & 63) == 63 && Clock::now() >= spinUntil) break;
    _mm_pause();
  }
  // Liveness is polled: a killed peer cannot say it is going.
  constexpr auto kPoll = std::chrono::milliseconds(10);
  auto nextLivenessCheck = Clock::now();
  for (;;) {
    hdr_->waiters.fetch_add(1, std::memory_order_seq_cst);
    const uint32_t e = hdr_->epoch.load(std::memory_order_seq_cst);
    bool done = reached(target);
    if (!done) {
      const auto left = deadline - Clock::now();
      if (left > Clock::duration::zero()) futexWait(&hdr_->epoch, e, std::min<std::chrono::nanoseconds>(left, kPoll));
    }
    hdr_->waiters.fetch_sub(1, std::memory_order_seq_cst);
    if (done || reached(target)) return {};

    std::vector<int> missing;
    for (int r = 0; r < size_; r++) {
      if (state(r).step.load(std::memory_order_seq_cst) < target) missing.push_back(r);
    }
    for (int r : missing) {
      if (state(r).failed.load(std::memory_order_acquire)) return {Wait::ABANDONED, {r}};
    }
    const auto now = Clock::now();
    if (now >= nextLivenessCheck) {
      for (int r : missing) {
        if (processGone(state(r).pid)) return {Wait::EXITED, {r}};
      }
      nextLivenessCheck = now + kPoll;
    }
    if (now >= deadline) return {Wait::TIMEOUT, missing};
  }
}

void ShmSegment::abandon(const std::string& why) {
  RankState& me = state(rank_);
  if (me.failed.load(std::memory_order_relaxed)) return;
  const size_t n = std::min(why.size(), sizeof(me.why) - 1);
  std::memcpy(me.why, why.data(), n);
  me.why[n] = '\0';
  me.failed.store(1, std::memory_order_release);
  hdr_->epoch.fetch_add(1, std::memory_order_seq_cst);
  futexWakeAll(&hdr_->epoch);
}

// ---------------------------------------------------------------- collectives (Core)

namespace {

// First element of rank j's slice of an m-element chunk (slice j: [sliceLo(m, j, n), sliceLo(m, j + 1, n))).
inline size_t sliceLo(size_t m, int j, int n) { return m * size_t(j) / size_t(n); }

}  // namespace

void Core::shmMeet(Task& t, bool first) {
  shm->arrive();
  shmAwait(t, first ? ShmPhase::FIRST : ShmPhase::MIDDLE);
  if (!first) return;
  std::vector<Desc> all(size);
  for (int r = 0; r < size; r++) all[r] = shm->state(r).desc;
  throwIfMismatched(all);
}

void Core::shmAwait(Task& t, ShmPhase phase) {
  const ShmSegment::Wait w = shm->waitAll(shm->step(), t.deadline);
  if (w.kind == ShmSegment::Wait::OK) return;
  std::string who;
  for (size_t i = 0; i < w.ranks.size(); i++) who += (i ? ", " : "") + std::to_string(w.ranks[i]);
  const std::string named = w.ranks.size() == 1 ? rankName(w.ranks[0]) : "ranks " + who;
  switch (w.kind) {
    case ShmSegment::Wait::EXITED:
      throw Failure("DS_COMM_PEER_LOST",
                    label(t) + " failed: lost connection to " + named + " (its process " + std::to_string(shm->state(w.ranks[0]).pid) +
                        " exited)",
                    w.ranks);
    case ShmSegment::Wait::ABANDONED: {
      const ShmSegment::RankState& s = shm->state(w.ranks[0]);
      throw Failure("DS_COMM_BROKEN", label(t) + " failed: " + named + " gave up on the group: " + std::string(s.why, strnlen(s.why, sizeof(s.why))),
                    w.ranks);
    }
    default:
      break;
  }
  if (phase == ShmPhase::FIRST) throwNotArrived(t, w.ranks);
  throw Failure("DS_COMM_TIMEOUT",
                label(t) + " timed out after " + std::to_string(timeoutMsOf(t)) + " ms waiting for " + named + ", which stopped " +
                    (phase == ShmPhase::START ? "before finishing the previous collective" : "in the middle of it"),
                w.ranks);
}

void Core::runShm(Task& t) {
  ShmSegment& s = *shm;
  const size_t es = elementSize(t.dtype);
  const int me = rank;
  const int n = size;
  const ReduceFn fn = (t.op == Op::ALLREDUCE || t.op == Op::REDUCE || t.op == Op::REDUCE_SCATTER) ? reduceFunction(t.dtype, t.redop) : nullptr;
  const double avg = t.redop == RedOp::AVG ? 1.0 / n : 0.0;
  // Nobody overwrites its slot or descriptor before every rank has read the previous ones.
  auto settle = [&] { shmAwait(t, ShmPhase::START); };
  // Sums `count` elements of every rank's contribution in rank order into dst, so every rank
  // gets the same bits: rank r's at slot(r) + base, this rank's at `mine` (dst must not alias it).
  auto reduceAll = [&](char* dst, size_t base, const char* mine, size_t count) {
    if (count == 0) return;
    auto src = [&](int r) -> const char* { return r == me ? mine : s.slot(r) + base; };
    fn(dst, src(0), src(1), count);
    for (int r = 2; r < n; r++) fn(dst, dst, src(r), count);
    if (avg != 0.0) scaleInPlace(dst, count, t.dtype, avg);
  };

  settle();
  s.state(me).desc = makeDesc(t);
  // A collective in rounds of at most `chunk` of its `total` bytes (at least one round, which
  // checks the calls): every rank writes its part of the round into its slot, all meet, every
  // rank reads what it needs, and says so (the next round's writers wait for that).
  auto rounds = [&](size_t total, size_t chunk, auto&& write, auto&& read) {
    for (size_t off = 0; off == 0 || off < total; off += chunk) {
      const size_t c = std::min(chunk, total - off);
      if (off) settle();
      write(off, c);
      shmMeet(t, off == 0);
      read(off, c);
      s.arrive();
    }
  };

  switch (t.op) {
    case Op::ALLREDUCE:
    case Op::REDUCE: {
      // Rank j reduces slice j of every rank's chunk into slice j of its own slot (which is why
      // nobody copies its own slice there); then every rank (all-reduce) or the root (reduce)
      // copies the reduced slices out. A reduce leaves the non-roots' tensors as they were.
      const bool all = t.op == Op::ALLREDUCE;
      char* data = static_cast<char*>(t.a.ptr);
      const size_t chunk = s.slotBytes() / es * es;
      auto slice = [&](size_t c, int j) { return sliceLo(c / es, j, n) * es; };  // byte offset of slice j
      rounds(
          t.a.bytes, chunk,
          [&](size_t off, size_t c) {
            const size_t lo = slice(c, me), hi = slice(c, me + 1);
            std::memcpy(s.slot(me), data + off, lo);
            std::memcpy(s.slot(me) + hi, data + off + hi, c - hi);
          },
          [&](size_t off, size_t c) {
            const size_t lo = slice(c, me), hi = slice(c, me + 1);
            reduceAll(s.slot(me) + lo, lo, data + off + lo, (hi - lo) / es);
            shmMeet(t, false);
            if (!all && me != t.root) return;
            for (int j = 0; j < n; j++) {
              const size_t jl = slice(c, j), jh = slice(c, j + 1);
              std::memcpy(data + off + jl, s.slot(j) + jl, jh - jl);
            }
          });
      return;
    }
    case Op::BROADCAST: {
      char* data = static_cast<char*>(t.a.ptr);
      rounds(
          t.a.bytes, s.slotBytes(), [&](size_t off, size_t c) { if (me == t.root) std::memcpy(s.slot(me), data + off, c); },
          [&](size_t off, size_t c) { if (me != t.root) std::memcpy(data + off, s.slot(t.root), c); });
      return;
    }
    case Op::ALLGATHER: {
      const char* in = static_cast<const char*>(t.b.ptr);
      char* out = static_cast<char*>(t.a.ptr);
      const size_t part = t.b.bytes;
      rounds(
          part, s.slotBytes(), [&](size_t off, size_t c) { std::memcpy(s.slot(me), in + off, c); },
          [&](size_t off, size_t c) {
            for (int j = 0; j < n; j++) {
              // The input may be this rank's part of the output (an in-place all-gather).
              if (j == me) {
                std::memmove(out + size_t(j) * part + off, in + off, c);
              } else {
                std::memcpy(out + size_t(j) * part + off, s.slot(j), c);
              }
            }
          });
      return;
    }
    case Op::REDUCE_SCATTER: {
      // Every rank copies the same window of each of its n input parts into its slot; rank j
      // reduces window j of every slot into its output.
      const char* in = static_cast<const char*>(t.b.ptr);
      char* out = static_cast<char*>(t.a.ptr);
      const size_t part = t.a.bytes;
      const size_t chunk = std::max(es, s.slotBytes() / size_t(n) / es * es);
      rounds(
          part, chunk,
          [&](size_t off, size_t c) {
            for (int j = 0; j < n; j++) std::memcpy(s.slot(me) + size_t(j) * chunk, in + size_t(j) * part + off, c);
          },
          [&](size_t off, size_t c) {
            const size_t mine = size_t(me) * chunk;
            reduceAll(out + off, mine, s.slot(me) + mine, c / es);
          });
      return;
    }
    case Op::ALLTOALL:
    case Op::ALLTOALLV: {
      std::vector<int64_t> inCounts = t.inCounts, outCounts = t.outCounts;
      if (t.op == Op::ALLTOALL) {
        inCounts.assign(n, static_cast<int64_t>(t.b.bytes / es / n));
        outCounts.assign(n, static_cast<int64_t>(t.a.bytes / es / n));
      }
      std::vector<size_t> inOff(n + 1, 0), outOff(n + 1, 0);
      for (int j = 0; j < n; j++) {
        inOff[j + 1] = inOff[j] + static_cast<size_t>(inCounts[j]) * es;
        outOff[j + 1] = outOff[j] + static_cast<size_t>(outCounts[j]) * es;
        s.count(false, me, j) = static_cast<int64_t>(inCounts[j]) * int64_t(es);
        s.count(true, me, j) = static_cast<int64_t>(outCounts[j]) * int64_t(es);
      }
      const char* in = static_cast<const char*>(t.b.ptr);
      char* out = static_cast<char*>(t.a.ptr);
      // Window k of the message from i to j travels in slot i, in the region of peer j (its
      // peers numbered without i itself).
      const size_t window = std::max(es, s.slotBytes() / size_t(n - 1) / es * es);
      auto region = [&](int i, int j) { return size_t(j < i ? j : j - 1) * window; };
      auto piece = [&](int64_t len, size_t k) { return std::min<size_t>(window, size_t(std::max<int64_t>(0, len - int64_t(k * window)))); };
      size_t rounds = 1;
      for (size_t k = 0; k < rounds; k++) {
        if (k) settle();
        for (int j = 0; j < n; j++) {
          if (j != me) std::memcpy(s.slot(me) + region(me, j), in + inOff[j] + k * window, piece(s.count(false, me, j), k));
        }
        shmMeet(t, k == 0);
        if (k == 0) {
          // Every rank sees every split, so every rank reports the same disagreement.
          int64_t most = 0;
          for (int to = 0; to < n; to++) {
            for (int from = 0; from < n; from++) {
              const int64_t sent = s.count(false, from, to), expected = s.count(true, to, from);
              if (sent != expected) {
                throw Failure("DS_COMM_MISMATCH",
                              label(t) + " mismatch: " + rankName(from) + " sends " + std::to_string(sent / int64_t(es)) + " elements to " +
                                  rankName(to) + ", which expects " + std::to_string(expected / int64_t(es)) +
                                  " (the ranks' split sizes disagree)",
                              {from});
              }
              if (from != to) most = std::max(most, sent);
            }
          }
          rounds = std::max<size_t>(1, (size_t(most) + window - 1) / window);
          std::memmove(out + outOff[me], in + inOff[me], outOff[me + 1] - outOff[me]);
        }
        for (int j = 0; j < n; j++) {
          if (j != me) std::memcpy(out + outOff[j] + k * window, s.slot(j) + region(j, me), piece(s.count(true, me, j), k));
        }
        s.arrive();
      }
      return;
    }
    case Op::BARRIER:
      shmMeet(t, true);
      s.arrive();
      return;
    default:
      throw std::logic_error("not a collective");
  }
}

}  // namespace dsgloo
