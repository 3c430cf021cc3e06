// system_memory: the Linux memory facts that decide whether a model loads — /proc/meminfo's
// MemTotal, MemAvailable, CommitLimit and Committed_AS, vm.overcommit_memory, and the page sizes —
// and what they mean for a plan: private allocations (KV, state, scratch, f32 copies) are charged
// to the commit limit; weights mapped read-only from the file are not (they are page cache, evicted
// and re-read under pressure), which is why strix needs no overcommit tricks where a loader that
// copies weights into private memory does. Zero fields: not on Linux, or unreadable.
#pragma once

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

#include <unistd.h>

namespace strix::models {

struct system_memory {
  std::uint64_t total = 0, available = 0, commit_limit = 0, committed = 0, huge_page = 0;
  std::uint64_t page = 0;
  int overcommit_mode = -1;  // vm.overcommit_memory: 0 heuristic, 1 always, 2 strict (CommitLimit enforced)

  [[nodiscard]] bool known() const noexcept { return total != 0; }
  // What may still be committed under strict accounting.
  [[nodiscard]] std::uint64_t commit_headroom() const noexcept { return commit_limit > committed ? commit_limit - committed : 0; }

  static system_memory read(const std::string& meminfo = "/proc/meminfo", const std::string& overcommit = "/proc/sys/vm/overcommit_memory") {
    system_memory m;
    std::ifstream in(meminfo);
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string key;
      std::uint64_t kib = 0;
      if (!(fields >> key >> kib)) continue;
      const std::uint64_t bytes = kib * 1024;
      if (key == "MemTotal:") m.total = bytes;
      else if (key == "MemAvailable:") m.available = bytes;
      else if (key == "CommitLimit:") m.commit_limit = bytes;
      else if (key == "Committed_AS:") m.committed = bytes;
      else if (key == "Hugepagesize:") m.huge_page = bytes;
    }
    std::ifstream mode(overcommit);
    mode >> m.overcommit_mode;
    const long page = sysconf(_SC_PAGESIZE);
    m.page = page > 0 ? static_cast<std::uint64_t>(page) : 0;
    return m;
  }
};

}  // namespace strix::models
