// Sagas against scripted participants: order of steps, strict reverse
// compensation, forward retries, timeouts on the injected clock, resumption.

#include <mutex>
#include <vector>

#include "coordinator_fixture.h"

namespace tcc::coordinator {
namespace {

using internal::StoredTransaction;
using testing::ParticipantCall;
using testing::WaitFor;

class SagaDriverTest : public CoordinatorFixture {
 protected:
  void SetUp() override {
    CoordinatorFixture::SetUp();
    // Both participants append to one ordered log: "Try:2", "Cancel:1", ...
    auto record =
        [this](const ParticipantCall& c) -> std::optional<grpc::Status> {
      std::optional<grpc::Status> answer = grpc::Status::OK;
      {
        std::lock_guard<std::mutex> lock(mu_);
        order_.push_back(c.phase + ":" + c.branch_id);
        if (script_) answer = script_(c);
      }
      return answer;
    };
    a_.SetResponder(record);
    b_.SetResponder(record);
  }

  void Script(std::function<std::optional<grpc::Status>(const ParticipantCall&)>
                  script) {
    std::lock_guard<std::mutex> lock(mu_);
    script_ = std::move(script);
  }
  std::vector<std::string> Order() {
    std::lock_guard<std::mutex> lock(mu_);
    return order_;
  }

  static v1::SagaRequest Saga(const std::string& gid, int steps) {
    v1::SagaRequest r;
    r.set_gid(gid);
    for (int i = 0; i < steps; ++i) {
      auto* s = r.add_steps();
      s->set_participant(i % 2 == 0 ? "a" : "b");
      s->set_action("do" + std::to_string(i + 1));
      s->set_compensation("undo" + std::to_string(i + 1));
      s->set_payload("p" + std::to_string(i + 1));
    }
    return r;
  }

  std::pair<absl::Status, v1::SagaResponse> Run(const v1::SagaRequest& r) {
    return Call<v1::SagaRequest, v1::SagaResponse>(&Coordinator::Saga, r);
  }

  std::mutex mu_;
  std::vector<std::string> order_;
  std::function<std::optional<grpc::Status>(const ParticipantCall&)> script_;
};

TEST_F(SagaDriverTest, StepsRunOneAfterAnotherAndSucceed) {
  auto [status, response] = Run(Saga("s1", 3));
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(response.outcome(), v1::COMMITTED);
  EXPECT_EQ(response.transaction().state(), v1::SUCCEEDED);
  EXPECT_EQ(Order(), (std::vector<std::string>{"Try:1", "Try:2", "Try:3"}));
  v1::Transaction t = Get("s1");
  EXPECT_EQ(t.state(), v1::SUCCEEDED);
  for (const auto& b : t.branches()) EXPECT_EQ(b.state(), v1::BRANCH_TRIED);
  EXPECT_EQ(a_.Calls()[0].action, "do1");
}

TEST_F(SagaDriverTest, RefusalCompensatesStartedStepsInStrictReverseOrder) {
  Script([](const ParticipantCall& c) -> std::optional<grpc::Status> {
    if (c.phase == "Try" && c.branch_id == "3") {
      return grpc::Status(grpc::StatusCode::ABORTED, "out of stock");
    }
    return grpc::Status::OK;
  });
  auto [status, response] = Run(Saga("s2", 4));
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(response.outcome(), v1::ROLLED_BACK);
  EXPECT_NE(response.reason().find("out of stock"), std::string::npos);
  ASSERT_TRUE(WaitForState("s2", v1::COMPENSATED));
  // Step 4 never ran, so it is never compensated; the refused step 3 is.
  EXPECT_EQ(Order(),
            (std::vector<std::string>{"Try:1", "Try:2", "Try:3", "Cancel:3",
                                      "Cancel:2", "Cancel:1"}));
  v1::Transaction t = Get("s2");
  EXPECT_EQ(t.branches(3).state(), v1::BRANCH_WAITING);
  EXPECT_EQ(t.branches(0).state(), v1::BRANCH_CANCELLED);
  for (const auto& c : a_.Calls()) {
    if (c.phase == "Cancel") {
      EXPECT_EQ(c.action, "undo" + c.branch_id);
    }
  }
}

TEST_F(SagaDriverTest, UnknownOutcomeIsRetriedForwardUntilItAnswers) {
  std::atomic<int> failures{0};
  Script([&](const ParticipantCall& c) -> std::optional<grpc::Status> {
    if (c.phase == "Try" && c.branch_id == "2" && failures.fetch_add(1) < 2) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "flaky");
    }
    return grpc::Status::OK;
  });
  absl::Notification done;
  std::pair<absl::Status, v1::SagaResponse> result;
  coordinator_->Saga(Saga("s3", 3),
                     [&](const absl::Status& s, v1::SagaResponse r) {
                       result = {s, std::move(r)};
                       done.Notify();
                     });
  ASSERT_TRUE(b_.WaitForCalls("Try", "s3", 1));
  ASSERT_TRUE(WaitFor(
      [&] { return Get("s3").branches(1).next_attempt_unix_ms() > 0; }));
  clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(b_.WaitForCalls("Try", "s3", 2));
  ASSERT_TRUE(WaitFor([&] {
    return Get("s3").branches(1).attempts() == 2 &&
           Get("s3").branches(1).next_attempt_unix_ms() > 0;
  }));
  clock_.Advance(absl::Seconds(2));
  done.WaitForNotification();
  EXPECT_EQ(result.second.outcome(), v1::COMMITTED);
  EXPECT_EQ(Order(), (std::vector<std::string>{"Try:1", "Try:2", "Try:2",
                                               "Try:2", "Try:3"}));
}

