//go:build !linux

package kubelet

import "errors"

func mountTmpfs(string, int64) error {
	return errors.New("emptyDir medium Memory needs Linux")
}

func unmountIfMounted(string) error { return nil }
