package logsink

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// gatedWriter is stderr on a pipe nobody reads: every Write waits until open is closed
// (a real pipe blocks only once its kernel buffer is full, which makes a test of it depend
// on how fast the writer goroutine runs).
type gatedWriter struct {
	open chan struct{}
	out  io.Writer
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	<-g.open
	return g.out.Write(p)
}

// Writes to a Writer whose output is stuck still return at once; once the output moves
// again, the reader learns how many lines were lost and gets the lines written since.
func TestWriteNeverWaitsForABlockedPipe(t *testing.T) {
	r, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer pw.Close()
	gate := &gatedWriter{open: make(chan struct{}), out: pw}
	w := New(gate, 16)

	line := strings.Repeat("x", 1023) + "\n"
	start := time.Now()
	for i := 0; i < 1000; i++ { // far beyond the queue
		if n, err := w.Write([]byte(line)); n != len(line) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("1000 writes to a blocked output took %v", d)
	}
	if w.Dropped() == 0 {
		t.Fatal("nothing dropped, yet the output took nothing")
	}
	if w.Flush(50 * time.Millisecond) {
		t.Error("Flush reported success while the output is blocked")
	}

	// Read again: the backlog drains, and the drops are reported before the next line.
	lines := make(chan string, 2000)
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 4096), 4096)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	close(gate.open)
	if !w.Flush(5 * time.Second) {
		t.Fatal("Flush did not finish once the output moved")
	}
	w.Write([]byte("after\n"))
	w.Flush(5 * time.Second)
	pw.Close()
	var reported int64
	last := ""
	for l := range lines {
		var n int64
		if _, err := fmt.Sscanf(l, "logsink: %d log lines dropped", &n); err == nil {
			reported += n
		}
		last = l
	}
	if reported != w.Dropped() {
		t.Errorf("notices report %d dropped lines, Dropped says %d", reported, w.Dropped())
	}
	if last != "after" {
		t.Errorf("last line %.20q, want the one written after the output moved again", last)
	}
}

// Write copies: slog reuses its buffer once Write returns.
func TestWriteCopies(t *testing.T) {
	pr, pw := io.Pipe()
	w := New(pw, 4)
	buf := []byte("first\n")
	w.Write(buf)
	copy(buf, "XXXXX\n")
	got := make([]byte, 6)
	if _, err := io.ReadFull(pr, got); err != nil || string(got) != "first\n" {
		t.Errorf("read %q, %v; want the line as it was written", got, err)
	}
}
