// The tool's model helpers (opening a model, planning its memory, sizes as text) and the sessions
// of every policy in this build, compiled once here rather than in every command that uses them.
#include "model_session.hpp"

#include <fstream>
#include <regex>

namespace strix::tool {

model_spec open_model(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw error(error_category::io, path + ": no such file or folder");
  if (std::filesystem::path(path).extension() == ".json") {
    throw error(error_category::unsupported, path + ": a config.json alone holds no weights; give its folder, or use it as a shape (--preset, --random-weights)");
  }
  if (is_gguf_file(path)) {
    auto gguf = std::make_shared<models::gguf_tensors>(path);
    const gguf_value* architecture = gguf->file().find("general.architecture");
    const std::string name = architecture != nullptr && architecture->type() == gguf_type::string ? architecture->as_string() : std::string();
    if (models::is_qwen35_architecture(name)) return {path, models::qwen35_config_from_gguf(gguf->file()), std::move(gguf), std::nullopt};
    if (name == "gemma4") return {path, models::gemma4_config_from_gguf(gguf->file()), std::move(gguf), std::nullopt};
    throw error(error_category::unsupported, path + ": general.architecture '" + name + "' is not supported (gemma4, qwen35, qwen35moe)");
  }
  auto tensors = std::make_shared<models::hf_tensors>(path);
  if (tensors->config().value("model_type", std::string()).rfind("qwen3_5", 0) == 0) {
    models::qwen35_config config = models::qwen35_config::from_json(tensors->config(), path + "/config.json");
    return {path, std::move(config), std::move(tensors), std::nullopt};
  }
  models::gemma4_config config = models::gemma4_config::from_json(tensors->config(), path + "/config.json");
  return {path, std::move(config), std::move(tensors), std::nullopt};
}

std::variant<models::gemma4_config, models::qwen35_config> preset_config(const models::model_preset& preset) {
  if (preset.config.value("model_type", std::string()).rfind("qwen3_5", 0) == 0) {
    return models::qwen35_config::from_json(preset.config, preset.name);
  }
  return models::gemma4_config::from_json(preset.config, preset.name);
}

models::model_preset find_shape(const std::string& shape) {
  if (!std::filesystem::exists(shape)) return models::find_preset(shape);
  const std::filesystem::path file = std::filesystem::is_directory(shape) ? std::filesystem::path(shape) / "config.json" : std::filesystem::path(shape);
  std::ifstream in(file);
  models::model_preset preset{file.string(), nlohmann::json::parse(in, nullptr, false), ""};
  if (preset.config.is_discarded()) throw error(error_category::format, file.string() + ": not valid JSON");
  return preset;
}

model_spec random_model(const std::string& shape, const std::string& weight_type) {
  const models::model_preset preset = find_shape(shape);
  auto config = preset_config(preset);
  const models::weight_scheme scheme = models::weight_scheme::named(weight_type);
  return {preset.name + " (random " + scheme.name() + ")", std::move(config),
          std::make_shared<models::random_weights>(models::tensor_naming::hugging_face, scheme), scheme};
}

models::memory_plan plan_model(const std::variant<models::gemma4_config, models::qwen35_config>& config, models::weight_census& census,
                                 const models::plan_options& options) {
  return std::visit([&](const auto& c) {
    using config_type = std::decay_t<decltype(c)>;
    if constexpr (std::is_same_v<config_type, models::gemma4_config>) {
      (void)models::gemma4_weights::load(census, c);
      return models::plan_gemma4(c, census, options);
    } else {
      (void)models::qwen35_weights::load(census, c);
      return models::plan_qwen35(c, census, options);
    }
  }, config);
}

std::string count_text(std::uint64_t count) {
  char text[32];
  const auto value = static_cast<double>(count);
  std::snprintf(text, sizeof text, value >= 1e9 ? "%.2f B" : "%.2f M", value >= 1e9 ? value / 1e9 : value / 1e6);
  return text;
}

std::uint64_t parse_bytes(const std::string& text) {
  static const std::regex size(R"(\s*([0-9]*\.?[0-9]+)\s*([KMGTkmgt]?)(i?B)?\s*)");
  std::smatch m;
  if (!std::regex_match(text, m, size) || std::stod(m[1]) <= 0) {
    throw error(error_category::shape, "--budget '" + text + "' is not a size (e.g. 16G, 512MiB, 8000000000)");
  }
  const std::string units = "KMGT";
  const auto exponent = m[2].length() ? units.find(static_cast<char>(std::toupper(static_cast<unsigned char>(m[2].str()[0])))) + 1 : 0;
  return static_cast<std::uint64_t>(std::stod(m[1]) * std::pow(1024.0, static_cast<double>(exponent)));
}

std::string size_text(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < std::size(units)) {
    value /= 1024.0;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.2f %s", value, units[unit]);
  return text;
}

std::string misfit(const std::string& name, const models::memory_plan& plan, std::uint64_t needed, std::uint64_t limit,
                   std::uint64_t fixed_beyond_limit, const std::string& what) {
  if (needed <= limit) return {};
  const std::size_t fits = plan.max_context(limit + fixed_beyond_limit);
  return name + " needs " + size_text(needed) + " at a context of " + std::to_string(plan.options.context) + " tokens (weights " +
         size_text(plan.weights.total()) + ", KV " + size_text(plan.kv_bytes) + ", recurrent state " + size_text(plan.recurrent_state_bytes) +
         ", scratch " + size_text(plan.scratch_bytes()) + ") but " + what + " is " + size_text(limit) + "; " +
         (fits > 0 ? "a context of at most " + std::to_string(fits) + " tokens would fit, or a smaller --kv-type"
                   : "the weights and fixed buffers alone do not fit") +
         " (see strix plan)";
}

void check_fits(const std::string& name, const models::memory_plan& plan, const models::system_memory& memory, const std::string& budget) {
  if (!budget.empty()) {
    if (const std::string why = misfit(name, plan, plan.total_bytes(), parse_bytes(budget), 0, "--budget"); !why.empty()) {
      throw error(error_category::memory, why);
    }
  }
  if (!memory.known()) return;
  const bool strict = memory.overcommit_mode == 2 && memory.commit_headroom() < memory.available;
  const std::uint64_t limit = strict ? memory.commit_headroom() : memory.available;
  const std::string what = strict ? "CommitLimit - Committed_AS" : "MemAvailable";
  if (const std::string why = misfit(name, plan, plan.anonymous_bytes(), limit, plan.weights.matrices(), what); !why.empty()) {
    throw error(error_category::memory, why);
  }
  if (plan.total_bytes() > memory.available) {
    std::fprintf(stderr, "warning: %s needs %s in all but MemAvailable is %s; the mapped weights will be re-read from the file as memory runs short\n",
                 name.c_str(), size_text(plan.total_bytes()).c_str(), size_text(memory.available).c_str());
  }
}

void check_same_tokenizer(const std::vector<std::string>* target_pieces, const std::string& draft_path) {
  const auto draft = models::load_model_vocabulary(draft_path);
  if (!target_pieces || !draft) return;
  const auto& a = *target_pieces;
  const auto& b = draft->pieces;
  if (a.size() != b.size()) {
    throw error(error_category::format, draft_path + ": the draft's tokenizer has " + std::to_string(b.size()) +
                                            " tokens and the target's " + std::to_string(a.size()) + "; they must share a tokenizer");
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i]) {
      throw error(error_category::format, draft_path + ": token " + std::to_string(i) + " is '" + b[i] + "' in the draft and '" + a[i] +
                                              "' in the target; they must share a tokenizer");
    }
  }
}

template std::unique_ptr<model_session<reference>> open_session<reference>(const model_spec&, const run_options&, std::size_t, std::size_t);
#if STRIX_TOOL_ZEN5
template std::unique_ptr<model_session<zen5>> open_session<zen5>(const model_spec&, const run_options&, std::size_t, std::size_t);
#endif
#if STRIX_TOOL_HIP
template std::unique_ptr<model_session<hip_device>> open_session<hip_device>(const model_spec&, const run_options&, std::size_t, std::size_t);
#endif

}  // namespace strix::tool
