// The coordinator's state machine against real gRPC participants (scripted,
// in-process), a real RocksDB log and an injected clock: timeouts and retry
// backoff are driven by advancing the clock, never by sleeping.

#include <memory>

#include "absl/synchronization/notification.h"
#include "coordinator_fixture.h"
#include "gtest/gtest.h"

namespace tcc::coordinator {
namespace {

using internal::StoredTransaction;
using testing::ParticipantCall;
using testing::WaitFor;

using TccDriverTest = CoordinatorFixture;

TEST_F(TccDriverTest, AllTriesOkCommitsAndConfirmsEveryBranch) {
  ExecuteResult r = Execute(Request("t1"));
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.response.outcome(), v1::COMMITTED);
  ASSERT_TRUE(WaitForState("t1", v1::CONFIRMED));
  EXPECT_EQ(a_.CountCalls("Try", "t1"), 1);
  EXPECT_EQ(a_.CountCalls("Confirm", "t1"), 1);
  EXPECT_EQ(b_.CountCalls("Confirm", "t1"), 1);
  EXPECT_EQ(a_.CountCalls("Cancel"), 0);
  v1::Transaction txn = Get("t1");
  ASSERT_EQ(txn.branches_size(), 2);
  EXPECT_EQ(txn.branches(0).state(), v1::BRANCH_CONFIRMED);
  EXPECT_EQ(txn.branches(1).state(), v1::BRANCH_CONFIRMED);
  EXPECT_EQ(txn.branches(0).try_reply(), "tried:1");
  EXPECT_GT(txn.finish_unix_ms(), 0);
}

TEST_F(TccDriverTest, RefusedTryRollsBackAndCancelsEveryBranch) {
  b_.SetResponder([](const ParticipantCall& c) -> std::optional<grpc::Status> {
    if (c.phase == "Try") {
      return grpc::Status(grpc::StatusCode::ABORTED, "insufficient funds");
    }
    return grpc::Status::OK;
  });
  ExecuteResult r = Execute(Request("t2"));
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.response.outcome(), v1::ROLLED_BACK);
  EXPECT_NE(r.response.reason().find("insufficient funds"), std::string::npos);
  ASSERT_TRUE(WaitForState("t2", v1::CANCELLED));
  // The refused branch is cancelled too (its barrier makes it a no-op).
  EXPECT_EQ(a_.CountCalls("Cancel", "t2"), 1);
  EXPECT_EQ(b_.CountCalls("Cancel", "t2"), 1);
  EXPECT_EQ(a_.CountCalls("Confirm"), 0);
}

TEST_F(TccDriverTest, UnknownTryOutcomeRollsBack) {
  a_.SetResponder([](const ParticipantCall& c) -> std::optional<grpc::Status> {
    if (c.phase == "Try") {
      return grpc::Status(grpc::StatusCode::INTERNAL, "garbage");
    }
    return grpc::Status::OK;
  });
  ExecuteResult r = Execute(Request("t3"));
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.response.outcome(), v1::ROLLED_BACK);
  ASSERT_TRUE(WaitForState("t3", v1::CANCELLED));
  EXPECT_EQ(a_.CountCalls("Cancel", "t3"), 1);
  EXPECT_EQ(b_.CountCalls("Cancel", "t3"), 1);
}

TEST_F(TccDriverTest, TryPhaseTimesOutOnTheInjectedClock) {
  b_.SetResponder([](const ParticipantCall& c) -> std::optional<grpc::Status> {
    if (c.phase == "Try") return std::nullopt;  // hangs
    return grpc::Status::OK;
  });
  v1::ExecuteRequest req = Request("t4");
  req.set_timeout_ms(2000);
  ExecuteResult result;
  absl::Notification done;
  coordinator_->Execute(req, [&](const absl::Status& s, v1::ExecuteResponse r) {
    result.status = s;
    result.response = std::move(r);
    done.Notify();
  });
  ASSERT_TRUE(b_.WaitForCalls("Try", "t4", 1));
  EXPECT_FALSE(done.HasBeenNotified());
  clock_.Advance(absl::Milliseconds(1999));
  EXPECT_FALSE(done.HasBeenNotified());
  clock_.Advance(absl::Milliseconds(2));
  done.WaitForNotification();
  ASSERT_TRUE(result.status.ok());
  EXPECT_EQ(result.response.outcome(), v1::ROLLED_BACK);
  EXPECT_NE(result.response.reason().find("timed out"), std::string::npos);
  ASSERT_TRUE(WaitForState("t4", v1::CANCELLED));
  EXPECT_EQ(b_.CountCalls("Cancel", "t4"), 1);
}

