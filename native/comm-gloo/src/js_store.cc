#include "js_store.h"

#include <future>
#include <memory>

#include <gloo/common/error.h>

namespace dsgloo {

struct JsStore::Request {
  std::string op;
  std::vector<std::string> keys;
  std::vector<char> value;
  int64_t timeoutMs = 0;
  std::promise<std::vector<char>> result;
  std::atomic<bool> settled{false};

  void resolve(std::vector<char> v) {
    if (!settled.exchange(true)) result.set_value(std::move(v));
  }
  void reject(const std::string& message) {
    if (!settled.exchange(true)) result.set_exception(std::make_exception_ptr(gloo::IoException(message)));
  }
};

JsStore::JsStore(Napi::Env env, Napi::Function handler, std::chrono::milliseconds timeout) : timeout_(timeout) {
  auto guard = guard_;
  tsfn_ = Napi::ThreadSafeFunction::New(env, handler, "ds-gloo-store", 0, 1, [guard](Napi::Env) {
    std::lock_guard<std::mutex> lock(guard->mu);
    guard->alive = false;
  });
}

JsStore::~JsStore() { release(); }

void JsStore::release() {
  std::lock_guard<std::mutex> lock(guard_->mu);
  if (guard_->alive && !guard_->released) tsfn_.Release();
  guard_->released = true;
}

namespace {

std::string errorText(const Napi::Value& v) {
  if (v.IsObject()) {
    Napi::Value m = v.As<Napi::Object>().Get("message");
    if (m.IsString()) return m.As<Napi::String>().Utf8Value();
  }
  Napi::Env env = v.Env();
  Napi::Value s = env.Global().Get("String").As<Napi::Function>().Call({v});
  return s.IsString() ? s.As<Napi::String>().Utf8Value() : std::string("unknown error");
}

std::vector<char> bytesOf(const Napi::Value& v) {
  if (v.IsTypedArray()) {
    auto ta = v.As<Napi::TypedArray>();
    const char* p = static_cast<const char*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    return std::vector<char>(p, p + ta.ByteLength());
  }
  if (v.IsArrayBuffer()) {
    auto ab = v.As<Napi::ArrayBuffer>();
    const char* p = static_cast<const char*>(ab.Data());
    return std::vector<char>(p, p + ab.ByteLength());
  }
  if (v.IsString()) {
    std::string s = v.As<Napi::String>().Utf8Value();
    return std::vector<char>(s.begin(), s.end());
  }
  return {};
}

}  // namespace

std::vector<char> JsStore::call(const char* op, std::vector<std::string> keys, std::vector<char> value,
                                std::chrono::milliseconds timeout) {
  auto req = std::make_shared<Request>();
  req->op = op;
  req->keys = std::move(keys);
  req->value = std::move(value);
  req->timeoutMs = timeout.count();
  auto future = req->result.get_future();
  auto* boxed = new std::shared_ptr<Request>(req);
  std::unique_lock<std::mutex> lock(guard_->mu);
  if (!guard_->alive || guard_->released) {
    lock.unlock();
    delete boxed;
    throw gloo::IoException(std::string("store ") + op + ": the JS thread is not accepting calls (shutting down)");
  }
  // An unlimited queue: BlockingCall never blocks, so holding the lock here is brief.
  napi_status st = tsfn_.BlockingCall(boxed, [](Napi::Env env, Napi::Function handler, std::shared_ptr<Request>* data) {
    std::shared_ptr<Request> r = *data;
    delete data;
    if (env == nullptr) {
      r->reject("the JS environment is shutting down");
      return;
    }
    try {
      Napi::Value key;
      if (r->op == "wait") {
        Napi::Array arr = Napi::Array::New(env, r->keys.size());
        for (uint32_t i = 0; i < r->keys.size(); i++) arr.Set(i, Napi::String::New(env, r->keys[i]));
        key = arr;
      } else {
        key = Napi::String::New(env, r->keys[0]);
      }
      Napi::Value val = r->op == "set" ? Napi::Value(Napi::Buffer<char>::Copy(env, r->value.data(), r->value.size()))
                                       : env.Null();
      Napi::Value ret = handler.Call({Napi::String::New(env, r->op), key, val, Napi::Number::New(env, (double)r->timeoutMs)});
      if (ret.IsPromise() || (ret.IsObject() && ret.As<Napi::Object>().Get("then").IsFunction())) {
        Napi::Object p = ret.As<Napi::Object>();
        Napi::Function onOk = Napi::Function::New(env, [r](const Napi::CallbackInfo& info) {
          r->resolve(info.Length() > 0 ? bytesOf(info[0]) : std::vector<char>());
        });
        Napi::Function onErr = Napi::Function::New(env, [r](const Napi::CallbackInfo& info) {
          r->reject(info.Length() > 0 ? errorText(info[0]) : std::string("store operation failed"));
        });
        p.Get("then").As<Napi::Function>().Call(p, {onOk, onErr});
      } else {
        r->resolve(bytesOf(ret));
      }
    } catch (const Napi::Error& e) {
      r->reject(e.Message());
    }
  });
  lock.unlock();
  if (st != napi_ok) {
    delete boxed;
    throw gloo::IoException(std::string("store ") + op + ": the JS thread is not accepting calls (shutting down)");
  }
  // The JS side enforces the timeout; this margin only guards against a handler that never settles.
  const auto limit = timeout + std::chrono::seconds(5);
  if (future.wait_for(limit) != std::future_status::ready) {
    req->reject("no answer");
    throw gloo::IoException(std::string("store ") + op + " '" + req->keys[0] + "': no answer from the store within " +
                            std::to_string(limit.count()) + " ms");
  }
  return future.get();
}

void JsStore::set(const std::string& key, const std::vector<char>& data) { call("set", {key}, data, timeout_); }

std::vector<char> JsStore::get(const std::string& key) { return call("get", {key}, {}, timeout_); }

void JsStore::wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) {
  if (keys.empty()) return;
  call("wait", keys, {}, timeout.count() > 0 ? timeout : timeout_);
}

}  // namespace dsgloo
