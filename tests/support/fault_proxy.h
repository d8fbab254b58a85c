#ifndef TCC_TESTS_SUPPORT_FAULT_PROXY_H_
#define TCC_TESTS_SUPPORT_FAULT_PROXY_H_

#include <cstdint>
#include <list>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tcc::testing {

// What a FaultProxy does to the bytes it forwards.
enum class ProxyMode {
  // Forwards both ways (after the configured delay).
  kPass,
  // Dropped connections: every open connection is cut on entry, and each
  // new one is accepted and closed at once.
  kRefuse,
  // Connections cut mid-call: each chunk the client sends is, with
  // probability 1/2, forwarded only in part (possibly not at all) and the
  // connection is then cut. The server may or may not have seen the call.
  kCutMidCall,
  // Deliver the request, drop the reply: client-to-server bytes are
  // forwarded, server-to-client bytes are discarded. A connection that lost
  // bytes this way can never carry a well-formed stream again, so it is cut
  // when the mode is left.
  kDropReplies,
};

const char* ProxyModeName(ProxyMode mode);

// Counters since the proxy started.
struct ProxyStats {
  int64_t connections = 0;      // accepted
  int64_t cut = 0;              // connections cut by a fault
  int64_t refused = 0;          // connections closed at once (kRefuse)
  int64_t bytes_forwarded = 0;  // both directions
  int64_t bytes_dropped = 0;    // replies discarded, partial chunks
};

// A TCP forwarder on 127.0.0.1, put between a gRPC client and one server to
// inject network faults: added delay, dropped connections, connections cut
// mid-call, and replies dropped after the request was delivered. Each
// accepted connection is forwarded to 127.0.0.1:<target port> over a fresh
// connection, by two threads (one per direction); the proxy lives in the
// test's process, so it survives kills of the processes on either side.
//
// Thread-safe: modes and delay may change at any time from any thread.
class FaultProxy {
 public:
  // Listens on 127.0.0.1 with a free port. Connections accepted before
  // SetTarget() are closed at once. `seed` drives the proxy's own coin flips
  // (which chunk a kCutMidCall cuts, and where).
  static absl::StatusOr<std::unique_ptr<FaultProxy>> Start(uint32_t seed);
  // Stops accepting, cuts every connection and joins every thread.
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  int port() const { return port_; }
  // "127.0.0.1:<port>".
  std::string address() const;

  // Where new connections are forwarded.
  void SetTarget(int port);
  // Each chunk read, in either direction, waits `delay` before it is passed
  // on (a slow link: later chunks of the same connection queue behind it).
  void SetDelay(absl::Duration delay);
  // Switches mode (see ProxyMode). Entering kRefuse cuts every connection;
  // leaving kDropReplies cuts the connections that lost replies.
  void SetMode(ProxyMode mode);
  // Cuts every open connection now, whatever the mode.
  void CutAll();

  ProxyStats stats() const;

 private:
  struct Connection;

  FaultProxy(int listen_fd, int port, uint32_t seed);
  void AcceptLoop();
  // Forwards one direction of `c` until either side closes or it is cut.
  void Pump(Connection* c, bool client_to_server);
  // What to do with one chunk: how many bytes to forward, and whether to cut
  // the connection afterwards.
  struct ChunkPlan {
    size_t forward = 0;
    bool cut = false;
  };
  ChunkPlan PlanChunk(Connection* c, bool client_to_server, size_t size);
  void Cut(Connection* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Joins the threads of connections whose pumps both ended.
  void ReapFinished() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sleeps for the current delay, returning early when the proxy stops.
  void Delay();

  const int listen_fd_;
  const int port_;
  std::thread accept_thread_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int target_port_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration delay_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  ProxyMode mode_ ABSL_GUARDED_BY(mu_) = ProxyMode::kPass;
  std::mt19937 rng_ ABSL_GUARDED_BY(mu_);
  ProxyStats stats_ ABSL_GUARDED_BY(mu_);
  std::list<std::unique_ptr<Connection>> connections_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tcc::testing

#endif  // TCC_TESTS_SUPPORT_FAULT_PROXY_H_
