#include "disk_probe.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace tcc::bench {
namespace {

double Quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const size_t i =
      std::min(sorted.size() - 1, static_cast<size_t>(q * sorted.size()));
  return sorted[i];
}

}  // namespace

absl::StatusOr<DiskProbeFigures> ProbeDisk(const std::string& dir,
                                           absl::Duration duration,
                                           int record_bytes) {
  const std::string path = absl::StrCat(dir, "/disk_probe.XXXXXX");
  std::string name = path;
  const int fd = mkstemp(name.data());
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("disk probe: cannot create ", path,
                                            ": ", strerror(errno)));
  }
  const std::string record(std::max(1, record_bytes), 'x');
  std::vector<double> millis;
  absl::Status status;
  const absl::Time start = absl::Now();
  const absl::Time end = start + duration;
  absl::Time now = start;
  while (now < end) {
    const absl::Time t0 = now;
    if (write(fd, record.data(), record.size()) !=
        static_cast<ssize_t>(record.size())) {
      status = absl::InternalError(
          absl::StrCat("disk probe: write ", name, ": ", strerror(errno)));
      break;
    }
    if (fdatasync(fd) != 0) {
      status = absl::InternalError(
          absl::StrCat("disk probe: fdatasync ", name, ": ", strerror(errno)));
      break;
    }
    now = absl::Now();
    millis.push_back(absl::ToDoubleMilliseconds(now - t0));
  }
  close(fd);
  unlink(name.c_str());
  if (!status.ok()) return status;

  DiskProbeFigures f;
  f.seconds = absl::ToDoubleSeconds(now - start);
  f.syncs = static_cast<int64_t>(millis.size());
  f.record_bytes = static_cast<int>(record.size());
  for (double ms : millis) {
    if (ms > kStallMillis) {
      ++f.stalls;
      f.stalled_ms += ms;
    }
  }
  std::sort(millis.begin(), millis.end());
  f.p50_ms = Quantile(millis, 0.50);
  f.p99_ms = Quantile(millis, 0.99);
  f.p999_ms = Quantile(millis, 0.999);
  f.max_ms = millis.empty() ? 0 : millis.back();
  f.stalled_share = f.seconds > 0 ? f.stalled_ms / (1000 * f.seconds) : 0;
  return f;
}

}  // namespace tcc::bench
