// chaos_runner: real tccd, two bank_server and the three shop_server roles
// on loopback, a FaultProxy between tccd and each participant, concurrent
// clients sending bank transfers (TCC) and shop orders (saga and TCC), and
// a fault schedule drawn from --seed: kill -9 and restart, SIGSTOP/SIGCONT
// longer than tccd's call deadline, and proxy faults (delay, refused
// connections, connections cut mid-call, replies dropped). Once the faults
// stop and the clients are done, InvariantChecker reads the participants'
// durable state and tccd's records and reports every broken promise.
//
//   chaos_runner --seed=7 --duration=40s     # one round; exit 1 on violation
//   chaos_runner --seed=7 --duration=2h      # rounds of --round_duration
//   chaos_runner --seed=7 --print_schedule   # the schedule only
//
// A round's schedule is a pure function of its seed and length (and of
// --call_timeout and --fault_gap_*): the same seed replays the same faults
// at the same offsets. A long run is a series of rounds, each with a fresh
// cluster and its own seed (round 0 uses --seed); a failing round prints the
// command that replays it. See docs/RELIABILITY.md.

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "chaos/chaos_cluster.h"
#include "chaos/chaos_world.h"
#include "chaos/fault_schedule.h"
#include "chaos/invariant_checker.h"
#include "chaos/sabotage.h"
#include "chaos/workload.h"

ABSL_FLAG(uint64_t, seed, 1, "Seed of the fault schedule and the workload.");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(40),
          "Total load time. Longer than --round_duration: several rounds.");
ABSL_FLAG(absl::Duration, round_duration, absl::Minutes(2),
          "Length of one round (fresh cluster, faults, checks) in a long "
          "run.");
ABSL_FLAG(absl::Duration, call_timeout, absl::Seconds(1),
          "tccd's --call_timeout_ms; pauses last 1.5x to 4x this.");
ABSL_FLAG(absl::Duration, fault_gap_min, absl::Milliseconds(300),
          "Shortest time between the starts of two faults.");
ABSL_FLAG(absl::Duration, fault_gap_max, absl::Milliseconds(2500),
          "Longest time between the starts of two faults.");
ABSL_FLAG(int32_t, batch_max_in_flight, 1,
          "tccd's batch { max_in_flight } for every participant: with 1, "
          "every call that finds another of its kind in flight to the "
          "participant waits and leaves in a Participant.Batch call, so that "
          "the few clients of a chaos run exercise batching; 0: no batching.");
ABSL_FLAG(int32_t, bank_clients, 3, "Concurrent clients sending transfers.");
ABSL_FLAG(int32_t, shop_clients, 2, "Concurrent clients sending orders.");
ABSL_FLAG(absl::Duration, think, absl::Milliseconds(2),
          "Pause between two transactions of one client.");
ABSL_FLAG(absl::Duration, final_limit, absl::Seconds(60),
          "Every transaction must be final this long after the last fault.");
ABSL_FLAG(bool, print_schedule, false, "Print the schedule and exit.");
ABSL_FLAG(bool, keep_files, false,
          "Keep data and logs (always kept when a violation is found).");
ABSL_FLAG(bool, sabotage, false,
          "Checker self-test: plant violations after the load; pass only if "
          "the checker reports every one of them.");

