package config

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// Audit configures the audit trail. The file sink is always on: every
// request is recorded there before it is answered (fail closed). Stdout and
// syslog receive the same lines, best effort.
type Audit struct {
	// Dir is the audit directory; empty means {DataDir}/audit.
	Dir string `json:"dir"`
	// MaxFileBytes and MaxFileAge rotate the log to a new file; zero:
	// 100 MiB and 24h.
	MaxFileBytes int64    `json:"maxFileBytes"`
	MaxFileAge   Duration `json:"maxFileAge"`
	// CheckpointEvery and CheckpointInterval write a signed checkpoint
	// after so many records or so much time; zero: 1000 and 1m.
	CheckpointEvery    int      `json:"checkpointEvery"`
	CheckpointInterval Duration `json:"checkpointInterval"`
	// Stdout also writes every record to standard output (JSON lines, for
	// container log collectors).
	Stdout bool `json:"stdout"`
	// Syslog, when set, also sends every record to syslog (RFC 5424).
	Syslog *Syslog `json:"syslog"`
}

// Syslog names a syslog receiver.
type Syslog struct {
	// Network is "unixgram", "udp" or "tcp"; empty means the local
	// socket /dev/log.
	Network string `json:"network"`
	// Address is the socket path or host:port.
	Address string `json:"address"`
	// Tag is the APP-NAME; empty means "keywarden".
	Tag string `json:"tag"`
}

// applyEnv applies KEYWARDEN_AUDIT_DIR and KEYWARDEN_AUDIT_STDOUT
// ("true"/"1").
func (a *Audit) applyEnv(getenv func(string) string) {
	if v := getenv("KEYWARDEN_AUDIT_DIR"); v != "" {
		a.Dir = v
	}
	switch strings.ToLower(getenv("KEYWARDEN_AUDIT_STDOUT")) {
	case "true", "1", "yes":
		a.Stdout = true
	case "false", "0", "no":
		a.Stdout = false
	}
}

// validate checks the settings and fills Dir.
func (a *Audit) validate(dataDir string) error {
	if a.Dir == "" {
		a.Dir = filepath.Join(dataDir, "audit")
	}
	if a.MaxFileBytes < 0 || a.MaxFileBytes > 0 && a.MaxFileBytes < 64<<10 {
		return fmt.Errorf("config: audit.maxFileBytes %d: use at least 65536 (or 0 for the default)", a.MaxFileBytes)
	}
	if a.MaxFileAge < 0 || a.MaxFileAge > 0 && a.MaxFileAge < Duration(time.Minute) {
		return fmt.Errorf("config: audit.maxFileAge %s: use at least 1m", time.Duration(a.MaxFileAge))
	}
	if a.CheckpointEvery < 0 {
		return fmt.Errorf("config: audit.checkpointEvery %d must not be negative", a.CheckpointEvery)
	}
	if a.CheckpointInterval < 0 || a.CheckpointInterval > 0 && a.CheckpointInterval < Duration(time.Second) {
		return fmt.Errorf("config: audit.checkpointInterval %s: use at least 1s", time.Duration(a.CheckpointInterval))
	}
	if s := a.Syslog; s != nil {
		switch s.Network {
		case "", "unix", "unixgram", "udp", "tcp":
		default:
			return fmt.Errorf("config: audit.syslog.network %q: use unixgram, udp or tcp", s.Network)
		}
		if s.Network != "" && s.Address == "" {
			return fmt.Errorf("config: audit.syslog.address is required with network %q", s.Network)
		}
	}
	return nil
}
