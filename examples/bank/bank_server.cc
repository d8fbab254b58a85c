// bank_server: the bank participant. Serves the tcc.v1.Participant actions
// "debit" and "credit" and the tcc.examples.bank.Bank inspection service,
// with accounts and barrier records in one RocksDB under --data_dir.
//
//   bank_server --listen=127.0.0.1:7001 --data_dir=/var/lib/bank-a
//       --accounts=alice:1000,carol:500
//
// SIGTERM or SIGINT shuts it down cleanly: calls in progress finish, then
// the database is closed.

#include <stdio.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "bank_handlers.h"
#include "bank_service.h"
#include "tcc/common/server_process.h"
#include "tcc/common/status_macros.h"
#include "tcc/common/thread_pool.h"
#include "tcc/participant/participant_server.h"
#include "tcc/participant/participant_service.h"
#include "tcc/participant/rocksdb_barrier_store.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0",
          "host:port to serve on; port 0 picks a free port.");
ABSL_FLAG(std::string, data_dir, "", "RocksDB directory (required).");
ABSL_FLAG(std::string, accounts, "",
          "Accounts to create if absent, e.g. alice:1000,bob:500.");
ABSL_FLAG(std::string, port_file, "",
          "If set, the bound port is written there once serving.");
ABSL_FLAG(int, threads, 4, "Worker threads running handlers.");
ABSL_FLAG(absl::Duration, barrier_retention, absl::Hours(7 * 24),
          "How long barrier records are kept after their last write (they "
          "expire in RocksDB's compactions).");

namespace {

using tcc::participant::ParticipantServer;
using tcc::participant::ParticipantService;
using tcc::participant::RocksDbBarrierStore;

absl::Status Serve(const tcc::StopSignals& stop) {
  const std::string data_dir = absl::GetFlag(FLAGS_data_dir);
  if (data_dir.empty())
    return absl::InvalidArgumentError("--data_dir is required");
  TCC_ASSIGN_OR_RETURN(auto accounts, tcc::examples::bank::ParseAccountList(
                                          absl::GetFlag(FLAGS_accounts)));

  tcc::participant::RocksDbBarrierStoreOptions store_options;
  store_options.path = data_dir;
  store_options.retention = absl::GetFlag(FLAGS_barrier_retention);
  TCC_ASSIGN_OR_RETURN(std::unique_ptr<RocksDbBarrierStore> store,
                       RocksDbBarrierStore::Open(store_options));
  for (const auto& [name, balance] : accounts) {
    TCC_ASSIGN_OR_RETURN(
        bool created,
        tcc::examples::bank::CreateAccountIfAbsent(store->db(), name, balance));
    if (created) {
      fprintf(stderr, "bank_server: created account %s with %lld\n",
              name.c_str(), static_cast<long long>(balance));
    }
  }

  tcc::ThreadPool workers("bank", absl::GetFlag(FLAGS_threads));
  ParticipantService<RocksDbBarrierStore> participant(store.get(), &workers);
  TCC_RETURN_IF_ERROR(tcc::examples::bank::RegisterBankActions(&participant));
  tcc::examples::bank::BankService bank(store->db(), &workers);

  tcc::participant::ParticipantServerOptions server_options;
  server_options.listen_address = absl::GetFlag(FLAGS_listen);
  TCC_ASSIGN_OR_RETURN(
      std::unique_ptr<ParticipantServer> server,
      ParticipantServer::Start(server_options, {&participant, &bank}));
  fprintf(stderr, "bank_server: serving on %s\n", server->address().c_str());
  absl::StatusOr<int> signal_number =
      stop.AnnounceAndWait(absl::GetFlag(FLAGS_port_file), server->port());
  if (!signal_number.ok()) {
    server->Shutdown();
    return signal_number.status();
  }
  fprintf(stderr, "bank_server: signal %d, shutting down\n", *signal_number);
  // Calls in flight still need the workers; stop them last.
  server->Shutdown();
  workers.Shutdown();
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Bank participant: serves debit/credit TCC actions over gRPC.");
  absl::ParseCommandLine(argc, argv);

  // Before any thread starts (see StopSignals).
  const tcc::StopSignals stop = tcc::StopSignals::Block();
  absl::Status status = Serve(stop);
  if (!status.ok()) {
    fprintf(stderr, "bank_server: %s\n", status.ToString().c_str());
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}
