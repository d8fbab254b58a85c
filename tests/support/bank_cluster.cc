#include "support/bank_cluster.h"

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"

namespace tcc::testing {

BankCluster::BankCluster(Options options)
    : Cluster(
          {{"bank-a",
            {TCC_BANK_SERVER_PATH, "--accounts=" + options.bank_a_accounts}},
           {"bank-b",
            {TCC_BANK_SERVER_PATH, "--accounts=" + options.bank_b_accounts}}},
          options.tccd_flags) {
  for (const char* bank : {"bank-a", "bank-b"}) {
    SetConfigFields(bank, options.bank_config_fields);
  }
}

absl::StatusOr<std::map<std::string, examples::bank::Account>>
BankCluster::Accounts(const std::string& bank) {
  auto stub = examples::bank::Bank::NewStub(grpc::CreateChannel(
      ParticipantAddress(bank), grpc::InsecureChannelCredentials()));
  examples::bank::ListAccountsRequest request;
  examples::bank::ListAccountsResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  context.set_wait_for_ready(true);
  grpc::Status status = stub->ListAccounts(&context, request, &response);
  if (!status.ok()) {
    return absl::UnavailableError(
        absl::StrCat(bank, ": ListAccounts: ", status.error_message()));
  }
  std::map<std::string, examples::bank::Account> out;
  for (const auto& a : response.accounts()) out[a.name()] = a;
  return out;
}

}  // namespace tcc::testing
