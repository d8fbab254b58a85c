#ifndef TCC_TESTS_UNIT_BARRIER_STORE_HARNESS_H_
#define TCC_TESTS_UNIT_BARRIER_STORE_HARNESS_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "rocksdb/utilities/transaction.h"
#include "support/scoped_temp_dir.h"
#include "tcc/common/clock.h"
#include "tcc/participant/rocksdb_barrier_store.h"

#ifdef TCC_HAVE_POSTGRES
#include "pqxx/transaction"
#include "support/postgres_test_server.h"
#include "tcc/participant/postgres_barrier_store.h"
#endif

// Every barrier store the SDK offers, behind one interface, so that the
// barrier tests run unchanged against each. The business data of the tests
// are named counters ("effects") that handlers increment in the store's
// local transaction: an effect's committed count is how many times it was
// applied.
namespace tcc::participant::barrier_test {

using SyncPointHook = std::function<void(std::string_view point)>;

inline BranchCall Call(std::string gid, std::string branch_id = "1") {
  BranchCall call;
  call.gid = std::move(gid);
  call.branch_id = std::move(branch_id);
  call.action = "test";
  return call;
}

// The effect a phase's handler applies, and the reply a Try gives.
inline std::string EffectKey(const BranchCall& call, Phase phase) {
  return absl::StrCat(call.gid, "/", call.branch_id, "/", PhaseName(phase));
}
inline std::string ReplyOf(const BranchCall& call) {
  return absl::StrCat("reserved for ", call.gid, "/", call.branch_id);
}

class RocksDbHarness {
 public:
  using Store = RocksDbBarrierStore;
  using Txn = rocksdb::Transaction;
  static constexpr char kName[] = "RocksDb";
  // Whether a child process can only open the store once this one closed it.
  static constexpr bool kExclusiveOpen = true;
  // Whether AwaitLockWaiter() can tell.
  static constexpr bool kObservesLockWaits = false;

  // (Re)opens the store on the same data.
  absl::Status Open(Clock* clock, SyncPointHook sync_point);
  void Close() { store_.reset(); }
  Store* store() { return store_.get(); }

  // Increments effect `key` in `txn`.
  static absl::Status AddEffect(Txn& txn, const std::string& key);
  // The committed count of effect `key` (0 if never applied).
  absl::StatusOr<int> Effect(const std::string& key);
  // Flags that make barrier_crash_child open this store.
  std::vector<std::string> ChildFlags() const;
  // Waits until some request of this store waits for a branch's lock; false
  // if it did not happen in time or the store cannot tell (RocksDB).
  bool AwaitLockWaiter() { return false; }

 private:
  testing::ScopedTempDir dir_;
  std::unique_ptr<Store> store_;
};

#ifdef TCC_HAVE_POSTGRES
class PostgresHarness {
 public:
  using Store = PostgresBarrierStore;
  using Txn = pqxx::work;
  static constexpr char kName[] = "Postgres";
  static constexpr bool kExclusiveOpen = false;
  static constexpr bool kObservesLockWaits = true;

  absl::Status Open(Clock* clock, SyncPointHook sync_point);
  void Close() { store_.reset(); }
  Store* store() { return store_.get(); }

  static absl::Status AddEffect(Txn& txn, const std::string& key);
  absl::StatusOr<int> Effect(const std::string& key);
  std::vector<std::string> ChildFlags() const;
  // Polls pg_stat_activity for a session of this test waiting for a lock.
  bool AwaitLockWaiter();

  const testing::ScopedPostgresSchema& schema() const { return *schema_; }

 private:
  // Declared first: dropped after the store's connections are closed.
  std::unique_ptr<testing::ScopedPostgresSchema> schema_;
  std::unique_ptr<Store> store_;
};
#endif

// The SQL of the effects table.
inline constexpr char kCreateEffectsTable[] =
    "CREATE TABLE IF NOT EXISTS effects"
    " (key text PRIMARY KEY, count integer NOT NULL)";
inline constexpr char kAddEffect[] =
    "INSERT INTO effects (key, count) VALUES ($1, 1)"
    " ON CONFLICT (key) DO UPDATE SET count = effects.count + 1";

}  // namespace tcc::participant::barrier_test

#endif  // TCC_TESTS_UNIT_BARRIER_STORE_HARNESS_H_
