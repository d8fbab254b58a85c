#include "bench_runner.h"

#include <unistd.h>

#include <algorithm>
#include <memory>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "echo_service.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "process_stats.h"
#include "tcc/common/logging.h"
#include "workloads.h"

namespace tcc::bench {
namespace {

constexpr absl::Duration kRssSampleInterval = absl::Milliseconds(100);

// CPU time of `child`, zero if it is gone or absent.
absl::Duration CpuOf(const ChildProcess* child) {
  if (child == nullptr) return absl::ZeroDuration();
  absl::StatusOr<absl::Duration> cpu = ProcessCpuTime(child->pid());
  return cpu.ok() ? *cpu : absl::ZeroDuration();
}

double Millis(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

// Microseconds of `cpu` per `count` events, -1 when there were none.
double MicrosPer(absl::Duration cpu, int64_t count) {
  if (count <= 0) return -1;
  return absl::ToDoubleMicroseconds(cpu) / static_cast<double>(count);
}

// Appends the threads of `child` to `out`, nothing if it is gone or absent.
void AppendThreadsOf(const ChildProcess* child,
                     std::vector<ThreadSample>* out) {
  if (child == nullptr) return;
  absl::StatusOr<std::vector<ThreadSample>> threads =
      ProcessThreads(child->pid());
  if (threads.ok()) out->insert(out->end(), threads->begin(), threads->end());
}

// The threads of one process group per committed transaction.
void AddThreadFigures(const std::string& process,
                      const std::vector<ThreadSample>& before,
                      const std::vector<ThreadSample>& after, int64_t committed,
                      std::vector<ThreadFigures>* out) {
  if (committed <= 0) return;
  const double n = static_cast<double>(committed);
  for (const ThreadUse& use : ThreadUseBetween(before, after)) {
    const double cpu_us = absl::ToDoubleMicroseconds(use.cpu) / n;
    const double sleeps = static_cast<double>(use.voluntary_switches) / n;
    // Threads that hardly ran or slept in the window (gRPC's timers, a
    // main thread waiting for a signal) say nothing.
    if (cpu_us < 0.05 && sleeps < 0.005) continue;
    out->push_back(
        ThreadFigures{.process = process,
                      .thread = use.name,
                      .threads = use.threads,
                      .cpu_us_per_tx = cpu_us,
                      .sleeps_per_tx = sleeps,
                      .preemptions_per_tx =
                          static_cast<double>(use.involuntary_switches) / n});
  }
}

int64_t Median(std::vector<int64_t> samples) {
  if (samples.empty()) return -1;
  std::nth_element(samples.begin(), samples.begin() + samples.size() / 2,
                   samples.end());
  return samples[samples.size() / 2];
}

}  // namespace

BenchRunner::BenchRunner(BenchCluster* cluster, RunOptions options)
    : cluster_(cluster), options_(std::move(options)) {}

BenchRunner::CpuSample BenchRunner::SampleCpu() const {
  CpuSample sample;
  sample.coordinator = CpuOf(cluster_->tccd());
  for (const ChildProcess* p : cluster_->participants()) {
    sample.participants += CpuOf(p);
  }
  sample.echo = CpuOf(cluster_->echo());
  sample.client = SelfCpuTime();
  absl::StatusOr<absl::Duration> machine = MachineBusyCpuTime();
  sample.machine = machine.ok() ? *machine : absl::ZeroDuration();
  if (options_.thread_stats) {
    AppendThreadsOf(cluster_->tccd(), &sample.coordinator_threads);
    for (const ChildProcess* p : cluster_->participants()) {
      AppendThreadsOf(p, &sample.participant_threads);
    }
    absl::StatusOr<std::vector<ThreadSample>> own = ProcessThreads(getpid());
    if (own.ok()) sample.client_threads = *std::move(own);
  }
  return sample;
}

double BenchRunner::ForeignCores(const CpuSample& before,
                                 const CpuSample& after,
                                 absl::Duration window) {
  if (window <= absl::ZeroDuration()) return -1;
  const absl::Duration ours = (after.coordinator - before.coordinator) +
                              (after.participants - before.participants) +
                              (after.echo - before.echo) +
                              (after.client - before.client);
  const absl::Duration foreign = (after.machine - before.machine) - ours;
  // Tick granularity makes small negative values possible.
  return std::max(0.0, absl::FDivDuration(foreign, window));
}

double BenchRunner::IdleCores(const CpuSample& before, const CpuSample& after,
                              absl::Duration window) {
  if (window <= absl::ZeroDuration() || after.machine <= before.machine) {
    return -1;
  }
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  if (cpus <= 0) return -1;
  const double busy =
      absl::FDivDuration(after.machine - before.machine, window);
  return std::max(0.0, static_cast<double>(cpus) - busy);
}

bool BenchRunner::Drive(ClosedLoop& loop, pid_t rss_pid, CpuSample* before,
                        CpuSample* after, std::vector<int64_t>* rss_samples) {
  loop.Start();
  absl::SleepFor(options_.warmup);
  *before = SampleCpu();
  loop.BeginMeasurement();
  const absl::Time end = absl::Now() + options_.duration;
  for (absl::Time now = absl::Now(); now < end; now = absl::Now()) {
    absl::SleepFor(std::min(kRssSampleInterval, end - now));
    if (rss_pid > 0) {
      absl::StatusOr<int64_t> rss = ProcessRssBytes(rss_pid);
      if (rss.ok()) rss_samples->push_back(*rss);
    }
  }
  loop.EndMeasurement();
  *after = SampleCpu();
  const bool drained =
      loop.StopAndDrain(options_.call_deadline + absl::Seconds(10));
  absl::SleepFor(options_.settle);
  return drained;
}

absl::StatusOr<TxRunFigures> BenchRunner::RunTransactions(
    const std::string& mode, int branches, int concurrency) {
  TransactionMode workload_mode;
  if (mode == "tcc") {
    workload_mode = TransactionMode::kTcc;
  } else if (mode == "saga") {
    workload_mode = TransactionMode::kSaga;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown --mode ", mode, " (tcc or saga)"));
  }
  ClientOptions client;
  client.target = cluster_->coordinator_target();
  client.channels = options_.client_channels;
  client.grpc_retries = options_.client_grpc_retries;
  client.concurrency = concurrency;
  client.call_deadline = options_.call_deadline;
  client.payload_bytes = options_.payload_bytes;
  auto workload = std::make_unique<TransactionWorkload>(
      client, workload_mode, branches, cluster_->participant_names(),
      absl::StrCat("bench-", absl::ToUnixMillis(absl::Now()), "-", getpid(),
                   "-r", runs_++));
  ClosedLoop loop(concurrency, [w = workload.get()](int c, CallDone done) {
    w->Issue(c, std::move(done));
  });

  const ChildProcess* tccd = cluster_->tccd();
  int64_t rss_idle = -1;
  if (tccd != nullptr) {
    absl::StatusOr<int64_t> rss = ProcessRssBytes(tccd->pid());
    if (rss.ok()) rss_idle = *rss;
  }
  CpuSample before;
  CpuSample after;
  std::vector<int64_t> rss_samples;
  if (!Drive(loop, tccd != nullptr ? tccd->pid() : 0, &before, &after,
             &rss_samples)) {
    LogWarning("calls still in flight after the drain timeout");
    workload.release();  // Leaked on purpose: late callbacks use it.
  }

  const ClosedLoopCounts counts = loop.Counts();
  LatencyRecorder& latencies = loop.latencies();
  TxRunFigures f;
  f.mode = mode;
  f.branches = branches;
  f.participants = static_cast<int>(cluster_->participant_names().size());
  f.concurrency = concurrency;
  f.payload_bytes = options_.payload_bytes;
  f.seconds = absl::ToDoubleSeconds(counts.window);
  f.committed = counts.committed;
  f.committed_total = counts.committed_total;
  f.rolled_back = counts.rolled_back;
  f.errors = counts.errors;
  f.first_error = counts.first_error;
  f.tx_per_s = f.seconds > 0 ? f.committed / f.seconds : 0;
  f.mean_ms = Millis(latencies.Mean());
  f.p50_ms = Millis(latencies.Quantile(0.50));
  f.p90_ms = Millis(latencies.Quantile(0.90));
  f.p99_ms = Millis(latencies.Quantile(0.99));
  f.p999_ms = Millis(latencies.Quantile(0.999));
  const int64_t completed = f.committed + f.rolled_back + f.errors;
  f.abort_rate = completed > 0
                     ? static_cast<double>(completed - f.committed) / completed
                     : 0;
  f.client_cpu_us_per_tx = MicrosPer(after.client - before.client, f.committed);
  if (tccd != nullptr) {
    const absl::Duration coordinator = after.coordinator - before.coordinator;
    const absl::Duration participants =
        after.participants - before.participants;
    const absl::Duration client = after.client - before.client;
    const absl::Duration total = coordinator + participants + client;
    f.coordinator_cpu_us_per_tx = MicrosPer(coordinator, f.committed);
    f.participants_cpu_us_per_tx = MicrosPer(participants, f.committed);
    f.cpu_us_per_tx = MicrosPer(total, f.committed);
    if (counts.window > absl::ZeroDuration()) {
      f.cores_busy = absl::FDivDuration(total, counts.window);
    }
    f.tccd_rss_idle_bytes = rss_idle;
    f.tccd_rss_load_bytes = Median(rss_samples);
    f.foreign_cores = ForeignCores(before, after, counts.window);
  }
  f.idle_cores = IdleCores(before, after, counts.window);
  if (options_.thread_stats) {
    AddThreadFigures("tccd", before.coordinator_threads,
                     after.coordinator_threads, f.committed, &f.threads);
    AddThreadFigures("participants", before.participant_threads,
                     after.participant_threads, f.committed, &f.threads);
    AddThreadFigures("client", before.client_threads, after.client_threads,
                     f.committed, &f.threads);
  }
  return f;
}

absl::StatusOr<MemoryFigures> BenchRunner::RunMemoryProbe(
    int concurrency, absl::Duration try_delay) {
  const ChildProcess* tccd = cluster_->tccd();
  if (tccd == nullptr || cluster_->hold_participant().empty()) {
    return absl::FailedPreconditionError(
        "the memory probe needs a started tccd and hold participant");
  }
  constexpr int kBranches = 2;
  ClientOptions client;
  client.target = cluster_->coordinator_target();
  client.channels = options_.client_channels;
  client.grpc_retries = options_.client_grpc_retries;
  client.call_deadline = options_.call_deadline;
  client.payload_bytes = options_.payload_bytes;
  auto prefix = [this] {
    return absl::StrCat("probe-", absl::ToUnixMillis(absl::Now()), "-",
                        getpid(), "-r", runs_++);
  };

  // Warm-up, so that connections and one-time allocations are in the idle
  // figure: a second of ordinary transactions, then one held transaction.
  client.concurrency = 4;
  TransactionWorkload warm(client, TransactionMode::kTcc, kBranches,
                           cluster_->participant_names(), prefix());
  client.concurrency = 1;
  TransactionWorkload warm_hold(
      client, TransactionMode::kTcc, kBranches,
      std::vector<std::string>{cluster_->hold_participant()}, prefix());
  for (auto [workload, length] :
       {std::pair{&warm, absl::Seconds(1)},
        std::pair{&warm_hold, absl::Milliseconds(10)}}) {
    const int clients = workload == &warm ? 4 : 1;
    ClosedLoop loop(clients, [workload](int c, CallDone done) {
      workload->Issue(c, std::move(done));
    });
    loop.Start();
    absl::SleepFor(length);
    if (!loop.StopAndDrain(try_delay + options_.call_deadline)) {
      return absl::DeadlineExceededError("memory probe warm-up did not end");
    }
  }
  absl::SleepFor(options_.settle);

  client.concurrency = concurrency;
  auto workload = std::make_unique<TransactionWorkload>(
      client, TransactionMode::kTcc, kBranches,
      std::vector<std::string>{cluster_->hold_participant()}, prefix());
  ClosedLoop loop(concurrency, [w = workload.get()](int c, CallDone done) {
    w->Issue(c, std::move(done));
  });
  absl::StatusOr<int64_t> idle = ProcessRssBytes(tccd->pid());
  if (!idle.ok()) return idle.status();
  loop.BeginMeasurement();
  loop.Start();
  // Half-way through the hold every transaction has been created and is
  // waiting for its Tries; none has ended. Three samples around that point,
  // the median kept.
  std::vector<int64_t> samples;
  absl::SleepFor(try_delay * 0.4);
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<int64_t> rss = ProcessRssBytes(tccd->pid());
    if (!rss.ok()) return rss.status();
    samples.push_back(*rss);
    absl::SleepFor(try_delay * 0.1);
  }
  loop.EndMeasurement();
  const ClosedLoopCounts counts = loop.Counts();
  if (!loop.StopAndDrain(try_delay + options_.call_deadline)) {
    LogWarning("probe calls still in flight after the drain timeout");
    workload.release();  // Leaked on purpose: late callbacks use it.
  }
  absl::SleepFor(options_.settle);
  const int64_t loaded = Median(samples);
  MemoryFigures f;
  f.concurrency = concurrency;
  f.branches = kBranches;
  f.completed_before_sample =
      counts.committed + counts.rolled_back + counts.errors;
  f.tccd_rss_idle_bytes = *idle;
  f.tccd_rss_loaded_bytes = loaded;
  f.kib_per_in_flight =
      std::max<double>(0, loaded - *idle) / 1024.0 / concurrency;
  return f;
}

absl::StatusOr<EchoRunFigures> BenchRunner::RunEcho(int concurrency) {
  if (cluster_->echo_target().empty()) {
    return absl::FailedPreconditionError("the echo server is not running");
  }
  return RunEchoAt(cluster_->echo_target(), /*in_process=*/false, concurrency);
}

absl::StatusOr<EchoRunFigures> BenchRunner::RunEchoInProcess(int concurrency) {
  EchoService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return absl::UnavailableError("cannot start the in-process echo server");
  }
  absl::StatusOr<EchoRunFigures> f = RunEchoAt(
      absl::StrCat("127.0.0.1:", port), /*in_process=*/true, concurrency);
  server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  server->Wait();
  return f;
}

