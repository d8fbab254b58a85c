#include "pg_connection_pool.h"

#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "tcc/participant/postgres_status.h"

namespace tcc::participant::internal {

PgConnectionPool::Lease::~Lease() {
  if (connection_ == nullptr) return;  // Moved from.
  const bool keep = !discard_ && connection_->is_open();
  pool_->Return(std::move(connection_), keep);
}

PgConnectionPool::PgConnectionPool(Options options)
    : options_(std::move(options)) {}

bool PgConnectionPool::CanLease() const {
  return !idle_.empty() || open_ < options_.max_connections;
}

absl::StatusOr<PgConnectionPool::Lease> PgConnectionPool::Acquire() {
  {
    absl::MutexLock lock(&mu_);
    if (!mu_.AwaitWithTimeout(
            absl::Condition(this, &PgConnectionPool::CanLease),
            options_.acquire_timeout)) {
      return absl::UnavailableError(
          absl::StrCat("no database connection became free in time (all ",
                       options_.max_connections, " in use)"));
    }
    if (!idle_.empty()) {
      std::unique_ptr<pqxx::connection> connection = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(connection));
    }
    ++open_;
  }
  // Connecting takes a round trip or more: done without the mutex.
  try {
    auto connection = std::make_unique<pqxx::connection>(options_.conninfo);
    if (options_.initialize) options_.initialize(*connection);
    return Lease(this, std::move(connection));
  } catch (const std::exception& e) {
    absl::MutexLock lock(&mu_);
    --open_;
    return FromPqxxException(e, "connect to PostgreSQL");
  }
}

void PgConnectionPool::Return(std::unique_ptr<pqxx::connection> connection,
                              bool keep) {
  if (!keep) connection.reset();  // Closed before the slot is given back.
  absl::MutexLock lock(&mu_);
  if (keep) {
    idle_.push_back(std::move(connection));
  } else {
    --open_;
  }
}

}  // namespace tcc::participant::internal
