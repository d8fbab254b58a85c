// The second phase through ParticipantPool and its CallBatcher, against
// real gRPC participants on loopback.

#include "coordinator/call_batcher.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "coordinator/participant_pool.h"
#include "gtest/gtest.h"
#include "support/scripted_participant.h"

namespace tcc::coordinator {
namespace {

using testing::ParticipantCall;
using testing::ScriptedParticipant;

// Collects what every call's `done` got.
class Replies {
 public:
  BranchCallDone For(const std::string& gid) {
    return [this, gid](const grpc::Status& status, v1::BranchResponse&&) {
      absl::MutexLock lock(&mu_);
      statuses_.emplace(gid, status);
    };
  }
  // Blocks until `n` calls ended (a wait, not a timing assertion).
  bool WaitFor(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return statuses_.size() >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(10));
  }
  grpc::Status Of(const std::string& gid) {
    absl::MutexLock lock(&mu_);
    auto it = statuses_.find(gid);
    return it == statuses_.end()
               ? grpc::Status(grpc::StatusCode::UNKNOWN, "no reply")
               : it->second;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, grpc::Status> statuses_ ABSL_GUARDED_BY(mu_);
};

v1::BranchRequest Request(const std::string& gid) {
  v1::BranchRequest request;
  request.set_gid(gid);
  request.set_branch_id("1");
  request.set_action("reserve");
  request.set_payload("p-" + gid);
  return request;
}

// A pool with one participant "p" at `target`; two calls of each kind in
// flight unless `batch` says otherwise.
std::unique_ptr<ParticipantPool> PoolFor(const std::string& target,
                                         config::BatchConfig batch = {}) {
  config::CoordinatorConfig config;
  auto* p = config.add_participant();
  p->set_name("p");
  p->set_target(target);
  if (batch.max_in_flight() == 0) batch.set_max_in_flight(2);
  *p->mutable_batch() = batch;
  auto pool = ParticipantPool::Create(config);
  EXPECT_TRUE(pool.ok()) << pool.status();
  return pool.ok() ? std::move(*pool) : nullptr;
}

// Every participant call whose gid starts with "hold" hangs until the test
// answers it.
std::optional<grpc::Status> HoldSome(const ParticipantCall& call) {
  if (call.gid.rfind("hold", 0) == 0) return std::nullopt;
  return grpc::Status::OK;
}

class CallBatcherTest : public ::testing::Test {
 protected:
  // Two calls of each kind in flight unless `batch` says otherwise.
  void Start(ScriptedParticipant* participant, config::BatchConfig batch = {}) {
    config::CoordinatorConfig config;
    auto* p = config.add_participant();
    p->set_name("p");
    p->set_target(participant->address());
    if (batch.max_in_flight() == 0) batch.set_max_in_flight(2);
    *p->mutable_batch() = batch;
    auto pool = ParticipantPool::Create(config);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = std::move(*pool);
  }

  void TearDown() override {
    participant_.Shutdown();
    if (pool_ != nullptr) pool_->WaitIdle();
  }

  void Confirm(const std::string& gid, const Metadata& metadata = {}) {
    pool_->Call("p", BranchPhase::kConfirm, Request(gid), metadata,
                absl::Seconds(30), replies_.For(gid));
  }
  void Try(const std::string& gid) {
    pool_->Call(
        "p", BranchPhase::kTry, Request(gid), {}, absl::Seconds(30),
        [this, gid](const grpc::Status& status, v1::BranchResponse&& response) {
          if (status.ok()) {
            absl::MutexLock lock(&mu_);
            try_replies_[gid] = response.payload();
          }
          replies_.For(gid)(status, std::move(response));
        });
  }
  std::string TryReply(const std::string& gid) {
    absl::MutexLock lock(&mu_);
    return try_replies_[gid];
  }

  // Two Confirms that hang, filling both slots (max_in_flight 2).
  void FillSlots(ScriptedParticipant* participant) {
    participant->SetResponder(HoldSome);
    Confirm("hold-1");
    Confirm("hold-2");
    ASSERT_TRUE(participant->WaitForCalls("Confirm", "", 2));
  }

