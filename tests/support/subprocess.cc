#include "support/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

extern char** environ;

namespace tcc::testing {

Subprocess::~Subprocess() { Kill(); }

absl::Status Subprocess::Start(const std::vector<std::string>& argv,
                               const std::string& log_path,
                               const std::vector<std::string>& extra_env) {
  if (argv.empty()) return absl::InvalidArgumentError("empty argv");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_storage;
  for (char** e = environ; *e != nullptr; ++e) env_storage.emplace_back(*e);
  for (const auto& e : extra_env) env_storage.push_back(e);
  std::vector<char*> env;
  for (auto& e : env_storage) env.push_back(e.data());
  env.push_back(nullptr);

  int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (log_fd < 0) {
    return absl::InternalError(absl::StrCat("cannot open ", log_path));
  }
  pid_t pid = fork();
  if (pid < 0) {
    close(log_fd);
    return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  }
  if (pid == 0) {
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    close(log_fd);
    execve(args[0], args.data(), env.data());
    _exit(127);
  }
  close(log_fd);
  pid_ = pid;
  return absl::OkStatus();
}

void Subprocess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

void Subprocess::Signal(int signal) {
  if (pid_ > 0) kill(pid_, signal);
}

int Subprocess::Terminate(absl::Duration grace) {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  absl::Time limit = absl::Now() + grace;
  while (absl::Now() < limit) {
    int status;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Kill();
  return -1;
}

bool Subprocess::Exited(int* wait_status) {
  if (pid_ <= 0) return true;
  int status;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    pid_ = -1;
    if (wait_status != nullptr) *wait_status = status;
    return true;
  }
  return false;
}

bool WaitFor(const std::function<bool()>& done, absl::Duration limit) {
  absl::Time end = absl::Now() + limit;
  while (!done()) {
    if (absl::Now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

absl::StatusOr<int> ReadPortFile(const std::string& path,
                                 absl::Duration limit) {
  int port = 0;
  bool ok = WaitFor(
      [&] {
        std::ifstream in(path);
        std::string line;
        return in && std::getline(in, line) && absl::SimpleAtoi(line, &port) &&
               port > 0;
      },
      limit);
  if (!ok) return absl::DeadlineExceededError("no port file at " + path);
  return port;
}

}  // namespace tcc::testing
