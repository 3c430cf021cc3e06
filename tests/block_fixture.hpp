// A block fixture made by tests/fixtures/make_block_fixtures.py from the upstream transformers
// code: named f32 tensors (weights, inputs, outputs) and the block's config as JSON metadata.
#pragma once

#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <strix/io/safetensors_reader.hpp>

#include "test_data.hpp"

namespace strix::testing {

// An F32 tensor of a fixture file, copied out.
inline std::vector<float> f32_tensor(const safetensors_file& file, const std::string& name) {
  const auto bytes = file.tensor_data(file.tensor(name));
  std::vector<float> values(bytes.size() / sizeof(float));
  std::memcpy(values.data(), bytes.data(), bytes.size());
  return values;
}

class block_fixture {
 public:
  explicit block_fixture(const char* name) : file_(safetensors_file::open(data_path(name))) {
    config_ = nlohmann::json::parse(file_.metadata().at("config"));
  }

  [[nodiscard]] const nlohmann::json& config() const noexcept { return config_; }
  [[nodiscard]] std::size_t size(const char* key) const { return config_.at(key).get<std::size_t>(); }

  [[nodiscard]] std::vector<float> tensor(const std::string& name) const { return f32_tensor(file_, name); }
  [[nodiscard]] std::vector<std::uint64_t> shape(const std::string& name) const { return file_.tensor(name).shape; }

 private:
  safetensors_file file_;
  nlohmann::json config_;
};

// y[t][o] = Σ_i w[o][i] · x[t][i] in double: the projections around a block, kept out of the
// code under test.
inline std::vector<float> project(const std::vector<float>& w, const std::vector<float>& x, std::size_t out_features) {
  const std::size_t in_features = w.size() / out_features, tokens = x.size() / in_features;
  std::vector<float> y(tokens * out_features);
  for (std::size_t t = 0; t < tokens; ++t) {
    for (std::size_t o = 0; o < out_features; ++o) {
      double sum = 0;
      for (std::size_t i = 0; i < in_features; ++i) sum += static_cast<double>(w[o * in_features + i]) * x[t * in_features + i];
      y[t * out_features + o] = static_cast<float>(sum);
    }
  }
  return y;
}

}  // namespace strix::testing
