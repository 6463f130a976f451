package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/keywarden/keywarden/internal/alerts"
	"github.com/keywarden/keywarden/internal/api"
	"github.com/keywarden/keywarden/internal/audit"
	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/metrics"
	"github.com/keywarden/keywarden/internal/store"
)

// observability is the server's metrics, readiness checks and alert
// engine, fed by one observer per request.
type observability struct {
	metrics *metrics.Metrics
	checker *metrics.Checker
	alerts  *alerts.Engine // nil when alerts are disabled
}

// newObservability builds metrics, readiness checks over the store, the
// seal and the audit sink, and the alert engine.
func newObservability(cfg config.Config, e *engine, log *slog.Logger) (*observability, error) {
	o := &observability{metrics: metrics.New(metrics.Options{})}
	checks := []metrics.Check{
		{Name: "store", Func: func(ctx context.Context) error {
			return e.store.View(ctx, func(tx store.Tx) error { _, err := tx.Vaults(); return err })
		}},
		{Name: "seal", Func: func(context.Context) error {
			s := e.ring.Derive(purposeReadiness)
			sealed, err := s.Seal([]byte("ready"), nil)
			if err == nil {
				_, err = s.Open(sealed, nil)
			}
			return err
		}},
		{Name: "audit", Func: func(context.Context) error { return e.audit.Ready() }},
	}
	if e.hsm != nil {
		checks = append(checks, metrics.Check{Name: "hsm", Func: e.hsm.Ping})
		o.metrics.SetHSMSessions(func() metrics.HSMSessions {
			inUse, idle := e.hsm.Sessions()
			return metrics.HSMSessions{InUse: inUse, Idle: idle}
		})
	}
	o.checker = metrics.NewChecker(checks...)
	o.metrics.SetChecker(o.checker)
	if cfg.Alerts.Disabled {
		return o, nil
	}
	a := cfg.Alerts
	var err error
	o.alerts, err = alerts.New(alerts.Options{
		Sinks:               []alerts.Sink{alerts.LogSink{Logger: log}, alerts.SinkFunc(e.auditAlert)},
		Recorder:            o.metrics,
		DisabledRules:       a.DisabledRules,
		Cooldown:            time.Duration(a.Cooldown),
		PrincipalFailures:   alerts.Threshold{Count: a.PrincipalFailures.Count, Window: time.Duration(a.PrincipalFailures.Window)},
		VaultFailures:       alerts.Threshold{Count: a.VaultFailures.Count, Window: time.Duration(a.VaultFailures.Window)},
		RateFactor:          a.RateFactor,
		RateFloor:           a.RateFloor,
		RateWarmUp:          time.Duration(a.RateWarmUp),
		NewKeyLearning:      time.Duration(a.NewKeyLearning),
		ExpiryWindow:        time.Duration(a.ExpiryWindow),
		MaxPrincipals:       a.MaxPrincipals,
		MaxKeysPerPrincipal: a.MaxKeysPerPrincipal,
		QueueSize:           a.QueueSize,
		DeletionOperations:  a.DeletionOperations,
		ChangeOperations:    a.ChangeOperations,
	})
	return o, err
}

// observe feeds one finished request to metrics and alerts. It runs on the
// request path: both calls are cheap and never block.
func (o *observability) observe(r api.RequestInfo) {
	o.metrics.ObserveRequest(metrics.Request{
		Vault: r.Vault, Operation: r.OperationName, Status: r.Status, Result: r.ResultType,
		Duration: r.Duration, KeyType: keyTypeOf(r.Algorithm), Algorithm: r.Algorithm,
	})
	if r.OperationName == "KeyRotate" && r.Status != 401 && r.Status != 403 && r.Status != 429 {
		var err error
		if r.Status >= 400 {
			err = fmt.Errorf("rotation answered %d %s", r.Status, r.ErrorCode)
		}
		o.metrics.ObserveRotation(r.Vault, err)
	}
	if o.alerts != nil {
		o.alerts.Observe(alerts.Event{
			Time: r.Time, Operation: r.OperationName, Vault: r.Vault, Key: r.Key,
			Principal: r.ObjectID, Status: r.Status, Result: r.ResultType, ErrorCode: r.ErrorCode,
		})
	}
}

