#include "group.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <sstream>

#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/alltoall.h>
#include <gloo/alltoallv.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/common/error.h>
#include <gloo/reduce.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/file_store.h>
#include <gloo/rendezvous/prefix_store.h>
#include <gloo/transport/tcp/device.h>
#include <gloo/types.h>

#include "desc.h"
#include "reduce.h"
#include "shm.h"

namespace dsgloo {

namespace {

// Slot prefixes of our own transfers; Gloo's collectives use 0x01..0x08.
constexpr uint8_t kHeaderSlotPrefix = 0x40;
constexpr uint8_t kReduceScatterSlotPrefix = 0x41;
constexpr uint8_t kP2pSlotPrefix = 0x42;
constexpr uint8_t kDirectSlotPrefix = 0x43;
// Tag of the barrier that ends connect(); collectives are tagged with their sequence number.
constexpr uint32_t kConnectBarrierTag = 0xffffffffu;

// All-reduces whose tensor, times the peers it goes to, is at most this many bytes exchange
// everything in one round (see Core::directAllReduce; 1 MiB at 2 processes: ~2.3 ms against
// ~3.6 ms through Gloo's ring); the same bound caps what rides in the descriptor exchange. DS_GLOO_DIRECT_BYTES overrides; 0 = never.
size_t directAllReduceLimit() {
  static const size_t limit = [] {
    const char* v = std::getenv("DS_GLOO_DIRECT_BYTES");
    return v && *v ? static_cast<size_t>(std::strtoull(v, nullptr, 10)) : size_t(1) << 20;
  }();
  return limit;
}

char gDummy[8];

std::string joinInts(const std::vector<int64_t>& v) {
  std::ostringstream os;
  for (size_t i = 0; i < v.size(); i++) os << (i ? ", " : "") << v[i];
  return os.str();
}

// One TCP device per (hostname, interface) and process, shared by every group.
std::shared_ptr<gloo::transport::Device> sharedDevice(const std::string& hostname, const std::string& iface) {
  static std::mutex mu;
  static std::map<std::string, std::weak_ptr<gloo::transport::Device>> devices;
  std::lock_guard<std::mutex> lock(mu);
  const std::string key = hostname + "|" + iface;
  if (auto dev = devices[key].lock()) return dev;
  gloo::transport::tcp::attr attr;
  if (!iface.empty()) {
    attr.iface = iface;
  } else {
    attr.hostname = hostname;
  }
  auto dev = gloo::transport::tcp::CreateDevice(attr);
  devices[key] = dev;
  return dev;
}

// "[127.0.0.1]:41234$3" -> "[127.0.0.1]:41234" (the listening address without the pair's sequence number).
std::string listenAddress(const std::string& s) {
  const auto dollar = s.find('$');
  return dollar == std::string::npos ? s : s.substr(0, dollar);
}

bool isTimeoutText(const std::string& s) {
  return s.find("Timed out") != std::string::npos || s.find("timed out") != std::string::npos ||
         s.find("Timeout") != std::string::npos;
}

// Calls f with a null pointer of an unsigned type of the given size (Gloo only uses sizeof(T)).
template <typename F>
void withElementType(size_t es, F&& f) {
  switch (es) {
    case 1: f(static_cast<uint8_t*>(nullptr)); return;
    case 2: f(static_cast<uint16_t*>(nullptr)); return;
    case 4: f(static_cast<uint32_t*>(nullptr)); return;
    case 8: f(static_cast<uint64_t*>(nullptr)); return;
    default: throw std::logic_error("unsupported element size");
  }
}

void* nonNull(void* p) { return p ? p : gDummy; }

}  // namespace

// ---------------------------------------------------------------- Worker

void Worker::push(Task* t) {
  {
    std::lock_guard<std::mutex> lock(mu);
    queue.push_back(t);
  }
  cv.notify_one();
}

void Worker::requestStop() {
  {
    std::lock_guard<std::mutex> lock(mu);
    stop = true;
  }
  cv.notify_all();
}

namespace {

void settleOnJs(Napi::Env env, Napi::Function, Task* t) {
  if (env == nullptr || t->owner == nullptr) {
    // The environment is going away: nothing can be settled any more.
    for (auto& r : t->refs) r.SuppressDestruct();
    delete t;
    return;
  }
  t->owner->settle(env, t);
}

}  // namespace

void Worker::start(std::shared_ptr<Core> core) {
  Worker* self = this;
  thread = std::thread([self, core]() {
    for (;;) {
      Task* t = nullptr;
      {
        std::unique_lock<std::mutex> lock(self->mu);
        self->cv.wait(lock, [self] { return self->stop || !self->queue.empty(); });
        if (self->queue.empty()) break;
        t = self->queue.front();
        self->queue.pop_front();
      }
      const bool last = t->op == Op::CLOSE;
      core->execute(*t);
      core->markFinished(t);
      // A post that fails means the environment is being torn down: no JS runs any more, so no
      // waitFor can be blocked on this task.
      if (!core->post(t)) {
        for (auto& r : t->refs) r.SuppressDestruct();
        delete t;
      }
      if (last) break;
    }
    core->releaseDoneCount();
  });
}

bool Core::post(Task* t) {
  std::lock_guard<std::mutex> lock(doneGuard->mu);
  // An unlimited queue: BlockingCall never blocks, so holding the lock here is brief.
  return doneGuard->alive && done.BlockingCall(t, settleOnJs) == napi_ok;
}

void Core::markFinished(Task* t) {
  {
    std::lock_guard<std::mutex> lock(finishedMu_);
    t->finished = true;
  }
  finishedCv_.notify_all();
}

void Core::waitFinished(Task* t) {
  // No timeout of its own: the worker finishes every task by the task's deadline (or that of a
  // task queued before it), exactly when the thread-safe function would have reported it.
  std::unique_lock<std::mutex> lock(finishedMu_);
  finishedCv_.wait(lock, [t] { return t->finished; });
}

void Core::releaseDoneCount() {
  std::lock_guard<std::mutex> lock(doneGuard->mu);
  if (doneGuard->alive) done.Release();
}

// ---------------------------------------------------------------- Core

void Core::markBroken(const std::string& why) {
  std::lock_guard<std::mutex> lock(brokenMu_);
  if (broken_.empty()) broken_ = why;
}

std::string Core::brokenReason() {
  std::lock_guard<std::mutex> lock(brokenMu_);
  return broken_;
}

char* Core::scratch(int slot, size_t bytes) {
  if (scratchBytes_[slot] < bytes) {
    // After a failure Gloo may still write into the old buffer: keep it until destroy().
    if (!brokenReason().empty() && scratch_[slot]) bury(std::shared_ptr<char>(scratch_[slot].release(), std::default_delete<char[]>()));
    scratch_[slot].reset(new char[bytes]);
    scratchBytes_[slot] = bytes;
  }
  return scratch_[slot].get();
}

void Core::bury(std::shared_ptr<void> p) {
  std::lock_guard<std::mutex> lock(graveMu_);
  graveyard_.push_back(std::move(p));
}

std::string Core::rankName(int r) const {
  std::ostringstream os;
  os << "rank " << r;
  if (r >= 0 && r < (int)globalRanks.size() && globalRanks[r] != r) os << " (global rank " << globalRanks[r] << ")";
  return os.str();
}

std::string Core::label(const Task& t) const {
  std::ostringstream os;
  if (t.op == Op::SEND || t.op == Op::RECV) {
    os << opName(t.op) << (t.op == Op::SEND ? " to " : " from ") << rankName(t.root) << " (tag " << t.tag << ", "
       << dtypeName(t.dtype) << " [" << joinInts(t.shape) << "])";
    return os.str();
  }
  os << opName(t.op) << " #" << t.seq;
  if (t.op != Op::BARRIER) {
    const std::string body = describeDesc(makeDesc(t), false);
    os << " " << body.substr(body.find('('));
  }
  return os.str();
}

Ms Core::remaining(const Task& t) const {
  const auto left = std::chrono::duration_cast<Ms>(t.deadline - Clock::now());
  return std::max(left, Ms(1));
}

std::vector<int> Core::ranksNamedIn(const std::string& text) const {
  std::vector<int> out;
  for (int r = 0; r < (int)peerAddrs.size(); r++) {
    if (r != rank && !peerAddrs[r].empty() && text.find(peerAddrs[r]) != std::string::npos) out.push_back(r);
  }
  return out;
}

void Core::rethrow(const Task& t, const std::exception& e, const char* phase) {
  const std::string raw = e.what();
  const int64_t ms = timeoutMsOf(t);
  const std::string where = *phase ? std::string(" ") + phase : std::string();
  if (isTimeoutText(raw)) {
    throw Failure("DS_COMM_TIMEOUT",
                  label(t) + " timed out after " + std::to_string(ms) + " ms" + where +
                      (check ? "" : "; a rank did not call it or is late (run with DS_COMM_CHECK=1 to name it)") +
                      " (gloo: " + raw + ")");
  }
  std::vector<int> peers = ranksNamedIn(raw);
  std::string who;
  for (size_t i = 0; i < peers.size(); i++) who += (i ? ", " : "") + rankName(peers[i]);
  if (!peers.empty()) {
    throw Failure("DS_COMM_PEER_LOST", label(t) + " failed: lost connection to " + who + " (gloo: " + raw + ")", peers);
  }
  throw Failure("DS_COMM_ERROR", label(t) + " failed" + where + ": " + raw);
}

void Core::execute(Task& t) {
  try {
    switch (t.op) {
      case Op::CONNECT: connect(t); return;
      case Op::CLOSE: close(t); return;
      case Op::SEND:
      case Op::RECV: waitP2p(t); return;
      default: break;
    }
    const std::string why = brokenReason();
    if (!why.empty()) {
      throw Failure("DS_COMM_BROKEN", label(t) + " was not run: the process group is unusable after an earlier failure: " + why);
    }
    t.deadline = Clock::now() + Ms(timeoutMsOf(t));
    if (shm) {
      runShm(t);
      return;
    }
    if (check && size > 1 && exchangeHeaders(t)) return;  // done inline
    runCollective(t);
  } catch (const Failure& f) {
    t.error = f.what();
    t.code = f.code;
    t.culprits = f.ranks;
    t.fatal = true;
    if (f.code != "DS_COMM_BROKEN") markBroken(t.error);
  } catch (const std::exception& e) {
    t.error = label(t) + " failed: " + e.what();
    t.code = "DS_COMM_ERROR";
    t.fatal = true;
    markBroken(t.error);
  }
  if (shm && t.fatal) shm->abandon(brokenReason());
}

void Core::connect(Task& t) {
  try {
    auto c = std::make_shared<gloo::rendezvous::Context>(rank, size);
    std::unique_ptr<gloo::rendezvous::FileStore> fileStore;
    gloo::rendezvous::Store* base = jsStore.get();
    if (!storePath.empty()) {
      fileStore = std::make_unique<gloo::rendezvous::FileStore>(storePath);
      base = fileStore.get();
    }
    c->setTimeout(timeout);
    peerAddrs.assign(size, std::string());
    if (size > 1) {
      if (base == nullptr) throw std::runtime_error("no rendezvous store (give a store function or a storePath)");
      gloo::rendezvous::PrefixStore store(prefix, *base);
      auto dev = sharedDevice(hostname, iface);
      c->setTimeout(initTimeout);
      c->connectFullMesh(store, dev);
      c->setTimeout(timeout);
      // Publish this rank's listening address so transport errors that name an address can be
      // turned into the rank behind it.
      const std::string mine = listenAddress(c->getPair(rank == 0 ? 1 : 0)->address().str());
      store.set("addr/" + std::to_string(rank), std::vector<char>(mine.begin(), mine.end()));
      for (int r = 0; r < size; r++) {
        if (r == rank) continue;
        const std::string key = "addr/" + std::to_string(r);
        store.wait({key}, initTimeout);
        auto v = store.get(key);
        peerAddrs[r] = std::string(v.begin(), v.end());
      }
      peerAddrs[rank] = mine;
      shm = ShmSegment::attach(rank, size, store, initTimeout, &shmWhyNot);
      // Nobody leaves the rendezvous before every member is done with the store: a store served
      // from a peer's JS thread (rank 0's TCPStore) stops answering while that thread blocks in
      // Work.wait(), which it may do right after connect() resolves.
      gloo::BarrierOptions done(c);
      done.setTag(kConnectBarrierTag);
      done.setTimeout(initTimeout);
      gloo::barrier(done);
    } else {
      peerAddrs[rank] = "(single rank)";
    }
    ctx = c;
  } catch (const std::exception& e) {
    t.error = std::string("gloo rendezvous failed for ") + rankName(rank) + " of " + std::to_string(size) +
              " (store prefix '" + prefix + "'" + (hostname.empty() ? "" : ", address " + hostname) +
              (iface.empty() ? "" : ", interface " + iface) + "): " + e.what();
    t.code = "DS_COMM_CONNECT";
    markBroken(t.error);
  }
  if (jsStore) jsStore->release();
}

void Core::close(Task&) {
  p2p.requestStop();
  if (p2p.thread.joinable()) p2p.thread.join();
  shm.reset();
  if (ctx) {
    try {
      ctx->closeConnections();
    } catch (...) {
    }
    ctx.reset();
  }
  std::lock_guard<std::mutex> lock(graveMu_);
  graveyard_.clear();
}

void Core::waitP2p(Task& t) {
  if (!t.ub) return;  // nothing to transfer
  try {
    if (t.op == Op::SEND) {
      t.ub->waitSend(nullptr, remaining(t));
    } else {
      t.ub->waitRecv(nullptr, remaining(t));
    }
  } catch (const std::exception& e) {
    const std::string raw = e.what();
    const int64_t ms = timeoutMsOf(t);
    if (isTimeoutText(raw)) {
      t.error = label(t) + " timed out after " + std::to_string(ms) + " ms: " + rankName(t.root) + " did not post the matching " +
                (t.op == Op::SEND ? "recv" : "send") + " (gloo: " + raw + ")";
      t.code = "DS_COMM_TIMEOUT";
    } else {
      t.error = label(t) + " failed: lost connection to " + rankName(t.root) + " (gloo: " + raw + ")";
      t.code = "DS_COMM_PEER_LOST";
    }
    t.culprits = {t.root};
    t.fatal = true;
    bury(std::shared_ptr<gloo::transport::UnboundBuffer>(std::move(t.ub)));
    markBroken(t.error);
  }
}

// What a collective small enough to ride in the descriptor exchange sends each peer r:
// sendLen[r] bytes from src + sendOff[r]; it then expects recvLen[r] bytes from r, which are
// reduced (in rank order) into the output or placed at recvOff[r] in it. on == false: not
// carried (too large, or another op).
struct Inline {
  bool on = false;
  bool reduce = false;
  const char* src = nullptr;
  std::vector<size_t> sendOff, sendLen, recvOff, recvLen;
};

static Inline inlinePlan(const Task& t, int groupSize, size_t cap) {
  Inline p;
  const size_t n = static_cast<size_t>(groupSize);
  const size_t es = elementSize(t.dtype);
  auto uniform = [&](const void* src, size_t len, size_t stride, bool reduce) {
    p.on = true;
    p.reduce = reduce;
    p.src = static_cast<const char*>(src);
    for (size_t r = 0; r < n; r++) {
      p.sendOff.push_back(r * stride);
      p.sendLen.push_back(len);
      p.recvOff.push_back(reduce ? 0 : r * len);
      p.recvLen.push_back(len);
    }
  };
  switch (t.op) {
    case Op::ALLREDUCE:
      if (t.a.bytes > 0 && t.a.bytes <= cap) uniform(t.a.ptr, t.a.bytes, 0, true);
      break;
    case Op::ALLGATHER:
      if (t.b.bytes > 0 && t.b.bytes <= cap && t.a.bytes == t.b.bytes * n) uniform(t.b.ptr, t.b.bytes, 0, false);
      break;
    case Op::REDUCE_SCATTER:
      if (t.a.bytes > 0 && t.a.bytes <= cap && t.b.bytes == t.a.bytes * n) uniform(t.b.ptr, t.a.bytes, t.a.bytes, true);
      break;
    case Op::ALLTOALLV: {
      if (t.inCounts.size() != n || t.outCounts.size() != n) break;
      size_t in = 0, out = 0;
      for (size_t r = 0; r < n; r++) {
        const size_t sl = static_cast<size_t>(t.inCounts[r]) * es, rl = static_cast<size_t>(t.outCounts[r]) * es;
        if (sl > cap) return Inline{};
        p.sendOff.push_back(in);
        p.sendLen.push_back(sl);
        p.recvOff.push_back(out);
        p.recvLen.push_back(rl);
        in += sl;
        out += rl;
      }
      if (in != t.b.bytes || out != t.a.bytes) return Inline{};
      p.on = true;
      p.src = static_cast<const char*>(t.b.ptr);
      break;
    }
    default:
      break;
  }
  return p;
}

// Desc.reserved of a descriptor that carries its collective's data: the flag and the byte count.
constexpr uint32_t kCarried = 0x80000000u;

bool Core::exchangeHeaders(Task& t) {
  struct State {
    Desc mine;
    std::vector<Desc> all;
    std::vector<std::unique_ptr<gloo::transport::UnboundBuffer>> recv;
    std::unique_ptr<gloo::transport::UnboundBuffer> send;
  };
  auto st = std::make_shared<State>();
  st->mine = makeDesc(t);
  st->all.assign(size, Desc{});
  st->all[rank] = st->mine;
  st->recv.resize(size);
  const uint64_t slot = gloo::Slot::build(kHeaderSlotPrefix, static_cast<uint32_t>(t.seq));
  std::vector<std::string> errs(size);

  // A small collective rides along with its descriptor, so the check costs no extra round: the
  // message to peer r is [descriptor | what r needs from this rank] (all-reduce: the tensor;
  // all-gather: this rank's part; all-to-all and reduce-scatter: chunk r), received into a slot
  // of `cap` payload bytes (a peer's message is never larger, whatever it called; a shorter one
  // just fills less of it). Region `rank` of `out` holds what this rank "sends itself".
  const size_t cap = directAllReduceLimit() / static_cast<size_t>(size - 1);
  const size_t slotBytes = sizeof(Desc) + cap;
  const Inline how = inlinePlan(t, size, cap);
  size_t maxSend = 0;
  for (size_t l : how.sendLen) maxSend = std::max(maxSend, l);
  const size_t region = sizeof(Desc) + maxSend;
  char* in = scratch(2, slotBytes * size);
  char* out = scratch(3, region * size);
  for (int r = 0; r < size; r++) {
    char* o = out + size_t(r) * region;
    Desc d = st->mine;
    if (how.on) d.reserved = kCarried | static_cast<uint32_t>(how.sendLen[r]);
    std::memcpy(o, &d, sizeof(Desc));
    if (how.on && how.sendLen[r]) std::memcpy(o + sizeof(Desc), how.src + how.sendOff[r], how.sendLen[r]);
  }

  for (int r = 0; r < size; r++) {
    if (r == rank) continue;
    try {
      st->recv[r] = ctx->createUnboundBuffer(in + size_t(r) * slotBytes, slotBytes);
      st->recv[r]->recv(r, slot);
    } catch (const std::exception& e) {
      errs[r] = e.what();
    }
  }
  st->send = ctx->createUnboundBuffer(out, region * size);
  int sends = 0;
  for (int r = 0; r < size; r++) {
    if (r == rank || !errs[r].empty()) continue;
    try {
      st->send->send(r, slot, size_t(r) * region, region);
      sends++;
    } catch (const std::exception& e) {
      errs[r] = e.what();
    }
  }
  std::vector<int> missing;
  for (int r = 0; r < size; r++) {
    if (r == rank || !errs[r].empty()) continue;
    try {
      st->recv[r]->waitRecv(nullptr, remaining(t));
      std::memcpy(&st->all[r], in + size_t(r) * slotBytes, sizeof(Desc));
    } catch (const std::exception& e) {
      if (isTimeoutText(e.what())) {
        missing.push_back(r);
      } else {
        errs[r] = e.what();
      }
    }
  }
  std::vector<int> lost;
  for (int r = 0; r < size; r++) {
    if (!errs[r].empty()) lost.push_back(r);
  }
  if (!lost.empty()) {
    bury(st);
    std::string who;
    for (size_t i = 0; i < lost.size(); i++) who += (i ? ", " : "") + rankName(lost[i]);
    throw Failure("DS_COMM_PEER_LOST",
                  label(t) + " failed: lost connection to " + who + " (it exited or was killed?) (gloo: " + errs[lost[0]] + ")", lost);
  }
  if (!missing.empty()) {
    bury(st);
    throwNotArrived(t, missing);
  }
  for (int i = 0; i < sends; i++) {
    try {
      st->send->waitSend(nullptr, remaining(t));
    } catch (const std::exception& e) {
      bury(st);
      rethrow(t, e, "while exchanging call descriptors");
    }
  }
  // Every rank holds every descriptor, so every rank reports the same mismatch.
  throwIfMismatched(st->all);
  // Finished here only if every rank carried its data (each rank sees the same descriptors,
  // so all decide alike); otherwise the collective runs as usual and the payloads are ignored.
  if (!how.on) return false;
  for (int r = 0; r < size; r++) {
    if (r != rank && !(st->all[r].reserved & kCarried)) return false;
  }
  for (int r = 0; r < size; r++) {
    const size_t got = r == rank ? how.sendLen[r] : (st->all[r].reserved & ~kCarried);
    if (got != how.recvLen[r]) {
      const size_t es = elementSize(t.dtype);
      throw Failure("DS_COMM_MISMATCH",
                    label(t) + " mismatch: " + rankName(r) + " sends " + std::to_string(got / es) + " elements to " + rankName(rank) +
                        ", which expects " + std::to_string(how.recvLen[r] / es) + " (the ranks' split sizes disagree)",
                    {r});
    }
  }
  auto part = [&](int r) -> const char* { return (r == rank ? out + size_t(r) * region : in + size_t(r) * slotBytes) + sizeof(Desc); };
  char* dst = static_cast<char*>(t.a.ptr);
  if (how.reduce) {
    // Sum in rank order, so every rank gets the same bits.
    const size_t n = how.recvLen[0] / elementSize(t.dtype);
    const ReduceFn fn = reduceFunction(t.dtype, t.redop);
    fn(dst, part(0), part(1), n);
    for (int r = 2; r < size; r++) fn(dst, dst, part(r), n);
    if (t.redop == RedOp::AVG) scaleInPlace(dst, n, t.dtype, 1.0 / size);
  } else {
    for (int r = 0; r < size; r++) {
      if (how.recvLen[r]) std::memcpy(dst + how.recvOff[r], part(r), how.recvLen[r]);
    }
  }
  return true;
}

void Core::runCollective(Task& t) {
  const size_t es = elementSize(t.dtype);
  const size_t n = t.a.bytes / es;
  const Ms tmo = remaining(t);
  const uint32_t tag = static_cast<uint32_t>(t.seq);
  try {
    switch (t.op) {
      case Op::ALLREDUCE: {
        if (size > 1 && n > 0 && t.a.bytes * (size - 1) <= directAllReduceLimit()) {
          directAllReduce(t);
        } else if (size > 1 && n > 0) {
          gloo::AllreduceOptions o(ctx);
          withElementType(es, [&](auto* tp) {
            using T = std::remove_pointer_t<decltype(tp)>;
            o.setOutput(static_cast<T*>(t.a.ptr), n);
          });
          o.setReduceFunction(reduceFunction(t.dtype, t.redop));
          o.setTag(tag);
          o.setTimeout(tmo);
          gloo::allreduce(o);
        }
        if (t.redop == RedOp::AVG) scaleInPlace(t.a.ptr, n, t.dtype, 1.0 / size);
        return;
      }
      case Op::REDUCE: {
        if (size > 1 && n > 0) {
          // Non-roots reduce from their tensor into scratch, so their tensor is left as it was.
          char* scratchBuf = rank == t.root ? nullptr : scratch(0, t.a.bytes);
          gloo::ReduceOptions o(ctx);
          withElementType(es, [&](auto* tp) {
            using T = std::remove_pointer_t<decltype(tp)>;
            if (rank == t.root) {
              o.setOutput(static_cast<T*>(t.a.ptr), n);
            } else {
              o.setInput(static_cast<T*>(t.a.ptr), n);
              o.setOutput(reinterpret_cast<T*>(scratchBuf), n);
            }
          });
          o.setRoot(t.root);
          o.setReduceFunction(reduceFunction(t.dtype, t.redop));
          o.setTag(tag);
          o.setTimeout(tmo);
          gloo::reduce(o);
        }
        if (t.redop == RedOp::AVG && rank == t.root) scaleInPlace(t.a.ptr, n, t.dtype, 1.0 / size);
        return;
      }
      case Op::BROADCAST: {
        if (size > 1 && n > 0) {
          gloo::BroadcastOptions o(ctx);
          withElementType(es, [&](auto* tp) {
            using T = std::remove_pointer_t<decltype(tp)>;
            o.setOutput(static_cast<T*>(t.a.ptr), n);
          });
          o.setRoot(t.root);
          o.setTag(tag);
          o.setTimeout(tmo);
          gloo::broadcast(o);
        }
        return;
      }
      case Op::ALLGATHER: {
        const size_t nin = t.b.bytes / es;
        if (size == 1 || nin == 0) {
          if (t.b.bytes) std::memmove(t.a.ptr, t.b.ptr, t.b.bytes);
          return;
        }
        gloo::AllgatherOptions o(ctx);
        withElementType(es, [&](auto* tp) {
          using T = std::remove_pointer_t<decltype(tp)>;
          o.setInput(static_cast<T*>(t.b.ptr), nin);
          o.setOutput(static_cast<T*>(t.a.ptr), nin * size);
        });
        o.setTag(tag);
        o.setTimeout(tmo);
        gloo::allgather(o);
        return;
      }
      case Op::REDUCE_SCATTER: {
        ringReduceScatter(t);
        if (t.redop == RedOp::AVG) scaleInPlace(t.a.ptr, t.a.bytes / es, t.dtype, 1.0 / size);
        return;
      }
      case Op::ALLTOALL: {
        if (size == 1 || t.b.bytes == 0) {
          if (t.b.bytes) std::memmove(t.a.ptr, t.b.ptr, t.b.bytes);
          return;
        }
        gloo::AlltoallOptions o(ctx);
        const size_t nin = t.b.bytes / es;
        withElementType(es, [&](auto* tp) {
          using T = std::remove_pointer_t<decltype(tp)>;
          o.setInput(static_cast<T*>(t.b.ptr), nin);
          o.setOutput(static_cast<T*>(t.a.ptr), nin);
        });
        o.setTag(tag);
        o.setTimeout(tmo);
        gloo::alltoall(o);
        return;
      }
      case Op::ALLTOALLV: {
        if (size == 1) {
          if (t.b.bytes) std::memmove(t.a.ptr, t.b.ptr, t.b.bytes);
          return;
        }
        gloo::AlltoallvOptions o(ctx);
        withElementType(es, [&](auto* tp) {
          using T = std::remove_pointer_t<decltype(tp)>;
          o.setInput(static_cast<T*>(nonNull(t.b.ptr)), t.inCounts);
          o.setOutput(static_cast<T*>(nonNull(t.a.ptr)), t.outCounts);
        });
        o.setTag(tag);
        o.setTimeout(tmo);
        gloo::alltoallv(o);
        return;
      }
      case Op::BARRIER: {
        if (size == 1) return;
        gloo::BarrierOptions o(ctx);
        o.setTag(tag);
        o.setTimeout(tmo);
        gloo::barrier(o);
        return;
      }
      default:
        throw std::logic_error("not a collective");
    }
  } catch (const Failure&) {
    throw;
  } catch (const std::exception& e) {
    rethrow(t, e, "");
  }
}

// Small all-reduce in one round: every rank sends its tensor to every other rank, then each
// reduces all contributions in rank order, so every rank gets bit-identical results. Gloo's ring
// needs 2(size-1) dependent steps (each with a ready/send handshake); for small tensors the
// latency of those steps, not bandwidth, is the cost.
void Core::directAllReduce(Task& t) {
  const size_t es = elementSize(t.dtype);
  const size_t bytes = t.a.bytes;
  const size_t n = bytes / es;
  struct State {
    std::unique_ptr<gloo::transport::UnboundBuffer> recv;
    std::unique_ptr<gloo::transport::UnboundBuffer> send;
  };
  auto st = std::make_shared<State>();
  char* all = scratch(0, bytes * size);
  char* mine = static_cast<char*>(t.a.ptr);
  std::memcpy(all + size_t(rank) * bytes, mine, bytes);
  const uint64_t slot = gloo::Slot::build(kDirectSlotPrefix, static_cast<uint32_t>(t.seq));
  try {
    st->recv = ctx->createUnboundBuffer(all, bytes * size);
    st->send = ctx->createUnboundBuffer(mine, bytes);
    for (int r = 0; r < size; r++) {
      if (r != rank) st->recv->recv(r, slot, size_t(r) * bytes, bytes);
    }
    for (int r = 0; r < size; r++) {
      if (r != rank) st->send->send(r, slot);
    }
    for (int i = 0; i < size - 1; i++) st->recv->waitRecv(nullptr, remaining(t));
    for (int i = 0; i < size - 1; i++) st->send->waitSend(nullptr, remaining(t));
  } catch (const std::exception& e) {
    bury(st);
    rethrow(t, e, "");
  }
  const ReduceFn fn = reduceFunction(t.dtype, t.redop);
  fn(mine, all, all + bytes, n);
  for (int r = 2; r < size; r++) fn(mine, mine, all + size_t(r) * bytes, n);
}

// Ring reduce-scatter over unbound buffers (this Gloo has no reduce_scatter in its new-style API):
// at step s rank r sends its partial sum of chunk (r-s-1) to r+1 and receives the partial sum of
// chunk (r-s-2) from r-1, adding its own contribution; after size-1 steps it holds chunk r.
// Chunks are cut into segments so receiving the next segment overlaps reducing this one.
void Core::ringReduceScatter(Task& t) {
  const size_t es = elementSize(t.dtype);
  const size_t chunkBytes = t.a.bytes;
  const char* in = static_cast<const char*>(t.b.ptr);
  char* out = static_cast<char*>(t.a.ptr);
  if (size == 1 || chunkBytes == 0) {
    if (chunkBytes) std::memmove(out, in, chunkBytes);
    return;
  }
  const ReduceFn fn = reduceFunction(t.dtype, t.redop);
  const int right = (rank + 1) % size;
  const int left = (rank - 1 + size) % size;
  auto mod = [this](int x) { return ((x % size) + size) % size; };
  const uint64_t slot = gloo::Slot::build(kReduceScatterSlotPrefix, static_cast<uint32_t>(t.seq));

  struct State {
    char* acc[2];
    std::unique_ptr<gloo::transport::UnboundBuffer> inBuf;
    std::unique_ptr<gloo::transport::UnboundBuffer> accBuf[2];
  };
  auto st = std::make_shared<State>();
  // Reused between calls: fresh pages for every call would cost more than the transfer here.
  st->acc[0] = scratch(0, chunkBytes);
  st->acc[1] = scratch(1, chunkBytes);
  st->inBuf = ctx->createUnboundBuffer(const_cast<char*>(in), chunkBytes * size);
  st->accBuf[0] = ctx->createUnboundBuffer(st->acc[0], chunkBytes);
  st->accBuf[1] = ctx->createUnboundBuffer(st->acc[1], chunkBytes);

  // Segments of at most 1 MiB (whole elements), as Gloo's own ring uses.
  const size_t segBytes = std::max(es, (size_t(1) << 20) / es * es);
  const size_t nseg = (chunkBytes + segBytes - 1) / segBytes;

  try {
    for (int s = 0; s < size - 1; s++) {
      const int sendChunk = mod(rank - s - 1);
      const int recvChunk = mod(rank - s - 2);
      gloo::transport::UnboundBuffer* sendBuf = s == 0 ? st->inBuf.get() : st->accBuf[(s - 1) % 2].get();
      const size_t sendBase = s == 0 ? size_t(sendChunk) * chunkBytes : 0;
      char* recvPtr = st->acc[s % 2];
      gloo::transport::UnboundBuffer* recvBuf = st->accBuf[s % 2].get();
      for (size_t g = 0; g < nseg; g++) {
        const size_t off = g * segBytes;
        const size_t len = std::min(segBytes, chunkBytes - off);
        recvBuf->recv(left, slot, off, len);
        sendBuf->send(right, slot, sendBase + off, len);
      }
      // Reduce each segment as it lands, while the rest are still in flight.
      const bool last = s == size - 2;
      const char* mine = in + size_t(recvChunk) * chunkBytes;
      for (size_t g = 0; g < nseg; g++) {
        recvBuf->waitRecv(nullptr, remaining(t));
        const size_t off = g * segBytes;
        const size_t len = std::min(segBytes, chunkBytes - off);
        fn(last ? out + off : recvPtr + off, recvPtr + off, mine + off, len / es);
      }
      for (size_t g = 0; g < nseg; g++) sendBuf->waitSend(nullptr, remaining(t));
    }
  } catch (const std::exception& e) {
    bury(st);
    rethrow(t, e, "");
  }
}

// ---------------------------------------------------------------- Group (JS)

namespace {

int64_t intArg(const Napi::Value& v, const char* what) {
  if (!v.IsNumber()) throw Napi::TypeError::New(v.Env(), std::string(what) + " must be a number");
  return v.As<Napi::Number>().Int64Value();
}

std::vector<int64_t> intArray(const Napi::Value& v, const char* what) {
  std::vector<int64_t> out;
  if (v.IsUndefined() || v.IsNull()) return out;
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), std::string(what) + " must be an array of numbers");
  auto arr = v.As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); i++) out.push_back(intArg(arr.Get(i), what));
  return out;
}

