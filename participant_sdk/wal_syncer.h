#ifndef TCC_PARTICIPANT_WAL_SYNCER_H_
#define TCC_PARTICIPANT_WAL_SYNCER_H_

#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "rocksdb/db.h"
#include "tcc/common/clock.h"

namespace tcc::participant::internal {

// Group commit for writes made with WriteOptions::sync = false: one thread
// calls DB::SyncWAL() for every batch of waiters that queued while the
// previous sync ran, so that N concurrent commits cost one fsync and no
// thread blocks in the write path while the disk works under load.
//
// When no sync is running and nobody is queued (a light load), the caller
// of AfterSync() syncs itself instead, if it may block: waking the sync
// thread would cost a hand-off (on a virtual machine, often an
// inter-processor interrupt) on every call's path, and there is nothing to
// group. A caller whose blocking would hold up other work (the only thread
// of an executor with calls queued) must say so: with one executor thread
// every call would otherwise pay a whole fsync in turn (measured: 991
// transactions/s instead of ~5,000).
//
// Why it is enough: RocksDB appends a write to the WAL file before the write
// becomes visible (memtable insert, then the last sequence number is
// published). A caller that queues after its commit returned, or after it
// read a record, therefore queues after that record reached the WAL file,
// and the SyncWAL() that starts after it queued puts the record on disk.
// With a buffered WAL (manual_wal_flush: the record reaches RocksDB's WAL
// buffer before it becomes visible, the file only when the buffer is
// written) each sync is DB::FlushWAL(true) instead: it writes the buffer
// of the current WAL file, then syncs every WAL file; RocksDB writes the
// buffer of a WAL file out before it switches to the next one.
//
// An outcome nobody is waiting for at once (a Confirm's or a Cancel's: the
// coordinator told the application already) may be deferred
// (AfterSyncDeferred): at a light load it waits up to `deferred_delay` for
// a sync that another caller needs, typically the next Try's, instead of
// costing an fsync of its own while the coordinator writes its next
// transaction to the same disk. Under load there always is such a sync.
//
// A failed sync is sticky: that waiter and every later one get the error
// (the process must restart and recover from what is on disk), because
// after a failed fsync the kernel may have dropped pages that a later,
// successful fsync would not write.
//
// Thread-safe.
class WalSyncer {
 public:
  // `db` and `clock` must outlive the syncer. A `db` opened with
  // manual_wal_flush has its buffered WAL written by each sync
  // (FlushWAL(true)). `clock` times `deferred_delay` (zero: deferred
  // callers are not deferred).
  WalSyncer(rocksdb::DB* db, Clock* clock, absl::Duration deferred_delay);
  WalSyncer(const WalSyncer&) = delete;
  WalSyncer& operator=(const WalSyncer&) = delete;
  // Syncs once more for the waiters still queued, calls them, joins.
  // (Closing the database writes what is left in a buffered WAL to the
  // file, as an unbuffered one would hold it: wal_crash_test.)
  ~WalSyncer();

  // Calls `done` once everything in the WAL when this call was made is on
  // disk (OK), or with the sync's error: on the syncer's thread when a sync
  // is running, others are waiting or `caller_may_sync` is false, otherwise
  // on the calling thread, which then syncs (blocks for an fsync) before
  // AfterSync() returns. So pass `caller_may_sync` = false from a thread
  // that must not block (a gRPC callback thread, or the only thread of an
  // executor with tasks queued). `done` must not block; it must not call
  // AfterSync() (that would wait for a later sync).
  void AfterSync(absl::AnyInvocable<void(absl::Status) &&> done,
                 bool caller_may_sync = true);

  // Like AfterSync(), for an outcome nobody waits for at once, and never
  // on the calling thread: `done` runs with the first sync that starts
  // after this call, and the sync thread starts one for it alone only
  // once `deferred_delay` has passed without another caller needing one.
  void AfterSyncDeferred(absl::AnyInvocable<void(absl::Status) &&> done);

  // A write to the WAL failed (`status`, not OK): fail every waiter from
  // now on without syncing. RocksDB 7.8 built with assertions (Debian's)
  // aborts in SyncWAL() once a WAL append has failed, so the store reports
  // failed commits here; the sync thread also checks RocksDB's background
  // error count before each sync. A failure racing with a sync that has
  // already started can still abort the process: a crash, after which
  // recovery finds exactly what was synced.
  void MarkWriteFailed(absl::Status status);

 private:
  using Waiter = absl::AnyInvocable<void(absl::Status) &&>;

  void Loop();
  // Whether the loop should sync now.
  bool DueLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // One sync for whoever set syncing_ (the loop or an AfterSync() caller),
  // without mu_ held; `status` is failed_ as read when syncing_ was set.
  absl::Status Sync(absl::Status status);

  rocksdb::DB* const db_;
  const bool buffered_wal_;  // db_ was opened with manual_wal_flush
  Clock* const clock_;
  const absl::Duration deferred_delay_;
  int listener_id_ = -1;
  absl::Mutex mu_;
  std::vector<Waiter> waiters_ ABSL_GUARDED_BY(mu_);
  // Deferred callers no sync has taken yet; the loop syncs for them at
  // deferred_deadline_ unless someone else's sync takes them first.
  std::vector<Waiter> deferred_ ABSL_GUARDED_BY(mu_);
  absl::Time deferred_deadline_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // A sync is running (on the loop or on an AfterSync() caller): callers
  // queue, and the loop waits for it to end before taking them.
  bool syncing_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status failed_ ABSL_GUARDED_BY(mu_);
  // Touched only by whoever set syncing_. The last sequence number known to
  // be on disk (none yet: what recovery found may still be only in the
  // page cache), and RocksDB's background error count at start.
  rocksdb::SequenceNumber synced_ = 0;
  bool synced_once_ = false;
  uint64_t background_errors_at_start_ = 0;
  std::thread thread_;
};

}  // namespace tcc::participant::internal

#endif  // TCC_PARTICIPANT_WAL_SYNCER_H_
