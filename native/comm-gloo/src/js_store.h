// A gloo::rendezvous::Store whose operations are answered by a JS function, so Gloo's
// rendezvous runs over whatever key/value store the JS side has (@ds/comm's TCP store, an
// in-memory one, ...). Gloo calls it on the group's comm thread; each call is posted to the JS
// thread through a thread-safe function and the comm thread blocks until the JS promise settles.
//
// The JS handler: (op: 'set' | 'get' | 'wait', key: string | string[], value: Buffer | null,
// timeoutMs: number) => Promise<Uint8Array | void>. 'get' waits for the key to exist.
#pragma once

#include <napi.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gloo/rendezvous/store.h>

namespace dsgloo {

class JsStore : public gloo::rendezvous::Store {
 public:
  /** Must be constructed on the JS thread. */
  JsStore(Napi::Env env, Napi::Function handler, std::chrono::milliseconds timeout);
  ~JsStore() override;

  void set(const std::string& key, const std::vector<char>& data) override;
  std::vector<char> get(const std::string& key) override;
  void wait(const std::vector<std::string>& keys) override { wait(keys, timeout_); }
  void wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) override;

  /** Lets the JS thread's reference go (call once rendezvous is over; any thread). */
  void release();

 private:
  struct Request;
  std::vector<char> call(const char* op, std::vector<std::string> keys, std::vector<char> value,
                         std::chrono::milliseconds timeout);

  Napi::ThreadSafeFunction tsfn_;
  std::chrono::milliseconds timeout_;
  // Node frees the function at environment teardown even while this store still uses it:
  // every use holds guard_->mu and checks guard_->alive (cleared by the finalizer).
  struct Guard {
    std::mutex mu;
    bool alive = true;
    bool released = false;
  };
  std::shared_ptr<Guard> guard_ = std::make_shared<Guard>();
};

}  // namespace dsgloo
