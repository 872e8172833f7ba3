package kubelet

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestCRILogParsing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "0.log")
	log := "2024-01-02T03:04:05.000000001Z stdout F first line\n" +
		"2024-01-02T03:04:06.000000001Z stderr P part one, \n" +
		"2024-01-02T03:04:06.000000002Z stderr F part two\n" +
		"2024-01-02T03:04:07.000000001Z stdout F \n" +
		"2024-01-02T03:04:08.000000001Z stdout F last\n" +
		"2024-01-02T03:04:09.000000001Z stdout F incompl"
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		tail       int
		timestamps bool
		want       string
	}{
		{-1, false, "first line\npart one, part two\n\nlast\n"},
		{2, false, "\nlast\n"},
		{0, false, ""},
		{1, true, "2024-01-02T03:04:08.000000001Z last\n"},
	} {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := copyCRILog(context.Background(), &out, f, tt.tail, tt.timestamps); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if out.String() != tt.want {
			t.Errorf("tail %d timestamps %v: got %q, want %q", tt.tail, tt.timestamps, out.String(), tt.want)
		}
	}
}
