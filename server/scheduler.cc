// The scheduler's wiring: start-up checks, the store, the services, the
// dispatcher, the watch hub, metrics and health, and their shutdown order.
#include "server/scheduler.h"

#include <glog/logging.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "proto/net/health.h"
#include "proto/net/prometheus.h"
#include "server/access_policy.h"
#include "server/artifact_folder.h"
#include "server/artifact_service.h"
#include "server/auth.h"
#include "server/client_service.h"
#include "server/lease_dispatcher.h"
#include "server/listen_policy.h"
#include "server/listener_watch.h"
#include "server/rpc_metrics.h"
#include "server/server_metrics.h"
#include "server/watch_hub.h"
#include "server/worker_service.h"
#include "storage/database_lock.h"
#include "storage/store.h"

namespace forgetlab {

class SchedulerServer::Impl {
 public:
  explicit Impl(Options options) : options_(std::move(options)) {}
  ~Impl() { Shutdown(); }

  absl::Status Start();
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);
  void Wait() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&shut_down_));
  }
  int port() const { return port_; }
  int metrics_port() const {
    return metrics_server_ == nullptr ? 0 : metrics_server_->port();
  }
  void ExpireLeasesNow() { dispatcher_->ExpireLeases(); }
  int open_long_polls() const { return dispatcher_->open_polls(); }

 private:
  int64_t lease_ms() const { return int64_t{options_.lease_seconds} * 1000; }
  // The TLS settings and the tokens, checked against the listen address.
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials();
  absl::Status StartMetrics();
  absl::Status StartGrpc(std::shared_ptr<grpc::ServerCredentials> credentials);

  const Options options_;
  std::unique_ptr<AccessPolicy> policy_;
  std::unique_ptr<storage::DatabaseLock> db_lock_;  // held while running
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<WatchHub> hub_;
  std::unique_ptr<LeaseDispatcher> dispatcher_;
  metrics::Registry registry_;
  std::unique_ptr<ServerMetrics> server_metrics_;
  std::unique_ptr<metrics::MetricsServer> metrics_server_;
  std::unique_ptr<ClientService> client_service_;
  std::unique_ptr<WorkerService> worker_service_;
  std::unique_ptr<ArtifactFolder> artifact_folder_;
  std::unique_ptr<ArtifactService> artifact_service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  // The health service, on the main port and the plaintext health port: ""
  // and both services SERVING until shutdown, or until gRPC's listener
  // stopped accepting (listener_watch.h).
  std::optional<bool> Serving(const std::string& service) {
    if (!service.empty() && service != "forgetlab.v1.ForgetlabService" &&
        service != "forgetlab.v1.WorkerService") {
      return std::nullopt;
    }
    if (GrpcListenerFailed()) return false;
    absl::MutexLock lock(&mu_);
    return !stopping_;
  }
  // One instance per server that serves it.
  HealthService health_{[this](const std::string& s) { return Serving(s); }};
  HealthService main_health_{
      [this](const std::string& s) { return Serving(s); }};
  std::unique_ptr<grpc::Server> health_server_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>>
SchedulerServer::Impl::Credentials() {
  const bool tls = !options_.tls_cert_file.empty();
  if (tls != !options_.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert and --tls_key go together: pass both, or neither");
  }
  if (!options_.client_ca_file.empty() && !tls) {
    return absl::InvalidArgumentError(
        "--client_ca needs TLS: pass --tls_cert and --tls_key as well");
  }
  std::optional<TokenSet> tokens;
  if (!options_.tokens_file.empty()) {
    absl::StatusOr<TokenSet> loaded = TokenSet::Load(options_.tokens_file);
    if (!loaded.ok()) return loaded.status();
    if (loaded->size() == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--tokens_file=", options_.tokens_file,
          " has no tokens, so nobody could call the server; add one with "
          "'forgetlab-server tokens add'"));
    }
    tokens = *std::move(loaded);
  }
  absl::Status s = CheckListenAddress(options_.listen, "--listen");
  if (!s.ok()) return s;
  // --metrics_listen is checked by MetricsServer::Start.
  if (!options_.health_listen.empty()) {
    s = CheckListenAddress(options_.health_listen, "--health_listen");
    if (!s.ok()) return s;
  }
  s = CheckListenPolicy(options_.listen, tls, tokens.has_value(),
                        options_.allow_insecure);
  if (!s.ok()) return s;
  policy_ = std::make_unique<AccessPolicy>(std::move(tokens));
  if (!tls) return grpc::InsecureServerCredentials();
  return TlsServerCredentials(options_.tls_cert_file, options_.tls_key_file,
                              options_.client_ca_file);
}

