package api

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps the HTTP layer off persistence and backends: it
// translates and calls the domain, nothing below it.
func TestImports(t *testing.T) {
	forbidden := []string{
		"github.com/keywarden/keywarden/internal/store",
		"github.com/keywarden/keywarden/internal/keys/",
		"github.com/keywarden/keywarden/internal/seal",
		"go.etcd.io/bbolt",
		"database/sql",
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbidden {
				if path == strings.TrimSuffix(bad, "/") && !strings.HasSuffix(bad, "/") || strings.HasPrefix(path, bad) {
					t.Errorf("%s imports %s; the api package must not", name, path)
				}
			}
		}
	}
}
