// tcc_bench: throughput and latency of the coordinator, measured against
// the machine's ceiling in the same run.
//
//   tcc_bench --branches=2,4,8 --concurrency=1,4,16,64,128,256 --duration=10s
//
// Starts K bench_participant processes and tccd on loopback, each with a
// fresh data directory (or drives --coordinator=127.0.0.1:<port>), and runs
// a closed loop of N clients calling Coordinator.Execute through the gRPC
// callback API. The first --branches value is run at every --concurrency;
// the others at the concurrency that gave the most transactions/s. The
// echo ceiling, before and after the sweeps: unary calls to an echo server
// (bench_participant --echo) with the same client, the same payload and the
// same processes around; the fastest of them is the ceiling.
//
// --mode=saga runs Coordinator.Saga instead (1 + 1 RPC per step).
//
// Prints a table per kind of run and one "BENCH_JSON {...}" line per run.
// --smoke: a 2 s run at concurrency 4; exits 0 only if it committed.

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bench_cluster.h"
#include "bench_report.h"
#include "bench_runner.h"
#include "disk_probe.h"
#include "workloads.h"

ABSL_FLAG(std::string, mode, "tcc",
          "tcc (Coordinator.Execute) or saga (Coordinator.Saga).");
ABSL_FLAG(std::string, branches, "2",
          "Branches per transaction, a comma list. The first is run at "
          "every --concurrency; the others too with --sweep_all_branches, "
          "else only at the first one's best concurrency.");
ABSL_FLAG(bool, sweep_all_branches, false,
          "Run every --branches value at every --concurrency.");
ABSL_FLAG(std::string, concurrency, "1,4,16,64,256",
          "Concurrent clients (calls in flight), a comma list to sweep.");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10),
          "Measurement window of each run.");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(1),
          "Load before each measurement window.");
ABSL_FLAG(int32_t, payload_bytes, 64,
          "Opaque payload per branch (and per echo request).");
ABSL_FLAG(int32_t, participants, 2,
          "Benchmark participants (processes); branch i goes to participant "
          "i mod K.");
ABSL_FLAG(std::string, coordinator, "",
          "Drive this coordinator (127.0.0.1:<port>) instead of starting one; "
          "it must know participants p0..p<K-1>. CPU and memory figures are "
          "then not measured.");
ABSL_FLAG(bool, echo, true, "Measure the echo ceiling and the efficiency.");
ABSL_FLAG(std::string, echo_concurrency, "16,64,256",
          "Concurrencies of the echo runs (the best transaction concurrency "
          "is added); the ceiling is the best of them.");
ABSL_FLAG(bool, echo_before_sweep, true,
          "Also measure the echo at --echo_concurrency before the sweeps, so "
          "the ceiling is the fastest echo on either side of them (the "
          "machine's speed can move by tens of per cent within a run).");
ABSL_FLAG(bool, echo_in_process, true,
          "Also measure the echo against a server inside tcc_bench itself "
          "(one process calling itself over loopback), at the ceiling's "
          "concurrency, for reference.");
ABSL_FLAG(int32_t, paired_rounds, 3,
          "After the sweeps, this many back-to-back pairs of (transactions at "
          "the best concurrency, echo at the ceiling's concurrency), each "
          "--duration long; each pair gives an efficiency, and their median "
          "is printed. On a machine whose speed drifts, a pair compares runs "
          "made under the same conditions. 0: none.");
ABSL_FLAG(bool, memory_probe, true,
          "Measure tccd memory per in-flight transaction: hold "
          "--memory_probe_concurrency transactions in flight on a participant "
          "whose Try answers --memory_probe_hold late.");
ABSL_FLAG(int32_t, memory_probe_concurrency, 0,
          "Transactions held by the memory probe; 0: the largest "
          "--concurrency.");
ABSL_FLAG(absl::Duration, memory_probe_hold, absl::Seconds(2),
          "How late the probe's participant answers Try.");
ABSL_FLAG(absl::Duration, disk_probe, absl::Seconds(5),
          "Before the cluster starts and after it stops, append small records "
          "with an fdatasync after each, alone, for this long, in the work "
          "directory: the disk's fsync latency and its stalls (syncs over "
          "10 ms) without the benchmark. 0: no probe.");
