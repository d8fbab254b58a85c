#ifndef TCC_TESTS_CHAOS_INVARIANT_CHECKER_H_
#define TCC_TESTS_CHAOS_INVARIANT_CHECKER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "chaos/chaos_cluster.h"
#include "chaos/chaos_world.h"
#include "chaos/workload.h"
#include "tcc/v1/coordinator.grpc.pb.h"

namespace tcc::chaos {

// What the checker found. `violations` must be empty.
struct CheckReport {
  int64_t transactions = 0;
  std::map<std::string, int64_t> by_kind;   // "transfer" -> n
  std::map<std::string, int64_t> by_state;  // "CONFIRMED" -> n
  int64_t told = 0;
  // Never answered and never recorded by tccd (the client gave up while it
  // was down): allowed, as long as no participant applied anything for it.
  int64_t never_recorded = 0;
  int64_t sends = 0;
  int64_t journal_entries = 0;
  // From the end of the last fault until the checker saw every transaction
  // final (an upper bound: it includes the load's quiet tail and the reads).
  absl::Duration all_final_after;
  // From the end of the last fault until the last transaction finished, as
  // tccd recorded it.
  absl::Duration all_finished;
  // Among transactions created before the last fault ended: the latest
  // finish time (as tccd recorded it), minus the end of the last fault.
  absl::Duration recovery;
  // The longest time in which no transaction was created (tccd's clock),
  // and when it began (unix): how long clients could not get through.
  absl::Duration longest_gap;
  absl::Time longest_gap_start;
  // Creation to finish, as tccd recorded them, over every transaction.
  absl::Duration latency_p50, latency_p99, latency_max;
  std::vector<std::string> violations;
};

// Checks, once faults have stopped and the clients are done, that the run
// kept every promise, reading the participants' own durable state (bank
// accounts, shop stock, wallets, orders and journals) and tccd's records:
//   - every transaction is final within `final_limit` of the last fault;
//     TCC: all branches confirmed or all cancelled; saga: every step done,
//     or the started ones compensated and the rest never started;
//   - the outcome a client was told is the final one;
//   - money and stock are conserved, nothing is left frozen, incoming or
//     reserved, and each account, wallet and SKU moved by exactly the
//     committed transactions (each branch's effect applied exactly once);
//   - journals hold each (gid, branch, phase) at most once, only for
//     recorded transactions, with the shape the outcome implies: a committed
//     TCC purchase is try then confirm on every branch, a rolled-back one
//     try then cancel or nothing; a saga's compensations run in strict
//     reverse order of its steps;
//   - no status outside the contract was answered to a re-sent request;
//   - tccd lists no unfinished transaction and none it was not asked for.
class InvariantChecker {
 public:
  InvariantChecker(ChaosCluster* cluster, const World& world,
                   absl::Duration final_limit = absl::Seconds(60));

  CheckReport Check(const std::vector<Submitted>& submitted,
                    absl::Time last_fault_end);

  // After Check: how long after `moment` every transaction created before it
  // had finished (as tccd recorded it); zero if all had already.
  absl::Duration FinishedAfter(absl::Time moment) const;

 private:
  // Polls Get until every transaction is final (or known never recorded)
  // or the limit passes. Fills `final_` and the timing figures.
  void WaitAllFinal(const std::vector<Submitted>& submitted,
                    absl::Time last_fault_end, CheckReport* report);
  void CheckTransaction(const Submitted& s, CheckReport* report);
  void CheckBanks(const std::vector<Submitted>& submitted, CheckReport* report);
  void CheckShop(const std::vector<Submitted>& submitted, CheckReport* report);
  void CheckList(CheckReport* report);
  bool Committed(const std::string& gid) const;

  ChaosCluster* const cluster_;
  const World world_;
  const absl::Duration final_limit_;
  std::unique_ptr<v1::Coordinator::Stub> coordinator_;
  // Final transactions by gid; absent: never recorded.
  std::map<std::string, v1::Transaction> final_;
  // (create, latest finish of any transaction created at or before it), in
  // unix ms, ordered by create.
  std::vector<std::pair<int64_t, int64_t>> finish_by_create_;
};

}  // namespace tcc::chaos

#endif  // TCC_TESTS_CHAOS_INVARIANT_CHECKER_H_
