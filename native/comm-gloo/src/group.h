// A Gloo process group exposed to JS: one gloo::Context (TCP transport; when every member runs
// on this host, collectives go through a shared-memory segment instead: shm.h), one comm thread
// that runs the collectives in issue order, and one thread that waits for point-to-point transfers
// (posted on the JS thread so they never block each other). Results come back to the JS thread
// through a thread-safe function that settles each call (its promise, or its completion callback).
// The JS thread may also block until one call has finished (waitFor) and settle it at once; the
// thread-safe function's later delivery of that call then only does the bookkeeping.
//
// JS API (class Group): see the Init() table in group.cc and packages/comm-gloo/src/native.ts.
#pragma once

#include <napi.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <gloo/context.h>
#include <gloo/transport/unbound_buffer.h>

#include "common.h"
#include "js_store.h"

namespace dsgloo {

using Clock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;

class Group;
class ShmSegment;
struct Desc;

/** Where a shared-memory wait stands in its collective (for the timeout message). */
enum class ShmPhase { START, FIRST, MIDDLE };

struct Buf {
  void* ptr = nullptr;
  size_t bytes = 0;
};

/** One call from JS: built on the JS thread, run on a worker thread, settled on the JS thread. */
struct Task {
  Op op = Op::NONE;
  DType dtype = DType::F32;
  RedOp redop = RedOp::SUM;
  int root = -1;  // root of reduce/broadcast, peer of send/recv (group rank)
  uint32_t tag = 0;
  uint64_t seq = 0;
  int64_t timeoutMs = 0;
  Buf a;  // in-place tensor / output
  Buf b;  // input (allGather, reduceScatter, allToAll)
  std::vector<int64_t> shape;
  std::vector<int64_t> outCounts;  // allToAll with splits: elements per rank
  std::vector<int64_t> inCounts;
  std::unique_ptr<gloo::transport::UnboundBuffer> ub;  // send / recv
  Clock::time_point deadline;

  // Outcome (written by the worker).
  std::string error;
  std::string code;
  std::vector<int> culprits;
  bool fatal = false;  // the group is unusable; keep the buffers alive until destroy
  /** The worker has run it (guarded by Core::finishedMu_); from then on only the JS thread touches it. */
  bool finished = false;

  // JS-thread only.
  Group* owner = nullptr;
  uint64_t ticket = 0;
  bool settled = false;
  std::vector<Napi::ObjectReference> refs;
  /** Settled through `onDone(error | null)` when the caller gave one, else through this promise. */
  Napi::FunctionReference onDone;
  std::optional<Napi::Promise::Deferred> deferred;
};

class Core;

/** A thread with a FIFO of tasks. */
struct Worker {
  std::thread thread;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Task*> queue;
  bool stop = false;

  void push(Task* t);
  void requestStop();
  void start(std::shared_ptr<Core> core);
};

struct Failure : std::runtime_error {
  Failure(std::string code, const std::string& msg, std::vector<int> ranks = {})
      : std::runtime_error(msg), code(std::move(code)), ranks(std::move(ranks)) {}
  std::string code;
  std::vector<int> ranks;
};

class Core : public std::enable_shared_from_this<Core> {
 public:
  // Configuration (immutable after construction).
  int rank = 0;
  int size = 1;
  std::vector<int> globalRanks;
  std::string hostname;
  std::string iface;
  std::string prefix;
  std::string storePath;
  Ms timeout{30000};
  Ms initTimeout{60000};
  bool check = true;

  std::unique_ptr<JsStore> jsStore;
  std::shared_ptr<gloo::Context> ctx;
  /** The host's shared-memory segment, when every member runs on this host (collectives go through it). */
  std::unique_ptr<ShmSegment> shm;
  /** Why shm is null (for the group's `transport` report). */
  std::string shmWhyNot;
  std::vector<std::string> peerAddrs;

  Worker coll;
  Worker p2p;
  Napi::ThreadSafeFunction done;
  /**
   * Guards every use of `done`: Node finalizes (and frees) it after the last release, or at
   * environment teardown even while worker threads still hold counts; `alive` turns false then.
   */
  struct DoneGuard {
    std::mutex mu;
    bool alive = true;
  };
  std::shared_ptr<DoneGuard> doneGuard = std::make_shared<DoneGuard>();
  /** Hands a finished task to the JS thread; false when that is no longer possible. */
  bool post(Task* t);
  /** Marks `t` run (waking a JS thread blocked on it in waitFor). */
  void markFinished(Task* t);
  /** Blocks the calling (JS) thread until a worker has run `t`. */
  void waitFinished(Task* t);
  /** Drops one thread count on `done` (if it still exists). */
  void releaseDoneCount();

