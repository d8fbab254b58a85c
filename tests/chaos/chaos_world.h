#ifndef TCC_TESTS_CHAOS_CHAOS_WORLD_H_
#define TCC_TESTS_CHAOS_CHAOS_WORLD_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tcc::chaos {

// The participants' initial data, shared by the cluster (flags), the clients
// (what to ask for) and the checker (what must hold at the end).
struct World {
  // Bank participant name -> account -> initial balance.
  std::map<std::string, std::map<std::string, int64_t>> banks;
  // Shop: SKU -> initial stock, wallet -> initial balance.
  std::map<std::string, int64_t> stock;
  std::map<std::string, int64_t> wallets;

  // Every participant: the banks, then "inventory", "orders", "payment".
  std::vector<std::string> Participants() const;
  // "name:value,..." flags for bank_server --accounts, shop_server --stock
  // and --wallets.
  std::string AccountsFlag(const std::string& bank) const;
  std::string StockFlag() const;
  std::string WalletsFlag() const;
};

// Two banks of four accounts with ample money (so refusals are chosen, not
// exhausted); a shop whose "rare" SKU has no stock and whose "broke" wallet
// is empty, which make saga steps 3 and 2 refuse on purpose.
World DefaultWorld();

// Names the clients use to make a step refuse.
inline constexpr char kRareSku[] = "rare";
inline constexpr char kBrokeWallet[] = "broke";

}  // namespace tcc::chaos

#endif  // TCC_TESTS_CHAOS_CHAOS_WORLD_H_