ABSL_FLAG(int32_t, disk_probe_bytes, 256,
          "Bytes appended per synced write of the disk probe.");
ABSL_FLAG(double, max_other_cores, 0.15,
          "A run during which processes outside the benchmark kept more "
          "cores busy than this is repeated (see --other_load_retries).");
ABSL_FLAG(int32_t, other_load_retries, 0,
          "How often a run disturbed by other load is repeated; the least "
          "disturbed attempt is kept. For shared machines.");
ABSL_FLAG(int32_t, client_channels, 1,
          "HTTP/2 connections from the benchmark client to its target.");
ABSL_FLAG(int32_t, participant_channels, 1,
          "HTTP/2 connections from tccd to each participant.");
ABSL_FLAG(bool, client_grpc_retries, true,
          "gRPC's own retries on the benchmark client's channels, for the "
          "transactions and the echo alike. Default true, gRPC's default: "
          "the client an application would use. False makes every client "
          "call cheaper, the echo's (the ceiling) most.");
ABSL_FLAG(bool, participant_grpc_retries, false,
          "gRPC's own retries on tccd's channels to the participants (config "
          "grpc_retries).");
ABSL_FLAG(bool, batch_calls, true,
          "Let tccd send the Tries, and the Confirms and Cancels, that queue "
          "up behind calls in flight in Participant.Batch calls (the "
          "default); false writes batch { disabled: true } into tccd's "
          "configuration: one call per branch and phase.");
ABSL_FLAG(int32_t, batch_max_in_flight, 0,
          "batch { max_in_flight } in tccd's configuration; 0: tccd's "
          "default.");
ABSL_FLAG(int32_t, batch_max_items, 0,
          "batch { max_items } in tccd's configuration; 0: tccd's default.");
ABSL_FLAG(int32_t, participant_executor_threads, 2,
          "bench_participant --executor_threads.");
ABSL_FLAG(int32_t, tccd_executor_threads, 2, "tccd --executor_threads.");
ABSL_FLAG(std::vector<std::string>, tccd_args, {},
          "Extra tccd flags, comma separated (e.g. --call_timeout_ms=5000).");
ABSL_FLAG(std::vector<std::string>, participant_args, {},
          "Extra bench_participant flags, comma separated (e.g. "
          "--sync=false to see what durability costs).");
ABSL_FLAG(std::string, tccd, "", "tccd binary; default: the build tree's.");
ABSL_FLAG(std::string, participant, "",
          "bench_participant binary; default: the build tree's.");
ABSL_FLAG(std::string, work_dir, "",
          "Where data directories and logs go (a fresh tcc_bench.XXXXXX "
          "directory inside it); default $TMPDIR or /tmp.");
ABSL_FLAG(bool, keep_work_dir, false,
          "Keep data directories and logs (they are kept anyway on failure).");
ABSL_FLAG(std::string, json_out, "",
          "Also append every BENCH_JSON line (without the prefix) to this "
          "file.");
ABSL_FLAG(bool, thread_stats, false,
          "Under each transaction row, the CPU time, sleeps and preemptions "
          "per transaction of each named thread of tccd, the participants "
          "and the client (from /proc/<pid>/task; the --smoke run shows "
          "them too).");
ABSL_FLAG(bool, smoke, false,
          "Tiny run (2 s at concurrency 4, 2 branches, a short memory probe "
          "and echo); exit 0 only if transactions committed.");

namespace tcc::bench {
namespace {

absl::StatusOr<std::vector<int>> ParseIntList(const std::string& flag,
                                              const std::string& text) {
  std::vector<int> values;
  for (absl::string_view part :
       absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    int v = 0;
    if (!absl::SimpleAtoi(part, &v) || v < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, ": \"", part, "\" is not a positive int"));
    }
    values.push_back(v);
  }
  if (values.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, " is empty"));
  }
  return values;
}

// The flag's value, else the path CMake baked in, else `name` next to this
// binary.
std::string BinaryPath(const std::string& flag_value, const char* built,
                       const char* name) {
  if (!flag_value.empty()) return flag_value;
  std::error_code ec;
  if (std::filesystem::exists(built, ec)) return built;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe");
  return (self.parent_path() / name).string();
}

