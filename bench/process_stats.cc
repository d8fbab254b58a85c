#include "process_stats.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "tcc/common/thread_name.h"

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

// The CPU time (utime + stime) in the content of a /proc/.../stat file,
// and the command name if `name` is given. `where` names the file.
absl::StatusOr<absl::Duration> ParseStatCpu(const std::string& stat,
                                            const std::string& where,
                                            std::string* name = nullptr) {
  // The command name (field 2) is in parentheses and may contain spaces:
  // fields are counted from the last ')'. utime and stime are fields 14 and
  // 15, i.e. the 12th and 13th after the name.
  const size_t open = stat.find('(');
  const size_t close = stat.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) {
    return absl::InternalError(absl::StrCat("malformed ", where));
  }
  if (name != nullptr) *name = stat.substr(open + 1, close - open - 1);
  std::vector<std::string> fields =
      absl::StrSplit(stat.substr(close + 1), ' ', absl::SkipEmpty());
  constexpr size_t kUtime = 11;
  constexpr size_t kStime = 12;
  if (fields.size() <= kStime) {
    return absl::InternalError(absl::StrCat("short ", where));
  }
  int64_t utime = 0;
  int64_t stime = 0;
  if (!absl::SimpleAtoi(fields[kUtime], &utime) ||
      !absl::SimpleAtoi(fields[kStime], &stime)) {
    return absl::InternalError(absl::StrCat("malformed ", where));
  }
  const int64_t ticks_per_second = sysconf(_SC_CLK_TCK);
  return absl::Seconds(1) * (utime + stime) / ticks_per_second;
}

// The value of a "Key:\tvalue" line of a /proc/.../status file, -1 if absent.
int64_t StatusField(const std::string& status, const std::string& key) {
  const std::string prefix = key + ":";
  for (absl::string_view line : absl::StrSplit(status, '\n')) {
    if (!absl::ConsumePrefix(&line, prefix)) continue;
    int64_t value = -1;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &value)) {
      return value;
    }
  }
  return -1;
}

}  // namespace

absl::StatusOr<absl::Duration> ProcessCpuTime(pid_t pid) {
  absl::StatusOr<std::string> stat = ReadProcFile(pid, "stat");
  if (!stat.ok()) return stat.status();
  return ParseStatCpu(*stat, absl::StrCat("/proc/", pid, "/stat"));
}

absl::StatusOr<std::vector<ThreadSample>> ProcessThreads(pid_t pid) {
  const std::string dir_path = absl::StrCat("/proc/", pid, "/task");
  DIR* dir = opendir(dir_path.c_str());
  if (dir == nullptr) {
    return absl::NotFoundError(absl::StrCat("cannot read ", dir_path));
  }
  std::vector<ThreadSample> threads;
  while (const dirent* entry = readdir(dir)) {
    ThreadSample sample;
    if (!absl::SimpleAtoi(entry->d_name, &sample.tid)) continue;  // . and ..
    const std::string task = absl::StrCat("task/", sample.tid, "/");
    // A thread that ends while it is read is skipped.
    absl::StatusOr<std::string> stat =
        ReadProcFile(pid, (task + "stat").c_str());
    absl::StatusOr<std::string> status =
        ReadProcFile(pid, (task + "status").c_str());
    if (!stat.ok() || !status.ok()) continue;
    absl::StatusOr<absl::Duration> cpu = ParseStatCpu(
        *stat, absl::StrCat(dir_path, "/", sample.tid, "/stat"), &sample.name);
    if (!cpu.ok()) continue;
    sample.cpu = *cpu;
    sample.voluntary_switches = StatusField(*status, "voluntary_ctxt_switches");
    sample.involuntary_switches =
        StatusField(*status, "nonvoluntary_ctxt_switches");
    threads.push_back(std::move(sample));
  }
  closedir(dir);
  return threads;
}

std::vector<ThreadUse> ThreadUseBetween(
    const std::vector<ThreadSample>& before,
    const std::vector<ThreadSample>& after) {
  absl::flat_hash_map<pid_t, const ThreadSample*> earlier;
  for (const ThreadSample& t : before) earlier[t.tid] = &t;
  std::vector<ThreadUse> uses;
  absl::flat_hash_map<std::string, size_t> index;
  for (const ThreadSample& t : after) {
    auto it = earlier.find(t.tid);
    if (it == earlier.end()) continue;  // started in between
    const ThreadSample& b = *it->second;
    const std::string name = ThreadNameWithoutIndex(t.name);
    auto [slot, added] = index.try_emplace(name, uses.size());
    if (added) uses.emplace_back().name = name;
    ThreadUse& use = uses[slot->second];
    ++use.threads;
    use.cpu += t.cpu - b.cpu;
    use.voluntary_switches += t.voluntary_switches - b.voluntary_switches;
    use.involuntary_switches += t.involuntary_switches - b.involuntary_switches;
  }
  std::sort(uses.begin(), uses.end(),
            [](const ThreadUse& a, const ThreadUse& b) {
              if (a.cpu != b.cpu) return a.cpu > b.cpu;
              return a.name < b.name;
            });
  return uses;
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
