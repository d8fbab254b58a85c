// Real tccd and two bank_server processes on loopback. Concurrent transfers
// (some refused), tccd killed with SIGKILL in the middle and restarted, a
// bank killed and restarted, tccd stopped with SIGTERM: every transaction
// ends, each branch's effect is applied exactly once, money is conserved and
// nothing stays frozen.

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bank.pb.h"
#include "gtest/gtest.h"
#include "support/bank_cluster.h"
#include "transfer.h"

namespace tcc::testing {
namespace {

using examples::bank::AccountRef;
using examples::bank::MakeTransferRequest;

struct Submitted {
  std::string gid;
  AccountRef from, to;
  int64_t amount = 0;
  bool told = false;  // the client received an outcome
  v1::Outcome outcome = v1::OUTCOME_UNSPECIFIED;
};

const std::vector<AccountRef>& AllAccounts() {
  static const auto* accounts = new std::vector<AccountRef>{{"bank-a", "alice"},
                                                            {"bank-a", "carol"},
                                                            {"bank-b", "bob"},
                                                            {"bank-b", "dave"}};
  return *accounts;
}

// Sends transfers from `clients` threads. Each transfer is re-sent with the
// same gid until the coordinator answers (it is down at times), which also
// exercises idempotent resubmission across crashes.
class TransferLoad {
 public:
  TransferLoad(BankCluster* cluster, int clients, int per_client, uint32_t seed)
      : cluster_(cluster),
        clients_(clients),
        per_client_(per_client),
        seed_(seed) {}

  void Run() {
    std::vector<std::thread> threads;
    for (int c = 0; c < clients_; ++c) {
      threads.emplace_back([this, c] { Client(c); });
    }
    for (auto& t : threads) t.join();
  }
  int completed() const { return completed_.load(); }
  std::vector<Submitted> results() {
    std::lock_guard<std::mutex> lock(mu_);
    return results_;
  }

 private:
  void Client(int c) {
    std::mt19937 rng(seed_ + c);
    for (int i = 0; i < per_client_; ++i) {
      Submitted s;
      s.gid = absl::StrCat("s", seed_, "-c", c, "-", i);
      const auto& all = AllAccounts();
      int from = rng() % all.size();
      int to = (from + 1 + rng() % (all.size() - 1)) % all.size();
      s.from = all[from];
      s.to = all[to];
      // Mostly affordable amounts, sometimes more than any account holds.
      s.amount = rng() % 10 == 0 ? 50000 : 1 + rng() % 900;
      v1::ExecuteRequest request =
          MakeTransferRequest(s.gid, s.from, s.to, s.amount);
      for (int attempt = 0; attempt < 600; ++attempt) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(10));
        v1::ExecuteResponse response;
        grpc::Status st =
            cluster_->coordinator()->Execute(&context, request, &response);
        if (st.ok()) {
          s.told = true;
          s.outcome = response.outcome();
          break;
        }
        ASSERT_TRUE(st.error_code() == grpc::StatusCode::UNAVAILABLE ||
                    st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
                    st.error_code() == grpc::StatusCode::CANCELLED)
            << s.gid << ": " << st.error_message();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        results_.push_back(s);
      }
      completed_.fetch_add(1);
    }
  }

  BankCluster* cluster_;
  const int clients_, per_client_;
  const uint32_t seed_;
  std::atomic<int> completed_{0};
  std::mutex mu_;
  std::vector<Submitted> results_;
};

