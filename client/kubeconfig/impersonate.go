package kubeconfig

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// Impersonation is who a client acts as: the Impersonate-* headers of every request. The
// server allows it only to users granted the `impersonate` verb on each part.
type Impersonation struct {
	UserName string
	UID      string
	Groups   []string
	Extra    map[string][]string
}

// resolveImpersonation applies --as, --as-uid and --as-group over the user's as, as-uid and
// as-groups (each override replaces its field). As in client-go, nothing is impersonated
// unless a user name results: groups alone are dropped, not sent.
func resolveImpersonation(user AuthInfo, o Overrides) Impersonation {
	im := Impersonation{
		UserName: firstNonEmpty(o.Impersonate, user.Impersonate),
		UID:      firstNonEmpty(o.ImpersonateUID, user.ImpersonateUID),
		Groups:   user.ImpersonateGroups,
		Extra:    user.ImpersonateUserExtra,
	}
	if len(o.ImpersonateGroups) > 0 {
		im.Groups = o.ImpersonateGroups
	}
	if im.UserName == "" {
		return Impersonation{}
	}
	return im
}

// SetHeaders adds the impersonation headers to h, unless h already names a user to act as
// (a caller's own Impersonate-User wins, as client-go's round tripper lets it).
func (im Impersonation) SetHeaders(h http.Header) {
	if im.UserName == "" || h.Get("Impersonate-User") != "" {
		return
	}
	h.Set("Impersonate-User", im.UserName)
	if im.UID != "" {
		h.Set("Impersonate-Uid", im.UID)
	}
	for _, g := range im.Groups {
		h.Add("Impersonate-Group", g)
	}
	keys := make([]string, 0, len(im.Extra))
	for k := range im.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range im.Extra[k] {
			h.Add("Impersonate-Extra-"+headerKeyEscape(k), v)
		}
	}
}

// headerKeyEscape %-encodes the bytes of an extra's key that may not appear in a header
// name (and '%' itself); the server decodes them.
func headerKeyEscape(key string) string {
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		if isTokenByte(c) && c != '%' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// isTokenByte: RFC 7230's tchar.
func isTokenByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
