// Package config reads the user's kubectl-rexec configuration file,
// ${XDG_CONFIG_HOME:-~/.config}/kubectl-rexec/config.yaml, and merges it
// with flags and the environment into the effective settings, each with
// where it came from. Flags override the environment, which overrides the
// file, which overrides the defaults. The policy keys (allowRecordOff,
// allowBestEffort, allowUnechoedInput, requireReason, requireTicket) have
// no flag: only the file sets them.
//
// The file is read strictly: an unknown key is an error, so that a typo in
// a policy key never silently turns the policy off.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// EnvRecordDir sets the recording directory (between the flag and the file).
const EnvRecordDir = "KUBECTL_REXEC_DIR"

// Record modes.
const (
	// ModeRequired: no recording, no session; a recording failure ends the
	// session (fail closed). The default.
	ModeRequired = "required"
	// ModeBestEffort: a recording failure prints one warning and the
	// session goes on unrecorded.
	ModeBestEffort = "best-effort"
	// ModeOff: no recording; only when the file says allowRecordOff.
	ModeOff = "off"
)

// Modes lists the record modes, for help and completion.
var Modes = []string{ModeRequired, ModeBestEffort, ModeOff}

// File is what config.yaml may hold.
type File struct {
	// RecordDir is where recordings go (~ and paths relative to the config
	// file's directory are resolved).
	RecordDir string `json:"recordDir,omitempty"`
	// RecordInput records stdin (default true); false leaves it out.
	RecordInput *bool `json:"recordInput,omitempty"`
	// RecordUnechoedInput records typed input that the remote terminal did
	// not echo in full (default false: its length only).
	RecordUnechoedInput *bool `json:"recordUnechoedInput,omitempty"`
	// AllowUnechoedInput permits recordUnechoedInput and
	// --record-unechoed-input (default true); false keeps typed secrets
	// out of every recording.
	AllowUnechoedInput *bool `json:"allowUnechoedInput,omitempty"`
	// RecordMode is the default --record mode.
	RecordMode string `json:"recordMode,omitempty"`
	// AllowRecordOff permits --record=off (default false).
	AllowRecordOff bool `json:"allowRecordOff,omitempty"`
	// AllowBestEffort permits --record=best-effort (default true).
	AllowBestEffort *bool `json:"allowBestEffort,omitempty"`
	// RequireReason, RequireTicket make --reason, --ticket mandatory.
	RequireReason bool `json:"requireReason,omitempty"`
	RequireTicket bool `json:"requireTicket,omitempty"`
	// SignKey is an ed25519 private key (PKCS#8 PEM or OpenSSH, mode 0600)
	// that signs every recording.
	SignKey string `json:"signKey,omitempty"`
	// Upload is where finished recordings are uploaded (upload.go).
	Upload Upload `json:"upload,omitempty"`
}

// Loaded is the config file as read.
type Loaded struct {
	Path  string
	Found bool
	File  File
}

// Path is ${XDG_CONFIG_HOME:-~/.config}/kubectl-rexec/config.yaml.
func Path() (string, error) {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find the config file: %w", err)
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "kubectl-rexec", "config.yaml"), nil
}

// StateDir is ${XDG_STATE_HOME:-~/.local/state}/kubectl-rexec, where the
// recordings (by default) and the upload spool live.
func StateDir() (string, error) {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "kubectl-rexec"), nil
}

// Load reads the config file; a missing file gives the defaults.
func Load() (*Loaded, error) {
	p, err := Path()
	if err != nil {
		return nil, err
	}
	return LoadFile(p)
}

