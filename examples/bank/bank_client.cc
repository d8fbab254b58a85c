// bank_client: submits transfers to tccd and shows the banks' balances.
//
//   bank_client --coordinator=127.0.0.1:7000
//       --banks=bank-a=127.0.0.1:7001,bank-b=127.0.0.1:7002 --demo
//   bank_client ... --from=bank-a:alice --to=bank-b:bob --amount=100
//
// --banks maps participant names to the banks' own addresses; it is only used
// to read balances (Bank.ListAccounts). Transfers go through the coordinator.

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bank.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "tcc/v1/coordinator.grpc.pb.h"
#include "transfer.h"

ABSL_FLAG(std::string, coordinator, "127.0.0.1:7000", "tccd address.");
ABSL_FLAG(std::string, banks, "",
          "Comma-separated participant=address pairs, to read balances.");
ABSL_FLAG(bool, demo, false, "Run the demo scenario.");
ABSL_FLAG(std::string, from, "", "Source, participant:account.");
ABSL_FLAG(std::string, to, "", "Destination, participant:account.");
ABSL_FLAG(int64_t, amount, 0, "Amount to transfer.");
ABSL_FLAG(std::string, gid, "", "Transaction id (generated if empty).");

namespace {

using tcc::examples::bank::AccountRef;
using tcc::examples::bank::MakeTransferRequest;

const char* OutcomeName(tcc::v1::Outcome o) {
  switch (o) {
    case tcc::v1::COMMITTED:
      return "COMMITTED";
    case tcc::v1::ROLLED_BACK:
      return "ROLLED BACK";
    default:
      return "PENDING";
  }
}

class DemoClient {
 public:
  DemoClient(const std::string& coordinator,
             const std::map<std::string, std::string>& banks) {
    coordinator_ = tcc::v1::Coordinator::NewStub(
        grpc::CreateChannel(coordinator, grpc::InsecureChannelCredentials()));
    for (const auto& [name, address] : banks) {
      banks_[name] = tcc::examples::bank::Bank::NewStub(
          grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    }
  }

  // Submits one transfer and prints its outcome. Returns false on an RPC
  // error (the outcome is then unknown; re-send with the same gid).
  bool Transfer(const std::string& gid, const AccountRef& from,
                const AccountRef& to, int64_t amount,
                const std::map<std::string, std::string>& metadata = {}) {
    tcc::v1::ExecuteRequest request =
        MakeTransferRequest(gid, from, to, amount);
    for (const auto& [k, v] : metadata) (*request.mutable_metadata())[k] = v;
    tcc::v1::ExecuteResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    grpc::Status status = coordinator_->Execute(&context, request, &response);
    std::string what =
        absl::StrCat(from.participant, ":", from.account, " -> ",
                     to.participant, ":", to.account, " ", amount);
    if (!status.ok()) {
      std::printf("  %-34s  ERROR %d: %s\n", what.c_str(),
                  static_cast<int>(status.error_code()),
                  status.error_message().c_str());
      return false;
    }
    std::printf("  %-34s  %-11s gid=%s%s%s\n", what.c_str(),
                OutcomeName(response.outcome()), response.gid().c_str(),
                response.reason().empty() ? "" : "\n      reason: ",
                response.reason().c_str());
    return true;
  }

  // Waits until the coordinator reports `gid` final (Confirm/Cancel run
  // after Execute answers). Returns the final state name.
  std::string WaitFinal(const std::string& gid) {
    for (int i = 0; i < 1000; ++i) {
      tcc::v1::GetRequest request;
      request.set_gid(gid);
      tcc::v1::GetResponse response;
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::seconds(5));
      grpc::Status status = coordinator_->Get(&context, request, &response);
      if (status.ok()) {
        auto state = response.transaction().state();
        if (state == tcc::v1::CONFIRMED || state == tcc::v1::CANCELLED) {
          return tcc::v1::TransactionState_Name(state);
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return "NOT FINAL";
  }

  // Prints every account of every bank and returns the total money.
  int64_t PrintBalances() {
    int64_t total = 0;
    for (const auto& [name, stub] : banks_) {
      tcc::examples::bank::ListAccountsRequest request;
      tcc::examples::bank::ListAccountsResponse response;
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::seconds(10));
      grpc::Status status = stub->ListAccounts(&context, request, &response);
      if (!status.ok()) {
        std::printf("  %s: cannot read balances: %s\n", name.c_str(),
                    status.error_message().c_str());
        continue;
      }
      for (const auto& a : response.accounts()) {
        std::printf("  %-8s %-8s balance=%8lld frozen=%6lld incoming=%6lld\n",
                    name.c_str(), a.name().c_str(),
                    static_cast<long long>(a.balance()),
                    static_cast<long long>(a.frozen()),
                    static_cast<long long>(a.incoming()));
        total += a.balance();
      }
    }
    std::printf("  total money: %lld\n", static_cast<long long>(total));
    return total;
  }

 private:
  std::unique_ptr<tcc::v1::Coordinator::Stub> coordinator_;
  std::map<std::string, std::unique_ptr<tcc::examples::bank::Bank::Stub>>
      banks_;
};

bool ParseRef(const std::string& text, AccountRef* ref) {
  std::vector<std::string> parts = absl::StrSplit(text, ':');
  if (parts.size() != 2 || parts[0].empty() || parts[1].empty()) return false;
  ref->participant = parts[0];
  ref->account = parts[1];
  return true;
}

int RunDemo(DemoClient& client) {
  AccountRef alice{"bank-a", "alice"}, carol{"bank-a", "carol"};
  AccountRef bob{"bank-b", "bob"}, dave{"bank-b", "dave"};
  std::printf("Balances before:\n");
  int64_t before = client.PrintBalances();
  std::printf("\nTransfers:\n");
  bool ok = true;
  ok &= client.Transfer("demo-1", alice, bob, 100);
  ok &= client.Transfer("demo-2", bob, carol, 30);
  ok &= client.Transfer("demo-3", carol, dave, 250,
                        {{"trace-id", "demo-trace-3"}});
  std::printf(
      "  (a transfer larger than the balance is refused by bank-a's "
      "Try, and rolled back)\n");
  ok &= client.Transfer("demo-4", alice, dave, 1000000);
  std::printf(
      "  (re-sending demo-1 returns its stored outcome; it does not "
      "run twice)\n");
  ok &= client.Transfer("demo-1", alice, bob, 100);
  // Confirm/Cancel run after Execute answers: wait for them to land.
  std::printf("\nFinal states:\n");
  for (const char* gid : {"demo-1", "demo-2", "demo-3", "demo-4"}) {
    std::printf("  %s: %s\n", gid, client.WaitFinal(gid).c_str());
  }
  std::printf("\nBalances after:\n");
  int64_t after = client.PrintBalances();
  std::printf("\nMoney conserved: %s\n", before == after ? "yes" : "NO");
  return ok && before == after ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("bank_client: transfers money through tccd.");
  absl::ParseCommandLine(argc, argv);
  std::map<std::string, std::string> banks;
  for (absl::string_view pair :
       absl::StrSplit(absl::GetFlag(FLAGS_banks), ',', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(pair, '=');
    banks[kv.first] = kv.second;
  }
  DemoClient client(absl::GetFlag(FLAGS_coordinator), banks);
  if (absl::GetFlag(FLAGS_demo)) return RunDemo(client);
  AccountRef from, to;
  if (!ParseRef(absl::GetFlag(FLAGS_from), &from) ||
      !ParseRef(absl::GetFlag(FLAGS_to), &to) ||
      absl::GetFlag(FLAGS_amount) <= 0) {
    std::fprintf(stderr,
                 "need --demo, or --from=participant:account "
                 "--to=participant:account --amount=N\n");
    return 2;
  }
  bool ok = client.Transfer(absl::GetFlag(FLAGS_gid), from, to,
                            absl::GetFlag(FLAGS_amount));
  if (!banks.empty()) client.PrintBalances();
  return ok ? 0 : 1;
}