// Checks the end state against what the coordinator says happened: every
// transaction final, the outcome the client was told equals the final one,
// and each account moved by exactly the committed transfers.
void ExpectConsistent(BankCluster& cluster,
                      const std::vector<Submitted>& submitted,
                      const std::map<std::string, int64_t>& initial) {
  std::vector<std::string> gids;
  for (const auto& s : submitted) gids.push_back(s.gid);
  auto final_txns = cluster.WaitAllFinal(gids);
  ASSERT_TRUE(final_txns.ok()) << final_txns.status();

  std::map<std::string, int64_t> expected = initial;
  int committed = 0, rolled_back = 0;
  for (const auto& s : submitted) {
    const v1::Transaction& t = final_txns->at(s.gid);
    if (s.told) {
      EXPECT_EQ(s.outcome, t.outcome()) << s.gid;
    }
    if (t.state() == v1::CONFIRMED) {
      ++committed;
      expected[s.from.participant + "/" + s.from.account] -= s.amount;
      expected[s.to.participant + "/" + s.to.account] += s.amount;
    } else {
      ++rolled_back;
    }
  }
  EXPECT_GT(committed, 0);
  EXPECT_GT(rolled_back, 0);  // at least the unaffordable ones

  int64_t total = 0, total_initial = 0;
  for (const auto& [k, v] : initial) total_initial += v;
  for (const char* bank : {"bank-a", "bank-b"}) {
    auto accounts = cluster.Accounts(bank);
    ASSERT_TRUE(accounts.ok()) << accounts.status();
    for (const auto& [name, a] : *accounts) {
      std::string key = std::string(bank) + "/" + name;
      EXPECT_EQ(a.balance(), expected[key]) << key;
      EXPECT_EQ(a.frozen(), 0) << key;
      EXPECT_EQ(a.incoming(), 0) << key;
      total += a.balance();
    }
  }
  EXPECT_EQ(total, total_initial);
}

std::map<std::string, int64_t> InitialBalances() {
  return {{"bank-a/alice", 5000},
          {"bank-a/carol", 5000},
          {"bank-b/bob", 5000},
          {"bank-b/dave", 5000}};
}

// How tccd calls the banks: batching as configured by default; every call
// that finds one in flight queued into a batch; no batching at all.
class BankTransferBatchingTest : public ::testing::TestWithParam<const char*> {
};

INSTANTIATE_TEST_SUITE_P(Batching, BankTransferBatchingTest,
                         ::testing::Values("", "batch { max_in_flight: 1 }",
                                           "batch { disabled: true }"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           return std::string(info.index == 0   ? "Default"
                                              : info.index == 1 ? "OneInFlight"
                                                                : "Unbatched");
                         });

TEST_P(BankTransferBatchingTest, TransfersEndConsistentAcrossCoordinatorKill9) {
  BankCluster::Options options;
  options.bank_config_fields = GetParam();
  BankCluster cluster(options);
  ASSERT_TRUE(cluster.Start().ok());
  TransferLoad load(&cluster, /*clients=*/8, /*per_client=*/40, /*seed=*/1);
  std::thread chaos([&] {
    // Kill tccd twice while transfers are in flight.
    for (int round = 1; round <= 2; ++round) {
      while (load.completed() < round * 100) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      cluster.KillTccd();
      ASSERT_TRUE(cluster.StartTccd().ok());
    }
  });
  load.Run();
  chaos.join();
  ExpectConsistent(cluster, load.results(), InitialBalances());
}

TEST(BankTransferTest, TransfersEndConsistentWhenABankIsKilled) {
  BankCluster cluster({});
  ASSERT_TRUE(cluster.Start().ok());
  TransferLoad load(&cluster, /*clients=*/8, /*per_client=*/30, /*seed=*/2);
  std::thread chaos([&] {
    while (load.completed() < 60) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    cluster.KillBank("bank-b");
    // While bank-b is down its Tries fail (rollback) and its Confirms and
    // Cancels are retried with backoff.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    ASSERT_TRUE(cluster.StartBank("bank-b").ok());
  });
  load.Run();
  chaos.join();
  ExpectConsistent(cluster, load.results(), InitialBalances());
}

TEST(BankTransferTest, SigtermStopsCleanlyAndRestartFinishesEverything) {
  BankCluster cluster({});
  ASSERT_TRUE(cluster.Start().ok());
  TransferLoad load(&cluster, /*clients=*/8, /*per_client=*/25, /*seed=*/3);
  std::thread chaos([&] {
    while (load.completed() < 80) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    int status = cluster.TerminateTccd();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "tccd did not exit cleanly on SIGTERM: " << status;
    ASSERT_TRUE(cluster.StartTccd().ok());
  });
  load.Run();
  chaos.join();
  ExpectConsistent(cluster, load.results(), InitialBalances());
}

}  // namespace
}  // namespace tcc::testing
