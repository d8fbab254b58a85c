// The order example as real processes: tccd plus inventory, orders and
// payment services. Sagas fail at each position and compensations are
// checked, from the services' own journals, to run in strict reverse order;
// tccd is killed between steps and the saga resumes at the right step.

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "order.grpc.pb.h"
#include "shop_requests.h"
#include "support/cluster.h"

namespace tcc::testing {
namespace {

using examples::order::InspectRequest;
using examples::order::InspectResponse;
using examples::order::JournalEntry;
using examples::order::Purchase;
using examples::order::SagaPurchase;

std::vector<Cluster::Participant> ShopParticipants() {
  std::vector<Cluster::Participant> out;
  for (const char* role : {"inventory", "orders", "payment"}) {
    out.push_back(
        {role,
         {TCC_SHOP_SERVER_PATH, std::string("--role=") + role,
          "--stock=widget:10,gadget:2", "--wallets=alice:100,bob:20"}});
  }
  return out;
}

class OrderSagaTest : public ::testing::Test {
 protected:
  OrderSagaTest() : cluster_(ShopParticipants()) {}
  void SetUp() override { ASSERT_TRUE(cluster_.Start().ok()); }

  InspectResponse Inspect(const std::string& service) {
    auto stub = examples::order::Shop::NewStub(
        grpc::CreateChannel(cluster_.ParticipantAddress(service),
                            grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(10));
    InspectResponse r;
    EXPECT_TRUE(stub->Inspect(&ctx, InspectRequest(), &r).ok());
    return r;
  }

  // "try:1", "cancel:2", ...: what the services applied for `gid`, in the
  // order they applied it (CLOCK_MONOTONIC is shared by the processes, and a
  // step is only sent after the previous one answered).
  std::vector<std::string> Journal(const std::string& gid) {
    std::vector<JournalEntry> all;
    for (const char* s : {"inventory", "orders", "payment"}) {
      InspectResponse r = Inspect(s);
      for (const auto& e : r.journal()) {
        if (e.gid() == gid) all.push_back(e);
      }
    }
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
      return a.monotonic_ns() < b.monotonic_ns();
    });
    std::vector<std::string> out;
    for (const auto& e : all) out.push_back(e.phase() + ":" + e.branch_id());
    return out;
  }

  v1::SagaResponse RunSaga(const std::string& gid, const Purchase& p) {
    v1::SagaResponse r;
    EXPECT_TRUE(WaitFor([&] {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
      return cluster_.coordinator()->Saga(&ctx, SagaPurchase(gid, p), &r).ok();
    }));
    return r;
  }

  // Stock and money are conserved whatever happened.
  void ExpectConserved() {
    int64_t widgets = 0, gadgets = 0;
    const InspectResponse inventory = Inspect("inventory");
    for (const auto& s : inventory.stock()) {
      int64_t total = s.available() + s.reserved() + s.sold();
      (s.sku() == "widget" ? widgets : gadgets) = total;
      EXPECT_EQ(s.reserved(), 0) << s.sku();
    }
    EXPECT_EQ(widgets, 10);
    EXPECT_EQ(gadgets, 2);
    const InspectResponse payment = Inspect("payment");
    for (const auto& w : payment.wallets()) {
      EXPECT_EQ(w.frozen(), 0) << w.name();
    }
  }

