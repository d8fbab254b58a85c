#include "barrier_store_harness.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "support/subprocess.h"
#include "tcc/common/status_macros.h"
#include "tcc/participant/rocksdb_status.h"

namespace tcc::participant::barrier_test {

absl::Status RocksDbHarness::Open(Clock* clock, SyncPointHook sync_point) {
  store_.reset();
  RocksDbBarrierStoreOptions options;
  options.path = dir_.Child("db");
  // A process crash keeps unsynced writes; only power loss would not.
  options.sync = false;
  options.clock = clock;
  options.sync_point = std::move(sync_point);
  TCC_ASSIGN_OR_RETURN(store_, RocksDbBarrierStore::Open(std::move(options)));
  return absl::OkStatus();
}

absl::Status RocksDbHarness::AddEffect(Txn& txn, const std::string& key) {
  const std::string effect_key = "effect/" + key;
  std::string value;
  rocksdb::Status s =
      txn.GetForUpdate(rocksdb::ReadOptions(), effect_key, &value);
  int count = 0;
  if (s.ok()) {
    if (!absl::SimpleAtoi(value, &count)) {
      return absl::InternalError("bad effect count " + value);
    }
  } else if (!s.IsNotFound()) {
    return FromRocksDbStatus(s, "read effect");
  }
  return FromRocksDbStatus(txn.Put(effect_key, absl::StrCat(count + 1)),
                           "write effect");
}

absl::StatusOr<int> RocksDbHarness::Effect(const std::string& key) {
  std::string value;
  rocksdb::Status s =
      store_->db()->Get(rocksdb::ReadOptions(), "effect/" + key, &value);
  if (s.IsNotFound()) return 0;
  TCC_RETURN_IF_ERROR(FromRocksDbStatus(s, "read effect"));
  int count = 0;
  if (!absl::SimpleAtoi(value, &count)) {
    return absl::InternalError("bad effect count " + value);
  }
  return count;
}

std::vector<std::string> RocksDbHarness::ChildFlags() const {
  return {"--store=rocksdb", "--path=" + dir_.Child("db")};
}

#ifdef TCC_HAVE_POSTGRES
absl::Status PostgresHarness::Open(Clock* clock, SyncPointHook sync_point) {
  store_.reset();
  if (schema_ == nullptr) {
    TCC_ASSIGN_OR_RETURN(schema_, testing::ScopedPostgresSchema::Create());
  }
  PostgresBarrierStoreOptions options;
  options.conninfo = schema_->conninfo();
  options.pool_size = 8;
  options.clock = clock;
  options.sync_point = std::move(sync_point);
  TCC_ASSIGN_OR_RETURN(store_, PostgresBarrierStore::Open(std::move(options)));
  return store_->Transact([](pqxx::work& txn) {
    txn.exec0(kCreateEffectsTable);
    return absl::OkStatus();
  });
}

absl::Status PostgresHarness::AddEffect(Txn& txn, const std::string& key) {
  txn.exec_params0(kAddEffect, key);
  return absl::OkStatus();
}

absl::StatusOr<int> PostgresHarness::Effect(const std::string& key) {
  int count = 0;
  TCC_RETURN_IF_ERROR(store_->Transact([&](pqxx::work& txn) {
    pqxx::result rows =
        txn.exec_params("SELECT count FROM effects WHERE key = $1", key);
    if (!rows.empty()) count = rows[0][0].as<int>();
    return absl::OkStatus();
  }));
  return count;
}

std::vector<std::string> PostgresHarness::ChildFlags() const {
  return {"--store=postgres", "--conninfo=" + schema_->conninfo()};
}

bool PostgresHarness::AwaitLockWaiter() {
  return testing::WaitFor(
      [&] {
        bool waiting = false;
        absl::Status s = store_->Transact([&](pqxx::work& txn) {
          waiting = txn.exec_params1(
                           "SELECT count(*) > 0 FROM pg_stat_activity"
                           " WHERE application_name = $1"
                           " AND wait_event_type = 'Lock'",
                           schema_->name())[0]
                        .as<bool>();
          return absl::OkStatus();
        });
        return s.ok() && waiting;
      },
      absl::Seconds(20));
}
#endif

}  // namespace tcc::participant::barrier_test
