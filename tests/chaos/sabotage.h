#ifndef TCC_TESTS_CHAOS_SABOTAGE_H_
#define TCC_TESTS_CHAOS_SABOTAGE_H_

#include <string>
#include <vector>

#include "chaos/chaos_cluster.h"
#include "chaos/workload.h"

namespace tcc::chaos {

// The checker's own test: after the load, plants violations of the kinds a
// broken coordinator or participant would cause, so that a run can show the
// checker reports each of them (a checker that sees nothing proves
// nothing):
//   - a lie: one transfer's recorded answer is flipped, as if the client
//     had been told the wrong outcome;
//   - a phantom: a transfer committed through tccd that no client sent;
//   - a bypass: a credit applied at a bank by calling its Try and Confirm
//     directly, and a shop Try under a real saga's gid with a branch the
//     saga does not have (an effect applied outside the protocol).
// Returns, for each planted violation, a substring the checker's report
// must contain.
std::vector<std::string> PlantViolations(ChaosCluster& cluster,
                                         std::vector<Submitted>* submitted);

}  // namespace tcc::chaos

#endif  // TCC_TESTS_CHAOS_SABOTAGE_H_
