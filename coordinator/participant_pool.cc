#include "coordinator/participant_pool.h"

#include <fcntl.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "google/protobuf/text_format.h"
#include "tcc/common/grpc_status.h"

namespace tcc::coordinator {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::InvalidArgumentError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> Credentials(
    const config::ParticipantConfig& p) {
  if (!p.has_tls()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  if (!p.tls().ca_file().empty()) {
    auto ca = ReadFile(p.tls().ca_file());
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *ca;
  }
  if (p.tls().cert_file().empty() != p.tls().key_file().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "participant ", p.name(), ": tls cert_file and key_file go together"));
  }
  if (!p.tls().cert_file().empty()) {
    auto cert = ReadFile(p.tls().cert_file());
    if (!cert.ok()) return cert.status();
    auto key = ReadFile(p.tls().key_file());
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *cert;
    ssl.pem_private_key = *key;
  }
  return grpc::SslCredentials(ssl);
}

}  // namespace

const char* BranchPhaseName(BranchPhase phase) {
  switch (phase) {
    case BranchPhase::kTry:
      return "Try";
    case BranchPhase::kConfirm:
      return "Confirm";
    case BranchPhase::kCancel:
      return "Cancel";
  }
  return "?";
}

absl::StatusOr<std::unique_ptr<ParticipantPool>> ParticipantPool::Create(
    const config::CoordinatorConfig& config) {
  std::unique_ptr<ParticipantPool> pool(new ParticipantPool());
  for (const auto& p : config.participant()) {
    if (!ValidName(p.name())) {
      return absl::InvalidArgumentError(
          absl::StrCat("participant name \"", p.name(),
                       "\" must be 1-128 characters from [A-Za-z0-9._-]"));
    }
    if (p.target().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("participant ", p.name(), " has no target"));
    }
    if (pool->endpoints_.contains(p.name())) {
      return absl::InvalidArgumentError(
          absl::StrCat("participant ", p.name(), " is configured twice"));
    }
    if (p.batch().max_items() < 0 || p.batch().max_items() > 1024 ||
        p.batch().max_in_flight() < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "participant ", p.name(),
          ": batch.max_items must be 0-1024 and batch.max_in_flight >= 0"));
    }
    auto creds = Credentials(p);
    if (!creds.ok()) return creds.status();
    auto endpoint = std::make_unique<Endpoint>();
    int channels = std::max(1, p.channels());
    for (int i = 0; i < channels; ++i) {
      grpc::ChannelArguments args;
      // Distinct arguments keep channels from sharing one subchannel, so each
      // gets its own HTTP/2 connection.
      args.SetInt("tcc.channel_index", i);
      args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
      args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
      args.SetInt(GRPC_ARG_ENABLE_RETRIES, p.grpc_retries() ? 1 : 0);
      if (p.has_tls() && !p.tls().server_name().empty()) {
        args.SetSslTargetNameOverride(p.tls().server_name());
      }
      endpoint->stubs.push_back(v1::Participant::NewStub(
          grpc::CreateCustomChannel(p.target(), *creds, args)));
    }
    if (!p.batch().disabled()) {
      CallBatcherOptions options;
      if (p.batch().max_in_flight() > 0) {
        options.max_in_flight = p.batch().max_in_flight();
      }
      if (p.batch().max_items() > 0) options.max_items = p.batch().max_items();
      Endpoint* ep = endpoint.get();
      auto batcher = [&] {
        return std::make_unique<CallBatcher>(
            p.name(), options, [ep] { return ep->PickStub(); },
            [ep](BranchPhase phase, v1::BranchRequest request,
                 const Metadata& metadata, absl::Duration deadline,
                 BranchCallDone done) {
              CallOne(*ep, phase, std::move(request), metadata, deadline,
                      std::move(done));
            });
      };
      endpoint->tries = batcher();
      endpoint->second_phase = batcher();
    }
    pool->endpoints_.emplace(p.name(), std::move(endpoint));
  }
  return pool;
}

bool ParticipantPool::Contains(const std::string& name) const {
  return endpoints_.contains(name);
}

