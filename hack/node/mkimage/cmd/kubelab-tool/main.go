// Command kubelab-tool is the nginx image's stand-in for a shell, which that image does not
// have: init containers and tests run it to do one small thing and exit. Built static
// (CGO_ENABLED=0) into /usr/local/bin of the nginx image by hack/node/build-images.sh.
//
//	kubelab-tool write FILE TEXT...   write the TEXT arguments, joined by spaces and ended
//	                                  by a newline, to FILE (created or truncated, 0644)
//	kubelab-tool sleep DURATION       sleep (Go duration: 500ms, 3s)
//	kubelab-tool exit CODE            exit with CODE
//	kubelab-tool cat [FILE...]        copy the FILEs, or stdin when none, to stdout (kubectl
//	                                  exec's tests: a file's content, and stdin through -i)
//	kubelab-tool lookup [-server IP:PORT] NAME
//	                                  resolve NAME as a program in the pod would (Go's resolver:
//	                                  /etc/resolv.conf's nameservers, search list and ndots),
//	                                  or asking IP:PORT instead of those nameservers, and print
//	                                  its addresses one per line (the cluster DNS tests)
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "kubelab-tool:", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: kubelab-tool write FILE TEXT... | rm PATH... | sleep DURATION | exit CODE | cat [FILE...] | lookup [-server IP:PORT] NAME")
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "write":
		if len(rest) < 1 {
			return fmt.Errorf("usage: kubelab-tool write FILE TEXT...")
		}
		text := strings.Join(rest[1:], " ") + "\n"
		if err := os.WriteFile(rest[0], []byte(text), 0o644); err != nil {
			return err
		}
		fmt.Printf("wrote %d bytes to %s\n", len(text), rest[0])
		return nil
	case "rm":
		// rm -rf, for images without a shell: the local-path provisioner's helper pod removes
		// a deleted volume's directory with it. A path already gone is not an error.
		if len(rest) == 0 {
			return fmt.Errorf("usage: kubelab-tool rm PATH...")
		}
		for _, p := range rest {
			if err := os.RemoveAll(p); err != nil {
				return err
			}
			fmt.Printf("removed %s\n", p)
		}
		return nil
	case "sleep":
		if len(rest) != 1 {
			return fmt.Errorf("usage: kubelab-tool sleep DURATION")
		}
		d, err := time.ParseDuration(rest[0])
		if err != nil {
			return err
		}
		time.Sleep(d)
		return nil
	case "cat":
		if len(rest) == 0 {
			_, err := io.Copy(os.Stdout, os.Stdin)
			return err
		}
		for _, name := range rest {
			f, err := os.Open(name)
			if err != nil {
				return err
			}
			_, err = io.Copy(os.Stdout, f)
			f.Close()
			if err != nil {
				return err
			}
		}
		return nil
	case "lookup":
		return lookup(rest)
	case "exit":
		if len(rest) != 1 {
			return fmt.Errorf("usage: kubelab-tool exit CODE")
		}
		code, err := strconv.Atoi(rest[0])
		if err != nil {
			return err
		}
		fmt.Printf("exiting with %d\n", code)
		os.Exit(code)
	}
	return fmt.Errorf("unknown command %q", args[0])
}

func lookup(args []string) error {
	fs := flag.NewFlagSet("lookup", flag.ContinueOnError)
	server := fs.String("server", "", "ask this ip:port instead of resolv.conf's nameservers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: kubelab-tool lookup [-server IP:PORT] NAME")
	}
	r := &net.Resolver{PreferGo: true}
	if *server != "" {
		r.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, *server)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addrs, err := r.LookupHost(ctx, fs.Arg(0))
	if err != nil {
		return err
	}
	for _, a := range addrs {
		fmt.Println(a)
	}
	return nil
}
