#include "bench_cluster.h"

#include <sys/wait.h>

#include <cstring>
#include <fstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace tcc::bench {
namespace {

constexpr absl::Duration kStartTimeout = absl::Seconds(30);

// " batch { ... }" for a participant's entry in tccd's configuration, or ""
// when every setting is tccd's default.
std::string BatchConfigText(const BenchClusterOptions& options) {
  std::string fields;
  if (!options.batch_calls) absl::StrAppend(&fields, " disabled: true");
  if (options.batch_max_in_flight > 0) {
    absl::StrAppend(&fields, " max_in_flight: ", options.batch_max_in_flight);
  }
  if (options.batch_max_items > 0) {
    absl::StrAppend(&fields, " max_items: ", options.batch_max_items);
  }
  return fields.empty() ? "" : absl::StrCat(" batch {", fields, " }");
}

std::string Loopback(int port) { return absl::StrCat("127.0.0.1:", port); }

// Starts `argv` with --port_file=<work_dir>/<name>.port and waits for it.
absl::StatusOr<int> StartServing(const std::string& work_dir,
                                 const std::string& name,
                                 std::vector<std::string> argv,
                                 std::unique_ptr<ChildProcess>* child) {
  const std::string port_file = absl::StrCat(work_dir, "/", name, ".port");
  argv.push_back(absl::StrCat("--port_file=", port_file));
  absl::StatusOr<std::unique_ptr<ChildProcess>> started = ChildProcess::Start(
      std::move(argv), absl::StrCat(work_dir, "/", name, ".log"));
  if (!started.ok()) return started.status();
  *child = *std::move(started);
  return (*child)->WaitForPortFile(port_file, kStartTimeout);
}

}  // namespace

bool IsLoopbackTarget(const std::string& target) {
  for (const char* host : {"127.0.0.1:", "localhost:", "[::1]:"}) {
    if (absl::StartsWith(target, host) && target.size() > strlen(host)) {
      return true;
    }
  }
  return false;
}

absl::StatusOr<std::unique_ptr<BenchCluster>> BenchCluster::Start(
    const BenchClusterOptions& options) {
  std::unique_ptr<BenchCluster> cluster(new BenchCluster());
  const std::string& dir = options.work_dir;

  if (!options.coordinator_target.empty()) {
    if (!IsLoopbackTarget(options.coordinator_target)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--coordinator must be a loopback address "
                       "(127.0.0.1:<port>), got ",
                       options.coordinator_target));
    }
    cluster->coordinator_target_ = options.coordinator_target;
    for (int i = 0; i < options.participants; ++i) {
      cluster->participant_names_.push_back(absl::StrCat("p", i));
    }
  } else {
    std::string config;
    for (int i = 0; i < options.participants; ++i) {
      const std::string name = absl::StrCat("p", i);
      std::vector<std::string> argv = {
          options.participant_path, "--listen=127.0.0.1:0",
          absl::StrCat("--data_dir=", dir, "/", name, ".db"),
          absl::StrCat("--executor_threads=",
                       options.participant_executor_threads)};
      argv.insert(argv.end(), options.participant_extra_args.begin(),
                  options.participant_extra_args.end());
      std::unique_ptr<ChildProcess> child;
      absl::StatusOr<int> port =
          StartServing(dir, name, std::move(argv), &child);
      if (child != nullptr) cluster->participants_.push_back(std::move(child));
      if (!port.ok()) return port.status();
      cluster->participant_names_.push_back(name);
      // grpc_retries and batch only when set, so that a tccd built before
      // the fields existed (--tccd, for an A/B) still reads the file.
      absl::StrAppend(
          &config, "participant { name: \"", name, "\" target: \"",
          Loopback(*port), "\" channels: ", options.participant_channels,
          options.participant_grpc_retries ? " grpc_retries: true" : "",
          BatchConfigText(options), " }\n");
    }
    if (options.hold_try_delay > absl::ZeroDuration()) {
      absl::StatusOr<int> port = StartServing(
          dir, "hold",
          {options.participant_path, "--echo", "--listen=127.0.0.1:0",
           absl::StrCat("--try_delay=",
                        absl::FormatDuration(options.hold_try_delay))},
          &cluster->hold_);
      if (!port.ok()) return port.status();
      cluster->hold_participant_ = "hold";
      // Every held Try a call of its own, as without batching: the probe
      // measures the most a transaction in flight can hold.
      absl::StrAppend(
          &config, "participant { name: \"hold\" target: \"", Loopback(*port),
          "\"", options.batch_calls ? " batch { disabled: true }" : "", " }\n");
    }
    const std::string config_path = absl::StrCat(dir, "/tccd.textproto");
    {
      std::ofstream out(config_path);
      out << config;
      if (!out) {
        return absl::InternalError(absl::StrCat("cannot write ", config_path));
      }
    }
    std::vector<std::string> argv = {
        options.tccd_path, "--listen=127.0.0.1:0",
        absl::StrCat("--data_dir=", dir, "/tccd.db"),
        absl::StrCat("--config=", config_path),
        absl::StrCat("--executor_threads=", options.tccd_executor_threads)};
    argv.insert(argv.end(), options.tccd_extra_args.begin(),
                options.tccd_extra_args.end());
    absl::StatusOr<int> port =
        StartServing(dir, "tccd", std::move(argv), &cluster->tccd_);
    if (!port.ok()) return port.status();
    cluster->coordinator_target_ = Loopback(*port);
  }

  if (options.start_echo_server) {
    absl::StatusOr<int> port = StartServing(
        dir, "echo",
        {options.participant_path, "--echo", "--listen=127.0.0.1:0"},
        &cluster->echo_);
    if (!port.ok()) return port.status();
    cluster->echo_target_ = Loopback(*port);
  }
  return cluster;
}

std::vector<ChildProcess*> BenchCluster::participants() const {
  std::vector<ChildProcess*> out;
  for (const auto& p : participants_) out.push_back(p.get());
  return out;
}

bool BenchCluster::Stop() {
  bool clean = true;
  auto stop = [&clean](std::unique_ptr<ChildProcess>& child) {
    if (child == nullptr) return;
    int status = child->Stop();
    if (status != -1 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
      clean = false;
    }
  };
  // The coordinator first, so that it does not retry against stopped
  // participants.
  stop(tccd_);
  for (auto& p : participants_) stop(p);
  stop(hold_);
  stop(echo_);
  return clean;
}

}  // namespace tcc::bench