absl::Status SchedulerServer::Impl::Start() {
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      Credentials();
  if (!credentials.ok()) return credentials.status();
  if (options_.lease_seconds < 1 || options_.lease_seconds > 3600) {
    return absl::InvalidArgumentError(
        absl::StrCat("--lease_seconds must be between 1 and 3600 (got ",
                     options_.lease_seconds, ")"));
  }
  // One server per database: a second one would hand out the same jobs.
  absl::StatusOr<std::unique_ptr<storage::DatabaseLock>> lock =
      storage::DatabaseLock::Acquire(options_.db_path);
  if (!lock.ok()) return lock.status();
  db_lock_ = *std::move(lock);
  absl::StatusOr<std::unique_ptr<storage::Store>> store =
      storage::Store::Open([&] {
        storage::Store::Options store;
        store.path = options_.db_path;
        store.now_ms = options_.now_ms;
        store.synchronous_full = options_.synchronous_full;
        return store;
      }());
  if (!store.ok()) return store.status();
  store_ = *std::move(store);
  // Workers kept training while we were down: give them a lease period to
  // find us again before their jobs are handed to someone else.
  absl::Status s = store_->ExtendLeases(options_.now_ms() + lease_ms());
  if (!s.ok()) return s;
  // Shared pretraining artifacts: the folder is brought in step with the
  // database (an upload the last server died in is removed, a lost file
  // reruns its pretraining).
  absl::StatusOr<std::unique_ptr<ArtifactFolder>> folder = ArtifactFolder::Open(
      {options_.artifact_dir.empty() ? options_.db_path + "-artifacts"
                                     : options_.artifact_dir,
       options_.artifact_max_bytes, options_.artifact_quota_bytes},
      store_.get());
  if (!folder.ok()) return folder.status();
  artifact_folder_ = *std::move(folder);

  hub_ = std::make_unique<WatchHub>(store_.get());
  dispatcher_ = std::make_unique<LeaseDispatcher>(
      LeaseDispatcher::Options{options_.max_polls_per_worker,
                               options_.max_polls_per_token, options_.max_polls,
                               lease_ms()},
      store_.get(), hub_.get());
  if (!options_.metrics_listen.empty()) {
    s = StartMetrics();
    if (!s.ok()) return s;
  }
  s = StartGrpc(*std::move(credentials));
  if (!s.ok()) return s;
  if (!options_.health_listen.empty()) {
    int health_port = 0;
    absl::StatusOr<std::unique_ptr<grpc::Server>> health = StartHealthServer(
        options_.health_listen, "--health_listen", &health_, &health_port);
    if (!health.ok()) return health.status();
    health_server_ = *std::move(health);
  }
  db_lock_->SetHolder(absl::StrCat("listening on port ", port_));
  dispatcher_->Start();
  return absl::OkStatus();
}

absl::Status SchedulerServer::Impl::StartMetrics() {
  server_metrics_ = std::make_unique<ServerMetrics>(
      &registry_, store_.get(), dispatcher_.get(), lease_ms(), options_.now_ms);
  absl::StatusOr<std::unique_ptr<metrics::MetricsServer>> server =
      metrics::MetricsServer::Start(options_.metrics_listen, &registry_);
  if (!server.ok()) return server.status();
  metrics_server_ = *std::move(server);
  LOG(INFO) << "metrics at http://"
            << options_.metrics_listen.substr(
                   0, options_.metrics_listen.rfind(':'))
            << ":" << metrics_server_->port() << "/metrics";
  return absl::OkStatus();
}

