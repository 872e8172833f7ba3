package cmd

import (
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"golang.org/x/term"
)

// execTTY is the local terminal of an exec -t session.
type execTTY struct {
	on      bool            // the session has a terminal
	sizes   <-chan termSize // the terminal's size, then each change (nil without a terminal)
	restore func()          // puts the terminal back; safe to call more than once
}

// setupTTY decides on a terminal as upstream's kubectl does: -t counts only with -i and
// when stdin is a terminal (otherwise it says so, unless quiet, and goes on without
// one). With one, stdin is put into raw mode, so keys such as Ctrl-C reach the remote
// process rather than kubectl, and window size changes are forwarded.
func setupTTY(streams Streams, stdin, tty, quiet bool) execTTY {
	t := execTTY{restore: func() {}}
	if !stdin || !tty {
		return t
	}
	in, ok := streams.In.(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		if !quiet {
			fmt.Fprintln(streams.ErrOut, "Unable to use a TTY - input is not a terminal or the right kind of file")
		}
		return t
	}
	fd := int(in.Fd())
	state, err := term.MakeRaw(fd)
	if err != nil {
		if !quiet {
			fmt.Fprintf(streams.ErrOut, "Unable to use a TTY - %v\n", err)
		}
		return t
	}
	sizes := make(chan termSize, 1)
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	done := make(chan struct{})
	var once sync.Once
	t.on, t.sizes = true, sizes
	t.restore = func() {
		once.Do(func() {
			signal.Stop(winch)
			close(done)
			_ = term.Restore(fd, state)
		})
	}
	go func() {
		defer close(sizes)
		for {
			if w, h, err := term.GetSize(fd); err == nil {
				select {
				case sizes <- termSize{Width: uint16(w), Height: uint16(h)}:
				case <-done:
					return
				}
			}
			select {
			case <-winch:
			case <-done:
				return
			}
		}
	}()
	return t
}
