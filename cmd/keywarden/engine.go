package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sys/unix"

	"github.com/keywarden/keywarden/internal/api"
	"github.com/keywarden/keywarden/internal/audit"
	"github.com/keywarden/keywarden/internal/auth"
	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/keys/pkcs11"
	"github.com/keywarden/keywarden/internal/keys/software"
	"github.com/keywarden/keywarden/internal/logbuf"
	"github.com/keywarden/keywarden/internal/rbac"
	"github.com/keywarden/keywarden/internal/rootkey"
	"github.com/keywarden/keywarden/internal/seal"
	"github.com/keywarden/keywarden/internal/store"
	"github.com/keywarden/keywarden/internal/store/embedded"
	"github.com/keywarden/keywarden/internal/vault"
)

// engine is every dependency of a running server, built from a Config.
type engine struct {
	cfg      config.Config
	log      *slog.Logger
	ring     *seal.Keyring  // the root keys; the last seals new records
	rootSrc  rootkey.Source // where the root keys live (file or HSM)
	rotator  *rootkey.Rotator
	store    *embedded.DB
	hsm      *pkcs11.Provider // nil without an HSM
	issuer   *auth.Issuer
	verifier *auth.Verifier
	rbac     *rbac.Service
	vaults   *vault.Service
	audit    *audit.Log
	tenant   string
	// obs is the metrics, readiness and alert side of the server.
	obs *observability
	// onVaultCreated, when set before serving, learns each new vault's
	// name (dev mode adds its host to the served certificate).
	onVaultCreated func(name string)
}

// newLogger builds the one structured logger, writing to stderr in
// batches (one write per 100 ms instead of one per request line). Call the
// returned function to flush before exit.
func newLogger(cfg config.Config) (*slog.Logger, func()) {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	out := logbuf.New(os.Stderr, 100*time.Millisecond, 64<<10)
	closeFn := func() { out.Close() }
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(out, opts)), closeFn
	}
	return slog.New(slog.NewTextHandler(out, opts)), closeFn
}

// openEngine opens the root key, the store, the token issuer and the vault
// service. createRoot allows creating a missing root key (dev, init).
func openEngine(ctx context.Context, cfg config.Config, log *slog.Logger, createRoot bool) (*engine, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	lockMemory(log)
	tuneGC()
	hsmProvider, err := openHSM(cfg.HSM, os.Getenv, log)
	if err != nil {
		return nil, err
	}
	closeHSM := func() {
		if hsmProvider != nil {
			hsmProvider.Close()
		}
	}
	ring, rootSrc, err := openKeyring(ctx, cfg, hsmProvider, createRoot, log)
	if err != nil {
		closeHSM()
		return nil, err
	}
	db, err := embedded.Open(filepath.Join(cfg.DataDir, "keywarden.db"))
	if err != nil {
		closeHSM()
		return nil, fmt.Errorf("store: %w", err)
	}
	e := &engine{cfg: cfg, log: log, ring: ring, rootSrc: rootSrc, store: db, hsm: hsmProvider}
	if e.audit, err = openAudit(ctx, cfg.Audit, db, ring, rootSrc, log); err != nil {
		e.audit = nil
		e.close()
		return nil, err
	}
	e.issuer, err = auth.NewIssuer(ctx, auth.IssuerOptions{Store: db, Sealer: ring.Derive(purposeTokenSigning), Rand: rand.Reader, TokenTTL: time.Duration(cfg.TokenTTL)})
	if err != nil {
		e.close()
		return nil, fmt.Errorf("token issuer: %w", err)
	}
	externals := make([]auth.ExternalIssuer, len(cfg.ExternalIssuers))
	for i, x := range cfg.ExternalIssuers {
		externals[i] = auth.ExternalIssuer{Issuer: x.Issuer, JWKSURL: x.JWKSURL, JWKSFile: x.JWKSFile, Audiences: x.Audiences, PrincipalClaim: x.PrincipalClaim, GroupsClaim: x.GroupsClaim}
	}
	if e.verifier, err = auth.NewVerifier(e.issuer, externals, auth.VerifierOptions{}); err != nil {
		e.close()
		return nil, fmt.Errorf("token verifier: %w", err)
	}
	e.rbac = rbac.New(db)
	backup, err := backupSealer(ctx, db, ring, rootSrc)
	if err != nil {
		e.close()
		return nil, fmt.Errorf("backup key: %w", err)
	}
	var hsm keys.Provider // a nil *pkcs11.Provider must stay a nil interface
	if e.hsm != nil {
		hsm = e.hsm
	}
	e.vaults = vault.New(vault.Options{
		Store:    db,
		Material: ring.Derive(purposeMaterial),
		Backup:   backup,
		Software: software.New(rand.Reader),
		HSM:      hsm,
		Rand:     rand.Reader,
		OnDestroyError: func(err error) {
			log.Error("HSM key objects (of a purged key, a failed restore or a refused BYOK import) could not be destroyed; remove them from the token", "err", err)
		},
		// Last use is written every 30 s (the default); a failed write is
		// logged and retried.
		OnLastUseError: func(err error) { log.Error("writing the last use of key versions", "err", err) },
		OnVaultCreated: func(name string) {
			if e.onVaultCreated != nil {
				e.onVaultCreated(name)
			}
		},
		OnVaultDeleted:  func(name string) { log.Info("vault deleted", "vault", name) },
		OnAccessChanged: func() { e.rbac.Invalidate() },
	})
	e.rotator = rootkey.New(rootkey.Options{Ring: ring, Source: rootSrc, Resealers: e.resealers(), Log: log})
	if e.obs, err = newObservability(cfg, e, log); err != nil {
		e.close()
		return nil, fmt.Errorf("alerts: %w", err)
	}
	if e.tenant, err = e.tenantID(ctx); err != nil {
		e.close()
		return nil, err
	}
	now := time.Now()
	for _, v := range cfg.Vaults {
		if _, err := e.vaults.EnsureVault(ctx, now, vault.Vault{Name: v.Name, SKU: vault.SKU(v.SKU), RetentionDays: v.RetentionDays, PurgeProtection: v.PurgeProtection}); err != nil {
			e.close()
			return nil, fmt.Errorf("vault %s: %w", v.Name, err)
		}
	}
	return e, nil
}

