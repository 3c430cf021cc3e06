// The lifetime of activation buffers under a policy that may hold results of its calls
// (device_policy's host access, concepts.hpp). device_batch: the end of a batch of policy calls (a
// model's forward): finish() brings every result the policy still holds to host memory
// (synchronize); leaving the scope without it, by an exception, makes the policy forget them
// instead (discard_activations), since the buffers they belong to may be freed before anyone
// synchronises. grow_scratch: a scratch buffer grown within a batch hands its held results back
// before its memory moves, so that nothing stays held in freed memory.
#pragma once

#include <cstddef>
#include <vector>

#include <strix/device/concepts.hpp>

namespace strix {

template <device_policy Device>
class device_batch {
 public:
  explicit device_batch(Device& dev) : dev_(dev) {}
  device_batch(const device_batch&) = delete;
  device_batch& operator=(const device_batch&) = delete;
  ~device_batch() { dev_.discard_activations(); }

  void finish() { dev_.synchronize(); }

 private:
  Device& dev_;
};

template <device_policy Device>
void grow_scratch(Device& dev, std::vector<float>& scratch, std::size_t size) {
  if (scratch.size() >= size) return;
  dev.host_access(scratch);
  scratch.resize(size);
}

}  // namespace strix
