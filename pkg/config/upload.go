package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// EnvUpload sets the upload target URL (between the flag and the file).
const EnvUpload = "KUBECTL_REXEC_UPLOAD"

// Upload says where finished recordings go besides the local directory.
// In the file it is either a URL (upload: s3://BUCKET/PREFIX) or an object
// with the URL and how to reach the store. Credentials are never here:
// they come from the AWS SDK's own chain (environment, shared config and
// credentials files, profile).
type Upload struct {
	// URL is s3://BUCKET/PREFIX; empty means no upload.
	URL string `json:"url,omitempty"`
	// Endpoint is the S3 endpoint of a self-hosted store; empty leaves it
	// to the SDK (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, endpoint_url).
	Endpoint string `json:"endpoint,omitempty"`
	Region   string `json:"region,omitempty"`
	// Profile is the shared-config profile; empty means AWS_PROFILE or default.
	Profile string `json:"profile,omitempty"`
	// PathStyle addresses BUCKET as a path, as most self-hosted stores need
	// (always on for an endpoint at an IP address or localhost).
	PathStyle bool `json:"pathStyle,omitempty"`
	// Retention puts every object under S3 Object Lock.
	Retention *Retention `json:"retention,omitempty"`
	// RemoveLocal deletes the local recording once its upload is confirmed.
	RemoveLocal bool `json:"removeLocal,omitempty"`
	// Live uploads the recording in segments while the session runs, so
	// that it exists centrally even if the client machine dies.
	Live bool `json:"live,omitempty"`
	// LiveInterval is how often live segments are uploaded (a Go
	// duration, default 10s): at most this much of a session is lost
	// centrally when the client machine dies.
	LiveInterval string `json:"liveInterval,omitempty"`
	// Required forbids --upload=off (a policy key: only the file sets it).
	Required bool `json:"required,omitempty"`
}

// Retention is an S3 Object Lock retention.
type Retention struct {
	Mode string `json:"mode"` // COMPLIANCE or GOVERNANCE
	Days int    `json:"days"`
}

// UploadOff given as --upload turns uploading off for one session.
const UploadOff = "off"

// UnmarshalJSON takes the URL shorthand or the object, strictly.
func (u *Upload) UnmarshalJSON(b []byte) error {
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '"' {
		return json.Unmarshal(t, &u.URL)
	}
	type plain Upload
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var p plain
	if err := d.Decode(&p); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	*u = Upload(p)
	return nil
}

// check validates the upload section of the file.
func (u *Upload) check() error {
	if u.URL != "" {
		if err := CheckUploadURL(u.URL); err != nil {
			return err
		}
	}
	if u.Required && u.URL == "" {
		return fmt.Errorf("upload.required needs upload.url")
	}
	if u.LiveInterval != "" {
		if d, err := time.ParseDuration(u.LiveInterval); err != nil || d < time.Second {
			return fmt.Errorf("upload.liveInterval must be a duration of at least 1s, got %q", u.LiveInterval)
		}
	}
	if r := u.Retention; r != nil {
		r.Mode = strings.ToUpper(r.Mode)
		if r.Mode != "COMPLIANCE" && r.Mode != "GOVERNANCE" {
			return fmt.Errorf("upload.retention.mode must be COMPLIANCE or GOVERNANCE, got %q", r.Mode)
		}
		if r.Days < 1 {
			return fmt.Errorf("upload.retention.days must be at least 1, got %d", r.Days)
		}
	}
	return nil
}

// LiveEvery is LiveInterval as a duration, zero for the default.
func (u Upload) LiveEvery() time.Duration {
	d, _ := time.ParseDuration(u.LiveInterval)
	return d
}

// CheckUploadURL accepts s3://BUCKET[/PREFIX] only.
func CheckUploadURL(s string) error {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok || rest == "" || strings.HasPrefix(rest, "/") {
		return fmt.Errorf("upload target %q is not s3://BUCKET[/PREFIX]", s)
	}
	return nil
}
