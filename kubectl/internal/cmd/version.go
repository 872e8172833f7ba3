package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// VersionInfo is /version, and the client's own version.
type VersionInfo struct {
	Major        string `json:"major"`
	Minor        string `json:"minor"`
	GitVersion   string `json:"gitVersion"`
	GitCommit    string `json:"gitCommit"`
	GitTreeState string `json:"gitTreeState"`
	BuildDate    string `json:"buildDate"`
	GoVersion    string `json:"goVersion"`
	Compiler     string `json:"compiler"`
	Platform     string `json:"platform"`
}

// gitVersion may be set with -ldflags "-X kubelab.io/kubectl/internal/cmd.gitVersion=v1.32.1".
var gitVersion = "v1.32.0-kubelab"

var clientVersion = func() VersionInfo {
	major, minor := parseMajorMinor(gitVersion)
	return VersionInfo{Major: major, Minor: minor, GitVersion: gitVersion, GitCommit: "unknown", GitTreeState: "clean",
		BuildDate: "1970-01-01T00:00:00Z", GoVersion: runtime.Version(), Compiler: runtime.Compiler,
		Platform: runtime.GOOS + "/" + runtime.GOARCH}
}()

func parseMajorMinor(v string) (string, string) {
	v = strings.TrimPrefix(v, "v")
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return "", ""
	}
	return parts[0], parts[1]
}

type versionFlags struct {
	client bool
	output string
}

// NewCmdVersion is `kubectl version`.
func NewCmdVersion(f *Factory, streams Streams) *cobra.Command {
	o := &versionFlags{}
	c := &cobra.Command{
		Use:   "version",
		Short: "Print the client and server version information",
		Long:  "Print the client and server version information for the current context.",
		Example: `  # Print the client and server versions for the current context
  kubectl version`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return o.run(c.Context(), f, streams)
		},
	}
	c.Flags().BoolVar(&o.client, "client", false, "If true, shows client version only (no server required).")
	c.Flags().StringVarP(&o.output, "output", "o", "", "One of 'yaml' or 'json'.")
	return c
}

func (o *versionFlags) run(ctx context.Context, f *Factory, streams Streams) error {
	if o.output != "" && o.output != "json" && o.output != "yaml" {
		return fmt.Errorf("--output must be 'yaml' or 'json'")
	}
	cv := clientVersion
	var sv *VersionInfo
	var serverErr error
	if !o.client {
		serverErr = func() error {
			c, err := f.Client()
			if err != nil {
				return err
			}
			data, err := c.Do(ctx, Request{Path: "/version"})
			if err != nil {
				return err
			}
			sv = &VersionInfo{}
			return json.Unmarshal(data, sv)
		}()
	}
	switch o.output {
	case "":
		fmt.Fprintf(streams.Out, "Client Version: %s\n", cv.GitVersion)
		if sv != nil {
			fmt.Fprintf(streams.Out, "Server Version: %s\n", sv.GitVersion)
		}
	default:
		out := map[string]any{"clientVersion": cv}
		if sv != nil {
			out["serverVersion"] = sv
		}
		data, _ := json.Marshal(out)
		var m map[string]any
		_ = json.Unmarshal(data, &m)
		if err := printObject(streams.Out, m, o.output); err != nil {
			return err
		}
	}
	if serverErr != nil {
		return serverErr
	}
	if sv != nil {
		if w := skewWarning(cv, *sv); w != "" {
			fmt.Fprintln(streams.ErrOut, w)
		}
	}
	return nil
}

// skewWarning is kubectl's warning when client and server are more than one minor apart.
func skewWarning(client, server VersionInfo) string {
	cmaj, cmin := numbers(client)
	smaj, smin := numbers(server)
	if cmaj < 0 || smaj < 0 || cmaj != smaj {
		return ""
	}
	if d := cmin - smin; d > 1 || d < -1 {
		return fmt.Sprintf("WARNING: version difference between client (%d.%d) and server (%d.%d) exceeds the supported minor version skew of +/-1",
			cmaj, cmin, smaj, smin)
	}
	return ""
}

func numbers(v VersionInfo) (int, int) {
	major, minor := v.Major, v.Minor
	if major == "" || minor == "" {
		major, minor = parseMajorMinor(v.GitVersion)
	}
	ma, err1 := strconv.Atoi(strings.TrimRight(major, "+"))
	mi, err2 := strconv.Atoi(strings.TrimRight(minor, "+"))
	if err1 != nil || err2 != nil {
		return -1, -1
	}
	return ma, mi
}