  ScriptedParticipant participant_;
  std::unique_ptr<ParticipantPool> pool_;
  Replies replies_;
  absl::Mutex mu_;
  std::map<std::string, std::string> try_replies_ ABSL_GUARDED_BY(mu_);
};

TEST_F(CallBatcherTest, LightLoadSendsEachCallOnItsOwn) {
  Start(&participant_);
  for (int i = 0; i < 3; ++i) {
    const std::string gid = "g" + std::to_string(i);
    pool_->Call("p", BranchPhase::kCancel, Request(gid), {}, absl::Seconds(30),
                replies_.For(gid));
    ASSERT_TRUE(replies_.WaitFor(i + 1));
  }
  for (const ParticipantCall& call : participant_.Calls()) {
    EXPECT_EQ(call.phase, "Cancel");
    EXPECT_EQ(call.batch_size, 0) << call.gid;
  }
  EXPECT_EQ(pool_->BatchCounters(/*tries=*/false).single_calls, 3);
  EXPECT_EQ(pool_->BatchCounters(/*tries=*/false).batch_calls, 0);
}

TEST_F(CallBatcherTest, CallsQueuedBehindCallsInFlightLeaveAsOneBatch) {
  Start(&participant_);
  FillSlots(&participant_);
  for (int i = 0; i < 5; ++i) Confirm("g" + std::to_string(i));
  EXPECT_EQ(participant_.Calls().size(), 2u);  // the rest wait for a slot

  participant_.AnswerHanging(grpc::Status::OK);
  ASSERT_TRUE(replies_.WaitFor(7));
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(replies_.Of("g" + std::to_string(i)).ok());
  }
  std::vector<ParticipantCall> calls = participant_.Calls();
  ASSERT_EQ(calls.size(), 7u);
  for (size_t i = 2; i < calls.size(); ++i) {
    EXPECT_EQ(calls[i].phase, "Confirm");
    EXPECT_EQ(calls[i].gid, "g" + std::to_string(i - 2));
    EXPECT_EQ(calls[i].payload, "p-" + calls[i].gid);
    EXPECT_EQ(calls[i].batch_size, 5);
  }
  CallBatcher::Counters counters = pool_->BatchCounters(/*tries=*/false);
  EXPECT_EQ(counters.batch_calls, 1);
  EXPECT_EQ(counters.batched_items, 5);
}

TEST_F(CallBatcherTest, QueuedTriesLeaveAsOneBatchWithTheirReplies) {
  Start(&participant_);
  participant_.SetResponder(HoldSome);
  Try("hold-1");
  Try("hold-2");
  ASSERT_TRUE(participant_.WaitForCalls("Try", "", 2));
  Try("g1");
  Try("g2");
  EXPECT_EQ(participant_.Calls().size(), 2u);
  participant_.AnswerHanging(grpc::Status::OK);
  ASSERT_TRUE(replies_.WaitFor(4));
  EXPECT_EQ(TryReply("g1"), "tried:1");
  EXPECT_EQ(TryReply("g2"), "tried:1");
  for (const ParticipantCall& call : participant_.Calls()) {
    EXPECT_EQ(call.batch_size, call.gid[0] == 'g' ? 2 : 0) << call.gid;
  }
  EXPECT_EQ(pool_->BatchCounters(/*tries=*/true).batched_items, 2);
  EXPECT_EQ(pool_->BatchCounters(/*tries=*/false).single_calls, 0);
}

TEST_F(CallBatcherTest, ConfirmsDoNotWaitBehindTries) {
  Start(&participant_);
  participant_.SetResponder(HoldSome);
  Try("hold-1");
  Try("hold-2");
  Confirm("g1");
  ASSERT_TRUE(replies_.WaitFor(1));
  EXPECT_TRUE(replies_.Of("g1").ok());
  participant_.AnswerHanging(grpc::Status::OK);
  ASSERT_TRUE(replies_.WaitFor(3));
}

TEST_F(CallBatcherTest, EachItemGetsItsOwnResult) {
  Start(&participant_);
  FillSlots(&participant_);
  Confirm("ok");
  Confirm("refused");
  Confirm("unknown");
  participant_.SetResponder(
      [](const ParticipantCall& call) -> std::optional<grpc::Status> {
        if (call.gid == "refused") {
          return grpc::Status(grpc::StatusCode::ABORTED, "no such branch");
        }
        if (call.gid == "unknown") {
          return grpc::Status(grpc::StatusCode::UNAVAILABLE, "busy");
        }
        return grpc::Status::OK;
      });
  participant_.AnswerHanging(grpc::Status::OK);
  ASSERT_TRUE(replies_.WaitFor(5));
  EXPECT_TRUE(replies_.Of("ok").ok());
  EXPECT_EQ(replies_.Of("refused").error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(replies_.Of("refused").error_message(), "no such branch");
  EXPECT_EQ(replies_.Of("unknown").error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(pool_->BatchCounters(/*tries=*/false).batched_items, 3);
}

TEST_F(CallBatcherTest, FailedBatchCallLeavesEveryItemUnknown) {
  Start(&participant_);
  FillSlots(&participant_);
  Confirm("hold-3");
  Confirm("hold-4");
  participant_.AnswerHanging(grpc::Status::OK);  // the batch now hangs
  ASSERT_TRUE(participant_.WaitForCalls("Confirm", "hold-4", 1));
  participant_.AnswerHanging(
      grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection reset"));
  ASSERT_TRUE(replies_.WaitFor(4));
  for (const char* gid : {"hold-3", "hold-4"}) {
    EXPECT_EQ(replies_.Of(gid).error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_EQ(replies_.Of(gid).error_message(), "connection reset");
  }
}

TEST_F(CallBatcherTest, MetadataTravelsWithEachItem) {
  Start(&participant_);
  FillSlots(&participant_);
  Confirm("g1", {{"x-trace-id", "t1"}});
  Confirm("g2", {{"x-trace-id", "t2"}, {"tenant", "acme"}});
  participant_.AnswerHanging(grpc::Status::OK);
  ASSERT_TRUE(replies_.WaitFor(4));
  std::map<std::string, std::map<std::string, std::string>> seen;
  for (const ParticipantCall& call : participant_.Calls()) {
    if (call.batch_size > 0) seen[call.gid] = call.metadata;
  }
  EXPECT_EQ(seen["g1"],
            (std::map<std::string, std::string>{{"x-trace-id", "t1"}}));
  EXPECT_EQ(seen["g2"], (std::map<std::string, std::string>{
                            {"tenant", "acme"}, {"x-trace-id", "t2"}}));
}

TEST_F(CallBatcherTest, BatchStopsGrowingAtMaxItems) {
  config::BatchConfig batch;
  batch.set_max_items(3);
  Start(&participant_, batch);
  FillSlots(&participant_);
  for (int i = 0; i < 8; ++i) Confirm("g" + std::to_string(i));
  participant_.AnswerHanging(grpc::Status::OK);
  ASSERT_TRUE(replies_.WaitFor(10));
  std::vector<int> sizes;
  for (const ParticipantCall& call : participant_.Calls()) {
    if (call.gid.rfind("g", 0) == 0) sizes.push_back(call.batch_size);
  }
  // 3 + 3, then the last two: a batch of 2 (or, alone, on its own).
  ASSERT_EQ(sizes.size(), 8u);
  EXPECT_EQ(std::vector<int>(sizes.begin(), sizes.begin() + 6),
            std::vector<int>(6, 3));
  EXPECT_LE(sizes[6], 2);
}

TEST_F(CallBatcherTest, DisabledBatchingSendsEveryCallAtOnce) {
  config::BatchConfig batch;
  batch.set_disabled(true);
  Start(&participant_, batch);
  FillSlots(&participant_);
  for (int i = 0; i < 5; ++i) Confirm("g" + std::to_string(i));
  ASSERT_TRUE(replies_.WaitFor(5));
  for (const ParticipantCall& call : participant_.Calls()) {
    EXPECT_EQ(call.batch_size, 0) << call.gid;
  }
  participant_.AnswerHanging(grpc::Status::OK);
  ASSERT_TRUE(replies_.WaitFor(7));
}

TEST(CallBatcherFallbackTest, ParticipantWithoutBatchGetsCallsOfTheirOwn) {
  ScriptedParticipant old_participant(/*implements_batch=*/false);
  std::unique_ptr<ParticipantPool> pool = PoolFor(old_participant.address());
  ASSERT_NE(pool, nullptr);
  Replies replies;
  auto confirm = [&](const std::string& gid) {
    pool->Call("p", BranchPhase::kConfirm, Request(gid), {{"k", gid}},
               absl::Seconds(30), replies.For(gid));
  };
  old_participant.SetResponder(HoldSome);
  confirm("hold-1");
  confirm("hold-2");
  ASSERT_TRUE(old_participant.WaitForCalls("Confirm", "", 2));
  for (int i = 0; i < 4; ++i) confirm("g" + std::to_string(i));
  old_participant.AnswerHanging(grpc::Status::OK);
  ASSERT_TRUE(replies.WaitFor(6));
  confirm("after");
  ASSERT_TRUE(replies.WaitFor(7));
  for (const ParticipantCall& call : old_participant.Calls()) {
    EXPECT_EQ(call.batch_size, 0) << call.gid;
    EXPECT_EQ(call.metadata.at("k"), call.gid);
    EXPECT_TRUE(replies.Of(call.gid).ok()) << call.gid;
  }
  EXPECT_EQ(old_participant.CountCalls("Confirm"), 7);
  old_participant.Shutdown();
  pool->WaitIdle();
}

// A participant whose Batch answers do not fit the request.
class GarbageBatchParticipant final : public v1::Participant::CallbackService {
 public:
  // Answers one result too few, or one result with code 99 when
  // `bad_code`.
  explicit GarbageBatchParticipant(bool bad_code) : bad_code_(bad_code) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~GarbageBatchParticipant() override {
    Release();
    server_->Shutdown(std::chrono::system_clock::now());
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  grpc::ServerUnaryReactor* Batch(grpc::CallbackServerContext* ctx,
                                  const v1::BatchRequest* request,
                                  v1::BatchResponse* response) override {
    for (int i = 0; i + 1 < request->items_size(); ++i) response->add_results();
    if (bad_code_) response->add_results()->set_code(99);
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  // Confirms on their own hang until Release(), to fill the slots.
  grpc::ServerUnaryReactor* Confirm(grpc::CallbackServerContext* ctx,
                                    const v1::BranchRequest*,
                                    v1::BranchResponse*) override {
    absl::MutexLock lock(&mu_);
    held_.push_back(ctx->DefaultReactor());
    return held_.back();
  }
  // Blocks until `n` Confirms are held (a wait, not a timing assertion).
  bool WaitHeld(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return held_.size() >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(10));
  }
  void Release() {
    std::vector<grpc::ServerUnaryReactor*> held;
    {
      absl::MutexLock lock(&mu_);
      held.swap(held_);
    }
    for (auto* r : held) r->Finish(grpc::Status::OK);
  }

 private:
  const bool bad_code_;
  absl::Mutex mu_;
  std::vector<grpc::ServerUnaryReactor*> held_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

void ExpectGarbageFailsEveryItem(bool bad_code, const std::string& message) {
  GarbageBatchParticipant participant(bad_code);
  std::unique_ptr<ParticipantPool> pool = PoolFor(participant.address());
  ASSERT_NE(pool, nullptr);
  Replies replies;
  for (const char* gid : {"s1", "s2", "b1", "b2"}) {
    pool->Call("p", BranchPhase::kConfirm, Request(gid), {}, absl::Seconds(30),
               replies.For(gid));
    if (gid == std::string("s2")) {
      ASSERT_TRUE(participant.WaitHeld(2));
    }
  }
  participant.Release();
  ASSERT_TRUE(replies.WaitFor(4));
  EXPECT_TRUE(replies.Of("s1").ok());
  for (const char* gid : {"b1", "b2"}) {
    grpc::Status status = replies.Of(gid);
    if (bad_code && gid == std::string("b1")) {
      EXPECT_TRUE(status.ok()) << status.error_message();
      continue;
    }
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL) << gid;
    EXPECT_EQ(status.error_message(), message) << gid;
  }
  pool->WaitIdle();
}

TEST(CallBatcherGarbageTest, WrongNumberOfResultsFailsEveryItem) {
  ExpectGarbageFailsEveryItem(
      false, "participant p answered 1 results to a batch of 2");
}

TEST(CallBatcherGarbageTest, UnknownStatusCodeFailsItsItem) {
  ExpectGarbageFailsEveryItem(
      true,
      "participant p answered a batch item with status code 99, which does "
      "not exist");
}

TEST(CallBatcherConfigTest, OutOfRangeSettingsAreRefused) {
  config::CoordinatorConfig config;
  auto* p = config.add_participant();
  p->set_name("p");
  p->set_target("127.0.0.1:1");
  p->mutable_batch()->set_max_items(1025);
  EXPECT_EQ(ParticipantPool::Create(config).status().code(),
            absl::StatusCode::kInvalidArgument);
  p->mutable_batch()->set_max_items(0);
  p->mutable_batch()->set_max_in_flight(-1);
  EXPECT_EQ(ParticipantPool::Create(config).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tcc::coordinator
