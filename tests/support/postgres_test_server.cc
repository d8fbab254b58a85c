#include "support/postgres_test_server.h"

#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "pqxx/connection"
#include "pqxx/nontransaction"

namespace tcc::testing {
namespace {

// State directory of a server this process started; stopped at exit.
std::string* own_server_state = nullptr;

void StopOwnServer() {
  if (own_server_state == nullptr) return;
  const std::string command =
      absl::StrCat("bash '", TCC_PG_TEST_SERVER_SCRIPT, "' stop '",
                   *own_server_state, "' >/dev/null 2>&1");
  if (std::system(command.c_str()) != 0) {
    std::fprintf(stderr, "could not stop the test PostgreSQL server in %s\n",
                 own_server_state->c_str());
  }
  std::error_code ignored;
  std::filesystem::remove_all(*own_server_state, ignored);
}

absl::StatusOr<std::string> ReadConninfoFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot read ", path,
        ": the ctest fixture postgres_server_start did not run or failed"));
  }
  std::stringstream contents;
  contents << in.rdbuf();
  return std::string(absl::StripAsciiWhitespace(contents.str()));
}

absl::StatusOr<std::string> LookUpConninfo() {
  if (const char* conninfo = getenv("TCC_TEST_PG_CONNINFO")) {
    return std::string(conninfo);
  }
  if (const char* file = getenv("TCC_TEST_PG_CONNINFO_FILE")) {
    return ReadConninfoFile(file);
  }
  char pattern[] = "/tmp/tcc-pg-state.XXXXXX";
  if (mkdtemp(pattern) == nullptr) {
    return absl::InternalError("mkdtemp failed for the PostgreSQL state");
  }
  own_server_state = new std::string(pattern);
  std::atexit(StopOwnServer);
  const std::string command =
      absl::StrCat("bash '", TCC_PG_TEST_SERVER_SCRIPT, "' start '",
                   *own_server_state, "' >/dev/null");
  if (std::system(command.c_str()) != 0) {
    return absl::UnavailableError(
        absl::StrCat("could not start a PostgreSQL server with ",
                     TCC_PG_TEST_SERVER_SCRIPT));
  }
  return ReadConninfoFile(*own_server_state + "/conninfo");
}

// Runs one statement outside any schema of a test.
absl::Status Execute(const std::string& conninfo, const std::string& sql) {
  try {
    pqxx::connection connection(conninfo);
    pqxx::nontransaction txn(connection);
    txn.exec0(sql);
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(sql, ": ", e.what()));
  }
}

}  // namespace

absl::StatusOr<std::string> TestPostgresConninfo() {
  static absl::Mutex mu(absl::kConstInit);
  static absl::StatusOr<std::string>* conninfo = nullptr;
  absl::MutexLock lock(&mu);
  if (conninfo == nullptr) {
    conninfo = new absl::StatusOr<std::string>(LookUpConninfo());
  }
  return *conninfo;
}

absl::StatusOr<std::unique_ptr<ScopedPostgresSchema>>
ScopedPostgresSchema::Create() {
  static std::atomic<int> next{0};
  absl::StatusOr<std::string> base = TestPostgresConninfo();
  if (!base.ok()) return base.status();
  std::string name = absl::StrCat("tcc_test_", getpid(), "_", next++);
  absl::Status created = Execute(*base, absl::StrCat("CREATE SCHEMA ", name));
  if (!created.ok()) return created;
  return std::unique_ptr<ScopedPostgresSchema>(
      new ScopedPostgresSchema(*std::move(base), std::move(name)));
}

ScopedPostgresSchema::ScopedPostgresSchema(std::string base_conninfo,
                                           std::string name)
    : base_conninfo_(std::move(base_conninfo)),
      name_(std::move(name)),
      conninfo_(absl::StrCat(base_conninfo_, " options='-csearch_path=", name_,
                             "' application_name=", name_)) {}

ScopedPostgresSchema::~ScopedPostgresSchema() {
  absl::Status dropped =
      Execute(base_conninfo_, absl::StrCat("DROP SCHEMA ", name_, " CASCADE"));
  if (!dropped.ok()) {
    std::fprintf(stderr, "%s\n", dropped.ToString().c_str());
  }
}

}  // namespace tcc::testing
