#include "tcc/participant/participant_service.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/byte_buffer.h"
#include "gtest/gtest.h"
#include "support/scoped_temp_dir.h"
#include "tcc/common/thread_pool.h"
#include "tcc/participant/participant_server.h"
#include "tcc/participant/rocksdb_barrier_store.h"

namespace tcc::participant {
namespace {

using Service = ParticipantService<RocksDbBarrierStore>;
using Handlers = ResourceHandlers<rocksdb::Transaction>;

// What the handlers of the "reserve" action saw.
class HandlerLog {
 public:
  void Record(Phase phase, const BranchCall& call) {
    absl::MutexLock lock(&mu_);
    calls_.push_back({phase, call});
  }
  int Count(Phase phase) {
    absl::MutexLock lock(&mu_);
    int n = 0;
    for (const auto& [p, call] : calls_) n += p == phase;
    return n;
  }
  // Blocks until `n` calls of `phase` were recorded (a wait, not a timing
  // assertion).
  bool WaitForCount(Phase phase, int n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      int seen = 0;
      for (const auto& [p, call] : calls_) seen += p == phase;
      return seen >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(10));
  }
  BranchCall Last() {
    absl::MutexLock lock(&mu_);
    return calls_.empty() ? BranchCall() : calls_.back().second;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::pair<Phase, BranchCall>> calls_ ABSL_GUARDED_BY(mu_);
};

class ParticipantServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RocksDbBarrierStoreOptions options;
    options.path = dir_.Child("db");
    options.sync = sync_;
    auto store = RocksDbBarrierStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    service_ = std::make_unique<Service>(store_.get(), &pool_);

    Handlers reserve;
    reserve.try_fn = [this](const BranchCall& call, rocksdb::Transaction&,
                            std::string* reply) {
      if (call.payload == "block") release_.WaitForNotification();
      log_.Record(Phase::kTry, call);
      if (call.payload == "refuse") return absl::AbortedError("out of stock");
      *reply = "reserved:" + call.payload;
      return absl::OkStatus();
    };
    reserve.confirm_fn = [this](const BranchCall& call,
                                rocksdb::Transaction& txn, std::string*) {
      log_.Record(Phase::kConfirm, call);
      rocksdb::Status put = txn.Put("confirmed/" + call.gid, call.payload);
      if (!put.ok()) return absl::InternalError(put.ToString());
      // Written, then failed: the barrier must roll the write back.
      if (call.payload == "fail") return absl::UnavailableError("disk full");
      return absl::OkStatus();
    };
    reserve.cancel_fn = [this](const BranchCall& call, rocksdb::Transaction&,
                               std::string*) {
      log_.Record(Phase::kCancel, call);
      return absl::OkStatus();
    };
    ASSERT_TRUE(service_->Register("reserve", reserve).ok());

    auto server = ParticipantServer::Start({}, {service_.get()});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    channel_ = grpc::CreateChannel(server_->address(),
                                   grpc::InsecureChannelCredentials());
    stub_ = tcc::v1::Participant::NewStub(channel_);
  }

  void TearDown() override {
    if (!release_.HasBeenNotified()) release_.Notify();
    if (server_ != nullptr) server_->Shutdown();
    pool_.Shutdown();
  }

  static tcc::v1::BranchRequest Request(std::string gid, std::string payload,
                                        std::string action = "reserve") {
    tcc::v1::BranchRequest request;
    request.set_gid(std::move(gid));
    request.set_branch_id("1");
    request.set_action(std::move(action));
    request.set_payload(std::move(payload));
    return request;
  }

  grpc::Status Call(Phase phase, const tcc::v1::BranchRequest& request,
                    std::string* reply = nullptr,
                    grpc::ClientContext* context = nullptr) {
    grpc::ClientContext local;
    if (context == nullptr) context = &local;
    tcc::v1::BranchResponse response;
    grpc::Status status;
    switch (phase) {
      case Phase::kTry:
        status = stub_->Try(context, request, &response);
        break;
      case Phase::kConfirm:
        status = stub_->Confirm(context, request, &response);
        break;
      case Phase::kCancel:
        status = stub_->Cancel(context, request, &response);
        break;
    }
    if (reply != nullptr) *reply = response.payload();
    return status;
  }

  // One Batch call; its results, or the call's own status.
  grpc::Status CallBatch(const tcc::v1::BatchRequest& request,
                         tcc::v1::BatchResponse* response) {
    grpc::ClientContext context;
    return stub_->Batch(&context, request, response);
  }

  static void AddItem(tcc::v1::BatchRequest* batch, tcc::v1::Phase phase,
                      tcc::v1::BranchRequest request) {
    tcc::v1::BatchItem* item = batch->add_items();
    item->set_phase(phase);
    *item->mutable_request() = std::move(request);
  }

