#include "process_stats.h"

#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tcc::bench {
namespace {

absl::StatusOr<std::string> ReadProcFile(pid_t pid, const char* name) {
  std::string path = absl::StrCat("/proc/", pid, "/", name);
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

absl::Duration FromTimeval(const timeval& tv) {
  return absl::Seconds(tv.tv_sec) + absl::Microseconds(tv.tv_usec);
}

}  // namespace

absl::StatusOr<absl::Duration> ProcessCpuTime(pid_t pid) {
  absl::StatusOr<std::string> stat = ReadProcFile(pid, "stat");
  if (!stat.ok()) return stat.status();
  // The command name (field 2) is in parentheses and may contain spaces:
  // fields are counted from the last ')'. utime and stime are fields 14 and
  // 15, i.e. the 12th and 13th after the name.
  size_t close = stat->rfind(')');
  if (close == std::string::npos) {
    return absl::InternalError(absl::StrCat("malformed /proc/", pid, "/stat"));
  }
  std::vector<std::string> fields =
      absl::StrSplit(stat->substr(close + 1), ' ', absl::SkipEmpty());
  constexpr size_t kUtime = 11;
  constexpr size_t kStime = 12;
  if (fields.size() <= kStime) {
    return absl::InternalError(absl::StrCat("short /proc/", pid, "/stat"));
  }
  int64_t utime = 0;
  int64_t stime = 0;
  if (!absl::SimpleAtoi(fields[kUtime], &utime) ||
      !absl::SimpleAtoi(fields[kStime], &stime)) {
    return absl::InternalError(absl::StrCat("malformed /proc/", pid, "/stat"));
  }
  const int64_t ticks_per_second = sysconf(_SC_CLK_TCK);
  return absl::Seconds(1) * (utime + stime) / ticks_per_second;
}

absl::Duration SelfCpuTime() {
  rusage usage = {};
  getrusage(RUSAGE_SELF, &usage);
  return FromTimeval(usage.ru_utime) + FromTimeval(usage.ru_stime);
}

absl::StatusOr<absl::Duration> MachineBusyCpuTime() {
  std::ifstream in("/proc/stat");
  std::string line;
  if (!in || !std::getline(in, line)) {
    return absl::NotFoundError("cannot read /proc/stat");
  }
  // "cpu  user nice system idle iowait irq softirq steal guest guest_nice"
  std::vector<std::string> fields =
      absl::StrSplit(line, ' ', absl::SkipEmpty());
  constexpr size_t kIdle = 4;
  constexpr size_t kIowait = 5;
  constexpr size_t kLastCounted = 8;  // steal; guest time is inside user
  if (fields.size() <= kLastCounted || fields[0] != "cpu") {
    return absl::InternalError("malformed /proc/stat");
  }
  int64_t busy_ticks = 0;
  for (size_t i = 1; i <= kLastCounted; ++i) {
    if (i == kIdle || i == kIowait) continue;
    int64_t ticks = 0;
    if (!absl::SimpleAtoi(fields[i], &ticks)) {
      return absl::InternalError("malformed /proc/stat");
    }
    busy_ticks += ticks;
  }
  return absl::Seconds(1) * busy_ticks / sysconf(_SC_CLK_TCK);
}

absl::StatusOr<int64_t> ProcessRssBytes(pid_t pid) {
  absl::StatusOr<std::string> statm = ReadProcFile(pid, "statm");
  if (!statm.ok()) return statm.status();
  // "size resident shared text lib data dt", in pages.
  std::vector<std::string> fields =
      absl::StrSplit(*statm, ' ', absl::SkipEmpty());
  if (fields.size() < 2) {
    return absl::InternalError(absl::StrCat("short /proc/", pid, "/statm"));
  }
  int64_t pages = 0;
  if (!absl::SimpleAtoi(fields[1], &pages)) {
    return absl::InternalError(absl::StrCat("malformed /proc/", pid, "/statm"));
  }
  return pages * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace tcc::bench