  Cluster cluster_;
};

TEST_F(OrderSagaTest, SucceedsStepByStepInOrder) {
  v1::SagaResponse r = RunSaga("ok", {"o-ok", "alice", "widget", 2, 30});
  EXPECT_EQ(r.outcome(), v1::COMMITTED);
  EXPECT_EQ(Journal("ok"),
            (std::vector<std::string>{"try:1", "try:2", "try:3"}));
  ExpectConserved();
}

TEST_F(OrderSagaTest, FailureAtEachStepCompensatesInStrictReverseOrder) {
  // Step 1 (orders) refuses a duplicate order id.
  ASSERT_EQ(RunSaga("first", {"o-dup", "alice", "widget", 1, 5}).outcome(),
            v1::COMMITTED);
  v1::SagaResponse r1 = RunSaga("fail1", {"o-dup", "alice", "widget", 1, 5});
  EXPECT_EQ(r1.outcome(), v1::ROLLED_BACK);
  // Step 2 (payment): bob cannot pay.
  v1::SagaResponse r2 = RunSaga("fail2", {"o-2", "bob", "widget", 1, 50});
  EXPECT_EQ(r2.outcome(), v1::ROLLED_BACK);
  // Step 3 (inventory): not enough gadgets.
  v1::SagaResponse r3 = RunSaga("fail3", {"o-3", "alice", "gadget", 5, 10});
  EXPECT_EQ(r3.outcome(), v1::ROLLED_BACK);

  auto final_txns = cluster_.WaitAllFinal({"fail1", "fail2", "fail3"});
  ASSERT_TRUE(final_txns.ok()) << final_txns.status();
  for (const auto& [gid, t] : *final_txns) {
    EXPECT_EQ(t.state(), v1::COMPENSATED) << gid;
  }
  // A refused step applied nothing, so its compensation is empty (nothing
  // journaled); every step before it is undone, last first.
  EXPECT_EQ(Journal("fail1"), (std::vector<std::string>{}));
  EXPECT_EQ(Journal("fail2"), (std::vector<std::string>{"try:1", "cancel:1"}));
  EXPECT_EQ(Journal("fail3"), (std::vector<std::string>{
                                  "try:1", "try:2", "cancel:2", "cancel:1"}));
  const InspectResponse payment = Inspect("payment");
  for (const auto& w : payment.wallets()) {
    const int64_t expected = w.name() == "alice" ? 95 : 20;  // only "first"
    EXPECT_EQ(w.balance(), expected) << w.name();
  }
  const InspectResponse orders = Inspect("orders");
  for (const auto& o : orders.orders()) {
    EXPECT_EQ(o.state(), o.order_id() == "o-dup" ? "PLACED" : "CANCELLED")
        << o.order_id();
  }
  ExpectConserved();
}

struct CrashCase {
  const char* point;
  bool fails;  // the saga fails at step 3 and compensates
};

class OrderSagaCrashTest : public OrderSagaTest,
                           public ::testing::WithParamInterface<CrashCase> {};

TEST_P(OrderSagaCrashTest, ResumesAtTheRightStepAfterKill9) {
  const CrashCase& c = GetParam();
  cluster_.KillTccd();
  ASSERT_TRUE(
      cluster_.StartTccd({absl::StrCat("TCC_CRASH_AT=", c.point)}).ok());
  Purchase p = c.fails ? Purchase{"o-c", "alice", "gadget", 5, 10}
                       : Purchase{"o-c", "alice", "widget", 2, 30};
  {
    grpc::ClientContext ctx;
    // The channel may still be backing off from the previous tccd.
    ctx.set_wait_for_ready(true);
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(10));
    v1::SagaResponse ignored;
    cluster_.coordinator()->Saga(&ctx, SagaPurchase("c", p), &ignored).ok();
  }
  int wait_status = 0;
  ASSERT_TRUE(WaitFor([&] { return cluster_.tccd().Exited(&wait_status); }))
      << "tccd did not crash at " << c.point;
  ASSERT_TRUE(WIFSIGNALED(wait_status));
  ASSERT_TRUE(cluster_.StartTccd().ok());
  v1::SagaResponse r = RunSaga("c", p);
  auto final_txns = cluster_.WaitAllFinal({"c"});
  ASSERT_TRUE(final_txns.ok()) << final_txns.status();
  const v1::Transaction& t = final_txns->at("c");
  EXPECT_EQ(r.outcome(), t.outcome());
  if (c.fails) {
    EXPECT_EQ(t.state(), v1::COMPENSATED);
    EXPECT_EQ(Journal("c"), (std::vector<std::string>{"try:1", "try:2",
                                                      "cancel:2", "cancel:1"}));
  } else if (t.state() == v1::SUCCEEDED) {
    EXPECT_EQ(Journal("c"),
              (std::vector<std::string>{"try:1", "try:2", "try:3"}));
  } else {
    // Crashed before the saga was recorded and timed out since: nothing ran,
    // or what ran was undone in reverse.
    EXPECT_EQ(t.state(), v1::COMPENSATED);
  }
  ExpectConserved();
}

INSTANTIATE_TEST_SUITE_P(
    BetweenSteps, OrderSagaCrashTest,
    ::testing::Values(CrashCase{"after_create_write", false},
                      CrashCase{"after_try_sent", false},
                      CrashCase{"after_try_sent@2", false},
                      CrashCase{"after_try_sent@3", false},
                      CrashCase{"after_decision_write", false},
                      CrashCase{"after_try_sent@3", true},
                      CrashCase{"before_decision_write", true},
                      CrashCase{"after_decision_write", true},
                      CrashCase{"after_phase_two_sent", true},
                      CrashCase{"after_phase_two_sent@2", true}),
    [](const ::testing::TestParamInfo<CrashCase>& info) {
      std::string name = info.param.point;
      for (char& ch : name) {
        if (ch == '@') ch = '_';
      }
      return name + (info.param.fails ? "_Failing" : "_Succeeding");
    });

}  // namespace
}  // namespace tcc::testing
