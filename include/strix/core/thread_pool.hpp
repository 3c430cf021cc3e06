// thread_pool: a fixed set of worker threads created by the caller (never hidden inside a kernel)
// and a blocking parallel_for over an index range. The calling thread works too; chunks are handed
// out through one atomic counter, so a call allocates nothing and load-balances uneven chunks.
//
// Between jobs, workers (and the caller, waiting for them) spin for a short while before they
// block: decode runs a few hundred short jobs per token, and waking a thread blocked in the
// kernel costs tens of microseconds on virtual machines, more than many of those jobs take.
// The spin is bounded (spin_time, default 100 µs; zero blocks at once).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace strix {

class thread_pool {
 public:
  // n_threads counts the calling thread: thread_pool(1) runs everything inline.
  explicit thread_pool(unsigned n_threads = std::max(1u, std::thread::hardware_concurrency()),
                       std::chrono::microseconds spin_time = std::chrono::microseconds(100))
      : spin_time_(spin_time) {
    const unsigned n_workers = n_threads > 1 ? n_threads - 1 : 0;
    workers_.reserve(n_workers);
    for (unsigned i = 0; i < n_workers; ++i) workers_.emplace_back([this] { worker_loop(); });
  }

  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  ~thread_pool() {
    {
      std::lock_guard lock(mutex_);
      stopping_.store(true);
    }
    wake_.notify_all();
    for (auto& worker : workers_) worker.join();
  }

  [[nodiscard]] unsigned size() const noexcept { return static_cast<unsigned>(workers_.size()) + 1; }

  // Calls body(chunk_begin, chunk_end) for consecutive chunks of at most `grain` indices covering
  // [begin, end), on all threads, and returns when all are done. The first exception thrown by a
  // chunk is rethrown here (remaining chunks are skipped). A call made while the pool is busy (from
  // inside a body, or from another thread) runs inline on the calling thread.
  template <class Body>
  void parallel_for(std::size_t begin, std::size_t end, std::size_t grain, Body&& body) {
    if (begin >= end) return;
    grain = std::max<std::size_t>(grain, 1);
    bool expected = false;
    if (workers_.empty() || end - begin <= grain || !busy_.compare_exchange_strong(expected, true)) {
      for (std::size_t b = begin; b < end; b += std::min(grain, end - b)) body(b, std::min(end, b + grain));
      return;
    }
    using body_type = std::remove_reference_t<Body>;
    job_body_ = const_cast<void*>(static_cast<const void*>(&body));
    job_invoke_ = [](void* f, std::size_t b, std::size_t e) { (*static_cast<body_type*>(f))(b, e); };
    next_.store(begin, std::memory_order_relaxed);
    job_end_ = end;
    job_grain_ = grain;
    job_error_ = nullptr;
    running_workers_.store(static_cast<unsigned>(workers_.size()));
    generation_.fetch_add(1);
    // A worker that found no new generation before registering as a sleeper sees this one; a
    // registered sleeper needs the notification (see worker_loop).
    if (sleeping_workers_.load() > 0) {
      { std::lock_guard lock(mutex_); }
      wake_.notify_all();
    }
    run_chunks();
    if (!spin_until([this] { return running_workers_.load() == 0; })) {
      caller_waiting_.store(true);
      std::unique_lock lock(mutex_);
      done_.wait(lock, [this] { return running_workers_.load() == 0; });
      caller_waiting_.store(false);
    }
    std::exception_ptr failure;
    {
      std::lock_guard lock(mutex_);
      failure = std::exchange(job_error_, nullptr);
    }
    busy_.store(false);
    if (failure) std::rethrow_exception(failure);
  }

 private:
  void run_chunks() noexcept {
    for (;;) {
      const std::size_t b = next_.fetch_add(job_grain_, std::memory_order_relaxed);
      if (b >= job_end_) return;
      try {
        job_invoke_(job_body_, b, std::min(job_end_, b + job_grain_));
      } catch (...) {
        next_.store(job_end_, std::memory_order_relaxed);
        std::lock_guard lock(mutex_);
        if (!job_error_) job_error_ = std::current_exception();
      }
    }
  }

  // Spins until done() or spin_time passes; returns whether done() became true.
  template <class Done>
  bool spin_until(Done done) const noexcept {
    if (done()) return true;
    if (spin_time_.count() == 0) return false;
    const auto deadline = std::chrono::steady_clock::now() + spin_time_;
    for (unsigned i = 1;; ++i) {
      if (done()) return true;
      if (i % 64 == 0 && std::chrono::steady_clock::now() > deadline) return false;
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
  }

  void worker_loop() noexcept {
    std::size_t seen_generation = 0;
    for (;;) {
      const auto has_work = [&] { return stopping_.load() || generation_.load() != seen_generation; };
      if (!spin_until(has_work)) {
        std::unique_lock lock(mutex_);
        sleeping_workers_.fetch_add(1);
        wake_.wait(lock, has_work);
        sleeping_workers_.fetch_sub(1);
      }
      if (stopping_.load()) return;
      seen_generation = generation_.load();
      run_chunks();
      // The last worker out wakes the caller if it stopped spinning (same protocol as above).
      if (running_workers_.fetch_sub(1) == 1 && caller_waiting_.load()) {
        { std::lock_guard lock(mutex_); }
        done_.notify_one();
      }
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::chrono::microseconds spin_time_;
  // All sequentially consistent: the sleep/wake handshakes rely on one total order.
  std::atomic<std::size_t> generation_{0};
  std::atomic<unsigned> running_workers_{0};
  std::atomic<unsigned> sleeping_workers_{0};
  std::atomic<bool> caller_waiting_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> busy_{false};

  void* job_body_ = nullptr;
  void (*job_invoke_)(void*, std::size_t, std::size_t) = nullptr;
  std::atomic<std::size_t> next_{0};
  std::size_t job_end_ = 0;
  std::size_t job_grain_ = 1;
  std::exception_ptr job_error_;
};

}  // namespace strix
