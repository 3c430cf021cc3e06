# Drives gemma4-chat through a pipe with a scripted conversation (greedy) on the shipped tiny
# model and checks the commands' answers and that replies reproduce the answers of its training
# data (models/gemma4-tiny-chat/make_data.py), including one given after a system prompt in a
# second turn and one with thinking on. EXTRA adds options (speculative decoding must not change
# a greedy transcript).
file(WRITE ${WORK}/chat_script${SUFFIX}.txt "Hello!\n/think on\n/reset\nWhat is this FAQ?\n/stats\n/system You are a helpful assistant.\n/think off\nAre there logs of known bugs?\nWho are you?\n/reset\n/quit\n")
execute_process(COMMAND ${CHAT} --temp 0 ${EXTRA} INPUT_FILE ${WORK}/chat_script${SUFFIX}.txt OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
message(STATUS "${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "gemma4-chat exited with ${rc}: ${err}")
endif()
foreach(expected
    "> Hello! I am a very small language model trained on Debian and Python documentation"
    "(thinking on)"
    "\\[thinking\\] The user asks: What is this FAQ\\?"
    "\\[answer\\] This document gives frequently asked questions"
    "prompt: [0-9]+ tokens in"
    "thinking on\n"
    "(system prompt set; conversation cleared)"
    "(thinking off)"
    "> I am a tiny demonstration model in the Gemma 4 architecture"
    "(conversation cleared)")
  if(NOT out MATCHES "${expected}")
    message(FATAL_ERROR "gemma4-chat output lacks '${expected}'")
  endif()
endforeach()
if(NOT err MATCHES "\\[prompt [0-9]+ tokens, [0-9.]+ tok/s \\| reply [0-9]+ tokens, [0-9.]+ tok/s \\| context [0-9]+ / 4096\\]")
  message(FATAL_ERROR "gemma4-chat printed no per-reply statistics: ${err}")
endif()
