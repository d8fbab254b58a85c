#include "chaos/fault_schedule.h"

#include <map>
#include <set>

#include "gtest/gtest.h"

namespace tcc::chaos {
namespace {

ScheduleOptions Options(absl::Duration duration = absl::Seconds(40)) {
  ScheduleOptions options;
  options.duration = duration;
  options.participants = {"bank-a", "bank-b", "inventory", "orders", "payment"};
  return options;
}

TEST(FaultScheduleTest, SameSeedReplaysTheSameSchedule) {
  for (uint64_t seed : {1, 2, 3, 12345}) {
    EXPECT_EQ(MakeSchedule(seed, Options()), MakeSchedule(seed, Options()))
        << seed;
  }
}

TEST(FaultScheduleTest, DifferentSeedsGiveDifferentSchedules) {
  EXPECT_FALSE(MakeSchedule(1, Options()) == MakeSchedule(2, Options()));
}

constexpr char kSeedOneOpening[] =
    "+   3.020s  kill-9        tccd       restart after 0.353s\n"
    "+   5.273s  refuse        bank-a     proxy for 2.522s\n"
    "+   6.957s  drop-replies  orders     proxy for 0.607s\n";

// A regression seed keeps its meaning only if the generator does not
// change: this pins seed 1's opening.
TEST(FaultScheduleTest, GeneratorIsStable) {
  const std::vector<Fault> faults = MakeSchedule(1, Options());
  ASSERT_GE(faults.size(), 3u);
  std::string opening;
  for (int i = 0; i < 3; ++i) opening += faults[i].ToString() + "\n";
  EXPECT_EQ(opening, kSeedOneOpening);
}

TEST(FaultScheduleTest, FaultsStayInTheWindowAndNeverOverlapOnATarget) {
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    const ScheduleOptions options = Options();
    const std::vector<Fault> faults = MakeSchedule(seed, options);
    std::map<std::string, absl::Duration> busy_until;
    absl::Duration previous_start;
    for (const Fault& f : faults) {
      EXPECT_GE(f.start, previous_start) << seed << ": not ordered";
      previous_start = f.start;
      EXPECT_GE(f.start, options.warmup) << seed << ": " << f.ToString();
      EXPECT_LE(f.end(), options.duration - options.quiet_tail)
          << seed << ": " << f.ToString();
      const bool process =
          f.kind == FaultKind::kKill || f.kind == FaultKind::kPause;
      EXPECT_TRUE(process || f.target != "tccd") << f.ToString();
      const std::string key = process ? f.target : "proxy/" + f.target;
      EXPECT_GE(f.start, busy_until[key]) << seed << ": " << f.ToString();
      busy_until[key] = f.end();
      if (f.kind == FaultKind::kPause) {
        EXPECT_GT(f.length, options.call_timeout) << f.ToString();
      }
    }
  }
}

TEST(FaultScheduleTest, AFewSeedsCoverEveryKindAndTarget) {
  std::set<FaultKind> kinds;
  std::set<std::string> killed;
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    for (const Fault& f : MakeSchedule(seed, Options(absl::Seconds(30)))) {
      kinds.insert(f.kind);
      if (f.kind == FaultKind::kKill) killed.insert(f.target);
    }
  }
  EXPECT_EQ(kinds.size(), 6u);
  EXPECT_TRUE(killed.contains("tccd"));
}

TEST(FaultScheduleTest, LongerRunsHaveMoreFaults) {
  EXPECT_GT(MakeSchedule(1, Options(absl::Minutes(10))).size(),
            5 * MakeSchedule(1, Options(absl::Seconds(40))).size());
}

}  // namespace
}  // namespace tcc::chaos
