// generation_stream: the channel between one client's request handler and the scheduler. The
// scheduler pushes generated tokens and the finish; the handler pops them (waiting with a
// timeout, so it can notice a client that went away) and may cancel, which the scheduler honours
// at its next step by freeing the sequence.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

namespace strix::serve {

enum class finish_reason { none, stop, length, cancelled, error };

struct generation_event {
  std::int32_t token = -1;                     // a generated token, or -1 with a finish
  finish_reason finish = finish_reason::none;
  std::string error;                           // with finish_reason::error
};

class generation_stream {
 public:
  void push(generation_event event) {
    {
      const std::lock_guard lock(mutex_);
      events_.push_back(std::move(event));
    }
    ready_.notify_one();
  }

  // The next event, or nothing when none came within `timeout`.
  [[nodiscard]] std::optional<generation_event> pop(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    if (!ready_.wait_for(lock, timeout, [&] { return !events_.empty(); })) return std::nullopt;
    generation_event event = std::move(events_.front());
    events_.pop_front();
    return event;
  }

  void cancel() noexcept { cancelled_ = true; }
  [[nodiscard]] bool cancelled() const noexcept { return cancelled_; }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<generation_event> events_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace strix::serve
