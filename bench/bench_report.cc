#include "bench_report.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tcc::bench {
namespace {

constexpr char kJsonPrefix[] = "BENCH_JSON ";

// "-" for an unknown (negative) figure.
std::string OrDash(double value, const char* format) {
  if (value < 0) return "-";
  return absl::StrFormat(format, value);
}

std::string JsonNumber(double value) {
  if (value < 0) return "null";
  return absl::StrFormat("%.6g", value);
}

// Escapes what an error message may contain.
std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppendFormat(&out, "\\u%04x", c);
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

// ",\"threads\":[...]", or nothing when there are none.
std::string ThreadsJson(const std::vector<ThreadFigures>& threads) {
  if (threads.empty()) return "";
  std::string out = ",\"threads\":[";
  for (size_t i = 0; i < threads.size(); ++i) {
    const ThreadFigures& t = threads[i];
    absl::StrAppend(
        &out, i == 0 ? "" : ",", "{\"process\":", JsonString(t.process),
        ",\"thread\":", JsonString(t.thread), ",\"threads\":", t.threads,
        ",\"cpu_us_per_tx\":", JsonNumber(t.cpu_us_per_tx),
        ",\"sleeps_per_tx\":", JsonNumber(t.sleeps_per_tx),
        ",\"preemptions_per_tx\":", JsonNumber(t.preemptions_per_tx), "}");
  }
  return out + "]";
}

}  // namespace

std::string TxTableHeader() {
  return absl::StrFormat(
      "%-5s %4s %6s %9s %8s %8s %8s %8s %7s %9s %9s %9s %9s %8s %6s %6s",
      "mode", "br", "conc", "tx/s", "p50 ms", "p90 ms", "p99 ms", "p99.9ms",
      "abort%", "cpu us/tx", "coord us", "parts us", "client us", "RSS MiB",
      "other", "idle");
}

std::string TxTableRow(const TxRunFigures& f) {
  return absl::StrFormat(
      "%-5s %4d %6d %9.0f %8.2f %8.2f %8.2f %8.2f %7.2f %9s %9s %9s %9s %8s "
      "%6s %6s",
      f.mode, f.branches, f.concurrency, f.tx_per_s, f.p50_ms, f.p90_ms,
      f.p99_ms, f.p999_ms, 100 * f.abort_rate, OrDash(f.cpu_us_per_tx, "%.0f"),
      OrDash(f.coordinator_cpu_us_per_tx, "%.0f"),
      OrDash(f.participants_cpu_us_per_tx, "%.0f"),
      OrDash(f.client_cpu_us_per_tx, "%.0f"),
      OrDash(f.tccd_rss_load_bytes / 1048576.0, "%.1f"),
      OrDash(f.foreign_cores, "%.2f"), OrDash(f.idle_cores, "%.2f"));
}

std::string ThreadTableHeader() {
  return absl::StrFormat("  %-7s %-12s %-16s %3s %10s %10s %10s", "threads",
                         "process", "thread", "n", "cpu us/tx", "sleeps/tx",
                         "preempt/tx");
}

std::string ThreadTableRow(const ThreadFigures& f) {
  return absl::StrFormat("  %-7s %-12s %-16s %3d %10.1f %10.2f %10.2f",
                         "threads", f.process, f.thread, f.threads,
                         f.cpu_us_per_tx, f.sleeps_per_tx,
                         f.preemptions_per_tx);
}

std::string EchoTableHeader() {
  return absl::StrFormat("%-5s %6s %10s %8s %8s %10s %6s %6s %6s", "echo",
                         "conc", "rpc/s", "p50 ms", "p99 ms", "cpu us/rpc",
                         "cores", "other", "idle");
}

std::string EchoTableRow(const EchoRunFigures& f) {
  return absl::StrFormat(
      "%-5s %6d %10.0f %8.3f %8.3f %10s %6s %6s %6s",
      f.in_process ? "echo1" : "echo", f.concurrency, f.rpc_per_s, f.p50_ms,
      f.p99_ms, OrDash(f.cpu_us_per_rpc, "%.1f"), OrDash(f.cores_busy, "%.2f"),
      OrDash(f.foreign_cores, "%.2f"), OrDash(f.idle_cores, "%.2f"));
}

