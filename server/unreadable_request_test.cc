// Requests that protobuf cannot parse are answered INVALID_ARGUMENT with a
// message, on every method of both services (proto/grpc_traits/).
#include <gmock/gmock.h>
#include <google/protobuf/descriptor.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <future>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/scheduler.h"
#include "tests/fixtures.h"

namespace forgetlab {
namespace {

using ::testing::HasSubstr;

void AppendVarint(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

void AppendLengthDelimited(int field, const std::string& bytes,
                           std::string* out) {
  AppendVarint((static_cast<uint64_t>(field) << 3) | 2, out);
  AppendVarint(bytes.size(), out);
  out->append(bytes);
}

// An encoding of `type` whose first string field, found depth first, holds
// bytes that are not UTF-8; empty when `type` has no string field.
std::string WithBadUtf8(const google::protobuf::Descriptor* type,
                        int depth = 0) {
  using google::protobuf::FieldDescriptor;
  if (depth > 4) return "";
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* field = type->field(i);
    std::string out;
    if (field->type() == FieldDescriptor::TYPE_STRING) {
      AppendLengthDelimited(field->number(), "ok\xC3\x28", &out);
      return out;
    }
    if (field->type() == FieldDescriptor::TYPE_MESSAGE) {
      std::string inner = WithBadUtf8(field->message_type(), depth + 1);
      if (inner.empty()) continue;
      AppendLengthDelimited(field->number(), inner, &out);
      return out;
    }
  }
  return "";
}

class UnreadableRequestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SchedulerServer::Options options;
    options.listen = "127.0.0.1:0";
    options.db_path = database_.path();
    auto server = SchedulerServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
  }

  grpc::Status Call(const std::string& method, const std::string& bytes) {
    grpc::GenericStub stub(channel_);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(20));
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer answer;
    std::promise<grpc::Status> done;
    stub.UnaryCall(&ctx, method, grpc::StubOptions(), &request, &answer,
                   [&](grpc::Status s) { done.set_value(std::move(s)); });
    return done.get_future().get();
  }

  fixtures::TempDatabase database_;
  std::unique_ptr<SchedulerServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(UnreadableRequestTest, EveryMethodAnswersInvalidArgument) {
  int methods = 0;
  int with_strings = 0;
  for (const char* name :
       {"forgetlab.v1.ForgetlabService", "forgetlab.v1.WorkerService"}) {
    const google::protobuf::ServiceDescriptor* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
            name);
    ASSERT_NE(service, nullptr) << name;
    for (int i = 0; i < service->method_count(); ++i) {
      const google::protobuf::MethodDescriptor* method = service->method(i);
      const std::string path =
          absl::StrCat("/", service->full_name(), "/", method->name());
      const std::string type = method->input_type()->full_name();
      ++methods;
      // Field 1, length 5, but only 2 bytes follow: no message parses it.
      grpc::Status truncated = Call(path,
                                    "\x0A\x05"
                                    "ab");
      EXPECT_EQ(truncated.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
          << path << ": " << truncated.error_message();
      EXPECT_THAT(truncated.error_message(), HasSubstr(type)) << path;
      const std::string bad = WithBadUtf8(method->input_type());
      if (bad.empty()) continue;
      ++with_strings;
      grpc::Status status = Call(path, bad);
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
          << path << ": " << status.error_message();
      EXPECT_THAT(status.error_message(), HasSubstr("UTF-8")) << path;
    }
  }
  EXPECT_EQ(methods, 18);
  EXPECT_GE(with_strings, 15);
  // The server still answers readable requests.
  EXPECT_TRUE(Call("/forgetlab.v1.ForgetlabService/ListWorkers", "").ok());
}

}  // namespace
}  // namespace forgetlab
