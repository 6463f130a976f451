package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/api"
	"github.com/keywarden/keywarden/internal/audit"
	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/rootkey"
	"github.com/keywarden/keywarden/internal/seal"
	"github.com/keywarden/keywarden/internal/secret"
	"github.com/keywarden/keywarden/internal/store"
)

// auditChainPurpose is the root key derivation of the audit chain's MAC key.
const auditChainPurpose = "audit-chain"

// openAudit opens the audit log of c: the signing key from the store
// (created on first start), the chain key from the root key, the file sink
// and the configured stdout and syslog sinks.
func openAudit(ctx context.Context, c config.Audit, st store.Store, ring *seal.Keyring, src rootkey.Source, log *slog.Logger) (*audit.Log, error) {
	key, err := audit.LoadOrCreateSigningKey(ctx, st, ring.Derive(purposeAuditSigning))
	if err != nil {
		return nil, fmt.Errorf("audit signing key: %w", err)
	}
	var sinks []audit.Sink
	if c.Stdout {
		sinks = append(sinks, audit.WriterSink{W: os.Stdout})
	}
	if c.Syslog != nil {
		sinks = append(sinks, audit.NewSyslogSink(c.Syslog.Network, c.Syslog.Address, c.Syslog.Tag))
	}
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit directory: %w", err)
	}
	mac, err := chainKey(ctx, c.Dir, st, ring, src)
	if err != nil {
		return nil, fmt.Errorf("audit chain key: %w", err)
	}
	defer mac.Clear()
	l, err := audit.Open(audit.Options{
		Dir: c.Dir, MaxFileBytes: c.MaxFileBytes, MaxFileAge: time.Duration(c.MaxFileAge),
		CheckpointEvery: c.CheckpointEvery, CheckpointInterval: time.Duration(c.CheckpointInterval),
		MACKey: mac, SigningKey: key, Sinks: sinks, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("audit log %s: %w", c.Dir, err)
	}
	log.Info("audit log open", "dir", c.Dir, "signing_key", l.KeyID())
	return l, nil
}

// auditor adapts *audit.Log to api.Auditor.
type auditor struct {
	l *audit.Log
	// failed, when set, counts a record that could not be written.
	failed func()
}

// Ready implements api.Auditor.
func (a auditor) Ready() error { return a.l.Ready() }

// Record implements api.Auditor. The record of a request that changed
// stored state is fsynced before the response; the others (reads,
// cryptographic operations, token requests, refusals) are written to the
// file before the response and fsynced within audit.SyncInterval, so a
// crash of the process loses none and only a crash of the machine could.
func (a auditor) Record(ctx context.Context, i api.RequestInfo) error {
	write := a.l.Append
	if changesState(i) {
		write = a.l.Write
	}
	err := write(ctx, audit.Record{
		Time: i.Time, RequestID: i.RequestID, CorrelationID: i.CorrelationID,
		OperationName: i.OperationName, OperationVersion: i.OperationVersion,
		Method: i.Method, RequestURI: i.RequestURI,
		Vault: i.Vault, Key: i.Key, Version: i.Version, Algorithm: i.Algorithm,
		Status: i.Status, ResultType: i.ResultType, ResultSignature: i.ResultSignature,
		ErrorCode: i.ErrorCode, InnerCode: i.InnerCode, Duration: i.Duration, CallerIP: i.CallerIP,
		ObjectID: i.ObjectID, AppID: i.AppID, TenantID: i.TenantID, Issuer: i.Issuer,
		AssignmentID: i.AssignmentID, UserAgent: i.UserAgent, ID: i.ID,
	})
	if err != nil && a.failed != nil {
		a.failed()
	}
	return err
}

// readOnlyOperations change nothing stored whatever their method.
var readOnlyOperations = map[string]bool{
	"KeyEncrypt": true, "KeyDecrypt": true, "KeyWrap": true, "KeyUnwrap": true,
	"KeySign": true, "KeyVerify": true, "GetRandomBytes": true, "KeyRelease": true,
	"Authentication": true,
}