TEST_F(SagaDriverTest, UnknownUntilTheDeadlineCompensatesThatStepToo) {
  Script([](const ParticipantCall& c) -> std::optional<grpc::Status> {
    if (c.phase == "Try" && c.branch_id == "2") {
      return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "slow");
    }
    return grpc::Status::OK;
  });
  v1::SagaRequest r = Saga("s4", 3);
  r.set_timeout_ms(2500);
  absl::Notification done;
  std::pair<absl::Status, v1::SagaResponse> result;
  coordinator_->Saga(r, [&](const absl::Status& s, v1::SagaResponse resp) {
    result = {s, std::move(resp)};
    done.Notify();
  });
  ASSERT_TRUE(b_.WaitForCalls("Try", "s4", 1));
  ASSERT_TRUE(WaitFor(
      [&] { return Get("s4").branches(1).next_attempt_unix_ms() > 0; }));
  clock_.Advance(absl::Seconds(1));  // retry 2; the next would pass 2.5 s
  done.WaitForNotification();
  EXPECT_EQ(result.second.outcome(), v1::ROLLED_BACK);
  ASSERT_TRUE(WaitForState("s4", v1::COMPENSATED));
  EXPECT_EQ(Order(), (std::vector<std::string>{"Try:1", "Try:2", "Try:2",
                                               "Cancel:2", "Cancel:1"}));
}

TEST_F(SagaDriverTest, EarlierCompensationWaitsUntilTheLaterOneSucceeds) {
  std::atomic<int> cancel_failures{0};
  Script([&](const ParticipantCall& c) -> std::optional<grpc::Status> {
    if (c.phase == "Try" && c.branch_id == "2") {
      return grpc::Status(grpc::StatusCode::ABORTED, "no");
    }
    if (c.phase == "Cancel" && c.branch_id == "2" &&
        cancel_failures.fetch_add(1) < 2) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "down");
    }
    return grpc::Status::OK;
  });
  auto [status, response] = Run(Saga("s5", 2));
  ASSERT_EQ(response.outcome(), v1::ROLLED_BACK);
  for (int i = 1; i <= 2; ++i) {
    ASSERT_TRUE(b_.WaitForCalls("Cancel", "s5", i));
    EXPECT_EQ(a_.CountCalls("Cancel", "s5"), 0);
    ASSERT_TRUE(WaitFor([&] {
      v1::Branch b = Get("s5").branches(1);
      return b.attempts() == i && b.next_attempt_unix_ms() > 0;
    }));
    clock_.Advance(absl::Seconds(4));
  }
  ASSERT_TRUE(WaitForState("s5", v1::COMPENSATED));
  EXPECT_EQ(Order(),
            (std::vector<std::string>{"Try:1", "Try:2", "Cancel:2", "Cancel:2",
                                      "Cancel:2", "Cancel:1"}));
}

TEST_F(SagaDriverTest, RestartResumesAtTheStepThatWasStarted) {
  StopCoordinator();
  {
    ThreadPool exec("seed", 1);
    TransactionLogOptions o;
    o.path = dir_.Child("log");
    o.callback_executor = &exec;
    auto log = std::move(*TransactionLog::Open(o));
    StoredTransaction running;
    v1::Transaction* t = running.mutable_txn();
    t->set_gid("r1");
    t->set_mode(v1::MODE_SAGA);
    t->set_state(v1::RUNNING);
    t->set_deadline_unix_ms(ToUnixMs(clock_.Now() + absl::Hours(1)));
    const v1::BranchState states[] = {v1::BRANCH_TRIED, v1::BRANCH_PENDING,
                                      v1::BRANCH_WAITING};
    for (int i = 0; i < 3; ++i) {
      auto* b = t->add_branches();
      b->set_branch_id(std::to_string(i + 1));
      b->set_participant(i % 2 == 0 ? "a" : "b");
      b->set_action("do");
      b->set_compensation("undo");
      b->set_state(states[i]);
    }
    ASSERT_TRUE(log->WriteAndWait(LogWrite::Of(&running, 0, true)).ok());
    StoredTransaction compensating = running;
    t = compensating.mutable_txn();
    t->set_gid("r2");
    t->set_state(v1::COMPENSATING);
    t->set_outcome(v1::ROLLED_BACK);
    t->mutable_branches(1)->set_state(v1::BRANCH_CANCELLED);
    ASSERT_TRUE(log->WriteAndWait(LogWrite::Of(&compensating, 0, true)).ok());
    log->Close();
  }
  StartCoordinator();
  ASSERT_TRUE(WaitForState("r1", v1::SUCCEEDED));
  ASSERT_TRUE(WaitForState("r2", v1::COMPENSATED));
  EXPECT_EQ(a_.CountCalls("Try", "r1"), 1);  // step 3 only
  EXPECT_EQ(b_.CountCalls("Try", "r1"), 1);  // step 2 repeated
  EXPECT_EQ(b_.CountCalls("Cancel", "r2"), 0);
  EXPECT_EQ(a_.CountCalls("Cancel", "r2"), 1);  // step 1
}

TEST_F(SagaDriverTest, ResubmittedSagaReturnsItsOutcomeWithoutRerunning) {
  ASSERT_EQ(Run(Saga("s6", 2)).second.outcome(), v1::COMMITTED);
  auto again = Run(Saga("s6", 2));
  ASSERT_TRUE(again.first.ok());
  EXPECT_EQ(again.second.outcome(), v1::COMMITTED);
  EXPECT_EQ(Order().size(), 2u);
  auto other = Run(Saga("s6", 3));
  EXPECT_EQ(other.first.code(), absl::StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace tcc::coordinator
