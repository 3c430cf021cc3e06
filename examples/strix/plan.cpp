// strix plan: what a model costs in memory at a context, before anything is loaded — weights by
// type, KV per token for global and sliding layers, recurrent state, scratch, the total, the
// largest context a budget holds, and the Linux facts (MemAvailable, commit limit, overcommit
// mode, page tables) that decide whether loading works.
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "model_session.hpp"

namespace strix::tool {
namespace {

struct plan_command_options {
  std::string model, preset, weight_type = "q4_k_m", kv = "f16", budget, device = STRIX_TOOL_ZEN5 ? "zen5" : "reference";
  std::size_t context = 4096, sequences = 1, chunk = 512;
  bool json = false;
};

// What loading costs against the commit limit, with strix's mapping and with a loader that copies.
struct commit_facts {
  std::uint64_t strix_commit = 0, copying_commit = 0, headroom = 0, page_table_bytes = 0;
  bool strix_needs_overcommit = false, copying_needs_overcommit = false;
};

commit_facts commit_facts_for(const models::memory_plan& plan, const models::system_memory& memory) {
  commit_facts f;
  f.strix_commit = plan.anonymous_bytes();
  f.copying_commit = plan.total_bytes();
  f.headroom = memory.commit_headroom();
  f.strix_needs_overcommit = memory.known() && f.strix_commit > f.headroom;
  f.copying_needs_overcommit = memory.known() && f.copying_commit > f.headroom;
  // One 8-byte page-table entry per mapped page.
  if (memory.page) f.page_table_bytes = (plan.weights.matrices() + memory.page - 1) / memory.page * 8;
  return f;
}

nlohmann::json plan_json(const std::string& name, const models::memory_plan& plan, std::uint64_t budget, const std::string& budget_source,
                         const models::system_memory& memory) {
  nlohmann::json by_type = nlohmann::json::object();
  for (const auto& [type, bytes] : plan.weights.matrices_by_type) by_type[std::string(name_of(type))] = bytes;
  by_type["f32 (vectors, copied)"] = plan.weights.vectors;
  const commit_facts facts = commit_facts_for(plan, memory);
  return {{"model", name},
          {"architecture", plan.architecture},
          {"parameters", plan.weights.parameters},
          {"context", plan.options.context},
          {"sequences", plan.options.sequences},
          {"kv_type", std::string(to_string(plan.options.kv))},
          {"weights_bytes", plan.weights.total()},
          {"weights_mapped_bytes", plan.weights.matrices()},
          {"weights_by_type", by_type},
          {"kv_bytes", plan.kv_bytes},
          {"kv_bytes_per_token_global", plan.kv_bytes_per_token_global},
          {"kv_bytes_per_token_sliding", plan.kv_bytes_per_token_sliding},
          {"sliding_window", plan.window},
          {"kv_sliding_reserve_bytes", plan.kv_sliding_reserve},
          {"recurrent_state_bytes", plan.recurrent_state_bytes},
          {"scratch_bytes", plan.scratch_bytes()},
          {"total_bytes", plan.total_bytes()},
          {"decode_read_bytes_per_token", plan.decode_weight_bytes + plan.kv_read_bytes(plan.options.context)},
          {"budget_bytes", budget},
          {"budget_source", budget_source},
          {"max_context", plan.max_context(budget)},
          {"model_max_context", plan.model_context},
          {"system", {{"mem_total", memory.total}, {"mem_available", memory.available}, {"commit_limit", memory.commit_limit},
                      {"committed_as", memory.committed}, {"overcommit_memory", memory.overcommit_mode}, {"page_size", memory.page}}},
          {"commit_bytes", facts.strix_commit},
          {"needs_overcommit", facts.strix_needs_overcommit},
          {"copying_loader_commit_bytes", facts.copying_commit},
          {"copying_loader_needs_overcommit", facts.copying_needs_overcommit}};
}

void print_plan(const std::string& name, const models::memory_plan& plan, std::uint64_t budget, const std::string& budget_source,
                const models::system_memory& memory) {
  const auto& o = plan.options;
  std::printf("model: %s (%s, %s parameters)\n", name.c_str(), plan.architecture.c_str(), count_text(plan.weights.parameters).c_str());
  std::printf("weights: %s\n", size_text(plan.weights.total()).c_str());
  for (const auto& [type, bytes] : plan.weights.matrices_by_type) std::printf("  %-8s %12s  mapped from the file\n", std::string(name_of(type)).c_str(), size_text(bytes).c_str());
  std::printf("  %-8s %12s  norm weights and scales, copied\n", "f32", size_text(plan.weights.vectors).c_str());
  std::printf("KV cache (%s, %zu sequence%s x %zu tokens): %s\n", std::string(to_string(o.kv)).c_str(), o.sequences, o.sequences == 1 ? "" : "s",
              o.context, size_text(plan.kv_bytes).c_str());
  if (plan.kv_bytes_per_token_global) std::printf("  global layers:  %s per token, growing with the context\n", size_text(plan.kv_bytes_per_token_global).c_str());
  if (plan.kv_bytes_per_token_sliding) {
    std::printf("  sliding layers: %s per token up to the window of %zu (%s reserved: window + prefill step + rollback, per sequence)\n",
                size_text(plan.kv_bytes_per_token_sliding).c_str(), plan.window, size_text(plan.kv_sliding_reserve).c_str());
  }
  std::printf("recurrent state: %s\n", size_text(plan.recurrent_state_bytes).c_str());
  std::printf("scratch: %s (activations %s at %zu rows, layer scratch %s, logits %s, device workspace %s)\n", size_text(plan.scratch_bytes()).c_str(),
              size_text(plan.activation_bytes).c_str(), o.chunk, size_text(plan.layer_scratch_bytes).c_str(), size_text(plan.logits_bytes).c_str(),
              size_text(plan.workspace_bytes).c_str());
  std::printf("total: %s\n", size_text(plan.total_bytes()).c_str());
  const std::size_t fits = plan.max_context(budget);
  std::printf("budget: %s (%s): ", size_text(budget).c_str(), budget_source.c_str());
  if (fits == 0) {
    std::printf("does not fit: weights, state and scratch alone take %s\n", size_text(plan.total_bytes() - plan.kv_bytes + plan.kv_sliding_reserve).c_str());
  } else {
    std::printf("largest context %zu tokens%s\n", fits, fits == plan.model_context ? " (the model's maximum)" : "");
  }
  std::printf("decode reads %s per token at this context (weights %s, KV %s)\n",
              size_text(plan.decode_weight_bytes + plan.kv_read_bytes(o.context)).c_str(), size_text(plan.decode_weight_bytes).c_str(),
              size_text(plan.kv_read_bytes(o.context)).c_str());
  if (!memory.known()) return;
  const commit_facts f = commit_facts_for(plan, memory);
  std::printf("this machine: MemTotal %s, MemAvailable %s, CommitLimit %s, Committed_AS %s, vm.overcommit_memory %d\n",
              size_text(memory.total).c_str(), size_text(memory.available).c_str(), size_text(memory.commit_limit).c_str(),
              size_text(memory.committed).c_str(), memory.overcommit_mode);
  std::printf("  strix maps the weights read-only (page cache, not commit-charged) and commits %s: %s\n", size_text(f.strix_commit).c_str(),
              f.strix_needs_overcommit ? (memory.overcommit_mode == 2 ? "more than CommitLimit - Committed_AS, refused under vm.overcommit_memory=2"
                                                                       : "more than CommitLimit - Committed_AS; fine under the default heuristic overcommit, refused under mode 2")
                                       : "within CommitLimit - Committed_AS, no overcommit needed");
  std::printf("  a loader that copies the weights into private memory would commit %s: %s\n", size_text(f.copying_commit).c_str(),
              f.copying_needs_overcommit ? "beyond CommitLimit - Committed_AS, so it needs vm.overcommit_memory=1 or more swap" : "within the commit limit");
  std::printf("  mapping %s at %s pages takes %s of page tables", size_text(plan.weights.matrices()).c_str(), size_text(memory.page).c_str(),
              size_text(f.page_table_bytes).c_str());
  std::printf(plan.total_bytes() > memory.available ? "; the total exceeds MemAvailable: mapped pages would be evicted and re-read\n" : "\n");
}

}  // namespace

void add_plan_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("plan", "memory needed by a model at a context, and the largest context that fits");
  auto o = std::make_shared<plan_command_options>();
  auto* source = cmd->add_option_group("model")->require_option(1);
  source->add_option("--model", o->model, "GGUF file or Hugging Face folder");
  source->add_option("--preset", o->preset, "a config.json (or its folder), or a released shape: " + [] {
    std::string names;
    for (const models::model_preset& p : models::model_presets()) names += (names.empty() ? "" : ", ") + p.name;
    return names;
  }());
  cmd->add_option("--weight-type", o->weight_type, "with --preset: q4_k_m (default) or a ggml type (q8_0, bf16, q4_K, ...)");
  cmd->add_option("--ctx", o->context, "context per sequence in tokens (default 4096)");
  cmd->add_option("--kv-type", o->kv, "KV cache type: f32, f16, bf16, q8_0, q4_0");
  cmd->add_option("--seqs", o->sequences, "sequences (default 1)")->check(CLI::PositiveNumber);
  cmd->add_option("--chunk", o->chunk, "prefill chunk (tokens per step)")->check(CLI::PositiveNumber);
  cmd->add_option("--budget", o->budget, "memory budget (16G, 512MiB, bytes); default: MemAvailable");
  add_device_option(*cmd, o->device, "device policy whose workspace to count (budget from system memory)");
  cmd->add_flag("--json", o->json, "one JSON object");
  cmd->callback([o] {
    std::string name;
    std::variant<models::gemma4_config, models::qwen35_config> config;
    std::optional<model_spec> spec;
    std::optional<models::weight_census> census;
    if (!o->model.empty()) {
      spec = open_model(o->model);
      name = spec->name;
      config = spec->config;
      census = spec->census();
    } else {
      const models::model_preset preset = find_shape(o->preset);
      const models::weight_scheme scheme = models::weight_scheme::named(o->weight_type);
      name = preset.name + " with " + scheme.name() + " weights";
      if (!preset.note.empty()) std::fprintf(stderr, "note: %s: %s\n", preset.name.c_str(), preset.note.c_str());
      config = preset_config(preset);
      census.emplace(models::tensor_naming::hugging_face, scheme);
    }
    const models::plan_options options{o->context, o->sequences, parse_kv_type(o->kv), o->chunk, 0, o->device == "zen5"};
    const models::memory_plan plan = plan_model(config, *census, options);
    const models::system_memory memory = models::system_memory::read();
    const std::uint64_t budget = o->budget.empty() ? memory.available : parse_bytes(o->budget);
    const std::string budget_source = o->budget.empty() ? "MemAvailable" : "--budget";
    if (o->json) {
      std::printf("%s\n", plan_json(name, plan, budget, budget_source, memory).dump().c_str());
    } else {
      print_plan(name, plan, budget, budget_source, memory);
    }
  });
}

}  // namespace strix::tool
