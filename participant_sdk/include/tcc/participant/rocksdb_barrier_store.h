#ifndef TCC_PARTICIPANT_ROCKSDB_BARRIER_STORE_H_
#define TCC_PARTICIPANT_ROCKSDB_BARRIER_STORE_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "rocksdb/options.h"
#include "rocksdb/utilities/transaction.h"
#include "rocksdb/utilities/transaction_db.h"
#include "tcc/common/clock.h"
#include "tcc/participant/barrier.h"

namespace tcc::participant {
namespace internal {
class WalSyncer;
}  // namespace internal

struct RocksDbBarrierStoreOptions {
  // Directory of the RocksDB database. Required. Fixed at Open().
  std::string path;
  // Whether every outcome is on disk before Run() returns (or AfterSync()
  // calls back). Commits from all threads share one fsync (group commit on
  // a sync thread of the store). Default true; only benchmarks and tests
  // should turn it off (a crash may then lose branches the coordinator was
  // told were done). Fixed at Open().
  bool sync = true;
  // With sync: keep each commit's WAL record in the store's memory until
  // the next group sync writes all of them with one write() and syncs them
  // (RocksDB's manual_wal_flush), instead of one write() per commit (a
  // busy participant's CPU -3 %, docs/BENCHMARKS.md). Run()'s guarantee
  // is the same: nothing is answered before it is on disk. What changes is
  // the service's own writes through db() with WriteOptions::sync = false:
  // they stay in the process until the store's next sync (or until it is
  // destroyed), so a crash of the process, not only a power cut, loses
  // them; make writes that must survive with sync = true. Default false.
  // Ignored without sync. Fixed at Open().
  bool buffer_wal_until_sync = false;
  // How long Run() waits for the locks of a branch (or of business keys the
  // handler reads with GetForUpdate) before giving up with UNAVAILABLE.
  // Default 5 s. Fixed at Open().
  absl::Duration lock_timeout = absl::Seconds(5);
  // Whether lock cycles between transactions are detected and broken at once
  // (the victim gets UNAVAILABLE) instead of waiting for lock_timeout.
  // Default true. Fixed at Open().
  bool deadlock_detect = true;
  // Create the database if it does not exist. Default true. The "tcc_barrier"
  // column family is always created when missing.
  bool create_if_missing = true;
  // Options of the default column family, the service's business data:
  // memtable, filters, compression, as its access pattern allows (for
  // example a hash memtable when the service only reads and writes single
  // keys, as bench_participant does). Default: RocksDB's defaults. Other
  // column families the service created are opened with RocksDB's defaults.
  // The store's DB-wide settings apply to all: memtable inserts run on the
  // write group's leader only (allow_concurrent_memtable_write = false), so
  // any memtable factory works. Fixed at Open().
  rocksdb::ColumnFamilyOptions business_options;
  // The RocksDB environment (file system, threads). Default nullptr:
  // rocksdb::Env::Default(). For fault-injection tests. Must outlive the
  // store. Fixed at Open().
  rocksdb::Env* env = nullptr;
  // How long a branch's barrier record is kept after its last write. It
  // must exceed the longest time the coordinator may still send a phase of
  // the branch (its retries and its own retention): once the record is
  // gone, a late Cancel counts as empty and a duplicate Try runs again.
  // Records expire in compaction: no sooner than `retention` after their
  // last write, and, since RocksDB's periodic compaction rewrites every
  // barrier table file at least once per `retention` (at least an hour),
  // about one more `retention` later at the latest (ExpireNow() drops them
  // at once). absl::InfiniteDuration() keeps them forever. Default 7 days.
  // Fixed at Open().
  absl::Duration retention = absl::Hours(7 * 24);
  // With sync: how long the outcome of a call nobody waits for at once (a
  // Confirm or a Cancel: the coordinator has told the application already;
  // AfterSyncDeferred()) may wait for a sync that another call needs, the
  // next Try's typically, before the store syncs for it alone. At a light
  // load a transaction then costs the participant one fsync instead of
  // two, and the coordinator's next write does not share the disk with a
  // Confirm's (one client: p50 -4 to -22 %, docs/BENCHMARKS.md); under
  // load there always is such a sync. Zero: no deferral. Default 2 ms.
  // Fixed at Open().
  absl::Duration deferred_sync_delay = absl::Milliseconds(2);
  // Source of the write time stored in barrier records, of the time they
  // are compared with for `retention`, and of `deferred_sync_delay`.
  // Default nullptr: Clock::Real(). Must outlive the store.
  Clock* clock = nullptr;
  // For tests only: called with one of the kSyncPoint* names (barrier.h),
  // on the thread running Run(); at kSyncPointLocked the branch's locks are
  // held, so a hook that blocks there holds the branch. Default empty (not
  // called).
  std::function<void(std::string_view point)> sync_point;
};

// The embedded barrier store: business data and barrier records in one
// RocksDB pessimistic TransactionDB, so that a handler's writes and the
// barrier record that makes them idempotent commit (or roll back) together.
//
// Business data lives in the default column family, which belongs entirely to
// the service. Barrier records live in the "tcc_barrier" column family, one
// per (gid, branch_id) holding the phases recorded for the branch, and never
// collide with business keys.
//
// Thread-safe: any number of threads may call Run() and ExpireNow()
// concurrently. Calls for the same branch are serialised by row locks; calls
// for different branches only contend on the business keys their handlers
// lock.
class RocksDbBarrierStore {
 public:
  // The local transaction handed to handlers.
  using LocalTransaction = rocksdb::Transaction;

