// Package upload gets finished recordings to the central object store
// without ever losing one. It owns:
//
//   - the object key scheme (Key): PREFIX/YYYY/MM/DD/<cluster>/<namespace>/<pod>/<session id>.cast.zst;
//   - the object metadata (Metadata): who, where, what and how it ended,
//     readable with a plain HEAD request, never a credential;
//   - the local spool of pending uploads (Spool): one small JSON file per
//     recording, written before the first attempt, so that a crash, a network
//     outage or a full bucket leaves the recording queued rather than
//     forgotten;
//   - retry with exponential backoff (Spool.Drain, run by
//     `kubectl rexec upload --pending` and opportunistically by later
//     sessions), with a per-entry lock so that two processes never upload the
//     same recording at the same time;
//   - confirmation: an upload counts only once a HEAD of the object shows the
//     size and the server-computed SHA-256 of the local file. Only then is the
//     spool entry removed and, when asked, the local recording;
//   - live upload (Live): while a session runs, the bytes appended to the
//     recording are uploaded every few seconds as numbered segments
//     <key>.live/000000, 000001, ... whose concatenation is always a prefix of
//     the recording (the reader takes its torn end for an abruptly ended
//     recording). It bounds what a killed laptop or a deleted file can hide.
//
// Retention: when the target bucket applies object lock (Entry.RetentionMode),
// the final object and every live segment are written with the same mode and
// a retain-until date of upload time plus Entry.RetentionDays. Live segments
// written under retention cannot be deleted before that date, so they are
// left in place after the final object is confirmed (Result.SegmentsKept
// says how many); without retention they are deleted once the final object is
// confirmed.
//
// Nothing here ever modifies a recording; the only file of the user's this
// package removes is a recording whose upload was confirmed and whose entry
// asked for it (Entry.RemoveLocal).
package upload