Buf bufferArg(const Napi::Value& v, const char* what, Task& t) {
  if (!v.IsTypedArray()) throw Napi::TypeError::New(v.Env(), std::string(what) + " must be a typed array");
  auto ta = v.As<Napi::TypedArray>();
  Buf b;
  b.bytes = ta.ByteLength();
  b.ptr = b.bytes ? static_cast<char*>(ta.ArrayBuffer().Data()) + ta.ByteOffset() : nullptr;
  t.refs.push_back(Napi::Persistent(ta.As<Napi::Object>()));
  return b;
}

// The optional completion callback: with it a call returns a ticket for waitFor instead of a promise.
void callbackArg(const Napi::Value& v, Task& t) {
  if (v.IsUndefined() || v.IsNull()) return;
  if (!v.IsFunction()) throw Napi::TypeError::New(v.Env(), "onDone must be a function (error | null) => void");
  t.onDone = Napi::Persistent(v.As<Napi::Function>());
}

DType dtypeArg(const Napi::Value& v) {
  const int64_t d = intArg(v, "dtype");
  if (d < 0 || d > 4) throw Napi::RangeError::New(v.Env(), "dtype code out of range");
  return static_cast<DType>(d);
}

RedOp redOpArg(const Napi::Value& v, DType dtype) {
  const int64_t r = intArg(v, "op");
  if (r < 0 || r > 4) throw Napi::RangeError::New(v.Env(), "reduce op code out of range");
  const RedOp op = static_cast<RedOp>(r);
  if (op == RedOp::AVG && (dtype == DType::I32 || dtype == DType::I64)) {
    throw Napi::TypeError::New(v.Env(), std::string("reduce op 'avg' needs a floating dtype, got ") + dtypeName(dtype));
  }
  return op;
}

