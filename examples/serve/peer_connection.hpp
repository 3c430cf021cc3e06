// peer_connection: whether the client of a request has gone away, for handlers that write nothing
// until their reply is complete (a non-streaming completion). cpp-httplib 0.11 hands a handler no
// socket, so the socket is found among this process's descriptors by its two TCP endpoints,
// which name one connection; a peer that closed its end reads as end of file. A client that only
// half-closes (shuts down its sending side and still waits) would read as gone: HTTP clients do
// not do that. Linux (/proc/self/fd); elsewhere the connection is never reported closed.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>

namespace strix::serve {

class peer_connection {
 public:
  peer_connection(const std::string& remote_address, int remote_port, const std::string& local_address, int local_port) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
      const int fd = std::atoi(entry.path().filename().c_str());
      if (endpoint(fd, &getpeername) == std::pair(remote_address, remote_port) &&
          endpoint(fd, &getsockname) == std::pair(local_address, local_port)) {
        fd_ = fd;
        break;
      }
    }
  }

  // True once the peer has closed the connection (and nothing it sent is left unread).
  [[nodiscard]] bool closed() const noexcept {
    if (fd_ < 0) return false;
    char byte;
    return recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
  }

 private:
  using name_query = int (*)(int, sockaddr*, socklen_t*);

  // The address (numeric, as httplib writes it) and port of one end of a TCP socket, or ("", -1).
  static std::pair<std::string, int> endpoint(int fd, name_query query) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (query(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return {"", -1};
    char text[INET6_ADDRSTRLEN] = {};
    if (address.ss_family == AF_INET) {
      const auto& a = reinterpret_cast<const sockaddr_in&>(address);
      inet_ntop(AF_INET, &a.sin_addr, text, sizeof text);
      return {text, ntohs(a.sin_port)};
    }
    if (address.ss_family == AF_INET6) {
      const auto& a = reinterpret_cast<const sockaddr_in6&>(address);
      inet_ntop(AF_INET6, &a.sin6_addr, text, sizeof text);
      return {text, ntohs(a.sin6_port)};
    }
    return {"", -1};
  }

  int fd_ = -1;
};

}  // namespace strix::serve
