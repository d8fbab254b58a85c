#ifndef TCC_TESTS_SUPPORT_POSTGRES_TEST_SERVER_H_
#define TCC_TESTS_SUPPORT_POSTGRES_TEST_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace tcc::testing {

// The real PostgreSQL server of a test run, as a libpq connection string:
//   - $TCC_TEST_PG_CONNINFO if set;
//   - else the contents of the file $TCC_TEST_PG_CONNINFO_FILE names (the
//     ctest fixture "postgres" writes it: scripts/postgres-test-server.sh);
//   - else a server started for this process by that script, stopped when
//     the process exits (so a test binary also runs on its own).
// Thread-safe; the server is looked up or started once.
absl::StatusOr<std::string> TestPostgresConninfo();

// A schema of its own in the test server, so that tests sharing the server
// (in parallel too) never see each other's tables. Dropped with everything
// in it on destruction.
class ScopedPostgresSchema {
 public:
  // Creates a schema with a fresh name.
  static absl::StatusOr<std::unique_ptr<ScopedPostgresSchema>> Create();
  ScopedPostgresSchema(const ScopedPostgresSchema&) = delete;
  ScopedPostgresSchema& operator=(const ScopedPostgresSchema&) = delete;
  ~ScopedPostgresSchema();

  const std::string& name() const { return name_; }
  // The server's conninfo with this schema as search_path and its name as
  // application_name (which tells this test's sessions apart in
  // pg_stat_activity).
  const std::string& conninfo() const { return conninfo_; }

 private:
  ScopedPostgresSchema(std::string base_conninfo, std::string name);

  const std::string base_conninfo_;
  const std::string name_;
  const std::string conninfo_;
};

}  // namespace tcc::testing

#endif  // TCC_TESTS_SUPPORT_POSTGRES_TEST_SERVER_H_