// changesState reports whether a request may have changed stored state:
// a successful request with a writing method that is not a cryptographic
// operation or a token request.
func changesState(i api.RequestInfo) bool {
	if i.Status >= 400 || i.Method == "GET" || i.Method == "HEAD" {
		return false
	}
	return !readOnlyOperations[i.OperationName]
}

// close closes the audit log, the store and the HSM, the audit log last
// but two so that it records every request the store served.
func (e *engine) close() error {
	var errs []error
	if e.audit != nil {
		errs = append(errs, e.audit.Close())
	}
	errs = append(errs, e.store.Close())
	if e.hsm != nil {
		errs = append(errs, e.hsm.Close())
	}
	return errors.Join(errs...)
}

func newAuditCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Verify and search the local audit log files",
	}
	cmd.AddCommand(newAuditVerifyCommand(), newAuditSearchCommand())
	return cmd
}

func newAuditVerifyCommand() *cobra.Command {
	var rootKeyFile, dataDir, publicKey string
	cmd := &cobra.Command{
		Use:   "verify [FILE|DIR]...",
		Short: "Prove audit log files intact, or name the first record edited, removed, inserted or reordered",
		Long: `verify reads audit log files in the order given (a directory stands for its
log files in order) and checks them:

  - with the root key (--root-key-file, or --data-dir for <data-dir>/root.key),
    it recomputes every record's chain value: any edit, removal, insertion or
    reordering is found at the first record concerned;
  - with the audit public key (--public-key, a JWK or JWKS file as served at
    /audit/v1/keys), it checks every checkpoint's signature and the digest of
    the records it covers; records after the last checkpoint are reported as
    not yet covered.

Without files it reads <data-dir>/audit. It exits non-zero when the log is
not intact.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				if dataDir == "" {
					return errors.New("give log files or directories, or --data-dir")
				}
				args = []string{filepath.Join(dataDir, "audit")}
			}
			files, err := audit.ExpandPaths(args)
			if err != nil {
				return err
			}
			var o audit.VerifyOptions
			var how []string
			if rootKeyFile == "" && dataDir != "" {
				rootKeyFile = filepath.Join(dataDir, "root.key")
				if _, err := os.Stat(rootKeyFile); errors.Is(err, fs.ErrNotExist) {
					// HSM seal mode: the root key is in the token. The
					// signed checkpoints still prove the log.
					rootKeyFile = ""
					if publicKey == "" {
						publicKey = filepath.Join(dataDir, "audit", "audit-signing-key.jwk")
					}
					how = append(how, "no root key file (HSM seal mode?): chain not recomputed")
				}
			}
			if rootKeyFile != "" {
				mac, err := verifyChainKey(rootKeyFile, filepath.Dir(files[0]))
				if err != nil {
					return err
				}
				o.MACKey = mac
				defer o.MACKey.Clear()
				how = append(how, "chain recomputed with the root key")
			}
			if publicKey != "" {
				keys, err := audit.LoadPublicKeys(publicKey)
				if err != nil {
					return err
				}
				o.PublicKeys = keys
				how = append(how, "checkpoint signatures checked with "+publicKey)
			}
			if o.MACKey.IsZero() && o.PublicKeys == nil {
				return errors.New("give --root-key-file (or --data-dir) to check the chain, and/or --public-key to check signatures")
			}
			out := cmd.OutOrStdout()
			res, err := audit.Verify(files, o)
			var te *audit.TamperError
			if errors.As(err, &te) {
				fmt.Fprintf(out, "NOT INTACT: %s:%d (seq %d): record %s\n  %s\n", te.File, te.Line, te.Seq, te.Kind, te.Detail)
				return errors.New("the audit log is not intact")
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "intact: %d records and %d checkpoints, seq %d to %d, in %d files (%s)\n",
				res.Records, res.Checkpoints, res.FirstSeq, res.LastSeq, res.Files, strings.Join(how, "; "))
			if res.Uncovered > 0 {
				fmt.Fprintf(out, "note: the last %d records are not covered by a checkpoint yet", res.Uncovered)
				if o.MACKey.IsZero() {
					fmt.Fprint(out, " and are NOT verified (give the root key to verify them)")
				}
				fmt.Fprintln(out)
			}
			if !res.EndsWithClose {
				fmt.Fprintln(out, "note: the log does not end with a close checkpoint: the server is running, crashed, or the end of the log was cut off")
			}
			for _, n := range res.Notes {
				fmt.Fprintln(out, "note: "+n)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&rootKeyFile, "root-key-file", "", "root key file (recomputes the chain)")
	f.StringVar(&dataDir, "data-dir", "", "data directory: its root.key, and its audit directory when no files are given")
	f.StringVar(&publicKey, "public-key", "", "audit public key, JWK or JWKS (checks checkpoint signatures)")
	return cmd
}

// verifyChainKey returns the audit chain key for `audit verify`: the data
// key sealed in dir's chain.key, opened with the root key file (which may
// hold the keys of a rotation in progress); for a log from before data
// keys, what the root key derives for the chain.
func verifyChainKey(rootKeyFile, dir string) (secret.Bytes, error) {
	ring, src, _, err := rootkey.OpenFile(rootKeyFile, false, nil)
	if err != nil {
		return secret.Bytes{}, err
	}
	path := filepath.Join(dir, chainKeyFile)
	if _, err := os.Stat(path); err != nil {
		k, err := rootkey.LegacyDerived(src, auditChainPurpose, nil)()
		return k, err
	}
	return rootkey.FileDataKey(path, ring.Derive(rootkey.DataKeySealerPurpose), nil)
}

func newAuditSearchCommand() *cobra.Command {
	var dir, dataDir, since, until, output string
	var q audit.Query
	cmd := &cobra.Command{
		Use:   "search",
		Short: "Search the local audit log files",
		Long: `search prints the request records of the audit directory (--dir, or
<data-dir>/audit) that match every filter given. --since and --until take
an RFC 3339 time or a duration back from now (24h). It reads local files and
does not check their integrity: use "keywarden audit verify" for that.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				if dataDir == "" {
					return errors.New("give --dir or --data-dir")
				}
				dir = filepath.Join(dataDir, "audit")
			}
			files, err := audit.LogFiles(dir)
			if err != nil {
				return err
			}
			now := time.Now()
			if q.Since, err = parseWhen(since, now); err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			if q.Until, err = parseWhen(until, now); err != nil {
				return fmt.Errorf("--until: %w", err)
			}
			out := cmd.OutOrStdout()
			switch output {
			case "json":
				fmt.Fprint(out, "[")
				n := 0
				err = audit.Search(files, q, func(e *audit.Event) error {
					b, err := json.Marshal(e)
					if err != nil {
						return err
					}
					if n > 0 {
						fmt.Fprint(out, ",")
					}
					n++
					_, err = fmt.Fprintf(out, "\n  %s", b)
					return err
				})
				fmt.Fprintln(out, "\n]")
				return err
			case "table", "":
				tw := audit.NewTableWriter(out)
				if err := audit.Search(files, q, tw.Write); err != nil {
					return err
				}
				return tw.Flush()
			}
			return fmt.Errorf("--output %q: use table or json", output)
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "", "audit directory")
	f.StringVar(&dataDir, "data-dir", "", "data directory (its audit directory)")
	f.StringVar(&q.Vault, "vault", "", "vault name")
	f.StringVar(&q.Key, "key", "", "key name")
	f.StringVar(&q.Principal, "principal", "", "caller object id or client id")
	f.StringVar(&q.Operation, "operation", "", "operation name (KeySign, KeyDelete, Authentication…)")
	f.StringVar(&q.Result, "result", "", "Success, Failure, a status text (Forbidden) or code (403)")
	f.StringVar(&since, "since", "", "from this time (RFC 3339) or duration ago (24h)")
	f.StringVar(&until, "until", "", "before this time (RFC 3339) or duration ago")
	f.StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

// parseWhen parses an RFC 3339 time or a duration before now; "" is zero.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	return time.Parse(time.RFC3339, s)
}
