package runtime

import (
	"strconv"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// SetImageUser makes image present (as AddImage does, unless it is already) with user as
// its image config's User, reported by ImageStatus as containerd's CRI reports it: the
// user part of "user[:group]" as a numeric uid when it is a number, else as a user name;
// "" is an image that sets no user.
func (f *Fake) SetImageUser(image, user string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	img, ok := f.images[image]
	if !ok {
		f.addImageLocked(image)
		img = f.images[image]
	}
	img.Uid, img.Username = nil, ""
	name, _, _ := strings.Cut(user, ":")
	if name == "" {
		return
	}
	if uid, err := strconv.ParseInt(name, 10, 64); err == nil {
		img.Uid = &runtimeapi.Int64Value{Value: uid}
		return
	}
	img.Username = name
}
