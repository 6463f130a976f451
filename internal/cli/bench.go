package cli

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/bench"
)

// NewBenchCommand returns `keywarden bench`, which measures a running server
// against raw Go crypto on the same machine.
func NewBenchCommand(env Env) *cobra.Command {
	env = env.withDefaults()
	var (
		conn        connFlags
		output      string
		concurrency int
		duration    time.Duration
		ops         []string
		clientKind  string
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmark a running server against raw Go crypto",
		Long: `Benchmark a running server over HTTPS against raw Go crypto.

For each operation, N concurrent clients call the server for --duration; then
N goroutines run the same primitive with Go's crypto packages and a local key
for the same duration. It prints ops/s and p50/p99 latency of both and the
ratio server/raw.

With --client http (the default) the timed requests are plain HTTPS POSTs with
pre-encoded JSON bodies and the bearer token the Azure SDK obtained during the
warm-up call, so the load generator, which shares the machine's cores with
the server, takes as little CPU as it can. --client sdk times full azkeys
calls instead (retry, logging and challenge policies included).

Operations: RS256 and PS256 (RSA-2048 sign), ES256 (P-256 sign), RSA-OAEP-256
(RSA-2048 encrypt). The command creates temporary keys named bench-rsa-<random>
and bench-ec-<random>, then deletes and, where the server allows, purges them.`,
		Example:      "  keywarden bench --concurrency 32 --duration 5s --ops RS256,ES256",
		SilenceUsage: true,
		Args:         cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := parseOutput(output)
			if err != nil {
				return err
			}
			if concurrency < 1 {
				return fmt.Errorf("--concurrency %d: want at least 1", concurrency)
			}
			if duration <= 0 {
				return fmt.Errorf("--duration %v: want more than 0", duration)
			}
			var prims []bench.Primitive
			for _, s := range ops {
				pr, err := bench.ParsePrimitive(s)
				if err != nil {
					return fmt.Errorf("--ops: %w", err)
				}
				prims = append(prims, pr)
			}
			if len(prims) == 0 {
				return errors.New("--ops: no operation")
			}
			if f := cmd.Flag("env-file"); f != nil {
				conn.envFileSet = f.Changed
			}
			s, err := resolveSettings(conn, env.Getenv, os.ReadFile)
			if err != nil {
				return err
			}
			if clientKind != "http" && clientKind != "sdk" {
				return fmt.Errorf("--client %q: use http or sdk", clientKind)
			}
			hc, err := newHTTPClient(s.caCert, concurrency)
			if err != nil {
				return err
			}
			tap := &tokenTap{next: hc.Transport}
			hc.Transport = tap
			client, err := newKeysClient(s, hc)
			if err != nil {
				return err
			}
			b := &benchRun{env: env, client: client, concurrency: concurrency, duration: duration,
				lean: clientKind == "http", http: hc, tap: tap, vaultURL: strings.TrimSuffix(s.vaultURL, "/")}
			doc, err := b.run(cmd.Context(), prims)
			if err != nil {
				return err
			}
			p := printer{w: env.Stdout, format: format}
			return p.print(doc, benchTable(doc))
		},
	}
	cmd.SetOut(env.Stdout)
	cmd.SetErr(env.Stderr)
	conn.register(cmd)
	registerOutput(cmd, &output)
	fs := cmd.Flags()
	fs.IntVar(&concurrency, "concurrency", 16, "concurrent clients (and raw goroutines)")
	fs.DurationVar(&duration, "duration", 10*time.Second, "measuring time per operation, for the server and again for raw crypto")
	fs.StringSliceVar(&ops, "ops", []string{string(bench.RS256), string(bench.ES256), string(bench.RSAOAEP256)},
		"operations: RS256, PS256, ES256, RSA-OAEP-256")
	fs.StringVar(&clientKind, "client", "http", "load generator: http (lean HTTPS requests) or sdk (full azkeys calls)")
	return cmd
}

// benchRun is one `keywarden bench` invocation.
type benchRun struct {
	env         Env
	client      *azkeys.Client
	concurrency int
	duration    time.Duration
	// keys are the temporary keys created so far, by kind ("rsa", "ec").
	keys map[string]benchKey
	// lean selects plain HTTPS requests for the timed calls, sent with
	// http, the token seen by tap, to vaultURL.
	lean     bool
	http     *http.Client
	tap      *tokenTap
	vaultURL string
}

// tokenTap records the bearer token of the last authorised request that
// passes through it.
type tokenTap struct {
	next http.RoundTripper
	mu   sync.Mutex
	auth string
}

