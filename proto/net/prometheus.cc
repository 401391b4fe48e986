// Prometheus registry, text exposition and the /metrics HTTP server.
#include "proto/net/prometheus.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace forgetlab::metrics {
namespace {

void AtomicAdd(std::atomic<double>* target, double delta) {
  double old = target->load(std::memory_order_relaxed);
  while (!target->compare_exchange_weak(old, old + delta,
                                        std::memory_order_relaxed)) {
  }
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    return absl::StrCat(static_cast<int64_t>(v));
  }
  char text[32];
  std::snprintf(text, sizeof(text), "%.9g", v);
  return text;
}

// {a="x",b="y"}, with \, " and newlines escaped; "" for no labels.
std::string LabelText(const Labels& labels) {
  if (labels.empty()) return "";
  std::string text = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) text += ",";
    absl::StrAppend(&text, labels[i].first, "=\"");
    for (char c : labels[i].second) {
      if (c == '\\' || c == '"') {
        text += '\\';
        text += c;
      } else if (c == '\n') {
        text += "\\n";
      } else {
        text += c;
      }
    }
    text += "\"";
  }
  return text + "}";
}

// `labels` ({...} or "") with one more label appended.
std::string WithLabel(const std::string& labels, const std::string& extra) {
  if (labels.empty()) return absl::StrCat("{", extra, "}");
  return absl::StrCat(labels.substr(0, labels.size() - 1), ",", extra, "}");
}

}  // namespace

void Counter::Add(double delta) { AtomicAdd(&value_, delta); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i] = 0;
}

void Histogram::Observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  AtomicAdd(&sum_, value);
}

const std::vector<double>& LatencyBuckets() {
  static const auto* buckets = new std::vector<double>{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
      0.25,   0.5,   1,      2.5,   5,    10,    30,   60};
  return *buckets;
}

Registry::Family* Registry::FamilyLocked(const std::string& name,
                                         const std::string& help, Type type) {
  auto [it, inserted] = families_.try_emplace(name);
  if (inserted) {
    it->second.type = type;
    it->second.help = help;
  }
  return &it->second;
}

Counter* Registry::GetCounter(const std::string& name, const std::string& help,
                              const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot =
      FamilyLocked(name, help, Type::kCounter)->counters[LabelText(labels)];
  if (slot == nullptr) slot = std::make_unique<Counter>();
  return slot.get();
}

Gauge* Registry::GetGauge(const std::string& name, const std::string& help,
                          const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot =
      FamilyLocked(name, help, Type::kGauge)->gauges[LabelText(labels)];
  if (slot == nullptr) slot = std::make_unique<Gauge>();
  return slot.get();
}

Histogram* Registry::GetHistogram(const std::string& name,
                                  const std::string& help, const Labels& labels,
                                  const std::vector<double>& bounds) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot =
      FamilyLocked(name, help, Type::kHistogram)->histograms[LabelText(labels)];
  if (slot == nullptr) slot = std::make_unique<Histogram>(bounds);
  return slot.get();
}

void Registry::SetInfo(const std::string& name, const std::string& help,
                       const Labels& labels, double value) {
  if (labels.empty()) {
    SetInfoSeries(name, help, {});
  } else {
    SetInfoSeries(name, help, {{labels, value}});
  }
}

void Registry::SetInfoSeries(
    const std::string& name, const std::string& help,
    const std::vector<std::pair<Labels, double>>& series) {
  std::lock_guard<std::mutex> lock(mu_);
  Family* family = FamilyLocked(name, help, Type::kGauge);
  family->gauges.clear();
  for (const auto& [labels, value] : series) {
    auto& gauge = family->gauges[LabelText(labels)];
    gauge = std::make_unique<Gauge>();
    gauge->Set(value);
  }
}

void Registry::AddCollector(std::function<void()> collect) {
  std::lock_guard<std::mutex> lock(mu_);
  collectors_.push_back(std::move(collect));
}