// keyTypeOf names the key family an algorithm belongs to.
func keyTypeOf(alg string) string {
	switch {
	case alg == "":
		return ""
	case strings.HasPrefix(alg, "RS"), strings.HasPrefix(alg, "PS"), strings.HasPrefix(alg, "RSA"):
		return "RSA"
	case strings.HasPrefix(alg, "ES"):
		return "EC"
	default:
		return "oct"
	}
}

// run serves the observability listener (when configured), runs the alert
// engine and refreshes the key inventory and expiry alerts until ctx ends;
// then it stops them and returns.
func (o *observability) run(ctx context.Context, listen string, e *engine) {
	var srv *http.Server
	if listen != "" {
		srv = metrics.NewServer(listen, metrics.Mux(o.metrics, o.checker))
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			e.log.Warn("metrics listener not started", "listen", listen, "err", err)
			srv = nil
		} else {
			e.log.Info("metrics, health and readiness", "url", "http://"+ln.Addr().String()+"/metrics")
			go func() {
				if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					e.log.Error("metrics listener", "err", err)
				}
			}()
		}
	}
	alertsDone := make(chan struct{})
	go func() {
		defer close(alertsDone)
		if o.alerts != nil {
			o.alerts.Run(ctx)
		}
	}()
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		o.refresh(ctx, e)
		select {
		case <-ctx.Done():
			o.checker.ShuttingDown()
			if srv != nil {
				sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				srv.Shutdown(sctx)
				cancel()
			}
			if o.alerts != nil {
				o.alerts.Close()
			}
			<-alertsDone
			return
		case <-t.C:
		}
	}
}

// refresh recounts keys by vault and protection and feeds the current
// versions' expiry dates to the alert engine.
func (o *observability) refresh(ctx context.Context, e *engine) {
	now := time.Now()
	vs, err := e.vaults.Vaults(ctx)
	if err != nil {
		e.log.Warn("key inventory", "err", err)
		return
	}
	var versions []metrics.Version
	var expiring []alerts.KeyExpiry
	for _, v := range vs {
		for marker := ""; ; {
			page, err := e.vaults.ListKeys(ctx, v.Name, marker, 25)
			if err != nil {
				e.log.Warn("key inventory", "vault", v.Name, "err", err)
				break
			}
			for _, kv := range page.Items {
				mv := metrics.Version{Vault: v.Name, Key: kv.Name, Protection: string(kv.Spec.Protection), Enabled: kv.Enabled}
				if kv.Expires != nil {
					mv.Expires = *kv.Expires
					expiring = append(expiring, alerts.KeyExpiry{Vault: v.Name, Key: kv.Name, Version: kv.Version, Expires: *kv.Expires})
				}
				versions = append(versions, mv)
			}
			if page.Next == "" {
				break
			}
			marker = page.Next
		}
	}
	o.metrics.SetInventory(metrics.CountVersions(now, versions))
	if o.alerts != nil {
		o.alerts.CheckExpiry(now, expiring)
	}
}

// auditAlert writes an alert to the audit trail, so that an auditor sees
// alerts beside the requests that raised them.
func (e *engine) auditAlert(a alerts.Alert) {
	err := e.audit.Write(context.Background(), audit.Record{
		Time: a.Time, Category: audit.CategoryAlert, OperationName: "Alert", ResultType: "Alert", ResultSignature: a.Rule,
		Description: fmt.Sprintf("%s: %s (count %d)", a.Severity, a.Summary, a.Count),
		Vault:       a.Vault, Key: a.Key, ObjectID: a.Principal,
	})
	if err != nil {
		e.log.Error("writing an alert to the audit trail", "rule", a.Rule, "err", err)
	}
}
