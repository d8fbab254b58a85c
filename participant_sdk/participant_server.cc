#include "tcc/participant/participant_server.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace tcc::participant {

absl::StatusOr<std::unique_ptr<ParticipantServer>> ParticipantServer::Start(
    ParticipantServerOptions options, std::vector<grpc::Service*> services) {
  if (options.listen_address.empty()) {
    return absl::InvalidArgumentError("empty listen address");
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  std::shared_ptr<grpc::ServerCredentials> credentials =
      options.credentials != nullptr ? options.credentials
                                     : grpc::InsecureServerCredentials();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.listen_address, credentials, &port);
  for (grpc::Service* service : services) {
    if (service == nullptr) return absl::InvalidArgumentError("null service");
    builder.RegisterService(service);
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    if (server != nullptr) server->Shutdown();
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen_address));
  }
  // Replace the requested port with the bound one, keeping the host part.
  const std::string& requested = options.listen_address;
  size_t colon = requested.rfind(':');
  std::string address =
      colon == std::string::npos
          ? absl::StrCat(requested, ":", port)
          : absl::StrCat(requested.substr(0, colon + 1), port);
  return std::unique_ptr<ParticipantServer>(
      new ParticipantServer(std::move(server), port, std::move(address)));
}

ParticipantServer::ParticipantServer(std::unique_ptr<grpc::Server> server,
                                     int port, std::string address)
    : port_(port), address_(std::move(address)), server_(std::move(server)) {}

ParticipantServer::~ParticipantServer() { Shutdown(); }

void ParticipantServer::Shutdown(absl::Duration grace) {
  absl::MutexLock lock(&mu_);
  if (shutdown_) return;
  if (grpc::HealthCheckServiceInterface* health =
          server_->GetHealthCheckService()) {
    health->Shutdown();
  }
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  server_->Wait();
  shutdown_ = true;
}

void ParticipantServer::Wait() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&shutdown_));
}

}  // namespace tcc::participant