absl::StatusOr<EchoRunFigures> BenchRunner::RunEchoAt(const std::string& target,
                                                      bool in_process,
                                                      int concurrency) {
  ClientOptions client;
  client.target = target;
  client.channels = options_.client_channels;
  client.grpc_retries = options_.client_grpc_retries;
  client.concurrency = concurrency;
  client.call_deadline = options_.call_deadline;
  client.payload_bytes = options_.payload_bytes;
  auto workload = std::make_unique<EchoWorkload>(client);
  ClosedLoop loop(concurrency, [w = workload.get()](int c, CallDone done) {
    w->Issue(c, std::move(done));
  });
  CpuSample before;
  CpuSample after;
  std::vector<int64_t> unused;
  if (!Drive(loop, 0, &before, &after, &unused)) {
    LogWarning("echo calls still in flight after the drain timeout");
    workload.release();  // Leaked on purpose: late callbacks use it.
  }
  const ClosedLoopCounts counts = loop.Counts();
  EchoRunFigures f;
  f.concurrency = concurrency;
  f.in_process = in_process;
  f.payload_bytes = options_.payload_bytes;
  f.seconds = absl::ToDoubleSeconds(counts.window);
  f.ok = counts.committed;
  f.errors = counts.errors;
  f.first_error = counts.first_error;
  f.rpc_per_s = f.seconds > 0 ? f.ok / f.seconds : 0;
  f.p50_ms = Millis(loop.latencies().Quantile(0.50));
  f.p99_ms = Millis(loop.latencies().Quantile(0.99));
  const absl::Duration cpu =
      (after.echo - before.echo) + (after.client - before.client);
  f.cpu_us_per_rpc = MicrosPer(cpu, f.ok);
  f.foreign_cores = ForeignCores(before, after, counts.window);
  f.idle_cores = IdleCores(before, after, counts.window);
  if (counts.window > absl::ZeroDuration())
    f.cores_busy = absl::FDivDuration(cpu, counts.window);
  return f;
}

}  // namespace tcc::bench
