#ifndef TCC_EXAMPLES_BANK_BANK_HANDLERS_H_
#define TCC_EXAMPLES_BANK_BANK_HANDLERS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "bank.pb.h"
#include "rocksdb/utilities/transaction.h"
#include "rocksdb/utilities/transaction_db.h"
#include "tcc/participant/participant_service.h"
#include "tcc/participant/rocksdb_barrier_store.h"

// The bank's TCC actions and its account storage. Accounts live in the
// default column family of the barrier store's database, one serialized
// Account per key "account/<name>".
namespace tcc::examples::bank {

using BankHandlers = participant::ResourceHandlers<rocksdb::Transaction>;

// "debit": Try freezes the amount (ABORTED "insufficient funds: ..." when
// balance - frozen is smaller, ABORTED for an unknown account), Confirm takes
// it from balance and frozen, Cancel unfreezes it.
BankHandlers DebitHandlers();

// "credit": Try records the amount as incoming (ABORTED for an unknown
// account or an overflow), Confirm moves it from incoming to balance, Cancel
// drops it from incoming.
BankHandlers CreditHandlers();

// Every handler answers INVALID_ARGUMENT for a payload that is not a
// TransferLeg with a named account and a positive amount, and INTERNAL if
// Confirm/Cancel find an account that Try could not have left that way (the
// coordinator keeps retrying; nothing is changed). Storage errors follow
// participant::FromRocksDbStatus.

// Registers "debit" and "credit" on `service`.
absl::Status RegisterBankActions(
    participant::ParticipantService<participant::RocksDbBarrierStore>* service);

// Creates account `name` with `balance` unless it exists; returns whether it
// was created. The write is synced. Thread-safe.
// Errors: INVALID_ARGUMENT for an empty name or a negative balance; storage
// errors as FromRocksDbStatus.
absl::StatusOr<bool> CreateAccountIfAbsent(rocksdb::TransactionDB* db,
                                           absl::string_view name,
                                           int64_t balance);

// Every account, ordered by name, from one consistent snapshot. Thread-safe.
absl::StatusOr<std::vector<Account>> ListAccounts(rocksdb::TransactionDB* db);

// Parses "alice:1000,bob:500" (empty string: no accounts).
// Errors: INVALID_ARGUMENT naming the malformed entry.
absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> ParseAccountList(
    absl::string_view spec);

}  // namespace tcc::examples::bank

#endif  // TCC_EXAMPLES_BANK_BANK_HANDLERS_H_