  // The signature of the body Run() executes inside the local transaction.
  using Body = absl::FunctionRef<absl::Status(LocalTransaction& txn,
                                              std::string* reply)>;

  // Opens (or creates) the database at options.path. Other column families
  // found in an existing database are opened too and left alone. Barrier
  // records written by SDK 0.1.0 before the one-record-per-branch layout
  // (one record per phase) are converted first, in synced batches of whole
  // branches; a crash in between is resumed by the next Open().
  // Errors: INVALID_ARGUMENT for an empty path; FAILED_PRECONDITION when the
  // database does not exist and create_if_missing is false, or its barrier
  // records are in a layout this SDK does not know (a newer SDK's); UNAVAILABLE
  // when the database is locked by another process or cannot be read; INTERNAL
  // for corruption and other RocksDB errors.
  static absl::StatusOr<std::unique_ptr<RocksDbBarrierStore>> Open(
      RocksDbBarrierStoreOptions options);

  RocksDbBarrierStore(const RocksDbBarrierStore&) = delete;
  RocksDbBarrierStore& operator=(const RocksDbBarrierStore&) = delete;
  // Closes the database. No Run() may be in progress.
  ~RocksDbBarrierStore();

  // The underlying database, for the service's own reads and for writes that
  // are not part of a branch (for example creating accounts at start-up).
  // Owned by the store; valid for the store's lifetime. Barrier records must
  // only be touched through this class. See buffer_wal_until_sync for what
  // a crash does to writes made here without WriteOptions::sync.
  rocksdb::TransactionDB* db() const { return db_.get(); }

  // Applies one phase of `call` at most once, following the barrier rules
  // of barrier.h. `body` runs inside the local transaction that also writes
  // the barrier record; it must read what it updates with GetForUpdate
  // (default column family) and must neither commit nor roll back. It runs
  // on the calling thread, at most once, after the branch's locks are held:
  // the try key first, then the phase's own key, then the key of the phase
  // it excludes, in every phase, so that concurrent phases of one branch run
  // one after the other without deadlock.
  //
  // `reply` may be null. Otherwise it receives the body's reply (or, for a
  // duplicate Try, the stored one); it is cleared in all other cases.
  //
  // Errors (nothing was committed in every case):
  //   INVALID_ARGUMENT: empty call.gid or call.branch_id;
  //   FAILED_PRECONDITION: a Confirm without a Try or after a Cancel, or a
  //     Cancel after a Confirm (see barrier.h);
  //   whatever `body` returned, when it returned non-OK;
  //   INTERNAL: `body` threw an exception;
  //   UNAVAILABLE: the branch's (or a business key's) lock was not obtained
  //     within lock_timeout, a deadlock was broken, or an I/O error; the
  //     caller may retry;
  //   INTERNAL: other RocksDB errors (message says which).
  // When options.sync is set, Run() returns once the outcome is on disk: it
  // is RunDeferred() followed by a wait for AfterSync().
  absl::StatusOr<BarrierResult> Run(const BranchCall& call, Phase phase,
                                    Body body, std::string* reply);

