// Package iptables runs the iptables tools for the node proxy: the seam between its rules
// and the kernel. Exec runs the real binaries (iptables, iptables-save, iptables-restore,
// whichever backend, nft or legacy, they are); Fake keeps chains in memory for tests.
package iptables

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// Interface is what the proxy asks of iptables.
type Interface interface {
	// EnsureChain creates chain in table unless it exists.
	EnsureChain(ctx context.Context, table, chain string) error
	// EnsureRule inserts the rule (args) first in chain unless an identical rule is
	// there.
	EnsureRule(ctx context.Context, table, chain string, args ...string) error
	// DeleteRule deletes the rule from chain, reporting false when it was not there
	// (or the chain does not exist).
	DeleteRule(ctx context.Context, table, chain string, args ...string) (bool, error)
	// Chains lists the chains of table, as iptables-save shows them.
	Chains(ctx context.Context, table string) ([]string, error)
	// ChainExists reports whether a chain exists; an error means iptables could not say.
	ChainExists(ctx context.Context, table, chain string) (bool, error)
	// DeleteChain deletes an empty chain; one already gone is no error.
	DeleteChain(ctx context.Context, table, chain string) error
	// Restore applies data with iptables-restore --noflush: all of a table's lines or
	// none of them.
	Restore(ctx context.Context, data []byte) error
}

// Exec runs the iptables binaries found in $PATH.
type Exec struct {
	// Wait is how many seconds a command waits for the xtables lock (-w).
	Wait int
}

// NewExec returns an Exec waiting up to 5 seconds for the lock, as kube-proxy does.
func NewExec() *Exec { return &Exec{Wait: 5} }

// Available reports whether the iptables tools are installed.
func Available() error {
	for _, b := range []string{"iptables", "iptables-save", "iptables-restore"} {
		if _, err := exec.LookPath(b); err != nil {
			return err
		}
	}
	return nil
}

func (e *Exec) run(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), &Error{Command: name + " " + strings.Join(args, " "), Stderr: strings.TrimSpace(stderr.String()), Err: err}
	}
	return stdout.Bytes(), nil
}

func (e *Exec) wait() []string { return []string{"-w", strconv.Itoa(e.Wait)} }

// Error is a failed iptables command.
type Error struct {
	Command string
	Stderr  string
	Err     error
}

func (e *Error) Error() string {
	if e.Stderr != "" {
		return fmt.Sprintf("%s: %v: %s", e.Command, e.Err, e.Stderr)
	}
	return fmt.Sprintf("%s: %v", e.Command, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// exitCode is err's exit status, or -1 when it is not an exit.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

func (e *Exec) EnsureChain(ctx context.Context, table, chain string) error {
	// -S CHAIN succeeds only when the chain exists: asking is simpler than telling -N's
	// "already exists" from its other failures, which share its exit status.
	if _, err := e.run(ctx, nil, "iptables", append(e.wait(), "-t", table, "-S", chain)...); err == nil {
		return nil
	}
	_, err := e.run(ctx, nil, "iptables", append(e.wait(), "-t", table, "-N", chain)...)
	return err
}

func (e *Exec) EnsureRule(ctx context.Context, table, chain string, args ...string) error {
	_, err := e.run(ctx, nil, "iptables", append(append(e.wait(), "-t", table, "-C", chain), args...)...)
	if err == nil {
		return nil
	}
	if exitCode(err) != 1 { // 1: no such rule; anything else is a real failure
		return err
	}
	_, err = e.run(ctx, nil, "iptables", append(append(e.wait(), "-t", table, "-I", chain), args...)...)
	return err
}

func (e *Exec) DeleteRule(ctx context.Context, table, chain string, args ...string) (bool, error) {
	_, err := e.run(ctx, nil, "iptables", append(append(e.wait(), "-t", table, "-C", chain), args...)...)
	if err != nil {
		if exitCode(err) == 1 {
			return false, nil
		}
		return false, err
	}
	_, err = e.run(ctx, nil, "iptables", append(append(e.wait(), "-t", table, "-D", chain), args...)...)
	return err == nil, err
}

func (e *Exec) ChainExists(ctx context.Context, table, chain string) (bool, error) {
	_, err := e.run(ctx, nil, "iptables", append(e.wait(), "-t", table, "-S", chain)...)
	switch {
	case err == nil:
		return true, nil
	case exitCode(err) == 1: // no such chain
		return false, nil
	}
	return false, err
}

func (e *Exec) DeleteChain(ctx context.Context, table, chain string) error {
	if ok, err := e.ChainExists(ctx, table, chain); err != nil || !ok {
		return err
	}
	_, err := e.run(ctx, nil, "iptables", append(e.wait(), "-t", table, "-X", chain)...)
	return err
}

func (e *Exec) Chains(ctx context.Context, table string) ([]string, error) {
	out, err := e.run(ctx, nil, "iptables-save", "-t", table)
	if err != nil {
		return nil, err
	}
	return ParseChains(out, table), nil
}

func (e *Exec) Restore(ctx context.Context, data []byte) error {
	_, err := e.run(ctx, data, "iptables-restore", append(e.wait(), "--noflush", "--counters")...)
	return err
}

// ParseChains returns the chains of table in iptables-save output, in order.
func ParseChains(save []byte, table string) []string {
	var chains []string
	in := false
	sc := bufio.NewScanner(bytes.NewReader(save))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "*"):
			in = line[1:] == table
		case line == "COMMIT":
			in = false
		case in && strings.HasPrefix(line, ":") && len(line) > 1:
			chains = append(chains, strings.Fields(line[1:])[0])
		}
	}
	return chains
}