// tenantID returns the configured tenant, or the one this data directory
// was initialised with (created on first start).
func (e *engine) tenantID(ctx context.Context) (string, error) {
	if e.cfg.TenantID != "" {
		return e.cfg.TenantID, nil
	}
	var tenant string
	err := e.store.Update(ctx, func(tx store.Tx) error {
		b, err := tx.Blob(tenantBlob)
		if err == nil {
			tenant = string(b)
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		tenant = uuid.NewString()
		return tx.PutBlob(tenantBlob, []byte(tenant))
	})
	if err != nil {
		return "", fmt.Errorf("tenant id: %w", err)
	}
	return tenant, nil
}

// tuneGC lets the heap grow to nine times the live data between
// collections (GOGC=800) under a 1 GiB soft limit (GOMEMLIMIT), unless
// either is set in the environment: the server's garbage is short-lived
// per-request buffers, and at the default GOGC=100 collections took about
// a tenth of its CPU under load (EC P-256 signing in `keywarden bench` rose
// from about 14% to about 20% of raw speed). The soft limit makes the
// collector work harder before the heap outgrows it.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(800)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(1 << 30)
	}
}

// lockMemory keeps secrets out of swap where the system allows it.
func lockMemory(log *slog.Logger) {
	if err := unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE); err != nil {
		log.Warn("could not lock memory; secrets may be swapped to disk", "err", err)
		return
	}
	log.Debug("memory locked (mlockall)")
}

// handler returns the HTTP handler of the keys API, the administration
// API and the authority.
func (e *engine) handler(background context.Context) (http.Handler, error) {
	var proxies []netip.Prefix
	for _, p := range e.cfg.TrustedProxies {
		prefix, err := config.ParsePrefix(p)
		if err != nil {
			return nil, err
		}
		proxies = append(proxies, prefix)
	}
	t := e.cfg.Throttle
	jwks, err := audit.JWKS(e.audit.PublicKey())
	if err != nil {
		return nil, err
	}
	return api.New(api.Config{
		TenantID:       e.tenant,
		DNSSuffix:      e.cfg.DNSSuffix,
		HSMDNSSuffix:   e.cfg.HSMDNSSuffix,
		Port:           e.cfg.PublicPort,
		DefaultVault:   e.cfg.DefaultVault,
		BareResource:   e.cfg.Resource,
		Logger:         e.log,
		Now:            time.Now,
		MaxBodyBytes:   e.cfg.MaxBodyBytes,
		TrustedProxies: proxies,
		Throttle:       api.Throttle{VaultRPS: t.VaultRPS, VaultBurst: t.VaultBurst, PrincipalRPS: t.PrincipalRPS, PrincipalBurst: t.PrincipalBurst},
		SnapshotDir:    e.cfg.DataDir,
	}, api.Deps{
		Vaults:     e.vaults,
		Tokens:     tokenAuthority{issuer: e.issuer, verifier: e.verifier},
		Authorizer: e.rbac,
		VaultAdmin: e.vaults,
		Principals: principalAdmin{e.issuer},
		Roles:      e.rbac,
		Snapshots:  e.store,
		RootKeys:   rootKeyAdmin{r: e.rotator, background: background},
		Audit:      auditor{l: e.audit, failed: e.obs.metrics.AuditWriteFailed},
		Observers:  []func(api.RequestInfo){e.obs.observe},
		AuditKeys:  &jwks,
	}), nil
}

