// gemma4-chat: the chat command of the strix tool as its own program (see chat.cpp).
#include "commands.hpp"

int main(int argc, char** argv) {
  if (!strix::tool::cpu_supported("gemma4-chat")) return 1;
  return strix::tool::chat_main(argc, argv);
}