std::string MemoryTableHeader() {
  return absl::StrFormat("%-6s %6s %4s %10s %12s %12s %10s", "memory", "conc",
                         "br", "completed", "idle RSS MiB", "held RSS MiB",
                         "KiB/in-flt");
}

std::string MemoryTableRow(const MemoryFigures& f) {
  return absl::StrFormat(
      "%-6s %6d %4d %10d %12.1f %12.1f %10.1f", "memory", f.concurrency,
      f.branches, f.completed_before_sample, f.tccd_rss_idle_bytes / 1048576.0,
      f.tccd_rss_loaded_bytes / 1048576.0, f.kib_per_in_flight);
}

std::string EfficiencyTableHeader() {
  return absl::StrFormat("%-5s %4s %6s %9s %8s %10s %9s %10s", "mode", "br",
                         "conc", "tx/s", "rpcs/tx", "rpc/s", "echo rpc/s",
                         "efficiency");
}

std::string EfficiencyTableRow(const EfficiencyFigures& f) {
  return absl::StrFormat("%-5s %4d %6d %9.0f %8d %10.0f %10.0f %10.3f", f.mode,
                         f.branches, f.concurrency, f.tx_per_s, f.rpcs_per_tx,
                         f.tx_per_s * f.rpcs_per_tx, f.echo_rpc_per_s,
                         f.efficiency);
}

std::string DiskProbeTableHeader() {
  return absl::StrFormat("%-6s %-6s %8s %6s %8s %8s %8s %8s %7s %10s %8s",
                         "disk", "when", "syncs", "bytes", "p50 ms", "p99 ms",
                         "p99.9ms", "max ms", "stalls", "stalled ms",
                         "stalled%");
}

std::string DiskProbeTableRow(const DiskProbeFigures& f) {
  return absl::StrFormat(
      "%-6s %-6s %8d %6d %8.3f %8.3f %8.3f %8.1f %7d %10.0f %8.1f", "disk",
      f.when, f.syncs, f.record_bytes, f.p50_ms, f.p99_ms, f.p999_ms, f.max_ms,
      f.stalls, f.stalled_ms, 100 * f.stalled_share);
}

std::string PairTableHeader() {
  return "pair      tx/s cpu us/tx other  idle    echo rpc/s cpu us/rpc other "
         "efficiency";
}

std::string PairTableRow(const EfficiencyFigures& e, const TxRunFigures& tx,
                         const EchoRunFigures& echo) {
  return absl::StrFormat(
      "%4d %9.0f %9.0f %5.2f %5.2f %13.0f %10.1f %5.2f %10.3f", e.pair,
      tx.tx_per_s, tx.cpu_us_per_tx, tx.foreign_cores, tx.idle_cores,
      echo.rpc_per_s, echo.cpu_us_per_rpc, echo.foreign_cores, e.efficiency);
}

std::string ToJsonLine(const TxRunFigures& f) {
  return absl::StrCat(
      kJsonPrefix, "{\"kind\":\"tx\",\"mode\":", JsonString(f.mode),
      ",\"branches\":", f.branches, ",\"participants\":", f.participants,
      ",\"concurrency\":", f.concurrency,
      ",\"payload_bytes\":", f.payload_bytes,
      ",\"seconds\":", JsonNumber(f.seconds), ",\"committed\":", f.committed,
      ",\"committed_total\":", f.committed_total,
      ",\"rolled_back\":", f.rolled_back, ",\"errors\":", f.errors,
      ",\"first_error\":", JsonString(f.first_error),
      ",\"tx_per_s\":", JsonNumber(f.tx_per_s),
      ",\"mean_ms\":", JsonNumber(f.mean_ms),
      ",\"p50_ms\":", JsonNumber(f.p50_ms),
      ",\"p90_ms\":", JsonNumber(f.p90_ms),
      ",\"p99_ms\":", JsonNumber(f.p99_ms),
      ",\"p999_ms\":", JsonNumber(f.p999_ms),
      ",\"abort_rate\":", JsonNumber(f.abort_rate),
      ",\"cpu_us_per_tx\":", JsonNumber(f.cpu_us_per_tx),
      ",\"coordinator_cpu_us_per_tx\":",
      JsonNumber(f.coordinator_cpu_us_per_tx),
      ",\"participants_cpu_us_per_tx\":",
      JsonNumber(f.participants_cpu_us_per_tx),
      ",\"client_cpu_us_per_tx\":", JsonNumber(f.client_cpu_us_per_tx),
      ",\"cores_busy\":", JsonNumber(f.cores_busy),
      ",\"foreign_cores\":", JsonNumber(f.foreign_cores),
      ",\"idle_cores\":", JsonNumber(f.idle_cores), ",\"tccd_rss_idle_bytes\":",
      f.tccd_rss_idle_bytes < 0 ? "null" : absl::StrCat(f.tccd_rss_idle_bytes),
      ",\"tccd_rss_load_bytes\":",
      f.tccd_rss_load_bytes < 0 ? "null" : absl::StrCat(f.tccd_rss_load_bytes),
      ThreadsJson(f.threads), "}");
}

