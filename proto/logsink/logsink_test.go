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

// A pipe nobody reads stops taking bytes at its kernel buffer; writes to a Writer on it
// must still return at once, and once the pipe is read again the reader learns how many
// lines were lost and gets the lines written since.
func TestWriteNeverWaitsForABlockedPipe(t *testing.T) {
	r, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer pw.Close()
	w := New(pw, 16)

	line := strings.Repeat("x", 1023) + "\n"
	start := time.Now()
	for i := 0; i < 1000; i++ { // 1 MB: far beyond the pipe's buffer and the queue
		if n, err := w.Write([]byte(line)); n != len(line) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("1000 writes to a blocked pipe took %v", d)
	}
	if w.Dropped() == 0 {
		t.Fatal("nothing dropped, yet the pipe cannot have taken 1 MB")
	}
	if w.Flush(50 * time.Millisecond) {
		t.Error("Flush reported success while the pipe is blocked")
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
	if !w.Flush(5 * time.Second) {
		t.Fatal("Flush did not finish once the pipe was read")
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
		t.Errorf("last line %.20q, want the one written after the pipe moved again", last)
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