// LoadFile reads the config file at path.
func LoadFile(path string) (*Loaded, error) {
	l := &Loaded{Path: path}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	l.Found = true
	if len(bytes.TrimSpace(data)) > 0 {
		if err := yaml.UnmarshalStrict(data, &l.File); err != nil {
			return nil, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	f := &l.File
	if f.RecordMode == "false" {
		// YAML 1.1 reads a bare off as false: recordMode: off means off.
		f.RecordMode = ModeOff
	}
	if f.RecordMode != "" && !validMode(f.RecordMode) {
		return nil, fmt.Errorf("config file %s: recordMode %q is not one of %s", path, f.RecordMode, strings.Join(Modes, ", "))
	}
	if f.RecordMode == ModeOff && !f.AllowRecordOff {
		return nil, fmt.Errorf("config file %s: recordMode off needs allowRecordOff: true", path)
	}
	if f.RecordUnechoedInput != nil && *f.RecordUnechoedInput && f.AllowUnechoedInput != nil && !*f.AllowUnechoedInput {
		return nil, fmt.Errorf("config file %s: recordUnechoedInput: true contradicts allowUnechoedInput: false", path)
	}
	if f.RecordMode == ModeBestEffort && f.AllowBestEffort != nil && !*f.AllowBestEffort {
		return nil, fmt.Errorf("config file %s: recordMode best-effort contradicts allowBestEffort: false", path)
	}
	if err := f.Upload.check(); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	if f.RecordDir, err = l.resolve(f.RecordDir); err != nil {
		return nil, err
	}
	if f.SignKey, err = l.resolve(f.SignKey); err != nil {
		return nil, err
	}
	return l, nil
}

// resolve expands ~ and makes a relative path relative to the config file.
func (l *Loaded) resolve(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	if p == "~" || strings.HasPrefix(p, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("config file %s: expand %s: %w", l.Path, p, err)
		}
		p = filepath.Join(home, p[1:])
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(filepath.Dir(l.Path), p)
	}
	return p, nil
}

func validMode(m string) bool {
	for _, v := range Modes {
		if m == v {
			return true
		}
	}
	return false
}

// Flags are the command-line values that override the file; nil means the
// flag was not given.
type Flags struct {
	RecordDir   *string
	RecordInput *bool
	// RecordUnechoedInput is --record-unechoed-input.
	RecordUnechoedInput *bool
	Mode                *string
	SignKey             *string
	Reason              *string
	Ticket              *string
	Upload              *string // a URL, or "off"
}

// Source says where a setting came from.
type Source string

// Sources.
const (
	SourceDefault Source = "default"
	SourceFile    Source = "config file"
	SourceEnv     Source = "env " + EnvRecordDir
	SourceEnvUp   Source = "env " + EnvUpload
	SourceFlag    Source = "flag"
)

// Setting is one effective setting.
type Setting struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Source Source `json:"source"`
}

// Effective are the settings a session runs with.
type Effective struct {
	ConfigPath  string
	ConfigFound bool

	// RecordDir is empty when neither flag, env nor file set it: the
	// session then uses its default location.
	RecordDir   string
	RecordInput bool
	// RecordUnechoedInput records typed input the remote terminal did not
	// echo in full; AllowUnechoedInput is the policy that permits it.
	RecordUnechoedInput bool
	AllowUnechoedInput  bool
	Mode                string
	AllowRecordOff      bool
	AllowBestEffort     bool
	RequireReason       bool
	RequireTicket       bool
	SignKey             string
	Reason              string
	Ticket              string
	Upload              Upload

	sources map[string]Source
}

// Resolve merges flags, the environment (getenv) and the file.
func Resolve(l *Loaded, flags Flags, getenv func(string) string) Effective {
	f := l.File
	e := Effective{
		ConfigPath: l.Path, ConfigFound: l.Found,
		RecordInput: true, Mode: ModeRequired, AllowBestEffort: true, AllowUnechoedInput: true,
		AllowRecordOff: f.AllowRecordOff, RequireReason: f.RequireReason, RequireTicket: f.RequireTicket,
		Upload:  f.Upload,
		sources: map[string]Source{},
	}
	policy := SourceDefault
	if l.Found {
		policy = SourceFile
	}
	for _, k := range []string{"allowRecordOff", "allowBestEffort", "allowUnechoedInput", "requireReason", "requireTicket", "upload"} {
		e.sources[k] = policy
	}
	set := func(key string, src Source) { e.sources[key] = src }

	set("recordDir", SourceDefault)
	switch {
	case flags.RecordDir != nil && *flags.RecordDir != "":
		e.RecordDir = *flags.RecordDir
		set("recordDir", SourceFlag)
	case getenv(EnvRecordDir) != "":
		e.RecordDir = getenv(EnvRecordDir)
		set("recordDir", SourceEnv)
	case f.RecordDir != "":
		e.RecordDir = f.RecordDir
		set("recordDir", SourceFile)
	}

	set("recordInput", SourceDefault)
	if f.RecordInput != nil {
		e.RecordInput = *f.RecordInput
		set("recordInput", SourceFile)
	}
	if flags.RecordInput != nil {
		e.RecordInput = *flags.RecordInput
		set("recordInput", SourceFlag)
	}

	set("recordUnechoedInput", SourceDefault)
	if f.RecordUnechoedInput != nil {
		e.RecordUnechoedInput = *f.RecordUnechoedInput
		set("recordUnechoedInput", SourceFile)
	}
	if flags.RecordUnechoedInput != nil {
		e.RecordUnechoedInput = *flags.RecordUnechoedInput
		set("recordUnechoedInput", SourceFlag)
	}
	if f.AllowUnechoedInput != nil {
		e.AllowUnechoedInput = *f.AllowUnechoedInput
	}

	if f.AllowBestEffort != nil {
		e.AllowBestEffort = *f.AllowBestEffort
	}

	set("recordMode", SourceDefault)
	if f.RecordMode != "" {
		e.Mode = f.RecordMode
		set("recordMode", SourceFile)
	}
	if flags.Mode != nil {
		e.Mode = *flags.Mode
		set("recordMode", SourceFlag)
	}

	set("signKey", SourceDefault)
	if f.SignKey != "" {
		e.SignKey = f.SignKey
		set("signKey", SourceFile)
	}
	if flags.SignKey != nil {
		e.SignKey = *flags.SignKey
		set("signKey", SourceFlag)
	}

	switch {
	case flags.Upload != nil:
		e.Upload.URL = strings.TrimSpace(*flags.Upload)
		set("upload", SourceFlag)
	case getenv(EnvUpload) != "":
		e.Upload.URL = strings.TrimSpace(getenv(EnvUpload))
		set("upload", SourceEnvUp)
	}

	set("reason", SourceDefault)
	if flags.Reason != nil {
		e.Reason = strings.TrimSpace(*flags.Reason)
		set("reason", SourceFlag)
	}
	set("ticket", SourceDefault)
	if flags.Ticket != nil {
		e.Ticket = strings.TrimSpace(*flags.Ticket)
		set("ticket", SourceFlag)
	}
	return e
}

