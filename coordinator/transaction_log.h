#ifndef TCC_COORDINATOR_TRANSACTION_LOG_H_
#define TCC_COORDINATOR_TRANSACTION_LOG_H_

#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/proto/log_record.pb.h"
#include "rocksdb/db.h"
#include "tcc/common/thread_pool.h"

namespace tcc::coordinator {

// One durable change to one transaction: replace its record, checked against
// the version the writer last saw. Built by Of(), which serializes the record
// on the caller's thread: the log never holds a copy of the message.
struct LogWrite {
  // The write of *record, serialized at version expected_version + 1 (the
  // version the log stores it at); *record is left as it was.
  // record->txn().create_unix_ms() must be the same in every write of one
  // transaction (the active index is keyed by it).
  static LogWrite Of(internal::StoredTransaction* record,
                     uint64_t expected_version, bool sync);

  std::string gid;
  // The serialized StoredTransaction, its version expected_version + 1.
  std::string value;
  // Of the record's txn: whether its state is final, and the times the
  // indexes are keyed by.
  bool final_state = false;
  int64_t create_unix_ms = 0;
  int64_t finish_unix_ms = 0;
  // 0: the transaction must not exist yet. Otherwise the stored version must
  // equal this, or the write fails with FAILED_PRECONDITION.
  uint64_t expected_version = 0;
  // Whether the write must be on disk (fsync'd) before its callback runs.
  // Only writes whose loss a restart repairs (progress, final state) may be
  // false.
  bool sync = true;
};

// Called once the write is durable (or failed). `status` is:
//   OK                   stored, at version expected_version + 1; `current`
//                        is null (the writer has the record it wrote).
//   ALREADY_EXISTS       expected_version was 0 but the gid exists; `current`
//                        is the stored record.
//   FAILED_PRECONDITION  the stored version differs; `current` as stored (or
//                        null if the record vanished).
//   other                the store failed. The outcome is unknown: a write
//                        whose fsync failed may still be found after a
//                        restart (callers must treat it as "maybe written").
using LogWriteCallback =
    absl::AnyInvocable<void(absl::Status status,
                            const internal::StoredTransaction* current) &&>;

struct TransactionLogOptions {
  // RocksDB directory; created if missing. Required.
  std::string path;
  // Most writes merged into one RocksDB write (and one fsync). Default 512.
  int max_group_size = 512;
  // Runs write callbacks while other writes wait (see Write); must outlive
  // the log. Required.
  Executor* callback_executor = nullptr;
  // Block cache for reads of transaction records, in bytes. Default 64 MiB.
  size_t block_cache_bytes = 64 << 20;
  // RocksDB environment; null: the default. Tests pass a wrapper that can
  // drop unsynced data to simulate power loss. Must outlive the log.
  rocksdb::Env* env = nullptr;
};

// Page of List results.
struct ListPage {
  std::vector<internal::StoredTransaction> transactions;
  std::string next_page_token;
};

// The coordinator's durable store of transactions, on an embedded RocksDB.
//
// Layout: "t/<gid>" holds the StoredTransaction; "i/<create ms, 16 hex
// digits>/<gid>" marks a transaction that is not final (what recovery scans,
// oldest first); "f/<finish ms, 8 bytes big-endian><gid>" orders final
// transactions for retention purges. Open() converts the active index of
// logs written before it was ordered by creation time ("a/<gid>").
//
// Writes are grouped: one thread takes every queued write, checks each
// against the stored version, merges them into a single WriteBatch and issues
// one (fsync'd, if any member asked) RocksDB write, as leveldb's DBImpl::Write
// does with its writer queue. Callers never block on a write.
//
// Thread-safe.
class TransactionLog {
 public:
  static absl::StatusOr<std::unique_ptr<TransactionLog>> Open(
      TransactionLogOptions options);
  // Runs Close().
  ~TransactionLog();

  TransactionLog(const TransactionLog&) = delete;
  TransactionLog& operator=(const TransactionLog&) = delete;

  // Queues `write`; `done` runs once it is durable or has failed: on the
  // log's writer thread when no other write is queued by then, else on the
  // callback executor. So `done` must never block, nor wait for another
  // write (WriteAndWait). Never blocks. After Close(), `done` gets
  // UNAVAILABLE.
  void Write(LogWrite write, LogWriteCallback done);

  // Blocking form of Write, for tools, tests and recovery threads. Never call
  // it on a gRPC callback thread or in a write's callback.
  absl::Status WriteAndWait(LogWrite write);

  // The stored record, NOT_FOUND if absent. Blocking read (usually served
  // from memory).
  absl::StatusOr<internal::StoredTransaction> Get(const std::string& gid);

  // Up to `limit` non-final transactions after the cursor `after` (empty:
  // from the start), oldest first (by creation time, then gid). Sets
  // *next_after to the cursor for the next call ("" when done).
  absl::Status ScanActive(const std::string& after, int limit,
                          std::vector<internal::StoredTransaction>* out,
                          std::string* next_after);

  // Transactions filtered by state (empty: all) and created at or before
  // `created_before`, starting after `page_token`. Scans at most
  // `max_scan` records per call. When every state asked for is non-final
  // the active index is scanned, oldest first; otherwise all records, in gid
  // order.
  absl::StatusOr<ListPage> List(const std::vector<int>& states,
                                absl::Time created_before, int page_size,
                                const std::string& page_token,
                                int max_scan = 20000);

  // Deletes up to `max_records` final transactions that finished before
  // `cutoff`. Returns how many were deleted.
  absl::StatusOr<int> PurgeFinishedBefore(absl::Time cutoff, int max_records);

  // Number of non-final transactions (scans the index; for tests and tools).
  absl::StatusOr<int64_t> CountActive();

  // Stops accepting writes, writes everything queued, joins the writer and
  // closes the database. Idempotent.
  void Close();

  // Number of RocksDB write groups committed so far (for benchmarks).
  uint64_t groups_committed() const;

 private:
  struct Pending {
    LogWrite write;
    LogWriteCallback done;
  };

  TransactionLog(TransactionLogOptions options,
                 std::unique_ptr<rocksdb::DB> db);
  void WriterLoop();
  void CommitGroup(std::vector<Pending>* group);
  absl::StatusOr<uint64_t> StoredVersion(const std::string& gid,
                                         internal::StoredTransaction* out,
                                         bool* found);

  const TransactionLogOptions options_;
  std::unique_ptr<rocksdb::DB> db_;

  mutable absl::Mutex mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t groups_ ABSL_GUARDED_BY(mu_) = 0;
  // A RocksDB write failed. RocksDB 7.8 (built with assertions, as Debian's
  // is) aborts in SyncWAL() once the WAL writer has seen an error, so Close()
  // must not call it then.
  bool write_failed_ ABSL_GUARDED_BY(mu_) = false;
  // The version this log last wrote for each non-final transaction, so the
  // check-and-set needs no read in the common case. Touched only by the
  // writer thread; a cache of what is on disk, never the truth: a miss (or a
  // failed write, whose gids are dropped) reads the store. Bounded by the
  // number of unfinished transactions this process wrote.
  std::unordered_map<std::string, uint64_t> known_versions_;
  std::thread writer_;
};

// Key helpers, exposed for tests and tools.
std::string TransactionKey(const std::string& gid);
bool IsFinalState(int state);

}  // namespace tcc::coordinator

#endif  // TCC_COORDINATOR_TRANSACTION_LOG_H_
