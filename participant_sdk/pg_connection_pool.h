#ifndef TCC_PARTICIPANT_PG_CONNECTION_POOL_H_
#define TCC_PARTICIPANT_PG_CONNECTION_POOL_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "pqxx/connection"

// A bounded pool of PostgreSQL connections. A pqxx::connection must only be
// used by one thread at a time; a lease gives one thread a connection until
// the lease is destroyed. Not API.
namespace tcc::participant::internal {

class PgConnectionPool {
 public:
  struct Options {
    // libpq connection string. Required.
    std::string conninfo;
    // Most connections open at once (leased, idle or being opened). >= 1.
    int max_connections = 4;
    // How long Acquire() waits for a connection when all are leased.
    absl::Duration acquire_timeout = absl::Seconds(5);
    // Run on every new connection before its first lease (session settings,
    // prepared statements). May throw; the connection is then dropped.
    std::function<void(pqxx::connection&)> initialize;
  };

  // A connection leased to one thread. Returned to the pool when destroyed,
  // unless it was discarded or is no longer open.
  class Lease {
   public:
    Lease(Lease&& other) noexcept
        : pool_(other.pool_),
          connection_(std::move(other.connection_)),
          discard_(other.discard_) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease();

    pqxx::connection& connection() { return *connection_; }
    // Closes the connection instead of returning it: call after an error
    // that may have left it unusable.
    void Discard() { discard_ = true; }

   private:
    friend class PgConnectionPool;
    Lease(PgConnectionPool* pool, std::unique_ptr<pqxx::connection> connection)
        : pool_(pool), connection_(std::move(connection)) {}

    PgConnectionPool* pool_;
    std::unique_ptr<pqxx::connection> connection_;
    bool discard_ = false;
  };

  explicit PgConnectionPool(Options options);
  PgConnectionPool(const PgConnectionPool&) = delete;
  PgConnectionPool& operator=(const PgConnectionPool&) = delete;
  // Every lease must have been destroyed.
  ~PgConnectionPool() = default;

  // An idle connection, or a new one if fewer than max_connections are open;
  // otherwise waits up to acquire_timeout for one to be returned.
  // Errors: UNAVAILABLE when none became free in time, or when connecting
  // or initializing failed (the message says why). Thread-safe.
  absl::StatusOr<Lease> Acquire();

 private:
  void Return(std::unique_ptr<pqxx::connection> connection, bool keep);
  bool CanLease() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_ ABSL_GUARDED_BY(mu_);
  // Connections leased, idle or being opened.
  int open_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tcc::participant::internal

#endif  // TCC_PARTICIPANT_PG_CONNECTION_POOL_H_
