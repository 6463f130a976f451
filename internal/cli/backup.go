package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// backupDoc is the JSON document of `keywarden backup`.
type backupDoc struct {
	File   string `json:"file"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// NewBackupCommand returns `keywarden backup --out FILE`: it downloads a
// consistent snapshot of the server's store through the administration
// API (GET /admin/v1/snapshot, action Keywarden/snapshot/action) while the
// server keeps serving, and writes it to FILE atomically with mode 0600.
func NewBackupCommand(env Env) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "backup --out FILE",
		Short: "Download a consistent snapshot of the server's store (the server keeps serving)",
		Long: `backup downloads a consistent snapshot of the server's whole store through the
administration API (it needs the Keywarden/snapshot/action data action, held
by Keywarden Administrator) and writes it to FILE: through a temporary file
in the same directory, fsynced, mode 0600, then renamed into place. It checks
the size and the SHA-256 the server announced, and prints both.

The snapshot holds sealed key material, never the root key: restoring it
("keywarden restore") needs the root key material of the deployment, which
is backed up separately. See docs/operations.md.`,
		Args: cobra.NoArgs,
	}
	c := newAdminCmd(env, cmd)
	cmd.Flags().StringVar(&out, "out", "", "file to write the snapshot to (required)")
	cmd.MarkFlagRequired("out")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		p, client, err := c.start(cmd)
		if err != nil {
			return err
		}
		doc, err := client.backup(cmd.Context(), out)
		if err != nil {
			return err
		}
		return p.print(doc, func(w io.Writer) {
			fmt.Fprintf(w, "Wrote\t%s\nSize\t%d bytes\nSHA-256\t%s\n", doc.File, doc.Size, doc.SHA256)
		})
	}
	return cmd
}

// backup downloads the snapshot into path.
func (c *adminClient) backup(ctx context.Context, path string) (backupDoc, error) {
	const what = "backup"
	resp, err := c.open(ctx, what, http.MethodGet, adminPath("snapshot"), nil, nil)
	if err != nil {
		return backupDoc{}, err
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxAdminResponse))
		return backupDoc{}, fmt.Errorf("%s: %w", what, newAdminAPIError(resp.StatusCode, data))
	}
	want, err := reprDigestSHA256(resp.Header.Get("Repr-Digest"))
	if err != nil {
		return backupDoc{}, fmt.Errorf("%s: %w", what, err)
	}
	n, sum, err := writeFileAtomic(path, resp.Body, func(n int64, sum []byte) error {
		if resp.ContentLength >= 0 && n != resp.ContentLength || !bytes.Equal(sum, want) {
			return fmt.Errorf("the snapshot received (%d bytes) is not the one the server sent (%d bytes); nothing was written", n, resp.ContentLength)
		}
		return nil
	})
	if err != nil {
		return backupDoc{}, fmt.Errorf("%s: %w", what, err)
	}
	return backupDoc{File: path, Size: n, SHA256: hex.EncodeToString(sum)}, nil
}

// reprDigestSHA256 returns the sha-256 digest of a Repr-Digest header
// (RFC 9530), such as sha-256=:base64:.
func reprDigestSHA256(h string) ([]byte, error) {
	for item := range strings.SplitSeq(h, ",") {
		alg, val, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok || !strings.EqualFold(alg, "sha-256") {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(strings.Trim(val, ":"))
		if err != nil || len(b) != sha256.Size {
			return nil, errors.New("the server sent a malformed Repr-Digest")
		}
		return b, nil
	}
	return nil, errors.New("the server sent no SHA-256 of the snapshot (Repr-Digest); is it a Keywarden server?")
}

// writeFileAtomic writes r to path through a temporary file in the same
// directory (mode 0600, fsynced, renamed into place, directory fsynced)
// and returns the size and SHA-256 written. check, called with them before
// the rename, may refuse the file. On error nothing is left behind and an
// existing file at path is unchanged.
func writeFileAtomic(path string, r io.Reader, check func(n int64, sum []byte) error) (n int64, sum []byte, err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return 0, nil, err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(0o600); err != nil {
		return 0, nil, err
	}
	h := sha256.New()
	if n, err = io.Copy(io.MultiWriter(tmp, h), r); err != nil {
		return 0, nil, fmt.Errorf("receive the snapshot: %w", err)
	}
	sum = h.Sum(nil)
	if err = check(n, sum); err != nil {
		return 0, nil, err
	}
	if err = tmp.Sync(); err != nil {
		return 0, nil, err
	}
	if err = tmp.Close(); err != nil {
		return 0, nil, err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return 0, nil, err
	}
	d, err := os.Open(dir)
	if err != nil {
		return 0, nil, err
	}
	defer d.Close()
	if err = d.Sync(); err != nil {
		return 0, nil, err
	}
	return n, sum, nil
}
