#include "bank_service.h"

#include <utility>

#include "bank_handlers.h"
#include "tcc/common/grpc_status.h"

namespace tcc::examples::bank {

grpc::ServerUnaryReactor* BankService::ListAccounts(
    grpc::CallbackServerContext* context, const ListAccountsRequest*,
    ListAccountsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  executor_->Schedule([this, reactor, response] {
    absl::StatusOr<std::vector<Account>> accounts = bank::ListAccounts(db_);
    if (!accounts.ok()) {
      reactor->Finish(ToGrpcStatus(accounts.status()));
      return;
    }
    for (Account& account : *accounts) {
      *response->add_accounts() = std::move(account);
    }
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

}  // namespace tcc::examples::bank
