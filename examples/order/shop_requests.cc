#include "shop_requests.h"

#include "order.pb.h"

namespace tcc::examples::order {

v1::BranchSpec InventoryBranch(const Purchase& p, const char* action) {
  StockChange c;
  c.set_sku(p.sku);
  c.set_quantity(p.quantity);
  v1::BranchSpec b;
  b.set_participant("inventory");
  b.set_action(action);
  b.set_payload(c.SerializeAsString());
  return b;
}

v1::BranchSpec OrderBranch(const Purchase& p, const char* action) {
  OrderDraft d;
  d.set_order_id(p.order_id);
  d.set_customer(p.customer);
  d.set_sku(p.sku);
  d.set_quantity(p.quantity);
  d.set_amount(p.amount);
  v1::BranchSpec b;
  b.set_participant("orders");
  b.set_action(action);
  b.set_payload(d.SerializeAsString());
  return b;
}

v1::BranchSpec PaymentBranch(const Purchase& p, const char* action) {
  Charge c;
  c.set_wallet(p.customer);
  c.set_amount(p.amount);
  c.set_order_id(p.order_id);
  v1::BranchSpec b;
  b.set_participant("payment");
  b.set_action(action);
  b.set_payload(c.SerializeAsString());
  return b;
}

v1::SagaRequest SagaPurchase(const std::string& gid, const Purchase& p) {
  v1::SagaRequest r;
  r.set_gid(gid);
  for (const v1::BranchSpec& b :
       {OrderBranch(p, "place"), PaymentBranch(p, "pay"),
        InventoryBranch(p, "deduct")}) {
    v1::SagaStep* s = r.add_steps();
    s->set_participant(b.participant());
    s->set_action(b.action());
    s->set_payload(b.payload());
  }
  return r;
}

v1::ExecuteRequest TccPurchase(const std::string& gid, const Purchase& p) {
  v1::ExecuteRequest r;
  r.set_gid(gid);
  *r.add_branches() = InventoryBranch(p, "reserve");
  *r.add_branches() = OrderBranch(p, "create");
  *r.add_branches() = PaymentBranch(p, "charge");
  return r;
}

}  // namespace tcc::examples::order
