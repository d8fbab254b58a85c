#include "chaos/chaos_world.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tcc::chaos {
namespace {

std::string PairsFlag(const std::map<std::string, int64_t>& values) {
  return absl::StrJoin(values, ",", absl::PairFormatter(":"));
}

}  // namespace

std::vector<std::string> World::Participants() const {
  std::vector<std::string> out;
  for (const auto& [bank, accounts] : banks) out.push_back(bank);
  for (const char* role : {"inventory", "orders", "payment"}) {
    out.push_back(role);
  }
  return out;
}

std::string World::AccountsFlag(const std::string& bank) const {
  return PairsFlag(banks.at(bank));
}

std::string World::StockFlag() const { return PairsFlag(stock); }

std::string World::WalletsFlag() const { return PairsFlag(wallets); }

World DefaultWorld() {
  World world;
  for (int i = 0; i < 4; ++i) {
    world.banks["bank-a"][absl::StrCat("a", i)] = 1000000;
    world.banks["bank-b"][absl::StrCat("b", i)] = 1000000;
  }
  world.stock = {{"widget", 1000000000}, {"gadget", 1000000000}, {kRareSku, 0}};
  for (int i = 0; i < 4; ++i) {
    world.wallets[absl::StrCat("c", i)] = 1000000000;
  }
  world.wallets[kBrokeWallet] = 0;
  return world;
}

}  // namespace tcc::chaos