absl::StatusOr<std::string> MakeWorkDir() {
  std::string parent = absl::GetFlag(FLAGS_work_dir);
  if (parent.empty()) {
    const char* tmp = getenv("TMPDIR");
    parent = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
  }
  std::string pattern = absl::StrCat(parent, "/tcc_bench.XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("cannot create ", pattern));
  }
  return pattern;
}

// Prints to stdout and, with --json_out, to the file.
class Output {
 public:
  Output() {
    const std::string path = absl::GetFlag(FLAGS_json_out);
    if (!path.empty()) json_.open(path, std::ios::app);
  }
  void Line(const std::string& line) { std::cout << line << std::endl; }
  void Json(const std::string& line) {
    Line(line);
    if (json_.is_open()) {
      json_ << line.substr(line.find(' ') + 1) << std::endl;
    }
  }

 private:
  std::ofstream json_;
};

struct Plan {
  std::string mode;
  std::vector<int> branches;
  std::vector<int> concurrency;
  std::vector<int> echo_concurrency;
  bool echo = true;
  bool echo_before_sweep = false;
  int memory_probe_concurrency = 0;  // 0: no probe
  absl::Duration memory_probe_hold;
  double max_other_cores = 0.15;
  int other_load_retries = 0;
  int paired_rounds = 0;
  bool echo_in_process = false;
  bool sweep_all_branches = false;
  absl::Duration disk_probe;
  int disk_probe_bytes = 256;
};

EfficiencyFigures Efficiency(const TxRunFigures& tx,
                             const EchoRunFigures& echo) {
  EfficiencyFigures e;
  e.branches = tx.branches;
  e.concurrency = tx.concurrency;
  e.tx_per_s = tx.tx_per_s;
  e.mode = tx.mode;
  e.rpcs_per_tx = RpcsPerTransaction(
      tx.mode == "saga" ? TransactionMode::kSaga : TransactionMode::kTcc,
      tx.branches);
  e.echo_rpc_per_s = echo.rpc_per_s;
  e.echo_concurrency = echo.concurrency;
  e.efficiency =
      echo.rpc_per_s > 0 ? e.tx_per_s * e.rpcs_per_tx / echo.rpc_per_s : 0;
  return e;
}

// Runs `run` until the other load during it (foreign_cores) is at most
// plan.max_other_cores, at most 1 + plan.other_load_retries times, and keeps
// the least disturbed result.
template <class Figures, class Run>
absl::StatusOr<Figures> RunQuietly(const Plan& plan, Output& out, Run run) {
  absl::StatusOr<Figures> best;
  for (int attempt = 0; attempt <= plan.other_load_retries; ++attempt) {
    absl::StatusOr<Figures> f = run();
    if (!f.ok()) return f;
    if (!best.ok() || f->foreign_cores < best->foreign_cores) best = f;
    if (best->foreign_cores <= plan.max_other_cores) break;
    if (attempt < plan.other_load_retries) {
      out.Line(absl::StrFormat(
          "  (other processes kept %.2f cores busy; running it again)",
          f->foreign_cores));
    }
  }
  return best;
}

// Runs the echo at each of `levels` against the echo server process, prints
// and records each run, and keeps the fastest in *ceiling.
absl::Status RunEchoLevels(const Plan& plan, BenchRunner& runner, Output& out,
                           const std::vector<int>& levels, bool before_sweep,
                           EchoRunFigures* ceiling) {
  for (int concurrency : levels) {
    absl::StatusOr<EchoRunFigures> f = RunQuietly<EchoRunFigures>(
        plan, out, [&] { return runner.RunEcho(concurrency); });
    if (!f.ok()) return f.status();
    f->before_sweep = before_sweep;
    out.Line(EchoTableRow(*f));
    if (f->errors > 0) {
      out.Line(absl::StrCat("  first error: ", f->first_error));
    }
    out.Json(ToJsonLine(*f));
    if (f->rpc_per_s > ceiling->rpc_per_s) *ceiling = *f;
  }
  return absl::OkStatus();
}

