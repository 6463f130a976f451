//go:build unix

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// jsDir holds the JavaScript SDK test: package.json and package-lock.json
// pin @azure/keyvault-keys and @azure/identity; node_modules is not
// committed and is installed with `npm ci` when missing or stale.
const jsDir = "js"

// TestJavaScriptSDK drives a dev server with the unmodified Azure SDK for
// JavaScript (e2e/js/keys.test.mjs) on the named origin and on the bare
// origin. It needs Node 20+ and npm: skipped without them, except in CI.
func TestJavaScriptSDK(t *testing.T) {
	if testing.Short() {
		t.Skip("JavaScript SDK test skipped in -short mode")
	}
	node, npm := jsTools(t)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	dir, err := filepath.Abs(jsDir)
	if err != nil {
		t.Fatal(err)
	}
	// Another `go test` of this checkout may install or run at the same
	// time: install under an exclusive lock, run under a shared one.
	lock := lockJSDir(t, dir)
	defer lock.Close()
	npmInstall(ctx, t, npm, dir)
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_SH); err != nil {
		t.Fatalf("flock: %v", err)
	}

	s := startDev(t, "", 0)
	env := os.Environ()
	for k, v := range s.env {
		env = append(env, k+"="+v)
	}
	env = append(env, "NODE_EXTRA_CA_CERTS="+s.env["KEYWARDEN_CA_CERT"])
	if noProxy := jsNoProxy(); noProxy != "" {
		env = append(env, "NO_PROXY="+noProxy, "no_proxy="+noProxy)
	}
	if testing.Verbose() {
		env = append(env, "KEYWARDEN_JS_VERBOSE=1")
	}

	// localhost-dns.cjs maps *.localhost to 127.0.0.1 inside node (the
	// README's /etc/hosts line), since a test cannot edit /etc/hosts.
	cmd := exec.CommandContext(ctx, node, "--require", "./localhost-dns.cjs", "keys.test.mjs")
	cmd.Dir = dir
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("node keys.test.mjs timed out after %v:\n%s", time.Since(start).Round(time.Millisecond), out.String())
	}
	if err != nil {
		t.Fatalf("node keys.test.mjs: %v\n%s", err, out.String())
	}
	t.Logf("node keys.test.mjs (%v):\n%s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(out.String()))
}

// jsTools finds node (major version 20 or later) and npm.
func jsTools(t *testing.T) (node, npm string) {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...) + " (install Node.js 20 or later with npm, e.g. `apt-get install nodejs npm` or https://nodejs.org)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node not found in PATH")
	}
	npm, err = exec.LookPath("npm")
	if err != nil {
		missing("npm not found in PATH")
	}
	v, err := exec.Command(node, "--version").Output()
	if err != nil {
		missing("node --version: %v", err)
	}
	major, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(string(v)), "v"), ".")
	if n, err := strconv.Atoi(major); err != nil || n < 20 {
		missing("node %s is too old", strings.TrimSpace(string(v)))
	}
	return node, npm
}

// lockJSDir takes an exclusive flock on a lock file for dir, outside the
// checkout.
func lockJSDir(t *testing.T, dir string) *os.File {
	t.Helper()
	name := strings.NewReplacer("/", "_", `\`, "_", ":", "_").Replace(dir)
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "keywarden-e2e-js"+name+".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("flock: %v", err)
	}
	return f
}

// npmInstall runs `npm ci` in dir unless node_modules already holds exactly
// what package-lock.json pins (npm records that in
// node_modules/.package-lock.json).
func npmInstall(ctx context.Context, t *testing.T, npm, dir string) {
	t.Helper()
	if nodeModulesFresh(dir) {
		return
	}
	start := time.Now()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false")
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
	t.Logf("npm ci: %v", time.Since(start).Round(time.Millisecond))
}

func nodeModulesFresh(dir string) bool {
	packages := func(path string) map[string]any {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		var lock struct {
			Packages map[string]any `json:"packages"`
		}
		if json.Unmarshal(b, &lock) != nil {
			return nil
		}
		delete(lock.Packages, "") // the root package: only in package-lock.json
		return lock.Packages
	}
	want := packages(filepath.Join(dir, "package-lock.json"))
	have := packages(filepath.Join(dir, "node_modules", ".package-lock.json"))
	return len(want) > 0 && reflect.DeepEqual(want, have)
}

// jsNoProxy keeps the SDK's proxy policy away from the local server when
// the environment names a proxy (for the npm registry, say).
func jsNoProxy() string {
	proxied := false
	for _, k := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"} {
		if os.Getenv(k) != "" {
			proxied = true
		}
	}
	if !proxied {
		return ""
	}
	list := []string{"127.0.0.1", "localhost", ".localhost"}
	for _, k := range []string{"NO_PROXY", "no_proxy"} {
		if v := os.Getenv(k); v != "" {
			list = append([]string{v}, list...)
			break
		}
	}
	return strings.Join(list, ",")
}