// RoundTrip implements http.RoundTripper.
func (t *tokenTap) RoundTrip(r *http.Request) (*http.Response, error) {
	if a := r.Header.Get("Authorization"); a != "" {
		t.mu.Lock()
		t.auth = a
		t.mu.Unlock()
	}
	return t.next.RoundTrip(r)
}

func (t *tokenTap) authorization() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.auth
}

type benchKey struct{ name, version string }

// benchDoc is the JSON document of bench.
type benchDoc struct {
	Concurrency int           `json:"concurrency"`
	Duration    string        `json:"duration"`
	Results     []benchResult `json:"results"`
}

// benchResult compares the server and raw runs of one operation.
type benchResult struct {
	Op     string      `json:"op"`
	Server benchSample `json:"server"`
	Raw    benchSample `json:"raw"`
	// Ratio is server ops/s divided by raw ops/s.
	Ratio float64 `json:"ratio"`
}

// benchSample is one bench.Result; latencies in milliseconds.
type benchSample struct {
	Ops       int64   `json:"ops"`
	OpsPerSec float64 `json:"opsPerSec"`
	P50Ms     float64 `json:"p50Ms"`
	P99Ms     float64 `json:"p99Ms"`
}

func newBenchSample(r bench.Result) benchSample {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return benchSample{Ops: r.Ops, OpsPerSec: r.OpsPerSec, P50Ms: ms(r.P50), P99Ms: ms(r.P99)}
}

func newBenchResult(p bench.Primitive, server, raw bench.Result) benchResult {
	r := benchResult{Op: string(p), Server: newBenchSample(server), Raw: newBenchSample(raw)}
	if raw.OpsPerSec > 0 {
		r.Ratio = server.OpsPerSec / raw.OpsPerSec
	}
	return r
}

func benchTable(d benchDoc) func(io.Writer) {
	return func(w io.Writer) {
		row(w, "OP", "CONC", "SERVER OPS/S", "SERVER P50", "SERVER P99", "RAW OPS/S", "RAW P50", "RAW P99", "SERVER/RAW")
		for _, r := range d.Results {
			row(w, r.Op, fmt.Sprint(d.Concurrency),
				fmt.Sprintf("%.1f", r.Server.OpsPerSec), fmtMs(r.Server.P50Ms), fmtMs(r.Server.P99Ms),
				fmt.Sprintf("%.1f", r.Raw.OpsPerSec), fmtMs(r.Raw.P50Ms), fmtMs(r.Raw.P99Ms),
				fmt.Sprintf("%.4f", r.Ratio))
		}
	}
}

func fmtMs(ms float64) string { return fmt.Sprintf("%.3fms", ms) }

// run measures every primitive, server then raw, and removes the temporary
// keys whatever happens.
func (b *benchRun) run(ctx context.Context, prims []bench.Primitive) (doc benchDoc, err error) {
	b.keys = map[string]benchKey{}
	defer func() { b.cleanup(ctx) }()
	doc = benchDoc{Concurrency: b.concurrency, Duration: b.duration.String(), Results: []benchResult{}}
	for _, p := range prims {
		serverOp, err := b.serverOp(ctx, p)
		if err != nil {
			return doc, err
		}
		// One call before timing: token, TLS handshake, key lookup.
		if err := serverOp(ctx); err != nil {
			return doc, err
		}
		if b.lean {
			if serverOp, err = b.leanOp(ctx, p); err != nil {
				return doc, err
			}
			if err := serverOp(ctx); err != nil {
				return doc, err
			}
		}
		fmt.Fprintf(b.env.Stderr, "bench: %s on the server, %d clients, %v\n", p, b.concurrency, b.duration)
		server, err := bench.Run(ctx, serverOp, b.concurrency, b.duration)
		if err != nil {
			return doc, fmt.Errorf("bench %s on the server: %w", p, err)
		}
		rawOp, err := bench.NewRawOp(p, b.env.Rand)
		if err != nil {
			return doc, err
		}
		fmt.Fprintf(b.env.Stderr, "bench: %s raw Go crypto, %d goroutines, %v\n", p, b.concurrency, b.duration)
		raw, err := bench.Run(ctx, rawOp, b.concurrency, b.duration)
		if err != nil {
			return doc, fmt.Errorf("bench %s raw: %w", p, err)
		}
		doc.Results = append(doc.Results, newBenchResult(p, server, raw))
	}
	return doc, nil
}

