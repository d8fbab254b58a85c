#include "postgres_schema.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "pqxx/transaction"

namespace tcc::participant::internal {
namespace {

struct Migration {
  int version;
  // Statements with {table} and {index} placeholders.
  std::vector<const char*> statements;
};

// Append-only: a released migration never changes, a new version is added.
const std::vector<Migration>& Migrations() {
  static const auto* migrations = new std::vector<Migration>{
      {1,
       {"CREATE TABLE {table} ("
        " gid text NOT NULL,"
        " branch_id text NOT NULL,"
        // 1: the Try, or the empty Cancel that blocks it; 2: the Confirm or
        // the Cancel of a tried branch.
        " stage smallint NOT NULL CHECK (stage IN (1, 2)),"
        " phase text NOT NULL CHECK (phase IN ('try', 'confirm', 'cancel')),"
        // The Try's reply, returned to duplicates.
        " reply bytea,"
        // Write time, unix microseconds, for retention.
        " written_us bigint NOT NULL,"
        " PRIMARY KEY (gid, branch_id, stage))"}},
      {2, {"CREATE INDEX {index} ON {table} (written_us)"}},
  };
  return *migrations;
}

}  // namespace

BarrierTableNames MakeBarrierTableNames(pqxx::connection& connection,
                                        const std::string& schema,
                                        const std::string& table) {
  const std::string prefix =
      schema.empty() ? "" : connection.quote_name(schema) + ".";
  BarrierTableNames names;
  names.table = prefix + connection.quote_name(table);
  names.migrations = prefix + connection.quote_name(table + "_migrations");
  names.index = connection.quote_name(table + "_written_us_idx");
  names.lock_key = absl::StrCat("tcc barrier migrations ", names.table);
  return names;
}

absl::StatusOr<int> MigrateBarrierTable(pqxx::connection& connection,
                                        const BarrierTableNames& names,
                                        int target_version) {
  pqxx::work txn(connection);
  txn.exec_params("SELECT pg_advisory_xact_lock(hashtext($1))", names.lock_key);
  txn.exec0(absl::StrCat("CREATE TABLE IF NOT EXISTS ", names.migrations,
                         " (version integer PRIMARY KEY,"
                         " applied_at timestamptz NOT NULL DEFAULT now())"));
  const int found = txn.exec1(absl::StrCat(
      "SELECT coalesce(max(version), 0) FROM ", names.migrations))[0]
                        .as<int>();
  if (found > target_version) {
    return absl::FailedPreconditionError(
        absl::StrCat("barrier table ", names.table, " has schema version ",
                     found, ", newer than this SDK's ", target_version,
                     "; upgrade the participant SDK"));
  }
  for (const Migration& migration : Migrations()) {
    if (migration.version <= found || migration.version > target_version) {
      continue;
    }
    for (const char* statement : migration.statements) {
      txn.exec0(absl::StrReplaceAll(
          statement, {{"{table}", names.table}, {"{index}", names.index}}));
    }
    txn.exec_params0(absl::StrCat("INSERT INTO ", names.migrations,
                                  " (version) VALUES ($1)"),
                     migration.version);
  }
  txn.commit();
  return found;
}

}  // namespace tcc::participant::internal
