#include "coordinator/coordinator_service.h"

#include <utility>

#include "tcc/common/grpc_status.h"

namespace tcc::coordinator {

grpc::ServerUnaryReactor* CoordinatorService::Execute(
    grpc::CallbackServerContext* context, const v1::ExecuteRequest* request,
    v1::ExecuteResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  coordinator_->Execute(*request,
                        [reactor, response](const absl::Status& status,
                                            v1::ExecuteResponse result) {
                          if (status.ok()) *response = std::move(result);
                          reactor->Finish(ToGrpcStatus(status));
                        });
  return reactor;
}

grpc::ServerUnaryReactor* CoordinatorService::Get(
    grpc::CallbackServerContext* context, const v1::GetRequest* request,
    v1::GetResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  coordinator_->Get(*request, [reactor, response](const absl::Status& status,
                                                  v1::GetResponse result) {
    if (status.ok()) *response = std::move(result);
    reactor->Finish(ToGrpcStatus(status));
  });
  return reactor;
}

grpc::ServerUnaryReactor* CoordinatorService::List(
    grpc::CallbackServerContext* context, const v1::ListRequest* request,
    v1::ListResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  coordinator_->List(*request, [reactor, response](const absl::Status& status,
                                                   v1::ListResponse result) {
    if (status.ok()) *response = std::move(result);
    reactor->Finish(ToGrpcStatus(status));
  });
  return reactor;
}

}  // namespace tcc::coordinator
