// Package session owns the recorded exec session: it plugs into kubectl's own
// exec command as a RemoteExecutor, negotiates the stream (WebSocket v5 first,
// SPDY as fallback, as kubectl does), copies every byte of stdin, stdout,
// stderr and every terminal resize into a record.Writer on the way through,
// and turns the way the stream ended into an exit code and an end reason.
//
// What the session is (which pod, which user, which cluster) is gathered
// here too, because it is written into the recording header before the first
// byte of the stream.
package session
