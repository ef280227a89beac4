// Package tests3 starts real versitygw S3 servers for tests: a posix backend on a temporary
// directory, with versioning (and so Object Lock) enabled, on a free 127.0.0.1 port. The
// versitygw binary is built once into a cache directory (see Binary).
package tests3
