// Payment: wallets.
//   "charge" (TCC): Try freezes the amount, Confirm takes it, Cancel
//                   unfreezes it.
//   "pay"    (saga): Try takes the amount at once; the compensation refunds
//                   it. The barrier makes a repeated refund a no-op: a
//                   cancelled payment is never refunded twice.
// A Try the wallet cannot afford is refused (ABORTED).

#include "shop_state.h"

namespace tcc::examples::order {
namespace {

constexpr char kService[] = "payment";

absl::Status Load(const BranchCall& call, rocksdb::Transaction& txn,
                  Charge* charge, Wallet* wallet) {
  auto parsed = ParsePayload<Charge>(call);
  if (!parsed.ok()) return parsed.status();
  *charge = *parsed;
  if (charge->amount() <= 0) {
    return absl::InvalidArgumentError("amount must be positive");
  }
  auto found = LoadForUpdate(txn, WalletKey(charge->wallet()), wallet);
  if (!found.ok()) return found.status();
  if (!*found) return absl::AbortedError("unknown wallet " + charge->wallet());
  return absl::OkStatus();
}

absl::Status Take(const BranchCall& call, rocksdb::Transaction& txn,
                  bool freeze) {
  Charge c;
  Wallet w;
  if (absl::Status s = Load(call, txn, &c, &w); !s.ok()) return s;
  int64_t available = w.balance() - w.frozen();
  if (available < c.amount()) {
    return absl::AbortedError(absl::StrCat(
        "insufficient funds: wallet ", c.wallet(), " has ", available,
        ", order ", c.order_id(), " costs ", c.amount()));
  }
  if (freeze) {
    w.set_frozen(w.frozen() + c.amount());
  } else {
    w.set_balance(w.balance() - c.amount());
  }
  if (absl::Status s = Save(txn, WalletKey(c.wallet()), w); !s.ok()) return s;
  return Journal(txn, kService, "try", call,
                 absl::StrCat(freeze ? "froze " : "charged ", c.amount(),
                              " from ", c.wallet(), " for ", c.order_id()));
}

absl::Status Apply(const BranchCall& call, rocksdb::Transaction& txn,
                   const char* phase, int64_t balance_sign, int64_t frozen_sign,
                   const char* verb) {
  Charge c;
  Wallet w;
  if (absl::Status s = Load(call, txn, &c, &w); !s.ok()) return s;
  w.set_balance(w.balance() + balance_sign * c.amount());
  w.set_frozen(w.frozen() + frozen_sign * c.amount());
  if (absl::Status s = Save(txn, WalletKey(c.wallet()), w); !s.ok()) return s;
  return Journal(txn, kService, phase, call,
                 absl::StrCat(verb, " ", c.amount(), " ", c.wallet(), " for ",
                              c.order_id(), ", balance ", w.balance()));
}

}  // namespace

absl::Status RegisterPayment(ShopService& service) {
  absl::Status s = service.Register(
      "charge",
      {.try_fn = [](const BranchCall& call, rocksdb::Transaction& txn,
                    std::string*) { return Take(call, txn, /*freeze=*/true); },
       .confirm_fn =
           [](const BranchCall& call, rocksdb::Transaction& txn, std::string*) {
             return Apply(call, txn, "confirm", -1, -1, "took");
           },
       .cancel_fn =
           [](const BranchCall& call, rocksdb::Transaction& txn, std::string*) {
             return Apply(call, txn, "cancel", 0, -1, "unfroze");
           }});
  if (!s.ok()) return s;
  return service.Register(
      "pay",
      {.try_fn = [](const BranchCall& call, rocksdb::Transaction& txn,
                    std::string*) { return Take(call, txn, /*freeze=*/false); },
       .confirm_fn = [](const BranchCall&, rocksdb::Transaction&,
                        std::string*) { return absl::OkStatus(); },
       .cancel_fn =
           [](const BranchCall& call, rocksdb::Transaction& txn, std::string*) {
             return Apply(call, txn, "cancel", +1, 0, "refunded");
           }});
}

}  // namespace tcc::examples::order
