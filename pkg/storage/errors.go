package storage

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// ErrNotFound is wrapped by the errors of Stat, Open and Delete when the object (or its bucket)
// does not exist.
var ErrNotFound = errors.New("not found")

// ErrExists is wrapped by the errors of Put and PutBytes when an object already exists at the
// key: they never replace one.
var ErrExists = errors.New("an object already exists at this key")

// opError is every error this package returns: the operation, the location and the endpoint,
// so that Explain can name them.
type opError struct {
	op       string
	url      URL
	endpoint string
	err      error
	notFound bool // wraps ErrNotFound too
	noBucket bool // notFound because the bucket itself is missing
	exists   bool // an upload found the key taken: wraps ErrExists too
}

func (e *opError) Error() string {
	where := e.op
	if e.url.Bucket != "" {
		where += " " + e.url.String()
	}
	switch {
	case e.noBucket:
		return scrub(fmt.Sprintf("%s: bucket %q does not exist", where, e.url.Bucket))
	case e.notFound:
		return scrub(where + ": object not found")
	case e.exists:
		return scrub(where + ": an object already exists there, and uploads never replace one")
	}
	return scrub(fmt.Sprintf("%s: %v", where, e.err))
}

func (e *opError) Unwrap() []error {
	switch {
	case e.notFound:
		return []error{ErrNotFound, e.err}
	case e.exists:
		return []error{ErrExists, e.err}
	}
	return []error{e.err}
}

// keyTaken tells whether an upload's error says its If-None-Match condition failed: an object
// exists at the key (412), or another conditional write to it is in progress (409).
func keyTaken(err error) bool {
	switch errorCode(err) {
	case "PreconditionFailed", "ConditionalRequestConflict":
		return true
	}
	return httpStatus(err) == 412
}

// scrub removes the secret key and session token of the environment from s, should any server
// or library ever echo them. The SDK itself never puts them in an error.
func scrub(s string) string {
	for _, v := range []string{"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"} {
		if secret := os.Getenv(v); len(secret) >= 8 {
			s = strings.ReplaceAll(s, secret, "***")
		}
	}
	return s
}

// errorCode returns the S3 error code of err ("AccessDenied", "NoSuchBucket", ...), or "".
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func isNotFound(err error) bool {
	switch errorCode(err) {
	case "NotFound", "NoSuchKey", "NoSuchVersion":
		return true
	}
	return httpStatus(err) == 404 && errorCode(err) != "NoSuchBucket"
}

// Explain turns an error of this package (or of the AWS SDK) into one plain-English line for
// users: the endpoint cannot be reached (and which one), credentials are missing, refused or
// expired, access is denied (for instance the object is locked), the bucket or object does not
// exist, the server rejected a checksum, or the bucket has no Object Lock. It never includes
// secret keys or session tokens. Explain(nil) is "".
func Explain(err error) string {
	if err == nil {
		return ""
	}
	var oe *opError
	errors.As(err, &oe)
	endpoint, loc, op := "the S3 endpoint", "", ""
	if oe != nil {
		if oe.endpoint != "" {
			endpoint = oe.endpoint
		}
		if oe.url.Bucket != "" {
			loc = oe.url.String()
		}
		op = oe.op
	}
	at := ""
	if loc != "" {
		at = " " + loc
	}
	bucket := ""
	if oe != nil {
		bucket = oe.url.Bucket
	}
	code := errorCode(err)
	msg := ""
	if ae := (smithy.APIError)(nil); errors.As(err, &ae) {
		msg = ae.ErrorMessage()
	}
	lmsg := strings.ToLower(msg)

	switch {
	case errors.Is(err, ErrExists):
		return scrub(fmt.Sprintf("an object already exists at %s on %s: uploads never replace an object; "+
			"nothing was written (upload to another key, or remove that object if it is not needed)", orDefault(loc, "that key"), endpoint))
	case oe != nil && oe.noBucket, code == "NoSuchBucket":
		return scrub(fmt.Sprintf("bucket %q does not exist at %s", bucket, endpoint))
	case errors.Is(err, ErrNotFound), code == "NoSuchKey", code == "NoSuchVersion":
		return scrub(fmt.Sprintf("no such object%s at %s", at, endpoint))

	case code == "BadDigest", code == "XAmzContentChecksumMismatch", code == "XAmzContentSHA256Mismatch",
		code == "InvalidDigest", strings.Contains(lmsg, "checksum") && (strings.Contains(lmsg, "match") || strings.Contains(lmsg, "invalid")):
		return scrub(fmt.Sprintf("checksum mismatch%s: the server rejected the data because its SHA-256 did not match "+
			"(the file changed during the upload or was corrupted in transit); nothing was stored, retry", forLoc(op, loc)))

	case code == "InvalidAccessKeyId", code == "SignatureDoesNotMatch", code == "InvalidToken",
		code == "InvalidClientTokenId", code == "AuthorizationHeaderMalformed", code == "IncompleteSignature",
		code == "InvalidSecurity", code == "UnrecognizedClientException":
		return scrub(fmt.Sprintf("the S3 server at %s refused the credentials (%s): check AWS_ACCESS_KEY_ID and "+
			"AWS_SECRET_ACCESS_KEY, or the keys of the AWS profile in use", endpoint, code))
	case code == "ExpiredToken", code == "TokenRefreshRequired", code == "ExpiredTokenException", code == "RequestExpired":
		return scrub(fmt.Sprintf("the S3 credentials have expired (%s): refresh them (for example aws sso login) and retry", code))
	case code == "RequestTimeTooSkewed":
		return scrub(fmt.Sprintf("the S3 server at %s refused the request because this machine's clock is off: fix the clock", endpoint))

	case code == "InvalidBucketState", code == "ObjectLockConfigurationNotFoundError",
		noObjectLock(lmsg):
		return scrub(fmt.Sprintf("bucket %q has no Object Lock enabled, so retention cannot be set: use a bucket "+
			"created with Object Lock, or upload without retention", bucket))

	case code == "AccessDenied", code == "AllAccessDisabled", code == "Forbidden", httpStatus(err) == 403:
		why := "the credentials lack permission"
		switch op {
		case "delete":
			why = "the object is protected by Object Lock retention (or the credentials lack permission to delete)"
		case "upload":
			why = "the credentials lack permission to write there (s3:PutObject), or to set Object Lock retention"
		}
		return scrub(fmt.Sprintf("access denied%s at %s: %s", forLoc(op, loc), endpoint, why))

	case code == "PreconditionFailed", httpStatus(err) == 412:
		return scrub(fmt.Sprintf("%s changed while it was being read; open it again", orDefault(loc, "the object")))
	case code == "SlowDown", code == "ServiceUnavailable", code == "InternalError":
		return scrub(fmt.Sprintf("the S3 server at %s is busy or failing (%s); retry later", endpoint, code))
	}

	if isCredentialsMissing(err) {
		return "no S3 credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, " +
			"or add them to ~/.aws/credentials"
	}
	if s := strings.ToLower(err.Error()); strings.Contains(s, "failed to get shared config profile") {
		return scrub("the AWS profile does not exist: " + err.Error())
	}
	if reason := netReason(err); reason != "" {
		ep := endpoint
		if u := requestHost(err); u != "" && oe == nil {
			ep = u
		}
		return scrub(fmt.Sprintf("cannot reach the S3 endpoint %s: %s", ep, reason))
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return scrub(fmt.Sprintf("timed out talking to %s", endpoint))
	}
	if errors.Is(err, context.Canceled) {
		return "canceled"
	}
	return scrub(err.Error())
}