std::string stringProp(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}

}  // namespace

Napi::Function Group::Init(Napi::Env env) {
  return DefineClass(env, "Group",
                     {
                         InstanceMethod<&Group::Connect>("connect"),
                         InstanceMethod<&Group::AllReduce>("allReduce"),
                         InstanceMethod<&Group::Reduce>("reduce"),
                         InstanceMethod<&Group::Broadcast>("broadcast"),
                         InstanceMethod<&Group::AllGather>("allGather"),
                         InstanceMethod<&Group::ReduceScatter>("reduceScatter"),
                         InstanceMethod<&Group::AllToAll>("allToAll"),
                         InstanceMethod<&Group::Barrier>("barrier"),
                         InstanceMethod<&Group::Send>("send"),
                         InstanceMethod<&Group::Recv>("recv"),
                         InstanceMethod<&Group::Close>("close"),
                         InstanceMethod<&Group::WaitFor>("waitFor"),
                         InstanceAccessor<&Group::GetSeq>("seq"),
                         InstanceAccessor<&Group::GetBroken>("broken"),
                         InstanceAccessor<&Group::GetPeerAddresses>("peerAddresses"),
                         InstanceAccessor<&Group::GetTransport>("transport"),
                     });
}

// new Group({ rank, size, ranks?, hostname?, iface?, prefix?, timeoutMs?, initTimeoutMs?, check?,
//             storePath? | store?: (op, key, value, timeoutMs) => Promise })
Group::Group(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Group>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "Group: expected an options object");
  Napi::Object o = info[0].As<Napi::Object>();
  core_ = std::make_shared<Core>();
  Core& c = *core_;
  c.rank = (int)intArg(o.Get("rank"), "rank");
  c.size = (int)intArg(o.Get("size"), "size");
  if (c.size < 1 || c.rank < 0 || c.rank >= c.size) {
    throw Napi::RangeError::New(env, "Group: rank " + std::to_string(c.rank) + " is not in [0, " + std::to_string(c.size) + ")");
  }
  std::vector<int64_t> ranks = intArray(o.Get("ranks"), "ranks");
  if (ranks.empty()) {
    for (int r = 0; r < c.size; r++) ranks.push_back(r);
  }
  if ((int)ranks.size() != c.size) throw Napi::RangeError::New(env, "Group: ranks must list size entries");
  for (auto r : ranks) c.globalRanks.push_back((int)r);
  c.hostname = stringProp(o, "hostname");
  c.iface = stringProp(o, "iface");
  c.prefix = stringProp(o, "prefix");
  c.storePath = stringProp(o, "storePath");
  if (o.Get("timeoutMs").IsNumber()) c.timeout = Ms(intArg(o.Get("timeoutMs"), "timeoutMs"));
  if (o.Get("initTimeoutMs").IsNumber()) c.initTimeout = Ms(intArg(o.Get("initTimeoutMs"), "initTimeoutMs"));
  if (c.timeout.count() <= 0) throw Napi::RangeError::New(env, "Group: timeoutMs must be positive");
  if (o.Get("check").IsBoolean()) c.check = o.Get("check").As<Napi::Boolean>().Value();
  Napi::Value store = o.Get("store");
  if (store.IsFunction()) {
    c.jsStore = std::make_unique<JsStore>(env, store.As<Napi::Function>(), c.initTimeout);
  } else if (c.storePath.empty() && c.size > 1) {
    throw Napi::TypeError::New(env, "Group: give a store function or a storePath for the rendezvous");
  }
  auto guard = c.doneGuard;
  c.done = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}), "ds-gloo-done", 0, 1,
                                         [guard](Napi::Env) {
                                           std::lock_guard<std::mutex> lock(guard->mu);
                                           guard->alive = false;
                                         });
  c.done.Unref(env);
  // One thread count per worker thread; the initial count (this object's) is dropped in the finalizer.
  c.done.Acquire();
  c.done.Acquire();
  c.coll.start(core_);
  c.p2p.start(core_);
}

