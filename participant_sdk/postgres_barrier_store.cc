#include "tcc/participant/postgres_barrier_store.h"

#include <algorithm>
#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "barrier_rules.h"
#include "pg_connection_pool.h"
#include "postgres_schema.h"
#include "pqxx/binarystring"
#include "pqxx/except"
#include "pqxx/result"
#include "tcc/common/status_macros.h"
#include "tcc/participant/postgres_status.h"

namespace tcc::participant {
namespace {

// Prepared statement names, per connection; prefixed so that a service's
// own prepared statements on the same connections do not collide.
constexpr char kClaimStatement[] = "tcc_barrier_claim";
constexpr char kReadStatement[] = "tcc_barrier_read";
constexpr char kSetReplyStatement[] = "tcc_barrier_set_reply";
constexpr char kPurgeStatement[] = "tcc_barrier_purge";

using internal::BarrierStep;
using internal::BarrierTableNames;
using internal::BranchRecords;
using internal::PgConnectionPool;

// A handler's exception, already mapped: kept apart from the store's own
// database errors so that the message says whose fault it was.
absl::Status RunBody(PostgresBarrierStore::Body body, pqxx::work& txn,
                     std::string* reply) {
  try {
    return body(txn, reply);
  } catch (const pqxx::failure& e) {
    return FromPqxxException(e, "handler");
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("handler threw: ", e.what()));
  } catch (...) {
    return absl::InternalError("handler threw a non-standard exception");
  }
}

// The connections' session settings and the barrier's statements.
void InitializeConnection(pqxx::connection& connection,
                          const BarrierTableNames& names,
                          absl::Duration lock_timeout) {
  connection.set_variable(
      "lock_timeout",
      std::to_string(std::max<int64_t>(
          1, absl::ToInt64Milliseconds(lock_timeout))));  // Milliseconds.
  connection.prepare(kClaimStatement,
                     absl::StrCat("INSERT INTO ", names.table,
                                  " (gid, branch_id, stage, phase, written_us)"
                                  " VALUES ($1, $2, $3, $4, $5)"
                                  " ON CONFLICT DO NOTHING"));
  connection.prepare(
      kReadStatement,
      absl::StrCat("SELECT stage, phase, reply FROM ", names.table,
                   " WHERE gid = $1 AND branch_id = $2"));
  connection.prepare(
      kSetReplyStatement,
      absl::StrCat("UPDATE ", names.table,
                   " SET reply = $3 WHERE gid = $1 AND branch_id = $2"
                   " AND stage = 1"));
  connection.prepare(
      kPurgeStatement,
      absl::StrCat("DELETE FROM ", names.table,
                   " WHERE (gid, branch_id, stage) IN"
                   " (SELECT gid, branch_id, stage FROM ",
                   names.table,
                   " WHERE written_us < $1 ORDER BY written_us LIMIT $2"
                   " FOR UPDATE SKIP LOCKED)"));
}

// Inserts the branch's record of `stage` unless one exists; whether it did.
// Waits for a concurrent transaction holding that row and sees its outcome.
bool Claim(pqxx::work& txn, const BranchCall& call, int stage, Phase phase,
           int64_t now_us) {
  return txn.exec_prepared(kClaimStatement, call.gid, call.branch_id, stage,
                           PhaseName(phase), now_us)
             .affected_rows() == 1;
}

// The branch's committed records; the Try's reply into *try_reply. In READ
// COMMITTED a new statement sees every transaction that committed before it,
// including the one a Claim() just waited for.
BranchRecords ReadRecords(pqxx::work& txn, const BranchCall& call,
                          std::string* try_reply) {
  BranchRecords records;
  pqxx::result rows =
      txn.exec_prepared(kReadStatement, call.gid, call.branch_id);
  for (const pqxx::row& row : rows) {
    const int stage = row[0].as<int>();
    const std::string phase = row[1].as<std::string>();
    if (phase == "cancel") {
      records.cancelled = true;
    } else if (phase == "confirm") {
      records.confirmed = true;
    } else if (stage == 1) {
      records.tried = true;
      if (!row[2].is_null()) *try_reply = pqxx::binarystring(row[2]).str();
    }
  }
  return records;
}

absl::Status RecordVanished(const std::string& what) {
  return absl::UnavailableError(
      absl::StrCat(what, ": barrier record purged concurrently, retry"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresBarrierStore>>
PostgresBarrierStore::Open(PostgresBarrierStoreOptions options) {
  if (options.conninfo.empty()) {
    return absl::InvalidArgumentError("empty PostgreSQL conninfo");
  }
  if (options.table.empty()) {
    return absl::InvalidArgumentError("empty barrier table name");
  }
  if (options.pool_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("pool_size must be at least 1, got ", options.pool_size));
  }
  BarrierTableNames names;
  try {
    pqxx::connection connection(options.conninfo);
    names = internal::MakeBarrierTableNames(connection, options.schema,
                                            options.table);
    absl::StatusOr<int> migrated =
        internal::MigrateBarrierTable(connection, names, kSchemaVersion);
    if (!migrated.ok()) return migrated.status();
  } catch (const std::exception& e) {
    return FromPqxxException(e, "open barrier table");
  }

  const absl::Duration lock_timeout = options.lock_timeout;
  auto initialize = [names, lock_timeout](pqxx::connection& connection) {
    InitializeConnection(connection, names, lock_timeout);
  };
  auto pool = std::make_unique<PgConnectionPool>(
      PgConnectionPool::Options{options.conninfo, options.pool_size,
                                options.acquire_timeout, initialize});
  auto purge_pool =
      std::make_unique<PgConnectionPool>(PgConnectionPool::Options{
          options.conninfo, 1, options.acquire_timeout, initialize});
  std::string table_name = names.table;
  return std::unique_ptr<PostgresBarrierStore>(
      new PostgresBarrierStore(std::move(options), std::move(table_name),
                               std::move(pool), std::move(purge_pool)));
}

PostgresBarrierStore::PostgresBarrierStore(
    PostgresBarrierStoreOptions options, std::string table_name,
    std::unique_ptr<internal::PgConnectionPool> pool,
    std::unique_ptr<internal::PgConnectionPool> purge_pool)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : Clock::Real()),
      table_name_(std::move(table_name)),
      pool_(std::move(pool)),
      purge_pool_(std::move(purge_pool)) {}

PostgresBarrierStore::~PostgresBarrierStore() = default;

void PostgresBarrierStore::SyncPoint(std::string_view point) const {
  if (options_.sync_point) options_.sync_point(point);
}

absl::StatusOr<BarrierResult> PostgresBarrierStore::Run(const BranchCall& call,
                                                        Phase phase, Body body,
                                                        std::string* reply) {
  if (reply != nullptr) reply->clear();
  if (call.gid.empty()) return absl::InvalidArgumentError("empty gid");
  if (call.branch_id.empty()) {
    return absl::InvalidArgumentError("empty branch_id");
  }
  TCC_ASSIGN_OR_RETURN(PgConnectionPool::Lease lease, pool_->Acquire());
  try {
    // Every early return discards `txn`, which rolls it back.
    pqxx::work txn(lease.connection());
    return RunInTransaction(txn, call, phase, body, reply);
  } catch (const std::exception& e) {
    return FromPqxxException(e, absl::StrCat(PhaseName(phase), " barrier of ",
                                             call.gid, "/", call.branch_id));
  }
}

absl::StatusOr<BarrierResult> PostgresBarrierStore::RunInTransaction(
    pqxx::work& txn, const BranchCall& call, Phase phase, Body body,
    std::string* reply) {
  const std::string branch = absl::StrCat(call.gid, "/", call.branch_id);
  const std::string what =
      absl::StrCat(PhaseName(phase), " barrier of ", branch);
  const int64_t now_us = absl::ToUnixMicros(clock_->Now());

  // A Try claims stage 1; so does a Cancel, which thereby is empty unless a
  // Try holds it. A Confirm claims stage 2 only once it knows the Try is
  // there, so that a Confirm without a Try writes nothing at all.
  SyncPoint(kSyncPointBeforeLock);
  const bool claimed_stage_one =
      phase != Phase::kConfirm && Claim(txn, call, 1, phase, now_us);
  BranchRecords records;
  std::string stored_reply;
  if (!claimed_stage_one) records = ReadRecords(txn, call, &stored_reply);
  SyncPoint(kSyncPointLocked);

  TCC_ASSIGN_OR_RETURN(BarrierStep step,
                       internal::NextStep(phase, records, branch));
  switch (step) {
    case BarrierStep::kDuplicate:
      if (phase == Phase::kTry && reply != nullptr) {
        *reply = std::move(stored_reply);
      }
      return BarrierResult::kDuplicate;
    case BarrierStep::kRefuseTry:
      return BarrierResult::kRefusedAfterCancel;
    case BarrierStep::kRecordOnly:
      // The claimed stage 1 row ("cancel") is the record.
      if (!claimed_stage_one) return RecordVanished(what);
      break;
    case BarrierStep::kRunHandler:
      if (phase == Phase::kTry && !claimed_stage_one) {
        return RecordVanished(what);
      }
      if (phase != Phase::kTry && !Claim(txn, call, 2, phase, now_us)) {
        // A Confirm or Cancel of this branch committed since the read.
        records = ReadRecords(txn, call, &stored_reply);
        TCC_ASSIGN_OR_RETURN(step, internal::NextStep(phase, records, branch));
        if (step != BarrierStep::kDuplicate) return RecordVanished(what);
        return BarrierResult::kDuplicate;
      }
      break;
  }

  std::string body_reply;
  if (step == BarrierStep::kRunHandler) {
    TCC_RETURN_IF_ERROR(RunBody(body, txn, &body_reply));
    // Kept so that a duplicate Try answers the same.
    if (phase == Phase::kTry && !body_reply.empty()) {
      txn.exec_prepared0(kSetReplyStatement, call.gid, call.branch_id,
                         pqxx::binarystring(body_reply));
    }
  }
  txn.commit();
  SyncPoint(kSyncPointCommitted);
  if (reply != nullptr) *reply = std::move(body_reply);
  return internal::ResultOf(step);
}

absl::Status PostgresBarrierStore::Transact(
    absl::FunctionRef<absl::Status(pqxx::work& txn)> fn) {
  TCC_ASSIGN_OR_RETURN(PgConnectionPool::Lease lease, pool_->Acquire());
  try {
    pqxx::work txn(lease.connection());
    absl::Status status;
    try {
      status = fn(txn);
    } catch (const pqxx::failure& e) {
      return FromPqxxException(e, "transaction");
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("transaction threw: ", e.what()));
    }
    if (!status.ok()) return status;
    txn.commit();
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return FromPqxxException(e, "transaction");
  }
}

absl::StatusOr<int> PostgresBarrierStore::PurgeOlderThan(absl::Time cutoff,
                                                         int max_records) {
  if (max_records <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_records must be positive, got ", max_records));
  }
  TCC_ASSIGN_OR_RETURN(PgConnectionPool::Lease lease, purge_pool_->Acquire());
  try {
    pqxx::work txn(lease.connection());
    const pqxx::result deleted = txn.exec_prepared(
        kPurgeStatement, absl::ToUnixMicros(cutoff), max_records);
    txn.commit();
    return static_cast<int>(deleted.affected_rows());
  } catch (const std::exception& e) {
    return FromPqxxException(e, "purge barrier records");
  }
}

absl::StatusOr<std::vector<Phase>> PostgresBarrierStore::RecordedPhases(
    std::string_view gid, std::string_view branch_id) {
  TCC_ASSIGN_OR_RETURN(PgConnectionPool::Lease lease, pool_->Acquire());
  try {
    pqxx::work txn(lease.connection());
    const pqxx::result rows = txn.exec_prepared(
        kReadStatement, std::string(gid), std::string(branch_id));
    std::vector<Phase> phases;
    for (Phase phase : {Phase::kTry, Phase::kConfirm, Phase::kCancel}) {
      for (const pqxx::row& row : rows) {
        if (row[1].as<std::string>() == PhaseName(phase)) {
          phases.push_back(phase);
          break;
        }
      }
    }
    return phases;
  } catch (const std::exception& e) {
    return FromPqxxException(e, "read barrier records");
  }
}

}  // namespace tcc::participant
