// Interactive TCC: Begin, Try branch by branch, Commit or Rollback, against
// scripted participants and an injected clock.

#include <atomic>
#include <memory>

#include "coordinator_fixture.h"

namespace tcc::coordinator {
namespace {

using testing::ParticipantCall;

class InteractiveTccTest : public CoordinatorFixture {
 protected:
  absl::Status Begin(const std::string& gid, int64_t timeout_ms = 0) {
    v1::BeginRequest r;
    r.set_gid(gid);
    r.set_timeout_ms(timeout_ms);
    (*r.mutable_metadata())["trace-id"] = "t-" + gid;
    return Call<v1::BeginRequest, v1::BeginResponse>(&Coordinator::Begin, r)
        .first;
  }
  std::pair<absl::Status, v1::TryResponse> Try(const std::string& gid,
                                               const std::string& participant) {
    v1::TryRequest r;
    r.set_gid(gid);
    r.mutable_branch()->set_participant(participant);
    r.mutable_branch()->set_action("reserve");
    r.mutable_branch()->set_payload("x");
    return Call<v1::TryRequest, v1::TryResponse>(&Coordinator::Try, r);
  }
  std::pair<absl::Status, v1::CommitResponse> Commit(const std::string& gid) {
    v1::CommitRequest r;
    r.set_gid(gid);
    return Call<v1::CommitRequest, v1::CommitResponse>(&Coordinator::Commit, r);
  }
  std::pair<absl::Status, v1::RollbackResponse> Rollback(
      const std::string& gid) {
    v1::RollbackRequest r;
    r.set_gid(gid);
    return Call<v1::RollbackRequest, v1::RollbackResponse>(
        &Coordinator::Rollback, r);
  }
};

TEST_F(InteractiveTccTest, BeginTryCommitConfirmsEveryBranch) {
  ASSERT_TRUE(Begin("i1").ok());
  auto t1 = Try("i1", "a");
  ASSERT_TRUE(t1.first.ok()) << t1.first;
  EXPECT_EQ(t1.second.branch_id(), "1");
  EXPECT_EQ(t1.second.state(), v1::BRANCH_TRIED);
  EXPECT_EQ(t1.second.payload(), "tried:1");
  auto t2 = Try("i1", "b");
  ASSERT_TRUE(t2.first.ok());
  EXPECT_EQ(t2.second.branch_id(), "2");
  auto c = Commit("i1");
  ASSERT_TRUE(c.first.ok()) << c.first;
  EXPECT_EQ(c.second.outcome(), v1::COMMITTED);
  ASSERT_TRUE(WaitForState("i1", v1::CONFIRMED));
  EXPECT_EQ(a_.CountCalls("Confirm", "i1"), 1);
  EXPECT_EQ(b_.CountCalls("Confirm", "i1"), 1);
  for (const auto& call : a_.Calls()) {
    EXPECT_EQ(call.metadata.at("trace-id"), "t-i1");
  }
}

TEST_F(InteractiveTccTest, BranchIsRecordedBeforeItsTryIsSent) {
  ASSERT_TRUE(Begin("i2").ok());
  std::atomic<bool> recorded{false};
  a_.SetResponder([&](const ParticipantCall& c) -> std::optional<grpc::Status> {
    if (c.phase == "Try") {
      auto stored = log_->Get("i2");
      recorded = stored.ok() && stored->txn().branches_size() == 1;
    }
    return grpc::Status::OK;
  });
  ASSERT_TRUE(Try("i2", "a").first.ok());
  EXPECT_TRUE(recorded.load());
}

TEST_F(InteractiveTccTest, RollbackCancelsEveryBranch) {
  ASSERT_TRUE(Begin("i3").ok());
  ASSERT_TRUE(Try("i3", "a").first.ok());
  ASSERT_TRUE(Try("i3", "b").first.ok());
  auto r = Rollback("i3");
  ASSERT_TRUE(r.first.ok());
  EXPECT_EQ(r.second.outcome(), v1::ROLLED_BACK);
  ASSERT_TRUE(WaitForState("i3", v1::CANCELLED));
  EXPECT_EQ(a_.CountCalls("Cancel", "i3"), 1);
  EXPECT_EQ(b_.CountCalls("Cancel", "i3"), 1);
  EXPECT_EQ(a_.CountCalls("Confirm"), 0);
}

TEST_F(InteractiveTccTest, RefusedTryIsReportedAndCommitRollsBack) {
  b_.SetResponder([](const ParticipantCall& c) -> std::optional<grpc::Status> {
    if (c.phase == "Try") {
      return grpc::Status(grpc::StatusCode::ABORTED, "sold out");
    }
    return grpc::Status::OK;
  });
  ASSERT_TRUE(Begin("i4").ok());
  ASSERT_TRUE(Try("i4", "a").first.ok());
  auto t = Try("i4", "b");
  ASSERT_TRUE(t.first.ok());
  EXPECT_EQ(t.second.state(), v1::BRANCH_REFUSED);
  EXPECT_NE(t.second.error().find("sold out"), std::string::npos);
  auto c = Commit("i4");
  ASSERT_TRUE(c.first.ok());
  EXPECT_EQ(c.second.outcome(), v1::ROLLED_BACK);
  ASSERT_TRUE(WaitForState("i4", v1::CANCELLED));
}

TEST_F(InteractiveTccTest, AbandonedTransactionIsRolledBackAtItsTimeout) {
  ASSERT_TRUE(Begin("i5", 5000).ok());
  ASSERT_TRUE(Try("i5", "a").first.ok());
  clock_.Advance(absl::Milliseconds(4999));
  EXPECT_EQ(Get("i5").state(), v1::TRYING);
  clock_.Advance(absl::Milliseconds(2));
  ASSERT_TRUE(WaitForState("i5", v1::CANCELLED));
  EXPECT_EQ(a_.CountCalls("Cancel", "i5"), 1);
  EXPECT_NE(Get("i5").reason().find("timed out"), std::string::npos);
  // Too late to commit.
  auto c = Commit("i5");
  EXPECT_EQ(c.first.code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(InteractiveTccTest, DecisionsNeverFlipAndTryAfterDecisionIsRefused) {
  ASSERT_TRUE(Begin("i6").ok());
  ASSERT_TRUE(Try("i6", "a").first.ok());
  ASSERT_TRUE(Commit("i6").first.ok());
  EXPECT_TRUE(Commit("i6").first.ok());  // repeating is fine
  EXPECT_EQ(Rollback("i6").first.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Try("i6", "b").first.code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(WaitForState("i6", v1::CONFIRMED));
  // Also once the transaction is final and no longer in memory.
  EXPECT_EQ(Try("i6", "b").first.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Rollback("i6").first.code(), absl::StatusCode::kFailedPrecondition);

  ASSERT_TRUE(Begin("i7").ok());
  ASSERT_TRUE(Rollback("i7").first.ok());
  EXPECT_EQ(Commit("i7").first.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Try("i7", "a").first.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Rollback("i7").first.ok());
}

TEST_F(InteractiveTccTest, UnknownGidAndWrongModeAreRefused) {
  EXPECT_EQ(Try("nope", "a").first.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Commit("nope").first.code(), absl::StatusCode::kNotFound);
  v1::ExecuteRequest e = Request("e1");
  ASSERT_TRUE(Execute(e).status.ok());
  EXPECT_EQ(Try("e1", "a").first.code(), absl::StatusCode::kInvalidArgument);
  // Begin with the gid of a one-shot transaction: another mode.
  EXPECT_EQ(Begin("e1").code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(InteractiveTccTest, OpenTransactionSurvivesRestartUntilCommit) {
  ASSERT_TRUE(Begin("i8", 60000).ok());
  ASSERT_TRUE(Try("i8", "a").first.ok());
  ASSERT_TRUE(testing::WaitFor([&] {
    return Get("i8").branches_size() == 1 &&
           Get("i8").branches(0).state() == v1::BRANCH_TRIED;
  }));
  StopCoordinator();
  StartCoordinator();
  ASSERT_TRUE(Try("i8", "b").first.ok());
  auto c = Commit("i8");
  ASSERT_TRUE(c.first.ok()) << c.first;
  EXPECT_EQ(c.second.outcome(), v1::COMMITTED);
  ASSERT_TRUE(WaitForState("i8", v1::CONFIRMED));
}

// A call that finds a transaction while recovery is still adopting it waits
// for the adoption. Acting at once, it would add its branch to the record
// read before, which the adoption then replaced: the branch vanished from
// memory while its write and its Try were under way.
TEST_F(InteractiveTccTest, TryDuringAdoptionWaitsForTheResume) {
  ASSERT_TRUE(Begin("i9", 60000).ok());
  ASSERT_TRUE(Try("i9", "a").first.ok());
  StopCoordinator();

  absl::Notification tried;
  std::pair<absl::Status, v1::TryResponse> second;
  auto sent = std::make_shared<std::atomic<bool>>(false);
  configure_ = [&, sent](CoordinatorOptions* options) {
    options->adoption_hook = [&, sent](const std::string& gid) {
      if (gid != "i9" || sent->exchange(true)) return;
      v1::TryRequest r;
      r.set_gid("i9");
      r.mutable_branch()->set_participant("b");
      r.mutable_branch()->set_action("reserve");
      r.mutable_branch()->set_payload("x");
      coordinator_->Try(r, [&](const absl::Status& s, v1::TryResponse resp) {
        second = {s, std::move(resp)};
        tried.Notify();
      });
    };
  };
  StartCoordinator();
  tried.WaitForNotification();
  ASSERT_TRUE(sent->load());
  ASSERT_TRUE(second.first.ok()) << second.first;
  EXPECT_EQ(second.second.branch_id(), "2");
  EXPECT_EQ(second.second.state(), v1::BRANCH_TRIED);

  auto c = Commit("i9");
  ASSERT_TRUE(c.first.ok()) << c.first;
  EXPECT_EQ(c.second.outcome(), v1::COMMITTED);
  ASSERT_TRUE(WaitForState("i9", v1::CONFIRMED));
  v1::Transaction txn = Get("i9");
  ASSERT_EQ(txn.branches_size(), 2);
  EXPECT_EQ(txn.branches(1).participant(), "b");
  EXPECT_EQ(txn.branches(1).state(), v1::BRANCH_CONFIRMED);
  EXPECT_EQ(b_.CountCalls("Confirm", "i9"), 1);
}

}  // namespace
}  // namespace tcc::coordinator