// administratorRoles are what the first (and the dev) administrator holds
// at scope "/": Keywarden administration and every vault data action.
var administratorRoles = []string{rbac.KeywardenAdministrator, rbac.KeyVaultAdministrator}

// grantAdministrator gives objectID the administrator roles at "/" unless
// it holds them already.
func (e *engine) grantAdministrator(ctx context.Context, objectID string) error {
	have, err := e.rbac.Assignments(ctx, objectID, "/")
	if err != nil {
		return err
	}
	for _, role := range administratorRoles {
		if slices.ContainsFunc(have, func(a rbac.Assignment) bool { return a.RoleID == role && a.Issuer == rbac.BuiltinIssuer }) {
			continue
		}
		if _, err := e.rbac.Assign(ctx, time.Now(), rbac.Assignment{PrincipalID: objectID, RoleID: role, Scope: "/"}); err != nil {
			return fmt.Errorf("assign role %s: %w", role, err)
		}
	}
	return nil
}

// serve runs the TLS server on ln until ctx ends, then drains in-flight
// requests, writes the keys' last use and closes the store. ready, if not
// nil, runs once listening.
func (e *engine) serve(ctx context.Context, ln net.Listener, tlsCfg *tls.Config) error {
	srv := &http.Server{
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(e.log.Handler(), slog.LevelDebug),
		// HTTP/1.1 only: every SDK speaks it, and one connection per
		// client goroutine spreads crypto work over the cores, where
		// HTTP/2 multiplexes all of a client's requests through one
		// connection's single frame writer.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	// The last-use flusher writes every 30 s, and once more when stopped:
	// after the server has drained its requests, before the store closes.
	uses, stopUses := context.WithCancel(context.WithoutCancel(ctx))
	usesDone := make(chan struct{})
	go func() {
		defer close(usesDone)
		if err := e.vaults.Run(uses); err != nil {
			e.log.Error("writing the last use of key versions at shutdown", "err", err)
		}
	}()
	jobs, stopJobs := context.WithCancel(ctx)
	defer stopJobs()
	h, err := e.handler(jobs)
	if err != nil {
		stopUses()
		<-usesDone
		return err
	}
	srv.Handler = h
	// A rotation interrupted by a crash or a stop finishes now.
	e.rotator.Resume(jobs)
	jobsDone := make(chan struct{})
	go func() {
		defer close(jobsDone)
		e.purgeLoop(jobs)
	}()
	obsDone := make(chan struct{})
	go func() {
		defer close(obsDone)
		e.obs.run(jobs, e.cfg.Metrics.Listen, e)
	}()
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case err = <-errc:
	case <-ctx.Done():
		e.log.Info("shutting down: draining in-flight requests")
		sctx, cancel := context.WithTimeout(context.Background(), time.Duration(e.cfg.ShutdownTimeout))
		err = srv.Shutdown(sctx)
		cancel()
	}
	stopUses()
	<-usesDone
	stopJobs()
	<-jobsDone
	<-obsDone
	// A rotation stopped half-way keeps its old keys and resumes at the
	// next start; it must stop before the store closes.
	e.rotator.Wait(context.Background())
	if cerr := e.close(); cerr != nil && err == nil {
		err = cerr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// purgeLoop purges soft-deleted keys past their retention, hourly.
func (e *engine) purgeLoop(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := e.vaults.PurgeExpired(ctx, time.Now()); err != nil {
			e.log.Error("purging expired deleted keys", "err", err)
		} else if n > 0 {
			e.log.Info("purged deleted keys past retention", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// tlsConfig returns a TLS server config using getCert.
func tlsConfig(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: getCert}
}