Group::~Group() {
  Core& c = *core_;
  if (!closed_) {
    // Collected (or the environment is going away) without destroy(): stop the threads without
    // waiting for an operation that may still be blocked in Gloo.
    c.p2p.requestStop();
    c.coll.requestStop();
    if (c.p2p.thread.joinable()) c.p2p.thread.detach();
    if (c.coll.thread.joinable()) c.coll.thread.detach();
    for (auto& r : graveyard_) r.SuppressDestruct();
  }
  if (c.jsStore) c.jsStore->release();
  releaseDone();
}

void Group::settle(Napi::Env env, Task* t) {
  std::unique_ptr<Task> owned(t);
  if (t->op == Op::CONNECT) {
    connecting_ = false;
    connected_ = t->error.empty();
  }
  // An exception thrown by an onDone callback must not escape into the thread-safe function's
  // C callback; it is rethrown into JS once the bookkeeping below is done.
  std::optional<Napi::Error> thrown;
  try {
    finish(env, t);
  } catch (const Napi::Error& e) {
    thrown = e;
  }
  const bool closing = t->op == Op::CLOSE;
  if (closing) {
    if (core_->coll.thread.joinable()) core_->coll.thread.join();
    closed_ = true;
    graveyard_.clear();
  }
  if (--pending_ == 0) {
    core_->done.Unref(env);
    Unref();
  }
  if (closing) releaseDone();
  if (thrown) thrown->ThrowAsJavaScriptException();
}

