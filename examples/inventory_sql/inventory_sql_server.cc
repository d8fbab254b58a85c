// inventory_sql_server: the SQL inventory participant. Serves the
// tcc.v1.Participant action "reserve" with stock, reservations and barrier
// records in one PostgreSQL schema, through the SDK's PostgresBarrierStore.
//
//   inventory_sql_server --listen=127.0.0.1:7003
//       --postgres="host=127.0.0.1 dbname=shop user=shop"
//       --schema=warehouse_a --stock=apple:100,pear:50
//
// The schema and its tables are created at start when absent. SIGTERM or
// SIGINT shuts it down cleanly: calls in progress finish, then the
// connections are closed.

#include <stdio.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "inventory_handlers.h"
#include "tcc/common/clock.h"
#include "tcc/common/scheduler.h"
#include "tcc/common/server_process.h"
#include "tcc/common/status_macros.h"
#include "tcc/common/thread_pool.h"
#include "tcc/participant/barrier_purger.h"
#include "tcc/participant/participant_server.h"
#include "tcc/participant/participant_service.h"
#include "tcc/participant/postgres_barrier_store.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0",
          "host:port to serve on; port 0 picks a free port.");
ABSL_FLAG(std::string, postgres, "",
          "libpq connection string of the database (required).");
ABSL_FLAG(std::string, schema, "inventory",
          "Schema holding this inventory's tables and barrier records.");
ABSL_FLAG(std::string, stock, "",
          "Items to add if absent, e.g. apple:100,pear:50.");
ABSL_FLAG(std::string, port_file, "",
          "If set, the bound port is written there once serving.");
ABSL_FLAG(std::string, data_dir, "",
          "Unused (the data is in PostgreSQL); accepted so that launchers "
          "that give every participant a directory can start this one.");
ABSL_FLAG(int, threads, 4,
          "Worker threads running handlers; also the number of database "
          "connections.");
ABSL_FLAG(absl::Duration, barrier_retention, absl::Hours(7 * 24),
          "How long barrier records are kept.");
ABSL_FLAG(absl::Duration, purge_interval, absl::Minutes(10),
          "Time between barrier purges.");

namespace {

using tcc::examples::inventory::InventoryTables;
using tcc::participant::BarrierPurger;
using tcc::participant::ParticipantServer;
using tcc::participant::ParticipantService;
using tcc::participant::PostgresBarrierStore;

absl::Status Serve(const tcc::StopSignals& stop) {
  const std::string conninfo = absl::GetFlag(FLAGS_postgres);
  if (conninfo.empty()) {
    return absl::InvalidArgumentError("--postgres is required");
  }
  const std::string schema = absl::GetFlag(FLAGS_schema);
  TCC_ASSIGN_OR_RETURN(auto items, tcc::examples::inventory::ParseStockList(
                                       absl::GetFlag(FLAGS_stock)));
  TCC_ASSIGN_OR_RETURN(
      InventoryTables tables,
      tcc::examples::inventory::CreateInventorySchema(conninfo, schema));

  const int threads = absl::GetFlag(FLAGS_threads);
  tcc::participant::PostgresBarrierStoreOptions store_options;
  store_options.conninfo = conninfo;
  store_options.schema = schema;
  store_options.pool_size = threads;
  TCC_ASSIGN_OR_RETURN(std::unique_ptr<PostgresBarrierStore> store,
                       PostgresBarrierStore::Open(store_options));
  for (const auto& [sku, quantity] : items) {
    TCC_ASSIGN_OR_RETURN(bool added, tcc::examples::inventory::AddItemIfAbsent(
                                         store.get(), tables, sku, quantity));
    if (added) {
      fprintf(stderr, "inventory_sql_server: added %lld %s\n",
              static_cast<long long>(quantity), sku.c_str());
    }
  }

  tcc::ThreadPool workers("inventory", threads);
  tcc::ThreadPool purge_thread("purge", 1);
  tcc::Scheduler scheduler(tcc::Clock::Real(), &purge_thread);
  tcc::participant::BarrierPurgerOptions purge_options;
  purge_options.retention = absl::GetFlag(FLAGS_barrier_retention);
  purge_options.interval = absl::GetFlag(FLAGS_purge_interval);
  purge_options.on_sweep = [](const absl::StatusOr<int>& purged) {
    if (!purged.ok()) {
      fprintf(stderr, "inventory_sql_server: barrier purge failed: %s\n",
              purged.status().ToString().c_str());
    } else if (*purged > 0) {
      fprintf(stderr, "inventory_sql_server: purged %d barrier records\n",
              *purged);
    }
  };
  BarrierPurger<PostgresBarrierStore> purger(store.get(), &scheduler,
                                             purge_options);

  ParticipantService<PostgresBarrierStore> participant(store.get(), &workers);
  TCC_RETURN_IF_ERROR(
      tcc::examples::inventory::RegisterInventoryActions(&participant, tables));

  tcc::participant::ParticipantServerOptions server_options;
  server_options.listen_address = absl::GetFlag(FLAGS_listen);
  TCC_ASSIGN_OR_RETURN(
      std::unique_ptr<ParticipantServer> server,
      ParticipantServer::Start(server_options, {&participant}));
  purger.Start();
  fprintf(stderr, "inventory_sql_server: serving on %s, schema %s\n",
          server->address().c_str(), schema.c_str());
  absl::StatusOr<int> signal_number =
      stop.AnnounceAndWait(absl::GetFlag(FLAGS_port_file), server->port());
  if (!signal_number.ok()) {
    server->Shutdown();
    return signal_number.status();
  }
  fprintf(stderr, "inventory_sql_server: signal %d, shutting down\n",
          *signal_number);
  // Calls in flight still need the workers; stop them last.
  server->Shutdown();
  purger.Stop();
  scheduler.Shutdown();
  purge_thread.Shutdown();
  workers.Shutdown();
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Inventory participant on PostgreSQL: serves the TCC action "
      "\"reserve\" over gRPC.");
  absl::ParseCommandLine(argc, argv);

  // Before any thread starts (see StopSignals).
  const tcc::StopSignals stop = tcc::StopSignals::Block();
  absl::Status status = Serve(stop);
  if (!status.ok()) {
    fprintf(stderr, "inventory_sql_server: %s\n", status.ToString().c_str());
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}
