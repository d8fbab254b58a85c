#ifndef TCC_PARTICIPANT_POSTGRES_BARRIER_STORE_H_
#define TCC_PARTICIPANT_POSTGRES_BARRIER_STORE_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pqxx/transaction"
#include "tcc/common/clock.h"
#include "tcc/participant/barrier.h"

namespace tcc::participant {

namespace internal {
class PgConnectionPool;
}  // namespace internal

struct PostgresBarrierStoreOptions {
  // libpq connection string ("host=... port=... dbname=... user=...") or
  // URI ("postgresql://..."). Required. Fixed at Open().
  std::string conninfo;
  // Schema of the barrier table. Default "": the first schema of the
  // connection's search_path (normally "public"). Must exist. Fixed at
  // Open().
  std::string schema;
  // Name of the barrier table; "<table>_migrations" records its schema
  // version. Default "tcc_barrier". Fixed at Open().
  std::string table = "tcc_barrier";
  // Most connections Run() and Transact() use at once; a call waits for a
  // free one. Match it to the number of threads that run handlers. Default 4.
  // PurgeOlderThan() uses one more connection of its own. Fixed at Open().
  int pool_size = 4;
  // How long a call waits for a free connection before UNAVAILABLE.
  // Default 5 s. Fixed at Open().
  absl::Duration acquire_timeout = absl::Seconds(5);
  // PostgreSQL's lock_timeout for every statement, barrier and handler
  // alike: a row lock not obtained in time answers UNAVAILABLE "branch busy,
  // retry". Default 5 s. Fixed at Open().
  absl::Duration lock_timeout = absl::Seconds(5);
  // Source of the write time stored in barrier records (see PurgeOlderThan).
  // Default nullptr: Clock::Real(). Must outlive the store.
  Clock* clock = nullptr;
  // For tests only: called with one of the kSyncPoint* names (barrier.h), on
  // the thread running Run(); at kSyncPointLocked the branch's claimed row
  // is locked, so a hook that blocks there holds the branch. Default empty
  // (not called).
  std::function<void(std::string_view point)> sync_point;
};

// The barrier store for services whose data lives in PostgreSQL: handlers
// write their business rows in the same PostgreSQL transaction that records
// the barrier, so both commit (or roll back) together.
//
// Open() creates the barrier table if needed and migrates it to the current
// schema version (serialised across processes by an advisory lock). One row
// per branch and stage, primary key (gid, branch_id, stage):
//   stage 1: the Try ("try"), or the empty Cancel that blocks it ("cancel");
//   stage 2: the Confirm ("confirm") or the Cancel ("cancel") of a tried
//            branch; the primary key makes them exclude each other.
// Every record is claimed with INSERT ... ON CONFLICT DO NOTHING, never by
// reading first: the insert waits for a concurrent transaction holding the
// same row and sees its outcome, so concurrent requests for one branch are
// serialised without gap locks and without lock cycles.
//
// Transactions run at READ COMMITTED (each statement sees what committed
// before it), the level the barrier's reads rely on.
//
// Thread-safe: any number of threads may call Run(), Transact() and
// PurgeOlderThan() concurrently; each call uses its own pooled connection.
class PostgresBarrierStore {
 public:
  // The local transaction handed to handlers.
  using LocalTransaction = pqxx::work;

  // The signature of the body Run() executes inside the local transaction.
  using Body = absl::FunctionRef<absl::Status(LocalTransaction& txn,
                                              std::string* reply)>;

  // The barrier table's schema version this SDK creates and expects.
  static constexpr int kSchemaVersion = 2;

  // Connects, and creates or migrates the barrier table.
  // Errors: INVALID_ARGUMENT for an empty conninfo or table name or a
  // pool_size below 1; UNAVAILABLE when the server cannot be reached;
  // FAILED_PRECONDITION when the table's schema version is newer than
  // kSchemaVersion (written by a newer SDK); INTERNAL for other database
  // errors (for example a missing schema or privilege).
  static absl::StatusOr<std::unique_ptr<PostgresBarrierStore>> Open(
      PostgresBarrierStoreOptions options);

  PostgresBarrierStore(const PostgresBarrierStore&) = delete;
  PostgresBarrierStore& operator=(const PostgresBarrierStore&) = delete;
  // Closes every connection. No call may be in progress.
  ~PostgresBarrierStore();

