// A minimal participant built against the installed SDK: serves one action
// over gRPC with the RocksDB barrier store, calls itself through the
// generated stub and checks the barrier's answers.
//
//   tiny_participant DATA_DIR

#include <cstdio>
#include <memory>
#include <string>

#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "tcc/common/thread_pool.h"
#include "tcc/participant/participant_server.h"
#include "tcc/participant/participant_service.h"
#include "tcc/participant/rocksdb_barrier_store.h"
#include "tcc/v1/participant.grpc.pb.h"

namespace {

using tcc::participant::BranchCall;

int Fail(const std::string& what) {
  std::fprintf(stderr, "tiny_participant: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return Fail("usage: tiny_participant DATA_DIR");
  tcc::participant::RocksDbBarrierStoreOptions options;
  options.path = argv[1];
  options.sync = false;
  auto store = tcc::participant::RocksDbBarrierStore::Open(options);
  if (!store.ok()) return Fail(store.status().ToString());

  tcc::ThreadPool workers("tiny", 2);
  tcc::participant::ParticipantService<tcc::participant::RocksDbBarrierStore>
      service(store->get(), &workers);
  tcc::participant::ResourceHandlers<rocksdb::Transaction> hold;
  hold.try_fn = [](const BranchCall& call, rocksdb::Transaction& txn,
                   std::string* reply) {
    if (!txn.Put("held/" + call.gid, call.payload).ok()) {
      return absl::UnavailableError("write failed");
    }
    *reply = "held " + call.payload;
    return absl::OkStatus();
  };
  hold.confirm_fn = [](const BranchCall&, rocksdb::Transaction&, std::string*) {
    return absl::OkStatus();
  };
  hold.cancel_fn = [](const BranchCall& call, rocksdb::Transaction& txn,
                      std::string*) {
    return txn.Delete("held/" + call.gid).ok()
               ? absl::OkStatus()
               : absl::UnavailableError("delete failed");
  };
  if (absl::Status s = service.Register("hold", hold); !s.ok()) {
    return Fail(s.ToString());
  }
  auto server = tcc::participant::ParticipantServer::Start({}, {&service});
  if (!server.ok()) return Fail(server.status().ToString());

  auto stub = tcc::v1::Participant::NewStub(grpc::CreateChannel(
      (*server)->address(), grpc::InsecureChannelCredentials()));
  auto call = [&](const char* phase, const std::string& gid,
                  std::string* reply) {
    tcc::v1::BranchRequest request;
    request.set_gid(gid);
    request.set_branch_id("1");
    request.set_action("hold");
    request.set_payload("apple");
    tcc::v1::BranchResponse response;
    grpc::ClientContext context;
    grpc::Status status = std::string(phase) == "try"
                              ? stub->Try(&context, request, &response)
                              : stub->Cancel(&context, request, &response);
    if (reply != nullptr) *reply = response.payload();
    return status.error_code();
  };
  std::string reply;
  if (call("try", "g1", &reply) != grpc::StatusCode::OK ||
      reply != "held apple") {
    return Fail("try failed");
  }
  if (call("try", "g1", &reply) != grpc::StatusCode::OK ||
      reply != "held apple") {
    return Fail("duplicate try did not answer the stored reply");
  }
  if (call("cancel", "g1", nullptr) != grpc::StatusCode::OK ||
      call("cancel", "g2", nullptr) != grpc::StatusCode::OK) {
    return Fail("cancel failed");
  }
  if (call("try", "g2", nullptr) != grpc::StatusCode::ABORTED) {
    return Fail("late try after an empty cancel was not refused");
  }
  (*server)->Shutdown();
  workers.Shutdown();
  std::printf("tiny_participant: OK\n");
  return 0;
}