v1::Participant::Stub* ParticipantPool::Endpoint::PickStub() {
  return stubs[next.fetch_add(1, std::memory_order_relaxed) % stubs.size()]
      .get();
}

CallBatcher::Counters ParticipantPool::BatchCounters(bool tries) const {
  CallBatcher::Counters sum;
  for (const auto& [name, endpoint] : endpoints_) {
    const CallBatcher* batcher =
        tries ? endpoint->tries.get() : endpoint->second_phase.get();
    if (batcher == nullptr) continue;
    CallBatcher::Counters c = batcher->counters();
    sum.single_calls += c.single_calls;
    sum.batch_calls += c.batch_calls;
    sum.batched_items += c.batched_items;
  }
  return sum;
}

void ParticipantPool::Call(const std::string& participant, BranchPhase phase,
                           v1::BranchRequest request, const Metadata& metadata,
                           absl::Duration deadline, BranchCallDone done) {
  auto it = endpoints_.find(participant);
  if (it == endpoints_.end()) {
    std::move(done)(
        grpc::Status(grpc::StatusCode::NOT_FOUND,
                     absl::StrCat("unknown participant ", participant)),
        v1::BranchResponse());
    return;
  }
  Endpoint& ep = *it->second;
  in_flight_.fetch_add(1);
  BranchCallDone counted = [this, done = std::move(done)](
                               const grpc::Status& status,
                               v1::BranchResponse&& response) mutable {
    std::move(done)(status, std::move(response));
    CallFinished();
  };
  CallBatcher* batcher =
      phase == BranchPhase::kTry ? ep.tries.get() : ep.second_phase.get();
  if (batcher != nullptr) {
    batcher->Add(phase, std::move(request), metadata, deadline,
                 std::move(counted));
  } else {
    CallOne(ep, phase, std::move(request), metadata, deadline,
            std::move(counted));
  }
}

void ParticipantPool::CallOne(Endpoint& ep, BranchPhase phase,
                              v1::BranchRequest request,
                              const Metadata& metadata, absl::Duration deadline,
                              BranchCallDone done) {
  v1::Participant::Stub* stub = ep.PickStub();
  struct Call {
    grpc::ClientContext context;
    v1::BranchRequest request;
    v1::BranchResponse response;
    BranchCallDone done;
  };
  auto* call = new Call();
  call->request = std::move(request);
  call->done = std::move(done);
  call->context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  for (const auto& [key, value] : metadata) {
    call->context.AddMetadata(key, value);
  }
  auto on_done = [call](grpc::Status status) {
    // The call is gone before `done` runs: the last `done` may let the pool
    // (and its channels) go.
    BranchCallDone done = std::move(call->done);
    v1::BranchResponse response = std::move(call->response);
    delete call;
    std::move(done)(status, std::move(response));
  };
  switch (phase) {
    case BranchPhase::kTry:
      stub->async()->Try(&call->context, &call->request, &call->response,
                         std::move(on_done));
      break;
    case BranchPhase::kConfirm:
      stub->async()->Confirm(&call->context, &call->request, &call->response,
                             std::move(on_done));
      break;
    case BranchPhase::kCancel:
      stub->async()->Cancel(&call->context, &call->request, &call->response,
                            std::move(on_done));
      break;
  }
}

void ParticipantPool::CallFinished() {
  // The count reaches zero under the lock that WaitIdle() waits with: a
  // WaitIdle() that saw zero can only return, and let the pool go, once
  // this thread is done with it.
  absl::MutexLock lock(&idle_mu_);
  in_flight_.fetch_sub(1);
}

void ParticipantPool::WaitIdle() {
  absl::MutexLock lock(&idle_mu_);
  idle_mu_.Await(absl::Condition(
      +[](std::atomic<int64_t>* n) { return n->load() == 0; }, &in_flight_));
}

absl::StatusOr<config::CoordinatorConfig> LoadConfigFile(
    const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  config::CoordinatorConfig config;
  if (!google::protobuf::TextFormat::ParseFromString(*text, &config)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot parse ", path,
                     " as a tcc.config.CoordinatorConfig text proto"));
  }
  return config;
}

}  // namespace tcc::coordinator
