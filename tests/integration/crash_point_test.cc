// Crashes tccd (SIGKILL from inside, via TCC_CRASH_AT) at every persist/send
// boundary of a committing and of a rolling-back transfer, restarts it, and
// checks the participants' end state: all branches confirmed or all
// cancelled, each effect applied once, and the outcome the client was told
// (if any) matching the final state.

#include <signal.h>
#include <sys/wait.h>

#include <string>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "bank.pb.h"
#include "gtest/gtest.h"
#include "support/bank_cluster.h"
#include "transfer.h"

namespace tcc::testing {
namespace {

using examples::bank::AccountRef;
using examples::bank::MakeTransferRequest;

// (crash point, whether the transfer is affordable).
using CrashCase = std::tuple<std::string, bool>;

class CrashPointTest : public ::testing::TestWithParam<CrashCase> {};

TEST_P(CrashPointTest, TransferEndsAllOrNothingAfterCrashAndRestart) {
  const auto& [point, affordable] = GetParam();
  BankCluster cluster({});
  ASSERT_TRUE(cluster.Start().ok());
  cluster.KillTccd();
  ASSERT_TRUE(cluster.StartTccd({"TCC_CRASH_AT=" + point}).ok());

  const int64_t amount = affordable ? 700 : 50000;
  std::string gid = absl::StrCat("crash-", point, affordable ? "-c" : "-r");
  for (char& c : gid) {
    if (c == '@') c = '.';  // not a gid character
  }
  v1::ExecuteRequest request = MakeTransferRequest(
      gid, AccountRef{"bank-a", "alice"}, AccountRef{"bank-b", "bob"}, amount);

  bool told = false;
  v1::Outcome told_outcome = v1::OUTCOME_UNSPECIFIED;
  {
    grpc::ClientContext context;
    // The channel may still be backing off from the previous tccd.
    context.set_wait_for_ready(true);
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    v1::ExecuteResponse response;
    grpc::Status st =
        cluster.coordinator()->Execute(&context, request, &response);
    if (st.ok()) {
      told = true;
      told_outcome = response.outcome();
    } else {
      // Only the crash may stop the call.
      ASSERT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE)
          << st.error_message();
    }
  }
  // The failpoint must have fired: tccd died of SIGKILL.
  int wait_status = 0;
  ASSERT_TRUE(WaitFor([&] { return cluster.tccd().Exited(&wait_status); }))
      << "tccd did not crash at " << point;
  EXPECT_TRUE(WIFSIGNALED(wait_status) && WTERMSIG(wait_status) == SIGKILL);

  ASSERT_TRUE(cluster.StartTccd().ok());
  // Re-sending the same gid returns the stored outcome (or, if the crash
  // came before anything was recorded, runs it now).
  v1::ExecuteResponse again;
  ASSERT_TRUE(WaitFor([&] {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(5));
    return cluster.coordinator()->Execute(&context, request, &again).ok();
  }));
  auto final_txns = cluster.WaitAllFinal({gid});
  ASSERT_TRUE(final_txns.ok()) << final_txns.status();
  const v1::Transaction& txn = final_txns->at(gid);
  EXPECT_EQ(again.outcome(), txn.outcome());
  if (told) {
    EXPECT_EQ(told_outcome, txn.outcome());
  }
  const bool committed = txn.state() == v1::CONFIRMED;
  EXPECT_TRUE(affordable || !committed);
  for (const auto& b : txn.branches()) {
    EXPECT_EQ(b.state(),
              committed ? v1::BRANCH_CONFIRMED : v1::BRANCH_CANCELLED);
  }

  auto a = cluster.Accounts("bank-a");
  auto b = cluster.Accounts("bank-b");
  ASSERT_TRUE(a.ok() && b.ok());
  const int64_t moved = committed ? amount : 0;
  EXPECT_EQ(a->at("alice").balance(), 5000 - moved);
  EXPECT_EQ(b->at("bob").balance(), 5000 + moved);
  for (const auto* bank : {&*a, &*b}) {
    for (const auto& [name, acct] : *bank) {
      EXPECT_EQ(acct.frozen(), 0) << name;
      EXPECT_EQ(acct.incoming(), 0) << name;
    }
  }
}

std::string CaseName(const ::testing::TestParamInfo<CrashCase>& info) {
  std::string name = std::get<0>(info.param);
  for (char& c : name) {
    if (c == '@') c = '_';
  }
  return name + (std::get<1>(info.param) ? "_Commit" : "_Rollback");
}

INSTANTIATE_TEST_SUITE_P(
    EveryBoundary, CrashPointTest,
    ::testing::Combine(
        ::testing::Values("before_create_write", "after_create_write",
                          "after_try_sent", "after_try_sent@2",
                          "before_decision_write", "after_decision_write",
                          "after_phase_two_sent", "after_phase_two_sent@2",
                          "before_final_write", "after_final_write"),
        ::testing::Bool()),
    CaseName);

}  // namespace
}  // namespace tcc::testing
