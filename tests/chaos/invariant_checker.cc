#include "chaos/invariant_checker.h"

#include <algorithm>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"

namespace tcc::chaos {
namespace {

using examples::order::InspectResponse;
using examples::order::JournalEntry;

bool IsFinal(v1::TransactionState state) {
  return state == v1::CONFIRMED || state == v1::CANCELLED ||
         state == v1::SUCCEEDED || state == v1::COMPENSATED;
}

std::string BranchStates(const v1::Transaction& t) {
  std::vector<std::string> states;
  for (const auto& b : t.branches()) {
    states.push_back(
        absl::StrCat(b.branch_id(), "=", v1::BranchState_Name(b.state())));
  }
  return absl::StrJoin(states, ",");
}

absl::Duration Percentile(std::vector<int64_t> ms, double p) {
  if (ms.empty()) return absl::ZeroDuration();
  std::sort(ms.begin(), ms.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(ms.size() - 1));
  return absl::Milliseconds(ms[i]);
}

}  // namespace

InvariantChecker::InvariantChecker(ChaosCluster* cluster, const World& world,
                                   absl::Duration final_limit)
    : cluster_(cluster), world_(world), final_limit_(final_limit) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  coordinator_ = v1::Coordinator::NewStub(
      grpc::CreateCustomChannel(cluster->coordinator_address(),
                                grpc::InsecureChannelCredentials(), args));
}

CheckReport InvariantChecker::Check(const std::vector<Submitted>& submitted,
                                    absl::Time last_fault_end) {
  CheckReport report;
  report.transactions = static_cast<int64_t>(submitted.size());
  WaitAllFinal(submitted, last_fault_end, &report);
  for (const Submitted& s : submitted) CheckTransaction(s, &report);
  CheckBanks(submitted, &report);
  CheckShop(submitted, &report);
  CheckList(&report);
  return report;
}