// key returns the temporary key for p, creating it on first use.
func (b *benchRun) key(ctx context.Context, p bench.Primitive) (benchKey, error) {
	kind, kty := "ec", azkeys.KeyTypeEC
	params := azkeys.CreateKeyParameters{
		Kty:    &kty,
		Curve:  new(azkeys.CurveNameP256),
		KeyOps: []*azkeys.KeyOperation{new(azkeys.KeyOperationSign), new(azkeys.KeyOperationVerify)},
	}
	if p.RSA() {
		kind, kty = "rsa", azkeys.KeyTypeRSA
		params = azkeys.CreateKeyParameters{
			Kty:     &kty,
			KeySize: new(int32(bench.RSAKeyBits)),
			KeyOps: []*azkeys.KeyOperation{
				new(azkeys.KeyOperationSign), new(azkeys.KeyOperationVerify),
				new(azkeys.KeyOperationEncrypt), new(azkeys.KeyOperationDecrypt),
			},
		}
	}
	if k, ok := b.keys[kind]; ok {
		return k, nil
	}
	suffix := make([]byte, 4)
	if _, err := io.ReadFull(b.env.Rand, suffix); err != nil {
		return benchKey{}, fmt.Errorf("bench key name: %w", err)
	}
	name := "bench-" + kind + "-" + hex.EncodeToString(suffix)
	params.Tags = azTags(map[string]string{"purpose": "keywarden-bench"})
	resp, err := b.client.CreateKey(ctx, name, params, nil)
	if err != nil {
		return benchKey{}, apiError("create bench key "+name, err)
	}
	k := benchKey{name: name}
	if resp.Key != nil && resp.Key.KID != nil {
		k.version = resp.Key.KID.Version()
	}
	b.keys[kind] = k
	return k, nil
}

// serverOp returns the Op that performs p on the server.
func (b *benchRun) serverOp(ctx context.Context, p bench.Primitive) (bench.Op, error) {
	k, err := b.key(ctx, p)
	if err != nil {
		return nil, err
	}
	input := p.Input()
	if p == bench.RSAOAEP256 {
		params := azkeys.KeyOperationParameters{Algorithm: new(azkeys.EncryptionAlgorithmRSAOAEP256), Value: input}
		return func(ctx context.Context) error {
			_, err := b.client.Encrypt(ctx, k.name, k.version, params, nil)
			return apiError("encrypt with "+k.name, err)
		}, nil
	}
	params := azkeys.SignParameters{Algorithm: new(azkeys.SignatureAlgorithm(p)), Value: input}
	return func(ctx context.Context) error {
		_, err := b.client.Sign(ctx, k.name, k.version, params, nil)
		return apiError("sign with "+k.name, err)
	}, nil
}

// cleanup deletes the temporary keys and purges them, retrying a purge that
// conflicts with a deletion still in progress. A purge the server refuses is
// noted and ignored; other failures are warnings, as the measurements stand.
func (b *benchRun) cleanup(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for _, k := range b.keys {
		if _, err := b.client.DeleteKey(ctx, k.name, nil); err != nil {
			fmt.Fprintf(b.env.Stderr, "bench: warning: %v\n", apiError("delete bench key "+k.name, err))
			continue
		}
		for attempt := 1; ; attempt++ {
			_, err := b.client.PurgeDeletedKey(ctx, k.name, nil)
			if err == nil {
				break
			}
			var re *azcore.ResponseError
			if errors.As(err, &re) && re.StatusCode == http.StatusConflict && attempt < 10 {
				select {
				case <-time.After(200 * time.Millisecond):
					continue
				case <-ctx.Done():
				}
			}
			fmt.Fprintf(b.env.Stderr, "bench: note: bench key %s deleted but not purged: %v\n", k.name, apiError("purge", err))
			break
		}
	}
}

// leanOp returns an Op that performs p with a plain HTTPS request carrying
// a pre-encoded body and the token the SDK obtained.
func (b *benchRun) leanOp(ctx context.Context, p bench.Primitive) (bench.Op, error) {
	k, err := b.key(ctx, p)
	if err != nil {
		return nil, err
	}
	auth := b.tap.authorization()
	if auth == "" {
		return nil, errors.New("bench: the SDK sent no bearer token to reuse")
	}
	value := base64.RawURLEncoding.EncodeToString(p.Input())
	verb, body := "sign", fmt.Sprintf(`{"alg":%q,"value":%q}`, string(p), value)
	if p == bench.RSAOAEP256 {
		verb = "encrypt"
	}
	url := fmt.Sprintf("%s/keys/%s/%s/%s?api-version=7.5", b.vaultURL, k.name, k.version, verb)
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", auth)
		req.Header.Set("Content-Type", "application/json")
		resp, err := b.http.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("bench: %s with %s: HTTP %d", verb, k.name, resp.StatusCode)
		}
		return nil
	}, nil
}
