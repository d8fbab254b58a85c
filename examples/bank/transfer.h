#ifndef TCC_EXAMPLES_BANK_TRANSFER_H_
#define TCC_EXAMPLES_BANK_TRANSFER_H_

#include <cstdint>
#include <string>

#include "tcc/v1/coordinator.pb.h"

namespace tcc::examples::bank {

// One side of a transfer: an account at a bank, the bank being a participant
// name in the coordinator's configuration.
struct AccountRef {
  std::string participant;  // e.g. "bank-a"
  std::string account;      // e.g. "alice"
};

// The Execute request that moves `amount` from `from` to `to` with TCC:
// branch 1 "debit" at the source bank (Try freezes, Confirm takes, Cancel
// releases), branch 2 "credit" at the destination (Try records the incoming
// amount, Confirm adds it, Cancel drops it). `gid` may be empty.
v1::ExecuteRequest MakeTransferRequest(const std::string& gid,
                                       const AccountRef& from,
                                       const AccountRef& to, int64_t amount);

}  // namespace tcc::examples::bank

#endif  // TCC_EXAMPLES_BANK_TRANSFER_H_