  void execute(Task& t);
  void markBroken(const std::string& why);
  std::string brokenReason();
  std::string rankName(int r) const;
  std::string label(const Task& t) const;
  /** Throws DS_COMM_MISMATCH (the same on every rank) unless every rank's descriptor matches rank 0's. */
  void throwIfMismatched(const std::vector<Desc>& all) const;
  /** Throws DS_COMM_TIMEOUT naming the ranks that did not call t's collective (the same text over TCP and shared memory). */
  [[noreturn]] void throwNotArrived(const Task& t, const std::vector<int>& missing) const;
  /** The timeout t runs under, in ms (its own, else the group's). */
  int64_t timeoutMsOf(const Task& t) const { return t.timeoutMs > 0 ? t.timeoutMs : timeout.count(); }

 private:
  void connect(Task& t);
  void close(Task& t);
  void waitP2p(Task& t);
  /** Exchange call descriptors (and a small all-reduce's data); true when that finished the collective. */
  bool exchangeHeaders(Task& t);
  void runCollective(Task& t);
  void ringReduceScatter(Task& t);
  void directAllReduce(Task& t);
  /** The collective through the shared-memory segment (shm.cc). */
  void runShm(Task& t);
  /** Publishes this rank's step and waits for every rank's; the first meeting of a collective also compares the descriptors. */
  void shmMeet(Task& t, bool first);
  void shmAwait(Task& t, ShmPhase phase);
  Ms remaining(const Task& t) const;
  [[noreturn]] void rethrow(const Task& t, const std::exception& e, const char* phase);
  std::vector<int> ranksNamedIn(const std::string& text) const;
  /** Comm-thread scratch buffer `slot` (0-3; 2 and 3 belong to exchangeHeaders) of at least `bytes`, reused between calls. */
  char* scratch(int slot, size_t bytes);
  std::unique_ptr<char[]> scratch_[4];
  size_t scratchBytes_[4] = {0, 0, 0, 0};

  std::mutex finishedMu_;
  std::condition_variable finishedCv_;
  std::mutex brokenMu_;
  std::string broken_;
  std::mutex graveMu_;
  std::vector<std::shared_ptr<void>> graveyard_;  // transport buffers of failed calls
 public:
  void bury(std::shared_ptr<void> p);
};

class Group : public Napi::ObjectWrap<Group> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit Group(const Napi::CallbackInfo& info);
  ~Group() override;

  /** The thread-safe function's delivery of a finished task: settles it (unless waitFor did) and frees it. */
  void settle(Napi::Env env, Task* t);

 private:
  Napi::Value Connect(const Napi::CallbackInfo& info);
  Napi::Value AllReduce(const Napi::CallbackInfo& info);
  Napi::Value Reduce(const Napi::CallbackInfo& info);
  Napi::Value Broadcast(const Napi::CallbackInfo& info);
  Napi::Value AllGather(const Napi::CallbackInfo& info);
  Napi::Value ReduceScatter(const Napi::CallbackInfo& info);
  Napi::Value AllToAll(const Napi::CallbackInfo& info);
  Napi::Value Barrier(const Napi::CallbackInfo& info);
  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value Recv(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetSeq(const Napi::CallbackInfo& info);
  Napi::Value GetBroken(const Napi::CallbackInfo& info);
  Napi::Value GetPeerAddresses(const Napi::CallbackInfo& info);
  Napi::Value GetTransport(const Napi::CallbackInfo& info);
  Napi::Value WaitFor(const Napi::CallbackInfo& info);

  /** Resolves / rejects the call (or calls its onDone) once; the task stays owned by the caller. */
  void finish(Napi::Env env, Task* t);
  Napi::Error errorOf(Napi::Env env, const Task& t) const;

  Napi::Value p2p(const Napi::CallbackInfo& info, bool isSend);
  /** Queues `t` on `w`; returns its promise, or its ticket when it settles through onDone. */
  Napi::Value submit(Napi::Env env, std::unique_ptr<Task> t, Worker& w);
  Napi::Value rejectNow(Napi::Env env, std::unique_ptr<Task> t);
  void requireUsable(Napi::Env env, const char* what);
  std::unique_ptr<Task> newCollective(Napi::Env env, Op op);
  uint64_t nextSeq(const Napi::Value& v);
  void releaseDone();

  std::shared_ptr<Core> core_;
  int pending_ = 0;
  bool connected_ = false;
  bool connecting_ = false;
  bool closing_ = false;
  bool closed_ = false;
  bool doneReleased_ = false;
  uint64_t seq_ = 0;
  uint64_t tickets_ = 0;
  /** Calls settled through onDone that are still in flight, by ticket (what waitFor can wait on). */
  std::unordered_map<uint64_t, Task*> waitable_;
  std::vector<Napi::ObjectReference> graveyard_;
};

}  // namespace dsgloo
