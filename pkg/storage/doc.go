// Package storage reads and writes recordings in S3-compatible object stores: it parses s3://
// locations, builds the client from the AWS SDK's own configuration chain, uploads with a
// server-verified SHA-256 checksum and optional Object Lock retention, lists, and reads objects
// with ranged GETs so that a player can seek without downloading the whole file.
package storage