void InvariantChecker::WaitAllFinal(const std::vector<Submitted>& submitted,
                                    absl::Time last_fault_end,
                                    CheckReport* report) {
  const absl::Time limit = last_fault_end + final_limit_;
  std::map<std::string, const Submitted*> pending;
  for (const Submitted& s : submitted) pending[s.gid] = &s;
  // Untold gids tccd answered NOT_FOUND for, with the count of passes.
  std::map<std::string, int> not_found;
  std::map<std::string, std::string> last_problem;
  while (true) {
    for (auto it = pending.begin(); it != pending.end();) {
      v1::GetRequest request;
      request.set_gid(it->first);
      v1::GetResponse response;
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
      grpc::Status status = coordinator_->Get(&context, request, &response);
      if (status.ok() && IsFinal(response.transaction().state())) {
        final_[it->first] = response.transaction();
        it = pending.erase(it);
        continue;
      }
      if (status.error_code() == grpc::StatusCode::NOT_FOUND &&
          !it->second->told && ++not_found[it->first] >= 3) {
        // Never recorded: clients are done, so it never will be.
        it = pending.erase(it);
        continue;
      }
      last_problem[it->first] =
          status.ok()
              ? absl::StrCat(
                    "still ",
                    v1::TransactionState_Name(response.transaction().state()),
                    " [", BranchStates(response.transaction()), "]")
              : absl::StrCat("Get: ", status.error_message());
      ++it;
    }
    if (pending.empty() || absl::Now() > limit) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  report->all_final_after =
      std::max(absl::ZeroDuration(), absl::Now() - last_fault_end);
  for (const auto& [gid, s] : pending) {
    report->violations.push_back(
        absl::StrCat(gid, ": not final ", absl::FormatDuration(final_limit_),
                     " after the last fault: ", last_problem[gid]));
  }

  const int64_t last_fault_ms = absl::ToUnixMillis(last_fault_end);
  int64_t latest_finish = last_fault_ms, last_finish = last_fault_ms;
  std::vector<int64_t> latencies;
  for (const auto& [gid, t] : final_) {
    latencies.push_back(t.finish_unix_ms() - t.create_unix_ms());
    last_finish = std::max(last_finish, t.finish_unix_ms());
    if (t.create_unix_ms() < last_fault_ms) {
      latest_finish = std::max(latest_finish, t.finish_unix_ms());
    }
  }
  report->recovery = absl::Milliseconds(latest_finish - last_fault_ms);
  finish_by_create_.clear();
  for (const auto& [gid, t] : final_) {
    finish_by_create_.emplace_back(t.create_unix_ms(), t.finish_unix_ms());
  }
  std::sort(finish_by_create_.begin(), finish_by_create_.end());
  for (size_t i = 1; i < finish_by_create_.size(); ++i) {
    const int64_t gap =
        finish_by_create_[i].first - finish_by_create_[i - 1].first;
    if (absl::Milliseconds(gap) > report->longest_gap) {
      report->longest_gap = absl::Milliseconds(gap);
      report->longest_gap_start =
          absl::FromUnixMillis(finish_by_create_[i - 1].first);
    }
    finish_by_create_[i].second =
        std::max(finish_by_create_[i].second, finish_by_create_[i - 1].second);
  }
  report->all_finished = absl::Milliseconds(last_finish - last_fault_ms);
  report->latency_p50 = Percentile(latencies, 0.5);
  report->latency_p99 = Percentile(latencies, 0.99);
  report->latency_max = Percentile(latencies, 1.0);
}

absl::Duration InvariantChecker::FinishedAfter(absl::Time moment) const {
  const int64_t ms = absl::ToUnixMillis(moment);
  auto it = std::lower_bound(finish_by_create_.begin(), finish_by_create_.end(),
                             std::make_pair(ms, int64_t{0}));
  if (it == finish_by_create_.begin()) return absl::ZeroDuration();
  return absl::Milliseconds(std::max<int64_t>(0, std::prev(it)->second - ms));
}

bool InvariantChecker::Committed(const std::string& gid) const {
  auto it = final_.find(gid);
  return it != final_.end() && it->second.outcome() == v1::COMMITTED;
}

void InvariantChecker::CheckTransaction(const Submitted& s,
                                        CheckReport* report) {
  auto& violations = report->violations;
  ++report->by_kind[TxnKindName(s.kind)];
  report->sends += s.sends;
  if (s.told) ++report->told;
  if (!s.forbidden_status.empty()) {
    violations.push_back(
        absl::StrCat(s.gid, ": re-sent request answered ", s.forbidden_status));
  }
  auto it = final_.find(s.gid);
  if (it == final_.end()) {
    if (s.told) {
      violations.push_back(absl::StrCat(s.gid, ": client was told ",
                                        v1::Outcome_Name(s.outcome),
                                        " but tccd has no final record"));
    } else {
      ++report->never_recorded;
    }
    return;
  }
  const v1::Transaction& t = it->second;
  ++report->by_state[v1::TransactionState_Name(t.state())];
  if (s.told && s.outcome != t.outcome()) {
    violations.push_back(
        absl::StrCat(s.gid, ": client was told ", v1::Outcome_Name(s.outcome),
                     ", final outcome is ", v1::Outcome_Name(t.outcome())));
  }
  const bool saga = s.kind == TxnKind::kSaga;
  bool ok = true;
  switch (t.state()) {
    case v1::CONFIRMED:
      ok = !saga && t.outcome() == v1::COMMITTED;
      for (const auto& b : t.branches()) {
        ok = ok && b.state() == v1::BRANCH_CONFIRMED;
      }
      break;
    case v1::CANCELLED:
      ok = !saga && t.outcome() == v1::ROLLED_BACK;
      for (const auto& b : t.branches()) {
        ok = ok && b.state() == v1::BRANCH_CANCELLED;
      }
      break;
    case v1::SUCCEEDED:
      ok = saga && t.outcome() == v1::COMMITTED;
      for (const auto& b : t.branches()) {
        ok = ok && b.state() == v1::BRANCH_TRIED;
      }
      break;
    case v1::COMPENSATED: {
      ok = saga && t.outcome() == v1::ROLLED_BACK;
      // Compensated steps first, then steps never started.
      bool started = true;
      for (const auto& b : t.branches()) {
        if (b.state() == v1::BRANCH_WAITING) {
          started = false;
        } else {
          ok = ok && started && b.state() == v1::BRANCH_CANCELLED;
        }
      }
      break;
    }
    default:
      ok = false;
  }
  if (!ok) {
    violations.push_back(absl::StrCat(
        s.gid, " (", TxnKindName(s.kind), "): inconsistent final record ",
        v1::TransactionState_Name(t.state()), "/",
        v1::Outcome_Name(t.outcome()), " [", BranchStates(t), "]"));
  }
}

void InvariantChecker::CheckBanks(const std::vector<Submitted>& submitted,
                                  CheckReport* report) {
  auto& violations = report->violations;
  std::map<std::string, std::map<std::string, int64_t>> expected = world_.banks;
  int64_t initial_total = 0;
  for (const auto& [bank, accounts] : world_.banks) {
    for (const auto& [name, balance] : accounts) initial_total += balance;
  }
  for (const Submitted& s : submitted) {
    if (s.kind != TxnKind::kTransfer || !Committed(s.gid)) continue;
    expected[s.from.participant][s.from.account] -= s.amount;
    expected[s.to.participant][s.to.account] += s.amount;
  }
  int64_t total = 0;
  for (const auto& [bank, accounts] : expected) {
    auto actual = cluster_->Accounts(bank);
    if (!actual.ok()) {
      violations.push_back(actual.status().ToString());
      continue;
    }
    for (const auto& [name, balance] : accounts) {
      auto a = actual->find(name);
      if (a == actual->end()) {
        violations.push_back(absl::StrCat(bank, "/", name, " is missing"));
        continue;
      }
      total += a->second.balance();
      if (a->second.balance() != balance || a->second.frozen() != 0 ||
          a->second.incoming() != 0) {
        violations.push_back(absl::StrCat(
            bank, "/", name, ": balance ", a->second.balance(), " frozen ",
            a->second.frozen(), " incoming ", a->second.incoming(),
            "; expected balance ", balance,
            " from the committed transfers, nothing frozen or incoming"));
      }
    }
  }
  if (total != initial_total) {
    violations.push_back(absl::StrCat(
        "money not conserved across banks: ", total, " != ", initial_total));
  }
}

void InvariantChecker::CheckList(CheckReport* report) {
  std::string token;
  int64_t listed = 0;
  for (int page = 0; page < 10000; ++page) {
    v1::ListRequest request;
    request.set_page_size(1000);
    request.set_page_token(token);
    v1::ListResponse response;
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    grpc::Status status = coordinator_->List(&context, request, &response);
    if (!status.ok()) {
      report->violations.push_back("List: " + status.error_message());
      return;
    }
    for (const v1::Transaction& t : response.transactions()) {
      ++listed;
      if (!final_.contains(t.gid())) {
        report->violations.push_back(absl::StrCat(
            "tccd lists ", t.gid(), " (", v1::TransactionState_Name(t.state()),
            "), which no client sent or which was not final"));
      }
    }
    token = response.next_page_token();
    if (token.empty()) break;
  }
  if (listed != static_cast<int64_t>(final_.size())) {
    report->violations.push_back(absl::StrCat(
        "tccd lists ", listed, " transactions, expected ", final_.size()));
  }
}

}  // namespace tcc::chaos
