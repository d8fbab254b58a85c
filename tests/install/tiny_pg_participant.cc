// A minimal use of the installed PostgreSQL barrier store: a Try that
// writes a business row in the same transaction, its Cancel, and the
// anti-hanging refusal of a late Try.
//
//   tiny_pg_participant CONNINFO

#include <unistd.h>

#include <cstdio>
#include <string>

#include "tcc/participant/postgres_barrier_store.h"

namespace {

using tcc::participant::BarrierResult;
using tcc::participant::BranchCall;
using tcc::participant::Phase;

int Fail(const std::string& what) {
  std::fprintf(stderr, "tiny_pg_participant: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return Fail("usage: tiny_pg_participant CONNINFO");
  const std::string suffix = std::to_string(getpid());
  tcc::participant::PostgresBarrierStoreOptions options;
  options.conninfo = argv[1];
  options.table = "tiny_barrier_" + suffix;
  auto opened = tcc::participant::PostgresBarrierStore::Open(options);
  if (!opened.ok()) return Fail(opened.status().ToString());
  tcc::participant::PostgresBarrierStore& store = **opened;
  const std::string holds = "tiny_holds_" + suffix;
  absl::Status created = store.Transact([&](pqxx::work& txn) {
    txn.exec0("CREATE TABLE " + holds + " (gid text PRIMARY KEY)");
    return absl::OkStatus();
  });
  if (!created.ok()) return Fail(created.ToString());

  BranchCall call;
  call.gid = "g1";
  call.branch_id = "1";
  auto hold = [&](pqxx::work& txn, std::string*) {
    txn.exec_params0("INSERT INTO " + holds + " VALUES ($1)", call.gid);
    return absl::OkStatus();
  };
  auto release = [&](pqxx::work& txn, std::string*) {
    txn.exec_params0("DELETE FROM " + holds + " WHERE gid = $1", call.gid);
    return absl::OkStatus();
  };
  const bool ok =
      store.Run(call, Phase::kTry, hold, nullptr)
              .value_or(BarrierResult::kDuplicate) == BarrierResult::kApplied &&
      store.Run(call, Phase::kCancel, release, nullptr)
              .value_or(BarrierResult::kDuplicate) == BarrierResult::kApplied &&
      store.Run(call, Phase::kTry, hold, nullptr)
              .value_or(BarrierResult::kApplied) == BarrierResult::kDuplicate;
  BranchCall late = call;
  late.gid = "g2";
  const bool refused = store.Run(late, Phase::kCancel, release, nullptr).ok() &&
                       store.Run(late, Phase::kTry, hold, nullptr)
                               .value_or(BarrierResult::kApplied) ==
                           BarrierResult::kRefusedAfterCancel;
  absl::Status dropped = store.Transact([&](pqxx::work& txn) {
    txn.exec0("DROP TABLE " + holds + ", " + options.table + ", " +
              options.table + "_migrations");
    return absl::OkStatus();
  });
  if (!ok || !refused) return Fail("unexpected barrier answers");
  if (!dropped.ok()) return Fail(dropped.ToString());
  std::printf("tiny_pg_participant: OK\n");
  return 0;
}
