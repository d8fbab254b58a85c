#ifndef TCC_PARTICIPANT_PARTICIPANT_SERVER_H_
#define TCC_PARTICIPANT_PARTICIPANT_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"

namespace tcc::participant {

struct ParticipantServerOptions {
  // "host:port" to listen on; port 0 picks a free port (see port()).
  // Default "127.0.0.1:0".
  std::string listen_address = "127.0.0.1:0";
  // Default nullptr: plaintext (grpc::InsecureServerCredentials()).
  std::shared_ptr<grpc::ServerCredentials> credentials;
};

// A started gRPC server hosting one or more services (normally a
// ParticipantService plus the application's own), with the standard health
// service (grpc.health.v1, overall status SERVING until shutdown) and server
// reflection. Thread-safe.
class ParticipantServer {
 public:
  // Builds and starts the server. `services` are not owned and must outlive
  // the server; register every action on them before calling Start().
  // Enabling health checking and reflection is process-wide in gRPC: every
  // server built afterwards in the process gets them too.
  // Errors: INVALID_ARGUMENT for an empty address or a null service;
  // UNAVAILABLE if the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<ParticipantServer>> Start(
      ParticipantServerOptions options, std::vector<grpc::Service*> services);

  ParticipantServer(const ParticipantServer&) = delete;
  ParticipantServer& operator=(const ParticipantServer&) = delete;
  // Runs Shutdown().
  ~ParticipantServer();

  // The bound port (the chosen one when listen_address asked for port 0).
  int port() const { return port_; }
  // listen_address with the bound port, e.g. "127.0.0.1:40123".
  const std::string& address() const { return address_; }

  // Reports NOT_SERVING to health checks, stops accepting calls, lets calls
  // in progress finish for up to `grace` (then cancels them) and waits until
  // every call is done. The executors the services post to must still be
  // running. Idempotent; returns once shut down, whoever called first.
  void Shutdown(absl::Duration grace = absl::Seconds(5));

  // Blocks until Shutdown() has completed.
  void Wait();

 private:
  ParticipantServer(std::unique_ptr<grpc::Server> server, int port,
                    std::string address);

  const int port_;
  const std::string address_;
  absl::Mutex mu_;
  std::unique_ptr<grpc::Server> server_;  // Set once; shut down at most once.
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace tcc::participant

#endif  // TCC_PARTICIPANT_PARTICIPANT_SERVER_H_
