// The strix tool's subcommands; each registers its options on the CLI11 app and runs when chosen.
#pragma once

#include <CLI/CLI.hpp>

namespace strix::tool {

void add_inspect_command(CLI::App& app);
void add_dequant_command(CLI::App& app);
void add_convert_command(CLI::App& app);
void add_logits_command(CLI::App& app);
void add_generate_command(CLI::App& app);

}  // namespace strix::tool
