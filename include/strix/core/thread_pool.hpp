// thread_pool: a fixed set of worker threads created by the caller (never hidden inside a kernel)
// and a blocking parallel_for over an index range. The calling thread works too; chunks are handed
// out through one atomic counter, so a call allocates nothing and load-balances uneven chunks.
#pragma once

#include <algorithm>
#include <atomic>
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
  explicit thread_pool(unsigned n_threads = std::max(1u, std::thread::hardware_concurrency())) {
    const unsigned n_workers = n_threads > 1 ? n_threads - 1 : 0;
    workers_.reserve(n_workers);
    for (unsigned i = 0; i < n_workers; ++i) workers_.emplace_back([this] { worker_loop(); });
  }

  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  ~thread_pool() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
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
    {
      std::lock_guard lock(mutex_);
      running_workers_ = static_cast<unsigned>(workers_.size());
      ++generation_;
    }
    wake_.notify_all();
    run_chunks();
    std::unique_lock lock(mutex_);
    done_.wait(lock, [this] { return running_workers_ == 0; });
    std::exception_ptr failure = std::exchange(job_error_, nullptr);
    lock.unlock();
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

  void worker_loop() noexcept {
    std::size_t seen_generation = 0;
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || generation_ != seen_generation; });
        if (stopping_) return;
        seen_generation = generation_;
      }
      run_chunks();
      std::lock_guard lock(mutex_);
      if (--running_workers_ == 0) done_.notify_one();
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::size_t generation_ = 0;
  unsigned running_workers_ = 0;
  bool stopping_ = false;
  std::atomic<bool> busy_{false};

  void* job_body_ = nullptr;
  void (*job_invoke_)(void*, std::size_t, std::size_t) = nullptr;
  std::atomic<std::size_t> next_{0};
  std::size_t job_end_ = 0;
  std::size_t job_grain_ = 1;
  std::exception_ptr job_error_;
};

}  // namespace strix
