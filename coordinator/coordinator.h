#ifndef TCC_COORDINATOR_COORDINATOR_H_
#define TCC_COORDINATOR_COORDINATOR_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/driver_base.h"
#include "coordinator/participant_pool.h"
#include "coordinator/request_validator.h"
#include "coordinator/tcc_driver.h"
#include "coordinator/transaction_log.h"
#include "tcc/common/clock.h"
#include "tcc/common/retry_policy.h"
#include "tcc/common/scheduler.h"
#include "tcc/common/thread_pool.h"
#include "tcc/v1/coordinator.pb.h"

namespace tcc::coordinator {

struct CoordinatorOptions {
  // Try-phase timeout when a request gives none. Default 10 s.
  absl::Duration default_timeout = absl::Seconds(10);
  // Deadline of each participant call. Default 3 s.
  absl::Duration call_deadline = absl::Seconds(3);
  RequestLimits limits;
  // Transactions being driven at once (new and recovered) before Execute
  // answers RESOURCE_EXHAUSTED. Default 20000.
  int max_in_flight = 20000;
  // Recovered transactions driven at once; recovery reads more from the log
  // as they finish, so memory stays bounded with any backlog. Default 2000.
  int max_recovering = 2000;
  // How long final transactions stay queryable. Default 7 days.
  absl::Duration retention = absl::Hours(24 * 7);
  // How often the purge of expired transactions runs. Default 1 min.
  absl::Duration purge_interval = absl::Minutes(1);
  RetryPolicyOptions retry;
  // For tests only: runs on the adopting thread once a registered driver's
  // record has been re-read, before the driver takes it over (the window in
  // which a call can already find the driver). Unset otherwise.
  std::function<void(const std::string& gid)> adoption_hook;
};

// The coordinator's core, independent of the RPC front end: starts, resumes
// and answers for transactions. Owns the registry of transactions being
// driven (at most one driver per gid). Thread-safe; no method blocks except
// Stop().
class Coordinator {
 public:
  using ExecuteDone =
      absl::AnyInvocable<void(const absl::Status&, v1::ExecuteResponse) &&>;
  using GetDone =
      absl::AnyInvocable<void(const absl::Status&, v1::GetResponse) &&>;
  using ListDone =
      absl::AnyInvocable<void(const absl::Status&, v1::ListResponse) &&>;
  using BeginDone =
      absl::AnyInvocable<void(const absl::Status&, v1::BeginResponse) &&>;
  using TryDone =
      absl::AnyInvocable<void(const absl::Status&, v1::TryResponse) &&>;
  using CommitDone =
      absl::AnyInvocable<void(const absl::Status&, v1::CommitResponse) &&>;
  using RollbackDone =
      absl::AnyInvocable<void(const absl::Status&, v1::RollbackResponse) &&>;
  using SagaDone =
      absl::AnyInvocable<void(const absl::Status&, v1::SagaResponse) &&>;

  // Every pointer must outlive the coordinator.
  Coordinator(CoordinatorOptions options, TransactionLog* log,
              ParticipantPool* pool, Clock* clock, Executor* executor,
              Scheduler* scheduler);
  ~Coordinator();

  // Validates, records and runs a one-shot TCC transaction; `done` runs
  // (on an executor thread) once the decision is durable, or with the error
  // status of the protocol contract.
  void Execute(const v1::ExecuteRequest& request, ExecuteDone done);
  // Interactive TCC and Saga, with the semantics of coordinator.proto. Each
  // `done` runs exactly once, on an executor thread.
  void Begin(const v1::BeginRequest& request, BeginDone done);
  void Try(const v1::TryRequest& request, TryDone done);
  void Commit(const v1::CommitRequest& request, CommitDone done);
  void Rollback(const v1::RollbackRequest& request, RollbackDone done);
  void Saga(const v1::SagaRequest& request, SagaDone done);
  // Reads run on the executor, never on the caller's thread.
  void Get(const v1::GetRequest& request, GetDone done);
  void List(const v1::ListRequest& request, ListDone done);

  // Starts the background recovery of every unfinished transaction in the
  // log and the periodic retention purge. Call once, after construction.
  void Start();

  // Stops sending participant calls, waits for calls in flight and for their
  // log writes, stops recovery. Unfinished transactions stay in the log for
  // the next start. Idempotent. Call after the RPC server has shut down.
  void Stop();

  // Transactions being driven now.
  size_t InFlight() const;
  // True once recovery has read the whole backlog (it may still be driving).
  bool RecoveryScanned() const { return recovery_scanned_.load(); }

 private:
  // The driver for `gid`, or the stored final record when it is no longer
  // driven. NOT_FOUND for an unknown gid.
  using DriverLookup =
      absl::AnyInvocable<void(const absl::Status&, std::shared_ptr<DriverBase>,
                              const internal::StoredTransaction*) &&>;

  internal::StoredTransaction NewRecord(
      const std::string& gid, v1::TransactionMode mode, int64_t timeout_ms,
      const google::protobuf::Map<std::string, std::string>& md);
  std::shared_ptr<DriverBase> MakeDriver(internal::StoredTransaction record);
  // Starts a new transaction, or attaches to the one driven under its gid.
  void StartOrAttach(internal::StoredTransaction record, DecisionCallback done);
  void FindDriver(const std::string& gid, DriverLookup done);
  // `done` gets `driver` once it is resumed (see DriverBase::WhenResumed).
  static void GiveWhenResumed(std::shared_ptr<DriverBase> driver,
                              DriverLookup done);
  // Commit (`commit`) or Rollback of an interactive transaction, whether it
  // is still driven or already final.
  void DecideInteractive(const std::string& gid, bool commit,
                         DecisionCallback done);
  // Registers a driver for a stored non-final transaction unless one exists,
  // then resumes it from a fresh read. Returns the registered driver (or
  // null with the final record in *final_record / an error). *adopted (if
  // given) tells whether this call registered it.
  absl::StatusOr<std::shared_ptr<DriverBase>> Adopt(
      const std::string& gid, bool recovering,
      internal::StoredTransaction* final_record, bool* adopted = nullptr);
  void RecoveryLoop();
  void PurgeOnce();
  void OnDriverDone(const DriverBase* driver);

  const CoordinatorOptions options_;
  TransactionLog* const log_;
  ParticipantPool* const pool_;
  Clock* const clock_;
  Executor* const executor_;
  Scheduler* const scheduler_;
  RetryPolicy retry_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> recovery_scanned_{false};
  DriverContext context_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<DriverBase>> drivers_
      ABSL_GUARDED_BY(mu_);
  int recovering_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<const DriverBase*, bool> recovered_ ABSL_GUARDED_BY(mu_);
  std::thread recovery_thread_;
};

}  // namespace tcc::coordinator

#endif  // TCC_COORDINATOR_COORDINATOR_H_