std::string Registry::Render() {
  std::vector<std::function<void()>> collectors;
  {
    std::lock_guard<std::mutex> lock(mu_);
    collectors = collectors_;
  }
  for (const auto& collect : collectors) collect();
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  for (const auto& [name, family] : families_) {
    const char* type = family.type == Type::kCounter ? "counter"
                       : family.type == Type::kGauge ? "gauge"
                                                     : "histogram";
    absl::StrAppend(&out, "# HELP ", name, " ", family.help, "\n# TYPE ", name,
                    " ", type, "\n");
    for (const auto& [labels, counter] : family.counters) {
      absl::StrAppend(&out, name, labels, " ", FormatValue(counter->Value()),
                      "\n");
    }
    for (const auto& [labels, gauge] : family.gauges) {
      absl::StrAppend(&out, name, labels, " ", FormatValue(gauge->Value()),
                      "\n");
    }
    for (const auto& [labels, h] : family.histograms) {
      uint64_t cumulative = 0;
      for (size_t i = 0; i <= h->bounds_.size(); ++i) {
        cumulative += h->buckets_[i].load(std::memory_order_relaxed);
        const std::string le =
            i < h->bounds_.size() ? FormatValue(h->bounds_[i]) : "+Inf";
        absl::StrAppend(&out, name, "_bucket",
                        WithLabel(labels, absl::StrCat("le=\"", le, "\"")), " ",
                        cumulative, "\n");
      }
      absl::StrAppend(&out, name, "_sum", labels, " ",
                      FormatValue(h->sum_.load(std::memory_order_relaxed)),
                      "\n", name, "_count", labels, " ",
                      h->count_.load(std::memory_order_relaxed), "\n");
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// The HTTP endpoint.
// ---------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& listen, Registry* registry) {
  const size_t colon = listen.rfind(':');
  int port = -1;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(listen.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--metrics_listen=", listen,
        " is not host:port (e.g. 127.0.0.1:9090, or :9090 for every "
        "interface)"));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  const int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(),
                             service.c_str(), &hints, &found);
  if (rc != 0) {
    return absl::InvalidArgumentError(absl::StrCat("--metrics_listen=", listen,
                                                   ": cannot resolve '", host,
                                                   "': ", gai_strerror(rc)));
  }
  int fd = -1;
  std::string error = "no address";
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                a->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, 64) != 0) {
      error = std::strerror(errno);
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", listen, ": ", error,
                     "; is another process using the port?"));
  }
  sockaddr_storage bound{};
  socklen_t length = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
  const int actual =
      bound.ss_family == AF_INET6
          ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
          : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  const int wake = eventfd(0, EFD_CLOEXEC);
  if (wake < 0) {
    close(fd);
    return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
  }
  return std::unique_ptr<MetricsServer>(
      new MetricsServer(fd, wake, actual, registry));
}

MetricsServer::MetricsServer(int fd, int wake_fd, int port, Registry* registry)
    : fd_(fd), wake_fd_(wake_fd), port_(port), registry_(registry) {
  thread_ = std::thread([this] { Loop(); });
}

MetricsServer::~MetricsServer() {
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
  thread_.join();
  close(fd_);
  close(wake_fd_);
}

namespace {

// Each request gets this long, in all, to arrive and be answered.
constexpr auto kRequestDeadline = std::chrono::seconds(2);
// Connections served at once; more are closed at once.
constexpr size_t kMaxConnections = 64;
constexpr size_t kMaxRequestBytes = 8192;

struct Connection {
  int fd = -1;
  std::string request;
  std::string response;  // set once the request is complete
  size_t sent = 0;
  std::chrono::steady_clock::time_point deadline;
};

}  // namespace