  // The business key the confirm handler writes, or "" if absent.
  std::string Confirmed(const std::string& gid) {
    std::string value;
    rocksdb::Status s =
        store_->db()->Get(rocksdb::ReadOptions(), "confirmed/" + gid, &value);
    return s.ok() ? value : "";
  }

  bool sync_ = false;
  absl::Notification release_;  // lets a Try with payload "block" go on
  testing::ScopedTempDir dir_;
  ThreadPool pool_{"participant", 2};
  std::unique_ptr<RocksDbBarrierStore> store_;
  std::unique_ptr<Service> service_;
  HandlerLog log_;
  std::unique_ptr<ParticipantServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<tcc::v1::Participant::Stub> stub_;
};

TEST_F(ParticipantServiceTest, TryAnswersHandlerReplyAndDuplicateTheSame) {
  std::string reply;
  ASSERT_TRUE(Call(Phase::kTry, Request("g1", "apple"), &reply).ok());
  EXPECT_EQ(reply, "reserved:apple");
  ASSERT_TRUE(Call(Phase::kTry, Request("g1", "apple"), &reply).ok());
  EXPECT_EQ(reply, "reserved:apple");
  EXPECT_EQ(log_.Count(Phase::kTry), 1);
}

TEST_F(ParticipantServiceTest, ConfirmAndCancelAreIdempotent) {
  ASSERT_TRUE(Call(Phase::kTry, Request("g1", "a")).ok());
  EXPECT_TRUE(Call(Phase::kConfirm, Request("g1", "a")).ok());
  EXPECT_TRUE(Call(Phase::kConfirm, Request("g1", "a")).ok());
  EXPECT_EQ(log_.Count(Phase::kConfirm), 1);

  ASSERT_TRUE(Call(Phase::kTry, Request("g2", "a")).ok());
  EXPECT_TRUE(Call(Phase::kCancel, Request("g2", "a")).ok());
  EXPECT_TRUE(Call(Phase::kCancel, Request("g2", "a")).ok());
  EXPECT_EQ(log_.Count(Phase::kCancel), 1);
}

