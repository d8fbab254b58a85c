#include "bank_handlers.h"

#include <limits>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tcc/common/status_macros.h"
#include "tcc/participant/rocksdb_status.h"

namespace tcc::examples::bank {
namespace {

using participant::BranchCall;
using participant::FromRocksDbStatus;
using participant::Phase;

constexpr char kAccountPrefix[] = "account/";
// The first key after every "account/..." key ('/' + 1).
constexpr char kAccountLimit[] = "account0";

std::string AccountKey(absl::string_view name) {
  return absl::StrCat(kAccountPrefix, name);
}

absl::StatusOr<TransferLeg> ParseLeg(const std::string& payload) {
  TransferLeg leg;
  if (!leg.ParseFromString(payload)) {
    return absl::InvalidArgumentError("payload is not a TransferLeg");
  }
  if (leg.account().empty()) {
    return absl::InvalidArgumentError("TransferLeg has no account");
  }
  if (leg.amount() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("amount must be positive, got ", leg.amount()));
  }
  return leg;
}

// Reads and locks the account until `txn` ends. A missing account refuses a
// Try; in Confirm/Cancel it means the store lost what Try saw.
absl::StatusOr<Account> LockAccount(rocksdb::Transaction& txn,
                                    const std::string& name, Phase phase) {
  std::string value;
  rocksdb::Status s =
      txn.GetForUpdate(rocksdb::ReadOptions(), AccountKey(name), &value);
  if (s.IsNotFound()) {
    if (phase == Phase::kTry) {
      return absl::AbortedError(absl::StrCat("unknown account ", name));
    }
    return absl::InternalError(absl::StrCat("account ", name, " is missing"));
  }
  TCC_RETURN_IF_ERROR(
      FromRocksDbStatus(s, absl::StrCat("read account ", name)));
  Account account;
  if (!account.ParseFromString(value)) {
    return absl::InternalError(absl::StrCat("account ", name, " is corrupt"));
  }
  return account;
}

absl::Status WriteAccount(rocksdb::Transaction& txn, const Account& account) {
  return FromRocksDbStatus(
      txn.Put(AccountKey(account.name()), account.SerializeAsString()),
      absl::StrCat("write account ", account.name()));
}

// A Confirm/Cancel that finds less reserved than its Try reserved.
absl::Status Inconsistent(const Account& account, absl::string_view field,
                          int64_t have, int64_t amount) {
  return absl::InternalError(absl::StrCat("account ", account.name(), " has ",
                                          field, " ", have, ", cannot release ",
                                          amount));
}

// A handler that applies `change` to the account the payload names.
template <class Change>
BankHandlers::Handler AccountHandler(Phase phase, Change change) {
  return [phase, change](const BranchCall& call, rocksdb::Transaction& txn,
                         std::string*) -> absl::Status {
    TCC_ASSIGN_OR_RETURN(TransferLeg leg, ParseLeg(call.payload));
    TCC_ASSIGN_OR_RETURN(Account account,
                         LockAccount(txn, leg.account(), phase));
    TCC_RETURN_IF_ERROR(change(account, leg.amount()));
    return WriteAccount(txn, account);
  };
}

}  // namespace

BankHandlers DebitHandlers() {
  BankHandlers handlers;
  handlers.try_fn = AccountHandler(Phase::kTry, [](Account& a, int64_t amount) {
    const int64_t available = a.balance() - a.frozen();
    if (amount > available) {
      return absl::AbortedError(absl::StrCat("insufficient funds: account ",
                                             a.name(), " has ", available,
                                             " available, needs ", amount));
    }
    a.set_frozen(a.frozen() + amount);
    return absl::OkStatus();
  });
  handlers.confirm_fn =
      AccountHandler(Phase::kConfirm, [](Account& a, int64_t amount) {
        if (a.frozen() < amount) {
          return Inconsistent(a, "frozen", a.frozen(), amount);
        }
        a.set_balance(a.balance() - amount);
        a.set_frozen(a.frozen() - amount);
        return absl::OkStatus();
      });
  handlers.cancel_fn =
      AccountHandler(Phase::kCancel, [](Account& a, int64_t amount) {
        if (a.frozen() < amount) {
          return Inconsistent(a, "frozen", a.frozen(), amount);
        }
        a.set_frozen(a.frozen() - amount);
        return absl::OkStatus();
      });
  return handlers;
}