namespace tcc::chaos {
namespace {

using tcc::testing::ProxyStats;

// One step of the schedule: a fault begins or ends.
struct Event {
  absl::Duration at;
  const Fault* fault;
  bool begin;
};

std::vector<Event> Timeline(const std::vector<Fault>& faults) {
  std::vector<Event> events;
  for (const Fault& f : faults) {
    events.push_back({f.start, &f, true});
    events.push_back({f.end(), &f, false});
  }
  // Ends first at equal times: a target is free again before its next fault.
  std::stable_sort(
      events.begin(), events.end(), [](const Event& a, const Event& b) {
        return a.at < b.at || (a.at == b.at && !a.begin && b.begin);
      });
  return events;
}

std::string FormatCounts(const std::map<std::string, int64_t>& counts) {
  std::vector<std::string> parts;
  for (const auto& [name, n] : counts) {
    parts.push_back(absl::StrCat(name, " ", n));
  }
  return absl::StrJoin(parts, ", ");
}

double Seconds(absl::Duration d) { return absl::ToDoubleSeconds(d); }

// The seed of round `round` of a run seeded `seed` (splitmix64).
uint64_t RoundSeed(uint64_t seed, int round) {
  if (round == 0) return seed;
  uint64_t z = seed + 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(round);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return (z ^ (z >> 31)) % 1000000000;  // short enough to type
}

// When a fault was undone (restart done, SIGCONT sent, proxy healed).
struct FaultEnd {
  const Fault* fault;
  absl::Time at;
};

// Runs the timeline against the cluster; returns when the last fault ended.
// Crashes nobody caused are appended to `violations`.
absl::Time InjectFaults(ChaosCluster& cluster, const std::vector<Fault>& faults,
                        absl::Time load_start, std::vector<FaultEnd>* ends,
                        std::vector<std::string>* violations) {
  absl::Time last_end = load_start;
  for (const Event& e : Timeline(faults)) {
    absl::SleepFor(load_start + e.at - absl::Now());
    for (std::string& crash : cluster.RestartCrashed()) {
      violations->push_back("crash: " + crash);
    }
    const absl::Time applied = absl::Now();
    absl::Status s = e.begin ? cluster.Begin(*e.fault) : cluster.End(*e.fault);
    // A restart may fail if the port is briefly unavailable; try again.
    for (int retry = 0; !s.ok() && !e.begin && retry < 5; ++retry) {
      absl::SleepFor(absl::Milliseconds(200));
      s = cluster.End(*e.fault);
    }
    if (!s.ok()) {
      violations->push_back(absl::StrCat(
          "could not end fault [", e.fault->ToString(), "]: ", s.ToString()));
    }
    last_end = absl::Now();
    std::printf("  [%8.3fs] %s %-12s %-9s (took %.3fs)\n",
                Seconds(applied - load_start), e.begin ? "begin" : "end  ",
                FaultKindName(e.fault->kind), e.fault->target.c_str(),
                Seconds(last_end - applied));
    std::fflush(stdout);
    if (!e.begin) ends->push_back({e.fault, last_end});
  }
  return last_end;
}

struct RoundResult {
  bool pass = false;
  int64_t transactions = 0;
  int64_t faults = 0;
  int64_t violations = 0;
  absl::Duration recovery;
  absl::Duration all_finished;
  absl::Duration worst_fault_recovery;
};

// Keeps only the violations the sabotage did not plant; adds one for each
// planted violation the checker missed.
std::vector<std::string> CheckPlanted(const std::vector<std::string>& planted,
                                      std::vector<std::string> violations) {
  std::vector<std::string> missed;
  for (const std::string& p : planted) {
    bool found = false;
    for (const std::string& v : violations) {
      found = found || absl::StrContains(v, p);
    }
    std::printf("  planted \"%s\": %s\n", p.c_str(),
                found ? "reported" : "MISSED");
    if (!found) missed.push_back("checker missed planted violation: " + p);
  }
  // What remains must come from the planted effects themselves (the
  // phantom's and the bypass's knock-on reports), not from the system.
  for (const std::string& v : violations) {
    const bool knock_on =
        absl::StrContains(v, "phantom") || absl::StrContains(v, "bank-a/a0") ||
        absl::StrContains(v, "bank-b/b0") ||
        absl::StrContains(v, "bank-b/b1") ||
        absl::StrContains(v, "money not conserved") ||
        absl::StrContains(v, "tccd lists") || absl::StrContains(v, "try:7") ||
        absl::StrContains(v, "order-bypass");
    bool planted_itself = false;
    for (const std::string& p : planted) {
      planted_itself = planted_itself || absl::StrContains(v, p);
    }
    if (!knock_on && !planted_itself) missed.push_back(v);
  }
  return missed;
}

RoundResult RunRound(const World& world, uint64_t seed,
                     absl::Duration duration) {
  RoundResult result;
  ScheduleOptions schedule_options;
  schedule_options.duration = duration;
  schedule_options.call_timeout = absl::GetFlag(FLAGS_call_timeout);
  schedule_options.min_gap = absl::GetFlag(FLAGS_fault_gap_min);
  schedule_options.max_gap = absl::GetFlag(FLAGS_fault_gap_max);
  schedule_options.participants = world.Participants();
  const std::vector<Fault> faults = MakeSchedule(seed, schedule_options);
  result.faults = static_cast<int64_t>(faults.size());

  std::map<std::string, int64_t> fault_counts;
  for (const Fault& f : faults) {
    ++fault_counts[FaultKindName(f.kind)];
    if (f.target == "tccd") ++fault_counts["(on tccd)"];
  }
  std::printf("chaos seed=%llu duration=%s call_timeout=%s: %zu faults\n",
              static_cast<unsigned long long>(seed),
              absl::FormatDuration(duration).c_str(),
              absl::FormatDuration(schedule_options.call_timeout).c_str(),
              faults.size());
  for (const Fault& f : faults) std::printf("  %s\n", f.ToString().c_str());
  std::fflush(stdout);
  if (absl::GetFlag(FLAGS_print_schedule)) {
    result.pass = true;
    return result;
  }

  ChaosCluster::Options cluster_options;
  cluster_options.seed = seed;
  cluster_options.call_timeout = schedule_options.call_timeout;
  cluster_options.batch_max_in_flight =
      absl::GetFlag(FLAGS_batch_max_in_flight);
  auto cluster = ChaosCluster::Start(world, cluster_options);
  if (!cluster.ok()) {
    std::printf("chaos: cannot start the cluster: %s\n",
                cluster.status().ToString().c_str());
    result.violations = 1;
    return result;
  }
  std::printf("cluster in %s\n", (*cluster)->dir().c_str());

  const absl::Time load_start = absl::Now();
  const absl::Duration final_limit = absl::GetFlag(FLAGS_final_limit);
  WorkloadOptions load_options;
  load_options.seed = seed;
  load_options.coordinator_address = (*cluster)->coordinator_address();
  load_options.bank_clients = absl::GetFlag(FLAGS_bank_clients);
  load_options.shop_clients = absl::GetFlag(FLAGS_shop_clients);
  load_options.think = absl::GetFlag(FLAGS_think);
  load_options.stop_at = load_start + duration;
  load_options.give_up_at = load_start + duration + final_limit;
  Workload load(world, load_options);
  load.Start();

  std::vector<std::string> violations;
  std::vector<FaultEnd> ends;
  const absl::Time last_fault_end =
      InjectFaults(**cluster, faults, load_start, &ends, &violations);
  load.Join();
  for (std::string& crash : (*cluster)->RestartCrashed()) {
    violations.push_back("crash: " + crash);
  }
  std::printf("load stopped at +%.3fs, checking\n",
              Seconds(absl::Now() - load_start));
  std::fflush(stdout);

  std::vector<Submitted> submitted = load.Results();
  std::vector<std::string> planted;
  if (absl::GetFlag(FLAGS_sabotage)) {
    planted = PlantViolations(**cluster, &submitted);
  }
  InvariantChecker checker(cluster->get(), world, final_limit);
  CheckReport report = checker.Check(submitted, last_fault_end);
  violations.insert(violations.end(), report.violations.begin(),
                    report.violations.end());
  const int tccd_exit = (*cluster)->TerminateTccd();
  if (!WIFEXITED(tccd_exit) || WEXITSTATUS(tccd_exit) != 0) {
    violations.push_back(
        absl::StrCat("tccd did not exit cleanly on SIGTERM: ", tccd_exit));
  }
  if (absl::GetFlag(FLAGS_sabotage)) {
    std::printf("checker self-test: %zu violations reported\n",
                violations.size());
    violations = CheckPlanted(planted, std::move(violations));
  }

  // Recovery after each fault: until everything begun before its end was
  // final. By kind, tccd's kills and pauses apart.
  std::map<std::string, std::vector<absl::Duration>> recoveries;
  for (const FaultEnd& end : ends) {
    const absl::Duration d = checker.FinishedAfter(end.at);
    if (getenv("CHAOS_DEBUG"))
      std::printf("DEBUG end %s at +%.3f: %.3f\n",
                  end.fault->ToString().c_str(), Seconds(end.at - load_start),
                  Seconds(d));
    std::string key = FaultKindName(end.fault->kind);
    if (end.fault->target == "tccd") key += " tccd";
    recoveries[key].push_back(d);
    result.worst_fault_recovery = std::max(result.worst_fault_recovery, d);
  }

  ProxyStats proxies;
  for (const std::string& p : world.Participants()) {
    ProxyStats s = (*cluster)->proxy_stats(p);
    proxies.connections += s.connections;
    proxies.cut += s.cut;
    proxies.refused += s.refused;
    proxies.bytes_dropped += s.bytes_dropped;
  }

  result.pass = violations.empty();
  result.transactions = report.transactions;
  result.violations = static_cast<int64_t>(violations.size());
  result.recovery = report.recovery;
  result.all_finished = report.all_finished;
  std::printf("==== chaos seed=%llu duration=%s: %s\n",
              static_cast<unsigned long long>(seed),
              absl::FormatDuration(duration).c_str(),
              result.pass ? "PASS" : "FAIL");
  std::printf(
      "transactions: %lld (%s); told %lld, never recorded %lld, sends %lld\n",
      static_cast<long long>(report.transactions),
      FormatCounts(report.by_kind).c_str(), static_cast<long long>(report.told),
      static_cast<long long>(report.never_recorded),
      static_cast<long long>(report.sends));
  std::printf("final states: %s\n", FormatCounts(report.by_state).c_str());
  std::printf("client statuses: %s\n",
              FormatCounts(load.StatusCounts()).c_str());
  for (const auto& [code, message] : load.StatusExamples()) {
    std::printf("  %s: %s\n", code.c_str(), message.c_str());
  }
  std::printf("faults injected: %zu (%s)\n", faults.size(),
              FormatCounts(fault_counts).c_str());
  std::printf(
      "proxies: %lld connections, %lld cut, %lld refused, %lld bytes "
      "dropped\n",
      static_cast<long long>(proxies.connections),
      static_cast<long long>(proxies.cut),
      static_cast<long long>(proxies.refused),
      static_cast<long long>(proxies.bytes_dropped));
  std::printf(
      "recovery: last fault ended at +%.3fs; what began before it was final "
      "%.3fs after it, everything %.3fs after it (checker saw it at %.3fs; "
      "limit %s)\n",
      Seconds(last_fault_end - load_start), Seconds(report.recovery),
      Seconds(report.all_finished), Seconds(report.all_final_after),
      absl::FormatDuration(final_limit).c_str());
  std::vector<std::string> per_kind;
  for (const auto& [kind, ds] : recoveries) {
    absl::Duration sum, worst;
    for (absl::Duration d : ds) {
      sum += d;
      worst = std::max(worst, d);
    }
    per_kind.push_back(absl::StrFormat(
        "%s n=%d mean %.3fs max %.3fs", kind, ds.size(),
        Seconds(sum / static_cast<int64_t>(ds.size())), Seconds(worst)));
  }
  std::printf("recovery after each fault: %s\n",
              absl::StrJoin(per_kind, "; ").c_str());
  std::printf("longest time without a new transaction: %.3fs from +%.3fs\n",
              Seconds(report.longest_gap),
              Seconds(report.longest_gap_start - load_start));
  std::printf(
      "latency create->final: p50 %s, p99 %s, max %s; journal entries %lld\n",
      absl::FormatDuration(report.latency_p50).c_str(),
      absl::FormatDuration(report.latency_p99).c_str(),
      absl::FormatDuration(report.latency_max).c_str(),
      static_cast<long long>(report.journal_entries));
  std::printf("violations: %zu\n", violations.size());
  const size_t shown = std::min<size_t>(violations.size(), 50);
  for (size_t i = 0; i < shown; ++i) {
    std::printf("  VIOLATION %s\n", violations[i].c_str());
  }
  std::printf(
      "CHAOS_RESULT seed=%llu duration_s=%.0f transactions=%lld faults=%zu "
      "violations=%zu recovery_ms=%lld all_finished_ms=%lld "
      "worst_fault_recovery_ms=%lld\n",
      static_cast<unsigned long long>(seed), Seconds(duration),
      static_cast<long long>(report.transactions), faults.size(),
      violations.size(),
      static_cast<long long>(absl::ToInt64Milliseconds(report.recovery)),
      static_cast<long long>(absl::ToInt64Milliseconds(report.all_finished)),
      static_cast<long long>(
          absl::ToInt64Milliseconds(result.worst_fault_recovery)));
  if (!result.pass || absl::GetFlag(FLAGS_keep_files)) {
    std::printf("data and logs kept in %s\n", (*cluster)->KeepFiles().c_str());
  }
  if (!result.pass) {
    std::printf(
        "replay: chaos_runner --seed=%llu --duration=%s --call_timeout=%s "
        "--fault_gap_min=%s --fault_gap_max=%s --bank_clients=%d "
        "--shop_clients=%d --think=%s --batch_max_in_flight=%d\n",
        static_cast<unsigned long long>(seed),
        absl::FormatDuration(duration).c_str(),
        absl::FormatDuration(schedule_options.call_timeout).c_str(),
        absl::FormatDuration(schedule_options.min_gap).c_str(),
        absl::FormatDuration(schedule_options.max_gap).c_str(),
        load_options.bank_clients, load_options.shop_clients,
        absl::FormatDuration(load_options.think).c_str(),
        absl::GetFlag(FLAGS_batch_max_in_flight));
  }
  std::fflush(stdout);
  return result;
}

int Run() {
  const uint64_t seed = absl::GetFlag(FLAGS_seed);
  const absl::Duration total = absl::GetFlag(FLAGS_duration);
  const absl::Duration round_length =
      std::min(total, absl::GetFlag(FLAGS_round_duration));
  const World world = DefaultWorld();
  // Rounds of `round_length`; a remainder under 20s is not worth a round.
  std::vector<absl::Duration> rounds;
  for (absl::Duration left = total; left > absl::ZeroDuration();
       left -= round_length) {
    if (!rounds.empty() && left < absl::Seconds(20)) break;
    rounds.push_back(std::min(left, round_length));
  }
  int failed = 0;
  int64_t transactions = 0, faults = 0, violations = 0;
  absl::Duration worst_recovery, worst_finished, worst_fault;
  for (size_t r = 0; r < rounds.size(); ++r) {
    if (rounds.size() > 1) {
      std::printf("\n---- round %zu of %zu\n", r + 1, rounds.size());
    }
    const RoundResult result =
        RunRound(world, RoundSeed(seed, static_cast<int>(r)), rounds[r]);
    if (!result.pass) ++failed;
    transactions += result.transactions;
    faults += result.faults;
    violations += result.violations;
    worst_recovery = std::max(worst_recovery, result.recovery);
    worst_finished = std::max(worst_finished, result.all_finished);
    worst_fault = std::max(worst_fault, result.worst_fault_recovery);
  }
  if (rounds.size() > 1) {
    std::printf(
        "\n==== chaos run seed=%llu: %zu rounds, %d failed; %lld "
        "transactions, %lld faults, %lld violations; worst recovery after "
        "a fault %s, after the last fault %s, all final %s after it\n",
        static_cast<unsigned long long>(seed), rounds.size(), failed,
        static_cast<long long>(transactions), static_cast<long long>(faults),
        static_cast<long long>(violations),
        absl::FormatDuration(worst_fault).c_str(),
        absl::FormatDuration(worst_recovery).c_str(),
        absl::FormatDuration(worst_finished).c_str());
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace
}  // namespace tcc::chaos

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Chaos run: faults from a seed under load, then invariant checks.");
  absl::ParseCommandLine(argc, argv);
  // The proxies write to sockets a fault may have closed.
  signal(SIGPIPE, SIG_IGN);
  return tcc::chaos::Run();
}