Napi::Error Group::errorOf(Napi::Env env, const Task& t) const {
  Napi::Error err = Napi::Error::New(env, t.error);
  err.Set("code", Napi::String::New(env, t.code.empty() ? "DS_COMM_ERROR" : t.code));
  err.Set("op", Napi::String::New(env, opName(t.op)));
  const bool collective = t.op != Op::SEND && t.op != Op::RECV && t.op != Op::CONNECT && t.op != Op::CLOSE;
  err.Set("seq", Napi::Number::New(env, collective ? (double)t.seq : -1.0));
  Napi::Array ranks = Napi::Array::New(env, t.culprits.size());
  for (uint32_t i = 0; i < t.culprits.size(); i++) ranks.Set(i, Napi::Number::New(env, t.culprits[i]));
  err.Set("ranks", ranks);
  return err;
}

void Group::finish(Napi::Env env, Task* t) {
  if (t->settled) return;  // waitFor settled it already; this is the thread-safe function's late delivery
  t->settled = true;
  if (t->ticket) waitable_.erase(t->ticket);
  if (t->fatal) {
    for (auto& r : t->refs) graveyard_.push_back(std::move(r));
  }
  t->refs.clear();
  Napi::Value outcome = t->error.empty() ? env.Null() : errorOf(env, *t).Value();
  if (t->deferred) {
    if (t->error.empty()) {
      t->deferred->Resolve(env.Undefined());
    } else {
      t->deferred->Reject(outcome);
    }
  }
  if (!t->onDone.IsEmpty()) {
    Napi::FunctionReference cb = std::move(t->onDone);
    cb.Call(env.Undefined(), {outcome});
  }
}

