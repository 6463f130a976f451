package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// The files under deploy/ ship for teams that run Prometheus and Grafana.
// These tests parse them and check that every PromQL expression names
// only metrics this package registers.

const (
	rulesFile     = "../../deploy/prometheus/keywarden-rules.yaml"
	dashboardFile = "../../deploy/grafana/keywarden-dashboard.json"
)

var metricNameRE = regexp.MustCompile(`\bkeywarden_[a-z0-9_]+`)

// registeredNames returns every series name the registry exposes once each
// collector has something to report (histograms with their _bucket, _sum
// and _count series).
func registeredNames(t *testing.T) map[string]bool {
	t.Helper()
	m := New(Options{NoRuntime: true})
	m.ObserveRequest(Request{Vault: "v", Operation: "KeySign", Status: 200, Result: "Success", KeyType: "EC", Algorithm: "ES256"})
	m.ObserveRotation("v", nil)
	m.ObserveRotation("v", errors.New("x"))
	m.ObserveEventDelivery(time.Second)
	m.EventDeliveryFailed()
	m.AuditWriteFailed()
	m.AlertFired("deletion", "warning")
	m.AlertEventDropped()
	m.SetInventory([]VaultInventory{{Vault: "v", Protection: "hsm", Keys: 1, Versions: 1, Expiring: 1}})
	m.SetHSMSessions(func() HSMSessions { return HSMSessions{} })
	m.SetChecker(NewChecker(Check{Name: "store", Func: func(context.Context) error { return nil }}))
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[mf.GetName()+s] = true
			}
		}
	}
	return names
}

// checkExpr reports an expression naming no Keywarden metric or one not
// registered, or with unbalanced brackets.
func checkExpr(expr string, names map[string]bool, allowOther bool) error {
	used := metricNameRE.FindAllString(expr, -1)
	if len(used) == 0 && !allowOther {
		return fmt.Errorf("names no keywarden_ metric")
	}
	for _, n := range used {
		if !names[n] {
			return fmt.Errorf("names %s, which is not registered", n)
		}
	}
	depth := map[rune]int{}
	pairs := map[rune]rune{')': '(', '}': '{', ']': '['}
	for _, r := range expr {
		switch r {
		case '(', '{', '[':
			depth[r]++
		case ')', '}', ']':
			depth[pairs[r]]--
			if depth[pairs[r]] < 0 {
				return fmt.Errorf("unbalanced %q", r)
			}
		}
	}
	for r, d := range depth {
		if d != 0 {
			return fmt.Errorf("unbalanced %q", r)
		}
	}
	return nil
}

