// The strix tool's subcommands; each registers its options on the CLI11 app and runs when chosen.
#pragma once

#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>
#if STRIX_TOOL_ZEN5
#include <strix/device/zen5/cpu_features.hpp>
#endif

namespace strix::tool {

void add_inspect_command(CLI::App& app);
void add_dequant_command(CLI::App& app);
void add_convert_command(CLI::App& app);
void add_logits_command(CLI::App& app);
void add_generate_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);
void add_chat_command(CLI::App& app);
void add_plan_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_serve_command(CLI::App& app);
// The programs are built for the zen5 instruction sets (when STRIX_TOOL_ZEN5); say so before
// running anything on a CPU without them.
inline bool cpu_supported(const char* program) {
#if STRIX_TOOL_ZEN5
  if (const std::string missing = missing_zen5_features(); !missing.empty()) {
    std::fprintf(stderr, "%s: this CPU lacks %s; rebuild with -DSTRIX_TOOL_ZEN5=OFF\n", program, missing.c_str());
    return false;
  }
#else
  (void)program;
#endif
  return true;
}

// gemma4-chat's entry point: the chat command as its own program.
int chat_main(int argc, char** argv);

}  // namespace strix::tool
