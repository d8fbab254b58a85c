#ifndef TCC_EXAMPLES_ORDER_SHOP_STATE_H_
#define TCC_EXAMPLES_ORDER_SHOP_STATE_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "order.pb.h"
#include "rocksdb/utilities/transaction.h"
#include "rocksdb/utilities/transaction_db.h"
#include "tcc/participant/barrier.h"
#include "tcc/participant/participant_service.h"
#include "tcc/participant/rocksdb_barrier_store.h"

namespace tcc::examples::order {

using ShopService =
    participant::ParticipantService<participant::RocksDbBarrierStore>;
using participant::BranchCall;

// Key of an entity: "stock/<sku>", "order/<id>", "wallet/<name>".
inline std::string StockKey(const std::string& sku) { return "stock/" + sku; }
inline std::string OrderKey(const std::string& id) { return "order/" + id; }
inline std::string WalletKey(const std::string& name) {
  return "wallet/" + name;
}

// Reads `key` into *out inside `txn`, locking it until commit. Returns false
// if absent.
absl::StatusOr<bool> LoadForUpdate(rocksdb::Transaction& txn,
                                   const std::string& key,
                                   google::protobuf::Message* out);
absl::Status Save(rocksdb::Transaction& txn, const std::string& key,
                  const google::protobuf::Message& value);

// Parses a branch payload, INVALID_ARGUMENT if it is not a `M`.
template <class M>
absl::StatusOr<M> ParsePayload(const BranchCall& call) {
  M m;
  if (!m.ParseFromString(call.payload)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "payload of ", call.action, " is not a ", m.GetTypeName()));
  }
  return m;
}

// Appends a journal entry in `txn` and logs the line to stderr.
absl::Status Journal(rocksdb::Transaction& txn, const std::string& service,
                     const char* phase, const BranchCall& call,
                     const std::string& note);

// Puts `value` at `key` unless something is there (initial data).
absl::Status SeedIfAbsent(rocksdb::TransactionDB* db, const std::string& key,
                          const google::protobuf::Message& value);

// Everything the store holds.
absl::StatusOr<InspectResponse> Inspect(rocksdb::TransactionDB* db);

// Handler registration of each service.
absl::Status RegisterInventory(ShopService& service);
absl::Status RegisterOrders(ShopService& service);
absl::Status RegisterPayment(ShopService& service);

}  // namespace tcc::examples::order

#endif  // TCC_EXAMPLES_ORDER_SHOP_STATE_H_