func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID           string `json:"uid"`
		Title         string `json:"title"`
		SchemaVersion int    `json:"schemaVersion"`
		Templating    struct {
			List []struct {
				Name string `json:"name"`
				Type string `json:"type"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			ID      int    `json:"id"`
			Type    string `json:"type"`
			Title   string `json:"title"`
			GridPos struct {
				W, H int
			} `json:"gridPos"`
			Targets []struct {
				RefID string `json:"refId"`
				Expr  string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion == 0 || len(d.Panels) == 0 {
		t.Fatalf("dashboard lacks uid, title, schemaVersion or panels: %+v", d)
	}
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name)
	}
	if !slices.Contains(vars, "datasource") || !slices.Contains(vars, "vault") {
		t.Errorf("dashboard variables = %v, want datasource and vault", vars)
	}
	names := registeredNames(t)
	ids := map[int]bool{}
	covered := map[string]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] || p.ID == 0 {
			t.Errorf("panel %q: id %d missing or repeated", p.Title, p.ID)
		}
		ids[p.ID] = true
		if p.Type == "" || p.Title == "" || p.GridPos.W == 0 || p.GridPos.H == 0 || len(p.Targets) == 0 {
			t.Errorf("panel %d %q lacks type, title, size or targets", p.ID, p.Title)
		}
		for _, tg := range p.Targets {
			if err := checkExpr(tg.Expr, names, false); err != nil {
				t.Errorf("panel %q target %s: %q %v", p.Title, tg.RefID, tg.Expr, err)
			}
			for _, n := range metricNameRE.FindAllString(tg.Expr, -1) {
				covered[n] = true
			}
		}
	}
	// The brief's panels: requests by operation/status, latency, crypto
	// operations, keys by vault, expiring versions, alerts.
	for _, n := range []string{"keywarden_requests_total", "keywarden_request_duration_seconds_bucket", "keywarden_crypto_operations_total", "keywarden_keys", "keywarden_key_versions_expiring", "keywarden_alerts_total"} {
		if !covered[n] {
			t.Errorf("no dashboard panel shows %s", n)
		}
	}
}

func TestPrometheusRules(t *testing.T) {
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := parseYAML(string(b))
	if err != nil {
		t.Fatalf("rules YAML: %v", err)
	}
	groups, ok := doc.(map[string]any)["groups"].([]any)
	if !ok || len(groups) == 0 {
		t.Fatalf("rules YAML: no groups list")
	}
	names := registeredNames(t)
	seen := map[string]bool{}
	for gi, g := range groups {
		gm, ok := g.(map[string]any)
		if !ok || gm["name"] == nil {
			t.Fatalf("groups[%d]: not a mapping with a name", gi)
		}
		rules, ok := gm["rules"].([]any)
		if !ok || len(rules) == 0 {
			t.Fatalf("groups[%d]: no rules", gi)
		}
		for ri, r := range rules {
			rm, ok := r.(map[string]any)
			if !ok {
				t.Fatalf("groups[%d].rules[%d]: not a mapping", gi, ri)
			}
			for k := range rm {
				if !slices.Contains([]string{"alert", "expr", "for", "labels", "annotations"}, k) {
					t.Errorf("rule %v: unknown field %q", rm["alert"], k)
				}
			}
			alert, _ := rm["alert"].(string)
			expr, _ := rm["expr"].(string)
			if alert == "" || expr == "" {
				t.Errorf("groups[%d].rules[%d]: alert %q expr %q: both required", gi, ri, alert, expr)
				continue
			}
			if seen[alert] {
				t.Errorf("rule %s: repeated", alert)
			}
			seen[alert] = true
			if f, ok := rm["for"].(string); ok {
				if _, err := time.ParseDuration(f); err != nil {
					t.Errorf("rule %s: for %q: %v", alert, f, err)
				}
			}
			labels, _ := rm["labels"].(map[string]any)
			if sev, _ := labels["severity"].(string); sev != "warning" && sev != "critical" && !strings.Contains(sev, "{{") {
				t.Errorf("rule %s: severity %q, want warning or critical", alert, sev)
			}
			ann, _ := rm["annotations"].(map[string]any)
			if s, _ := ann["summary"].(string); s == "" {
				t.Errorf("rule %s: no summary annotation", alert)
			}
			if err := checkExpr(expr, names, alert == "KeywardenDown"); err != nil {
				t.Errorf("rule %s: expr %q %v", alert, expr, err)
			}
		}
	}
	// The brief's rules: failure ratio, 429s, audit write failures,
	// expiring versions, readiness.
	for _, a := range []string{"KeywardenHighFailureRatio", "KeywardenThrottling", "KeywardenAuditWriteFailures", "KeywardenKeyVersionsExpiring", "KeywardenNotReady"} {
		if !seen[a] {
			t.Errorf("rules lack %s", a)
		}
	}
}

// yamlLine is one significant line: its indentation and text.
type yamlLine struct {
	n      int
	indent int
	text   string
}

// parseYAML parses the block-style YAML subset the rules file uses:
// mappings, sequences of mappings, plain and double-quoted scalars, and
// literal block scalars (|). It refuses tabs, flow collections and
// anything else, so the file stays in a form this test can check.
func parseYAML(src string) (any, error) {
	var lines []yamlLine
	for i, raw := range strings.Split(src, "\n") {
		if strings.Contains(raw, "\t") {
			return nil, fmt.Errorf("line %d: tab", i+1)
		}
		lines = append(lines, yamlLine{n: i + 1, indent: len(raw) - len(strings.TrimLeft(raw, " ")), text: strings.TrimSpace(raw)})
	}
	p := &yamlParser{lines: lines}
	p.skip()
	if p.i >= len(p.lines) {
		return nil, errors.New("empty document")
	}
	v, err := p.node(p.lines[p.i].indent)
	if err != nil {
		return nil, err
	}
	p.skip()
	if p.i < len(p.lines) {
		return nil, fmt.Errorf("line %d: unexpected indentation", p.lines[p.i].n)
	}
	return v, nil
}

type yamlParser struct {
	lines []yamlLine
	i     int
}

// skip passes blank and comment lines.
func (p *yamlParser) skip() {
	for p.i < len(p.lines) && (p.lines[p.i].text == "" || strings.HasPrefix(p.lines[p.i].text, "#")) {
		p.i++
	}
}

// node parses the mapping or sequence starting at the current line, whose
// entries sit at indent.
func (p *yamlParser) node(indent int) (any, error) {
	p.skip()
	if strings.HasPrefix(p.lines[p.i].text, "- ") || p.lines[p.i].text == "-" {
		return p.sequence(indent)
	}
	return p.mapping(indent)
}

func (p *yamlParser) sequence(indent int) (any, error) {
	var seq []any
	for p.skip(); p.i < len(p.lines) && p.lines[p.i].indent == indent && strings.HasPrefix(p.lines[p.i].text, "- "); p.skip() {
		// "- key: value" opens a mapping two columns in.
		l := &p.lines[p.i]
		l.text = strings.TrimPrefix(l.text, "- ")
		l.indent += 2
		v, err := p.mapping(l.indent)
		if err != nil {
			return nil, err
		}
		seq = append(seq, v)
	}
	return seq, nil
}

func (p *yamlParser) mapping(indent int) (any, error) {
	m := map[string]any{}
	for p.skip(); p.i < len(p.lines) && p.lines[p.i].indent == indent; p.skip() {
		l := p.lines[p.i]
		key, val, ok := strings.Cut(l.text, ":")
		if !ok || key == "" || strings.ContainsAny(key, " \"'{[") {
			return nil, fmt.Errorf("line %d: want key: value, got %q", l.n, l.text)
		}
		if _, dup := m[key]; dup {
			return nil, fmt.Errorf("line %d: duplicate key %q", l.n, key)
		}
		val = strings.TrimSpace(val)
		p.i++
		switch {
		case val == "":
			p.skip()
			if p.i >= len(p.lines) || p.lines[p.i].indent <= indent {
				return nil, fmt.Errorf("line %d: %s has no value", l.n, key)
			}
			v, err := p.node(p.lines[p.i].indent)
			if err != nil {
				return nil, err
			}
			m[key] = v
		case val == "|":
			var block []string
			bi := -1
			for ; p.i < len(p.lines) && (p.lines[p.i].text == "" || p.lines[p.i].indent > indent); p.i++ {
				if bi < 0 && p.lines[p.i].text != "" {
					bi = p.lines[p.i].indent
				}
				block = append(block, strings.Repeat(" ", max(0, p.lines[p.i].indent-max(bi, 0)))+p.lines[p.i].text)
			}
			m[key] = strings.TrimRight(strings.Join(block, "\n"), "\n") + "\n"
		default:
			s, err := yamlScalar(val)
			if err != nil {
				return nil, fmt.Errorf("line %d: %v", l.n, err)
			}
			m[key] = s
		}
	}
	return m, nil
}

// yamlScalar decodes a plain or double-quoted scalar.
func yamlScalar(s string) (string, error) {
	switch {
	case strings.HasPrefix(s, `"`):
		return strconv.Unquote(s)
	case strings.HasPrefix(s, "'"), strings.HasPrefix(s, "{"), strings.HasPrefix(s, "["),
		strings.HasPrefix(s, "&"), strings.HasPrefix(s, "*"), strings.HasPrefix(s, ">"), strings.Contains(s, " #"), strings.Contains(s, ": "):
		return "", fmt.Errorf("%q: outside the subset this test parses", s)
	}
	return s, nil
}

func TestParseYAML(t *testing.T) {
	got, err := parseYAML("# c\na:\n  - x: 1\n    y: \"q{{ $v }}\"\n  - x: |\n      l1\n        l2\n    z: 3\nb: plain text\n")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"a": []any{map[string]any{"x": "1", "y": "q{{ $v }}"}, map[string]any{"x": "l1\n  l2\n", "z": "3"}}, "b": "plain text"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("parseYAML = %v, want %v", got, want)
	}
	for _, bad := range []string{"a:\n\tb: 1\n", "a: {b: 1}\n", "a: 1\na: 2\n", "a:\n  b: 1\n c: 2\n", "a: 'x'\n"} {
		if _, err := parseYAML(bad); err == nil {
			t.Errorf("parseYAML(%q) = nil error", bad)
		}
	}
}