BankHandlers CreditHandlers() {
  BankHandlers handlers;
  handlers.try_fn = AccountHandler(Phase::kTry, [](Account& a, int64_t amount) {
    // Keeps balance + incoming representable, so Confirm cannot overflow.
    if (amount >
        std::numeric_limits<int64_t>::max() - a.balance() - a.incoming()) {
      return absl::AbortedError(absl::StrCat(
          "credit of ", amount, " would overflow account ", a.name()));
    }
    a.set_incoming(a.incoming() + amount);
    return absl::OkStatus();
  });
  handlers.confirm_fn =
      AccountHandler(Phase::kConfirm, [](Account& a, int64_t amount) {
        if (a.incoming() < amount) {
          return Inconsistent(a, "incoming", a.incoming(), amount);
        }
        a.set_incoming(a.incoming() - amount);
        a.set_balance(a.balance() + amount);
        return absl::OkStatus();
      });
  handlers.cancel_fn =
      AccountHandler(Phase::kCancel, [](Account& a, int64_t amount) {
        if (a.incoming() < amount) {
          return Inconsistent(a, "incoming", a.incoming(), amount);
        }
        a.set_incoming(a.incoming() - amount);
        return absl::OkStatus();
      });
  return handlers;
}

absl::Status RegisterBankActions(
    participant::ParticipantService<participant::RocksDbBarrierStore>*
        service) {
  TCC_RETURN_IF_ERROR(service->Register("debit", DebitHandlers()));
  return service->Register("credit", CreditHandlers());
}

absl::StatusOr<bool> CreateAccountIfAbsent(rocksdb::TransactionDB* db,
                                           absl::string_view name,
                                           int64_t balance) {
  if (name.empty()) return absl::InvalidArgumentError("empty account name");
  if (balance < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("negative balance for account ", name));
  }
  const std::string what = absl::StrCat("create account ", name);
  rocksdb::WriteOptions write_options;
  write_options.sync = true;
  std::unique_ptr<rocksdb::Transaction> txn(
      db->BeginTransaction(write_options));
  std::string value;
  rocksdb::Status s =
      txn->GetForUpdate(rocksdb::ReadOptions(), AccountKey(name), &value);
  if (s.ok()) return false;
  if (!s.IsNotFound()) return FromRocksDbStatus(s, what);
  Account account;
  account.set_name(std::string(name));
  account.set_balance(balance);
  s = txn->Put(AccountKey(name), account.SerializeAsString());
  if (s.ok()) s = txn->Commit();
  TCC_RETURN_IF_ERROR(FromRocksDbStatus(s, what));
  return true;
}

absl::StatusOr<std::vector<Account>> ListAccounts(rocksdb::TransactionDB* db) {
  rocksdb::Slice limit(kAccountLimit);
  rocksdb::ReadOptions read_options;
  read_options.iterate_upper_bound = &limit;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read_options));
  std::vector<Account> accounts;
  for (it->Seek(kAccountPrefix); it->Valid(); it->Next()) {
    Account account;
    if (!account.ParseFromArray(it->value().data(),
                                static_cast<int>(it->value().size()))) {
      return absl::InternalError(
          absl::StrCat("corrupt account record ", it->key().ToString()));
    }
    accounts.push_back(std::move(account));
  }
  TCC_RETURN_IF_ERROR(FromRocksDbStatus(it->status(), "list accounts"));
  return accounts;
}

absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> ParseAccountList(
    absl::string_view spec) {
  std::vector<std::pair<std::string, int64_t>> accounts;
  for (absl::string_view entry : absl::StrSplit(spec, ',', absl::SkipEmpty())) {
    std::vector<absl::string_view> parts = absl::StrSplit(entry, ':');
    int64_t balance = 0;
    if (parts.size() != 2 || parts[0].empty() ||
        !absl::SimpleAtoi(parts[1], &balance) || balance < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bad account \"", entry, "\": want name:balance, balance >= 0"));
    }
    accounts.emplace_back(std::string(parts[0]), balance);
  }
  return accounts;
}

}  // namespace tcc::examples::bank
