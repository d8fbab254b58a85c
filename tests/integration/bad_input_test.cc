// Bad input over the wire, against a real tccd: every mistake gets a clear
// status and message, and nothing is recorded or called.

#include <string>

#include "gtest/gtest.h"
#include "support/bank_cluster.h"
#include "transfer.h"

namespace tcc::testing {
namespace {

using examples::bank::AccountRef;
using examples::bank::MakeTransferRequest;

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(cluster_.Start().ok()); }

  grpc::Status Execute(const v1::ExecuteRequest& request) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(10));
    ctx.set_wait_for_ready(true);
    v1::ExecuteResponse response;
    return cluster_.coordinator()->Execute(&ctx, request, &response);
  }
  grpc::Status Get(const std::string& gid) {
    grpc::ClientContext ctx;
    v1::GetRequest request;
    request.set_gid(gid);
    v1::GetResponse response;
    return cluster_.coordinator()->Get(&ctx, request, &response);
  }
  v1::ExecuteRequest Transfer(const std::string& gid) {
    return MakeTransferRequest(gid, AccountRef{"bank-a", "alice"},
                               AccountRef{"bank-b", "bob"}, 10);
  }

  BankCluster cluster_{{}};
};

TEST_F(BadInputTest, MalformedRequestsAreInvalidArgumentWithTheFieldNamed) {
  v1::ExecuteRequest empty;
  grpc::Status s = Execute(empty);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("branches"), std::string::npos);

  s = Execute(Transfer("has spaces"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("gid"), std::string::npos);

  v1::ExecuteRequest big = Transfer("big-payload");
  big.mutable_branches(0)->set_payload(std::string(100 << 10, 'x'));
  s = Execute(big);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("payload"), std::string::npos);

  v1::ExecuteRequest no_action = Transfer("no-action");
  no_action.mutable_branches(1)->clear_action();
  s = Execute(no_action);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("branches[1].action"), std::string::npos);

  for (const char* gid : {"has spaces", "big-payload", "no-action"}) {
    EXPECT_NE(Get(gid).error_code(), grpc::StatusCode::OK) << gid;
  }
}

TEST_F(BadInputTest, OversizedMessageIsResourceExhausted) {
  v1::ExecuteRequest huge = Transfer("huge");
  for (int i = 0; i < 10; ++i) {
    (*huge.mutable_metadata())["k" + std::to_string(i)] =
        std::string(1 << 20, 'v');
  }
  grpc::Status s = Execute(huge);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << s.error_message();
  EXPECT_EQ(Get("huge").error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(BadInputTest, UnknownParticipantIsNotFoundAndNothingIsDialed) {
  v1::ExecuteRequest r = Transfer("unknown-participant");
  // An address instead of a configured name: never dialed.
  r.mutable_branches(1)->set_participant("127.0.0.1:1");
  grpc::Status s = Execute(r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(s.error_message().find("not a configured participant"),
            std::string::npos);
  EXPECT_EQ(Get("unknown-participant").error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(BadInputTest, UnknownGidIsNotFound) {
  grpc::Status s = Get("never-seen");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(s.error_message().find("never-seen"), std::string::npos);
  grpc::ClientContext ctx;
  v1::CommitRequest commit;
  commit.set_gid("never-seen");
  v1::CommitResponse response;
  EXPECT_EQ(
      cluster_.coordinator()->Commit(&ctx, commit, &response).error_code(),
      grpc::StatusCode::NOT_FOUND);
}

TEST_F(BadInputTest, ReusedGidWithDifferentContentIsAlreadyExists) {
  ASSERT_TRUE(Execute(Transfer("reused")).ok());
  v1::ExecuteRequest other = MakeTransferRequest(
      "reused", AccountRef{"bank-a", "alice"}, AccountRef{"bank-b", "bob"}, 99);
  grpc::Status s = Execute(other);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  // The same content again is fine and returns the stored outcome.
  EXPECT_TRUE(Execute(Transfer("reused")).ok());
}

TEST_F(BadInputTest, BadListArgumentsAreInvalidArgument) {
  grpc::ClientContext ctx;
  v1::ListRequest r;
  r.set_page_size(5000);
  v1::ListResponse response;
  EXPECT_EQ(cluster_.coordinator()->List(&ctx, r, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  grpc::ClientContext ctx2;
  v1::ListRequest r2;
  r2.add_states(static_cast<v1::TransactionState>(42));
  EXPECT_EQ(cluster_.coordinator()->List(&ctx2, r2, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace tcc::testing