// noObjectLock recognizes the messages of servers refusing retention on a bucket without Object
// Lock ("Bucket is missing ObjectLockConfiguration", "Object Lock configuration does not exist
// for this bucket", ...).
func noObjectLock(lmsg string) bool {
	m := strings.ReplaceAll(lmsg, " ", "")
	return strings.Contains(m, "objectlock") &&
		(strings.Contains(m, "missing") || strings.Contains(m, "notenabled") || strings.Contains(m, "doesnotexist") ||
			strings.Contains(m, "notfound") || strings.Contains(m, "notconfigured"))
}

func forLoc(op, loc string) string {
	switch {
	case op != "" && loc != "":
		return " (" + op + " " + loc + ")"
	case loc != "":
		return " (" + loc + ")"
	}
	return ""
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func isCredentialsMissing(err error) bool {
	s := err.Error()
	for _, m := range []string{
		"failed to retrieve credentials",
		"failed to refresh cached credentials",
		"no EC2 IMDS role found",
		"static credentials are empty",
		"AnonymousCredentials",
	} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

// netReason says why a connection failed, or "" if err is no network error.
func netReason(err error) string {
	var dnsErr *net.DNSError
	var certErr *x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var certInvalid x509.CertificateInvalidError
	var opErr *net.OpError
	var urlErr *url.Error
	switch {
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("host %q not found (DNS)", dnsErr.Name)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused (is the server running, and is the endpoint right?)"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by the server"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to host"
	case errors.As(err, &certErr), errors.As(err, &hostErr), errors.As(err, &certInvalid):
		return "its TLS certificate is not trusted: " + certReason(err)
	case errors.As(err, &opErr):
		if opErr.Timeout() && opErr.Op == "dial" {
			return "connection timed out (no answer: is the host up, and is a firewall in the way?)"
		}
		if opErr.Timeout() {
			return "timed out waiting for the server"
		}
		return opErr.Err.Error()
	case errors.As(err, &urlErr):
		if urlErr.Timeout() {
			return "timed out"
		}
		return urlErr.Err.Error()
	}
	if strings.Contains(err.Error(), "connection refused") {
		return "connection refused (is the server running, and is the endpoint right?)"
	}
	return ""
}

func certReason(err error) string {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return urlErr.Err.Error()
	}
	return err.Error()
}

// requestHost returns scheme://host of the request that failed, if err carries it.
func requestHost(err error) string {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		if u, perr := url.Parse(urlErr.URL); perr == nil && u.Host != "" {
			return u.Scheme + "://" + u.Host
		}
	}
	return ""
}