void MetricsServer::Loop() {
  // One thread, every connection non-blocking: a slow client holds only its
  // own connection, for at most kRequestDeadline, and shutdown waits for
  // nobody.
  std::vector<Connection> connections;
  auto drop = [&](size_t i) {
    close(connections[i].fd);
    connections[i] = std::move(connections.back());
    connections.pop_back();
  };
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    for (size_t i = connections.size(); i-- > 0;) {
      if (now >= connections[i].deadline) drop(i);
    }
    std::vector<pollfd> fds = {{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    int timeout_ms = -1;
    for (const Connection& c : connections) {
      fds.push_back(
          {c.fd, static_cast<short>(c.response.empty() ? POLLIN : POLLOUT), 0});
      const int left =
          static_cast<int>(
              std::chrono::duration_cast<std::chrono::milliseconds>(c.deadline -
                                                                    now)
                  .count()) +
          1;
      timeout_ms = timeout_ms < 0 ? left : std::min(timeout_ms, left);
    }
    if (poll(fds.data(), fds.size(), timeout_ms) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents != 0) break;
    // Connections first (their indexes match fds[2...]), then new ones.
    for (size_t i = connections.size(); i-- > 0;) {
      const short events = fds[i + 2].revents;
      if (events == 0) continue;
      Connection& c = connections[i];
      if (c.response.empty()) {
        char buffer[2048];
        const ssize_t n = recv(c.fd, buffer, sizeof(buffer), 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (n <= 0 ||
            c.request.size() + static_cast<size_t>(n) > kMaxRequestBytes) {
          drop(i);
          continue;
        }
        c.request.append(buffer, static_cast<size_t>(n));
        if (c.request.find("\r\n\r\n") == std::string::npos) continue;
        c.response = Respond(c.request);
      }
      const ssize_t n = send(c.fd, c.response.data() + c.sent,
                             c.response.size() - c.sent, MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n <= 0) {
        drop(i);
        continue;
      }
      c.sent += static_cast<size_t>(n);
      if (c.sent == c.response.size()) drop(i);
    }
    if (fds[0].revents & POLLIN) {
      const int connection =
          accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (connection >= 0 && connections.size() >= kMaxConnections) {
        close(connection);
      } else if (connection >= 0) {
        connections.push_back(
            {connection, "", "", 0,
             std::chrono::steady_clock::now() + kRequestDeadline});
      }
    }
  }
  for (const Connection& c : connections) close(c.fd);
}

std::string MetricsServer::Respond(const std::string& request) const {
  const std::string line = request.substr(0, request.find("\r\n"));
  std::string status = "200 OK", type = "text/plain; version=0.0.4";
  std::string body;
  if (!absl::StartsWith(line, "GET ") && !absl::StartsWith(line, "HEAD ")) {
    status = "405 Method Not Allowed";
    body = "only GET\n";
    type = "text/plain";
  } else if (absl::StartsWith(line, "GET /metrics ") ||
             absl::StartsWith(line, "HEAD /metrics ")) {
    body = registry_->Render();
  } else {
    status = "404 Not Found";
    body = "forgetlab serves /metrics only\n";
    type = "text/plain";
  }
  std::string response = absl::StrCat(
      "HTTP/1.1 ", status, "\r\nContent-Type: ", type,
      "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n\r\n");
  if (!absl::StartsWith(line, "HEAD ")) response += body;
  return response;
}

absl::StatusOr<std::pair<int, std::string>> HttpGet(int port,
                                                    const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(std::strerror(errno));
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) !=
      0) {
    const std::string error = std::strerror(errno);
    close(fd);
    return absl::UnavailableError(
        absl::StrCat("connect to 127.0.0.1:", port, ": ", error));
  }
  const std::string request =
      absl::StrCat("GET ", path,
                   " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string response;
  char buffer[4096];
  ssize_t n;
  while ((n = recv(fd, buffer, sizeof(buffer), 0)) > 0) {
    response.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  int code = 0;
  const size_t body = response.find("\r\n\r\n");
  if (response.size() < 12 || body == std::string::npos ||
      !absl::SimpleAtoi(response.substr(9, 3), &code)) {
    return absl::DataLossError(
        absl::StrCat("not an HTTP response from port ", port));
  }
  return std::make_pair(code, response.substr(body + 4));
}

}  // namespace forgetlab::metrics
