// Promise-returning pread / pwrite on the I/O pool (see file_io.h).
//
// A request lives on the heap from the call until its Promise settles. Its pieces run on pool
// threads; the last one to finish hands the request back to the JavaScript thread through this
// environment's thread-safe function, which settles the Promise and frees it. The typed array
// stays referenced the whole time, so the garbage collector cannot free memory a thread still
// writes into.
#include "file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "args.h"
#include "file_table.h"
#include "io_pool.h"

namespace ds {
namespace {

// One piece per pool task: large enough that a task is mostly device time, small enough that a
// 100 MB sub-group spreads over every I/O thread (DeepSpeed's aio block_size is also 1 MiB).
constexpr size_t kPieceBytes = size_t{1} << 20;

// Process-wide byte counts by path, for ioStats(): whether transfers really go direct.
std::atomic<uint64_t> g_direct_bytes{0};
std::atomic<uint64_t> g_buffered_bytes{0};

struct IoContext;

struct Request {
  IoContext* ctx = nullptr;
  const char* fn = "";
  bool write = false;
  std::string what;  // "fd 7" or "'/path/file'", for error messages
  FileArg file;
  int fd = -1;
  bool own_fd = false;
  std::shared_ptr<DirectTwin> twin;
  uint8_t* data = nullptr;
  size_t len = 0;
  int64_t offset = 0;
  Napi::Promise::Deferred deferred;
  Napi::Reference<Napi::Uint8Array> keep;

  std::atomic<size_t> pieces_left{0};
  std::atomic<size_t> bytes{0};
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  int error = 0;
  int64_t error_at = 0;
  const char* error_call = "";

  explicit Request(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}

