// timed_policy<Base>: a device policy that forwards every kernel call to Base and adds up the
// wall-clock time of the calls per kernel (matmuls per shape), so that a model step can be broken
// down by kernel. Meant for policies whose calls return when their outputs are in host memory (hip,
// reference, zen5): there a call's wall time is what it costs the step, staging and waiting
// included. With hip's resident activations a call's time is what it costs the host to queue it,
// and the GPU's time shows in host_access and synchronize, where the host waits. The host's own
// work between calls (the blocks' host-side steps) is counted against the call that follows it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <map>
#include <string>
#include <utility>

#include <strix/device/concepts.hpp>

namespace strix::bench {

template <device_policy Base>
class timed_policy : public Base {
 public:
  using Base::Base;

  struct tally {
    double microseconds = 0;
    std::size_t calls = 0;
    double host_before = 0;  // µs between the previous call's end and this kernel's calls
  };

  // Clears the tallies and counts calls from now on, until stop_timing().
  void start_timing() {
    tallies_.clear();
    timing_ = true;
    last_end_ = std::chrono::steady_clock::now();
  }
  void stop_timing() { timing_ = false; }

  // One line per kernel: calls, µs per step and µs per call over `steps` steps that took
  // `step_microseconds` each, and the host's µs per step between the previous call and this
  // kernel's calls; then what the calls add up to and the time spent outside them.
  void print_tallies(std::size_t steps, double step_microseconds) const {
    double inside = 0;
    std::size_t calls = 0;
    const auto per_step = static_cast<double>(steps);
    std::printf("| kernel | calls/step | us/step | us/call | host us/step before |\n|---|---|---|---|---|\n");
    for (const auto& [kernel, t] : tallies_) {
      std::printf("| %s | %.0f | %.0f | %.1f | %.0f |\n", kernel.c_str(), static_cast<double>(t.calls) / per_step, t.microseconds / per_step,
                  t.microseconds / static_cast<double>(t.calls), t.host_before / per_step);
      inside += t.microseconds;
      calls += t.calls;
    }
    inside /= per_step;
    std::printf("| all calls | %.0f | %.0f | %.1f | |\n| outside the calls | | %.0f | | |\n", static_cast<double>(calls) / per_step, inside,
                inside * per_step / static_cast<double>(calls), step_microseconds - inside);
  }