TEST_F(ParticipantServiceTest, EmptyCancelIsOkAndLateTryIsAborted) {
  EXPECT_TRUE(Call(Phase::kCancel, Request("g1", "a")).ok());
  grpc::Status late = Call(Phase::kTry, Request("g1", "a"));
  EXPECT_EQ(late.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(late.error_message(), "try refused: branch already cancelled");
  EXPECT_EQ(log_.Count(Phase::kTry), 0);
  EXPECT_EQ(log_.Count(Phase::kCancel), 0);
}

TEST_F(ParticipantServiceTest, HandlerRefusalReachesTheCallerAsIs) {
  grpc::Status refused = Call(Phase::kTry, Request("g1", "refuse"));
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(refused.error_message(), "out of stock");
  // The coordinator's cancel of the refused Try finds nothing to undo.
  EXPECT_TRUE(Call(Phase::kCancel, Request("g1", "refuse")).ok());
  EXPECT_EQ(log_.Count(Phase::kCancel), 0);
}

TEST_F(ParticipantServiceTest, UnknownActionIsUnimplemented) {
  grpc::Status status = Call(Phase::kTry, Request("g1", "a", "teleport"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(ParticipantServiceTest, EmptyFieldsAreInvalidArgument) {
  tcc::v1::BranchRequest no_gid = Request("", "a");
  tcc::v1::BranchRequest no_branch = Request("g1", "a");
  no_branch.clear_branch_id();
  tcc::v1::BranchRequest no_action = Request("g1", "a", "");
  for (const auto& request : {no_gid, no_branch, no_action}) {
    EXPECT_EQ(Call(Phase::kTry, request).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT)
        << request.ShortDebugString();
  }
}

TEST_F(ParticipantServiceTest, MetadataReachesHandlerWithoutTransportKeys) {
  grpc::ClientContext context;
  context.AddMetadata("x-trace-id", "trace-7");
  ASSERT_TRUE(Call(Phase::kTry, Request("g1", "a"), nullptr, &context).ok());
  BranchCall seen = log_.Last();
  EXPECT_EQ(seen.gid, "g1");
  EXPECT_EQ(seen.branch_id, "1");
  EXPECT_EQ(seen.action, "reserve");
  EXPECT_EQ(seen.payload, "a");
  ASSERT_EQ(seen.metadata.size(), 1u);
  EXPECT_EQ(seen.metadata[0].first, "x-trace-id");
  EXPECT_EQ(seen.metadata[0].second, "trace-7");
}

TEST_F(ParticipantServiceTest, RegisterRejectsDuplicateAndIncompleteActions) {
  Handlers complete;
  complete.try_fn = complete.confirm_fn =
      complete.cancel_fn = [](const BranchCall&, rocksdb::Transaction&,
                              std::string*) { return absl::OkStatus(); };
  EXPECT_EQ(service_->Register("reserve", complete).code(),
            absl::StatusCode::kAlreadyExists);
  Handlers incomplete = complete;
  incomplete.cancel_fn = nullptr;
  EXPECT_EQ(service_->Register("other", incomplete).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->Register("", complete).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ParticipantServiceTest, ServerReportsServingToHealthChecks) {
  grpc::GenericStub generic(channel_);
  grpc::ClientContext context;
  // An empty HealthCheckRequest asks about the whole server.
  grpc::Slice empty(std::string{});
  grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  grpc::Status status;
  absl::Notification done;
  generic.UnaryCall(&context, "/grpc.health.v1.Health/Check",
                    grpc::StubOptions(), &request, &response,
                    [&](grpc::Status s) {
                      status = std::move(s);
                      done.Notify();
                    });
  done.WaitForNotification();
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  // HealthCheckResponse{status: SERVING}: field 1, varint 1.
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));
}

TEST_F(ParticipantServiceTest, BatchServesEachItemAsItsOwnCallWould) {
  ASSERT_TRUE(Call(Phase::kTry, Request("g1", "a")).ok());
  tcc::v1::BatchRequest batch;
  AddItem(&batch, tcc::v1::PHASE_CONFIRM, Request("g1", "a"));
  AddItem(&batch, tcc::v1::PHASE_CONFIRM, Request("g1", "a"));  // duplicate
  AddItem(&batch, tcc::v1::PHASE_CANCEL, Request("g2", "a"));   // empty
  AddItem(&batch, tcc::v1::PHASE_TRY, Request("g2", "a"));      // hanging
  AddItem(&batch, tcc::v1::PHASE_TRY, Request("g3", "b"));
  AddItem(&batch, tcc::v1::PHASE_TRY, Request("g4", "refuse"));
  AddItem(&batch, tcc::v1::PHASE_TRY, Request("g5", "a", "teleport"));
  AddItem(&batch, tcc::v1::PHASE_TRY, Request("", "a"));
  AddItem(&batch, tcc::v1::PHASE_UNSPECIFIED, Request("g6", "a"));
  tcc::v1::BatchResponse response;
  ASSERT_TRUE(CallBatch(batch, &response).ok());
  ASSERT_EQ(response.results_size(), batch.items_size());
  std::vector<int> codes;
  for (const auto& r : response.results()) codes.push_back(r.code());
  EXPECT_EQ(codes,
            (std::vector<int>{grpc::StatusCode::OK, grpc::StatusCode::OK,
                              grpc::StatusCode::OK, grpc::StatusCode::ABORTED,
                              grpc::StatusCode::OK, grpc::StatusCode::ABORTED,
                              grpc::StatusCode::UNIMPLEMENTED,
                              grpc::StatusCode::INVALID_ARGUMENT,
                              grpc::StatusCode::INVALID_ARGUMENT}));
  EXPECT_EQ(response.results(3).message(),
            "try refused: branch already cancelled");
  EXPECT_EQ(response.results(4).payload(), "reserved:b");
  EXPECT_EQ(response.results(5).message(), "out of stock");
  EXPECT_EQ(log_.Count(Phase::kConfirm), 1);
  EXPECT_EQ(log_.Count(Phase::kCancel), 0);
  EXPECT_EQ(log_.Count(Phase::kTry), 3);  // g1 alone, then g3 and g4
  EXPECT_EQ(Confirmed("g1"), "a");
}

TEST_F(ParticipantServiceTest, FailingBatchItemRollsBackOnlyItsOwnWrites) {
  ASSERT_TRUE(Call(Phase::kTry, Request("g1", "ok")).ok());
  ASSERT_TRUE(Call(Phase::kTry, Request("g2", "fail")).ok());
  tcc::v1::BatchRequest batch;
  AddItem(&batch, tcc::v1::PHASE_CONFIRM, Request("g1", "ok"));
  AddItem(&batch, tcc::v1::PHASE_CONFIRM, Request("g2", "fail"));
  tcc::v1::BatchResponse response;
  ASSERT_TRUE(CallBatch(batch, &response).ok());
  ASSERT_EQ(response.results_size(), 2);
  EXPECT_EQ(response.results(0).code(), grpc::StatusCode::OK);
  EXPECT_EQ(response.results(1).code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(response.results(1).message(), "disk full");
  EXPECT_EQ(Confirmed("g1"), "ok");
  EXPECT_EQ(Confirmed("g2"), "");
  auto phases = store_->RecordedPhases("g2", "1");
  ASSERT_TRUE(phases.ok()) << phases.status();
  EXPECT_EQ(*phases, std::vector<Phase>{Phase::kTry});
  // The retried Confirm runs the handler again, on its own this time.
  EXPECT_EQ(Call(Phase::kConfirm, Request("g2", "fail")).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(log_.Count(Phase::kConfirm), 3);
}

TEST_F(ParticipantServiceTest, BatchItemMetadataReachesTheHandler) {
  tcc::v1::BatchRequest batch;
  AddItem(&batch, tcc::v1::PHASE_TRY, Request("g1", "a"));
  (*batch.mutable_items(0)->mutable_metadata())["x-trace-id"] = "trace-9";
  tcc::v1::BatchResponse response;
  ASSERT_TRUE(CallBatch(batch, &response).ok());
  ASSERT_EQ(response.results_size(), 1);
  EXPECT_EQ(response.results(0).code(), grpc::StatusCode::OK);
  BranchCall seen = log_.Last();
  EXPECT_EQ(seen.gid, "g1");
  ASSERT_EQ(seen.metadata.size(), 1u);
  EXPECT_EQ(seen.metadata[0].first, "x-trace-id");
  EXPECT_EQ(seen.metadata[0].second, "trace-9");
}

TEST_F(ParticipantServiceTest, SlowBatchItemDoesNotHoldUpTheOthers) {
  tcc::v1::BatchRequest batch;
  AddItem(&batch, tcc::v1::PHASE_TRY, Request("g1", "block"));
  AddItem(&batch, tcc::v1::PHASE_TRY, Request("g2", "a"));
  AddItem(&batch, tcc::v1::PHASE_TRY, Request("g3", "a"));
  grpc::ClientContext context;
  tcc::v1::BatchResponse response;
  grpc::Status status;
  absl::Notification done;
  stub_->async()->Batch(&context, &batch, &response, [&](grpc::Status s) {
    status = std::move(s);
    done.Notify();
  });
  // The executor's other thread serves g2 and g3 while g1 blocks.
  ASSERT_TRUE(log_.WaitForCount(Phase::kTry, 2));
  EXPECT_FALSE(done.HasBeenNotified());
  release_.Notify();
  done.WaitForNotification();
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.results_size(), 3);
  EXPECT_EQ(response.results(0).payload(), "reserved:block");
  EXPECT_EQ(response.results(2).payload(), "reserved:a");
}

TEST_F(ParticipantServiceTest, OversizedBatchIsRefusedWithoutServingAnyItem) {
  tcc::v1::BatchRequest batch;
  for (int i = 0; i <= internal::kMaxBatchItems; ++i) {
    AddItem(&batch, tcc::v1::PHASE_TRY, Request("g" + std::to_string(i), "a"));
  }
  tcc::v1::BatchResponse response;
  grpc::Status status = CallBatch(batch, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "batch of 1025 items; at most 1024 allowed");
  EXPECT_EQ(log_.Count(Phase::kTry), 0);
}

// With group commit a batch is answered once one sync covers every item.
class SyncedParticipantServiceTest : public ParticipantServiceTest {
 protected:
  void SetUp() override {
    sync_ = true;
    ParticipantServiceTest::SetUp();
  }
};

TEST_F(SyncedParticipantServiceTest, BatchIsAnsweredAfterItsItemsAreSynced) {
  tcc::v1::BatchRequest tries;
  tcc::v1::BatchRequest confirms;
  for (int i = 0; i < 50; ++i) {
    AddItem(&tries, tcc::v1::PHASE_TRY, Request("g" + std::to_string(i), "a"));
    AddItem(&confirms, tcc::v1::PHASE_CONFIRM,
            Request("g" + std::to_string(i), "a"));
  }
  tcc::v1::BatchResponse response;
  ASSERT_TRUE(CallBatch(tries, &response).ok());
  ASSERT_EQ(response.results_size(), 50);
  for (const auto& r : response.results()) {
    EXPECT_EQ(r.code(), grpc::StatusCode::OK);
    EXPECT_EQ(r.payload(), "reserved:a");
  }
  response.Clear();
  ASSERT_TRUE(CallBatch(confirms, &response).ok());
  ASSERT_EQ(response.results_size(), 50);
  for (const auto& r : response.results()) {
    EXPECT_EQ(r.code(), grpc::StatusCode::OK);
  }
  EXPECT_EQ(log_.Count(Phase::kConfirm), 50);
  EXPECT_EQ(Confirmed("g49"), "a");
}

TEST(ParticipantServerTest, ReportsBoundPortAndRejectsBadAddress) {
  auto server = ParticipantServer::Start({}, {});
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_GT((*server)->port(), 0);
  EXPECT_EQ((*server)->address(),
            "127.0.0.1:" + std::to_string((*server)->port()));
  (*server)->Shutdown();
  (*server)->Shutdown();  // Idempotent.

  ParticipantServerOptions bad;
  bad.listen_address = "256.1.1.1:1";
  EXPECT_EQ(ParticipantServer::Start(bad, {}).status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace tcc::participant