// Drops this object's count on the completion function (the worker threads hold their own).
// Never after Node finalized it (at environment teardown that happens before our finalizer).
void Group::releaseDone() {
  if (!doneReleased_) core_->releaseDoneCount();
  doneReleased_ = true;
}

Napi::Value Group::submit(Napi::Env env, std::unique_ptr<Task> t, Worker& w) {
  t->owner = this;
  Napi::Value handle;
  if (t->onDone.IsEmpty()) {
    t->deferred.emplace(Napi::Promise::Deferred::New(env));
    handle = t->deferred->Promise();
  } else {
    t->ticket = ++tickets_;
    waitable_[t->ticket] = t.get();
    handle = Napi::Number::New(env, (double)t->ticket);
  }
  if (pending_++ == 0) {
    core_->done.Ref(env);
    Ref();  // keep this object (and so the threads) alive while calls are in flight
  }
  w.push(t.release());
  return handle;
}

// A call that failed before it was queued: settled now (its onDone runs before this returns).
Napi::Value Group::rejectNow(Napi::Env env, std::unique_ptr<Task> t) {
  Napi::Value handle;
  if (t->onDone.IsEmpty()) {
    t->deferred.emplace(Napi::Promise::Deferred::New(env));
    handle = t->deferred->Promise();
  } else {
    // Not waitable: there is nothing left to wait for.
    handle = Napi::Number::New(env, (double)++tickets_);
  }
  finish(env, t.get());
  return handle;
}

