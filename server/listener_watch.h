// Noticing that gRPC's listener died. gRPC 1.51 stops accepting for good
// after one failed accept (e.g. EMFILE, when idle connections use up the
// open-file limit), and says so only in a log line; the process itself
// goes on, deaf. This hook reads gRPC's log for that line, so the health
// service can answer NOT_SERVING and a supervisor restarts the server.
#ifndef FORGETLAB_SERVER_LISTENER_WATCH_H_
#define FORGETLAB_SERVER_LISTENER_WATCH_H_

namespace forgetlab {

// Routes gRPC's log through a filter that notices "Failed accept4" (and
// prints every line to stderr as before). Idempotent.
void WatchGrpcListener();

// True once a listener of this process stopped accepting.
bool GrpcListenerFailed();

// Raises the soft open-file limit to the hard one (systemd's default soft
// limit, 1,024, is what a connection flood exhausts); returns the new soft
// limit.
long RaiseOpenFileLimit();

}  // namespace forgetlab

#endif  // FORGETLAB_SERVER_LISTENER_WATCH_H_
