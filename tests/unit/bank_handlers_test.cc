#include "bank_handlers.h"

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "support/scoped_temp_dir.h"

namespace tcc::examples::bank {
namespace {

using participant::BarrierResult;
using participant::BranchCall;
using participant::Phase;
using participant::RocksDbBarrierStore;

// One bank holding every account; transfers are driven through the barrier
// store exactly as the participant service would.
class BankHandlersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    participant::RocksDbBarrierStoreOptions options;
    options.path = dir_.Child("bank");
    options.sync = false;
    auto store = RocksDbBarrierStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    handlers_["debit"] = DebitHandlers();
    handlers_["credit"] = CreditHandlers();
    for (const auto& [name, balance] :
         {std::pair<std::string, int64_t>{"alice", 1000}, {"bob", 500}}) {
      ASSERT_TRUE(CreateAccountIfAbsent(store_->db(), name, balance).value());
    }
  }

  static std::string Leg(const std::string& account, int64_t amount) {
    TransferLeg leg;
    leg.set_account(account);
    leg.set_amount(amount);
    return leg.SerializeAsString();
  }

  absl::StatusOr<BarrierResult> Apply(const std::string& gid,
                                      const std::string& branch_id,
                                      const std::string& action, Phase phase,
                                      const std::string& payload) {
    BranchCall call;
    call.gid = gid;
    call.branch_id = branch_id;
    call.action = action;
    call.payload = payload;
    const BankHandlers& h = handlers_.at(action);
    const BankHandlers::Handler& fn = phase == Phase::kTry       ? h.try_fn
                                      : phase == Phase::kConfirm ? h.confirm_fn
                                                                 : h.cancel_fn;
    return store_->Run(
        call, phase,
        [&](rocksdb::Transaction& txn, std::string* reply) {
          return fn(call, txn, reply);
        },
        nullptr);
  }

  // A whole transfer as the coordinator runs it: both Tries, then Confirm
  // both or Cancel both. Returns the first Try failure, if any.
  absl::Status Transfer(const std::string& gid, const std::string& from,
                        const std::string& to, int64_t amount) {
    const std::string debit = Leg(from, amount);
    const std::string credit = Leg(to, amount);
    absl::Status tried = Apply(gid, "1", "debit", Phase::kTry, debit).status();
    if (tried.ok()) {
      tried = Apply(gid, "2", "credit", Phase::kTry, credit).status();
    }
    const Phase second = tried.ok() ? Phase::kConfirm : Phase::kCancel;
    EXPECT_TRUE(Apply(gid, "1", "debit", second, debit).ok());
    EXPECT_TRUE(Apply(gid, "2", "credit", second, credit).ok());
    return tried;
  }

  std::map<std::string, Account> Accounts() {
    std::map<std::string, Account> by_name;
    absl::StatusOr<std::vector<Account>> accounts = ListAccounts(store_->db());
    EXPECT_TRUE(accounts.ok()) << accounts.status();
    if (accounts.ok()) {
      for (const Account& a : *accounts) by_name[a.name()] = a;
    }
    return by_name;
  }

  int64_t TotalBalance() {
    int64_t total = 0;
    for (const auto& [name, account] : Accounts()) total += account.balance();
    return total;
  }

  void ExpectNothingPending() {
    for (const auto& [name, account] : Accounts()) {
      EXPECT_EQ(account.frozen(), 0) << name;
      EXPECT_EQ(account.incoming(), 0) << name;
    }
  }

  testing::ScopedTempDir dir_;
  std::unique_ptr<RocksDbBarrierStore> store_;
  std::map<std::string, BankHandlers> handlers_;
};

TEST_F(BankHandlersTest, ConfirmedTransferMovesMoney) {
  ASSERT_TRUE(Transfer("t1", "alice", "bob", 300).ok());
  std::map<std::string, Account> accounts = Accounts();
  EXPECT_EQ(accounts["alice"].balance(), 700);
  EXPECT_EQ(accounts["bob"].balance(), 800);
  ExpectNothingPending();
}

TEST_F(BankHandlersTest, TransfersConserveMoney) {
  EXPECT_TRUE(Transfer("t1", "alice", "bob", 250).ok());
  EXPECT_TRUE(Transfer("t2", "bob", "alice", 700).ok());
  EXPECT_FALSE(Transfer("t3", "bob", "alice", 5000).ok());
  EXPECT_FALSE(Transfer("t4", "alice", "nobody", 10).ok());
  EXPECT_TRUE(Transfer("t5", "alice", "bob", 1000).ok());
  EXPECT_EQ(TotalBalance(), 1500);
  ExpectNothingPending();
}

TEST_F(BankHandlersTest, ConcurrentTransfersConserveMoney) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < 25; ++i) {
        const bool forward = (i + t) % 2 == 0;
        // Some fail for lack of funds; all must end confirmed or cancelled.
        (void)Transfer("t" + std::to_string(t) + "-" + std::to_string(i),
                       forward ? "alice" : "bob", forward ? "bob" : "alice",
                       100 + 37 * t);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(TotalBalance(), 1500);
  ExpectNothingPending();
}

