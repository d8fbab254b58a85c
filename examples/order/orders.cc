// Orders: the order record itself.
//   "create" (TCC): Try writes the order PENDING, Confirm marks it
//                   CONFIRMED, Cancel marks it CANCELLED.
//   "place"  (saga): Try writes it PLACED; the compensation marks it
//                   CANCELLED.
// An order is never deleted: a cancelled order stays as a record.

#include "shop_state.h"

namespace tcc::examples::order {
namespace {

constexpr char kService[] = "orders";

absl::Status Create(const BranchCall& call, rocksdb::Transaction& txn,
                    const char* state) {
  auto draft = ParsePayload<OrderDraft>(call);
  if (!draft.ok()) return draft.status();
  Order existing;
  auto found = LoadForUpdate(txn, OrderKey(draft->order_id()), &existing);
  if (!found.ok()) return found.status();
  if (*found) {
    return absl::AbortedError("order " + draft->order_id() + " already exists");
  }
  Order o;
  o.set_order_id(draft->order_id());
  o.set_customer(draft->customer());
  o.set_sku(draft->sku());
  o.set_quantity(draft->quantity());
  o.set_amount(draft->amount());
  o.set_state(state);
  if (absl::Status s = Save(txn, OrderKey(o.order_id()), o); !s.ok()) return s;
  return Journal(txn, kService, "try", call,
                 absl::StrCat("order ", o.order_id(), " ", state));
}

absl::Status SetState(const BranchCall& call, rocksdb::Transaction& txn,
                      const char* phase, const char* state) {
  auto draft = ParsePayload<OrderDraft>(call);
  if (!draft.ok()) return draft.status();
  Order o;
  auto found = LoadForUpdate(txn, OrderKey(draft->order_id()), &o);
  if (!found.ok()) return found.status();
  if (!*found) {
    // The barrier runs Confirm/Cancel only after a committed Try.
    return absl::InternalError("order " + draft->order_id() + " is missing");
  }
  o.set_state(state);
  if (absl::Status s = Save(txn, OrderKey(o.order_id()), o); !s.ok()) return s;
  return Journal(txn, kService, phase, call,
                 absl::StrCat("order ", o.order_id(), " ", state));
}

}  // namespace

absl::Status RegisterOrders(ShopService& service) {
  absl::Status s = service.Register(
      "create",
      {.try_fn = [](const BranchCall& call, rocksdb::Transaction& txn,
                    std::string*) { return Create(call, txn, "PENDING"); },
       .confirm_fn =
           [](const BranchCall& call, rocksdb::Transaction& txn, std::string*) {
             return SetState(call, txn, "confirm", "CONFIRMED");
           },
       .cancel_fn =
           [](const BranchCall& call, rocksdb::Transaction& txn, std::string*) {
             return SetState(call, txn, "cancel", "CANCELLED");
           }});
  if (!s.ok()) return s;
  return service.Register(
      "place",
      {.try_fn = [](const BranchCall& call, rocksdb::Transaction& txn,
                    std::string*) { return Create(call, txn, "PLACED"); },
       .confirm_fn = [](const BranchCall&, rocksdb::Transaction&,
                        std::string*) { return absl::OkStatus(); },
       .cancel_fn =
           [](const BranchCall& call, rocksdb::Transaction& txn, std::string*) {
             return SetState(call, txn, "cancel", "CANCELLED");
           }});
}

}  // namespace tcc::examples::order