std::string ToJsonLine(const EchoRunFigures& f) {
  return absl::StrCat(
      kJsonPrefix, "{\"kind\":\"echo\",\"concurrency\":", f.concurrency,
      ",\"in_process\":", f.in_process ? "true" : "false",
      ",\"before_sweep\":", f.before_sweep ? "true" : "false",
      ",\"payload_bytes\":", f.payload_bytes,
      ",\"seconds\":", JsonNumber(f.seconds), ",\"ok\":", f.ok,
      ",\"errors\":", f.errors, ",\"first_error\":", JsonString(f.first_error),
      ",\"rpc_per_s\":", JsonNumber(f.rpc_per_s),
      ",\"p50_ms\":", JsonNumber(f.p50_ms),
      ",\"p99_ms\":", JsonNumber(f.p99_ms),
      ",\"cpu_us_per_rpc\":", JsonNumber(f.cpu_us_per_rpc),
      ",\"cores_busy\":", JsonNumber(f.cores_busy),
      ",\"foreign_cores\":", JsonNumber(f.foreign_cores),
      ",\"idle_cores\":", JsonNumber(f.idle_cores), "}");
}

std::string ToJsonLine(const MemoryFigures& f) {
  return absl::StrCat(
      kJsonPrefix, "{\"kind\":\"memory\",\"concurrency\":", f.concurrency,
      ",\"branches\":", f.branches,
      ",\"completed_before_sample\":", f.completed_before_sample,
      ",\"tccd_rss_idle_bytes\":", f.tccd_rss_idle_bytes,
      ",\"tccd_rss_loaded_bytes\":", f.tccd_rss_loaded_bytes,
      ",\"kib_per_in_flight\":", JsonNumber(f.kib_per_in_flight), "}");
}

std::string ToJsonLine(const EfficiencyFigures& f) {
  return absl::StrCat(
      kJsonPrefix, "{\"kind\":\"efficiency\",\"branches\":", f.branches,
      ",\"concurrency\":", f.concurrency,
      ",\"tx_per_s\":", JsonNumber(f.tx_per_s),
      ",\"rpcs_per_tx\":", f.rpcs_per_tx,
      ",\"echo_rpc_per_s\":", JsonNumber(f.echo_rpc_per_s),
      ",\"echo_concurrency\":", f.echo_concurrency,
      ",\"efficiency\":", JsonNumber(f.efficiency), ",\"pair\":", f.pair, "}");
}

std::string ToJsonLine(const DiskProbeFigures& f) {
  return absl::StrCat(
      kJsonPrefix, "{\"kind\":\"disk\",\"when\":", JsonString(f.when),
      ",\"seconds\":", JsonNumber(f.seconds), ",\"syncs\":", f.syncs,
      ",\"record_bytes\":", f.record_bytes,
      ",\"p50_ms\":", JsonNumber(f.p50_ms),
      ",\"p99_ms\":", JsonNumber(f.p99_ms),
      ",\"p999_ms\":", JsonNumber(f.p999_ms),
      ",\"max_ms\":", JsonNumber(f.max_ms), ",\"stalls\":", f.stalls,
      ",\"stall_threshold_ms\":", JsonNumber(kStallMillis),
      ",\"stalled_ms\":", JsonNumber(f.stalled_ms),
      ",\"stalled_share\":", JsonNumber(f.stalled_share), "}");
}

}  // namespace tcc::bench