// Runs the plan; returns the transactions committed by all runs (whole
// runs: a transaction that a slow disk pushes past the measurement window
// still counts), or an error that stopped the benchmark.
absl::StatusOr<int64_t> RunPlan(const Plan& plan, BenchRunner& runner,
                                Output& out) {
  // The memory probe first, on a fresh tccd (see RunMemoryProbe).
  if (plan.memory_probe_concurrency > 0) {
    absl::StatusOr<MemoryFigures> f = runner.RunMemoryProbe(
        plan.memory_probe_concurrency, plan.memory_probe_hold);
    if (!f.ok()) return f.status();
    out.Line(MemoryTableHeader());
    out.Line(MemoryTableRow(*f));
    out.Json(ToJsonLine(*f));
    out.Line("");
  }

  // The ceiling is the fastest echo measured anywhere in the run: a sweep
  // that happens to meet a faster machine than the echo after it would
  // otherwise read as more efficient than it is.
  EchoRunFigures ceiling;
  if (plan.echo && plan.echo_before_sweep) {
    out.Line("echo before the sweeps");
    out.Line(EchoTableHeader());
    absl::Status echoed =
        RunEchoLevels(plan, runner, out, plan.echo_concurrency,
                      /*before_sweep=*/true, &ceiling);
    if (!echoed.ok()) return echoed;
    out.Line("");
  }

  int64_t committed = 0;
  std::vector<TxRunFigures> best_per_branches;
  out.Line(TxTableHeader());
  for (size_t i = 0; i < plan.branches.size(); ++i) {
    const int branches = plan.branches[i];
    std::vector<int> sweep = plan.concurrency;
    if (i > 0 && !plan.sweep_all_branches) {
      sweep = {best_per_branches.front().concurrency};
    }
    TxRunFigures best;
    for (int concurrency : sweep) {
      absl::StatusOr<TxRunFigures> f = RunQuietly<TxRunFigures>(plan, out, [&] {
        return runner.RunTransactions(plan.mode, branches, concurrency);
      });
      if (!f.ok()) return f.status();
      out.Line(TxTableRow(*f));
      if (!f->threads.empty()) {
        out.Line(ThreadTableHeader());
        for (const ThreadFigures& t : f->threads) out.Line(ThreadTableRow(t));
      }
      if (f->errors > 0) {
        out.Line(absl::StrCat("  first error: ", f->first_error));
      }
      out.Json(ToJsonLine(*f));
      committed += f->committed_total;
      if (f->tx_per_s > best.tx_per_s || best.concurrency == 0) best = *f;
    }
    best_per_branches.push_back(best);
  }

  if (!plan.echo) return committed;

  std::vector<int> echo_levels = plan.echo_concurrency;
  echo_levels.push_back(best_per_branches.front().concurrency);
  std::sort(echo_levels.begin(), echo_levels.end());
  echo_levels.erase(std::unique(echo_levels.begin(), echo_levels.end()),
                    echo_levels.end());
  out.Line("");
  if (plan.echo_before_sweep) out.Line("echo after the sweeps");
  out.Line(EchoTableHeader());
  absl::Status echoed = RunEchoLevels(plan, runner, out, echo_levels,
                                      /*before_sweep=*/false, &ceiling);
  if (!echoed.ok()) return echoed;

  // The other usual statement of the ceiling: one process calling itself.
  // Shown for reference; the efficiency uses the fastest echo of all.
  if (plan.echo_in_process) {
    absl::StatusOr<EchoRunFigures> f = RunQuietly<EchoRunFigures>(
        plan, out,
        [&] { return runner.RunEchoInProcess(ceiling.concurrency); });
    if (!f.ok()) return f.status();
    out.Line(EchoTableRow(*f));
    out.Json(ToJsonLine(*f));
    if (f->rpc_per_s > ceiling.rpc_per_s) ceiling = *f;
  }

  out.Line("");
  out.Line(
      "(rpcs/tx: the protocol's calls, Execute plus a Try and a Confirm per "
      "branch, as if each were one unary RPC; under load tccd batches the "
      "participant calls, so fewer go on the wire: see tccd's counts at the "
      "end)");
  out.Line(EfficiencyTableHeader());
  for (const TxRunFigures& best : best_per_branches) {
    EfficiencyFigures e = Efficiency(best, ceiling);
    out.Line(EfficiencyTableRow(e));
    out.Json(ToJsonLine(e));
  }

  if (plan.paired_rounds > 0) {
    const TxRunFigures& best = best_per_branches.front();
    out.Line("");
    out.Line(absl::StrCat("paired rounds: ", best.branches,
                          "-branch transactions at ", best.concurrency,
                          " clients, then echo at ", ceiling.concurrency,
                          " clients, back to back"));
    out.Line(PairTableHeader());
    std::vector<double> efficiencies;
    for (int round = 1; round <= plan.paired_rounds; ++round) {
      absl::StatusOr<TxRunFigures> tx =
          runner.RunTransactions(plan.mode, best.branches, best.concurrency);
      if (!tx.ok()) return tx.status();
      committed += tx->committed_total;
      absl::StatusOr<EchoRunFigures> echo = runner.RunEcho(ceiling.concurrency);
      if (!echo.ok()) return echo.status();
      EfficiencyFigures e = Efficiency(*tx, *echo);
      e.pair = round;
      efficiencies.push_back(e.efficiency);
      out.Line(PairTableRow(e, *tx, *echo));
      out.Json(ToJsonLine(e));
    }
    std::sort(efficiencies.begin(), efficiencies.end());
    out.Line(absl::StrFormat("median paired efficiency: %.3f",
                             efficiencies[efficiencies.size() / 2]));
  }
  return committed;
}