// waitFor(ticket): blocks until the call with that ticket has run on its thread, then settles it
// (its onDone runs before this returns). False when it was settled already.
Napi::Value Group::WaitFor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t ticket = intArg(info[0], "ticket");
  auto it = waitable_.find(static_cast<uint64_t>(ticket));
  if (it == waitable_.end()) return Napi::Boolean::New(env, false);
  Task* t = it->second;
  core_->waitFinished(t);
  finish(env, t);
  return Napi::Boolean::New(env, true);
}

void Group::requireUsable(Napi::Env env, const char* what) {
  if (closing_ || closed_) throw Napi::Error::New(env, std::string(what) + ": the process group was destroyed");
  if (!connected_) throw Napi::Error::New(env, std::string(what) + ": the process group is not connected (await connect() first)");
}

// The caller's sequence number when it numbers its calls (it must be the same on every rank),
// else this group's own counter.
uint64_t Group::nextSeq(const Napi::Value& v) {
  if (v.IsNumber()) {
    const int64_t s = v.As<Napi::Number>().Int64Value();
    if (s < 0) throw Napi::RangeError::New(v.Env(), "seq must be non-negative");
    seq_ = static_cast<uint64_t>(s) + 1;
    return static_cast<uint64_t>(s);
  }
  return seq_++;
}

std::unique_ptr<Task> Group::newCollective(Napi::Env env, Op op) {
  requireUsable(env, opName(op));
  auto t = std::make_unique<Task>();
  t->op = op;
  return t;
}

Napi::Value Group::Connect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (connected_ || connecting_) throw Napi::Error::New(env, "connect: already connected");
  if (closing_ || closed_) throw Napi::Error::New(env, "connect: the process group was destroyed");
  connecting_ = true;
  auto t = std::make_unique<Task>();
  t->op = Op::CONNECT;
  return submit(env, std::move(t), core_->coll);
}

// allReduce(buf, dtype, op, timeoutMs, shape, seq?, onDone?)
Napi::Value Group::AllReduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto t = newCollective(env, Op::ALLREDUCE);
  t->a = bufferArg(info[0], "tensor", *t);
  t->dtype = dtypeArg(info[1]);
  t->redop = redOpArg(info[2], t->dtype);
  t->timeoutMs = intArg(info[3], "timeoutMs");
  t->shape = intArray(info[4], "shape");
  t->seq = nextSeq(info[5]);
  callbackArg(info[6], *t);
  return submit(env, std::move(t), core_->coll);
}

// reduce(buf, dtype, op, root, timeoutMs, shape, seq?, onDone?)
Napi::Value Group::Reduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto t = newCollective(env, Op::REDUCE);
  t->a = bufferArg(info[0], "tensor", *t);
  t->dtype = dtypeArg(info[1]);
  t->redop = redOpArg(info[2], t->dtype);
  t->root = (int)intArg(info[3], "dst");
  if (t->root < 0 || t->root >= core_->size) throw Napi::RangeError::New(env, "reduce: dst out of range");
  t->timeoutMs = intArg(info[4], "timeoutMs");
  t->shape = intArray(info[5], "shape");
  t->seq = nextSeq(info[6]);
  callbackArg(info[7], *t);
  return submit(env, std::move(t), core_->coll);
}

// broadcast(buf, dtype, root, timeoutMs, shape, seq?, onDone?)
Napi::Value Group::Broadcast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto t = newCollective(env, Op::BROADCAST);
  t->a = bufferArg(info[0], "tensor", *t);
  t->dtype = dtypeArg(info[1]);
  t->root = (int)intArg(info[2], "src");
  if (t->root < 0 || t->root >= core_->size) throw Napi::RangeError::New(env, "broadcast: src out of range");
  t->timeoutMs = intArg(info[3], "timeoutMs");
  t->shape = intArray(info[4], "shape");
  t->seq = nextSeq(info[5]);
  callbackArg(info[6], *t);
  return submit(env, std::move(t), core_->coll);
}

// allGather(out, in, dtype, timeoutMs, shape, seq?, onDone?)
Napi::Value Group::AllGather(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto t = newCollective(env, Op::ALLGATHER);
  t->a = bufferArg(info[0], "output", *t);
  t->b = bufferArg(info[1], "input", *t);
  t->dtype = dtypeArg(info[2]);
  t->timeoutMs = intArg(info[3], "timeoutMs");
  t->shape = intArray(info[4], "shape");
  if (t->a.bytes != t->b.bytes * (size_t)core_->size) throw Napi::RangeError::New(env, "allGather: output must hold size x input");
  t->seq = nextSeq(info[5]);
  callbackArg(info[6], *t);
  return submit(env, std::move(t), core_->coll);
}