  // Applies one phase of `call` at most once, following the barrier rules
  // of barrier.h. `body` runs inside the transaction that also writes the
  // barrier record, on the calling thread, at most once, after the branch's
  // record is claimed. It may run statements on `txn` (locking the rows it
  // updates, e.g. SELECT ... FOR UPDATE or a conditional UPDATE) and must
  // neither commit nor abort it. It may throw: a pqxx exception is mapped
  // by FromPqxxException, any other becomes INTERNAL; either way the
  // transaction is rolled back.
  //
  // `reply` may be null. Otherwise it receives the body's reply (or, for a
  // duplicate Try, the stored one); it is cleared in all other cases.
  //
  // Errors (nothing was committed in every case, except that after
  // UNAVAILABLE "commit outcome unknown" the call may have committed, which
  // a retry then answers as a duplicate):
  //   INVALID_ARGUMENT: empty call.gid or call.branch_id;
  //   FAILED_PRECONDITION: a Confirm without a Try or after a Cancel, or a
  //     Cancel after a Confirm (see barrier.h);
  //   whatever `body` returned, when it returned non-OK;
  //   UNAVAILABLE: no connection free within acquire_timeout, a lock not
  //     obtained within lock_timeout, a deadlock or serialization failure, a
  //     lost connection, or a record purged while the call ran; the caller
  //     may retry;
  //   INTERNAL: the body threw something else than a pqxx error, or another
  //     database error (message says which).
  absl::StatusOr<BarrierResult> Run(const BranchCall& call, Phase phase,
                                    Body body, std::string* reply);

  // Runs `fn` in a transaction of its own on a pooled connection and commits
  // it if `fn` returns OK (rolls it back otherwise): for the service's own
  // reads and for writes that are not part of a branch (creating its tables,
  // loading data). `fn` must not commit or abort `txn`. Thread-safe.
  // Errors: what `fn` returned; otherwise as for Run().
  absl::Status Transact(absl::FunctionRef<absl::Status(pqxx::work& txn)> fn);

  // Deletes up to `max_records` barrier records written before `cutoff`,
  // oldest first, in one transaction on a connection of its own, and returns
  // how many were deleted. Call it repeatedly until it returns less than
  // `max_records` to drain (BarrierPurger does). Records that a request has
  // locked are skipped (FOR UPDATE SKIP LOCKED) and taken by a later call,
  // so a purge never waits for a request; a request only ever waits for a
  // purge batch when it touches a record older than `cutoff`.
  //
  // Purging is only safe for branches that are finished: once a branch's
  // Try record is gone, a late Cancel is treated as empty and a duplicate
  // Try runs again. Choose a cutoff well beyond the coordinator's longest
  // retry.
  //
  // Errors: INVALID_ARGUMENT when max_records <= 0; UNAVAILABLE and
  // INTERNAL as for Run().
  absl::StatusOr<int> PurgeOlderThan(absl::Time cutoff, int max_records);

  // The phases recorded for the branch (gid, branch_id), in the order Try,
  // Confirm, Cancel; empty if none. For diagnostics and tests. Thread-safe.
  // Errors: UNAVAILABLE and INTERNAL as for Run().
  absl::StatusOr<std::vector<Phase>> RecordedPhases(std::string_view gid,
                                                    std::string_view branch_id);

  // The quoted name of the barrier table, schema-qualified when
  // options.schema is set ("shop"."tcc_barrier"), for operators' queries.
  const std::string& table_name() const { return table_name_; }

 private:
  PostgresBarrierStore(PostgresBarrierStoreOptions options,
                       std::string table_name,
                       std::unique_ptr<internal::PgConnectionPool> pool,
                       std::unique_ptr<internal::PgConnectionPool> purge_pool);

  void SyncPoint(std::string_view point) const;
  absl::StatusOr<BarrierResult> RunInTransaction(pqxx::work& txn,
                                                 const BranchCall& call,
                                                 Phase phase, Body body,
                                                 std::string* reply);

  const PostgresBarrierStoreOptions options_;
  Clock* const clock_;
  const std::string table_name_;
  const std::unique_ptr<internal::PgConnectionPool> pool_;
  // One connection, so that purging never takes one from requests.
  const std::unique_ptr<internal::PgConnectionPool> purge_pool_;
};

}  // namespace tcc::participant

#endif  // TCC_PARTICIPANT_POSTGRES_BARRIER_STORE_H_