// Check enforces the policy: the mode is known and permitted, and a
// required reason or ticket is there. Its errors name the flag to use and
// the file that asks for it.
func (e Effective) Check() error {
	if !validMode(e.Mode) {
		return fmt.Errorf("--record must be one of %s, got %q", strings.Join(Modes, ", "), e.Mode)
	}
	if e.Mode == ModeOff && !e.AllowRecordOff {
		return fmt.Errorf("--record=off is not permitted: sessions must be recorded unless %s says allowRecordOff: true", e.ConfigPath)
	}
	if e.Mode == ModeBestEffort && !e.AllowBestEffort {
		return fmt.Errorf("--record=best-effort is not permitted by %s (allowBestEffort: false): sessions must be recorded", e.ConfigPath)
	}
	if e.RecordUnechoedInput && !e.AllowUnechoedInput {
		return fmt.Errorf("--record-unechoed-input is not permitted by %s (allowUnechoedInput: false): typed input the remote terminal does not echo, such as passwords, is recorded as its length only", e.ConfigPath)
	}
	if e.RequireReason && e.Reason == "" {
		return fmt.Errorf(`--reason is required by %s (requireReason: true): say why you open this session, e.g. --reason "restart stuck worker"`, e.ConfigPath)
	}
	if e.Upload.URL == UploadOff {
		if e.Upload.Required {
			return fmt.Errorf("--upload=off is not permitted: %s requires every recording to be uploaded (upload.required: true)", e.ConfigPath)
		}
	} else if e.Upload.URL != "" {
		if err := CheckUploadURL(e.Upload.URL); err != nil {
			return fmt.Errorf("--upload: %w", err)
		}
	}
	if e.RequireTicket && e.Ticket == "" {
		return fmt.Errorf(`--ticket is required by %s (requireTicket: true): give the change or incident id, e.g. --ticket INC-1234`, e.ConfigPath)
	}
	return nil
}

// Settings lists the effective settings with their sources, in a fixed
// order, for `config view`. defaultRecordDir is shown when no source set
// the recording directory.
func (e Effective) Settings(defaultRecordDir string) []Setting {
	dir := e.RecordDir
	if dir == "" {
		dir = defaultRecordDir
	}
	signKey := e.SignKey
	if signKey == "" {
		signKey = "(none: recordings are not signed)"
	}
	upload := e.Upload.URL
	switch {
	case upload == "" || upload == UploadOff:
		upload = "(none)"
	case e.Upload.Live:
		upload += " (live)"
	}
	s := func(name, value string) Setting { return Setting{Name: name, Value: value, Source: e.sources[name]} }
	out := []Setting{
		s("recordDir", dir),
		s("recordMode", e.Mode),
		s("recordInput", strconv.FormatBool(e.RecordInput)),
		s("recordUnechoedInput", strconv.FormatBool(e.RecordUnechoedInput)),
		s("signKey", signKey),
		s("allowRecordOff", strconv.FormatBool(e.AllowRecordOff)),
		s("allowBestEffort", strconv.FormatBool(e.AllowBestEffort)),
		s("allowUnechoedInput", strconv.FormatBool(e.AllowUnechoedInput)),
		s("requireReason", strconv.FormatBool(e.RequireReason)),
		s("requireTicket", strconv.FormatBool(e.RequireTicket)),
		s("upload", upload),
	}
	if e.sources["reason"] == SourceFlag {
		out = append(out, s("reason", e.Reason))
	}
	if e.sources["ticket"] == SourceFlag {
		out = append(out, s("ticket", e.Ticket))
	}
	return out
}