  // Run() without the wait for the disk: returns once the outcome is
  // applied and visible to other calls. Its result (OK or not: even a
  // refusal may rest on a record not yet synced) must not be reported to
  // anyone before AfterSync(), called after this returns, calls back OK.
  // Lets a server answer many calls with one fsync without a thread
  // blocked per call (ParticipantService does).
  absl::StatusOr<BarrierResult> RunDeferred(const BranchCall& call, Phase phase,
                                            Body body, std::string* reply);

  // Calls `done` once every commit that returned and every record read
  // before this call is on disk: with OK, or with UNAVAILABLE/INTERNAL if
  // the sync failed. A failed sync is permanent for this store (every later
  // call gets the error; restart the process, which recovers what is on
  // disk). `done` must be quick and must not block. It runs on the store's
  // sync thread, with every other call that committed meanwhile, while a
  // sync is running or others wait for one, or when `caller_may_sync` is
  // false; otherwise (a light load) on the calling thread, which syncs
  // itself first, so AfterSync() may block for an fsync: call it from your
  // own threads, never from a gRPC callback thread, and pass false when
  // other work waits for your thread and no other thread serves it (the
  // only thread of an executor with a queue), or that work waits for the
  // disk too. When options.sync is false, at once on the calling thread.
  void AfterSync(absl::AnyInvocable<void(absl::Status) &&> done,
                 bool caller_may_sync = true);

  // AfterSync() for an outcome nobody waits for at once (a Confirm's or a
  // Cancel's): `done` never runs on the calling thread, and runs with the
  // first sync that starts after this call; the sync thread starts one for
  // it alone only after options.deferred_sync_delay without one. When
  // options.sync is false, at once on the calling thread.
  void AfterSyncDeferred(absl::AnyInvocable<void(absl::Status) &&> done);

  // Drops every barrier record expired by now (see retention) at once,
  // rather than when a compaction reaches it: flushes the barrier column
  // family's memtables and compacts all of its table files, rewriting every
  // record that stays. For tests, and for maintenance after the retention
  // was shortened; records expire without it. Errors: INTERNAL or
  // UNAVAILABLE for RocksDB errors.
  absl::Status ExpireNow();

  // The phases recorded for the branch (gid, branch_id), in the order Try,
  // Confirm, Cancel; empty if none. For diagnostics and tests. Thread-safe.
  // Errors: as for Run().
  absl::StatusOr<std::vector<Phase>> RecordedPhases(
      std::string_view gid, std::string_view branch_id) const;

 private:
  RocksDbBarrierStore(RocksDbBarrierStoreOptions options,
                      std::unique_ptr<rocksdb::TransactionDB> db,
                      std::vector<rocksdb::ColumnFamilyHandle*> handles,
                      rocksdb::ColumnFamilyHandle* barrier_cf);

  void SyncPoint(std::string_view point) const;
  std::unique_ptr<rocksdb::Transaction> BeginTransaction(bool sync) const;

  const RocksDbBarrierStoreOptions options_;
  Clock* const clock_;
  std::unique_ptr<rocksdb::TransactionDB> db_;
  // Every column family handle Open() obtained, destroyed before db_.
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ColumnFamilyHandle* const barrier_cf_;  // One of handles_.
  // Group commit; null when options_.sync is false. Destroyed before db_.
  std::unique_ptr<internal::WalSyncer> syncer_;
};

}  // namespace tcc::participant

#endif  // TCC_PARTICIPANT_ROCKSDB_BARRIER_STORE_H_
