package iptables

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Fake is an in-memory iptables for tests: tables of chains of rules, kept as the text
// the proxy wrote them in. Restore understands what the proxy writes (chain lines, -A, -X).
type Fake struct {
	mu sync.Mutex
	// tables maps a table to its chains' rules; order keeps chain creation order.
	tables      map[string]map[string][]string
	order       map[string][]string
	restores    [][]byte
	failRestore error
}

// Restores returns the inputs Restore applied, oldest first.
func (f *Fake) Restores() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.restores...)
}

// FailRestore makes Restore fail with err (and change nothing); nil lets it work again.
func (f *Fake) FailRestore(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failRestore = err
}

// NewFake returns a Fake whose filter and nat tables hold the built-in chains.
func NewFake() *Fake {
	f := &Fake{tables: map[string]map[string][]string{}, order: map[string][]string{}}
	for table, chains := range builtinChains {
		for _, c := range chains {
			f.create(table, c)
		}
	}
	return f
}

func (f *Fake) create(table, chain string) {
	if f.tables[table] == nil {
		f.tables[table] = map[string][]string{}
	}
	if _, ok := f.tables[table][chain]; !ok {
		f.tables[table][chain] = []string{}
		f.order[table] = append(f.order[table], chain)
	}
}

func (f *Fake) EnsureChain(_ context.Context, table, chain string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.create(table, chain)
	return nil
}

func (f *Fake) EnsureRule(_ context.Context, table, chain string, args ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	rules, ok := f.tables[table][chain]
	if !ok {
		return fmt.Errorf("fake iptables: no chain %s in %s", chain, table)
	}
	rule := strings.Join(args, " ")
	if !slices.Contains(rules, rule) {
		f.tables[table][chain] = append([]string{rule}, rules...)
	}
	return nil
}

func (f *Fake) DeleteRule(_ context.Context, table, chain string, args ...string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rules := f.tables[table][chain]
	i := slices.Index(rules, strings.Join(args, " "))
	if i < 0 {
		return false, nil
	}
	f.tables[table][chain] = slices.Delete(rules, i, i+1)
	return true, nil
}

func (f *Fake) Chains(_ context.Context, table string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.order[table]...), nil
}

// Rules returns the rules of a chain, or nil when it does not exist.
func (f *Fake) Rules(table, chain string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.tables[table][chain]...)
}

// builtinChains are the chains each table starts with.
var builtinChains = map[string][]string{
	"filter": {"INPUT", "FORWARD", "OUTPUT"},
	"nat":    {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"},
	"mangle": {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"},
}

func (f *Fake) ChainExists(_ context.Context, table, chain string) (bool, error) {
	return f.HasChain(table, chain), nil
}

func (f *Fake) DeleteChain(_ context.Context, table, chain string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.tables[table][chain]; ok {
		delete(f.tables[table], chain)
		f.order[table] = slices.DeleteFunc(f.order[table], func(c string) bool { return c == chain })
	}
	return nil
}

// Flush is `iptables -t table -F; iptables -t table -X`: every rule and every chain that
// is not built in goes.
func (f *Fake) Flush(table string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tables[table], f.order[table] = map[string][]string{}, nil
	for _, c := range builtinChains[table] {
		f.create(table, c)
	}
}

// HasChain reports whether the chain exists.
func (f *Fake) HasChain(table, chain string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.tables[table][chain]
	return ok
}

func (f *Fake) Restore(_ context.Context, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failRestore != nil {
		return f.failRestore
	}
	f.restores = append(f.restores, append([]byte(nil), data...))
	// Apply to copies, table by table, so a bad table changes nothing (as a failed
	// iptables-restore leaves the kernel).
	var table string
	var rules map[string][]string
	var order []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "*"):
			table = line[1:]
			rules = map[string][]string{}
			for c, r := range f.tables[table] {
				rules[c] = append([]string(nil), r...)
			}
			order = append([]string(nil), f.order[table]...)
		case line == "COMMIT":
			f.tables[table], f.order[table] = rules, order
		case strings.HasPrefix(line, ":"):
			c := strings.Fields(line[1:])[0]
			if _, ok := rules[c]; !ok {
				order = append(order, c)
			}
			rules[c] = []string{}
		case strings.HasPrefix(line, "-A "):
			c, rule, _ := strings.Cut(line[3:], " ")
			if _, ok := rules[c]; !ok {
				return fmt.Errorf("fake iptables-restore: %q: no chain %s", line, c)
			}
			rules[c] = append(rules[c], rule)
		case strings.HasPrefix(line, "-X "):
			c := strings.TrimSpace(line[3:])
			for other, rs := range rules {
				for _, r := range rs {
					if strings.HasSuffix(r, "-j "+c) && other != c {
						return fmt.Errorf("fake iptables-restore: -X %s: still referenced from %s", c, other)
					}
				}
			}
			delete(rules, c)
			order = slices.DeleteFunc(order, func(o string) bool { return o == c })
		default:
			return fmt.Errorf("fake iptables-restore: cannot read %q", line)
		}
	}
	return nil
}