TEST_F(BankHandlersTest, RefusedDebitLeavesNothingFrozen) {
  absl::StatusOr<BarrierResult> refused =
      Apply("t1", "1", "debit", Phase::kTry, Leg("alice", 1500));
  EXPECT_EQ(refused.status(),
            absl::AbortedError(
                "insufficient funds: account alice has 1000 available, "
                "needs 1500"));
  EXPECT_EQ(Accounts()["alice"].frozen(), 0);
  // The coordinator's Cancel of the refused Try changes nothing.
  EXPECT_EQ(
      Apply("t1", "1", "debit", Phase::kCancel, Leg("alice", 1500)).value(),
      BarrierResult::kEmptyCancel);
  EXPECT_EQ(Accounts()["alice"].balance(), 1000);
  ExpectNothingPending();
}

TEST_F(BankHandlersTest, FrozenMoneyCannotBeDebitedTwice) {
  ASSERT_TRUE(Apply("t1", "1", "debit", Phase::kTry, Leg("alice", 600)).ok());
  EXPECT_EQ(
      Apply("t2", "1", "debit", Phase::kTry, Leg("alice", 600)).status().code(),
      absl::StatusCode::kAborted);
  EXPECT_EQ(Accounts()["alice"].frozen(), 600);
}

TEST_F(BankHandlersTest, CancelReleasesReservations) {
  ASSERT_TRUE(Apply("t1", "1", "debit", Phase::kTry, Leg("alice", 300)).ok());
  ASSERT_TRUE(Apply("t1", "2", "credit", Phase::kTry, Leg("bob", 300)).ok());
  std::map<std::string, Account> pending = Accounts();
  EXPECT_EQ(pending["alice"].frozen(), 300);
  EXPECT_EQ(pending["bob"].incoming(), 300);
  EXPECT_EQ(pending["bob"].balance(), 500);  // Incoming is not spendable.

  ASSERT_TRUE(
      Apply("t1", "1", "debit", Phase::kCancel, Leg("alice", 300)).ok());
  ASSERT_TRUE(Apply("t1", "2", "credit", Phase::kCancel, Leg("bob", 300)).ok());
  std::map<std::string, Account> after = Accounts();
  EXPECT_EQ(after["alice"].balance(), 1000);
  EXPECT_EQ(after["bob"].balance(), 500);
  ExpectNothingPending();
}

TEST_F(BankHandlersTest, DuplicateConfirmDoesNotMoveMoneyTwice) {
  ASSERT_TRUE(Transfer("t1", "alice", "bob", 100).ok());
  EXPECT_EQ(
      Apply("t1", "1", "debit", Phase::kConfirm, Leg("alice", 100)).value(),
      BarrierResult::kDuplicate);
  EXPECT_EQ(
      Apply("t1", "2", "credit", Phase::kConfirm, Leg("bob", 100)).value(),
      BarrierResult::kDuplicate);
  EXPECT_EQ(Accounts()["alice"].balance(), 900);
  EXPECT_EQ(Accounts()["bob"].balance(), 600);
}

TEST_F(BankHandlersTest, UnknownAccountRefusesTry) {
  EXPECT_EQ(Apply("t1", "1", "debit", Phase::kTry, Leg("mallory", 1)).status(),
            absl::AbortedError("unknown account mallory"));
  EXPECT_EQ(Apply("t1", "2", "credit", Phase::kTry, Leg("mallory", 1))
                .status()
                .code(),
            absl::StatusCode::kAborted);
}

TEST_F(BankHandlersTest, BadPayloadsAreInvalidArgument) {
  int branch = 0;
  for (const std::string& payload :
       {Leg("alice", 0), Leg("alice", -5), Leg("", 10),
        std::string("\xff\xff not a proto")}) {
    const std::string id = std::to_string(++branch);
    EXPECT_EQ(Apply("t1", id, "debit", Phase::kTry, payload).status().code(),
              absl::StatusCode::kInvalidArgument);
    // The barrier only lets a Confirm reach its handler after a Try.
    ASSERT_TRUE(Apply("t2", id, "debit", Phase::kTry, Leg("alice", 1)).ok());
    EXPECT_EQ(
        Apply("t2", id, "debit", Phase::kConfirm, payload).status().code(),
        absl::StatusCode::kInvalidArgument);
    ASSERT_TRUE(Apply("t2", id, "debit", Phase::kCancel, Leg("alice", 1)).ok());
  }
  ExpectNothingPending();
  EXPECT_EQ(TotalBalance(), 1500);
}

TEST_F(BankHandlersTest, CreateAccountKeepsExistingBalance) {
  EXPECT_FALSE(CreateAccountIfAbsent(store_->db(), "alice", 5).value());
  EXPECT_EQ(Accounts()["alice"].balance(), 1000);
  EXPECT_EQ(CreateAccountIfAbsent(store_->db(), "", 5).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ParseAccountListTest, ParsesNameBalancePairs) {
  auto accounts = ParseAccountList("alice:1000,bob:0,");
  ASSERT_TRUE(accounts.ok()) << accounts.status();
  ASSERT_EQ(accounts->size(), 2u);
  EXPECT_EQ((*accounts)[0],
            std::make_pair(std::string("alice"), int64_t{1000}));
  EXPECT_EQ((*accounts)[1], std::make_pair(std::string("bob"), int64_t{0}));
  EXPECT_TRUE(ParseAccountList("").value().empty());
  for (const char* bad :
       {"alice", "alice:", ":5", "alice:-1", "a:1:2", "alice:lots"}) {
    EXPECT_EQ(ParseAccountList(bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

}  // namespace
}  // namespace tcc::examples::bank
