package pki

import (
	"os"
	"path/filepath"
)

// removeStaleTemps deletes temporary files left behind in dir by a write that
// was interrupted (e.g. kill -9 between create and rename).
func removeStaleTemps(dir string) {
	matches, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*"))
	for _, m := range matches {
		_ = os.Remove(m)
	}
}
