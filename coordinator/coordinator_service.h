#ifndef TCC_COORDINATOR_COORDINATOR_SERVICE_H_
#define TCC_COORDINATOR_COORDINATOR_SERVICE_H_

#include "coordinator/coordinator.h"
#include "tcc/v1/coordinator.grpc.pb.h"

namespace tcc::coordinator {

// The gRPC front end of the Coordinator, on the callback API. Each method
// only parses, hands the request to the Coordinator and returns: the reactor
// is finished later from an executor thread, so no callback thread ever
// waits for a disk write or a participant.
class CoordinatorService final : public v1::Coordinator::CallbackService {
 public:
  // `coordinator` must outlive the service.
  explicit CoordinatorService(Coordinator* coordinator)
      : coordinator_(coordinator) {}

  grpc::ServerUnaryReactor* Execute(grpc::CallbackServerContext* context,
                                    const v1::ExecuteRequest* request,
                                    v1::ExecuteResponse* response) override;
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* context,
                                const v1::GetRequest* request,
                                v1::GetResponse* response) override;
  grpc::ServerUnaryReactor* List(grpc::CallbackServerContext* context,
                                 const v1::ListRequest* request,
                                 v1::ListResponse* response) override;
  grpc::ServerUnaryReactor* Begin(grpc::CallbackServerContext* context,
                                  const v1::BeginRequest* request,
                                  v1::BeginResponse* response) override;
  grpc::ServerUnaryReactor* Try(grpc::CallbackServerContext* context,
                                const v1::TryRequest* request,
                                v1::TryResponse* response) override;
  grpc::ServerUnaryReactor* Commit(grpc::CallbackServerContext* context,
                                   const v1::CommitRequest* request,
                                   v1::CommitResponse* response) override;
  grpc::ServerUnaryReactor* Rollback(grpc::CallbackServerContext* context,
                                     const v1::RollbackRequest* request,
                                     v1::RollbackResponse* response) override;
  grpc::ServerUnaryReactor* Saga(grpc::CallbackServerContext* context,
                                 const v1::SagaRequest* request,
                                 v1::SagaResponse* response) override;

 private:
  Coordinator* const coordinator_;
};

}  // namespace tcc::coordinator

#endif  // TCC_COORDINATOR_COORDINATOR_SERVICE_H_