  template <block_format Format>
  void matmul(const quantized_view<Format>& w, matrix_view<const float> x, matrix_view<float> y) {
    timed_as([&] { return std::string(x.extent(0) == 1 ? "matmul 1 row x " : "matmul rows x ") + std::to_string(w.rows()) + "x" + std::to_string(w.row_length()); },
          [&] { Base::matmul(w, x, y); });
  }
  // Declared only where Base has matmul_pair, so that multiply_pair falls back to two matmuls as on Base.
  template <block_format Format>
    requires requires(Base& base, const quantized_view<Format>& w, matrix_view<const float> x, matrix_view<float> y) {
      base.matmul_pair(w, w, x, y, y);
    }
  void matmul_pair(const quantized_view<Format>& a, const quantized_view<Format>& b, matrix_view<const float> x, matrix_view<float> ya,
                   matrix_view<float> yb) {
    timed_as([&] { return std::string(x.extent(0) == 1 ? "matmul pair 1 row x 2x" : "matmul pair rows x 2x") + std::to_string(a.rows()) + "x" + std::to_string(a.row_length()); },
             [&] { Base::matmul_pair(a, b, x, ya, yb); });
  }
  template <block_format Format>
  void grouped_matmul(const quantized_view<Format>& w, std::span<const matmul_group> groups, matrix_view<const float> x, matrix_view<float> y) {
    timed_as([&] { return "grouped matmul " + std::to_string(x.extent(0)) + " rows x " + std::to_string(y.extent(1)) + "x" + std::to_string(w.row_length()); },
             [&] { Base::grouped_matmul(w, groups, x, y); });
  }
  template <class... Args>
  void embedding(Args&&... args) {
    timed("embedding", [&] { Base::embedding(std::forward<Args>(args)...); });
  }
  template <class... Args>
  void rmsnorm(Args&&... args) {
    timed("rmsnorm", [&] { Base::rmsnorm(std::forward<Args>(args)...); });
  }
  template <class... Args>
  void rmsnorm_add(Args&&... args) {
    timed("rmsnorm_add", [&] { Base::rmsnorm_add(std::forward<Args>(args)...); });
  }
  template <class... Args>
  void rope(Args&&... args) {
    timed("rope", [&] { Base::rope(std::forward<Args>(args)...); });
  }
  template <class... Args>
  void apply_activation(Args&&... args) {
    timed("activation", [&] { Base::apply_activation(std::forward<Args>(args)...); });
  }
  template <class... Args>
  void gated_activation(Args&&... args) {
    timed("gated activation", [&] { Base::gated_activation(std::forward<Args>(args)...); });
  }
  template <class... Args>
  void softcap(Args&&... args) {
    timed("softcap", [&] { Base::softcap(std::forward<Args>(args)...); });
  }
  template <class... Args>
  void gather_rows(Args&&... args) {
    timed("gather_rows", [&] { Base::gather_rows(std::forward<Args>(args)...); });
  }
  template <class... Args>
  void scatter_add_rows(Args&&... args) {
    timed("scatter_add_rows", [&] { Base::scatter_add_rows(std::forward<Args>(args)...); });
  }
  template <class... Args>
  void softmax(Args&&... args) {
    timed("softmax", [&] { Base::softmax(std::forward<Args>(args)...); });
  }
  template <class... Args>
  std::size_t argmax(Args&&... args) {
    std::size_t index = 0;
    timed("argmax", [&] { index = Base::argmax(std::forward<Args>(args)...); });
    return index;
  }
  template <class... Args>
  void top_k(Args&&... args) {
    timed("top_k", [&] { Base::top_k(std::forward<Args>(args)...); });
  }
  template <class... Args>
  void add(Args&&... args) {
    timed("add", [&] { Base::add(std::forward<Args>(args)...); });
  }
  template <class... Args>
  void scale(Args&&... args) {
    timed("scale", [&] { Base::scale(std::forward<Args>(args)...); });
  }
  template <class... Args>
  void copy(Args&&... args) {
    timed("copy", [&] { Base::copy(std::forward<Args>(args)...); });
  }
  // With results held on the GPU (hip resident activations), calls return before the GPU has
  // run them, and the waiting shows here.
  template <class... Args>
  void host_access(Args&&... args) {
    timed("host_access", [&] { Base::host_access(std::forward<Args>(args)...); });
  }
  void synchronize() {
    timed("synchronize", [&] { Base::synchronize(); });
  }
  void write_kv(const kv_write_args& args) {
    timed("write_kv", [&] { Base::write_kv(args); });
  }
  template <attention_window Window>
  void attention(const attention_args& args) {
    timed_as([] { return Window::size == 0 ? std::string("attention, global") : "attention, window " + std::to_string(Window::size); },
          [&] { Base::template attention<Window>(args); });
  }
  template <class... Args>
  void deltanet_recurrent(Args&&... args) {
    timed("deltanet", [&] { Base::deltanet_recurrent(std::forward<Args>(args)...); });
  }
  template <class... Args>
  void deltanet_chunked(Args&&... args) {
    timed("deltanet", [&] { Base::deltanet_chunked(std::forward<Args>(args)...); });
  }

 private:
  template <class Call>
  void timed(const char* kernel, Call&& call) {
    timed_as([kernel] { return std::string(kernel); }, std::forward<Call>(call));
  }
  // `name`: makes the kernel's name, only while timing.
  template <class Name, class Call>
  void timed_as(Name&& name, Call&& call) {
    if (!timing_) {
      call();
      return;
    }
    const auto start = std::chrono::steady_clock::now();
    call();
    const auto end = std::chrono::steady_clock::now();
    tally& t = tallies_[name()];
    t.microseconds += std::chrono::duration<double, std::micro>(end - start).count();
    t.host_before += std::chrono::duration<double, std::micro>(start - last_end_).count();
    ++t.calls;
    last_end_ = std::chrono::steady_clock::now();  // the tally's own bookkeeping is not the host's work
  }

  bool timing_ = false;
  std::chrono::steady_clock::time_point last_end_;
  std::map<std::string, tally> tallies_;
};

}  // namespace strix::bench
