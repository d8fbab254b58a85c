// InvariantChecker::CheckShop: the order example's services, checked from
// their journals (each effect is journaled in the same local transaction as
// the effect) and their stock, wallets and orders.

#include <algorithm>
#include <cstdint>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "chaos/invariant_checker.h"

namespace tcc::chaos {
namespace {

using examples::order::InspectResponse;
using examples::order::JournalEntry;

constexpr const char* kShopServices[] = {"inventory", "orders", "payment"};

// "try:1" for an entry.
std::string Step(const JournalEntry& e) {
  return absl::StrCat(e.phase(), ":", e.branch_id());
}

// The journal of a saga with `steps` steps is valid if it is every step's
// try in order, and, if compensated, then the cancels of the steps that ran
// in strict reverse order: [try:1 .. try:m] + [cancel:m .. cancel:1] with
// m = `steps` when it succeeded.
bool ValidSagaJournal(const std::vector<std::string>& seq, int steps,
                      bool succeeded) {
  for (int m = 0; m <= steps; ++m) {
    if (succeeded && m != steps) continue;
    std::vector<std::string> want;
    for (int i = 1; i <= m; ++i) want.push_back(absl::StrCat("try:", i));
    if (!succeeded) {
      for (int i = m; i >= 1; --i) want.push_back(absl::StrCat("cancel:", i));
    }
    if (seq == want) return true;
  }
  return false;
}

// A committed TCC transaction's journal: every branch's try, then every
// branch's confirm (Confirm is only sent once every Try answered). A
// rolled-back one: per branch nothing, or try then cancel.
bool ValidTccJournal(const std::vector<JournalEntry>& entries, int branches,
                     bool committed) {
  std::map<std::string, std::vector<std::string>> by_branch;
  int64_t last_try = 0, first_confirm = INT64_MAX;
  for (const JournalEntry& e : entries) {
    by_branch[e.branch_id()].push_back(e.phase());
    if (e.phase() == "try") last_try = std::max(last_try, e.monotonic_ns());
    if (e.phase() == "confirm") {
      first_confirm = std::min(first_confirm, e.monotonic_ns());
    }
  }
  for (int i = 1; i <= branches; ++i) {
    const std::vector<std::string>& phases = by_branch[absl::StrCat(i)];
    if (committed) {
      if (phases != std::vector<std::string>{"try", "confirm"}) return false;
    } else if (!phases.empty() &&
               phases != std::vector<std::string>{"try", "cancel"}) {
      return false;
    }
  }
  if (by_branch.size() > static_cast<size_t>(branches)) return false;
  return !committed || last_try < first_confirm;
}

}  // namespace

void InvariantChecker::CheckShop(const std::vector<Submitted>& submitted,
                                 CheckReport* report) {
  auto& violations = report->violations;
  std::map<std::string, InspectResponse> services;
  for (const char* service : kShopServices) {
    auto state = cluster_->Inspect(service);
    if (!state.ok()) {
      violations.push_back(state.status().ToString());
      return;
    }
    services[service] = *std::move(state);
  }

  // Journals by gid, in the order the effects were applied.
  std::map<std::string, std::vector<JournalEntry>> journal;
  for (const auto& [service, state] : services) {
    for (const JournalEntry& e : state.journal()) {
      journal[e.gid()].push_back(e);
      ++report->journal_entries;
    }
  }
  for (auto& [gid, entries] : journal) {
    std::sort(entries.begin(), entries.end(),
              [](const JournalEntry& a, const JournalEntry& b) {
                return a.monotonic_ns() < b.monotonic_ns();
              });
  }

  std::map<std::string, const Submitted*> orders_by_gid;
  for (const Submitted& s : submitted) {
    if (s.kind != TxnKind::kTransfer) orders_by_gid[s.gid] = &s;
  }
  for (const auto& [gid, entries] : journal) {
    if (!orders_by_gid.contains(gid)) {
      violations.push_back(absl::StrCat("journal holds ", entries.size(),
                                        " effects of ", gid,
                                        ", which no client sent"));
    } else if (!final_.contains(gid)) {
      violations.push_back(
          absl::StrCat("journal holds effects of ", gid,
                       ", which tccd never recorded (or never finished)"));
    }
  }

  std::map<std::string, int64_t> wallets = world_.wallets;
  std::map<std::string, int64_t> sold;
  std::map<std::string, std::string> expected_orders;
  for (const auto& [gid, s] : orders_by_gid) {
    auto t = final_.find(gid);
    if (t == final_.end()) continue;
    const std::vector<JournalEntry>& entries = journal[gid];
    std::vector<std::string> seq;
    std::set<std::pair<std::string, std::string>> seen;
    bool order_tried = false;
    for (const JournalEntry& e : entries) {
      seq.push_back(Step(e));
      if (!seen.insert({e.branch_id(), e.phase()}).second) {
        violations.push_back(absl::StrCat(gid, ": ", Step(e), " applied twice",
                                          " at ", e.service()));
      }
      const v1::Branch* branch = nullptr;
      for (const auto& b : t->second.branches()) {
        if (b.branch_id() == e.branch_id()) branch = &b;
      }
      if (branch == nullptr || branch->participant() != e.service()) {
        violations.push_back(absl::StrCat(gid, ": ", Step(e), " applied by ",
                                          e.service(),
                                          ", which is not that branch's"));
      }
      if (e.service() == "orders" && e.phase() == "try") order_tried = true;
    }
    const bool committed = t->second.outcome() == v1::COMMITTED;
    const bool saga = s->kind == TxnKind::kSaga;
    const int branches = t->second.branches_size();
    const bool valid = saga ? ValidSagaJournal(seq, branches, committed)
                            : ValidTccJournal(entries, branches, committed);
    if (!valid) {
      violations.push_back(absl::StrCat(
          gid, " (", TxnKindName(s->kind), ", ",
          v1::TransactionState_Name(t->second.state()), "): journal [",
          absl::StrJoin(seq, " "), "] is not what ", saga ? "a saga" : "TCC",
          " with this outcome may leave"));
    }
    const examples::order::Purchase& p = s->purchase;
    if (committed) {
      wallets[p.customer] -= p.amount;
      sold[p.sku] += p.quantity;
      expected_orders[p.order_id] = saga ? "PLACED" : "CONFIRMED";
    } else if (order_tried) {
      expected_orders[p.order_id] = "CANCELLED";
    }
  }

  for (const auto& w : services["payment"].wallets()) {
    auto want = wallets.find(w.name());
    if (want == wallets.end() || w.balance() != want->second ||
        w.frozen() != 0) {
      violations.push_back(absl::StrCat(
          "wallet ", w.name(), ": balance ", w.balance(), " frozen ",
          w.frozen(), "; expected balance ",
          want == wallets.end() ? -1 : want->second, ", nothing frozen"));
    }
  }
  for (const auto& st : services["inventory"].stock()) {
    auto initial = world_.stock.find(st.sku());
    const int64_t want_sold = sold[st.sku()];
    if (initial == world_.stock.end() || st.reserved() != 0 ||
        st.sold() != want_sold ||
        st.available() != initial->second - want_sold) {
      violations.push_back(absl::StrCat(
          "stock ", st.sku(), ": available ", st.available(), " reserved ",
          st.reserved(), " sold ", st.sold(), "; expected sold ", want_sold,
          " and the rest available, nothing reserved"));
    }
  }
  std::set<std::string> orders_seen;
  for (const auto& o : services["orders"].orders()) {
    orders_seen.insert(o.order_id());
    auto want = expected_orders.find(o.order_id());
    if (want == expected_orders.end() || o.state() != want->second) {
      violations.push_back(absl::StrCat(
          "order ", o.order_id(), " is ", o.state(), ", expected ",
          want == expected_orders.end() ? "no such order" : want->second));
    }
  }
  for (const auto& [id, state] : expected_orders) {
    if (!orders_seen.contains(id)) {
      violations.push_back(
          absl::StrCat("order ", id, " is missing, expected ", state));
    }
  }
}

}  // namespace tcc::chaos
