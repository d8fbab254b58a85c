#include "transfer.h"

#include "bank.pb.h"

namespace tcc::examples::bank {

v1::ExecuteRequest MakeTransferRequest(const std::string& gid,
                                       const AccountRef& from,
                                       const AccountRef& to, int64_t amount) {
  v1::ExecuteRequest request;
  request.set_gid(gid);
  TransferLeg debit;
  debit.set_account(from.account);
  debit.set_amount(amount);
  v1::BranchSpec* b1 = request.add_branches();
  b1->set_participant(from.participant);
  b1->set_action("debit");
  b1->set_payload(debit.SerializeAsString());
  TransferLeg credit;
  credit.set_account(to.account);
  credit.set_amount(amount);
  v1::BranchSpec* b2 = request.add_branches();
  b2->set_participant(to.participant);
  b2->set_action("credit");
  b2->set_payload(credit.SerializeAsString());
  return request;
}

}  // namespace tcc::examples::bank