  void Fail(int err, const char* call, int64_t at) {
    std::lock_guard<std::mutex> lock(error_mutex);
    if (failed.exchange(true)) return;
    error = err;
    error_call = call;
    error_at = at;
  }
};

void Deliver(Napi::Env env, Napi::Function, IoContext* ctx, Request* req);
void Finalize(Napi::Env env, void*, IoContext* ctx);

using Tsfn = Napi::TypedThreadSafeFunction<IoContext, Request, Deliver>;

// Per JavaScript environment (the main thread and every worker thread that loads the addon).
struct IoContext {
  Tsfn tsfn;
  size_t pending = 0;  // requests not yet settled; JavaScript thread only
  // Requests whose I/O has not finished; environment teardown waits for them, because their
  // buffers belong to the environment's heap.
  std::mutex mutex;
  std::condition_variable idle;
  size_t in_flight = 0;
};

std::string ErrnoName(int err) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  if (const char* name = strerrorname_np(err)) return name;
#endif
  return "E" + std::to_string(err);
}

Napi::Error ErrnoError(Napi::Env env, const std::string& message, int err, const char* syscall) {
  Napi::Error e = Napi::Error::New(env, message + ": " + std::strerror(err) + " (" + ErrnoName(err) + ")");
  e.Set("code", Napi::String::New(env, ErrnoName(err)));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

bool Aligned(const void* p, int64_t offset, size_t n) {
  const uintptr_t a = kDirectAlignment - 1;
  return (reinterpret_cast<uintptr_t>(p) & a) == 0 && (static_cast<uint64_t>(offset) & a) == 0 && (n & a) == 0;
}

// Moves up to n bytes, retrying short transfers, until done, end of file (reads) or an error.
// Returns the bytes moved, or -1 with errno set. `stop_short` ends at the first short transfer:
// direct I/O continues such a tail through the buffered descriptor instead.
ssize_t TransferAll(int fd, bool write, uint8_t* p, size_t n, int64_t offset, bool stop_short) {
  size_t done = 0;
  while (done < n) {
    const size_t want = n - done;
    ssize_t r = write ? ::pwrite(fd, p + done, want, static_cast<off_t>(offset + done))
                      : ::pread(fd, p + done, want, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0) {
      if (write) {
        errno = EIO;  // pwrite never legitimately moves nothing for a non-empty request
        return -1;
      }
      break;
    }
    done += static_cast<size_t>(r);
    if (stop_short && static_cast<size_t>(r) < want) break;
  }
  return static_cast<ssize_t>(done);
}

void RunPiece(Request* r, size_t begin, size_t end) {
  uint8_t* p = r->data + begin;
  size_t n = end - begin;
  int64_t off = r->offset + static_cast<int64_t>(begin);
  size_t moved = 0;
  const std::shared_ptr<DirectTwin>& twin = r->twin;
  if (twin && twin->usable.load(std::memory_order_relaxed) && Aligned(p, off, n)) {
    ssize_t got = TransferAll(twin->fd, r->write, p, n, off, true);
    if (got < 0) {
      if (errno != EINVAL) {
        r->Fail(errno, r->write ? "pwrite" : "pread", off);
        return;
      }
      // The filesystem took O_DIRECT at open but not for transfers.
      twin->usable.store(false, std::memory_order_relaxed);
    } else {
      moved = static_cast<size_t>(got);
      g_direct_bytes.fetch_add(moved, std::memory_order_relaxed);
    }
  }
  if (moved < n) {
    ssize_t got = TransferAll(r->fd, r->write, p + moved, n - moved, off + static_cast<int64_t>(moved), false);
    if (got < 0) {
      r->Fail(errno, r->write ? "pwrite" : "pread", off + static_cast<int64_t>(moved));
      return;
    }
    moved += static_cast<size_t>(got);
    g_buffered_bytes.fetch_add(static_cast<uint64_t>(got), std::memory_order_relaxed);
  }
  r->bytes.fetch_add(moved, std::memory_order_relaxed);
}

// Runs on a pool thread once every piece is done (or the request failed before splitting).
void Complete(Request* r) {
  if (r->own_fd && r->fd >= 0) ::close(r->fd);
  r->twin.reset();
  IoContext* ctx = r->ctx;
  // After this call the JavaScript thread may free the request at any moment.
  ctx->tsfn.NonBlockingCall(r);
  std::lock_guard<std::mutex> lock(ctx->mutex);
  if (--ctx->in_flight == 0) ctx->idle.notify_all();
}

void PieceDone(Request* r) {
  if (r->pieces_left.fetch_sub(1, std::memory_order_acq_rel) == 1) Complete(r);
}

// First task of a request: open a path when one was given, then split into pieces.
void Start(Request* r) {
  if (!r->file.path.empty()) {
    const int flags = (r->write ? (O_WRONLY | O_CREAT) : O_RDONLY) | O_CLOEXEC;
    r->fd = ::open(r->file.path.c_str(), flags, 0644);
    if (r->fd < 0) {
      r->Fail(errno, "open", r->offset);
      Complete(r);
      return;
    }
    r->own_fd = true;
    // Only worth a second descriptor when the transfer can go direct.
    if (Aligned(r->data, r->offset, r->len & ~(kDirectAlignment - 1))) {
      int dfd = ::open(r->file.path.c_str(), flags | O_DIRECT, 0644);
      if (dfd >= 0) r->twin = std::make_shared<DirectTwin>(dfd);
    }
  }
  const size_t pieces = (r->len + kPieceBytes - 1) / kPieceBytes;
  r->pieces_left.store(pieces, std::memory_order_relaxed);
  IoPool& pool = IoPool::Instance();
  for (size_t i = 0; i < pieces; ++i) {
    const size_t begin = i * kPieceBytes;
    const size_t end = std::min(r->len, begin + kPieceBytes);
    if (i + 1 == pieces) {
      // The starting thread takes the last piece itself instead of queueing it.
      RunPiece(r, begin, end);
      PieceDone(r);
    } else {
      pool.Submit([r, begin, end] {
        if (!r->failed.load(std::memory_order_relaxed)) RunPiece(r, begin, end);
        PieceDone(r);
      });
    }
  }
}

void Deliver(Napi::Env env, Napi::Function, IoContext* ctx, Request* req) {
  std::unique_ptr<Request> r(req);
  if (env == nullptr) {
    // The environment is being torn down: nothing may touch JavaScript any more.
    r->keep.SuppressDestruct();
    return;
  }
  Napi::HandleScope scope(env);
  if (r->failed.load()) {
    const std::string message = std::string(r->fn) + ": " + r->error_call + " on " + r->what + " at offset " +
                                std::to_string(r->error_at) + " failed";
    r->deferred.Reject(ErrnoError(env, message, r->error, r->error_call).Value());
  } else {
    r->deferred.Resolve(Napi::Number::New(env, static_cast<double>(r->bytes.load())));
  }
  r->keep.Reset();
  if (--ctx->pending == 0) ctx->tsfn.Unref(env);
}

void Finalize(Napi::Env, void*, IoContext* ctx) { delete ctx; }

void KeepContext(Napi::Env, IoContext*) {}

void Teardown(IoContext* ctx) {
  {
    std::unique_lock<std::mutex> lock(ctx->mutex);
    ctx->idle.wait(lock, [ctx] { return ctx->in_flight == 0; });
  }
  ctx->tsfn.Release();
}

IoContext* Context(Napi::Env env) {
  if (IoContext* ctx = env.GetInstanceData<IoContext>()) return ctx;
  auto* ctx = new IoContext();
  ctx->tsfn = Tsfn::New(env, "ds_zero_io", 0, 1, ctx, Finalize, static_cast<void*>(nullptr));
  // Idle I/O must not keep the process alive; a pending request refs it (Submit).
  ctx->tsfn.Unref(env);
  // The thread-safe function's finalizer frees the context, after the last delivery.
  env.SetInstanceData<IoContext, KeepContext>(ctx);
  env.AddCleanupHook(Teardown, ctx);
  return ctx;
}

Napi::Value Submit(const Napi::CallbackInfo& info, const char* fn, bool write) {
  Args args(info, fn, 3);
  FileArg file = args.File(0, "file");
  const int64_t offset = args.Offset(1, "offset");
  Napi::Uint8Array buffer = args.Bytes(2, "buffer");
  Napi::Env env = info.Env();
  IoContext* ctx = Context(env);

  auto r = std::make_unique<Request>(env);
  Napi::Promise promise = r->deferred.Promise();
  if (buffer.ByteLength() == 0) {
    r->deferred.Resolve(Napi::Number::New(env, 0));
    return promise;
  }
  r->ctx = ctx;
  r->fn = fn;
  r->write = write;
  r->what = file.path.empty() ? "fd " + std::to_string(file.fd) : "'" + file.path + "'";
  r->data = buffer.Data();
  r->len = buffer.ByteLength();
  r->offset = offset;
  r->keep = Napi::Reference<Napi::Uint8Array>::New(buffer, 1);
  if (file.path.empty()) {
    r->fd = file.fd;
    r->twin = FindTwin(file.fd);
  }
  r->file = std::move(file);

  if (ctx->pending++ == 0) ctx->tsfn.Ref(env);
  {
    std::lock_guard<std::mutex> lock(ctx->mutex);
    ++ctx->in_flight;
  }
  Request* raw = r.release();
  IoPool::Instance().Submit([raw] { Start(raw); });
  return promise;
}

Napi::Value ReadInto(const Napi::CallbackInfo& info) { return Submit(info, "readInto", false); }
Napi::Value WriteFrom(const Napi::CallbackInfo& info) { return Submit(info, "writeFrom", true); }

Napi::Value Open(const Napi::CallbackInfo& info) {
  Args args(info, "open", 2);
  const std::string path = args.String(0, "path");
  const bool write = args.Bool(1, "write");
  if (path.empty()) args.ThrowRange("'path' must not be empty");
  const int flags = (write ? (O_RDWR | O_CREAT) : O_RDONLY) | O_CLOEXEC;
  const int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) throw ErrnoError(info.Env(), "open: cannot open '" + path + "'", errno, "open");
  const int dfd = ::open(path.c_str(), flags | O_DIRECT, 0644);
  if (dfd >= 0) {
    RegisterTwin(fd, std::make_shared<DirectTwin>(dfd));
  } else {
    ForgetTwin(fd);
  }
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("fd", Napi::Number::New(info.Env(), fd));
  out.Set("direct", Napi::Boolean::New(info.Env(), dfd >= 0));
  return out;
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  Args args(info, "close", 1);
  const int fd = static_cast<int>(args.Int(0, "fd", 0, 2147483647));
  ForgetTwin(fd);
  if (::close(fd) != 0) throw ErrnoError(info.Env(), "close: fd " + std::to_string(fd), errno, "close");
  return info.Env().Undefined();
}

Napi::Value AllocAligned(const Napi::CallbackInfo& info) {
  Args args(info, "allocAligned", 1);
  const int64_t bytes = args.Offset(0, "bytes");
  int64_t alignment = static_cast<int64_t>(kDirectAlignment);
  if (args.Has(1)) {
    alignment = args.Int(1, "alignment", 1, int64_t{1} << 20);
    if ((alignment & (alignment - 1)) != 0) {
      args.ThrowRange("'alignment' must be a power of two, got " + std::to_string(alignment));
    }
  }
  Napi::Env env = info.Env();
  // The backing store of an ArrayBuffer never moves, so the aligned offset stays aligned.
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, static_cast<size_t>(bytes + alignment));
  const uintptr_t base = reinterpret_cast<uintptr_t>(ab.Data());
  const size_t shift = static_cast<size_t>((alignment - static_cast<int64_t>(base % static_cast<uintptr_t>(alignment))) % alignment);
  return Napi::Uint8Array::New(env, static_cast<size_t>(bytes), ab, shift);
}