absl::Status SchedulerServer::Impl::StartGrpc(
    std::shared_ptr<grpc::ServerCredentials> credentials) {
  client_service_ = std::make_unique<ClientService>(
      ClientService::Options{
          options_.max_jobs_per_sweep, options_.data_roots, lease_ms(),
          options_.now_ms, options_.max_queued_jobs,
          options_.max_sweeps_per_hour, options_.max_stored_bytes},
      store_.get(), policy_.get(), hub_.get(), dispatcher_.get(),
      artifact_folder_.get());
  worker_service_ = std::make_unique<WorkerService>(
      WorkerService::Options{options_.lease_seconds, options_.max_wait_seconds,
                             options_.max_workers_per_token},
      store_.get(), policy_.get(), hub_.get(), dispatcher_.get(),
      server_metrics_.get());
  artifact_service_ = std::make_unique<ArtifactService>(
      store_.get(), artifact_folder_.get(), policy_.get(), hub_.get(),
      dispatcher_.get());
  WatchGrpcListener();
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // A connection that has not finished its TLS and HTTP/2 handshake in 10 s
  // is closed (gRPC's default is 120 s), so idle sockets cannot hold file
  // descriptors for long.
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, 10000);
  // gRPC sets SO_REUSEPORT by default, which lets a second server bind the
  // same port and take half the calls; one server per port.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(options_.listen, credentials, &port_);
  builder.RegisterService(client_service_.get());
  builder.RegisterService(worker_service_.get());
  builder.RegisterService(artifact_service_.get());
  builder.RegisterService(&main_health_);
  builder.SetMaxReceiveMessageSize(options_.max_message_bytes);
  if (metrics_server_ != nullptr) {
    std::vector<
        std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        interceptors;
    interceptors.push_back(std::make_unique<RpcMetricsFactory>(&registry_));
    builder.experimental().SetInterceptorCreators(std::move(interceptors));
  }
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    const bool tls = !options_.tls_cert_file.empty();
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", options_.listen,
        tls ? "; is another process using the port, or are --tls_cert and "
              "--tls_key not a matching certificate and key?"
            : "; is another process using the port?"));
  }
  return absl::OkStatus();
}

void SchedulerServer::Impl::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  metrics_server_.reset();
  if (health_server_ != nullptr) {
    health_server_->Shutdown(std::chrono::system_clock::now() +
                             std::chrono::milliseconds(200));
  }
  // Long polls end first (UNAVAILABLE), then every other call gets a
  // second; watches end with the server.
  if (dispatcher_ != nullptr) dispatcher_->Shutdown();
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::seconds(1));
    server_->Wait();
  }
  if (hub_ != nullptr) hub_->Shutdown();
  absl::MutexLock lock(&mu_);
  shut_down_ = true;
}

SchedulerServer::SchedulerServer(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

SchedulerServer::~SchedulerServer() { impl_->Shutdown(); }

absl::StatusOr<std::unique_ptr<SchedulerServer>> SchedulerServer::Start(
    Options options) {
  if (!options.now_ms) {
    options.now_ms = [] { return absl::ToUnixMillis(absl::Now()); };
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  absl::Status s = impl->Start();
  if (!s.ok()) return s;
  return std::unique_ptr<SchedulerServer>(new SchedulerServer(std::move(impl)));
}

int SchedulerServer::port() const { return impl_->port(); }
int SchedulerServer::metrics_port() const { return impl_->metrics_port(); }
void SchedulerServer::Shutdown() { impl_->Shutdown(); }
void SchedulerServer::Wait() { impl_->Wait(); }
void SchedulerServer::ExpireLeasesNow() { impl_->ExpireLeasesNow(); }
int SchedulerServer::open_long_polls() const {
  return impl_->open_long_polls();
}

}  // namespace forgetlab
