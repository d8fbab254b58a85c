// tccd: the transaction coordinator daemon.
//
//   tccd --listen=127.0.0.1:7000 --data_dir=/var/lib/tccd
//        --config=/etc/tccd/participants.textproto
//
// SIGTERM/SIGINT: stop accepting, let calls in flight finish (up to
// --shutdown_grace_ms), write everything queued, exit 0. Unfinished
// transactions are resumed on the next start.

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "coordinator/coordinator.h"
#include "coordinator/coordinator_service.h"
#include "coordinator/failpoints.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "tcc/common/logging.h"
#include "tcc/common/server_process.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7000",
          "Address to serve the Coordinator API on (host:port; port 0 picks "
          "a free port, see --port_file).");
ABSL_FLAG(std::string, data_dir, "./tccd-data",
          "RocksDB directory for the transaction log (created if missing).");
ABSL_FLAG(std::string, config, "",
          "Participants configuration (tcc.config.CoordinatorConfig text "
          "proto). Required.");
ABSL_FLAG(std::string, port_file, "",
          "If set, the bound port is written there once serving.");
ABSL_FLAG(int64_t, default_timeout_ms, 10000,
          "Try-phase timeout of a transaction whose request gives none.");
ABSL_FLAG(int64_t, max_timeout_ms, 3600 * 1000,
          "Longest Try-phase timeout a request may ask for.");
ABSL_FLAG(int64_t, call_timeout_ms, 3000,
          "Deadline of every participant call.");
ABSL_FLAG(int32_t, max_branches, 64, "Branches per transaction.");
ABSL_FLAG(int64_t, max_payload_bytes, 64 * 1024, "Bytes per branch payload.");
ABSL_FLAG(int32_t, max_request_bytes, 8 << 20,
          "Largest request message accepted (RESOURCE_EXHAUSTED above).");
ABSL_FLAG(int32_t, max_in_flight, 20000,
          "Transactions driven at once before Execute answers "
          "RESOURCE_EXHAUSTED.");
ABSL_FLAG(int32_t, max_recovering, 2000,
          "Recovered transactions driven at once.");
ABSL_FLAG(int64_t, retention_s, 7 * 24 * 3600,
          "How long finished transactions stay queryable.");
ABSL_FLAG(int64_t, purge_interval_s, 60, "How often expired ones are purged.");
ABSL_FLAG(int64_t, retry_initial_ms, 100,
          "Confirm/Cancel retry: first backoff delay.");
ABSL_FLAG(double, retry_multiplier, 2.0, "Confirm/Cancel retry: growth.");
ABSL_FLAG(int64_t, retry_max_ms, 30000, "Confirm/Cancel retry: delay cap.");
ABSL_FLAG(int32_t, executor_threads, 2,
          "Threads running completions (decisions, replies, reads).");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate chain to serve TLS with; empty: plaintext.");
ABSL_FLAG(std::string, tls_key_file, "",
          "PEM private key for --tls_cert_file.");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM roots; if set, clients must present a certificate they sign "
          "(mutual TLS).");
ABSL_FLAG(int64_t, shutdown_grace_ms, 5000,
          "On SIGTERM, how long calls in flight may take to finish.");

namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError("cannot read " + path);
  std::string data((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  return data;
}

// Plaintext unless --tls_cert_file is given.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials() {
  const std::string cert = absl::GetFlag(FLAGS_tls_cert_file);
  const std::string key = absl::GetFlag(FLAGS_tls_key_file);
  const std::string ca = absl::GetFlag(FLAGS_tls_client_ca_file);
  if (cert.empty() && key.empty()) {
    if (!ca.empty()) {
      return absl::InvalidArgumentError(
          "--tls_client_ca_file needs --tls_cert_file and --tls_key_file");
    }
    return grpc::InsecureServerCredentials();
  }
  if (cert.empty() || key.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert_file and --tls_key_file go together");
  }
  grpc::SslServerCredentialsOptions options(
      ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                 : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  auto cert_pem = ReadPem(cert);
  if (!cert_pem.ok()) return cert_pem.status();
  auto key_pem = ReadPem(key);
  if (!key_pem.ok()) return key_pem.status();
  options.pem_key_cert_pairs.push_back({*key_pem, *cert_pem});
  if (!ca.empty()) {
    auto ca_pem = ReadPem(ca);
    if (!ca_pem.ok()) return ca_pem.status();
    options.pem_root_certs = *ca_pem;
  }
  return grpc::SslServerCredentials(options);
}

int Run(const tcc::StopSignals& stop) {
  using namespace tcc;
  using namespace tcc::coordinator;
  InitFailpointsFromEnv();

  if (absl::GetFlag(FLAGS_config).empty()) {
    LogError("--config is required (participants configuration)");
    return 2;
  }
  absl::StatusOr<config::CoordinatorConfig> config =
      LoadConfigFile(absl::GetFlag(FLAGS_config));
  if (!config.ok()) {
    LogError(config.status().message());
    return 2;
  }
  absl::StatusOr<std::unique_ptr<ParticipantPool>> pool =
      ParticipantPool::Create(*config);
  if (!pool.ok()) {
    LogError(pool.status().message());
    return 2;
  }

  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      ServerCredentials();
  if (!credentials.ok()) {
    LogError(credentials.status().message());
    return 2;
  }

  ThreadPool executor("tccd-exec", absl::GetFlag(FLAGS_executor_threads));
  TransactionLogOptions log_options;
  log_options.path = absl::GetFlag(FLAGS_data_dir);
  log_options.callback_executor = &executor;
  absl::StatusOr<std::unique_ptr<TransactionLog>> log =
      TransactionLog::Open(log_options);
  if (!log.ok()) {
    LogError(log.status().message());
    return 1;
  }
  Scheduler scheduler(Clock::Real(), &executor);

  CoordinatorOptions options;
  options.default_timeout =
      absl::Milliseconds(absl::GetFlag(FLAGS_default_timeout_ms));
  options.call_deadline =
      absl::Milliseconds(absl::GetFlag(FLAGS_call_timeout_ms));
  options.limits.max_branches = absl::GetFlag(FLAGS_max_branches);
  options.limits.max_payload_bytes = absl::GetFlag(FLAGS_max_payload_bytes);
  options.limits.max_timeout_ms = absl::GetFlag(FLAGS_max_timeout_ms);
  options.max_in_flight = absl::GetFlag(FLAGS_max_in_flight);
  options.max_recovering = absl::GetFlag(FLAGS_max_recovering);
  options.retention = absl::Seconds(absl::GetFlag(FLAGS_retention_s));
  options.purge_interval = absl::Seconds(absl::GetFlag(FLAGS_purge_interval_s));
  options.retry.initial =
      absl::Milliseconds(absl::GetFlag(FLAGS_retry_initial_ms));
  options.retry.multiplier = absl::GetFlag(FLAGS_retry_multiplier);
  options.retry.max = absl::Milliseconds(absl::GetFlag(FLAGS_retry_max_ms));

  Coordinator coordinator(options, log->get(), pool->get(), Clock::Real(),
                          &executor, &scheduler);
  CoordinatorService service(&coordinator);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(absl::GetFlag(FLAGS_listen), *credentials, &port);
  builder.SetMaxReceiveMessageSize(absl::GetFlag(FLAGS_max_request_bytes));
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    LogError("cannot listen on ", absl::GetFlag(FLAGS_listen));
    return 1;
  }
  coordinator.Start();
  LogInfo("tccd serving on port ", port, ", data in ",
          absl::GetFlag(FLAGS_data_dir), ", ", config->participant_size(),
          " participants");
  absl::StatusOr<int> signal_number =
      stop.AnnounceAndWait(absl::GetFlag(FLAGS_port_file), port);
  const bool serving = signal_number.ok();
  if (serving) {
    LogInfo("tccd: signal ", *signal_number, ", shutting down");
  } else {
    LogError("tccd: ", signal_number.status().message());
  }
  server->GetHealthCheckService()->Shutdown();
  server->Shutdown(
      std::chrono::system_clock::now() +
      std::chrono::milliseconds(absl::GetFlag(FLAGS_shutdown_grace_ms)));
  coordinator.Stop();
  (*log)->Close();
  scheduler.Shutdown();
  executor.Shutdown();
  LogInfo("tccd: stopped");
  return serving ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "tccd: TCC transaction coordinator. See README.md.");
  absl::ParseCommandLine(argc, argv);
  // Debian's abseil checks every lock acquisition for cycles (a measured
  // 2-5% of tccd's CPU); the tests keep it on, production turns it off.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // Before any thread starts (see StopSignals).
  const tcc::StopSignals stop = tcc::StopSignals::Block();
  return Run(stop);
}