// Runs the disk probe (if the plan has one) and prints its figures. A failed
// probe is reported, not fatal: the benchmark itself needs no probe.
void ProbeDiskAndPrint(const Plan& plan, const std::string& dir,
                       const char* when, Output& out) {
  if (plan.disk_probe <= absl::ZeroDuration()) return;
  absl::StatusOr<DiskProbeFigures> f =
      ProbeDisk(dir, plan.disk_probe, plan.disk_probe_bytes);
  if (!f.ok()) {
    out.Line(absl::StrCat("disk probe ", when, ": ", f.status().message()));
    return;
  }
  f->when = when;
  out.Line(DiskProbeTableHeader());
  out.Line(DiskProbeTableRow(*f));
  out.Json(ToJsonLine(*f));
  out.Line("");
}

// What tccd logged, when it stopped, about the participant calls it made
// (calls of their own, Batch calls and the items they carried): how many
// calls went on the wire over the whole run, sweeps and pairs together.
void PrintCallCounts(const std::string& work_dir, Output& out) {
  std::ifstream log(absl::StrCat(work_dir, "/tccd.log"));
  std::string line;
  bool first = true;
  while (std::getline(log, line)) {
    for (const char* what : {" tries: ", " confirms and cancels: "}) {
      size_t at = line.find(what);
      if (at == std::string::npos) continue;
      if (first) out.Line("");
      first = false;
      out.Line(absl::StrCat("tccd's participant calls, whole run, ",
                            line.substr(at + 1)));
    }
  }
}

