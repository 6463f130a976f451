package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// NewRootKeyCommand returns `keywarden rootkey`: show the root keyring and
// rotate the root key through the administration API, while the server
// serves.
func NewRootKeyCommand(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:          "rootkey",
		Short:        "Show the root key and rotate it (every record is re-sealed while the server serves)",
		SilenceUsage: true,
		Args:         cobra.NoArgs,
	}
	c := newAdminCmd(env, cmd)
	cmd.AddCommand(c.rootKeyShowCommand(), c.rootKeyRotateCommand())
	return cmd
}

// rootKeyDoc is the root keyring as GET /admin/v1/rootKey answers it.
type rootKeyDoc struct {
	Mode     string         `json:"mode"`
	Active   string         `json:"activeKeyId"`
	Keys     []string       `json:"keyIds"`
	State    string         `json:"state"`
	Started  *time.Time     `json:"started,omitempty"`
	Finished *time.Time     `json:"finished,omitempty"`
	Resealed map[string]int `json:"resealed,omitempty"`
	Error    string         `json:"error,omitempty"`
}

func rootKeyTable(d rootKeyDoc) func(io.Writer) {
	return func(w io.Writer) {
		row(w, "MODE", "ACTIVE KEY", "KEYS", "STATE")
		row(w, d.Mode, d.Active, strings.Join(d.Keys, ","), d.State)
		if d.Started == nil {
			return
		}
		total := 0
		for _, n := range d.Resealed {
			total += n
		}
		fmt.Fprintln(w)
		row(w, "LAST ROTATION", "FINISHED", "RE-SEALED", "ERROR")
		finished := "-"
		if d.Finished != nil {
			finished = d.Finished.UTC().Format(time.RFC3339)
		}
		row(w, d.Started.UTC().Format(time.RFC3339), finished, fmt.Sprint(total), d.Error)
	}
}

func (c *adminCmd) rootKeyShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show",
		Short: "Show where the root key lives, its id and the last rotation",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			var d rootKeyDoc
			if err := client.do(cmd.Context(), "show root key", http.MethodGet, adminPath("rootKey"), nil, nil, &d); err != nil {
				return err
			}
			return p.print(d, rootKeyTable(d))
		},
	}
}

func (c *adminCmd) rootKeyRotateCommand() *cobra.Command {
	var wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Create a new root key, make it active and re-seal every record under it",
		Long: `rotate creates a new root key (in the key file or inside the HSM, as the server
is configured), makes it the key that seals new records, and re-seals every
sealed record under it in the background while the server keeps serving; the
old key is destroyed once nothing needs it. With --wait it polls until the
rotation has finished. Back up the deployment afterwards: a store snapshot
taken before the rotation needs the root key material from before it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var d rootKeyDoc
			if err := client.do(ctx, "rotate root key", http.MethodPost, adminPath("rootKey", "rotate"), nil, nil, &d); err != nil {
				return err
			}
			if wait {
				if d, err = waitRotation(ctx, client, timeout); err != nil {
					return err
				}
				if d.State != "idle" || len(d.Keys) != 1 {
					return fmt.Errorf("root key rotation %s with %d keys held: %s", d.State, len(d.Keys), d.Error)
				}
			}
			return p.print(d, rootKeyTable(d))
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until every record is re-sealed and the old key destroyed")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Minute, "how long --wait waits")
	return cmd
}

// waitRotation polls the root key status until the rotation is no longer
// running.
func waitRotation(ctx context.Context, client *adminClient, timeout time.Duration) (rootKeyDoc, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		var d rootKeyDoc
		if err := client.do(ctx, "show root key", http.MethodGet, adminPath("rootKey"), nil, nil, &d); err != nil {
			return d, err
		}
		if d.State != "rotating" {
			return d, nil
		}
		select {
		case <-ctx.Done():
			return d, fmt.Errorf("root key rotation still running after %s", timeout)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
