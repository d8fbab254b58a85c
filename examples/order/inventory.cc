// Inventory: stock per SKU.
//   "reserve" (TCC): Try holds stock (available -> reserved), Confirm sells
//                    it (reserved -> sold), Cancel releases it.
//   "deduct"  (saga): Try sells at once (available -> sold); the
//                    compensation (Cancel) puts it back.
// A Try that asks for more than is available is refused (ABORTED).

#include "shop_state.h"

namespace tcc::examples::order {
namespace {

constexpr char kService[] = "inventory";

// Loads the payload and the stock row it names, locked.
absl::Status Load(const BranchCall& call, rocksdb::Transaction& txn,
                  StockChange* change, Stock* stock) {
  auto parsed = ParsePayload<StockChange>(call);
  if (!parsed.ok()) return parsed.status();
  *change = *parsed;
  if (change->quantity() <= 0) {
    return absl::InvalidArgumentError("quantity must be positive");
  }
  auto found = LoadForUpdate(txn, StockKey(change->sku()), stock);
  if (!found.ok()) return found.status();
  if (!*found) {
    return absl::AbortedError("unknown sku " + change->sku());
  }
  return absl::OkStatus();
}

absl::Status Take(const BranchCall& call, rocksdb::Transaction& txn,
                  bool hold) {
  StockChange c;
  Stock s;
  if (absl::Status st = Load(call, txn, &c, &s); !st.ok()) return st;
  if (s.available() < c.quantity()) {
    return absl::AbortedError(absl::StrCat("out of stock: ", c.sku(), " has ",
                                           s.available(), ", order needs ",
                                           c.quantity()));
  }
  s.set_available(s.available() - c.quantity());
  if (hold) {
    s.set_reserved(s.reserved() + c.quantity());
  } else {
    s.set_sold(s.sold() + c.quantity());
  }
  if (absl::Status st = Save(txn, StockKey(c.sku()), s); !st.ok()) return st;
  return Journal(txn, kService, "try", call,
                 absl::StrCat(hold ? "reserved " : "deducted ", c.quantity(),
                              " ", c.sku(), ", ", s.available(), " left"));
}

}  // namespace

absl::Status RegisterInventory(ShopService& service) {
  absl::Status s = service.Register(
      "reserve",
      {.try_fn = [](const BranchCall& call, rocksdb::Transaction& txn,
                    std::string*) { return Take(call, txn, /*hold=*/true); },
       .confirm_fn =
           [](const BranchCall& call, rocksdb::Transaction& txn, std::string*) {
             StockChange c;
             Stock s;
             if (absl::Status st = Load(call, txn, &c, &s); !st.ok()) return st;
             s.set_reserved(s.reserved() - c.quantity());
             s.set_sold(s.sold() + c.quantity());
             if (absl::Status st = Save(txn, StockKey(c.sku()), s); !st.ok()) {
               return st;
             }
             return Journal(txn, kService, "confirm", call,
                            absl::StrCat("sold ", c.quantity(), " ", c.sku()));
           },
       .cancel_fn =
           [](const BranchCall& call, rocksdb::Transaction& txn, std::string*) {
             StockChange c;
             Stock s;
             if (absl::Status st = Load(call, txn, &c, &s); !st.ok()) return st;
             s.set_reserved(s.reserved() - c.quantity());
             s.set_available(s.available() + c.quantity());
             if (absl::Status st = Save(txn, StockKey(c.sku()), s); !st.ok()) {
               return st;
             }
             return Journal(
                 txn, kService, "cancel", call,
                 absl::StrCat("released ", c.quantity(), " ", c.sku()));
           }});
  if (!s.ok()) return s;
  return service.Register(
      "deduct",
      {.try_fn = [](const BranchCall& call, rocksdb::Transaction& txn,
                    std::string*) { return Take(call, txn, /*hold=*/false); },
       .confirm_fn = [](const BranchCall&, rocksdb::Transaction&,
                        std::string*) { return absl::OkStatus(); },
       .cancel_fn =
           [](const BranchCall& call, rocksdb::Transaction& txn, std::string*) {
             StockChange c;
             Stock s;
             if (absl::Status st = Load(call, txn, &c, &s); !st.ok()) return st;
             s.set_sold(s.sold() - c.quantity());
             s.set_available(s.available() + c.quantity());
             if (absl::Status st = Save(txn, StockKey(c.sku()), s); !st.ok()) {
               return st;
             }
             return Journal(
                 txn, kService, "cancel", call,
                 absl::StrCat("restored ", c.quantity(), " ", c.sku()));
           }});
}

}  // namespace tcc::examples::order
