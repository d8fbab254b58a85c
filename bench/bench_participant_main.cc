// bench_participant: the participant the benchmark drives.
//
//   bench_participant --listen=127.0.0.1:0 --data_dir=/tmp/p0
//       --port_file=/tmp/p0.port
//
// Serves the action "reserve" through the participant SDK: each Try, Confirm
// and Cancel makes a small durable write (see reservation_handlers.h) in the
// same synced RocksDB transaction as its barrier record.
//
//   bench_participant --echo --listen=127.0.0.1:0 --port_file=/tmp/echo.port
//
// Serves the echo service instead (the benchmark's ceiling; no storage).
// With --try_delay=2s its Try answers 2 s late: a participant that keeps
// transactions in flight, for the benchmark's memory probe.
//
// SIGTERM/SIGINT: stop serving, finish calls in flight, exit 0.

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "echo_service.h"
#include "reservation_handlers.h"
#include "tcc/common/clock.h"
#include "tcc/common/logging.h"
#include "tcc/common/scheduler.h"
#include "tcc/common/server_process.h"
#include "tcc/common/thread_pool.h"
#include "tcc/participant/participant_server.h"
#include "tcc/participant/participant_service.h"
#include "tcc/participant/rocksdb_barrier_store.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0",
          "Address to serve on (host:port; port 0 picks a free port, see "
          "--port_file).");
ABSL_FLAG(std::string, data_dir, "",
          "RocksDB directory for barrier records and business data (created "
          "if missing). Required unless --echo.");
ABSL_FLAG(std::string, port_file, "",
          "If set, the bound port is written there once serving.");
ABSL_FLAG(int32_t, executor_threads, 2,
          "Threads running handlers. They do not wait for the disk: the "
          "store's sync thread answers once a group of commits is synced.");
ABSL_FLAG(bool, sync, true,
          "fsync every commit. Only turn off to measure what durability "
          "costs: a crash may then lose acknowledged branches.");
ABSL_FLAG(bool, buffer_wal, true,
          "With --sync: each commit's WAL record waits in memory for the "
          "group sync, which writes them all at once "
          "(RocksDbBarrierStoreOptions::buffer_wal_until_sync; every write "
          "of this participant goes through the barrier store). False: one "
          "write() per commit.");
ABSL_FLAG(
    absl::Duration, deferred_sync_delay, absl::Milliseconds(2),
    "How long a Confirm's or Cancel's outcome may wait for a sync another "
    "call needs (RocksDbBarrierStoreOptions::deferred_sync_delay); 0: "
    "none.");
ABSL_FLAG(bool, hash_memtable, true,
          "Keep the business data in a 16 MiB hash memtable (it is only "
          "accessed one key at a time; ReservationColumnFamilyOptions); "
          "false: RocksDB's defaults (a 64 MiB skip list).");
ABSL_FLAG(bool, echo, false,
          "Serve the echo service (the benchmark's ceiling) instead of the "
          "participant.");
ABSL_FLAG(absl::Duration, try_delay, absl::ZeroDuration(),
          "With --echo: answer Try this much later (Confirm and Cancel stay "
          "immediate).");

namespace {

// Serves `services` until SIGTERM/SIGINT. Returns the exit code.
int Serve(const tcc::StopSignals& stop, std::vector<grpc::Service*> services) {
  tcc::participant::ParticipantServerOptions options;
  options.listen_address = absl::GetFlag(FLAGS_listen);
  absl::StatusOr<std::unique_ptr<tcc::participant::ParticipantServer>> server =
      tcc::participant::ParticipantServer::Start(options, std::move(services));
  if (!server.ok()) {
    tcc::LogError(server.status().message());
    return 1;
  }
  tcc::LogInfo("bench_participant serving on ", (*server)->address());
  absl::StatusOr<int> signal_number =
      stop.AnnounceAndWait(absl::GetFlag(FLAGS_port_file), (*server)->port());
  if (!signal_number.ok()) tcc::LogError(signal_number.status().message());
  (*server)->Shutdown();
  return signal_number.ok() ? 0 : 1;
}

int RunParticipant(const tcc::StopSignals& stop) {
  if (absl::GetFlag(FLAGS_data_dir).empty()) {
    tcc::LogError("--data_dir is required");
    return 2;
  }
  tcc::participant::RocksDbBarrierStoreOptions store_options;
  store_options.path = absl::GetFlag(FLAGS_data_dir);
  store_options.sync = absl::GetFlag(FLAGS_sync);
  store_options.buffer_wal_until_sync = absl::GetFlag(FLAGS_buffer_wal);
  store_options.deferred_sync_delay = absl::GetFlag(FLAGS_deferred_sync_delay);
  if (absl::GetFlag(FLAGS_hash_memtable)) {
    store_options.business_options =
        tcc::bench::ReservationColumnFamilyOptions();
  }
  absl::StatusOr<std::unique_ptr<tcc::participant::RocksDbBarrierStore>> store =
      tcc::participant::RocksDbBarrierStore::Open(store_options);
  if (!store.ok()) {
    tcc::LogError(store.status().message());
    return 1;
  }
  tcc::ThreadPool executor("bench-participant",
                           absl::GetFlag(FLAGS_executor_threads));
  tcc::participant::ParticipantService<tcc::participant::RocksDbBarrierStore>
      service(store->get(), &executor);
  absl::Status registered =
      service.Register("reserve", tcc::bench::ReservationHandlers());
  if (!registered.ok()) {
    tcc::LogError(registered.message());
    return 1;
  }
  // The server is shut down inside Serve, before the executor and the
  // store go away.
  int code = Serve(stop, {&service});
  executor.Shutdown();
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "bench_participant: the TCC benchmark's participant (or, with --echo, "
      "its echo ceiling server).");
  absl::ParseCommandLine(argc, argv);
  // Debian's abseil is built with mutex deadlock detection on, which
  // records a lock graph (and stack traces) on every nested acquisition.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // Before any thread starts (see StopSignals).
  const tcc::StopSignals stop = tcc::StopSignals::Block();
  if (absl::GetFlag(FLAGS_echo)) {
    // The scheduler outlives the server, which Serve shuts down: delayed
    // Try answers still run during the shutdown's grace period.
    tcc::ThreadPool timer_executor("echo-timer", 1);
    tcc::Scheduler scheduler(tcc::Clock::Real(), &timer_executor);
    tcc::bench::EchoService echo(absl::GetFlag(FLAGS_try_delay), &scheduler);
    int code = Serve(stop, {&echo});
    scheduler.Shutdown();
    timer_executor.Shutdown();
    return code;
  }
  return RunParticipant(stop);
}
