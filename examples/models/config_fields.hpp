// Reading a Hugging Face config.json object: counts and flags by key, with errors that name the
// file and the field.
#pragma once

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

#include <strix/core/error.hpp>

namespace strix::models {

class config_fields {
 public:
  config_fields(const nlohmann::json& object, std::string source) : j_(object), source_(std::move(source)) {}

  [[noreturn]] void fail(const std::string& what) const { throw error(error_category::format, source_ + ": " + what); }

  // A required non-negative integer.
  [[nodiscard]] std::size_t count(const char* key) const {
    if (!j_.contains(key) || !is_count(j_.at(key))) fail("config field '" + std::string(key) + "' is missing or not a count");
    return j_.at(key).get<std::size_t>();
  }
  // An optional one (absent or null: `fallback`).
  [[nodiscard]] std::size_t count_or(const char* key, std::size_t fallback) const {
    if (!j_.contains(key) || j_.at(key).is_null()) return fallback;
    if (!is_count(j_.at(key))) fail("config field '" + std::string(key) + "' is not a count");
    return j_.at(key).get<std::size_t>();
  }
  // True only when present and true.
  [[nodiscard]] bool flag(const char* key) const { return j_.contains(key) && j_.at(key).is_boolean() && j_.at(key).get<bool>(); }

 private:
  static bool is_count(const nlohmann::json& v) { return v.is_number_integer() && v.get<long long>() >= 0; }

  const nlohmann::json& j_;
  std::string source_;
};

}  // namespace strix::models