TEST_F(TccDriverTest, ConfirmIsRetriedWithBackoffUntilItSucceeds) {
  std::atomic<int> failures{0};
  a_.SetResponder([&](const ParticipantCall& c) -> std::optional<grpc::Status> {
    if (c.phase == "Confirm" && failures.fetch_add(1) < 3) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "down");
    }
    return grpc::Status::OK;
  });
  ExecuteResult r = Execute(Request("t5"));
  ASSERT_EQ(r.response.outcome(), v1::COMMITTED);
  ASSERT_TRUE(a_.WaitForCalls("Confirm", "t5", 1));
  // The failure, its attempt count and the next attempt are visible.
  ASSERT_TRUE(WaitFor([&] {
    v1::Transaction t = Get("t5");
    return t.branches(0).next_attempt_unix_ms() > 0;
  }));
  v1::Transaction t = Get("t5");
  EXPECT_EQ(t.state(), v1::CONFIRMING);
  EXPECT_EQ(t.branches(0).attempts(), 1);
  EXPECT_NE(t.branches(0).last_error().find("UNAVAILABLE"), std::string::npos);
  EXPECT_EQ(t.branches(0).next_attempt_unix_ms(),
            ToUnixMs(clock_.Now() + absl::Seconds(1)));
  // Backoff 1 s, 2 s, 4 s: nothing is resent before its time.
  const absl::Duration delays[] = {absl::Seconds(1), absl::Seconds(2),
                                   absl::Seconds(4)};
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(delays[i] - absl::Milliseconds(1));
    EXPECT_EQ(a_.CountCalls("Confirm", "t5"), i + 1);
    clock_.Advance(absl::Milliseconds(1));
    ASSERT_TRUE(a_.WaitForCalls("Confirm", "t5", i + 2));
    if (i < 2) {
      ASSERT_TRUE(
          WaitFor([&] { return Get("t5").branches(0).attempts() == i + 2; }));
    }
  }
  ASSERT_TRUE(WaitForState("t5", v1::CONFIRMED));
  t = Get("t5");
  EXPECT_EQ(t.branches(0).attempts(), 4);
  EXPECT_EQ(t.branches(0).last_error(), "");
  EXPECT_EQ(b_.CountCalls("Confirm", "t5"), 1);
}

TEST_F(TccDriverTest, ResubmittedGidReturnsStoredOutcomeOnly) {
  ExecuteResult first = Execute(Request("t6"));
  ASSERT_EQ(first.response.outcome(), v1::COMMITTED);
  ASSERT_TRUE(WaitForState("t6", v1::CONFIRMED));
  ExecuteResult again = Execute(Request("t6"));
  ASSERT_TRUE(again.status.ok()) << again.status;
  EXPECT_EQ(again.response.outcome(), v1::COMMITTED);
  EXPECT_EQ(again.response.transaction().state(), v1::CONFIRMED);
  EXPECT_EQ(a_.CountCalls("Try", "t6"), 1);
  EXPECT_EQ(a_.CountCalls("Confirm", "t6"), 1);
}

TEST_F(TccDriverTest, ResubmissionWhileTryingWaitsForTheDecision) {
  b_.SetResponder([](const ParticipantCall& c) -> std::optional<grpc::Status> {
    if (c.phase == "Try") return std::nullopt;
    return grpc::Status::OK;
  });
  v1::ExecuteRequest req = Request("t7");
  req.set_timeout_ms(1000);
  absl::Notification first_done, second_done;
  ExecuteResult first, second;
  coordinator_->Execute(req, [&](const absl::Status& s, v1::ExecuteResponse r) {
    first = {s, std::move(r)};
    first_done.Notify();
  });
  ASSERT_TRUE(b_.WaitForCalls("Try", "t7", 1));
  coordinator_->Execute(req, [&](const absl::Status& s, v1::ExecuteResponse r) {
    second = {s, std::move(r)};
    second_done.Notify();
  });
  clock_.Advance(absl::Seconds(2));
  first_done.WaitForNotification();
  second_done.WaitForNotification();
  EXPECT_EQ(first.response.outcome(), v1::ROLLED_BACK);
  EXPECT_EQ(second.response.outcome(), v1::ROLLED_BACK);
  EXPECT_EQ(b_.CountCalls("Try", "t7"), 1);
}

