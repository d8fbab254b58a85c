#ifndef TCC_EXAMPLES_ORDER_SHOP_REQUESTS_H_
#define TCC_EXAMPLES_ORDER_SHOP_REQUESTS_H_

#include <cstdint>
#include <string>

#include "tcc/v1/coordinator.pb.h"

namespace tcc::examples::order {

// One purchase. The participants are named "inventory", "orders" and
// "payment" in the coordinator's configuration.
struct Purchase {
  std::string order_id;
  std::string customer;  // also the wallet charged
  std::string sku;
  int64_t quantity = 1;
  int64_t amount = 0;
};

// As a saga: 1. orders "place", 2. payment "pay", 3. inventory "deduct";
// each compensated by the same action's Cancel handler (order cancelled,
// payment refunded, stock restored).
v1::SagaRequest SagaPurchase(const std::string& gid, const Purchase& p);

// As one-shot TCC: inventory "reserve", orders "create", payment "charge".
v1::ExecuteRequest TccPurchase(const std::string& gid, const Purchase& p);

// The three branches of TccPurchase, for interactive TCC (Try one by one).
v1::BranchSpec InventoryBranch(const Purchase& p, const char* action);
v1::BranchSpec OrderBranch(const Purchase& p, const char* action);
v1::BranchSpec PaymentBranch(const Purchase& p, const char* action);

}  // namespace tcc::examples::order

#endif  // TCC_EXAMPLES_ORDER_SHOP_REQUESTS_H_
