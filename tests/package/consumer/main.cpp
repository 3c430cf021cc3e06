// An outside project using the installed package: the umbrella header and one round trip.
#include <cstdio>

#include <strix/strix.hpp>

int main() {
  const float x[32] = {1.0f, -2.0f, 0.5f};
  strix::block_q8_0 block{};
  strix::q8_0_format::quantize(x, block);
  float y[32];
  strix::q8_0_format::dequantize(block, y);
  if (y[1] > -1.98f || y[1] < -2.02f) return 1;  // within one fp16-rounded step
  std::puts("strix consumer ok");
  return 0;
}
