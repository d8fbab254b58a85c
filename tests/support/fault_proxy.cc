#include "support/fault_proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tcc::testing {
namespace {

sockaddr_in Loopback(int port) {
  sockaddr_in addr;
  std::memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

// Makes the next close() send a reset instead of an orderly FIN.
void ResetOnClose(int fd) {
  linger l;
  l.l_onoff = 1;
  l.l_linger = 0;
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

void NoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

bool SendAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// A connected socket to 127.0.0.1:port, or -1.
int ConnectLoopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr = Loopback(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

const char* ProxyModeName(ProxyMode mode) {
  switch (mode) {
    case ProxyMode::kPass:
      return "pass";
    case ProxyMode::kRefuse:
      return "refuse";
    case ProxyMode::kCutMidCall:
      return "cut-mid-call";
    case ProxyMode::kDropReplies:
      return "drop-replies";
  }
  return "?";
}

// One proxied connection. Its fds stay open until both pumps have ended and
// the connection is reaped, so a pump never reads a reused descriptor; a cut
// only shuts the sockets down, which wakes both pumps.
struct FaultProxy::Connection {
  int client_fd = -1;
  int server_fd = -1;
  std::thread to_server;
  std::thread to_client;
  int pumps_running = 2;      // guarded by the proxy's mu_
  bool cut = false;           // guarded by the proxy's mu_
  bool lost_replies = false;  // guarded by the proxy's mu_

  ~Connection() {
    if (to_server.joinable()) to_server.join();
    if (to_client.joinable()) to_client.join();
    if (client_fd >= 0) close(client_fd);
    if (server_fd >= 0) close(server_fd);
  }
};

absl::StatusOr<std::unique_ptr<FaultProxy>> FaultProxy::Start(uint32_t seed) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  }
  sockaddr_in addr = Loopback(0);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(fd, 128) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string error = strerror(errno);
    close(fd);
    return absl::InternalError(absl::StrCat("cannot listen: ", error));
  }
  return std::unique_ptr<FaultProxy>(
      new FaultProxy(fd, ntohs(addr.sin_port), seed));
}

FaultProxy::FaultProxy(int listen_fd, int port, uint32_t seed)
    : listen_fd_(listen_fd), port_(port), rng_(seed) {
  accept_thread_ = std::thread([this] { AcceptLoop(); });
}

FaultProxy::~FaultProxy() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  // Wakes accept().
  shutdown(listen_fd_, SHUT_RDWR);
  accept_thread_.join();
  close(listen_fd_);
  std::list<std::unique_ptr<Connection>> connections;
  {
    absl::MutexLock lock(&mu_);
    for (auto& c : connections_) Cut(c.get());
    connections.swap(connections_);
  }
  // Joins the pumps, which take mu_ as they end.
  connections.clear();
}

std::string FaultProxy::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

void FaultProxy::SetTarget(int port) {
  absl::MutexLock lock(&mu_);
  target_port_ = port;
}

void FaultProxy::SetDelay(absl::Duration delay) {
  absl::MutexLock lock(&mu_);
  delay_ = delay;
}

void FaultProxy::SetMode(ProxyMode mode) {
  absl::MutexLock lock(&mu_);
  const ProxyMode old = mode_;
  mode_ = mode;
  for (auto& c : connections_) {
    if (mode == ProxyMode::kRefuse ||
        (old == ProxyMode::kDropReplies && mode != ProxyMode::kDropReplies &&
         c->lost_replies)) {
      Cut(c.get());
    }
  }
}

void FaultProxy::CutAll() {
  absl::MutexLock lock(&mu_);
  for (auto& c : connections_) Cut(c.get());
}

ProxyStats FaultProxy::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void FaultProxy::Cut(Connection* c) {
  if (c->cut) return;
  c->cut = true;
  if (c->pumps_running > 0) ++stats_.cut;
  ResetOnClose(c->client_fd);
  ResetOnClose(c->server_fd);
  shutdown(c->client_fd, SHUT_RDWR);
  shutdown(c->server_fd, SHUT_RDWR);
}

void FaultProxy::ReapFinished() {
  for (auto it = connections_.begin(); it != connections_.end();) {
    // Both pumps have left the loop and only return from here on, so
    // joining them under mu_ cannot deadlock.
    if ((*it)->pumps_running == 0) {
      it = connections_.erase(it);
    } else {
      ++it;
    }
  }
}

void FaultProxy::AcceptLoop() {
  while (true) {
    int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    int target = 0;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) {
        if (client >= 0) close(client);
        return;
      }
      if (client < 0) continue;  // EINTR, ECONNABORTED, ...
      ReapFinished();
      ++stats_.connections;
      if (mode_ == ProxyMode::kRefuse || target_port_ == 0) {
        ++stats_.refused;
        ResetOnClose(client);
        close(client);
        continue;
      }
      target = target_port_;
    }
    // If the server is down the client sees its connection closed, as it
    // would without the proxy.
    int server = ConnectLoopback(target);
    if (server < 0) {
      ResetOnClose(client);
      close(client);
      continue;
    }
    NoDelay(client);
    NoDelay(server);
    absl::MutexLock lock(&mu_);
    auto c = std::make_unique<Connection>();
    c->client_fd = client;
    c->server_fd = server;
    Connection* raw = c.get();
    connections_.push_back(std::move(c));
    raw->to_server = std::thread([this, raw] { Pump(raw, true); });
    raw->to_client = std::thread([this, raw] { Pump(raw, false); });
  }
}

FaultProxy::ChunkPlan FaultProxy::PlanChunk(Connection* c,
                                            bool client_to_server,
                                            size_t size) {
  absl::MutexLock lock(&mu_);
  ChunkPlan plan;
  if (c->cut) {
    plan.cut = true;
  } else if (!client_to_server &&
             (c->lost_replies || mode_ == ProxyMode::kDropReplies)) {
    // Once one reply byte is lost the stream is garbage: keep dropping.
    c->lost_replies = true;
  } else if (mode_ == ProxyMode::kRefuse) {
    plan.cut = true;
  } else if (mode_ == ProxyMode::kCutMidCall && client_to_server &&
             rng_() % 2 == 0) {
    plan.forward = rng_() % size;
    plan.cut = true;
  } else {
    plan.forward = size;
  }
  stats_.bytes_forwarded += static_cast<int64_t>(plan.forward);
  stats_.bytes_dropped += static_cast<int64_t>(size - plan.forward);
  return plan;
}

void FaultProxy::Delay() {
  absl::MutexLock lock(&mu_);
  if (delay_ <= absl::ZeroDuration()) return;
  mu_.AwaitWithTimeout(absl::Condition(&stopping_), delay_);
}

void FaultProxy::Pump(Connection* c, bool client_to_server) {
  const int from = client_to_server ? c->client_fd : c->server_fd;
  const int to = client_to_server ? c->server_fd : c->client_fd;
  char buffer[16 * 1024];
  while (true) {
    ssize_t n = recv(from, buffer, sizeof(buffer), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    Delay();
    const ChunkPlan plan =
        PlanChunk(c, client_to_server, static_cast<size_t>(n));
    if (plan.forward > 0 && !SendAll(to, buffer, plan.forward)) break;
    if (plan.cut) {
      absl::MutexLock lock(&mu_);
      Cut(c);
      break;
    }
  }
  // Either side closing ends the whole connection.
  shutdown(c->client_fd, SHUT_RDWR);
  shutdown(c->server_fd, SHUT_RDWR);
  absl::MutexLock lock(&mu_);
  --c->pumps_running;
}

}  // namespace tcc::testing
