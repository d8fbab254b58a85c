#ifndef TCC_EXAMPLES_BANK_BANK_SERVICE_H_
#define TCC_EXAMPLES_BANK_BANK_SERVICE_H_

#include "bank.grpc.pb.h"
#include "rocksdb/utilities/transaction_db.h"
#include "tcc/common/thread_pool.h"

namespace tcc::examples::bank {

// The Bank inspection service: ListAccounts reads the accounts on `executor`
// (never on the gRPC callback thread). `db` and `executor` are not owned and
// must outlive the server.
class BankService final : public Bank::CallbackService {
 public:
  BankService(rocksdb::TransactionDB* db, Executor* executor)
      : db_(db), executor_(executor) {}

  grpc::ServerUnaryReactor* ListAccounts(
      grpc::CallbackServerContext* context, const ListAccountsRequest* request,
      ListAccountsResponse* response) override;

 private:
  rocksdb::TransactionDB* const db_;
  Executor* const executor_;
};

}  // namespace tcc::examples::bank

#endif  // TCC_EXAMPLES_BANK_BANK_SERVICE_H_