TEST_F(TccDriverTest, ReusedGidWithDifferentContentIsAlreadyExists) {
  ASSERT_TRUE(Execute(Request("t8")).status.ok());
  v1::ExecuteRequest other = Request("t8");
  other.mutable_branches(0)->set_payload("999");
  ExecuteResult r = Execute(other);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(WaitForState("t8", v1::CONFIRMED));
  // Also once the first one is no longer in memory.
  r = Execute(other);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(a_.CountCalls("Try", "t8"), 1);
}

TEST_F(TccDriverTest, MetadataReachesEveryParticipantCall) {
  v1::ExecuteRequest req = Request("t9");
  (*req.mutable_metadata())["trace-id"] = "abc123";
  ASSERT_TRUE(Execute(req).status.ok());
  ASSERT_TRUE(WaitForState("t9", v1::CONFIRMED));
  auto calls = a_.Calls();
  auto more = b_.Calls();
  calls.insert(calls.end(), more.begin(), more.end());
  EXPECT_EQ(calls.size(), 4u);
  for (const auto& call : calls) {
    auto it = call.metadata.find("trace-id");
    ASSERT_NE(it, call.metadata.end()) << call.phase;
    EXPECT_EQ(it->second, "abc123") << call.phase;
  }
}

TEST_F(TccDriverTest, BadRequestIsRefusedWithoutCallingAnyone) {
  v1::ExecuteRequest req = Request("t10");
  req.mutable_branches(1)->set_participant("unknown");
  EXPECT_EQ(Execute(req).status.code(), absl::StatusCode::kNotFound);
  req = Request("bad gid!");
  EXPECT_EQ(Execute(req).status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(a_.Calls().empty());
  EXPECT_EQ(log_->Get("t10").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(TccDriverTest, RestartCancelsTryingAndFinishesDecided) {
  StopCoordinator();
  // What a crash leaves behind: one transaction in its Try phase, one decided
  // to commit with one branch already confirmed.
  {
    ThreadPool exec("seed", 1);
    TransactionLogOptions o;
    o.path = dir_.Child("log");
    o.callback_executor = &exec;
    auto log = std::move(*TransactionLog::Open(o));
    StoredTransaction trying;
    trying.mutable_txn()->set_mode(v1::MODE_EXECUTE);
    trying.mutable_txn()->set_gid("r1");
    trying.mutable_txn()->set_state(v1::TRYING);
    for (const char* p : {"a", "b"}) {
      auto* b = trying.mutable_txn()->add_branches();
      b->set_branch_id(p[0] == 'a' ? "1" : "2");
      b->set_participant(p);
      b->set_action("x");
      b->set_state(v1::BRANCH_PENDING);
    }
    ASSERT_TRUE(log->WriteAndWait(LogWrite::Of(&trying, 0, true)).ok());
    StoredTransaction decided = trying;
    decided.mutable_txn()->set_gid("r2");
    decided.mutable_txn()->set_state(v1::CONFIRMING);
    decided.mutable_txn()->set_outcome(v1::COMMITTED);
    decided.mutable_txn()->mutable_branches(0)->set_state(v1::BRANCH_CONFIRMED);
    ASSERT_TRUE(log->WriteAndWait(LogWrite::Of(&decided, 0, true)).ok());
    log->Close();
  }
  StartCoordinator();
  ASSERT_TRUE(WaitForState("r1", v1::CANCELLED));
  ASSERT_TRUE(WaitForState("r2", v1::CONFIRMED));
  EXPECT_EQ(a_.CountCalls("Cancel", "r1"), 1);
  EXPECT_EQ(b_.CountCalls("Cancel", "r1"), 1);
  EXPECT_EQ(a_.CountCalls("Confirm", "r2"), 0);  // already confirmed
  EXPECT_EQ(b_.CountCalls("Confirm", "r2"), 1);
  EXPECT_EQ(Get("r1").outcome(), v1::ROLLED_BACK);
}

TEST_F(TccDriverTest, FinishedTransactionsArePurgedAfterRetention) {
  ASSERT_TRUE(Execute(Request("p1")).status.ok());
  ASSERT_TRUE(WaitForState("p1", v1::CONFIRMED));
  // Default retention is 7 days; the purge runs every minute.
  clock_.Advance(absl::Hours(24 * 7) + absl::Minutes(2));
  ASSERT_TRUE(WaitFor([&] {
    return log_->Get("p1").status().code() == absl::StatusCode::kNotFound;
  }));
}

}  // namespace
}  // namespace tcc::coordinator
