// strix: inspect and convert model files, run models, measure them. Subcommands are an interface
// scripts depend on (docs/cli.md).
#include <cstdio>
#include <exception>
#include <string>

#include <CLI/CLI.hpp>

#include <strix/core/error.hpp>

#include "commands.hpp"

int main(int argc, char** argv) {
  if (!strix::tool::cpu_supported("strix")) return 1;
  CLI::App app{"strix: LLM inference building blocks - model file tool"};
  app.require_subcommand(1);
  strix::tool::add_inspect_command(app);
  strix::tool::add_dequant_command(app);
  strix::tool::add_convert_command(app);
  strix::tool::add_logits_command(app);
  strix::tool::add_generate_command(app);
  strix::tool::add_tokenize_command(app);
  strix::tool::add_chat_command(app);
  strix::tool::add_plan_command(app);
  strix::tool::add_bench_command(app);
  strix::tool::add_serve_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const strix::error& e) {
    std::fprintf(stderr, "strix: %s error: %s\n", std::string(strix::to_string(e.category())).c_str(), e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "strix: %s\n", e.what());
    return 1;
  }
  return 0;
}