// reduceScatter(out, in, dtype, op, timeoutMs, shape, seq?, onDone?)
Napi::Value Group::ReduceScatter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto t = newCollective(env, Op::REDUCE_SCATTER);
  t->a = bufferArg(info[0], "output", *t);
  t->b = bufferArg(info[1], "input", *t);
  t->dtype = dtypeArg(info[2]);
  t->redop = redOpArg(info[3], t->dtype);
  t->timeoutMs = intArg(info[4], "timeoutMs");
  t->shape = intArray(info[5], "shape");
  if (t->b.bytes != t->a.bytes * (size_t)core_->size) throw Napi::RangeError::New(env, "reduceScatter: input must hold size x output");
  t->seq = nextSeq(info[6]);
  callbackArg(info[7], *t);
  return submit(env, std::move(t), core_->coll);
}

// allToAll(out, in, dtype, outCounts | null, inCounts | null, timeoutMs, shape, seq?, onDone?)
Napi::Value Group::AllToAll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto t = newCollective(env, Op::ALLTOALL);
  t->a = bufferArg(info[0], "output", *t);
  t->b = bufferArg(info[1], "input", *t);
  t->dtype = dtypeArg(info[2]);
  t->outCounts = intArray(info[3], "outCounts");
  t->inCounts = intArray(info[4], "inCounts");
  t->timeoutMs = intArg(info[5], "timeoutMs");
  t->shape = intArray(info[6], "shape");
  const size_t es = elementSize(t->dtype);
  const size_t size = core_->size;
  if (!t->outCounts.empty() || !t->inCounts.empty()) {
    t->op = Op::ALLTOALLV;
    if (t->outCounts.size() != size || t->inCounts.size() != size) {
      throw Napi::RangeError::New(env, "allToAll: split counts need one entry per rank");
    }
    int64_t tin = 0, tout = 0;
    for (size_t i = 0; i < size; i++) {
      if (t->inCounts[i] < 0 || t->outCounts[i] < 0) throw Napi::RangeError::New(env, "allToAll: negative split");
      tin += t->inCounts[i];
      tout += t->outCounts[i];
    }
    if ((size_t)tin * es != t->b.bytes || (size_t)tout * es != t->a.bytes) {
      throw Napi::RangeError::New(env, "allToAll: splits do not add up to the tensors' sizes");
    }
  } else if (t->a.bytes != t->b.bytes || (t->b.bytes / es) % size != 0) {
    throw Napi::RangeError::New(env, "allToAll: input and output must have the same size, divisible by the group size");
  }
  t->seq = nextSeq(info[7]);
  callbackArg(info[8], *t);
  return submit(env, std::move(t), core_->coll);
}

// barrier(timeoutMs, seq?, onDone?)
Napi::Value Group::Barrier(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto t = newCollective(env, Op::BARRIER);
  t->timeoutMs = intArg(info[0], "timeoutMs");
  t->seq = nextSeq(info[1]);
  callbackArg(info[2], *t);
  return submit(env, std::move(t), core_->coll);
}

// send(buf, dtype, dst, tag, timeoutMs, shape, onDone?) / recv(buf, dtype, src, tag, timeoutMs, shape, onDone?)
Napi::Value Group::p2p(const Napi::CallbackInfo& info, bool isSend) {
  Napi::Env env = info.Env();
  auto t = newCollective(env, isSend ? Op::SEND : Op::RECV);
  t->a = bufferArg(info[0], "tensor", *t);
  t->dtype = dtypeArg(info[1]);
  t->root = (int)intArg(info[2], isSend ? "dst" : "src");
  const int64_t tag = intArg(info[3], "tag");
  t->timeoutMs = intArg(info[4], "timeoutMs");
  t->shape = intArray(info[5], "shape");
  callbackArg(info[6], *t);
  if (t->root < 0 || t->root >= core_->size || t->root == core_->rank) {
    throw Napi::RangeError::New(env, std::string(isSend ? "send: dst " : "recv: src ") + std::to_string(t->root) +
                                         " must be another rank of the group (0.." + std::to_string(core_->size - 1) +
                                         ", not " + std::to_string(core_->rank) + ")");
  }
  if (tag < 0 || tag > 0xffffffffLL) throw Napi::RangeError::New(env, "tag must be in [0, 2^32)");
  t->tag = static_cast<uint32_t>(tag);
  const std::string why = core_->brokenReason();
  if (!why.empty()) {
    t->error = core_->label(*t) + " was not run: the process group is unusable after an earlier failure: " + why;
    t->code = "DS_COMM_BROKEN";
    return rejectNow(env, std::move(t));
  }
  t->deadline = Clock::now() + (t->timeoutMs > 0 ? Ms(t->timeoutMs) : core_->timeout);
  if (t->a.bytes > 0) {
    try {
      const uint64_t slot = gloo::Slot::build(kP2pSlotPrefix, t->tag);
      t->ub = core_->ctx->createUnboundBuffer(t->a.ptr, t->a.bytes);
      if (isSend) {
        t->ub->send(t->root, slot);
      } else {
        t->ub->recv(t->root, slot);
      }
    } catch (const std::exception& e) {
      t->error = core_->label(*t) + " failed: lost connection to " + core_->rankName(t->root) + " (gloo: " + e.what() + ")";
      t->code = "DS_COMM_PEER_LOST";
      t->culprits = {t->root};
      t->fatal = true;
      if (t->ub) core_->bury(std::shared_ptr<gloo::transport::UnboundBuffer>(std::move(t->ub)));
      core_->markBroken(t->error);
      return rejectNow(env, std::move(t));
    }
  }
  return submit(env, std::move(t), core_->p2p);
}

Napi::Value Group::Send(const Napi::CallbackInfo& info) { return p2p(info, true); }
Napi::Value Group::Recv(const Napi::CallbackInfo& info) { return p2p(info, false); }

Napi::Value Group::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closing_ || closed_) {
    auto d = Napi::Promise::Deferred::New(env);
    d.Resolve(env.Undefined());
    return d.Promise();
  }
  closing_ = true;
  auto t = std::make_unique<Task>();
  t->op = Op::CLOSE;
  return submit(env, std::move(t), core_->coll);
}

Napi::Value Group::GetSeq(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), (double)seq_); }

Napi::Value Group::GetBroken(const Napi::CallbackInfo& info) {
  const std::string why = core_->brokenReason();
  return why.empty() ? info.Env().Null() : Napi::String::New(info.Env(), why);
}

Napi::Value Group::GetPeerAddresses(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array arr = Napi::Array::New(env);
  if (!connected_) return arr;
  for (uint32_t i = 0; i < core_->peerAddrs.size(); i++) arr.Set(i, Napi::String::New(env, core_->peerAddrs[i]));
  return arr;
}

// { collectives: 'shared-memory' | 'tcp' | 'local', why? }: how this group's collectives travel.
Napi::Value Group::GetTransport(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  if (!connected_) return env.Null();
  const char* kind = core_->size == 1 ? "local" : core_->shm ? "shared-memory" : "tcp";
  o.Set("collectives", Napi::String::New(env, kind));
  if (core_->size > 1 && !core_->shm && !core_->shmWhyNot.empty()) o.Set("why", Napi::String::New(env, core_->shmWhyNot));
  return o;
}

}  // namespace dsgloo