int Main() {
  const bool smoke = absl::GetFlag(FLAGS_smoke);
  Plan plan;
  plan.mode = absl::GetFlag(FLAGS_mode);
  plan.echo = absl::GetFlag(FLAGS_echo);
  plan.max_other_cores = absl::GetFlag(FLAGS_max_other_cores);
  plan.other_load_retries =
      std::max(0, absl::GetFlag(FLAGS_other_load_retries));
  plan.paired_rounds =
      smoke ? 0 : std::max(0, absl::GetFlag(FLAGS_paired_rounds));
  plan.echo_in_process = !smoke && absl::GetFlag(FLAGS_echo_in_process);
  plan.echo_before_sweep = absl::GetFlag(FLAGS_echo_before_sweep);
  plan.sweep_all_branches = absl::GetFlag(FLAGS_sweep_all_branches);
  plan.disk_probe = absl::GetFlag(FLAGS_disk_probe);
  plan.disk_probe_bytes = absl::GetFlag(FLAGS_disk_probe_bytes);
  RunOptions run_options;
  run_options.payload_bytes = absl::GetFlag(FLAGS_payload_bytes);
  run_options.client_channels = absl::GetFlag(FLAGS_client_channels);
  run_options.client_grpc_retries = absl::GetFlag(FLAGS_client_grpc_retries);
  run_options.thread_stats = absl::GetFlag(FLAGS_thread_stats);
  if (smoke) {
    run_options.thread_stats = true;  // so that the test command runs it
    plan.branches = {2};
    plan.concurrency = {4};
    plan.echo_concurrency = {4};
    run_options.warmup = absl::Milliseconds(200);
    run_options.duration = absl::Seconds(2);
    plan.memory_probe_concurrency = 4;
    plan.memory_probe_hold = absl::Seconds(1);
    plan.disk_probe = std::min(plan.disk_probe, absl::Milliseconds(300));
  } else {
    absl::StatusOr<std::vector<int>> branches =
        ParseIntList("branches", absl::GetFlag(FLAGS_branches));
    absl::StatusOr<std::vector<int>> concurrency =
        ParseIntList("concurrency", absl::GetFlag(FLAGS_concurrency));
    absl::StatusOr<std::vector<int>> echo_concurrency =
        ParseIntList("echo_concurrency", absl::GetFlag(FLAGS_echo_concurrency));
    for (const absl::Status& s :
         {branches.status(), concurrency.status(), echo_concurrency.status()}) {
      if (!s.ok()) {
        std::cerr << s.message() << std::endl;
        return 2;
      }
    }
    plan.branches = *branches;
    plan.concurrency = *concurrency;
    plan.echo_concurrency = *echo_concurrency;
    run_options.warmup = absl::GetFlag(FLAGS_warmup);
    run_options.duration = absl::GetFlag(FLAGS_duration);
    if (absl::GetFlag(FLAGS_memory_probe)) {
      plan.memory_probe_concurrency =
          absl::GetFlag(FLAGS_memory_probe_concurrency) > 0
              ? absl::GetFlag(FLAGS_memory_probe_concurrency)
              : *std::max_element(plan.concurrency.begin(),
                                  plan.concurrency.end());
      plan.memory_probe_hold = absl::GetFlag(FLAGS_memory_probe_hold);
    }
  }
  if (!absl::GetFlag(FLAGS_coordinator).empty()) {
    plan.memory_probe_concurrency = 0;  // tccd's memory is out of reach.
  }
  if (plan.mode != "tcc" && plan.mode != "saga") {
    std::cerr << "--mode must be tcc or saga" << std::endl;
    return 2;
  }

  const std::string coordinator = absl::GetFlag(FLAGS_coordinator);
  if (!coordinator.empty() && !IsLoopbackTarget(coordinator)) {
    std::cerr << "--coordinator must be a loopback address (127.0.0.1:<port>)"
              << ", got " << coordinator << std::endl;
    return 2;
  }

  absl::StatusOr<std::string> work_dir = MakeWorkDir();
  if (!work_dir.ok()) {
    std::cerr << work_dir.status().message() << std::endl;
    return 1;
  }
  BenchClusterOptions cluster_options;
  cluster_options.tccd_path =
      BinaryPath(absl::GetFlag(FLAGS_tccd), TCC_BENCH_TCCD_PATH, "tccd");
  cluster_options.participant_path =
      BinaryPath(absl::GetFlag(FLAGS_participant), TCC_BENCH_PARTICIPANT_PATH,
                 "bench_participant");
  cluster_options.work_dir = *work_dir;
  cluster_options.participants = absl::GetFlag(FLAGS_participants);
  cluster_options.participant_executor_threads =
      absl::GetFlag(FLAGS_participant_executor_threads);
  cluster_options.tccd_executor_threads =
      absl::GetFlag(FLAGS_tccd_executor_threads);
  cluster_options.participant_channels =
      absl::GetFlag(FLAGS_participant_channels);
  cluster_options.participant_grpc_retries =
      absl::GetFlag(FLAGS_participant_grpc_retries);
  cluster_options.batch_calls = absl::GetFlag(FLAGS_batch_calls);
  cluster_options.batch_max_in_flight =
      absl::GetFlag(FLAGS_batch_max_in_flight);
  cluster_options.batch_max_items = absl::GetFlag(FLAGS_batch_max_items);
  cluster_options.tccd_extra_args = absl::GetFlag(FLAGS_tccd_args);
  cluster_options.participant_extra_args =
      absl::GetFlag(FLAGS_participant_args);
  cluster_options.coordinator_target = absl::GetFlag(FLAGS_coordinator);
  cluster_options.start_echo_server = plan.echo;
  if (plan.memory_probe_concurrency > 0) {
    cluster_options.hold_try_delay = plan.memory_probe_hold;
  }

  Output out;
  out.Line(absl::StrCat(
      "tcc_bench: mode=", plan.mode,
      " participants=", cluster_options.participants,
      " payload_bytes=", run_options.payload_bytes,
      " duration=", absl::FormatDuration(run_options.duration),
      " warmup=", absl::FormatDuration(run_options.warmup),
      " client_channels=", run_options.client_channels,
      " grpc_retries(client,tccd)=", run_options.client_grpc_retries, ",",
      cluster_options.participant_grpc_retries,
      " cpus=", std::thread::hardware_concurrency(), " work_dir=", *work_dir));
  out.Line("");
  ProbeDiskAndPrint(plan, *work_dir, "before", out);
  absl::StatusOr<std::unique_ptr<BenchCluster>> cluster =
      BenchCluster::Start(cluster_options);
  if (!cluster.ok()) {
    std::cerr << "tcc_bench: " << cluster.status().message()
              << "\n  (logs kept in " << *work_dir << ")" << std::endl;
    return 1;
  }
  // Process ids, for attaching a profiler (perf record -p <pid>).
  std::string processes = absl::StrCat("tcc_bench pid ", getpid());
  if ((*cluster)->tccd() != nullptr) {
    absl::StrAppend(&processes, ", tccd pid ", (*cluster)->tccd()->pid());
  }
  for (const ChildProcess* p : (*cluster)->participants()) {
    absl::StrAppend(&processes, ", participant pid ", p->pid());
  }
  if ((*cluster)->echo() != nullptr) {
    absl::StrAppend(&processes, ", echo pid ", (*cluster)->echo()->pid());
  }
  out.Line(absl::StrCat(
      "coordinator ", (*cluster)->coordinator_target(),
      (*cluster)->tccd() != nullptr ? " (started)" : "",
      plan.echo ? absl::StrCat(", echo server ", (*cluster)->echo_target())
                : ""));
  out.Line(processes);
  BenchRunner runner(cluster->get(), run_options);
  absl::StatusOr<int64_t> committed = RunPlan(plan, runner, out);
  const bool started_tccd = (*cluster)->tccd() != nullptr;
  const bool clean_exit = (*cluster)->Stop();
  cluster->reset();
  if (committed.ok() && started_tccd) PrintCallCounts(*work_dir, out);
  if (committed.ok()) {
    out.Line("");
    ProbeDiskAndPrint(plan, *work_dir, "after", out);
  }

  bool ok = committed.ok() && clean_exit && (!smoke || *committed > 0);
  if (!committed.ok()) {
    std::cerr << "tcc_bench: " << committed.status().message() << std::endl;
  } else if (smoke && *committed == 0) {
    std::cerr << "tcc_bench --smoke: no transaction committed" << std::endl;
  }
  if (!clean_exit) {
    std::cerr << "tcc_bench: a server exited with an error" << std::endl;
  }
  if (ok && !absl::GetFlag(FLAGS_keep_work_dir)) {
    std::error_code ec;
    std::filesystem::remove_all(*work_dir, ec);
  } else {
    std::cerr << "tcc_bench: data and logs in " << *work_dir << std::endl;
  }
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace tcc::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "tcc_bench: TCC coordinator throughput/latency against the loopback "
      "gRPC echo ceiling. See docs/BENCHMARKS.md.");
  absl::ParseCommandLine(argc, argv);
  // Debian's abseil is built with mutex deadlock detection on, which
  // records a lock graph (and stack traces) on every nested acquisition.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return tcc::bench::Main();
}