Napi::Value DirectAlignment(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(kDirectAlignment));
}

Napi::Value IoThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), IoPool::Instance().Size());
}

Napi::Value SetIoThreads(const Napi::CallbackInfo& info) {
  Args args(info, "setIoThreads", 1);
  IoPool::Instance().Resize(static_cast<int>(args.Int(0, "n", 1, 256)));
  return info.Env().Undefined();
}

Napi::Value IoStats(const Napi::CallbackInfo& info) {
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("directBytes", Napi::Number::New(info.Env(), static_cast<double>(g_direct_bytes.load())));
  out.Set("bufferedBytes", Napi::Number::New(info.Env(), static_cast<double>(g_buffered_bytes.load())));
  return out;
}

}  // namespace

void InitFileIo(Napi::Env env, Napi::Object exports) {
  exports.Set("open", Napi::Function::New(env, Open, "open"));
  exports.Set("close", Napi::Function::New(env, Close, "close"));
  exports.Set("readInto", Napi::Function::New(env, ReadInto, "readInto"));
  exports.Set("writeFrom", Napi::Function::New(env, WriteFrom, "writeFrom"));
  exports.Set("allocAligned", Napi::Function::New(env, AllocAligned, "allocAligned"));
  exports.Set("directAlignment", Napi::Function::New(env, DirectAlignment, "directAlignment"));
  exports.Set("ioThreads", Napi::Function::New(env, IoThreads, "ioThreads"));
  exports.Set("setIoThreads", Napi::Function::New(env, SetIoThreads, "setIoThreads"));
  exports.Set("ioStats", Napi::Function::New(env, IoStats, "ioStats"));
}

}  // namespace ds
